/*
 * test_loop: src/core/loop.c — closures posted from several threads run
 * on the loop's thread in the order each thread posted them, a plain
 * thread takes at most max per loop_run, loop_wait honours its deadline
 * and loop_wake, a closed loop refuses posts, and an attached event_base
 * runs posts and stops once the loop is closed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "../../src/core/clock.h"
#include "../../src/core/loop.h"

#define NPOSTERS 4
#define PER_POSTER 5000

struct item {
	int poster, seq;
	struct counts *c;
};

struct counts {
	int next[NPOSTERS]; /* next seq expected from each poster */
	int total;
	int out_of_order;
	pthread_t runner;
	int wrong_thread;
};

static void
item_run(void *arg)
{
	struct item *it = arg;
	struct counts *c = it->c;

	if (!pthread_equal(pthread_self(), c->runner))
		c->wrong_thread++;
	if (it->seq != c->next[it->poster])
		c->out_of_order++;
	c->next[it->poster] = it->seq + 1;
	c->total++;
}

struct poster {
	struct loop *l;
	int n;
	struct item *items;
};

static void *
poster_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < PER_POSTER; i++)
		if (loop_post(p->l, item_run, &p->items[i]) != 0)
			return NULL;
	return p;
}

static void
posters_start(struct loop *l, struct counts *c, struct poster *p, pthread_t *th)
{
	for (int t = 0; t < NPOSTERS; t++) {
		p[t].l = l;
		p[t].n = t;
		p[t].items = calloc(PER_POSTER, sizeof(struct item));
		assert_non_null(p[t].items);
		for (int i = 0; i < PER_POSTER; i++) {
			p[t].items[i].poster = t;
			p[t].items[i].seq = i;
			p[t].items[i].c = c;
		}
		assert_int_equal(
		    pthread_create(&th[t], NULL, poster_main, &p[t]), 0);
	}
}

static void
posters_join(struct poster *p, pthread_t *th)
{
	void *ret;

	for (int t = 0; t < NPOSTERS; t++) {
		assert_int_equal(pthread_join(th[t], &ret), 0);
		assert_ptr_equal(ret, &p[t]);
	}
}

static void
test_plain_thread(void **state)
{
	struct loop *l = loop_new();
	struct counts c = {0};
	struct poster p[NPOSTERS];
	pthread_t th[NPOSTERS];
	size_t n;
	int over = 0;

	assert_non_null(l);
	c.runner = pthread_self();
	posters_start(l, &c, p, th);
	while (c.total < NPOSTERS * PER_POSTER) {
		loop_wait(l, clock_mono_ms() + 1000);
		if ((n = loop_run(l, 7)) > 7)
			over = 1;
	}
	posters_join(p, th);
	assert_false(over);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.wrong_thread, 0);
	assert_int_equal(loop_run(l, 100), 0);
	assert_false(loop_done(l));
	loop_close(l);
	assert_true(loop_closed(l));
	assert_true(loop_done(l));
	/* closed: refused, and the caller keeps its argument */
	assert_int_equal(loop_post(l, item_run, &p[0].items[0]), -1);
	assert_int_equal(loop_run(l, 100), 0);
	for (int t = 0; t < NPOSTERS; t++)
		free(p[t].items);
	loop_free(l);
}

static void
count_run(void *arg)
{
	(*(int *)arg)++;
}

static void
test_wait_and_close(void **state)
{
	struct loop *l = loop_new();
	int64_t t0;
	int ran = 0;

	/* the deadline passes */
	t0 = clock_mono_ms();
	loop_wait(l, t0 + 80);
	assert_true(clock_mono_ms() - t0 >= 80);
	/* a past deadline or a pending wake returns at once */
	t0 = clock_mono_ms();
	loop_wait(l, t0 - 1);
	loop_wake(l);
	loop_wait(l, 0);
	assert_true(clock_mono_ms() - t0 < 50);
	/* a waiting closure too, and it is still there to run */
	assert_int_equal(loop_post(l, count_run, &ran), 0);
	assert_int_equal(loop_post(l, count_run, &ran), 0);
	loop_wait(l, 0);
	assert_int_equal(ran, 0);
	/* closed with closures left: not done until they ran */
	loop_close(l);
	loop_wait(l, 0);
	assert_false(loop_done(l));
	assert_int_equal(loop_run(l, 1), 1);
	assert_int_equal(loop_run(l, 0), 0);
	assert_int_equal(loop_run(l, 5), 1);
	assert_int_equal(ran, 2);
	assert_true(loop_done(l));
	loop_free(l);
	/* freeing with closures still posted drops them */
	l = loop_new();
	assert_int_equal(loop_post(l, count_run, &ran), 0);
	loop_free(l);
	assert_int_equal(ran, 2);
}

struct waker {
	struct loop *l;
	int64_t delay_ms;
	int close;
};

static void *
waker_main(void *arg)
{
	struct waker *w = arg;

	usleep((useconds_t)w->delay_ms * 1000);
	if (w->close)
		loop_close(w->l);
	else
		loop_wake(w->l);
	return NULL;
}

static void
test_wake_from_thread(void **state)
{
	struct loop *l = loop_new();
	struct waker w = {l, 50, 0};
	pthread_t th;
	int64_t t0 = clock_mono_ms();

	assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
	loop_wait(l, 0);
	assert_true(clock_mono_ms() - t0 >= 40);
	pthread_join(th, NULL);
	w.close = 1;
	t0 = clock_mono_ms();
	assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
	loop_wait(l, t0 + 5000);
	assert_true(clock_mono_ms() - t0 < 4000);
	assert_true(loop_done(l));
	pthread_join(th, NULL);
	loop_free(l);
}

struct based {
	struct event_base *base;
	struct counts *c;
};

static void *
base_main(void *arg)
{
	struct based *b = arg;

	b->c->runner = pthread_self();
	event_base_loop(b->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void
test_attached(void **state)
{
	struct loop *l = loop_new();
	struct counts c = {0};
	struct poster p[NPOSTERS];
	pthread_t th[NPOSTERS], bt;
	struct based b;
	int64_t end;
	int ran = 0;

	assert_int_equal(evthread_use_pthreads(), 0);
	b.base = event_base_new();
	b.c = &c;
	assert_non_null(b.base);
	assert_int_equal(loop_attach(l, b.base), 0);
	/* posted before the base runs: runs once it does */
	assert_int_equal(loop_post(l, count_run, &ran), 0);
	c.runner = pthread_self(); /* until base_main sets it */
	assert_int_equal(pthread_create(&bt, NULL, base_main, &b), 0);
	end = clock_mono_ms() + 2000;
	while (!pthread_equal(c.runner, bt) && clock_mono_ms() < end)
		usleep(1000);
	posters_start(l, &c, p, th);
	posters_join(p, th);
	end = clock_mono_ms() + 5000;
	while (__atomic_load_n(&c.total, __ATOMIC_SEQ_CST) <
	           NPOSTERS * PER_POSTER &&
	       clock_mono_ms() < end)
		usleep(1000);
	/* closing stops the base's dispatch: the join returns */
	loop_close(l);
	pthread_join(bt, NULL);
	assert_int_equal(ran, 1);
	assert_int_equal(c.total, NPOSTERS * PER_POSTER);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.wrong_thread, 0);
	assert_int_equal(loop_post(l, count_run, &ran), -1);
	for (int t = 0; t < NPOSTERS; t++)
		free(p[t].items);
	loop_free(l);
	event_base_free(b.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_thread),
	    cmocka_unit_test(test_wait_and_close),
	    cmocka_unit_test(test_wake_from_thread),
	    cmocka_unit_test(test_attached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
