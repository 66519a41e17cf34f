/*
 * http: the REST front on the HTTP server of src/httpd (DESIGN §4). The
 * server's threads (one per core) parse, authenticate, validate, build
 * and sign; a send then waits, its connection idle, until the queue has
 * made the message durable, and the queue callback answers it.
 *
 * The checks run in the order of SPEC §2.2: route → auth → Content-Length
 * and size (before the body is read) → the handler (schema, content,
 * sender domain, build, queue). Ahead of them all, a head that could be
 * framed two ways is refused and its connection closed (head_parse,
 * req_framing), and a request-target with %00 or a broken escape is
 * refused (req_new, req_framing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../mail/limits.h"
#include "api.h"
#include "idem.h"
#include "req.h"
#include "routes.h"

#define MAX_CONNECTIONS 60000
#define MAX_HEAD (32 * 1024)   /* a request head, fields and all */
#define WRITE_TIMEOUT_MS 30000 /* an answer the client does not read */
#define STOP_WAIT_MS 30000     /* beyond send_wait_ms, for sends in flight */

static void
store_key_free(void *p)
{
	store_close(p);
}

/*
 * Authenticates rq (SPEC §2.3) from its Authorization, X-Auth-Email and
 * X-Auth-Key headers, each read by req_header(): one given twice is a
 * 401. 0, or -1 with e filled.
 */
static int
req_auth(struct req *rq, struct api_error *e)
{
	static const char *const names[] = {"Authorization", "X-Auth-Email",
	                                    "X-Auth-Key"};
	/* by -enum tenant_status */
	static const enum api_err auth_errs[] = {
	    AE_NONE,      AE_UNAUTHORIZED, AE_BAD_TOKEN_TYPE,
	    AE_FORBIDDEN, AE_NOT_ENTITLED, AE_UPSTREAM,
	};
	const char *v[sizeof(names) / sizeof(names[0])], *why;
	struct tenant_cred cred;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		*e = (struct api_error){AE_UNAUTHORIZED, NULL, NULL};
		if ((rc = req_header(rq, names[i], &v[i])) == 0)
			continue;
		if (rc == HDR_REPEATED)
			e->detail = arena_printf(
			    rq->a, "the %s header was given more than once",
			    names[i]);
		else
			e->kind = AE_INTERNAL;
		return -1;
	}
	cred = (struct tenant_cred){v[0], v[1], v[2]};
	rc = tenant_auth(rq->api->tenant, &cred, req_param(rq, "account"),
	                 rq->route->perm, rq->route->flags & ROUTE_SENDING,
	                 &rq->auth, &why);
	if (rc == TENANT_OK)
		return 0;
	*e = (struct api_error){auth_errs[-rc], NULL, why};
	return -1;
}

/* access_log (etc/pigeon.conf): 1 when the line of a request that ended
 * with status (0: no answer was sent), aborted or not, is logged. */
static int
access_logged(const struct config *cfg, int status, int aborted)
{
	if (strcmp(cfg->access_log, "off") == 0)
		return 0;
	if (strcmp(cfg->access_log, "errors") == 0)
		return aborted || status == 0 || status >= 400;
	return 1;
}

/* 1 when rq's route takes a body (a send route). */
static int
send_route(struct req *rq)
{
	const struct route *route = NULL;
	struct route_params params;
	char allow[64];

	return router_match(rq->api->routes, rq->a, rq->method, rq->path,
	                    &route, &params, allow,
	                    sizeof(allow)) == ROUTE_FOUND &&
	       (route->flags & ROUTE_BODY);
}

/*
 * The first look at a request, before its route and its body. A head
 * that could be framed two ways (by us and by a proxy in front) is
 * answered and its connection closed, so that no byte after it is read
 * as a request: what head_parse refused (rc: a field name that is not a
 * token, a folded line, a bare CR or LF, a bad or second Content-Length,
 * with its status: 400, 414, 431 or 505), a Transfer-Encoding (RFC 9112
 * §6.1: pigeon reads no chunked body; a send route answers one alone
 * 10201 after auth, in req_begin) and, for HTTP/1.1, anything but
 * one Host (§3.2). Framing errors on a send route answer 10201, others
 * 10001. A request-target with %00 or a broken escape is 400/10001. 1
 * when answered, else 0.
 */
