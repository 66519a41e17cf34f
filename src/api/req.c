/*
 * req: one request of the HTTP front — its life (references, the hooks
 * run once its answer is decided) and the helpers that answer it (see
 * req.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "req.h"

/*
 * A request whose body was larger than this gives its memory back to the
 * system when it is freed. glibc keeps what a thread freed in that
 * thread's arena, and its mmap threshold rises to the largest block freed,
 * so after a few bodies of megabytes every HTTP thread holds as much,
 * unused, until the process ends. malloc_trim walks every arena and
 * gives back its free pages: up to about a millisecond, paid by large
 * requests only (on an HTTP thread, or on the writer when the client
 * left before its answer).
 */
#define REQ_TRIM_BODY (256 * 1024)

/*
 * RFC 9112 §3.2.2: a server accepts the absolute form of a request-target
 * ("http://host:port/path", as sent to proxies and by some clients) and
 * routes on its path; the authority is not used. Returns url without
 * "scheme://authority", "/" when nothing follows it; url as it is when it
 * is not in absolute form. Borrowed from url.
 */
static const char *
origin_path(const char *url)
{
	const char *p = url, *slash;

	if (url[0] == '/')
		return url;
	/* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return url;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	       (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0)
		return url;
	if ((slash = strchr(p + 3, '/')) == NULL)
		return "/";
	return slash;
}

/* A body's first buffer; it doubles from there. */
#define REQ_BODY_MIN (16 * 1024)

/*
 * The bytes announced by the requests whose body is not freed yet. One
 * counter for the process, not a field of struct api: a request's last
 * reference may be dropped by the queue's callback after api_stop freed
 * the api.
 */
static atomic_llong bodies_inflight;

int
req_body_reserve(struct req *rq, size_t n, int64_t limit)
{
	long long was;

	was = atomic_fetch_add(&bodies_inflight, (long long)n);
	if (was + (long long)n > limit) {
		atomic_fetch_sub(&bodies_inflight, (long long)n);
		return -1;
	}
	rq->body_held += n;
	return 0;
}

int
req_body_append(struct req *rq, const char *p, size_t n)
{
	size_t cap;
	char *nb;

	if (n > rq->body_want - rq->body_len)
		return BODY_TOO_BIG;
	if (n > rq->body_cap - rq->body_len) {
		cap = rq->body_cap < REQ_BODY_MIN / 2 ? REQ_BODY_MIN
		                                      : rq->body_cap * 2;
		if (cap < rq->body_len + n)
			cap = rq->body_len + n;
		if (cap > rq->body_want)
			cap = rq->body_want;
		/* + 1: the NUL put after a whole body */
		if ((nb = realloc(rq->body, cap + 1)) == NULL)
			return BODY_NOMEM;
		rq->body = nb;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, p, n);
	rq->body_len += n;
	return 0;
}

struct req *
req_new(struct api *api, struct MHD_Connection *conn, const char *method,
        const char *url)
{
	struct req *rq;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	pthread_mutex_init(&rq->mu, NULL);
	rq->refs = 1;
	rq->api = api;
	rq->conn = conn;
	rq->t0 = clock_mono_ms();
	submit_init(&rq->sub, NULL, &rq->auth, 0);
	if ((rq->a = arena_new(0)) == NULL ||
	    (rq->path = arena_strdup(rq->a, origin_path(url))) == NULL ||
	    (rq->method = arena_strdup(rq->a, method)) == NULL) {
		req_unref(rq);
		return NULL;
	}
	rq->sub.a = rq->a;
	return rq;
}

int
req_on_done(struct req *rq, req_done_fn *fn, void *arg)
{
	struct req_hook *h;

	if ((h = arena_alloc(rq->a, sizeof(*h))) == NULL)
		return -1;
	h->fn = fn;
	h->arg = arg;
	pthread_mutex_lock(&rq->mu);
	h->next = rq->hooks;
	rq->hooks = h;
	pthread_mutex_unlock(&rq->mu);
	return 0;
}

void
req_done(struct req *rq)
{
	struct req_hook *h;

	pthread_mutex_lock(&rq->mu);
	h = rq->hooks;
	rq->hooks = NULL;
	pthread_mutex_unlock(&rq->mu);
	for (; h != NULL; h = h->next)
		h->fn(h->arg);
}

void
req_unref(struct req *rq)
{
	size_t body;
	int last;

	pthread_mutex_lock(&rq->mu);
	last = --rq->refs == 0;
	pthread_mutex_unlock(&rq->mu);
	if (!last)
		return;
	req_done(rq); /* no one else holds rq now */
	body = rq->body_cap;
	json_object_put(rq->root);
	tenant_release(&rq->auth);
	submit_clear(&rq->sub);
	if (rq->resp != NULL)
		MHD_destroy_response(rq->resp);
	arena_free(rq->a);
	free(rq->body);
	if (rq->body_held > 0)
		atomic_fetch_sub(&bodies_inflight, (long long)rq->body_held);
	pthread_mutex_destroy(&rq->mu);
	free(rq);
#ifdef __GLIBC__
	if (body > REQ_TRIM_BODY)
		malloc_trim(0);
#endif
}

struct MHD_Response *
req_json_response(struct buf *b)
{
	struct MHD_Response *r;
	size_t len;
	char *p;

	if ((p = buf_steal(b, &len)) == NULL) {
		p = strdup("{}");
		len = 2;
	}
	r = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(p);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/json");
	return r;
}

int
req_close_after(struct MHD_Response *r)
{
	return MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION,
	                               "close") == MHD_YES
	           ? 0
	           : -1;
}

