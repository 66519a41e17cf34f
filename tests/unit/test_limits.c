/*
 * test_limits: src/limits/limits.c — the token bucket's arithmetic (a
 * burst, the refill, Retry-After and the RateLimit-* values, a burst of
 * 0, a lowered burst, huge values), the daily quota (whole requests,
 * the count given back, midnight and its Retry-After), the wall clock's
 * day through the clock seam, many threads at once, and the counts
 * written to a store and read back. Times are given, never waited for.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/clock.h"
#include "../../src/limits/limits.h"
#include "../../src/store/store.h"

#define ACC "a0000000000000000000000000000001"
#define ACC2 "a0000000000000000000000000000002"
#define DAY LIMITS_DAY_MS
#define T0 1000000 /* a monotonic time, ms */

static struct account
acct(const char *id, int64_t rate, int64_t burst, int64_t quota)
{
	struct account a;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "%s", id);
	a.rate = rate;
	a.burst = burst;
	a.daily_quota = quota;
	return a;
}

static void
test_bucket(void **state)
{
	struct limits *lim = limits_new();
	struct account a = acct(ACC, 1, 3, 0);
	struct limits_view v;

	assert_non_null(lim);
	/* full at first use: three at once, then none */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(limits_take(lim, &a, T0, &v), 0);
		assert_int_equal(v.limit, 3);
		assert_int_equal(v.remaining, 2 - i);
		assert_int_equal(v.retry_after, 0);
	}
	assert_int_equal(v.reset, 3); /* 3 tokens at 1/s */
	assert_int_equal(limits_take(lim, &a, T0, &v), LIMITS_RATE);
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.retry_after, 1);
	assert_int_equal(v.reset, 3);
	/* a refusal costs nothing; 999 ms is not a token, rounded up */
	assert_int_equal(limits_take(lim, &a, T0 + 999, &v), LIMITS_RATE);
	assert_int_equal(v.retry_after, 1);
	assert_int_equal(v.reset, 3);
	assert_int_equal(limits_peek(lim, &a, T0 + 1000, &v), 0);
	assert_int_equal(v.remaining, 1);
	assert_int_equal(limits_take(lim, &a, T0 + 1000, &v), 0);
	assert_int_equal(v.remaining, 0);
	/* a peek takes nothing */
	assert_int_equal(limits_peek(lim, &a, T0 + 1000, &v), LIMITS_RATE);
	/* time going back (another thread's older reading) adds nothing */
	assert_int_equal(limits_take(lim, &a, T0, &v), LIMITS_RATE);
	/* long after: full, never more */
	assert_int_equal(limits_peek(lim, &a, T0 + 3600 * 1000, &v), 0);
	assert_int_equal(v.remaining, 3);
	assert_int_equal(v.reset, 0);
	limits_free(lim);
	limits_free(NULL);
}

static void
test_bucket_rates(void **state)
{
	struct limits *lim = limits_new();
	struct account a = acct(ACC, 4, 0, 0), b = acct(ACC2, 0, 5, 0);
	struct limits_view v;
	int n = 0;

	/* a burst of 0 is the rate: four at once */
	while (limits_take(lim, &a, T0, &v) == 0)
		n++;
	assert_int_equal(n, 4);
	assert_int_equal(v.limit, 4);
	assert_int_equal(v.retry_after, 1); /* 250 ms, rounded up */
	assert_int_equal(limits_take(lim, &a, T0 + 249, NULL), LIMITS_RATE);
	assert_int_equal(limits_take(lim, &a, T0 + 250, NULL), 0);
	/* no rate: no limit, no state */
	for (int i = 0; i < 100; i++)
		assert_int_equal(limits_take(lim, &b, T0, &v), 0);
	assert_int_equal(v.limit, 0);
	assert_int_equal(limits_burst(&b), 0);
	/* the burst lowered (a new snapshot): the tokens follow */
	a.burst = 1;
	assert_int_equal(limits_peek(lim, &a, T0 + 10000, &v), 0);
	assert_int_equal(v.limit, 1);
	assert_int_equal(v.remaining, 1);
	/* huge values neither overflow nor wrap */
	a.rate = INT64_MAX;
	a.burst = INT64_MAX;
	assert_int_equal(limits_burst(&a), LIMITS_MAX);
	assert_int_equal(limits_take(lim, &a, INT64_MAX / 2, &v), 0);
	assert_true(v.remaining > 0 && v.remaining <= LIMITS_MAX);
	a.rate = -5;
	assert_int_equal(limits_take(lim, &a, T0, NULL), 0);
	limits_free(lim);
}

