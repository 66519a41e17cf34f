/*
 * test_dnsreply: src/dns/dnsreply.c — replies built byte by byte here:
 * MX, A and AAAA answers, name compression and its loops, CNAME chains,
 * the negative TTL from the SOA, and malformed or cut replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/dns/dnsreply.h"

struct pkt {
	unsigned char b[8192];
	size_t n;
};

static void
put8(struct pkt *p, unsigned v)
{
	assert_true(p->n < sizeof(p->b));
	p->b[p->n++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8 & 0xff);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* name in labels, uncompressed ("" is the root). */
static void
put_name(struct pkt *p, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)len);
		for (size_t i = 0; i < len; i++)
			put8(p, (unsigned char)name[i]);
		name += len + (dot != NULL);
	}
	put8(p, 0);
}

static void
put_ptr(struct pkt *p, size_t off)
{
	put16(p, 0xc000 | (unsigned)off);
}

/* A reply header (QR, RD, RA; rcode) and its question. */
static void
start(struct pkt *p, int rcode, unsigned an, unsigned ns, const char *qname,
      int qtype)
{
	memset(p, 0, sizeof(*p));
	put16(p, 0x1234);
	put16(p, 0x8180 | (unsigned)rcode);
	put16(p, 1);
	put16(p, an);
	put16(p, ns);
	put16(p, 0);
	put_name(p, qname);
	put16(p, (unsigned)qtype);
	put16(p, 1);
}

/* A record's head; the caller writes rdlen bytes of RDATA. */
static void
rr(struct pkt *p, const char *owner, int type, uint32_t ttl, unsigned rdlen)
{
	put_name(p, owner);
	put16(p, (unsigned)type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, rdlen);
}

static void
mx(struct pkt *p, const char *owner, uint32_t ttl, int pref, const char *host)
{
	rr(p, owner, DNSREPLY_MX, ttl,
	   (unsigned)(2 + (host[0] ? strlen(host) + 2 : 1)));
	put16(p, (unsigned)pref);
	put_name(p, host);
}

static void
cname(struct pkt *p, const char *owner, uint32_t ttl, const char *target)
{
	rr(p, owner, DNSREPLY_CNAME, ttl, (unsigned)(strlen(target) + 2));
	put_name(p, target);
}

static void
soa(struct pkt *p, const char *owner, uint32_t ttl, uint32_t minimum)
{
	rr(p, owner, DNSREPLY_SOA, ttl, 1 + 1 + 20);
	put_name(p, "");
	put_name(p, "");
	put32(p, 1);
	put32(p, 3600);
	put32(p, 600);
	put32(p, 86400);
	put32(p, minimum);
}

static struct dnsreply r;

static void
test_mx(void **state)
{
	struct pkt p;

	start(&p, 0, 2, 0, "Example.NET", DNSREPLY_MX);
	mx(&p, "example.net", 300, 20, "MX2.example.net");
	mx(&p, "EXAMPLE.net", 120, 10, "mx1.example.net");
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.rcode, DNSREPLY_NOERROR);
	assert_int_equal(r.qtype, DNSREPLY_MX);
	assert_string_equal(r.qname, "example.net");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.rr[0].pref, 20);
	assert_string_equal(r.rr[0].host, "mx2.example.net");
	assert_int_equal(r.rr[1].pref, 10);
	assert_string_equal(r.rr[1].host, "mx1.example.net");
	assert_false(r.rr[0].bad);
	assert_int_equal(r.ttl, 120);
	assert_int_equal(r.neg_ttl, DNSREPLY_NO_SOA);
	assert_int_equal(r.cnames, 0);
}

static void
test_null_mx_and_bad_names(void **state)
{
	struct pkt p;

	start(&p, 0, 3, 0, "example.net", DNSREPLY_MX);
	mx(&p, "example.net", 300, 0, "");
	mx(&p, "example.net", 300, 5, "a b.example.net"); /* a space */
	/* a label holding a dot: not the name "x.y.example.net" */
	rr(&p, "example.net", DNSREPLY_MX, 300, 2 + 4 + 13);
	put16(&p, 7);
	put8(&p, 3);
	put8(&p, 'x');
	put8(&p, '.');
	put8(&p, 'y');
	put_name(&p, "example.net");
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.rr[0].host, "");
	assert_false(r.rr[0].bad);
	assert_true(r.rr[1].bad);
	assert_true(r.rr[2].bad);
	assert_string_equal(r.rr[2].host, "x?y.example.net");
}

