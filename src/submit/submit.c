/*
 * submit: the submission pipeline (see submit.h).
 *
 * Order (SPEC §2.2): the front's schema and content rules have run; then
 * the sender domain (10204) and whether sending is enabled (10203), the
 * message built (send) or prepared (send_raw; its own content rules come
 * before the sender domain, and its From: header's one address is held
 * to the envelope sender's rule, SPEC §4), then at submit_seal the rate
 * limit (10004, a token of the account's bucket), the suppression list
 * (10202 or dropped), the daily quota (10004; the recipients not dropped
 * count), DKIM-signed into the room left in front of it, its final size
 * (10200), the queue (503 when nothing was written). The suppression
 * list is read before the quota, whose count leaves the dropped
 * recipients out, but a recipient it refuses is reported after the
 * quota: a request over both is told 10004, as SPEC §2.2 orders.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../limits/limits.h"
#include "../mail/addr.h"
#include "../mail/dkim.h"
#include "../mail/limits.h"
#include "../mail/mime.h"
#include "../mail/rawmime.h"
#include "submit.h"

struct submit {
	const struct config *cfg;
	struct queue *q;
	enum rawmime_policy raw_headers; /* cfg->raw_headers, read once */
	struct limits *lim;              /* borrowed, or NULL */
};

struct submit *
submit_new(const struct config *cfg, struct queue *q)
{
	struct submit *svc;

	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return NULL;
	svc->cfg = cfg;
	svc->q = q;
	/* config_finish let only relaxed and cloudflare through */
	svc->raw_headers = strcmp(cfg->raw_headers, "cloudflare") == 0
	                       ? RAWMIME_CLOUDFLARE
	                       : RAWMIME_RELAXED;
	return svc;
}

void
submit_free(struct submit *svc)
{
	free(svc);
}

void
submit_set_limits(struct submit *svc, struct limits *lim)
{
	svc->lim = lim;
}

struct limits *
submit_limits(const struct submit *svc)
{
	return svc->lim;
}

void
submit_init(struct submission *s, const struct submit *svc, struct arena *a,
            struct tenant_ctx *who, time_t now)
{
	memset(s, 0, sizeof(*s));
	s->raw_headers = svc->raw_headers;
	s->a = a;
	s->who = who;
	s->now = now;
	s->lim = svc->lim;
	s->quota_day = -1;
	buf_init(&s->raw, 0);
}

void
submit_clear(struct submission *s)
{
	buf_clear(&s->raw);
}

static int
fail(struct submit_error *err, enum submit_err kind, enum submit_part part,
     const char *detail)
{
	err->kind = kind;
	err->part = part;
	err->detail = detail;
	err->retry_after = 0;
	return -1;
}

/* The refusal of a domain that is not a sending domain (10204). */
static int
not_sending(struct submission *s, const char *domain, const char *hdr,
            struct submit_error *err)
{
	return fail(
	    err, SUBMIT_SENDER,
	    hdr != NULL ? SUBMIT_PART_MESSAGE : SUBMIT_PART_FROM,
	    arena_printf(s->a,
	                 "%s%s%s'%s' is not a sending domain of this "
	                 "account (add it with pigeon zone create and "
	                 "pigeon domain create)",
	                 hdr != NULL ? "the " : "", hdr != NULL ? hdr : "",
	                 hdr != NULL ? " header's domain " : "", domain));
}

/*
 * SPEC §6.1: domain (lowercase A-labels, mailbox.domain's form) must be
 * a sending domain of the account. hdr is NULL for the envelope sender,
 * else the header the domain is from ("From:"), which a refusal names.
 * 0 with the domain in *dp, or -1 with err.
 */
static int
sender_domain(struct submission *s, const char *domain, const char *hdr,
              const struct tenant_domain **dp, struct submit_error *err)
{
	if ((*dp = tenant_domain(s->who, domain)) == NULL)
		return not_sending(s, domain, hdr, err);
	return 0;
}

/* SPEC §6.1: sending must be on for the account and for d, the domain
 * sender_domain() found (hdr as there). 0, or -1 with err. */
static int
sender_enabled(struct submission *s, const struct tenant_domain *d,
               const char *hdr, struct submit_error *err)
{
	const struct account *ac = s->who->account;
	enum submit_part part =
	    hdr != NULL ? SUBMIT_PART_MESSAGE : SUBMIT_PART_FROM;

	if (!ac->sending_enabled)
		return fail(err, SUBMIT_DISABLED, part,
		            arena_printf(s->a,
		                         "sending is disabled for this account "
		                         "(pigeon account set %s "
		                         "--sending-enabled yes)",
		                         ac->id));
	if (!d->d.enabled)
		return fail(err, SUBMIT_DISABLED, part,
		            arena_printf(s->a,
		                         "sending is disabled for '%s'%s%s%s "
		                         "(pigeon domain set %s --enabled yes)",
		                         d->d.name, hdr != NULL ? ", the " : "",
		                         hdr != NULL ? hdr : "",
		                         hdr != NULL ? " header's domain" : "",
		                         d->d.name));
	return 0;
}

