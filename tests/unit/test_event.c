/*
 * test_event: src/queue/event.c — the bounce classification table, and
 * the event and automatic suppression one outcome leaves in a store in a
 * temp dir: every field of the SPEC §6.5 payload, parsed with json-c,
 * for each state an attempt can leave, and the suppressions of §6.4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/queue/event.h"
#include "seed.h"

#define ACC SEED_ACC
#define DOM "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1" /* seed.h's example.com */
#define CREATED 1790000000000LL /* the message's acceptance, unix ms */
#define DAY (24LL * 60 * 60 * 1000)

static const char RAW[] = "From: a@example.com\r\n\r\nhi\r\n";

struct fixture {
	char dir[64];
	struct store *s;
	struct buf scratch;
	struct store_msg m;
	struct store_rcpt r[1];
	struct msg_info mi;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256], path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/pigeon-event-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/pigeon.db", f->dir);
	if (seed_sender(path, NULL, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	assert_non_null(f->s = store_open(path, err, sizeof(err)));
	buf_init(&f->scratch, EVENT_PAYLOAD_MAX);
	f->m.account_id = ACC;
	f->m.domain_id = DOM;
	f->m.message_id = "<ev@example.com>";
	f->m.mail_from = "a@example.com";
	f->m.subject = "Hi \"there\"";
	f->m.raw = RAW;
	f->m.raw_len = sizeof(RAW) - 1;
	f->m.preview = 1;
	f->m.created = CREATED;
	f->m.rcpts = f->r;
	f->m.nrcpts = 1;
	f->r[0].address = "bounce@example.net";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	msg_info_clear(&f->mi);
	buf_clear(&f->scratch);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Stores the fixture's message (after the caller's changes to it) and
 * reads its info as the writer does. */
static void
message(struct fixture *f)
{
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &f->m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_message_info(f->s, f->m.id, &f->mi), 0);
}

/* An outcome of the fixture's recipient, answered 1234 ms after its
 * message was accepted. */
static struct store_outcome
outcome(struct fixture *f, enum rcpt_state st, int code, const char *enh,
        const char *reply)
{
	struct store_outcome o = {.rcpt_id = f->r[0].id,
	                          .state = st,
	                          .attempts = 1,
	                          .last_attempt = CREATED + 1000,
	                          .reply = reply,
	                          .answered = CREATED + 1234,
	                          .code = code};

	snprintf(o.address, sizeof(o.address), "%s", f->r[0].address);
	snprintf(o.enhanced, sizeof(o.enhanced), "%s", enh);
	snprintf(o.route, sizeof(o.route), "capture");
	return o;
}

/* event_record in a transaction of its own: its result. */
static int
record(struct fixture *f, const struct store_outcome *o)
{
	int rc;

	assert_int_equal(store_begin(f->s), 0);
	if ((rc = event_record(f->s, &f->mi, o, &f->scratch)) == 0)
		assert_int_equal(store_commit(f->s), 0);
	else
		store_rollback(f->s);
	return rc;
}

/* The account's events, how many; the last one's payload parsed. */
static size_t
last_event(struct fixture *f, struct store_event *out, json_object **payload)
{
	struct store_event *v;
	size_t n;

	assert_int_equal(store_events_list(f->s, ACC, 0, 100, NULL, &v, &n), 0);
	if (n > 0) {
		*out = v[n - 1];
		memset(&v[n - 1], 0, sizeof(v[n - 1]));
		assert_non_null(*payload = json_tokener_parse(out->payload));
	}
	event_list_free(v, n);
	return n;
}

static json_object *
get(json_object *o, const char *path)
{
	char key[64];
	const char *dot;
	json_object *v;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		assert_true(json_object_object_get_ex(o, key, &o));
		path = dot + 1;
	}
	assert_true(json_object_object_get_ex(o, path, &v));
	return v;
}

static void
assert_str(json_object *o, const char *path, const char *want)
{
	json_object *v = get(o, path);

	if (want == NULL) {
		assert_null(v);
		return;
	}
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), want);
}

static void
assert_int(json_object *o, const char *path, int64_t want)
{
	json_object *v = get(o, path);

	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int64(v), want);
}

/* The keys of object o, exactly those of want (NULL-terminated). */
static void
assert_keys(json_object *o, const char *const *want)
{
	size_t n = 0;

	assert_true(json_object_is_type(o, json_type_object));
	for (; want[n] != NULL; n++)
		assert_true(json_object_object_get_ex(o, want[n], NULL));
	assert_int_equal(json_object_object_length(o), n);
}

