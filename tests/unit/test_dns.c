/*
 * test_dns: src/dns/dns.c on a real event_base against
 * tests/peers/dns_peer.py on 127.0.0.1 (started once for the group):
 * MX order, A/AAAA, implicit and null MX, negative answers, failures,
 * CNAMEs, literals, the cache (what the peer's query log shows), cancel
 * and free with queries in flight, and the dns_servers syntax.
 * dns.c is included for its clock, so the cache expires without waiting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../src/dns/dns.c"

extern char **environ;

/* Records of the test's world; see dns_peer.py for the format. */
static const char zone[] =
    "pref.test      MX 20 b.pref.test\n"
    "pref.test      MX 10 a.pref.test\n"
    "pref.test      MX 30 c.pref.test\n"
    "a.pref.test    A 127.0.0.11\n"
    "b.pref.test    A 127.0.0.12\n"
    "c.pref.test    A 127.0.0.13\n"
    "eq.test        MX 10 x.eq.test\n"
    "eq.test        MX 10 y.eq.test\n"
    "x.eq.test      A 127.0.0.21\n"
    "y.eq.test      A 127.0.0.22\n"
    "dual.test      MX 10 mx.dual.test\n"
    "mx.dual.test   A 127.0.0.31\n"
    "mx.dual.test   A 127.0.0.32\n"
    "mx.dual.test   AAAA ::1\n"
    "mx.dual.test   AAAA ::2\n"
    "bare.test      A 127.0.0.41\n"
    "bare.test      AAAA ::41\n"
    "null.test      MX 0 .\n"
    "alias.test     CNAME real.test\n"
    "real.test      MX 10 mx.real.test\n"
    "mx.real.test   A 127.0.0.51\n"
    "hostalias.test CNAME bare.test\n"
    "lit.test       MX 10 192.0.2.1\n"
    "lit.test       MX 20 [192.0.2.2]\n"
    "lit.test       MX 30 mx.lit.test\n"
    "mx.lit.test    A 127.0.0.61\n"
    "onlylit.test   MX 10 192.0.2.1\n"
    "noaddr.test    MX 10 gone.noaddr.test\n"
    "noaddr.test    MX 20 txt.noaddr.test\n"
    "txt.noaddr.test TXT \"no address\"\n"
    "txtonly.test   TXT \"no mail\"\n"
    "half.test      MX 10 broken.half.test\n"
    "half.test      MX 20 ok.half.test\n"
    "ok.half.test   A 127.0.0.71\n"
    "tf.test        MX 10 broken.half.test\n"
    "servfail broken.half.test\n"
    "servfail fail.test\n"
    "refused refused.test\n"
    "drop slow.test\n"
    "tcp big.test\n"
    "big.test       MX 10 mx.big.test\n"
    "mx.big.test    A 127.0.0.81\n"
    "cache.test     60 MX 10 mx.cache.test\n"
    "mx.cache.test  20 A 127.0.0.91\n"
    "neg.test       SOA ns.neg.test. h.neg.test. 1 3600 600 86400 30\n"
    "relay.test     A 127.0.0.100\n"
    "join.test      MX 10 mx.join.test\n"
    "mx.join.test   A 127.0.0.101\n"
    "bound1.test    A 127.0.0.111\n"
    "bound2.test    A 127.0.0.112\n";

static char dir[] = "/tmp/test_dns.XXXXXX";
static char logpath[64];
static pid_t peer = -1;
static int port;
static char servers[32];

static int64_t fake_ms; /* added to the real clock */

static int64_t
fake_now(void)
{
	return clock_mono_ms() + fake_ms;
}

