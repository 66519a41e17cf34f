/*
 * delivery: the engine thread (see delivery.h).
 *
 * A job posted to the engine's loop arrives on the engine thread, gets
 * the route of its domain and goes to the scheduler. When its route has
 * answered, deliver_finish() says what became of each recipient; the
 * scheduler keeps the deferred ones for their next attempt, and the
 * report goes to the owner. Nothing here blocks the loop.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/loop.h"
#include "delivery.h"
#include "routes.h"
#include "scheduler.h"

struct delivery {
	const struct config *cfg;
	delivery_report_fn *report;
	void *report_arg;
	struct event_base *base;
	struct loop *loop; /* other threads' way in */
	struct routes *routes;
	struct sched *sched; /* engine thread only */
	pthread_t thread;
	int running;
	/* SIGTERM's drain (delivery_stop): set on the engine, waited for
	 * by the stopping thread */
	pthread_mutex_t drain_mu;
	pthread_cond_t drain_cv;
	int drained;
	int draining; /* attempts in flight when the drain began */
	/* the shared queue: claims of due work, lease renewals (engine
	 * thread) */
	delivery_claim_fn *claim;
	delivery_renew_fn *renew;
	void *store_arg;
	struct event *pager, *renewer;
	int claiming;   /* a claim is on its way */
	size_t asked;   /* what it asked for */
	int starved;    /* the window was full: claim when jobs end */
	int stopping;   /* no claim from now on */
	int64_t log_at; /* claimed_log: the last line, monotonic ms */
	size_t log_n, log_jobs, log_claims;
};

/* How far ahead the engine holds work (ms): a recipient due later goes
 * back to the store after its attempt, and is claimed again at least
 * HORIZON_MS - POLL_MS before it is due. */
#define HORIZON_MS 60000
/* Recipients per claim, and how often the store is looked at when the
 * last claim left nothing due behind (ms). */
#define PAGE 1000
#define POLL_MS 30000
#define CLAIM_LOG_MS 10000

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void
evthread_setup(void)
{
	evthread_rc = evthread_use_pthreads();
}

static void
pager_arm(struct delivery *d, int64_t wait)
{
	struct timeval tv;

	if (d->pager == NULL || d->stopping)
		return;
	if (wait < 0)
		wait = 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(d->pager, &tv);
}

/* The scheduler says j's route has answered for all its recipients. A
 * job due again within the horizon stays, with its leases; one due
 * later goes back to the store (its outcomes end the leases) and is
 * claimed again when its time nears. */
static void
job_done(void *arg, struct sched_job *j)
{
	struct delivery *d = arg;
	struct deliver_report *rep;
	const char *why;
	int64_t due;
	int health, keep;

	/* before deliver_finish, which keeps only the deferred recipients */
	health = deliver_health(j, &why);
	sched_health(d->sched, j, health, why, d->cfg->retry_base_ms,
	             d->cfg->retry_max_ms);
	due = deliver_finish(j, j->route->name, d->cfg, &rep);
	keep = due != 0 && due <= clock_now_ms() + HORIZON_MS;
	for (size_t i = 0; rep != NULL && i < rep->n; i++)
		rep->outcomes[i].keep_lease =
		    keep && rep->outcomes[i].state == RCPT_DEFERRED;
	sched_finish(d->sched, j, keep ? due : 0);
	if (rep != NULL)
		d->report(d->report_arg, rep);
	if (d->starved && sched_held(d->sched) < (size_t)d->cfg->queue_window) {
		d->starved = 0;
		pager_arm(d, 0);
	}
}

