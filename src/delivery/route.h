/*
 * route: how a delivery job leaves pigeon. A route is a struct of this
 * shape, made by its constructor from the table in routes.c; capture.c
 * is the first (no network), smtp_route.c the mx and relay routes. A route runs
 * on the engine thread and must never block it: it answers through done(), from
 * its deliver() call or later from a timer or a socket event on the engine's
 * event_base. It does not choose when a job runs or how many run at once: the
 * scheduler does, from max_conns.
 */
#ifndef PIGEON_DELIVERY_ROUTE_H
#define PIGEON_DELIVERY_ROUTE_H

#include <event2/event.h>

#include "../core/config.h"

struct sched_job;

/* The class of a recipient's answer (DESIGN §6); only RESP has a code. */
enum route_class {
	ROUTE_OK,    /* not used for replies: the route has not answered */
	ROUTE_CONN,  /* connection or DNS trouble */
	ROUTE_PROTO, /* the peer broke the protocol or timed out */
	ROUTE_RESP,  /* an SMTP reply: code, enhanced status, text */
};

typedef void route_done_fn(void *arg, struct sched_job *job);

struct route {
	const char *name;
	/* Attempts every recipient of job; fills each one's answer, then
	 * calls done(arg, job) exactly once. job is borrowed until then. */
	void (*deliver)(struct route *, struct sched_job *, route_done_fn *done,
	                void *arg);
	void (*free)(struct route *); /* cancels what is in flight */
	/* Jobs of one destination in the route at once; 0 = no cap. */
	int max_conns;
	/* The destination of every job of the route (a relay's
	 * "host:port"), or NULL: each recipient domain is one. */
	const char *dest;
	/* at SIGTERM its jobs in flight may finish (drain_timeout): a
	 * transaction with a peer; capture has nothing to finish */
	int drains;
	struct event_base *base; /* the engine's loop */
	const struct config *cfg;
	void *ctx; /* the route's own state */
};

/* Constructors, one per route kind; NULL on allocation failure. */
struct route *capture_new(struct event_base *base, const struct config *cfg);

/* What the mx and relay routes share (smtp_route.c): the resolver, the
 * TLS context, a store connection to load messages, the VERP key
 * (state_dir/verp.key, made at first start). NULL with err. */
struct smtp_env;
struct smtp_env *smtp_env_new(struct event_base *base, const struct config *cfg,
                              char *err, size_t errlen);
void smtp_env_free(struct smtp_env *e); /* accepts NULL */
/* The route of one mx or relay row of the table. NULL with err. */
struct route *smtp_route_new(struct event_base *base, const struct config *cfg,
                             const struct cfg_route *cr, struct smtp_env *env,
                             char *err, size_t errlen);

#endif
