/*
 * dnsreply: the reading of a DNS reply, see dnsreply.h.
 */
#include <string.h>

#include "dnsreply.h"

#define HEADER_LEN 12
#define CLASS_IN 1

/* One resource record's fixed part (RFC 1035 §4.1.3). */
struct rrhead {
	char owner[DNSREPLY_NAME_MAX + 1];
	int bad;
	int type, cls;
	uint32_t ttl;
	size_t rd, rdlen; /* where its RDATA is */
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads the name at *off (RFC 1035 §4.1.4: labels, or a pointer to an
 * earlier name) as lowercase text without the final dot ("" is the
 * root) into out (DNSREPLY_NAME_MAX + 1 bytes). *off moves past the
 * name's bytes at that place. A pointer must go below the label run it
 * ends, so a name cannot loop. *bad is set when a label holds a dot, a
 * space or a byte outside printable ASCII (shown as '?'). 0, or -1.
 */
static int
read_name(const unsigned char *p, size_t len, size_t *off, char *out, int *bad)
{
	size_t pos = *off, limit = *off, next = 0, wire = 0, n = 0;
	int jumped = 0;

	*bad = 0;
	for (;;) {
		unsigned c;

		if (pos >= len)
			return -1;
		c = p[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len)
				return -1;
			to = (size_t)(c & 0x3f) << 8 | p[pos + 1];
			if (to >= limit)
				return -1;
			if (!jumped)
				next = pos + 2;
			jumped = 1;
			pos = limit = to;
			continue;
		}
		if (c & 0xc0) /* the 01 and 10 label types are not in use */
			return -1;
		pos++;
		if (c == 0)
			break;
		if (pos + c > len)
			return -1;
		wire += c + 1;
		if (wire > DNSREPLY_NAME_MAX + 1) /* 255 octets with the root */
			return -1;
		if (n > 0)
			out[n++] = '.';
		for (unsigned i = 0; i < c; i++) {
			unsigned char b = p[pos + i];

			if (b <= ' ' || b >= 0x7f || b == '.') {
				*bad = 1;
				b = '?';
			} else if (b >= 'A' && b <= 'Z') {
				b += 'a' - 'A';
			}
			out[n++] = (char)b;
		}
		pos += c;
	}
	out[n] = '\0';
	*off = jumped ? next : pos;
	return 0;
}

/* Reads the record at *off and moves *off past it. 0, or -1. */
static int
read_rr(const unsigned char *p, size_t len, size_t *off, struct rrhead *h)
{
	size_t o = *off;

	if (read_name(p, len, &o, h->owner, &h->bad) < 0 || len - o < 10)
		return -1;
	h->type = (int)get16(p + o);
	h->cls = (int)get16(p + o + 2);
	h->ttl = get32(p + o + 4);
	if (h->ttl & 0x80000000u) /* RFC 2181 §8 */
		h->ttl = 0;
	h->rdlen = get16(p + o + 8);
	h->rd = o + 10;
	if (len - h->rd < h->rdlen)
		return -1;
	*off = h->rd + h->rdlen;
	return 0;
}

/* The name that fills h's RDATA from skip on, exactly. 0, or -1. */
static int
rdata_name(const unsigned char *p, const struct rrhead *h, size_t skip,
           char *out, int *bad)
{
	size_t o = h->rd + skip;

	if (h->rdlen < skip + 1 ||
	    read_name(p, h->rd + h->rdlen, &o, out, bad) < 0)
		return -1;
	return o == h->rd + h->rdlen ? 0 : -1;
}

static int
owner_is(const struct rrhead *h, const char *name)
{
	return !h->bad && strcmp(h->owner, name) == 0;
}

static void
keep_ttl(struct dnsreply *r, uint32_t ttl)
{
	if (ttl < r->ttl)
		r->ttl = ttl;
}

