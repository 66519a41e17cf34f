/*
 * client: an SMTP client session as a state machine on one bufferevent
 * (a plain socket one, then an OpenSSL one after STARTTLS or for
 * implicit TLS, on the same descriptor, which c owns). Replies are read
 * by reply.c; each state has a row saying what a reply means there. One
 * timer per connection runs the current stage's timeout.
 *
 * A transaction is a list of commands — [RSET] MAIL RCPT… DATA — sent
 * all at once under PIPELINING (RFC 2920) or one per reply without it,
 * and answered in order. The message goes out in pieces as the peer
 * takes them (never more than FEED_HIGH bytes queued), dot-stuffed on
 * the way. When the server offers CHUNKING (RFC 3030) and PIPELINING,
 * DATA is "BDAT <size> LAST" and the message follows it at once, as
 * stored: the whole transaction is one write, and its replies come in
 * one read.
 *
 * c is never freed under its own callbacks: every libevent entry point
 * counts itself in c->busy, and a smtp_close() meanwhile only marks c,
 * which the outermost frame then closes (leave()).
 *
 * In plaintext, once connected, c does its own socket I/O around the
 * bufferevent (which keeps the buffers and the connect): each system
 * call costs much on a virtual machine, and the bufferevent's ways
 * cost two epoll_ctl per write (its write event added for every burst
 * of output, deleted when it is out) and an ioctl(FIONREAD) per read.
 * So the output queued by a callback, or by smtp_send, goes in one
 * write when the outermost frame leaves (flush()), and the write event
 * is only enabled for what the socket did not take; the input comes
 * from one read of a fixed size per readiness of c's own read event,
 * on for the whole session. TLS stays the bufferevent's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "../core/base64.h"
#include "../core/buf.h"
#include "client.h"

#define FEED_HIGH (64 * 1024) /* message bytes queued at most */
#define FEED_LOW (16 * 1024)  /* queue more below this */
#define READ_CHUNK 4096       /* bytes asked of one read in plaintext */

enum state {
	ST_CONNECTING,
	ST_HANDSHAKE, /* TLS: implicit, or after STARTTLS's 220 */
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_AUTH,
	ST_READY,   /* between transactions */
	ST_TXN,     /* commands out, replies due */
	ST_BODY,    /* the message going out */
	ST_DOT,     /* the reply to the dot due */
	ST_QUIT,    /* closed by the caller; the 221 due */
	ST_STOPPED, /* in step, but the session failed: only QUIT is left */
	ST_DEAD,    /* no connection */
};

#define OPENING(st) ((st) <= ST_AUTH)

struct txn {
	smtp_send_fn *cb; /* set while the transaction is the caller's */
	void *arg;
	const char *from; /* borrowed, as rcpts and msg */
	const char *const *rcpts;
	size_t n;
	const char *msg;
	size_t len;
	size_t off;     /* bytes of msg queued */
	int bol;        /* msg[off] starts a line */
	int end_queued; /* CRLF.CRLF queued; BDAT: the last byte */
	int rset, body8, utf8;
	int bdat;                      /* BDAT n LAST instead of DATA */
	size_t nitems, sent, answered; /* [RSET] MAIL RCPT×n DATA|BDAT */
	int mail_ok, mail_refused, lone_dot;
	size_t accepted;
	unsigned char *acc;      /* n: RCPT took it */
	struct smtp_reply *rcpt; /* n answers */
	struct smtp_reply mail_reply, data_reply;
	struct smtp_error synth; /* a refusal made without sending */
};

struct smtp_conn {
	struct event_base *base;
	struct smtp_opts o; /* its strings are c's copies */
	struct sockaddr_storage addr;
	socklen_t alen;
	int fd;
	SSL *ssl;
	struct bufferevent *bev;
	struct event *rd; /* direct: the descriptor's read event */
	int direct;       /* plaintext and connected: c reads and writes */
	int wpending;     /* direct: the bufferevent's write event is on for
	                   * what a write left */
	struct event *timer, *soon;
	void (*soon_fn)(struct smtp_conn *);
	enum state st;
	enum smtp_stage stage;
	unsigned gen;    /* bumped when bev goes */
	int busy;        /* c's callback frames on the stack */
	int closing;     /* smtp_close() asked */
	int dropping;    /* smtp_drop(): no QUIT */
	int tls_up;      /* TLS carries the session */
	int no_starttls; /* this session goes on in plaintext */
	int auth_step;
	int connect_errno;
	size_t scanned; /* input bytes known to hold no reply's end */
	struct smtp_ehlo ehlo_next;
	smtp_open_fn *open_cb;
	void *open_arg;
	smtp_idle_fn *idle_cb;
	void *idle_arg;
	struct txn t;
	struct smtp_info info;
	char peer[320];
	char tls_error[SMTP_REPLY_TEXT];
};

/* The stages, as rows: the name logs use and the default timeout. */
static const struct stage_row {
	const char *name;
	int64_t default_ms;
} stage_rows[SMTP_NSTAGES] = {
    [SMTP_CONNECT] = {"connect", 300000},
    [SMTP_GREETING] = {"greeting", 300000},
    [SMTP_EHLO] = {"ehlo", 300000},
    [SMTP_STARTTLS] = {"starttls", 300000},
    [SMTP_AUTH] = {"auth", 300000},
    [SMTP_RSET] = {"rset", 300000},
    [SMTP_MAIL] = {"mail", 300000},
    [SMTP_RCPT] = {"rcpt", 300000},
    [SMTP_DATA] = {"data", 120000},
    [SMTP_DOT] = {"dot", 600000},
    [SMTP_QUIT] = {"quit", 2000},
};

static const char *const err_names[] = {
    [SMTP_ERR_NONE] = "none",       [SMTP_ERR_REPLY] = "reply",
    [SMTP_ERR_CONNECT] = "connect", [SMTP_ERR_TIMEOUT] = "timeout",
    [SMTP_ERR_CLOSED] = "closed",   [SMTP_ERR_TLS] = "tls",
    [SMTP_ERR_AUTH] = "auth",       [SMTP_ERR_PROTO] = "protocol",
    [SMTP_ERR_NOMEM] = "nomem",
};

const char *
smtp_stage_name(enum smtp_stage s)
{
	return (unsigned)s < SMTP_NSTAGES ? stage_rows[s].name : "?";
}

const char *
smtp_err_name(enum smtp_err e)
{
	return (unsigned)e < sizeof(err_names) / sizeof(err_names[0])
	           ? err_names[e]
	           : "?";
}