/*
 * SPEC §4: the From: header of a raw message holds exactly one address,
 * whose domain passes the envelope sender's rule (the same spellings
 * compare equal: addr_domain). The domain in *dp, or -1 with err.
 */
static int
from_header(struct submission *s, const struct rawmime_result *res,
            const struct tenant_domain **dp, struct submit_error *err)
{
	const char *name, *why;

	if (res->nfrom != 1)
		return fail(
		    err, SUBMIT_SENDER, SUBMIT_PART_MESSAGE,
		    arena_printf(s->a,
		                 "the From: header holds %zu addresses; "
		                 "it must hold exactly one, on a sending "
		                 "domain of this account",
		                 res->nfrom));
	/* A name no address could have (a literal, one label) is no
	 * sending domain either. */
	if (addr_domain(s->a, res->from_domain, strlen(res->from_domain), &name,
	                &why) == -1)
		return not_sending(s, res->from_domain, "From:", err);
	return sender_domain(s, name, "From:", dp, err);
}

/* The recipients in the store's form and as the client gave them. */
static int
rcpts_set(struct submission *s, const struct mailbox *const *lists,
          const size_t *counts, size_t nlists)
{
	size_t n = 0, i, j, k = 0;

	for (i = 0; i < nlists; i++)
		n += counts[i];
	s->sm.rcpts = arena_zalloc(s->a, (n + 1) * sizeof(*s->sm.rcpts));
	s->rcpt = arena_alloc(s->a, (n + 1) * sizeof(*s->rcpt));
	if (s->sm.rcpts == NULL || s->rcpt == NULL)
		return -1;
	for (i = 0; i < nlists; i++)
		for (j = 0; j < counts[i]; j++, k++) {
			s->sm.rcpts[k].address = lists[i][j].ascii;
			s->rcpt[k] = &lists[i][j];
		}
	s->sm.nrcpts = s->nrcpt = n;
	return 0;
}

/* DKIM_GAP bytes of room, then room for reserve bytes of message. */
static int
raw_room(struct submission *s, size_t reserve)
{
	buf_init(&s->raw, DKIM_GAP + MAX_MESSAGE_SIZE);
	if (buf_reserve(&s->raw, DKIM_GAP + reserve) == -1)
		return -1;
	memset(s->raw.p, ' ', DKIM_GAP);
	s->raw.len = DKIM_GAP;
	return 0;
}

int
submit_message(struct submission *s, const struct message *msg,
               struct submit_error *err)
{
	const struct mailbox *lists[3] = {msg->to, msg->cc, msg->bcc};
	size_t counts[3] = {msg->nto, msg->ncc, msg->nbcc};

	if (sender_domain(s, msg->from.domain, NULL, &s->dom, err) == -1 ||
	    sender_enabled(s, s->dom, NULL, err) == -1)
		return -1;
	if (rcpts_set(s, lists, counts, 3) == -1)
		return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE, NULL);
	s->mail_from = msg->from.address;
	s->subject = msg->subject;
	msgid_new(s->message_id, msg->from.domain);
	/* SPEC §3.3 */
	if (raw_room(s, 64 * 1024) == -1)
		return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE, NULL);
	if (mime_build(msg, s->message_id, s->now, &s->raw) == -1)
		return fail(err, SUBMIT_TOO_BIG, SUBMIT_PART_NONE,
		            "the message is over 5 MiB once built");
	return 0;
}

int
submit_raw(struct submission *s, const char *mime, size_t len, int lf_ok,
           const struct mailbox *from, const struct mailbox *rcpts, size_t n,
           struct submit_error *err)
{
	const struct tenant_domain *env, *hdr;
	struct rawmime_result res;
	char why[256];
	int rc;

	/* Room for the message and the Date and Message-ID pigeon may
	 * add; past the cap, rawmime_prepare says so. */
	if (raw_room(s, len + 1024 < MAX_MESSAGE_SIZE ? len + 1024
	                                              : MAX_MESSAGE_SIZE) == -1)
		return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE, NULL);
	memset(&res, 0, sizeof(res));
	why[0] = '\0';
	rc = rawmime_prepare(s->a, mime, len, lf_ok, s->raw_headers,
	                     from->domain, s->now, &s->raw, &res, why,
	                     sizeof(why));
	if (rc == RAWMIME_TOO_BIG)
		return fail(err, SUBMIT_TOO_BIG, SUBMIT_PART_MESSAGE,
		            "the message is over 5 MiB");
	if (rc != 0)
		return fail(err, SUBMIT_INVALID, SUBMIT_PART_MESSAGE,
		            arena_strdup(s->a, why));
	/* The message's own content rules come before the sender domains
	 * (SPEC §2.2), which come before whether sending is on. The
	 * envelope's domain signs. */
	if (sender_domain(s, from->domain, NULL, &env, err) == -1 ||
	    from_header(s, &res, &hdr, err) == -1 ||
	    sender_enabled(s, env, NULL, err) == -1 ||
	    (hdr != env && sender_enabled(s, hdr, "From:", err) == -1))
		return -1;
	s->dom = env;
	if (rcpts_set(s, &rcpts, &n, 1) == -1)
		return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE, NULL);
	s->mail_from = from->address;
	s->subject = res.subject;
	snprintf(s->message_id, sizeof(s->message_id), "%s", res.message_id);
	return 0;
}

