/*
 * test_queue: src/queue/queue.c wired to the delivery engine and the capture
 * route on a store in a temp dir — concurrent sends, a store failure
 * (rc -1, nothing written), the waiter's answers for each capture test
 * address, retries, expiry, a restart with pending recipients,
 * message_retention (the purge task, the body of a message without
 * preview), and the events and suppressions written with the outcomes.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../src/core/clock.h"
#include "../../src/core/config.h"
#include "../../src/queue/event.h"
#include "../../src/queue/queue.h"
#include "../../src/admin/wire.h"

#define ACC "a0000000000000000000000000000001"
#define ZONE "z0000000000000000000000000000001"
#define DOM "d0000000000000000000000000000001"
#define MAXR 4

static const char RAW[] = "From: a@example.com\r\nSubject: t\r\n\r\nhi\r\n";

struct fixture {
	char dir[64];
	struct config cfg;
	struct queue *q;
	struct store *rd; /* a reader connection, like the API's */
};

/* One send and its answer. */
struct sent {
	struct store_msg m;
	struct store_rcpt r[MAXR];
	char mid[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int calls;
	int rc;
	int got_states;
	enum rcpt_state states[MAXR];
	int64_t answered; /* mono ms */
};

static void
sent_cb(void *arg, int rc, const enum rcpt_state *states)
{
	struct sent *s = arg;

	pthread_mutex_lock(&s->mu);
	s->rc = rc;
	s->got_states = states != NULL;
	for (size_t i = 0; states != NULL && i < s->m.nrcpts; i++)
		s->states[i] = states[i];
	s->answered = clock_mono_ms();
	atomic_fetch_add(&s->calls, 1);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void
sent_init(struct sent *s, const char *mid, const char **addrs, size_t n)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	snprintf(s->mid, sizeof(s->mid), "%s", mid);
	s->m.account_id = ACC;
	s->m.domain_id = DOM;
	s->m.message_id = s->mid;
	s->m.mail_from = "a@example.com";
	s->m.raw = RAW;
	s->m.raw_len = sizeof(RAW) - 1;
	s->m.preview = 1;
	s->m.rcpts = s->r;
	s->m.nrcpts = n;
	for (size_t i = 0; i < n; i++) {
		s->r[i].address = addrs[i];
		s->r[i].state = strncmp(addrs[i], "supp", 4) == 0
		                    ? RCPT_SUPPRESSED
		                    : RCPT_QUEUED;
	}
}

static void
sent_wait(struct sent *s, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;

	pthread_mutex_lock(&s->mu);
	while (atomic_load(&s->calls) == 0 && clock_mono_ms() < end) {
		pthread_mutex_unlock(&s->mu);
		usleep(2000);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	assert_int_equal(atomic_load(&s->calls), 1);
}

/* Sends and waits for the answer; returns the ms it took. */
static int64_t
send_sync(struct fixture *f, struct sent *s, int wait_ms)
{
	int64_t t0 = clock_mono_ms();

	assert_int_equal(queue_send(f->q, &s->m, wait_ms, sent_cb, s), 0);
	sent_wait(s, wait_ms + 10000);
	return s->answered - t0;
}

/* Polls the store until recipient idx of mid is in state want. */
static int
poll_state(struct fixture *f, const char *mid, size_t idx, enum rcpt_state want,
           int timeout_ms, int *attempts)
{
	int64_t end = clock_mono_ms() + timeout_ms;
	struct msg_status st;
	int ok = 0;

	do {
		if (store_message_status(f->rd, ACC, mid, &st) == 0) {
			ok = idx < st.nrcpts && st.rcpts[idx].state == want;
			if (ok && attempts != NULL)
				*attempts = st.rcpts[idx].attempts;
			msg_status_clear(&st);
		}
		if (!ok)
			usleep(10000);
	} while (!ok && clock_mono_ms() < end);
	return ok;
}

static void
start(struct fixture *f)
{
	char err[256];

	f->q = wire_queue(&f->cfg, err, sizeof(err));
	if (f->q == NULL)
		fail_msg("queue_start: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct account a = {
	    .id = ACC, .name = "acme", .entitled = 1, .sending_enabled = 1};
	struct zone z = {.id = ZONE, .account_id = ACC, .name = "example.com"};
	struct domain d = {.id = DOM,
	                   .zone_id = ZONE,
	                   .account_id = ACC,
	                   .name = "example.com",
	                   .enabled = 1,
	                   .preview_enabled = 1};
	char err[256], path[128];
	struct store *s;

	snprintf(f->dir, sizeof(f->dir), "/tmp/pigeon-queue-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/pigeon.db", f->dir);
	config_defaults(&f->cfg, 0);
	free(f->cfg.db_path);
	f->cfg.db_path = strdup(path);
	f->cfg.retry_base_ms = 50;
	f->cfg.retry_max_ms = 400;
	f->cfg.capture_defer_attempts = 2;
	f->cfg.capture_slow_ms = 500;
	f->cfg.max_queue_age = 3600;
	f->cfg.commit_batch = 64;
	assert_non_null(s = store_open(path, err, sizeof(err)));
	assert_int_equal(store_account_create(s, &a), 0);
	assert_int_equal(store_zone_create(s, &z), 0);
	assert_int_equal(store_domain_create(s, &d), 0);
	store_close(s);
	assert_non_null(f->rd = store_open(path, err, sizeof(err)));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	queue_stop(f->q);
	clock_set_fixed(0);
	store_close(f->rd);
	config_clear(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

#define NTHREADS 4
#define PER_THREAD 250

struct worker {
	struct fixture *f;
	int n;
	struct sent *s;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	static const char *one[] = {"user@example.net"};
	char mid[64];

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(mid, sizeof(mid), "<t%d-%d@example.com>", w->n, i);
		sent_init(&w->s[i], mid, one, 1);
		/* half answer at once, half wait for the capture delivery */
		if (queue_send(w->f->q, &w->s[i].m, i % 2 ? 3000 : 0, sent_cb,
		               &w->s[i]) != 0)
			return NULL;
	}
	return w;
}

static void
test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct msg_status st;
	void *ret;

	start(f);
	for (int t = 0; t < NTHREADS; t++) {
		w[t].f = f;
		w[t].n = t;
		w[t].s = calloc(PER_THREAD, sizeof(struct sent));
		assert_int_equal(
		    pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++) {
		assert_int_equal(pthread_join(th[t], &ret), 0);
		assert_ptr_equal(ret, &w[t]);
	}
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			struct sent *s = &w[t].s[i];

			sent_wait(s, 10000);
			assert_int_equal(s->rc, 0);
			assert_true(s->got_states);
			assert_int_equal(s->states[0],
			                 i % 2 ? RCPT_DELIVERED : RCPT_QUEUED);
			assert_true(s->m.id > 0);
			assert_int_equal(
			    store_message_status(f->rd, ACC, s->mid, &st), 0);
			assert_int_equal(st.nrcpts, 1);
			if (i % 2)
				assert_int_equal(st.rcpts[0].state,
				                 RCPT_DELIVERED);
			msg_status_clear(&st);
		}
	}
	/* exactly one callback each, even after the queue has stopped */
	queue_stop(f->q);
	f->q = NULL;
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++)
			assert_int_equal(atomic_load(&w[t].s[i].calls), 1);
		free(w[t].s);
	}
}