enum MHD_Result
req_queue(struct req *rq, int status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	/* An error answer to a request that announced a body ends the
	 * connection: whatever of the body was not read is never taken
	 * for a request. */
	if (status >= 400 && rq->has_body && req_close_after(r) == -1) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rq->status = status;
	rq->answered = 1;
	ret = MHD_queue_response(rq->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
req_json(struct req *rq, int status, struct buf *b)
{
	struct MHD_Response *r;

	if ((r = req_json_response(b)) == NULL)
		return MHD_NO;
	return req_queue(rq, status, r);
}

struct MHD_Response *
req_error_response(struct req *rq, const struct api_error *e, int *status)
{
	const struct api_err_row *row = envelope_row(e->kind);
	struct MHD_Response *r;
	struct buf b;
	char ra[16];
	int retry;

	buf_init(&b, 0);
	if (envelope_error(&b, e) == -1) {
		buf_clear(&b);
		return NULL;
	}
	if ((r = req_json_response(&b)) == NULL)
		return NULL;
	if ((retry = envelope_retry_after(e->kind)) > 0) {
		snprintf(ra, sizeof(ra), "%d", retry);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	*status = row->status;
	rq->code = row->code;
	return r;
}

enum MHD_Result
req_error(struct req *rq, const struct api_error *e)
{
	struct MHD_Response *r;
	int status;

	if ((r = req_error_response(rq, e, &status)) == NULL)
		return MHD_NO;
	return req_queue(rq, status, r);
}

enum MHD_Result
req_fail(struct req *rq, enum api_err kind, const char *pointer,
         const char *detail)
{
	struct api_error e = {kind, pointer, detail};

	return req_error(rq, &e);
}

struct store *
req_store(struct req *rq)
{
	struct store *st;
	char err[256];

	if ((st = pthread_getspecific(rq->api->store_key)) != NULL)
		return st;
	if ((st = store_open(rq->api->cfg->db_path, err, sizeof(err))) ==
	    NULL) {
		log_warnx("http: store_open: %s", err);
		return NULL;
	}
	pthread_setspecific(rq->api->store_key, st);
	return st;
}

const char *
req_param(const struct req *rq, const char *name)
{
	return route_param(&rq->params, name);
}

struct header_count {
	const char *name;
	int n;
};

static enum MHD_Result
header_count_one(void *cls, enum MHD_ValueKind kind, const char *key,
                 const char *value)
{
	struct header_count *hc = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, hc->name) == 0)
		hc->n++;
	return MHD_YES;
}

/* MHD keeps each occurrence of a header. */
int
req_header_count(struct req *rq, const char *name)
{
	struct header_count hc = {name, 0};

	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, header_count_one,
	                          &hc);
	return hc.n;
}

int
req_header(struct req *rq, const char *name, const char **out)
{
	const char *v = NULL;
	size_t n = 0;

	*out = NULL;
	if (MHD_lookup_connection_value_n(rq->conn, MHD_HEADER_KIND, name,
	                                  strlen(name), &v, &n) != MHD_YES)
		return 0;
	if (req_header_count(rq, name) > 1)
		return HDR_REPEATED;
	if (v == NULL)
		v = "";
	/* RFC 9110 §5.5: a NUL is never part of a value. libmicrohttpd
	 * 0.9.75 measures values with strlen(), so there n always equals
	 * strlen(v) and a value is cut at its first NUL unseen; a library
	 * that keeps the real length lets this refuse it. */
	if (strlen(v) != n)
		return HDR_NUL;
	while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if ((*out = arena_strndup(rq->a, v, n)) == NULL)
		return HDR_NOMEM;
	return 0;
}
