/*
 * queue: makes accepted messages durable and answers the sends.
 *
 * queue_new() opens the store's write connection; queue_start() starts
 * the writer thread (group commit: every operation waiting is committed
 * in one transaction, up to commit_batch). The queue does not deliver:
 * its owner (serve.c) wires it to the delivery engine through
 * struct queue_hooks one way and queue_report() the other.
 */
#ifndef PIGEON_QUEUE_QUEUE_H
#define PIGEON_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/config.h"
#include "../store/store.h"
#include "event.h"

struct queue;

/* What the queue tells its owner. arg is queue_hooks.arg. */
struct queue_hooks {
	/*
	 * queue_start, on its caller's thread, before the writer starts:
	 * start delivery, which claims its due work from the store
	 * (queue_claim). 0 or -1 with err.
	 */
	int (*start)(void *arg, char *err, size_t errlen);
	/*
	 * Writer thread: m and its recipients are committed (m->id and
	 * m->rcpts[i].id set, m->rcpts[i].state as stored); schedule its
	 * RCPT_QUEUED recipients (leased to this node by the insert). m is
	 * borrowed for the call. 0, or -1 when they could not be scheduled
	 * (they are durable: claimed again once their leases run out).
	 */
	int (*committed)(void *arg, const struct store_msg *m);
	/* queue_stop, after sends are refused and before the writer
	 * drains: stop delivery; its last queue_report()s are made before
	 * this returns. committed() may still be called after it. */
	void (*stop)(void *arg);
	/* queue_stop, once the writer has exited: the hooks are called no
	 * more; the owner may free arg. May be NULL. */
	void (*done)(void *arg);
	/* Writer thread: an operator's request (pigeon queue retry, drop,
	 * resume) read from the store after queue_reconcile(); r is
	 * borrowed for the call. May be NULL. */
	void (*request)(void *arg, const struct queue_req *r);
	void *arg;
};

/* The write connection and no thread yet; hooks are copied. NULL with
 * err. */
struct queue *queue_new(const struct config *cfg,
                        const struct queue_hooks *hooks, char *err,
                        size_t errlen);
/* hooks.start, then the writer thread. 0 or -1 with err (then
 * queue_stop frees q). */
int queue_start(struct queue *q, char *err, size_t errlen);
/* Stops accepting (queue_send answers -1 from now on), stops delivery
 * (hooks.stop), commits what is in flight, runs every pending callback,
 * stops the writer, frees. Accepts a queue never started, and NULL. */
void queue_stop(struct queue *q);
/* From now on a committed send is answered at once with what is known,
 * without waiting for its first attempt (a drain: SIGTERM). Any thread. */
void queue_release(struct queue *q);
/* SPEC §8.4: the writer writes lim's changed daily counts every second
 * and once more as it exits (borrowed; it must outlive the queue). Any
 * thread. */
struct limits;
void queue_set_limits(struct queue *q, struct limits *lim);

/*
 * Called once per queue_send. rc 0: the message and its recipients are
 * committed; states[i] is the state of m->rcpts[i] as far as known:
 * RCPT_DELIVERED / RCPT_BOUNCED when the first attempt ended within
 * wait_ms and its outcome is committed, else RCPT_QUEUED or
 * RCPT_DEFERRED (or RCPT_SUPPRESSED as submitted). rc -1: nothing was
 * written (store failure or stopping); states is NULL.
 * Runs on the writer thread: do not block in it.
 */
typedef void queue_send_fn(void *arg, int rc, const enum rcpt_state *states);

/*
 * Submits m (borrowed until cb has run; m->rcpts[i].state is RCPT_QUEUED,
 * or RCPT_SUPPRESSED for a recipient that is not to be delivered).
 * wait_ms: how long after the commit to wait for the first attempt (0 =
 * answer right after the commit). Returns 0 (cb will run exactly once) or
 * -1 (the queue is stopping; cb will not run).
 */
int queue_send(struct queue *q, struct store_msg *m, int wait_ms,
               queue_send_fn *cb, void *arg);

/*
 * The outcomes of one attempt for recipients of message msg_id, to be
 * committed; takes outcomes (an array of n, reply strings malloc'd)
 * whatever happens. Any thread. They are committed in the order
 * reported, retried while the store fails, and answer the message's
 * waiting send once committed. 0, or -1 when they are lost (out of
 * memory or after stop; logged): the recipients keep their stored
 * state and are tried again after a restart.
 */
int queue_report(struct queue *q, int64_t msg_id,
                 struct store_outcome *outcomes, size_t n);

/*
 * Reads the operator's requests written since the last call (or since
 * the start) and hands each to hooks.request, on the writer thread. Any
 * thread (serve's SIGUSR1).
 */
void queue_reconcile(struct queue *q);

/*
 * The shared queue (SPEC §6.3): in the writer's next transaction,
 * claims for this node (config node_id) at most about limit recipients
 * due by horizon (unix ms) that no lease holds (store_lease_claim).
 * After the commit, on the writer thread, fn(arg, rows, n, next_freed):
 * the n rows claimed (borrowed for the call) and store_lease_claim's
 * next_freed; n is -1 when the claim failed and nothing was leased. 0, or -1
 * when not posted (fn is not called).
 */
typedef void queue_claim_fn(void *arg, const struct pending_rcpt *rows, int n,
                            int64_t next_freed);
int queue_claim(struct queue *q, size_t limit, int64_t horizon,
                queue_claim_fn *fn, void *arg);
/* The leases this node holds on the recipient rows ids[n] (taken, a
 * malloc'd array) last until `until` (unix ms); a failure is logged.
 * Any thread. */
void queue_lease_renew(struct queue *q, int64_t *ids, size_t n, int64_t until);

/*
 * SPEC §7.1: writes the findings f[n] of a report that came back (copied)
 * in the writer's next transaction, all or none (event_finding); then,
 * on the writer thread, done(arg, ok): ok 1 committed, 0 not (the store
 * failed). 0, or -1 when not posted (stopping, out of memory): done is
 * not called.
 */
typedef void queue_done_fn(void *arg, int ok);
int queue_findings(struct queue *q, const struct finding *f, size_t n,
                   queue_done_fn *done, void *arg);

/* Records (gone 0) or forgets (gone 1) a throttled destination's state
 * in the store's snapshot (SPEC §6.3); d is copied. Any thread; a
 * snapshot lost to a failure is only logged. */
void queue_dest_report(struct queue *q, const struct store_dest *d, int gone);

/*
 * The one outcome path: each outcome's state with its event and
 * automatic suppression (event.c), for recipients still queued or
 * deferred (one already final is left as it is, with no event), inside
 * the caller's transaction on st; then the message's body goes when it
 * is no longer needed. The writer uses it for the engine's outcomes,
 * and pigeon queue drop for its own. *applied (may be NULL): how many
 * were written. 0 or -1 (store_error(st)).
 */
int queue_outcomes_write(struct store *st, int64_t msg_id,
                         const struct store_outcome *o, size_t n,
                         struct buf *scratch, size_t *applied);

#endif
