/*
 * test_headers: src/mail/headers.c — each class of row, each value rule,
 * the counting and size caps of SPEC §5, and what HDR_RAW (raw_headers
 * cloudflare) changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/mail/headers.h"

static char why[256];
static const char *canon;

/* Checks one header (strings) in mode m against state st. */
static int
chk(enum hdr_mode m, struct hdr_state *st, const char *n, const char *v)
{
	why[0] = '\0';
	canon = "unset";
	return headers_check(m, n, strlen(n), v, strlen(v), st, &canon, why,
	                     sizeof(why));
}

static int
api(const char *n, const char *v)
{
	struct hdr_state st = {0};

	return chk(HDR_API, &st, n, v);
}

static int
raw(const char *n, const char *v)
{
	struct hdr_state st = {0};

	return chk(HDR_RAW, &st, n, v);
}

static void
test_x_headers(void **state)
{
	char name[200];

	assert_int_equal(api("X-Campaign", "spring"), 0);
	assert_null(canon);
	assert_int_equal(api("x-my_tag-2", "1"), 0);
	assert_null(canon);
	assert_int_equal(api("X-", "v"), -1);
	assert_int_equal(api("X-Foo.Bar", "v"), -1);
	assert_string_equal(why, "Header 'X-Foo.Bar' is not allowed. X- header "
	                         "names may only use letters, digits, '_' and "
	                         "'-'.");
	assert_int_equal(api("X-Foo:Bar", "v"), -1);
	assert_int_equal(api("X-Foo Bar", "v"), -1);
	assert_int_equal(api("X-Fö", "v"), -1);
	/* ≤ 100 characters. */
	memset(name, 'a', sizeof(name));
	memcpy(name, "X-", 2);
	name[100] = '\0';
	assert_int_equal(api(name, "v"), 0);
	name[100] = 'a';
	name[101] = '\0';
	assert_int_equal(api(name, "v"), -1);
	assert_non_null(strstr(why, "limited to 100 characters"));
	/* The name limit holds for raw messages too (SPEC §5). */
	assert_int_equal(raw(name, "v"), -1);
	assert_non_null(strstr(why, "limited to 100 characters"));
}

static void
test_allowlisted(void **state)
{
	static const char *names[] = {"In-Reply-To",
	                              "References",
	                              "List-Id",
	                              "List-Archive",
	                              "List-Help",
	                              "List-Owner",
	                              "List-Post",
	                              "List-Subscribe",
	                              "Content-Language",
	                              "Keywords",
	                              "Comments",
	                              "Organization",
	                              "Require-Recipient-Valid-Since",
	                              "Expires",
	                              "Reply-By",
	                              "Archived-At"};
	char lower[64];
	size_t i, j;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(api(names[i], "anything at all"), 0);
		assert_string_equal(canon, names[i]);
		/* Names match case-insensitively; canon is the SPEC's. */
		for (j = 0; names[i][j]; j++)
			lower[j] = (char)(names[i][j] | 0x20);
		lower[j] = '\0';
		assert_int_equal(api(lower, "x"), 0);
		assert_string_equal(canon, names[i]);
	}
}

static void
test_set_by_server(void **state)
{
	static const char *names[] = {"Date",
	                              "Message-ID",
	                              "MIME-Version",
	                              "Content-Type",
	                              "Content-Transfer-Encoding",
	                              "DKIM-Signature",
	                              "Return-Path",
	                              "Received",
	                              "Feedback-ID",
	                              "TLS-Required",
	                              "TLS-Report-Domain",
	                              "TLS-Report-Submitter",
	                              "CFBL-Address",
	                              "CFBL-Feedback-ID"};
	char want[200];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(api(names[i], "x"), -1);
		snprintf(want, sizeof(want),
		         "Header '%s' is not allowed. It is set by the server.",
		         names[i]);
		assert_string_equal(why, want);
	}
	assert_int_equal(api("date", "x"), -1);
	assert_string_equal(
	    why, "Header 'Date' is not allowed. It is set by the server.");
	assert_int_equal(api("ARC-Seal", "x"), -1);
	assert_string_equal(
	    why, "Header 'ARC-Seal' is not allowed. It is set by the server.");
	assert_int_equal(api("arc-message-signature", "x"), -1);
	assert_non_null(strstr(why, "set by the server"));
}

