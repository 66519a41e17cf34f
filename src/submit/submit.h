/*
 * submit: the one submission path every front calls (REST send and
 * send_raw now, SMTP next). A front hands over a checked struct message
 * or a client's raw MIME, and the tenant it authenticated; submit applies
 * the sender-domain rules (SPEC §6.1), builds or prepares the message
 * (mail/), signs it (DKIM, SPEC §6.2), checks its size, queues it and
 * reports the outcome through one callback. The rate limit and daily
 * quota (SPEC §8.4, limits/) and the suppression list are applied here,
 * once, for every front.
 *
 * It is not a front: it speaks no HTTP and no SMTP. A refusal is a
 * struct submit_error (a kind, the part of the request it is about, a
 * sentence a client may read); each front maps kinds to its own answer
 * (HTTP 403/400/503, SMTP 550/552/451).
 */
#ifndef PIGEON_SUBMIT_SUBMIT_H
#define PIGEON_SUBMIT_SUBMIT_H

#include <stddef.h>
#include <time.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../mail/message.h"
#include "../mail/msgid.h"
#include "../mail/rawmime.h"
#include "../queue/queue.h"
#include "../store/store.h"
#include "../tenant/tenant.h"

/* Room left in front of a built message for its DKIM-Signature fields,
 * so that signing does not copy the message (design.md, DKIM): enough for
 * both signatures over the usual headers. Larger fields (many signed
 * headers) move the message once; submit_seal. */
#define DKIM_GAP 4096

enum submit_err {
	SUBMIT_OK = 0,
	SUBMIT_SENDER,      /* not a sending domain of the account */
	SUBMIT_DISABLED,    /* sending is off for the account or domain */
	SUBMIT_INVALID,     /* the client's message breaks SPEC §4/§5 */
	SUBMIT_TOO_BIG,     /* over MAX_MESSAGE_SIZE */
	SUBMIT_INTERNAL,    /* out of memory, the signature failed */
	SUBMIT_UNAVAILABLE, /* nothing queued (store down, stopping): retry */
	SUBMIT_SUPPRESSED,  /* a recipient is on the suppression list */
	SUBMIT_THROTTLED,   /* over the rate limit or the daily quota */
};

/* Which part of the submission an error is about. */
enum submit_part {
	SUBMIT_PART_NONE,
	SUBMIT_PART_FROM,    /* the sender address */
	SUBMIT_PART_MESSAGE, /* the client's raw message */
};

struct submit_error {
	enum submit_err kind;
	enum submit_part part;
	const char *detail;  /* static or in the submission's arena; or NULL */
	int64_t retry_after; /* SUBMIT_THROTTLED: seconds to wait */
};

/*
 * Called once per submit_queue() that returned 0, on the queue's writer
 * thread (do not block): SUBMIT_OK with the state of each recipient of
 * the submission, in order (delivered, bounced, queued, deferred or
 * suppressed, as far as known when the answer is due), or
 * SUBMIT_UNAVAILABLE (nothing was written) or SUBMIT_INTERNAL, with
 * states NULL.
 */
typedef void submit_done_fn(void *arg, enum submit_err rc,
                            const enum rcpt_state *states);

/*
 * One submission. The caller allocates it and keeps it (and the arena)
 * alive until the done callback has run; submit_init() / submit_clear().
 */
