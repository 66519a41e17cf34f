/*
 * test_smtp_reply: src/smtp/reply.c — the replies it reads with their
 * code, enhanced code and one-line text (Exim's, Postfix's and Gmail's
 * among them), the ones it refuses, its limits, that no prefix of a
 * valid reply is refused, pipelined replies read one at a time, and the
 * extensions it finds in EHLO replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/smtp/reply.h"

struct good {
	const char *in;
	int enhanced; /* the server offered ENHANCEDSTATUSCODES */
	int code;
	const char *enh;
	const char *text;
};

static const struct good goods[] = {
    {"250 OK\r\n", 1, 250, "", "250 OK"},
    {"250\r\n", 1, 250, "", "250"},
    {"250 \r\n", 1, 250, "", "250"},
    {"220 mx.test ESMTP Postfix (Debian/GNU)\r\n", 0, 220, "",
     "220 mx.test ESMTP Postfix (Debian/GNU)"},
    /* Postfix with ENHANCEDSTATUSCODES */
    {"550 5.1.1 <x@y>: Recipient address rejected: User unknown\r\n", 1, 550,
     "5.1.1", "550 5.1.1 <x@y>: Recipient address rejected: User unknown"},
    /* not offered: the code is text */
    {"550 5.1.1 <x@y>: Recipient address rejected\r\n", 0, 550, "",
     "550 5.1.1 <x@y>: Recipient address rejected"},
    /* Exim's defaults: no enhanced code, the basic code decides */
    {"550 Unrouteable address\r\n", 1, 550, "", "550 Unrouteable address"},
    {"451 Temporary local problem - please try later\r\n", 1, 451, "",
     "451 Temporary local problem - please try later"},
    {"451 4.3.0 Temporary failure\r\n", 1, 451, "4.3.0",
     "451 4.3.0 Temporary failure"},
    {"421 4.7.0 mx.test too many connections\r\n", 1, 421, "4.7.0",
     "421 4.7.0 mx.test too many connections"},
    /* the class must be the code's */
    {"550 4.1.1 odd\r\n", 1, 550, "", "550 4.1.1 odd"},
    {"354 3.0.0 go ahead\r\n", 1, 354, "", "354 3.0.0 go ahead"},
    /* RFC 3463: 1-3 digits each */
    {"250 2.1.5 Ok\r\n", 1, 250, "2.1.5", "250 2.1.5 Ok"},
    {"550 5.7.606 Access denied\r\n", 1, 550, "5.7.606",
     "550 5.7.606 Access denied"},
    {"550 5.1234.1 no\r\n", 1, 550, "", "550 5.1234.1 no"},
    {"550 5..1 no\r\n", 1, 550, "", "550 5..1 no"},
    {"550 5.1.1x no\r\n", 1, 550, "", "550 5.1.1x no"},
    {"550 5.1.1\r\n", 1, 550, "5.1.1", "550 5.1.1"},
    /* multi-line: joined, a repeated enhanced code said once */
    {"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 0, 250, "",
     "250 mx.test / PIPELINING / SIZE 1000"},
    {"550-5.1.1 The email account that you tried to reach does not "
     "exist.\r\n550-5.1.1 Please try double-checking\r\n550 5.1.1 "
     "https://support.example/?p=NoSuchUser x1si\r\n",
     1, 550, "5.1.1",
     "550 5.1.1 The email account that you tried to reach does not exist. / "
     "Please try double-checking / https://support.example/?p=NoSuchUser "
     "x1si"},
    {"250-\r\n250 second\r\n", 0, 250, "", "250 second"},
    {"550-first\r\n550 5.1.1 second\r\n", 1, 550, "5.1.1",
     "550 first / 5.1.1 second"},
    /* a bare LF ends a line too */
    {"250-a\n250 b\n", 0, 250, "", "250 a / b"},
    /* control bytes become blanks */
    {"250 a\tb\rc\x01"
     "d\r\n",
     0, 250, "", "250 a b c d"},
    {"554 5.7.1 \xc3\xa9t\xc3\xa9\r\n", 1, 554, "5.7.1",
     "554 5.7.1 \xc3\xa9t\xc3\xa9"},
};

static void
test_goods(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		size_t n = strlen(g->in), used = 0;
		struct smtp_reply r;

		if (smtp_reply_parse(g->in, n, g->enhanced, &r, &used) !=
		    SMTP_REPLY_OK)
			fail_msg("refused: %s", g->in);
		assert_int_equal(used, n);
		assert_int_equal(r.code, g->code);
		assert_string_equal(r.enhanced, g->enh);
		assert_string_equal(r.text, g->text);
		/* every prefix waits for more */
		for (size_t k = 0; k < n; k++)
			if (smtp_reply_parse(g->in, k, g->enhanced, &r,
			                     &used) != SMTP_REPLY_PARTIAL)
				fail_msg("prefix %zu of %s", k, g->in);
	}
}

