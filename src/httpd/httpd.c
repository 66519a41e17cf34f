/*
 * httpd: the HTTP/1.1 server (see httpd.h). A connection moves through
 * four states: HEAD (reading a head), BODY (reading its body), WAIT (the
 * application holds the request; nothing is read) and WRITE (writing the
 * answer). Its buffer keeps the current head at its start while the
 * request lives, so that the head's fields stay valid; body bytes are
 * handed on as they arrive and never kept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../core/buf.h"
#include "../core/clock.h"
#include "../core/log.h"
#include "httpd.h"

#define READ_CHUNK (64 * 1024)   /* one read() of body bytes at most */
#define STREAM_BLOCK (64 * 1024) /* one block of a streamed body */
#define ACCEPT_BATCH 64          /* accepts per wake of a thread */
#define IP_BUCKETS 4096
#define IN_MIN 2048 /* a connection's first input buffer */
/* The socket buffer of a connection that is sent a streamed body: a
 * client that reads slowly, or not at all, then holds this much in the
 * kernel, not megabytes, and the stream is read no faster than it is
 * taken (the system doubles the value). */
#define STREAM_SNDBUF (128 * 1024)

enum conn_state { C_HEAD, C_BODY, C_WAIT, C_WRITE };

struct httpd_resp {
	int status;
	int close;
	struct buf hdrs; /* "Name: value\r\n"… */
	char *body;
	size_t body_len;
	uint64_t size; /* a stream's length */
	httpd_read_fn *read;
	httpd_free_fn *fr;
	void *cls;
};

/* The connections of one client address (an IPv6 one by its /64). */
struct ip_count {
	unsigned char key[16];
	unsigned n;
	struct ip_count *next;
};

struct worker {
	struct httpd *s;
	struct event_base *base;
	struct event *accept_ev;
	struct event *stop_ev;   /* activated by httpd_stop */
	struct event *resume_ev; /* accepting again after EMFILE */
	int64_t emfile_at;       /* last logged */
	pthread_t thread;
	struct httpd_conn *conns; /* every connection of this thread */
	time_t date_at;
	char date[40]; /* the Date field of date_at */
	int64_t refused_at;
	unsigned refused; /* past a cap since refused_at, not yet logged */
};

struct httpd {
	struct httpd_config cfg;
	struct worker *w;
	unsigned nw;
	atomic_uint nconns;
	atomic_int stopping; /* httpd_quiesce was called */
	pthread_mutex_t ip_mu;
	struct ip_count *ip[IP_BUCKETS]; /* guarded by ip_mu */
	char *busy;                      /* the whole 503 */
	size_t busy_len;
};

struct httpd_conn {
	struct worker *w;
	int fd;
	struct event *rev, *wev, *timer, *wake;
	enum conn_state state;
	unsigned char key[16];
	char peer[INET6_ADDRSTRLEN];
	char *in; /* [head][bytes not yet taken] */
	size_t in_len, in_cap;
	struct head h;
	void *ctx;      /* the request's, from ops->head; NULL between */
	int64_t left;   /* body bytes still to read */
	int64_t t0;     /* when the current head began (clock_mono_ms) */
	int keep_alive; /* the connection may carry another request */
	int in_call;    /* inside an httpd_ops call */
	int again;      /* c->in holds bytes not looked at yet */
	int sndbuf_set; /* SO_SNDBUF is STREAM_SNDBUF */
	int served;     /* requests answered */
	int is_head;    /* a HEAD request: no body is written */
	struct httpd_resp *resp; /* the answer being written */
	pthread_mutex_t mu;
	struct httpd_resp *pending; /* given from another thread (mu) */
	int kill, pending_kill;     /* answered NULL: close instead */
	struct buf out;             /* the answer's head, then stream blocks */
	size_t out_off;             /* bytes of out written */
	size_t body_off;            /* bytes of resp->body written */
	uint64_t pos;               /* bytes of a stream read */
	struct httpd_conn *prev, *next;
};

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* ---- responses ---- */

struct httpd_resp *
httpd_resp_new(int status)
{
	struct httpd_resp *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->status = status;
	buf_init(&r->hdrs, 64 * 1024);
	return r;
}

void
httpd_resp_free(struct httpd_resp *r)
{
	if (r == NULL)
		return;
	buf_clear(&r->hdrs);
	free(r->body);
	if (r->fr != NULL)
		r->fr(r->cls);
	free(r);
}

