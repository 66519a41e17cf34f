/*
 * test_base64: src/core/base64.c — the RFC 4648 §10 test vectors both
 * ways, line wrapping, and the lenient-but-strict decoder of base64.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/base64.h"

/* RFC 4648 §10 */
static const char *vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

#define NV (sizeof(vectors) / sizeof(vectors[0]))

static void
test_encode_vectors(void **state)
{
	struct buf b;
	size_t i;

	for (i = 0; i < NV; i++) {
		buf_init(&b, 0);
		assert_int_equal(
		    base64_encode(&b, vectors[i][0], strlen(vectors[i][0]), 0),
		    0);
		assert_int_equal(b.len, strlen(vectors[i][1]));
		if (b.len)
			assert_memory_equal(b.p, vectors[i][1], b.len);
		assert_int_equal(base64_encoded_len(strlen(vectors[i][0])),
		                 strlen(vectors[i][1]));
		buf_clear(&b);
	}
}

static void
test_decode_vectors(void **state)
{
	struct buf b;
	size_t i;

	for (i = 0; i < NV; i++) {
		buf_init(&b, 0);
		assert_int_equal(
		    base64_decode(&b, vectors[i][1], strlen(vectors[i][1])), 0);
		assert_int_equal(b.len, strlen(vectors[i][0]));
		if (b.len)
			assert_memory_equal(b.p, vectors[i][0], b.len);
		buf_clear(&b);
	}
}

/* All 256 byte values survive a round trip, at every length mod 3. */
static void
test_roundtrip_binary(void **state)
{
	unsigned char in[256];
	struct buf e, d;
	size_t n, i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	for (n = 253; n <= 256; n++) {
		buf_init(&e, 0);
		buf_init(&d, 0);
		assert_int_equal(base64_encode(&e, in, n, 76), 0);
		assert_int_equal(base64_decode(&d, e.p, e.len), 0);
		assert_int_equal(d.len, n);
		assert_memory_equal(d.p, in, n);
		buf_clear(&e);
		buf_clear(&d);
	}
}

/* RFC 2045 §6.8: lines of at most 76 characters, CRLF between them. */
static void
test_line_wrap(void **state)
{
	unsigned char in[300];
	struct buf b;
	const char *p, *nl;

	memset(in, 0xa5, sizeof(in));
	/* 57 bytes → exactly one 76-char line, no CRLF at all. */
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, in, 57, 76), 0);
	assert_int_equal(b.len, 76);
	assert_null(memchr(b.p, '\r', b.len));
	buf_clear(&b);
	/* 58 bytes → 76 + CRLF + 4. */
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, in, 58, 76), 0);
	assert_int_equal(b.len, 76 + 2 + 4);
	assert_memory_equal(b.p + 76, "\r\n", 2);
	buf_clear(&b);
	/* 300 bytes → 400 chars: 5 lines of 76 and one of 20. */
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, in, 300, 76), 0);
	assert_int_equal(b.len, 400 + 5 * 2);
	for (p = b.p; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2)
		assert_int_equal(nl - p, 76);
	assert_int_equal(strlen(p), 20);
	assert_int_not_equal(b.p[b.len - 1], '\n');
	buf_clear(&b);
	/* A width that is not a multiple of 4 is honoured exactly. */
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, "foobar", 6, 3), 0);
	assert_string_equal(b.p, "Zm9\r\nvYm\r\nFy");
	buf_clear(&b);
}

static void
test_decode_lenient(void **state)
{
	static const char *ok[][2] = {
	    {"Zm9v\r\nYmFy", "foobar"},
	    {" Zm9v YmE= ", "fooba"},
	    {"Zm\t9v\nYg==\n", "foob"},
	    {"Zg", "f"},   /* padding optional */
	    {"Zm8", "fo"}, /* padding optional */
	    {"Zm9vYg", "foob"},
	    {"Zg=\n=", "f"}, /* whitespace within the padding */
	    {"  ", ""},
	    {"+/+/", "\xfb\xff\xbf"},
	};
	struct buf b;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		buf_init(&b, 0);
		if (base64_decode(&b, ok[i][0], strlen(ok[i][0])) != 0)
			fail_msg("'%s' refused", ok[i][0]);
		assert_int_equal(b.len, strlen(ok[i][1]));
		assert_memory_equal(b.p ? b.p : "", ok[i][1], b.len);
		buf_clear(&b);
	}
}

static void
test_decode_invalid(void **state)
{
	static const char *bad[] = {
	    "Zm9v!",      /* not in the alphabet */
	    "Zm-9",       /* base64url is not base64 */
	    "Zm_9",       /* base64url is not base64 */
	    "Z",          /* dangling 1-char group */
	    "Zm9vY",      /* dangling 1-char group */
	    "=Zm9",       /* padding first */
	    "Zg==Zg==",   /* data after padding */
	    "Zm=8",       /* '=' inside a group */
	    "Zm9v=",      /* padding on a full group */
	    "Zg=",        /* half the padding */
	    "Zg===",      /* too much padding */
	    "Zm8==",      /* too much padding */
	    "====",       /* padding only */
	    "Zm9v\x80",   /* 8-bit byte */
	    "Zm9v\0YmFy", /* NUL */
	};
	static const size_t len[] = {0, 0, 0, 0, 0, 0, 0, 0,
	                             0, 0, 0, 0, 0, 0, 9};
	struct buf b;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = len[i] ? len[i] : strlen(bad[i]);
		buf_init(&b, 0);
		if (base64_decode(&b, bad[i], n) != -1)
			fail_msg("'%s' accepted", bad[i]);
		buf_clear(&b);
	}
}

/* A capped buffer makes the encoder fail cleanly and unchanged. */
static void
test_cap(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(base64_encode(&b, "foobar", 6, 0), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(base64_encode(&b, "f", 1, 0), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.p, "Zm9vYmFy");
	buf_clear(&b);
	/* The decoder appends to what is there. */
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "x:"), 0);
	assert_int_equal(base64_decode(&b, "Zm9v", 4), 0);
	assert_string_equal(b.p, "x:foo");
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_vectors),
	    cmocka_unit_test(test_decode_vectors),
	    cmocka_unit_test(test_roundtrip_binary),
	    cmocka_unit_test(test_line_wrap),
	    cmocka_unit_test(test_decode_lenient),
	    cmocka_unit_test(test_decode_invalid),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
