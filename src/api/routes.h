/*
 * routes: the route table of the REST front and its handlers, one per
 * row. A handler answers through the helpers of req.h (then, or later
 * from the queue's callback) and returns 0.
 */
#ifndef PIGEON_API_ROUTES_H
#define PIGEON_API_ROUTES_H

#include "../store/store.h"
#include "router.h"

extern const struct route_table api_routes;

int api_healthz(struct req *rq);        /* service.c */
int api_verify(struct req *rq);         /* service.c */
int api_send(struct req *rq);           /* send.c */
int api_send_raw(struct req *rq);       /* send_raw.c */
int api_message_raw(struct req *rq);    /* messages.c */
int api_message_status(struct req *rq); /* messages.c */
int api_events(struct req *rq);         /* events.c */

#endif
