/*
 * events: GET /accounts/{a}/email/sending/events (SPEC §6.5, §8.3), the
 * account's events oldest first, each the stored object of §6.5 as
 * written. Query: per_page (1-1000, default 100), cursor (opaque, from
 * a previous result_info.cursor), type (short "bounced" or the full
 * name), message_id ("<…>" or bare), since (RFC 3339 time or unix
 * seconds). result_info.cursor is where the page ended: asking again
 * with it gives the events after it, now or later (an outbox a client
 * polls); with an empty page it is the cursor given.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../webhook/webhook.h"
#include "req.h"
#include "routes.h"

#define CURSOR_PREFIX "ev1."

struct events_query {
	int per_page;
	int64_t after;
	const char *type, *message_id;
	int64_t since; /* unix ms */
};

/* "2026-11-30T06:00:00Z", "…T06:00:00.123+01:00" or unix seconds. */
static int
parse_since(const char *s, int64_t *ms)
{
	char *end;
	long long v;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) <= 12) {
		v = strtoll(s, &end, 10);
		*ms = v * 1000;
		return 0;
	}
	return clock_parse_iso8601(s, 0, ms);
}

static int
bad(struct req *rq, const char *name, const char *why)
{
	return req_fail(rq, AE_SCHEMA, NULL,
	                arena_printf(rq->a, "%s: %s", name, why));
}

/* CURSOR_PREFIX and the hex id of the last event read, into *after.
 * 0, or -1. */
static int
parse_cursor(const char *v, int64_t *after)
{
	size_t n = strlen(CURSOR_PREFIX);
	long long l;
	char *x;

	if (strncmp(v, CURSOR_PREFIX, n) != 0 || !isxdigit((unsigned char)v[n]))
		return -1;
	l = strtoll(v + n, &x, 16);
	if (*x != '\0' || l < 0)
		return -1;
	*after = l;
	return 0;
}

/* The query parameter name of rq into *v (NULL: absent); -1 when refused,
 * answered. */
static int
param(struct req *rq, const char *name, const char **v)
{
	int rc;

	if ((rc = req_query(rq, name, v)) != 0) {
		req_query_fail(rq, name, rc);
		return -1;
	}
	return 0;
}

/* The query of rq into q; an answer given (400) → -1. Other names are
 * ignored, as unknown fields are. */
static int
parse_query(struct req *rq, struct events_query *q)
{
	const char *v;

	memset(q, 0, sizeof(*q));
	if (req_per_page(rq, &q->per_page) == -1 || req_cursor(rq, &v) == -1)
		return -1;
	if (v != NULL && parse_cursor(v, &q->after) == -1)
		return req_bad_cursor(rq), -1;
	if (param(rq, "type", &v) == -1)
		return -1;
	if (v != NULL && (q->type = webhook_type_full(v)) == NULL)
		return bad(rq, "type",
		           "must be one of delivered, deferred, bounced, "
		           "failed, rejected, complained (or "
		           "cf.email.sending.message.TYPE)"),
		       -1;
	if (param(rq, "message_id", &v) == -1)
		return -1;
	if (v != NULL && (*v == '\0' || strlen(v) > 998))
		return bad(rq, "message_id",
		           "must be a Message-ID, 1-998 characters"),
		       -1;
	q->message_id = v;
	if (param(rq, "since", &v) == -1)
		return -1;
	if (v != NULL && parse_since(v, &q->since) != 0)
		return bad(rq, "since",
		           "must be an RFC 3339 time (2026-11-30T06:00:00Z) "
		           "or unix seconds"),
		       -1;
	return 0;
}

int
api_events(struct req *rq)
{
	struct events_query q;
	struct event_filter f;
	struct store_event *v = NULL;
	struct store *st;
	struct buf b;
	size_t n = 0, i;
	int64_t last;
	int failed;

	if (parse_query(rq, &q) != 0)
		return 0;
	if ((st = req_store(rq)) == NULL)
		return req_fail(
		    rq, AE_UNAVAILABLE, NULL,
		    "the store cannot be read right now; try again");
	f.type = q.type;
	f.message_id = q.message_id;
	f.since = q.since;
	if (store_events_list(st, rq->auth.account->id, q.after, q.per_page, &f,
	                      &v, &n) != 0) {
		log_warnx("events: store: %s", store_error(st));
		return req_fail(
		    rq, AE_UNAVAILABLE, NULL,
		    "the store cannot be read right now; try again");
	}
	last = n > 0 ? v[n - 1].id : q.after;
	buf_init(&b, 0);
	failed = envelope_open(&b) == -1 || buf_putc(&b, '[') == -1;
	/* the payload is JSON as stored: written as is */
	for (i = 0; !failed && i < n; i++)
		failed = (i > 0 && buf_putc(&b, ',') == -1) ||
		         buf_puts(&b, v[i].payload) == -1;
	if (!failed && last > 0)
		failed =
		    buf_printf(&b,
		               "],\"result_info\":{\"cursor\":\"" CURSOR_PREFIX
		               "%llx\",\"per_page\":%d,\"count\":%zu}",
		               (long long)last, q.per_page, n) == -1;
	else if (!failed)
		failed = buf_printf(&b,
		                    "],\"result_info\":{\"cursor\":\"\","
		                    "\"per_page\":%d,\"count\":0}",
		                    q.per_page) == -1;
	failed = failed || envelope_close(&b) == -1;
	event_list_free(v, n);
	if (failed) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}
