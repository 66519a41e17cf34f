/*
 * webhook: the dispatcher of SPEC §6.5 (see webhook.h and
 * docs/design.md, "Webhooks").
 *
 * One thread, one store connection, one curl multi handle. Each turn it
 * reads the webhooks again (every WEBHOOK_RELOAD_MS: a webhook added by
 * the CLI is POSTed to without a restart), copies each webhook's new
 * events into its outbox (store_webhook_pump, after the webhook's
 * cursor), starts the due outbox rows up to WEBHOOK_MAX_INFLIGHT per
 * webhook, and writes the ends of the POSTs that finished in one
 * transaction. The store picks only the first pending event of each
 * message, and a message with a POST in flight starts no other: events
 * of a message reach a webhook in order. It is not the writer: the
 * send path neither waits for it nor writes anything for it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../core/clock.h"
#include "../core/config.h"
#include "../core/log.h"
#include "../core/random.h"
#include "../store/store.h"
#include "webhook.h"

#define WEBHOOK_RELOAD_MS 1000 /* how often the webhooks are read again */
#define WEBHOOK_SCAN_MS 100    /* how often the outboxes are read */
#define WEBHOOK_PUMP_MS 500    /* how often new events are copied */
#define WEBHOOK_PAGE 2000      /* events copied per transaction */
/* Copies stop while a webhook has this many rows pending: a backlog
 * (a slow or absent receiver) waits in the events table, read later,
 * not copied now */
#define WEBHOOK_OUTBOX_LOW 1000
#define WEBHOOK_MAX_PAGES 20            /* pumps per webhook per scan */
#define WEBHOOK_ERR_MAX CURL_ERROR_SIZE /* bytes of an error kept */

struct hook {
	struct webhook w; /* as last read; w.cursor is ours after a pump */
	int inflight;
	int gone; /* removed: freed once nothing is in flight */
	int seen; /* in the last reload */
	/* when its due rows are read: something changed (a page copied, a
	 * POST ended, the reload of every second: a replay), or wake, the
	 * earliest retry written since the last read, came */
	int dirty;
	int64_t wake;    /* unix ms */
	int64_t pending; /* its outbox rows, as last read, plus copies */
};

struct post {
	struct webhookd *d;
	struct hook *h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	int64_t event_rowid, msg_id, queued, t0;
	int attempts; /* before this one */
	char event_id[ID_LEN + 1];
	char errbuf[CURL_ERROR_SIZE];
	struct post *next;
};

/* What a finished POST leaves to write. */
struct result {
	struct hook *h;
	int64_t event_rowid, queued;
	int attempts, ok;
	char error[WEBHOOK_ERR_MAX];
};

struct webhookd {
	const struct config *cfg;
	struct store *st;
	CURLM *multi;
	pthread_t thr;
	atomic_int stop;
	struct hook **hooks;
	size_t nhooks;
	struct post *posts; /* in flight */
	int64_t next_reload, next_scan, next_pump;
};

static struct hook *
hook_find(struct webhookd *d, const char *id)
{
	for (size_t i = 0; i < d->nhooks; i++)
		if (strcmp(d->hooks[i]->w.id, id) == 0)
			return d->hooks[i];
	return NULL;
}

/* Drops the hooks that are gone and idle. */
static void
hooks_sweep(struct webhookd *d)
{
	size_t i = 0;

	while (i < d->nhooks) {
		struct hook *h = d->hooks[i];

		if (h->gone && h->inflight == 0) {
			webhook_clear(&h->w);
			free(h);
			d->hooks[i] = d->hooks[--d->nhooks];
		} else
			i++;
	}
}

/* The webhooks as the store has them now: new ones added, changed ones
 * taken, removed ones marked gone. 0 or -1 (the old set stays). */
