/*
 * test_verp: src/mail/verp.c — the local parts of SPEC §6.3: round trips
 * over many ids (0 and INT64_MAX too), any case, the length bound and
 * the dot-atom form, and refusals: a tampered tag or id, another key,
 * malformed text.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/mail/verp.h"

static const unsigned char key[] = "0123456789abcdef-a test key";
static const unsigned char key2[] = "0123456789abcdef-another key";
#define KEYLEN (sizeof(key) - 1)

/* Encodes (m, r), checks the form, decodes it back; returns the length. */
static size_t
round_trip(int64_t m, int64_t r, char out[VERP_LOCAL_MAX + 1])
{
	int64_t m2 = -1, r2 = -1;
	size_t i, len, dots = 0;

	assert_int_equal(
	    verp_encode(m, r, key, KEYLEN, out, VERP_LOCAL_MAX + 1), 0);
	len = strlen(out);
	assert_true(len <= VERP_LOCAL_MAX);
	assert_true(len <= 38);
	assert_memory_equal(out, "b.", 2);
	/* dot-atom text: lowercase letters, digits, single inner dots */
	for (i = 0; i < len; i++) {
		if (out[i] == '.') {
			assert_true(i > 0 && i + 1 < len && out[i + 1] != '.');
			dots++;
			continue;
		}
		assert_true(islower((unsigned char)out[i]) ||
		            isdigit((unsigned char)out[i]));
	}
	assert_int_equal(dots, 3);
	assert_int_equal(strlen(strrchr(out, '.') + 1), 8);
	assert_int_equal(verp_decode(out, len, key, KEYLEN, &m2, &r2), 0);
	assert_int_equal(m2, m);
	assert_int_equal(r2, r);
	return len;
}

static void
test_round_trip(void **state)
{
	static const int64_t edge[] = {
	    0,
	    1,
	    31,
	    32,
	    1023,
	    1024,
	    INT32_MAX,
	    (int64_t)1 << 40,
	    INT64_MAX - 1,
	    INT64_MAX,
	};
	char out[VERP_LOCAL_MAX + 1], other[VERP_LOCAL_MAX + 1];
	uint64_t x = 88172645463325252ULL;
	size_t i, j;

	for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		for (j = 0; j < sizeof(edge) / sizeof(edge[0]); j++)
			round_trip(edge[i], edge[j], out);
	/* the longest: both ids at INT64_MAX, 2 + 13 + 1 + 13 + 1 + 8 */
	assert_int_equal(round_trip(INT64_MAX, INT64_MAX, out), 38);
	assert_memory_equal(out, "b.7vvvvvvvvvvvv.7vvvvvvvvvvvv.", 30);
	round_trip(0, 0, out);
	assert_memory_equal(out, "b.0.0.", 6);
	round_trip(1, 32, out);
	assert_memory_equal(out, "b.1.10.", 7);
	/* many ids (xorshift), each in a range of sizes */
	for (i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		round_trip((int64_t)(x >> (i % 64 | 1)),
		           (int64_t)((x * 2654435761u) >> (i % 63 + 1)), out);
	}
	/* the same ids, the same text; other ids, another tag */
	round_trip(42, 7, out);
	round_trip(42, 7, other);
	assert_string_equal(out, other);
	round_trip(42, 8, other);
	assert_string_not_equal(strrchr(out, '.'), strrchr(other, '.'));
}

/* Some MTAs change the case of a local part: any case decodes. */
static void
test_case(void **state)
{
	char out[VERP_LOCAL_MAX + 1], up[VERP_LOCAL_MAX + 1];
	int64_t m, r;
	size_t i, len;

	len = round_trip(123456789, 987654321, out);
	for (i = 0; i <= len; i++)
		up[i] = (char)toupper((unsigned char)out[i]);
	assert_int_equal(verp_decode(up, len, key, KEYLEN, &m, &r), 0);
	assert_int_equal(m, 123456789);
	assert_int_equal(r, 987654321);
	for (i = 0; i < len; i += 2)
		up[i] = out[i];
	assert_int_equal(verp_decode(up, len, key, KEYLEN, &m, &r), 0);
	assert_int_equal(m, 123456789);
}

