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

#endif
