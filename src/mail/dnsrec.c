/*
 * dnsrec: the DNS records a sending domain needs (SPEC §6.2), computed
 * from a sending domain's fields: its DKIM public key, its return-path domain
 * and this server's hostname. Nothing here talks to DNS; it only says what to
 * publish. Used by `pigeon domain dns` and GET …/subdomains/{id}/dns.
 *
 * Published today:
 *   TXT <selector>._domainkey.<name>  DKIM key (RFC 6376 §3.6.1), RSA
 *   TXT <selector>-ed25519._domainkey.<name>  the Ed25519 key (RFC 8463),
 *                                     when the domain has one
 *   TXT <return_path_domain>          SPF (RFC 7208) for the envelope sender
 *   MX  <return_path_domain>          so bounces to the VERP address arrive
 *   TXT _dmarc.<name>                 a DMARC (RFC 7489) suggestion, p=none
 *
 * SPF and MX name this server: with a hostname that is not a full domain
 * name ("vm") no valid record can, and both are left out (the caller
 * says why) rather than published wrong.
 *
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dnsrec.h"

#define DNSREC_TTL 3600
#define DNSREC_MX_PRIORITY 10
#define DNSREC_COUNT 5

/* Fills r, taking ownership of name and content (either may be NULL after
 * a failed allocation, which fails the call). 0 or -1. */
static int
dnsrec_set(struct dnsrec *r, const char *type, char *name, char *content,
           int priority)
{
	r->type = type;
	r->name = name;
	r->content = content;
	r->priority = priority;
	r->ttl = DNSREC_TTL;
	return name != NULL && content != NULL ? 0 : -1;
}

static char *dnsrec_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A malloc'd printf, NULL on failure. */
static char *
dnsrec_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	return rc == -1 ? NULL : s;
}

int
dnsrec_for_domain(const struct dnsrec_domain *d, const char *hostname,
                  struct dnsrec **out, size_t *n)
{
	struct dkim_key *k = NULL, *ed = NULL;
	char edsel[DKIM_SELECTOR_MAX];
	struct dnsrec *v = NULL;
	const char *sel = d->selector, *rp = d->return_path;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (d->name == NULL || sel == NULL || rp == NULL || hostname == NULL ||
	    d->rsa_pem == NULL)
		goto fail;
	if ((k = dkim_key_load(d->rsa_pem)) == NULL)
		goto fail;
	if ((v = calloc(DNSREC_COUNT, sizeof(*v))) == NULL)
		goto fail;

	/* RFC 6376 §3.6.2.1: the key lives at <selector>._domainkey.<d=> */
	if (dnsrec_set(&v[i++], "TXT",
	               dnsrec_fmt("%s._domainkey.%s", sel, d->name),
	               dkim_dns_txt(k), -1) == -1)
		goto fail;
	if (d->ed_pem != NULL) {
		if ((ed = dkim_key_load(d->ed_pem)) == NULL ||
		    dkim_ed_selector(sel, edsel, sizeof(edsel)) == -1 ||
		    dnsrec_set(&v[i++], "TXT",
		               dnsrec_fmt("%s._domainkey.%s", edsel, d->name),
		               dkim_dns_txt(ed), -1) == -1)
			goto fail;
	}
	/* RFC 7208: MAIL FROM is <verp>@<return_path_domain>; only this
	 * host sends for it. */
	if (dnsrec_host_ok(hostname) &&
	    dnsrec_set(&v[i++], "TXT", strdup(rp),
	               dnsrec_fmt("v=spf1 a:%s -all", hostname), -1) == -1)
		goto fail;
	/* RFC 5321 §5.1: bounces to the return path come back here. */
	if (dnsrec_host_ok(hostname) &&
	    dnsrec_set(&v[i++], "MX", strdup(rp), strdup(hostname),
	               DNSREC_MX_PRIORITY) == -1)
		goto fail;
	/* RFC 7489 §6.3: monitoring only; tighten once reports look clean. */
	if (dnsrec_set(&v[i++], "TXT", dnsrec_fmt("_dmarc.%s", d->name),
	               strdup("v=DMARC1; p=none"), -1) == -1)
		goto fail;

	dkim_key_free(k);
	dkim_key_free(ed);
	*out = v;
	*n = i;
	return 0;
fail:
	dnsrec_free(v, i);
	dkim_key_free(k);
	dkim_key_free(ed);
	return -1;
}

void
dnsrec_free(struct dnsrec *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].content);
	}
	free(v);
}

int
dnsrec_host_ok(const char *hostname)
{
	const char *dot;

	if (hostname == NULL || hostname[0] == '.')
		return 0;
	dot = strchr(hostname, '.');
	return dot != NULL && dot[1] != '\0';
}
