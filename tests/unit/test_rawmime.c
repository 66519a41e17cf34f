/*
 * test_rawmime: src/mail/rawmime.c — the header parser and every refusal,
 * then rawmime_prepare(): Bcc and Return-Path removal, Date/Message-ID
 * kept or added (pinned clock and random), LF → CRLF, the two
 * `raw_headers` policies (relaxed keeps every well-formed field byte for
 * byte; cloudflare applies the lists of SPEC §5) and the output cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/random.h"
#include "../../src/mail/rawmime.h"

#define NOW 1764137621 /* Wed, 26 Nov 2025 06:13:41 +0000 */
#define NOW_DATE "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"

static struct arena *a;
static char why[256];

static int
setup(void **state)
{
	a = arena_new(0);
	why[0] = '\0';
	return a == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	arena_free(a);
	return 0;
}

static int
parse(const char *m, struct rawmime *rm)
{
	why[0] = '\0';
	return rawmime_parse(a, m, strlen(m), rm, why, sizeof(why));
}

/* rawmime_prepare under policy on a string, out capped at max (0 =
 * none). */
static int
prep_as(enum rawmime_policy policy, const char *m, int lf_ok, size_t max,
        struct buf *out, struct rawmime_result *res)
{
	buf_init(out, max);
	why[0] = '\0';
	random_set_seed(7);
	return rawmime_prepare(a, m, strlen(m), lf_ok, policy, "example.com",
	                       NOW, out, res, why, sizeof(why));
}

/* The same under the default policy, relaxed. */
static int
prep(const char *m, int lf_ok, size_t max, struct buf *out,
     struct rawmime_result *res)
{
	return prep_as(RAWMIME_RELAXED, m, lf_ok, max, out, res);
}

/* The Message-ID rawmime_prepare makes with the seed prep() sets. */
static const char *
seeded_msgid(void)
{
	static char id[MSGID_MAX];

	random_set_seed(7);
	msgid_new(id, "example.com");
	return id;
}

static void
test_parse_ok(void **state)
{
	const char *m = "From: a@example.com\r\n"
	                "Subject: two\r\n \tlines\r\n"
	                "X-Empty:\r\n"
	                "\r\n"
	                "body\r\n";
	struct rawmime rm;

	assert_int_equal(parse(m, &rm), 0);
	assert_int_equal(rm.nf, 3);
	assert_int_equal(rm.f[0].name_len, 4);
	assert_memory_equal(rm.f[0].name, "From", 4);
	assert_int_equal(rm.f[0].value_len, strlen(" a@example.com"));
	assert_memory_equal(rm.f[0].value, " a@example.com", 14);
	assert_int_equal(rm.f[0].off, 0);
	assert_int_equal(rm.f[0].len, strlen("From: a@example.com\r\n"));
	assert_int_equal(rm.f[1].value_len, strlen(" two\r\n \tlines"));
	assert_memory_equal(rm.f[1].value, " two\r\n \tlines", 13);
	assert_int_equal(rm.f[1].len, strlen("Subject: two\r\n \tlines\r\n"));
	assert_int_equal(rm.f[2].value_len, 0);
	assert_string_equal(m + rm.body_off, "body\r\n");

	/* no body: the empty line is still needed (SPEC §4) */
	assert_int_equal(parse("From: a\r\n", &rm), -1);
	assert_non_null(strstr(why, "does not end with an empty line"));
	assert_int_equal(parse("From: a\r\n\r\n", &rm), 0);
	assert_int_equal(rm.body_off, 11);
	/* a body line that looks like a header is body */
	assert_int_equal(parse("From: a\r\n\r\nTo: b\r\n", &rm), 0);
	assert_int_equal(rm.nf, 1);
}

static void
parse_fails(const char *m, const char *reason)
{
	struct rawmime rm;

	assert_int_equal(parse(m, &rm), -1);
	if (strstr(why, reason) == NULL)
		fail_msg("'%s' not in '%s'", reason, why);
}

