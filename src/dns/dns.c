/*
 * dns: MX and address lookups for delivery, see dns.h.
 *
 * Three layers. c-ares asks the servers: its sockets and its timer are
 * libevent events on the engine's base (ARES_OPT_SOCK_STATE_CB and
 * ares_timeout), and ares_process_fd runs when one fires. A lookup is
 * one (name, type): an entry of the table, in flight (with the queries
 * waiting on it) or answered (an rrset, kept until its TTL runs out,
 * the oldest evicted past cache_max). A query (dns_mx, dns_host) waits
 * on lookups in steps, MX then the hosts' A and AAAA, and is answered
 * from its own event, so its callback never runs inside dns_mx nor
 * inside c-ares.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/random.h"
#include "dns.h"
#include "dnsreply.h"

#define NAME_MAX_LEN DNSREPLY_NAME_MAX
#define LABEL_MAX 63
#define CLASS_IN 1
#define MIN_BUCKETS 64
#define MAX_BUCKETS (1u << 20)

/* The monotonic clock, in ms; tests move it to expire the cache. */
static int64_t (*dns_now_ms)(void) = clock_mono_ms;

/* What one lookup found. */
enum rrs_status { RRS_OK, RRS_NODATA, RRS_NXDOMAIN, RRS_FAIL };

struct rrdata {
	int pref;
	int bad;                /* MX: the exchange names no host */
	const char *host;       /* MX: the exchange, in the rrset's block */
	unsigned char addr[16]; /* A: 4 bytes, AAAA: 16 */
};

/* The answer to one (name, type), shared by the cache and the queries
 * that read it: freed with its last reference. One block. */
struct rrset {
	int refs;
	enum rrs_status status;
	char why[64]; /* RRS_FAIL: what failed, e.g. "timeout" */
	size_t n;
	struct rrdata rr[];
};

struct wait;

/* One lookup: in flight while set is NULL, then cached until expires. */
struct entry {
	struct dns *d;
	int type;
	char name[NAME_MAX_LEN + 1];
	uint32_t hash;
	struct entry *hnext;         /* the table's chain */
	struct entry *older, *newer; /* the cache's age list, answered only */
	struct rrset *set;
	int64_t expires;
	struct wait *waiters; /* while in flight */
};

/* A query's wait on one lookup; set holds the answer once it is in. */
struct wait {
	struct dns_query *q;
	struct entry *e; /* while waiting */
	struct wait *next, **pprev;
	struct rrset *set;
};

struct host {
	const char *name; /* borrowed: from q's MX rrset, or q->name */
	int pref;
	struct wait a, aaaa;
};

enum step { STEP_START, STEP_MX, STEP_ADDR, STEP_DONE };

struct dns_query {
	struct dns *d;
	struct dns_query *prev, *next; /* d's queries */
	dns_fn *cb;
	void *arg;
	struct event *ev; /* answers, or takes the next step */
	int mx;           /* dns_mx, not dns_host */
	enum step step;
	int running; /* in advance(): a lookup done meanwhile needs no event */
	size_t pending;
	char name[NAME_MAX_LEN + 1];
	int literal; /* name is an address: lit */
	struct dns_addr lit;
	/* Decided before STEP_DONE when the MX step ends the query. */
	enum dns_status status;
	char why[160];
	struct wait mxw;
	int implicit;
	size_t nhosts;
	struct host hosts[DNS_MAX_MX];
};

struct sock {
	ares_socket_t fd;
	struct event *ev;
};

struct dns {
	struct event_base *base;
	ares_channel ch;
	struct event *timer; /* c-ares's next timeout */
	struct sock *socks;
	size_t nsocks, capsocks;
	struct entry **buckets;
	size_t nbuckets;
	uint32_t seed;
	size_t cache_max, ncached;
	struct entry *oldest, *newest;
	struct dns_query *queries;
	uint64_t asked; /* lookups sent to a server, for tests */
};

static const char *
type_name(int type)
{
	switch (type) {
	case DNSREPLY_A:
		return "A";
	case DNSREPLY_AAAA:
		return "AAAA";
	default:
		return "MX";
	}
}

/* ---- the c-ares sockets and timer on the event_base ---- */