static void read_replies(struct smtp_conn *c);
static void after_ehlo(struct smtp_conn *c);
static void reconnect(struct smtp_conn *c);

/* ---- the connection ---- */

static void
arm(struct smtp_conn *c, enum smtp_stage s)
{
	int64_t ms = c->o.timeout_ms[s];
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};

	c->stage = s;
	/* from now, not from when this loop iteration began */
	event_base_update_cache_time(c->base);
	evtimer_add(c->timer, &tv);
}

/* Gives the socket's I/O back to the bufferevent (STARTTLS, teardown). */
static void
direct_stop(struct smtp_conn *c)
{
	if (c->rd != NULL) {
		event_free(c->rd);
		c->rd = NULL;
	}
	c->direct = 0;
	c->wpending = 0;
}

/* Closes the connection, if any; c stays, ST_DEAD. */
static void
teardown(struct smtp_conn *c, int polite)
{
	evtimer_del(c->timer);
	direct_stop(c);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->ssl != NULL) {
		if (polite)
			SSL_shutdown(c->ssl); /* close_notify, not waited for */
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->gen++;
	c->scanned = 0;
	c->tls_up = 0;
	c->st = ST_DEAD;
}

static void
conn_free(struct smtp_conn *c)
{
	teardown(c, c->st == ST_QUIT);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->soon != NULL)
		event_free(c->soon);
	free(c->t.acc);
	free(c->t.rcpt);
	free((char *)c->o.helo);
	free((char *)c->o.host);
	free((char *)c->o.user);
	if (c->o.pass != NULL) {
		explicit_bzero((char *)c->o.pass, strlen(c->o.pass));
		free((char *)c->o.pass);
	}
	free(c);
}

/*
 * Direct: writes what the output holds, in one call. What the socket
 * does not take, or an error, goes to the bufferevent's write event,
 * which writes the rest (then write_cb) or reports the error (then
 * event_cb). Not while that event is on: it writes when it can.
 */
static void
flush(struct smtp_conn *c)
{
	struct evbuffer *out;

	if (!c->direct || c->wpending)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		return;
	(void)evbuffer_write(out, c->fd);
	if (evbuffer_get_length(out) > 0) {
		c->wpending = 1;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

/* smtp_close's work, once no frame of c is on the stack. */
static void
close_now(struct smtp_conn *c)
{
	struct evbuffer *out;

	c->open_cb = NULL;
	c->idle_cb = NULL;
	c->t.cb = NULL;
	if (c->st == ST_QUIT && !c->dropping)
		return; /* lingering: freed when the QUIT is over */
	if ((c->st == ST_READY || c->st == ST_STOPPED) && !c->dropping &&
	    c->bev != NULL && c->o.timeout_ms[SMTP_QUIT] > 0 &&
	    (out = bufferevent_get_output(c->bev)) != NULL &&
	    evbuffer_add(out, "QUIT\r\n", 6) == 0) {
		c->st = ST_QUIT;
		arm(c, SMTP_QUIT);
		flush(c);
		return;
	}
	conn_free(c);
}

/* The end of every libevent entry point into c: what it queued goes
 * out now, in one write. */
static void
leave(struct smtp_conn *c)
{
	if (--c->busy > 0)
		return;
	if (c->closing)
		close_now(c);
	else
		flush(c);
}

static void
soon_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;
	void (*fn)(struct smtp_conn *) = c->soon_fn;

	c->busy++;
	c->soon_fn = NULL;
	if (fn != NULL)
		fn(c);
	leave(c);
}

/* Runs fn(c) from the loop, after the current callback. */
static void
soon(struct smtp_conn *c, void (*fn)(struct smtp_conn *))
{
	c->soon_fn = fn;
	event_active(c->soon, EV_TIMEOUT, 1);
}

static void __attribute__((format(printf, 5, 0)))
fill_error(struct smtp_conn *c, struct smtp_error *e, enum smtp_err err,
           const struct smtp_reply *r, const char *fmt, va_list ap)
{
	int n;

	memset(e, 0, sizeof(*e));
	e->err = err;
	e->stage = c->stage;
	if (r != NULL)
		e->reply = *r;
	if (fmt == NULL) {
		snprintf(e->why, sizeof(e->why), "%s", r ? r->text : "?");
		return;
	}
	n = snprintf(e->why, sizeof(e->why), "%s: ", smtp_stage_name(c->stage));
	vsnprintf(e->why + n, sizeof(e->why) - (size_t)n, fmt, ap);
}

static void txn_end(struct smtp_conn *c, const struct smtp_error *e);

/* Tells the caller the session (or transaction) ended as e says, c
 * being in state `was` when it did. */
static void
report(struct smtp_conn *c, enum state was, const struct smtp_error *e)
{
	if (OPENING(was)) {
		smtp_open_fn *cb = c->open_cb;

		c->open_cb = NULL;
		if (cb != NULL)
			cb(c->open_arg, c, e);
	} else if (was == ST_TXN || was == ST_BODY || was == ST_DOT) {
		txn_end(c, e);
	} else if (was == ST_READY) {
		smtp_idle_fn *cb = c->idle_cb;

		c->idle_cb = NULL;
		if (cb != NULL)
			cb(c->idle_arg, c, e);
	}
}

/*
 * The session or transaction ends as err says (fmt NULL: the reply says
 * why), then is reported. keep: the connection is still in step and is
 * kept for the QUIT (a session that failed while opening); else it is
 * closed. lose() and stop() below.
 */
static void __attribute__((format(printf, 5, 6)))
fail(struct smtp_conn *c, int keep, enum smtp_err err,
     const struct smtp_reply *r, const char *fmt, ...)
{
	struct smtp_error e;
	enum state was = c->st;
	va_list ap;

	va_start(ap, fmt);
	fill_error(c, &e, err, r, fmt, ap);
	va_end(ap);
	if (keep) {
		evtimer_del(c->timer);
		c->st = ST_STOPPED;
	} else
		teardown(c, 0);
	report(c, was, &e);
}

#define lose(c, ...) fail((c), 0, __VA_ARGS__)
#define stop(c, ...) fail((c), 1, __VA_ARGS__)

static int __attribute__((format(printf, 2, 0)))
vput(struct smtp_conn *c, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	return evbuffer_add_vprintf(out, fmt, ap) < 0 ||
	               evbuffer_add(out, "\r\n", 2) < 0
	           ? -1
	           : 0;
}

/* Queues one command line. 0 or -1. */
static int __attribute__((format(printf, 2, 3)))
put(struct smtp_conn *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput(c, fmt, ap);
	va_end(ap);
	return rc;
}

/* A command of the session, and the state that waits for its reply;
 * the connection is lost when the line cannot be queued. 0 or -1. */
static int __attribute__((format(printf, 3, 4)))
command(struct smtp_conn *c, enum state st, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput(c, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
		return -1;
	}
	c->st = st;
	return 0;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;

	c->busy++;
	read_replies(c);
	leave(c);
}

static void body_more(struct smtp_conn *c);
static int bdat_more(struct smtp_conn *c, int progress);

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;

	c->busy++;
	if (c->wpending &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		/* all out: the next output is written by flush() */
		bufferevent_disable(bev, EV_WRITE);
		c->wpending = 0;
	}
	if (c->st == ST_BODY && !c->closing)
		body_more(c);
	else if (c->st == ST_TXN && c->t.bdat && !c->t.end_queued &&
	         !c->closing && bdat_more(c, 1) < 0)
		lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
	leave(c);
}

