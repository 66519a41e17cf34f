/*
 * event: a state change's event and automatic suppression (see event.h).
 *
 * The payload of SPEC §6.5, as written (docs/design.md, "Events and
 * suppressions", says why each value is what it is):
 *
 *	{"type":"cf.email.sending.message.bounced",
 *	 "source":{"type":"email.sending","domain":"example.com"},
 *	 "payload":{"eventId":"<32 hex>","messageId":"<…@example.com>",
 *	  "sender":"a@example.com","recipient":"b@example.net",
 *	  "subject":"Hi","terminal":true,
 *	  "delivery":{"status":"bounced","provider":"capture",
 *	   "deliveryTimeMs":12,"smtpStatusCode":550,
 *	   "smtpEnhancedStatusCode":"5.1.1","smtpResponse":"550 5.1.1 …"},
 *	  "bounce":{"type":"hard","classification":"invalid_recipient",
 *	   "reason":"550 5.1.1 …"}},
 *	 "metadata":{"accountId":"<32 hex>",
 *	  "eventTimestamp":"2026-11-26T06:13:41.123Z"}}
 */
#include <stdio.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/jsonw.h"
#include "../core/log.h"
#include "../core/random.h"
#include "event.h"

/* SPEC §6.5: the event of each state an attempt can leave; none for the
 * others (queued, and suppressed at the send). */
static const char *const event_types[] = {
    [RCPT_DELIVERED] = "cf.email.sending.message.delivered",
    [RCPT_DEFERRED] = "cf.email.sending.message.deferred",
    [RCPT_BOUNCED] = "cf.email.sending.message.bounced",
    [RCPT_FAILED] = "cf.email.sending.message.failed",
};
#define EVENT_COMPLAINED "cf.email.sending.message.complained"

/*
 * RFC 3463 §3: what the subject and detail of an enhanced status code
 * say, first match wins (detail -1: any). Only X.1.x faults the
 * recipient's address (SPEC §6.4 "5.1.x (bad mailbox)"), except X.1.7
 * and X.1.8, which name the sender's.
 */
static const struct enhanced_row {
	int subject, detail;
	struct event_bounce b;
} enhanced_rows[] = {
    {1, 7, {"invalid_sender", 0}},
    {1, 8, {"invalid_sender", 0}},
    {1, 2, {"invalid_domain", 1}},  /* bad destination system */
    {1, 10, {"invalid_domain", 1}}, /* RFC 7505: null MX */
    {1, -1, {"invalid_recipient", 1}},
    {2, 2, {"mailbox_full", 0}},
    {2, 3, {"message_too_large", 0}},
    {3, 4, {"message_too_large", 0}},
    {2, -1, {"mailbox_unavailable", 0}},
    {3, -1, {"mail_system", 0}},
    {4, -1, {"routing", 0}},
    {5, -1, {"protocol", 0}},
    {6, -1, {"content", 0}},
    {7, -1, {"policy", 0}},
};

/*
 * RFC 5321 §4.2.2–4.2.3, for a reply without an enhanced code. None
 * counts as a bad mailbox: 550 also covers refusals "for policy
 * reasons", and a reply to MAIL or DATA (a refused sender or message)
 * applies to every recipient of the transaction with the same codes.
 */
static const struct basic_row {
	int code;
	struct event_bounce b;
} basic_rows[] = {
    {450, {"mailbox_unavailable", 0}}, {550, {"mailbox_unavailable", 0}},
    {551, {"invalid_recipient", 0}},   {553, {"invalid_recipient", 0}},
    {452, {"mail_system", 0}},         {552, {"mailbox_full", 0}},
};

struct event_bounce
event_classify(int code, const char *enhanced)
{
	static const struct event_bounce other = {"other", 0};
	static const struct event_bounce none = {"no_reply", 0};
	int cls, subject, detail, n = 0;
	size_t i;

	if (enhanced != NULL &&
	    sscanf(enhanced, "%1d.%3d.%3d%n", &cls, &subject, &detail, &n) ==
	        3 &&
	    enhanced[n] == '\0') {
		for (i = 0; i < sizeof(enhanced_rows) / sizeof(*enhanced_rows);
		     i++) {
			const struct enhanced_row *r = &enhanced_rows[i];

			if (r->subject == subject &&
			    (r->detail == -1 || r->detail == detail))
				return r->b;
		}
		return other;
	}
	if (code == 0)
		return none;
	for (i = 0; i < sizeof(basic_rows) / sizeof(*basic_rows); i++)
		if (basic_rows[i].code == code)
			return basic_rows[i].b;
	return other;
}

/*
 * SPEC §6.4 as rows: the state, whether the answer must name a bad
 * mailbox, and the entry it makes on the message's sending domain.
 */
