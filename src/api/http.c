/*
 * http: the libmicrohttpd glue (DESIGN §4). A pool of MHD threads (one
 * per core, epoll when available) parses, authenticates, validates,
 * builds and signs; a send then suspends its connection until the queue
 * has made the message durable, and the queue callback resumes it.
 *
 * The checks run in the order of SPEC §2.2: route → auth → Content-Length
 * and size (before the body is read) → the handler (schema, content,
 * sender domain, build, queue). Ahead of them all, a request that could
 * be framed two ways is refused and its connection closed (req_framing),
 * and a request-target with %00 or a broken escape is refused
 * (unescape, req_target).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../mail/limits.h"
#include "api.h"
#include "idem.h"
#include "req.h"
#include "routes.h"

#define CONNECTION_TIMEOUT 30 /* seconds of silence before MHD closes */
#define MAX_CONNECTIONS 60000
#define STOP_WAIT_MS 30000 /* beyond send_wait_ms, for sends in flight */

static void
store_key_free(void *p)
{
	store_close(p);
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
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
		else if (rc == HDR_NUL)
			e->detail = arena_printf(
			    rq->a, "the %s header holds a NUL byte", names[i]);
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

/* The marker the unescape callback leaves among a request's values when
 * its request-target holds %00 or a broken escape. */
#define BAD_ESCAPE "pigeon-bad-escape"

/*
 * RFC 3986 §2.1: decodes the %HH escapes of s in place (the path, and each
 * query argument's name and value). %00 (RFC 9110 §5.5 and the C strings
 * every later step uses) and a '%' not followed by two hex digits are
 * left as they are and marked on the connection; req_target refuses the
 * request. Other bytes are kept: a Message-ID arrives as
 * "%3Cid%40example.com%3E" and is routed as "<id@example.com>". MHD calls
 * this while it reads the request line, on the connection's thread.
 * Returns the new length.
 */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

static size_t
unescape(void *cls, struct MHD_Connection *c, char *s)
{
	const char *r = s;
	char *w = s;
	int bad = 0, hi, lo;

	(void)cls;
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
	if (bad)
		MHD_set_connection_value(c, MHD_FOOTER_KIND, BAD_ESCAPE, "1");
	return (size_t)(w - s);
}

/* RFC 9110 §5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* What one walk over a request's header fields found. */
struct frame_scan {
	int ncl, nte, nhost;
	const char *bad; /* the first field refused, why; or NULL */
};

/* 1 when name starts with what but is longer. */
static int
glued_to(const char *name, const char *what)
{
	size_t n = strlen(what);

	return strncasecmp(name, what, n) == 0 && name[n] != '\0';
}

static enum MHD_Result
frame_scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
               const char *value)
{
	struct frame_scan *fs = cls;
	const char *k;

	(void)kind;
	(void)value;
	if (fs->bad != NULL)
		return MHD_YES;
	/* RFC 9110 §5.1: a field name is a token. libmicrohttpd 0.9.75
	 * keeps white space before the colon ("Content-Length : 5") in
	 * the name, and glues an obs-fold continuation line to the name
	 * of the line before it ("X-A: a" CRLF " Content-Length: 5" is
	 * named "X-AContent-Length: 5"): neither framed the body. */
	for (k = key; *k != '\0' && is_tchar((unsigned char)*k); k++)
		;
	if (key[0] == '\0' || *k != '\0') {
		fs->bad = "a header field name is not a token (white space "
		          "before the colon, or a folded line)";
		return MHD_YES;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		fs->ncl++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		fs->nte++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		fs->nhost++;
	else if (glued_to(key, MHD_HTTP_HEADER_CONTENT_LENGTH) ||
	         glued_to(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		/* "Content-Length:" CRLF " 5" arrives named
		 * "Content-Length5": a proxy would read a length. */
		fs->bad = "a Content-Length or Transfer-Encoding field is "
		          "folded over two lines";
	return MHD_YES;
}

/*
 * The first look at a request, before its route and its body. A request
 * that could be framed two ways (by us and by a proxy in front) is
 * answered 400 and its connection closed, so that no byte after its
 * header section is read as a request: a field name that is not a token
 * or a folded framing field, more than one Content-Length (RFC 9112
 * §6.3), a Transfer-Encoding (§6.1: pigeon reads no chunked body; a send
 * route answers it 10201 after auth, in req_begin) and, for HTTP/1.1,
 * anything but one Host (§3.2). Send routes answer 10201, others 10001.
 * 1 when answered (the MHD result in *ret), else 0.
 */
static int
req_framing(struct req *rq, const char *version, enum MHD_Result *ret)
{
	struct frame_scan fs = {0, 0, 0, NULL};
	struct api_error e = {AE_SCHEMA, NULL, NULL};
	const struct route *route = NULL;
	struct route_params params;
	struct MHD_Response *r;
	char allow[64];
	int send, status;

	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, frame_scan_one,
	                          &fs);
	send = router_match(&api_routes, rq->a, rq->method, rq->path, &route,
	                    &params, allow, sizeof(allow)) == ROUTE_FOUND &&
	       (route->flags & ROUTE_BODY);
	if (fs.bad != NULL)
		e = (struct api_error){send ? AE_NO_LENGTH : AE_SCHEMA, NULL,
		                       fs.bad};
	else if (fs.ncl > 1)
		e.detail =
		    "the request has more than one Content-Length header";
	else if (fs.nte > 0 && (fs.ncl > 0 || !send))
		e = (struct api_error){
		    send ? AE_NO_LENGTH : AE_SCHEMA, NULL,
		    fs.ncl > 0 ? "the request has both Transfer-Encoding and "
		                 "Content-Length"
		               : "Transfer-Encoding is not accepted: send a "
		                 "Content-Length"};
	else if (fs.nhost != 1 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		e.detail = fs.nhost == 0
		               ? "an HTTP/1.1 request needs a Host header"
		               : "the request has more than one Host header";
	else
		return 0;
	*ret = MHD_NO;
	if ((r = req_error_response(rq, &e, &status)) == NULL)
		return 1;
	if (req_close_after(r) == -1) {
		MHD_destroy_response(r);
		return 1;
	}
	*ret = req_queue(rq, status, r);
	return 1;
}

/* RFC 3986 §2.1: a request-target with %00 or a broken escape (marked by
 * unescape()) is answered 400. 1 when answered, else 0. */
static int
req_target(struct req *rq, enum MHD_Result *ret)
{
	if (MHD_lookup_connection_value(rq->conn, MHD_FOOTER_KIND,
	                                BAD_ESCAPE) == NULL)
		return 0;
	*ret = req_fail(rq, AE_SCHEMA, NULL,
	                "the request-target holds %00 or a '%' that is not "
	                "followed by two hex digits");
	return 1;
}

/*
 * Past max_inflight_body: 503/10002 with Retry-After, before the body is
 * read, and the connection closed (its body is never read).
 */
static enum MHD_Result
req_busy(struct req *rq)
{
	struct api_error e = {AE_UNAVAILABLE, NULL,
	                      "the server holds too many request bodies "
	                      "right now; try again"};
	struct MHD_Response *r;
	int status;

	if ((r = req_error_response(rq, &e, &status)) == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") !=
	    MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return req_queue(rq, status, r);
}

/*
 * The first call for a request: route, auth and the Content-Length rules,
 * all before a byte of the body is read. Returns the MHD result; sets
 * rq->answered when it queued a response.
 */
static enum MHD_Result
req_begin(struct req *rq)
{
	struct api_error e;
	char allow[64];
	const char *cl;
	char *end;
	unsigned long long n;
	struct MHD_Response *r;
	int rc, status;

	rc = router_match(&api_routes, rq->a, rq->method, rq->path, &rq->route,
	                  &rq->params, allow, sizeof(allow));
	if (rc == ROUTE_NONE)
		return req_fail(rq, AE_NOT_FOUND, NULL, "no such route");
	if (rc == ROUTE_PLANNED)
		return req_fail(
		    rq, AE_NOT_FOUND, NULL,
		    "this route is not built in pigeon " PIGEON_VERSION
		    " yet (README: What works today)");
	if (rc == ROUTE_METHOD) {
		e = (struct api_error){AE_NOT_IMPLEMENTED, NULL, NULL};
		e.detail =
		    arena_printf(rq->a, "%s is not supported here", rq->method);
		if ((r = req_error_response(rq, &e, &status)) == NULL)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
		return req_queue(rq, status, r);
	}
	if (!(rq->route->flags & ROUTE_NOAUTH) && req_auth(rq, &e) == -1)
		return req_error(rq, &e);
	if (!(rq->route->flags & ROUTE_BODY))
		return MHD_YES;
	/* SPEC §2.2: no Content-Length (chunked) → 10201; too big → 10200,
	 * without reading the body. Both headers at once never get here
	 * (req_framing). */
	if ((cl = header(rq->conn, MHD_HTTP_HEADER_CONTENT_LENGTH)) == NULL ||
	    header(rq->conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return req_fail(rq, AE_NO_LENGTH, NULL,
		                "the request needs a Content-Length and no "
		                "Transfer-Encoding");
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (cl[0] < '0' || cl[0] > '9' || *end != '\0' || errno != 0)
		return req_fail(rq, AE_NO_LENGTH, NULL,
		                "the Content-Length is not valid");
	if (n > (unsigned long long)rq->api->cfg->max_body)
		return req_fail(
		    rq, AE_TOO_BIG, NULL,
		    arena_printf(rq->a, "the body is over %" PRId64 " bytes",
		                 rq->api->cfg->max_body));
	/* The body's memory is counted when announced, so a refusal comes
	 * before any of it is read; the buffer grows as bytes arrive. */
	if (n > 0 && req_body_reserve(rq, (size_t)n,
	                              rq->api->cfg->max_inflight_body) == -1)
		return req_busy(rq);
	rq->body_want = (size_t)n;
	return MHD_YES;
}

/*
 * request_timeout: a request has this long from its first call to have
 * arrived whole, however steadily its bytes trickle in. While its body
 * arrives MHD's idle timeout is cut to what is left, so a client that
 * stops sending is closed at the deadline too. 1 when rq is past it.
 */
static int
req_late(struct req *rq)
{
	int64_t left =
	    rq->t0 + rq->api->cfg->request_timeout * 1000 - clock_mono_ms();
	unsigned secs;

	if (left <= 0) {
		log_info("http request_timeout=%llds: closing the connection",
		         (long long)rq->api->cfg->request_timeout);
		return 1;
	}
	secs = left >= CONNECTION_TIMEOUT * 1000
	           ? CONNECTION_TIMEOUT
	           : (unsigned)((left + 999) / 1000);
	if (secs != CONNECTION_TIMEOUT || rq->timeout != 0) {
		if (secs != rq->timeout)
			MHD_set_connection_option(
			    rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, secs);
		rq->timeout = secs;
	}
	return 0;
}

/*
 * header_timeout: a connection has this long for its request's header
 * section, however steadily its bytes trickle in. MHD's idle timeout
 * restarts with every byte and MHD calls on_request only once every
 * header is in, so the deadline is kept here: each connection has a
 * conn_watch (its MHD socket_context, made by on_conn at
 * MHD_CONNECTION_NOTIFY_STARTED and freed at CLOSED) that sits in
 * api->watch_head..tail while a header section is awaited. on_request
 * takes it off the list when its request begins; on_completed puts it
 * back at the tail when the answer is written, so a kept-alive
 * connection has header_timeout for its next request too. The list is
 * thus in the order of t0, and the sweeper only looks at its head.
 */
struct conn_watch {
	MHD_socket fd; /* MHD's: only ever shut down here, never closed */
	int64_t t0;    /* clock_mono_ms() when the header section began */
	int linked;    /* on the list (guarded by api->watch_mu) */
	int served;    /* requests answered on it (guarded likewise) */
	char peer[INET6_ADDRSTRLEN];
	struct conn_watch *prev, *next;
};

/* Callers hold api->watch_mu. */
static void
watch_unlink(struct api *api, struct conn_watch *w)
{
	if (!w->linked)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		api->watch_head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		api->watch_tail = w->prev;
	w->prev = w->next = NULL;
	w->linked = 0;
}

/* Callers hold api->watch_mu. (Re)starts w's deadline from now. */
static void
watch_link(struct api *api, struct conn_watch *w)
{
	watch_unlink(api, w);
	w->t0 = clock_mono_ms();
	w->prev = api->watch_tail;
	w->next = NULL;
	if (api->watch_tail != NULL)
		api->watch_tail->next = w;
	else
		api->watch_head = w;
	api->watch_tail = w;
	w->linked = 1;
}

/* The conn_watch of conn, or NULL (out of memory at its start). */
static struct conn_watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* A request of conn has begun (on_request): its headers are in. */
static void
watch_begin(struct api *api, struct MHD_Connection *conn)
{
	struct conn_watch *w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&api->watch_mu);
	watch_unlink(api, w);
	pthread_mutex_unlock(&api->watch_mu);
}

/* conn's answer is written (on_completed): the next header section may
 * begin, and has header_timeout from now. */
static void
watch_again(struct api *api, struct MHD_Connection *conn)
{
	struct conn_watch *w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&api->watch_mu);
	w->served++;
	watch_link(api, w);
	pthread_mutex_unlock(&api->watch_mu);
}

/*
 * MHD_OPTION_NOTIFY_CONNECTION, on the connection's thread. STARTED: a
 * conn_watch on the list (a connection that cannot have one is shut
 * down: it could not be held to the deadline). CLOSED: off the list and
 * freed, before MHD closes the descriptor, so the sweeper (which shuts
 * down only what is on the list, under the same mutex) never touches a
 * descriptor that is closed or reused.
 */
static void
on_conn(void *cls, struct MHD_Connection *conn, void **ctx,
        enum MHD_ConnectionNotificationCode what)
{
	struct api *api = cls;
	struct conn_watch *w = *ctx;
	const union MHD_ConnectionInfo *ci;

	if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (w == NULL)
			return;
		pthread_mutex_lock(&api->watch_mu);
		watch_unlink(api, w);
		pthread_mutex_unlock(&api->watch_mu);
		free(w);
		*ctx = NULL;
		return;
	}
	if (what != MHD_CONNECTION_NOTIFY_STARTED ||
	    (ci = MHD_get_connection_info(
	         conn, MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warnx("http: out of memory for a new connection; "
		          "closing it");
		shutdown(ci->connect_fd, SHUT_RDWR);
		return;
	}
	w->fd = ci->connect_fd;
	snprintf(w->peer, sizeof(w->peer), "?");
	if ((ci = MHD_get_connection_info(
	         conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) != NULL &&
	    ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(
			    AF_INET,
			    &((const struct sockaddr_in *)(const void *)sa)
			         ->sin_addr,
			    w->peer, sizeof(w->peer));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(
			    AF_INET6,
			    &((const struct sockaddr_in6 *)(const void *)sa)
			         ->sin6_addr,
			    w->peer, sizeof(w->peer));
	}
	*ctx = w;
	pthread_mutex_lock(&api->watch_mu);
	watch_link(api, w);
	pthread_mutex_unlock(&api->watch_mu);
}

/*
 * The sweeper thread: at each connection's deadline (checked at least
 * once a second), shuts down the connections still waiting for their
 * header section. shutdown(), not close(): the descriptor stays MHD's,
 * which then reads the end of the stream and closes the connection
 * itself (on_conn CLOSED frees the watch).
 */
static void *
sweeper_main(void *arg)
{
	struct api *api = arg;
	int64_t limit = api->cfg->header_timeout * 1000, now, wait;
	struct conn_watch *w;
	struct timespec ts;

	pthread_mutex_lock(&api->watch_mu);
	while (!api->watch_stop) {
		now = clock_mono_ms();
		while ((w = api->watch_head) != NULL && w->t0 + limit <= now) {
			watch_unlink(api, w);
			/* logged first, so the line is there when the peer
			 * sees the close; an idle kept-alive connection is
			 * no news */
			if (w->served == 0)
				log_info("http peer=%s header_timeout=%llds: "
				         "closing the connection",
				         w->peer,
				         (long long)api->cfg->header_timeout);
			else
				log_debug("http peer=%s header_timeout=%llds: "
				          "closing the connection after %d "
				          "requests",
				          w->peer,
				          (long long)api->cfg->header_timeout,
				          w->served);
			shutdown(w->fd, SHUT_RDWR);
		}
		wait = w != NULL && w->t0 + limit - now < 1000
		           ? w->t0 + limit - now
		           : 1000;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&api->watch_cv, &api->watch_mu, &ts);
	}
	pthread_mutex_unlock(&api->watch_mu);
	return NULL;
}

/* The watch list and its sweeper: 0, or -1 with err. */
static int
watch_start(struct api *api, char *err, size_t errlen)
{
	pthread_condattr_t ca;

	if (pthread_condattr_init(&ca) != 0) {
		snprintf(err, errlen, "pthread_condattr_init failed");
		return -1;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&api->watch_mu, NULL);
	pthread_cond_init(&api->watch_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&api->sweeper, NULL, sweeper_main, api) != 0) {
		snprintf(err, errlen, "cannot start the header_timeout thread");
		pthread_cond_destroy(&api->watch_cv);
		pthread_mutex_destroy(&api->watch_mu);
		return -1;
	}
	api->sweeper_on = 1;
	return 0;
}

/* Stops the sweeper; the daemon is stopped (every watch freed). */
static void
watch_stop(struct api *api)
{
	if (!api->sweeper_on)
		return;
	pthread_mutex_lock(&api->watch_mu);
	api->watch_stop = 1;
	pthread_cond_signal(&api->watch_cv);
	pthread_mutex_unlock(&api->watch_mu);
	pthread_join(api->sweeper, NULL);
	pthread_cond_destroy(&api->watch_cv);
	pthread_mutex_destroy(&api->watch_mu);
	api->sweeper_on = 0;
}

/* 1 when the request announces a body (Content-Length > 0 or any
 * Transfer-Encoding). */
static int
has_body(struct MHD_Connection *c)
{
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return 1;
	return cl != NULL && strspn(cl, "0") != strlen(cl);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	struct api *api = cls;
	struct req *rq = *con_cls;
	enum MHD_Result ret;
	int rc;

	if (rq == NULL) {
		watch_begin(api, conn); /* its header section is in */
		if ((rq = req_new(api, conn, method, url)) == NULL)
			return MHD_NO;
		*con_cls = rq;
		rq->has_body = has_body(conn);
		if (req_framing(rq, version, &ret) || req_target(rq, &ret)) {
			rq->begun = 1; /* answered: no req_begin */
			return ret;
		}
		/* A request with a body is judged before the body is read
		 * (an early answer closes the connection); one without is
		 * judged on the next call, so that its error keeps the
		 * connection alive. */
		if (!has_body(conn))
			return MHD_YES;
		rq->begun = 1;
		return req_begin(rq);
	}
	if (!rq->begun) {
		rq->begun = 1;
		if ((ret = req_begin(rq)) == MHD_NO || rq->answered)
			return ret;
	}
	if (rq->answered) {
		/* An early answer: drop whatever body still arrives. */
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->resumed) {
		/* Resumed by the queue callback: MHD has taken the
		 * connection off its suspended list. */
		rq->resumed = 0;
		req_done(rq);
		if (rq->resp == NULL)
			return MHD_NO;
		if (rq->resp_status >= 400 && rq->has_body)
			req_close_after(rq->resp);
		rq->status = rq->resp_status;
		rq->answered = 1;
		ret = MHD_queue_response(conn, (unsigned)rq->resp_status,
		                         rq->resp);
		MHD_destroy_response(rq->resp);
		rq->resp = NULL;
		return ret;
	}
	if (*upload_size > 0 && !(rq->route->flags & ROUTE_BODY)) {
		*upload_size = 0; /* a body where none is expected: ignored */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (req_late(rq))
			return MHD_NO;
		rc = req_body_append(rq, upload, *upload_size);
		if (rc == BODY_TOO_BIG)
			return req_fail(rq, AE_TOO_BIG, NULL, NULL);
		if (rc != 0)
			return req_fail(rq, AE_INTERNAL, NULL, NULL);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->timeout != 0) /* the whole body is in: the usual timeout */
		MHD_set_connection_option(rq->conn,
		                          MHD_CONNECTION_OPTION_TIMEOUT,
		                          (unsigned)CONNECTION_TIMEOUT);
	if (rq->body != NULL)
		rq->body[rq->body_len] = '\0';
	ret = (enum MHD_Result)rq->route->fn(rq);
	/* Answered at once (not suspended): the answer is decided. */
	if (rq->answered)
		req_done(rq);
	return ret;
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

/* MHD is done with the connection's request: log it (access_log) and
 * let go. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct api *api = cls;
	struct req *rq = *con_cls;
	char path[LOG_VALUE_LEN(256)], method[LOG_VALUE_LEN(16)];

	/* kept alive: the next header section has header_timeout */
	watch_again(api, conn);
	if (rq == NULL)
		return;
	*con_cls = NULL;
	/* status=0: the connection ended before a response was sent. The
	 * method and the path (percent-decoded: it may hold a space) are
	 * the client's. */
	if (access_logged(rq->api->cfg, rq->status,
	                  toe != MHD_REQUEST_TERMINATED_COMPLETED_OK))
		log_info("http method=%s path=%s status=%d code=%d ms=%lld%s",
		         log_value(rq->method, method, sizeof(method)),
		         log_value(rq->path, path, sizeof(path)), rq->status,
		         rq->code, (long long)(clock_mono_ms() - rq->t0),
		         toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
		             ? ""
		             : " aborted=1");
	pthread_mutex_lock(&rq->mu);
	rq->closed = 1;
	rq->resumed = 0;
	/* A send is in flight until its answer is written (or the client
	 * left): api_stop waits for that, so a committed send is not cut
	 * off by the daemon stopping. */
	if (rq->inflight) {
		rq->inflight = 0;
		atomic_fetch_sub(&rq->api->inflight, 1);
	}
	pthread_mutex_unlock(&rq->mu);
	req_unref(rq);
}

/*
 * Connections the daemon takes: as many as the descriptor limit allows
 * (raised to its hard maximum), less room for the store and the engine.
 * MHD's own default (FD_SETSIZE - 4) would let ~1000 idle sockets lock
 * everyone else out; with epoll there is no such bound. One address
 * cannot take them all: per_ip_limit.
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
 * enforced by MHD at accept: past it a new connection is closed at once.
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
		*flags |= MHD_USE_IPv6;
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

struct api *
api_start(const struct config *cfg, struct queue *q, struct submit *submit,
          struct tenant *tenant, int listen_fd, char *err, size_t errlen)
{
	struct MHD_OptionItem where[2] = {{MHD_OPTION_END, 0, NULL},
	                                  {MHD_OPTION_END, 0, NULL}};
	struct sockaddr_storage ss;
	struct api *api;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG;
	long threads = cfg->http_threads;
	unsigned limit, per_ip;

	if ((api = calloc(1, sizeof(*api))) == NULL) {
		snprintf(err, errlen, "out of memory");
		if (listen_fd != -1)
			close(listen_fd);
		return NULL;
	}
	api->cfg = cfg;
	api->q = q;
	api->submit = submit;
	api->tenant = tenant;
	if (pthread_key_create(&api->store_key, store_key_free) != 0) {
		snprintf(err, errlen, "pthread_key_create failed");
		free(api);
		if (listen_fd != -1)
			close(listen_fd);
		return NULL;
	}
	if ((api->idem = idem_new()) == NULL ||
	    listen_addr(cfg, &ss, &flags) == -1) {
		if (api->idem == NULL)
			snprintf(err, errlen, "out of memory");
		else
			snprintf(err, errlen,
			         "http_listen: '%s' is not an address",
			         cfg->http_listen);
		if (listen_fd != -1)
			close(listen_fd); /* MHD never saw it */
		goto fail;
	}
	if (threads <= 0 && (threads = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		threads = 1;
	limit = conn_limit();
	per_ip = per_ip_limit(cfg, limit);
	if (watch_start(api, err, errlen) == -1) {
		if (listen_fd != -1)
			close(listen_fd);
		goto fail;
	}
	/* where to listen: the socket given, or the address */
	if (listen_fd != -1)
		where[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET,
		                                   listen_fd, NULL};
	else
		where[0] =
		    (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	api->mhd = MHD_start_daemon(
	    flags, (uint16_t)cfg->http_port, NULL, NULL, on_request, api,
	    MHD_OPTION_ARRAY, where, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
	    MHD_OPTION_NOTIFY_CONNECTION, on_conn, api,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	if (api->mhd == NULL) {
		/* MHD logged why; a socket given to it is its to close */
		snprintf(err, errlen, "http: cannot listen on %s:%d",
		         cfg->http_listen, cfg->http_port);
		goto fail;
	}
	log_info("http listen=%s:%d threads=%ld max_connections=%u "
	         "max_connections_per_ip=%u header_timeout=%llds",
	         cfg->http_listen, cfg->http_port, threads, limit, per_ip,
	         (long long)cfg->header_timeout);
	return api;
fail:
	watch_stop(api);
	idem_free(api->idem);
	pthread_key_delete(api->store_key);
	free(api);
	return NULL;
}

int
api_stop(struct api *api)
{
	int waited;

	if (api == NULL)
		return 0;
	if (api->mhd != NULL) {
		/* MHD aborts when stopped with a suspended connection: stop
		 * accepting, then let the queue answer the sends in flight. */
		MHD_socket fd;

		atomic_store(&api->stopping, 1);
		/* The listening socket is ours to close: new clients are
		 * refused at once instead of waiting out the drain. */
		if ((fd = MHD_quiesce_daemon(api->mhd)) != MHD_INVALID_SOCKET)
			close(fd);
		/* sends waiting for a first attempt are answered now: they
		 * are committed, and the attempt is retried after a restart */
		if (atomic_load(&api->inflight) > 0)
			log_info("draining: %d sends in flight",
			         atomic_load(&api->inflight));
		queue_release(api->q);
		for (waited = 0; atomic_load(&api->inflight) > 0 &&
		                 waited < api->cfg->send_wait_ms + STOP_WAIT_MS;
		     waited += 10)
			usleep(10 * 1000);
		if (atomic_load(&api->inflight) > 0) {
			log_warnx("http: %d sends still in flight at stop; "
			          "leaving the daemon running",
			          atomic_load(&api->inflight));
			return -1;
		}
		MHD_stop_daemon(api->mhd);
	}
	watch_stop(api);
	pthread_key_delete(api->store_key);
	idem_free(api->idem);
	free(api);
	return 0;
}