static const char *const bads[] = {
    "25x OK\r\n",
    "250xOK\r\n",
    "OK\r\n",
    "\r\n",
    "25\r\n",
    "600 no\r\n",
    "199 no\r\n",
    "260 no\r\n", /* second digit 0-5 */
    "250-a\r\n251 b\r\n",
    "250-a\r\n550 b\r\n",
    "250-a\r\nxyz\r\n",
    "250 a\r\n" /* fine; the next is not looked at */,
};

static void
test_bads(void **state)
{
	struct smtp_reply r;
	size_t used;

	(void)state;
	for (size_t i = 0; i + 1 < sizeof(bads) / sizeof(bads[0]); i++)
		if (smtp_reply_parse(bads[i], strlen(bads[i]), 1, &r, &used) !=
		    SMTP_REPLY_ERROR)
			fail_msg("taken: %s", bads[i]);
	assert_int_equal(smtp_reply_parse("250 a\r\ngarbage", 15, 1, &r, &used),
	                 SMTP_REPLY_OK);
	assert_int_equal(used, 7);
	/* garbage is refused before its line ends */
	assert_int_equal(smtp_reply_parse("HTTP/1.1 400", 12, 1, &r, &used),
	                 SMTP_REPLY_ERROR);
	assert_int_equal(smtp_reply_parse("250-a\r\n251", 10, 1, &r, &used),
	                 SMTP_REPLY_ERROR);
	assert_int_equal(smtp_reply_parse("250x", 4, 1, &r, &used),
	                 SMTP_REPLY_ERROR);
	assert_int_equal(smtp_reply_parse("250\r", 4, 1, &r, &used),
	                 SMTP_REPLY_PARTIAL);
	assert_int_equal(smtp_reply_parse("250\rx", 5, 1, &r, &used),
	                 SMTP_REPLY_ERROR);
}

/* A line of n bytes (CRLF not counted): "250-xxxx…" or "250 xxxx…". */
static size_t
put_line(char *p, size_t n, int last)
{
	memcpy(p, last ? "250 " : "250-", 4);
	memset(p + 4, 'x', n - 4);
	memcpy(p + n, "\r\n", 2);
	return n + 2;
}

static void
test_limits(void **state)
{
	char *p = malloc(SMTP_REPLY_MAX_BYTES + 4096);
	struct smtp_reply r;
	size_t n, used;

	(void)state;
	assert_non_null(p);
	/* a line of SMTP_REPLY_MAX_LINE bytes, and one more */
	n = put_line(p, SMTP_REPLY_MAX_LINE, 1);
	assert_int_equal(smtp_reply_parse(p, n, 0, &r, &used), SMTP_REPLY_OK);
	assert_true(strlen(r.text) < SMTP_REPLY_TEXT);
	assert_string_equal(r.text + strlen(r.text) - 3, "...");
	n = put_line(p, SMTP_REPLY_MAX_LINE + 1, 1);
	assert_int_equal(smtp_reply_parse(p, n, 0, &r, &used),
	                 SMTP_REPLY_ERROR);
	/* no LF in sight: refused once the line is too long */
	memset(p, 'x', SMTP_REPLY_MAX_LINE + 2);
	memcpy(p, "250 ", 4);
	assert_int_equal(
	    smtp_reply_parse(p, SMTP_REPLY_MAX_LINE + 1, 0, &r, &used),
	    SMTP_REPLY_ERROR);
	p[SMTP_REPLY_MAX_LINE] = '\r';
	assert_int_equal(
	    smtp_reply_parse(p, SMTP_REPLY_MAX_LINE + 1, 0, &r, &used),
	    SMTP_REPLY_PARTIAL);
	/* SMTP_REPLY_MAX_LINES lines of the longest, and one more */
	n = 0;
	for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		n += put_line(p + n, SMTP_REPLY_MAX_LINE,
		              i == SMTP_REPLY_MAX_LINES - 1);
	assert_int_equal(n, SMTP_REPLY_MAX_BYTES);
	assert_int_equal(smtp_reply_parse(p, n, 0, &r, &used), SMTP_REPLY_OK);
	assert_int_equal(used, n);
	p[n - SMTP_REPLY_MAX_LINE - 2 + 3] = '-';
	assert_int_equal(smtp_reply_parse(p, n, 0, &r, &used),
	                 SMTP_REPLY_PARTIAL);
	memcpy(p + n, "250 x\r\n", 7);
	assert_int_equal(smtp_reply_parse(p, n + 7, 0, &r, &used),
	                 SMTP_REPLY_ERROR);
	assert_int_equal(smtp_reply_parse(p, n + 1, 0, &r, &used),
	                 SMTP_REPLY_ERROR);
	free(p);
}