static void
timer_update(struct dns *d)
{
	struct timeval tv, *t;

	t = ares_timeout(d->ch, NULL, &tv);
	if (t != NULL)
		evtimer_add(d->timer, t);
	else
		evtimer_del(d->timer);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(d);
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	/* May close fd and free this event (on_sock_state): d only after. */
	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(d);
}

/* c-ares says which of fd's events to watch; none: fd is closing. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	short what =
	    (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	struct sock *s = NULL;

	for (size_t i = 0; i < d->nsocks; i++)
		if (d->socks[i].fd == fd)
			s = &d->socks[i];
	if (s != NULL && s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (what == 0) {
		if (s != NULL)
			*s = d->socks[--d->nsocks];
		return;
	}
	if (s == NULL) {
		if (d->nsocks == d->capsocks) {
			size_t cap = d->capsocks ? 2 * d->capsocks : 4;
			struct sock *n = realloc(d->socks, cap * sizeof(*n));

			if (n == NULL)
				goto fail;
			d->socks = n;
			d->capsocks = cap;
		}
		s = &d->socks[d->nsocks++];
		s->fd = fd;
	}
	s->ev = event_new(d->base, fd, what | EV_PERSIST, on_sock, d);
	if (s->ev != NULL && event_add(s->ev, NULL) == 0)
		return;
fail:
	/* The lookups on fd will time out (the timer still runs). */
	log_warnx("dns: cannot watch a c-ares socket: out of memory");
}

/* ---- answers of one lookup ---- */

static struct rrset *
rrset_ref(struct rrset *s)
{
	s->refs++;
	return s;
}

static void
rrset_unref(struct rrset *s)
{
	if (s != NULL && --s->refs == 0)
		free(s);
}

/* An rrset of n records (MX hosts copied in its block), 1 reference. */
static struct rrset *
rrset_new(enum rrs_status st, const struct dnsreply *r, size_t n)
{
	size_t size = sizeof(struct rrset) + n * sizeof(struct rrdata);
	struct rrset *s;
	char *p;

	for (size_t i = 0; i < n; i++)
		size += strlen(r->rr[i].host) + 1;
	if ((s = calloc(1, size)) == NULL)
		return NULL;
	s->refs = 1;
	s->status = st;
	s->n = n;
	p = (char *)&s->rr[n];
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(r->rr[i].host) + 1;

		s->rr[i].pref = r->rr[i].pref;
		s->rr[i].bad = r->rr[i].bad;
		memcpy(s->rr[i].addr, r->rr[i].addr, sizeof(s->rr[i].addr));
		memcpy(p, r->rr[i].host, len);
		s->rr[i].host = p;
		p += len;
	}
	return s;
}

static struct rrset *
rrset_fail(const char *why)
{
	struct rrset *s = rrset_new(RRS_FAIL, NULL, 0);

	if (s != NULL)
		snprintf(s->why, sizeof(s->why), "%s", why);
	return s;
}

/* c-ares's failures in a few words, for the log and the DSN. */
static const char *
ares_why(int status)
{
	switch (status) {
	case ARES_ETIMEOUT:
		return "timeout";
	case ARES_ESERVFAIL:
		return "server failure (SERVFAIL)";
	case ARES_EREFUSED:
		return "refused (REFUSED)";
	case ARES_ECONNREFUSED:
		/* c-ares 1.18 also says so when every server answered
		 * SERVFAIL or REFUSED */
		return "no server answered (SERVFAIL, REFUSED or unreachable)";
	case ARES_EBADRESP:
		return "malformed reply";
	default:
		return ares_strerror(status);
	}
}

/*
 * The rrset for e from c-ares's status and the reply; *ttl: seconds to
 * keep it (0 = not at all). NULL when memory is short.
 */
