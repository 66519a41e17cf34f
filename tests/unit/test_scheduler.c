/*
 * test_scheduler: src/delivery/scheduler.c — a message's recipients
 * grouped into one job per domain, and the per-destination caps: with a
 * fake route that holds jobs until the test lets them go, cap 2 and 5
 * due jobs to one destination put 2 in the route while the others wait
 * and start, oldest first, as those finish; another destination (another
 * domain, or the same domain through another route) is not blocked; a
 * route without a cap takes everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../src/core/clock.h"
#include "../../src/delivery/scheduler.h"

#define MAXHELD 16

/* A route that answers only when the test says so. */
struct holder {
	struct route rt;
	struct sched_job *held[MAXHELD];
	route_done_fn *done[MAXHELD];
	void *arg[MAXHELD];
	int n;
	int64_t order[MAXHELD]; /* msg ids in the order they came in */
	int norder;
};

static void
hold(struct route *rt, struct sched_job *j, route_done_fn *done, void *arg)
{
	struct holder *h = (struct holder *)rt;

	assert_true(h->n < MAXHELD);
	h->held[h->n] = j;
	h->done[h->n] = done;
	h->arg[h->n] = arg;
	h->n++;
	h->order[h->norder++] = j->msg_id;
}

static void
holder_init(struct holder *h, const char *name, int cap)
{
	memset(h, 0, sizeof(*h));
	h->rt.name = name;
	h->rt.deliver = hold;
	h->rt.max_conns = cap;
}

/* How many jobs for domain h holds. */
static int
held_for(struct holder *h, const char *domain)
{
	int n = 0;

	for (int i = 0; i < h->n; i++)
		n += strcasecmp(h->held[i]->domain, domain) == 0;
	return n;
}

struct fx {
	struct event_base *base;
	struct sched *s;
	int64_t next_due; /* what done() gives sched_finish */
	int finished;
};

static void
done_cb(void *arg, struct sched_job *j)
{
	struct fx *fx = arg;

	fx->finished++;
	sched_finish(fx->s, j, fx->next_due);
}

/* The first job h holds for domain answers. */
static void
release(struct holder *h, const char *domain)
{
	for (int i = 0; i < h->n; i++) {
		struct sched_job *j = h->held[i];
		route_done_fn *done = h->done[i];
		void *arg = h->arg[i];

		if (strcasecmp(j->domain, domain) != 0)
			continue;
		memmove(&h->held[i], &h->held[i + 1],
		        (size_t)(h->n - i - 1) * sizeof(*h->held));
		memmove(&h->done[i], &h->done[i + 1],
		        (size_t)(h->n - i - 1) * sizeof(*h->done));
		memmove(&h->arg[i], &h->arg[i + 1],
		        (size_t)(h->n - i - 1) * sizeof(*h->arg));
		h->n--;
		done(arg, j);
		return;
	}
	fail_msg("no job held for %s", domain);
}

/* Lets the base run whatever is due now. */
static void
spin(struct fx *fx)
{
	for (int i = 0; i < 10; i++) {
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(2000);
	}
}

