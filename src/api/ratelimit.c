/*
 * ratelimit: the RateLimit-* fields of a send's answer (SPEC §2.2,
 * §8.4). They describe the account's token bucket after the request:
 * RateLimit-Limit its size (burst), RateLimit-Remaining the whole
 * requests it holds now, RateLimit-Reset the seconds until it is full
 * again. Every answer of a send route after auth carries them, success
 * or error; an account without a rate limit gets none. The daily quota
 * is not in them: GET …/limits tells it.
 */
#include <stdio.h>

#include "../core/clock.h"
#include "../limits/limits.h"
#include "req.h"

int
req_ratelimit(struct req *rq, struct httpd_resp *r)
{
	const struct account *ac = rq->auth.account;
	struct limits *lim;
	struct limits_view v;
	char n[24];

	if (ac == NULL || ac->rate <= 0 || rq->route == NULL ||
	    !(rq->route->perm & PERM_SEND) ||
	    (lim = submit_limits(rq->api->submit)) == NULL)
		return 0;
	limits_peek(lim, ac, clock_mono_ms(), &v);
	snprintf(n, sizeof(n), "%lld", (long long)v.limit);
	if (httpd_resp_header(r, "RateLimit-Limit", n) == -1)
		return -1;
	snprintf(n, sizeof(n), "%lld", (long long)v.remaining);
	if (httpd_resp_header(r, "RateLimit-Remaining", n) == -1)
		return -1;
	snprintf(n, sizeof(n), "%lld", (long long)v.reset);
	return httpd_resp_header(r, "RateLimit-Reset", n);
}
