/*
 * messages: GET /accounts/{a}/email/sending/messages/{message_id} (the raw
 * message as sent, SPEC §8.3), …/{message_id}/status and the list of
 * messages, GET …/messages (both ours). Reads go
 * through the calling HTTP thread's own store connection; the raw message
 * is then streamed by a store reader with a connection of its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "req.h"
#include "routes.h"

/* "<id@d>", "id@d" (req_new decoded any %3C…%3E) → "<id@d>" in the
 * arena. */
static const char *
norm_id(struct req *rq)
{
	const char *id = req_param(rq, "message_id");
	size_t n = strlen(id);

	if (n >= 2 && id[0] == '<' && id[n - 1] == '>')
		return id;
	return arena_printf(rq->a, "<%s>", id);
}

/* DESIGN §8: a store that cannot be read answers "try again" (503 with
 * Retry-After), never 500. */
static int
store_down(struct req *rq)
{
	return req_fail(rq, AE_UNAVAILABLE, NULL,
	                "the store cannot be read right now; try again");
}

/*
 * The piece the server asks for when the connection can take more: a
 * response is read from the store as the client reads it, so a client
 * that does not read holds one block, not the message. On the
 * connection's thread; the reader is the response's (raw_free).
 */
static int
raw_read(void *cls, uint64_t pos, char *buf, size_t max, size_t *got)
{
	struct store_reader *rd = cls;

	if (store_message_read(rd, pos, buf, max, got) == -1 || *got == 0) {
		/* the status line is gone: the connection is closed, and
		 * the client sees fewer bytes than the Content-Length */
		log_warnx("messages: store: %s", store_reader_error(rd));
		return -1;
	}
	return 0;
}

static void
raw_free(void *cls)
{
	store_reader_close(cls);
}

