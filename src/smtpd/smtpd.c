/*
 * smtpd: the listeners, the threads and each session's transport
 * (smtpd.h); the protocol itself is session.c. Submission is
 * submit_raw + submit_seal + submit_queue, exactly what REST send_raw
 * does, and its answer comes back from the writer thread through the
 * worker's loop (core/loop.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "../core/arena.h"
#include "../core/clock.h"
#include "../core/metrics.h"
#include "../core/log.h"
#include "../core/loop.h"
#include "../httpd/httpd.h"
#include "../limits/limits.h"
#include "../mail/addr.h"
#include "../mail/limits.h"
#include "../store/store.h"
#include "../submit/submit.h"
#include "../tenant/tenant.h"
#include "cert.h"
#include "session.h"
#include "smtpd.h"

#define MAX_THREADS 4
#define IP_BUCKETS 256
#define REPLY_MAX 512
#define HIGH_WATER (256 * 1024) /* output a client does not read */

struct worker;

/* A client address and the sessions it holds (per-IP cap). */
struct ipcount {
	unsigned char key[16];
	unsigned n;
	struct ipcount *next;
};

struct listener {
	enum smtpd_listener which;
	int fd;
	struct session_conf conf;
};

struct conn {
	struct worker *w;
	struct listener *l;
	struct bufferevent *bev;
	struct event *timer;
	struct session *sess;
	unsigned char key[16];
	char peer[64];
	int refs;     /* the conn itself, and a message with the queue */
	int closed;   /* the client is gone; freed when refs reach 0 */
	int counted;  /* holds a place under the caps */
	int draining; /* SESSION_CLOSE: freed once the output is written;
	               * counts the looks */
	struct tenant_ctx who;
	/* the message with the queue or the inbound hook */
	struct arena *a;
	struct submission sub;
	char answer[REPLY_MAX];
	TAILQ_ENTRY(conn) entry;
};
TAILQ_HEAD(conn_list, conn);

/* A listening socket's accept event on one worker. */
struct acceptor {
	struct worker *w;
	struct listener *l;
	struct event *ev;
};

struct worker {
	struct smtpd *d;
	struct event_base *base;
	struct loop *loop;
	struct acceptor acc[SMTPD_NLISTENERS];
	struct conn_list conns;
	pthread_t thread;
	int started;
	struct store *rd; /* this thread's reads: the suppression list */
};

struct smtpd {
	const struct config *cfg;
	struct submit *submit;
	struct tenant *tenant;
	struct smtpd_inbound inbound;
	struct listener l[SMTPD_NLISTENERS];
	char *cert, *key;
	pthread_mutex_t mu; /* ctx, the caps */
	SSL_CTX *ctx;
	unsigned sessions;
	struct ipcount *ips[IP_BUCKETS];
	atomic_int inflight; /* messages with the queue or the hook */
	struct worker w[MAX_THREADS];
	unsigned nw;
};

static const char *const directives[SMTPD_NLISTENERS] = {
    [SMTPD_SMTPS] = "smtps_listen",
    [SMTPD_SUBMISSION] = "submission_listen",
    [SMTPD_INBOUND] = "inbound_listen",
};

const char *
smtpd_directive(enum smtpd_listener l)
{
	return directives[l];
}

static const char *
listen_value(const struct config *cfg, enum smtpd_listener l)
{
	return l == SMTPD_SMTPS        ? cfg->smtps_listen
	       : l == SMTPD_SUBMISSION ? cfg->submission_listen
	                               : cfg->inbound_listen;
}

