/*
 * service: the routes about the service itself — GET /healthz (in the
 * envelope of SPEC §2.1, no credentials) and GET /user/tokens/verify
 * (SPEC §8.3).
 */
#include "req.h"
#include "routes.h"

/* GET /healthz, in the envelope of SPEC §2.1. */
int
api_healthz(struct req *rq)
{
	struct buf b;

	buf_init(&b, 0);
	if (envelope_open(&b) == -1 ||
	    buf_puts(&b, "{\"status\":\"ok\"}") == -1 ||
	    envelope_close(&b) == -1) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}

/* GET /user/tokens/verify (SPEC §8.3). */
int
api_verify(struct req *rq)
{
	struct buf b;

	buf_init(&b, 0);
	if (envelope_open(&b) == -1 || buf_puts(&b, "{\"id\":") == -1 ||
	    envelope_cstr(&b, rq->auth.token->id) == -1 ||
	    buf_puts(&b, ",\"status\":\"active\"}") == -1 ||
	    envelope_close(&b) == -1) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}
