/*
 * metricsbench: the cost of one count for /metrics, metric_inc and
 * metric_observe_us, from one thread and from two at once on the same
 * counter (the cache line bouncing between the cores, as when HTTP
 * threads count requests together). Prints ns per call and thread.
 *
 * cc -O2 -std=gnu11 -DPIGEON_VERSION='"bench"' -Isrc bench/metricsbench.c \
 *     src/core/metrics.c src/core/buf.c -lpthread -o /tmp/metricsbench
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/metrics.h"

#define N 20000000

static void *
inc(void *a)
{
	for (long i = 0; i < N; i++)
		metric_inc(&metrics.accepted[0]);
	return a;
}

static void *
observe(void *a)
{
	for (long i = 0; i < N; i++)
		metric_observe_us(&metrics.delivery, i & 0xffff);
	return a;
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
run(const char *name, void *(*fn)(void *), int nt)
{
	pthread_t t[2];
	double t0 = now();

	for (int i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	printf("%s threads=%d: %.1f ns per call\n", name, nt,
	       (now() - t0) * 1e9 / N);
}

int
main(void)
{
	run("metric_inc", inc, 1);
	run("metric_inc", inc, 2);
	run("metric_observe_us", observe, 1);
	run("metric_observe_us", observe, 2);
	return 0;
}