static int
group_setup(void **state)
{
	char zpath[64], ppath[64];
	char *argv[] = {
	    "python3", "../peers/dns_peer.py", "--zone", zpath, "--log",
	    logpath,   "--port-file",          ppath,    NULL};
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(zpath, sizeof(zpath), "%s/zone", dir);
	snprintf(ppath, sizeof(ppath), "%s/port", dir);
	snprintf(logpath, sizeof(logpath), "%s/queries.log", dir);
	if ((f = fopen(zpath, "w")) == NULL)
		return -1;
	fputs(zone, f);
	fclose(f);
	if (posix_spawn(&peer, "/usr/bin/python3", NULL, NULL, argv, environ) !=
	    0)
		return -1;
	for (int i = 0; i < 100 && port == 0; i++) {
		if ((f = fopen(ppath, "r")) != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		} else {
			usleep(50 * 1000);
		}
	}
	if (port == 0)
		return -1;
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	dns_now_ms = fake_now;
	random_set_seed(7);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	if (peer > 0) {
		kill(peer, SIGTERM);
		waitpid(peer, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The queries the peer has answered (or dropped) for name and type. */
static int
seen(const char *name, const char *type)
{
	char want[300], line[512];
	int n = 0;
	FILE *f = fopen(logpath, "r");

	if (f == NULL)
		return 0;
	snprintf(want, sizeof(want), "%s %s ", name, type);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, want, strlen(want)) == 0)
			n++;
	fclose(f);
	return n;
}

/* An answer copied out of its callback. */
struct result {
	int calls;
	enum dns_status status;
	char why[160];
	int implicit;
	size_t ntargets;
	struct {
		char host[256];
		int pref;
		size_t naddrs;
		char addrs[DNS_MAX_ADDRS][INET6_ADDRSTRLEN];
	} t[DNS_MAX_MX];
};

static int in_dns_call; /* set around dns_mx/dns_host: no callback inside */

static void
on_answer(void *arg, const struct dns_answer *a)
{
	struct result *r = arg;

	assert_false(in_dns_call);
	r->calls++;
	r->status = a->status;
	snprintf(r->why, sizeof(r->why), "%s", a->why);
	r->implicit = a->implicit_mx;
	r->ntargets = a->ntargets;
	assert_true(a->ntargets <= DNS_MAX_MX);
	for (size_t i = 0; i < a->ntargets; i++) {
		const struct dns_target *t = &a->targets[i];

		snprintf(r->t[i].host, sizeof(r->t[i].host), "%s", t->host);
		r->t[i].pref = t->pref;
		r->t[i].naddrs = t->naddrs;
		assert_true(t->naddrs > 0 && t->naddrs <= DNS_MAX_ADDRS);
		for (size_t j = 0; j < t->naddrs; j++) {
			const struct sockaddr *sa =
			    (const void *)&t->addrs[j].sa;
			const void *src =
			    sa->sa_family == AF_INET
			        ? (const void *)&(
			              (const struct sockaddr_in *)(const void *)
			                  sa)
			              ->sin_addr
			        : (const void *)&((const struct sockaddr_in6
			                               *)(const void *)sa)
			              ->sin6_addr;

			assert_int_equal(t->addrs[j].len,
			                 sa->sa_family == AF_INET
			                     ? sizeof(struct sockaddr_in)
			                     : sizeof(struct sockaddr_in6));
			inet_ntop(sa->sa_family, src, r->t[i].addrs[j],
			          sizeof(r->t[i].addrs[j]));
		}
	}
}

static struct dns_query *
ask(struct dns *d, int mx, const char *name, struct result *r)
{
	struct dns_query *q;

	memset(r, 0, sizeof(*r));
	in_dns_call = 1;
	q = mx ? dns_mx(d, name, on_answer, r)
	       : dns_host(d, name, on_answer, r);
	in_dns_call = 0;
	assert_non_null(q);
	return q;
}

/* Runs base until each of the n results has its answer (5 s at most). */
static void
run(struct event_base *base, struct result **rs, size_t n)
{
	int64_t end = clock_mono_ms() + 5000;

	for (;;) {
		size_t done = 0;

		for (size_t i = 0; i < n; i++)
			done += rs[i]->calls > 0;
		if (done == n)
			break;
		assert_true(clock_mono_ms() < end);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rs[i]->calls, 1);
}

/* Runs base for ms, answers or not. */
static void
run_for(struct event_base *base, int ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (clock_mono_ms() < end) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

struct fixture {
	struct event_base *base;
	struct dns *d;
};

static struct fixture *
fx_new(size_t cache_max)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->d = dns_new(f->base, servers, 200, 2, cache_max, err, sizeof(err));
	if (f->d == NULL)
		fail_msg("dns_new: %s", err);
	return f;
}

static void
fx_free(struct fixture *f)
{
	dns_free(f->d);
	event_base_free(f->base);
	free(f);
}

/* Resolves one name and returns its result (a static one). */
static struct result *
resolve(struct fixture *f, int mx, const char *name)
{
	static struct result r;
	struct result *rs[] = {&r};

	ask(f->d, mx, name, &r);
	run(f->base, rs, 1);
	return &r;
}

static void
test_mx_preference(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "pref.test");

	assert_int_equal(r->status, DNS_OK);
	assert_string_equal(r->why, "");
	assert_false(r->implicit);
	assert_int_equal(r->ntargets, 3);
	assert_string_equal(r->t[0].host, "a.pref.test");
	assert_int_equal(r->t[0].pref, 10);
	assert_string_equal(r->t[0].addrs[0], "127.0.0.11");
	assert_string_equal(r->t[1].host, "b.pref.test");
	assert_int_equal(r->t[1].pref, 20);
	assert_string_equal(r->t[1].addrs[0], "127.0.0.12");
	assert_string_equal(r->t[2].host, "c.pref.test");
	assert_int_equal(r->t[2].naddrs, 1);
	/* A final dot and capitals are the same name: from the cache. */
	r = resolve(f, 1, "PREF.test.");
	assert_int_equal(r->ntargets, 3);
	assert_int_equal(seen("pref.test", "MX"), 1);
	fx_free(f);
}

