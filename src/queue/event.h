/*
 * event: what a recipient's state change leaves in the store besides the
 * state — its event (SPEC §6.5): a row of the events outbox with the JSON
 * payload receivers get — and, for a bad mailbox or a recipient that
 * expired, its automatic suppression (§6.4). The writer calls it for each
 * outcome inside the outcome's own transaction, so a committed state
 * change always has its event and an uncommitted one has neither.
 *
 * It does not decide the state (delivery/deliver.c does), deliver events
 * (the webhooks will) nor serve them.
 */
#ifndef PIGEON_QUEUE_EVENT_H
#define PIGEON_QUEUE_EVENT_H

#include <stdint.h>

#include "../core/buf.h"
#include "../store/store.h"

/* The cap of the scratch buffer event_record writes a payload in: the
 * largest, a send_raw Subject of MAX_HEADERS_TOTAL octets each escaped
 * to six, stays under 128 KiB. */
#define EVENT_PAYLOAD_MAX (256 * 1024)
#define EVENT_HARD_BOUNCE_TTL_MS (7LL * 24 * 60 * 60 * 1000)
#define EVENT_SOFT_BOUNCE_TTL_MS (24LL * 60 * 60 * 1000)

/* What a failure's answer says went wrong: the class of its enhanced
 * status code (RFC 3463), else of its basic code (RFC 5321 §4.2). */
struct event_bounce {
	const char *classification; /* "invalid_recipient", ... */
	int bad_mailbox;            /* SPEC §6.4: a bounce suppresses */
};

/* The bounce classification of an answer (code 0: none; enhanced "" or
 * NULL: none). Never fails: "other" when nothing matches. */
struct event_bounce event_classify(int code, const char *enhanced);

/*
 * Writes o's event in the current transaction of st and the automatic
 * suppression it brings, if any: m is o's message. scratch holds the
 * payload while it is written (buf_init'd with EVENT_PAYLOAD_MAX; reset
 * here, kept by the caller for the next). An outcome with no event (queued,
 * suppressed) writes nothing. 0, or -1 (the text in store_error(st); out of
 * memory: logged).
 */
int event_record(struct store *st, const struct msg_info *m,
                 const struct store_outcome *o, struct buf *scratch);

/* SPEC §7.1: what a report that came back says of one recipient of a
 * message pigeon sent (mail/report.c reads it; inbound/ finds the
 * message). */
enum finding_kind {
	FINDING_FAILED,    /* a DSN's Action: failed → bounced */
	FINDING_DELAYED,   /* Action: delayed → an event only */
	FINDING_COMPLAINT, /* an ARF report → an event, a suppression */
};

struct finding {
	enum finding_kind kind;
	int64_t msg_id;  /* messages row, from the VERP address */
	int64_t rcpt_id; /* the VERP address's recipients row: the one
	                  * meant when address names none of the message's
	                  * (0: the address names the message only) */
	char address[STORE_ADDR_MAX]; /* the report's recipient; "" none */
	char status[16];              /* enhanced status "5.1.1"; "" none */
	int code;                     /* basic code of the diagnostic; 0 */
	char text[512];               /* the diagnostic, or the feedback type */
};

/*
 * Writes f in the current transaction of st: the recipient's new state
 * (a failure bounces it, even once delivered; never twice), its event
 * and its suppression (a failure's under §6.4's rule, a complaint's
 * always, without expiry), as of now (unix ms). A finding about a
 * message or recipient that is gone, or a bounce already recorded,
 * writes nothing. 1 written, 0 nothing, -1 (store_error(st)).
 */
int event_finding(struct store *st, const struct finding *f,
                  struct buf *scratch, int64_t now);

#endif
