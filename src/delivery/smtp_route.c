/*
 * smtp_route: the mx and relay routes (SPEC §6.3). A job is one message
 * and the recipients of one domain: one SMTP transaction. Its
 * destination is the recipient domain (mx) or the relay's host and port
 * (relay). An attempt takes an idle connection of the destination when
 * one is open, else resolves (MX by preference, or the relay's
 * addresses) and tries each address in turn until a session comes up:
 * a host that refuses, times out, says 421 or fails its TLS gives way to
 * the next one in the same attempt. Then one transaction; its replies
 * decide each recipient, and the connection goes back to the
 * destination's idle list for the next job (RSET between), until
 * max_messages_per_connection or idle_ms.
 *
 * Everything runs on the engine's event_base and never blocks, except
 * the message's load from the store (one indexed read per attempt, on
 * the engine thread).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "../core/file.h"
#include "../core/log.h"
#include "../core/random.h"
#include "../dns/dns.h"
#include "../mail/verp.h"
#include "../smtp/client.h"
#include "../store/store.h"
#include "route.h"
#include "scheduler.h"

#define IDLE_MS 5000 /* an idle connection is kept this long */
#define DNS_TIMEOUT_MS 5000
#define DNS_TRIES 2
#define DNS_CACHE 10000

struct smtp_env {
	struct event_base *base;
	const struct config *cfg;
	struct dns *dns;
	SSL_CTX *ssl;
	struct store *st; /* the engine thread's, to load messages */
	unsigned char key[VERP_KEY_LEN];
};

/* An open connection between jobs. */
struct idle {
	struct smtp_conn *c;
	char dest[300];
	struct event *timer;
	struct smtp_route *r;
	struct idle *prev, *next;
};

struct attempt;

struct smtp_route {
	struct route rt;
	const struct cfg_route *cr;
	struct smtp_env *env;
	struct idle *idle;        /* every idle connection of the route */
	struct attempt *attempts; /* in flight */
	char relay_dest[300];     /* a relay's "host:port" */
};

/* One address to try. */
struct cand {
	char host[256];
	struct sockaddr_storage sa;
	socklen_t len;
};

struct attempt {
	struct smtp_route *r;
	struct sched_job *job;
	route_done_fn *done;
	void *arg;
	struct store_msg_load msg;
	char mail_from[VERP_LOCAL_MAX + 256];
	const char **rcpts;
	char dest[300];
	struct dns_query *q;
	struct cand *cands;
	size_t ncands, next;
	struct smtp_conn *c;
	char why[320]; /* the last failure, for the deferral */
	/* the last host that refused the session with a reply (a 421):
	 * a deferral carries it, so that destination health sees it */
	int code;
	char enhanced[16];
	int fresh; /* a stale idle connection was dropped: no second time */
	struct attempt *prev, *next_a;
};

/* snprintf for texts that may be cut (a reply, a host, a reason): the
 * cut is wanted. */
static void say(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* ---- the shared environment ---- */

/* The VERP key: state_dir/verp.key, 32 random bytes made at first use.
 * 0, or -1 with err. */
static int
verp_key(const struct config *cfg, unsigned char *key, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, VERP_KEY_FILE);
	return file_secret(path, key, VERP_KEY_LEN, err, errlen);
}

struct smtp_env *
smtp_env_new(struct event_base *base, const struct config *cfg, char *err,
             size_t errlen)
{
	struct smtp_env *e;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errlen, "delivery: out of memory");
		return NULL;
	}
	e->base = base;
	e->cfg = cfg;
	if (verp_key(cfg, e->key, err, errlen) == -1)
		goto fail;
	if ((e->dns = dns_new(base, cfg->dns_servers, DNS_TIMEOUT_MS, DNS_TRIES,
	                      DNS_CACHE, err, errlen)) == NULL)
		goto fail;
	if ((e->ssl = smtp_ssl_ctx_new(
	         cfg->tls_ca_file[0] != '\0' ? cfg->tls_ca_file : NULL)) ==
	    NULL) {
		snprintf(err, errlen, "delivery: cannot make a TLS context%s%s",
		         cfg->tls_ca_file[0] != '\0' ? " with tls_ca_file "
		                                     : "",
		         cfg->tls_ca_file);
		goto fail;
	}
	return e;
fail:
	smtp_env_free(e);
	return NULL;
}