static void
test_addresses(void **state)
{
	struct pkt p;
	static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	start(&p, 0, 2, 0, "mx.example.net", DNSREPLY_A);
	rr(&p, "mx.example.net", DNSREPLY_A, 60, 4);
	put32(&p, 0xc0000201);
	rr(&p, "other.example.net", DNSREPLY_A, 60, 4); /* not the name */
	put32(&p, 0xc0000202);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.rr[0].addr, "\xc0\x00\x02\x01", 4);

	start(&p, 0, 1, 0, "mx.example.net", DNSREPLY_AAAA);
	rr(&p, "mx.example.net", DNSREPLY_AAAA, 0x80000000u, 16);
	for (int i = 0; i < 16; i++)
		put8(&p, v6[i]);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.rr[0].addr, v6, 16);
	assert_int_equal(r.ttl, 0); /* RFC 2181 §8 */

	/* An A record of 5 bytes is malformed. */
	start(&p, 0, 1, 0, "mx.example.net", DNSREPLY_A);
	rr(&p, "mx.example.net", DNSREPLY_A, 60, 5);
	put32(&p, 0xc0000201);
	put8(&p, 0);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
}

static void
test_compression(void **state)
{
	struct pkt p;

	start(&p, 0, 1, 0, "example.net", DNSREPLY_MX);
	/* owner: a pointer to the question's name at 12; exchange "mx" then
	 * a pointer to it too */
	put_ptr(&p, 12);
	put16(&p, DNSREPLY_MX);
	put16(&p, 1);
	put32(&p, 300);
	put16(&p, 2 + 3 + 2);
	put16(&p, 10);
	put8(&p, 2);
	put8(&p, 'm');
	put8(&p, 'x');
	put_ptr(&p, 12);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.rr[0].host, "mx.example.net");
}

static void
test_pointer_loops(void **state)
{
	struct pkt p;
	size_t at;

	/* A pointer to itself. */
	start(&p, 0, 1, 0, "example.net", DNSREPLY_MX);
	at = p.n;
	put_ptr(&p, at);
	put16(&p, DNSREPLY_MX);
	put16(&p, 1);
	put32(&p, 300);
	put16(&p, 3);
	put16(&p, 10);
	put8(&p, 0);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);

	/* A pointer forward. */
	start(&p, 0, 1, 0, "example.net", DNSREPLY_MX);
	put_ptr(&p, p.n + 2);
	put_name(&p, "example.net");
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);

	/* Two labels pointing at each other: "a" -> "b" -> "a". */
	start(&p, 0, 1, 0, "example.net", DNSREPLY_MX);
	rr(&p, "example.net", DNSREPLY_MX, 300, 2 + 4 + 4);
	put16(&p, 10);
	put8(&p, 1);
	put8(&p, 'a');
	put_ptr(&p, p.n + 2); /* forward to "b" */
	put8(&p, 1);
	put8(&p, 'b');
	put_ptr(&p, p.n - 6);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);

	/* The 01 and 10 label types. */
	start(&p, 0, 0, 0, "example.net", DNSREPLY_MX);
	p.b[12] = 0x41;
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
}

static void
test_cname_chain(void **state)
{
	struct pkt p;

	/* In any order, with a record of another name beside. */
	start(&p, 0, 5, 0, "alias.example", DNSREPLY_MX);
	mx(&p, "real.example", 600, 10, "mx.real.example");
	cname(&p, "mid.example", 50, "real.example");
	mx(&p, "alias.example", 600, 10, "wrong.example");
	cname(&p, "alias.example", 400, "mid.example");
	mx(&p, "other.example", 1, 10, "other.example");
	/* alias.example has an MX beside its CNAME (not allowed, RFC 1034
	 * §3.6.2): the chain is followed all the same. */
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.cnames, 2);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.rr[0].host, "mx.real.example");
	assert_int_equal(r.ttl, 50);

	/* A chain that ends without records: NODATA, with the CNAME's TTL. */
	start(&p, 0, 1, 1, "alias.example", DNSREPLY_MX);
	cname(&p, "alias.example", 40, "real.example");
	soa(&p, "example", 3600, 300);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.cnames, 1);
	assert_int_equal(r.ttl, 40);
	assert_int_equal(r.neg_ttl, 300);

	/* A loop, and a chain one longer than followed. */
	start(&p, 0, 2, 0, "a.example", DNSREPLY_MX);
	cname(&p, "a.example", 40, "b.example");
	cname(&p, "b.example", 40, "a.example");
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);

	start(&p, 0, DNSREPLY_MAX_CHAIN + 1, 0, "c0.example", DNSREPLY_MX);
	for (int i = 0; i <= DNSREPLY_MAX_CHAIN; i++) {
		char from[16], to[16];

		snprintf(from, sizeof(from), "c%d.example", i);
		snprintf(to, sizeof(to), "c%d.example", i + 1);
		cname(&p, from, 40, to);
	}
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
	/* DNSREPLY_MAX_CHAIN of them are followed. */
	p.b[7]--;
	assert_int_equal(dnsreply_parse(p.b, p.n - (10 + 12 + 12), &r), 0);
	assert_int_equal(r.cnames, DNSREPLY_MAX_CHAIN);
}

