/*
 * test_arena: src/core/arena.c — alignment, chunk growth, large blocks,
 * string helpers, and a NULL (not a wrap-around) for impossible sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/arena.h"

static void
test_alloc_aligned(void **state)
{
	struct arena *a = arena_new(256);
	unsigned char *prev = NULL;
	size_t i;

	assert_non_null(a);
	for (i = 0; i < 1000; i++) {
		unsigned char *p = arena_alloc(a, i % 37 + 1);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		/* Every block is writable over its whole size. */
		memset(p, 0xab, i % 37 + 1);
		if (prev)
			assert_int_equal(prev[0], 0xab);
		prev = p;
	}
	assert_non_null(arena_alloc(a, 0));
	arena_free(a);
	arena_free(NULL);
}

/* Blocks never overlap, across chunks and dedicated large blocks. */
static void
test_no_overlap(void **state)
{
	struct arena *a = arena_new(1024);
	unsigned char *p[64];
	size_t sz[64], i, j;

	for (i = 0; i < 64; i++) {
		sz[i] = (i % 5 == 0) ? 5000 + i : 10 + i * 7;
		p[i] = arena_alloc(a, sz[i]);
		assert_non_null(p[i]);
		memset(p[i], (int)i, sz[i]);
	}
	for (i = 0; i < 64; i++)
		for (j = 0; j < sz[i]; j++)
			if (p[i][j] != (unsigned char)i)
				fail_msg("block %zu overwritten at %zu", i, j);
	arena_free(a);
}

static void
test_zalloc_strings(void **state)
{
	struct arena *a = arena_new(0);
	unsigned char *z;
	char *s;
	size_t i;

	/* Dirty a chunk, then zalloc must still give zeroes. */
	memset(arena_alloc(a, 100), 0xff, 100);
	z = arena_zalloc(a, 100);
	for (i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	s = arena_strndup(a, "hello world", 5);
	assert_string_equal(s, "hello");
	s = arena_strndup(a, "", 0);
	assert_string_equal(s, "");
	s = arena_strdup(a, "copy");
	assert_string_equal(s, "copy");
	s = arena_printf(a, "%s=%d", "n", 42);
	assert_string_equal(s, "n=42");
	/* A long printf takes a block of its own. */
	s = arena_printf(a, "%0*d", 50000, 7);
	assert_int_equal(strlen(s), 50000);
	assert_int_equal(s[49999], '7');
	arena_free(a);
}

static void
test_impossible(void **state)
{
	struct arena *a = arena_new(0);

	assert_null(arena_alloc(a, SIZE_MAX));
	assert_null(arena_alloc(a, SIZE_MAX - 8));
	assert_null(arena_zalloc(a, SIZE_MAX - 3));
	assert_null(arena_strndup(a, "x", SIZE_MAX));
	/* Still usable afterwards. */
	assert_string_equal(arena_strdup(a, "ok"), "ok");
	arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_aligned),
	    cmocka_unit_test(test_no_overlap),
	    cmocka_unit_test(test_zalloc_strings),
	    cmocka_unit_test(test_impossible),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
