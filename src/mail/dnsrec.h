/*
 * dnsrec: the DNS records a sending domain needs (SPEC §6.2), shared by
 * `pigeon domain dns` and GET …/subdomains/{id}/dns.
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

struct domain; /* store/store.h */

/* Fills *out (malloc'd array of *n records). hostname is this server's
 * name (MX target, SPF). 0 or -1. */
int dnsrec_for_domain(const struct domain *d, const char *hostname,
                      struct dnsrec **out, size_t *n);
void dnsrec_free(struct dnsrec *v, size_t n);

#endif