void
smtp_env_free(struct smtp_env *e)
{
	if (e == NULL)
		return;
	dns_free(e->dns);
	if (e->ssl != NULL)
		SSL_CTX_free(e->ssl);
	store_close(e->st);
	free(e);
}

/* The engine thread's store connection, opened at first use. */
static struct store *
env_store(struct smtp_env *e, char *why, size_t whylen)
{
	char err[256];

	if (e->st == NULL &&
	    (e->st = store_open(e->cfg->db_path, err, sizeof(err))) == NULL)
		snprintf(why, whylen, "the store cannot be read: %s", err);
	return e->st;
}

/* ---- answers ---- */

/* Every recipient of j gets the same answer. code 0: no reply (cls
 * says what failed). */
static void
answer_all(struct sched_job *j, enum route_class cls, int code,
           const char *enhanced, const char *text)
{
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct sched_rcpt *r = &j->rcpts[i];

		r->cls = cls;
		r->code = code;
		say(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
		say(r->reply, sizeof(r->reply), "%s", text);
	}
}

static void
attempt_free(struct attempt *a)
{
	struct smtp_route *r = a->r;

	if (a->prev != NULL)
		a->prev->next_a = a->next_a;
	else
		r->attempts = a->next_a;
	if (a->next_a != NULL)
		a->next_a->prev = a->prev;
	if (a->q != NULL)
		dns_cancel(a->q);
	smtp_close(a->c);
	store_msg_load_clear(&a->msg);
	free(a->rcpts);
	free(a->cands);
	free(a);
}

/* The attempt is over: the route answers for the job. */
static void
attempt_end(struct attempt *a)
{
	route_done_fn *done = a->done;
	struct sched_job *j = a->job;
	void *arg = a->arg;

	attempt_free(a);
	done(arg, j);
}

/* No session could be had: every recipient is deferred with why. */
static void
attempt_defer(struct attempt *a, enum route_class cls)
{
	if (a->code >= 400 && a->code < 500)
		answer_all(a->job, ROUTE_RESP, a->code, a->enhanced, a->why);
	else
		answer_all(a->job, cls, 0, "4.4.1", a->why);
	attempt_end(a);
}

/* ---- idle connections ---- */

static void
idle_unlink(struct idle *i)
{
	struct smtp_route *r = i->r;

	if (i->prev != NULL)
		i->prev->next = i->next;
	else
		r->idle = i->next;
	if (i->next != NULL)
		i->next->prev = i->prev;
	event_free(i->timer);
}

static void
idle_drop(struct idle *i)
{
	idle_unlink(i);
	smtp_close(i->c);
	free(i);
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	idle_drop(arg);
}

/* A ready connection was lost between jobs. */
static void
idle_lost(void *arg, struct smtp_conn *c, const struct smtp_error *e)
{
	(void)c;
	(void)e;
	idle_drop(arg);
}

/* Keeps c for dest's next job, or closes it. */
static void
idle_put(struct smtp_route *r, const char *dest, struct smtp_conn *c)
{
	struct timeval tv = {IDLE_MS / 1000, (IDLE_MS % 1000) * 1000};
	const struct smtp_info *in = smtp_info(c);
	struct idle *i;

	if (!smtp_ready(c) ||
	    (int)in->transactions >= r->env->cfg->max_messages_per_connection ||
	    (i = calloc(1, sizeof(*i))) == NULL) {
		smtp_close(c);
		return;
	}
	if ((i->timer = evtimer_new(r->rt.base, idle_timeout, i)) == NULL) {
		free(i);
		smtp_close(c);
		return;
	}
	i->c = c;
	i->r = r;
	say(i->dest, sizeof(i->dest), "%s", dest);
	i->next = r->idle;
	if (r->idle != NULL)
		r->idle->prev = i;
	r->idle = i;
	smtp_set_idle(c, idle_lost, i);
	evtimer_add(i->timer, &tv);
}

/* An idle connection of dest, taken off the list; NULL when none. */
static struct smtp_conn *
idle_take(struct smtp_route *r, const char *dest)
{
	struct smtp_conn *c;
	struct idle *i;

	for (i = r->idle; i != NULL; i = i->next) {
		if (strcmp(i->dest, dest) != 0 || !smtp_ready(i->c))
			continue;
		c = i->c;
		smtp_set_idle(c, NULL, NULL);
		idle_unlink(i);
		free(i);
		return c;
	}
	return NULL;
}

/* ---- the transaction ---- */

