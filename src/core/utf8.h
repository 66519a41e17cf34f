/*
 * utf8: UTF-8 validation (RFC 3629 §4: no overlongs, no surrogates,
 * nothing past U+10FFFF).
 */
#ifndef PIGEON_CORE_UTF8_H
#define PIGEON_CORE_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0. */
size_t utf8_seq(const unsigned char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8. */
int utf8_valid(const char *s, size_t n);
/* The characters of s[0..n): its code points when it is valid UTF-8,
 * else its bytes. */
size_t utf8_count(const char *s, size_t n);

#endif