static struct rrset *
rrset_from_reply(const struct entry *e, int status, const unsigned char *abuf,
                 int alen, uint32_t *ttl)
{
	struct dnsreply *r;
	struct rrset *s;
	uint32_t neg;

	*ttl = 0;
	/* Anything but an answer (NOERROR, possibly empty, or NXDOMAIN)
	 * is a failure: c-ares has tried every server. */
	if ((status != ARES_SUCCESS && status != ARES_ENODATA &&
	     status != ARES_ENOTFOUND) ||
	    abuf == NULL)
		return rrset_fail(ares_why(status));
	if ((r = malloc(sizeof(*r))) == NULL)
		return NULL;
	if (dnsreply_parse(abuf, (size_t)alen, r) < 0 || r->qtype != e->type ||
	    strcmp(r->qname, e->name) != 0) {
		s = rrset_fail("malformed reply");
		goto out;
	}
	neg = r->neg_ttl == DNSREPLY_NO_SOA ? DNS_NEG_TTL : r->neg_ttl;
	if (r->cnames > 0 && r->ttl < neg)
		neg = r->ttl;
	if (neg > DNS_MAX_NEG_TTL)
		neg = DNS_MAX_NEG_TTL;
	if (r->rcode == DNSREPLY_NXDOMAIN) {
		s = rrset_new(RRS_NXDOMAIN, r, 0);
		*ttl = neg;
	} else if (r->rcode != DNSREPLY_NOERROR) {
		char why[32];

		snprintf(why, sizeof(why), "rcode %d", r->rcode);
		s = rrset_fail(why);
	} else if (r->n == 0) {
		s = rrset_new(RRS_NODATA, r, 0);
		*ttl = neg;
	} else {
		s = rrset_new(RRS_OK, r, r->n);
		*ttl = r->ttl < DNS_MAX_TTL ? r->ttl : DNS_MAX_TTL;
	}
out:
	free(r);
	return s;
}

static const char *
rrs_word(const struct rrset *s)
{
	if (s == NULL)
		return "out of memory";
	switch (s->status) {
	case RRS_OK:
		return "ok";
	case RRS_NODATA:
		return "nodata";
	case RRS_NXDOMAIN:
		return "nxdomain";
	default:
		return s->why;
	}
}

/* ---- the table of lookups ---- */

/* FNV-1a from a random start, so names cannot be chosen to collide. */
static uint32_t
entry_hash(const struct dns *d, int type, const char *name)
{
	uint32_t h = d->seed ^ (uint32_t)type;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

static struct entry *
table_find(struct dns *d, int type, const char *name, uint32_t h)
{
	struct entry *e = d->buckets[h & (d->nbuckets - 1)];

	while (e != NULL &&
	       (e->hash != h || e->type != type || strcmp(e->name, name) != 0))
		e = e->hnext;
	return e;
}

static void
table_remove(struct dns *d, struct entry *e)
{
	struct entry **pp = &d->buckets[e->hash & (d->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
}

/* Drops an answered entry from the table, the age list and memory. */
static void
entry_drop(struct dns *d, struct entry *e)
{
	table_remove(d, e);
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		d->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		d->newest = e->older;
	d->ncached--;
	rrset_unref(e->set);
	free(e);
}

static void query_wake(struct dns_query *q);

static void
wait_unlink(struct wait *w)
{
	if (w->next != NULL)
		w->next->pprev = w->pprev;
	*w->pprev = w->next;
	w->e = NULL;
}

/* A wait's end, in any state: its lookup goes on without it. */
static void
wait_clear(struct wait *w)
{
	if (w->e != NULL)
		wait_unlink(w);
	rrset_unref(w->set);
	memset(w, 0, sizeof(*w));
}

/* c-ares's answer to e's question (or its failure). */
static void
on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct entry *e = arg;
	struct dns *d = e->d;
	struct rrset *s;
	struct wait *w;
	uint32_t ttl;
	char name[LOG_VALUE_LEN(NAME_MAX_LEN)], word[LOG_VALUE_LEN(64)];

	if (status == ARES_EDESTRUCTION) /* dns_free: it frees e */
		return;
	/* NULL when memory is short: the waiters read it as a failure. */
	s = rrset_from_reply(e, status, abuf, alen, &ttl);
	log_debug("dns: lookup name=%s type=%s status=%s ttl=%u n=%zu",
	          log_value(e->name, name, sizeof(name)), type_name(e->type),
	          log_value(rrs_word(s), word, sizeof(word)), ttl,
	          s != NULL ? s->n : 0);

	/* Each waiting query gets its own reference. */
	while ((w = e->waiters) != NULL) {
		wait_unlink(w);
		w->set = s != NULL ? rrset_ref(s) : NULL;
		query_wake(w->q);
	}
	if (s == NULL || ttl == 0 || d->cache_max == 0) {
		table_remove(d, e);
		rrset_unref(s);
		free(e);
		return;
	}
	e->set = s;
	e->expires = dns_now_ms() + (int64_t)ttl * 1000;
	e->older = d->newest;
	e->newer = NULL;
	if (d->newest != NULL)
		d->newest->newer = e;
	else
		d->oldest = e;
	d->newest = e;
	d->ncached++;
	while (d->ncached > d->cache_max)
		entry_drop(d, d->oldest);
}

/*
 * Has w (of q) wait for (name, type): from the cache at once, by
 * joining the same lookup in flight, or by asking c-ares.
 */
static void
lookup(struct dns_query *q, struct wait *w, int type, const char *name)
{
	struct dns *d = q->d;
	uint32_t h = entry_hash(d, type, name);
	struct entry *e = table_find(d, type, name, h);

	memset(w, 0, sizeof(*w));
	w->q = q;
	if (e != NULL && e->set != NULL && e->expires <= dns_now_ms()) {
		entry_drop(d, e);
		e = NULL;
	}
	if (e != NULL && e->set != NULL) {
		w->set = rrset_ref(e->set);
		return;
	}
	q->pending++;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			q->pending--;
			w->set = rrset_fail("out of memory");
			return;
		}
		e->d = d;
		e->type = type;
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->hash = h;
		e->hnext = d->buckets[h & (d->nbuckets - 1)];
		d->buckets[h & (d->nbuckets - 1)] = e;
		e->waiters = w;
		w->pprev = &e->waiters;
		w->e = e;
		d->asked++;
		/* May answer at once (on_reply): e is not touched after. */
		ares_query(d->ch, name, CLASS_IN, type, on_reply, e);
		timer_update(d);
		return;
	}
	w->next = e->waiters;
	if (w->next != NULL)
		w->next->pprev = &w->next;
	e->waiters = w;
	w->pprev = &e->waiters;
	w->e = e;
}