static void
test_equal_preferences_shuffled(void **state)
{
	struct fixture *f = fx_new(100);
	int xfirst = 0, yfirst = 0;

	for (int i = 0; i < 20; i++) {
		struct result *r = resolve(f, 1, "eq.test");

		assert_int_equal(r->ntargets, 2);
		if (strcmp(r->t[0].host, "x.eq.test") == 0)
			xfirst++;
		else
			yfirst++;
	}
	assert_true(xfirst > 0 && yfirst > 0);
	assert_int_equal(seen("eq.test", "MX"), 1);
	fx_free(f);
}

static void
test_a_and_aaaa(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "dual.test");

	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->ntargets, 1);
	assert_int_equal(r->t[0].naddrs, 4);
	/* interleaved, IPv6 first */
	assert_non_null(strchr(r->t[0].addrs[0], ':'));
	assert_null(strchr(r->t[0].addrs[1], ':'));
	assert_non_null(strchr(r->t[0].addrs[2], ':'));
	assert_null(strchr(r->t[0].addrs[3], ':'));
	assert_int_equal(seen("mx.dual.test", "A"), 1);
	assert_int_equal(seen("mx.dual.test", "AAAA"), 1);
	fx_free(f);
}

static void
test_implicit_mx(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "bare.test");

	assert_int_equal(r->status, DNS_OK);
	assert_true(r->implicit);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].host, "bare.test");
	assert_int_equal(r->t[0].pref, 0);
	assert_int_equal(r->t[0].naddrs, 2);
	assert_string_equal(r->t[0].addrs[0], "::41");
	assert_string_equal(r->t[0].addrs[1], "127.0.0.41");

	/* No MX and no address: nowhere to deliver. */
	r = resolve(f, 1, "txtonly.test");
	assert_int_equal(r->status, DNS_NO_ADDRESS);
	assert_int_equal(r->ntargets, 0);
	assert_string_equal(r->why, "txtonly.test: no MX, A or AAAA record");
	fx_free(f);
}

static void
test_null_mx_and_nxdomain(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "null.test");

	assert_int_equal(r->status, DNS_NULL_MX);
	assert_int_equal(r->ntargets, 0);
	assert_string_equal(r->why, "null.test: accepts no mail (null MX)");

	r = resolve(f, 1, "nowhere.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_string_equal(r->why, "nowhere.test: no such domain (NXDOMAIN)");
	/* No address lookups after either. */
	assert_int_equal(seen("null.test", "A"), 0);
	assert_int_equal(seen("nowhere.test", "A"), 0);
	fx_free(f);
}

static void
test_failures(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "fail.test");

	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_string_equal(r->why, "fail.test MX: no server answered "
	                            "(SERVFAIL, REFUSED or unreachable)");
	assert_int_equal(seen("fail.test", "MX"), 2); /* one per try */
	r = resolve(f, 1, "refused.test");
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_string_equal(r->why, "refused.test MX: no server answered "
	                            "(SERVFAIL, REFUSED or unreachable)");
	/* Failures are not cached. */
	r = resolve(f, 1, "fail.test");
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_int_equal(seen("fail.test", "MX"), 4);

	/* The only MX host fails: deferred. */
	r = resolve(f, 1, "tf.test");
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_string_equal(
	    r->why,
	    "tf.test: broken.half.test AAAA: no server answered (SERVFAIL, "
	    "REFUSED or unreachable)");
	/* One host fails, the next has an address: that one. */
	r = resolve(f, 1, "half.test");
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].host, "ok.half.test");
	fx_free(f);
}

