/*
 * send: POST /accounts/{a}/email/sending/send (SPEC §3) and the part of a
 * send that send_raw shares: the sender-domain checks, DKIM signing, the
 * hand-off to the queue and the response of SPEC §3.4.
 *
 * Order (SPEC §2.2; route, auth and Content-Length ran in http.c): JSON
 * schema (10001) → content rules (10202) → sender domain (10204) →
 * disabled (10203) → build, sign, size (10200) → queue (503/10002).
 * An Idempotency-Key is looked at first (idem.c).
 * Rate limits and suppressions are not done yet.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../mail/dkim.h"
#include "../mail/limits.h"
#include "../mail/mime.h"
#include "../mail/msgid.h"
#include "http.h"
#include "jsonreq.h"

const struct tenant_domain *
send_domain(struct req *rq, const char *domain, struct api_error *err)
{
	const struct tenant_domain *d;

	memset(err, 0, sizeof(*err));
	if ((d = tenant_domain(&rq->auth, domain)) == NULL) {
		err->kind = AE_SENDER;
		err->pointer = "/from";
		err->detail = arena_printf(
		    rq->a,
		    "'%s' is not a sending domain of this account (add it "
		    "with pigeon zone create and pigeon domain create)",
		    domain);
		return NULL;
	}
	if (!rq->auth.account->sending_enabled || !d->d.enabled) {
		err->kind = AE_DISABLED;
		err->pointer = "/from";
		err->detail =
		    !rq->auth.account->sending_enabled
		        ? arena_printf(rq->a,
		                       "sending is disabled for this account "
		                       "(pigeon account set %s "
		                       "--sending-enabled yes)",
		                       rq->auth.account->id)
		        : arena_printf(rq->a,
		                       "sending is disabled for '%s' (pigeon "
		                       "domain set %s --enabled yes)",
		                       domain, domain);
		return NULL;
	}
	return d;
}

static int
put_list(struct buf *b, const char *key, const char *const *addrs,
         const enum rcpt_state *st, size_t n, unsigned mask)
{
	size_t i;
	int first = 1;

	if (buf_printf(b, "\"%s\":[", key) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!(mask & (1u << st[i])))
			continue;
		if ((!first && buf_putc(b, ',') == -1) ||
		    envelope_cstr(b, addrs[i]) == -1)
			return -1;
		first = 0;
	}
	return buf_putc(b, ']');
}

/* The response of SPEC §3.4: all five keys, each recipient in one list. */
struct MHD_Response *
send_response(struct req *rq, const char *message_id, const char *const *addrs,
              const enum rcpt_state *st, size_t n)
{
	struct buf b;

	(void)rq;
	buf_init(&b, 0);
	if (envelope_open(&b) == -1 || buf_putc(&b, '{') == -1 ||
	    put_list(&b, "delivered", addrs, st, n, 1u << RCPT_DELIVERED) ==
	        -1 ||
	    buf_putc(&b, ',') == -1 ||
	    put_list(&b, "permanent_bounces", addrs, st, n,
	             (1u << RCPT_BOUNCED) | (1u << RCPT_FAILED)) == -1 ||
	    buf_putc(&b, ',') == -1 ||
	    put_list(&b, "queued", addrs, st, n,
	             (1u << RCPT_QUEUED) | (1u << RCPT_DEFERRED)) == -1 ||
	    buf_puts(&b, ",\"message_id\":") == -1 ||
	    envelope_cstr(&b, message_id) == -1 || buf_putc(&b, ',') == -1 ||
	    put_list(&b, "suppressed_recipients", addrs, st, n,
	             1u << RCPT_SUPPRESSED) == -1 ||
	    buf_putc(&b, '}') == -1 || envelope_close(&b) == -1) {
		buf_clear(&b);
		return NULL;
	}
	return req_json_response(&b);
}