/* Engine thread: claims the due work the window has room for. */
static void
pager_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	size_t held = sched_held(d->sched), window = d->cfg->queue_window;

	(void)fd;
	(void)what;
	if (d->claiming || d->stopping || d->claim == NULL)
		return;
	if (held >= window) {
		d->starved = 1;
		pager_arm(d, POLL_MS);
		return;
	}
	d->asked = window - held < PAGE ? window - held : PAGE;
	if (d->claim(d->store_arg, d->asked, clock_now_ms() + HORIZON_MS) ==
	    -1) {
		log_warnx("delivery: cannot ask the store for due work; "
		          "trying again in 1 s");
		pager_arm(d, 1000);
		return;
	}
	d->claiming = 1;
}

/* A claim's answer, after its jobs (posted before it) have arrived. */
struct claimed {
	struct delivery *d;
	int n;
	size_t njobs;
	int64_t next_freed;
};

/* One line for the first claim that found work, then at most one per
 * CLAIM_LOG_MS with the sums meanwhile: a backlog is read a page at a
 * time. */
static void
claimed_log(struct delivery *d, int n, size_t njobs)
{
	int64_t now = clock_mono_ms();

	if (n <= 0 && d->log_n == 0)
		return;
	d->log_n += (size_t)(n > 0 ? n : 0);
	d->log_jobs += njobs;
	d->log_claims += n > 0;
	if (d->log_at != 0 && now - d->log_at < CLAIM_LOG_MS)
		return;
	if (d->log_claims > 1)
		log_info("delivery: claimed %zu recipients in %zu jobs from "
		         "the store (%zu claims)",
		         d->log_n, d->log_jobs, d->log_claims);
	else
		log_info("delivery: claimed %zu recipients in %zu jobs from "
		         "the store",
		         d->log_n, d->log_jobs);
	d->log_at = now;
	d->log_n = d->log_jobs = d->log_claims = 0;
}

static void
claimed_arrive(void *arg)
{
	struct claimed *c = arg;
	struct delivery *d = c->d;
	int64_t wait = POLL_MS;

	if (loop_closed(d->loop)) {
		free(c);
		return;
	}
	d->claiming = 0;
	if (c->n < 0) {
		log_warnx("delivery: reading due recipients from the store "
		          "failed; trying again in 5 s");
		pager_arm(d, 5000);
		free(c);
		return;
	}
	log_debug("delivery: claim of %zu: %d recipients in %zu jobs", d->asked,
	          c->n, c->njobs);
	claimed_log(d, c->n, c->njobs);
	if ((size_t)c->n >= d->asked)
		wait = 0; /* a full page: there may be more */
	else if (c->next_freed != 0 &&
	         c->next_freed - clock_now_ms() + 10 < wait)
		/* another node's lease on due work runs out then */
		wait = c->next_freed - clock_now_ms() + 10;
	pager_arm(d, wait);
	free(c);
}

void
delivery_claimed(struct delivery *d, int n, size_t njobs, int64_t next_freed)
{
	struct claimed *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("delivery: out of memory taking a claim's answer");
		return; /* the pager stays stuck until the next request */
	}
	c->d = d;
	c->n = n;
	c->njobs = njobs;
	c->next_freed = next_freed;
	if (loop_post(d->loop, claimed_arrive, c) == -1)
		free(c);
}

/* Engine thread: the leases of jobs held long (waiting at a capped or
 * paused destination, or in a slow transaction) are renewed before
 * they run out. */
static void
renewer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	int64_t now = clock_now_ms(), lease = d->cfg->queue_lease;
	struct timeval tv;
	int64_t *ids;
	size_t n;

	(void)fd;
	(void)what;
	ids = sched_lease_due(d->sched, now + lease / 2, now + lease, &n);
	if (n > 0)
		d->renew(d->store_arg, ids, n, now + lease);
	else
		free(ids);
	tv.tv_sec = lease / 4 / 1000;
	tv.tv_usec = (lease / 4 % 1000) * 1000;
	evtimer_add(d->renewer, &tv);
}

void
delivery_on_store(struct delivery *d, delivery_claim_fn *claim,
                  delivery_renew_fn *renew, void *arg)
{
	d->claim = claim;
	d->renew = renew;
	d->store_arg = arg;
}

