/*
 * verp: pigeon's VERP local parts (see verp.h).
 */
#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../core/hash.h"
#include "verp.h"

/* RFC 4648 §7, lowercase: digits then letters, so 0 is "0". */
static const char b32[] = "0123456789abcdefghijklmnopqrstuv";

#define TAG_LEN 8 /* characters: 40 bits of the HMAC */
#define ID_MAX 13 /* base32 digits of INT64_MAX (63 bits) */

/* The tag of (msg, rcpt) under key into tag[TAG_LEN]. 0 or -1. */
static int
verp_tag(int64_t msg, int64_t rcpt, const unsigned char *key, size_t keylen,
         char tag[TAG_LEN])
{
	unsigned char in[16], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t bits;
	int i;

	if (keylen < VERP_KEY_MIN || keylen > INT32_MAX)
		return -1;
	for (i = 0; i < 8; i++) {
		in[i] = (unsigned char)((uint64_t)msg >> (56 - 8 * i));
		in[8 + i] = (unsigned char)((uint64_t)rcpt >> (56 - 8 * i));
	}
	if (HMAC(EVP_sha256(), key, (int)keylen, in, sizeof(in), md, &mdlen) ==
	        NULL ||
	    mdlen < 5)
		return -1;
	/* the first 5 octets, 5 bits a character (RFC 4648 §6 order) */
	bits = 0;
	for (i = 0; i < 5; i++)
		bits = bits << 8 | md[i];
	for (i = 0; i < TAG_LEN; i++)
		tag[i] = b32[(bits >> (35 - 5 * i)) & 31];
	return 0;
}

/* id (>= 0) as base32 digits into out; returns how many. */
static size_t
id_put(int64_t id, char *out)
{
	char tmp[ID_MAX];
	uint64_t v = (uint64_t)id;
	size_t n = 0, i;

	do {
		tmp[n++] = b32[v & 31];
		v >>= 5;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

int
verp_encode(int64_t msg_row, int64_t rcpt_row, const unsigned char *key,
            size_t keylen, char *out, size_t outlen)
{
	char buf[VERP_LOCAL_MAX + 1];
	size_t n = 0;

	if (msg_row < 0 || rcpt_row < 0)
		return -1;
	buf[n++] = 'b';
	buf[n++] = '.';
	n += id_put(msg_row, buf + n);
	buf[n++] = '.';
	n += id_put(rcpt_row, buf + n);
	buf[n++] = '.';
	if (verp_tag(msg_row, rcpt_row, key, keylen, buf + n) == -1)
		return -1;
	n += TAG_LEN;
	if (n + 1 > outlen)
		return -1;
	memcpy(out, buf, n);
	out[n] = '\0';
	return 0;
}

/* The value of base32 digit c in any case, or -1. */
static int
digit(char c)
{
	const char *p;

	c = (char)tolower((unsigned char)c);
	if (c == '\0' || (p = strchr(b32, c)) == NULL)
		return -1;
	return (int)(p - b32);
}

/* s[0..len) as an id: 1 to ID_MAX digits, no leading zero, at most
 * INT64_MAX. 0 or -1. */
static int
id_get(const char *s, size_t len, int64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int d;

	if (len == 0 || len > ID_MAX || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if ((d = digit(s[i])) == -1 || v > (uint64_t)INT64_MAX >> 5)
			return -1;
		v = v << 5 | (uint64_t)d;
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
verp_decode(const char *local, size_t len, const unsigned char *key,
            size_t keylen, int64_t *msg_row, int64_t *rcpt_row)
{
	const char *msg, *rcpt, *tag, *end = local + len, *dot;
	char want[TAG_LEN], got[TAG_LEN];
	int64_t m, r;
	size_t i;

	if (len > VERP_LOCAL_MAX || len < 2 ||
	    (local[0] != 'b' && local[0] != 'B') || local[1] != '.')
		return -1;
	msg = local + 2;
	if ((dot = memchr(msg, '.', (size_t)(end - msg))) == NULL ||
	    id_get(msg, (size_t)(dot - msg), &m) == -1)
		return -1;
	rcpt = dot + 1;
	if ((dot = memchr(rcpt, '.', (size_t)(end - rcpt))) == NULL ||
	    id_get(rcpt, (size_t)(dot - rcpt), &r) == -1)
		return -1;
	tag = dot + 1;
	if (end - tag != TAG_LEN)
		return -1;
	for (i = 0; i < TAG_LEN; i++) {
		int d = digit(tag[i]);

		if (d == -1)
			return -1;
		got[i] = b32[d];
	}
	if (verp_tag(m, r, key, keylen, want) == -1 ||
	    !hash_equal(want, got, TAG_LEN))
		return -1;
	*msg_row = m;
	*rcpt_row = r;
	return 0;
}
