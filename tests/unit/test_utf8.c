/*
 * test_utf8: src/core/utf8.c (RFC 3629 §4) and the JSON string writer's
 * handling of broken UTF-8 (src/api/envelope.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/api/envelope.h"
#include "../../src/core/utf8.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

static void
test_valid(void **state)
{
	assert_true(V("plain ascii"));
	assert_true(V("Zo\xc3\xab"));               /* ë */
	assert_true(V("\xe6\x97\xa5\xe6\x9c\xac")); /* 日本 */
	assert_true(V("\xf0\x9f\x93\xa8"));         /* 📨 */
	assert_true(V("\xef\xbf\xbd"));             /* U+FFFD */
	assert_true(V("\xf4\x8f\xbf\xbf"));         /* U+10FFFF */
}

static void
test_invalid(void **state)
{
	assert_false(V("\x80"));             /* lone continuation */
	assert_false(V("\xc0\xaf"));         /* overlong '/' */
	assert_false(V("\xe0\x80\xaf"));     /* overlong */
	assert_false(V("\xed\xa0\x80"));     /* surrogate U+D800 */
	assert_false(V("\xf4\x90\x80\x80")); /* past U+10FFFF */
	assert_false(V("\xf5\x80\x80\x80"));
	assert_false(V("\xe6\x97"));       /* cut short */
	assert_false(V("ab\xf0\x9f\x93")); /* cut at the end */
	assert_int_equal(utf8_seq((const unsigned char *)"\xe6\x97\xa5", 3), 3);
	assert_int_equal(utf8_seq((const unsigned char *)"\xe6\x97\xa5", 2), 0);
}

/* A message cut inside a character still makes valid JSON text. */
static void
test_json_string(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(envelope_str(&b, "a\xe6\x97\xa5\xe6\x97", 6), 0);
	assert_string_equal(b.p, "\"a\xe6\x97\xa5\\ufffd\\ufffd\"");
	assert_true(utf8_valid(b.p, b.len));
	buf_reset(&b);
	assert_int_equal(envelope_str(&b, "q\"\\\n\x01", 5), 0);
	assert_string_equal(b.p, "\"q\\\"\\\\\\n\\u0001\"");
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_json_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