/* The response of a send: each recipient as the client wrote it. */
static struct MHD_Response *
send_answer(struct req *rq, const enum rcpt_state *st)
{
	const char **addrs;
	size_t i, n = rq->sm.nrcpts;

	if ((addrs = arena_alloc(rq->a, (n + 1) * sizeof(*addrs))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		addrs[i] = rq->rcpt[i]->address;
	return send_response(rq, rq->message_id, addrs, st, n);
}

/* queue_send_fn: runs on the writer or delivery thread. */
static void
send_done(void *arg, int rc, const enum rcpt_state *states)
{
	struct req *rq = arg;
	struct api_error e = {
	    AE_UNAVAILABLE, NULL,
	    "the message could not be queued; nothing was sent, try again"};
	struct MHD_Response *r = NULL;
	int status = 200;

	/* Committed (key recorded) or refused (nothing written): a repeat
	 * of the key is no longer in flight (SPEC §2.4). */
	idem_release(rq);
	pthread_mutex_lock(&rq->mu);
	if (!rq->closed) {
		if (rc == 0 && states == NULL) {
			/* Committed, outcomes unknown: every one is queued. */
			enum rcpt_state *q;
			q = arena_zalloc(rq->a, rq->sm.nrcpts * sizeof(*q) + 1);
			for (size_t i = 0; q != NULL && i < rq->sm.nrcpts; i++)
				q[i] = rq->sm.rcpts[i].state == RCPT_SUPPRESSED
				           ? RCPT_SUPPRESSED
				           : RCPT_QUEUED;
			states = q;
		}
		if (rc == 0 && states != NULL)
			r = send_answer(rq, states);
		if (r == NULL)
			r = req_error_response(rq, &e, &status);
		else
			rq->code = 0;
		rq->resp = r;
		rq->resp_status = status;
		rq->resumed = 1;
		MHD_resume_connection(rq->conn);
	}
	pthread_mutex_unlock(&rq->mu);
	/* The queue's reference (MHD may have let go first). */
	req_unref(rq);
}

int
send_submit(struct req *rq, const struct tenant_domain *dom,
            const char *mail_from, const char *subject, time_t now)
{
	struct api_error e = {AE_INTERNAL, NULL, NULL};
	struct buf sig;
	struct store_msg *m = &rq->sm;
	char *raw;
	size_t i, len;

	/* RFC 6376 §5: sign the message as built; the fields go in the
	 * DKIM_GAP room in front of it, so nothing is copied. */
	buf_init(&sig, DKIM_GAP);
	if (dom->rsa == NULL ||
	    dkim_sign(rq->raw.p + DKIM_GAP, rq->raw.len - DKIM_GAP, dom->d.name,
	              dom->d.selector ? dom->d.selector : "pigeon", now,
	              dom->rsa, dom->ed, &sig) == -1) {
		log_warnx("send: domain=%s dkim signing failed", dom->d.name);
		buf_clear(&sig);
		e.detail = "the message could not be signed";
		return req_error(rq, &e);
	}
	len = rq->raw.len - DKIM_GAP + sig.len;
	if (len > MAX_MESSAGE_SIZE) {
		buf_clear(&sig);
		return req_fail(rq, AE_TOO_BIG, NULL,
		                "the message is over 5 MiB once built");
	}
	raw = rq->raw.p + DKIM_GAP - sig.len;
	memcpy(raw, sig.p, sig.len);
	buf_clear(&sig);

	m->account_id = rq->auth.account->id;
	m->domain_id = dom->d.id;
	m->message_id = rq->message_id;
	m->mail_from = mail_from;
	m->subject = subject;
	m->raw = raw;
	m->raw_len = len;
	m->preview = dom->d.preview_enabled;
	m->created = clock_now_ms();
	for (i = 0; i < m->nrcpts; i++)
		m->rcpts[i].state = RCPT_QUEUED;

	/* Suspend first: the callback may run before queue_send returns. */
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
		return req_fail(
		    rq, AE_UNAVAILABLE, NULL,
		    "the server is stopping; nothing was sent, try again");
	}
	rq->inflight = 1; /* counted until on_completed */
	MHD_suspend_connection(rq->conn);
	if (queue_send(rq->api->q, m, rq->api->cfg->send_wait_ms, send_done,
	               rq) == -1) {
		int status;
		e.kind = AE_UNAVAILABLE;
		e.detail = "the queue is not accepting messages; try again";
		pthread_mutex_lock(&rq->mu);
		rq->resp = req_error_response(rq, &e, &status);
		rq->resp_status = status;
		rq->resumed = 1;
		rq->refs--;
		pthread_mutex_unlock(&rq->mu);
		MHD_resume_connection(rq->conn);
	}
	return MHD_YES;
}

/* Puts to, cc and bcc (already de-duplicated) into rq->sm.rcpts. */
static int
collect_rcpts(struct req *rq, const struct message *msg)
{
	const struct mailbox *lists[3] = {msg->to, msg->cc, msg->bcc};
	size_t counts[3] = {msg->nto, msg->ncc, msg->nbcc};
	size_t n = msg->nto + msg->ncc + msg->nbcc, i, j, k = 0;

	rq->sm.rcpts = arena_zalloc(rq->a, n * sizeof(*rq->sm.rcpts));
	rq->rcpt = arena_alloc(rq->a, n * sizeof(*rq->rcpt));
	if (rq->sm.rcpts == NULL || rq->rcpt == NULL)
		return -1;
	for (i = 0; i < 3; i++)
		for (j = 0; j < counts[i]; j++, k++) {
			rq->sm.rcpts[k].address = lists[i][j].ascii;
			rq->rcpt[k] = &lists[i][j];
		}
	rq->sm.nrcpts = n;
	return 0;
}

int
api_send(struct req *rq)
{
	const struct tenant_domain *dom;
	struct api_error e;
	struct message *msg;
	enum MHD_Result ret;
	time_t now;

	if (idem_begin(rq, &ret) != 0)
		return ret;
	if (jsonreq_parse(rq->body, rq->body_len, &rq->root, &e) == -1)
		return req_error(rq, &e);
	if ((msg = arena_alloc(rq->a, sizeof(*msg))) == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	if (jsonreq_send(rq->a, rq->root, msg, &e) == -1)
		return req_error(rq, &e);
	if ((dom = send_domain(rq, msg->from.domain, &e)) == NULL)
		return req_error(rq, &e);
	if (collect_rcpts(rq, msg) == -1)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	now = clock_now();
	msgid_new(rq->message_id, msg->from.domain);
	/* DKIM_GAP bytes of room, then the message (SPEC §3.3). */
	buf_init(&rq->raw, DKIM_GAP + MAX_MESSAGE_SIZE);
	if (buf_reserve(&rq->raw, DKIM_GAP + 64 * 1024) == -1)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	memset(rq->raw.p, ' ', DKIM_GAP);
	rq->raw.len = DKIM_GAP;
	if (mime_build(msg, rq->message_id, now, &rq->raw) == -1)
		return req_fail(rq, AE_TOO_BIG, NULL,
		                "the message is over 5 MiB once built");
	return send_submit(rq, dom, msg->from.address, msg->subject, now);
}