static int
req_framing(struct req *rq, int rc, int bad_target)
{
	const struct head *h = rq->h;
	struct api_error e = {AE_SCHEMA, NULL, NULL};
	struct httpd_resp *r = NULL;
	struct buf b;
	int framing = 0, status = 400;

	if (rc == HEAD_ERROR) {
		e.detail = h->why;
		framing = h->framing;
		status = h->status;
	} else if (h->te > 0 && (h->content_length >= 0 || !send_route(rq))) {
		/* on a send route, a Transfer-Encoding alone is answered
		 * after auth (SPEC §2.2), in req_begin */
		framing = 1;
		e.detail = h->content_length >= 0
		               ? "the request has both Transfer-Encoding and "
		                 "Content-Length"
		               : "Transfer-Encoding is not accepted: send a "
		                 "Content-Length";
	} else if (h->nhost != 1 && h->minor == 1)
		e.detail = h->nhost == 0
		               ? "an HTTP/1.1 request needs a Host header"
		               : "the request has more than one Host header";
	else if (bad_target)
		e.detail = "the request-target holds %00 or a '%' that is not "
		           "followed by two hex digits";
	else
		return 0;
	if (framing && h->method != NULL && send_route(rq))
		e.kind = AE_NO_LENGTH;
	/* the table's envelope, with the head's status (414, 431, 505
	 * have no row of their own) */
	buf_init(&b, 0);
	if (envelope_error(&b, &e) == 0 &&
	    (r = req_json_response(status, &b)) != NULL)
		httpd_resp_close(r);
	buf_clear(&b);
	rq->code = envelope_row(e.kind)->code;
	req_queue(rq, r);
	return 1;
}

/*
 * Past max_inflight_body: 503/10002 with Retry-After, before the body is
 * read, and the connection closed (its body is never read).
 */
static int
req_busy(struct req *rq)
{
	struct api_error e = {AE_UNAVAILABLE, NULL,
	                      "the server holds too many request bodies "
	                      "right now; try again"};
	struct httpd_resp *r;

	if ((r = req_error_response(rq, &e)) != NULL)
		httpd_resp_close(r);
	return req_queue(rq, r);
}

/*
 * What is judged on the head: route, auth and the Content-Length rules,
 * all before a byte of the body is read. Sets rq->answered when it
 * answered; otherwise the body (if any) is read next.
 */
static void
req_begin(struct req *rq)
{
	struct api_error e;
	char allow[64];
	struct httpd_resp *r;
	int64_t n = rq->h->content_length;
	int rc;

	rc = router_match(rq->api->routes, rq->a, rq->method, rq->path,
	                  &rq->route, &rq->params, allow, sizeof(allow));
	if (rc == ROUTE_NONE) {
		req_fail(rq, AE_NOT_FOUND, NULL, "no such route");
		return;
	}
	if (rc == ROUTE_PLANNED) {
		req_fail(rq, AE_NOT_FOUND, NULL,
		         "this route is not built in pigeon " PIGEON_VERSION
		         " yet (README: What works today)");
		return;
	}
	if (rc == ROUTE_METHOD) {
		e = (struct api_error){AE_NOT_IMPLEMENTED, NULL, NULL};
		e.detail =
		    arena_printf(rq->a, "%s is not supported here", rq->method);
		if ((r = req_error_response(rq, &e)) != NULL &&
		    httpd_resp_header(r, "Allow", allow) == -1) {
			httpd_resp_free(r);
			r = NULL;
		}
		req_queue(rq, r);
		return;
	}
	if (!(rq->route->flags & ROUTE_NOAUTH) && req_auth(rq, &e) == -1) {
		req_error(rq, &e);
		return;
	}
	if (!(rq->route->flags & ROUTE_BODY)) {
		rq->ignore_body = 1; /* a body where none is expected */
		return;
	}
	/* SPEC §2.2: no Content-Length (chunked) → 10201; too big →
	 * 10200, without reading the body. Both headers at once never get
	 * here (req_framing). */
	if (n < 0 || rq->h->te > 0) {
		req_fail(rq, AE_NO_LENGTH, NULL,
		         "the request needs a Content-Length and no "
		         "Transfer-Encoding");
		return;
	}
	if (n > rq->api->cfg->max_body) {
		req_fail(rq, AE_TOO_BIG, NULL,
		         arena_printf(rq->a,
		                      "the body is over %" PRId64 " bytes",
		                      rq->api->cfg->max_body));
		return;
	}
	/* The body's memory is counted when announced, so a refusal comes
	 * before any of it is read; the buffer grows as bytes arrive. */
	if (n > 0 && req_body_reserve(rq, (size_t)n,
	                              rq->api->cfg->max_inflight_body) == -1) {
		req_busy(rq);
		return;
	}
	rq->body_want = (size_t)n;
}

