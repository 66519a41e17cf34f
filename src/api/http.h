/*
 * http: what the route handlers share — the per-request state and the
 * helpers that answer. Internal to src/api/.
 */
#ifndef PIGEON_API_HTTP_H
#define PIGEON_API_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <microhttpd.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../mail/message.h"
#include "../mail/msgid.h"
#include "../queue/queue.h"
#include "../store/store.h"
#include "api.h"
#include "../tenant/tenant.h"
#include "envelope.h"
#include "router.h"

/* Room left in front of a built message for its DKIM-Signature fields,
 * so that signing never copies the message (DESIGN §7). */
#define DKIM_GAP 4096

/* Buckets of the set of Idempotency-Keys in flight (idem.c). */
#define IDEM_BUCKETS 256

struct idem_entry;

struct api {
	const struct config *cfg;
	struct queue *q;
	struct tenant *tenant;
	struct MHD_Daemon *mhd;
	pthread_key_t store_key; /* per-thread read connection */
	atomic_int inflight;     /* suspended connections */
	atomic_int stopping;     /* api_stop has begun */
	pthread_mutex_t idem_mu; /* guards idem[] and every req's idem */
	struct idem_entry *idem[IDEM_BUCKETS];
};

struct json_object;

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
	char *body; /* in the arena, Content-Length bytes */
	size_t body_len, body_cap;
	int64_t t0; /* clock_mono_ms() at the first byte */
	int status, code;
	int begun;    /* req_begin has run */
	int answered; /* a response is queued */
	struct json_object *root;

	/* A send in flight. */
	pthread_mutex_t mu;
	int refs;
	int closed;
	struct MHD_Response *resp; /* built by the queue callback */
	int resp_status;
	int inflight;   /* counted in api->inflight (guarded by mu) */
	int resumed;    /* set by the callback before MHD_resume_connection */
	struct buf raw; /* DKIM_GAP bytes, then the message */
	struct store_msg sm;
	const struct mailbox **rcpt; /* as the client wrote them */
	char message_id[MSGID_MAX];
	struct idem_entry *idem; /* this request's key in api->idem */
};

/* Drops one reference; the last one frees the request. */
void req_unref(struct req *rq);

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
/* The calling thread's read connection to the store, or NULL. */
struct store *req_store(struct req *rq);

/* Handlers: send.c, send_raw.c, messages.c, http.c. */
int api_send(struct req *rq);
int api_send_raw(struct req *rq);
int api_message_raw(struct req *rq);
int api_message_status(struct req *rq);
int api_healthz(struct req *rq);
int api_verify(struct req *rq);

/* send.c: signs rq->raw, checks the size, fills rq->sm and hands it to
 * the queue; the response comes from the queue callback. */
int send_submit(struct req *rq, const struct tenant_domain *dom,
                const char *mail_from, const char *subject, time_t now);
/* send.c: the response of SPEC §3.4 for n recipients and their states. */
struct MHD_Response *send_response(struct req *rq, const char *message_id,
                                   const char *const *addrs,
                                   const enum rcpt_state *st, size_t n);
/* idem.c: SPEC §2.4 Idempotency-Key, run before the body is parsed. 0:
 * go on (no key, or the key is now held for this request); 1: answered
 * (a replay, a 409, a 400 or a 503) with the MHD result in *ret. */
int idem_begin(struct req *rq, enum MHD_Result *ret);
/* Lets go of the request's key, if it holds one; any thread. */
void idem_release(struct req *rq);
/* Frees what is left of api->idem (at stop). */
void idem_free(struct api *api);
/* send.c: the sender-domain checks (10204, 10203); NULL after answering. */
const struct tenant_domain *send_domain(struct req *rq, const char *domain,
                                        struct api_error *err);

#endif
