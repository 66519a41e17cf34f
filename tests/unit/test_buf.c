/*
 * test_buf: src/core/buf.c — growth, the trailing NUL, and the cap: an
 * append that would pass it fails and leaves the buffer as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/buf.h"

static void
test_grow(void **state)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_putc(&b, 'a' + i % 26), 0);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[10000], '\0');
	assert_int_equal(b.p[9999], 'a' + 9999 % 26);
	assert_int_equal(buf_append(&b, "xyz", 3), 0);
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "ok"), 0);
	assert_string_equal(b.p + 10000, "xyz-42-ok");
	assert_int_equal(b.len, strlen(b.p));
	buf_clear(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

static void
test_nul_always(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_non_null(b.p);
	assert_string_equal(b.p, "");
	assert_int_equal(buf_puts(&b, "abc"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_string_equal(b.p, "");
	/* Embedded NULs are bytes like any other. */
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, "a\0b", 4);
	buf_clear(&b);
}

static void
test_cap(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "12345"), 0);
	assert_int_equal(buf_append(&b, "678901", 6), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.p, "12345");
	assert_int_equal(buf_printf(&b, "%s", "abcdefgh"), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.p, "12345");
	/* Exactly up to the cap is fine; one more is not. */
	assert_int_equal(buf_puts(&b, "67890"), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_putc(&b, 'x'), -1);
	assert_int_equal(buf_reserve(&b, 1), -1);
	assert_int_equal(buf_reserve(&b, 0), 0);
	assert_string_equal(b.p, "1234567890");
	/* reset frees room under the same cap */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b, "abcdefghij"), 0);
	assert_int_equal(buf_puts(&b, "k"), -1);
	buf_clear(&b);
}

static void
test_huge(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	/* A reservation that cannot be met fails cleanly, no abort. */
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(buf_reserve(&b, SIZE_MAX / 2), -1);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.p, "ab");
	buf_clear(&b);
}

static void
test_steal(void **state)
{
	struct buf b;
	size_t len = 99;
	char *p;

	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	p = buf_steal(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal(p, "hello");
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(p);
	/* Stealing an empty buffer gives an empty string. */
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	/* The buffer is usable again. */
	assert_int_equal(buf_puts(&b, "again"), 0);
	assert_string_equal(b.p, "again");
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow),  cmocka_unit_test(test_nul_always),
	    cmocka_unit_test(test_cap),   cmocka_unit_test(test_huge),
	    cmocka_unit_test(test_steal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
