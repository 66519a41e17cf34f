/*
 * delivery: the engine thread. It holds every recipient that still has
 * to be tried, in jobs on one libevent loop (scheduler.c), hands due
 * jobs to the route of their domain (routes.c), turns each recipient's
 * answer into a new state and logs it (deliver.c), and reports the
 * outcomes to its owner, which makes them durable. It does not touch
 * the store, except to read it for delivery_rebuild.
 *
 * Other threads talk to it only through its loop (core/loop.h):
 * delivery_submit and delivery_submit_msg post there.
 */
#ifndef PIGEON_DELIVERY_DELIVERY_H
#define PIGEON_DELIVERY_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../store/store.h"
#include "deliver.h"

struct sched_job; /* scheduler.h */

/* Runs on the engine thread; takes ownership of r. Must not block. */
typedef void delivery_report_fn(void *arg, struct deliver_report *r);

struct delivery *delivery_new(const struct config *cfg,
                              delivery_report_fn *report, void *arg, char *err,
                              size_t errlen);
/* Starts the engine thread. 0 or -1 with err. */
int delivery_start(struct delivery *d, char *err, size_t errlen);
/*
 * Schedules every recipient of st not in a final state (see
 * sched_rebuild), reading st on the calling thread; logs the count.
 * 0 or -1 with err.
 */
int delivery_rebuild(struct delivery *d, struct store *st, char *err,
                     size_t errlen);
/*
 * Schedules job at job->due_ms (takes ownership). Any thread. After
 * delivery_stop the job is freed: it is durable, the next start
 * rebuilds it from the store.
 */
void delivery_submit(struct delivery *d, struct sched_job *job);
/*
 * m is committed: schedules its RCPT_QUEUED recipients now, one job per
 * domain. Any thread; m is borrowed for the call. 0, or -1 when the
 * jobs could not be made (logged; the next start schedules them).
 */
int delivery_submit_msg(struct delivery *d, const struct store_msg *m);
/*
 * SPEC §6.3: fn(arg, d, gone) runs on the engine thread whenever a
 * throttled destination changes (see sched_on_dest). Before
 * delivery_start.
 */
typedef void delivery_dest_fn(void *arg, const struct store_dest *d, int gone);
void delivery_on_dest(struct delivery *d, delivery_dest_fn *fn, void *arg);
/*
 * An operator's request (pigeon queue), already written to the store:
 * retry (the message's jobs, or all, due now), drop (the message's jobs
 * forgotten; one in flight finishes, its outcome is not stored since
 * its recipients are final) or resume (a destination's throttle
 * cleared, its jobs due now). r is copied. Any thread.
 */
void delivery_request(struct delivery *d, const struct queue_req *r);
/* Stops the loop and joins the thread; jobs still scheduled or in a
 * route are dropped (their recipients stay queued/deferred in the
 * store). */
void delivery_stop(struct delivery *d);
void delivery_free(struct delivery *d); /* stops first; accepts NULL */

#endif
