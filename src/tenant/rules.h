/*
 * rules: what makes a tenant object well formed (SPEC §2.3, §6.1): ids
 * and token secrets, the permission names, domain names and DKIM
 * selectors, a sending domain's defaults and keys, and the creation of
 * accounts, zones, sending domains and tokens in the store. Every front
 * (the CLI now, the REST subdomain routes next) goes through these.
 *
 * It is not a front: nothing here prints. A refusal is -1 (or
 * TENANT_EXISTS) with a sentence in the caller's err buffer.
 */
#ifndef PIGEON_TENANT_RULES_H
#define PIGEON_TENANT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "../mail/dnsrec.h"
#include "../store/store.h"

#define TENANT_SELECTOR "pigeon"      /* SPEC §6.1 default DKIM selector */
#define TENANT_RETURN_PATH "bounces." /* + name: the default return path */
#define TENANT_RSA_BITS 2048          /* SPEC §6.2 */
#define TENANT_SECRET_LEN 40          /* [A-Za-z0-9_-] (SPEC §2.3) */
#define TENANT_EXISTS (-2)            /* a create found the name or id taken */

/* The permission names, one row per enum perm bit, in output order. */
struct tenant_perm {
	const char *name;
	unsigned bit;
};
extern const struct tenant_perm tenant_perms[];
extern const size_t tenant_nperms;

/* "send,read,manage" → enum perm bits. 0, or -1 on an unknown name. */
int tenant_perms_parse(const char *s, unsigned *out);
/* enum perm bits → "send,read" (in table order). Returns out. */
const char *tenant_perms_str(unsigned perms, char out[32]);

/* 32 hex chars, lowercased into out. 0 or -1. */
int tenant_id_parse(const char *s, char out[ID_LEN + 1]);
void tenant_new_id(char out[ID_LEN + 1]);
/* A token secret: 40 random chars of [A-Za-z0-9_-]. */
void tenant_new_secret(char out[TENANT_SECRET_LEN + 1]);
/* What the store keeps of a secret: its hex SHA-256. */
void tenant_secret_hash(const char *secret, size_t len, char out[65]);

/* A domain name as stored: lowercase A-labels (mail/dname.c), no
 * trailing dot, at least two LDH labels, ≤ 253 chars. 0 or -1. */
int tenant_domain_name(const char *in, char *out, size_t outlen);
/* 1 when s is a DKIM selector: dot-separated LDH labels, ≤ 63 chars. */
int tenant_selector_ok(const char *s);
/* 1 when name is zone or a name under it. */
int tenant_in_zone(const char *name, const char *zone);
/* Gives d the defaults of SPEC §6.1 where it has none (an empty or
 * NULL selector or return path). 0, or -1 out of memory. */
int tenant_domain_defaults(struct domain *d);

/* The DNS records of d (its defaults filled where it has none); see
 * mail/dnsrec.h. 0 or -1 (a key does not load). */
int tenant_dns(const struct domain *d, const char *hostname,
               struct dnsrec **out, size_t *n);

/*
 * Creation (CLI, dev bootstrap, later REST). Each fills *out (strings
 * malloc'd: free with the store's *_clear, also after a failure) and
 * writes it to s: 0, TENANT_EXISTS, or -1, with a sentence in err.
 * id NULL: a new one. selector NULL: TENANT_SELECTOR. The token's secret
 * is written to secret and only its hash stored.
 */
int tenant_account_new(struct store *s, const char *name, const char *id,
                       struct account *out, char *err, size_t errlen);
int tenant_zone_new(struct store *s, const struct account *ac, const char *name,
                    struct zone *out, char *err, size_t errlen);
int tenant_domain_new(struct store *s, const struct zone *z, const char *name,
                      const char *selector, int ed25519, struct domain *out,
                      char *err, size_t errlen);
/*
 * The switches of a sending domain a client may change (SPEC §8.2 PATCH,
 * `pigeon domain set`): the REST field, the CLI option and where the
 * int lives in struct domain. One row each.
 */
struct tenant_switch {
	const char *field; /* "preview_enabled" */
	const char *opt;   /* "--preview" */
	size_t off;        /* offsetof(struct domain, preview_enabled) */
};
#define TENANT_NSWITCHES 3
extern const struct tenant_switch tenant_domain_switches[TENANT_NSWITCHES];

/* Writes d's switches to s (its modified time becomes now, in d too).
 * 0, or -1 with a sentence in err. */
int tenant_domain_update(struct store *s, struct domain *d, char *err,
                         size_t errlen);
/* Deletes d (store_domain_delete: its queued mail still goes out). 0,
 * or -1 with a sentence in err. */
int tenant_domain_delete(struct store *s, const struct domain *d, char *err,
                         size_t errlen);
int tenant_token_new(struct store *s, const char *account_id, const char *name,
                     unsigned perms, int64_t expires, const char *global_email,
                     struct token *out, char secret[TENANT_SECRET_LEN + 1],
                     char *err, size_t errlen);

#endif