int
httpd_resp_header(struct httpd_resp *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	return buf_printf(&r->hdrs, "%s: %s\r\n", name, value);
}

void
httpd_resp_body(struct httpd_resp *r, char *p, size_t n)
{
	free(r->body);
	r->body = p;
	r->body_len = n;
}

void
httpd_resp_stream(struct httpd_resp *r, uint64_t size, httpd_read_fn *read,
                  httpd_free_fn *fr, void *cls)
{
	r->size = size;
	r->read = read;
	r->fr = fr;
	r->cls = cls;
}

void
httpd_resp_close(struct httpd_resp *r)
{
	r->close = 1;
}

int
httpd_resp_status(const struct httpd_resp *r)
{
	return r->status;
}

unsigned
httpd_threads(const struct httpd *s)
{
	return s->nw;
}

const char *
httpd_conn_peer(const struct httpd_conn *c)
{
	return c->peer;
}

/* ---- client addresses ---- */

void
httpd_addr_key(const struct sockaddr_storage *ss, unsigned char key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const void *)ss;

		memcpy(key, &in4->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* an IPv4 client of a dual-stack socket */
			memcpy(key, in6->sin6_addr.s6_addr + 12, 4);
			return;
		}
		key[15] = 6;
		memcpy(key, &in6->sin6_addr, 8);
	}
}

/* The key of ss and its text for the log. */
static void
ip_key(const struct sockaddr_storage *ss, unsigned char key[16], char *peer,
       size_t peerlen)
{
	httpd_addr_key(ss, key);
	snprintf(peer, peerlen, "?");
	if (ss->ss_family == AF_INET)
		inet_ntop(
		    AF_INET,
		    &((const struct sockaddr_in *)(const void *)ss)->sin_addr,
		    peer, (socklen_t)peerlen);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(
		    AF_INET6,
		    &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr,
		    peer, (socklen_t)peerlen);
}

static unsigned
ip_bucket(const unsigned char key[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % IP_BUCKETS;
}

/* Counts one more connection of key: 0, or -1 past the cap (or out of
 * memory), nothing counted. */
static int
ip_take(struct httpd *s, const unsigned char key[16])
{
	struct ip_count **pp, *e;
	int rc = 0;

	if (s->cfg.max_per_ip == 0)
		return 0;
	pthread_mutex_lock(&s->ip_mu);
	for (pp = &s->ip[ip_bucket(key)]; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			rc = -1;
		else {
			memcpy(e->key, key, 16);
			*pp = e;
		}
	}
	if (e != NULL && e->n >= s->cfg.max_per_ip)
		rc = -1;
	else if (e != NULL)
		e->n++;
	pthread_mutex_unlock(&s->ip_mu);
	return rc;
}

static void
ip_give(struct httpd *s, const unsigned char key[16])
{
	struct ip_count **pp, *e;

	if (s->cfg.max_per_ip == 0)
		return;
	pthread_mutex_lock(&s->ip_mu);
	for (pp = &s->ip[ip_bucket(key)]; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->key, key, 16) == 0) {
			if (--e->n == 0) {
				*pp = e->next;
				free(e);
			}
			break;
		}
	pthread_mutex_unlock(&s->ip_mu);
}

/* ---- connections ---- */

static int answer(struct httpd_conn *c);

static void conn_read(evutil_socket_t fd, short what, void *arg);
static void conn_write(evutil_socket_t fd, short what, void *arg);
static void conn_timer(evutil_socket_t fd, short what, void *arg);
static void conn_wake(evutil_socket_t fd, short what, void *arg);
static void conn_input(struct httpd_conn *c);
static void write_start(struct httpd_conn *c);

