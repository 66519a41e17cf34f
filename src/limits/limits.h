/*
 * limits: the per-account rate limit and daily quota of SPEC §8.4, in
 * memory. A token bucket on send requests (rate tokens a second, up to
 * burst; a burst of 0 is max(rate, 1)) and a count of the recipients
 * sent on the current UTC day. An account with rate 0 has no bucket, one
 * with daily_quota 0 no count: for them every call returns at once,
 * without a lock.
 *
 * The limits themselves are the account's (the tenant snapshot's struct
 * account), passed on each call, so a change the CLI makes is seen with
 * the snapshot. Accounts are spread over stripes, each with its own
 * mutex; an account's state is created at its first limited send and
 * lives as long as the limiter.
 *
 * Times are parameters (mono_ms: clock_mono_ms(), now_ms:
 * clock_now_ms()), so the arithmetic is testable without a clock. The
 * day's counts are read from the store at start (limits_load) and
 * written back by the queue's writer (limits_flush).
 *
 * It is not a front: it answers numbers; the fronts word the refusals.
 */
#ifndef PIGEON_LIMITS_LIMITS_H
#define PIGEON_LIMITS_LIMITS_H

#include <stdint.h>

#include "../store/store.h"

#define LIMITS_DAY_MS (24 * 60 * 60 * 1000LL)
#define LIMITS_MAX 1000000000LL /* larger rates and bursts count as this */

struct limits;

/* What a client is told about the token bucket (the RateLimit-* fields)
 * and, for a refusal, when to come back. */
struct limits_view {
	int64_t limit;       /* the bucket's size in requests */
	int64_t remaining;   /* whole tokens left */
	int64_t reset;       /* seconds until the bucket is full */
	int64_t retry_after; /* seconds, for a refusal; else 0 */
};

/* limits_take, limits_quota_take results besides 0. */
enum { LIMITS_RATE = -1, LIMITS_QUOTA = -2 };

struct limits *limits_new(void);      /* NULL when out of memory */
void limits_free(struct limits *lim); /* accepts NULL */

/* The bucket's size of ac in requests (0: no rate limit). */
int64_t limits_burst(const struct account *ac);

/*
 * Takes one token of ac's bucket at mono_ms: 0, or LIMITS_RATE when
 * there is none (v->retry_after: seconds until one, at least 1). v, if
 * not NULL, is the bucket after the call. An account without a rate
 * limit: 0 and v->limit 0.
 */
int limits_take(struct limits *lim, const struct account *ac, int64_t mono_ms,
                struct limits_view *v);
/* The same without taking: 0 when a token is there, else LIMITS_RATE. */
int limits_peek(struct limits *lim, const struct account *ac, int64_t mono_ms,
                struct limits_view *v);

/*
 * Counts n recipients against ac's daily quota on now_ms's UTC day: 0
 * (*day: the day counted in, for limits_quota_give), or LIMITS_QUOTA
 * when the day's count would pass it (nothing counted; *retry_after:
 * seconds until the next UTC midnight, at least 1). An account without
 * a quota: 0, nothing counted, *day -1.
 */
int limits_quota_take(struct limits *lim, const struct account *ac, int64_t n,
                      int64_t now_ms, int64_t *day, int64_t *retry_after);
/* Gives back n recipients counted on day (a submission that failed
 * after counting them); nothing once that day is over. */
void limits_quota_give(struct limits *lim, const struct account *ac, int64_t n,
                       int64_t day);
/* Recipients ac sent on now_ms's UTC day. */
int64_t limits_sent(struct limits *lim, const struct account *ac,
                    int64_t now_ms);

/* The UTC day of now_ms (days since the epoch), and its end (the next
 * midnight, unix ms). */
int64_t limits_day(int64_t now_ms);
int64_t limits_midnight_ms(int64_t now_ms);

/* Reads the counts of now_ms's day from st (at start, before any
 * send). 0 or -1 (st's error). */
int limits_load(struct limits *lim, struct store *st, int64_t now_ms);
/*
 * Writes the counts changed since the last flush to st, in one
 * transaction of its own, and deletes the days before yesterday. The
 * number written, or -1 (st's error; the counts stay to write).
 */
int limits_flush(struct limits *lim, struct store *st, int64_t now_ms);

#endif
