/*
 * test_delivery: src/delivery/ — the backoff function, outcome
 * classification, and the engine thread driving the capture route
 * (SPEC §6.3 test addresses) with reports collected from its callback.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/core/clock.h"
#include "../../src/core/config.h"
#include "../../src/core/random.h"
#include "../../src/delivery/deliver.h"
#include "../../src/delivery/delivery.h"
#include "../../src/delivery/scheduler.h"

#define MAX_SEEN 64

struct seen {
	int64_t rcpt_id;
	enum rcpt_state state;
	int attempts;
	int64_t last_attempt, next_attempt, at;
	char reply[128];
};

/* Reports collected from the engine thread. */
struct collector {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct seen seen[MAX_SEEN];
	int n;
};

static void
collect(void *arg, struct deliver_report *r)
{
	struct collector *c = arg;

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < r->n && c->n < MAX_SEEN; i++) {
		struct seen *s = &c->seen[c->n++];

		s->rcpt_id = r->outcomes[i].rcpt_id;
		s->state = r->outcomes[i].state;
		s->attempts = r->outcomes[i].attempts;
		s->last_attempt = r->outcomes[i].last_attempt;
		s->next_attempt = r->outcomes[i].next_attempt;
		s->at = clock_mono_ms();
		snprintf(s->reply, sizeof(s->reply), "%s",
		         r->outcomes[i].reply ? r->outcomes[i].reply : "");
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	deliver_report_free(r);
}

/* Waits until rcpt has an outcome in a final state or with this many
 * attempts; returns its index or -1 after timeout_ms. */
static int
wait_for(struct collector *c, int64_t rcpt_id, int attempts, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;
	int found = -1;

	pthread_mutex_lock(&c->mu);
	while (found == -1 && clock_mono_ms() < end) {
		for (int i = 0; i < c->n; i++)
			if (c->seen[i].rcpt_id == rcpt_id &&
			    c->seen[i].attempts == attempts)
				found = i;
		if (found == -1) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

static void
test_cfg(struct config *cfg)
{
	config_defaults(cfg, 0);
	cfg->retry_base_ms = 50;
	cfg->retry_max_ms = 400;
	cfg->capture_defer_attempts = 2;
	cfg->capture_slow_ms = 600;
	cfg->max_queue_age = 3600;
}

static void
test_backoff(void **state)
{
	struct config cfg;
	static const int64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000};
	int64_t v, first = 0;
	int varied = 0;

	config_defaults(&cfg, 0);
	cfg.retry_base_ms = 1000;
	cfg.retry_max_ms = 10000;
	random_set_seed(42);
	for (int a = 1; a <= 6; a++)
		for (int k = 0; k < 200; k++) {
			v = deliver_backoff(a, &cfg);
			assert_true(v >= want[a - 1] - want[a - 1] / 10);
			assert_true(v <= want[a - 1] + want[a - 1] / 10);
			/* jitter never takes a delay past the cap */
			assert_true(v <= cfg.retry_max_ms);
			if (a == 1 && k == 0)
				first = v;
			else if (a == 1 && v != first)
				varied = 1;
		}
	assert_true(varied); /* there is jitter */
	/* huge attempt counts neither overflow nor pass the cap */
	v = deliver_backoff(1000, &cfg);
	assert_true(v >= 9000 && v <= 10000);
	v = deliver_backoff(0, &cfg);
	assert_true(v >= 900 && v <= 1100);
	/* SPEC §6.3 defaults: 1 min, 2, 4, … capped at 1 h */
	config_clear(&cfg);
	config_defaults(&cfg, 0);
	v = deliver_backoff(3, &cfg);
	assert_true(v >= 216000 && v <= 264000);
	v = deliver_backoff(12, &cfg);
	assert_true(v >= 3240000 && v <= 3600000);
	random_set_seed(0);
	config_clear(&cfg);
}

static void
test_classify(void **state)
{
	struct config cfg;
	static const struct {
		enum route_class cls;
		int code;
		int64_t age_ms;
		enum rcpt_state want;
	} rows[] = {
	    {ROUTE_RESP, 250, 0, RCPT_DELIVERED},
	    {ROUTE_RESP, 251, 999999999, RCPT_DELIVERED},
	    {ROUTE_RESP, 550, 0, RCPT_BOUNCED},
	    {ROUTE_RESP, 554, 999999999, RCPT_BOUNCED},
	    {ROUTE_RESP, 451, 0, RCPT_DEFERRED},
	    {ROUTE_RESP, 451, 3599999, RCPT_DEFERRED},
	    {ROUTE_RESP, 451, 3600000, RCPT_FAILED},
	    {ROUTE_CONN, 0, 0, RCPT_DEFERRED},
	    {ROUTE_PROTO, 0, 0, RCPT_DEFERRED},
	    {ROUTE_CONN, 0, 3600000, RCPT_FAILED},
	};
	struct sched_rcpt r;

	config_defaults(&cfg, 0);
	cfg.max_queue_age = 3600;
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		memset(&r, 0, sizeof(r));
		r.cls = rows[i].cls;
		r.code = rows[i].code;
		assert_int_equal(deliver_classify(&r, rows[i].age_ms, &cfg),
		                 rows[i].want);
	}
	config_clear(&cfg);
}