/* httpd_ops.head: a request's head is in. */
static void *
on_head(void *cls, struct httpd_conn *c, const struct head *h, int rc)
{
	struct api *api = cls;
	struct req *rq;
	int bad_target;

	if ((rq = req_new(api, c, h, &bad_target)) == NULL)
		return NULL;
	rq->has_body = h->content_length > 0 || h->te > 0;
	if (req_framing(rq, rc, bad_target))
		return rq;
	req_begin(rq);
	return rq;
}

/* httpd_ops.body */
static int
on_body(void *ctx, const char *p, size_t n)
{
	struct req *rq = ctx;
	int rc;

	if (rq->ignore_body)
		return 0;
	rc = req_body_append(rq, p, n);
	if (rc == 0)
		return 0;
	if (rc == BODY_TOO_BIG)
		req_fail(rq, AE_TOO_BIG, NULL, NULL);
	else
		req_fail(rq, AE_INTERNAL, NULL, NULL);
	return -1;
}

/* httpd_ops.end: the body is whole; the route's handler answers, now or
 * (a send) once the queue has the message. */
static void
on_end(void *ctx)
{
	struct req *rq = ctx;
	int waiting;

	if (rq->body != NULL)
		rq->body[rq->body_len] = '\0';
	(void)rq->route->fn(rq);
	pthread_mutex_lock(&rq->mu);
	waiting = rq->inflight;
	pthread_mutex_unlock(&rq->mu);
	/* Answered at once (not waiting for the queue): the answer is
	 * decided. A handler that could not answer (out of memory) has the
	 * connection closed. */
	if (rq->answered)
		req_done(rq);
	else if (!waiting)
		req_queue(rq, NULL);
}

/* httpd_ops.done: the answer is written (or the client left): log it
 * (access_log) and let go. */
static void
on_done(void *ctx, int aborted)
{
	struct req *rq = ctx;
	char path[LOG_VALUE_LEN(256)], method[LOG_VALUE_LEN(16)];

	/* status=0: the connection ended before a response was sent. The
	 * method and the path (percent-decoded: it may hold a space) are
	 * the client's. */
	if (access_logged(rq->api->cfg, rq->status, aborted))
		log_info("http method=%s path=%s status=%d code=%d ms=%lld%s",
		         log_value(rq->method, method, sizeof(method)),
		         log_value(rq->path, path, sizeof(path)), rq->status,
		         rq->code, (long long)(clock_mono_ms() - rq->t0),
		         aborted ? " aborted=1" : "");
	pthread_mutex_lock(&rq->mu);
	/* A send is in flight until its answer is written (or the client
	 * left): api_stop waits for that, so a committed send is not cut
	 * off by the server stopping. */
	if (rq->inflight) {
		rq->inflight = 0;
		atomic_fetch_sub(&rq->api->inflight, 1);
	}
	pthread_mutex_unlock(&rq->mu);
	req_unref(rq);
}

static const struct httpd_ops api_ops = {on_head, on_body, on_end, on_done};

/*
 * Connections the daemon takes: as many as the descriptor limit allows
 * (raised to its hard maximum), less room for the store and the engine.
 * One address cannot take them all: per_ip_limit.
 */
static unsigned
conn_limit(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	n = rl.rlim_cur == RLIM_INFINITY ? MAX_CONNECTIONS : rl.rlim_cur;
	n = n > 256 ? n - 128 : n / 2;
	return n > MAX_CONNECTIONS ? MAX_CONNECTIONS : (unsigned)n;
}

