/*
 * req: one request of the HTTP front — its life (references, the hooks
 * run once its answer is decided) and the helpers that answer it (see
 * req.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
/* glibc's heaps give memory back with malloc_trim; under
 * AddressSanitizer its allocator replaces them, and glibc's own main
 * arena, never set up, crashes malloc_trim */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define REQ_TRIM 1
#include <malloc.h>
#endif

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "req.h"
#include "routes.h"

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

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/*
 * RFC 3986 §2.1: decodes the %HH escapes of s in place. %00 (RFC 9110
 * §5.5 and the C strings every later step uses) and a '%' not followed by
 * two hex digits are left as they are; returns 1 when there was one,
 * else 0. Other bytes are kept: a Message-ID arrives as
 * "%3Cid%40example.com%3E" and is routed as "<id@example.com>".
 */
static int
unescape(char *s)
{
	const char *r = s;
	char *w = s;
	int bad = 0, hi, lo;

	while (*r != '\0') {
		if (*r == '%' && (hi = hexval(r[1])) >= 0 &&
		    (lo = hexval(r[2])) >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
			continue;
		}
		if (*r == '%')
			bad = 1;
		*w++ = *r++;
	}
	*w = '\0';
	return bad;
}

struct req *
req_new(struct api *api, struct httpd_conn *conn, const struct head *h,
        int *bad_target)
{
	struct req *rq;
	char *target, *q;

	*bad_target = 0;
	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	pthread_mutex_init(&rq->mu, NULL);
	rq->refs = 1;
	rq->api = api;
	rq->conn = conn;
	rq->h = h;
	rq->t0 = clock_mono_ms();
	submit_init(&rq->sub, api->submit, NULL, &rq->auth, 0);
	if ((rq->a = arena_new(0)) == NULL)
		goto fail;
	rq->sub.a = rq->a;
	if (h->method == NULL) {
		rq->method = rq->path = "?";
		return rq;
	}
	if ((rq->method = arena_strndup(rq->a, h->method, h->method_len)) ==
	        NULL ||
	    (target = arena_strndup(rq->a, h->target, h->target_len)) == NULL)
		goto fail;
	if ((q = strchr(target, '?')) != NULL)
		*q = '\0';
	if ((rq->path = arena_strdup(rq->a, origin_path(target))) == NULL)
		goto fail;
	*bad_target = unescape((char *)rq->path);
	return rq;
fail:
	req_unref(rq);
	return NULL;
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
	arena_free(rq->a);
	free(rq->body);
	if (rq->body_held > 0)
		atomic_fetch_sub(&bodies_inflight, (long long)rq->body_held);
	pthread_mutex_destroy(&rq->mu);
	free(rq);
#ifdef REQ_TRIM
	if (body > REQ_TRIM_BODY)
		malloc_trim(0);
#else
	(void)body;
#endif
}

struct httpd_resp *
req_json_response(int status, struct buf *b)
{
	struct httpd_resp *r;
	size_t len;
	char *p;

	if ((p = buf_steal(b, &len)) == NULL && (p = strdup("{}")) != NULL)
		len = 2;
	if (p == NULL || (r = httpd_resp_new(status)) == NULL) {
		free(p);
		return NULL;
	}
	httpd_resp_body(r, p, len);
	if (httpd_resp_header(r, "Content-Type", "application/json") == -1) {
		httpd_resp_free(r);
		return NULL;
	}
	return r;
}

int
req_queue(struct req *rq, struct httpd_resp *r)
{
	if (r != NULL) {
		rq->status = httpd_resp_status(r);
		if (rq->api->answering != NULL &&
		    rq->api->answering(rq, r) == -1) {
			httpd_resp_free(r);
			r = NULL;
		}
	}
	/* An error answer to a request that announced a body ends the
	 * connection: whatever of the body was not read is never taken for
	 * a request. */
	if (r != NULL && rq->status >= 400 && rq->has_body)
		httpd_resp_close(r);
	rq->answered = 1;
	httpd_respond(rq->conn, r);
	return 0;
}

int
req_json(struct req *rq, int status, struct buf *b)
{
	return req_queue(rq, req_json_response(status, b));
}