static int
is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static void setup_bev(struct smtp_conn *c);

/* The TLS handshake on c->fd: implicit TLS, or after STARTTLS's 220. */
static void
start_tls(struct smtp_conn *c)
{
	enum smtp_stage s = c->o.implicit_tls ? SMTP_CONNECT : SMTP_STARTTLS;
	SSL *ssl;

	c->stage = s;
	if (c->o.tls == SMTP_TLS_VERIFY && c->o.host == NULL) {
		lose(c, SMTP_ERR_TLS, NULL, "tls=verify needs a host name");
		return;
	}
	if ((ssl = SSL_new(c->o.ssl_ctx)) == NULL) {
		ERR_clear_error();
		lose(c, SMTP_ERR_NOMEM, NULL, "SSL_new failed");
		return;
	}
	if (c->o.host != NULL && !is_ip(c->o.host)) {
		SSL_set_tlsext_host_name(ssl, c->o.host); /* SNI */
		SSL_set1_host(ssl, c->o.host);
	} else if (c->o.host != NULL)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->o.host);
	SSL_set_verify(ssl,
	               c->o.tls == SMTP_TLS_VERIFY ? SSL_VERIFY_PEER
	                                           : SSL_VERIFY_NONE,
	               NULL);
	/* the plain bufferevent goes; the descriptor stays */
	direct_stop(c);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_free(c->bev);
		c->gen++;
	}
	c->ssl = ssl;
	c->bev = bufferevent_openssl_socket_new(c->base, c->fd, ssl,
	                                        BUFFEREVENT_SSL_CONNECTING, 0);
	if (c->bev == NULL) {
		lose(c, SMTP_ERR_NOMEM, NULL, "no TLS bufferevent");
		return;
	}
	/* a peer that closes without close_notify is an EOF, not an error:
	 * SMTP frames its own data (the dot, the replies) */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	setup_bev(c);
	c->st = ST_HANDSHAKE;
	arm(c, s);
}

/* Why the handshake failed, for the log. */
static void
tls_why(struct smtp_conn *c, short what, char *why, size_t len)
{
	unsigned long e, first = 0;
	long v = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	while (c->bev != NULL && (e = bufferevent_get_openssl_error(c->bev)))
		if (first == 0)
			first = e;
	if (c->o.tls == SMTP_TLS_VERIFY && v != X509_V_OK)
		snprintf(why, len, "certificate verify failed: %s",
		         X509_verify_cert_error_string(v));
	else if (first != 0)
		ERR_error_string_n(first, why, len);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, len, "the peer closed the connection");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, len, "timed out after %lld ms",
		         (long long)c->o.timeout_ms[c->stage]);
	else
		snprintf(why, len, "%s", strerror(errno ? errno : EPROTO));
	ERR_clear_error();
}

/* SPEC §6.3, RFC 7435: opportunistic TLS that fails in its handshake is
 * tried again once, in plaintext, on a new connection to the same
 * address. Anything else fails the session. */
static void
handshake_failed(struct smtp_conn *c, short what)
{
	char why[160];

	tls_why(c, what, why, sizeof(why));
	if (c->o.implicit_tls || c->o.tls != SMTP_TLS_OPPORTUNISTIC ||
	    c->info.tls_fallback) {
		lose(c, SMTP_ERR_TLS, NULL, "TLS handshake failed: %s", why);
		return;
	}
	snprintf(c->tls_error, sizeof(c->tls_error), "%s", why);
	c->info.tls_fallback = 1;
	c->no_starttls = 1;
	teardown(c, 0);
	c->st = ST_CONNECTING;
	c->stage = SMTP_CONNECT;
	/* from the loop: the old bufferevent is finalized first */
	soon(c, reconnect);
}

static void
handshake_done(struct smtp_conn *c)
{
	c->tls_up = 1;
	c->info.tls = SSL_get_version(c->ssl);
	c->info.verified = SSL_get0_peer_certificate(c->ssl) != NULL &&
	                   SSL_get_verify_result(c->ssl) == X509_V_OK;
	if (c->o.implicit_tls) {
		c->st = ST_GREETING;
		arm(c, SMTP_GREETING);
		return;
	}
	/* RFC 3207 §4.2: forget what was offered before; EHLO again */
	memset(&c->info.ehlo, 0, sizeof(c->info.ehlo));
	if (command(c, ST_EHLO, "EHLO %s", c->o.helo) == 0)
		arm(c, SMTP_EHLO);
}

static void rd_cb(evutil_socket_t fd, short what, void *arg);

/* A plaintext connection is up: c reads and writes it (see the top).
 * Without an event, the bufferevent goes on doing it. */
