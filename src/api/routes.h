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
int api_supp_create(struct req *rq);    /* suppressions.c */
int api_supp_list(struct req *rq);      /* suppressions.c */
int api_supp_bulk(struct req *rq);      /* suppressions.c */
int api_supp_get(struct req *rq);       /* suppressions.c */
int api_supp_edit(struct req *rq);      /* suppressions.c */
int api_supp_delete(struct req *rq);    /* suppressions.c */

/* metrics.c: GET /metrics; the table of the metrics_listen server;
 * counts a request as its answer is queued (pigeon_http_requests_total;
 * one the connection ended before is not), the family that
 * api_metrics_register adds to the exposition (0 or -1) */
int api_metrics(struct req *rq);
extern const struct route_table metrics_routes;
void api_metrics_count(const struct req *rq);
int api_metrics_register(void);
int api_limits(struct req *rq); /* limits.c */

int api_message_list(struct req *rq); /* messages.c */
/* subdomains.c */
int api_subdomain_create(struct req *rq);
int api_subdomain_list(struct req *rq);
int api_subdomain_get(struct req *rq);
int api_subdomain_edit(struct req *rq);
int api_subdomain_delete(struct req *rq);
int api_subdomain_dns(struct req *rq);
int api_events(struct req *rq); /* events.c */

#endif