/* ---- names ---- */

/*
 * in as a lookup name: lowercase, no final dot, RFC 1035 lengths, the
 * bytes of host names and service labels. 0, or -1.
 */
static int
name_norm(const char *in, char out[NAME_MAX_LEN + 1])
{
	size_t len = strlen(in), label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		           c == '-' || c == '_') {
			label++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
			label++;
		} else {
			return -1;
		}
		if (label > LABEL_MAX)
			return -1;
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

/* a as the address of family (AF_INET: 4 bytes, AF_INET6: 16), port 0. */
static void
addr_set(struct dns_addr *a, int family, const void *bytes)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;

	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, bytes, 4);
		a->len = sizeof(*in);
	} else {
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, bytes, 16);
		a->len = sizeof(*in6);
	}
}

/*
 * An address literal: "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321
 * §4.1.3), and when bare is set "192.0.2.1", "2001:db8::1" and
 * "[2001:db8::1]". 1 with *a filled, else 0.
 */
static int
parse_literal(const char *s, int bare, struct dns_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char b[16];
	size_t len = strlen(s);
	int v6only = 0;

	if (len > 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
			s += 5;
			len -= 5;
			v6only = 1;
		} else if (!bare && memchr(s, ':', len) != NULL) {
			return 0; /* RFC 5321 wants the IPv6: tag */
		}
	} else if (!bare) {
		return 0;
	}
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!v6only && inet_pton(AF_INET, buf, b) == 1)
		addr_set(a, AF_INET, b);
	else if (inet_pton(AF_INET6, buf, b) == 1)
		addr_set(a, AF_INET6, b);
	else
		return 0;
	return 1;
}

/* An MX host that reads as an address, not a name to look up. */
static int
is_ip_name(const char *host)
{
	unsigned char b[16];

	return host[0] == '[' || inet_pton(AF_INET, host, b) == 1 ||
	       inet_pton(AF_INET6, host, b) == 1;
}

/* ---- queries ---- */

static void
shuffle(void *base, size_t n, size_t size)
{
	unsigned char tmp[sizeof(struct dns_addr)];
	unsigned char *p = base;

	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(random_u64() % i);

		memcpy(tmp, p + (i - 1) * size, size);
		memcpy(p + (i - 1) * size, p + j * size, size);
		memcpy(p + j * size, tmp, size);
	}
}