static void
test_api_fields(void **state)
{
	static const char *rows[][2] = {
	    {"From", "from"}, {"To", "to"},           {"Cc", "cc"},
	    {"Bcc", "bcc"},   {"Subject", "subject"}, {"reply-to", "reply_to"}};
	char want[200];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(api(rows[i][0], "x@example.com"), -1);
		snprintf(want, sizeof(want), "Use the '%s' field.", rows[i][1]);
		assert_non_null(strstr(why, want));
	}
	assert_int_equal(api("To", "x"), -1);
	assert_string_equal(why,
	                    "Header 'To' is not allowed. Use the 'to' field.");
}

static void
test_unknown(void **state)
{
	assert_int_equal(api("Foo", "x"), -1);
	assert_string_equal(why,
	                    "Header 'Foo' is not allowed. Use an X- "
	                    "header, or an allowlisted one such as "
	                    "In-Reply-To, References or List-Unsubscribe.");
	assert_int_equal(api("Sender", "x"), -1);
	assert_int_equal(api("Content-Disposition", "x"), -1);
	assert_int_equal(api("", "x"), -1);
	assert_int_equal(api("Bad Name", "x"), -1);
	assert_non_null(strstr(why, "not a valid header name"));
	assert_int_equal(api("Bad\r\nName", "x"), -1);
	assert_null(strchr(why, '\r'));
	assert_null(strchr(why, '\n'));
}

static void
test_value_rules(void **state)
{
	static const struct {
		const char *name, *value;
		int rc;
	} t[] = {
	    {"Precedence", "bulk", 0},
	    {"Precedence", "LIST", 0},
	    {"Precedence", " junk ", 0},
	    {"Precedence", "first-class", -1},
	    {"Precedence", "bulkx", -1},
	    {"Auto-Submitted", "auto-generated", 0},
	    {"Auto-Submitted", "auto-replied", 0},
	    {"Auto-Submitted", "auto-notified", 0},
	    {"Auto-Submitted", "no", -1},
	    {"Importance", "high", 0},
	    {"Importance", "normal", 0},
	    {"Importance", "low", 0},
	    {"Importance", "urgent", -1},
	    {"Priority", "normal", 0},
	    {"Priority", "non-urgent", 0},
	    {"Priority", "urgent", 0},
	    {"Priority", "high", -1},
	    {"Sensitivity", "personal", 0},
	    {"Sensitivity", "private", 0},
	    {"Sensitivity", "company-confidential", 0},
	    {"Sensitivity", "secret", -1},
	    {"List-Unsubscribe", "<https://example.com/u?id=1>", 0},
	    {"List-Unsubscribe", "<mailto:u@example.com?subject=unsub>", 0},
	    {"List-Unsubscribe",
	     "<mailto:u@example.com>, <https://example.com/u>", 0},
	    {"List-Unsubscribe", "<HTTPS://example.com/u>,<mailto:a@b.c>", 0},
	    {"List-Unsubscribe", "<http://example.com/u>", -1},
	    {"List-Unsubscribe", "<mailto:a@b.c>, <http://example.com/u>", -1},
	    {"List-Unsubscribe", "https://example.com/u", -1},
	    {"List-Unsubscribe", "<ftp://example.com/u>", -1},
	    {"List-Unsubscribe", "<https://example.com/u", -1},
	    {"List-Unsubscribe", "<https://>", -1},
	    {"List-Unsubscribe", "<https://ex ample.com>", -1},
	    {"List-Unsubscribe", "<https://example.com/u>,", -1},
	    {"List-Unsubscribe", "<https://example.com/u> x", -1},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click", 0},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=one-click", -1},
	    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click; x", -1},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = api(t[i].name, t[i].value);
		if (rc != t[i].rc)
			fail_msg("%s: %s: got %d (%s)", t[i].name, t[i].value,
			         rc, why);
		if (rc == -1 && strncmp(why, "Header '", 8) != 0)
			fail_msg("why does not name the header: %s", why);
		if (rc == -1)
			assert_non_null(strstr(why, t[i].name));
	}
	assert_int_equal(api("Precedence", "x"), -1);
	assert_string_equal(
	    why, "Header 'Precedence' must be one of bulk, list, junk.");
	assert_int_equal(api("List-Unsubscribe", "<http://example.com/u>"), -1);
	assert_non_null(strstr(why, "http:"));
}

