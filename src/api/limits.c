/*
 * limits: GET /accounts/{a}/email/sending/limits (SPEC §8.3, §8.4): the
 * account's daily quota and what it sent today,
 * {quota: {unit: "day", value} | null,
 *  usage: {sent, over_quota, resets_at} | null},
 * both null when the account has no daily quota. sent counts the
 * recipients of today's accepted sends (UTC day), over_quota is true
 * when no recipient may be sent before resets_at (sent ≥ value), and
 * resets_at is the next UTC midnight. The token bucket is not here: the
 * RateLimit-* fields of each send tell it.
 */
#include "../core/clock.h"
#include "../limits/limits.h"
#include "req.h"
#include "routes.h"

int
api_limits(struct req *rq)
{
	const struct account *ac = rq->auth.account;
	struct limits *lim = submit_limits(rq->api->submit);
	int64_t now = clock_now_ms(), sent = 0;
	char at[32];
	struct buf b;
	int rc;

	buf_init(&b, 0);
	if (ac->daily_quota <= 0)
		rc = envelope_open(&b) == -1 ||
		     buf_puts(&b, "{\"quota\":null,\"usage\":null}") == -1;
	else {
		if (lim != NULL)
			sent = limits_sent(lim, ac, now);
		clock_iso8601((time_t)(limits_midnight_ms(now) / 1000), at);
		rc = envelope_open(&b) == -1 ||
		     buf_printf(&b,
		                "{\"quota\":{\"unit\":\"day\",\"value\":%lld},"
		                "\"usage\":{\"sent\":%lld,\"over_quota\":%s,"
		                "\"resets_at\":\"%s\"}}",
		                (long long)ac->daily_quota, (long long)sent,
		                sent >= ac->daily_quota ? "true" : "false",
		                at) == -1;
	}
	if (rc || envelope_close(&b) == -1) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}