/*
 * The fields of a key=value log line: a value is a bare run without
 * spaces or quotes, or a "..." run followed by a space or the end;
 * anything else fails. Counts the fields named key.
 */
static int
count_fields(const char *line, const char *key)
{
	size_t klen = strlen(key);
	const char *p = line, *eq, *sp;
	int n = 0;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			n++;
		eq = strchr(p, '=');
		sp = strchr(p, ' ');
		if (eq != NULL && eq[1] == '"' && (sp == NULL || eq < sp)) {
			p = strchr(eq + 2, '"');
			assert_non_null(p);
			p++;
			assert_true(*p == ' ' || *p == '\0');
			continue;
		}
		while (*p != '\0' && *p != ' ')
			assert_true(*p++ != '"');
	}
	return n;
}

/* The delivery line of a job run through deliver_finish, stderr caught
 * in a file; its report in *repp (NULL: freed). */
static void
deliver_line(struct sched_job *j, char *line, size_t len,
             struct deliver_report **repp)
{
	struct deliver_report *rep = NULL;
	struct config cfg;
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	test_cfg(&cfg);
	fflush(stderr);
	assert_int_not_equal(dup2(fileno(f), 2), -1);
	deliver_finish(j, "capture", &cfg, &rep);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(line, 1, len - 1, f);
	line[n] = '\0';
	fclose(f);
	if (repp != NULL)
		*repp = rep;
	else
		deliver_report_free(rep);
	config_clear(&cfg);
}

/*
 * What an outcome carries for its event (SPEC §6.5): the recipient, when
 * the answer came, the route, and the reply's codes — none when the
 * answer was not a reply, even if an earlier attempt's are still there.
 */