struct httpd_resp *
req_error_response(struct req *rq, const struct api_error *e)
{
	const struct api_err_row *row = envelope_row(e->kind);
	struct httpd_resp *r;
	struct buf b;
	char ra[16];
	int retry;

	buf_init(&b, 0);
	if (envelope_error(&b, e) == -1) {
		buf_clear(&b);
		return NULL;
	}
	if ((r = req_json_response(row->status, &b)) == NULL)
		return NULL;
	retry = envelope_retry_after(e->kind);
	if (retry > 0 && rq->retry_after > 0)
		retry =
		    rq->retry_after > INT_MAX ? INT_MAX : (int)rq->retry_after;
	if (retry > 0) {
		snprintf(ra, sizeof(ra), "%d", retry);
		if (httpd_resp_header(r, "Retry-After", ra) == -1) {
			httpd_resp_free(r);
			return NULL;
		}
	}
	rq->code = row->code;
	return r;
}

int
req_error(struct req *rq, const struct api_error *e)
{
	return req_queue(rq, req_error_response(rq, e));
}

int
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

int
req_header_count(struct req *rq, const char *name)
{
	return head_count(rq->h, name);
}

int
req_header(struct req *rq, const char *name, const char **out)
{
	const char *v;
	size_t n;

	*out = NULL;
	if ((v = head_field(rq->h, name, &n)) == NULL)
		return 0;
	if (head_count(rq->h, name) > 1)
		return HDR_REPEATED;
	/* head_parse took off the OWS (RFC 9110 §5.5) and refused a NUL */
	if ((*out = arena_strndup(rq->a, v, n)) == NULL)
		return HDR_NOMEM;
	return 0;
}

int
req_query(struct req *rq, const char *name, const char **out)
{
	const char *q, *p, *end, *amp, *eq;
	char *v;
	size_t n = strlen(name);
	int found = 0;

	*out = NULL;
	if (rq->h == NULL || rq->h->target == NULL ||
	    (q = memchr(rq->h->target, '?', rq->h->target_len)) == NULL)
		return 0;
	end = rq->h->target + rq->h->target_len;
	for (p = q + 1; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		if ((size_t)(eq - p) != n || memcmp(p, name, n) != 0)
			continue;
		if (found++) {
			*out = NULL;
			return QUERY_REPEATED;
		}
		eq += eq < amp; /* past the '=' */
		if ((size_t)(amp - eq) > REQ_QUERY_MAX)
			return QUERY_TOO_LONG;
		if ((v = arena_strndup(rq->a, eq, (size_t)(amp - eq))) == NULL)
			return QUERY_NOMEM;
		for (char *c = v; *c != '\0'; c++)
			if (*c == '+')
				*c = ' ';
		if (unescape(v))
			return QUERY_BAD;
		*out = v;
	}
	return 0;
}

int
req_query_fail(struct req *rq, const char *name, int rc)
{
	const char *why;

	switch (rc) {
	case QUERY_REPEATED:
		why = "is given more than once";
		break;
	case QUERY_TOO_LONG:
		return req_fail(
		    rq, AE_SCHEMA, NULL,
		    arena_printf(rq->a, "%s is too long (at most %d bytes)",
		                 name, REQ_QUERY_MAX));
	case QUERY_BAD:
		why = "has a bad %-escape (%00, or a '%' without two hex "
		      "digits)";
		break;
	default:
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_fail(rq, AE_SCHEMA, NULL,
	                arena_printf(rq->a, "%s %s", name, why));
}

int
req_number(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	/* 18 digits: below INT64_MAX whatever they are */
	if (s[0] == '\0' || s[0] == '0' || strlen(s) > 18)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int
req_per_page(struct req *rq, int *out)
{
	const char *v;
	int64_t n;
	int rc;

	*out = REQ_PER_PAGE;
	if ((rc = req_query(rq, "per_page", &v)) != 0) {
		req_query_fail(rq, "per_page", rc);
		return -1;
	}
	if (v == NULL)
		return 0;
	if (req_number(v, REQ_PER_PAGE_MAX, &n) == -1) {
		req_fail(rq, AE_SCHEMA, NULL,
		         "per_page must be a whole number from 1 to 1000 "
		         "(digits only, no leading 0)");
		return -1;
	}
	*out = (int)n;
	return 0;
}

int
req_cursor(struct req *rq, const char **out)
{
	int rc;

	if ((rc = req_query(rq, "cursor", out)) != 0) {
		req_query_fail(rq, "cursor", rc);
		return -1;
	}
	if (*out != NULL && **out == '\0')
		*out = NULL;
	return 0;
}

int
req_bad_cursor(struct req *rq)
{
	return req_fail(rq, AE_SCHEMA, NULL,
	                "cursor is not one this list gave (use "
	                "result_info.cursor of the page before)");
}