/*
 * The connections one client address may hold (max_connections_per_ip),
 * enforced by the server at accept: past it a new connection is answered
 * 503 and closed at once (an IPv6 client counts by its /64).
 * The cap is what keeps the daemon's limit from being taken by one peer,
 * so it is kept to a quarter of that limit (a small descriptor limit
 * would otherwise let the default cap fill it). 0: no cap, and said so.
 */
static unsigned
per_ip_limit(const struct config *cfg, unsigned limit)
{
	unsigned cap = (unsigned)cfg->max_connections_per_ip;
	unsigned most = limit / 4 > 0 ? limit / 4 : 1;

	if (cap == 0) {
		log_warnx("http max_connections_per_ip=0: one client address "
		          "can hold all %u connections",
		          limit);
		return 0;
	}
	if (cap > most) {
		log_warnx("http max_connections_per_ip=%u is over a quarter of "
		          "the %u connections the descriptor limit allows; "
		          "using %u",
		          cap, limit, most);
		return most;
	}
	return cap;
}

static int
listen_addr(const struct config *cfg, struct sockaddr_storage *ss,
            unsigned *flags)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *h = cfg->http_listen ? cfg->http_listen : "127.0.0.1";

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)cfg->http_port);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)cfg->http_port);
		return 0;
	}
	return -1;
}