static int
hooks_reload(struct webhookd *d)
{
	struct webhook *v = NULL;
	struct hook *h, **nv;
	size_t n = 0, i;

	if (store_webhook_list(d->st, NULL, &v, &n) != 0) {
		log_warnx("webhook: store: %s", store_error(d->st));
		return -1;
	}
	for (i = 0; i < d->nhooks; i++) {
		d->hooks[i]->seen = 0;
		d->hooks[i]->dirty = 1;
	}
	for (i = 0; i < n; i++) {
		if ((h = hook_find(d, v[i].id)) != NULL) {
			int64_t cur = h->w.cursor;

			webhook_clear(&h->w);
			h->w = v[i];
			if (cur > h->w.cursor)
				h->w.cursor = cur;
			h->pending = h->w.pending;
		} else {
			if ((h = calloc(1, sizeof(*h))) == NULL ||
			    (nv = realloc(d->hooks, (d->nhooks + 1) *
			                                sizeof(*d->hooks))) ==
			        NULL) {
				free(h);
				webhook_clear(&v[i]);
				continue;
			}
			d->hooks = nv;
			h->w = v[i];
			h->dirty = 1;
			h->wake = INT64_MAX;
			h->pending = h->w.pending;
			d->hooks[d->nhooks++] = h;
			log_info("webhook=%s account=%s added", h->w.id,
			         h->w.account_id);
		}
		memset(&v[i], 0, sizeof(v[i]));
		h->seen = 1;
		h->gone = 0;
	}
	free(v);
	for (i = 0; i < d->nhooks; i++)
		if (!d->hooks[i]->seen && !d->hooks[i]->gone) {
			d->hooks[i]->gone = 1;
			log_info("webhook=%s removed", d->hooks[i]->w.id);
		}
	hooks_sweep(d);
	return 0;
}

/* h's new events into its outbox, a page a transaction. */
static void
hook_pump(struct webhookd *d, struct hook *h, int64_t now)
{
	struct store_event *ev = NULL;
	size_t n = 0;
	int64_t cur;

	for (int i = 0; i < WEBHOOK_MAX_PAGES; i++) {
		if (h->pending >= WEBHOOK_OUTBOX_LOW)
			return;
		/* a read first: the write lock only when there is news */
		if (store_events_list(d->st, h->w.account_id, h->w.cursor, 1,
		                      NULL, &ev, &n) != 0)
			goto fail;
		event_list_free(ev, n);
		if (n == 0)
			return;
		if (store_begin(d->st) != 0)
			goto fail;
		if (store_webhook_pump(d->st, &h->w, now,
		                       (int)(WEBHOOK_PAGE - h->pending),
		                       &cur) != 0)
			goto fail;
		if (cur == h->w.cursor) { /* nothing new */
			store_rollback(d->st);
			return;
		}
		if (store_commit(d->st) != 0)
			goto fail;
		h->pending += cur - h->w.cursor; /* at most: types */
		h->w.cursor = cur;
		h->dirty = 1;
	}
	return;
fail:
	log_warnx("webhook=%s store: %s", h->w.id, store_error(d->st));
	store_rollback(d->st);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int
busy(struct webhookd *d, const struct hook *h, int64_t rowid, int64_t msg_id)
{
	for (struct post *p = d->posts; p != NULL; p = p->next)
		if (p->h == h &&
		    (p->event_rowid == rowid || p->msg_id == msg_id))
			return 1;
	return 0;
}

static void
post_free(struct post *p)
{
	if (p == NULL)
		return;
	if (p->easy != NULL) {
		curl_multi_remove_handle(p->d->multi, p->easy);
		curl_easy_cleanup(p->easy);
	}
	curl_slist_free_all(p->hdrs);
	free(p->body);
	free(p);
}

struct due_ctx {
	struct webhookd *d;
	struct hook *h;
	struct result *gone; /* rows whose event was purged */
	size_t ngone, capgone;
};

/* One due row: a POST started, unless its message is busy. */
static int
due_one(void *arg, const struct webhook_job *j)
{
	struct due_ctx *c = arg;
	struct webhookd *d = c->d;
	struct hook *h = c->h;
	struct post *p;
	char sig[128], line[192];
	int64_t t = clock_now();

	if (h->inflight >= WEBHOOK_MAX_INFLIGHT)
		return 1;
	if (busy(d, h, j->event_rowid, j->msg_id))
		return 0;
	if (j->payload == NULL) { /* purged with its message */
		if (c->ngone < c->capgone) {
			struct result *r = &c->gone[c->ngone++];

			memset(r, 0, sizeof(*r));
			r->h = h;
			r->event_rowid = j->event_rowid;
			r->ok = 1;
		}
		return 0;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return 1;
	p->d = d;
	p->h = h;
	p->event_rowid = j->event_rowid;
	p->msg_id = j->msg_id;
	p->queued = j->queued;
	p->attempts = j->attempts;
	snprintf(p->event_id, sizeof(p->event_id), "%s",
	         j->event_id ? j->event_id : "");
	if ((p->body = strdup(j->payload)) == NULL ||
	    webhook_signature(h->w.secret, t, p->body, strlen(p->body), sig,
	                      sizeof(sig)) != 0)
		goto fail;
	snprintf(line, sizeof(line), "Pigeon-Signature: %s", sig);
	if ((p->hdrs = curl_slist_append(NULL, "Content-Type: "
	                                       "application/json")) == NULL ||
	    curl_slist_append(p->hdrs, line) == NULL)
		goto fail;
	snprintf(line, sizeof(line), "Pigeon-Event-Id: %s", p->event_id);
	if (curl_slist_append(p->hdrs, line) == NULL ||
	    curl_slist_append(p->hdrs, "Expect:") == NULL ||
	    (p->easy = curl_easy_init()) == NULL)
		goto fail;
	curl_easy_setopt(p->easy, CURLOPT_URL, h->w.url);
	curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)strlen(p->body));
	curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->hdrs);
	curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "pigeon/" PIGEON_VERSION);
	curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS,
	                 (long)d->cfg->webhook_timeout);
	curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
	if (curl_multi_add_handle(d->multi, p->easy) != CURLM_OK)
		goto fail;
	p->t0 = clock_mono_ms();
	p->next = d->posts;
	d->posts = p;
	h->inflight++;
	return 0;
