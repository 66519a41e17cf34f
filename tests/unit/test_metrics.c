/*
 * test_metrics: src/core/metrics.c — the text exposition format 0.0.4:
 * label values and HELP text escaped, histogram buckets cumulative with
 * +Inf, _sum and _count, labelled counters, and the registered rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/metrics.h"

static void
test_label_value_escaped(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(metrics_label_value(&b, "a\\b\"c\nd/é"), 0);
	assert_string_equal(b.p, "\"a\\\\b\\\"c\\nd/é\"");
	buf_reset(&b);
	assert_int_equal(metrics_label_value(&b, ""), 0);
	assert_string_equal(b.p, "\"\"");
	buf_clear(&b);
}

static void
test_head_escapes_help(void **state)
{
	static const struct metric_row r = {"x_total", "line\none \\ \"q\"",
	                                    "counter", metric_render_counter};
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(metrics_head(&b, &r), 0);
	/* HELP escapes backslash and newline only; quotes stay */
	assert_string_equal(b.p, "# HELP x_total line\\none \\\\ \"q\"\n"
	                         "# TYPE x_total counter\n");
	buf_clear(&b);
}

static void
test_histogram(void **state)
{
	static const double le[] = {0.005, 0.1, 1};
	struct metric_hist h = {le, 3};
	struct metric_row r = {"d_seconds", "h", "histogram",
	                       metric_render_hist, &h};
	struct buf b;

	metric_observe_us(&h, 5000);    /* on the bound: le is inclusive */
	metric_observe_us(&h, 5001);    /* the next bucket */
	metric_observe_us(&h, 100000);  /* 0.1 */
	metric_observe_us(&h, 2500000); /* above every bound: +Inf */
	metric_observe_us(&h, -7);      /* a clock step back: 0 */
	buf_init(&b, 0);
	assert_int_equal(metric_render_hist(&b, &r), 0);
	assert_string_equal(b.p, "d_seconds_bucket{le=\"0.005\"} 2\n"
	                         "d_seconds_bucket{le=\"0.1\"} 4\n"
	                         "d_seconds_bucket{le=\"1\"} 4\n"
	                         "d_seconds_bucket{le=\"+Inf\"} 5\n"
	                         "d_seconds_sum 2.610001\n"
	                         "d_seconds_count 5\n");
	buf_clear(&b);
}

static void
test_histogram_empty(void **state)
{
	static const double le[] = {0.5};
	struct metric_hist h = {le, 1};
	struct metric_row r = {"e_seconds", "h", "histogram",
	                       metric_render_hist, &h};
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(metric_render_hist(&b, &r), 0);
	assert_string_equal(b.p, "e_seconds_bucket{le=\"0.5\"} 0\n"
	                         "e_seconds_bucket{le=\"+Inf\"} 0\n"
	                         "e_seconds_sum 0.000000\n"
	                         "e_seconds_count 0\n");
	buf_clear(&b);
}

static void
test_counters_and_gauge(void **state)
{
	static const char *const vals[] = {"a", "b\"c"};
	static atomic_ullong v[2], one;
	static atomic_llong g;
	struct metric_row r = {
	    "c_total", "h",    "counter", metric_render_counter,
	    v,         "kind", vals,      2};
	struct metric_row r1 = {"o_total", "h", "counter",
	                        metric_render_counter, &one};
	struct metric_row rg = {"g", "h", "gauge", metric_render_gauge, &g};
	struct buf b;

	metric_inc(&v[1]);
	metric_add(&v[1], 41);
	metric_inc(&one);
	metric_gauge_add(&g, 3);
	metric_gauge_add(&g, -5);
	buf_init(&b, 0);
	assert_int_equal(metric_render_counter(&b, &r), 0);
	assert_int_equal(metric_render_counter(&b, &r1), 0);
	assert_int_equal(metric_render_gauge(&b, &rg), 0);
	assert_string_equal(b.p, "c_total{kind=\"a\"} 0\n"
	                         "c_total{kind=\"b\\\"c\"} 42\n"
	                         "o_total 1\n"
	                         "g -2\n");
	metric_gauge_set(&g, 7);
	buf_reset(&b);
	assert_int_equal(metric_render_gauge(&b, &rg), 0);
	assert_string_equal(b.p, "g 7\n");
	buf_clear(&b);
}

static int
render_fixed(struct buf *b, const struct metric_row *r)
{
	return buf_printf(b, "%s 9\n", r->name);
}

/* The built-in families come first, each with HELP and TYPE; a
 * registered row follows them, once however often it is registered. */
static void
test_render_and_register(void **state)
{
	static const struct metric_row extra = {"pigeon_test_total", "t",
	                                        "counter", render_fixed};
	struct buf b;
	const char *p;

	assert_int_equal(metrics_register(&extra), 0);
	assert_int_equal(metrics_register(&extra), 0);
	buf_init(&b, 0);
	assert_int_equal(metrics_render(&b), 0);
	assert_non_null(strstr(
	    b.p, "# TYPE pigeon_build_info gauge\n"
	         "pigeon_build_info{version=\"" PIGEON_VERSION "\"} 1\n"));
	assert_non_null(strstr(b.p, "pigeon_recipients_total{outcome="
	                            "\"complained\"} 0\n"));
	assert_non_null(strstr(
	    b.p, "pigeon_delivery_duration_seconds_bucket{le=\"+Inf\"}"));
	p = strstr(b.p, "# HELP pigeon_test_total t\n# TYPE pigeon_test_total "
	                "counter\npigeon_test_total 9\n");
	assert_non_null(p);
	p = strstr(p, "\npigeon_test_total 9\n") + 1;
	assert_null(strstr(p + 1, "pigeon_test_total 9"));
	/* the last family: registered rows follow the built-in ones */
	assert_string_equal(p + strlen(p) - strlen("pigeon_test_total 9\n"),
	                    "pigeon_test_total 9\n");
	/* every line ends with a newline, the last one too */
	assert_int_equal(b.p[b.len - 1], '\n');
	buf_clear(&b);
}

/* A full buffer is an error, not a cut exposition. */
static void
test_render_capped(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(metrics_render(&b), -1);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_value_escaped),
	    cmocka_unit_test(test_head_escapes_help),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_histogram_empty),
	    cmocka_unit_test(test_counters_and_gauge),
	    cmocka_unit_test(test_render_and_register),
	    cmocka_unit_test(test_render_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