static void
host_lookups(struct dns_query *q)
{
	for (size_t i = 0; i < q->nhosts; i++) {
		lookup(q, &q->hosts[i].aaaa, DNSREPLY_AAAA, q->hosts[i].name);
		lookup(q, &q->hosts[i].a, DNSREPLY_A, q->hosts[i].name);
	}
}

static void
query_end(struct dns_query *q, enum dns_status st)
{
	q->status = st;
	q->step = STEP_DONE;
}

/*
 * RFC 5321 §5.1 on the MX rrset: the hosts to look up, by preference
 * and at random among equal ones; or the end of the query.
 */
static void
mx_step(struct dns_query *q)
{
	const struct rrset *s = q->mxw.set;
	size_t idx[DNSREPLY_MAX_RR], n = 0, nulls = 0, unusable = 0;

	switch (s != NULL ? s->status : RRS_FAIL) {
	case RRS_FAIL:
		snprintf(q->why, sizeof(q->why), "%.90s MX: %.60s", q->name,
		         rrs_word(s));
		query_end(q, DNS_TEMPFAIL);
		return;
	case RRS_NXDOMAIN:
		snprintf(q->why, sizeof(q->why),
		         "%.100s: no such domain (NXDOMAIN)", q->name);
		query_end(q, DNS_NXDOMAIN);
		return;
	case RRS_NODATA:
		q->implicit = 1;
		q->hosts[0].name = q->name;
		q->hosts[0].pref = 0;
		q->nhosts = 1;
		q->step = STEP_ADDR;
		host_lookups(q);
		return;
	case RRS_OK:
		break;
	}
	for (size_t i = 0; i < s->n && i < DNSREPLY_MAX_RR; i++) {
		const struct rrdata *r = &s->rr[i];
		char norm[NAME_MAX_LEN + 1];

		/* An exchange is a host name to look up (RFC 5321 §5.1):
		 * "192.0.2.1." or a name pigeon cannot ask is not. */
		if (r->host[0] == '\0') /* RFC 7505 */
			nulls++;
		else if (r->bad || is_ip_name(r->host) ||
		         name_norm(r->host, norm) < 0)
			unusable++;
		else
			idx[n++] = i;
	}
	if (n == 0 && unusable == 0 && nulls > 0) {
		snprintf(q->why, sizeof(q->why),
		         "%.100s: accepts no mail (null MX)", q->name);
		query_end(q, DNS_NULL_MX);
		return;
	}
	if (n == 0) {
		snprintf(q->why, sizeof(q->why),
		         "%.100s: no MX record names a host", q->name);
		query_end(q, DNS_NO_ADDRESS);
		return;
	}
	/* By preference (insertion sort: a few records), then each run of
	 * equal preference shuffled. */
	for (size_t i = 1; i < n; i++) {
		size_t v = idx[i], j = i;

		for (; j > 0 && s->rr[idx[j - 1]].pref > s->rr[v].pref; j--)
			idx[j] = idx[j - 1];
		idx[j] = v;
	}
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1;
		     j < n && s->rr[idx[j]].pref == s->rr[idx[i]].pref; j++)
			;
		shuffle(&idx[i], j - i, sizeof(idx[0]));
	}
	for (size_t i = 0; i < n && q->nhosts < DNS_MAX_MX; i++) {
		q->hosts[q->nhosts].name = s->rr[idx[i]].host;
		q->hosts[q->nhosts].pref = s->rr[idx[i]].pref;
		q->nhosts++;
	}
	q->step = STEP_ADDR;
	host_lookups(q);
}

/* Takes the query's steps as far as its lookups allow; 1 when done. */
static int
advance(struct dns_query *q)
{
	q->running = 1;
	while (q->pending == 0 && q->step != STEP_DONE) {
		switch (q->step) {
		case STEP_START:
			if (q->literal) {
				query_end(q, DNS_OK);
			} else if (q->mx) {
				q->step = STEP_MX;
				lookup(q, &q->mxw, DNSREPLY_MX, q->name);
			} else {
				q->hosts[0].name = q->name;
				q->nhosts = 1;
				q->step = STEP_ADDR;
				host_lookups(q);
			}
			break;
		case STEP_MX:
			mx_step(q);
			break;
		case STEP_ADDR:
			query_end(q, DNS_OK); /* finish() decides */
			break;
		case STEP_DONE:
			break;
		}
	}
	q->running = 0;
	return q->step == STEP_DONE && q->pending == 0;
}

