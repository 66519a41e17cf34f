/*
 * inbound: what comes back to the return-path domains (SPEC §7.1), as the
 * inbound listener's owner decides it. A recipient is taken only when it
 * is a VERP address (mail/verp.c) under this install's key that names a
 * known message and recipient; a message taken is read (mail/report.c):
 * a DSN's failed and delayed recipients and an ARF abuse report become
 * findings, written by the writer in one transaction (queue_findings:
 * states, events, suppressions); anything else is logged and dropped.
 *
 * It is not the SMTP server: it never speaks SMTP; the server asks it
 * through the two calls below.
 */
#ifndef PIGEON_INBOUND_INBOUND_H
#define PIGEON_INBOUND_INBOUND_H

#include <stddef.h>

#include "../core/config.h"
#include "../queue/queue.h"

struct inbound;

/* With cfg's VERP key (state_dir/verp.key, made when missing) and its
 * own store connection for the recipient checks. NULL with err. */
struct inbound *inbound_new(const struct config *cfg, struct queue *q,
                            char *err, size_t errlen);
void inbound_free(struct inbound *in); /* accepts NULL */

/* RCPT TO: 1 when address names a message and recipient of this
 * server, else 0. Any thread (the lookups take a lock). */
int inbound_rcpt(void *arg, const char *address);

/*
 * A message taken after its final dot, data[0..len) as received (CRLF,
 * dot-unstuffed), for rcpts[n] (each accepted by inbound_rcpt). Its
 * findings are queued; answer(ctx, ok) runs once, on this thread or the
 * writer's: 1 when they are committed or there was nothing to write (a
 * malformed report or an auto-reply is answered 250 too: a sender must
 * not retry it), 0 when the store failed (the sender retries).
 */
typedef void inbound_answer_fn(void *ctx, int ok);
void inbound_message(void *arg, const char *mail_from, const char *const *rcpts,
                     size_t n, const char *data, size_t len,
                     inbound_answer_fn *answer, void *ctx);

#endif