static void
test_parse_errors(void **state)
{
	char line[1100];

	/* the empty line between header and body is missing */
	parse_fails("From: a\r\nHello there\r\n", "line 2 is not a header");
	parse_fails("From: a\r\nSubject: x", "does not end");
	parse_fails(" From: a\r\n\r\n", "continuation");
	parse_fails("\tx\r\nFrom: a\r\n\r\n", "continuation");
	parse_fails("Fr om: a\r\n\r\n", "not a header");
	parse_fails("From\x01: a\r\n\r\n", "not a header");
	parse_fails("Fr\xc3\xa9: a\r\n\r\n", "not a header");
	parse_fails(": a\r\n\r\n", "empty field name");
	parse_fails("From: a\nTo: b\r\n\r\n", "bare CR or LF");
	parse_fails("From: a\rTo: b\r\n\r\n", "bare CR or LF");

	/* RFC 5322 §2.1.1: 998 octets is fine, 999 is not */
	memset(line, 'x', sizeof(line));
	memcpy(line, "X-Long: ", 8);
	memcpy(line + 998, "\r\n\r\n", 5);
	{
		struct rawmime rm;
		assert_int_equal(parse(line, &rm), 0);
	}
	memset(line, 'x', sizeof(line));
	memcpy(line, "From: a\r\nX-Long: ", 17);
	memcpy(line + 9 + 999, "\r\n\r\n", 5);
	parse_fails(line, "line 2 is longer than 998");
	/* also in a continuation line */
	memset(line, 'x', sizeof(line));
	memcpy(line, "From: a\r\n ", 10);
	memcpy(line + 9 + 999, "\r\n\r\n", 5);
	parse_fails(line, "longer than 998");

	{
		struct rawmime rm;
		assert_int_equal(rawmime_parse(a, "From: \0\r\n\r\n", 11, &rm,
		                               why, sizeof(why)),
		                 -1);
		assert_non_null(strstr(why, "NUL"));
	}
}

/* m refused under policy, with reason in why and nothing written. */
static void
refused_as(enum rawmime_policy policy, const char *m, const char *reason)
{
	struct rawmime_result res;
	struct buf out;

	assert_int_equal(prep_as(policy, m, 1, 0, &out, &res), -1);
	if (strstr(why, reason) == NULL)
		fail_msg("'%s' not in '%s'", reason, why);
	assert_int_equal(out.len, 0);
	assert_null(res.from);
	buf_clear(&out);
}

/* A message that is not one (SPEC §4): refused whatever the policy. */
static void
prep_refused(const char *m, const char *reason)
{
	refused_as(RAWMIME_RELAXED, m, reason);
	refused_as(RAWMIME_CLOUDFLARE, m, reason);
}

/* A field only `raw_headers cloudflare` refuses: the sentence is exactly
 * want; relaxed takes the same message. */
static void
cf_refused(const char *m, const char *want)
{
	struct rawmime_result res;
	struct buf out;

	refused_as(RAWMIME_CLOUDFLARE, m, want);
	assert_string_equal(why, want);
	if (prep(m, 1, 0, &out, &res) != 0)
		fail_msg("relaxed refused '%s': %s", m, why);
	buf_clear(&out);
}

static void
test_refusals(void **state)
{
	prep_refused("To: b@example.net\r\nSubject: s\r\n\r\nx",
	             "no 'From' header");
	prep_refused("", "does not end with an empty line");
	prep_refused("From: a@example.com\r\nFrom: b@example.com\r\n\r\nx",
	             "more than once");
	/* RFC 5322 §3.6: at most one of these, in any case */
	prep_refused("From: a@example.com\r\nTo: b@example.net\r\n"
	             "to: c@example.net\r\n\r\nx",
	             "Header 'To' appears more than once.");
	prep_refused("From: a@example.com\r\nSubject: a\r\nSubject: b\r\n"
	             "\r\nx",
	             "Header 'Subject' appears more than once.");
	prep_refused("From: a@example.com\r\nIn-Reply-To: <a@b>\r\n"
	             "in-reply-to: <c@d>\r\n\r\nx",
	             "Header 'In-Reply-To' appears more than once.");
	prep_refused("From: \r\nSubject: s\r\n\r\nx", "'From' has no address");
	prep_refused("From: not an address\r\n\r\nx", "'From' has no address");
	{
		/* a NUL in the body (strlen would stop at it) */
		struct rawmime_result res;
		struct buf out;
		static const char m[] = "From: a@example.com\r\n\r\nx\0y";

		buf_init(&out, 0);
		assert_int_equal(rawmime_prepare(a, m, sizeof(m) - 1, 1,
		                                 RAWMIME_RELAXED, "example.com",
		                                 NOW, &out, &res, why,
		                                 sizeof(why)),
		                 -1);
		assert_non_null(strstr(why, "NUL"));
		buf_clear(&out);
	}
	prep_refused("From: a@example.com\r\nX-Bad Name: v\r\n\r\n",
	             "not a header");

	/* SMTP (lf_ok = 0): bare line ends are refused, not mended */
	{
		struct rawmime_result res;
		struct buf out;

		assert_int_equal(prep("From: a@example.com\r\n\r\nx\ny\r\n", 0,
		                      0, &out, &res),
		                 -1);
		assert_non_null(strstr(why, "bare CR or LF"));
		buf_clear(&out);
	}
	/* no sender domain */
	{
		struct rawmime_result res;
		struct buf out;
		const char *m = "From: a@example.com\r\n\r\n";

		buf_init(&out, 0);
		assert_int_equal(rawmime_prepare(a, m, strlen(m), 1,
		                                 RAWMIME_RELAXED, NULL, NOW,
		                                 &out, &res, why, sizeof(why)),
		                 -1);
		buf_clear(&out);
	}
}

