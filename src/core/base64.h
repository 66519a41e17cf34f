/*
 * base64 (RFC 4648 §4) for MIME parts, DKIM and JSON attachments.
 */
#ifndef PIGEON_CORE_BASE64_H
#define PIGEON_CORE_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Appends the encoding of in; line > 0 breaks lines every `line` chars
 * with CRLF (no CRLF after the last line). Returns 0 or -1 (buf cap). */
int base64_encode(struct buf *out, const void *in, size_t len, int line);
/* Appends the decoded bytes. Whitespace is ignored and padding is
 * optional; any other non-alphabet byte, misplaced '=' or a dangling
 * 1-char group is invalid. Returns 0, or -1 invalid / buf cap. */
int base64_decode(struct buf *out, const char *in, size_t len);
/* Length of the encoding of len bytes without line breaks. */
size_t base64_encoded_len(size_t len);

#endif