/* One of q's lookups is in. */
static void
query_wake(struct dns_query *q)
{
	if (--q->pending == 0 && !q->running)
		event_active(q->ev, 0, 0);
}

/* The addresses of an A or AAAA rrset (none unless RRS_OK), shuffled,
 * into out (DNS_MAX_ADDRS). Their number. */
static size_t
set_addrs(const struct rrset *s, int family, struct dns_addr *out)
{
	size_t n = 0;

	if (s == NULL || s->status != RRS_OK)
		return 0;
	for (; n < s->n && n < DNS_MAX_ADDRS; n++)
		addr_set(&out[n], family, s->rr[n].addr);
	shuffle(out, n, sizeof(out[0]));
	return n;
}

/* The addresses of h, interleaved IPv6 first, into out
 * (DNS_MAX_ADDRS). Their number. */
static size_t
host_addrs(const struct host *h, struct dns_addr *out)
{
	struct dns_addr v6[DNS_MAX_ADDRS], v4[DNS_MAX_ADDRS];
	size_t n6 = set_addrs(h->aaaa.set, AF_INET6, v6);
	size_t n4 = set_addrs(h->a.set, AF_INET, v4);
	size_t n = 0;

	for (size_t i = 0; n < DNS_MAX_ADDRS && (i < n6 || i < n4); i++) {
		if (i < n6)
			out[n++] = v6[i];
		if (i < n4 && n < DNS_MAX_ADDRS)
			out[n++] = v4[i];
	}
	return n;
}

/* Why host h gave no address: its first failed lookup, or 0 and a
 * negative answer's words. */
static int
host_failed(const struct host *h, char *why, size_t len)
{
	const struct wait *w[2] = {&h->aaaa, &h->a};

	for (int i = 0; i < 2; i++)
		if (w[i]->set == NULL || w[i]->set->status == RRS_FAIL) {
			snprintf(why, len, "%.90s %s: %.60s", h->name,
			         i == 0 ? "AAAA" : "A",
			         w[i]->set != NULL ? w[i]->set->why
			                           : "out of memory");
			return 1;
		}
	if (h->a.set->status == RRS_NXDOMAIN)
		snprintf(why, len, "%.100s: no such domain (NXDOMAIN)",
		         h->name);
	else
		snprintf(why, len, "%.100s: no A or AAAA record", h->name);
	return 0;
}

static void
query_free(struct dns_query *q)
{
	struct dns *d = q->d;

	for (size_t i = 0; i < q->nhosts; i++) {
		wait_clear(&q->hosts[i].a);
		wait_clear(&q->hosts[i].aaaa);
	}
	wait_clear(&q->mxw);
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		d->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	event_free(q->ev);
	free(q);
}

/*
 * The answer of q once its hosts are looked up: the hosts with an
 * address, in order, in one block (*block, the caller's to free); or,
 * when none has one, why. 0, or -1 when memory is short.
 */