/* A From header prep() accepts (1) or refuses with "no address" (0). */
static int
from_ok(const char *from)
{
	struct rawmime_result res;
	struct buf out;
	char m[512];
	int rc;

	snprintf(m, sizeof(m), "From:%s\r\nTo: b@example.net\r\n\r\nx\r\n",
	         from);
	rc = prep(m, 1, 0, &out, &res);
	buf_clear(&out);
	if (rc == 0)
		return 1;
	if (strstr(why, "Header 'From' has no address: it needs a mailbox") ==
	    NULL)
		fail_msg("From:%s refused for another reason: %s", from, why);
	return 0;
}

/* RFC 5322 §3.6.2: From is a mailbox-list; every member has an
 * addr-spec, wherever '@' appears in comments or quoted names. */
static void
test_from(void **state)
{
	static const char *const good[] = {
	    " a@example.com",
	    "a@example.com",
	    " <a@example.com>",
	    " Alice <alice@example.com>",
	    " \"a@b\" <alice@example.com>",
	    " \"Doe, John\" <j.doe@example.com>",
	    " John Q. Public <jqp@example.com>",
	    " =?UTF-8?Q?Zo=C3=AB?= <z@example.com>",
	    " Zo\xc3\xab <z@example.com>",
	    " a@example.com (Alice)",
	    " (x@y) a@example.com",
	    " Alice (the (real) one) <alice@example.com> (home)",
	    " Alice < alice @ example . com >",
	    " \"a b\"@example.com",
	    " a@[192.0.2.1]",
	    " a@example.com, b@example.com",
	    " a@example.com,,b@example.com,",
	};
	static const char *const bad[] = {
	    " (x@y) nobody",
	    " nobody (x@y)",
	    " undisclosed:@;",
	    " undisclosed-recipients:;",
	    " Team: a@example.com;",
	    " \"a@example.com\"",
	    " Alice",
	    " (only a comment)",
	    " ,",
	    " a@example.com, nobody",
	    " <a@example.com",
	    " <>",
	    " a@",
	    " @example.com",
	    " a@example.com <b@example.com>",
	    " a..b@example.com",
	    " a@example.com (open",
	    " \"open@example.com",
	    " a@[1.2.3.4",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!from_ok(good[i]))
			fail_msg("From:%s refused: %s", good[i], why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (from_ok(bad[i]))
			fail_msg("From:%s accepted", bad[i]);
	/* the reason names the form */
	assert_int_equal(from_ok(" undisclosed:@;"), 0);
	assert_non_null(strstr(why, "a group"));
	assert_int_equal(from_ok(" (x@y) nobody"), 0);
	assert_non_null(strstr(why, "alone is not one"));
}

/*
 * The mailboxes of From and the first one's domain, as written but
 * without CFWS: the caller judges them (SPEC §4: exactly one, on a
 * sending domain; submit.c).
 */
static void
test_from_domain(void **state)
{
	static const struct {
		const char *from;
		size_t n;
		const char *domain;
	} cases[] = {
	    {" a@example.com", 1, "example.com"},
	    {" Alice <alice@Example.COM>", 1, "Example.COM"},
	    {" Alice < alice @ example . com >", 1, "example.com"},
	    {" a@(x@y.example) mail.example.com (home)", 1, "mail.example.com"},
	    {" (x@y.example) a@example.com", 1, "example.com"},
	    {" \"b@bank.example\" <a@example.com>", 1, "example.com"},
	    {" Zo\xc3\xab <z@B\xc3\xbc"
	     "cher.example>",
	     1,
	     "B\xc3\xbc"
	     "cher.example"},
	    {" a@[192.0.2.1]", 1, "[192.0.2.1]"},
	    {" a@example.com, b@bank.example", 2, "example.com"},
	    {" ,a@example.com,,b@example.com,", 2, "example.com"},
	    {" a@x.example, b@x.example, c@x.example", 3, "x.example"},
	};
	struct rawmime_result res;
	struct buf out;
	char m[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(m, sizeof(m), "From:%s\r\n\r\nx\r\n", cases[i].from);
		if (prep(m, 1, 0, &out, &res) != 0)
			fail_msg("From:%s refused: %s", cases[i].from, why);
		assert_int_equal(res.nfrom, cases[i].n);
		assert_non_null(res.from_domain);
		assert_string_equal(res.from_domain, cases[i].domain);
		buf_clear(&out);
	}
	/* folded over two lines */
	assert_int_equal(prep("From: Alice\r\n <alice@\r\n example.com>\r\n"
	                      "\r\nx\r\n",
	                      1, 0, &out, &res),
	                 0);
	assert_int_equal(res.nfrom, 1);
	assert_string_equal(res.from_domain, "example.com");
	buf_clear(&out);
	/* refused: nothing is left in res */
	assert_int_equal(prep("From: a@example.com\r\nX-Bad Name: v\r\n\r\n", 1,
	                      0, &out, &res),
	                 -1);
	assert_int_equal(res.nfrom, 0);
	assert_null(res.from_domain);
	buf_clear(&out);
}

/* Client Date and Message-ID kept: the message passes through as is. */
static void
test_keep(void **state)
{
	static const char m[] =
	    "From: Alice <alice@example.com>\r\n"
	    "To: bob@example.net\r\n"
	    "Subject: Hi\r\n"
	    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	    "Message-ID:\r\n "
	    "<20030712040037.46341.5F8J@football.example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\n"
	    "X-Mailer: test\r\n"
	    "\r\n"
	    "Hello\r\n";
	struct rawmime_result res;
	struct buf out;

	assert_int_equal(prep(m, 1, 0, &out, &res), 0);
	assert_string_equal(out.p, m);
	assert_string_equal(res.message_id,
	                    "<20030712040037.46341.5F8J@football.example.com>");
	assert_string_equal(res.subject, "Hi");
	assert_string_equal(res.from, "Alice <alice@example.com>");
	buf_clear(&out);

	/* other well-formed dates */
	assert_int_equal(prep("From: a@example.com\r\n"
	                      "Date: 1 Jan 2026 00:00 GMT\r\n"
	                      "Message-ID: <a@b>\r\n\r\n",
	                      1, 0, &out, &res),
	                 0);
	assert_null(strstr(out.p, NOW_DATE));
	assert_null(res.subject);
	buf_clear(&out);
	/* a leap day, a leap second, the day names of both centuries */
	static const char *const good[] = {
	    "Thu, 29 Feb 2024 23:59:60 -0800",
	    "Tue, 29 Feb 2000 00:00 +0000",
	    "Thu, 26 Nov 2026 09:05:29 +0000",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char mm[256];

		snprintf(mm, sizeof(mm),
		         "From: a@example.com\r\nDate: %s\r\n"
		         "Message-ID: <a@b>\r\n\r\n",
		         good[i]);
		assert_int_equal(prep(mm, 1, 0, &out, &res), 0);
		if (strcmp(out.p, mm) != 0)
			fail_msg("date '%s' not kept: '%s'", good[i], out.p);
		buf_clear(&out);
	}
}

/* Date and Message-ID added at the end of the header section. */
static void
test_add(void **state)
{
	struct rawmime_result res;
	struct buf out;
	char want[512];

	assert_int_equal(prep("From: a@example.com\r\nSubject: s\r\n\r\nhi", 1,
	                      0, &out, &res),
	                 0);
	snprintf(want, sizeof(want),
	         "From: a@example.com\r\nSubject: s\r\n" NOW_DATE
	         "Message-ID: %s\r\n\r\nhi\r\n",
	         seeded_msgid());
	assert_string_equal(out.p, want);
	assert_string_equal(res.message_id, seeded_msgid());
	assert_int_equal(strlen(res.message_id), 1 + 36 + 1 + 11 + 1);
	buf_clear(&out);

	/* an empty body */
	assert_int_equal(prep("From: a@example.com\r\n\r\n", 1, 0, &out, &res),
	                 0);
	snprintf(want, sizeof(want),
	         "From: a@example.com\r\n" NOW_DATE "Message-ID: %s\r\n\r\n",
	         seeded_msgid());
	assert_string_equal(out.p, want);
	buf_clear(&out);
}

/* Malformed or repeated Date / Message-ID are replaced. */
static void
test_replace(void **state)
{
	static const char *const bad_ids[] = {
	    "<no-at-sign>", "<a b@c>", "a@b", "<@b>",    "<a@>",
	    "<a@b@c>",      "<a@b> x", "",    "<a<x@b>",
	};
	static const char *const bad_dates[] = {
	    "yesterday",
	    "26 Nov 2025",
	    "Wed, 26 Nov 25 06:13 +0000",
	    "Xyz, 26 Nov 2025 06:13 +0000",
	    "26 Nov 2025 06:13:41 +00",
	    "26 Foo 2025 06:13:41 +0000",
	    "26 Nov 2025 06:13:41 +0000 junk",
	    /* the right shape, but no such time */
	    "Mon, 01 Jan 2024 25:00:00 +0100",
	    "Sat, 31 Feb 2024 10:00:00 +0100",
	    "Tue, 01 Jan 2024 10:00:00 +0100", /* a Monday */
	    "29 Feb 2023 10:00 +0000",
	    "29 Feb 1900 10:00 +0000",
	    "26 Nov 2025 06:60:00 +0000",
	    "26 Nov 2025 06:13:61 +0000",
	    "26 Nov 2025 06:13:41 +0075",
	    "0 Nov 2025 06:13:41 +0000",
	    "26 Nov 1899 06:13:41 +0000",
	};
	struct rawmime_result res;
	struct buf out;
	char m[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		snprintf(m, sizeof(m),
		         "Message-ID: %s\r\nFrom: a@example.com\r\n"
		         "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n\r\nx",
		         bad_ids[i]);
		assert_int_equal(prep(m, 1, 0, &out, &res), 0);
		snprintf(want, sizeof(want),
		         "From: a@example.com\r\n" NOW_DATE
		         "Message-ID: %s\r\n\r\nx\r\n",
		         seeded_msgid());
		if (strcmp(out.p, want) != 0)
			fail_msg("id '%s': got '%s'", bad_ids[i], out.p);
		buf_clear(&out);
	}
	for (i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
		snprintf(
		    m, sizeof(m),
		    "Date: %s\r\nFrom: a@example.com\r\nMessage-ID: <x@y>\r\n"
		    "\r\nx",
		    bad_dates[i]);
		assert_int_equal(prep(m, 1, 0, &out, &res), 0);
		if (strcmp(
		        out.p,
		        "From: a@example.com\r\nMessage-ID: <x@y>\r\n" NOW_DATE
		        "\r\nx\r\n") != 0)
			fail_msg("date '%s': got '%s'", bad_dates[i], out.p);
		buf_clear(&out);
	}
	/* two Message-IDs, even good ones: both go */
	assert_int_equal(
	    prep("From: a@example.com\r\nMessage-ID: <x@y>\r\n"
	         "Message-ID: <z@y>\r\nDate: 1 Jan 2026 00:00 UT\r\n"
	         "\r\n",
	         1, 0, &out, &res),
	    0);
	assert_null(strstr(out.p, "<x@y>"));
	assert_null(strstr(out.p, "<z@y>"));
	assert_string_equal(res.message_id, seeded_msgid());
	buf_clear(&out);
}

/* SPEC §4: every Bcc and Return-Path goes, with its continuation lines;
 * under cloudflare they are refused instead (SPEC §5: neither is one of
 * the fields that policy allows). */
static void
test_bcc(void **state)
{
	static const char m[] = "Bcc: x@example.net\r\n"
	                        "From: a@example.com\r\n"
	                        "BCC: y@example.net,\r\n"
	                        "\tz@example.net\r\n"
	                        "To: b@example.net\r\n"
	                        "bcc:\r\n"
	                        "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	                        "Message-ID: <k@example.com>\r\n"
	                        "\r\n"
	                        "Bcc: this is body\r\n";
	struct rawmime_result res;
	struct buf out;

	assert_int_equal(prep(m, 1, 0, &out, &res), 0);
	assert_string_equal(out.p, "From: a@example.com\r\n"
	                           "To: b@example.net\r\n"
	                           "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	                           "Message-ID: <k@example.com>\r\n"
	                           "\r\n"
	                           "Bcc: this is body\r\n");
	buf_clear(&out);

	assert_int_equal(prep("Return-Path: <bounce@example.com>\r\n"
	                      "From: a@example.com\r\n"
	                      "return-path:\r\n <x@example.net>\r\n"
	                      "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	                      "Message-ID: <k@example.com>\r\n"
	                      "RETURN-PATH: <>\r\n"
	                      "\r\n"
	                      "x\r\n",
	                      1, 0, &out, &res),
	                 0);
	assert_string_equal(out.p, "From: a@example.com\r\n"
	                           "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	                           "Message-ID: <k@example.com>\r\n"
	                           "\r\n"
	                           "x\r\n");
	buf_clear(&out);

	cf_refused("From: a@example.com\r\nBcc: x@example.net\r\n\r\nx",
	           "Header 'Bcc' is not allowed. Blind copies go only to the "
	           "envelope recipients.");
	cf_refused("From: a@example.com\r\nreturn-path: <a@b>\r\n\r\nx",
	           "Header 'Return-Path' is not allowed. It is set by the "
	           "server.");
}

/*
 * SPEC §5 relaxed (the default): a message as mail clients and relays
 * write it passes through byte for byte, the fields no list names
 * included, and so do values the cloudflare rules would refuse.
 */
static void
test_relaxed_keeps(void **state)
{
	static const char outlook[] =
	    "Received: from mail.example.com (mail.example.com [192.0.2.7])\r\n"
	    "\tby relay.example.com (Postfix) with ESMTPSA id 4B2C91234\r\n"
	    "\tfor <bob@example.net>; Wed, 26 Nov 2025 06:13:40 +0000 (UTC)\r\n"
	    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
	    "\td=example.com; s=client; t=1764137620;\r\n"
	    "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
	    "\th=From:To:Subject; b=dGVzdA==\r\n"
	    "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.com; s=arc; "
	    "b=x\r\n"
	    "From: Alice <alice@example.com>\r\n"
	    "To: Bob <bob@example.net>\r\n"
	    "Subject: Quarterly numbers\r\n"
	    "Thread-Topic: Quarterly numbers\r\n"
	    "Thread-Index: AdxeTmXhGk3bq0ZkT8a3QXJ5dJ0w3Q==\r\n"
	    "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	    "Message-ID:\r\n "
	    "<DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.example>\r\n"
	    "Accept-Language: en-US\r\n"
	    "X-MS-Has-Attach:\r\n"
	    "x-ms-exchange-organization-scl: -1\r\n"
	    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
	    "Gecko/20100101 Thunderbird/128.5.0\r\n"
	    "Sender: Alice <alice@example.com>\r\n"
	    "Feedback-ID: 1:2:3\r\n"
	    "Precedence: urgent\r\n"
	    "List-Unsubscribe: <http://example.com/u>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	    "X-Weird.Name: v\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=\"utf-8\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Hello\r\n";
	struct rawmime_result res;
	struct buf out;
	char m[4096];
	int i, n;

	assert_int_equal(prep(outlook, 1, 0, &out, &res), 0);
	assert_string_equal(out.p, outlook);
	assert_string_equal(
	    res.message_id,
	    "<DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.example>");
	buf_clear(&out);
	/* the same without Date and Message-ID: pigeon's go after the rest */
	assert_int_equal(prep("User-Agent: x\r\nFrom: a@example.com\r\n"
	                      "Received: by y\r\n\r\nz",
	                      1, 0, &out, &res),
	                 0);
	snprintf(m, sizeof(m),
	         "User-Agent: x\r\nFrom: a@example.com\r\nReceived: by "
	         "y\r\n" NOW_DATE "Message-ID: %s\r\n\r\nz\r\n",
	         seeded_msgid());
	assert_string_equal(out.p, m);
	buf_clear(&out);
	/* no cap of 20 on the allowlisted ones */
	n = snprintf(m, sizeof(m), "From: a@example.com\r\n");
	for (i = 0; i < 30; i++)
		n += snprintf(m + n, sizeof(m) - (size_t)n, "Keywords: k%d\r\n",
		              i);
	snprintf(m + n, sizeof(m) - (size_t)n, "\r\n");
	assert_int_equal(prep(m, 1, 0, &out, &res), 0);
	buf_clear(&out);
	/* what no policy lets through: a malformed field, From rules */
	prep_refused("From: a@example.com\r\nUser Agent: x\r\n\r\n",
	             "not a header");
	prep_refused("From: Team: a@example.com;\r\n\r\n", "a group");
}

/*
 * SPEC §5 cloudflare: X- headers, the allowlist with its value rules and
 * its cap, and the message's own fields (From, To, Cc, Subject, Reply-To,
 * Date, Message-ID, MIME-Version, Content-*, Received); every other field
 * is refused, the first one named.
 */
static void
test_cloudflare(void **state)
{
	static const char ok[] =
	    "Received: from mail.example.com by relay.example.com; Wed, 26 "
	    "Nov 2025 06:13:40 +0000\r\n"
	    "From: Alice <alice@example.com>\r\n"
	    "To: bob@example.net\r\n"
	    "Cc: carol@example.net\r\n"
	    "Reply-To: replies@example.com\r\n"
	    "Subject: Hi\r\n"
	    "Date: Wed, 26 Nov 2025 06:13:41 +0000\r\n"
	    "Message-ID: <k@example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "Content-Disposition: inline\r\n"
	    "X-Mailer: test 1.0\r\n"
	    "In-Reply-To: <p@example.com>\r\n"
	    "List-Unsubscribe: <https://example.com/u>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	    "Precedence: bulk\r\n"
	    "\r\n"
	    "x\r\n";
	static const struct {
		const char *field, *want;
	} bad[] = {
	    {"DKIM-Signature: v=1; d=example.com",
	     "Header 'DKIM-Signature' is not allowed. It is set by the "
	     "server."},
	    {"ARC-Seal: i=1",
	     "Header 'ARC-Seal' is not allowed. It is set by the server."},
	    {"arc-authentication-results: i=1; x",
	     "Header 'arc-authentication-results' is not allowed. It is set "
	     "by the server."},
	    {"Feedback-ID: 1:2:3",
	     "Header 'Feedback-ID' is not allowed. It is set by the server."},
	    {"TLS-Required: No",
	     "Header 'TLS-Required' is not allowed. It is set by the server."},
	    {"CFBL-Address: fbl@example.com",
	     "Header 'CFBL-Address' is not allowed. It is set by the server."},
	    {"User-Agent: Thunderbird",
	     "Header 'User-Agent' is not allowed. Use an X- header, or an "
	     "allowlisted one such as In-Reply-To, References or "
	     "List-Unsubscribe."},
	    {"Thread-Topic: Hi",
	     "Header 'Thread-Topic' is not allowed. Use an X- header, or an "
	     "allowlisted one such as In-Reply-To, References or "
	     "List-Unsubscribe."},
	    {"Sender: a@example.com",
	     "Header 'Sender' is not allowed. Use an X- header, or an "
	     "allowlisted one such as In-Reply-To, References or "
	     "List-Unsubscribe."},
	    {"X-Weird.Name: v",
	     "Header 'X-Weird.Name' is not allowed. X- header names may only "
	     "use letters, digits, '_' and '-'."},
	    {"Precedence: urgent",
	     "Header 'Precedence' must be one of bulk, list, junk."},
	    {"List-Unsubscribe: <http://example.com/u>",
	     NULL /* the rule's own sentence */},
	};
	struct rawmime_result res;
	struct buf out;
	char m[4096];
	size_t i;
	int n, k;

	assert_int_equal(prep_as(RAWMIME_CLOUDFLARE, ok, 1, 0, &out, &res), 0);
	assert_string_equal(out.p, ok);
	buf_clear(&out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(m, sizeof(m),
		         "From: a@example.com\r\n%s\r\nTo: b@example.net\r\n"
		         "\r\nx",
		         bad[i].field);
		if (bad[i].want != NULL) {
			cf_refused(m, bad[i].want);
			continue;
		}
		refused_as(RAWMIME_CLOUDFLARE, m, "'List-Unsubscribe'");
		assert_int_equal(prep(m, 1, 0, &out, &res), 0);
		buf_clear(&out);
	}
	/* RFC 8058: one-click needs an https List-Unsubscribe */
	cf_refused("From: a@example.com\r\n"
	           "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	           "\r\n",
	           "Header 'List-Unsubscribe-Post' needs a List-Unsubscribe "
	           "header with an https URI.");
	/* the first refused field is the one named */
	cf_refused("From: a@example.com\r\nX-Ok: 1\r\nUser-Agent: x\r\n"
	           "DKIM-Signature: v=1\r\n\r\n",
	           "Header 'User-Agent' is not allowed. Use an X- header, or "
	           "an allowlisted one such as In-Reply-To, References or "
	           "List-Unsubscribe.");
	/* 20 allowlisted fields, not 21; X- ones do not count */
	for (k = 20; k <= 21; k++) {
		n = snprintf(m, sizeof(m), "From: a@example.com\r\n");
		for (i = 0; i < 30; i++)
			n += snprintf(m + n, sizeof(m) - (size_t)n,
			              "X-N%zu: v\r\n", i);
		for (i = 0; i < (size_t)k; i++)
			n += snprintf(m + n, sizeof(m) - (size_t)n,
			              "Keywords: k%zu\r\n", i);
		snprintf(m + n, sizeof(m) - (size_t)n, "\r\nx");
		if (k == 20) {
			assert_int_equal(
			    prep_as(RAWMIME_CLOUDFLARE, m, 1, 0, &out, &res),
			    0);
			buf_clear(&out);
		} else
			cf_refused(m, "Header 'Keywords' is not allowed. At "
			              "most 20 allowlisted headers may be set "
			              "per message.");
	}
	/* the fields of the message, in any case, are not counted */
	assert_int_equal(prep_as(RAWMIME_CLOUDFLARE,
	                         "from: a@example.com\r\nTO: b@example.net\r\n"
	                         "received: by x\r\nRECEIVED: by y\r\n"
	                         "content-id: <c@d>\r\n\r\n",
	                         1, 0, &out, &res),
	                 0);
	buf_clear(&out);
}

/* send_raw: bare LF and lone CR become CRLF, CRLF stays. */
static void
test_lf(void **state)
{
	struct rawmime_result res;
	struct buf out;

	assert_int_equal(prep("From: a@example.com\nSubject: s\n"
	                      " folded\nMessage-ID: <k@x>\nDate: 1 Jan 2026 "
	                      "00:00 UT\n\nline1\nline2\rline3\r\n\n",
	                      1, 0, &out, &res),
	                 0);
	assert_string_equal(
	    out.p, "From: a@example.com\r\nSubject: s\r\n folded\r\n"
	           "Message-ID: <k@x>\r\nDate: 1 Jan 2026 00:00 UT\r\n\r\n"
	           "line1\r\nline2\r\nline3\r\n\r\n");
	assert_string_equal(res.subject, "s folded");
	buf_clear(&out);
}

/* The output cap: -2, and out is left as it was. */
static void
test_cap(void **state)
{
	static const char m[] = "From: a@example.com\r\nDate: 1 Jan 2026 "
	                        "00:00 UT\r\nMessage-ID: <k@x>\r\n\r\n"
	                        "0123456789\r\n";
	struct rawmime_result res;
	struct buf out;

	assert_int_equal(prep(m, 1, strlen(m), &out, &res), 0);
	assert_string_equal(out.p, m);
	buf_clear(&out);
	assert_int_equal(prep(m, 1, strlen(m) - 1, &out, &res), -2);
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	/* the added headers count too */
	assert_int_equal(prep("From: a@example.com\r\n\r\n", 1, 40, &out, &res),
	                 -2);
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	/* appends after what out holds */
	buf_init(&out, 0);
	buf_puts(&out, "HEAD");
	random_set_seed(7);
	assert_int_equal(rawmime_prepare(a, m, strlen(m), 1, RAWMIME_RELAXED,
	                                 "example.com", NOW, &out, &res, why,
	                                 sizeof(why)),
	                 0);
	assert_memory_equal(out.p, "HEADFrom:", 9);
	buf_clear(&out);
}

/* RFC 5322 §2.1: a last body line without CRLF gets one; the cap counts
 * it. */
static void
test_final_crlf(void **state)
{
	static const char head[] = "From: a@example.com\r\nDate: 1 Jan 2026 "
	                           "00:00 UT\r\nMessage-ID: <k@x>\r\n\r\n";
	static const struct {
		const char *body, *want;
		int lf_ok;
	} t[] = {
	    {"x", "x\r\n", 1},
	    {"x", "x\r\n", 0},
	    {"line1\r\nline2", "line1\r\nline2\r\n", 1},
	    {"line1\nline2", "line1\r\nline2\r\n", 1},
	    {"x\r\n", "x\r\n", 1},
	    {"x\n", "x\r\n", 1},
	    {"x\r", "x\r\n", 1},
	    {"x\r\n\r\n", "x\r\n\r\n", 1},
	    {"", "", 1},
	};
	struct rawmime_result res;
	struct buf out;
	char m[256], want[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(m, sizeof(m), "%s%s", head, t[i].body);
		snprintf(want, sizeof(want), "%s%s", head, t[i].want);
		assert_int_equal(prep(m, t[i].lf_ok, 0, &out, &res), 0);
		if (strcmp(out.p, want) != 0)
			fail_msg("body '%s': got '%s'", t[i].body, out.p);
		buf_clear(&out);
	}
	snprintf(m, sizeof(m), "%sx", head);
	assert_int_equal(prep(m, 1, strlen(m) + 1, &out, &res), -2);
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	assert_int_equal(prep(m, 1, strlen(m) + 2, &out, &res), 0);
	buf_clear(&out);
}

/* RFC 5322 §2.1.1: a body line over 998 octets is refused, not sent on to
 * be rewrapped (and its signature broken) by a relay. */
static void
test_long_body_line(void **state)
{
	struct rawmime_result res;
	struct buf out;
	char m[2200];
	size_t h;

	h = (size_t)snprintf(m, sizeof(m), "From: a@example.com\r\n\r\nok\r\n");
	memset(m + h, 'x', 998);
	strcpy(m + h + 998, "\r\nend");
	assert_int_equal(prep(m, 1, 0, &out, &res), 0);
	buf_clear(&out);
	/* the last line, without a line break */
	memset(m + h, 'x', 999);
	m[h + 999] = '\0';
	assert_int_equal(prep(m, 1, 0, &out, &res), -1);
	assert_string_equal(why, "Line 2 of the body is 999 octets long; lines "
	                         "may be at most 998 (RFC 5322 §2.1.1). Encode "
	                         "the part as quoted-printable or base64.");
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	/* LF-only input: counted after the change to CRLF */
	strcpy(m + h + 999, "\nend\n");
	assert_int_equal(prep(m, 1, 0, &out, &res), -1);
	assert_non_null(strstr(why, "Line 2 of the body is 999 octets"));
	buf_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_domain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bcc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relaxed_keeps, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cloudflare, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_final_crlf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_body_line, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
