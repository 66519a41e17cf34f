/*
 * idem: the Idempotency-Key header of send and send_raw (SPEC §2.4).
 *
 * A key names one accepted send of one account for 24 hours. The record
 * (account, key, hash of the body, endpoint, the message) is written by
 * the store in the message's own transaction (store_msg.idem_key), so a
 * key is recorded exactly when its message is: a request refused before
 * the queue (4xx) or by it (503) reserves nothing and may be retried with
 * the same key. A repeat answers 200 with the first message_id, rebuilt
 * from the stored message and its recipients' current states; a repeat
 * at the other endpoint (send vs send_raw: the same bytes mean another
 * message there), with another body, or while the first is still being
 * processed (the in-memory set below), answers 409. Requests without the
 * header pay nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "../core/utf8.h"
#include "idem.h"
#include "req.h"

#define IDEM_KEY_MAX 256 /* characters (code points), SPEC §2.4 */
#define IDEM_BUCKETS 256

/* One (account, key) being processed. */
struct idem_entry {
	struct idem_entry *next;
	struct idem *set;
	unsigned h;
	char account[ID_LEN + 1];
	char key[]; /* NUL-terminated */
};

struct idem {
	pthread_mutex_t mu; /* guards b[] */
	struct idem_entry *b[IDEM_BUCKETS];
};

struct idem *
idem_new(void)
{
	struct idem *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	pthread_mutex_init(&set->mu, NULL);
	return set;
}

void
idem_free(struct idem *set)
{
	struct idem_entry *e, *next;

	if (set == NULL)
		return;
	for (size_t i = 0; i < IDEM_BUCKETS; i++)
		for (e = set->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&set->mu);
	free(set);
}

/* req_done_fn: the request's answer is decided, the key is free again
 * (a commit recorded it; a refusal recorded nothing). Any thread. */