static void try_next(struct attempt *a);
static void resolve(struct attempt *a);

static void
sent(void *arg, struct smtp_conn *c, const struct smtp_result *res)
{
	struct attempt *a = arg;
	struct sched_job *j = a->job;
	const struct smtp_error *e = &res->error;
	const struct smtp_info *in = smtp_info(c);

	/* an idle connection the peer had dropped, found at the RSET:
	 * nothing of the message was taken, and this is no attempt yet */
	if ((e->err == SMTP_ERR_CLOSED || e->err == SMTP_ERR_TIMEOUT) &&
	    e->stage == SMTP_RSET && !a->fresh) {
		a->c = NULL;
		smtp_drop(c);
		a->fresh = 1;
		resolve(a);
		return;
	}
	for (size_t i = 0; i < j->nrcpts && i < res->n; i++) {
		struct sched_rcpt *r = &j->rcpts[i];
		const struct smtp_reply *rep = &res->rcpt[i];

		if (rep->code != 0) {
			r->cls = ROUTE_RESP;
			r->code = rep->code;
			say(r->enhanced, sizeof(r->enhanced), "%s",
			    rep->enhanced);
			say(r->reply, sizeof(r->reply), "%s", rep->text);
		} else {
			r->cls =
			    e->err == SMTP_ERR_CONNECT || e->err == SMTP_ERR_TLS
			        ? ROUTE_CONN
			        : ROUTE_PROTO;
			r->code = 0;
			say(r->enhanced, sizeof(r->enhanced), "4.4.2");
			say(r->reply, sizeof(r->reply), "%s: %s", in->peer,
			    e->why);
		}
	}
	say(j->relay, sizeof(j->relay), "%s", in->peer);
	say(j->tls, sizeof(j->tls), "%s", in->tls != NULL ? in->tls : "none");
	a->c = NULL;
	if (e->err == SMTP_ERR_NONE)
		idle_put(a->r, a->dest, c);
	else
		smtp_close(c);
	attempt_end(a);
}

static void
send_on(struct attempt *a, struct smtp_conn *c)
{
	a->c = c;
	if (smtp_send(c, a->mail_from, a->rcpts, a->job->nrcpts, a->msg.raw,
	              a->msg.raw_len, sent, a) == -1) {
		a->c = NULL;
		smtp_close(c);
		say(a->why, sizeof(a->why),
		    "the connection could not take the message");
		try_next(a);
	}
}

static void
opened(void *arg, struct smtp_conn *c, const struct smtp_error *e)
{
	struct attempt *a = arg;
	struct sched_job *j = a->job;

	if (e == NULL) {
		send_on(a, c);
		return;
	}
	say(a->why, sizeof(a->why), "%s: %s: %s", smtp_info(c)->peer,
	    smtp_stage_name(e->stage), e->why);
	a->c = NULL;
	smtp_close(c);
	if (e->err == SMTP_ERR_REPLY) {
		a->code = e->reply.code;
		say(a->enhanced, sizeof(a->enhanced), "%s", e->reply.enhanced);
	}
	/* a 5xx to the greeting or EHLO from the last host: the domain
	 * will not take mail from us (a refused AUTH is the operator's to
	 * fix: deferred) */
	if (e->err == SMTP_ERR_REPLY && e->reply.code >= 500 &&
	    (e->stage == SMTP_GREETING || e->stage == SMTP_EHLO) &&
	    a->next >= a->ncands) {
		answer_all(j, ROUTE_RESP, e->reply.code, e->reply.enhanced,
		           a->why);
		attempt_end(a);
		return;
	}
	try_next(a);
}