/* SPEC §6.3 destination health: which answers say "throttled". */
static void
test_health(void **state)
{
	static const struct {
		enum route_class cls;
		int code;
		const char *enhanced, *reply;
		int want;
	} rows[] = {
	    {ROUTE_RESP, 250, "2.0.0", "250 ok", SCHED_OK},
	    {ROUTE_RESP, 421, "", "421 busy", SCHED_THROTTLED},
	    {ROUTE_RESP, 451, "4.7.0", "451 4.7.0 later", SCHED_THROTTLED},
	    {ROUTE_RESP, 450, "4.7.28", "450 4.7.28 slow down",
	     SCHED_THROTTLED},
	    {ROUTE_RESP, 451, "", "451 Rate Limited, try later",
	     SCHED_THROTTLED},
	    {ROUTE_RESP, 452, "", "452 Too many connections", SCHED_THROTTLED},
	    {ROUTE_RESP, 450, "", "450 throttling", SCHED_THROTTLED},
	    {ROUTE_RESP, 451, "4.3.0", "451 4.3.0 try later", SCHED_NONE},
	    {ROUTE_RESP, 550, "5.7.1", "550 5.7.1 rate limit", SCHED_NONE},
	    {ROUTE_CONN, 0, "", "connection refused", SCHED_NONE},
	};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sched_job *j = sched_job_new(1, "<h@example.com>", NULL,
		                                    clock_now_ms(), 1);

		assert_non_null(j);
		assert_int_equal(sched_job_add(j, 1, "a@example.net", 0), 0);
		j->rcpts[0].cls = rows[i].cls;
		j->rcpts[0].code = rows[i].code;
		snprintf(j->rcpts[0].enhanced, sizeof(j->rcpts[0].enhanced),
		         "%s", rows[i].enhanced);
		snprintf(j->rcpts[0].reply, sizeof(j->rcpts[0].reply), "%s",
		         rows[i].reply);
		assert_int_equal(deliver_health(j, &why), rows[i].want);
		if (rows[i].want == SCHED_THROTTLED)
			assert_string_equal(why, rows[i].reply);
		sched_job_free(j);
	}
}

static void
test_finish_event_fields(void **state)
{
	struct sched_job *j =
	    sched_job_new(1, "<f@example.com>", NULL, clock_now_ms(), 2);
	struct deliver_report *rep = NULL;
	struct store_outcome *o;
	int64_t t0 = clock_now_ms();
	char line[4096];

	assert_non_null(j);
	assert_int_equal(sched_job_add(j, 11, "bounce@example.net", 0), 0);
	assert_int_equal(sched_job_add(j, 12, "down@example.net", 0), 0);
	j->rcpts[0].cls = ROUTE_RESP;
	j->rcpts[0].code = 550;
	snprintf(j->rcpts[0].enhanced, sizeof(j->rcpts[0].enhanced), "5.1.1");
	snprintf(j->rcpts[0].reply, sizeof(j->rcpts[0].reply),
	         "550 5.1.1 no such user");
	/* a connection failure after an earlier attempt's 451 */
	j->rcpts[1].cls = ROUTE_CONN;
	j->rcpts[1].code = 451;
	snprintf(j->rcpts[1].enhanced, sizeof(j->rcpts[1].enhanced), "4.3.0");
	snprintf(j->rcpts[1].reply, sizeof(j->rcpts[1].reply),
	         "connection refused");
	deliver_line(j, line, sizeof(line), &rep);
	assert_non_null(rep);
	assert_int_equal(rep->n, 2);
	o = &rep->outcomes[0];
	assert_int_equal(o->state, RCPT_BOUNCED);
	assert_string_equal(o->address, "bounce@example.net");
	assert_int_equal(o->code, 550);
	assert_string_equal(o->enhanced, "5.1.1");
	assert_string_equal(o->route, "capture");
	assert_string_equal(o->reply, "550 5.1.1 no such user");
	assert_true(o->answered >= t0 && o->answered <= clock_now_ms());
	o = &rep->outcomes[1];
	assert_int_equal(o->state, RCPT_DEFERRED);
	assert_string_equal(o->address, "down@example.net");
	assert_int_equal(o->code, 0);
	assert_string_equal(o->enhanced, "");
	assert_string_equal(o->reply, "connection refused");
	deliver_report_free(rep);
	sched_job_free(j);
}

/* A quoted local part, a Message-ID and a reply with spaces and quotes
 * stay one field each: the line has one status= and one dsn=. */
