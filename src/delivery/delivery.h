/*
 * delivery: the engine thread. It holds the recipients due soon, in
 * jobs on one libevent loop (scheduler.c): those of each new message,
 * and those it claims from the store as they come due, at most
 * queue_window of them (SPEC §6.3, the shared queue). It hands due jobs
 * to the route of their domain (routes.c), turns each recipient's
 * answer into a new state and logs it (deliver.c), and reports the
 * outcomes to its owner, which makes them durable. It does not touch
 * the store: its claims and lease renewals go through its owner too.
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
 * The store, through the owner (before delivery_start). On the engine
 * thread, claim(arg, limit, horizon) asks for at most about limit
 * recipients due by horizon (unix ms), leased to this node; 0, or -1
 * when it could not be asked. The owner gives the claimed recipients
 * as jobs (delivery_submit), then the answer (delivery_claimed).
 * renew(arg, ids, n, until) extends the leases of the recipient rows
 * ids[n] (a malloc'd array it takes) to until.
 */
typedef int delivery_claim_fn(void *arg, size_t limit, int64_t horizon);
typedef void delivery_renew_fn(void *arg, int64_t *ids, size_t n,
                               int64_t until);
void delivery_on_store(struct delivery *d, delivery_claim_fn *claim,
                       delivery_renew_fn *renew, void *arg);
/* A claim's answer, any thread, after its jobs were submitted: n
 * recipients in njobs jobs (n -1: the claim failed), and when another
 * node's lease on due work runs out (0: none known). */
void delivery_claimed(struct delivery *d, int n, size_t njobs,
                      int64_t next_freed);
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
