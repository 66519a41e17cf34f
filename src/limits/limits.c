/*
 * limits: the token buckets and daily counts of SPEC §8.4 (see
 * limits.h).
 *
 * A bucket holds milli-tokens: rate tokens a second is rate milli-tokens
 * a millisecond, so the refill is integer arithmetic. It starts full.
 * A day's count starts at 0 at UTC midnight (or at what limits_load
 * read); a change marks it dirty until limits_flush has written it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

#define NSTRIPES 64
#define MILLI 1000

struct lim_acct {
	struct lim_acct *next;
	char id[ID_LEN + 1];
	int64_t tokens; /* milli-tokens */
	int64_t at;     /* mono ms of the last refill; 0: never used */
	int64_t day;    /* of sent; -1 none yet */
	int64_t sent;
	int dirty; /* sent differs from what the store has */
};

struct stripe {
	pthread_mutex_t mu;
	struct lim_acct *head;
};

struct limits {
	struct stripe s[NSTRIPES];
	int64_t purged_day; /* limits_flush only (the writer thread) */
};

struct limits *
limits_new(void)
{
	struct limits *lim;

	if ((lim = calloc(1, sizeof(*lim))) == NULL)
		return NULL;
	for (int i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&lim->s[i].mu, NULL);
	lim->purged_day = -1;
	return lim;
}

void
limits_free(struct limits *lim)
{
	struct lim_acct *a, *next;

	if (lim == NULL)
		return;
	for (int i = 0; i < NSTRIPES; i++) {
		for (a = lim->s[i].head; a != NULL; a = next) {
			next = a->next;
			free(a);
		}
		pthread_mutex_destroy(&lim->s[i].mu);
	}
	free(lim);
}

static struct stripe *
stripe_of(struct limits *lim, const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return &lim->s[h % NSTRIPES];
}

/* The state of id in its stripe (locked by the caller), created when
 * absent; NULL when out of memory. */