static void
test_unsubscribe_post(void **state)
{
	struct hdr_state st = {0};

	/* Post alone: refused at the end. */
	assert_int_equal(chk(HDR_API, &st, "List-Unsubscribe-Post",
	                     "List-Unsubscribe=One-Click"),
	                 0);
	assert_int_equal(headers_finish(HDR_API, &st, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "List-Unsubscribe-Post"));
	assert_non_null(strstr(why, "https"));
	/* With a mailto-only List-Unsubscribe: still refused. */
	assert_int_equal(
	    chk(HDR_API, &st, "List-Unsubscribe", "<mailto:u@example.com>"), 0);
	assert_int_equal(headers_finish(HDR_API, &st, why, sizeof(why)), -1);
	/* A refused List-Unsubscribe leaves no trace in the state. */
	assert_int_equal(chk(HDR_API, &st, "List-Unsubscribe",
	                     "<https://example.com/u>, <http://x.example/>"),
	                 -1);
	assert_int_equal(st.lu_https, 0);
	assert_int_equal(headers_finish(HDR_API, &st, why, sizeof(why)), -1);
	/* With an https one: fine. */
	assert_int_equal(
	    chk(HDR_API, &st, "List-Unsubscribe", "<https://example.com/u>"),
	    0);
	assert_int_equal(headers_finish(HDR_API, &st, why, sizeof(why)), 0);
	/* Nothing at all is fine too. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(headers_finish(HDR_API, &st, why, sizeof(why)), 0);
	/* The same rule holds in RAW mode. */
	assert_int_equal(chk(HDR_RAW, &st, "List-Unsubscribe-Post",
	                     "List-Unsubscribe=One-Click"),
	                 0);
	assert_int_equal(headers_finish(HDR_RAW, &st, why, sizeof(why)), -1);
}

static void
test_values(void **state)
{
	char v[3000];
	struct hdr_state st = {0};

	assert_int_equal(api("X-A", ""), -1);
	assert_string_equal(why, "Header 'X-A' has an empty value.");
	assert_int_equal(api("X-A", "  "), -1);
	assert_int_equal(api("X-A", "a\r\nBcc: x@example.com"), -1);
	assert_string_equal(why,
	                    "Header 'X-A' has a value with CR, LF or NUL.");
	assert_int_equal(api("X-A", "a\nb"), -1);
	assert_int_equal(api("X-A", "a\rb"), -1);
	assert_int_equal(headers_check(HDR_API, "X-A", 3, "a\0b", 3, &st,
	                               &canon, why, sizeof(why)),
	                 -1);
	assert_int_equal(api("X-A", "caf\xe9"), -1);
	assert_string_equal(
	    why, "Header 'X-A' has a value that is not valid UTF-8.");
	assert_int_equal(api("X-A", "café ✓"), 0);
	/* ≤ 2048 bytes. */
	memset(v, 'v', sizeof(v));
	v[2048] = '\0';
	assert_int_equal(api("X-A", v), 0);
	v[2048] = 'v';
	v[2049] = '\0';
	assert_int_equal(api("X-A", v), -1);
	assert_string_equal(why,
	                    "Header 'X-A' has a value longer than 2048 bytes.");
}

