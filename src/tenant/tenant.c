/*
 * tenant: token and global-key authentication against an in-memory
 * snapshot of the store (SPEC §2.3, DESIGN §4, §7). The hot path takes a read
 * lock, looks a SHA-256 up in a sorted array and compares it in constant time;
 * the store is read only by a reload, and only when store_generation()
 * has moved, checked at most every auth_cache_ms.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/clock.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "tenant.h"

struct tenant_snap {
	atomic_int refs;
	int64_t gen;
	struct account *accounts;
	size_t naccounts;
	struct token *tokens; /* sorted by hash */
	size_t ntokens;
	struct domain *doms; /* the store's list, owned */
	struct tenant_domain *domains;
	size_t ndomains;
};

struct tenant {
	const struct config *cfg;
	pthread_rwlock_t lock; /* guards snap */
	struct tenant_snap *snap;
	pthread_mutex_t reload; /* one reloader at a time; guards st */
	struct store *st;       /* the cache's own read connection */
	atomic_llong checked;   /* clock_mono_ms() of the last check */
	atomic_int loaded;      /* snap has been set once */
};

static void
snap_free(struct tenant_snap *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ndomains; i++) {
		dkim_key_free(s->domains[i].rsa);
		dkim_key_free(s->domains[i].ed);
		domain_clear(&s->domains[i].d);
	}
	free(s->domains);
	free(s->doms);
	account_list_free(s->accounts, s->naccounts);
	token_list_free(s->tokens, s->ntokens);
	free(s);
}

static void
snap_unref(struct tenant_snap *s)
{
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
		snap_free(s);
}

static int
token_cmp(const void *a, const void *b)
{
	return strcmp(((const struct token *)a)->hash,
	              ((const struct token *)b)->hash);
}

/* Builds a snapshot from the store. NULL on a store error. */
static struct tenant_snap *
snap_load(struct store *st, int64_t gen)
{
	struct tenant_snap *s;
	size_t i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->gen = gen;
	if (store_account_list(st, &s->accounts, &s->naccounts) == -1 ||
	    store_token_list(st, NULL, &s->tokens, &s->ntokens) == -1 ||
	    store_domain_list(st, NULL, &s->doms, &s->ndomains) == -1)
		goto fail;
	if (s->ntokens > 1)
		qsort(s->tokens, s->ntokens, sizeof(*s->tokens), token_cmp);
	if (s->ndomains > 0 &&
	    (s->domains = calloc(s->ndomains, sizeof(*s->domains))) == NULL)
		goto fail;
	for (i = 0; i < s->ndomains; i++) {
		/* The struct moves; its malloc'd strings go with it. */
		s->domains[i].d = s->doms[i];
		memset(&s->doms[i], 0, sizeof(s->doms[i]));
		if (s->domains[i].d.rsa_pem != NULL &&
		    (s->domains[i].rsa =
		         dkim_key_load(s->domains[i].d.rsa_pem)) == NULL)
			log_warnx("tenant: domain=%s rsa key does not load",
			          s->domains[i].d.name);
		if (s->domains[i].d.ed_pem != NULL &&
		    (s->domains[i].ed =
		         dkim_key_load(s->domains[i].d.ed_pem)) == NULL)
			log_warnx("tenant: domain=%s ed25519 key does not load",
			          s->domains[i].d.name);
	}
	return s;
fail:
	/* Only reached before any domain moved: doms owns the strings. */
	domain_list_free(s->doms, s->ndomains);
	s->doms = NULL;
	s->ndomains = 0;
	snap_free(s);
	return NULL;
}

/* Reloads when the generation moved. Never blocks a request on another
 * reloader: if one is at work, the old snapshot serves. */
static void
tenant_refresh(struct tenant *au)
{
	struct tenant_snap *ns, *old;
	int64_t now = clock_mono_ms(), gen;

	if (atomic_load(&au->loaded) &&
	    now - atomic_load(&au->checked) < au->cfg->auth_cache_ms)
		return;
	if (pthread_mutex_trylock(&au->reload) != 0)
		return;
	atomic_store(&au->checked, now);
	if (store_generation(au->st, &gen) == -1) {
		log_warnx("tenant: store generation: %s", store_error(au->st));
		goto out;
	}
	if (au->snap != NULL && au->snap->gen == gen)
		goto out;
	if ((ns = snap_load(au->st, gen)) == NULL) {
		log_warnx("tenant: reload: %s", store_error(au->st));
		goto out;
	}
	pthread_rwlock_wrlock(&au->lock);
	old = au->snap;
	au->snap = ns;
	pthread_rwlock_unlock(&au->lock);
	atomic_store(&au->loaded, 1);
	snap_unref(old);
	log_debug("tenant: reloaded gen=%lld tokens=%zu domains=%zu",
	          (long long)gen, ns->ntokens, ns->ndomains);
out:
	pthread_mutex_unlock(&au->reload);
}