/* The next address, or the end of the attempt. */
static void
try_next(struct attempt *a)
{
	const struct config *cfg = a->r->env->cfg;
	const struct cfg_route *cr = a->r->cr;
	struct smtp_opts o;
	struct cand *k;

	if (a->next >= a->ncands) {
		attempt_defer(a, ROUTE_CONN);
		return;
	}
	k = &a->cands[a->next++];
	memset(&o, 0, sizeof(o));
	o.helo = cfg->helo_name;
	o.host = k->host;
	o.tls = (enum smtp_tls)cr->tls;
	o.implicit_tls = cr->implicit_tls;
	o.ssl_ctx = a->r->env->ssl;
	o.user = cr->user;
	o.pass = cr->pass;
	o.timeout_ms[SMTP_CONNECT] = cfg->smtp_timeout_connect;
	o.timeout_ms[SMTP_GREETING] = cfg->smtp_timeout_greeting;
	o.timeout_ms[SMTP_EHLO] = cfg->smtp_timeout_ehlo;
	o.timeout_ms[SMTP_STARTTLS] = cfg->smtp_timeout_ehlo;
	o.timeout_ms[SMTP_AUTH] = cfg->smtp_timeout_ehlo;
	o.timeout_ms[SMTP_RSET] = cfg->smtp_timeout_mail;
	o.timeout_ms[SMTP_MAIL] = cfg->smtp_timeout_mail;
	o.timeout_ms[SMTP_RCPT] = cfg->smtp_timeout_rcpt;
	o.timeout_ms[SMTP_DATA] = cfg->smtp_timeout_data;
	o.timeout_ms[SMTP_DOT] = cfg->smtp_timeout_dot;
	if ((a->c = smtp_open(a->r->rt.base, (struct sockaddr *)&k->sa, k->len,
	                      &o, opened, a)) == NULL) {
		say(a->why, sizeof(a->why), "%s: %s", k->host, strerror(errno));
		try_next(a);
	}
}

/* The resolver's answer: the addresses to try, in order. */
static void
resolved(void *arg, const struct dns_answer *ans)
{
	struct attempt *a = arg;
	struct sched_job *j = a->job;
	int port = a->r->cr->kind == CFG_ROUTE_RELAY ? a->r->cr->port
	                                             : a->r->env->cfg->mx_port;
	size_t n = 0;

	a->q = NULL;
	switch (ans->status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
		answer_all(j, ROUTE_RESP, 550, "5.1.2", ans->why);
		attempt_end(a);
		return;
	case DNS_NULL_MX:
		answer_all(j, ROUTE_RESP, 556, "5.1.10", ans->why);
		attempt_end(a);
		return;
	case DNS_NO_ADDRESS:
		answer_all(j, ROUTE_RESP, 550, "5.4.4", ans->why);
		attempt_end(a);
		return;
	default:
		say(a->why, sizeof(a->why), "%s", ans->why);
		answer_all(j, ROUTE_CONN, 0, "4.4.3", ans->why);
		attempt_end(a);
		return;
	}
	for (size_t t = 0; t < ans->ntargets; t++)
		n += ans->targets[t].naddrs;
	if ((a->cands = calloc(n + 1, sizeof(*a->cands))) == NULL) {
		say(a->why, sizeof(a->why), "out of memory");
		attempt_defer(a, ROUTE_CONN);
		return;
	}
	for (size_t t = 0; t < ans->ntargets; t++)
		for (size_t i = 0; i < ans->targets[t].naddrs; i++) {
			struct cand *k = &a->cands[a->ncands++];
			const struct dns_addr *d = &ans->targets[t].addrs[i];

			say(k->host, sizeof(k->host), "%s",
			    a->r->cr->kind == CFG_ROUTE_RELAY
			        ? a->r->cr->host
			        : ans->targets[t].host);
			memcpy(&k->sa, &d->sa, d->len);
			k->len = d->len;
			if (k->sa.ss_family == AF_INET)
				((struct sockaddr_in *)&k->sa)->sin_port =
				    htons((uint16_t)port);
			else
				((struct sockaddr_in6 *)&k->sa)->sin6_port =
				    htons((uint16_t)port);
		}
	say(a->why, sizeof(a->why), "no address of %s took the session",
	    a->dest);
	try_next(a);
}

/* The envelope sender: the VERP address on the sending domain's
 * return_path_domain. One recipient: its row is named, so a bounce finds
 * it; several share one MAIL FROM, which names the message (row 0), and
 * a bounce names its recipient itself (RFC 3464 Final-Recipient). */
static int
mail_from(struct attempt *a)
{
	char local[VERP_LOCAL_MAX + 1];
	int64_t rcpt = a->job->nrcpts == 1 ? a->job->rcpts[0].id : 0;

	if (a->msg.return_path_domain[0] == '\0')
		return -1;
	if (verp_encode(a->job->msg_id, rcpt, a->r->env->key, VERP_KEY_LEN,
	                local, sizeof(local)) == -1)
		return -1;
	say(a->mail_from, sizeof(a->mail_from), "%s@%s", local,
	    a->msg.return_path_domain);
	return 0;
}