static void
test_log_line_fields(void **state)
{
	struct sched_job *j = sched_job_new(1, "<a\"b status=x\"@example.com>",
	                                    NULL, clock_now_ms(), 1);
	struct sched_rcpt *r;
	char line[4096], *second;

	assert_non_null(j);
	assert_int_equal(
	    sched_job_add(j, 11, "\"x status=bounced dsn=5.1.1\"@example.net",
	                  0),
	    0);
	assert_int_equal(sched_job_add(j, 12, "plain@example.net", 0), 0);
	for (size_t i = 0; i < j->nrcpts; i++) {
		r = &j->rcpts[i];
		r->cls = ROUTE_RESP;
		r->code = 250;
		snprintf(r->enhanced, sizeof(r->enhanced), "2.0.0");
		snprintf(r->reply, sizeof(r->reply),
		         "250 2.0.0 ok \"status=forged\"\r\nx=y");
	}
	deliver_line(j, line, sizeof(line), NULL);
	sched_job_free(j);
	/* two lines, one per recipient */
	second = strchr(line, '\n');
	assert_non_null(second);
	*second++ = '\0';
	assert_non_null(strchr(second, '\n'));
	*strchr(second, '\n') = '\0';
	assert_int_equal(count_fields(line, "status"), 1);
	assert_int_equal(count_fields(line, "dsn"), 1);
	assert_int_equal(count_fields(line, "x"), 0);
	assert_non_null(strstr(
	    line, " rcpt=\"%22x status=bounced dsn=5.1.1%22@example.net\" "));
	assert_non_null(
	    strstr(line, " msg=\"<a%22b status=x%22@example.com>\" "));
	assert_non_null(strstr(line,
	                       " status=delivered dsn=2.0.0 reply=\"250 "
	                       "2.0.0 ok %22status=forged%22%0D%0Ax=y\" "));
	/* an ordinary address stays bare */
	assert_int_equal(count_fields(second, "status"), 1);
	assert_non_null(
	    strstr(second, " rcpt=plain@example.net route=capture "));
}

struct engine_fx {
	struct config cfg;
	struct collector c;
	struct delivery *d;
};

static int
engine_setup(void **state)
{
	struct engine_fx *fx = calloc(1, sizeof(*fx));
	char err[128];

	test_cfg(&fx->cfg);
	pthread_mutex_init(&fx->c.mu, NULL);
	pthread_cond_init(&fx->c.cv, NULL);
	fx->d = delivery_new(&fx->cfg, collect, &fx->c, err, sizeof(err));
	assert_non_null(fx->d);
	assert_int_equal(delivery_start(fx->d, err, sizeof(err)), 0);
	*state = fx;
	return 0;
}

static int
engine_teardown(void **state)
{
	struct engine_fx *fx = *state;

	delivery_free(fx->d);
	config_clear(&fx->cfg);
	free(fx);
	return 0;
}

static struct sched_job *
job(int64_t msg, int64_t created)
{
	struct sched_job *j =
	    sched_job_new(msg, "<t@example.com>", NULL, created, 1);

	assert_non_null(j);
	return j;
}

