/*
 * deliver: outcome classification, retry timing and the log line (see
 * deliver.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/random.h"
#include "deliver.h"
#include "scheduler.h"

/* the recipient, Message-ID and reply of a log line, escaped whole */
#define ADDR_LOG_MAX LOG_VALUE_LEN(1024)
#define MSGID_LOG_MAX LOG_VALUE_LEN(998)
#define REPLY_LOG_MAX LOG_VALUE_LEN(256)

void
deliver_report_free(struct deliver_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->outcomes != NULL && i < r->n; i++)
		free((char *)r->outcomes[i].reply);
	free(r->outcomes);
	free(r);
}

int64_t
deliver_backoff(int attempts, const struct config *cfg)
{
	int64_t d = cfg->retry_base_ms, max = cfg->retry_max_ms, span;

	if (d < 1)
		d = 1;
	for (int i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* ±10% so that retries of one burst spread out; never past the
	 * cap */
	span = d / 5;
	if (span > 0)
		d = d - d / 10 + (int64_t)(random_u64() % (uint64_t)(span + 1));
	if (d > max)
		d = max;
	return d < 1 ? 1 : d;
}

enum rcpt_state
deliver_classify(const struct sched_rcpt *r, int64_t age_ms,
                 const struct config *cfg)
{
	if (r->cls == ROUTE_RESP && r->code >= 200 && r->code < 300)
		return RCPT_DELIVERED;
	if (r->cls == ROUTE_RESP && r->code >= 500 && r->code < 600)
		return RCPT_BOUNCED;
	if (age_ms >= cfg->max_queue_age * 1000)
		return RCPT_FAILED;
	return RCPT_DEFERRED;
}

/*
 * One line per recipient and attempt (STYLE: Logging). The recipient,
 * the Message-ID (a client's, from send_raw), the reply and its DSN code
 * come from a client or a peer: log_value keeps each one field.
 */
static void
deliver_log(const struct sched_job *j, const struct sched_rcpt *r,
            const char *route, enum rcpt_state s, int64_t age, int64_t wait)
{
	char tail[48] = "", reply[REPLY_LOG_MAX], rcpt[ADDR_LOG_MAX];
	char msg[MSGID_LOG_MAX], dsn[LOG_VALUE_LEN(sizeof(r->enhanced))];
	char relay[LOG_VALUE_LEN(sizeof(j->relay))],
	    net[LOG_VALUE_LEN(sizeof(j->relay)) + 48] = "";

	if (s == RCPT_DEFERRED)
		snprintf(tail, sizeof(tail), " next=+%.1fs",
		         (double)wait / 1000.0);
	else if (s == RCPT_FAILED)
		snprintf(tail, sizeof(tail), " expired=max_queue_age");
	/* an SMTP route says where it went and how */
	if (j->relay[0] != '\0')
		snprintf(net, sizeof(net), " relay=%s tls=%s",
		         log_value(j->relay, relay, sizeof(relay)),
		         j->tls[0] != '\0' ? j->tls : "none");
	log_info("msg=%s rcpt=%s route=%s%s attempt=%d status=%s dsn=%s "
	         "reply=%s delay=%.1fs%s",
	         log_value(j->message_id, msg, sizeof(msg)),
	         log_value(r->address, rcpt, sizeof(rcpt)), route, net,
	         r->attempts, rcpt_state_name(s),
	         r->enhanced[0] != '\0'
	             ? log_value(r->enhanced, dsn, sizeof(dsn))
	             : "-",
	         log_value(r->reply, reply, sizeof(reply)),
	         (double)age / 1000.0, tail);
}

int
deliver_health(const struct sched_job *j, const char **why)
{
	int ok = 0;

	*why = NULL;
	for (size_t i = 0; i < j->nrcpts; i++) {
		const struct sched_rcpt *r = &j->rcpts[i];

		if (r->cls != ROUTE_RESP)
			continue;
		if (r->code == 421 ||
		    (r->code >= 400 && r->code < 500 &&
		     (strcmp(r->enhanced, "4.7.0") == 0 ||
		      strcmp(r->enhanced, "4.7.28") == 0 ||
		      strcasestr(r->reply, "rate limit") != NULL ||
		      strcasestr(r->reply, "too many connections") != NULL ||
		      strcasestr(r->reply, "throttl") != NULL))) {
			*why = r->reply;
			return SCHED_THROTTLED;
		}
		ok |= r->code >= 200 && r->code < 300;
	}
	return ok ? SCHED_OK : SCHED_NONE;
}

int64_t
deliver_finish(struct sched_job *j, const char *route, const struct config *cfg,
               struct deliver_report **repp)
{
	struct deliver_report *rep = NULL;
	char msg[MSGID_LOG_MAX];
	int64_t now = clock_now_ms(), age = now - j->created_ms;
	int64_t expiry = j->created_ms + cfg->max_queue_age * 1000;
	int64_t due = 0, next;
	enum rcpt_state *st;
	size_t keep = 0;

	/* without st each state is classified again: the same answer */
	st = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*st));
	if ((rep = calloc(1, sizeof(*rep))) == NULL ||
	    (rep->outcomes = calloc(j->nrcpts, sizeof(*rep->outcomes))) ==
	        NULL) {
		free(rep);
		rep = NULL;
		log_warnx("delivery: msg=%s: out of memory, outcomes not "
		          "recorded",
		          log_value(j->message_id, msg, sizeof(msg)));
	} else
		rep->msg_id = j->msg_id;
	/* The deferred recipients of a job stay one job: one next attempt
	 * for all, the earliest of their backoffs, and never after the
	 * expiry, where the last attempt decides (SPEC §6.3). */
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct sched_rcpt *r = &j->rcpts[i];
		enum rcpt_state s;

		r->attempts++;
		s = deliver_classify(r, age, cfg);
		if (st != NULL)
			st[i] = s;
		if (s != RCPT_DEFERRED)
			continue;
		next = now + deliver_backoff(r->attempts, cfg);
		if (due == 0 || next < due)
			due = next;
	}
	if (due > expiry)
		due = expiry > now ? expiry : now;
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct sched_rcpt *r = &j->rcpts[i];
		enum rcpt_state s =
		    st != NULL ? st[i] : deliver_classify(r, age, cfg);

		deliver_log(j, r, route, s, age, due - now);
		if (s == RCPT_DELIVERED)
			metric_observe_us(&metrics.delivery, age * 1000);
		if (rep != NULL) {
			struct store_outcome *o = &rep->outcomes[rep->n++];

			o->rcpt_id = r->id;
			o->state = s;
			o->attempts = r->attempts;
			o->last_attempt = j->started_ms;
			o->next_attempt = s == RCPT_DEFERRED ? due : 0;
			o->reply = r->reply[0] ? strdup(r->reply) : NULL;
			/* for the event: only a reply has a code (one left
			 * from an earlier attempt is not this answer's) */
			snprintf(o->address, sizeof(o->address), "%s",
			         r->address);
			o->answered = now;
			if (r->cls == ROUTE_RESP) {
				o->code = r->code;
				snprintf(o->enhanced, sizeof(o->enhanced), "%s",
				         r->enhanced);
			}
			snprintf(o->route, sizeof(o->route), "%s", route);
		}
		if (s != RCPT_DEFERRED) {
			free(r->address);
			continue;
		}
		j->rcpts[keep++] = *r;
	}
	free(st);
	j->nrcpts = keep;
	*repp = rep;
	return keep > 0 ? due : 0;
}