static void
timer_in(struct httpd_conn *c, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static void
conn_free(struct httpd_conn *c, int aborted)
{
	struct worker *w = c->w;

	if (c->ctx != NULL)
		w->s->cfg.ops->done(c->ctx, aborted);
	c->ctx = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	event_free(c->wake);
	close(c->fd);
	ip_give(w->s, c->key);
	atomic_fetch_sub(&w->s->nconns, 1);
	httpd_resp_free(c->resp);
	httpd_resp_free(c->pending);
	buf_clear(&c->out);
	free(c->in);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Ends a connection from its own thread. A request the application
 * holds (WAIT) is never cut: its answer will come. */
static void
conn_close(struct httpd_conn *c)
{
	if (c->state == C_WAIT)
		return;
	conn_free(c, 1);
}

/* Calls ops->head with c marked as in a call. */
static void *
call_head(struct httpd_conn *c, int rc)
{
	const struct httpd_config *cfg = &c->w->s->cfg;
	void *ctx;

	c->in_call = 1;
	ctx = cfg->ops->head(cfg->cls, c, &c->h, rc);
	c->in_call = 0;
	return ctx;
}

/* The next request may begin: its head has header_timeout. */
static void
conn_next(struct httpd_conn *c)
{
	size_t used = c->h.len;

	if (c->state == C_HEAD)
		used = 0;
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	memset(&c->h, 0, sizeof(c->h));
	c->state = C_HEAD;
	c->t0 = clock_mono_ms();
	c->resp = NULL;
	if (c->in_cap > READ_CHUNK && c->in_len <= IN_MIN) {
		char *p = realloc(c->in, IN_MIN); /* an upload's room */

		if (p != NULL) {
			c->in = p;
			c->in_cap = IN_MIN;
		}
	}
	timer_in(c, c->w->s->cfg.header_timeout_ms);
	event_add(c->rev, NULL);
	if (c->in_len > 0) {
		/* pipelined: the next request is read from the loop, not
		 * from here, so that a pipeline never deepens the stack */
		c->again = 1;
		event_active(c->rev, EV_READ, 1);
	}
}

/*
 * Acts on the application's answer, if it gave one: writes it, or closes
 * c (answered NULL). 1 when it did, 0 when c awaits its answer.
 */
static int
answer(struct httpd_conn *c)
{
	if (c->kill) {
		conn_free(c, 1);
		return 1;
	}
	if (c->resp == NULL)
		return 0;
	write_start(c);
	return 1;
}

/* Hands the body bytes in c->in after the head to the application. 0, or
 * -1 when c is gone. */
static int
body_take(struct httpd_conn *c)
{
	const struct httpd_config *cfg = &c->w->s->cfg;
	size_t avail = c->in_len - c->h.len, n;
	int rc;

	n = (int64_t)avail < c->left ? avail : (size_t)c->left;
	if (n == 0)
		return 0;
	c->in_call = 1;
	rc = cfg->ops->body(c->ctx, c->in + c->h.len, n);
	c->in_call = 0;
	memmove(c->in + c->h.len, c->in + c->h.len + n, avail - n);
	c->in_len -= n;
	c->left -= (int64_t)n;
	if (rc == -1) {
		/* answered before the body was whole: the rest is never
		 * read, so the connection cannot carry another request */
		c->keep_alive = 0;
		c->left = 0;
		c->state = C_WAIT;
		if (!answer(c))
			conn_free(c, 1); /* -1 with no answer */
		return -1;
	}
	return 0;
}

/* The body is whole: the application has the request. */
static void
body_end(struct httpd_conn *c)
{
	const struct httpd_config *cfg = &c->w->s->cfg;

	c->state = C_WAIT;
	c->in_call = 1;
	cfg->ops->end(c->ctx);
	c->in_call = 0;
	/* answered at once, the connection's events stay as they are (no
	 * system call); else it reads nothing and has no deadline */
	if (!answer(c)) {
		event_del(c->rev);
		evtimer_del(c->timer);
	}
}

/* A whole head is in c->in (rc: head_parse's). */
static void
head_in(struct httpd_conn *c, int rc)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	c->keep_alive = rc == HEAD_OK && c->h.keep_alive;
	c->is_head = c->h.method != NULL && c->h.method_len == 4 &&
	             memcmp(c->h.method, "HEAD", 4) == 0;
	if (rc == HEAD_ERROR && c->h.len == 0)
		c->h.len = c->in_len; /* the head's end is not known */
	if ((c->ctx = call_head(c, rc)) == NULL) {
		conn_close(c);
		return;
	}
	if (rc != HEAD_OK || c->resp != NULL || c->kill) {
		/* answered on its head: a body announced is never read */
		if (rc != HEAD_OK || c->h.content_length > 0 || c->h.te > 0)
			c->keep_alive = 0;
		c->state = C_WAIT;
		if (!answer(c))
			conn_free(c, 1); /* an error head left unanswered */
		return;
	}
	c->left = c->h.content_length > 0 ? c->h.content_length : 0;
	if (c->left > 0 && c->h.expect_continue &&
	    send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) !=
	        (ssize_t)(sizeof(cont) - 1)) {
		conn_close(c);
		return;
	}
	c->state = C_BODY;
	timer_in(c, c->t0 + c->w->s->cfg.request_timeout_ms - clock_mono_ms());
	if (body_take(c) == -1)
		return;
	if (c->left == 0)
		body_end(c);
}