/* A job posted by another thread, now on the engine thread (or on the
 * stopping thread, draining: then it is dropped). */
static void
job_arrive(void *arg)
{
	struct sched_job *j = arg;
	struct delivery *d = j->owner;

	if (loop_closed(d->loop)) {
		sched_job_free(j);
		return;
	}
	j->route = route_for(d->routes, j->domain != NULL ? j->domain : "");
	sched_add(d->sched, j);
}

/* The drain's lock and its condition, on the monotonic clock. */
static void
drain_init(struct delivery *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->drain_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->drain_cv, &ca);
	pthread_condattr_destroy(&ca);
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
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "delivery: out of memory");
		return NULL;
	}
	d->cfg = cfg;
	drain_init(d);
	d->report = report;
	d->report_arg = arg;
	if ((d->base = event_base_new()) == NULL ||
	    (d->loop = loop_new()) == NULL ||
	    loop_attach(d->loop, d->base) == -1 ||
	    (d->sched = sched_new(d->base, job_done, d)) == NULL) {
		snprintf(err, errlen, "delivery: out of memory");
		goto fail;
	}
	if ((d->routes = routes_new(d->base, cfg, err, errlen)) == NULL)
		goto fail;
	return d;
fail:
	delivery_free(d);
	return NULL;
}

void
delivery_on_dest(struct delivery *d, delivery_dest_fn *fn, void *arg)
{
	sched_on_dest(d->sched, fn, arg);
}

/* A request on its way to the engine thread. */
struct request {
	struct delivery *d;
	struct queue_req r;
	char destination[300];
};

static void
request_arrive(void *arg)
{
	struct request *rq = arg;
	struct delivery *d = rq->d;
	char dest[LOG_VALUE_LEN(300)];
	int n;

	if (loop_closed(d->loop)) {
		free(rq);
		return;
	}
	switch (rq->r.kind) {
	case QREQ_RETRY:
		pager_arm(d, 0); /* what the store holds is due now too */
		n = sched_retry(d->sched, rq->r.msg_id);
		log_info("delivery: retry requested msg_id=%lld: %d jobs due "
		         "now",
		         (long long)rq->r.msg_id, n);
		break;
	case QREQ_DROP:
		n = sched_drop(d->sched, rq->r.msg_id);
		log_info("delivery: drop requested msg_id=%lld: %d jobs "
		         "forgotten",
		         (long long)rq->r.msg_id, n);
		break;
	case QREQ_RESUME:
		pager_arm(d, 0);
		n = sched_resume(d->sched, rq->destination);
		if (n == 0)
			log_info(
			    "delivery: resume requested destination=%s: "
			    "not known here",
			    log_value(rq->destination, dest, sizeof(dest)));
		break;
	}
	free(rq);
}

void
delivery_request(struct delivery *d, const struct queue_req *r)
{
	struct request *rq;

	if ((rq = calloc(1, sizeof(*rq))) == NULL) {
		log_warnx("delivery: out of memory taking a request");
		return;
	}
	rq->d = d;
	rq->r = *r;
	snprintf(rq->destination, sizeof(rq->destination), "%s",
	         r->destination != NULL ? r->destination : "");
	rq->r.destination = NULL;
	if (loop_post(d->loop, request_arrive, rq) == -1)
		free(rq);
}