static void
test_capture_outcomes(void **state)
{
	struct engine_fx *fx = *state;
	struct sched_job *j = job(1, clock_now_ms());
	int i;

	assert_int_equal(sched_job_add(j, 11, "user@example.net", 0), 0);
	assert_int_equal(sched_job_add(j, 12, "bounce-me@example.net", 0), 0);
	assert_int_equal(sched_job_add(j, 13, "Defer.x@example.net", 0), 0);
	delivery_submit(fx->d, j);

	assert_true((i = wait_for(&fx->c, 11, 1, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DELIVERED);
	assert_int_equal(fx->c.seen[i].next_attempt, 0);
	assert_true(fx->c.seen[i].last_attempt > 0);
	assert_true((i = wait_for(&fx->c, 12, 1, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_BOUNCED);
	assert_non_null(strstr(fx->c.seen[i].reply, "550 5.1.1"));
	/* defer: 451 twice (capture_defer_attempts), then delivered */
	assert_true((i = wait_for(&fx->c, 13, 1, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DEFERRED);
	assert_non_null(strstr(fx->c.seen[i].reply, "451 4.3.0"));
	assert_true(fx->c.seen[i].next_attempt >=
	            fx->c.seen[i].last_attempt + 45);
	assert_true((i = wait_for(&fx->c, 13, 2, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DEFERRED);
	assert_true((i = wait_for(&fx->c, 13, 3, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DELIVERED);
	/* the other recipients were not tried again */
	assert_int_equal(wait_for(&fx->c, 11, 2, 100), -1);
}

static void
test_capture_fail_expires(void **state)
{
	struct engine_fx *fx = *state;
	/* 3600 s max age: a message created 3599.7 s ago expires soon */
	struct sched_job *j = job(2, clock_now_ms() - 3599700);
	int i, a;

	assert_int_equal(sched_job_add(j, 21, "fail@example.net", 0), 0);
	delivery_submit(fx->d, j);
	assert_true((i = wait_for(&fx->c, 21, 1, 2000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DEFERRED);
	for (a = 2; a < 20; a++) {
		assert_true((i = wait_for(&fx->c, 21, a, 3000)) >= 0);
		if (fx->c.seen[i].state != RCPT_DEFERRED)
			break;
	}
	assert_int_equal(fx->c.seen[i].state, RCPT_FAILED);
	assert_int_equal(fx->c.seen[i].next_attempt, 0);
	/* final: never tried again */
	assert_int_equal(wait_for(&fx->c, 21, a + 1, 600), -1);
}

static void
test_capture_slow(void **state)
{
	struct engine_fx *fx = *state;
	struct sched_job *j = job(3, clock_now_ms());
	int64_t t0 = clock_mono_ms();
	int i;

	assert_int_equal(sched_job_add(j, 31, "slow@example.net", 0), 0);
	delivery_submit(fx->d, j);
	/* not before capture_slow_ms, and the loop is not blocked meanwhile */
	j = job(4, clock_now_ms());
	assert_int_equal(sched_job_add(j, 41, "quick@example.net", 0), 0);
	delivery_submit(fx->d, j);
	assert_true((i = wait_for(&fx->c, 41, 1, 2000)) >= 0);
	assert_true(fx->c.seen[i].at - t0 < 400);
	assert_true((i = wait_for(&fx->c, 31, 1, 3000)) >= 0);
	assert_int_equal(fx->c.seen[i].state, RCPT_DELIVERED);
	assert_true(fx->c.seen[i].at - t0 >= 590);
}

static void
test_stop_drops_pending(void **state)
{
	struct engine_fx *fx = *state;
	struct sched_job *j = job(5, clock_now_ms());

	j->due_ms = clock_now_ms() + 60000;
	assert_int_equal(sched_job_add(j, 51, "later@example.net", 0), 0);
	delivery_submit(fx->d, j);
	j = job(6, clock_now_ms());
	assert_int_equal(sched_job_add(j, 61, "slow@example.net", 0), 0);
	delivery_submit(fx->d, j);
	usleep(50000);
	delivery_stop(fx->d); /* one scheduled, one inside the route */
	j = job(7, clock_now_ms());
	assert_int_equal(sched_job_add(j, 71, "x@example.net", 0), 0);
	delivery_submit(fx->d, j); /* freed, never run */
	assert_int_equal(wait_for(&fx->c, 51, 1, 100), -1);
	assert_int_equal(wait_for(&fx->c, 61, 1, 700), -1);
	assert_int_equal(wait_for(&fx->c, 71, 1, 100), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_log_line_fields),
	    cmocka_unit_test(test_finish_event_fields),
	    cmocka_unit_test_setup_teardown(test_capture_outcomes, engine_setup,
	                                    engine_teardown),
	    cmocka_unit_test_setup_teardown(test_capture_fail_expires,
	                                    engine_setup, engine_teardown),
	    cmocka_unit_test_setup_teardown(test_capture_slow, engine_setup,
	                                    engine_teardown),
	    cmocka_unit_test_setup_teardown(test_stop_drops_pending,
	                                    engine_setup, engine_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
