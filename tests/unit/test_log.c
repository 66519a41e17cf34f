/*
 * test_log: src/core/log.c — log_escape, the escaper for peer and
 * client text in log lines: control bytes, DEL, '"' and '\' as %XX,
 * everything else as is, cut to fit, "-" for NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/log.h"

static void
test_escape(void **state)
{
	char out[64];

	assert_string_equal(
	    log_escape("250 2.0.0 ok (capture)", out, sizeof(out)),
	    "250 2.0.0 ok (capture)");
	assert_string_equal(
	    log_escape("a\"b\\c\r\nd\x7f\x01", out, sizeof(out)),
	    "a%22b%5Cc%0D%0Ad%7F%01");
	/* UTF-8 passes as is */
	assert_string_equal(log_escape("caf\xc3\xa9", out, sizeof(out)),
	                    "caf\xc3\xa9");
	assert_string_equal(log_escape(NULL, out, sizeof(out)), "-");
	assert_string_equal(log_escape("", out, sizeof(out)), "");
	/* cut to fit: never more than outlen - 1 bytes, never half an
	 * escape */
	assert_string_equal(log_escape("abcdefgh", out, 6), "ab");
	assert_string_equal(log_escape("abcdefgh", out, 8), "abcd");
	assert_string_equal(log_escape("\"\"\"", out, 8), "%22%22");
	assert_true(strlen(log_escape("\"\"\"\"\"\"", out, 12)) <= 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