static void
test_negative(void **state)
{
	struct pkt p;

	start(&p, DNSREPLY_NXDOMAIN, 0, 1, "gone.example", DNSREPLY_MX);
	soa(&p, "example", 900, 60);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.rcode, DNSREPLY_NXDOMAIN);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.neg_ttl, 60);

	start(&p, 0, 0, 1, "example", DNSREPLY_MX);
	soa(&p, "example", 30, 600); /* the SOA's own TTL is less */
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.neg_ttl, 30);

	/* An SOA with bytes left over is malformed. */
	start(&p, 0, 0, 1, "example", DNSREPLY_MX);
	rr(&p, "example", DNSREPLY_SOA, 30, 1 + 1 + 20 + 1);
	put_name(&p, "");
	put_name(&p, "");
	for (int i = 0; i < 21; i++)
		put8(&p, 0);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
}

static void
test_many_mx_keeps_the_preferred(void **state)
{
	struct pkt p;
	int n = DNSREPLY_MAX_RR + 8;

	start(&p, 0, (unsigned)n, 0, "big.example", DNSREPLY_MX);
	for (int i = 0; i < n; i++) {
		char host[32];

		snprintf(host, sizeof(host), "mx%d.big.example", i);
		mx(&p, "big.example", 300, 100 - i, host); /* best last */
	}
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	assert_int_equal(r.n, DNSREPLY_MAX_RR);
	assert_int_equal(r.more, 8);
	for (size_t i = 0; i < r.n; i++)
		assert_true(r.rr[i].pref <= 100 - 8);
}

static void
test_malformed(void **state)
{
	struct pkt p, q;

	start(&p, 0, 2, 1, "example.net", DNSREPLY_MX);
	mx(&p, "example.net", 300, 10, "mx1.example.net");
	mx(&p, "example.net", 300, 20, "mx2.example.net");
	soa(&p, "example.net", 300, 60);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), 0);
	/* Every cut of it. */
	for (size_t n = 0; n < p.n; n++)
		assert_int_equal(dnsreply_parse(p.b, n, &r), -1);
	/* A query, not a reply. */
	q = p;
	q.b[2] &= 0x7f;
	assert_int_equal(dnsreply_parse(q.b, q.n, &r), -1);
	/* Two questions. */
	q = p;
	q.b[5] = 2;
	assert_int_equal(dnsreply_parse(q.b, q.n, &r), -1);
	/* An MX whose name runs past its RDATA. */
	start(&p, 0, 1, 0, "example.net", DNSREPLY_MX);
	rr(&p, "example.net", DNSREPLY_MX, 300, 4);
	put16(&p, 10);
	put_name(&p, "mx.example.net");
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
	/* A name of 256 octets. */
	start(&p, 0, 0, 0, "", DNSREPLY_MX);
	p.n = 12;
	for (int i = 0; i < 4; i++) {
		put8(&p, 63);
		for (int j = 0; j < 63; j++)
			put8(&p, 'a');
	}
	put8(&p, 0);
	put16(&p, DNSREPLY_MX);
	put16(&p, 1);
	assert_int_equal(dnsreply_parse(p.b, p.n, &r), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx),
	    cmocka_unit_test(test_null_mx_and_bad_names),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_compression),
	    cmocka_unit_test(test_pointer_loops),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_many_mx_keeps_the_preferred),
	    cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