/* Works on what c->in holds. */
static void
conn_input(struct httpd_conn *c)
{
	const struct httpd_config *cfg = &c->w->s->cfg;
	int rc;

	if (c->state == C_HEAD) {
		rc = head_parse(c->in, c->in_len, cfg->max_head, &c->h);
		if (rc == HEAD_PARTIAL)
			return;
		c->state = C_BODY; /* for now: the head is taken */
		head_in(c, rc);
		return;
	}
	if (c->state == C_BODY) {
		if (body_take(c) == -1)
			return;
		if (c->left == 0)
			body_end(c);
	}
}

static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	const struct httpd_config *cfg = &c->w->s->cfg;
	size_t limit, cap;
	ssize_t n;
	char *p;

	(void)what;
	if (c->again) {
		/* bytes of the next request were already in */
		c->again = 0;
		conn_input(c);
		return;
	}
	/* a head may take max_head bytes (one more tells head_parse it is
	 * over); a body is read a chunk at a time */
	limit = c->state == C_HEAD ? cfg->max_head + 1 : c->h.len + READ_CHUNK;
	if (c->in_len >= c->in_cap && c->in_cap < limit) {
		cap = c->in_cap < IN_MIN ? IN_MIN : c->in_cap * 2;
		if (cap > limit)
			cap = limit;
		if ((p = realloc(c->in, cap)) == NULL) {
			log_warnx("http peer=%s: out of memory; closing",
			          c->peer);
			conn_close(c);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	if (c->in_len >= c->in_cap) {
		conn_close(c); /* cannot happen: head_parse saw max_head */
		return;
	}
	n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	conn_input(c);
}

static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	const struct httpd_config *cfg = &c->w->s->cfg;

	(void)fd;
	(void)what;
	if (c->state == C_HEAD && c->served == 0)
		log_info("http peer=%s header_timeout=%llds: closing the "
		         "connection",
		         c->peer, (long long)(cfg->header_timeout_ms / 1000));
	else if (c->state == C_HEAD)
		log_debug("http peer=%s header_timeout=%llds: closing the "
		          "connection after %d requests",
		          c->peer, (long long)(cfg->header_timeout_ms / 1000),
		          c->served);
	else if (c->state == C_BODY)
		log_info("http peer=%s request_timeout=%llds: closing the "
		         "connection",
		         c->peer, (long long)(cfg->request_timeout_ms / 1000));
	else if (c->state == C_WRITE)
		log_info("http peer=%s: the client read nothing for %llds; "
		         "closing the connection",
		         c->peer, (long long)(cfg->write_timeout_ms / 1000));
	conn_close(c);
}

/* The Date field (RFC 9110 §6.6.1) of this second. */
static const char *
date_now(struct worker *w)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != w->date_at) {
		gmtime_r(&now, &tm);
		strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT",
		         &tm);
		w->date_at = now;
	}
	return w->date;
}

/* Fills out with the next block of a stream: 0, or -1. */
static int
stream_fill(struct httpd_conn *c)
{
	struct httpd_resp *r = c->resp;
	size_t want = STREAM_BLOCK, got = 0;

	if (r->size - c->pos < want)
		want = (size_t)(r->size - c->pos);
	buf_reset(&c->out);
	c->out_off = 0;
	if (want == 0)
		return 0;
	if (buf_reserve(&c->out, want) == -1 ||
	    r->read(r->cls, c->pos, c->out.p, want, &got) == -1 || got == 0 ||
	    got > want)
		return -1;
	c->out.len = got;
	c->pos += got;
	return 0;
}