static void
assert_shape(json_object *p)
{
	static const char *const top[] = {"type", "source", "payload",
	                                  "metadata", NULL};
	static const char *const source[] = {"type", "domain", NULL};
	static const char *const payload[] = {
	    "eventId",  "messageId", "sender", "recipient", "subject",
	    "terminal", "delivery",  "bounce", NULL};
	static const char *const delivery[] = {"status",
	                                       "provider",
	                                       "deliveryTimeMs",
	                                       "smtpStatusCode",
	                                       "smtpEnhancedStatusCode",
	                                       "smtpResponse",
	                                       NULL};
	static const char *const metadata[] = {"accountId", "eventTimestamp",
	                                       NULL};

	assert_keys(p, top);
	assert_keys(get(p, "source"), source);
	assert_keys(get(p, "payload"), payload);
	assert_keys(get(p, "payload.delivery"), delivery);
	assert_keys(get(p, "metadata"), metadata);
}

/* The account's suppression of the recipient in the fixture's domain at
 * now: 0 (in *sp) or STORE_NOT_FOUND. */
static int
suppressed(struct fixture *f, int64_t now, struct suppression *sp)
{
	return store_suppression_find(f->s, ACC, f->r[0].address, "example.com",
	                              now, sp);
}

static void
test_classify(void **state)
{
	static const struct {
		int code;
		const char *enhanced, *want;
		int bad_mailbox;
	} t[] = {
	    {550, "5.1.1", "invalid_recipient", 1},
	    {550, "5.1.0", "invalid_recipient", 1},
	    {550, "5.1.3", "invalid_recipient", 1},
	    {550, "5.1.2", "invalid_domain", 1},
	    {556, "5.1.10", "invalid_domain", 1},
	    {553, "5.1.7", "invalid_sender", 0},
	    {553, "5.1.8", "invalid_sender", 0},
	    {552, "5.2.2", "mailbox_full", 0},
	    {452, "4.2.2", "mailbox_full", 0},
	    {552, "5.2.3", "message_too_large", 0},
	    {552, "5.3.4", "message_too_large", 0},
	    {550, "5.2.1", "mailbox_unavailable", 0},
	    {451, "4.3.0", "mail_system", 0},
	    {554, "5.4.4", "routing", 0},
	    {554, "5.5.0", "protocol", 0},
	    {554, "5.6.7", "content", 0},
	    {550, "5.7.1", "policy", 0},
	    {421, "4.7.0", "policy", 0},
	    {550, "5.9.9", "other", 0},
	    /* RFC 5321 basic codes alone never name a bad mailbox */
	    {550, "", "mailbox_unavailable", 0},
	    {551, "", "invalid_recipient", 0},
	    {553, NULL, "invalid_recipient", 0},
	    {552, "", "mailbox_full", 0},
	    {554, "", "other", 0},
	    {450, "", "mailbox_unavailable", 0},
	    {550, "5.1", "mailbox_unavailable", 0}, /* malformed: the basic */
	    {550, "5.1.1x", "mailbox_unavailable", 0},
	    {0, "", "no_reply", 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
		struct event_bounce b =
		    event_classify(t[i].code, t[i].enhanced);

		assert_string_equal(b.classification, t[i].want);
		assert_int_equal(b.bad_mailbox, t[i].bad_mailbox);
	}
}

/* bounced 550 5.1.1: the whole payload, and a hard_bounce entry on the
 * sending domain for 7 days. */
static void
test_bounced(void **state)
{
	struct fixture *f = *state;
	struct store_outcome o;
	struct store_event e;
	struct suppression sp;
	json_object *p;

	message(f);
	o = outcome(f, RCPT_BOUNCED, 550, "5.1.1", "550 5.1.1 no such user");
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_shape(p);
	assert_str(p, "type", "cf.email.sending.message.bounced");
	assert_str(p, "source.type", "email.sending");
	assert_str(p, "source.domain", "example.com");
	assert_str(p, "payload.eventId", e.event_id);
	assert_int_equal(strlen(e.event_id), 32);
	assert_int_equal(strspn(e.event_id, "0123456789abcdef"), 32);
	assert_str(p, "payload.messageId", "<ev@example.com>");
	assert_str(p, "payload.sender", "a@example.com");
	assert_str(p, "payload.recipient", "bounce@example.net");
	assert_str(p, "payload.subject", "Hi \"there\"");
	assert_true(json_object_get_boolean(get(p, "payload.terminal")));
	assert_str(p, "payload.delivery.status", "bounced");
	assert_str(p, "payload.delivery.provider", "capture");
	assert_int(p, "payload.delivery.deliveryTimeMs", 1234);
	assert_int(p, "payload.delivery.smtpStatusCode", 550);
	assert_str(p, "payload.delivery.smtpEnhancedStatusCode", "5.1.1");
	assert_str(p, "payload.delivery.smtpResponse",
	           "550 5.1.1 no such user");
	assert_str(p, "payload.bounce.type", "hard");
	assert_str(p, "payload.bounce.classification", "invalid_recipient");
	assert_str(p, "payload.bounce.reason", "550 5.1.1 no such user");
	assert_int_equal(json_object_object_length(get(p, "payload.bounce")),
	                 3);
	assert_str(p, "metadata.accountId", ACC);
	/* 1790000001234 ms */
	assert_str(p, "metadata.eventTimestamp", "2026-09-21T14:13:21.234Z");
	/* the row's own columns */
	assert_string_equal(e.account_id, ACC);
	assert_int_equal(e.msg_id, f->m.id);
	assert_int_equal(e.rcpt_id, f->r[0].id);
	assert_string_equal(e.message_id, "<ev@example.com>");
	assert_string_equal(e.recipient, "bounce@example.net");
	assert_string_equal(e.type, "cf.email.sending.message.bounced");
	assert_int_equal(e.created, CREATED + 1234);
	json_object_put(p);
	event_clear(&e);

	assert_int_equal(suppressed(f, CREATED + 2000, &sp), 0);
	assert_int_equal(sp.reason, SUPP_HARD_BOUNCE);
	assert_string_equal(sp.scope_value, "example.com");
	assert_int_equal(sp.created, CREATED + 1234);
	assert_int_equal(sp.expires_at, CREATED + 1234 + 7 * DAY);
	assert_null(sp.note);
	assert_int_equal(sp.read_only, 0);
	assert_int_equal(strlen(sp.id), 32);
	suppression_clear(&sp);
	/* not for the account's other domains */
	assert_int_equal(store_suppression_find(f->s, ACC, "bounce@example.net",
	                                        "other.example", CREATED + 2000,
	                                        &sp),
	                 STORE_NOT_FOUND);
	/* a second bounce: still one entry, its expiry from the later one */
	o.answered += DAY;
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(suppressed(f, CREATED + 2000, &sp), 0);
	assert_int_equal(sp.expires_at, CREATED + 1234 + 8 * DAY);
	suppression_clear(&sp);
}

/* failed after max_queue_age: soft bounce, a soft_bounce entry for 24 h */
static void
test_failed(void **state)
{
	struct fixture *f = *state;
	struct store_outcome o;
	struct store_event e;
	struct suppression sp;
	json_object *p;

	f->r[0].address = "fail@example.net";
	message(f);
	o = outcome(f, RCPT_FAILED, 451, "4.3.0", "451 4.3.0 try later");
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_shape(p);
	assert_str(p, "type", "cf.email.sending.message.failed");
	assert_true(json_object_get_boolean(get(p, "payload.terminal")));
	assert_str(p, "payload.delivery.status", "failed");
	assert_int(p, "payload.delivery.smtpStatusCode", 451);
	assert_str(p, "payload.bounce.type", "soft");
	assert_str(p, "payload.bounce.classification", "mail_system");
	assert_str(p, "payload.bounce.reason", "451 4.3.0 try later");
	json_object_put(p);
	event_clear(&e);
	assert_int_equal(suppressed(f, CREATED + 2000, &sp), 0);
	assert_int_equal(sp.reason, SUPP_SOFT_BOUNCE);
	assert_int_equal(sp.expires_at, CREATED + 1234 + DAY);
	suppression_clear(&sp);
}

/* deferred and delivered: not terminal / terminal, no bounce object, no
 * suppression; an answer that was no reply has null codes. */
static void
test_deferred_delivered(void **state)
{
	struct fixture *f = *state;
	struct store_outcome o;
	struct store_event e;
	struct suppression sp;
	json_object *p;

	f->r[0].address = "defer@example.net";
	message(f);
	o = outcome(f, RCPT_DEFERRED, 0, "", "connection refused");
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_shape(p);
	assert_str(p, "type", "cf.email.sending.message.deferred");
	assert_false(json_object_get_boolean(get(p, "payload.terminal")));
	assert_str(p, "payload.delivery.status", "deferred");
	assert_null(get(p, "payload.delivery.smtpStatusCode"));
	assert_null(get(p, "payload.delivery.smtpEnhancedStatusCode"));
	assert_str(p, "payload.delivery.smtpResponse", "connection refused");
	assert_null(get(p, "payload.bounce"));
	json_object_put(p);
	event_clear(&e);

	o = outcome(f, RCPT_DELIVERED, 250, "2.0.0", "250 2.0.0 ok");
	o.answered = CREATED + 60000;
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 2);
	assert_shape(p);
	assert_str(p, "type", "cf.email.sending.message.delivered");
	assert_true(json_object_get_boolean(get(p, "payload.terminal")));
	assert_int(p, "payload.delivery.deliveryTimeMs", 60000);
	assert_int(p, "payload.delivery.smtpStatusCode", 250);
	assert_str(p, "payload.delivery.smtpEnhancedStatusCode", "2.0.0");
	assert_null(get(p, "payload.bounce"));
	json_object_put(p);
	event_clear(&e);
	assert_int_equal(suppressed(f, CREATED, &sp), STORE_NOT_FOUND);
	/* no event for a state no attempt leaves */
	o.state = RCPT_QUEUED;
	assert_int_equal(record(f, &o), 0);
	o.state = RCPT_SUPPRESSED;
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 2);
	json_object_put(p);
	event_clear(&e);
}

