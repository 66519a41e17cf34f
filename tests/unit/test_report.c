/*
 * test_report: src/mail/report.c against golden files, then its limits and
 * helpers directly.
 *
 * data/reports/NAME.eml is a received message written by hand after the
 * published formats of the MTA it is named for, or (postfix-real) one
 * captured from Postfix 3.7 bouncing a message to a VERP address (LF
 * line endings in the tree); data/reports/NAME.txt is what report_parse() says
 * of it, one "field: value" line each. Every sample is read as stored and again
 * with CRLF line endings, as the SMTP server hands it over, and both must give
 * the golden text; then every prefix of it is parsed, for the sanitizers.
 * PIGEON_REGEN=1 rewrites the .txt files instead (review them before
 * committing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "../../src/core/buf.h"
#include "../../src/mail/report.c"

#define DATA "data/reports"

static const char *const kinds[] = {"other", "dsn", "arf", "malformed"};

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *p;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(p = malloc((size_t)n + 1));
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	p[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return p;
}

static void
put(struct buf *b, const char *name, const char *v)
{
	if (v != NULL)
		assert_int_equal(buf_printf(b, "%s: %s\n", name, v), 0);
}

/* The golden text of a parse. */
static void
render(const struct report *r, const char *why, struct buf *b)
{
	char name[64];
	size_t i;

	buf_printf(b, "kind: %s\n", kinds[r->kind]);
	if (r->kind == REPORT_MALFORMED)
		put(b, "why", why);
	put(b, "reporting_mta", r->reporting_mta);
	put(b, "arrival_date", r->arrival_date);
	put(b, "original_envelope_id", r->original_envelope_id);
	for (i = 0; i < r->nrcpt; i++) {
		const struct report_rcpt *rc = &r->rcpt[i];

		snprintf(name, sizeof(name), "rcpt[%zu].final_recipient", i);
		put(b, name, rc->final_recipient);
		snprintf(name, sizeof(name), "rcpt[%zu].original_recipient", i);
		put(b, name, rc->original_recipient);
		snprintf(name, sizeof(name), "rcpt[%zu].action", i);
		put(b, name, report_action_name(rc->action));
		snprintf(name, sizeof(name), "rcpt[%zu].status", i);
		put(b, name, rc->status);
		snprintf(name, sizeof(name), "rcpt[%zu].diagnostic_code", i);
		put(b, name, rc->diagnostic_code);
		snprintf(name, sizeof(name), "rcpt[%zu].remote_mta", i);
		put(b, name, rc->remote_mta);
	}
	put(b, "feedback_type", r->feedback_type);
	put(b, "user_agent", r->user_agent);
	put(b, "version", r->version);
	put(b, "original_mail_from", r->original_mail_from);
	for (i = 0; i < r->noriginal_rcpt_to; i++)
		put(b, "original_rcpt_to", r->original_rcpt_to[i]);
	for (i = 0; i < r->nreported_domain; i++)
		put(b, "reported_domain", r->reported_domain[i]);
	put(b, "source_ip", r->source_ip);
	put(b, "original_message_id", r->original_message_id);
	put(b, "original_to", r->original_to);
}

/* report_parse on msg[0..len) rendered into b. */
static void
parse_render(const char *msg, size_t len, struct buf *b)
{
	struct arena *a = arena_new(0);
	struct report r;
	char why[256];

	assert_non_null(a);
	memset(why, 'x', sizeof(why));
	assert_int_equal(report_parse(a, msg, len, &r, why, sizeof(why)), 0);
	if (r.kind == REPORT_MALFORMED)
		assert_true(why[0] != '\0' && strlen(why) < sizeof(why));
	else
		assert_string_equal(why, "");
	render(&r, why, b);
	arena_free(a);
}

/* The message with every bare LF made CRLF (malloc'd). */
static char *
crlf(const char *p, size_t len, size_t *olen)
{
	char *s = malloc(2 * len + 1);
	size_t i, o = 0;

	assert_non_null(s);
	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			s[o++] = '\r';
		s[o++] = p[i];
	}
	*olen = o;
	return s;
}

static void
golden_one(const char *eml)
{
	char path[512], *msg, *m2, *want;
	size_t len, l2, wlen, i;
	struct buf got, got2;
	struct arena *a;
	struct report r;
	char why[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", DATA, eml);
	msg = slurp(path, &len);
	buf_init(&got, 0);
	buf_init(&got2, 0);
	parse_render(msg, len, &got);
	m2 = crlf(msg, len, &l2);
	parse_render(m2, l2, &got2);
	if (strcmp(got.p, got2.p) != 0)
		fail_msg("%s: CRLF gives\n%s\nLF gives\n%s", eml, got2.p,
		         got.p);

	snprintf(path, sizeof(path), "%s/%.*s.txt", DATA,
	         (int)(strlen(eml) - 4), eml);
	if (getenv("PIGEON_REGEN") != NULL) {
		assert_non_null(fp = fopen(path, "wb"));
		fwrite(got.p, 1, got.len, fp);
		fclose(fp);
	} else {
		want = slurp(path, &wlen);
		if (strcmp(got.p, want) != 0)
			fail_msg("%s: got\n%s\nwant\n%s", eml, got.p, want);
		free(want);
	}

	/* every prefix, in an exact-size copy: nothing read past it */
	for (i = 0; i < l2; i++) {
		char *cut = malloc(i ? i : 1);

		assert_non_null(cut);
		memcpy(cut, m2, i);
		assert_non_null(a = arena_new(0));
		assert_int_equal(report_parse(a, cut, i, &r, why, sizeof(why)),
		                 0);
		arena_free(a);
		free(cut);
	}
	buf_clear(&got);
	buf_clear(&got2);
	free(m2);
	free(msg);
}

static int
eml_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void
test_golden(void **state)
{
	DIR *d = opendir(DATA);
	struct dirent *e;
	char *names[64];
	size_t n = 0, i, l;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0) {
			assert_true(n < 64);
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(d);
	assert_true(n >= 15);
	qsort(names, n, sizeof(names[0]), eml_cmp);
	for (i = 0; i < n; i++) {
		golden_one(names[i]);
		free(names[i]);
	}
}

/* A DSN of nrcpt groups and one diagnostic of difflen bytes. */
static char *
big_dsn(size_t nrcpt, size_t difflen, size_t *len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "Content-Type: multipart/report; "
	             "report-type=delivery-status; boundary=B\r\n\r\n"
	             "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
	             "Reporting-MTA: dns; mx.example.org\r\n");
	for (i = 0; i < nrcpt; i++)
		buf_printf(&b,
		           "\r\nFinal-Recipient: rfc822; u%zu@example.org\r\n"
		           "Action: failed\r\nStatus: 5.1.1\r\n",
		           i);
	buf_puts(&b, "Diagnostic-Code: smtp; 550");
	for (i = 0; i < difflen; i++)
		buf_puts(&b, i % 70 == 69 ? "\r\n a" : "a");
	buf_puts(&b, "\r\n--B--\r\n");
	return buf_steal(&b, len);
}