static int
hosts_answer(struct dns_query *q, struct dns_answer *a, void **block)
{
	struct dns_addr(*addrs)[DNS_MAX_ADDRS];
	size_t counts[DNS_MAX_MX], total = 0, nt = 0;
	char failed[160] = "", first[160] = "", why[160];
	int nxdomain = 1;
	struct dns_target *t;
	struct dns_addr *p;

	if ((addrs = malloc(q->nhosts * sizeof(*addrs))) == NULL)
		return -1;
	for (size_t i = 0; i < q->nhosts; i++) {
		struct host *h = &q->hosts[i];

		counts[i] = host_addrs(h, addrs[i]);
		total += counts[i];
		nt += counts[i] > 0;
		if (counts[i] > 0)
			continue;
		if (host_failed(h, why, sizeof(why))) {
			if (failed[0] == '\0')
				memcpy(failed, why, sizeof(why));
		} else if (first[0] == '\0') {
			memcpy(first, why, sizeof(why));
		}
		if (h->a.set == NULL || h->a.set->status != RRS_NXDOMAIN ||
		    h->aaaa.set == NULL || h->aaaa.set->status != RRS_NXDOMAIN)
			nxdomain = 0;
	}
	if (total == 0) {
		const char *w = failed[0] != '\0' ? failed : first;

		if (failed[0] != '\0')
			a->status = DNS_TEMPFAIL;
		else if (!q->mx && nxdomain)
			a->status = DNS_NXDOMAIN;
		else
			a->status = DNS_NO_ADDRESS;
		if (!q->mx)
			snprintf(a->why, sizeof(a->why), "%s", w);
		else if (a->status == DNS_NO_ADDRESS && q->implicit)
			snprintf(a->why, sizeof(a->why),
			         "%.100s: no MX, A or AAAA record", q->name);
		else
			snprintf(a->why, sizeof(a->why), "%.60s: %.95s",
			         q->name, w);
		free(addrs);
		return 0;
	}
	if ((t = malloc(nt * sizeof(*t) + total * sizeof(*p))) == NULL) {
		free(addrs);
		return -1;
	}
	p = (struct dns_addr *)(t + nt);
	a->targets = t;
	a->ntargets = nt;
	for (size_t i = 0; i < q->nhosts; i++) {
		if (counts[i] == 0)
			continue;
		snprintf(t->host, sizeof(t->host), "%s", q->hosts[i].name);
		t->pref = q->hosts[i].pref;
		t->addrs = p;
		t->naddrs = counts[i];
		memcpy(p, addrs[i], counts[i] * sizeof(*p));
		p += counts[i];
		t++;
	}
	free(addrs);
	*block = a->targets;
	return 0;
}

/*
 * Builds the answer from q's lookups, frees q, then calls back: the
 * callback may use d as it likes, even free it.
 */
static void
finish(struct dns_query *q)
{
	struct dns_answer a;
	struct dns_target *t;
	void *block = NULL;
	dns_fn *cb = q->cb;
	void *arg = q->arg;
	int rc = 0;

	memset(&a, 0, sizeof(a));
	a.status = q->status;
	a.implicit_mx = q->implicit;
	snprintf(a.why, sizeof(a.why), "%s", q->why);
	if (q->literal) {
		block = t = calloc(1, sizeof(*t) + sizeof(struct dns_addr));
		if (t != NULL) {
			snprintf(t->host, sizeof(t->host), "%s", q->name);
			t->addrs = (struct dns_addr *)(t + 1);
			t->addrs[0] = q->lit;
			t->naddrs = 1;
			a.targets = t;
			a.ntargets = 1;
		}
		rc = t != NULL ? 0 : -1;
	} else if (q->status == DNS_OK) {
		rc = hosts_answer(q, &a, &block);
	}
	query_free(q);
	if (rc < 0) {
		memset(&a, 0, sizeof(a));
		a.status = DNS_TEMPFAIL;
		snprintf(a.why, sizeof(a.why), "out of memory");
	}
	cb(arg, &a);
	free(block);
}

static void
on_query(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	if (advance(q))
		finish(q);
}

static struct dns_query *
query_new(struct dns *d, const char *name, int mx, dns_fn *cb, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	if ((q->ev = event_new(d->base, -1, 0, on_query, q)) == NULL) {
		free(q);
		return NULL;
	}
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->mx = mx;
	q->next = d->queries;
	if (q->next != NULL)
		q->next->prev = q;
	d->queries = q;
	if (parse_literal(name, !mx, &q->lit)) {
		q->literal = 1;
		snprintf(q->name, sizeof(q->name), "%s", name);
	} else if (name_norm(name, q->name) < 0) {
		snprintf(q->name, sizeof(q->name), "%s", name);
		snprintf(q->why, sizeof(q->why),
		         "%.100s: not a valid domain name", name);
		query_end(q, DNS_NXDOMAIN);
	}
	if (advance(q))
		event_active(q->ev, 0, 0);
	return q;
}

struct dns_query *
dns_mx(struct dns *d, const char *domain, dns_fn *cb, void *arg)
{
	return query_new(d, domain, 1, cb, arg);
}

struct dns_query *
dns_host(struct dns *d, const char *host, dns_fn *cb, void *arg)
{
	return query_new(d, host, 0, cb, arg);
}

void
dns_cancel(struct dns_query *q)
{
	if (q != NULL)
		query_free(q);
}

/* ---- the resolver ---- */

