/*
 * auth: who is calling (SPEC §2.3). An in-memory snapshot of accounts,
 * tokens and sending domains (with their loaded DKIM keys), rebuilt from
 * the store when store_generation() moves, checked at most every
 * cfg->auth_cache_ms. Requests hold a reference to the snapshot they
 * authenticated against, so a reload never frees what a request uses.
 */
#ifndef PIGEON_API_AUTH_H
#define PIGEON_API_AUTH_H

#include <stdint.h>

#include "../core/config.h"
#include "../mail/dkim.h"
#include "../store/store.h"
#include "envelope.h"

struct auth;
struct auth_snap;

struct auth_domain {
	struct domain d;
	struct dkim_key *rsa; /* NULL when the PEM did not load */
	struct dkim_key *ed;  /* NULL when the domain has none */
};

/* The outcome of a successful check; pointers into the snapshot. */
struct auth_ctx {
	struct auth_snap *snap; /* one reference, auth_release() it */
	const struct token *token;
	const struct account *account;
};

struct auth *auth_new(const struct config *cfg, char *err, size_t errlen);
void auth_free(struct auth *au); /* accepts NULL */

/*
 * Authenticates a request: bearer is the Authorization header value (or
 * NULL), email/key the X-Auth-Email / X-Auth-Key values (or NULL).
 * account is the :account of the route or NULL; perm the permission bits
 * the route needs (0 = any valid token); entitled: the route needs the
 * account to be entitled to Email Sending. 0 with *ctx filled, or -1
 * with err (10101, 10103, 10102, 10105, 10100).
 */
int auth_check(struct auth *au, const char *bearer, const char *email,
               const char *key, const char *account, unsigned perm,
               int entitled, struct auth_ctx *ctx, struct api_error *err);

/* The enabled-or-not sending domain called name of the ctx's account. */
const struct auth_domain *auth_domain(const struct auth_ctx *ctx,
                                      const char *name);

void auth_release(struct auth_ctx *ctx); /* accepts an empty ctx */

#endif