struct submission {
	struct arena *a;                 /* borrowed */
	enum rawmime_policy raw_headers; /* the service's, SPEC §5 */
	struct tenant_ctx *who;          /* borrowed */
	const struct tenant_domain *dom; /* the sender's domain, once known */
	const char *mail_from;           /* envelope sender, as given */
	const char *subject;             /* for the store, may be NULL */
	time_t now;
	struct buf raw; /* DKIM_GAP bytes, then the message; sealed, the
	                 * signature ends where the message starts */
	const struct mailbox **rcpt; /* recipients as the client gave them */
	size_t nrcpt;
	char message_id[MSGID_MAX];
	struct store_msg sm;
	/* SPEC §2.4, set by a front that has an Idempotency-Key: recorded
	 * with the message in its transaction. */
	const char *idem_key;
	const char *idem_hash;
	const char *idem_endpoint;
	/* SPEC §8.1, §7: the caller's read connection to the store, for
	 * the suppression list (NULL: not looked at), and whether a
	 * suppressed recipient is dropped silently (SMTP) rather than
	 * refused unless its domain drops them (REST) */
	struct store *rd;
	int drop_suppressed;
	/* enum metric_front, for pigeon_messages_accepted_total: REST (0)
	 * unless the front says */
	int front;
	/* SPEC §8.4: the recipients counted against the daily quota and
	 * the day they count in (-1: none), given back if the submission
	 * fails after the count */
	int64_t quota_n, quota_day;
	struct limits *lim;
	submit_done_fn *done;
	void *done_arg;
};

struct submit;
struct limits;

/* The service: where submissions are queued and how long a sender waits
 * for the first attempt (cfg->send_wait_ms). NULL on allocation failure. */
struct submit *submit_new(const struct config *cfg, struct queue *q);
void submit_free(struct submit *svc); /* accepts NULL */
/* SPEC §8.4: the limiter every submission is held to from now on
 * (borrowed; NULL: none); set before the fronts start. */
void submit_set_limits(struct submit *svc, struct limits *lim);
struct limits *submit_limits(const struct submit *svc);

/* s for the service svc (its raw_headers policy), borrowing a and who. */
void submit_init(struct submission *s, const struct submit *svc,
                 struct arena *a, struct tenant_ctx *who, time_t now);
void submit_clear(struct submission *s); /* accepts a cleared one */

/*
 * SPEC §3: msg has passed the front's schema and content rules. Applies
 * the sender-domain rules to msg->from, then builds the message (a new
 * Message-ID, MIME). 0, or -1 with err.
 */
int submit_message(struct submission *s, const struct message *msg,
                   struct submit_error *err);

/*
 * SPEC §4: mime[0..len) as the client wrote it, from the envelope sender,
 * rcpts[0..n) the envelope recipients (de-duplicated). Prepares the
 * message (lf_ok: bare LF becomes CRLF; the header fields a client may
 * write as the service's `raw_headers` says, SPEC §5), then applies the
 * sender-domain rules to the envelope sender and to the From: header, which
 * must hold exactly one address (refusals about the header are
 * SUBMIT_PART_MESSAGE). The envelope sender's domain signs. 0, or -1 with err.
 */
int submit_raw(struct submission *s, const char *mime, size_t len, int lf_ok,
               const struct mailbox *from, const struct mailbox *rcpts,
               size_t n, struct submit_error *err);

/*
 * The rate limit, the suppression list (SPEC §8.1), looked at through
 * s->rd, and the daily quota (§8.4), then signs the built message and
 * checks its final size: after this the submission is ready for
 * submit_queue(). A request over the account's token bucket is refused
 * SUBMIT_THROTTLED (the token spent stays spent whatever follows). A
 * recipient on the list (of the account, or of the sending domain; not
 * expired) is dropped (its state RCPT_SUPPRESSED) when
 * s->drop_suppressed or the domain has drop_suppressed_recipients, else
 * refused: SUBMIT_SUPPRESSED naming it. The recipients not dropped are
 * counted against the daily quota: past it, SUBMIT_THROTTLED naming the
 * quota, nothing counted. A refusal after the count gives it back. 0, or
 * -1 with err.
 */
int submit_seal(struct submission *s, struct submit_error *err);
/* A sealed submission that will not be queued after all: gives back
 * what it counted against the daily quota. */
void submit_cancel(struct submission *s);

/*
 * Hands a sealed submission to the queue. 0: done(arg, …) will run
 * exactly once, possibly before this returns; -1: the queue is stopping,
 * done will not run (nothing was written). When nothing is written the
 * daily count is given back (submit_cancel).
 */
int submit_queue(struct submit *svc, struct submission *s, submit_done_fn *done,
                 void *arg);

#endif
