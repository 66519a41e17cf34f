/*
 * metrics: GET /metrics (SPEC §8.3), the exposition of core/metrics.c,
 * and pigeon_http_requests_total, the one family the REST front counts
 * itself: requests by route (the row's pattern, so the label set is the
 * route table's, "other" for a request no row took) and status, counted
 * as its answer is queued (req_queue), so before the client reads it. With
 * metrics_listen set, /metrics is served on that address alone, by a
 * server of its own whose table is metrics_routes below.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/metrics.h"
#include "req.h"
#include "routes.h"

#define ROUTES_MAX 64  /* rows counted by route; later ones as "other" */
#define STATUS_MIN 100 /* statuses counted: 100-599 */
#define STATUS_N 500

/* [row of api_routes, or ROUTES_MAX for "other"][status - STATUS_MIN];
 * about 130 KiB of zeroes, of which only the pages counted in are
 * touched. */
static atomic_ullong requests[ROUTES_MAX + 1][STATUS_N];

static const struct route metrics_rows[] = {
    {"GET", "/metrics", api_metrics, 0, ROUTE_NOAUTH},
};

const struct route_table metrics_routes = {
    metrics_rows,
    sizeof(metrics_rows) / sizeof(metrics_rows[0]),
    NULL,
    0,
};

/* The index in api_routes of the row that took rq, or ROUTES_MAX. A row
 * of another table (metrics_routes) counts as api_routes' row of the
 * same method and pattern. */
static size_t
route_index(const struct req *rq)
{
	const struct route *r = rq->route;
	size_t i;

	if (r == NULL)
		return ROUTES_MAX;
	if (r >= api_routes.rows && r < api_routes.rows + api_routes.n)
		i = (size_t)(r - api_routes.rows);
	else
		for (i = 0; i < api_routes.n; i++)
			if (strcmp(api_routes.rows[i].pattern, r->pattern) ==
			        0 &&
			    strcmp(api_routes.rows[i].method, r->method) == 0)
				break;
	return i < ROUTES_MAX && i < api_routes.n ? i : ROUTES_MAX;
}

void
api_metrics_count(const struct req *rq)
{
	if (rq->status < STATUS_MIN || rq->status >= STATUS_MIN + STATUS_N)
		return;
	metric_inc(&requests[route_index(rq)][rq->status - STATUS_MIN]);
}

/* One sample per route pattern and status counted; rows that share a
 * pattern (two methods) are summed into the first. */
static int
render_requests(struct buf *b, const struct metric_row *r)
{
	size_t n = api_routes.n < ROUTES_MAX ? api_routes.n : ROUTES_MAX;
	unsigned long long v;
	const char *pattern;
	size_t i, j, s;

	for (i = 0; i <= n; i++) {
		pattern = i < n ? api_routes.rows[i].pattern : "other";
		for (j = 0; i < n && j < i; j++)
			if (strcmp(api_routes.rows[j].pattern, pattern) == 0)
				break;
		if (i < n && j < i)
			continue; /* summed with row j */
		for (s = 0; s < STATUS_N; s++) {
			v = atomic_load_explicit(
			    &requests[i == n ? ROUTES_MAX : i][s],
			    memory_order_relaxed);
			for (j = i + 1; i < n && j < n; j++)
				if (strcmp(api_routes.rows[j].pattern,
				           pattern) == 0)
					v += atomic_load_explicit(
					    &requests[j][s],
					    memory_order_relaxed);
			if (v == 0)
				continue;
			if (buf_printf(b, "%s{route=", r->name) == -1 ||
			    metrics_label_value(b, pattern) == -1 ||
			    buf_printf(b, ",status=\"%zu\"} %llu\n",
			               s + STATUS_MIN, v) == -1)
				return -1;
		}
	}
	return 0;
}

static const struct metric_row requests_row = {
    "pigeon_http_requests_total",
    "HTTP requests answered, by route (the route table's pattern; "
    "\"other\" when no route took the request) and status.",
    "counter",
    render_requests,
};

int
api_metrics_register(void)
{
	return metrics_register(&requests_row);
}

/* The most bytes of an exposition: far above what the families write. */
#define METRICS_MAX (4 * 1024 * 1024)

/* GET /metrics: the exposition, no credentials. With metrics_listen set,
 * the API's port answers it 404, as a route it does not have. */
int
api_metrics(struct req *rq)
{
	struct httpd_resp *r;
	struct buf b;
	size_t len;
	char *p;

	if (rq->api->cfg->metrics_listen[0] != '\0' &&
	    rq->api->routes == &api_routes)
		return req_fail(rq, AE_NOT_FOUND, NULL,
		                "no such route: /metrics is served on "
		                "metrics_listen");
	buf_init(&b, METRICS_MAX);
	if (metrics_render(&b) == -1 || (p = buf_steal(&b, &len)) == NULL) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	if ((r = httpd_resp_new(200)) == NULL) {
		free(p);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	httpd_resp_body(r, p, len);
	if (httpd_resp_header(r, "Content-Type", METRICS_CONTENT_TYPE) == -1 ||
	    httpd_resp_header(r, "Cache-Control", "no-store") == -1) {
		httpd_resp_free(r);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_queue(rq, r);
}
