/*
 * dnsreply: reads a DNS reply (RFC 1035 §4) for pigeon's resolver: its
 * question and rcode, the records of the asked type at the end of the
 * answer's CNAME chain, how long they may be kept, and for a negative
 * reply the SOA's negative TTL (RFC 2308 §5). A pure function of the
 * bytes, with its own fuzz target: c-ares sends and receives, this only
 * reads.
 *
 * Not a general DNS parser: MX, A and AAAA answers only; the additional
 * section is not read.
 */
#ifndef PIGEON_DNS_DNSREPLY_H
#define PIGEON_DNS_DNSREPLY_H

#include <stddef.h>
#include <stdint.h>

#define DNSREPLY_A 1
#define DNSREPLY_CNAME 5
#define DNSREPLY_SOA 6
#define DNSREPLY_MX 15
#define DNSREPLY_AAAA 28

#define DNSREPLY_NOERROR 0
#define DNSREPLY_NXDOMAIN 3

#define DNSREPLY_NAME_MAX 253 /* a name as text, without the final dot */
#define DNSREPLY_MAX_RR 32    /* records of the asked type kept */
#define DNSREPLY_MAX_CHAIN 8  /* CNAMEs followed */
#define DNSREPLY_NO_SOA UINT32_MAX

struct dnsreply_rr {
	int pref; /* MX: the preference */
	/* MX: the exchange, lowercase, without the final dot; "" is the
	 * root (a null MX, RFC 7505). */
	char host[DNSREPLY_NAME_MAX + 1];
	/* MX: the exchange has a label that is not printable ASCII or holds
	 * a dot, so it names no host pigeon can look up. */
	int bad;
	unsigned char addr[16]; /* A: 4 bytes, AAAA: 16 */
};

struct dnsreply {
	int rcode; /* RFC 1035 §4.1.1 */
	int tc;    /* truncated */
	int qtype;
	char qname[DNSREPLY_NAME_MAX + 1]; /* lowercase, no final dot */
	int qname_bad;                     /* as dnsreply_rr.bad */
	/* The least TTL of the records kept and of the CNAMEs followed to
	 * them, 0 when there are none (RFC 2181 §8: a TTL with the top bit
	 * set counts as 0). */
	uint32_t ttl;
	size_t cnames; /* CNAMEs followed from qname */
	/* The authority section's SOA: the least of its TTL and its MINIMUM
	 * field; DNSREPLY_NO_SOA when there is none. */
	uint32_t neg_ttl;
	size_t n;    /* records kept in rr */
	size_t more; /* records of the type past DNSREPLY_MAX_RR, dropped */
	/* MX: when there are more than DNSREPLY_MAX_RR, those of the least
	 * preference are kept; A, AAAA: the first ones. Packet order. */
	struct dnsreply_rr rr[DNSREPLY_MAX_RR];
};

/*
 * Reads the reply p[0..len) to a query of one question. 0, or -1 when
 * it is malformed: not a reply, not one question, a name or record that
 * runs past the end or loops, an A/AAAA/MX/SOA record of the wrong
 * length, a CNAME chain longer than DNSREPLY_MAX_CHAIN.
 */
int dnsreply_parse(const unsigned char *p, size_t len, struct dnsreply *r);

#endif
