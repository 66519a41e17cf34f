/*
 * delivery: the engine thread, its schedule, outcome classification and
 * retry timing (see delivery.h).
 *
 * Every job the engine owns is on one list (d->jobs) and has one timer
 * on the loop; a job is either waiting for its timer or inside a route.
 * Other threads add jobs to d->incoming under d->mu and activate d->wake;
 * the loop moves them onto the schedule. Nothing here blocks the loop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/random.h"
#include "delivery.h"

struct delivery {
	const struct config *cfg;
	delivery_report_fn *report;
	void *report_arg;
	struct event_base *base;
	struct event *wake;
	struct route *route;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;            /* guards incoming and stopping */
	struct delivery_job *incoming; /* LIFO; order is set by due_ms */
	int stopping;
	struct delivery_job *jobs; /* loop thread only */
};

/* The routes pigeon knows, by the name config uses (SPEC §6.3). */
static const struct route_row {
	const char *name;
	struct route *(*new)(struct event_base *, const struct config *);
} route_table[] = {
    {"capture", capture_new},
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void
evthread_setup(void)
{
	evthread_rc = evthread_use_pthreads();
}

int64_t
delivery_backoff(int attempts, const struct config *cfg)
{
	int64_t d = cfg->retry_base_ms, max = cfg->retry_max_ms, span;

	if (d < 1)
		d = 1;
	for (int i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* ±10% so that retries of one burst spread out; never past the
	 * cap */
	span = d / 5;
	if (span > 0)
		d = d - d / 10 + (int64_t)(random_u64() % (uint64_t)(span + 1));
	if (d > max)
		d = max;
	return d < 1 ? 1 : d;
}

enum rcpt_state
delivery_classify(const struct delivery_rcpt *r, int64_t age_ms,
                  const struct config *cfg)
{
	if (r->cls == ROUTE_RESP && r->code >= 200 && r->code < 300)
		return RCPT_DELIVERED;
	if (r->cls == ROUTE_RESP && r->code >= 500 && r->code < 600)
		return RCPT_BOUNCED;
	if (age_ms >= cfg->max_queue_age * 1000)
		return RCPT_FAILED;
	return RCPT_DEFERRED;
}

struct delivery_job *
delivery_job_new(int64_t msg_id, const char *message_id, const char *domain_id,
                 int64_t created_ms, size_t n)
{
	struct delivery_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->msg_id = msg_id;
	j->created_ms = created_ms;
	j->cap = n ? n : 1;
	j->message_id = strdup(message_id != NULL ? message_id : "");
	if (domain_id != NULL)
		j->domain_id = strdup(domain_id);
	j->rcpts = calloc(j->cap, sizeof(*j->rcpts));
	if (j->message_id == NULL || j->rcpts == NULL ||
	    (domain_id != NULL && j->domain_id == NULL)) {
		delivery_job_free(j);
		return NULL;
	}
	return j;
}

int
delivery_job_add(struct delivery_job *j, int64_t rcpt_id, const char *address,
                 int attempts)
{
	struct delivery_rcpt *nv, *r;

	if (j->nrcpts == j->cap) {
		nv = realloc(j->rcpts, j->cap * 2 * sizeof(*nv));
		if (nv == NULL)
			return -1;
		j->rcpts = nv;
		j->cap *= 2;
	}
	r = &j->rcpts[j->nrcpts];
	memset(r, 0, sizeof(*r));
	if ((r->address = strdup(address)) == NULL)
		return -1;
	r->id = rcpt_id;
	r->attempts = attempts;
	j->nrcpts++;
	return 0;
}

void
delivery_job_free(struct delivery_job *j)
{
	if (j == NULL)
		return;
	if (j->timer != NULL)
		event_free(j->timer);
	for (size_t i = 0; j->rcpts != NULL && i < j->nrcpts; i++)
		free(j->rcpts[i].address);
	free(j->rcpts);
	free(j->message_id);
	free(j->domain_id);
	free(j);
}

void
delivery_report_free(struct delivery_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->outcomes != NULL && i < r->n; i++)
		free((char *)r->outcomes[i].reply);
	free(r->outcomes);
	free(r);
}

static void
job_unlink(struct delivery *d, struct delivery_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		d->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static void
job_arm(struct delivery_job *j)
{
	int64_t wait = j->due_ms - clock_now_ms();
	struct timeval tv;

	if (wait < 0)
		wait = 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(j->timer, &tv);
}

static void job_done(void *arg, struct delivery_job *j);

/* A job's timer fired: give it to the route. */
static void
job_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delivery_job *j = arg;
	struct delivery *d = j->engine;

	j->started_ms = clock_now_ms();
	d->route->deliver(d->route, j, job_done, d);
}

/* Puts a job the loop now owns on the schedule. */
static void
job_schedule(struct delivery *d, struct delivery_job *j)
{
	j->engine = d;
	j->prev = NULL;
	j->next = d->jobs;
	if (d->jobs != NULL)
		d->jobs->prev = j;
	d->jobs = j;
	if (j->timer == NULL &&
	    (j->timer = evtimer_new(d->base, job_fire, j)) == NULL) {
		log_warnx("delivery: msg=%s: cannot create a timer",
		          j->message_id);
		job_unlink(d, j);
		delivery_job_free(j);
		return;
	}
	job_arm(j);
}

static const char *
dsn_of(const struct delivery_rcpt *r)
{
	return r->enhanced[0] != '\0' ? r->enhanced : "-";
}

/*
 * The route has answered for every recipient of j: classify, log,
 * reschedule the deferred ones, report the outcomes to the owner.
 */
static void
job_done(void *arg, struct delivery_job *j)
{
	struct delivery *d = arg;
	struct delivery_report *rep = NULL;
	int64_t now = clock_now_ms(), age = now - j->created_ms;
	int64_t expiry = j->created_ms + d->cfg->max_queue_age * 1000;
	int64_t due = 0, next;
	enum rcpt_state *st;
	size_t keep = 0;

	/* without st each state is classified again: the same answer */
	st = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*st));
	if ((rep = calloc(1, sizeof(*rep))) == NULL ||
	    (rep->outcomes = calloc(j->nrcpts, sizeof(*rep->outcomes))) ==
	        NULL) {
		free(rep);
		rep = NULL;
		log_warnx("delivery: msg=%s: out of memory, outcomes not "
		          "recorded",
		          j->message_id);
	} else
		rep->msg_id = j->msg_id;
	/* The deferred recipients of a job stay one job: one next attempt
	 * for all, the earliest of their backoffs, and never after the
	 * expiry, where the last attempt decides (SPEC §6.3). */
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct delivery_rcpt *r = &j->rcpts[i];
		enum rcpt_state s;

		r->attempts++;
		s = delivery_classify(r, age, d->cfg);
		if (st != NULL)
			st[i] = s;
		if (s != RCPT_DEFERRED)
			continue;
		next = now + delivery_backoff(r->attempts, d->cfg);
		if (due == 0 || next < due)
			due = next;
	}
	if (due > expiry)
		due = expiry > now ? expiry : now;
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct delivery_rcpt *r = &j->rcpts[i];
		enum rcpt_state s =
		    st != NULL ? st[i] : delivery_classify(r, age, d->cfg);
		char tail[48] = "";

		if (s == RCPT_DEFERRED)
			snprintf(tail, sizeof(tail), " next=+%.1fs",
			         (double)(due - now) / 1000.0);
		else if (s == RCPT_FAILED)
			snprintf(tail, sizeof(tail), " expired=max_queue_age");
		log_info("msg=%s rcpt=%s route=%s attempt=%d status=%s dsn=%s "
		         "reply=\"%s\" delay=%.1fs%s",
		         j->message_id, r->address, d->route->name, r->attempts,
		         rcpt_state_name(s), dsn_of(r), r->reply,
		         (double)age / 1000.0, tail);
		if (rep != NULL) {
			struct store_outcome *o = &rep->outcomes[rep->n++];

			o->rcpt_id = r->id;
			o->state = s;
			o->attempts = r->attempts;
			o->last_attempt = j->started_ms;
			o->next_attempt = s == RCPT_DEFERRED ? due : 0;
			o->reply = r->reply[0] ? strdup(r->reply) : NULL;
		}
		if (s != RCPT_DEFERRED) {
			free(r->address);
			continue;
		}
		j->rcpts[keep++] = *r;
	}
	free(st);
	j->nrcpts = keep;
	if (keep == 0) {
		job_unlink(d, j);
		delivery_job_free(j);
	} else {
		j->due_ms = due;
		job_arm(j);
	}
	if (rep != NULL)
		d->report(d->report_arg, rep);
}

