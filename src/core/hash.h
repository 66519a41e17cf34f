/*
 * hash: SHA-256 helpers (token hashes) and constant-time comparison.
 */
#ifndef PIGEON_CORE_HASH_H
#define PIGEON_CORE_HASH_H

#include <stddef.h>

/* Lowercase hex SHA-256 of p[0..n), NUL-terminated. */
void hash_sha256_hex(const void *p, size_t n, char out[65]);
/* 1 when a and b (n bytes each) are equal, in time independent of where
 * they differ. */
int hash_equal(const void *a, const void *b, size_t n);

#endif
