/*
 * webhook: the signed POSTs of SPEC §6.5. A dispatcher thread with its
 * own store connection reads each webhook's events after its cursor
 * into the webhook's outbox and POSTs the due ones with libcurl's multi
 * interface; it never touches the send path, the writer or the engine.
 * sign.h: what the CLI and the tests share with it.
 */
#ifndef PIGEON_WEBHOOK_WEBHOOK_H
#define PIGEON_WEBHOOK_WEBHOOK_H

#include "sign.h"

struct config;

#define WEBHOOK_MAX_INFLIGHT 8 /* POSTs at once per webhook */

/* The dispatcher. cfg is borrowed and must outlive it. NULL with err
 * when it cannot start. */
struct webhookd;
struct webhookd *webhookd_start(const struct config *cfg, char *err,
                                size_t errlen);
/* Stops it: POSTs in flight are abandoned and, still pending in the
 * store, POSTed again after the next start (at least once). Accepts
 * NULL. */
void webhookd_stop(struct webhookd *d);

#endif