/* The request is answered whole. */
static void
write_done(struct httpd_conn *c)
{
	const struct httpd_config *cfg = &c->w->s->cfg;
	void *ctx = c->ctx;

	event_del(c->wev);
	c->ctx = NULL;
	c->served++;
	httpd_resp_free(c->resp);
	c->resp = NULL;
	cfg->ops->done(ctx, 0);
	if (!c->keep_alive) {
		/* RFC 9112 §9.6: a close after the answer; the client's
		 * unread bytes would turn it into a reset */
		shutdown(c->fd, SHUT_WR);
		conn_free(c, 0);
		return;
	}
	conn_next(c);
}

/* Writes what it can; goes on when the socket takes more. */
static void
conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd_resp *r = c->resp;
	struct iovec iov[2];
	int niov;
	ssize_t n;

	(void)what;
	for (;;) {
		niov = 0;
		if (c->out_off < c->out.len)
			iov[niov++] = (struct iovec){c->out.p + c->out_off,
			                             c->out.len - c->out_off};
		if (!c->is_head && r->body != NULL && c->body_off < r->body_len)
			iov[niov++] = (struct iovec){r->body + c->body_off,
			                             r->body_len - c->body_off};
		if (niov == 0) {
			if (c->is_head || r->read == NULL ||
			    c->pos == r->size) {
				write_done(c);
				return;
			}
			if (stream_fill(c) == -1) {
				log_warnx("http peer=%s: the body could not "
				          "be read; closing the connection "
				          "short of its length",
				          c->peer);
				conn_free(c, 1);
				return;
			}
			continue;
		}
		n = sendmsg(fd,
		            &(struct msghdr){.msg_iov = iov,
		                             .msg_iovlen = (size_t)niov},
		            MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_free(c, 1);
			return;
		}
		if ((size_t)n <= c->out.len - c->out_off) {
			c->out_off += (size_t)n;
		} else {
			n -= (ssize_t)(c->out.len - c->out_off);
			c->out_off = c->out.len;
			c->body_off += (size_t)n;
		}
	}
	/* the socket is full: wait for room, reading nothing meanwhile */
	event_del(c->rev);
	event_add(c->wev, NULL);
	timer_in(c, c->w->s->cfg.write_timeout_ms);
}

/* c->resp is the answer: its head goes out, then its body. */
static void
write_start(struct httpd_conn *c)
{
	struct httpd_resp *r = c->resp;
	uint64_t len = r->read != NULL ? r->size : r->body_len;
	int rc;

	c->state = C_WRITE;
	if (r->read != NULL && !c->is_head && r->size > STREAM_BLOCK &&
	    !c->sndbuf_set) {
		int sz = STREAM_SNDBUF;

		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		c->sndbuf_set = 1;
	}
	if (r->close || atomic_load(&c->w->s->stopping))
		c->keep_alive = 0;
	buf_reset(&c->out);
	c->out_off = c->body_off = 0;
	c->pos = 0;
	rc = buf_printf(&c->out,
	                "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: "
	                "%llu\r\n%.*s%s\r\n",
	                r->status, reason(r->status), date_now(c->w),
	                (unsigned long long)len, (int)r->hdrs.len,
	                r->hdrs.p != NULL ? r->hdrs.p : "",
	                !c->keep_alive    ? "Connection: close\r\n"
	                : c->h.minor == 0 ? "Connection: keep-alive\r\n"
	                                  : "");
	if (rc == -1) {
		conn_free(c, 1);
		return;
	}
	conn_write(c->fd, EV_WRITE, c);
}

/* An answer given from another thread. */
static void
conn_wake(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd_resp *r;
	int kill;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	r = c->pending;
	c->pending = NULL;
	kill = c->pending_kill;
	pthread_mutex_unlock(&c->mu);
	if (c->state != C_WAIT) {
		httpd_resp_free(r); /* answered twice: the first wins */
		return;
	}
	if (kill) {
		httpd_resp_free(r);
		conn_free(c, 1);
		return;
	}
	c->resp = r;
	write_start(c);
}

void
httpd_respond(struct httpd_conn *c, struct httpd_resp *r)
{
	if (pthread_equal(pthread_self(), c->w->thread)) {
		if (c->resp != NULL || c->kill) {
			httpd_resp_free(r); /* answered twice: the first wins */
			return;
		}
		c->resp = r;
		c->kill = r == NULL;
		if (!c->in_call && c->state == C_WAIT)
			(void)answer(c);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->pending != NULL || c->pending_kill) {
		pthread_mutex_unlock(&c->mu);
		httpd_resp_free(r);
		return;
	}
	c->pending = r;
	c->pending_kill = r == NULL;
	pthread_mutex_unlock(&c->mu);
	event_active(c->wake, EV_READ, 1);
}