/* The text is cut on a UTF-8 boundary, never inside a character. */
static void
test_cut_utf8(void **state)
{
	char in[1200];
	struct smtp_reply r;
	size_t n, used, len;

	(void)state;
	for (int shift = 0; shift < 2; shift++) {
		n = 0;
		memcpy(in, "550 ", 4);
		n = 4;
		if (shift)
			in[n++] = 'a';
		while (n < 1000) {
			memcpy(in + n, "\xc3\xa9", 2); /* é */
			n += 2;
		}
		memcpy(in + n, "\r\n", 2);
		n += 2;
		assert_int_equal(smtp_reply_parse(in, n, 0, &r, &used),
		                 SMTP_REPLY_OK);
		len = strlen(r.text);
		assert_true(len < SMTP_REPLY_TEXT);
		assert_true(len >= SMTP_REPLY_TEXT - 6);
		assert_string_equal(r.text + len - 3, "...");
		/* before the mark: a whole é */
		assert_int_equal((unsigned char)r.text[len - 4], 0xa9);
		assert_int_equal((unsigned char)r.text[len - 5], 0xc3);
	}
}

static void
test_pipelined(void **state)
{
	const char *in = "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 no\r\n"
	                 "451 4.3.0 later\r\n354 go\r\n";
	static const int codes[] = {250, 250, 550, 451, 354};
	size_t off = 0, n = strlen(in), used;
	struct smtp_reply r;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(
		    smtp_reply_parse(in + off, n - off, 1, &r, &used),
		    SMTP_REPLY_OK);
		assert_int_equal(r.code, codes[i]);
		off += used;
	}
	assert_int_equal(off, n);
	assert_int_equal(smtp_reply_parse(in + off, 0, 1, &r, &used),
	                 SMTP_REPLY_PARTIAL);
}

static void
test_reply_set(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_set(&r, 552, "5.3.4",
	               "message size %d exceeds the server's limit %d (not "
	               "sent)",
	               2000, 1000);
	assert_int_equal(r.code, 552);
	assert_string_equal(r.enhanced, "5.3.4");
	assert_string_equal(r.text, "552 5.3.4 message size 2000 exceeds the "
	                            "server's limit 1000 (not sent)");
	smtp_reply_set(&r, 451, "", "%s", "x");
	assert_string_equal(r.text, "451 x");
}

static void
test_ehlo(void **state)
{
	const char *postfix =
	    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
	    "250-SMTPUTF8\r\n250 CHUNKING\r\n";
	const char *odd = "250-pipelining-is-not-this\r\n250-size\r\n"
	                  "250-auth login  CRAM-MD5 plain\r\n"
	                  "250-AUTH=LOGIN\r\n250 starttls\r\n";
	const char *big;
	struct smtp_ehlo e;

	(void)state;
	assert_int_equal(smtp_ehlo_parse(postfix, strlen(postfix), &e), 0);
	assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE |
	                            SMTP_EXT_STARTTLS | SMTP_EXT_ENHANCED |
	                            SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	                            SMTP_EXT_SMTPUTF8 | SMTP_EXT_CHUNKING);
	assert_int_equal(e.size, 10240000);
	assert_int_equal(e.mech, 0);
	/* the first line names the server, even if it reads like a
	 * keyword; any case; SIZE without a number */
	assert_int_equal(smtp_ehlo_parse(odd, strlen(odd), &e), 0);
	assert_int_equal(e.ext,
	                 SMTP_EXT_SIZE | SMTP_EXT_AUTH | SMTP_EXT_STARTTLS);
	assert_int_equal(e.size, 0);
	assert_int_equal(e.mech, SMTP_MECH_LOGIN | SMTP_MECH_PLAIN);
	/* SIZE far too big is capped, not wrapped */
	big = "250-x\r\n250 SIZE 99999999999999999999999\r\n";
	assert_int_equal(smtp_ehlo_parse(big, strlen(big), &e), 0);
	assert_true(e.size == UINT64_MAX);
	big = "250-x\r\n250 SIZE 12ab\r\n";
	assert_int_equal(smtp_ehlo_parse(big, strlen(big), &e), 0);
	assert_int_equal(e.size, 0);
	/* a HELO-style one-line 250: nothing offered */
	assert_int_equal(smtp_ehlo_parse("250 mx.test\r\n", 13, &e), 0);
	assert_int_equal(e.ext, 0);
	/* not a 250, not whole */
	assert_int_equal(smtp_ehlo_parse("502 no\r\n", 8, &e), -1);
	big = "250-x\r\n250 SIZE";
	assert_int_equal(smtp_ehlo_parse(big, strlen(big), &e), -1);
	assert_int_equal(e.ext, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_goods),     cmocka_unit_test(test_bads),
	    cmocka_unit_test(test_limits),    cmocka_unit_test(test_cut_utf8),
	    cmocka_unit_test(test_pipelined), cmocka_unit_test(test_reply_set),
	    cmocka_unit_test(test_ehlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
