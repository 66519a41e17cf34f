/*
 * deliver: what a route's answer means. The one place an answer becomes
 * a recipient state (DESIGN §6), the retry timing, and the
 * per-recipient log line:
 *
 *	msg=<id> rcpt=<a@b> route=capture attempt=1 status=deferred
 *	dsn=4.3.0 reply="451 4.3.0 …" delay=0.0s next=+60.2s
 *
 * It does not schedule (scheduler.c) nor write the store: the outcomes
 * go to the engine's owner in a report.
 */
#ifndef PIGEON_DELIVERY_DELIVER_H
#define PIGEON_DELIVERY_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../store/store.h"

struct sched_job; /* scheduler.h */
struct sched_rcpt;

/* The outcomes of one attempt of one job, owned by the receiver of the
 * report: free with deliver_report_free(). */
struct deliver_report {
	int64_t msg_id;
	struct store_outcome *outcomes; /* reply strings owned */
	size_t n;
};

void deliver_report_free(struct deliver_report *r); /* accepts NULL */

/*
 * Retry delay after the attempts-th failed attempt, ms: retry_base_ms *
 * 2^(attempts-1), capped at retry_max_ms, then ±10% jitter (SPEC §6.3).
 */
int64_t deliver_backoff(int attempts, const struct config *cfg);

/*
 * SPEC §6.3 destination health, from j's answers before deliver_finish:
 * SCHED_THROTTLED when one says the destination is throttling us (a 421,
 * or a 4xx whose enhanced code is 4.7.0 or 4.7.28 or whose text says
 * "rate limit", "too many connections" or "throttl"), its reply in *why;
 * else SCHED_OK when one was taken (2xx); else SCHED_NONE (scheduler.h).
 */
int deliver_health(const struct sched_job *j, const char **why);

/*
 * An answer becomes a state: 2xx delivered, 5xx bounced, anything else
 * (4xx, a connection or protocol failure) deferred — or failed once the
 * message is max_queue_age old.
 */
enum rcpt_state deliver_classify(const struct sched_rcpt *r, int64_t age_ms,
                                 const struct config *cfg);

/*
 * j's route (named route) has answered for every recipient: classifies
 * and logs each one and keeps in j only the deferred ones, which share
 * one next attempt: the earliest of their backoffs, never after the
 * message's expiry (SPEC §6.3). Returns that time (wall clock ms), or
 * 0 when none is left. *rep: the outcomes, with what their events
 * need (the address, when the answer came, the route, the reply's
 * codes), NULL when memory is short (logged).
 */
int64_t deliver_finish(struct sched_job *j, const char *route,
                       const struct config *cfg, struct deliver_report **rep);

#endif
