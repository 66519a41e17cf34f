/*
 * queue: makes accepted messages durable and moves them to delivery.
 *
 * queue_start() opens the store's write connection, starts the writer
 * thread (group commit: every operation waiting is committed in one
 * transaction, up to commit_batch) and the delivery engine, and rebuilds
 * the schedule from every non-final recipient in the store.
 */
#ifndef PIGEON_QUEUE_QUEUE_H
#define PIGEON_QUEUE_QUEUE_H

#include "../core/config.h"
#include "../store/store.h"

struct queue;

struct queue *queue_start(const struct config *cfg, char *err, size_t errlen);
/* Stops accepting (queue_send answers -1 from now on), commits what is in
 * flight, runs every pending callback, stops the threads, frees. */
void queue_stop(struct queue *q);
/* From now on a committed send is answered at once with what is known,
 * without waiting for its first attempt (a drain: SIGTERM). Any thread. */
void queue_release(struct queue *q);

/*
 * Called once per queue_send. rc 0: the message and its recipients are
 * committed; states[i] is the state of m->rcpts[i] as far as known:
 * RCPT_DELIVERED / RCPT_BOUNCED when the first attempt ended within
 * wait_ms and its outcome is committed, else RCPT_QUEUED or
 * RCPT_DEFERRED (or RCPT_SUPPRESSED as submitted). rc -1: nothing was
 * written (store failure or stopping); states is NULL.
 * Runs on the writer or delivery thread: do not block in it.
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

#endif
