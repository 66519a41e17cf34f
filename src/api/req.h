/*
 * req: what the route handlers share — the state of the HTTP front, one
 * request, and the helpers that answer it. Internal to src/api/.
 */
#ifndef PIGEON_API_REQ_H
#define PIGEON_API_REQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <microhttpd.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../store/store.h"
#include "../submit/submit.h"
#include "../tenant/tenant.h"
#include "envelope.h"
#include "router.h"

struct idem;
struct conn_watch;

/* The HTTP front. */
struct api {
	const struct config *cfg;
	struct submit *submit; /* borrowed */
	struct queue *q;       /* borrowed */
	struct tenant *tenant; /* borrowed */
	struct idem *idem;     /* Idempotency-Keys in flight */
	struct MHD_Daemon *mhd;
	pthread_key_t store_key; /* per-thread read connection */
	atomic_int inflight;     /* suspended connections */
	atomic_int stopping;     /* api_stop has begun */
	/* header_timeout (http.c): the connections waiting for a header
	 * section, oldest first, and the thread that cuts them off */
	pthread_mutex_t watch_mu;
	pthread_cond_t watch_cv;
	struct conn_watch *watch_head, *watch_tail; /* guarded by watch_mu */
	int watch_stop;                             /* guarded by watch_mu */
	pthread_t sweeper;
	int sweeper_on;
};

struct json_object;

typedef void req_done_fn(void *arg);

/* One function to run once the request's answer is decided. */
struct req_hook {
	req_done_fn *fn;
	void *arg;
	struct req_hook *next;
};

/*
 * One request. Owned by MHD (freed by the completion callback) and, while
 * a send is in the queue, also by the queue callback: refs counts both,
 * and mu/closed keep the callback from resuming a connection MHD closed.
 */
struct req {
	struct api *api;
	struct MHD_Connection *conn;
	struct arena *a;
	const char *method;
	const char *path; /* arena copy, without the query */
	const struct route *route;
	struct route_params params;
	struct tenant_ctx auth;
	/* malloc'd, grown as bytes arrive up to body_want (the
	 * Content-Length) and NUL-terminated once whole; lives until
	 * req_unref frees rq (the send path borrows from it) */
	char *body;
	size_t body_len, body_cap, body_want;
	size_t body_held; /* counted in the bodies in flight */
	unsigned timeout; /* MHD idle timeout set on conn, 0 = the daemon's */
	int64_t t0;       /* clock_mono_ms() at the first byte */
	int status, code;
	int begun;    /* req_begin has run */
	int has_body; /* a Content-Length above 0 or a Transfer-Encoding */
	int answered; /* a response is queued */
	struct json_object *root;
	struct req_hook *hooks; /* req_on_done, guarded by mu */

	/* A send in flight. */
	pthread_mutex_t mu;
	int refs;
	int closed;
	struct MHD_Response *resp; /* built by the queue callback */
	int resp_status;
	int inflight; /* counted in api->inflight (guarded by mu) */
	int resumed;  /* set by the callback before MHD_resume_connection */
	struct submission sub;
};

/* A new request on conn for method and url (its path is routed: the
 * absolute form loses its scheme and authority): one reference. NULL. */
struct req *req_new(struct api *api, struct MHD_Connection *conn,
                    const char *method, const char *url);
/* Drops one reference; the last one runs the hooks and frees. */
void req_unref(struct req *rq);

/*
 * Counts the n bytes rq's Content-Length announces against limit, the
 * budget of bodies in flight (max_inflight_body): the bytes announced by
 * every request, of any api, whose body is not yet freed. 0, or -1 when
 * they would go past it (nothing counted). req_unref gives them back.
 */
int req_body_reserve(struct req *rq, size_t n, int64_t limit);
/* req_body_append() results besides 0. */
enum {
	BODY_TOO_BIG = -1, /* more than body_want bytes */
	BODY_NOMEM = -2,
};
/* Appends n bytes of body to rq, growing its buffer geometrically (from
 * 16 KiB, doubling) up to body_want. 0 or one of BODY_*. */
int req_body_append(struct req *rq, const char *p, size_t n);

/* Runs fn(arg) once the answer of rq is decided (req_done), or when rq
 * is freed, whichever comes first. 0, or -1 when out of memory. */
int req_on_done(struct req *rq, req_done_fn *fn, void *arg);
/* The answer is decided: runs the hooks (once); any thread. */
void req_done(struct req *rq);

/* Marks r as the connection's last answer (Connection: close): 0, or -1
 * when out of memory. */
int req_close_after(struct MHD_Response *r);
/* Queues r (released here) with status as rq's answer; an error answer
 * to a request with a body closes the connection. */
enum MHD_Result req_queue(struct req *rq, int status, struct MHD_Response *r);
/* Queues a JSON response made of b (taken over) with status. MHD_YES or
 * MHD_NO. */
enum MHD_Result req_json(struct req *rq, int status, struct buf *b);
/* A JSON response holding b's bytes (b is emptied); NULL on failure. */
struct MHD_Response *req_json_response(struct buf *b);
/* Answers an error of the table (envelope.c). */
enum MHD_Result req_error(struct req *rq, const struct api_error *e);
enum MHD_Result req_fail(struct req *rq, enum api_err kind, const char *pointer,
                         const char *detail);
/* Builds an error response without queueing it (for the async path). */
struct MHD_Response *req_error_response(struct req *rq,
                                        const struct api_error *e, int *status);
/* req_header() results besides 0. */
enum {
	HDR_REPEATED = -1, /* the header is given more than once */
	HDR_NUL = -2,      /* its value holds a NUL byte */
	HDR_NOMEM = -3,
};
/*
 * The value of the request header name, without its leading and trailing
 * OWS (RFC 9110 §5.5), copied into rq's arena; *out is NULL when the
 * header is absent. 0, or one of HDR_* with *out NULL.
 */
int req_header(struct req *rq, const char *name, const char **out);
/* How many times the request carries header name. */
int req_header_count(struct req *rq, const char *name);
/* The calling thread's read connection to the store, or NULL. */
struct store *req_store(struct req *rq);
/* The route's parameter called name ("account"), or NULL. */
const char *req_param(const struct req *rq, const char *name);

#endif