static const struct supp_rule {
	enum rcpt_state state;
	int bad_mailbox;
	enum supp_reason reason;
	int64_t ttl_ms;
} supp_rules[] = {
    {RCPT_BOUNCED, 1, SUPP_HARD_BOUNCE, EVENT_HARD_BOUNCE_TTL_MS},
    {RCPT_FAILED, 0, SUPP_SOFT_BOUNCE, EVENT_SOFT_BOUNCE_TTL_MS},
};

/* "2026-11-26T06:13:41.123Z" for unix ms t. */
static void
iso8601_ms(int64_t t, char out[40])
{
	char s[32];

	clock_iso8601((time_t)(t / 1000), s);
	s[strcspn(s, "Z")] = '\0';
	snprintf(out, 40, "%s.%03dZ", s, (int)(t % 1000));
}

/* The bounce object of a final failure, null for the others. */
static int
bounce_json(struct buf *b, const struct store_outcome *o,
            const struct event_bounce *bc)
{
	if (o->state != RCPT_BOUNCED && o->state != RCPT_FAILED)
		return buf_puts(b, "null");
	if (buf_printf(b,
	               "{\"type\":\"%s\",\"classification\":\"%s\","
	               "\"reason\":",
	               o->state == RCPT_BOUNCED ? "hard" : "soft",
	               bc->classification) == -1 ||
	    jsonw_cstr(b, o->reply) == -1)
		return -1;
	return buf_putc(b, '}');
}

/* The JSON of SPEC §6.5 (the shape at the top of this file) into b. */
static int
event_payload(struct buf *b, const struct msg_info *m,
              const struct store_outcome *o, const char *type,
              const char *event_id, const struct event_bounce *bc)
{
	int64_t took = o->answered - m->created;
	char ts[40];

	iso8601_ms(o->answered, ts);
	if (buf_printf(b,
	               "{\"type\":\"%s\",\"source\":{\"type\":"
	               "\"email.sending\",\"domain\":",
	               type) ||
	    jsonw_cstr(b, m->domain) ||
	    buf_printf(b, "},\"payload\":{\"eventId\":\"%s\",\"messageId\":",
	               event_id) ||
	    jsonw_cstr(b, m->message_id) || buf_puts(b, ",\"sender\":") ||
	    jsonw_cstr(b, m->mail_from) || buf_puts(b, ",\"recipient\":") ||
	    jsonw_cstr(b, o->address) || buf_puts(b, ",\"subject\":") ||
	    jsonw_cstr(b, m->subject) ||
	    buf_printf(b,
	               ",\"terminal\":%s,\"delivery\":{\"status\":\"%s\","
	               "\"provider\":",
	               o->state == RCPT_DEFERRED ? "false" : "true",
	               rcpt_state_name(o->state)) ||
	    jsonw_cstr(b, o->route) ||
	    buf_printf(b, ",\"deliveryTimeMs\":%lld,\"smtpStatusCode\":",
	               (long long)(took > 0 ? took : 0)))
		return -1;
	if ((o->code != 0 ? buf_printf(b, "%d", o->code)
	                  : buf_puts(b, "null")) ||
	    buf_puts(b, ",\"smtpEnhancedStatusCode\":") ||
	    jsonw_cstr(b, o->enhanced[0] != '\0' ? o->enhanced : NULL) ||
	    buf_puts(b, ",\"smtpResponse\":") ||
	    jsonw_cstr(b, o->complaint ? NULL : o->reply) ||
	    buf_puts(b, "},\"bounce\":") || bounce_json(b, o, bc) ||
	    (o->complaint &&
	     (buf_puts(b, ",\"complaint\":{\"feedbackType\":") ||
	      jsonw_cstr(b, o->reply) || buf_putc(b, '}'))) ||
	    buf_printf(b,
	               "},\"metadata\":{\"accountId\":\"%s\","
	               "\"eventTimestamp\":\"%s\"}}",
	               m->account_id, ts))
		return -1;
	return 0;
}

/* An entry of reason for o's recipient on m's sending domain, expiring
 * ttl_ms after the answer (0: never). */
static int
suppress_as(struct store *st, const struct msg_info *m,
            const struct store_outcome *o, enum supp_reason reason,
            int64_t ttl_ms)
{
	struct suppression sp;

	memset(&sp, 0, sizeof(sp));
	random_hex(sp.id, ID_LEN / 2);
	memcpy(sp.account_id, m->account_id, sizeof(sp.account_id));
	sp.email = (char *)o->address; /* borrowed, not changed */
	sp.reason = reason;
	sp.scope_value = m->domain;
	sp.created = o->answered;
	sp.expires_at = ttl_ms != 0 ? o->answered + ttl_ms : 0;
	return store_suppression_upsert(st, &sp);
}

