/*
 * fuzz_verp: verp_decode() on arbitrary bytes (a bounce's RCPT TO local
 * part is what a peer sends). It may not crash or read outside the
 * input; what it accepts must be the one text verp_encode writes for
 * those ids, in some case. The first 16 bytes, when there are that many,
 * also go through verp_encode as two ids.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../src/mail/verp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[] = "fuzz_verp: a fixed test key";
#define KEYLEN (sizeof(key) - 1)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[VERP_LOCAL_MAX + 1], *copy;
	int64_t m, r;
	uint64_t a = 0, b = 0;
	size_t i;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (verp_decode(copy, size, key, KEYLEN, &m, &r) == 0) {
		if (m < 0 || r < 0 ||
		    verp_encode(m, r, key, KEYLEN, out, sizeof(out)) != 0 ||
		    strlen(out) != size || strncasecmp(out, copy, size) != 0)
			abort();
	}
	free(copy);

	if (size >= 16) {
		for (i = 0; i < 8; i++) {
			a = a << 8 | data[i];
			b = b << 8 | data[8 + i];
		}
		m = (int64_t)(a >> 1);
		r = (int64_t)(b >> 1);
		if (verp_encode(m, r, key, KEYLEN, out, sizeof(out)) != 0)
			abort();
		for (i = 0; out[i]; i++)
			if (!islower((unsigned char)out[i]) &&
			    !isdigit((unsigned char)out[i]) && out[i] != '.')
				abort();
		if (verp_decode(out, strlen(out), key, KEYLEN, &m, &r) != 0 ||
		    m != (int64_t)(a >> 1) || r != (int64_t)(b >> 1))
			abort();
	}
	return 0;
}