static void
test_timeout(void **state)
{
	struct fixture *f = fx_new(100);
	int64_t t0 = clock_mono_ms(), dt;
	struct result *r = resolve(f, 1, "slow.test");

	dt = clock_mono_ms() - t0;
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_string_equal(r->why, "slow.test MX: timeout");
	/* Two tries: 200 ms, then c-ares doubles it to 400. */
	assert_true(dt >= 550 && dt < 3000);
	assert_int_equal(seen("slow.test", "MX"), 2);
	fx_free(f);
}

static void
test_no_address(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "noaddr.test");

	assert_int_equal(r->status, DNS_NO_ADDRESS);
	assert_string_equal(
	    r->why, "noaddr.test: gone.noaddr.test: no such domain (NXDOMAIN)");
	r = resolve(f, 1, "onlylit.test");
	assert_int_equal(r->status, DNS_NO_ADDRESS);
	assert_string_equal(r->why, "onlylit.test: no MX record names a host");
	fx_free(f);
}

static void
test_cname_and_literal_mx(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "alias.test");

	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].host, "mx.real.test");
	assert_string_equal(r->t[0].addrs[0], "127.0.0.51");

	/* Implicit MX through a CNAME: the name asked is the host. */
	r = resolve(f, 1, "hostalias.test");
	assert_int_equal(r->status, DNS_OK);
	assert_true(r->implicit);
	assert_string_equal(r->t[0].host, "hostalias.test");
	assert_int_equal(r->t[0].naddrs, 2);

	/* MX hosts "192.0.2.1" and "[192.0.2.2]" are skipped, unasked. */
	r = resolve(f, 1, "lit.test");
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].host, "mx.lit.test");
	assert_int_equal(seen("192.0.2.1", "A"), 0);
	fx_free(f);
}

static void
test_tcp_fallback(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "big.test");

	assert_int_equal(r->status, DNS_OK);
	assert_string_equal(r->t[0].addrs[0], "127.0.0.81");
	assert_int_equal(seen("big.test", "MX udp"), 1);
	assert_int_equal(seen("big.test", "MX tcp"), 1);
	fx_free(f);
}

