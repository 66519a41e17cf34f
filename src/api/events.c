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
#include <time.h>

#include "../core/log.h"
#include "../webhook/webhook.h"
#include "req.h"
#include "routes.h"

#define EVENTS_PER_PAGE 100
#define EVENTS_MAX_PAGE 1000
#define EVENTS_PARAM_MAX 1024
#define CURSOR_PREFIX "ev1."

struct events_query {
	int per_page;
	int64_t after;
	const char *type, *message_id;
	int64_t since; /* unix ms */
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* p[0..n) percent-decoded ('+' is a space) into the arena; NULL when
 * malformed (a bad escape, a NUL). */
static char *
qdecode(struct arena *a, const char *p, size_t n)
{
	char *o = arena_alloc(a, n + 1), *q = o;
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		int h, l;

		if (p[i] == '+')
			*q++ = ' ';
		else if (p[i] != '%')
			*q++ = p[i];
		else if (i + 2 < n &&
		         (h = hexval((unsigned char)p[i + 1])) >= 0 &&
		         (l = hexval((unsigned char)p[i + 2])) >= 0 &&
		         (h | l) != 0) {
			*q++ = (char)(h * 16 + l);
			i += 2;
		} else
			return NULL;
	}
	*q = '\0';
	return o;
}

/* "2026-11-30T06:00:00Z", "…T06:00:00.123+01:00" or unix seconds. */
static int
parse_since(const char *s, int64_t *ms)
{
	struct tm tm;
	char *end;
	long long v;
	int n = 0, frac = 0, fd = 0, oh = 0, om = 0;
	time_t t;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) <= 12) {
		v = strtoll(s, &end, 10);
		*ms = v * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	s += n;
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, fd++)
			if (fd < 3)
				frac = frac * 10 + (*s - '0');
		if (fd == 0)
			return -1;
		for (; fd < 3; fd++)
			frac *= 10;
	}
	if (*s == 'Z' && s[1] == '\0')
		;
	else if ((*s == '+' || *s == '-') &&
	         sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5 &&
	         s[6] == '\0' && oh < 24 && om < 60) {
		if (*s == '-') {
			oh = -oh;
			om = -om;
		}
	} else
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = ((int64_t)t - oh * 3600 - om * 60) * 1000 + frac;
	return 0;
}

static int
bad(struct req *rq, const char *name, const char *why)
{
	return req_fail(rq, AE_SCHEMA, NULL,
	                arena_printf(rq->a, "%s: %s", name, why));
}

/* The query of rq into q; an answer given (400) → -1. */
static int
parse_query(struct req *rq, struct events_query *q)
{
	const char *t = rq->h->target, *p, *e, *end;
	size_t n = rq->h->target_len;

	memset(q, 0, sizeof(*q));
	q->per_page = EVENTS_PER_PAGE;
	if ((p = memchr(t, '?', n)) == NULL)
		return 0;
	end = t + n;
	for (p++; p < end; p = e + 1) {
		const char *eq, *name;
		char *v;

		if ((e = memchr(p, '&', (size_t)(end - p))) == NULL)
			e = end;
		if (e == p)
			continue;
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq == NULL)
			eq = e;
		name = arena_printf(rq->a, "%.*s", (int)(eq - p), p);
		if (name == NULL)
			return req_fail(rq, AE_INTERNAL, NULL, NULL), -1;
		if ((size_t)(e - eq) > EVENTS_PARAM_MAX)
			return bad(rq, name, "too long"), -1;
		v = qdecode(rq->a, eq < e ? eq + 1 : e,
		            eq < e ? (size_t)(e - eq - 1) : 0);
		if (v == NULL)
			return bad(rq, name, "bad percent-encoding"), -1;
		if (strcmp(name, "per_page") == 0) {
			char *x;
			long l = strtol(v, &x, 10);

			if (*v == '\0' || *x != '\0' || l < 1 ||
			    l > EVENTS_MAX_PAGE)
				return bad(rq, "per_page",
				           "must be an integer from 1 to 1000"),
				       -1;
			q->per_page = (int)l;
		} else if (strcmp(name, "cursor") == 0) {
			char *x;
			long long l;

			if (*v == '\0')
				continue;
			if (strncmp(v, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) !=
			        0 ||
			    !isxdigit((unsigned char)v[strlen(CURSOR_PREFIX)]))
				return bad(rq, "cursor",
				           "not a cursor this endpoint gave "
				           "(result_info.cursor)"),
				       -1;
			l = strtoll(v + strlen(CURSOR_PREFIX), &x, 16);
			if (*x != '\0' || l < 0)
				return bad(rq, "cursor",
				           "not a cursor this endpoint gave "
				           "(result_info.cursor)"),
				       -1;
			q->after = l;
		} else if (strcmp(name, "type") == 0) {
			if ((q->type = webhook_type_full(v)) == NULL)
				return bad(rq, "type",
				           "must be one of delivered, "
				           "deferred, "
				           "bounced, failed, rejected, "
				           "complained "
				           "(or "
				           "cf.email.sending.message.TYPE)"),
				       -1;
		} else if (strcmp(name, "message_id") == 0) {
			if (*v == '\0' || strlen(v) > 998)
				return bad(rq, "message_id",
				           "must be a Message-ID, 1-998 "
				           "characters"),
				       -1;
			q->message_id = v;
		} else if (strcmp(name, "since") == 0) {
			if (parse_since(v, &q->since) != 0)
				return bad(rq, "since",
				           "must be an RFC 3339 time "
				           "(2026-11-30T06:00:00Z) or unix "
				           "seconds"),
				       -1;
		}
		/* other names are ignored, as unknown fields are */
		if (e == end)
			break;
	}
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