/* ---- accepting ---- */

/* Past a cap: a 503 written as far as the socket takes it, and closed. */
static void
refuse(struct worker *w, int fd, const char *peer, const char *why)
{
	struct httpd *s = w->s;
	int64_t now = clock_mono_ms();

	(void)!send(fd, s->busy, s->busy_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	close(fd);
	w->refused++;
	if (now - w->refused_at >= 10000) {
		log_warnx("http peer=%s: %s; %u connections refused in the "
		          "last %llds",
		          peer, why, w->refused,
		          (long long)(w->refused_at == 0
		                          ? 0
		                          : (now - w->refused_at) / 1000));
		w->refused = 0;
		w->refused_at = now;
	}
}

static void
conn_new(struct worker *w, int fd, const struct sockaddr_storage *ss)
{
	struct httpd *s = w->s;
	struct httpd_conn *c;
	unsigned char key[16];
	char peer[INET6_ADDRSTRLEN];
	char why[96];

	ip_key(ss, key, peer, sizeof(peer));
	if (atomic_fetch_add(&s->nconns, 1) >= s->cfg.max_conns) {
		atomic_fetch_sub(&s->nconns, 1);
		snprintf(why, sizeof(why), "max_connections=%u reached",
		         s->cfg.max_conns);
		refuse(w, fd, peer, why);
		return;
	}
	if (ip_take(s, key) == -1) {
		atomic_fetch_sub(&s->nconns, 1);
		snprintf(why, sizeof(why), "max_connections_per_ip=%u reached",
		         s->cfg.max_per_ip);
		refuse(w, fd, peer, why);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->w = w;
	c->fd = fd;
	memcpy(c->key, key, sizeof(key));
	memcpy(c->peer, peer, sizeof(peer));
	pthread_mutex_init(&c->mu, NULL);
	buf_init(&c->out, 0);
	c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_read, c);
	c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, conn_write, c);
	c->timer = evtimer_new(w->base, conn_timer, c);
	c->wake = event_new(w->base, -1, 0, conn_wake, c);
	if (c->rev == NULL || c->wev == NULL || c->timer == NULL ||
	    c->wake == NULL) {
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->wev != NULL)
			event_free(c->wev);
		if (c->timer != NULL)
			event_free(c->timer);
		if (c->wake != NULL)
			event_free(c->wake);
		pthread_mutex_destroy(&c->mu);
		free(c);
		goto fail;
	}
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	c->state = C_HEAD;
	c->t0 = clock_mono_ms();
	timer_in(c, s->cfg.header_timeout_ms);
	event_add(c->rev, NULL);
	return;
fail:
	log_warnx("http peer=%s: out of memory for a new connection; closing "
	          "it",
	          peer);
	ip_give(s, key);
	atomic_fetch_sub(&s->nconns, 1);
	close(fd);
}

/* Out of descriptors: the connection stays in the backlog, so the
 * listener would wake this thread again at once. It pauses for 100 ms. */
static void
accept_pause(struct worker *w)
{
	struct timeval tv = {0, 100 * 1000};
	int64_t now = clock_mono_ms();

	if (now - w->emfile_at >= 10000) {
		log_warnx("http: accept: %s (the descriptor limit is reached); "
		          "new connections wait",
		          strerror(errno));
		w->emfile_at = now;
	}
	event_del(w->accept_ev);
	evtimer_add(w->resume_ev, &tv);
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (!atomic_load(&w->s->stopping))
		event_add(w->accept_ev, NULL);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct worker *w = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, i;

	(void)what;
	if (atomic_load(&w->s->stopping)) {
		event_del(w->accept_ev);
		return;
	}
	for (i = 0; i < ACCEPT_BATCH; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(w);
			return;
		}
		conn_new(w, fd, &ss);
	}
}

/* On the worker's own loop: a loopbreak asked from another thread before
 * the loop began would be lost, an active event is not. */