/* Bounces that name no bad mailbox, and a message whose sending domain
 * is gone: an event each, no suppression. */
static void
test_no_suppression(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int code;
		const char *enhanced;
	} t[] = {{553, "5.1.8"}, {550, ""}, {550, "5.7.1"}, {552, "5.2.2"}};
	struct store_outcome o;
	struct store_event e;
	struct suppression sp;
	json_object *p;

	message(f);
	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
		o = outcome(f, RCPT_BOUNCED, t[i].code, t[i].enhanced, "5xx");
		assert_int_equal(record(f, &o), 0);
	}
	assert_int_equal(suppressed(f, CREATED, &sp), STORE_NOT_FOUND);
	assert_int_equal(last_event(f, &e, &p), 4);
	assert_str(p, "payload.bounce.classification", "mailbox_full");
	json_object_put(p);
	event_clear(&e);

	/* no sending domain: source.domain null, nothing to suppress on */
	msg_info_clear(&f->mi);
	f->m.domain_id = NULL;
	f->m.subject = NULL;
	f->m.message_id = "<nodomain@example.com>";
	message(f);
	o = outcome(f, RCPT_BOUNCED, 550, "5.1.1", NULL);
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 5);
	assert_shape(p);
	assert_null(get(p, "source.domain"));
	assert_null(get(p, "payload.subject"));
	assert_null(get(p, "payload.delivery.smtpResponse"));
	assert_null(get(p, "payload.bounce.reason"));
	json_object_put(p);
	event_clear(&e);
	assert_int_equal(suppressed(f, CREATED, &sp), STORE_NOT_FOUND);
}

