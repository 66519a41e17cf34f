/*
 * send_raw: POST /accounts/{a}/email/sending/send_raw (SPEC §4). The
 * client's message goes to submit_raw (LF → CRLF, the raw_headers policy
 * of SPEC §5, Date/Message-ID, Bcc and Return-Path removed, then the
 * sender domain), then the shared path of send.c. from is the envelope
 * sender, recipients the envelope recipients.
 */
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "idem.h"
#include "jsonreq.h"
#include "req.h"
#include "routes.h"
#include "send.h"

int
api_send_raw(struct req *rq)
{
	struct submit_error se;
	struct api_error e;
	struct raw_req r;
	int ret;

	if (idem_begin(rq, &ret) == IDEM_ANSWERED)
		return ret;
	if (jsonreq_parse(rq->body, rq->body_len, &rq->root, &e) == -1)
		return req_error(rq, &e);
	if (jsonreq_send_raw(rq->a, rq->root, &r, &e) == -1)
		return req_error(rq, &e);
	rq->sub.now = clock_now();
	if (submit_raw(&rq->sub, r.mime, r.mime_len, 1, &r.from, r.rcpts,
	               r.nrcpts, &se) == -1) {
		if (se.kind == SUBMIT_INVALID)
			se.detail = arena_printf(rq->a, "mime_message: %s",
			                         se.detail ? se.detail : "");
		return send_refused(rq, &se, "/mime_message");
	}
	return send_queue(rq);
}
