/*
 * send_raw: POST /accounts/{a}/email/sending/send_raw (SPEC §4). The
 * client's message goes through rawmime_prepare (LF → CRLF, header
 * policy, Date/Message-ID, Bcc removed), then the shared path of send.c.
 * from is the envelope sender, recipients the envelope recipients.
 */
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../mail/limits.h"
#include "../mail/rawmime.h"
#include "http.h"
#include "jsonreq.h"

int
api_send_raw(struct req *rq)
{
	const struct tenant_domain *dom;
	struct rawmime_result res;
	struct api_error e;
	struct raw_req r;
	char why[256];
	time_t now;
	enum MHD_Result ret;
	size_t i;
	int rc;

	if (idem_begin(rq, &ret) != 0)
		return ret;
	if (jsonreq_parse(rq->body, rq->body_len, &rq->root, &e) == -1)
		return req_error(rq, &e);
	if (jsonreq_send_raw(rq->a, rq->root, &r, &e) == -1)
		return req_error(rq, &e);
	now = clock_now();
	/* Content rules of the message itself come before the sender
	 * domain (SPEC §2.2). */
	/* Room for the message and the Date and Message-ID pigeon may
	 * add; past the cap, rawmime_prepare says so (-2). */
	buf_init(&rq->raw, DKIM_GAP + MAX_MESSAGE_SIZE);
	if (buf_reserve(&rq->raw,
	                DKIM_GAP + (r.mime_len + 1024 < MAX_MESSAGE_SIZE
	                                ? r.mime_len + 1024
	                                : MAX_MESSAGE_SIZE)) == -1)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	memset(rq->raw.p, ' ', DKIM_GAP);
	rq->raw.len = DKIM_GAP;
	memset(&res, 0, sizeof(res));
	why[0] = '\0';
	rc = rawmime_prepare(rq->a, r.mime, r.mime_len, 1, r.from.domain, now,
	                     &rq->raw, &res, why, sizeof(why));
	if (rc == -2)
		return req_fail(rq, AE_TOO_BIG, "/mime_message",
		                "the message is over 5 MiB");
	if (rc != 0)
		return req_fail(rq, AE_INVALID, "/mime_message",
		                arena_printf(rq->a, "mime_message: %s", why));
	if ((dom = send_domain(rq, r.from.domain, &e)) == NULL)
		return req_error(rq, &e);
	rq->sm.rcpts = arena_zalloc(rq->a, r.nrcpts * sizeof(*rq->sm.rcpts));
	rq->rcpt = arena_alloc(rq->a, r.nrcpts * sizeof(*rq->rcpt));
	if (rq->sm.rcpts == NULL || rq->rcpt == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	for (i = 0; i < r.nrcpts; i++) {
		rq->sm.rcpts[i].address = r.rcpts[i].ascii;
		rq->rcpt[i] = &r.rcpts[i];
	}
	rq->sm.nrcpts = r.nrcpts;
	snprintf(rq->message_id, sizeof(rq->message_id), "%s", res.message_id);
	return send_submit(rq, dom, r.from.address, res.subject, now);
}
