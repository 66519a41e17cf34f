/*
 * tenant: who may send what (SPEC §2.3, §6.1). Accounts, tokens and
 * sending domains as one in-memory snapshot, indexed by hash tables,
 * that every front (REST now, SMTP next) authenticates against. A
 * request holds a reference to the snapshot it authenticated against,
 * so a reload never frees what a request uses.
 *
 * Freshness: a thread of the tenant checks the store's generation every
 * auth_cache_ms and swaps in a new snapshot when it moved, so a
 * revocation is seen within auth_cache_ms; request threads never make
 * that periodic read. A miss (an unknown token, an unknown sending
 * domain) checks the generation at once and looks again, so what the
 * CLI just created works at once. auth_cache_ms 0: every tenant_auth
 * checks the generation (no thread).
 *
 * The rules of tenant objects are in rules.h, their JSON form in json.h.
 *
 * It is not a front: it never speaks HTTP or SMTP. A failed check is a
 * tenant_status and a sentence a client may read; each front maps the
 * status to its own answer (401/403/503, or 535/454).
 */
#ifndef PIGEON_TENANT_TENANT_H
#define PIGEON_TENANT_TENANT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../mail/dkim.h"
#include "../store/store.h"

struct tenant;
struct tenant_snap;

/* A sending domain with its loaded DKIM keys. */
struct tenant_domain {
	struct domain d;
	struct dkim_key *rsa; /* NULL when the PEM did not load */
	struct dkim_key *ed;  /* NULL when the domain has none */
};

/* The outcome of a successful check; pointers into the snapshot. */
struct tenant_ctx {
	struct tenant_snap *snap; /* one reference, tenant_release() it */
	const struct token *token;
	const struct account *account;
	struct tenant_snap *fresh; /* a newer one a domain miss took, or NULL */
};

/* What a client presented: a bearer token (the Authorization value,
 * "Bearer <secret>"), or a global key (email and key). NULL = absent. */
struct tenant_cred {
	const char *bearer;
	const char *email;
	const char *key;
};

/* tenant_auth() results. */
enum tenant_status {
	TENANT_OK = 0,
	TENANT_UNAUTHORIZED = -1,   /* no, unknown, revoked or expired */
	TENANT_BAD_TOKEN_TYPE = -2, /* a global key used as a bearer */
	TENANT_FORBIDDEN = -3,      /* another account, or a missing perm */
	TENANT_NOT_ENTITLED = -4,   /* the account may not use Email Sending */
	TENANT_UNAVAILABLE = -5,    /* nothing loaded: the store is down */
};

struct tenant *tenant_new(const struct config *cfg, char *err, size_t errlen);
void tenant_free(struct tenant *t); /* accepts NULL */

/*
 * Authenticates cred. account is the account the request names (or
 * NULL); perm the enum perm bits it needs (0 = any valid token);
 * entitled: the account must be entitled to Email Sending. TENANT_OK
 * with *ctx filled, or another status with *why set to a sentence a
 * client may read (it never says which check failed) or NULL.
 */
int tenant_auth(struct tenant *t, const struct tenant_cred *cred,
                const char *account, unsigned perm, int entitled,
                struct tenant_ctx *ctx, const char **why);

/*
 * The enabled-or-not sending domain called name (any case) of the ctx's
 * account, or NULL. A miss checks the store's generation and looks in
 * the newer snapshot if there is one (kept in ctx->fresh). The result
 * lives until tenant_release(ctx); its d.selector and
 * d.return_path_domain are never NULL (the defaults of SPEC §6.1 are
 * filled in for rows without them).
 */
const struct tenant_domain *tenant_domain(struct tenant_ctx *ctx,
                                          const char *name);

void tenant_release(struct tenant_ctx *ctx); /* accepts an empty ctx */

/*
 * Checks the store's generation now and takes a new snapshot when it
 * moved: after a write of its own (REST subdomains), so the next request
 * sees it at once instead of within auth_cache_ms. Waits for a check
 * under way.
 */
void tenant_refresh(struct tenant *t);

#endif
