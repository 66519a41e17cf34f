/*
 * rules: the shape of accounts, zones, sending domains and tokens (SPEC
 * §2.3, §6.1, §6.2) and their creation in the store. The defaults of a
 * sending domain live here and nowhere else: the store keeps what it is
 * given, the snapshot (tenant.c) fills them in for rows that lack them.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/hash.h"
#include "../core/random.h"
#include "../mail/dkim.h"
#include "../mail/dname.h"
#include "rules.h"

const struct tenant_perm tenant_perms[] = {
    {"send", PERM_SEND},
    {"read", PERM_READ},
    {"manage", PERM_MANAGE},
};
const size_t tenant_nperms = sizeof(tenant_perms) / sizeof(tenant_perms[0]);

int
tenant_perms_parse(const char *s, unsigned *out)
{
	unsigned bits = 0;
	const char *p = s, *e;
	size_t i, n;

	for (;;) {
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		for (i = 0; i < tenant_nperms; i++)
			if (strlen(tenant_perms[i].name) == n &&
			    strncmp(tenant_perms[i].name, p, n) == 0)
				break;
		if (i == tenant_nperms)
			return -1;
		bits |= tenant_perms[i].bit;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = bits;
	return 0;
}

const char *
tenant_perms_str(unsigned perms, char out[32])
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < tenant_nperms; i++)
		if (perms & tenant_perms[i].bit)
			len += (size_t)snprintf(out + len, 32 - len, "%s%s",
			                        len ? "," : "",
			                        tenant_perms[i].name);
	return out;
}

int
tenant_id_parse(const char *s, char out[ID_LEN + 1])
{
	size_t i;

	if (strlen(s) != ID_LEN)
		return -1;
	for (i = 0; i < ID_LEN; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[ID_LEN] = '\0';
	return 0;
}

void
tenant_new_id(char out[ID_LEN + 1])
{
	random_hex(out, ID_LEN / 2);
}

/* SPEC §2.3: 40 chars of [A-Za-z0-9_-]. 64 symbols, so the low six bits
 * of a random byte pick one without bias. */
void
tenant_new_secret(char out[TENANT_SECRET_LEN + 1])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "abcdefghijklmnopqrstuvwxyz"
	                               "0123456789-_";
	unsigned char r[TENANT_SECRET_LEN];
	size_t i;

	random_bytes(r, sizeof(r));
	for (i = 0; i < TENANT_SECRET_LEN; i++)
		out[i] = alphabet[r[i] & 63];
	out[TENANT_SECRET_LEN] = '\0';
	explicit_bzero(r, sizeof(r));
}

void
tenant_secret_hash(const char *secret, size_t len, char out[65])
{
	hash_sha256_hex(secret, len, out);
}

int
tenant_domain_name(const char *in, char *out, size_t outlen)
{
	return dname_operator(in, out, outlen, 2);
}

int
tenant_selector_ok(const char *s)
{
	return dname_ldh_ok(s, 63, 1);
}

int
tenant_in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (strcmp(name, zone) == 0)
		return 1;
	return n > z + 1 && name[n - z - 1] == '.' &&
	       strcmp(name + n - z, zone) == 0;
}

int
tenant_domain_defaults(struct domain *d)
{
	if (d->selector == NULL || d->selector[0] == '\0') {
		free(d->selector);
		if ((d->selector = strdup(TENANT_SELECTOR)) == NULL)
			return -1;
	}
	if (d->return_path_domain == NULL || d->return_path_domain[0] == '\0') {
		free(d->return_path_domain);
		if (asprintf(&d->return_path_domain, TENANT_RETURN_PATH "%s",
		             d->name ? d->name : "") == -1) {
			d->return_path_domain = NULL;
			return -1;
		}
	}
	return 0;
}

int
tenant_dns(const struct domain *d, const char *hostname, struct dnsrec **out,
           size_t *n)
{
	struct dnsrec_domain in;
	char *rp = NULL;
	int rc;

	in.name = d->name;
	in.selector =
	    d->selector && d->selector[0] ? d->selector : TENANT_SELECTOR;
	in.return_path = d->return_path_domain;
	if ((in.return_path == NULL || in.return_path[0] == '\0') &&
	    d->name != NULL) {
		if (asprintf(&rp, TENANT_RETURN_PATH "%s", d->name) == -1) {
			*out = NULL;
			*n = 0;
			return -1;
		}
		in.return_path = rp;
	}
	in.rsa_pem = d->rsa_pem;
	in.ed_pem = d->ed_pem;
	rc = dnsrec_for_domain(&in, hostname, out, n);
	free(rp);
	return rc;
}

