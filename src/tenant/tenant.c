/*
 * tenant: token and global-key authentication against an in-memory
 * snapshot of the store (SPEC §2.3, DESIGN §4, §7). The hot path takes a
 * read lock, finds a SHA-256 in a hash table and compares it in constant
 * time; the store is read only by the tenant's own connection.
 *
 * Who reads the store, and when:
 * - the refresh thread, every auth_cache_ms: the generation, and a
 *   reload when it moved (so a revocation shows within auth_cache_ms);
 * - a request that missed (unknown token or sending domain): the
 *   generation at once, then the lookup again. One check runs at a time
 *   (t->reload); a request that waited takes the result of a check that
 *   began after it arrived instead of making its own, so a flood of bad
 *   tokens costs one generation read per wave, and no reload unless the
 *   generation moved.
 * It is not the store's cache for anything else.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/hash.h"
#include "../core/htab.h"
#include "../core/log.h"
#include "rules.h"
#include "tenant.h"

#define MAX_SECRET 512
#define MAX_NAME 253 /* RFC 1035 §2.3.4 */

/* "<account id>/<lowercase name>": a sending domain's key. */
struct dom_key {
	char s[ID_LEN + 1 + MAX_NAME + 1];
};

struct tenant_snap {
	atomic_int refs;
	int64_t gen;
	struct tenant *t; /* for a miss: tenant_domain() has only a ctx */
	struct account *accounts;
	size_t naccounts;
	struct token *tokens;
	size_t ntokens;
	struct tenant_domain *domains;
	size_t ndomains;
	struct dom_key *keys; /* of domains[i] */
	struct htab *by_id;   /* account id → struct account */
	struct htab *by_hash; /* token hash → struct token */
	struct htab *by_name; /* dom_key → struct tenant_domain */
};

struct tenant {
	const struct config *cfg;
	pthread_rwlock_t lock; /* guards snap */
	struct tenant_snap *snap;
	pthread_mutex_t reload; /* one check at a time; guards st */
	struct store *st;       /* the tenant's own read connection */
	atomic_ullong checks;   /* generation checks begun */
	pthread_t thread;       /* the refresh thread, when running */
	int running;
	pthread_mutex_t stop_mu; /* guards stopping */
	pthread_cond_t stop_cv;
	int stopping;
};