struct tenant *
tenant_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tenant *au;

	if ((au = calloc(1, sizeof(*au))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	au->cfg = cfg;
	pthread_rwlock_init(&au->lock, NULL);
	pthread_mutex_init(&au->reload, NULL);
	if ((au->st = store_open(cfg->db_path, err, errlen)) == NULL)
		goto fail;
	tenant_refresh(au);
	if (au->snap == NULL) {
		snprintf(err, errlen,
		         "tenant: cannot load accounts and tokens");
		goto fail;
	}
	return au;
fail:
	tenant_free(au);
	return NULL;
}

void
tenant_free(struct tenant *au)
{
	if (au == NULL)
		return;
	snap_unref(au->snap);
	store_close(au->st);
	pthread_rwlock_destroy(&au->lock);
	pthread_mutex_destroy(&au->reload);
	free(au);
}

static const struct account *
find_account(const struct tenant_snap *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->naccounts; i++)
		if (strcmp(s->accounts[i].id, id) == 0)
			return &s->accounts[i];
	return NULL;
}

/* The token whose hash is hex; the final comparison is constant-time. */
static const struct token *
find_token(const struct tenant_snap *s, const char hex[65])
{
	size_t lo = 0, hi = s->ntokens, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(hex, s->tokens[mid].hash);
		if (c == 0)
			break;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo >= hi)
		return NULL;
	mid = lo + (hi - lo) / 2;
	return hash_equal(hex, s->tokens[mid].hash, 64) ? &s->tokens[mid]
	                                                : NULL;
}

int
tenant_auth(struct tenant *au, const struct tenant_cred *cred,
            const char *account, unsigned perm, int entitled,
            struct tenant_ctx *ctx, const char **why)
{
	const struct token *t;
	const char *secret;
	char hex[65];
	int global;

	memset(ctx, 0, sizeof(*ctx));
	/* what a client may hear: nothing about which check failed */
	*why = "the token is not valid (unknown, revoked or expired)";
	tenant_refresh(au);
	pthread_rwlock_rdlock(&au->lock);
	if ((ctx->snap = au->snap) != NULL)
		atomic_fetch_add(&ctx->snap->refs, 1);
	pthread_rwlock_unlock(&au->lock);
	if (ctx->snap == NULL) {
		*why = NULL;
		return TENANT_UNAVAILABLE;
	}

	if (cred->bearer != NULL) {
		if (strncasecmp(cred->bearer, "Bearer ", 7) != 0) {
			*why = "the Authorization header must be 'Bearer "
			       "<token>'";
			goto unauthorized;
		}
		secret = cred->bearer + 7;
		while (*secret == ' ')
			secret++;
		global = 0;
	} else if (cred->email != NULL && cred->key != NULL) {
		secret = cred->key;
		global = 1;
		*why = "the X-Auth-Email and X-Auth-Key pair is not valid";
	} else {
		*why = "no credentials: send Authorization: Bearer <token>";
		goto unauthorized;
	}
	if (*secret == '\0' || strlen(secret) > 512)
		goto unauthorized;
	hash_sha256_hex(secret, strlen(secret), hex);
	if ((t = find_token(ctx->snap, hex)) == NULL)
		goto unauthorized;
	if (t->revoked || (t->expires != 0 && t->expires <= clock_now()))
		goto unauthorized;
	if (!global && t->global_email != NULL) {
		tenant_release(ctx);
		*why = NULL;
		return TENANT_BAD_TOKEN_TYPE;
	}
	if (global && (t->global_email == NULL ||
	               strcasecmp(t->global_email, cred->email) != 0))
		goto unauthorized;
	if ((ctx->account = find_account(ctx->snap, t->account_id)) == NULL)
		goto unauthorized;
	ctx->token = t;
	/* Another account, known or not, is the same 10102 (SPEC §2.3). */
	if (account != NULL && strcmp(account, t->account_id) != 0)
		goto forbidden;
	if ((t->perms & perm) != perm)
		goto forbidden;
	if (entitled && !ctx->account->entitled) {
		tenant_release(ctx);
		*why = NULL;
		return TENANT_NOT_ENTITLED;
	}
	*why = NULL;
	return TENANT_OK;
forbidden:
	tenant_release(ctx);
	*why = "this token may not do that here: the account in the path is "
	       "not its own, or it lacks the permission";
	return TENANT_FORBIDDEN;
unauthorized:
	tenant_release(ctx);
	return TENANT_UNAUTHORIZED;
}

const struct tenant_domain *
tenant_domain(const struct tenant_ctx *ctx, const char *name)
{
	const struct tenant_snap *s = ctx->snap;
	size_t i;

	for (i = 0; i < s->ndomains; i++)
		if (strcasecmp(s->domains[i].d.name, name) == 0 &&
		    strcmp(s->domains[i].d.account_id, ctx->account->id) == 0)
			return &s->domains[i];
	return NULL;
}

void
tenant_release(struct tenant_ctx *ctx)
{
	snap_unref(ctx->snap);
	memset(ctx, 0, sizeof(*ctx));
}