int
tenant_account_new(struct store *s, const char *name, const char *id,
                   struct account *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (id)
		snprintf(out->id, sizeof(out->id), "%s", id);
	else
		tenant_new_id(out->id);
	if ((out->name = strdup(name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	out->entitled = 1;
	out->sending_enabled = 1;
	out->created = clock_now();
	if ((rc = store_account_create(s, out)) == STORE_EXISTS) {
		snprintf(err, errlen, "account id %s already exists", out->id);
		return TENANT_EXISTS;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot create the account: %s",
		         store_error(s));
		return -1;
	}
	return 0;
}

int
tenant_zone_new(struct store *s, const struct account *ac, const char *name,
                struct zone *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	tenant_new_id(out->id);
	memcpy(out->account_id, ac->id, sizeof(out->account_id));
	if ((out->name = strdup(name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	out->created = clock_now();
	if ((rc = store_zone_create(s, out)) == STORE_EXISTS) {
		snprintf(err, errlen, "zone %s already exists", name);
		return TENANT_EXISTS;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot create zone %s: %s", name,
		         store_error(s));
		return -1;
	}
	return 0;
}

int
tenant_domain_new(struct store *s, const struct zone *z, const char *name,
                  const char *selector, int ed25519, struct domain *out,
                  char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!tenant_in_zone(name, z->name)) {
		snprintf(err, errlen,
		         "%s is not in zone %s: use %s or a name under it",
		         name, z->name, z->name);
		return -1;
	}
	tenant_new_id(out->id);
	memcpy(out->zone_id, z->id, sizeof(out->zone_id));
	memcpy(out->account_id, z->account_id, sizeof(out->account_id));
	out->enabled = 1;
	out->drop_suppressed = 0;
	out->preview_enabled = 1;
	out->created = out->modified = clock_now();
	if ((out->name = strdup(name)) == NULL ||
	    (selector && (out->selector = strdup(selector)) == NULL) ||
	    tenant_domain_defaults(out) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (dkim_keygen_rsa(TENANT_RSA_BITS, &out->rsa_pem) == -1) {
		snprintf(err, errlen, "cannot generate the RSA DKIM key");
		return -1;
	}
	if (ed25519 && dkim_keygen_ed25519(&out->ed_pem) == -1) {
		snprintf(err, errlen, "cannot generate the Ed25519 DKIM key");
		return -1;
	}
	if ((rc = store_domain_create(s, out)) == STORE_EXISTS) {
		snprintf(err, errlen, "sending domain %s already exists", name);
		return TENANT_EXISTS;
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot create sending domain %s: %s",
		         name, store_error(s));
		return -1;
	}
	return 0;
}

const struct tenant_switch tenant_domain_switches[TENANT_NSWITCHES] = {
    {"enabled", "--enabled", offsetof(struct domain, enabled)},
    {"drop_suppressed_recipients", "--drop-suppressed",
     offsetof(struct domain, drop_suppressed)},
    {"preview_enabled", "--preview", offsetof(struct domain, preview_enabled)},
};

int
tenant_domain_update(struct store *s, struct domain *d, char *err,
                     size_t errlen)
{
	d->modified = clock_now();
	if (store_domain_update(s, d) != 0) {
		snprintf(err, errlen, "cannot update sending domain %s: %s",
		         d->name, store_error(s));
		return -1;
	}
	return 0;
}

int
tenant_domain_delete(struct store *s, const struct domain *d, char *err,
                     size_t errlen)
{
	if (store_domain_delete(s, d->id) != 0) {
		snprintf(err, errlen, "cannot delete sending domain %s: %s",
		         d->name, store_error(s));
		return -1;
	}
	return 0;
}

int
tenant_token_new(struct store *s, const char *account_id, const char *name,
                 unsigned perms, int64_t expires, const char *global_email,
                 struct token *out, char secret[TENANT_SECRET_LEN + 1],
                 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	tenant_new_id(out->id);
	snprintf(out->account_id, sizeof(out->account_id), "%s", account_id);
	tenant_new_secret(secret);
	tenant_secret_hash(secret, TENANT_SECRET_LEN, out->hash);
	out->perms = perms;
	out->expires = expires;
	out->created = clock_now();
	if ((name && (out->name = strdup(name)) == NULL) ||
	    (global_email &&
	     (out->global_email = strdup(global_email)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (store_token_create(s, out) != 0) {
		snprintf(err, errlen, "cannot create the token: %s",
		         store_error(s));
		return -1;
	}
	return 0;
}