/* SPEC §8.1: each recipient against the suppression list, at most
 * once per address; the dropped ones marked RCPT_SUPPRESSED. 0; 1 with
 * err, a recipient refused; -1 with err, the list could not be read. */
static int
suppressed(struct submission *s, struct submit_error *err)
{
	const struct tenant_domain *dom = s->dom;
	struct suppression sp;
	int64_t now = clock_now_ms();
	int rc;

	if (s->rd == NULL)
		return 0;
	for (size_t i = 0; i < s->sm.nrcpts; i++) {
		struct store_rcpt *r = &s->sm.rcpts[i];

		rc = store_suppression_find(s->rd, s->who->account->id,
		                            r->address, dom->d.name, now, &sp);
		if (rc == STORE_NOT_FOUND)
			continue;
		if (rc == -1)
			return fail(err, SUBMIT_UNAVAILABLE, SUBMIT_PART_NONE,
			            "the suppression list could not be read; "
			            "nothing was sent, try again");
		if (s->drop_suppressed || dom->d.drop_suppressed) {
			r->state = RCPT_SUPPRESSED;
			suppression_clear(&sp);
			continue;
		}
		err->detail = arena_printf(
		    s->a,
		    "Recipient '%s' is on the suppression list (%s): it gets "
		    "no mail until the entry expires or is removed; send "
		    "without it",
		    s->rcpt[i]->address, supp_reason_name(sp.reason));
		suppression_clear(&sp);
		err->kind = SUBMIT_SUPPRESSED;
		err->part = SUBMIT_PART_NONE;
		err->retry_after = 0;
		return 1;
	}
	return 0;
}

/* SPEC §8.4: one token of the account's bucket. 0, or -1 with err. */
static int
rate_limit(struct submission *s, struct submit_error *err)
{
	const struct account *ac = s->who->account;
	struct limits_view v;

	if (s->lim == NULL || limits_take(s->lim, ac, clock_mono_ms(), &v) == 0)
		return 0;
	fail(err, SUBMIT_THROTTLED, SUBMIT_PART_NONE,
	     arena_printf(s->a,
	                  "rate limit reached: this account may send %lld "
	                  "request%s a second, in bursts of up to %lld; "
	                  "try again in %lld second%s",
	                  (long long)ac->rate, ac->rate == 1 ? "" : "s",
	                  (long long)v.limit, (long long)v.retry_after,
	                  v.retry_after == 1 ? "" : "s"));
	err->retry_after = v.retry_after;
	return -1;
}

/* SPEC §8.4: the recipients not dropped against the daily quota. 0, or
 * -1 with err (nothing counted). */
static int
daily_quota(struct submission *s, struct submit_error *err)
{
	const struct account *ac = s->who->account;
	int64_t n = 0, now = clock_now_ms(), ra;
	char at[32];

	if (s->lim == NULL)
		return 0;
	for (size_t i = 0; i < s->sm.nrcpts; i++)
		if (s->sm.rcpts[i].state != RCPT_SUPPRESSED)
			n++;
	if (limits_quota_take(s->lim, ac, n, now, &s->quota_day, &ra) == 0) {
		s->quota_n = n;
		return 0;
	}
	clock_iso8601((time_t)(limits_midnight_ms(now) / 1000), at);
	fail(err, SUBMIT_THROTTLED, SUBMIT_PART_NONE,
	     arena_printf(
	         s->a,
	         "daily quota reached: this account may send to "
	         "%lld recipient%s a UTC day, %lld sent today and "
	         "this request has %lld; the quota resets at %s",
	         (long long)ac->daily_quota, ac->daily_quota == 1 ? "" : "s",
	         (long long)limits_sent(s->lim, ac, now), (long long)n, at));
	err->retry_after = ra;
	return -1;
}

void
submit_cancel(struct submission *s)
{
	if (s->lim != NULL && s->quota_day >= 0)
		limits_quota_give(s->lim, s->who->account, s->quota_n,
		                  s->quota_day);
	s->quota_day = -1;
	s->quota_n = 0;
}

