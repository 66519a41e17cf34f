/*
 * idem: the Idempotency-Key header of send and send_raw (SPEC §2.4), run
 * by their handlers before the body is parsed.
 */
#ifndef PIGEON_API_IDEM_H
#define PIGEON_API_IDEM_H

struct idem;
struct req;

/* The set of keys being processed; NULL when out of memory. */
struct idem *idem_new(void);
void idem_free(struct idem *set); /* accepts NULL */

/* idem_begin() results. */
enum {
	IDEM_GO_ON = 0,     /* no key, or the key is now held for rq */
	IDEM_ANSWERED = -1, /* a replay, a 409, a 400 or a 503 is queued */
};

/*
 * Looks at rq's Idempotency-Key. IDEM_GO_ON: the handler goes on (a key
 * is held until rq's answer is decided, and is recorded with the message
 * through rq->sub); IDEM_ANSWERED: answered (*ret is 0).
 */
int idem_begin(struct req *rq, int *ret);

#endif
