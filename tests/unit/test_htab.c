/*
 * test_htab: src/core/htab.c — put and get, duplicates and the size
 * cap refused, misses, an empty table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../src/core/htab.h"

static void
test_put_get(void **state)
{
	static char keys[1000][16];
	static int vals[1000];
	struct htab *h;
	int i;

	assert_non_null(h = htab_new(1000));
	for (i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
		vals[i] = i;
		assert_int_equal(htab_put(h, keys[i], &vals[i]), 0);
	}
	for (i = 0; i < 1000; i++)
		assert_ptr_equal(htab_get(h, keys[i]), &vals[i]);
	assert_null(htab_get(h, "key-1000"));
	assert_null(htab_get(h, ""));
	assert_int_equal(htab_put(h, "key-7", &vals[0]), -1); /* duplicate */
	assert_int_equal(htab_put(h, "other", &vals[0]), -1); /* full */
	assert_ptr_equal(htab_get(h, "key-7"), &vals[7]);
	htab_free(h);
}

static void
test_empty(void **state)
{
	struct htab *h;

	assert_non_null(h = htab_new(0));
	assert_null(htab_get(h, "x"));
	assert_int_equal(htab_put(h, "x", h), -1);
	htab_free(h);
	htab_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get),
	    cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