static void
direct_start(struct smtp_conn *c)
{
	if ((c->rd = event_new(c->base, c->fd, EV_READ | EV_PERSIST, rd_cb,
	                       c)) == NULL)
		return;
	if (event_add(c->rd, NULL) < 0) {
		event_free(c->rd);
		c->rd = NULL;
		return;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->direct = 1;
	c->wpending = 0;
}

/* What the connection did (BEV_EVENT_*), from the bufferevent or from
 * rd_cb; errno says why when it failed. */
static void
on_event(struct smtp_conn *c, short what)
{
	if (what & BEV_EVENT_CONNECTED) {
		if (c->st == ST_CONNECTING && c->o.implicit_tls)
			start_tls(c);
		else if (c->st == ST_CONNECTING) {
			direct_start(c);
			c->st = ST_GREETING;
			arm(c, SMTP_GREETING);
		} else if (c->st == ST_HANDSHAKE)
			handshake_done(c);
	} else if (c->st == ST_HANDSHAKE) {
		handshake_failed(c, what);
	} else if (c->st == ST_QUIT) {
		teardown(c, 0);
	} else if (c->st == ST_CONNECTING) {
		lose(c, SMTP_ERR_CONNECT, NULL, "%s",
		     strerror(errno ? errno : ECONNREFUSED));
	} else if (what & BEV_EVENT_EOF) {
		lose(c, SMTP_ERR_CLOSED, NULL, "connection closed by the peer");
	} else {
		char why[160] = "";

		if (c->ssl != NULL)
			tls_why(c, what, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
			         strerror(errno ? errno : EIO));
		lose(c, SMTP_ERR_CLOSED, NULL, "connection lost: %s", why);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_conn *c = arg;

	c->busy++;
	on_event(c, what);
	leave(c);
}

/* Direct: one read of what the peer sent, at most READ_CHUNK bytes
 * (the event comes again while more waits), then the replies. The
 * input never holds a whole SMTP_REPLY_MAX_BYTES: read_replies fails
 * such a reply. */
static void
rd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), want = READ_CHUNK;
	struct evbuffer_iovec v;
	ssize_t n;

	c->busy++;
	if (len + want > SMTP_REPLY_MAX_BYTES)
		want =
		    len < SMTP_REPLY_MAX_BYTES ? SMTP_REPLY_MAX_BYTES - len : 0;
	if (want == 0) {
		lose(c, SMTP_ERR_PROTO, NULL, "malformed reply");
		goto out;
	}
	if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1) {
		lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	if (v.iov_len > want)
		v.iov_len = want;
	n = read(fd, v.iov_base, v.iov_len);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		read_replies(c);
	} else if (n == 0) {
		on_event(c, BEV_EVENT_READING | BEV_EVENT_EOF);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		on_event(c, BEV_EVENT_READING | BEV_EVENT_ERROR);
	}
out:
	leave(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	c->busy++;
	if (c->st == ST_HANDSHAKE)
		handshake_failed(c, BEV_EVENT_TIMEOUT);
	else if (c->st == ST_QUIT)
		teardown(c, 0);
	else
		lose(c, SMTP_ERR_TIMEOUT, NULL, "timed out after %lld ms",
		     (long long)c->o.timeout_ms[c->stage]);
	leave(c);
}

static void
setup_bev(struct smtp_conn *c)
{
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* a whole reply fits; more without one is a malformed reply */
	bufferevent_setwatermark(c->bev, EV_READ, 0, SMTP_REPLY_MAX_BYTES);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
connect_failed(struct smtp_conn *c)
{
	lose(c, SMTP_ERR_CONNECT, NULL, "%s", strerror(c->connect_errno));
}

/* A non-blocking connect to c->addr. 0, or -1 (errno) when no socket. */
static int
connect_start(struct smtp_conn *c)
{
	int one = 1;

	c->stage = SMTP_CONNECT;
	c->st = ST_CONNECTING;
	c->fd = socket(c->addr.ss_family,
	               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* small writes back to back (TLS's Finished, then EHLO): Nagle
	 * would hold the second for the peer's delayed ACK */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&c->addr, c->alen) < 0 &&
	    errno != EINPROGRESS) {
		/* refused at once (a local port): said from the loop */
		c->connect_errno = errno;
		soon(c, connect_failed);
		return 0;
	}
	if ((c->bev = bufferevent_socket_new(c->base, c->fd, 0)) == NULL)
		return -1;
	setup_bev(c);
	/* no address: the socket is already connecting */
	if (bufferevent_socket_connect(c->bev, NULL, 0) < 0)
		return -1;
	arm(c, SMTP_CONNECT);
	return 0;
}

static void
reconnect(struct smtp_conn *c)
{
	memset(&c->info.ehlo, 0, sizeof(c->info.ehlo));
	c->info.esmtp = 0;
	c->info.tls = NULL;
	c->info.verified = 0;
	if (connect_start(c) < 0)
		lose(c, SMTP_ERR_CONNECT, NULL, "%s", strerror(errno));
}

/* ---- opening ---- */

static void
opened(struct smtp_conn *c)
{
	smtp_open_fn *cb = c->open_cb;

	evtimer_del(c->timer);
	c->st = ST_READY;
	c->open_cb = NULL;
	if (cb != NULL)
		cb(c->open_arg, c, NULL);
}

static void
on_greeting(struct smtp_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		stop(c, SMTP_ERR_REPLY, r, NULL);
		return;
	}
	if (command(c, ST_EHLO, "EHLO %s", c->o.helo) == 0)
		arm(c, SMTP_EHLO);
}

static void
on_ehlo(struct smtp_conn *c, const struct smtp_reply *r)
{
	if (r->code == 250) {
		c->info.esmtp = 1;
		c->info.ehlo = c->ehlo_next;
		after_ehlo(c);
	} else if (r->code / 100 == 5 && !c->tls_up) {
		/* RFC 5321 §3.2: a server that does not speak ESMTP */
		if (command(c, ST_HELO, "HELO %s", c->o.helo) == 0)
			arm(c, SMTP_EHLO);
	} else
		stop(c, SMTP_ERR_REPLY, r, NULL);
}

static void
on_helo(struct smtp_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		stop(c, SMTP_ERR_REPLY, r, NULL);
		return;
	}
	c->info.esmtp = 0;
	memset(&c->info.ehlo, 0, sizeof(c->info.ehlo));
	after_ehlo(c);
}

static const char *
tls_name(enum smtp_tls t)
{
	return t == SMTP_TLS_VERIFY ? "verify" : "require";
}

/* RFC 4954 §4: AUTH with an initial response (PLAIN, RFC 4616), or
 * LOGIN's two challenges. */