static void
worker_stop(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(w->base);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* on this thread: what a response holds (a store reader on the
	 * thread's store connection) goes before the thread's own */
	while (w->conns != NULL)
		conn_free(w->conns, 1);
	return NULL;
}

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void
evthread_setup(void)
{
	evthread_rc = evthread_use_pthreads();
}

/* The 503 refused clients get, head and body. */
static int
busy_make(struct httpd *s)
{
	const char *body = s->cfg.busy_body != NULL ? s->cfg.busy_body : "";
	struct buf b;

	buf_init(&b, 0);
	if (buf_printf(&b,
	               "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
	               "application/json\r\nRetry-After: 1\r\nConnection: "
	               "close\r\nContent-Length: %zu\r\n\r\n%s",
	               strlen(body), body) == -1) {
		buf_clear(&b);
		return -1;
	}
	s->busy = buf_steal(&b, &s->busy_len);
	return s->busy != NULL ? 0 : -1;
}

static void
workers_free(struct httpd *s)
{
	for (unsigned i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];

		while (w->conns != NULL)
			conn_free(w->conns, 1);
		if (w->accept_ev != NULL)
			event_free(w->accept_ev);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->resume_ev != NULL)
			event_free(w->resume_ev);
		if (w->base != NULL)
			event_base_free(w->base);
	}
	free(s->w);
	for (unsigned i = 0; i < IP_BUCKETS; i++)
		while (s->ip[i] != NULL) {
			struct ip_count *e = s->ip[i];

			s->ip[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&s->ip_mu);
	free(s->busy);
	if (s->cfg.fd != -1)
		close(s->cfg.fd);
	free(s);
}

struct httpd *
httpd_start(const struct httpd_config *cfg, char *err, size_t errlen)
{
	struct httpd *s;
	unsigned i, started = 0;
	long n = cfg->threads;

	pthread_once(&evthread_once, evthread_setup);
	if (evthread_rc != 0) {
		snprintf(err, errlen, "http: evthread_use_pthreads failed");
		close(cfg->fd);
		return NULL;
	}
	if (n <= 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->w = calloc((size_t)n, sizeof(*s->w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(s);
		close(cfg->fd);
		return NULL;
	}
	s->cfg = *cfg;
	s->nw = (unsigned)n;
	pthread_mutex_init(&s->ip_mu, NULL);
	if (evutil_make_socket_nonblocking(cfg->fd) == -1 ||
	    busy_make(s) == -1) {
		snprintf(err, errlen, "http: cannot set up the listener");
		goto fail;
	}
	for (i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];

		w->s = s;
		if ((w->base = event_base_new()) == NULL ||
		    (w->accept_ev =
		         event_new(w->base, cfg->fd, EV_READ | EV_PERSIST,
		                   on_accept, w)) == NULL ||
		    event_add(w->accept_ev, NULL) == -1 ||
		    (w->stop_ev = event_new(w->base, -1, 0, worker_stop, w)) ==
		        NULL ||
		    (w->resume_ev = evtimer_new(w->base, accept_resume, w)) ==
		        NULL) {
			snprintf(err, errlen,
			         "http: cannot make an event base");
			goto fail;
		}
	}
	for (i = 0; i < s->nw; i++) {
		if (pthread_create(&s->w[i].thread, NULL, worker_main,
		                   &s->w[i]) != 0) {
			snprintf(err, errlen, "http: cannot start a thread");
			goto fail;
		}
		started++;
	}
	return s;
fail:
	for (i = 0; i < started; i++) {
		event_active(s->w[i].stop_ev, EV_READ, 1);
		pthread_join(s->w[i].thread, NULL);
	}
	workers_free(s);
	return NULL;
}

void
httpd_quiesce(struct httpd *s)
{
	if (s == NULL || s->cfg.fd == -1)
		return;
	atomic_store(&s->stopping, 1);
	for (unsigned i = 0; i < s->nw; i++) {
		event_del(s->w[i].resume_ev);
		event_del(s->w[i].accept_ev);
	}
	close(s->cfg.fd);
	s->cfg.fd = -1;
}

void
httpd_stop(struct httpd *s)
{
	if (s == NULL)
		return;
	httpd_quiesce(s);
	for (unsigned i = 0; i < s->nw; i++)
		event_active(s->w[i].stop_ev, EV_READ, 1);
	for (unsigned i = 0; i < s->nw; i++)
		pthread_join(s->w[i].thread, NULL);
	workers_free(s);
}
