/*
 * hash: SHA-256 via OpenSSL (see hash.h).
 */
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "hash.h"
#include "hex.h"

void
hash_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(p, n, md);
	hex_encode(md, sizeof(md), out);
}

int
hash_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