int
api_listen(const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = 0;
	int fd, on = 1, saved;

	if (listen_addr(cfg, &ss, &flags) == -1) {
		snprintf(err, errlen, "http_listen: '%s' is not an address",
		         cfg->http_listen);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss,
	         ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                  : sizeof(struct sockaddr_in)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		snprintf(err, errlen, "cannot listen on %s:%d: %s%s",
		         cfg->http_listen, cfg->http_port, strerror(saved),
		         saved == EADDRINUSE
		             ? " (another pigeon, or another program, has it; "
		               "set http_port in a config file: pigeon serve "
		               "--dev -c FILE, or make run ARGS='-c FILE')"
		             : "");
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* What every answer gets before the client can see it: the RateLimit-*
 * fields of a send's, and its count for /metrics. */
static int
answering(struct req *rq, struct httpd_resp *r)
{
	if (req_ratelimit(rq, r) == -1)
		return -1;
	api_metrics_count(rq);
	return 0;
}

/* A front with nothing started: its route table, the 503 body and the
 * per-thread store key. NULL with err. */
static struct api *
api_new(const struct config *cfg, const struct route_table *routes, char *err,
        size_t errlen)
{
	struct api_error busy = {AE_UNAVAILABLE, NULL,
	                         "too many connections; try again"};
	struct api *api;
	struct buf b;

	if ((api = calloc(1, sizeof(*api))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	api->cfg = cfg;
	api->routes = routes;
	api->answering = answering;
	if (pthread_key_create(&api->store_key, store_key_free) != 0) {
		snprintf(err, errlen, "pthread_key_create failed");
		free(api);
		return NULL;
	}
	buf_init(&b, 0);
	if ((api->idem = idem_new()) == NULL ||
	    envelope_error(&b, &busy) == -1 ||
	    (api->busy = buf_steal(&b, NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		buf_clear(&b);
		idem_free(api->idem);
		free(api->busy);
		pthread_key_delete(api->store_key);
		free(api);
		return NULL;
	}
	return api;
}

static void
api_free(struct api *api)
{
	idem_free(api->idem);
	free(api->busy);
	pthread_key_delete(api->store_key);
	free(api);
}

/* The connections of the metrics_listen server: scrapers are few. */
#define METRICS_CONNECTIONS 64

/*
 * The metrics_listen server: GET /metrics alone (metrics_routes), one
 * thread, with the API's timeouts. submit and tenant are borrowed for
 * what every request's life touches (req_new, req_unref), never used
 * here. NULL with err.
 */
static struct api *
metrics_start(const struct config *cfg, struct submit *submit,
              struct tenant *tenant, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct httpd_config hc;
	struct api *api;
	unsigned len;
	int fd, on = 1, saved;

	if (config_listen_addr(cfg->metrics_listen, &ss, &len) == -1) {
		snprintf(err, errlen,
		         "metrics_listen: '%s' is not address:port",
		         cfg->metrics_listen);
		return NULL;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		snprintf(err, errlen, "metrics_listen: cannot listen on %s: %s",
		         cfg->metrics_listen, strerror(saved));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if ((api = api_new(cfg, &metrics_routes, err, errlen)) == NULL) {
		close(fd);
		return NULL;
	}
	api->submit = submit;
	api->tenant = tenant;
	hc = (struct httpd_config){
	    .fd = fd,
	    .threads = 1,
	    .max_conns = METRICS_CONNECTIONS,
	    .max_per_ip = 0,
	    .header_timeout_ms = cfg->header_timeout * 1000,
	    .request_timeout_ms = cfg->request_timeout * 1000,
	    .write_timeout_ms = WRITE_TIMEOUT_MS,
	    .max_head = MAX_HEAD,
	    .busy_body = api->busy,
	    .ops = &api_ops,
	    .cls = api,
	};
	if ((api->httpd = httpd_start(&hc, err, errlen)) == NULL) {
		api_free(api);
		return NULL;
	}
	log_info("http metrics listen=%s", cfg->metrics_listen);
	return api;
}

struct api *
api_start(const struct config *cfg, struct queue *q, struct submit *submit,
          struct tenant *tenant, int listen_fd, char *err, size_t errlen)
{
	struct httpd_config hc;
	struct api *api;
	unsigned limit, per_ip;

	if ((api = api_new(cfg, &api_routes, err, errlen)) == NULL) {
		if (listen_fd != -1)
			close(listen_fd);
		return NULL;
	}
	api->q = q;
	api->submit = submit;
	api->tenant = tenant;
	if (api_metrics_register() == -1) {
		snprintf(err, errlen, "metrics: too many families registered");
		if (listen_fd != -1)
			close(listen_fd);
		goto fail;
	}
	if (cfg->metrics_listen[0] != '\0') {
		api->metrics = metrics_start(cfg, submit, tenant, err, errlen);
		if (api->metrics == NULL) {
			if (listen_fd != -1)
				close(listen_fd);
			goto fail;
		}
	}
	if (listen_fd == -1 && (listen_fd = api_listen(cfg, err, errlen)) == -1)
		goto fail;
	limit = conn_limit();
	per_ip = per_ip_limit(cfg, limit);
	hc = (struct httpd_config){
	    .fd = listen_fd,
	    .threads = cfg->http_threads > 0 ? (unsigned)cfg->http_threads : 0,
	    .max_conns = limit,
	    .max_per_ip = per_ip,
	    .header_timeout_ms = cfg->header_timeout * 1000,
	    .request_timeout_ms = cfg->request_timeout * 1000,
	    .write_timeout_ms = WRITE_TIMEOUT_MS,
	    .max_head = MAX_HEAD,
	    .busy_body = api->busy,
	    .ops = &api_ops,
	    .cls = api,
	};
	if ((api->httpd = httpd_start(&hc, err, errlen)) == NULL)
		goto fail;
	log_info("http listen=%s:%d threads=%u max_connections=%u "
	         "max_connections_per_ip=%u header_timeout=%llds",
	         cfg->http_listen, cfg->http_port, httpd_threads(api->httpd),
	         limit, per_ip, (long long)cfg->header_timeout);
	return api;
fail:
	api_stop(api->metrics);
	api_free(api);
	return NULL;
}

int
api_stop(struct api *api)
{
	int waited;

	if (api == NULL)
		return 0;
	atomic_store(&api->stopping, 1);
	/* New clients are refused at once instead of waiting out the
	 * drain. */
	httpd_quiesce(api->httpd);
	/* sends waiting for a first attempt are answered now: they are
	 * committed, and the attempt is retried after a restart */
	if (atomic_load(&api->inflight) > 0)
		log_info("draining: %d sends in flight",
		         atomic_load(&api->inflight));
	if (api->q != NULL) /* NULL: the metrics_listen server */
		queue_release(api->q);
	for (waited = 0; atomic_load(&api->inflight) > 0 &&
	                 waited < api->cfg->send_wait_ms + STOP_WAIT_MS;
	     waited += 10)
		usleep(10 * 1000);
	if (atomic_load(&api->inflight) > 0) {
		log_warnx("http: %d sends still in flight at stop; leaving the "
		          "server running",
		          atomic_load(&api->inflight));
		return -1;
	}
	httpd_stop(api->httpd);
	api_stop(api->metrics);
	api_free(api);
	return 0;
}
