/*
 * dns: the delivery engine's resolver. Finds where mail for a domain
 * goes (RFC 5321 §5.1: MX records, else the domain's own addresses) and
 * the addresses of a relay host, with c-ares driven by the engine's
 * libevent event_base: nothing blocks the loop. Answers are cached for
 * their TTL, and lookups of one name in flight at once are asked once,
 * so a million recipients at one domain cost one MX lookup.
 *
 * It is not thread-safe (one struct dns per event_base, used on that
 * base's thread only) and not a general resolver: MX, A and AAAA only,
 * no search list (names are absolute), no /etc/hosts.
 */
#ifndef PIGEON_DNS_DNS_H
#define PIGEON_DNS_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns;
struct dns_query;

#define DNS_MAX_SERVERS 8
/* MX hosts of one domain kept, the most preferred */
#define DNS_MAX_MX 16
/* addresses of one host kept */
#define DNS_MAX_ADDRS 16
/* seconds an answer is kept at most: a positive one, a negative one;
 * and a negative one without an SOA */
#define DNS_MAX_TTL (24 * 3600)
#define DNS_MAX_NEG_TTL 3600
#define DNS_NEG_TTL 300

/*
 * The resolver on base. servers: NULL or "" for the system's
 * (/etc/resolv.conf), else a comma list of IP addresses with an
 * optional port: "192.0.2.1", "192.0.2.1:5353", "2001:db8::1",
 * "[2001:db8::1]:5353" (at most DNS_MAX_SERVERS; port 53 when left
 * out). timeout_ms: how long the first try waits for a server (c-ares
 * doubles it for each later round over the servers); tries: how many
 * times each server is asked. cache_max: answers kept (each is one
 * name and type: an MX set, or one host's A or AAAA set); 0 = none.
 * NULL with err filled when servers does not parse or c-ares fails.
 */
struct dns *dns_new(struct event_base *base, const char *servers,
                    int timeout_ms, int tries, size_t cache_max, char *err,
                    size_t errlen);
/* Cancels every query in flight: their callbacks are not called.
 * Accepts NULL; may be called from a dns_fn callback. */
void dns_free(struct dns *d);

/*
 * What a query found, and what delivery should do with it (SPEC §6.3).
 * A partial answer is DNS_OK: when one MX host has addresses and
 * another's lookup failed, the hosts found are tried.
 */
enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN, /* the domain does not exist: bounced, 5.1.2 */
	DNS_NULL_MX,  /* RFC 7505 "MX 0 .": bounced, 5.1.10 */
	/*
	 * The DNS says there is nowhere to deliver: every MX host (or the
	 * implicit MX, the domain itself) exists without A or AAAA or does
	 * not exist, or no MX record names a host (an address literal,
	 * "192.0.2.1.", is not one). RFC 5321 §5.1: "this situation MUST be
	 * reported as an error": bounced, 5.4.4 (RFC 3463: unable to route).
	 * Only when no lookup failed: a failure makes it DNS_TEMPFAIL.
	 */
	DNS_NO_ADDRESS,
	/* SERVFAIL, REFUSED, a timeout, a malformed reply: deferred, 4.4.3 */
	DNS_TEMPFAIL,
};

struct dns_addr {
	struct sockaddr_storage sa; /* sockaddr_in or _in6, port 0 */
	socklen_t len;
};

struct dns_target {
	char host[256]; /* the MX host (the domain itself when implicit) */
	int pref;
	struct dns_addr *addrs; /* never empty */
	size_t naddrs;
};

struct dns_answer {
	enum dns_status status;
	/* For the log and the DSN, e.g. "example.net: no such domain
	 * (NXDOMAIN)"; "" when DNS_OK. */
	char why[160];
	/* DNS_OK: the hosts to try, in order; hosts without an address are
	 * left out. Otherwise none. */
	struct dns_target *targets;
	size_t ntargets;
	int implicit_mx; /* no MX records: the domain is its own MX */
};

/* a and everything it points to are valid only during the call. */
typedef void dns_fn(void *arg, const struct dns_answer *a);

/*
 * Where mail for domain (ASCII: A-labels; a final dot is ignored) goes,
 * by RFC 5321 §5.1:
 * - MX records by preference, in random order among equal preferences
 *   (a new order for each query, cached or not), at most DNS_MAX_MX;
 * - a host's addresses: its AAAA and A records, in random order within
 *   each family, interleaved IPv6 first (RFC 8305 §4): a host whose
 *   IPv6 is unreachable costs one failed connection, not all of them;
 * - no MX records (NODATA): the domain itself, with its A/AAAA
 *   (implicit_mx);
 * - MX records that are all "." (RFC 7505): DNS_NULL_MX; a "." among
 *   other MX records is skipped;
 * - an MX host that is an IP literal ("192.0.2.1." in DNS) is not a
 *   host name (RFC 5321 §5.1 looks up the names of MX hosts): skipped;
 * - a CNAME at the domain is followed (in the answer, as a recursive
 *   server gives it);
 * - an address literal domain ("[192.0.2.1]", "[IPv6:2001:db8::1]",
 *   RFC 5321 §4.1.3) is that address, with no lookup;
 * - a name that cannot be in the DNS (a label over 63 octets, a byte
 *   other than a letter, digit, '-' or '_'): DNS_NXDOMAIN.
 * cb(arg, answer) is called once, later, from the event_base: never
 * from inside dns_mx, even when the answer is cached. NULL only when
 * memory is short.
 */
struct dns_query *dns_mx(struct dns *d, const char *domain, dns_fn *cb,
                         void *arg);

/*
 * The addresses of host (a relay's), as one target of pref 0, ordered
 * as an MX host's. An IP address, bare or in brackets, is itself.
 * DNS_NXDOMAIN when the name does not exist, DNS_NO_ADDRESS when it has
 * neither A nor AAAA. Called back as dns_mx.
 */
struct dns_query *dns_host(struct dns *d, const char *host, dns_fn *cb,
                           void *arg);

/* Forgets q: its callback is not called. Lookups it started go on and
 * are cached for the next query. Not from q's own callback. */
void dns_cancel(struct dns_query *q);

#endif