/* Keeps one record of the asked type found at the chain's end. */
static int
keep(const unsigned char *p, const struct rrhead *h, struct dnsreply *r)
{
	struct dnsreply_rr rr;
	size_t at = r->n;

	memset(&rr, 0, sizeof(rr));
	if (h->type == DNSREPLY_A || h->type == DNSREPLY_AAAA) {
		size_t want = h->type == DNSREPLY_A ? 4 : 16;

		if (h->rdlen != want)
			return -1;
		memcpy(rr.addr, p + h->rd, want);
	} else {
		if (h->rdlen < 3 || rdata_name(p, h, 2, rr.host, &rr.bad) < 0)
			return -1;
		rr.pref = (int)get16(p + h->rd);
	}
	if (r->n == DNSREPLY_MAX_RR) {
		r->more++;
		if (h->type != DNSREPLY_MX)
			return 0;
		/* Make room by dropping the kept MX of the highest
		 * preference, when it is above this one's. */
		at = 0;
		for (size_t i = 1; i < r->n; i++)
			if (r->rr[i].pref > r->rr[at].pref)
				at = i;
		if (r->rr[at].pref <= rr.pref)
			return 0;
	} else {
		r->n++;
	}
	r->rr[at] = rr;
	keep_ttl(r, h->ttl);
	return 0;
}

int
dnsreply_parse(const unsigned char *p, size_t len, struct dnsreply *r)
{
	struct rrhead h;
	char cur[DNSREPLY_NAME_MAX + 1];
	unsigned flags, qd, an, ns;
	size_t off = HEADER_LEN, answers, o;
	int cur_bad;

	memset(r, 0, sizeof(*r));
	r->ttl = UINT32_MAX;
	r->neg_ttl = DNSREPLY_NO_SOA;
	if (len < HEADER_LEN)
		return -1;
	flags = get16(p + 2);
	qd = get16(p + 4);
	an = get16(p + 6);
	ns = get16(p + 8);
	/* RFC 1035 §4.1.1: QR set, OPCODE 0 (a standard query) */
	if (!(flags & 0x8000) || (flags >> 11 & 0xf) != 0 || qd != 1)
		return -1;
	r->tc = (flags & 0x0200) != 0;
	r->rcode = (int)(flags & 0xf);

	if (read_name(p, len, &off, r->qname, &r->qname_bad) < 0 ||
	    len - off < 4)
		return -1;
	r->qtype = (int)get16(p + off);
	if (get16(p + off + 2) != CLASS_IN)
		return -1;
	off += 4;

	/* Every answer record must be whole before any is used. */
	answers = off;
	for (unsigned i = 0; i < an; i++)
		if (read_rr(p, len, &off, &h) < 0)
			return -1;

	/* The CNAME chain from the question's name (RFC 1034 §3.6.2): a
	 * recursive server puts each CNAME and the target's records in the
	 * answer, in any order. */
	memcpy(cur, r->qname, sizeof(cur));
	cur_bad = r->qname_bad;
	for (size_t hops = 0; !cur_bad && r->qtype != DNSREPLY_CNAME;) {
		int found = 0;

		o = answers;
		for (unsigned i = 0; i < an && !found; i++) {
			read_rr(p, len, &o, &h);
			if (h.type != DNSREPLY_CNAME || h.cls != CLASS_IN ||
			    !owner_is(&h, cur))
				continue;
			if (++hops > DNSREPLY_MAX_CHAIN ||
			    rdata_name(p, &h, 0, cur, &cur_bad) < 0)
				return -1;
			keep_ttl(r, h.ttl);
			r->cnames++;
			found = 1;
		}
		if (!found)
			break;
	}

	o = answers;
	for (unsigned i = 0; i < an; i++) {
		read_rr(p, len, &o, &h);
		if (h.type == r->qtype && h.cls == CLASS_IN && !cur_bad &&
		    owner_is(&h, cur) &&
		    (h.type == DNSREPLY_A || h.type == DNSREPLY_AAAA ||
		     h.type == DNSREPLY_MX) &&
		    keep(p, &h, r) < 0)
			return -1;
	}
	if (r->ttl == UINT32_MAX)
		r->ttl = 0;

	/* RFC 2308 §5: a negative answer lasts as long as the least of the
	 * SOA's TTL and its MINIMUM field. */
	for (unsigned i = 0; i < ns; i++) {
		char name[DNSREPLY_NAME_MAX + 1];
		int bad;
		uint32_t min;

		if (read_rr(p, len, &off, &h) < 0)
			return -1;
		if (h.type != DNSREPLY_SOA || h.cls != CLASS_IN ||
		    r->neg_ttl != DNSREPLY_NO_SOA)
			continue;
		o = h.rd;
		if (read_name(p, h.rd + h.rdlen, &o, name, &bad) < 0 ||
		    read_name(p, h.rd + h.rdlen, &o, name, &bad) < 0 ||
		    h.rd + h.rdlen - o != 20)
			return -1;
		min = get32(p + o + 16);
		r->neg_ttl = h.ttl < min ? h.ttl : min;
	}
	return 0;
}