fail:
	if (p->easy != NULL) {
		curl_easy_cleanup(p->easy);
		p->easy = NULL;
	}
	post_free(p);
	log_warnx("webhook=%s event=%s cannot start a POST: out of memory",
	          h->w.id, j->event_id ? j->event_id : "");
	return 1;
}

static void results_write(struct webhookd *d, struct result *r, size_t n,
                          int64_t now);

/* Starts h's due rows while it has room. */
static void
hook_start(struct webhookd *d, struct hook *h, int64_t now)
{
	struct result gone[16];
	struct due_ctx c = {d, h, gone, 0, sizeof(gone) / sizeof(*gone)};

	if (h->gone || h->inflight >= WEBHOOK_MAX_INFLIGHT ||
	    (!h->dirty && now < h->wake))
		return;
	/* a backlog that cannot go (its receiver down) is read once per
	 * retry time or second, not every turn */
	h->dirty = 0;
	if (h->wake <= now)
		h->wake = INT64_MAX;
	/* the rows in flight come back (they are still pending) */
	if (store_webhook_due(d->st, h->w.id, now,
	                      WEBHOOK_MAX_INFLIGHT + h->inflight, due_one,
	                      &c) != 0)
		log_warnx("webhook=%s store: %s", h->w.id, store_error(d->st));
	if (c.ngone > 0)
		results_write(d, gone, c.ngone, now);
}

/* The ends of attempts, in one transaction. A row whose end cannot be
 * written stays pending: POSTed again (at least once). */
static void
results_write(struct webhookd *d, struct result *r, size_t n, int64_t now)
{
	const struct config *cfg = d->cfg;
	size_t i;

	if (store_begin(d->st) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		int attempts = r[i].attempts + 1, give_up = 0;
		int64_t next = 0;

		if (!r[i].ok) {
			give_up = now - r[i].queued >= cfg->webhook_max_age;
			next = now + webhook_backoff(
			                 attempts, cfg->webhook_retry_base,
			                 cfg->webhook_retry_max, random_u64());
			if (!give_up && next < r[i].h->wake)
				r[i].h->wake = next;
			if (give_up)
				log_warnx("webhook=%s event_row=%lld given up "
				          "after %d attempts",
				          r[i].h->w.id,
				          (long long)r[i].event_rowid,
				          attempts);
		}
		if (store_webhook_result(d->st, r[i].h->w.id, r[i].event_rowid,
		                         r[i].ok, attempts, next, give_up,
		                         r[i].error, now) != 0)
			goto fail;
	}
	if (store_commit(d->st) != 0)
		goto fail;
	return;
fail:
	log_warnx("webhook: store: %s", store_error(d->st));
	store_rollback(d->st);
}

/* url for a log line: without the user and password of
 * "https://user:pass@host/…", which are credentials. */
static const char *
url_for_log(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://"), *at;
	size_t n;

	if (h == NULL)
		return url;
	h += 3;
	n = strcspn(h, "/?#");
	if ((at = memchr(h, '@', n)) == NULL)
		return url;
	snprintf(out, outlen, "%.*s%s", (int)(h - url), url, at + 1);
	return out;
}