/* Another connection adds a trigger that makes the writer's recipient
 * insert fail: a real failing statement inside its transaction. */
static void
test_store_failure(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = {"ok@example.net", "boom@example.net"};
	static const char *good[] = {"ok@example.net"};
	struct msg_status st;
	struct sent s1, s2;
	sqlite3 *db;

	start(f);
	assert_int_equal(sqlite3_open(f->cfg.db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000); /* the writer may be committing */
	assert_int_equal(
	    sqlite3_exec(db,
	                 "CREATE TRIGGER boom BEFORE INSERT ON recipients "
	                 "WHEN NEW.address LIKE 'boom%' BEGIN "
	                 "SELECT RAISE(ABORT, 'injected failure'); END;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sent_init(&s1, "<bad@example.com>", bad, 2);
	send_sync(f, &s1, 1000);
	assert_int_equal(s1.rc, -1);
	assert_false(s1.got_states);
	/* the message row went in before the failing recipient: rolled back */
	assert_int_equal(store_message_status(f->rd, ACC, s1.mid, &st), 1);
	/* the queue goes on */
	sent_init(&s2, "<good@example.com>", good, 1);
	send_sync(f, &s2, 0);
	assert_int_equal(s2.rc, 0);
	assert_int_equal(store_message_status(f->rd, ACC, s2.mid, &st), 0);
	msg_status_clear(&st);

	/* a writer that cannot get the lock within busy_timeout: -1 */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	                 SQLITE_OK);
	sent_init(&s1, "<locked@example.com>", good, 1);
	send_sync(f, &s1, 0);
	assert_int_equal(s1.rc, -1);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(store_message_status(f->rd, ACC, s1.mid, &st), 1);
	sqlite3_close(db);
}

static void
test_wait_outcomes(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"user@example.net", "bounce@example.net",
	                              "defer@example.net", "supp@example.net"};
	struct msg_status st;
	struct sent s;
	int attempts = 0;

	start(f);
	sent_init(&s, "<w1@example.com>", addrs, 4);
	assert_true(send_sync(f, &s, 3000) < 2000);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.states[0], RCPT_DELIVERED);
	assert_int_equal(s.states[1], RCPT_BOUNCED);
	assert_int_equal(s.states[2], RCPT_DEFERRED);
	assert_int_equal(s.states[3], RCPT_SUPPRESSED);
	/* what the callback said was committed before it ran */
	assert_int_equal(store_message_status(f->rd, ACC, s.mid, &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_DELIVERED);
	assert_int_equal(st.rcpts[0].attempts, 1);
	assert_int_equal(st.rcpts[1].state, RCPT_BOUNCED);
	assert_non_null(strstr(st.rcpts[1].reply, "550 5.1.1"));
	assert_int_not_equal(st.rcpts[2].state, RCPT_QUEUED);
	assert_int_equal(st.rcpts[3].state, RCPT_SUPPRESSED);
	msg_status_clear(&st);
	/* defer: two 451s, then delivered on the third attempt */
	assert_true(poll_state(f, s.mid, 2, RCPT_DELIVERED, 3000, &attempts));
	assert_int_equal(attempts, 3);
}

static void
test_wait_zero_and_suppressed(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"user@example.net"};
	static const char *supp[] = {"supp1@example.net", "supp2@example.net"};
	struct sent s;

	start(f);
	sent_init(&s, "<z1@example.com>", addrs, 1);
	send_sync(f, &s, 0);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.states[0], RCPT_QUEUED);
	assert_true(poll_state(f, s.mid, 0, RCPT_DELIVERED, 3000, NULL));
	/* nothing to deliver: answered at once despite the wait */
	sent_init(&s, "<z2@example.com>", supp, 2);
	assert_true(send_sync(f, &s, 5000) < 1000);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.states[0], RCPT_SUPPRESSED);
	assert_int_equal(s.states[1], RCPT_SUPPRESSED);
}