static void
snap_free(struct tenant_snap *s)
{
	size_t i;

	if (s == NULL)
		return;
	htab_free(s->by_id);
	htab_free(s->by_hash);
	htab_free(s->by_name);
	for (i = 0; i < s->ndomains; i++) {
		dkim_key_free(s->domains[i].rsa);
		dkim_key_free(s->domains[i].ed);
		domain_clear(&s->domains[i].d);
	}
	free(s->domains);
	free(s->keys);
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

/* The key of (account, name) into k; -1 when name is too long. */
static int
dom_key(struct dom_key *k, const char *account, const char *name)
{
	size_t a = strlen(account), n = strlen(name), i;

	if (a > ID_LEN || n > MAX_NAME)
		return -1;
	memcpy(k->s, account, a);
	k->s[a] = '/';
	for (i = 0; i <= n; i++)
		k->s[a + 1 + i] = (char)tolower((unsigned char)name[i]);
	return 0;
}

/* Takes the store's domain list into s->domains: defaults filled, keys
 * loaded. 0, or -1 out of memory (doms then freed). */
static int
snap_domains(struct tenant_snap *s, struct domain *doms, size_t n)
{
	struct tenant_domain *td;
	char name[LOG_VALUE_LEN(255)];
	size_t i;

	s->domains = calloc(n ? n : 1, sizeof(*s->domains));
	s->keys = calloc(n ? n : 1, sizeof(*s->keys));
	if (s->domains == NULL || s->keys == NULL) {
		domain_list_free(doms, n);
		return -1;
	}
	/* The structs move; their malloc'd strings go with them. */
	for (i = 0; i < n; i++)
		s->domains[i].d = doms[i];
	free(doms);
	s->ndomains = n;
	for (i = 0; i < n; i++) {
		td = &s->domains[i];
		if (tenant_domain_defaults(&td->d) == -1)
			return -1;
		if (td->d.rsa_pem != NULL &&
		    (td->rsa = dkim_key_load(td->d.rsa_pem)) == NULL)
			log_warnx("tenant: domain=%s rsa key does not load",
			          log_value(td->d.name, name, sizeof(name)));
		if (td->d.ed_pem != NULL &&
		    (td->ed = dkim_key_load(td->d.ed_pem)) == NULL)
			log_warnx("tenant: domain=%s ed25519 key does not load",
			          log_value(td->d.name, name, sizeof(name)));
	}
	return 0;
}

/* Indexes s. A duplicate (the store's unique keys forbid them) keeps the
 * first. 0, or -1 out of memory. */
static int
snap_index(struct tenant_snap *s)
{
	size_t i;

	if ((s->by_id = htab_new(s->naccounts)) == NULL ||
	    (s->by_hash = htab_new(s->ntokens)) == NULL ||
	    (s->by_name = htab_new(s->ndomains)) == NULL)
		return -1;
	for (i = 0; i < s->naccounts; i++)
		htab_put(s->by_id, s->accounts[i].id, &s->accounts[i]);
	for (i = 0; i < s->ntokens; i++)
		htab_put(s->by_hash, s->tokens[i].hash, &s->tokens[i]);
	for (i = 0; i < s->ndomains; i++)
		if (s->domains[i].d.name != NULL &&
		    dom_key(&s->keys[i], s->domains[i].d.account_id,
		            s->domains[i].d.name) == 0)
			htab_put(s->by_name, s->keys[i].s, &s->domains[i]);
	return 0;
}

/* Builds a snapshot from the store. NULL on a store error (or out of
 * memory, said in the store's place). */
static struct tenant_snap *
snap_load(struct tenant *t, int64_t gen, const char **why)
{
	struct tenant_snap *s;
	struct domain *doms = NULL;
	size_t ndoms = 0;

	*why = "out of memory";
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->gen = gen;
	s->t = t;
	if (store_account_list(t->st, &s->accounts, &s->naccounts) == -1 ||
	    store_token_list(t->st, NULL, &s->tokens, &s->ntokens) == -1 ||
	    store_domain_list(t->st, NULL, &doms, &ndoms) == -1) {
		*why = store_error(t->st);
		goto fail;
	}
	if (snap_domains(s, doms, ndoms) == -1 || snap_index(s) == -1)
		goto fail;
	return s;
fail:
	snap_free(s);
	return NULL;
}

/* The current snapshot with one reference, or NULL. */
static struct tenant_snap *
tenant_snap(struct tenant *t)
{
	struct tenant_snap *s;

	pthread_rwlock_rdlock(&t->lock);
	if ((s = t->snap) != NULL)
		atomic_fetch_add(&s->refs, 1);
	pthread_rwlock_unlock(&t->lock);
	return s;
}

/*
 * Checks the store's generation and swaps in a new snapshot when it
 * moved. since is t->checks as the caller read it when it arrived: if a
 * check began after that, its result is as fresh as the caller needs
 * and nothing is read again. wait 0: return at once when another
 * thread's check is under way (the snapshot it has will do).
 */
static void
tenant_check(struct tenant *t, unsigned long long since, int wait)
{
	struct tenant_snap *ns, *old;
	const char *why;
	int64_t gen;

	if (!wait) {
		if (pthread_mutex_trylock(&t->reload) != 0)
			return;
	} else
		pthread_mutex_lock(&t->reload);
	if (atomic_load(&t->checks) > since)
		goto out;
	atomic_fetch_add(&t->checks, 1);
	if (store_generation(t->st, &gen) == -1) {
		log_warnx("tenant: store generation: %s", store_error(t->st));
		goto out;
	}
	if (t->snap != NULL && t->snap->gen == gen)
		goto out;
	if ((ns = snap_load(t, gen, &why)) == NULL) {
		log_warnx("tenant: reload: %s", why);
		goto out;
	}
	pthread_rwlock_wrlock(&t->lock);
	old = t->snap;
	t->snap = ns;
	pthread_rwlock_unlock(&t->lock);
	snap_unref(old);
	log_debug("tenant: reloaded gen=%lld tokens=%zu domains=%zu",
	          (long long)gen, ns->ntokens, ns->ndomains);
out:
	pthread_mutex_unlock(&t->reload);
}

/* After a miss in seen: a snapshot newer than seen (one reference), once
 * the generation is checked, or NULL when there is none. */
static struct tenant_snap *
tenant_fresher(struct tenant *t, const struct tenant_snap *seen,
               unsigned long long since)
{
	struct tenant_snap *s;

	tenant_check(t, since, 1);
	if ((s = tenant_snap(t)) != NULL && s == seen) {
		snap_unref(s);
		s = NULL;
	}
	return s;
}

/* The refresh thread: a generation check every auth_cache_ms. */
static void *
tenant_main(void *arg)
{
	struct tenant *t = arg;
	struct timespec at;
	int64_t ms = t->cfg->auth_cache_ms;

	pthread_mutex_lock(&t->stop_mu);
	while (!t->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += ms / 1000;
		at.tv_nsec += (ms % 1000) * 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		while (!t->stopping &&
		       pthread_cond_timedwait(&t->stop_cv, &t->stop_mu, &at) !=
		           ETIMEDOUT)
			;
		if (t->stopping)
			break;
		pthread_mutex_unlock(&t->stop_mu);
		tenant_check(t, atomic_load(&t->checks), 1);
		pthread_mutex_lock(&t->stop_mu);
	}
	pthread_mutex_unlock(&t->stop_mu);
	return NULL;
}

struct tenant *
tenant_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tenant *t;
	pthread_condattr_t ca;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cfg = cfg;
	atomic_init(&t->checks, 0);
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->reload, NULL);
	pthread_mutex_init(&t->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((t->st = store_open(cfg->db_path, err, errlen)) == NULL)
		goto fail;
	tenant_check(t, 0, 1);
	if (t->snap == NULL) {
		snprintf(err, errlen,
		         "tenant: cannot load accounts and tokens");
		goto fail;
	}
	if (cfg->auth_cache_ms > 0) {
		if (pthread_create(&t->thread, NULL, tenant_main, t) != 0) {
			snprintf(err, errlen,
			         "tenant: cannot start the refresh thread");
			goto fail;
		}
		t->running = 1;
	}
	return t;
fail:
	tenant_free(t);
	return NULL;
}