static void
test_twenty_allowlisted(void **state)
{
	struct hdr_state st = {0};
	int i;

	for (i = 0; i < 20; i++)
		assert_int_equal(chk(HDR_API, &st, "Keywords", "a"), 0);
	assert_int_equal(st.allowlisted, 20);
	/* X- headers do not count. */
	assert_int_equal(chk(HDR_API, &st, "X-Other", "a"), 0);
	assert_int_equal(chk(HDR_API, &st, "Comments", "a"), -1);
	assert_non_null(strstr(why, "Comments"));
	assert_non_null(strstr(why, "20"));
	assert_int_equal(st.allowlisted, 20);
	/* RAW mode (raw_headers cloudflare) has the same cap. */
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 20; i++)
		assert_int_equal(chk(HDR_RAW, &st, "Keywords", "a"), 0);
	assert_int_equal(chk(HDR_RAW, &st, "X-Other", "a"), 0);
	assert_int_equal(chk(HDR_RAW, &st, "To", "a@b"), 0);
	assert_int_equal(chk(HDR_RAW, &st, "Comments", "a"), -1);
	assert_string_equal(why, "Header 'Comments' is not allowed. At most 20 "
	                         "allowlisted headers may be set per message.");
	assert_int_equal(st.allowlisted, 20);
}

static void
test_total_16k(void **state)
{
	struct hdr_state st = {0};
	char v[2049];
	size_t used;
	int i;

	/* 7 × (5 + 2 + 2048 + 2) = 14399 */
	memset(v, 'v', 2048);
	v[2048] = '\0';
	for (i = 0; i < 7; i++) {
		char n[8];
		snprintf(n, sizeof(n), "X-N%02d", i);
		assert_int_equal(chk(HDR_API, &st, n, v), 0);
	}
	assert_int_equal(st.total, 7 * 2057);
	used = st.total;
	/* Fill to exactly 16384: "X-Last" + 2 + len + 2. */
	v[16384 - used - 6 - 4] = '\0';
	assert_int_equal(chk(HDR_API, &st, "X-Last", v), 0);
	assert_int_equal(st.total, 16384);
	assert_int_equal(chk(HDR_API, &st, "X-More", "a"), -1);
	assert_non_null(strstr(why, "16384"));
	assert_non_null(strstr(why, "X-More"));
	assert_int_equal(st.total, 16384);

	/* One byte over on the last header. */
	memset(&st, 0, sizeof(st));
	memset(v, 'v', 2048);
	for (i = 0; i < 7; i++) {
		char n[8];
		snprintf(n, sizeof(n), "X-N%02d", i);
		assert_int_equal(chk(HDR_API, &st, n, v), 0);
	}
	v[16384 - used - 6 - 4 + 1] = '\0';
	assert_int_equal(chk(HDR_API, &st, "X-Last", v), -1);
}