/* "ip", "ip:port", "[ip]" or "[ip]:port" into n. 0, or -1. */
static int
parse_server(const char *s, size_t len, struct ares_addr_port_node *n)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *h = s, *end = s + len, *port = NULL, *colon;
	size_t hlen = len;
	long v = 0;

	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL)
			return -1;
		h = s + 1;
		hlen = (size_t)(rb - h);
		if (rb + 1 != end) {
			if (rb[1] != ':')
				return -1;
			port = rb + 2;
		}
	} else if ((colon = memchr(s, ':', len)) != NULL &&
	           memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
		hlen = (size_t)(colon - s); /* one colon: host:port */
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, host, &n->addr.addr4) == 1)
		n->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &n->addr.addr6) == 1)
		n->family = AF_INET6;
	else
		return -1;
	n->udp_port = n->tcp_port = 53;
	if (port == NULL)
		return 0;
	if (port == end)
		return -1;
	for (const char *c = port; c < end; c++)
		if (*c < '0' || *c > '9' || (v = v * 10 + (*c - '0')) > 65535)
			return -1;
	if (v == 0)
		return -1;
	n->udp_port = n->tcp_port = (int)v;
	return 0;
}

static int
set_servers(struct dns *d, const char *servers, char *err, size_t errlen)
{
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	size_t n = 0;
	const char *p = servers;
	int rc;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (n == DNS_MAX_SERVERS) {
			snprintf(err, errlen,
			         "dns_servers: more than %d servers",
			         DNS_MAX_SERVERS);
			return -1;
		}
		if (parse_server(p, len, &nodes[n]) < 0) {
			snprintf(err, errlen,
			         "dns_servers: \"%.*s\" is not an IP address "
			         "with an optional port (192.0.2.1:53, "
			         "[2001:db8::1]:53)",
			         (int)(len < 64 ? len : 64), p);
			return -1;
		}
		if (n > 0)
			nodes[n - 1].next = &nodes[n];
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	if ((rc = ares_set_servers_ports(d->ch, nodes)) != ARES_SUCCESS) {
		snprintf(err, errlen, "dns_servers: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns *
dns_new(struct event_base *base, const char *servers, int timeout_ms, int tries,
        size_t cache_max, char *err, size_t errlen)
{
	struct ares_options o;
	struct dns *d = NULL;
	int rc;

	if (timeout_ms < 1 || tries < 1) {
		snprintf(err, errlen,
		         "dns: timeout and tries must be positive");
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	d->base = base;
	d->cache_max = cache_max;
	d->seed = (uint32_t)random_u64();
	for (d->nbuckets = MIN_BUCKETS;
	     d->nbuckets < cache_max && d->nbuckets < MAX_BUCKETS;)
		d->nbuckets *= 2;
	d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
	d->timer = evtimer_new(base, on_timer, d);
	if (d->buckets == NULL || d->timer == NULL)
		goto nomem;

	memset(&o, 0, sizeof(o));
	/* Names are absolute: no search list, no HOSTALIASES. */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = timeout_ms;
	o.tries = tries;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = d;
	rc = ares_init_options(&d->ch, &o,
	                       ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
	                           ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		d->ch = NULL;
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		goto fail;
	}
	if (servers != NULL && servers[0] != '\0' &&
	    set_servers(d, servers, err, errlen) < 0)
		goto fail;
	return d;
nomem:
	snprintf(err, errlen, "dns: out of memory");
fail:
	if (d == NULL)
		ares_library_cleanup();
	dns_free(d);
	return NULL;
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	while (d->queries != NULL)
		query_free(d->queries);
	/* Calls on_reply with ARES_EDESTRUCTION for each lookup in flight
	 * and closes the sockets through on_sock_state. */
	if (d->ch != NULL)
		ares_destroy(d->ch);
	for (size_t i = 0; i < d->nsocks; i++)
		if (d->socks[i].ev != NULL)
			event_free(d->socks[i].ev);
	free(d->socks);
	for (size_t i = 0; d->buckets != NULL && i < d->nbuckets; i++)
		while (d->buckets[i] != NULL) {
			struct entry *e = d->buckets[i];

			d->buckets[i] = e->hnext;
			rrset_unref(e->set);
			free(e);
		}
	free(d->buckets);
	if (d->timer != NULL)
		event_free(d->timer);
	free(d);
	ares_library_cleanup();
}