static void
auth_start(struct smtp_conn *c)
{
	struct buf raw, b64;
	size_t ul = strlen(c->o.user), pl = strlen(c->o.pass);
	int rc = -1;

	c->stage = SMTP_AUTH;
	if (!c->tls_up) {
		stop(c, SMTP_ERR_AUTH, NULL,
		     "credentials not sent: the session is not encrypted");
		return;
	}
	if (!(c->info.ehlo.ext & SMTP_EXT_AUTH)) {
		stop(c, SMTP_ERR_AUTH, NULL, "the server offers no AUTH");
		return;
	}
	if (c->info.ehlo.mech & SMTP_MECH_PLAIN) {
		buf_init(&raw, 0);
		buf_init(&b64, 0);
		if (buf_putc(&raw, '\0') == 0 &&
		    buf_append(&raw, c->o.user, ul) == 0 &&
		    buf_putc(&raw, '\0') == 0 &&
		    buf_append(&raw, c->o.pass, pl) == 0 &&
		    base64_encode(&b64, raw.p, raw.len, 0) == 0)
			rc = command(c, ST_AUTH, "AUTH PLAIN %s", b64.p);
		else
			lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
		if (raw.p != NULL)
			explicit_bzero(raw.p, raw.len);
		if (b64.p != NULL)
			explicit_bzero(b64.p, b64.len);
		buf_clear(&raw);
		buf_clear(&b64);
		c->auth_step = 0;
	} else if (c->info.ehlo.mech & SMTP_MECH_LOGIN) {
		rc = command(c, ST_AUTH, "AUTH LOGIN");
		c->auth_step = 1;
	} else {
		stop(c, SMTP_ERR_AUTH, NULL,
		     "no AUTH mechanism in common (pigeon speaks PLAIN and "
		     "LOGIN)");
		return;
	}
	if (rc == 0)
		arm(c, SMTP_AUTH);
}

/* What comes after a 250 to EHLO (or HELO): STARTTLS, AUTH, or ready. */
static void
after_ehlo(struct smtp_conn *c)
{
	if (!c->tls_up && c->o.tls != SMTP_TLS_NONE && !c->no_starttls &&
	    (c->info.ehlo.ext & SMTP_EXT_STARTTLS)) {
		if (command(c, ST_STARTTLS, "STARTTLS") == 0)
			arm(c, SMTP_STARTTLS);
		return;
	}
	if (!c->tls_up &&
	    (c->o.tls == SMTP_TLS_REQUIRE || c->o.tls == SMTP_TLS_VERIFY)) {
		c->stage = SMTP_STARTTLS;
		stop(c, SMTP_ERR_TLS, NULL, "STARTTLS not offered (tls=%s)",
		     tls_name(c->o.tls));
		return;
	}
	if (c->o.user != NULL) {
		auth_start(c);
		return;
	}
	opened(c);
}

static void
on_starttls(struct smtp_conn *c, const struct smtp_reply *r)
{
	if (r->code / 100 == 2) {
		/* RFC 3207 §5: nothing may follow the 220 in plaintext (it
		 * would be read as if it came over TLS) */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
			lose(c, SMTP_ERR_PROTO, NULL,
			     "bytes after the 220 to STARTTLS");
			return;
		}
		start_tls(c);
		return;
	}
	if (c->o.tls == SMTP_TLS_OPPORTUNISTIC) {
		/* refused: go on in plaintext on this connection */
		snprintf(c->tls_error, sizeof(c->tls_error), "%s", r->text);
		c->no_starttls = 1;
		after_ehlo(c);
		return;
	}
	stop(c, SMTP_ERR_TLS, NULL, "STARTTLS refused (tls=%s): %s",
	     tls_name(c->o.tls), r->text);
}

static void
on_auth(struct smtp_conn *c, const struct smtp_reply *r)
{
	const char *s = c->auth_step == 1 ? c->o.user : c->o.pass;
	struct buf b64;
	int rc;

	if (c->auth_step == 0 || c->auth_step == 3) {
		if (r->code == 235)
			opened(c);
		else
			stop(c, SMTP_ERR_REPLY, r, NULL);
		return;
	}
	/* LOGIN: the user name, then the password, each after a 334 */
	if (r->code != 334) {
		stop(c, SMTP_ERR_REPLY, r, NULL);
		return;
	}
	buf_init(&b64, 0);
	if (base64_encode(&b64, s, strlen(s), 0) < 0 || b64.p == NULL) {
		buf_clear(&b64);
		lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
		return;
	}
	rc = command(c, ST_AUTH, "%s", b64.p);
	explicit_bzero(b64.p, b64.len);
	buf_clear(&b64);
	c->auth_step++;
	if (rc == 0)
		arm(c, SMTP_AUTH);
}

/* ---- transactions ---- */

/* The stage of item k of the transaction's list; *i the recipient. */
static enum smtp_stage
item(const struct txn *t, size_t k, size_t *i)
{
	if (t->rset && k-- == 0)
		return SMTP_RSET;
	if (k == 0)
		return SMTP_MAIL;
	if (k - 1 < t->n) {
		*i = k - 1;
		return SMTP_RCPT;
	}
	/* BDAT LAST's reply is the dot's, and waits as long */
	return t->bdat ? SMTP_DOT : SMTP_DATA;
}

/* RFC 1870 §3: the size declared is the message's, CRLF.CRLF aside. */
static size_t
msg_size(const struct txn *t)
{
	int crlf = t->len >= 2 && memcmp(t->msg + t->len - 2, "\r\n", 2) == 0;

	return t->len + (crlf ? 0 : 2);
}

static int
mail_from(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	unsigned ext = c->info.ehlo.ext;
	char size[32] = "";

	if (ext & SMTP_EXT_SIZE)
		snprintf(size, sizeof(size), " SIZE=%zu", msg_size(t));
	return put(c, "MAIL FROM:<%s>%s%s%s", t->from, size,
	           t->body8 && (ext & SMTP_EXT_8BITMIME) ? " BODY=8BITMIME"
	                                                 : "",
	           t->utf8 ? " SMTPUTF8" : "");
}

/* Sends the commands that may go now: all of them with PIPELINING
 * (RFC 2920 §3.1: DATA last), else the next one once the one before is
 * answered, and none that can no longer serve (RCPT after a refused
 * MAIL, DATA without a recipient). BDAT (always pipelined) goes with
 * its message, queued after it by bdat_more. */
static int
send_items(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	int pipe = (c->info.ehlo.ext & SMTP_EXT_PIPELINING) != 0;

	while (t->sent < t->nitems && (pipe || t->sent == t->answered)) {
		size_t i = 0;
		enum smtp_stage s = item(t, t->sent, &i);
		int rc;

		if (!pipe && ((s == SMTP_RCPT && !t->mail_ok) ||
		              (s == SMTP_DATA && t->accepted == 0)))
			break;
		if (s == SMTP_RSET)
			rc = put(c, "RSET");
		else if (s == SMTP_MAIL)
			rc = mail_from(c);
		else if (s == SMTP_RCPT)
			rc = put(c, "RCPT TO:<%s>", t->rcpts[i]);
		else if (s == SMTP_DOT) /* RFC 3030 §2: the size is exact */
			rc = put(c, "BDAT %zu LAST", msg_size(t));
		else
			rc = put(c, "DATA");
		if (rc < 0)
			return -1;
		t->sent++;
	}
	return 0;
}

