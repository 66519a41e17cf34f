/*
 * test_suppressions: the pieces of src/api/suppressions.c that need no
 * server (SPEC §8.1): RFC 3339 expiry dates (clock_parse_iso8601, in
 * core/clock.c), the query-string reader of the list's filters
 * (req_query and req_number, in req.c), and the bounds
 * jsonreq_parse_list puts on a bulk body. The routes themselves are
 * tested against a running pigeon (tests/integration/test_suppressions.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/api/suppressions.c"

static void
test_rfc3339(void **state)
{
	int64_t t;

	assert_int_equal(clock_parse_iso8601("1970-01-01T00:00:00Z", 0, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(clock_parse_iso8601("2026-12-01T00:00:00Z", 0, &t), 0);
	assert_int_equal(t, 1796083200000LL);
	/* a fraction, an offset, lowercase t and z, a space */
	assert_int_equal(
	    clock_parse_iso8601("2026-12-01T01:00:00.250+01:00", 0, &t), 0);
	assert_int_equal(t, 1796083200250LL);
	assert_int_equal(
	    clock_parse_iso8601("2026-11-30T19:30:00-04:30", 0, &t), 0);
	assert_int_equal(t, 1796083200000LL);
	assert_int_equal(clock_parse_iso8601("2026-12-01t00:00:00.5z", 0, &t),
	                 0);
	assert_int_equal(t, 1796083200500LL);
	assert_int_equal(clock_parse_iso8601("2026-12-01 00:00:00Z", 0, &t), 0);
	assert_int_equal(clock_parse_iso8601("2028-02-29T00:00:00Z", 0, &t), 0);
}

static void
test_rfc3339_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2026-12-01",               /* a date alone */
	    "2026-12-01T00:00Z",        /* no seconds */
	    "2026-12-01T00:00:00",      /* no zone */
	    "2026-12-01T00:00:00+0100", /* offset without its colon */
	    "2026-12-01T00:00:00.Z",    /* an empty fraction */
	    "2026-13-01T00:00:00Z",
	    "2026-02-30T00:00:00Z",
	    "2027-02-29T00:00:00Z",
	    "2026-12-01T24:00:00Z",
	    "2026-12-01T00:60:00Z",
	    "1969-12-31T23:59:59Z",
	    "2026-12-01T00:00:00Zx",
	    "tomorrow",
	    "2026-12-01T00:00:00+24:00",
	};
	int64_t t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(clock_parse_iso8601(bad[i], 0, &t), -1);
}

/* A request whose target is target. */
static struct req *
fake(const char *target, struct head *h)
{
	static struct req rq;

	memset(&rq, 0, sizeof(rq));
	memset(h, 0, sizeof(*h));
	h->target = target;
	h->target_len = strlen(target);
	rq.h = h;
	rq.a = arena_new(0);
	return &rq;
}

static void
test_query(void **state)
{
	struct head h;
	struct req *rq = fake("/x?per_page=10&search=a%40b+c&e=&cursor", &h);
	const char *v;
	char *t;
	int64_t n;

	assert_int_equal(req_query(rq, "per_page", &v), 0);
	assert_string_equal(v, "10");
	assert_int_equal(req_query(rq, "search", &v), 0);
	assert_string_equal(v, "a@b c");
	assert_int_equal(req_query(rq, "e", &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(req_query(rq, "cursor", &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(req_query(rq, "email", &v), 0);
	assert_null(v);
	assert_int_equal(req_query(rq, "per", &v), 0); /* names, not prefixes */
	assert_null(v);
	arena_free(rq->a);

	rq = fake("/x?a=1&a=2&b=%00&c=%4&d=%zz&e=%2B", &h);
	assert_int_equal(req_query(rq, "a", &v), QUERY_REPEATED);
	assert_null(v);
	assert_int_equal(req_query(rq, "b", &v), QUERY_BAD);
	assert_int_equal(req_query(rq, "c", &v), QUERY_BAD);
	assert_int_equal(req_query(rq, "d", &v), QUERY_BAD);
	assert_null(v);
	assert_int_equal(req_query(rq, "e", &v), 0);
	assert_string_equal(v, "+");
	arena_free(rq->a);

	rq = fake("/x", &h);
	assert_int_equal(req_query(rq, "a", &v), 0);
	assert_null(v);
	arena_free(rq->a);

	/* REQ_QUERY_MAX bytes as sent, not one more */
	t = malloc(8 + REQ_QUERY_MAX + 1);
	strcpy(t, "/x?a=");
	memset(t + 5, 'x', REQ_QUERY_MAX);
	t[5 + REQ_QUERY_MAX] = '\0';
	rq = fake(t, &h);
	assert_int_equal(req_query(rq, "a", &v), 0);
	assert_int_equal(strlen(v), REQ_QUERY_MAX);
	arena_free(rq->a);
	strcat(t, "x");
	rq = fake(t, &h);
	assert_int_equal(req_query(rq, "a", &v), QUERY_TOO_LONG);
	assert_null(v);
	arena_free(rq->a);
	free(t);

	/* per_page's and the message list cursor's numbers */
	assert_int_equal(req_number("1", 1000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(req_number("1000", 1000, &n), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(req_number("1001", 1000, &n), -1);
	assert_int_equal(req_number("0", 1000, &n), -1);
	assert_int_equal(req_number("01", 1000, &n), -1);
	assert_int_equal(req_number("", 1000, &n), -1);
	assert_int_equal(req_number(" 5", 1000, &n), -1);
	assert_int_equal(req_number("+5", 1000, &n), -1);
	assert_int_equal(req_number("5x", 1000, &n), -1);
	assert_int_equal(req_number("999999999999999999", INT64_MAX, &n), 0);
	assert_int_equal(req_number("9999999999999999999", INT64_MAX, &n), -1);
}

/* {"items":[{"email":"xN@example.net"},…]} with n items */
static char *
items(size_t n, const char *item)
{
	size_t len = 16 + n * (strlen(item) + 1);
	char *b = malloc(len), *p = b;

	p += sprintf(p, "{\"items\":[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", item);
	sprintf(p, "]}");
	return b;
}

static void
test_list_bounds(void **state)
{
	struct json_object *root = NULL;
	struct api_error e;
	char *b;

	/* 1,000 full items fit; so do 2,000 (the handler says "at most
	 * 1000"); 2,001 are refused before json-c */
	b = items(1000, "{\"email\":\"x@example.net\",\"expires_at\":null,"
	                "\"note\":\"n\",\"scope\":{\"type\":\"sending_domain\","
	                "\"value\":\"example.com\"}}");
	assert_int_equal(jsonreq_parse_list(b, strlen(b), &root, &e), 0);
	json_object_put(root);
	assert_int_equal(jsonreq_parse(b, strlen(b), &root, &e), -1);
	free(b);
	b = items(2000, "{\"email\":\"x@example.net\"}");
	assert_int_equal(jsonreq_parse_list(b, strlen(b), &root, &e), 0);
	json_object_put(root);
	free(b);
	b = items(2001, "{}");
	assert_int_equal(jsonreq_parse_list(b, strlen(b), &root, &e), -1);
	assert_int_equal(e.kind, AE_SCHEMA);
	assert_non_null(strstr(e.detail, "2000"));
	free(b);
	b = items(1500, "{\"a\":[1,2,3,4,5,6,7,8,9]}");
	assert_int_equal(jsonreq_parse_list(b, strlen(b), &root, &e), -1);
	assert_non_null(strstr(e.detail, "14010"));
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_rfc3339_refuses),
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_list_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
