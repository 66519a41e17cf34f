/*
 * wire: the queue and the delivery engine put together (see wire.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../core/log.h"
#include "../delivery/delivery.h"
#include "../delivery/scheduler.h"
#include "wire.h"

/* What the hooks need: both ends. */
struct wiring {
	struct queue *q;
	struct delivery *d;
};

static int
wiring_start(void *arg, char *err, size_t errlen)
{
	struct wiring *w = arg;

	return delivery_start(w->d, err, errlen);
}

static void
wiring_job(void *arg, struct sched_job *j)
{
	struct wiring *w = arg;

	delivery_submit(w->d, j);
}

/* Writer thread: the claimed recipients, leased now, go to the engine
 * as jobs, then the claim's answer. */
static void
wiring_claimed(void *arg, const struct pending_rcpt *rows, int n,
               int64_t next_freed)
{
	struct wiring *w = arg;
	size_t njobs = 0;

	if (n > 0 &&
	    sched_jobs_from_rows(rows, (size_t)n, wiring_job, w, &njobs) == -1)
		log_warnx("queue: out of memory taking claimed recipients; "
		          "the rest are taken again when their leases run "
		          "out");
	delivery_claimed(w->d, n, njobs, next_freed);
}

/* Engine thread: a claim of due work, made by the writer. */
static int
wiring_claim(void *arg, size_t limit, int64_t horizon)
{
	struct wiring *w = arg;

	return queue_claim(w->q, limit, horizon, wiring_claimed, w);
}

static void
wiring_renew(void *arg, int64_t *ids, size_t n, int64_t until)
{
	struct wiring *w = arg;

	queue_lease_renew(w->q, ids, n, until);
}

static int
wiring_committed(void *arg, const struct store_msg *m)
{
	struct wiring *w = arg;

	return delivery_submit_msg(w->d, m);
}

static void
wiring_stop(void *arg)
{
	struct wiring *w = arg;

	delivery_stop(w->d);
}

static void
wiring_done(void *arg)
{
	struct wiring *w = arg;

	delivery_free(w->d);
	free(w);
}

/* Writer thread: an operator's request goes to the engine. */
static void
wiring_request(void *arg, const struct queue_req *r)
{
	struct wiring *w = arg;

	delivery_request(w->d, r);
}

/* Engine thread: a throttled destination's snapshot goes to the writer. */
static void
wiring_dest(void *arg, const struct store_dest *d, int gone)
{
	struct wiring *w = arg;

	queue_dest_report(w->q, d, gone);
}

/* Engine thread: the outcomes go to the writer. */
static void
wiring_report(void *arg, struct deliver_report *r)
{
	struct wiring *w = arg;

	queue_report(w->q, r->msg_id, r->outcomes, r->n);
	r->outcomes = NULL;
	r->n = 0;
	deliver_report_free(r);
}

struct queue *
wire_queue(const struct config *cfg, char *err, size_t errlen)
{
	struct queue_hooks h = {.start = wiring_start,
	                        .committed = wiring_committed,
	                        .stop = wiring_stop,
	                        .done = wiring_done,
	                        .request = wiring_request};
	struct wiring *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h.arg = w;
	if ((w->d = delivery_new(cfg, wiring_report, w, err, errlen)) == NULL ||
	    (w->q = queue_new(cfg, &h, err, errlen)) == NULL) {
		delivery_free(w->d);
		free(w);
		return NULL;
	}
	delivery_on_dest(w->d, wiring_dest, w);
	delivery_on_store(w->d, wiring_claim, wiring_renew, w);
	if (queue_start(w->q, err, errlen) == -1) {
		queue_stop(w->q); /* frees w */
		return NULL;
	}
	return w->q;
}