static void
add(struct fx *fx, struct route *rt, int64_t msg, const char *addr)
{
	struct sched_job *j =
	    sched_job_new(msg, "<t@example.com>", NULL, clock_now_ms(), 1);

	assert_non_null(j);
	assert_int_equal(sched_job_add(j, msg * 10, addr, 0), 0);
	j->due_ms = clock_now_ms() + msg; /* due in msg order */
	j->route = rt;
	sched_add(fx->s, j);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_non_null(fx->base = event_base_new());
	assert_non_null(fx->s = sched_new(fx->base, done_cb, fx));
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	sched_free(fx->s); /* jobs still held or waiting are freed */
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void
test_cap_per_destination(void **state)
{
	struct fx *fx = *state;
	struct holder mx, other;

	holder_init(&mx, "fake", 2);
	holder_init(&other, "other", 2);
	for (int i = 1; i <= 5; i++)
		add(fx, &mx.rt, i, i == 3 ? "u3@A.Example" : "u@a.example");
	add(fx, &mx.rt, 6, "u@b.example");
	add(fx, &other.rt, 7, "u@a.example");
	spin(fx);
	/* 2 of a.example in the route; b.example and (other, a.example)
	 * are other destinations, not blocked */
	assert_int_equal(held_for(&mx, "a.example"), 2);
	assert_int_equal(held_for(&mx, "b.example"), 1);
	assert_int_equal(held_for(&other, "a.example"), 1);
	/* one finishes: the oldest waiting one starts, never more than 2 */
	for (int left = 5; left > 0; left--) {
		assert_int_equal(held_for(&mx, "a.example"),
		                 left < 2 ? left : 2);
		assert_int_equal(held_for(&mx, "b.example"), 1);
		release(&mx, "a.example");
		spin(fx);
	}
	assert_int_equal(held_for(&mx, "a.example"), 0);
	assert_int_equal(fx->finished, 5);
	/* a.example's jobs went in the order they were due */
	for (int i = 0, k = 1; i < mx.norder; i++)
		if (mx.order[i] != 6)
			assert_int_equal(mx.order[i], k++);
	release(&mx, "b.example");
	release(&other, "a.example");
	assert_int_equal(fx->finished, 7);
}

static void
test_retry_frees_the_slot(void **state)
{
	struct fx *fx = *state;
	struct holder mx;
	int64_t t0;

	holder_init(&mx, "fake", 1);
	add(fx, &mx.rt, 1, "u@a.example");
	add(fx, &mx.rt, 2, "u@a.example");
	spin(fx);
	assert_int_equal(mx.n, 1);
	assert_int_equal(mx.held[0]->msg_id, 1);
	/* job 1 is deferred for 200 ms: job 2 takes the slot meanwhile */
	t0 = clock_mono_ms();
	fx->next_due = clock_now_ms() + 200;
	release(&mx, "a.example");
	fx->next_due = 0;
	spin(fx);
	assert_int_equal(mx.n, 1);
	assert_int_equal(mx.held[0]->msg_id, 2);
	/* job 1 comes due while 2 holds the slot: it waits */
	while (clock_mono_ms() - t0 < 300)
		spin(fx);
	assert_int_equal(mx.n, 1);
	release(&mx, "a.example");
	spin(fx);
	assert_int_equal(mx.n, 1);
	assert_int_equal(mx.held[0]->msg_id, 1);
	assert_int_equal(mx.held[0]->nrcpts, 1);
	/* teardown frees job 1, still in the route */
}

static void
test_no_cap(void **state)
{
	struct fx *fx = *state;
	struct holder cap0;

	holder_init(&cap0, "capture-like", 0);
	for (int i = 1; i <= 5; i++)
		add(fx, &cap0.rt, i, "u@a.example");
	spin(fx);
	assert_int_equal(cap0.n, 5);
	while (cap0.n > 0)
		release(&cap0, "a.example");
	assert_int_equal(fx->finished, 5);
}

static void
test_jobs_of(void **state)
{
	struct store_rcpt r[5] = {
	    {.id = 1, .address = "a@x.example", .state = RCPT_QUEUED},
	    {.id = 2, .address = "b@y.example", .state = RCPT_QUEUED},
	    {.id = 3, .address = "c@X.Example", .state = RCPT_QUEUED},
	    {.id = 4, .address = "d@x.example", .state = RCPT_SUPPRESSED},
	    {.id = 5, .address = "e@y.example", .state = RCPT_QUEUED},
	};
	struct store_msg m = {.id = 9,
	                      .message_id = "<m@example.com>",
	                      .domain_id = "d1",
	                      .created = 1234,
	                      .rcpts = r,
	                      .nrcpts = 5};
	struct sched_job *jobs[5];

	assert_int_equal(sched_jobs_of(&m, jobs), 2);
	assert_int_equal(jobs[0]->msg_id, 9);
	assert_int_equal(jobs[0]->created_ms, 1234);
	assert_string_equal(jobs[0]->domain_id, "d1");
	assert_string_equal(jobs[0]->domain, "x.example");
	assert_int_equal(jobs[0]->nrcpts, 2);
	assert_int_equal(jobs[0]->rcpts[0].id, 1);
	assert_int_equal(jobs[0]->rcpts[1].id, 3);
	assert_string_equal(jobs[1]->domain, "y.example");
	assert_int_equal(jobs[1]->nrcpts, 2);
	assert_int_equal(jobs[1]->rcpts[0].id, 2);
	assert_int_equal(jobs[1]->rcpts[1].id, 5);
	sched_job_free(jobs[0]);
	sched_job_free(jobs[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cap_per_destination, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_retry_frees_the_slot, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_cap, setup, teardown),
	    cmocka_unit_test(test_jobs_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