/* The POSTs that finished: logged, their ends written. */
static void
reap(struct webhookd *d)
{
	struct result res[64];
	size_t n = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		struct post *p = NULL, **pp;
		struct result *r;
		char u[LOG_VALUE_LEN(512)], e[LOG_VALUE_LEN(WEBHOOK_ERR_MAX)];
		char bare[WEBHOOK_URL_MAX + 1];
		long status = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		                  &status);
		r = &res[n++];
		memset(r, 0, sizeof(*r));
		r->h = p->h;
		r->event_rowid = p->event_rowid;
		r->queued = p->queued;
		r->attempts = p->attempts;
		if (m->data.result != CURLE_OK)
			snprintf(r->error, sizeof(r->error), "%.*s",
			         (int)sizeof(r->error) - 1,
			         p->errbuf[0]
			             ? p->errbuf
			             : curl_easy_strerror(m->data.result));
		else if (status < 200 || status > 299)
			snprintf(r->error, sizeof(r->error), "HTTP %ld",
			         status);
		else
			r->ok = 1;
		log_info("webhook=%s url=%s event=%s attempt=%d status=%ld "
		         "duration=%lldms result=%s%s%s",
		         p->h->w.id,
		         log_value(url_for_log(p->h->w.url, bare, sizeof(bare)),
		                   u, sizeof(u)),
		         p->event_id, p->attempts + 1, status,
		         (long long)(clock_mono_ms() - p->t0),
		         r->ok ? "delivered" : "failed", r->ok ? "" : " error=",
		         r->ok ? "" : log_value(r->error, e, sizeof(e)));
		p->h->inflight--;
		p->h->dirty = 1;
		for (pp = &d->posts; *pp != NULL; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		post_free(p);
		if (n == sizeof(res) / sizeof(*res)) {
			results_write(d, res, n, clock_now_ms());
			n = 0;
		}
	}
	if (n > 0)
		results_write(d, res, n, clock_now_ms());
}

static void *
run(void *arg)
{
	struct webhookd *d = arg;
	int running = 0;

	while (!atomic_load(&d->stop)) {
		int64_t now = clock_now_ms();
		int64_t mono = clock_mono_ms();

		if (mono >= d->next_reload) {
			hooks_reload(d);
			d->next_reload = mono + WEBHOOK_RELOAD_MS;
		}
		if (mono >= d->next_scan) {
			/* copies are fewer, bigger transactions: each one
			 * takes the write lock from the writer */
			int pump = mono >= d->next_pump;

			for (size_t i = 0; i < d->nhooks; i++) {
				if (d->hooks[i]->gone)
					continue;
				if (pump)
					hook_pump(d, d->hooks[i], now);
				hook_start(d, d->hooks[i], now);
			}
			d->next_scan = mono + WEBHOOK_SCAN_MS;
			if (pump)
				d->next_pump = mono + WEBHOOK_PUMP_MS;
		}
		curl_multi_perform(d->multi, &running);
		reap(d);
		curl_multi_poll(d->multi, NULL, 0, WEBHOOK_SCAN_MS, NULL);
	}
	/* in flight: abandoned, pending in the store */
	while (d->posts != NULL) {
		struct post *p = d->posts;

		d->posts = p->next;
		p->h->inflight--;
		log_info("webhook=%s event=%s abandoned at stop; POSTed again "
		         "after the next start",
		         p->h->w.id, p->event_id);
		post_free(p);
	}
	return NULL;
}

struct webhookd *
webhookd_start(const struct config *cfg, char *err, size_t errlen)
{
	struct webhookd *d;
	int e;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "webhooks: curl_global_init failed");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "webhooks: out of memory");
		return NULL;
	}
	d->cfg = cfg;
	if ((d->st = store_open(cfg->db_path, err, errlen)) == NULL)
		goto fail;
	/* what its writes lose on a power failure is redone (store.h) */
	if (store_webhook_relax(d->st) != 0) {
		snprintf(err, errlen, "webhooks: %s", store_error(d->st));
		goto fail;
	}
	if ((d->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "webhooks: curl_multi_init failed");
		goto fail;
	}
	if ((e = pthread_create(&d->thr, NULL, run, d)) != 0) {
		snprintf(err, errlen, "webhooks: pthread_create: %s",
		         strerror(e));
		goto fail;
	}
	return d;
fail:
	if (d->multi != NULL)
		curl_multi_cleanup(d->multi);
	store_close(d->st);
	free(d);
	return NULL;
}

void
webhookd_stop(struct webhookd *d)
{
	if (d == NULL)
		return;
	atomic_store(&d->stop, 1);
	curl_multi_wakeup(d->multi);
	pthread_join(d->thr, NULL);
	for (size_t i = 0; i < d->nhooks; i++) {
		webhook_clear(&d->hooks[i]->w);
		free(d->hooks[i]);
	}
	free(d->hooks);
	curl_multi_cleanup(d->multi);
	store_close(d->st);
	free(d);
	curl_global_cleanup();
}