int
api_message_raw(struct req *rq)
{
	struct httpd_resp *r;
	struct store_reader *rd = NULL;
	struct store *st;
	const char *id;
	uint64_t size;
	int rc;

	if ((id = norm_id(rq)) == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	if ((st = req_store(rq)) == NULL)
		return store_down(rq);
	rc =
	    store_message_reader_open(st, rq->auth.account->id, id, &rd, &size);
	if (rc == STORE_NOT_FOUND)
		return req_fail(rq, AE_NOT_FOUND, NULL, "no such message");
	if (rc != 0) {
		log_warnx("messages: store: %s", store_error(st));
		return store_down(rq);
	}
	if ((r = httpd_resp_new(200)) == NULL) {
		store_reader_close(rd);
		return req_queue(rq, NULL);
	}
	httpd_resp_stream(r, size, raw_read, raw_free, rd);
	if (httpd_resp_header(r, "Content-Type", "message/rfc822") == -1) {
		httpd_resp_free(r);
		r = NULL;
	}
	return req_queue(rq, r);
}

static int
put_time(struct buf *b, const char *key, int64_t ms)
{
	char t[32];

	if (ms == 0)
		return buf_printf(b, ",\"%s\":null", key);
	clock_iso8601((time_t)(ms / 1000), t);
	return buf_printf(b, ",\"%s\":\"%s\"", key, t);
}

int
api_message_status(struct req *rq)
{
	struct msg_status ms;
	struct store *st;
	struct buf b;
	const char *id;
	char t[32];
	size_t i;
	int rc, bad = 0;

	if ((id = norm_id(rq)) == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	if ((st = req_store(rq)) == NULL)
		return store_down(rq);
	memset(&ms, 0, sizeof(ms));
	rc = store_message_status(st, rq->auth.account->id, id, &ms);
	if (rc == STORE_NOT_FOUND)
		return req_fail(rq, AE_NOT_FOUND, NULL, "no such message");
	if (rc != 0) {
		log_warnx("messages: store: %s", store_error(st));
		return store_down(rq);
	}
	buf_init(&b, 0);
	clock_iso8601((time_t)(ms.created / 1000), t);
	/* || keeps the order of the writes (| would not) */
	bad = envelope_open(&b) == -1 ||
	      buf_puts(&b, "{\"message_id\":") == -1 ||
	      envelope_cstr(&b, ms.message_id) == -1 ||
	      buf_printf(&b, ",\"created\":\"%s\",\"recipients\":[", t) == -1;
	for (i = 0; !bad && i < ms.nrcpts; i++) {
		struct rcpt_status *r = &ms.rcpts[i];
		bad =
		    buf_puts(&b, i ? ",{\"address\":" : "{\"address\":") ==
		        -1 ||
		    envelope_cstr(&b, r->address) == -1 ||
		    buf_printf(&b, ",\"status\":\"%s\",\"attempts\":%d",
		               rcpt_state_name(r->state), r->attempts) == -1 ||
		    put_time(&b, "last_attempt", r->last_attempt) == -1 ||
		    put_time(&b, "next_attempt", r->next_attempt) == -1 ||
		    buf_puts(&b, ",\"smtp_response\":") == -1 ||
		    envelope_cstr(&b, r->reply) == -1 ||
		    buf_putc(&b, '}') == -1;
	}
	bad = bad || buf_puts(&b, "]}") == -1 || envelope_close(&b) == -1;
	msg_status_clear(&ms);
	if (bad) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}

#define LIST_Q_MAX 256 /* bytes of q */

/* One message of the list: {message_id, created, from, subject, size,
 * recipients:{total, <state>…}}. */
static int
put_summary(struct buf *b, const struct msg_summary *m, int first)
{
	static const enum rcpt_state order[] = {
	    RCPT_DELIVERED, RCPT_QUEUED, RCPT_DEFERRED,
	    RCPT_BOUNCED,   RCPT_FAILED, RCPT_SUPPRESSED,
	};
	char t[32];
	size_t i;
	int bad;

	clock_iso8601((time_t)(m->created / 1000), t);
	bad = buf_puts(b, first ? "{\"message_id\":" : ",{\"message_id\":") ==
	          -1 ||
	      envelope_cstr(b, m->message_id) == -1 ||
	      buf_printf(b, ",\"created\":\"%s\",\"from\":", t) == -1 ||
	      envelope_cstr(b, m->mail_from) == -1 ||
	      buf_puts(b, ",\"subject\":") == -1 ||
	      envelope_cstr(b, m->subject) == -1 ||
	      buf_printf(b, ",\"size\":%lld,\"recipients\":{\"total\":%lld",
	                 (long long)m->size, (long long)m->total) == -1;
	for (i = 0; !bad && i < sizeof(order) / sizeof(order[0]); i++)
		bad = buf_printf(b, ",\"%s\":%lld", rcpt_state_name(order[i]),
		                 (long long)m->counts[order[i]]) == -1;
	return bad || buf_puts(b, "}}") == -1 ? -1 : 0;
}

/*
 * GET …/messages?cursor=&per_page=&q= (ours, SPEC §8.3): the account's
 * messages newest first. The cursor is the row id of the last message
 * of the page before (opaque to clients), "" after the last page; q
 * (any case) is found in the sender, the subject, the Message-ID or a
 * recipient.
 */
int
api_message_list(struct req *rq)
{
	struct msg_summary *v = NULL;
	struct store *st;
	struct buf b;
	const char *cur, *q;
	char *lq = NULL;
	int64_t before = 0;
	size_t n = 0, i, shown;
	int bad, rc, per_page;

	if (req_per_page(rq, &per_page) == -1 || req_cursor(rq, &cur) == -1)
		return 0;
	if (cur != NULL && req_number(cur, INT64_MAX, &before) == -1)
		return req_bad_cursor(rq);
	if ((rc = req_query(rq, "q", &q)) != 0)
		return req_query_fail(rq, "q", rc);
	if (q != NULL && strlen(q) > LIST_Q_MAX)
		return req_fail(rq, AE_SCHEMA, NULL,
		                "q is too long (at most 256 bytes)");
	if (q != NULL && q[0] != '\0') {
		if ((lq = arena_strdup(rq->a, q)) == NULL)
			return req_fail(rq, AE_INTERNAL, NULL, NULL);
		/* what SQLite's lower() folds: ASCII */
		for (i = 0; lq[i] != '\0'; i++)
			if (lq[i] >= 'A' && lq[i] <= 'Z')
				lq[i] = (char)(lq[i] - 'A' + 'a');
	}
	if ((st = req_store(rq)) == NULL)
		return store_down(rq);
	/* one more than the page: whether a next page exists */
	if (store_message_list(st, rq->auth.account->id, before, per_page + 1,
	                       lq, &v, &n) != 0) {
		log_warnx("messages: store: %s", store_error(st));
		return store_down(rq);
	}
	shown = n > (size_t)per_page ? (size_t)per_page : n;
	buf_init(&b, 0);
	bad = envelope_open(&b) == -1 || buf_putc(&b, '[') == -1;
	for (i = 0; !bad && i < shown; i++)
		bad = put_summary(&b, &v[i], i == 0) == -1;
	bad = bad || buf_puts(&b, "],\"result_info\":{\"cursor\":") == -1;
	if (!bad && n > shown)
		bad = buf_printf(&b, "\"%lld\"", (long long)v[shown - 1].id) ==
		      -1;
	else if (!bad)
		bad = buf_puts(&b, "\"\"") == -1;
	bad = bad ||
	      buf_printf(&b, ",\"per_page\":%d,\"count\":%zu}", per_page,
	                 shown) == -1 ||
	      envelope_close(&b) == -1;
	msg_summary_list_free(v, n);
	if (bad) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}