/* Hands the transaction's outcome to the caller. The answers are the
 * callback's until it returns, even if it starts the next transaction. */
static void
txn_end(struct smtp_conn *c, const struct smtp_error *e)
{
	struct txn *t = &c->t;
	struct smtp_reply *rcpt = t->rcpt;
	unsigned char *acc = t->acc;
	smtp_send_fn *cb = t->cb;
	struct smtp_result res;

	for (size_t i = 0; i < t->n; i++) {
		if (t->mail_refused)
			rcpt[i] = t->mail_reply; /* RFC 5321 §3.3 */
		else if (e->err == SMTP_ERR_REPLY && rcpt[i].code == 0)
			rcpt[i] = e->reply;
	}
	res.error = *e;
	res.rcpt = rcpt;
	res.n = t->n;
	t->rcpt = NULL;
	t->acc = NULL;
	t->cb = NULL;
	if (c->st != ST_DEAD)
		c->st = ST_READY;
	if (c->bev != NULL)
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	evtimer_del(c->timer);
	if (cb != NULL)
		cb(t->arg, c, &res);
	free(rcpt);
	free(acc);
}

/* The transaction ran to its end: a refused MAIL or DATA is its error. */
static void
txn_done(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	struct smtp_error e;

	memset(&e, 0, sizeof(e));
	e.stage = c->stage;
	if (t->mail_refused) {
		e.err = SMTP_ERR_REPLY;
		e.stage = SMTP_MAIL;
		e.reply = t->mail_reply;
	} else if (t->data_reply.code != 0) {
		e.err = SMTP_ERR_REPLY;
		e.stage = SMTP_DATA;
		e.reply = t->data_reply;
	}
	if (e.err != SMTP_ERR_NONE)
		snprintf(e.why, sizeof(e.why), "%s", e.reply.text);
	txn_end(c, &e);
}

/* A reply came: the transaction sends what may go now, waits for the
 * next reply due, or ends. */
static void
txn_next(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	size_t i;

	if (t->answered == t->sent && send_items(c) < 0) {
		lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
		return;
	}
	if (t->answered < t->sent) {
		arm(c, item(t, t->answered, &i));
		return;
	}
	txn_done(c);
}

static void body_more(struct smtp_conn *c);
static void on_bdat(struct smtp_conn *c, const struct smtp_reply *r);

static void
on_txn(struct smtp_conn *c, const struct smtp_reply *r)
{
	struct txn *t = &c->t;
	size_t i = 0;
	enum smtp_stage s = item(t, t->answered++, &i);
	int ok = r->code / 100 == 2;

	switch (s) {
	case SMTP_RSET:
		if (!ok) {
			lose(c, SMTP_ERR_PROTO, NULL, "RSET refused: %s",
			     r->text);
			return;
		}
		break;
	case SMTP_MAIL:
		t->mail_ok = ok;
		t->mail_refused = !ok;
		if (!ok)
			t->mail_reply = *r;
		break;
	case SMTP_RCPT:
		/* after a refused MAIL these say "503 need MAIL": not
		 * the recipient's answer */
		if (ok && t->mail_ok) {
			t->acc[i] = 1;
			t->accepted++;
		} else if (t->mail_ok)
			t->rcpt[i] = *r;
		break;
	case SMTP_DOT: /* BDAT LAST */
		on_bdat(c, r);
		return;
	default: /* DATA */
		if (r->code == 354 && t->mail_ok && t->accepted > 0) {
			c->st = ST_BODY;
			t->off = 0;
			t->bol = 1;
			t->end_queued = 0;
			body_more(c);
			return;
		}
		if (r->code == 354) {
			/* RFC 2920 §3.1: no recipient, so no message: the
			 * dot alone ends DATA */
			if (put(c, ".") < 0) {
				lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
				return;
			}
			t->lone_dot = 1;
			c->st = ST_DOT;
			arm(c, SMTP_DOT);
			return;
		}
		if (t->mail_ok && t->accepted > 0)
			t->data_reply = *r;
		break;
	}
	txn_next(c);
}

/* The reply to the dot: every accepted recipient's answer (after a
 * lone dot, nobody's). */
static void
on_dot(struct smtp_conn *c, const struct smtp_reply *r)
{
	struct txn *t = &c->t;

	if (!t->lone_dot)
		for (size_t i = 0; i < t->n; i++)
			if (t->acc[i])
				t->rcpt[i] = *r;
	txn_done(c);
}

/* Queues the next pieces of the message, dot-stuffed, while the peer
 * takes them; FEED_HIGH bytes at most wait in the output. */
static int
feed(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t queued;

	while (!t->end_queued &&
	       (queued = evbuffer_get_length(out)) < FEED_HIGH) {
		size_t lim = t->off + (FEED_HIGH - queued);

		if (lim > t->len)
			lim = t->len;
		if (t->bdat && t->off < lim) {
			/* RFC 3030 §2: the bytes as they are, no stuffing */
			if (evbuffer_add(out, t->msg + t->off, lim - t->off) <
			    0)
				return -1;
			t->off = lim;
		}
		while (t->off < lim) {
			const char *s = t->msg + t->off, *nl;
			size_t n;

			/* RFC 5321 §4.5.2: a line that starts with a dot
			 * gets another. After a bare LF too: a receiver
			 * that takes LF for a line end must not see an
			 * end of data pigeon did not send. */
			if (t->bol && *s == '.' &&
			    evbuffer_add(out, ".", 1) < 0)
				return -1;
			nl = memchr(s, '\n', lim - t->off);
			n = nl != NULL ? (size_t)(nl - s) + 1 : lim - t->off;
			if (evbuffer_add(out, s, n) < 0)
				return -1;
			t->off += n;
			t->bol = nl != NULL;
		}
		if (t->off == t->len) {
			if (msg_size(t) != t->len &&
			    evbuffer_add(out, "\r\n", 2) < 0)
				return -1;
			if (!t->bdat && evbuffer_add(out, ".\r\n", 3) < 0)
				return -1;
			t->end_queued = 1;
		}
	}
	return 0;
}