/* A peer's text and a client's subject stay valid JSON, whatever bytes. */
static void
test_escaping(void **state)
{
	struct fixture *f = *state;
	struct store_outcome o;
	struct store_event e;
	json_object *p;

	f->m.subject = "caf\xc3\xa9 \x01 \xff\\";
	message(f);
	o = outcome(f, RCPT_BOUNCED, 550, "5.1.1", "550 \"quoted\"\t\x7f\xfe");
	assert_int_equal(record(f, &o), 0);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_str(p, "payload.subject", "caf\xc3\xa9 \x01 \xef\xbf\xbd\\");
	assert_str(p, "payload.delivery.smtpResponse",
	           "550 \"quoted\"\t\x7f\xef\xbf\xbd");
	json_object_put(p);
	event_clear(&e);
}

/* event_finding in a transaction of its own: its result. */
static int
find(struct fixture *f, const struct finding *x, int64_t now)
{
	int rc;

	assert_int_equal(store_begin(f->s), 0);
	rc = event_finding(f->s, x, &f->scratch, now);
	assert_int_equal(store_commit(f->s), 0);
	return rc;
}

/* The fixture's recipient's state. */
static enum rcpt_state
state_of(struct fixture *f)
{
	char addr[STORE_ADDR_MAX];
	enum rcpt_state st;
	int64_t msg;

	assert_int_equal(
	    store_rcpt_of(f->s, f->r[0].id, &msg, &st, addr, sizeof(addr)), 0);
	assert_int_equal(msg, f->m.id);
	return st;
}