static void
test_host_and_literals(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 0, "relay.test");

	assert_int_equal(r->status, DNS_OK);
	assert_false(r->implicit);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].host, "relay.test");
	assert_string_equal(r->t[0].addrs[0], "127.0.0.100");
	assert_int_equal(seen("relay.test", "MX"), 0);

	r = resolve(f, 0, "nowhere.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_string_equal(r->why, "nowhere.test: no such domain (NXDOMAIN)");
	r = resolve(f, 0, "txtonly.test");
	assert_int_equal(r->status, DNS_NO_ADDRESS);
	assert_string_equal(r->why, "txtonly.test: no A or AAAA record");

	/* Literals: no lookup, still answered from the loop. */
	r = resolve(f, 0, "127.0.0.5");
	assert_int_equal(r->status, DNS_OK);
	assert_string_equal(r->t[0].addrs[0], "127.0.0.5");
	r = resolve(f, 0, "[::1]");
	assert_string_equal(r->t[0].addrs[0], "::1");
	r = resolve(f, 0, "::1");
	assert_string_equal(r->t[0].addrs[0], "::1");
	r = resolve(f, 1, "[127.0.0.6]");
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->ntargets, 1);
	assert_string_equal(r->t[0].addrs[0], "127.0.0.6");
	r = resolve(f, 1, "[IPv6:::1]");
	assert_string_equal(r->t[0].addrs[0], "::1");
	/* RFC 5321 wants the tag; a bare address is no domain either. */
	r = resolve(f, 1, "[::1]");
	assert_int_equal(r->status, DNS_NXDOMAIN);

	/* Names that cannot be in the DNS. */
	r = resolve(f, 1, "a..test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_string_equal(r->why, "a..test: not a valid domain name");
	r = resolve(f, 1,
	            "a123456789012345678901234567890123456789012345678901234"
	            "567890123.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	r = resolve(f, 1, "sp ace.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_int_equal(f->d->asked, 6); /* A and AAAA of three names */
	fx_free(f);
}

static void
test_cache_ttl(void **state)
{
	struct fixture *f = fx_new(100);
	struct result *r = resolve(f, 1, "cache.test");

	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(seen("cache.test", "MX"), 1);
	assert_int_equal(seen("mx.cache.test", "A"), 1);
	assert_int_equal(seen("mx.cache.test", "AAAA"), 1);
	r = resolve(f, 1, "cache.test");
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(seen("cache.test", "MX"), 1);
	assert_int_equal(seen("mx.cache.test", "A"), 1);

	/* The A record (TTL 20) expires before the MX (60); the AAAA's
	 * NODATA lasts its SOA's 300. */
	fake_ms += 21 * 1000;
	r = resolve(f, 1, "cache.test");
	assert_string_equal(r->t[0].addrs[0], "127.0.0.91");
	assert_int_equal(seen("cache.test", "MX"), 1);
	assert_int_equal(seen("mx.cache.test", "A"), 2);
	assert_int_equal(seen("mx.cache.test", "AAAA"), 1);
	fake_ms += 40 * 1000;
	resolve(f, 1, "cache.test");
	assert_int_equal(seen("cache.test", "MX"), 2);
	assert_int_equal(seen("mx.cache.test", "A"), 3);
	assert_int_equal(seen("mx.cache.test", "AAAA"), 1);

	/* NXDOMAIN under neg.test: kept for the SOA's MINIMUM, 30 s. */
	r = resolve(f, 1, "x.neg.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	fake_ms += 29 * 1000;
	r = resolve(f, 1, "x.neg.test");
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_int_equal(seen("x.neg.test", "MX"), 1);
	fake_ms += 2 * 1000;
	resolve(f, 1, "x.neg.test");
	assert_int_equal(seen("x.neg.test", "MX"), 2);
	fx_free(f);
}

static void
test_cache_bound(void **state)
{
	struct fixture *f = fx_new(2);

	/* Each host is two entries: its A and its AAAA (NODATA). */
	resolve(f, 0, "bound1.test");
	assert_int_equal(f->d->ncached, 2);
	resolve(f, 0, "bound2.test");
	assert_int_equal(f->d->ncached, 2);
	resolve(f, 0, "bound2.test");
	assert_int_equal(seen("bound2.test", "A"), 1);
	resolve(f, 0, "bound1.test"); /* evicted */
	assert_int_equal(seen("bound1.test", "A"), 2);
	assert_int_equal(f->d->ncached, 2);
	fx_free(f);

	/* No cache at all. */
	f = fx_new(0);
	resolve(f, 0, "bound1.test");
	resolve(f, 0, "bound1.test");
	assert_int_equal(seen("bound1.test", "A"), 4);
	assert_int_equal(f->d->ncached, 0);
	fx_free(f);
}

static void
test_lookups_in_flight_joined(void **state)
{
	struct fixture *f = fx_new(100);
	struct result r[3];
	struct result *rs[] = {&r[0], &r[1], &r[2]};

	for (int i = 0; i < 3; i++)
		ask(f->d, 1, "join.test", &r[i]);
	run(f->base, rs, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].status, DNS_OK);
		assert_string_equal(r[i].t[0].addrs[0], "127.0.0.101");
	}
	assert_int_equal(seen("join.test", "MX"), 1);
	assert_int_equal(seen("mx.join.test", "A"), 1);
	fx_free(f);
}

static void
test_cancel(void **state)
{
	struct fixture *f = fx_new(100);
	struct result r1, r2, r3;
	struct result *rs[] = {&r2};

	/* Cancelled in flight: the lookup goes on for the other query. */
	dns_cancel(ask(f->d, 1, "real.test", &r1));
	ask(f->d, 1, "real.test", &r2);
	run(f->base, rs, 1);
	assert_int_equal(r2.status, DNS_OK);
	/* Cancelled with its answer ready (from the cache, a literal). */
	dns_cancel(ask(f->d, 1, "real.test", &r3));
	dns_cancel(ask(f->d, 0, "127.0.0.1", &r3));
	run_for(f->base, 50);
	assert_int_equal(r1.calls, 0);
	assert_int_equal(r3.calls, 0);
	assert_int_equal(seen("real.test", "MX"), 1);
	dns_cancel(NULL);
	fx_free(f);
}