/* DKIM, the final size and the store's form of the message. 0, or -1
 * with err. */
static int
seal_signed(struct submission *s, struct submit_error *err)
{
	const struct tenant_domain *dom = s->dom;
	struct store_msg *m = &s->sm;
	struct buf sig;
	char *raw;
	size_t i, len, body = s->raw.len - DKIM_GAP;
	int rc = -1;
	/*
	 * RFC 6376 §5: sign the message as built. The fields go in the
	 * DKIM_GAP room in front of it, so nothing is copied; h= names every
	 * signed field present (dkim.c), so many of them (a client's 100
	 * List-Unsubscribe) can pass the room, and then the message moves
	 * once to make more, within MAX_MESSAGE_SIZE.
	 */
	buf_init(&sig, body < MAX_MESSAGE_SIZE ? MAX_MESSAGE_SIZE - body : 1);
	if (dom->rsa != NULL)
		rc =
		    dkim_sign(s->raw.p + DKIM_GAP, body, dom->d.name,
		              dom->d.selector, s->now, dom->rsa, dom->ed, &sig);
	if (rc == -1) {
		char v[LOG_VALUE_LEN(253)];

		log_warnx("send: domain=%s dkim signing failed",
		          log_value(dom->d.name, v, sizeof(v)));
		buf_clear(&sig);
		return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE,
		            "the message could not be signed");
	}
	len = body + sig.len;
	if (rc == DKIM_TOO_BIG || len > MAX_MESSAGE_SIZE) {
		buf_clear(&sig);
		return fail(err, SUBMIT_TOO_BIG, SUBMIT_PART_NONE,
		            "the message is over 5 MiB once built");
	}
	if (sig.len > DKIM_GAP) {
		if (buf_reserve(&s->raw, sig.len - DKIM_GAP) == -1) {
			buf_clear(&sig);
			return fail(err, SUBMIT_INTERNAL, SUBMIT_PART_NONE,
			            NULL);
		}
		memmove(s->raw.p + sig.len, s->raw.p + DKIM_GAP, body);
		s->raw.len = len;
		s->raw.p[len] = '\0';
		raw = s->raw.p;
	} else
		raw = s->raw.p + DKIM_GAP - sig.len;
	memcpy(raw, sig.p, sig.len);
	buf_clear(&sig);

	m->account_id = s->who->account->id;
	m->domain_id = dom->d.id;
	m->message_id = s->message_id;
	m->mail_from = s->mail_from;
	m->subject = s->subject;
	m->raw = raw;
	m->raw_len = len;
	m->preview = dom->d.preview_enabled;
	m->created = clock_now_ms();
	m->idem_key = s->idem_key;
	m->idem_hash = s->idem_hash;
	m->idem_endpoint = s->idem_endpoint;
	m->domain_name = dom->d.name;
	m->return_path_domain = dom->d.return_path_domain;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state != RCPT_SUPPRESSED)
			m->rcpts[i].state = RCPT_QUEUED;
	return 0;
}

int
submit_seal(struct submission *s, struct submit_error *err)
{
	struct submit_error refused;
	int rc;

	if (rate_limit(s, err) == -1)
		return -1;
	if ((rc = suppressed(s, &refused)) == -1) {
		*err = refused;
		return -1;
	}
	if (daily_quota(s, err) == -1)
		return -1;
	if (rc == 1 || seal_signed(s, err) == -1) {
		if (rc == 1)
			*err = refused;
		submit_cancel(s);
		return -1;
	}
	return 0;
}

/* queue_send_fn: on the writer thread. */
static void
queued(void *arg, int rc, const enum rcpt_state *states)
{
	struct submission *s = arg;
	enum rcpt_state *q;

	if (rc != 0) {
		submit_cancel(s);
		s->done(s->done_arg, SUBMIT_UNAVAILABLE, NULL);
		return;
	}
	metric_inc(&metrics.accepted[s->front]); /* committed */
	if (states == NULL) {
		/* Committed, outcomes unknown: every one is queued. */
		q = arena_zalloc(s->a, s->sm.nrcpts * sizeof(*q) + 1);
		for (size_t i = 0; q != NULL && i < s->sm.nrcpts; i++)
			q[i] = s->sm.rcpts[i].state == RCPT_SUPPRESSED
			           ? RCPT_SUPPRESSED
			           : RCPT_QUEUED;
		states = q;
	}
	s->done(s->done_arg, states != NULL ? SUBMIT_OK : SUBMIT_INTERNAL,
	        states);
}

int
submit_queue(struct submit *svc, struct submission *s, submit_done_fn *done,
             void *arg)
{
	s->done = done;
	s->done_arg = arg;
	if (queue_send(svc->q, &s->sm, svc->cfg->send_wait_ms, queued, s) ==
	    -1) {
		submit_cancel(s);
		return -1;
	}
	return 0;
}
