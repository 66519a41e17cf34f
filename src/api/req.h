/*
 * req: what the route handlers share — the state of the HTTP front, one
 * request, and the helpers that answer it. Internal to src/api/.
 */
#ifndef PIGEON_API_REQ_H
#define PIGEON_API_REQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../httpd/httpd.h"
#include "../store/store.h"
#include "../submit/submit.h"
#include "../tenant/tenant.h"
#include "envelope.h"
#include "router.h"

struct idem;

/* The HTTP front. */
struct api {
	const struct config *cfg;
	struct submit *submit; /* borrowed */
	struct queue *q;       /* borrowed */
	struct tenant *tenant; /* borrowed */
	struct idem *idem;     /* Idempotency-Keys in flight */
	struct httpd *httpd;
	pthread_key_t store_key; /* per-thread read connection */
	atomic_int inflight;     /* sends awaiting the queue */
	atomic_int stopping;     /* api_stop has begun */
	char *busy;              /* the 503 body past a connection cap */
	/* api_routes, or metrics_routes on the metrics_listen server */
	const struct route_table *routes;
	struct api *metrics; /* the metrics_listen server, or NULL */
	/* Called by req_queue with each answer before it is handed to the
	 * connection, rq->status set: what the front adds to it and counts
	 * (api/http.c). -1: the answer could not be completed. */
	int (*answering)(struct req *rq, struct httpd_resp *r);
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
 * One request. Owned by the server (freed when it is done) and, while a
 * send is in the queue, also by the queue callback: refs counts both.
 */
struct req {
	struct api *api;
	struct httpd_conn *conn;
	const struct head *h; /* the server's, until the request is done */
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
	int64_t t0;       /* clock_mono_ms() when the head was in */
	int status, code;
	int64_t retry_after; /* a 429's Retry-After, seconds; 0: the table's */
	int has_body;    /* a Content-Length above 0 or a Transfer-Encoding */
	int answered;    /* a response is queued */
	int ignore_body; /* the route takes none: body bytes are dropped */
	struct json_object *root;
	struct req_hook *hooks; /* req_on_done, guarded by mu */

	/* A send in flight. */
	pthread_mutex_t mu;
	int refs;
	int inflight; /* counted in api->inflight (guarded by mu) */
	struct submission sub;
};

/*
 * A new request on conn with head h: one reference. Its path is the
 * request-target's, percent-decoded (RFC 3986 §2.1), without the query,
 * and without the scheme and authority of the absolute form; *bad_target
 * is set when the target holds %00 or a '%' without two hex digits (the
 * path is then the raw one). NULL when out of memory.
 */
struct req *req_new(struct api *api, struct httpd_conn *conn,
                    const struct head *h, int *bad_target);
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

/*
 * Answers rq with r (taken over; NULL: out of memory, the connection is
 * closed without an answer), from any thread. An error answer to a
 * request with a body closes the connection. Returns 0.
 */
int req_queue(struct req *rq, struct httpd_resp *r);
/* Answers a JSON response made of b (taken over) with status. 0. */
int req_json(struct req *rq, int status, struct buf *b);
/* A JSON response with status holding b's bytes (b is emptied); NULL on
 * failure. */
struct httpd_resp *req_json_response(int status, struct buf *b);
/* Answers an error of the table (envelope.c). 0. */
int req_error(struct req *rq, const struct api_error *e);
int req_fail(struct req *rq, enum api_err kind, const char *pointer,
             const char *detail);
/* Builds an error response without answering (for the async path), with
 * the table's status, Retry-After where the table has one, and rq->code
 * set; NULL when out of memory. */
struct httpd_resp *req_error_response(struct req *rq,
                                      const struct api_error *e);
/* req_header() results besides 0. */
enum {
	HDR_REPEATED = -1, /* the header is given more than once */
	HDR_NOMEM = -2,
};
/*
 * The value of the request header name, without its leading and trailing
 * OWS (RFC 9110 §5.5), copied into rq's arena; *out is NULL when the
 * header is absent. 0, or one of HDR_* with *out NULL.
 */
int req_header(struct req *rq, const char *name, const char **out);
/* How many times the request carries header name. */
int req_header_count(struct req *rq, const char *name);
/* SPEC §8.4: adds RateLimit-Limit, -Remaining and -Reset, the state of
 * the account's token bucket, to r, the answer of a send after auth
 * (ratelimit.c). 0, or -1 when out of memory. */
int req_ratelimit(struct req *rq, struct httpd_resp *r);
/* The calling thread's read connection to the store, or NULL. */
struct store *req_store(struct req *rq);
/* req_query() results besides 0. */
enum {
	QUERY_BAD = -1, /* a %00 or a '%' without two hex digits in it */
	QUERY_NOMEM = -2,
	QUERY_REPEATED = -3, /* given more than once */
	QUERY_TOO_LONG = -4, /* more than REQ_QUERY_MAX bytes as sent */
};
#define REQ_QUERY_MAX 1024 /* bytes of one query value, before decoding */
/*
 * The value of the query parameter name (RFC 3986 §3.4, the
 * application/x-www-form-urlencoded form: '+' is a space, %HH escapes
 * decoded), copied into rq's arena; *out is NULL when absent, "" when
 * given empty ("name" or "name="). 0, or one of QUERY_* with *out NULL.
 */
int req_query(struct req *rq, const char *name, const char **out);
/* Answers the query parameter name that req_query refused with rc:
 * 400 (10001) saying why, 500 when out of memory. 0. */
int req_query_fail(struct req *rq, const char *name, int rc);
/* s, "1".."max" in decimal digits (no sign, no leading zero), into
 * *out. 0, or -1. */
int req_number(const char *s, int64_t max, int64_t *out);
#define REQ_PER_PAGE 100      /* a list's page when per_page is absent */
#define REQ_PER_PAGE_MAX 1000 /* and the most (SPEC §8.1, §8.3) */
/* A list's per_page query parameter into *out: 1..REQ_PER_PAGE_MAX,
 * REQ_PER_PAGE when absent. 0, or -1 answered (400). */
int req_per_page(struct req *rq, int *out);
/* A list's cursor query parameter: *out NULL when absent or empty (the
 * first page), else the value, in the list's own form. 0, or -1
 * answered. */
int req_cursor(struct req *rq, const char **out);
/* Answers 400 (10001): the cursor is not one this list gave. 0. */
int req_bad_cursor(struct req *rq);
/* The route's parameter called name ("account"), or NULL. */
const char *req_param(const struct req *rq, const char *name);

#endif