static struct lim_acct *
acct_get(struct stripe *sp, const char *id)
{
	struct lim_acct *a;

	for (a = sp->head; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			return a;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->day = -1;
	a->next = sp->head;
	sp->head = a;
	return a;
}

static int64_t
clamp(int64_t v)
{
	return v < 0 ? 0 : v > LIMITS_MAX ? LIMITS_MAX : v;
}

int64_t
limits_burst(const struct account *ac)
{
	int64_t rate = clamp(ac->rate), burst = clamp(ac->burst);

	if (rate == 0)
		return 0;
	return burst > 0 ? burst : rate;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}

/* Adds what mono_ms - a->at brought, up to the bucket's size. */
static void
refill(struct lim_acct *a, int64_t rate, int64_t cap, int64_t mono_ms)
{
	int64_t elapsed, need;

	if (a->at == 0) {
		a->tokens = cap;
		a->at = mono_ms;
		return;
	}
	elapsed = mono_ms - a->at;
	if (elapsed > 0) {
		need = cap - a->tokens;
		/* elapsed * rate cannot overflow below need / rate + 1 */
		if (need <= 0 || elapsed >= need / rate + 1)
			a->tokens = cap;
		else
			a->tokens += elapsed * rate;
		a->at = mono_ms;
	}
	if (a->tokens > cap) /* the burst was lowered */
		a->tokens = cap;
}

/* take 1: one token if there is one; 0: none taken. */
static int
bucket(struct limits *lim, const struct account *ac, int64_t mono_ms, int take,
       struct limits_view *v)
{
	int64_t rate = clamp(ac->rate), cap = limits_burst(ac) * MILLI;
	struct stripe *sp;
	struct lim_acct *a;
	int rc = 0;

	if (v != NULL)
		memset(v, 0, sizeof(*v));
	if (rate == 0)
		return 0;
	if (mono_ms <= 0) /* 0 means never used */
		mono_ms = 1;
	sp = stripe_of(lim, ac->id);
	pthread_mutex_lock(&sp->mu);
	if ((a = acct_get(sp, ac->id)) == NULL) {
		/* out of memory: the limit is not applied */
		pthread_mutex_unlock(&sp->mu);
		return 0;
	}
	refill(a, rate, cap, mono_ms);
	if (a->tokens < MILLI)
		rc = LIMITS_RATE;
	else if (take)
		a->tokens -= MILLI;
	if (v != NULL) {
		v->limit = cap / MILLI;
		v->remaining = a->tokens / MILLI;
		v->reset = ceil_div(ceil_div(cap - a->tokens, rate), 1000);
		if (rc == LIMITS_RATE) {
			v->retry_after =
			    ceil_div(ceil_div(MILLI - a->tokens, rate), 1000);
			if (v->retry_after < 1)
				v->retry_after = 1;
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

int
limits_take(struct limits *lim, const struct account *ac, int64_t mono_ms,
            struct limits_view *v)
{
	return bucket(lim, ac, mono_ms, 1, v);
}

int
limits_peek(struct limits *lim, const struct account *ac, int64_t mono_ms,
            struct limits_view *v)
{
	return bucket(lim, ac, mono_ms, 0, v);
}

int64_t
limits_day(int64_t now_ms)
{
	return now_ms < 0 ? 0 : now_ms / LIMITS_DAY_MS;
}

int64_t
limits_midnight_ms(int64_t now_ms)
{
	return (limits_day(now_ms) + 1) * LIMITS_DAY_MS;
}

/* The count of day: a new day starts at 0. */
static void
roll(struct lim_acct *a, int64_t day)
{
	if (a->day != day) {
		a->day = day;
		a->sent = 0;
		a->dirty = 0;
	}
}

int
limits_quota_take(struct limits *lim, const struct account *ac, int64_t n,
                  int64_t now_ms, int64_t *day, int64_t *retry_after)
{
	int64_t quota = ac->daily_quota, d = limits_day(now_ms);
	struct stripe *sp;
	struct lim_acct *a;
	int rc = 0;

	*day = -1;
	*retry_after = 0;
	if (quota <= 0)
		return 0;
	sp = stripe_of(lim, ac->id);
	pthread_mutex_lock(&sp->mu);
	if ((a = acct_get(sp, ac->id)) == NULL) {
		pthread_mutex_unlock(&sp->mu);
		return 0;
	}
	roll(a, d);
	if (n > quota - a->sent) {
		rc = LIMITS_QUOTA;
		*retry_after =
		    ceil_div(limits_midnight_ms(now_ms) - now_ms, 1000);
		if (*retry_after < 1)
			*retry_after = 1;
	} else if (n > 0) {
		a->sent += n;
		a->dirty = 1;
		*day = d;
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void
limits_quota_give(struct limits *lim, const struct account *ac, int64_t n,
                  int64_t day)
{
	struct stripe *sp;
	struct lim_acct *a;

	if (day < 0 || n <= 0)
		return;
	sp = stripe_of(lim, ac->id);
	pthread_mutex_lock(&sp->mu);
	if ((a = acct_get(sp, ac->id)) != NULL && a->day == day) {
		a->sent = a->sent > n ? a->sent - n : 0;
		a->dirty = 1;
	}
	pthread_mutex_unlock(&sp->mu);
}

int64_t
limits_sent(struct limits *lim, const struct account *ac, int64_t now_ms)
{
	struct stripe *sp = stripe_of(lim, ac->id);
	struct lim_acct *a;
	int64_t sent = 0;

	pthread_mutex_lock(&sp->mu);
	for (a = sp->head; a != NULL; a = a->next)
		if (strcmp(a->id, ac->id) == 0) {
			if (a->day == limits_day(now_ms))
				sent = a->sent;
			break;
		}
	pthread_mutex_unlock(&sp->mu);
	return sent;
}

struct load {
	struct limits *lim;
	int64_t day;
};

/* store_usage_fn */
static int
load_one(void *arg, const char *id, int64_t sent)
{
	struct load *l = arg;
	struct stripe *sp;
	struct lim_acct *a;

	if (id == NULL || strlen(id) > ID_LEN)
		return 0;
	sp = stripe_of(l->lim, id);
	pthread_mutex_lock(&sp->mu);
	if ((a = acct_get(sp, id)) != NULL) {
		roll(a, l->day);
		a->sent = sent;
	}
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

int
limits_load(struct limits *lim, struct store *st, int64_t now_ms)
{
	struct load l = {lim, limits_day(now_ms)};

	return store_usage_day(st, l.day, load_one, &l);
}

struct dirty {
	char id[ID_LEN + 1];
	int64_t day, sent;
};

/* Marks id's count of day dirty again (a flush that failed). */
static void
redirty(struct limits *lim, const struct dirty *d)
{
	struct stripe *sp = stripe_of(lim, d->id);
	struct lim_acct *a;

	pthread_mutex_lock(&sp->mu);
	for (a = sp->head; a != NULL; a = a->next)
		if (strcmp(a->id, d->id) == 0) {
			if (a->day == d->day)
				a->dirty = 1;
			break;
		}
	pthread_mutex_unlock(&sp->mu);
}

int
limits_flush(struct limits *lim, struct store *st, int64_t now_ms)
{
	struct dirty *v = NULL, *nv;
	struct lim_acct *a;
	size_t n = 0, cap = 0, i;
	int64_t today = limits_day(now_ms);
	int purge = lim->purged_day != today, rc = -1;

	for (int s = 0; s < NSTRIPES; s++) {
		pthread_mutex_lock(&lim->s[s].mu);
		for (a = lim->s[s].head; a != NULL; a = a->next) {
			if (!a->dirty)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				if ((nv = realloc(v, cap * sizeof(*v))) ==
				    NULL) {
					pthread_mutex_unlock(&lim->s[s].mu);
					goto undo;
				}
				v = nv;
			}
			memcpy(v[n].id, a->id, sizeof(v[n].id));
			v[n].day = a->day;
			v[n].sent = a->sent;
			a->dirty = 0;
			n++;
		}
		pthread_mutex_unlock(&lim->s[s].mu);
	}
	if (n == 0 && !purge) {
		free(v);
		return 0;
	}
	if (store_begin(st) != 0)
		goto undo;
	for (i = 0; i < n; i++)
		if (store_usage_put(st, v[i].id, v[i].day, v[i].sent) != 0)
			goto rollback;
	/* yesterday stays: a count of the day that just ended may still be
	 * on its way */
	if (purge && store_usage_purge(st, today - 1) < 0)
		goto rollback;
	if (store_commit(st) != 0)
		goto rollback;
	if (purge)
		lim->purged_day = today;
	free(v);
	return (int)n;
rollback:
	store_rollback(st);
undo:
	for (i = 0; i < n; i++)
		redirty(lim, &v[i]);
	free(v);
	return rc;
}