static void
test_fail_expires(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"fail@example.net"};
	struct sent s;
	int attempts = 0;

	f->cfg.max_queue_age = 1;
	start(f);
	sent_init(&s, "<f1@example.com>", addrs, 1);
	send_sync(f, &s, 3000);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.states[0], RCPT_DEFERRED);
	assert_true(poll_state(f, s.mid, 0, RCPT_FAILED, 5000, &attempts));
	assert_true(attempts >= 2);
}

static void
test_slow_times_out(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"slow@example.net", "user@example.net"};
	int64_t took;
	struct sent s;

	start(f);
	sent_init(&s, "<s1@example.com>", addrs, 2);
	took = send_sync(f, &s, 150);
	assert_int_equal(s.rc, 0);
	assert_true(took >= 140 && took < 2000); /* 150 + commit */
	assert_int_equal(s.states[0], RCPT_QUEUED);
	assert_true(poll_state(f, s.mid, 0, RCPT_DELIVERED, 3000, NULL));
}

static void
test_stop_answers_waiters(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"slow@example.net"};
	struct sent s;

	start(f);
	sent_init(&s, "<st@example.com>", addrs, 1);
	assert_int_equal(queue_send(f->q, &s.m, 10000, sent_cb, &s), 0);
	usleep(100000);
	queue_stop(f->q);
	f->q = NULL;
	assert_int_equal(atomic_load(&s.calls), 1);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.states[0], RCPT_QUEUED);
}