static void
test_limits(void **state)
{
	struct arena *a = arena_new(0);
	struct report r;
	char why[256], *m;
	size_t len;

	(void)state;
	m = big_dsn(REPORT_MAX_RCPTS, 5000, &len);
	assert_int_equal(report_parse(a, m, len, &r, why, sizeof(why)), 0);
	assert_int_equal(r.kind, REPORT_DSN);
	assert_int_equal(r.nrcpt, REPORT_MAX_RCPTS);
	assert_string_equal(r.rcpt[99].final_recipient, "u99@example.org");
	/* a long folded value is unfolded and cut at the cap */
	assert_int_equal(strlen(r.rcpt[99].diagnostic_code),
	                 REPORT_MAX_VALUE - strlen("smtp; "));
	free(m);

	m = big_dsn(REPORT_MAX_RCPTS + 1, 0, &len);
	assert_int_equal(report_parse(a, m, len, &r, why, sizeof(why)), 0);
	assert_int_equal(r.kind, REPORT_MALFORMED);
	assert_non_null(strstr(why, "more than 100 recipients"));
	free(m);
	arena_free(a);
}

static void
test_values(void **state)
{
	struct arena *a = arena_new(0);
	struct report r;
	char why[256];
	const char *m =
	    "Content-Type: Multipart/Report; Report-Type=\"Delivery-Status\";"
	    " Boundary=\"b\\\"q\"\r\n\r\n"
	    "--b\"q\r\nContent-Type: message/delivery-status\r\n\r\n"
	    "Final-Recipient: rfc822; <x@example.org>\r\n"
	    "Action: failed\r\nStatus: 5.7.1\r\n"
	    "Diagnostic-Code: smtp; 550\t5.7.1\r\n \r\n";
	const char *long_addr =
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    " boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status"
	    "\r\n\r\nFinal-Recipient: rfc822; a b@example.org\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n";

	(void)state;
	/* quoted boundary with a quoted-pair; a value ending at a folded
	 * white line; a group without the final delimiter */
	assert_int_equal(report_parse(a, m, strlen(m), &r, why, sizeof(why)),
	                 0);
	assert_int_equal(r.kind, REPORT_DSN);
	assert_string_equal(r.rcpt[0].final_recipient, "x@example.org");
	assert_string_equal(r.rcpt[0].diagnostic_code, "550 5.7.1");
	assert_null(r.reporting_mta);
	assert_int_equal(
	    report_parse(a, long_addr, strlen(long_addr), &r, why, sizeof(why)),
	    0);
	assert_int_equal(r.kind, REPORT_MALFORMED);
	assert_non_null(strstr(why, "not an address"));
	/* an empty message and a NULL why */
	assert_int_equal(report_parse(a, "", 0, &r, NULL, 0), 0);
	assert_int_equal(r.kind, REPORT_OTHER);
	arena_free(a);
}

static void
test_status(void **state)
{
	char s[12];

	(void)state;
	assert_int_equal(report_status("5.1.1", s), 0);
	assert_string_equal(s, "5.1.1");
	assert_int_equal(report_status("4.4.7 (delivery expired)", s), 0);
	assert_string_equal(s, "4.4.7");
	assert_int_equal(report_status("5.123.999", s), 0);
	assert_int_equal(report_status("2.0.0(ok)", s), 0);
	assert_string_equal(s, "2.0.0");
	assert_int_equal(report_status("3.1.1", s), -1);
	assert_int_equal(report_status("5.1", s), -1);
	assert_int_equal(report_status("5.1.", s), -1);
	assert_int_equal(report_status("5..1", s), -1);
	assert_int_equal(report_status("5.1234.1", s), -1);
	assert_int_equal(report_status("5.1.1x", s), -1);
	assert_int_equal(report_status("550", s), -1);
	assert_int_equal(report_status(NULL, s), -1);
	assert_int_equal(report_action("Failed (bad)"), REPORT_FAILED);
	assert_int_equal(report_action("fail"), -1);
	assert_string_equal(report_action_name(REPORT_EXPANDED), "expanded");
}

static void
test_qp(void **state)
{
	char o[64];
	const char *in = "a=3Db=\r\nc=  \nd=4=ZZ=4a=";
	size_t n;

	(void)state;
	n = report_qp(in, in + strlen(in), o);
	o[n] = '\0';
	assert_string_equal(o, "a=bcd=4=ZZJ");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_values), cmocka_unit_test(test_status),
	    cmocka_unit_test(test_qp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