static void
body_more(struct smtp_conn *c)
{
	struct txn *t = &c->t;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	/* direct: as long as the socket takes all that was queued */
	do {
		if (feed(c) < 0) {
			lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
			return;
		}
		flush(c);
	} while (!t->end_queued && evbuffer_get_length(out) == 0);
	if (!t->end_queued) {
		/* called again when the peer has taken all but FEED_LOW */
		bufferevent_setwatermark(c->bev, EV_WRITE, FEED_LOW, 0);
		arm(c, SMTP_DATA);
	} else if (evbuffer_get_length(out) > 0) {
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		arm(c, SMTP_DATA);
	} else {
		c->st = ST_DOT;
		arm(c, SMTP_DOT);
	}
}

/*
 * BDAT: queues the message behind the commands, as the peer takes it.
 * What is queued last goes with the commands when the outermost frame
 * leaves; only a message over FEED_HIGH is written here, piece by
 * piece, the rest when the write event says the peer took it. The
 * replies are read meanwhile (state ST_TXN). progress: the peer took
 * bytes, so the reply due waits its whole timeout again. 0, or -1 when
 * memory is short (the caller ends the connection).
 */
static int
bdat_more(struct smtp_conn *c, int progress)
{
	struct txn *t = &c->t;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t i;

	for (;;) {
		if (feed(c) < 0)
			return -1;
		if (t->end_queued)
			break;
		flush(c);
		if (evbuffer_get_length(out) > 0)
			break;
	}
	/* called again when the peer has taken all but FEED_LOW */
	bufferevent_setwatermark(c->bev, EV_WRITE, t->end_queued ? 0 : FEED_LOW,
	                         0);
	if (progress && t->answered < t->sent)
		arm(c, item(t, t->answered, &i));
	return 0;
}

/* The reply to BDAT LAST: as the dot's, every accepted recipient's
 * answer. Without one (every RCPT refused, or MAIL) it is nobody's:
 * the server refused a message it had no recipient for. Before the
 * whole message left, the server stopped it: out of step. */
static void
on_bdat(struct smtp_conn *c, const struct smtp_reply *r)
{
	struct txn *t = &c->t;

	if (!t->end_queued ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		lose(c, SMTP_ERR_REPLY, r, NULL);
		return;
	}
	if (t->mail_ok && t->accepted > 0)
		for (size_t i = 0; i < t->n; i++)
			if (t->acc[i])
				t->rcpt[i] = *r;
	txn_next(c);
}

/* A reply while the message is going out: the dot's, if everything
 * left (the write callback has not said so yet); else the server
 * stopped the message, and the connection is out of step. */
static void
on_body(struct smtp_conn *c, const struct smtp_reply *r)
{
	if (c->t.end_queued &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		on_dot(c, r);
		return;
	}
	lose(c, SMTP_ERR_REPLY, r, NULL);
}

static void
on_quit(struct smtp_conn *c, const struct smtp_reply *r)
{
	teardown(c, 1);
}

static void
on_unexpected(struct smtp_conn *c, const struct smtp_reply *r)
{
	lose(c, SMTP_ERR_PROTO, NULL, "unexpected reply: %s", r->text);
}

/* What a reply means, by state. */
static void (*const on_reply[])(struct smtp_conn *,
                                const struct smtp_reply *) = {
    [ST_CONNECTING] = on_unexpected,
    [ST_HANDSHAKE] = on_unexpected,
    [ST_GREETING] = on_greeting,
    [ST_EHLO] = on_ehlo,
    [ST_HELO] = on_helo,
    [ST_STARTTLS] = on_starttls,
    [ST_AUTH] = on_auth,
    [ST_READY] = on_unexpected,
    [ST_TXN] = on_txn,
    [ST_BODY] = on_body,
    [ST_DOT] = on_dot,
    [ST_QUIT] = on_quit,
    [ST_STOPPED] = on_unexpected,
    [ST_DEAD] = on_unexpected,
};

/* Reads every whole reply waiting, in order, while c keeps the same
 * connection. A reply's end is looked for only in bytes not yet seen,
 * so a reply trickled in costs one parse per line, not per byte. */
static void
read_replies(struct smtp_conn *c)
{
	unsigned gen = c->gen;

	while (c->gen == gen && c->bev != NULL &&
	       (!c->closing || c->st == ST_QUIT)) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t len = evbuffer_get_length(in), want, used = 0;
		struct evbuffer_ptr pos;
		struct smtp_reply r;
		const char *p;
		int rc;

		if (len == 0 ||
		    (len <= c->scanned && len < SMTP_REPLY_MAX_BYTES))
			return;
		if (len < SMTP_REPLY_MAX_BYTES) {
			evbuffer_ptr_set(in, &pos, c->scanned,
			                 EVBUFFER_PTR_SET);
			pos = evbuffer_search(in, "\n", 1, &pos);
			if (pos.pos < 0) {
				c->scanned = len;
				return;
			}
		}
		want = len < SMTP_REPLY_MAX_BYTES ? len : SMTP_REPLY_MAX_BYTES;
		if ((p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want)) ==
		    NULL) {
			lose(c, SMTP_ERR_NOMEM, NULL, "out of memory");
			return;
		}
		rc = smtp_reply_parse(
		    p, want, (c->info.ehlo.ext & SMTP_EXT_ENHANCED) != 0, &r,
		    &used);
		if (rc == SMTP_REPLY_PARTIAL && want < SMTP_REPLY_MAX_BYTES) {
			c->scanned = len;
			return;
		}
		if (rc != SMTP_REPLY_OK) {
			lose(c, SMTP_ERR_PROTO, NULL, "malformed reply");
			return;
		}
		if (c->st == ST_EHLO)
			smtp_ehlo_parse(p, used, &c->ehlo_next);
		evbuffer_drain(in, used);
		c->scanned = 0;
		/* RFC 5321 §3.8: 421 ends the session, whatever was due */
		if (r.code == 421 && c->st != ST_QUIT)
			lose(c, SMTP_ERR_REPLY, &r, NULL);
		else
			on_reply[c->st](c, &r);
	}
}

/* ---- the interface ---- */

