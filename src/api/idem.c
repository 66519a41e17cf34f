/*
 * idem: the Idempotency-Key header of send and send_raw (SPEC §2.4).
 *
 * A key names one accepted send of one account for 24 hours. The record
 * (account, key, hash of the body, the message) is written by the store
 * in the message's own transaction (store_msg.idem_key), so a key is
 * recorded exactly when its message is: a request refused before the
 * queue (4xx) or by it (503) reserves nothing and may be retried with
 * the same key. A repeat answers 200 with the first message_id, rebuilt
 * from the stored message and its recipients' current states; a repeat
 * with another body, or while the first is still being processed (the
 * in-memory set below), answers 409. Requests without the header pay
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "../core/utf8.h"
#include "http.h"

#define IDEM_KEY_MAX 256 /* characters, SPEC §2.4 */

/* One (account, key) being processed. */
struct idem_entry {
	struct idem_entry *next;
	unsigned h;
	char account[ID_LEN + 1];
	char key[]; /* NUL-terminated */
};

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

/* SPEC §2.4 counts characters: code points when s[0..n) is UTF-8, else
 * bytes. */
static size_t
key_chars(const char *s, size_t n)
{
	size_t i = 0, k, chars = 0;

	while (i < n) {
		if ((k = utf8_seq((const unsigned char *)s + i, n - i)) == 0)
			return n;
		i += k;
		chars++;
	}
	return chars;
}

/* Adds (account, key) to the set for rq: 0, or -1 when it is there
 * already (another request holds it) or memory ran out (*oom set). */
static int
idem_hold(struct req *rq, const char *account, const char *key, int *oom)
{
	struct api *api = rq->api;
	struct idem_entry *e, **b;
	unsigned h = idem_hash(account, key);
	size_t klen = strlen(key);
	int rc = 0;

	*oom = 0;
	pthread_mutex_lock(&api->idem_mu);
	b = &api->idem[h % IDEM_BUCKETS];
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
		e->h = h;
		snprintf(e->account, sizeof(e->account), "%s", account);
		memcpy(e->key, key, klen + 1);
		e->next = *b;
		*b = e;
		rq->idem = e;
	}
	pthread_mutex_unlock(&api->idem_mu);
	return rc;
}

void
idem_release(struct req *rq)
{
	struct api *api = rq->api;
	struct idem_entry **p;

	/* No key, nothing to take: rq->idem is only set before the request
	 * goes to the queue, by the thread that handles it. */
	if (rq->idem == NULL)
		return;
	pthread_mutex_lock(&api->idem_mu);
	if (rq->idem != NULL) {
		for (p = &api->idem[rq->idem->h % IDEM_BUCKETS]; *p != NULL;
		     p = &(*p)->next)
			if (*p == rq->idem) {
				*p = rq->idem->next;
				break;
			}
		free(rq->idem);
		rq->idem = NULL;
	}
	pthread_mutex_unlock(&api->idem_mu);
}

void
idem_free(struct api *api)
{
	struct idem_entry *e, *next;

	for (size_t i = 0; i < IDEM_BUCKETS; i++) {
		for (e = api->idem[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		api->idem[i] = NULL;
	}
}

/* The first response again: same message_id, the recipients in the
 * order stored, each in the list of its current state. */
static enum MHD_Result
idem_replay(struct req *rq, const struct msg_status *ms)
{
	struct MHD_Response *r;
	const char **addrs;
	enum rcpt_state *st;
	enum MHD_Result ret;

	addrs = arena_alloc(rq->a, (ms->nrcpts + 1) * sizeof(*addrs));
	st = arena_alloc(rq->a, (ms->nrcpts + 1) * sizeof(*st));
	if (addrs == NULL || st == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	for (size_t i = 0; i < ms->nrcpts; i++) {
		addrs[i] = ms->rcpts[i].address ? ms->rcpts[i].address : "";
		st[i] = ms->rcpts[i].state;
	}
	r = send_response(rq, ms->message_id, addrs, st, ms->nrcpts);
	if (r == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	MHD_add_response_header(r, "Idempotent-Replayed", "true");
	rq->status = 200;
	rq->code = 0;
	rq->answered = 1;
	ret = MHD_queue_response(rq->conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int
idem_begin(struct req *rq, enum MHD_Result *ret)
{
	const char *account = rq->auth.account->id;
	struct msg_status ms;
	struct store *st;
	char want[65], have[65] = {0};
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
		return 1;
	case HDR_NUL:
		*ret = req_fail(rq, AE_SCHEMA, NULL,
		                "the Idempotency-Key header holds a NUL byte");
		return 1;
	default:
		*ret = req_fail(rq, AE_INTERNAL, NULL, NULL);
		return 1;
	}
	if (key == NULL)
		return 0;
	if (key[0] == '\0' || key_chars(key, strlen(key)) > IDEM_KEY_MAX) {
		*ret = req_fail(rq, AE_SCHEMA, NULL,
		                "Idempotency-Key must be 1 to 256 characters");
		return 1;
	}
	if (idem_hold(rq, account, key, &oom) == -1) {
		*ret =
		    oom ? req_fail(rq, AE_INTERNAL, NULL, NULL)
		        : req_fail(rq, AE_CONFLICT, NULL,
		                   arena_printf(rq->a,
		                                "Idempotency-Key '%s' is still "
		                                "being processed; retry later",
		                                key));
		return 1;
	}
	hash_sha256_hex(rq->body != NULL ? rq->body : "", rq->body_len, want);
	if ((st = req_store(rq)) == NULL)
		rc = -1;
	else
		rc = store_idem_get(st, account, key,
		                    clock_now_ms() - STORE_IDEM_TTL_MS, have,
		                    &ms);
	if (rc == -1) {
		if (st != NULL)
			log_warnx("idem: account=%s lookup failed: %s", account,
			          store_error(st));
		idem_release(rq);
		*ret = req_fail(rq, AE_UNAVAILABLE, NULL,
		                "the Idempotency-Key could not be checked; "
		                "nothing was sent, try again");
		return 1;
	}
	if (rc == 0) {
		if (!hash_equal(want, have, 64))
			*ret = req_fail(
			    rq, AE_CONFLICT, NULL,
			    arena_printf(rq->a,
			                 "Idempotency-Key '%s' was used with a "
			                 "different request body",
			                 key));
		else
			*ret = idem_replay(rq, &ms);
		msg_status_clear(&ms);
		idem_release(rq);
		return 1;
	}
	/* Recorded by the store with the message (sqlite.c). */
	rq->sm.idem_key = key;
	rq->sm.idem_hash = arena_strdup(rq->a, want);
	if (rq->sm.idem_hash == NULL) {
		idem_release(rq);
		*ret = req_fail(rq, AE_INTERNAL, NULL, NULL);
		return 1;
	}
	return 0;
}