static void
test_raw_mode(void **state)
{
	static const char *ok[] = {"From",
	                           "To",
	                           "Cc",
	                           "Subject",
	                           "Reply-To",
	                           "Date",
	                           "Message-ID",
	                           "MIME-Version",
	                           "Content-Type",
	                           "Content-Transfer-Encoding",
	                           "Content-Disposition",
	                           "Content-ID",
	                           "content-description",
	                           "X-Mailer",
	                           "In-Reply-To",
	                           "References",
	                           "List-Id",
	                           "Received"};
	static const char *refused[] = {"Bcc",
	                                "Return-Path",
	                                "DKIM-Signature",
	                                "ARC-Seal",
	                                "ARC-Authentication-Results",
	                                "Feedback-ID",
	                                "TLS-Required",
	                                "CFBL-Address",
	                                "User-Agent",
	                                "Sender",
	                                "Content-"};
	char big[5000];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (raw(ok[i], "value") != 0)
			fail_msg("%s refused: %s", ok[i], why);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (raw(refused[i], "value") != -1)
			fail_msg("%s accepted", refused[i]);
	assert_int_equal(raw("Return-Path", "<a@b>"), -1);
	assert_string_equal(
	    why,
	    "Header 'Return-Path' is not allowed. It is set by the server.");
	/* no field to use in a raw message: the envelope instead */
	assert_int_equal(raw("bcc", "a@b"), -1);
	assert_string_equal(why, "Header 'Bcc' is not allowed. Blind copies go "
	                         "only to the envelope recipients.");
	assert_int_equal(api("Bcc", "a@b"), -1);
	assert_string_equal(
	    why, "Header 'Bcc' is not allowed. Use the 'bcc' field.");
	/* Canonical names for the rows, NULL for unknown Content-*. */
	assert_int_equal(raw("message-id", "<a@b>"), 0);
	assert_string_equal(canon, "Message-ID");
	assert_int_equal(raw("subject", "hi"), 0);
	assert_string_equal(canon, "Subject");
	assert_int_equal(raw("Content-Disposition", "inline"), 0);
	assert_null(canon);
	assert_int_equal(raw("Content-Language", "en"), 0);
	assert_string_equal(canon, "Content-Language");
	/* Value rules still apply. */
	assert_int_equal(raw("Precedence", "bulk"), 0);
	assert_int_equal(raw("Precedence", "first-class"), -1);
	assert_int_equal(raw("List-Unsubscribe", "<http://x.example/>"), -1);
	/* Unfolded values may keep whitespace; no size or UTF-8 rules. */
	assert_int_equal(raw("Importance", "\r\n high"), 0);
	memset(big, 'b', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(raw("X-Big", big), 0);
	assert_int_equal(raw("Subject", ""), 0);
	assert_int_equal(raw("X-Latin1", "caf\xe9"), 0);
	/* NUL is never allowed. */
	{
		struct hdr_state st = {0};
		assert_int_equal(headers_check(HDR_RAW, "X-A", 3, "a\0b", 3,
		                               &st, &canon, why, sizeof(why)),
		                 -1);
		assert_string_equal(
		    why, "Header 'X-A' has a value with a NUL byte.");
	}
}

/* A short why buffer is truncated, never overrun. */
static void
test_short_why(void **state)
{
	struct hdr_state st = {0};
	char small[8];

	memset(small, 'Z', sizeof(small));
	assert_int_equal(
	    headers_check(HDR_API, "Date", 4, "x", 1, &st, &canon, small, 5),
	    -1);
	assert_int_equal(small[4], '\0');
	assert_int_equal(small[5], 'Z');
	assert_int_equal(
	    headers_check(HDR_API, "Date", 4, "x", 1, &st, &canon, NULL, 0),
	    -1);
}

/* Structured headers are written as given (RFC 2047 §5 keeps
 * encoded-words out of msg-ids and URIs): ASCII only, foldable. */
static void
test_structured(void **state)
{
	char big[1000];

	assert_int_equal(api("In-Reply-To", "<a@example.com>"), 0);
	assert_true(headers_structured(canon));
	assert_int_equal(api("In-Reply-To", "<\xc3\xa9@example.com>"), -1);
	assert_string_equal(why, "Header 'In-Reply-To' has a non-ASCII value. "
	                         "It is a structured header and cannot be "
	                         "encoded; encode a display name as an RFC "
	                         "2047 encoded-word.");
	assert_int_equal(api("List-Id", "Zo\xc3\xab <list.example.com>"), -1);
	assert_int_equal(api("Precedence", " bulk "), 0);
	/* a word that could not fold under 998 octets */
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[899] = '>';
	big[900] = '\0';
	assert_int_equal(api("References", big), 0);
	big[899] = 'a';
	big[900] = '>';
	big[901] = '\0';
	assert_int_equal(api("References", big), -1);
	assert_non_null(strstr(why, "a word of over 900 characters"));
	/* unstructured ones may be anything UTF-8, encoded when written */
	assert_int_equal(api("Comments", "caf\xc3\xa9"), 0);
	assert_false(headers_structured(canon));
	assert_int_equal(api("Keywords", "caf\xc3\xa9"), 0);
	assert_false(headers_structured(canon));
	assert_int_equal(api("X-Caf", "caf\xc3\xa9"), 0);
	assert_false(headers_structured(NULL));
	/* raw messages are not rewritten: no such rule */
	assert_int_equal(raw("In-Reply-To", "<\xc3\xa9@example.com>"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_x_headers),
	    cmocka_unit_test(test_allowlisted),
	    cmocka_unit_test(test_set_by_server),
	    cmocka_unit_test(test_api_fields),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_value_rules),
	    cmocka_unit_test(test_unsubscribe_post),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_twenty_allowlisted),
	    cmocka_unit_test(test_total_16k),
	    cmocka_unit_test(test_raw_mode),
	    cmocka_unit_test(test_short_why),
	    cmocka_unit_test(test_structured),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
