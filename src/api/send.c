/*
 * send: POST /accounts/{a}/email/sending/send (SPEC §3), and what
 * send_raw shares with it: handing a submission to src/submit/ with the
 * connection suspended, mapping submit's errors to the error table, and
 * the 200 answer of SPEC §3.4.
 *
 * Order (SPEC §2.2; route, auth and Content-Length ran in http.c): JSON
 * schema (10001) → content rules (10202) → submit: sender domain
 * (10204) → disabled (10203) → rate limit (429/10004) → suppressions
 * (10202) → daily quota (429/10004) → sign, size (10200) → queue
 * (503/10002). An Idempotency-Key is looked at first (idem.c). Every
 * answer after auth carries the RateLimit-* fields (ratelimit.c).
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "idem.h"
#include "jsonreq.h"
#include "req.h"
#include "routes.h"
#include "send.h"

int
send_refused(struct req *rq, const struct submit_error *se,
             const char *message_pointer)
{
	static const enum api_err kinds[] = {
	    [SUBMIT_OK] = AE_INTERNAL,
	    [SUBMIT_SENDER] = AE_SENDER,
	    [SUBMIT_DISABLED] = AE_DISABLED,
	    [SUBMIT_INVALID] = AE_INVALID,
	    [SUBMIT_TOO_BIG] = AE_TOO_BIG,
	    [SUBMIT_INTERNAL] = AE_INTERNAL,
	    [SUBMIT_UNAVAILABLE] = AE_UNAVAILABLE,
	    [SUBMIT_SUPPRESSED] = AE_INVALID,
	    [SUBMIT_THROTTLED] = AE_THROTTLED,
	};
	struct api_error e = {AE_INTERNAL, NULL, se->detail};

	if ((size_t)se->kind < sizeof(kinds) / sizeof(kinds[0]))
		e.kind = kinds[se->kind];
	if (se->kind == SUBMIT_THROTTLED)
		rq->retry_after = se->retry_after;
	if (se->part == SUBMIT_PART_FROM)
		e.pointer = "/from";
	else if (se->part == SUBMIT_PART_MESSAGE)
		e.pointer = message_pointer;
	return req_error(rq, &e);
}

/* The 200 of a send: each recipient as the client wrote it. */
static struct httpd_resp *
send_answer(struct req *rq, const enum rcpt_state *st)
{
	const char **addrs;
	struct buf b;
	size_t i, n = rq->sub.nrcpt;

	if ((addrs = arena_alloc(rq->a, (n + 1) * sizeof(*addrs))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		addrs[i] = rq->sub.rcpt[i]->address;
	buf_init(&b, 0);
	if (envelope_send_result(&b, rq->sub.message_id, addrs, st, n) == -1) {
		buf_clear(&b);
		return NULL;
	}
	return req_json_response(200, &b);
}

/* submit_done_fn: on the writer thread. */
static void
send_done(void *arg, enum submit_err rc, const enum rcpt_state *states)
{
	struct req *rq = arg;
	struct api_error e = {
	    AE_UNAVAILABLE, NULL,
	    "the message could not be queued; nothing was sent, try again"};
	struct httpd_resp *r = NULL;

	/* Committed (key recorded) or refused (nothing written): the
	 * answer is decided (SPEC §2.4: a repeat of the key is no longer in
	 * flight). */
	req_done(rq);
	if (rc == SUBMIT_OK)
		r = send_answer(rq, states);
	if (r == NULL)
		r = req_error_response(rq, &e);
	else
		rq->code = 0;
	req_queue(rq, r);
	/* The queue's reference (the server may have let go first). */
	req_unref(rq);
}

int
send_queue(struct req *rq)
{
	struct submit_error se;
	struct api_error e;

	rq->sub.rd = req_store(rq);
	if (submit_seal(&rq->sub, &se) == -1)
		return send_refused(rq, &se, NULL);
	pthread_mutex_lock(&rq->mu);
	rq->refs++;
	pthread_mutex_unlock(&rq->mu);
	atomic_fetch_add(&rq->api->inflight, 1);
	if (atomic_load(&rq->api->stopping)) {
		/* api_stop is waiting for inflight to drain. */
		atomic_fetch_sub(&rq->api->inflight, 1);
		pthread_mutex_lock(&rq->mu);
		rq->refs--;
		pthread_mutex_unlock(&rq->mu);
		submit_cancel(&rq->sub);
		return req_fail(
		    rq, AE_UNAVAILABLE, NULL,
		    "the server is stopping; nothing was sent, try again");
	}
	/* counted until on_done; set first: the callback may run before
	 * submit_queue returns */
	pthread_mutex_lock(&rq->mu);
	rq->inflight = 1;
	pthread_mutex_unlock(&rq->mu);
	if (submit_queue(rq->api->submit, &rq->sub, send_done, rq) == -1) {
		e = (struct api_error){
		    AE_UNAVAILABLE, NULL,
		    "the queue is not accepting messages; try again"};
		pthread_mutex_lock(&rq->mu);
		rq->refs--;
		pthread_mutex_unlock(&rq->mu);
		return req_error(rq, &e);
	}
	return 0;
}

int
api_send(struct req *rq)
{
	struct submit_error se;
	struct api_error e;
	struct message *msg;
	int ret;

	if (idem_begin(rq, &ret) == IDEM_ANSWERED)
		return ret;
	if (jsonreq_parse(rq->body, rq->body_len, &rq->root, &e) == -1)
		return req_error(rq, &e);
	if ((msg = arena_alloc(rq->a, sizeof(*msg))) == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	if (jsonreq_send(rq->a, rq->root, msg, &e) == -1)
		return req_error(rq, &e);
	rq->sub.now = clock_now();
	if (submit_message(&rq->sub, msg, &se) == -1)
		return send_refused(rq, &se, NULL);
	return send_queue(rq);
}