/* A changed id or tag, another key, or text not of the form: -1, and the
 * outputs untouched. */
static void
test_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "b",
	    "b.",
	    "b..",
	    "b.1.2",
	    "b.1.2.",
	    "x.1.2.abcdefgh",
	    "b1.2.abcdefgh",
	    "b.1..abcdefgh",
	    "b..2.abcdefgh",
	    "b.01.2.abcdefgh",            /* leading zero */
	    "b.1.2.abcdefg",              /* tag too short */
	    "b.1.2.abcdefghi",            /* tag too long */
	    "b.1.2.abcdefgw",             /* w is not a digit */
	    "b.1.2.3.abcdefgh",           /* a field too many */
	    "b.8000000000000.1.abcdefgh", /* INT64_MAX + 1 */
	    "b.vvvvvvvvvvvvv.1.abcdefgh", /* 65 bits */
	    "b.00000000000001.1.abcdefgh",
	    "b.-1.2.abcdefgh",
	    "b.1.2.abcd efg",
	    "b.1.2.abcdefgh.",
	    ".b.1.2.abcdefgh",
	};
	char out[VERP_LOCAL_MAX + 1], t[VERP_LOCAL_MAX + 8];
	int64_t m = -7, r = -7;
	size_t i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (verp_decode(bad[i], strlen(bad[i]), key, KEYLEN, &m, &r) !=
		    -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(m, -7);
		assert_int_equal(r, -7);
	}

	len = round_trip(4242, 17, out);
	/* another key: a forged bounce */
	assert_int_equal(verp_decode(out, len, key2, sizeof(key2) - 1, &m, &r),
	                 -1);
	/* each character of the ids and the tag changed in turn */
	for (i = 2; i < len; i++) {
		if (out[i] == '.')
			continue;
		memcpy(t, out, len + 1);
		t[i] = t[i] == 'a' ? 'b' : 'a';
		if (verp_decode(t, len, key, KEYLEN, &m, &r) != -1)
			fail_msg("accepted '%s' (from '%s')", t, out);
	}
	/* the ids swapped, the tag kept */
	round_trip(5, 6, out);
	memcpy(t, out, sizeof(out));
	t[2] = '6';
	t[4] = '5';
	assert_int_equal(verp_decode(t, len = strlen(t), key, KEYLEN, &m, &r),
	                 -1);
	/* only len bytes are read: a valid part followed by more text */
	memcpy(t, out, len);
	strcpy(t + len, "x");
	assert_int_equal(verp_decode(t, len, key, KEYLEN, &m, &r), 0);
	assert_int_equal(verp_decode(t, len + 1, key, KEYLEN, &m, &r), -1);
	assert_int_equal(verp_decode(t, len - 1, key, KEYLEN, &m, &r), -1);
	/* longer than a local part may be */
	memset(t, '0', sizeof(t) - 1);
	assert_int_equal(
	    verp_decode(t, VERP_LOCAL_MAX + 1, key, KEYLEN, &m, &r), -1);
	assert_int_equal(m, 5);
}

/* Encoding refuses negative ids, a short key and a small buffer. */
static void
test_encode_refused(void **state)
{
	char out[VERP_LOCAL_MAX + 1];
	int64_t m, r;
	size_t len;

	assert_int_equal(verp_encode(-1, 1, key, KEYLEN, out, sizeof(out)), -1);
	assert_int_equal(
	    verp_encode(1, INT64_MIN, key, KEYLEN, out, sizeof(out)), -1);
	assert_int_equal(
	    verp_encode(1, 1, key, VERP_KEY_MIN - 1, out, sizeof(out)), -1);
	assert_int_equal(verp_encode(1, 1, key, VERP_KEY_MIN, out, sizeof(out)),
	                 0);
	assert_int_equal(
	    verp_decode(out, strlen(out), key, VERP_KEY_MIN - 1, &m, &r), -1);
	len = strlen(out);
	assert_int_equal(verp_encode(1, 1, key, VERP_KEY_MIN, out, len), -1);
	assert_int_equal(verp_encode(1, 1, key, VERP_KEY_MIN, out, len + 1), 0);
	assert_int_equal(strlen(out), len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_case),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_encode_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
