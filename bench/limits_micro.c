/*
 * limits_micro: what the limiter of SPEC §8.4 costs a send, without the
 * rest of the send path: the calls a limited send makes (a token taken,
 * the recipients counted, the RateLimit-* fields read) on one account,
 * from 1 and from 2 threads at once (the worst case: every thread on the
 * same stripe's mutex). Prints ns per send.
 *
 *   cc -O2 -pthread -D_GNU_SOURCE -o /tmp/limits_micro \
 *       bench/limits_micro.c && /tmp/limits_micro
 */
#include <stdio.h>
#include <time.h>

#include "../src/limits/limits.c"

/* limits.c's store calls, unused here */
int
store_usage_day(struct store *s, int64_t day, store_usage_fn *cb, void *arg)
{
	return 0;
}
int
store_usage_put(struct store *s, const char *id, int64_t day, int64_t n)
{
	return 0;
}
int
store_usage_purge(struct store *s, int64_t before_day)
{
	return 0;
}
int
store_begin(struct store *s)
{
	return 0;
}
int
store_commit(struct store *s)
{
	return 0;
}
void
store_rollback(struct store *s)
{
}

#define N 5000000

static struct limits *lim;
static struct account ac = {.id = "a0000000000000000000000000000001",
                            .rate = 1000000000,
                            .burst = 1000000000,
                            .daily_quota = 1000000000000LL};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
run(void *arg)
{
	struct limits_view v;
	int64_t day, ra, t = 1;

	for (int i = 0; i < N; i++, t++) {
		limits_take(lim, &ac, t, &v);
		limits_quota_take(lim, &ac, 1, 86400000LL * 20000, &day, &ra);
		limits_peek(lim, &ac, t, &v);
	}
	return NULL;
}

int
main(void)
{
	pthread_t th[2];
	int64_t t0;

	lim = limits_new();
	t0 = now_ns();
	run(NULL);
	printf("1 thread:  %.1f ns per send\n", (double)(now_ns() - t0) / N);
	t0 = now_ns();
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, run, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("2 threads: %.1f ns per send (wall time / sends)\n",
	       (double)(now_ns() - t0) / (2.0 * N));
	limits_free(lim);
	return 0;
}