/* SPEC §7.1: a DSN's failure bounces a delivered recipient, once, with
 * its event and (5.1.x) its suppression; a delay is an event only; the
 * report's recipient is found in any case, and the VERP address's one
 * stands in for an address the message does not have. */
static void
test_findings(void **state)
{
	struct fixture *f = *state;
	struct finding x;
	struct store_outcome o;
	struct store_event e;
	struct suppression sp;
	json_object *p;
	int64_t now = CREATED + 5000;

	f->r[0].address = "Bob@Example.NET";
	message(f);
	o = outcome(f, RCPT_DELIVERED, 250, "2.0.0", "250 ok");
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_commit(f->s), 0);

	memset(&x, 0, sizeof(x));
	x.kind = FINDING_DELAYED;
	x.msg_id = f->m.id;
	x.rcpt_id = f->r[0].id;
	snprintf(x.address, sizeof(x.address), "bob@example.net");
	snprintf(x.status, sizeof(x.status), "4.4.1");
	snprintf(x.text, sizeof(x.text), "connection timed out");
	assert_int_equal(find(f, &x, now), 1);
	assert_int_equal(state_of(f), RCPT_DELIVERED);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_str(p, "type", "cf.email.sending.message.deferred");
	assert_str(p, "payload.delivery.provider", "inbound");
	assert_str(p, "payload.delivery.smtpEnhancedStatusCode", "4.4.1");
	json_object_put(p);
	event_clear(&e);

	x.kind = FINDING_FAILED;
	snprintf(x.address, sizeof(x.address), "nobody@else.example");
	snprintf(x.status, sizeof(x.status), "5.1.1");
	x.code = 550;
	snprintf(x.text, sizeof(x.text), "550 5.1.1 user unknown");
	assert_int_equal(find(f, &x, now), 1);
	assert_int_equal(state_of(f), RCPT_BOUNCED);
	assert_int_equal(last_event(f, &e, &p), 2);
	assert_str(p, "type", "cf.email.sending.message.bounced");
	assert_str(p, "payload.recipient", "Bob@Example.NET");
	assert_int(p, "payload.delivery.smtpStatusCode", 550);
	assert_str(p, "payload.bounce.classification", "invalid_recipient");
	json_object_put(p);
	event_clear(&e);
	assert_int_equal(store_suppression_find(f->s, ACC, "Bob@Example.NET",
	                                        "example.com", now + 1, &sp),
	                 0);
	assert_int_equal(sp.reason, SUPP_HARD_BOUNCE);
	suppression_clear(&sp);
	/* the same bounce again: nothing more */
	assert_int_equal(find(f, &x, now), 0);
	assert_int_equal(last_event(f, &e, &p), 2);
	json_object_put(p);
	event_clear(&e);
	/* a message that is gone, a recipient of another message */
	x.msg_id = f->m.id + 1;
	assert_int_equal(find(f, &x, now), 0);
}

/* An ARF abuse report: an event and a suppression that never expires,
 * the state unchanged. */
static void
test_complaint(void **state)
{
	struct fixture *f = *state;
	struct finding x;
	struct store_event e;
	struct suppression sp;
	json_object *p;
	int64_t now = CREATED + 9000;

	message(f);
	memset(&x, 0, sizeof(x));
	x.kind = FINDING_COMPLAINT;
	x.msg_id = f->m.id;
	x.rcpt_id = f->r[0].id;
	snprintf(x.text, sizeof(x.text), "abuse");
	assert_int_equal(find(f, &x, now), 1);
	assert_int_equal(state_of(f), RCPT_QUEUED);
	assert_int_equal(last_event(f, &e, &p), 1);
	assert_str(p, "type", "cf.email.sending.message.complained");
	assert_str(p, "payload.complaint.feedbackType", "abuse");
	assert_str(p, "payload.recipient", "bounce@example.net");
	assert_str(p, "payload.delivery.smtpResponse", NULL);
	json_object_put(p);
	event_clear(&e);
	assert_int_equal(suppressed(f, now + 365 * DAY, &sp), 0);
	assert_int_equal(sp.reason, SUPP_COMPLAINT);
	assert_int_equal(sp.expires_at, 0);
	suppression_clear(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test_setup_teardown(test_bounced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_delivered, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_suppression, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_findings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_complaint, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
