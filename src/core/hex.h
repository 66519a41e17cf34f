/*
 * hex: the digits of base 16, for ids, hashes, quoted-printable, JSON and
 * log escapes.
 */
#ifndef PIGEON_CORE_HEX_H
#define PIGEON_CORE_HEX_H

#include <stddef.h>

extern const char hex_lower[17]; /* "0123456789abcdef" */
extern const char hex_upper[17]; /* "0123456789ABCDEF" */

/* Writes in[0..n) as 2n lowercase hex digits and a NUL to out. */
void hex_encode(const void *in, size_t n, char *out);

#endif