void
tenant_free(struct tenant *t)
{
	if (t == NULL)
		return;
	if (t->running) {
		pthread_mutex_lock(&t->stop_mu);
		t->stopping = 1;
		pthread_cond_signal(&t->stop_cv);
		pthread_mutex_unlock(&t->stop_mu);
		pthread_join(t->thread, NULL);
	}
	snap_unref(t->snap);
	store_close(t->st);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->reload);
	pthread_mutex_destroy(&t->stop_mu);
	pthread_cond_destroy(&t->stop_cv);
	free(t);
}

/* The token whose hash is hex; the final comparison is constant-time. */
static const struct token *
find_token(const struct tenant_snap *s, const char hex[65])
{
	const struct token *t = htab_get(s->by_hash, hex);

	return t != NULL && hash_equal(hex, t->hash, 64) ? t : NULL;
}

static const struct tenant_domain *
find_domain(const struct tenant_snap *s, const char *account, const char *name)
{
	struct dom_key k;

	if (dom_key(&k, account, name) == -1)
		return NULL;
	return htab_get(s->by_name, k.s);
}

int
tenant_auth(struct tenant *au, const struct tenant_cred *cred,
            const char *account, unsigned perm, int entitled,
            struct tenant_ctx *ctx, const char **why)
{
	unsigned long long since = atomic_load(&au->checks);
	struct tenant_snap *ns;
	const struct token *t;
	const char *secret;
	char hex[65];
	int global;

	memset(ctx, 0, sizeof(*ctx));
	/* what a client may hear: nothing about which check failed */
	*why = "the token is not valid (unknown, revoked or expired)";
	/* never waits: while another thread checks, the snapshot serves */
	if (au->cfg->auth_cache_ms == 0)
		tenant_check(au, since, 0);
	if ((ctx->snap = tenant_snap(au)) == NULL) {
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
	if (*secret == '\0' || strlen(secret) > MAX_SECRET)
		goto unauthorized;
	tenant_secret_hash(secret, strlen(secret), hex);
	if ((t = find_token(ctx->snap, hex)) == NULL) {
		/* perhaps created a moment ago: look in a newer snapshot */
		if ((ns = tenant_fresher(au, ctx->snap, since)) == NULL)
			goto unauthorized;
		snap_unref(ctx->snap);
		ctx->snap = ns;
		if ((t = find_token(ctx->snap, hex)) == NULL)
			goto unauthorized;
	}
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
	if ((ctx->account = htab_get(ctx->snap->by_id, t->account_id)) == NULL)
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
tenant_domain(struct tenant_ctx *ctx, const char *name)
{
	struct tenant *t = ctx->snap->t;
	unsigned long long since = atomic_load(&t->checks);
	const struct tenant_domain *d;

	if ((d = find_domain(ctx->snap, ctx->account->id, name)) != NULL)
		return d;
	/* Perhaps created a moment ago: look in a newer snapshot, once
	 * per request (what it returned stays valid until release). */
	if (ctx->fresh == NULL &&
	    (ctx->fresh = tenant_fresher(t, ctx->snap, since)) == NULL)
		return NULL;
	return find_domain(ctx->fresh, ctx->account->id, name);
}

void
tenant_release(struct tenant_ctx *ctx)
{
	snap_unref(ctx->snap);
	snap_unref(ctx->fresh);
	memset(ctx, 0, sizeof(*ctx));
}

void
tenant_refresh(struct tenant *t)
{
	tenant_check(t, atomic_load(&t->checks), 1);
}
