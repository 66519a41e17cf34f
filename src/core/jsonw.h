/*
 * jsonw: writing JSON text by hand into a struct buf, for the fixed and
 * small shapes pigeon answers and records (the API envelope, the events
 * of SPEC §6.5) without building a json-c tree. Not a reader.
 */
#ifndef PIGEON_CORE_JSONW_H
#define PIGEON_CORE_JSONW_H

#include <stddef.h>

#include "buf.h"

/* Appends s[0..n) as a JSON string, with quotes (RFC 8259 §7); bytes that
 * are not valid UTF-8 become U+FFFD. 0 or -1 (the buffer's cap). */
int jsonw_str(struct buf *out, const char *s, size_t n);
/* Same for a NUL-terminated string, or null when s is NULL. */
int jsonw_cstr(struct buf *out, const char *s);

#endif
