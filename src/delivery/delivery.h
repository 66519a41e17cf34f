/*
 * delivery: the engine thread. It holds every recipient that still has
 * to be tried, as timers on one libevent loop, hands due jobs to a route
 * (route.h), turns each recipient's answer into a new state (delivered,
 * bounced, deferred with backoff, failed after max_queue_age), logs it,
 * and reports the outcomes to its owner (the queue writer), which makes
 * them durable. It does not touch the store itself.
 *
 * Other threads talk to it only through delivery_submit(): a
 * mutex-protected list and event_active() on the loop.
 */
#ifndef PIGEON_DELIVERY_DELIVERY_H
#define PIGEON_DELIVERY_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../store/store.h"
#include "route.h"

struct delivery_rcpt {
	int64_t id;    /* recipients row id */
	char *address; /* envelope form, owned */
	int attempts;  /* attempts made before this one */
	/* the route's answer to this attempt */
	enum route_class cls;
	int code;          /* SMTP reply code, 0 when none */
	char enhanced[16]; /* "4.3.0", "" when none */
	char reply[256];   /* full reply line, "" when none */
};

/* One message and the recipients that are due together. */
struct delivery_job {
	int64_t msg_id;   /* messages row id */
	char *message_id; /* "<…>", for log lines */
	char *domain_id;  /* sending domain, may be NULL */
	int64_t created_ms;
	int64_t due_ms; /* wall clock, when to try */
	struct delivery_rcpt *rcpts;
	size_t nrcpts, cap;
	/* engine state */
	struct delivery *engine;
	struct event *timer;
	struct delivery_job *prev, *next; /* incoming, then all jobs */
	int64_t started_ms;
};

/* The outcomes of one attempt of one job, owned by the receiver of the
 * report: free with delivery_report_free(). */
struct delivery_report {
	int64_t msg_id;
	struct store_outcome *outcomes; /* reply strings owned */
	size_t n;
};

/* Runs on the engine thread; takes ownership of r. Must not block. */
typedef void delivery_report_fn(void *arg, struct delivery_report *r);

struct delivery *delivery_new(const struct config *cfg,
                              delivery_report_fn *report, void *arg, char *err,
                              size_t errlen);
/* Starts the engine thread. 0 or -1 with err. */
int delivery_start(struct delivery *d, char *err, size_t errlen);
/*
 * Schedules job at job->due_ms (takes ownership). Any thread. After
 * delivery_stop the job is freed: it is durable, the next start
 * rebuilds it from the store.
 */
void delivery_submit(struct delivery *d, struct delivery_job *job);
/* Stops the loop and joins the thread; jobs still scheduled or in a
 * route are dropped (their recipients stay queued/deferred in the
 * store). */
void delivery_stop(struct delivery *d);
void delivery_free(struct delivery *d); /* stops first; accepts NULL */

/* A job for msg with room for n recipients (it grows); NULL on
 * allocation failure. Strings are copied. */
struct delivery_job *delivery_job_new(int64_t msg_id, const char *message_id,
                                      const char *domain_id, int64_t created_ms,
                                      size_t n);
/* Appends a recipient (address copied); -1 on allocation failure. */
int delivery_job_add(struct delivery_job *j, int64_t rcpt_id,
                     const char *address, int attempts);
void delivery_job_free(struct delivery_job *j);       /* accepts NULL */
void delivery_report_free(struct delivery_report *r); /* accepts NULL */

/*
 * Retry delay after the attempts-th failed attempt, ms: retry_base_ms *
 * 2^(attempts-1), capped at retry_max_ms, then ±10% jitter (SPEC §6.3).
 */
int64_t delivery_backoff(int attempts, const struct config *cfg);

/*
 * The one place an answer becomes a state (DESIGN §6): 2xx delivered,
 * 5xx bounced, anything else deferred — or failed once the message is
 * max_queue_age old.
 */
enum rcpt_state delivery_classify(const struct delivery_rcpt *r, int64_t age_ms,
                                  const struct config *cfg);

#endif
