/*
 * mime: builds the message of SPEC §3.3 from a struct message.
 */
#ifndef PIGEON_MAIL_MIME_H
#define PIGEON_MAIL_MIME_H

#include <time.h>

#include "../core/buf.h"
#include "message.h"

/*
 * Appends the whole message (headers From … Content-*, blank line, body),
 * CRLF line endings, without DKIM-Signature (dkim.c prepends it).
 * message_id is "<ID@domain>", date the acceptance time. Bcc never appears.
 * MIME boundaries come from random_bytes() so tests can pin them.
 * Returns 0, or -1 when out's cap is reached (the caller answers 10200).
 */
int mime_build(const struct message *m, const char *message_id, time_t date,
               struct buf *out);

/* Appends an RFC 2047 encoded-word form of s when needed (UTF-8, B or Q,
 * whichever is shorter), else s itself; for phrases (display names) a
 * plain string needing quotes becomes a quoted-string. Folds given the
 * starting column: a line holding an encoded-word stays within 76
 * columns (RFC 2047 §2), others within 78. */
int mime_encode_phrase(struct buf *out, const char *s, size_t *col);
/* The Content-Transfer-Encoding of an attachment of that type and
 * content: "base64", or "7bit" for message/rfc822 and the other types
 * RFC 2046 §5.2 keeps out of base64; NULL when it cannot be sent (a
 * multipart type, or such a message with 8-bit content or long lines). */
const char *mime_att_encoding(const char *type, const void *p, size_t len);
int mime_encode_text(struct buf *out, const char *s, size_t *col);

#endif
