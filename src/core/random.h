/*
 * random: the one seam for randomness. Production reads the kernel CSPRNG;
 * tests call random_set_seed() for a reproducible (not secure) stream.
 */
#ifndef PIGEON_CORE_RANDOM_H
#define PIGEON_CORE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

void random_bytes(void *out, size_t n);
uint64_t random_u64(void);
/* n random chars of [A-Za-z0-9], NUL-terminated (out has n + 1 bytes). */
void random_alnum(char *out, size_t n);
/* n random bytes as 2n lowercase hex chars, NUL-terminated. */
void random_hex(char *out, size_t nbytes);
void random_set_seed(uint64_t seed); /* 0 = CSPRNG again */

#endif