/* Sends still being committed when the queue stops: each is answered
 * once, and the engine, stopped first, takes no job from them. */
static void
test_stop_while_sending(void **state)
{
	struct fixture *f = *state;
	static const char *one[] = {"user@example.net"};
	struct sent *s = calloc(200, sizeof(*s));
	char mid[64];

	assert_non_null(s);
	start(f);
	for (int i = 0; i < 200; i++) {
		snprintf(mid, sizeof(mid), "<ss%d@example.com>", i);
		sent_init(&s[i], mid, one, 1);
		assert_int_equal(
		    queue_send(f->q, &s[i].m, i % 2 ? 5000 : 0, sent_cb, &s[i]),
		    0);
	}
	queue_stop(f->q);
	f->q = NULL;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(atomic_load(&s[i].calls), 1);
		assert_int_equal(s[i].rc, 0);
	}
	free(s);
}

static void
test_restart(void **state)
{
	struct fixture *f = *state;
	static const char *def[] = {"defer@example.net"};
	static const char *slow[] = {"slow@example.net"};
	struct msg_status st;
	struct sent s1, s2;
	int attempts = 0;

	f->cfg.capture_defer_attempts = 100;
	f->cfg.retry_base_ms = 300;
	f->cfg.capture_slow_ms = 2000;
	start(f);
	sent_init(&s1, "<r1@example.com>", def, 1);
	send_sync(f, &s1, 3000);
	assert_int_equal(s1.states[0], RCPT_DEFERRED);
	sent_init(&s2, "<r2@example.com>", slow, 1);
	send_sync(f, &s2, 0);
	assert_int_equal(s2.states[0], RCPT_QUEUED);
	queue_stop(f->q); /* the slow answer is dropped, the retry too */
	f->q = NULL;
	assert_int_equal(store_message_status(f->rd, ACC, s1.mid, &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_DEFERRED);
	assert_int_equal(st.rcpts[0].attempts, 1);
	assert_true(st.rcpts[0].next_attempt > st.rcpts[0].last_attempt);
	msg_status_clear(&st);
	assert_int_equal(store_message_status(f->rd, ACC, s2.mid, &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_QUEUED);
	msg_status_clear(&st);

	f->cfg.capture_defer_attempts = 1;
	f->cfg.capture_slow_ms = 50;
	start(f);
	assert_true(poll_state(f, s1.mid, 0, RCPT_DELIVERED, 3000, &attempts));
	assert_int_equal(attempts, 2);
	assert_true(poll_state(f, s2.mid, 0, RCPT_DELIVERED, 3000, &attempts));
	assert_int_equal(attempts, 1);
}

/* The events of message mid, oldest first: their recipients and types
 * ("delivered", ... after the prefix) in out, "rcpt type" per line. */
static int
events_of(struct fixture *f, const char *mid, char *out, size_t len)
{
	struct event_filter fl = {.message_id = mid};
	struct store_event *v;
	size_t n, off = 0;

	assert_int_equal(store_events_list(f->rd, ACC, 0, 100, &fl, &v, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		assert_true(i == 0 || v[i].id > v[i - 1].id);
		assert_non_null(strstr(v[i].payload, v[i].event_id));
		off += (size_t)snprintf(out + off, len - off, "%s %s\n",
		                        v[i].recipient,
		                        v[i].type + strlen("cf.email.sending."
		                                           "message."));
	}
	event_list_free(v, n);
	return (int)n;
}

/*
 * SPEC §6.5: one event per attempt's outcome, committed with it — a
 * deferral each time, then the delivery — and §6.4's suppression for
 * the bad mailbox, on the sending domain, for 7 days.
 */
static void
test_events(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"user@example.net", "bounce@example.net",
	                              "defer@example.net", "supp@example.net"};
	struct suppression sp;
	struct sent s;
	char ev[1024];

	start(f);
	sent_init(&s, "<ev1@example.com>", addrs, 4);
	send_sync(f, &s, 3000);
	assert_int_equal(s.states[1], RCPT_BOUNCED);
	assert_true(poll_state(f, s.mid, 2, RCPT_DELIVERED, 3000, NULL));
	assert_int_equal(events_of(f, s.mid, ev, sizeof(ev)), 5);
	/* one job, one batch per attempt: in the order of the recipients */
	assert_string_equal(ev, "user@example.net delivered\n"
	                        "bounce@example.net bounced\n"
	                        "defer@example.net deferred\n"
	                        "defer@example.net deferred\n"
	                        "defer@example.net delivered\n");
	assert_int_equal(
	    store_suppression_find(f->rd, ACC, "bounce@example.net",
	                           "example.com", clock_now_ms(), &sp),
	    0);
	assert_int_equal(sp.reason, SUPP_HARD_BOUNCE);
	assert_true(sp.expires_at - sp.created == EVENT_HARD_BOUNCE_TTL_MS);
	suppression_clear(&sp);
	assert_int_equal(store_suppression_find(f->rd, ACC, "defer@example.net",
	                                        "example.com", clock_now_ms(),
	                                        &sp),
	                 STORE_NOT_FOUND);
}

/* fail…: deferrals until max_queue_age, then failed and a soft_bounce
 * entry for 24 h. */
static void
test_events_failed(void **state)
{
	struct fixture *f = *state;
	static const char *addrs[] = {"fail@example.net"};
	struct suppression sp;
	struct sent s;
	char ev[2048];
	int attempts = 0, n;

	f->cfg.max_queue_age = 1;
	start(f);
	sent_init(&s, "<evf@example.com>", addrs, 1);
	send_sync(f, &s, 0);
	assert_true(poll_state(f, s.mid, 0, RCPT_FAILED, 5000, &attempts));
	n = events_of(f, s.mid, ev, sizeof(ev));
	assert_int_equal(n, attempts);
	assert_non_null(strstr(ev, "fail@example.net deferred\n"));
	assert_non_null(strstr(ev, "fail@example.net failed\n"));
	assert_string_equal(strstr(ev, "failed"), "failed\n"); /* the last */
	assert_int_equal(store_suppression_find(f->rd, ACC, "fail@example.net",
	                                        "example.com", clock_now_ms(),
	                                        &sp),
	                 0);
	assert_int_equal(sp.reason, SUPP_SOFT_BOUNCE);
	assert_true(sp.expires_at - sp.created == EVENT_SOFT_BOUNCE_TTL_MS);
	suppression_clear(&sp);
}

/*
 * An event that cannot be written fails its whole outcome batch, which
 * is held and retried: meanwhile neither the recipients' states nor any
 * event of the batch is in the store, sends still commit, and once the
 * store takes it every outcome lands with its event — once, without a
 * second delivery.
 */
static void
test_event_failure_retried(void **state)
{
	struct fixture *f = *state;
	static const char *two[] = {"ok@example.net", "boom@example.net"};
	static const char *one[] = {"user@example.org"};
	struct msg_status st;
	struct sent s1, s2;
	char ev[1024];
	int attempts = 0;
	sqlite3 *db;

	start(f);
	assert_int_equal(sqlite3_open(f->cfg.db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "CREATE TRIGGER boom BEFORE INSERT ON events "
	                 "WHEN NEW.recipient LIKE 'boom%' BEGIN "
	                 "SELECT RAISE(ABORT, 'injected failure'); END;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sent_init(&s1, "<boom@example.com>", two, 2);
	send_sync(f, &s1, 0);
	assert_int_equal(s1.rc, 0);
	usleep(400000); /* a few retries */
	assert_int_equal(store_message_status(f->rd, ACC, s1.mid, &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_QUEUED);
	assert_int_equal(st.rcpts[1].state, RCPT_QUEUED);
	msg_status_clear(&st);
	assert_int_equal(events_of(f, s1.mid, ev, sizeof(ev)), 0);
	/* sends go ahead of the held outcomes */
	sent_init(&s2, "<after@example.com>", one, 1);
	send_sync(f, &s2, 0);
	assert_int_equal(s2.rc, 0);

	assert_int_equal(
	    sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(poll_state(f, s1.mid, 1, RCPT_DELIVERED, 15000, &attempts));
	assert_int_equal(attempts, 1);
	assert_true(poll_state(f, s1.mid, 0, RCPT_DELIVERED, 1000, &attempts));
	assert_int_equal(attempts, 1);
	assert_int_equal(events_of(f, s1.mid, ev, sizeof(ev)), 2);
	assert_string_equal(ev, "ok@example.net delivered\n"
	                        "boom@example.net delivered\n");
	assert_true(poll_state(f, s2.mid, 0, RCPT_DELIVERED, 3000, NULL));
	assert_int_equal(events_of(f, s2.mid, ev, sizeof(ev)), 1);
}

/* Bytes of the stored body of message_id mid; -1 without the row. */
static long
raw_len(struct fixture *f, const char *mid)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	long n = -1;

	assert_int_equal(sqlite3_open(f->cfg.db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT length(raw) FROM messages "
	                                    "WHERE message_id = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Polls until mid is gone from the store. */
static int
poll_gone(struct fixture *f, const char *mid, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;
	struct msg_status st;
	int rc;

	while ((rc = store_message_status(f->rd, ACC, mid, &st)) == 0 &&
	       clock_mono_ms() < end) {
		msg_status_clear(&st);
		usleep(10000);
	}
	if (rc == 0)
		msg_status_clear(&st);
	return rc == 1;
}

/*
 * message_retention: without preview the body goes with the last final
 * outcome; at the next start, later than the retention (the wall clock
 * pinned ahead), the purge deletes the messages whose recipients are all
 * final, keeps the one still in flight, and says so in one line.
 */
static void
test_retention(void **state)
{
	struct fixture *f = *state;
	static const char *ok[] = {"user@example.net"};
	static const char *slow[] = {"slow@example.net"};
	struct sent s1, s2, s3;
	struct msg_status st;
	char logpath[96], buf[8192];
	FILE *fp;
	size_t n;
	int saved;

	f->cfg.max_queue_age = 1;
	f->cfg.message_retention = 2;
	f->cfg.capture_slow_ms = 20000;
	start(f);
	sent_init(&s1, "<keep1@example.com>", ok, 1);
	send_sync(f, &s1, 3000);
	assert_int_equal(s1.states[0], RCPT_DELIVERED);
	sent_init(&s2, "<keep2@example.com>", ok, 1);
	s2.m.preview = 0;
	send_sync(f, &s2, 3000);
	assert_int_equal(s2.states[0], RCPT_DELIVERED);
	sent_init(&s3, "<keep3@example.com>", slow, 1);
	send_sync(f, &s3, 0);
	assert_int_equal(s3.states[0], RCPT_QUEUED);
	/* committed with the outcome: no body, the status stays */
	assert_int_equal(raw_len(f, s2.mid), 0);
	assert_int_equal(raw_len(f, s1.mid), (long)(sizeof(RAW) - 1));
	assert_int_equal(store_message_status(f->rd, ACC, s2.mid, &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_DELIVERED);
	msg_status_clear(&st);
	/* nothing is old enough yet */
	assert_int_equal(raw_len(f, s3.mid), (long)(sizeof(RAW) - 1));
	queue_stop(f->q); /* the slow attempt is dropped: still queued */
	f->q = NULL;

	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	assert_non_null(fp = fopen(logpath, "w+"));
	fflush(stderr);
	saved = dup(2);
	assert_int_not_equal(dup2(fileno(fp), 2), -1);
	clock_set_fixed(time(NULL) + 10);
	start(f);
	assert_true(poll_gone(f, s1.mid, 5000));
	assert_true(poll_gone(f, s2.mid, 5000));
	/* the line comes once the batch that was not full is committed */
	queue_stop(f->q);
	f->q = NULL;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_non_null(
	    strstr(buf, "queue: purged 2 messages older than 2s; store "));
	assert_non_null(strstr(buf, " MiB free\n"));
	assert_non_null(strstr(buf, "queue: store "));
	assert_non_null(strstr(buf, "messages kept 2s once final"));
	/* in flight at the purge: kept, with its body */
	assert_int_equal(store_message_status(f->rd, ACC, s3.mid, &st), 0);
	msg_status_clear(&st);
	assert_int_equal(raw_len(f, s3.mid), (long)(sizeof(RAW) - 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_failure, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_wait_outcomes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_wait_zero_and_suppressed,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_expires, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_times_out, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stop_answers_waiters, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stop_while_sending, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_failed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_event_failure_retried, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
