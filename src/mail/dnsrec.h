/*
 * dnsrec: the DNS records a sending domain needs (SPEC §6.2), shared by
 * `pigeon domain dns` and GET …/subdomains/{id}/dns. It takes plain
 * fields: where a domain is kept and what its defaults are is the
 * tenant's business.
 */
#ifndef PIGEON_MAIL_DNSREC_H
#define PIGEON_MAIL_DNSREC_H

#include <stddef.h>

struct dnsrec {
	const char *type; /* "TXT", "MX" */
	char *name;
	char *content;
	int priority; /* MX only, else -1 */
	int ttl;
};

/* What the records are made of; every string borrowed. */
struct dnsrec_domain {
	const char *name;        /* the sending domain, A-labels */
	const char *selector;    /* its DKIM selector */
	const char *return_path; /* its return-path domain */
	const char *rsa_pem;     /* the private keys, PKCS#8 PEM; the */
	const char *ed_pem; /* public halves are published; ed may be NULL */
};

/* Fills *out (malloc'd array of *n records). hostname is this server's
 * name (MX target, SPF); when dnsrec_host_ok() says it cannot be named
 * there, the SPF and MX records are left out. 0, or -1 when a field is
 * missing or a key does not load. */
int dnsrec_for_domain(const struct dnsrec_domain *d, const char *hostname,
                      struct dnsrec **out, size_t *n);
void dnsrec_free(struct dnsrec *v, size_t n);

/* 1 when hostname can be the target of an MX and the domain of an SPF
 * a: mechanism: a domain name with a dot inside (RFC 7208 §7.1 wants
 * one; a bare "vm" would be looked up as a top-level domain). */
int dnsrec_host_ok(const char *hostname);

#endif