int
smtpd_listen(const struct config *cfg, int fds[SMTPD_NLISTENERS], char *err,
             size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned sl;
	const char *v;
	int i, fd, on = 1, saved;

	for (i = 0; i < SMTPD_NLISTENERS; i++)
		fds[i] = -1;
	for (i = 0; i < SMTPD_NLISTENERS; i++) {
		v = listen_value(cfg, i);
		if (v[0] == '\0')
			continue;
		if (config_listen_addr(v, &ss, &sl) == -1) {
			snprintf(err, errlen,
			         "%s: '%s' is not address:port (e.g. "
			         "127.0.0.1:2465)",
			         directives[i], v);
			goto fail;
		}
		if ((fd = socket(ss.ss_family,
		                 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		                 0)) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ==
		        -1 ||
		    bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) == -1 ||
		    listen(fd, SOMAXCONN) == -1) {
			saved = errno;
			snprintf(err, errlen, "cannot listen on %s (%s): %s%s",
			         v, directives[i], strerror(saved),
			         saved == EADDRINUSE
			             ? " (another pigeon, or another program, "
			               "has it; set the directive in a config "
			               "file, or \"\" to turn the listener off)"
			             : "");
			if (fd != -1)
				close(fd);
			goto fail;
		}
		fds[i] = fd;
	}
	return 0;
fail:
	for (i = 0; i < SMTPD_NLISTENERS; i++)
		if (fds[i] != -1) {
			close(fds[i]);
			fds[i] = -1;
		}
	return -1;
}

/* ---- the caps ------------------------------------------------------- */

static unsigned
ip_hash(const unsigned char key[16])
{
	unsigned h = 2166136261u, i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % IP_BUCKETS;
}

/* Takes a place for key under both caps: 0, or -1 (over a cap). */
static int
cap_take(struct smtpd *d, const unsigned char key[16])
{
	struct ipcount **pp, *e;
	int rc = -1;

	pthread_mutex_lock(&d->mu);
	if (d->sessions >= (unsigned)d->cfg->smtpd_max_sessions)
		goto out;
	for (pp = &d->ips[ip_hash(key)]; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (e != NULL && e->n >= (unsigned)d->cfg->smtpd_max_sessions_per_ip)
		goto out;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			goto out;
		memcpy(e->key, key, 16);
		*pp = e;
	}
	e->n++;
	d->sessions++;
	metric_gauge_add(&metrics.smtp_sessions, 1);
	rc = 0;
out:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static void
cap_give(struct smtpd *d, const unsigned char key[16])
{
	struct ipcount **pp, *e;

	pthread_mutex_lock(&d->mu);
	d->sessions--;
	metric_gauge_add(&metrics.smtp_sessions, -1);
	for (pp = &d->ips[ip_hash(key)]; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->key, key, 16) == 0) {
			if (--e->n == 0) {
				*pp = e->next;
				free(e);
			}
			break;
		}
	pthread_mutex_unlock(&d->mu);
}

/* ---- a connection --------------------------------------------------- */

static void conn_feed(struct conn *c);
static void conn_drain(struct conn *c);

static void
msg_clear(struct conn *c)
{
	submit_clear(&c->sub);
	arena_free(c->a);
	c->a = NULL;
}

static void
conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	TAILQ_REMOVE(&c->w->conns, c, entry);
	if (c->counted)
		cap_give(c->w->d, c->key);
	msg_clear(c);
	tenant_release(&c->who);
	session_free(c->sess);
	if (c->timer)
		event_free(c->timer);
	free(c);
}

/* The client is gone or the session is over: the bufferevent closes
 * now; c lives on while its message is with the queue. */
static void
conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->timer != NULL)
		event_del(c->timer);
	conn_unref(c);
}

