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
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void
evthread_setup(void)
{
	evthread_rc = evthread_use_pthreads();
}

/* The scheduler says j's route has answered for all its recipients. */
static void
job_done(void *arg, struct sched_job *j)
{
	struct delivery *d = arg;
	struct deliver_report *rep;
	const char *why;
	int64_t due;
	int health;

	/* before deliver_finish, which keeps only the deferred recipients */
	health = deliver_health(j, &why);
	sched_health(d->sched, j, health, why, d->cfg->retry_base_ms,
	             d->cfg->retry_max_ms);
	due = deliver_finish(j, j->route->name, d->cfg, &rep);
	sched_finish(d->sched, j, due);
	if (rep != NULL)
		d->report(d->report_arg, rep);
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
	for (int i = 0; i < n; i++)
		delivery_submit(d, jobs[i]);
	free(jobs);
	return 0;
}

static void
rebuild_job(void *arg, struct sched_job *j)
{
	delivery_submit(arg, j);
}

int
delivery_rebuild(struct delivery *d, struct store *st, char *err, size_t errlen)
{
	size_t nrcpts, njobs;
	int rc;

	if ((rc = sched_rebuild(st, rebuild_job, d, &nrcpts, &njobs)) != 0) {
		snprintf(err, errlen, "queue: rebuilding the schedule: %s",
		         rc == SCHED_ENOMEM ? "out of memory"
		                            : store_error(st));
		return -1;
	}
	if (nrcpts > 0)
		log_info("queue: schedule rebuilt: %zu recipients in %zu jobs",
		         nrcpts, njobs);
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