static void
test_free_in_flight(void **state)
{
	struct fixture *f = fx_new(100);
	struct event_base *base = f->base;
	struct result r[4];

	ask(f->d, 1, "slow.test", &r[0]);
	ask(f->d, 1, "pref.test", &r[1]);
	ask(f->d, 0, "127.0.0.1", &r[2]);
	ask(f->d, 1, "eq.test", &r[3]);
	dns_free(f->d); /* the MX queries are sent, the literal's ready */
	f->d = NULL;
	run_for(base, 50);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i].calls, 0);
	fx_free(f);
}

/* A callback that frees the resolver it came from. */
static void
on_answer_free(void *arg, const struct dns_answer *a)
{
	struct fixture *f = arg;

	dns_free(f->d);
	f->d = NULL;
}

static void
test_free_from_callback(void **state)
{
	struct fixture *f = fx_new(100);

	assert_non_null(dns_mx(f->d, "pref.test", on_answer_free, f));
	assert_non_null(dns_mx(f->d, "slow.test", on_answer, NULL));
	while (f->d != NULL)
		event_base_loop(f->base, EVLOOP_ONCE);
	fx_free(f);
}

static void
test_servers(void **state)
{
	struct event_base *base = event_base_new();
	static const char *bad[] = {
	    "nonsense",
	    "127.0.0.1:0",
	    "127.0.0.1:65536",
	    "[::1",
	    "[::1]x",
	    "127.0.0.1,",
	    ",127.0.0.1",
	    "dns.example:53",
	    "127.0.0.1:5x",
	    "127.0.0.1:",
	    "1.2.3.4:53:53",
	    "[]:53",
	    "1.0.0.1,1.0.0.2,1.0.0.3,1.0.0.4,1.0.0.5,1.0.0.6,1.0.0.7,1.0.0.8,"
	    "1.0.0.9",
	};
	static const char *good[] = {
	    "127.0.0.1",  "127.0.0.1:5353", "::1",
	    "[::1]:5353", "[127.0.0.1]",    " 127.0.0.1 , [2001:db8::1]:53",
	};
	struct ares_addr_port_node *list = NULL;
	char err[256];
	struct dns *d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		d = dns_new(base, bad[i], 200, 2, 10, err, sizeof(err));
		assert_null(d);
		assert_true(strncmp(err, "dns_servers: ", 13) == 0);
	}
	d = dns_new(base, "1.2.3.4:5x", 200, 2, 10, err, sizeof(err));
	assert_string_equal(err, "dns_servers: \"1.2.3.4:5x\" is not an IP "
	                         "address with an optional port "
	                         "(192.0.2.1:53, [2001:db8::1]:53)");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		d = dns_new(base, good[i], 200, 2, 10, err, sizeof(err));
		assert_non_null(d);
		dns_free(d);
	}
	d = dns_new(base, "[::1]:5353,192.0.2.1", 200, 2, 10, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(ares_get_servers_ports(d->ch, &list), ARES_SUCCESS);
	assert_non_null(list);
	assert_int_equal(list->family, AF_INET6);
	assert_int_equal(list->udp_port, 5353);
	assert_int_equal(list->tcp_port, 5353);
	assert_non_null(list->next);
	assert_int_equal(list->next->family, AF_INET);
	assert_int_equal(list->next->udp_port, 53);
	ares_free_data(list);
	dns_free(d);

	/* The system's servers. */
	d = dns_new(base, NULL, 200, 2, 10, err, sizeof(err));
	assert_non_null(d);
	dns_free(d);
	d = dns_new(base, "", 200, 0, 10, err, sizeof(err));
	assert_null(d);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_preference),
	    cmocka_unit_test(test_equal_preferences_shuffled),
	    cmocka_unit_test(test_a_and_aaaa),
	    cmocka_unit_test(test_implicit_mx),
	    cmocka_unit_test(test_null_mx_and_nxdomain),
	    cmocka_unit_test(test_failures),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_no_address),
	    cmocka_unit_test(test_cname_and_literal_mx),
	    cmocka_unit_test(test_tcp_fallback),
	    cmocka_unit_test(test_host_and_literals),
	    cmocka_unit_test(test_cache_ttl),
	    cmocka_unit_test(test_cache_bound),
	    cmocka_unit_test(test_lookups_in_flight_joined),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_free_in_flight),
	    cmocka_unit_test(test_free_from_callback),
	    cmocka_unit_test(test_servers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