/* Looks up where the job goes; resolved() goes on. */
static void
resolve(struct attempt *a)
{
	struct smtp_route *r = a->r;

	if (r->cr->kind == CFG_ROUTE_RELAY)
		a->q = dns_host(r->env->dns, r->cr->host, resolved, a);
	else
		a->q = dns_mx(r->env->dns, a->dest, resolved, a);
	if (a->q == NULL) {
		say(a->why, sizeof(a->why), "cannot resolve %s: %s", a->dest,
		    "out of memory");
		attempt_defer(a, ROUTE_CONN);
	}
}

static void
smtp_deliver(struct route *rt, struct sched_job *j, route_done_fn *done,
             void *arg)
{
	struct smtp_route *r = (struct smtp_route *)rt;
	struct smtp_conn *c;
	struct attempt *a;
	struct store *st;
	int rc;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		answer_all(j, ROUTE_CONN, 0, "4.3.0", "out of memory");
		done(arg, j);
		return;
	}
	a->r = r;
	a->job = j;
	a->done = done;
	a->arg = arg;
	a->next_a = r->attempts;
	if (r->attempts != NULL)
		r->attempts->prev = a;
	r->attempts = a;
	j->relay[0] = j->tls[0] = '\0';
	if (r->cr->kind == CFG_ROUTE_RELAY)
		say(a->dest, sizeof(a->dest), "%s:%d", r->cr->host,
		    r->cr->port);
	else
		say(a->dest, sizeof(a->dest), "%s",
		    j->domain != NULL ? j->domain : "");
	if (j->msg != NULL) { /* handed over with the new message */
		a->msg = *j->msg;
		free(j->msg);
		j->msg = NULL;
	} else if ((st = env_store(r->env, a->why, sizeof(a->why))) == NULL) {
		attempt_defer(a, ROUTE_CONN);
		return;
	} else if ((rc = store_message_load(st, j->msg_id, &a->msg)) != 0) {
		say(a->why, sizeof(a->why), "the message cannot be read: %s",
		    rc == STORE_NOT_FOUND ? "it is gone" : store_error(st));
		attempt_defer(a, ROUTE_CONN);
		return;
	}
	if (mail_from(a) == -1) {
		say(a->why, sizeof(a->why),
		    "the message's sending domain is gone");
		attempt_defer(a, ROUTE_CONN);
		return;
	}
	if ((a->rcpts = calloc(j->nrcpts + 1, sizeof(*a->rcpts))) == NULL) {
		say(a->why, sizeof(a->why), "out of memory");
		attempt_defer(a, ROUTE_CONN);
		return;
	}
	for (size_t i = 0; i < j->nrcpts; i++)
		a->rcpts[i] = j->rcpts[i].address;
	if ((c = idle_take(r, a->dest)) != NULL) {
		send_on(a, c);
		return;
	}
	resolve(a);
}

/* Drops what is open, at once (the engine's base goes next: nothing may
 * linger on it for a QUIT); the jobs in flight belong to the engine and
 * are tried again after a restart. */
static void
smtp_route_free(struct route *rt)
{
	struct smtp_route *r = (struct smtp_route *)rt;
	struct idle *i;

	while ((i = r->idle) != NULL) {
		idle_unlink(i);
		smtp_drop(i->c);
		free(i);
	}
	while (r->attempts != NULL) {
		smtp_drop(r->attempts->c);
		r->attempts->c = NULL;
		attempt_free(r->attempts);
	}
	free(r);
}

struct route *
smtp_route_new(struct event_base *base, const struct config *cfg,
               const struct cfg_route *cr, struct smtp_env *env, char *err,
               size_t errlen)
{
	struct smtp_route *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		say(err, errlen, "delivery: out of memory");
		return NULL;
	}
	r->rt.name = config_route_kind_name(cr->kind);
	r->rt.deliver = smtp_deliver;
	r->rt.free = smtp_route_free;
	r->rt.max_conns = cfg->max_connections_per_destination;
	r->rt.drains = 1;
	if (cr->kind == CFG_ROUTE_RELAY) {
		/* one smarthost: its cap and its health count for every
		 * recipient domain sent through it */
		say(r->relay_dest, sizeof(r->relay_dest), "%s:%d", cr->host,
		    cr->port);
		r->rt.dest = r->relay_dest;
	}
	r->rt.base = base;
	r->rt.cfg = cfg;
	r->rt.ctx = r;
	r->cr = cr;
	r->env = env;
	return &r->rt;
}