/* Another thread has handed over jobs, or asked the loop to stop. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	struct delivery_job *j, *next;
	int stopping;

	pthread_mutex_lock(&d->mu);
	j = d->incoming;
	d->incoming = NULL;
	stopping = d->stopping;
	pthread_mutex_unlock(&d->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		if (stopping)
			delivery_job_free(j);
		else
			job_schedule(d, j);
	}
	if (stopping)
		event_base_loopbreak(d->base);
}

struct delivery *
delivery_new(const struct config *cfg, delivery_report_fn *report, void *arg,
             char *err, size_t errlen)
{
	struct delivery *d = NULL;

	pthread_once(&evthread_once, evthread_setup);
	if (evthread_rc != 0) {
		snprintf(err, errlen, "delivery: evthread_use_pthreads failed");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	d->cfg = cfg;
	d->report = report;
	d->report_arg = arg;
	pthread_mutex_init(&d->mu, NULL);
	if ((d->base = event_base_new()) == NULL ||
	    (d->wake = event_new(d->base, -1, 0, wake_cb, d)) == NULL)
		goto nomem;
	for (size_t i = 0; i < sizeof(route_table) / sizeof(*route_table);
	     i++) {
		if (strcmp(route_table[i].name, cfg->default_route) != 0)
			continue;
		if ((d->route = route_table[i].new(d->base, cfg)) == NULL)
			goto nomem;
		break;
	}
	if (d->route == NULL) {
		snprintf(err, errlen, "delivery: unknown route '%s'",
		         cfg->default_route);
		delivery_free(d);
		return NULL;
	}
	return d;
nomem:
	snprintf(err, errlen, "delivery: out of memory");
	delivery_free(d);
	return NULL;
}

static void *
engine_main(void *arg)
{
	struct delivery *d = arg;

	event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
delivery_start(struct delivery *d, char *err, size_t errlen)
{
	if (pthread_create(&d->thread, NULL, engine_main, d) != 0) {
		snprintf(err, errlen,
		         "delivery: cannot start the engine "
		         "thread");
		return -1;
	}
	d->running = 1;
	return 0;
}

void
delivery_submit(struct delivery *d, struct delivery_job *job)
{
	pthread_mutex_lock(&d->mu);
	if (d->stopping) {
		pthread_mutex_unlock(&d->mu);
		delivery_job_free(job);
		return;
	}
	job->next = d->incoming;
	d->incoming = job;
	pthread_mutex_unlock(&d->mu);
	event_active(d->wake, EV_READ, 1);
}

void
delivery_stop(struct delivery *d)
{
	struct delivery_job *j, *next;

	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	pthread_mutex_unlock(&d->mu);
	if (d->running) {
		event_active(d->wake, EV_READ, 1);
		pthread_join(d->thread, NULL);
		d->running = 0;
	}
	/* the loop is gone: what it still held is freed here */
	if (d->route != NULL) {
		d->route->free(d->route);
		d->route = NULL;
	}
	for (j = d->jobs; j != NULL; j = next) {
		next = j->next;
		delivery_job_free(j);
	}
	d->jobs = NULL;
	pthread_mutex_lock(&d->mu);
	j = d->incoming;
	d->incoming = NULL;
	pthread_mutex_unlock(&d->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		delivery_job_free(j);
	}
}

void
delivery_free(struct delivery *d)
{
	if (d == NULL)
		return;
	delivery_stop(d);
	if (d->wake != NULL)
		event_free(d->wake);
	if (d->base != NULL)
		event_base_free(d->base);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