SSL_CTX *
smtp_ssl_ctx_new(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a peer closing without close_notify is an EOF (SMTP frames its
	 * own data) */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* per connection */
	if ((ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	                     : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static char *
dup_or_null(const char *s, int *bad)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*bad = 1;
	return d;
}

/* "host[ip]:port" */
static void
peer_name(struct smtp_conn *c)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (c->addr.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&c->addr;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (c->addr.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(c->peer, sizeof(c->peer), "%s[%s]:%u",
	         c->o.host != NULL ? c->o.host : "", ip, port);
}

/* A byte that would break the command line it goes into. */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

struct smtp_conn *
smtp_open(struct event_base *base, const struct sockaddr *addr, socklen_t alen,
          const struct smtp_opts *o, smtp_open_fn *cb, void *arg)
{
	struct smtp_conn *c;
	int bad = 0, e;

	if (alen > sizeof(c->addr) || o->helo == NULL || has_ctl(o->helo) ||
	    ((o->tls != SMTP_TLS_NONE || o->implicit_tls) &&
	     o->ssl_ctx == NULL) ||
	    (o->user != NULL && o->pass == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	c->fd = -1;
	c->o = *o;
	c->o.helo = dup_or_null(o->helo, &bad);
	c->o.host = dup_or_null(o->host, &bad);
	c->o.user = dup_or_null(o->user, &bad);
	c->o.pass = dup_or_null(o->pass, &bad);
	for (int s = 0; s < SMTP_NSTAGES; s++)
		if (c->o.timeout_ms[s] == 0 ||
		    (c->o.timeout_ms[s] < 0 && s != SMTP_QUIT))
			c->o.timeout_ms[s] = stage_rows[s].default_ms;
	memcpy(&c->addr, addr, alen);
	c->alen = alen;
	c->open_cb = cb;
	c->open_arg = arg;
	c->info.peer = c->peer;
	c->info.tls_error = c->tls_error;
	peer_name(c);
	c->timer = evtimer_new(base, timer_cb, c);
	c->soon = event_new(base, -1, 0, soon_cb, c);
	if (bad || c->timer == NULL || c->soon == NULL) {
		conn_free(c);
		errno = ENOMEM;
		return NULL;
	}
	if (connect_start(c) < 0) {
		e = errno;
		conn_free(c);
		errno = e;
		return NULL;
	}
	return c;
}

static int
has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 1;
	return 0;
}

static void
synth_done(struct smtp_conn *c)
{
	struct txn *t = &c->t;

	if (t->cb != NULL)
		txn_end(c, &t->synth);
}

/* A refusal pigeon makes without sending (every recipient gets r),
 * said from the loop. */
static void __attribute__((format(printf, 4, 5)))
refuse(struct smtp_conn *c, int code, const char *enhanced, const char *fmt,
       ...)
{
	struct txn *t = &c->t;
	char detail[SMTP_REPLY_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memset(&t->synth, 0, sizeof(t->synth));
	t->synth.err = SMTP_ERR_REPLY;
	t->synth.stage = SMTP_MAIL;
	smtp_reply_set(&t->synth.reply, code, enhanced, "%s", detail);
	snprintf(t->synth.why, sizeof(t->synth.why), "%s", t->synth.reply.text);
	for (size_t i = 0; i < t->n; i++)
		t->rcpt[i] = t->synth.reply;
	soon(c, synth_done);
}

int
smtp_send(struct smtp_conn *c, const char *mail_from, const char *const *rcpts,
          size_t n, const char *msg, size_t len, smtp_send_fn *cb, void *arg)
{
	struct txn *t = &c->t;
	unsigned ext = c->info.ehlo.ext;
	int ctl, utf8;

	if (!smtp_ready(c) || n == 0) {
		errno = n == 0 ? EINVAL : EBUSY;
		return -1;
	}
	free(t->rcpt);
	free(t->acc);
	memset(t, 0, sizeof(*t));
	t->rcpt = calloc(n, sizeof(*t->rcpt));
	t->acc = calloc(n, 1);
	if (t->rcpt == NULL || t->acc == NULL) {
		free(t->rcpt);
		free(t->acc);
		t->rcpt = NULL;
		t->acc = NULL;
		errno = ENOMEM;
		return -1;
	}
	t->cb = cb;
	t->arg = arg;
	t->from = mail_from;
	t->rcpts = rcpts;
	t->n = n;
	t->msg = msg;
	t->len = len;
	ctl = has_ctl(mail_from);
	utf8 = has_8bit(mail_from, strlen(mail_from));
	for (size_t i = 0; i < n; i++) {
		ctl |= has_ctl(rcpts[i]);
		utf8 |= has_8bit(rcpts[i], strlen(rcpts[i]));
	}
	if (ctl) {
		refuse(c, 553, "5.1.3",
		       "an envelope address holds a control character (not "
		       "sent)");
		return 0;
	}
	/* RFC 6531 §3.2 */
	if (utf8 && !(ext & SMTP_EXT_SMTPUTF8)) {
		refuse(c, 553, "5.6.7",
		       "an envelope address needs SMTPUTF8, which the server "
		       "does not offer (not sent)");
		return 0;
	}
	/* RFC 1870 §6.1 */
	if ((ext & SMTP_EXT_SIZE) && c->info.ehlo.size > 0 &&
	    msg_size(t) > c->info.ehlo.size) {
		refuse(c, 552, "5.3.4",
		       "message size %zu exceeds the server's limit %" PRIu64
		       " (not sent)",
		       msg_size(t), c->info.ehlo.size);
		return 0;
	}
	t->utf8 = utf8;
	t->body8 = has_8bit(msg, len);
	t->rset = c->info.transactions > 0;
	t->nitems = (size_t)t->rset + 1 + n + 1;
	/* RFC 3030 §4.2: BDAT pipelined with the message behind it */
	t->bdat = (ext & SMTP_EXT_CHUNKING) && (ext & SMTP_EXT_PIPELINING);
	c->info.transactions++;
	c->st = ST_TXN;
	if (send_items(c) < 0 || (t->bdat && bdat_more(c, 0) < 0)) {
		/* part of it may be queued: this connection is done */
		teardown(c, 0);
		t->cb = NULL;
		errno = ENOMEM;
		return -1;
	}
	{
		size_t i;

		arm(c, item(t, 0, &i));
	}
	if (c->busy == 0)
		flush(c); /* else when c's callback returns */
	return 0;
}

int
smtp_ready(const struct smtp_conn *c)
{
	return c != NULL && c->st == ST_READY && !c->closing && c->t.cb == NULL;
}

void
smtp_set_idle(struct smtp_conn *c, smtp_idle_fn *fn, void *arg)
{
	c->idle_cb = fn;
	c->idle_arg = arg;
}

const struct smtp_info *
smtp_info(const struct smtp_conn *c)
{
	return &c->info;
}

void
smtp_close(struct smtp_conn *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	c->open_cb = NULL;
	c->idle_cb = NULL;
	c->t.cb = NULL;
	if (c->busy == 0)
		close_now(c);
}

void
smtp_drop(struct smtp_conn *c)
{
	if (c == NULL)
		return;
	c->dropping = 1;
	smtp_close(c);
}
