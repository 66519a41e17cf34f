/*
 * test_submit: src/submit/submit.c without HTTP. The test is the front:
 * it authenticates against a real tenant, hands messages to the
 * submission service, and waits for the outcome callback; behind it run
 * a real store in a temporary directory and the real queue with the
 * capture route. It checks the sender-domain rules and their order, the
 * raw path's own rules, the signature in front of the stored bytes, and
 * the per-recipient states of the capture test addresses.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/clock.h"
#include "../../src/core/hash.h"
#include "../../src/core/log.h"
#include "../../src/mail/addr.h"
#include "../../src/mail/dkim.h"
#include "../../src/mail/limits.h"
#include "../../src/admin/wire.h"
#include "seed.h"
#include "../../src/submit/submit.h"

#define ACC SEED_ACC
#define TOKEN SEED_TOKEN

static char dir[64];
static struct config cfg;
static struct queue *q;
static struct tenant *tenant;
static struct submit *svc;

/* What the front hears from the done callback. */
struct outcome {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	enum submit_err rc;
	enum rcpt_state st[8];
	size_t n;
};

static void
on_done(void *arg, enum submit_err rc, const enum rcpt_state *states)
{
	struct outcome *o = arg;

	pthread_mutex_lock(&o->mu);
	o->rc = rc;
	for (size_t i = 0; states != NULL && i < o->n; i++)
		o->st[i] = states[i];
	o->done = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static int
setup(void **state)
{
	/* sending domains besides example.com: another, and an IDN */
	static const char *const more[] = {"mail.example.com",
	                                   "xn--bcher-kva.example.com"};
	char err[256];

	log_init(LOG_LVL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/pigeon-test-submit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	config_defaults(&cfg, 0);
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	cfg.send_wait_ms = 3000;
	if (config_finish(&cfg, err, sizeof(err)) == -1)
		return -1;
	if (seed_sender(cfg.db_path, "off.example.com", err, sizeof(err)) ==
	        -1 ||
	    seed_domains(cfg.db_path, more, 2, err, sizeof(err)) == -1) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	if ((q = wire_queue(&cfg, err, sizeof(err))) == NULL ||
	    (tenant = tenant_new(&cfg, err, sizeof(err))) == NULL ||
	    (svc = submit_new(&cfg, q)) == NULL) {
		fprintf(stderr, "start: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	queue_stop(q);
	submit_free(svc);
	tenant_free(tenant);
	config_clear(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The front's side of one submission. */
struct front {
	struct arena *a;
	struct tenant_ctx who;
	struct submission sub;
	struct outcome o;
};

static void
front_open(struct front *f)
{
	struct tenant_cred cred = {"Bearer " TOKEN, NULL, NULL};
	const char *why;

	memset(f, 0, sizeof(*f));
	assert_non_null(f->a = arena_new(0));
	assert_int_equal(
	    tenant_auth(tenant, &cred, ACC, PERM_SEND, 0, &f->who, &why),
	    TENANT_OK);
	submit_init(&f->sub, svc, f->a, &f->who, clock_now());
	pthread_mutex_init(&f->o.mu, NULL);
	pthread_cond_init(&f->o.cv, NULL);
}

static void
front_close(struct front *f)
{
	submit_clear(&f->sub);
	tenant_release(&f->who);
	arena_free(f->a);
	pthread_mutex_destroy(&f->o.mu);
	pthread_cond_destroy(&f->o.cv);
}

static void
mailbox(struct front *f, const char *s, struct mailbox *mb)
{
	const char *why;

	memset(mb, 0, sizeof(*mb));
	assert_int_equal(addr_parse(f->a, s, strlen(s), mb, &why), 0);
}

/* Seals and queues f->sub, waits for the callback: its rc. */
static enum submit_err
front_send(struct front *f)
{
	struct submit_error se;

	assert_int_equal(submit_seal(&f->sub, &se), 0);
	f->o.n = f->sub.nrcpt;
	assert_int_equal(submit_queue(svc, &f->sub, on_done, &f->o), 0);
	pthread_mutex_lock(&f->o.mu);
	while (!f->o.done)
		pthread_cond_wait(&f->o.cv, &f->o.mu);
	pthread_mutex_unlock(&f->o.mu);
	return f->o.rc;
}

static void
message(struct front *f, struct message *m, const char *from,
        struct mailbox *to, size_t nto)
{
	memset(m, 0, sizeof(*m));
	mailbox(f, from, &m->from);
	m->to = to;
	m->nto = nto;
	m->subject = "Hello";
	m->text = "Hi";
	m->text_len = 2;
}

static void
test_message_delivered(void **state)
{
	struct front f;
	struct message m;
	struct mailbox to[2];
	struct submit_error se;
	const char *raw;

	front_open(&f);
	mailbox(&f, "someone@example.net", &to[0]);
	mailbox(&f, "bounce@example.org", &to[1]);
	message(&f, &m, "app@example.com", to, 2);
	assert_int_equal(submit_message(&f.sub, &m, &se), 0);
	assert_int_equal(f.sub.nrcpt, 2);
	assert_string_equal(f.sub.rcpt[1]->address, "bounce@example.org");
	assert_int_equal(front_send(&f), SUBMIT_OK);
	/* capture: the first answers 250, bounce…@ 550 */
	assert_int_equal(f.o.st[0], RCPT_DELIVERED);
	assert_int_equal(f.o.st[1], RCPT_BOUNCED);
	/* signed in front of the built message, as stored */
	raw = f.sub.sm.raw;
	assert_true(strncmp(raw, "DKIM-Signature: v=1; a=rsa-sha256", 33) == 0);
	assert_non_null(strstr(raw, "\r\nSubject: Hello\r\n"));
	assert_non_null(strstr(raw, f.sub.message_id));
	assert_true(f.sub.sm.id > 0);
	front_close(&f);
}

static void
test_sender_rules(void **state)
{
	struct front f;
	struct message m;
	struct mailbox to;
	struct submit_error se;

	front_open(&f);
	mailbox(&f, "someone@example.net", &to);
	message(&f, &m, "app@other.example", &to, 1);
	assert_int_equal(submit_message(&f.sub, &m, &se), -1);
	assert_int_equal(se.kind, SUBMIT_SENDER);
	assert_int_equal(se.part, SUBMIT_PART_FROM);
	assert_non_null(strstr(se.detail, "'other.example' is not a sending "
	                                  "domain"));
	front_close(&f);

	front_open(&f);
	mailbox(&f, "someone@example.net", &to);
	message(&f, &m, "app@off.example.com", &to, 1);
	assert_int_equal(submit_message(&f.sub, &m, &se), -1);
	assert_int_equal(se.kind, SUBMIT_DISABLED);
	assert_non_null(strstr(se.detail, "domain set off.example.com "
	                                  "--enabled yes"));
	front_close(&f);
}

static void
test_raw(void **state)
{
	static const char msg[] = "From: app@example.com\n"
	                          "To: someone@example.net\n"
	                          "Bcc: hidden@example.net\n"
	                          "Message-ID: <keep.me@example.com>\n"
	                          "Subject: raw\n"
	                          "\n"
	                          "body\n";
	struct front f;
	struct mailbox from, to[2];
	struct submit_error se;

	front_open(&f);
	mailbox(&f, "app@example.com", &from);
	mailbox(&f, "someone@example.net", &to[0]);
	mailbox(&f, "defer@example.net", &to[1]);
	assert_int_equal(
	    submit_raw(&f.sub, msg, sizeof(msg) - 1, 1, &from, to, 2, &se), 0);
	assert_string_equal(f.sub.message_id, "<keep.me@example.com>");
	assert_string_equal(f.sub.subject, "raw");
	assert_int_equal(front_send(&f), SUBMIT_OK);
	assert_int_equal(f.o.st[0], RCPT_DELIVERED);
	assert_int_equal(f.o.st[1], RCPT_DEFERRED); /* defer…@: 451 first */
	assert_null(strstr(f.sub.sm.raw, "hidden@example.net"));
	front_close(&f);
}

/* The message's own rules come before the sender domain (SPEC §2.2). */
static void
test_raw_refused(void **state)
{
	static const char nofrom[] = "To: someone@example.net\r\n\r\nx\r\n";
	struct front f;
	struct mailbox from, to;
	struct submit_error se;
	char *big;
	size_t n = MAX_MESSAGE_SIZE + 10;

	front_open(&f);
	mailbox(&f, "app@other.example", &from);
	mailbox(&f, "someone@example.net", &to);
	assert_int_equal(submit_raw(&f.sub, nofrom, sizeof(nofrom) - 1, 1,
	                            &from, &to, 1, &se),
	                 -1);
	assert_int_equal(se.kind, SUBMIT_INVALID);
	assert_int_equal(se.part, SUBMIT_PART_MESSAGE);
	assert_non_null(se.detail);
	front_close(&f);

	front_open(&f);
	mailbox(&f, "app@example.com", &from);
	mailbox(&f, "someone@example.net", &to);
	assert_non_null(big = malloc(n));
	memset(big, 'a', n);
	memcpy(big, "From: app@example.com\r\n\r\n", 25);
	for (size_t i = 100; i < n; i += 100) {
		big[i - 2] = '\r';
		big[i - 1] = '\n';
	}
	assert_int_equal(submit_raw(&f.sub, big, n, 1, &from, &to, 1, &se), -1);
	assert_int_equal(se.kind, SUBMIT_TOO_BIG);
	free(big);
	front_close(&f);
}

/* SPEC §5: the service's raw_headers reaches the raw path through
 * submit_init; submit_raw's callers pass nothing more. */
static void
test_raw_headers_policy(void **state)
{
	static const char msg[] = "Received: by relay.example.com\r\n"
	                          "From: app@example.com\r\n"
	                          "User-Agent: Thunderbird/128.5.0\r\n"
	                          "Return-Path: <app@example.com>\r\n"
	                          "\r\nbody\r\n";
	struct config strict;
	struct submit *cf;
	struct front f;
	struct mailbox from, to;
	struct submit_error se;

	/* the default, relaxed: kept, Return-Path removed */
	front_open(&f);
	assert_int_equal(f.sub.raw_headers, RAWMIME_RELAXED);
	mailbox(&f, "app@example.com", &from);
	mailbox(&f, "someone@example.net", &to);
	assert_int_equal(
	    submit_raw(&f.sub, msg, sizeof(msg) - 1, 0, &from, &to, 1, &se), 0);
	assert_non_null(strstr(f.sub.raw.p, "\r\nUser-Agent: Thunderbird"));
	assert_non_null(strstr(f.sub.raw.p, "Received: by relay"));
	assert_null(strstr(f.sub.raw.p, "Return-Path"));
	front_close(&f);

	/* a service made with raw_headers cloudflare */
	strict = cfg;
	strict.raw_headers = "cloudflare";
	assert_non_null(cf = submit_new(&strict, q));
	front_open(&f);
	submit_init(&f.sub, cf, f.a, &f.who, clock_now());
	assert_int_equal(f.sub.raw_headers, RAWMIME_CLOUDFLARE);
	mailbox(&f, "app@example.com", &from);
	mailbox(&f, "someone@example.net", &to);
	assert_int_equal(
	    submit_raw(&f.sub, msg, sizeof(msg) - 1, 0, &from, &to, 1, &se),
	    -1);
	assert_int_equal(se.kind, SUBMIT_INVALID);
	assert_int_equal(se.part, SUBMIT_PART_MESSAGE);
	assert_string_equal(se.detail,
	                    "Header 'User-Agent' is not allowed. Use an X- "
	                    "header, or an allowlisted one such as "
	                    "In-Reply-To, References or List-Unsubscribe.");
	front_close(&f);
	submit_free(cf);
}

/* submit_raw of "From:<from>" with the envelope sender env: its rc,
 * with *se filled. The front f is left open. */
static int
raw_from(struct front *f, const char *env, const char *from,
         struct submit_error *se)
{
	struct mailbox *mf, *to;
	char *m;

	front_open(f);
	assert_non_null(mf = arena_zalloc(f->a, sizeof(*mf)));
	assert_non_null(to = arena_zalloc(f->a, sizeof(*to)));
	mailbox(f, env, mf);
	mailbox(f, "someone@example.net", to);
	assert_non_null(
	    m = arena_printf(f->a,
	                     "From:%s\r\nTo: someone@example.net\r\n"
	                     "Subject: from\r\n\r\nbody\r\n",
	                     from));
	memset(se, 0, sizeof(*se));
	return submit_raw(&f->sub, m, strlen(m), 1, mf, to, 1, se);
}

/* Asserts that raw_from() refused with kind, about the message, with
 * needle in its detail, and that nothing is ready to queue. */
static void
from_refused(const char *env, const char *from, enum submit_err kind,
             const char *needle)
{
	struct front f;
	struct submit_error se;

	if (raw_from(&f, env, from, &se) != -1)
		fail_msg("From:%s (envelope %s) accepted", from, env);
	if (se.kind != kind || se.detail == NULL ||
	    strstr(se.detail, needle) == NULL)
		fail_msg("From:%s (envelope %s): kind %d, detail '%s'", from,
		         env, se.kind, se.detail ? se.detail : "(null)");
	assert_int_equal(se.part, SUBMIT_PART_MESSAGE);
	assert_null(f.sub.dom);
	assert_int_equal(f.sub.nrcpt, 0);
	front_close(&f);
}

/* SPEC §4: the From: header holds exactly one address. A group is not
 * a mailbox-list at all (RFC 5322 §3.6.2): it stays a broken message. */
static void
test_raw_from_one_address(void **state)
{
	from_refused("app@example.com", " a@example.com, b@example.com",
	             SUBMIT_SENDER,
	             "the From: header holds 2 addresses; it must hold "
	             "exactly one");
	from_refused("app@example.com",
	             " A <app@example.com>, ceo@bank.example", SUBMIT_SENDER,
	             "holds 2 addresses");
	from_refused("app@example.com",
	             " ,a@example.com,,b@example.com, c@example.com",
	             SUBMIT_SENDER, "holds 3 addresses");
	from_refused("app@example.com", " Team: app@example.com;",
	             SUBMIT_INVALID, "a group");
	from_refused("app@example.com", " undisclosed-recipients:;",
	             SUBMIT_INVALID, "a group");
}

/* SPEC §4: the From: header's domain is a sending domain of the
 * account, as the envelope sender's must be. */
static void
test_raw_from_foreign(void **state)
{
	static const char *const foreign[] = {
	    " ceo@bank.example",
	    " CEO <ceo@bank.example>",
	    " \"app@example.com\" <ceo@bank.example>",
	    " (app@example.com) ceo@bank.example",
	    " ceo@example.com.bank.example",
	    " ceo@other.example.com",
	};
	size_t i;

	from_refused("app@example.com", " ceo@bank.example", SUBMIT_SENDER,
	             "the From: header's domain 'bank.example' is not a "
	             "sending domain of this account");
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		from_refused("app@example.com", foreign[i], SUBMIT_SENDER,
		             "From: header's domain");
	/* names no address could have: no sending domain either */
	from_refused("app@example.com", " a@[192.0.2.1]", SUBMIT_SENDER,
	             "'[192.0.2.1]' is not a sending domain");
	from_refused("app@example.com", " a@localhost", SUBMIT_SENDER,
	             "'localhost' is not a sending domain");
	from_refused("app@example.com",
	             " a@exa\xc2\xad"
	             "mple.com",
	             SUBMIT_SENDER, "is not a sending domain");
	/* 10204 before 10203 (SPEC §2.2), whichever domain is off */
	from_refused("app@off.example.com", " ceo@bank.example", SUBMIT_SENDER,
	             "From: header's domain 'bank.example'");
}

/* A From: domain that is switched off: the envelope's refusal, naming
 * the header. */
static void
test_raw_from_disabled(void **state)
{
	struct front f;
	struct submit_error se;

	from_refused("app@example.com", " News <news@off.example.com>",
	             SUBMIT_DISABLED,
	             "sending is disabled for 'off.example.com', the From: "
	             "header's domain (pigeon domain set off.example.com "
	             "--enabled yes)");
	from_refused("app@example.com", " news@OFF.Example.com",
	             SUBMIT_DISABLED, "'off.example.com', the From:");
	/* the envelope's own refusals are unchanged */
	assert_int_equal(
	    raw_from(&f, "app@off.example.com", " app@example.com", &se), -1);
	assert_int_equal(se.kind, SUBMIT_DISABLED);
	assert_int_equal(se.part, SUBMIT_PART_FROM);
	assert_string_equal(se.detail, "sending is disabled for "
	                               "'off.example.com' (pigeon domain set "
	                               "off.example.com --enabled yes)");
	front_close(&f);
	assert_int_equal(
	    raw_from(&f, "app@bank.example", " ceo@bank.example", &se), -1);
	assert_int_equal(se.kind, SUBMIT_SENDER);
	assert_int_equal(se.part, SUBMIT_PART_FROM);
	assert_non_null(strstr(se.detail, "'bank.example' is not a sending "
	                                  "domain"));
	front_close(&f);
}

/* The same domain in any spelling, or another sending domain of the
 * account: accepted, signed by the envelope sender's domain and
 * queued. */
static void
test_raw_from_accepted(void **state)
{
	static const struct {
		const char *env, *from, *signer;
	} ok[] = {
	    {"app@example.com", " app@example.com", "example.com"},
	    {"app@example.com", " App <APP@EXAMPLE.COM>", "example.com"},
	    {"app@example.com", " a@Example.Com (work)", "example.com"},
	    {"app@example.com", " A < a @ example . com >", "example.com"},
	    {"app@example.com", " News <news@mail.example.com>", "example.com"},
	    {"app@mail.example.com", " app@example.com", "mail.example.com"},
	    {"app@B\xc3\xbc"
	     "cher.example.com",
	     " B\xc3\xbc"
	     "cher <app@xn--bcher-kva.example.com>",
	     "xn--bcher-kva.example.com"},
	    {"app@xn--bcher-kva.example.com",
	     " app@B\xc3\x9c"
	     "CHER.Example.com",
	     "xn--bcher-kva.example.com"},
	    {"app@xn--bcher-kva.example.com", " app@XN--BCHER-KVA.example.com",
	     "xn--bcher-kva.example.com"},
	};
	struct front f;
	struct submit_error se;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (raw_from(&f, ok[i].env, ok[i].from, &se) != 0)
			fail_msg("From:%s (envelope %s) refused: %s",
			         ok[i].from, ok[i].env,
			         se.detail ? se.detail : "");
		assert_string_equal(f.sub.dom->d.name, ok[i].signer);
		assert_int_equal(front_send(&f), SUBMIT_OK);
		assert_int_equal(f.o.st[0], RCPT_DELIVERED);
		front_close(&f);
	}
}

/* A raw message whose signed headers (h=) pass DKIM_GAP: nheaders
 * List-Unsubscribe fields of lines of width w bytes. malloc'd. */
static char *
many_unsubscribe(size_t nheaders, size_t w, size_t *len)
{
	static const char head[] = "From: app@example.com\r\n"
	                           "To: someone@example.net\r\n"
	                           "Subject: many\r\n";
	char *m, *p;
	size_t i;

	assert_true(w >= 48 && w < 200);
	*len = sizeof(head) - 1 + nheaders * w + 8;
	assert_non_null(m = malloc(*len + 1));
	p = m + snprintf(m, *len + 1, "%s", head);
	for (i = 0; i < nheaders; i++) {
		p += snprintf(p, 48,
		              "List-Unsubscribe: <https://example.com/u/%06zu",
		              i % 1000000);
		memset(p, 'x', w - 47 - 3);
		p += w - 47 - 3;
		memcpy(p, ">\r\n", 3);
		p += 3;
	}
	memcpy(p, "\r\nbody\r\n", 8);
	assert_int_equal((size_t)(p + 8 - m), *len);
	m[*len] = '\0';
	return m;
}

/* Occurrences of needle in h[0..n). */
static size_t
count(const char *h, size_t n, const char *needle)
{
	size_t k = 0, nl = strlen(needle);

	for (const char *p = h;
	     (p = memmem(p, n - (size_t)(p - h), needle, nl)) != NULL; p += nl)
		k++;
	return k;
}

/*
 * RFC 6376 §5.4.2: every instance of a signed header is named in h=, so
 * 120 List-Unsubscribe fields make signatures longer than the room left
 * in front of the message (DKIM_GAP): the message moves to make room, and
 * is signed, stored and delivered; too many for MAX_MESSAGE_SIZE is
 * SUBMIT_TOO_BIG. Never SUBMIT_INTERNAL: nothing a client writes is an
 * internal error.
 */
static void
test_raw_many_signed_headers(void **state)
{
	static const size_t ns[] = {120, 250};
	struct front f;
	struct mailbox from, to;
	struct submit_error se;
	const char *raw, *msg;
	size_t len, siglen, nsig;
	char *m;

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		m = many_unsubscribe(ns[k], 64, &len);
		front_open(&f);
		mailbox(&f, "app@example.com", &from);
		mailbox(&f, "someone@example.net", &to);
		assert_int_equal(
		    submit_raw(&f.sub, m, len, 1, &from, &to, 1, &se), 0);
		memset(&se, 0, sizeof(se));
		if (submit_seal(&f.sub, &se) == -1)
			fail_msg("%zu headers: sealed with %d: %s", ns[k],
			         se.kind, se.detail ? se.detail : "");
		raw = f.sub.sm.raw;
		assert_int_equal(strlen(raw), f.sub.sm.raw_len);
		msg = strstr(raw, "\r\nFrom: app@example.com\r\n");
		assert_non_null(msg);
		siglen = (size_t)(msg + 2 - raw);
		/* 250 names pass the room even with one signature */
		if (ns[k] == 250)
			assert_true(siglen > DKIM_GAP);
		/* the client's fields, then Date and Message-ID, then the
		 * body */
		assert_memory_equal(msg + 2, m, len - 8);
		assert_string_equal(raw + f.sub.sm.raw_len - 10,
		                    "\r\n\r\nbody\r\n");
		nsig = count(raw, siglen, "DKIM-Signature: v=1");
		assert_true(nsig >= 1);
		assert_int_equal(count(raw, siglen, "list-unsubscribe:"),
		                 ns[k] * nsig);
		f.o.n = 1;
		assert_int_equal(submit_queue(svc, &f.sub, on_done, &f.o), 0);
		pthread_mutex_lock(&f.o.mu);
		while (!f.o.done)
			pthread_cond_wait(&f.o.cv, &f.o.mu);
		pthread_mutex_unlock(&f.o.mu);
		assert_int_equal(f.o.rc, SUBMIT_OK);
		front_close(&f);
		free(m);
	}

	/* 4 MiB of them: the signatures do not fit in the 5 MiB */
	m = many_unsubscribe(4 * 1024 * 1024 / 64, 64, &len);
	front_open(&f);
	mailbox(&f, "app@example.com", &from);
	mailbox(&f, "someone@example.net", &to);
	assert_int_equal(submit_raw(&f.sub, m, len, 1, &from, &to, 1, &se), 0);
	assert_int_equal(submit_seal(&f.sub, &se), -1);
	assert_int_equal(se.kind, SUBMIT_TOO_BIG);
	front_close(&f);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_delivered),
	    cmocka_unit_test(test_sender_rules),
	    cmocka_unit_test(test_raw),
	    cmocka_unit_test(test_raw_refused),
	    cmocka_unit_test(test_raw_headers_policy),
	    cmocka_unit_test(test_raw_from_one_address),
	    cmocka_unit_test(test_raw_from_foreign),
	    cmocka_unit_test(test_raw_from_disabled),
	    cmocka_unit_test(test_raw_from_accepted),
	    cmocka_unit_test(test_raw_many_signed_headers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