static void
test_quota(void **state)
{
	struct limits *lim = limits_new();
	struct account a = acct(ACC, 0, 0, 3), b = acct(ACC2, 0, 0, 0);
	int64_t now = 20000 * DAY + 5000, day, ra;

	assert_int_equal(limits_quota_take(lim, &a, 2, now, &day, &ra), 0);
	assert_int_equal(day, 20000);
	assert_int_equal(limits_sent(lim, &a, now), 2);
	/* the whole request or nothing */
	assert_int_equal(limits_quota_take(lim, &a, 2, now, &day, &ra),
	                 LIMITS_QUOTA);
	assert_int_equal(day, -1);
	assert_int_equal(ra, (DAY - 5000) / 1000);
	assert_int_equal(limits_sent(lim, &a, now), 2);
	assert_int_equal(limits_quota_take(lim, &a, 1, now, &day, &ra), 0);
	assert_int_equal(limits_quota_take(lim, &a, 1, now, &day, &ra),
	                 LIMITS_QUOTA);
	/* given back (a send that failed after the count) */
	limits_quota_give(lim, &a, 1, 20000);
	assert_int_equal(limits_sent(lim, &a, now), 2);
	/* Retry-After rounds up: half a second before midnight is 1 */
	assert_int_equal(
	    limits_quota_take(lim, &a, 2, 20001 * DAY - 500, &day, &ra),
	    LIMITS_QUOTA);
	assert_int_equal(ra, 1);
	/* midnight: a new day, from 0; yesterday's give-back is void */
	assert_int_equal(limits_sent(lim, &a, 20001 * DAY), 0);
	assert_int_equal(limits_quota_take(lim, &a, 3, 20001 * DAY, &day, &ra),
	                 0);
	assert_int_equal(day, 20001);
	limits_quota_give(lim, &a, 3, 20000);
	assert_int_equal(limits_sent(lim, &a, 20001 * DAY), 3);
	/* more than the quota in one request: refused, any time */
	assert_int_equal(limits_quota_take(lim, &a, 4, 20002 * DAY, &day, &ra),
	                 LIMITS_QUOTA);
	assert_int_equal(ra, 24 * 3600);
	/* no quota: nothing counted */
	assert_int_equal(limits_quota_take(lim, &b, 1000, now, &day, &ra), 0);
	assert_int_equal(day, -1);
	assert_int_equal(limits_sent(lim, &b, now), 0);
	limits_free(lim);
}

/* The day of the wall clock, through the clock seam. */
static void
test_day(void **state)
{
	clock_set_fixed(1764547199); /* 2025-11-30T23:59:59Z */
	assert_int_equal(limits_day(clock_now_ms()), 20422);
	assert_int_equal(limits_midnight_ms(clock_now_ms()),
	                 1764547200LL * 1000);
	clock_set_fixed(1764547200);
	assert_int_equal(limits_day(clock_now_ms()), 20423);
	assert_int_equal(limits_midnight_ms(clock_now_ms()),
	                 (1764547200LL + 86400) * 1000);
	clock_set_fixed(0);
	assert_int_equal(limits_day(-5), 0);
}

#define NTHREADS 4
#define PER_THREAD 20000

struct race {
	struct limits *lim;
	struct account *a;
	int took;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	int64_t day, ra;

	for (int i = 0; i < PER_THREAD; i++) {
		if (limits_quota_take(r->lim, r->a, 1, 5 * DAY, &day, &ra) == 0)
			r->took++;
		limits_take(r->lim, r->a, T0, NULL);
	}
	return NULL;
}

/* Many threads on one account: the count never passes the quota and
 * no take is lost. */
static void
test_threads(void **state)
{
	struct limits *lim = limits_new();
	struct account a = acct(ACC, 1, 10, 50000);
	struct race r[NTHREADS];
	pthread_t t[NTHREADS];
	int sum = 0;

	for (int i = 0; i < NTHREADS; i++) {
		r[i] = (struct race){lim, &a, 0};
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		sum += r[i].took;
	}
	assert_int_equal(sum, 50000);
	assert_int_equal(limits_sent(lim, &a, 5 * DAY), 50000);
	limits_free(lim);
}

static int
count_row(void *arg, const char *id, int64_t sent)
{
	(*(int *)arg)++;
	return 0;
}

/* The counts written (only what changed), read back at a start, and
 * the days before yesterday deleted. */
static void
test_store_roundtrip(void **state)
{
	struct limits *lim = limits_new(), *again;
	struct account a = acct(ACC, 0, 0, 100), b = acct(ACC2, 0, 0, 100);
	char dir[64], path[128], err[256], cmd[160];
	int64_t now = 20000 * DAY + 1000, day, ra;
	struct store *st;
	int rows = 0;

	snprintf(dir, sizeof(dir), "/tmp/pigeon-limits-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pigeon.db", dir);
	assert_non_null(st = store_open(path, err, sizeof(err)));
	/* an old day's row, deleted by the first flush */
	assert_int_equal(store_usage_put(st, ACC, 19990, 7), 0);
	assert_int_equal(limits_flush(lim, st, now), 0);
	assert_int_equal(store_usage_day(st, 19990, count_row, &rows), 0);
	assert_int_equal(rows, 0);
	assert_int_equal(limits_quota_take(lim, &a, 5, now, &day, &ra), 0);
	assert_int_equal(limits_quota_take(lim, &b, 2, now, &day, &ra), 0);
	assert_int_equal(limits_flush(lim, st, now), 2);
	assert_int_equal(limits_flush(lim, st, now), 0); /* nothing new */
	limits_quota_give(lim, &b, 1, day);
	assert_int_equal(limits_flush(lim, st, now), 1);

	assert_non_null(again = limits_new());
	assert_int_equal(limits_load(again, st, now), 0);
	assert_int_equal(limits_sent(again, &a, now), 5);
	assert_int_equal(limits_sent(again, &b, now), 1);
	/* a loaded count is not written again until it changes */
	assert_int_equal(limits_flush(again, st, now), 0);
	assert_int_equal(limits_quota_take(again, &a, 96, now, &day, &ra),
	                 LIMITS_QUOTA);
	/* the next day starts empty */
	limits_free(again);
	assert_non_null(again = limits_new());
	assert_int_equal(limits_load(again, st, now + DAY), 0);
	assert_int_equal(limits_sent(again, &a, now + DAY), 0);
	limits_free(again);
	limits_free(lim);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bucket),
	    cmocka_unit_test(test_bucket_rates),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_day),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_store_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