/* SPEC §6.4: the entry o's outcome makes, if any, on the sending domain
 * of its message (none when that domain is gone: there is no list); a
 * complaint's (§7.1) never expires. */
static int
suppress(struct store *st, const struct msg_info *m,
         const struct store_outcome *o, const struct event_bounce *bc)
{
	if (m->domain == NULL)
		return 0;
	if (o->complaint)
		return suppress_as(st, m, o, SUPP_COMPLAINT, 0);
	for (size_t i = 0; i < sizeof(supp_rules) / sizeof(*supp_rules); i++) {
		const struct supp_rule *r = &supp_rules[i];

		if (r->state != o->state ||
		    (r->bad_mailbox && !bc->bad_mailbox))
			continue;
		/* an operator's drop says nothing of the address */
		if (o->dropped)
			return 0;
		return suppress_as(st, m, o, r->reason, r->ttl_ms);
	}
	return 0;
}

int
event_record(struct store *st, const struct msg_info *m,
             const struct store_outcome *o, struct buf *scratch)
{
	struct store_event e;
	struct event_bounce bc;
	char msg[LOG_VALUE_LEN(998)];

	if (!o->complaint &&
	    ((unsigned)o->state >= sizeof(event_types) / sizeof(*event_types) ||
	     event_types[o->state] == NULL))
		return 0;
	bc = event_classify(o->code, o->enhanced);
	memset(&e, 0, sizeof(e));
	random_hex(e.event_id, ID_LEN / 2);
	memcpy(e.account_id, m->account_id, sizeof(e.account_id));
	e.msg_id = m->id;
	e.message_id = m->message_id;
	e.rcpt_id = o->rcpt_id;
	e.recipient = o->address;
	e.type = o->complaint ? EVENT_COMPLAINED : event_types[o->state];
	e.created = o->answered;
	buf_reset(scratch);
	if (event_payload(scratch, m, o, e.type, e.event_id, &bc) == -1) {
		/* out of memory: the payload is bounded well under the cap */
		log_warnx("queue: msg=%s: no memory for an event payload",
		          log_value(m->message_id, msg, sizeof(msg)));
		return -1;
	}
	e.payload = scratch->p;
	if (store_event_insert(st, &e) == -1)
		return -1;
	return suppress(st, m, o, &bc);
}

int
event_finding(struct store *st, const struct finding *f, struct buf *scratch,
              int64_t now)
{
	struct store_outcome o;
	struct msg_info mi;
	enum rcpt_state state;
	int64_t msg_id;
	int rc;

	if ((rc = store_message_info(st, f->msg_id, &mi)) != 0)
		return rc == STORE_NOT_FOUND ? 0 : -1;
	memset(&o, 0, sizeof(o));
	/* the report's recipient when it names one of the message's, else
	 * the one the VERP address was made for */
	rc = STORE_NOT_FOUND;
	if (f->address[0] != '\0' &&
	    (rc = store_rcpt_find(st, f->msg_id, f->address, &o.rcpt_id,
	                          &state)) == 0)
		snprintf(o.address, sizeof(o.address), "%s", f->address);
	else if (rc == STORE_NOT_FOUND) {
		o.rcpt_id = f->rcpt_id;
		rc = store_rcpt_of(st, f->rcpt_id, &msg_id, &state, o.address,
		                   sizeof(o.address));
		if (rc == 0 && msg_id != f->msg_id)
			rc = STORE_NOT_FOUND;
	}
	if (rc != 0)
		goto out;
	o.answered = now;
	o.code = f->code;
	snprintf(o.enhanced, sizeof(o.enhanced), "%s", f->status);
	snprintf(o.route, sizeof(o.route), "inbound");
	o.reply = f->text[0] != '\0' ? f->text : NULL;
	switch (f->kind) {
	case FINDING_FAILED:
		if ((rc = store_rcpt_bounce(st, o.rcpt_id, o.reply, now)) != 0)
			goto out; /* bounced already: once is enough */
		o.state = RCPT_BOUNCED;
		break;
	case FINDING_DELAYED:
		o.state = RCPT_DEFERRED;
		break;
	case FINDING_COMPLAINT:
		o.state = state;
		o.complaint = 1;
		o.code = 0;
		o.enhanced[0] = '\0';
		break;
	}
	rc = event_record(st, &mi, &o, scratch) == 0 ? 1 : -1;
	msg_info_clear(&mi);
	return rc;
out:
	msg_info_clear(&mi);
	return rc == STORE_NOT_FOUND ? 0 : -1;
}