static void
idem_release(void *arg)
{
	struct idem_entry *e = arg, **p;
	struct idem *set = e->set;

	pthread_mutex_lock(&set->mu);
	for (p = &set->b[e->h % IDEM_BUCKETS]; *p != NULL; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	pthread_mutex_unlock(&set->mu);
	free(e);
}

/* FNV-1a over the account and the key. */
static unsigned
idem_hash(const char *account, const char *key)
{
	uint32_t h = 2166136261u;
	const char *p;

	for (p = account; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u; /* a separator no id holds */
	for (p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

/* Adds (account, key) to the set, to be let go when rq's answer is
 * decided: 0, or -1 when it is there already (another request holds it)
 * or memory ran out (*oom set). */
static int
idem_hold(struct req *rq, const char *account, const char *key, int *oom)
{
	struct idem *set = rq->api->idem;
	struct idem_entry *e, **b;
	unsigned h = idem_hash(account, key);
	size_t klen = strlen(key);
	int rc = 0;

	*oom = 0;
	pthread_mutex_lock(&set->mu);
	b = &set->b[h % IDEM_BUCKETS];
	for (e = *b; e != NULL; e = e->next)
		if (e->h == h && strcmp(e->account, account) == 0 &&
		    strcmp(e->key, key) == 0)
			break;
	if (e != NULL)
		rc = -1;
	else if ((e = malloc(sizeof(*e) + klen + 1)) == NULL) {
		*oom = 1;
		rc = -1;
	} else {
		e->set = set;
		e->h = h;
		snprintf(e->account, sizeof(e->account), "%s", account);
		memcpy(e->key, key, klen + 1);
		e->next = *b;
		*b = e;
	}
	pthread_mutex_unlock(&set->mu);
	if (rc == 0 && req_on_done(rq, idem_release, e) == -1) {
		idem_release(e);
		*oom = 1;
		rc = -1;
	}
	return rc;
}

/* The first response again: same message_id, the recipients in the
 * order stored, each in the list of its current state. */
static int
idem_replay(struct req *rq, const struct msg_status *ms)
{
	struct httpd_resp *r;
	const char **addrs;
	enum rcpt_state *st;
	struct buf b;

	addrs = arena_alloc(rq->a, (ms->nrcpts + 1) * sizeof(*addrs));
	st = arena_alloc(rq->a, (ms->nrcpts + 1) * sizeof(*st));
	if (addrs == NULL || st == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	for (size_t i = 0; i < ms->nrcpts; i++) {
		addrs[i] = ms->rcpts[i].address ? ms->rcpts[i].address : "";
		st[i] = ms->rcpts[i].state;
	}
	buf_init(&b, 0);
	if (envelope_send_result(&b, ms->message_id, addrs, st, ms->nrcpts) ==
	        -1 ||
	    (r = req_json_response(200, &b)) == NULL) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	if (httpd_resp_header(r, "Idempotent-Replayed", "true") == -1) {
		httpd_resp_free(r);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	rq->code = 0;
	return req_queue(rq, r);
}

/* The endpoint a key belongs to: the last segment of the route's
 * pattern, "send" or "send_raw". */
static const char *
idem_endpoint(const struct req *rq)
{
	const char *p = rq->route->pattern, *s = strrchr(p, '/');

	return s != NULL ? s + 1 : p;
}

int
idem_begin(struct req *rq, int *ret)
{
	const char *account = rq->auth.account->id;
	const char *endpoint = idem_endpoint(rq);
	struct msg_status ms;
	struct store *st;
	char want[65], have[65] = {0}, have_ep[STORE_ENDPOINT_MAX] = {0};
	const char *key;
	int oom, rc;

	/* The key is an arena copy: the queue may outlive the connection. */
	switch (req_header(rq, "Idempotency-Key", &key)) {
	case 0:
		break;
	case HDR_REPEATED:
		*ret = req_fail(rq, AE_SCHEMA, NULL,
		                "the Idempotency-Key header was given more "
		                "than once");
		return IDEM_ANSWERED;
	default:
		*ret = req_fail(rq, AE_INTERNAL, NULL, NULL);
		return IDEM_ANSWERED;
	}
	if (key == NULL)
		return IDEM_GO_ON;
	if (key[0] == '\0' || utf8_count(key, strlen(key)) > IDEM_KEY_MAX) {
		*ret = req_fail(rq, AE_SCHEMA, NULL,
		                "Idempotency-Key must be 1 to 256 characters");
		return IDEM_ANSWERED;
	}
	if (idem_hold(rq, account, key, &oom) == -1) {
		*ret =
		    oom ? req_fail(rq, AE_INTERNAL, NULL, NULL)
		        : req_fail(rq, AE_CONFLICT, NULL,
		                   arena_printf(rq->a,
		                                "Idempotency-Key '%s' is still "
		                                "being processed; retry later",
		                                key));
		return IDEM_ANSWERED;
	}
	hash_sha256_hex(rq->body != NULL ? rq->body : "", rq->body_len, want);
	if ((st = req_store(rq)) == NULL)
		rc = -1;
	else
		rc = store_idem_get(st, account, key,
		                    clock_now_ms() - STORE_IDEM_TTL_MS, have,
		                    have_ep, &ms);
	if (rc == -1) {
		if (st != NULL) {
			char v[LOG_VALUE_LEN(ID_LEN)];

			log_warnx("idem: account=%s lookup failed: %s",
			          log_value(account, v, sizeof(v)),
			          store_error(st));
		}
		*ret = req_fail(rq, AE_UNAVAILABLE, NULL,
		                "the Idempotency-Key could not be checked; "
		                "nothing was sent, try again");
		return IDEM_ANSWERED;
	}
	if (rc == 0) {
		/* a record from before endpoints were kept may replay at
		 * either (store.h) */
		if (have_ep[0] != '\0' && strcmp(have_ep, endpoint) != 0)
			*ret = req_fail(
			    rq, AE_CONFLICT, NULL,
			    arena_printf(
			        rq->a,
			        "Idempotency-Key '%s' was used with "
			        "another endpoint (%s); a key belongs to "
			        "one endpoint",
			        key, have_ep));
		else if (!hash_equal(want, have, 64))
			*ret = req_fail(
			    rq, AE_CONFLICT, NULL,
			    arena_printf(rq->a,
			                 "Idempotency-Key '%s' was used with a "
			                 "different request body",
			                 key));
		else
			*ret = idem_replay(rq, &ms);
		msg_status_clear(&ms);
		return IDEM_ANSWERED;
	}
	/* Recorded by the store with the message (sqlite.c). */
	rq->sub.idem_key = key;
	rq->sub.idem_endpoint = endpoint;
	rq->sub.idem_hash = arena_strdup(rq->a, want);
	if (rq->sub.idem_hash == NULL) {
		*ret = req_fail(rq, AE_INTERNAL, NULL, NULL);
		return IDEM_ANSWERED;
	}
	return IDEM_GO_ON;
}