static void
timer_arm(struct conn *c)
{
	const struct config *cfg = c->w->d->cfg;
	int64_t ms;
	struct timeval tv;

	switch (session_timer(c->sess)) {
	case SESSION_T_COMMAND:
		ms = cfg->smtpd_timeout_command;
		break;
	case SESSION_T_DATA:
		ms = cfg->smtpd_timeout_data;
		break;
	case SESSION_T_IDLE:
		ms = cfg->smtpd_timeout_idle;
		break;
	default:
		event_del(c->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Writes what the session said. */
static void
conn_flush(struct conn *c)
{
	struct buf *out = session_output(c->sess);

	if (out->len > 0 && c->bev != NULL)
		bufferevent_write(c->bev, out->p, out->len);
	buf_reset(out);
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* RFC 3207 §4.2: what the client sent after STARTTLS is dropped; the
 * 220 goes out in the clear, then the handshake. */
static void
conn_starttls(struct conn *c)
{
	struct smtpd *d = c->w->d;
	struct bufferevent *tls;
	SSL *ssl;

	evbuffer_drain(bufferevent_get_input(c->bev),
	               evbuffer_get_length(bufferevent_get_input(c->bev)));
	pthread_mutex_lock(&d->mu);
	ssl = SSL_new(d->ctx);
	pthread_mutex_unlock(&d->mu);
	if (ssl == NULL ||
	    (tls = bufferevent_openssl_filter_new(
	         c->w->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	         BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		conn_close(c);
		return;
	}
	c->bev = tls;
	bufferevent_setcb(tls, on_read, on_write, on_event, c);
	bufferevent_setwatermark(tls, EV_WRITE, 0, 0);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	session_tls_started(c->sess);
}

/* Gives the session what the client sent, and does what it says. */
static void
conn_feed(struct conn *c)
{
	struct evbuffer *in;
	struct evbuffer_iovec v;
	size_t used;

	if (c->closed)
		return;
	in = bufferevent_get_input(c->bev);
	while (session_state(c->sess) == SESSION_READ &&
	       evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		used = session_input(c->sess, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (c->closed)
			return;
	}
	conn_flush(c);
	switch (session_state(c->sess)) {
	case SESSION_READ:
		bufferevent_enable(c->bev, EV_READ);
		timer_arm(c);
		break;
	case SESSION_WAIT:
		/* the rest stays in the input until the answer */
		bufferevent_disable(c->bev, EV_READ);
		event_del(c->timer);
		break;
	case SESSION_TLS:
		conn_starttls(c);
		if (!c->closed)
			timer_arm(c);
		break;
	case SESSION_CLOSE:
		bufferevent_disable(c->bev, EV_READ);
		event_del(c->timer);
		if (!c->draining)
			c->draining = 1;
		conn_drain(c);
		break;
	}
}

/*
 * 1 when all c wrote has left: after STARTTLS, the TLS filter's output
 * goes through the socket's bufferevent, which must be empty too before
 * the close, or the last reply (221, 421) is lost.
 */
static int
conn_drained(struct conn *c)
{
	struct bufferevent *u = bufferevent_get_underlying(c->bev);

	return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	       (u == NULL ||
	        evbuffer_get_length(bufferevent_get_output(u)) == 0);
}

/* SESSION_CLOSE: close once the output is out; the socket's own buffer
 * has no callback of ours, so it is looked at again shortly. */
static void
conn_drain(struct conn *c)
{
	struct timeval tv = {0, 20 * 1000};

	if (conn_drained(c) || c->draining++ > 100)
		conn_close(c);
	else
		evtimer_add(c->timer, &tv);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	conn_feed(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->draining)
		conn_drain(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_close(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->draining) {
		conn_drain(c);
		return;
	}
	log_info("smtpd: peer=%s timeout", c->peer);
	session_timeout(c->sess);
	conn_feed(c);
}

/* ---- the answer of a message ---------------------------------------- */

/* loop_fn, on the conn's thread: c->answer is the reply. */
static void
answer_run(void *arg)
{
	struct conn *c = arg;

	atomic_fetch_sub(&c->w->d->inflight, 1);
	msg_clear(c);
	if (!c->closed) {
		session_answer(c->sess, c->answer);
		conn_feed(c);
	}
	conn_unref(c);
}

/* From any thread: c->answer is set. */
static void
answer_post(struct conn *c)
{
	if (loop_post(c->w->loop, answer_run, c) == -1)
		/* the server is stopping and never runs it: smtpd_stop
		 * waited for it, and frees c itself */
		atomic_fetch_sub(&c->w->d->inflight, 1);
}

/* submit_done_fn: on the writer thread. */
static void
submit_done(void *arg, enum submit_err rc, const enum rcpt_state *states)
{
	struct conn *c = arg;

	if (rc == SUBMIT_OK)
		snprintf(c->answer, sizeof(c->answer), "250 2.0.0 Ok %s",
		         c->sub.message_id);
	else
		snprintf(c->answer, sizeof(c->answer),
		         "451 4.3.0 The message could not be queued; nothing "
		         "was sent, try again");
	answer_post(c);
}

/* smtpd_answer_fn of the inbound hook. */
static void
inbound_answer(void *ctx, int ok)
{
	struct conn *c = ctx;

	snprintf(c->answer, sizeof(c->answer), "%s",
	         ok ? "250 2.0.0 Ok"
	            : "451 4.3.0 Temporary failure; try again later");
	answer_post(c);
}

/* A client's sentence made fit for one reply line. */
static void
reply_text(char *out, size_t outlen, const char *why)
{
	size_t i;

	snprintf(out, outlen, "%s", why ? why : "");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

/* SPEC §7: submit's refusals as SMTP replies. */
static void
submit_reply(struct conn *c, const struct submit_error *se)
{
	char why[400];

	reply_text(why, sizeof(why), se->detail);
	switch (se->kind) {
	case SUBMIT_SENDER:
		snprintf(c->answer, sizeof(c->answer), "550 5.7.1 %s",
		         why[0] ? why
		                : "Sender domain is not a sending domain of "
		                  "this account");
		break;
	case SUBMIT_DISABLED:
		snprintf(c->answer, sizeof(c->answer), "550 5.7.1 %s",
		         why[0] ? why : "Sending is disabled");
		break;
	case SUBMIT_INVALID:
		snprintf(c->answer, sizeof(c->answer), "554 5.7.0 %s",
		         why[0] ? why : "The message breaks the header rules");
		break;
	case SUBMIT_TOO_BIG:
		snprintf(c->answer, sizeof(c->answer),
		         "552 5.3.4 Message size exceeds fixed maximum message "
		         "size (%s)",
		         why[0] ? why : "5 MiB");
		break;
	case SUBMIT_THROTTLED: /* SPEC §8.4: nothing queued, try later */
		snprintf(c->answer, sizeof(c->answer), "451 4.7.0 %s",
		         why[0] ? why : "Sending limit reached; try later");
		break;
	case SUBMIT_UNAVAILABLE:
	case SUBMIT_INTERNAL:
	case SUBMIT_OK:
	default:
		snprintf(c->answer, sizeof(c->answer),
		         "451 4.3.0 The message could not be queued; nothing "
		         "was sent, try again");
		break;
	}
}

/* ---- the session's hooks -------------------------------------------- */

static int
hook_auth(void *arg, const char *user, const char *pass)
{
	struct conn *c = arg;
	struct tenant_cred cred = {0};
	char bearer[1024];
	const char *why = NULL;
	int rc;

	if (strlen(pass) + sizeof("Bearer ") > sizeof(bearer))
		return SESSION_AUTH_BAD;
	snprintf(bearer, sizeof(bearer), "Bearer %s", pass);
	cred.bearer = bearer;
	tenant_release(&c->who);
	rc = tenant_auth(c->w->d->tenant, &cred, NULL, PERM_SEND, 1, &c->who,
	                 &why);
	explicit_bzero(bearer, sizeof(bearer));
	if (rc == TENANT_OK) {
		log_info("smtpd: peer=%s auth token=%s account=%s", c->peer,
		         c->who.token->id, c->who.account->id);
		return SESSION_AUTH_OK;
	}
	log_info("smtpd: peer=%s auth failed status=%d", c->peer, rc);
	return rc == TENANT_UNAVAILABLE ? SESSION_AUTH_UNAVAILABLE
	                                : SESSION_AUTH_BAD;
}

/*
 * SPEC §8.4 at MAIL: a client with no token in its account's bucket, or
 * whose daily quota is used up, is told now rather than after DATA. It
 * takes nothing: the end of DATA takes the token and counts the
 * recipients (submit_seal), and may still refuse. 0, or -1 with
 * c->answer.
 */
static int
mail_limits(struct conn *c)
{
	const struct account *ac = c->who.account;
	struct limits *lim = submit_limits(c->w->d->submit);
	struct limits_view v;
	int64_t now = clock_now_ms();
	char at[32];

	if (lim == NULL || ac == NULL)
		return 0;
	if (limits_peek(lim, ac, clock_mono_ms(), &v) == LIMITS_RATE) {
		snprintf(c->answer, sizeof(c->answer),
		         "451 4.7.0 Rate limit reached: this account may send "
		         "%lld message%s a second; try again in %lld second%s",
		         (long long)ac->rate, ac->rate == 1 ? "" : "s",
		         (long long)v.retry_after,
		         v.retry_after == 1 ? "" : "s");
		return -1;
	}
	if (ac->daily_quota > 0 &&
	    limits_sent(lim, ac, now) >= ac->daily_quota) {
		clock_iso8601((time_t)(limits_midnight_ms(now) / 1000), at);
		snprintf(c->answer, sizeof(c->answer),
		         "451 4.7.0 Daily quota reached: this account may send "
		         "to %lld recipient%s a UTC day; it resets at %s",
		         (long long)ac->daily_quota,
		         ac->daily_quota == 1 ? "" : "s", at);
		return -1;
	}
	return 0;
}

static int
hook_mail(void *arg, const char *addr, const char **reply)
{
	struct conn *c = arg;
	struct mailbox mb;
	struct arena *a;
	const char *why = NULL;
	int rc = -1;

	if (c->l->which == SMTPD_INBOUND)
		return 0;
	if (addr[0] == '\0') {
		*reply = "550 5.7.1 The null sender <> cannot submit mail";
		return -1;
	}
	if ((a = arena_new(0)) == NULL) {
		*reply = "451 4.3.0 Out of memory; try again";
		return -1;
	}
	memset(&mb, 0, sizeof(mb));
	if (addr_parse(a, addr, strlen(addr), &mb, &why) == -1) {
		snprintf(c->answer, sizeof(c->answer),
		         "553 5.1.7 The sender address %s", why);
		*reply = c->answer;
	} else if (tenant_domain(&c->who, mb.domain) == NULL) {
		snprintf(c->answer, sizeof(c->answer),
		         "550 5.7.1 The sender domain %.253s is not a sending "
		         "domain of this account",
		         mb.domain);
		*reply = c->answer;
	} else if (mail_limits(c) == -1)
		*reply = c->answer;
	else
		rc = 0;
	arena_free(a);
	return rc;
}

static int
hook_rcpt(void *arg, const char *addr, const char **reply)
{
	struct conn *c = arg;
	const struct smtpd_inbound *in = &c->w->d->inbound;
	struct mailbox mb;
	struct arena *a;
	const char *why = NULL;
	int rc = 0;

	if (c->l->which == SMTPD_INBOUND) {
		if (in->rcpt != NULL && in->rcpt(in->arg, addr) == 1)
			return 0;
		*reply = "550 5.1.1 Recipient address rejected: no such "
		         "recipient here";
		return -1;
	}
	if ((a = arena_new(0)) == NULL) {
		*reply = "451 4.3.0 Out of memory; try again";
		return -1;
	}
	memset(&mb, 0, sizeof(mb));
	if (addr_parse(a, addr, strlen(addr), &mb, &why) == -1) {
		snprintf(c->answer, sizeof(c->answer),
		         "553 5.1.3 The recipient address %s", why);
		*reply = c->answer;
		rc = -1;
	}
	arena_free(a);
	return rc;
}

/* The submission of a message: submit_raw, submit_seal, submit_queue,
 * as REST send_raw. 0 when queued; -1 with c->answer. */
static int
submit_msg(struct conn *c, const char *from, const char *const *rcpts, size_t n,
           const char *msg, size_t len)
{
	struct submit_error se = {SUBMIT_INTERNAL, SUBMIT_PART_NONE, NULL};
	struct mailbox mfrom, *to;
	const char *why;
	size_t i;

	if ((c->a = arena_new(0)) == NULL ||
	    (to = arena_zalloc(c->a, n * sizeof(*to))) == NULL)
		goto refused;
	submit_init(&c->sub, c->w->d->submit, c->a, &c->who, clock_now());
	memset(&mfrom, 0, sizeof(mfrom));
	if (addr_parse(c->a, from, strlen(from), &mfrom, &why) == -1)
		goto refused;
	for (i = 0; i < n; i++)
		if (addr_parse(c->a, rcpts[i], strlen(rcpts[i]), &to[i],
		               &why) == -1)
			goto refused;
	/* SPEC §7: suppressed recipients are dropped silently */
	c->sub.rd = c->w->rd;
	c->sub.drop_suppressed = 1;
	c->sub.front = METRIC_FRONT_SMTP;
	/* lf_ok 0: a bare LF never gets here (session.c refuses it) */
	if (submit_raw(&c->sub, msg, len, 0, &mfrom, to, n, &se) == -1 ||
	    submit_seal(&c->sub, &se) == -1)
		goto refused;
	c->refs++;
	atomic_fetch_add(&c->w->d->inflight, 1);
	if (submit_queue(c->w->d->submit, &c->sub, submit_done, c) == -1) {
		atomic_fetch_sub(&c->w->d->inflight, 1);
		c->refs--;
		se = (struct submit_error){SUBMIT_UNAVAILABLE, SUBMIT_PART_NONE,
		                           NULL};
		goto refused;
	}
	log_info("smtpd: peer=%s msg=%s from=%s rcpts=%zu size=%zu", c->peer,
	         c->sub.message_id, mfrom.ascii, n, len);
	return 0;
refused:
	submit_reply(c, &se);
	return -1;
}

static void
hook_data(void *arg, const char *from, const char *const *rcpts, size_t n,
          const char *msg, size_t len)
{
	struct conn *c = arg;
	const struct smtpd_inbound *in = &c->w->d->inbound;

	if (c->l->which == SMTPD_INBOUND) {
		if (in->message == NULL) {
			session_answer(c->sess, "451 4.3.0 Not accepting "
			                        "mail here now");
			return;
		}
		c->refs++;
		atomic_fetch_add(&c->w->d->inflight, 1);
		in->message(in->arg, from, rcpts, n, msg, len, inbound_answer,
		            c);
		return;
	}
	if (submit_msg(c, from, rcpts, n, msg, len) == -1) {
		msg_clear(c);
		session_answer(c->sess, c->answer);
	}
}

static const struct session_ops hooks = {
    .auth = hook_auth,
    .mail = hook_mail,
    .rcpt = hook_rcpt,
    .data = hook_data,
};

/* ---- accepting ------------------------------------------------------ */

static void
conn_new(struct worker *w, struct listener *l, int fd,
         const struct sockaddr_storage *ss)
{
	struct smtpd *d = w->d;
	struct conn *c;
	SSL *ssl = NULL;
	int busy = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->w = w;
	c->l = l;
	c->refs = 1;
	metric_inc(&metrics.smtp_sessions_total);
	httpd_addr_key(ss, c->key);
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		          &((const struct sockaddr_in6 *)ss)->sin6_addr,
		          c->peer, sizeof(c->peer));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		          c->peer, sizeof(c->peer));
	if (cap_take(d, c->key) == 0)
		c->counted = 1;
	else
		busy = 1;
	if (l->which == SMTPD_SMTPS) {
		pthread_mutex_lock(&d->mu);
		ssl = SSL_new(d->ctx);
		pthread_mutex_unlock(&d->mu);
		if (ssl != NULL)
			c->bev = bufferevent_openssl_socket_new(
			    w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
			    BEV_OPT_CLOSE_ON_FREE);
	} else
		c->bev =
		    bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	if (c->bev == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		close(fd);
		c->closed = 1;
		conn_unref(c);
		return;
	}
	if ((c->timer = evtimer_new(w->base, on_timer, c)) == NULL ||
	    (c->sess = session_new(&l->conf, &hooks, c)) == NULL) {
		conn_close(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (busy) {
		/* SPEC §7: past a cap, 421 and the others go on */
		log_info("smtpd: peer=%s refused: too many sessions", c->peer);
		session_refuse(c->sess, "421 4.7.0 Too many sessions, try "
		                        "again later");
	}
	conn_feed(c);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct acceptor *acc = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, n, one = 1;

	/* a few at a time: the other workers take their share */
	for (n = 0; n < 16; n++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("smtpd: accept on %s",
				         directives[acc->l->which]);
			return;
		}
		/* a dialogue of small writes: Nagle would hold the greeting
		 * that follows a TLS handshake until the client's delayed
		 * ACK (40 ms a session) */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		                 sizeof(one));
		conn_new(acc->w, acc->l, fd, &ss);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void
evthread_setup(void)
{
	evthread_rc = evthread_use_pthreads();
}

static void
workers_free(struct smtpd *d)
{
	struct worker *w;
	struct conn *c;
	unsigned i, j;

	for (i = 0; i < d->nw; i++) {
		w = &d->w[i];
		if (w->started) {
			loop_close(w->loop);
			pthread_join(w->thread, NULL);
		}
		while (loop_run(w->loop, 64) > 0)
			;
		for (j = 0; j < SMTPD_NLISTENERS; j++)
			if (w->acc[j].ev != NULL)
				event_free(w->acc[j].ev);
		while ((c = TAILQ_FIRST(&w->conns)) != NULL) {
			c->refs = 1;
			c->closed = 0;
			conn_close(c);
		}
		loop_free(w->loop);
		if (w->base != NULL)
			event_base_free(w->base);
		store_close(w->rd);
	}
}

static void
smtpd_free(struct smtpd *d)
{
	struct ipcount *e;
	size_t i;

	workers_free(d);
	for (i = 0; i < SMTPD_NLISTENERS; i++)
		if (d->l[i].fd != -1)
			close(d->l[i].fd);
	for (i = 0; i < IP_BUCKETS; i++)
		while ((e = d->ips[i]) != NULL) {
			d->ips[i] = e->next;
			free(e);
		}
	SSL_CTX_free(d->ctx);
	free(d->cert);
	free(d->key);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

struct smtpd *
smtpd_start(const struct config *cfg, struct submit *submit,
            struct tenant *tenant, const struct smtpd_inbound *inbound,
            int fds[SMTPD_NLISTENERS], const char *cert, const char *key,
            char *err, size_t errlen)
{
	struct smtpd *d;
	struct worker *w;
	long cores;
	unsigned i, j;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		for (i = 0; i < SMTPD_NLISTENERS; i++)
			if (fds[i] != -1)
				close(fds[i]);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	d->cfg = cfg;
	d->submit = submit;
	d->tenant = tenant;
	if (inbound != NULL)
		d->inbound = *inbound;
	for (i = 0; i < SMTPD_NLISTENERS; i++) {
		d->l[i].which = i;
		d->l[i].fd = fds[i];
		fds[i] = -1;
		d->l[i].conf = (struct session_conf){
		    .hostname = cfg->hostname,
		    .kind =
		        i == SMTPD_INBOUND ? SESSION_INBOUND : SESSION_SUBMIT,
		    .tls = i == SMTPD_SMTPS,
		    .starttls = i != SMTPD_SMTPS && cert != NULL,
		    .require_tls = i == SMTPD_SUBMISSION,
		};
	}
	if (cert != NULL) {
		if ((d->cert = strdup(cert)) == NULL ||
		    (d->key = strdup(key)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if ((d->ctx = cert_ctx(cert, key, err, errlen)) == NULL)
			goto fail;
	} else
		for (i = 0; i < SMTPD_INBOUND; i++)
			if (d->l[i].fd != -1) {
				snprintf(
				    err, errlen,
				    "%s needs a certificate: set tls_cert "
				    "and tls_key, or %s \"\" to turn it off",
				    directives[i], directives[i]);
				goto fail;
			}
	pthread_once(&evthread_once, evthread_setup);
	if (evthread_rc != 0) {
		snprintf(err, errlen, "smtpd: evthread_use_pthreads failed");
		goto fail;
	}
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	d->nw = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : cores;
	for (i = 0; i < d->nw; i++) {
		w = &d->w[i];
		w->d = d;
		TAILQ_INIT(&w->conns);
		if ((w->base = event_base_new()) == NULL ||
		    (w->loop = loop_new()) == NULL ||
		    loop_attach(w->loop, w->base) == -1) {
			snprintf(err, errlen, "smtpd: out of memory");
			goto fail;
		}
		if ((w->rd = store_open(cfg->db_path, err, errlen)) == NULL)
			goto fail;
		for (j = 0; j < SMTPD_NLISTENERS; j++) {
			if (d->l[j].fd == -1)
				continue;
			w->acc[j].w = w;
			w->acc[j].l = &d->l[j];
			if ((w->acc[j].ev = event_new(
			         w->base, d->l[j].fd, EV_READ | EV_PERSIST,
			         on_accept, &w->acc[j])) == NULL ||
			    event_add(w->acc[j].ev, NULL) == -1) {
				snprintf(err, errlen, "smtpd: out of memory");
				goto fail;
			}
		}
	}
	for (i = 0; i < d->nw; i++) {
		if ((errno = pthread_create(&d->w[i].thread, NULL, worker_main,
		                            &d->w[i])) != 0) {
			snprintf(err, errlen, "smtpd: pthread_create: %s",
			         strerror(errno));
			goto fail;
		}
		d->w[i].started = 1;
	}
	for (i = 0; i < SMTPD_NLISTENERS; i++)
		if (d->l[i].fd != -1)
			log_info("smtpd listen=%s (%s)%s", listen_value(cfg, i),
			         directives[i],
			         i == SMTPD_INBOUND && cert == NULL
			             ? " without STARTTLS"
			             : "");
	return d;
fail:
	smtpd_free(d);
	return NULL;
}

int
smtpd_reload(struct smtpd *d, char *err, size_t errlen)
{
	SSL_CTX *ctx, *old;

	if (d == NULL || d->cert == NULL)
		return 0;
	if ((ctx = cert_ctx(d->cert, d->key, err, errlen)) == NULL)
		return -1;
	pthread_mutex_lock(&d->mu);
	old = d->ctx;
	d->ctx = ctx;
	pthread_mutex_unlock(&d->mu);
	/* sessions that use it hold their own reference */
	SSL_CTX_free(old);
	return 0;
}

/* loop_fn on each worker: no more accepting. */
static void
worker_quiesce(void *arg)
{
	struct worker *w = arg;
	unsigned j;

	for (j = 0; j < SMTPD_NLISTENERS; j++)
		if (w->acc[j].ev != NULL)
			event_del(w->acc[j].ev);
}

int
smtpd_stop(struct smtpd *d)
{
	int64_t until;
	unsigned i;

	if (d == NULL)
		return 0;
	for (i = 0; i < d->nw; i++)
		(void)loop_post(d->w[i].loop, worker_quiesce, &d->w[i]);
	/* the messages with the queue get their answer */
	until = clock_mono_ms() + d->cfg->drain_timeout;
	while (atomic_load(&d->inflight) > 0 && clock_mono_ms() < until)
		usleep(10 * 1000);
	if (atomic_load(&d->inflight) > 0) {
		/* their answers would reach freed sessions: keep all */
		log_warnx("smtpd: %d messages still with the queue after "
		          "drain_timeout; their sessions are cut off",
		          atomic_load(&d->inflight));
		return -1;
	}
	smtpd_free(d);
	return 0;
}
