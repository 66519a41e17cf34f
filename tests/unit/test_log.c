/*
 * test_log: src/core/log.c — log_escape, the escaper for peer and
 * client text in log lines: control bytes, DEL, '"' and '\' as %XX,
 * everything else as is, cut to fit, "-" for NULL; log_value, the same
 * in double quotes when the value is empty, holds a space or is "-".
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

static void
test_value(void **state)
{
	char out[LOG_VALUE_LEN(64)];

	/* ordinary values stay bare */
	assert_string_equal(log_value("a@example.net", out, sizeof(out)),
	                    "a@example.net");
	assert_string_equal(log_value("<abc@example.com>", out, sizeof(out)),
	                    "<abc@example.com>");
	/* a space would start a new field: quoted, quotes escaped */
	assert_string_equal(
	    log_value("\"x status=bounced dsn=5.1.1\"@e.net", out, sizeof(out)),
	    "\"%22x status=bounced dsn=5.1.1%22@e.net\"");
	assert_string_equal(log_value("250 2.0.0 ok", out, sizeof(out)),
	                    "\"250 2.0.0 ok\"");
	/* without a space, escaping alone keeps it one value */
	assert_string_equal(log_value("a\nstatus=x", out, sizeof(out)),
	                    "a%0Astatus=x");
	assert_string_equal(log_value("", out, sizeof(out)), "\"\"");
	assert_string_equal(log_value("-", out, sizeof(out)), "\"-\"");
	assert_string_equal(log_value(NULL, out, sizeof(out)), "-");
	/* cut to fit, the closing quote kept */
	assert_string_equal(log_value("a b c d", out, 9), "\"a b\"");
	assert_string_equal(log_value("abcdefg", out, 9), "abc");
	/* whole at LOG_VALUE_LEN */
	{
		char small[LOG_VALUE_LEN(3)];

		assert_string_equal(log_value("\" \"", small, sizeof(small)),
		                    "\"%22 %22\"");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