static void *
engine_main(void *arg)
{
	struct delivery *d = arg;

	/* the first claim at once, the renewals from a quarter lease on */
	pager_arm(d, 0);
	if (d->renewer != NULL)
		renewer_fire(-1, 0, d);
	event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
delivery_start(struct delivery *d, char *err, size_t errlen)
{
	if (d->claim != NULL &&
	    ((d->pager = evtimer_new(d->base, pager_fire, d)) == NULL ||
	     (d->renewer = evtimer_new(d->base, renewer_fire, d)) == NULL)) {
		snprintf(err, errlen, "delivery: out of memory");
		return -1;
	}
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
delivery_submit(struct delivery *d, struct sched_job *job)
{
	job->owner = d;
	if (loop_post(d->loop, job_arrive, job) == -1)
		sched_job_free(job);
}

int
delivery_submit_msg(struct delivery *d, const struct store_msg *m)
{
	struct sched_job **jobs;
	char msg[LOG_VALUE_LEN(998)];
	int n;

	if ((jobs = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*jobs))) == NULL ||
	    (n = sched_jobs_of(m, jobs)) == -1) {
		free(jobs);
		log_warnx("queue: msg=%s: out of memory scheduling delivery",
		          log_value(m->message_id, msg, sizeof(msg)));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		/* leased at the insert, a moment ago */
		jobs[i]->lease_until = clock_now_ms() + d->cfg->queue_lease;
		delivery_submit(d, jobs[i]);
	}
	free(jobs);
	return 0;
}

/* Engine thread: the last attempt in flight has ended. */
static void
drain_done(void *arg, int n)
{
	struct delivery *d = arg;

	(void)n;
	pthread_mutex_lock(&d->drain_mu);
	d->drained = 1;
	pthread_cond_signal(&d->drain_cv);
	pthread_mutex_unlock(&d->drain_mu);
}

/* Engine thread: no attempt starts from now on. */
static void
drain_begin(void *arg)
{
	struct delivery *d = arg;

	d->stopping = 1;
	pthread_mutex_lock(&d->drain_mu);
	d->draining = sched_inflight(d->sched);
	pthread_mutex_unlock(&d->drain_mu);
	sched_drain(d->sched, drain_done, d);
}

/*
 * SIGTERM: the SMTP transactions in flight may finish, for at most
 * drain_timeout; their outcomes are reported (and committed: the writer
 * still runs). What is still in flight then is cut, and tried again at
 * the next start.
 */
static void
drain(struct delivery *d)
{
	struct timespec ts;
	int64_t ms = d->cfg->drain_timeout;
	int done, n;

	if (ms <= 0 || loop_post(d->loop, drain_begin, d) == -1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->drain_mu);
	while (!d->drained &&
	       pthread_cond_timedwait(&d->drain_cv, &d->drain_mu, &ts) == 0)
		;
	done = d->drained;
	n = d->draining;
	pthread_mutex_unlock(&d->drain_mu);
	if (!done)
		log_warnx("delivery: drain_timeout=%llds: cutting the SMTP "
		          "transactions still in flight; their recipients are "
		          "tried again at the next start",
		          (long long)(ms / 1000));
	else if (n > 0)
		log_info("delivery: drained %d SMTP transactions in flight", n);
}

void
delivery_stop(struct delivery *d)
{
	if (d->running)
		drain(d);
	/* closed: posts are refused (the job is freed by its poster) and
	 * the loop's event breaks the dispatch */
	loop_close(d->loop);
	if (d->running) {
		pthread_join(d->thread, NULL);
		d->running = 0;
	}
	/* the loop is gone: what it still held is freed here, routes
	 * first since they borrow jobs */
	routes_free(d->routes);
	d->routes = NULL;
	sched_free(d->sched);
	d->sched = NULL;
	if (d->pager != NULL)
		event_free(d->pager);
	if (d->renewer != NULL)
		event_free(d->renewer);
	d->pager = d->renewer = NULL;
	while (loop_run(d->loop, SIZE_MAX) > 0)
		;
}

void
delivery_free(struct delivery *d)
{
	if (d == NULL)
		return;
	if (d->loop != NULL)
		delivery_stop(d);
	loop_free(d->loop);
	if (d->base != NULL)
		event_base_free(d->base);
	pthread_cond_destroy(&d->drain_cv);
	pthread_mutex_destroy(&d->drain_mu);
	free(d);
}
