/*
 * test_head: src/httpd/head.c — the heads it reads with what it fills, the
 * heads it refuses with their status, framing flag and reason (the
 * smuggling vectors among them), its limits, and that no prefix of a valid
 * head is ever refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/httpd/head.h"

#define MAX 8192

struct good {
	const char *in;
	const char *method;
	const char *target;
	int minor;
	size_t nfields;
	int64_t content_length;
	int te;
	int nhost;
	int keep_alive;
	int expect_continue;
};

static const struct good goods[] = {
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/", 1, 1, -1, 0, 1, 1, 0},
    {"POST /accounts/a/email/sending/send HTTP/1.1\r\nHost: x\r\n"
     "Content-Type: application/json\r\nContent-Length: 42\r\n\r\n",
     "POST", "/accounts/a/email/sending/send", 1, 3, 42, 0, 1, 1, 0},
    {"GET /healthz HTTP/1.0\r\n\r\n", "GET", "/healthz", 0, 0, -1, 0, 0, 0, 0},
    {"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET",
     "/healthz", 0, 1, -1, 0, 0, 1, 0},
    {"GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET",
     "/healthz", 0, 1, -1, 0, 0, 1, 0},
    {"GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n", "GET", "/", 0, 1,
     -1, 0, 0, 1, 0},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/", 0,
     1, -1, 0, 0, 0, 0},
    {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET", "/", 1, 2,
     -1, 0, 1, 0, 0},
    {"GET / HTTP/1.1\r\nHost: x\r\nConnection: ,, TE ,CLOSE\t,\r\n\r\n", "GET",
     "/", 1, 2, -1, 0, 1, 0, 0},
    {"GET / HTTP/1.1\r\nConnection: te\r\nConnection: close\r\n\r\n", "GET",
     "/", 1, 2, -1, 0, 0, 0, 0},
    {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", "GET", "/", 1, 1, -1, 0, 0,
     1, 0},
    {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", "GET", "/", 1, 1, -1,
     0, 0, 1, 0},
    /* RFC 9112 §2.2: empty lines before the request line */
    {"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/", 1, 1, -1, 0, 1, 1, 0},
    {"\r\n\r\nGET / HTTP/1.1\r\n\r\n", "GET", "/", 1, 0, -1, 0, 0, 1, 0},
    /* RFC 9112 §3.2.2: the absolute form is passed through */
    {"GET http://h:1/healthz HTTP/1.1\r\nHost: h:1\r\n\r\n", "GET",
     "http://h:1/healthz", 1, 1, -1, 0, 1, 1, 0},
    {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS", "*", 1, 1, -1, 0, 1, 1,
     0},
    /* a lowercase method is a token: the router answers it */
    {"get /x HTTP/1.1\r\nHost: x\r\n\r\n", "get", "/x", 1, 1, -1, 0, 1, 1, 0},
    {"M-1!#$%&'*+.^_`|~ /?a=%20&b=[]{}@:;,<>\"\\ HTTP/1.1\r\n\r\n",
     "M-1!#$%&'*+.^_`|~", "/?a=%20&b=[]{}@:;,<>\"\\", 1, 0, -1, 0, 0, 1, 0},
    {"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
     "Content-Length: 5\r\n\r\n",
     "POST", "/x", 1, 3, 5, 0, 1, 1, 1},
    {"POST /x HTTP/1.1\r\nExpect:100-Continue \r\n\r\n", "POST", "/x", 1, 1, -1,
     0, 0, 1, 1},
    {"POST /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", "POST", "/x", 0, 1, -1,
     0, 0, 0, 0},
    {"POST /x HTTP/1.1\r\nExpect: 100-continue, x\r\n\r\n", "POST", "/x", 1, 1,
     -1, 0, 0, 1, 0},
    /* reported, not refused: the server decides */
    {"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
     "POST", "/x", 1, 2, -1, 1, 1, 1, 0},
    {"POST /x HTTP/1.1\r\ntransfer-encoding: gzip\r\nTRANSFER-ENCODING: "
     "chunked\r\nContent-Length: 3\r\n\r\n",
     "POST", "/x", 1, 3, 3, 2, 0, 1, 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "GET", "/", 1, 2, -1, 0, 2,
     1, 0},
    /* trailing white space is OWS (RFC 9112 §5) */
    {"POST /x HTTP/1.1\r\nContent-Length: 5 \r\n\r\n", "POST", "/x", 1, 1, 5, 0,
     0, 1, 0},
    {"POST /x HTTP/1.1\r\nContent-Length:\t 0\t\r\n\r\n", "POST", "/x", 1, 1, 0,
     0, 0, 1, 0},
    {"POST /x HTTP/1.1\r\ncontent-length: 007\r\n\r\n", "POST", "/x", 1, 1, 7,
     0, 0, 1, 0},
    {"POST /x HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n", "POST",
     "/x", 1, 1, 999999999999999999LL, 0, 0, 1, 0},
    {"GET / HTTP/1.1\r\nX-Empty:\r\nX-Blank:  \t \r\n\r\n", "GET", "/", 1, 2,
     -1, 0, 0, 1, 0},
    {"GET / HTTP/1.1\r\nX-Utf8: caf\xc3\xa9 \xff\x80\r\n\r\n", "GET", "/", 1, 1,
     -1, 0, 0, 1, 0},
};

static int
parse(const char *s, size_t max, struct head *h)
{
	return head_parse(s, strlen(s), max, h);
}

static void
check_good(const struct good *g, const struct head *h)
{
	assert_int_equal(h->len, strlen(g->in));
	assert_int_equal(h->method_len, strlen(g->method));
	assert_memory_equal(h->method, g->method, h->method_len);
	assert_int_equal(h->target_len, strlen(g->target));
	assert_memory_equal(h->target, g->target, h->target_len);
	assert_int_equal(h->minor, g->minor);
	assert_int_equal(h->nfields, g->nfields);
	assert_int_equal(h->content_length, g->content_length);
	assert_int_equal(h->te, g->te);
	assert_int_equal(h->nhost, g->nhost);
	assert_int_equal(h->keep_alive, g->keep_alive);
	assert_int_equal(h->expect_continue, g->expect_continue);
}

static void
test_valid(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct head h;
		int rc = parse(goods[i].in, MAX, &h);

		if (rc != HEAD_OK)
			fail_msg("%s: %d %d %s", goods[i].in, rc, h.status,
			         h.why);
		check_good(&goods[i], &h);
	}
}

/* A body or the next request after the head is not read. */
static void
test_bytes_after(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		static const char after[] = "\n\r\0bad \n\r\n";
		size_t n = strlen(goods[i].in);
		char buf[1024];
		struct head h;

		memcpy(buf, goods[i].in, n);
		memcpy(buf + n, after, sizeof(after) - 1);
		assert_int_equal(
		    head_parse(buf, n + sizeof(after) - 1, MAX, &h), HEAD_OK);
		check_good(&goods[i], &h);
	}
}

/* Every prefix of a valid head waits for more, read into an exact-size
 * buffer so the sanitizers see a read past its end. */
static void
test_prefixes(void **state)
{
	size_t i, k;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		size_t n = strlen(goods[i].in);

		for (k = 0; k < n; k++) {
			char *p = malloc(k ? k : 1);
			struct head h;
			int rc;

			memcpy(p, goods[i].in, k);
			rc = head_parse(p, k, MAX, &h);
			if (rc != HEAD_PARTIAL)
				fail_msg("%s: prefix %zu: %d %d %s",
				         goods[i].in, k, rc, h.status, h.why);
			free(p);
		}
	}
}

static void
test_fields(void **state)
{
	const char *in = "GET / HTTP/1.1\r\nHost:  example.com\t \r\n"
	                 "X-A:a\r\nx-a: \tb c \r\nX-Empty:\r\n"
	                 "X-Obs: \x80\xfe\xff\r\n\r\n";
	struct head h;
	const char *v;
	size_t len;

	assert_int_equal(parse(in, MAX, &h), HEAD_OK);
	assert_int_equal(h.nfields, 5);
	assert_int_equal(h.fields[0].name_len, 4);
	assert_memory_equal(h.fields[0].name, "Host", 4);
	assert_int_equal(h.fields[0].value_len, 11);
	assert_memory_equal(h.fields[0].value, "example.com", 11);

	v = head_field(&h, "HOST", &len);
	assert_non_null(v);
	assert_int_equal(len, 11);
	assert_memory_equal(v, "example.com", 11);
	v = head_field(&h, "x-A", &len);
	assert_int_equal(len, 1);
	assert_memory_equal(v, "a", 1);
	assert_int_equal(head_count(&h, "X-A"), 2);
	assert_int_equal(h.fields[2].value_len, 3);
	assert_memory_equal(h.fields[2].value, "b c", 3);
	v = head_field(&h, "x-empty", &len);
	assert_non_null(v);
	assert_int_equal(len, 0);
	v = head_field(&h, "X-Obs", &len);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "\x80\xfe\xff", 3);
	assert_null(head_field(&h, "X-None", &len));
	assert_int_equal(len, 0);
	assert_int_equal(head_count(&h, "X-None"), 0);
	assert_int_equal(head_count(&h, "X-"), 0);
	assert_int_equal(head_count(&h, "X-AA"), 0);
}

/* A string literal and its length, NULs included. */
#define B(s) s, sizeof(s) - 1

struct bad {
	const char *in;
	size_t len;
	int status;
	int framing;
	const char *why;
	int method; /* 1: method and target are set */
};

#define CRLF "a line of the header section does not end in CRLF"
#define LINE                                                                   \
	"the request line is not a method, a request-target and an HTTP "      \
	"version, one space apart"
#define VERSION "the request line does not end in an HTTP version"
#define METHOD "the method is not a token"
#define TARGET "the request-target holds a byte that is not visible ASCII"
#define FOLD "a header field is folded over two lines (obs-fold)"
#define NAME                                                                   \
	"a header field name is not a token (white space before the colon?)"
#define CL_NAN "the Content-Length is not a number of bytes"
#define CL_TWO "the request has more than one Content-Length"
#define V505 "only HTTP/1.0 and HTTP/1.1 are spoken here"
#define CTL_XA "the X-A header holds a control byte"

static const struct bad bads[] = {
    /* lines end in CRLF only */
    {B("GET /x HTTP/1.1\nHost: x\n\n"), 400, 0, CRLF, 0},
    {B("GET /x HTTP/1.1\r\nHost: x\n\r\n"), 400, 0, CRLF, 1},
    {B("GET /x HTTP/1.1\r\nHost: x\r\n\n"), 400, 0, CRLF, 1},
    {B("GET /x HTTP/1.1\r\nHost: x\r\rX: y\r\n\r\n"), 400, 0, CRLF, 1},
    {B("GET /x HTTP/1.1\rHost: x\r\n\r\n"), 400, 0, CRLF, 0},
    {B("GET /x\r HTTP/1.1\r\n\r\n"), 400, 0, CRLF, 0},
    {B("GE\rT /x HTTP/1.1\r\n\r\n"), 400, 0, CRLF, 0},
    {B("\nGET /x HTTP/1.1\r\n\r\n"), 400, 0, CRLF, 0},
    {B("\r\n\nGET /x HTTP/1.1\r\n\r\n"), 400, 0, CRLF, 0},
    {B("GET /x HTTP/1.1\r\nX-A\r: y\r\n\r\n"), 400, 0, CRLF, 1},
    /* the request line */
    {B("GET  /x HTTP/1.1\r\n\r\n"), 400, 0, LINE, 0},
    {B("GET /x  HTTP/1.1\r\n\r\n"), 400, 0, LINE, 0},
    {B(" GET /x HTTP/1.1\r\n\r\n"), 400, 0, LINE, 0},
    {B("GET /x HTTP/1.1 \r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x\r\n\r\n"), 400, 0, LINE, 0},
    {B("GET\r\n\r\n"), 400, 0, LINE, 0},
    {B("GET \r\n\r\n"), 400, 0, LINE, 0},
    {B("GET / \r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET\t/x HTTP/1.1\r\n\r\n"), 400, 0, METHOD, 0},
    {B("G(T /x HTTP/1.1\r\n\r\n"), 400, 0, METHOD, 0},
    {B("GET\0 /x HTTP/1.1\r\n\r\n"), 400, 0, METHOD, 0},
    {B("G\xc3\x89T /x HTTP/1.1\r\n\r\n"), 400, 0, METHOD, 0},
    {B("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), 400, 0, TARGET, 0},
    {B("GET /a\tb HTTP/1.1\r\n\r\n"), 400, 0, TARGET, 0},
    {B("GET /a\x7f HTTP/1.1\r\n\r\n"), 400, 0, TARGET, 0},
    {B("GET /a\0 HTTP/1.1\r\n\r\n"), 400, 0, TARGET, 0},
    {B("GET /x HTTP/1.1x\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTP/1.10\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x http/1.1\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTP/1\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTP/2\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTP/1.a\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTPS/1.1\r\n\r\n"), 400, 0, VERSION, 0},
    {B("GET /x HTTP/2.0\r\n\r\n"), 505, 0, V505, 0},
    {B("GET /x HTTP/0.9\r\n\r\n"), 505, 0, V505, 0},
    {B("GET /x HTTP/1.2\r\n\r\n"), 505, 0, V505, 0},
    {B("GET /x HTTP/3.1\r\n\r\n"), 505, 0, V505, 0},
    /* field names: a token glued to the colon */
    {B("POST /x HTTP/1.1\r\nContent-Length : 5\r\n\r\n"), 400, 1, NAME, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\n: x\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\nX(A): x\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\nX\0A: x\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\nX-\xc3\xa9: x\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\nHost x\r\n\r\n"), 400, 1, NAME, 1},
    {B("GET /x HTTP/1.1\r\nHost\r\n\r\n"), 400, 1,
     "a header field line has no colon", 1},
    /* RFC 9112 §5.2: no obs-fold, and no white space before the first
     * field (§2.2) */
    {B("POST /x HTTP/1.1\r\nX-A: a\r\n Content-Length: 5\r\n\r\n"), 400, 1,
     FOLD, 1},
    {B("POST /x HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n"), 400, 1, FOLD, 1},
    {B("POST /x HTTP/1.1\r\n Host: x\r\n\r\n"), 400, 1, FOLD, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length:\r\n 5\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nX-A:\r\n 5\r\n\r\n"), 400, 1, FOLD, 1},
    /* control bytes in values */
    {B("GET /x HTTP/1.1\r\nX-A: a\0b\r\n\r\n"), 400, 0, CTL_XA, 1},
    {B("GET /x HTTP/1.1\r\nUser-Agent: \0\r\n\r\n"), 400, 0,
     "the User-Agent header holds a control byte", 1},
    {B("GET /x HTTP/1.1\r\nX-A: a\x7f\r\n\r\n"), 400, 0, CTL_XA, 1},
    {B("GET /x HTTP/1.1\r\nX-A: a\x01\r\n\r\n"), 400, 0, CTL_XA, 1},
    {B("GET /x HTTP/1.1\r\nX-A: a\x1b[0m\r\n\r\n"), 400, 0, CTL_XA, 1},
    {B("GET /x HTTP/1.1\r\nX-A: \x0b\r\n\r\n"), 400, 0, CTL_XA, 1},
    /* RFC 9112 §6.3: one Content-Length, digits only */
    {B("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5.0\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400, 1, CL_NAN, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: \xd9\xa5\r\n\r\n"), 400, 1, CL_NAN,
     1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
     400, 1, CL_TWO, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n"),
     400, 1, CL_TWO, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400, 1, CL_TWO, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 5,\r\n\r\n"), 400, 1, CL_TWO, 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n"), 400,
     0, "the Content-Length is too large", 1},
    {B("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
     400, 0, "the Content-Length is too large", 1},
};

static void
test_invalid(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct head h;

		if (head_parse(bads[i].in, bads[i].len, MAX, &h) != HEAD_ERROR)
			fail_msg("%s: not refused", bads[i].in);
		assert_non_null(h.why);
		if (h.status != bads[i].status ||
		    h.framing != bads[i].framing ||
		    strcmp(h.why, bads[i].why) != 0)
			fail_msg("%s: %d %d '%s', want %d %d '%s'", bads[i].in,
			         h.status, h.framing, h.why, bads[i].status,
			         bads[i].framing, bads[i].why);
		if (bads[i].method) {
			assert_non_null(h.method);
			assert_non_null(h.target);
		} else
			assert_null(h.method);
	}
}

/* The server answers by route: a field refused after the request line
 * leaves the method and the target. */
static void
test_request_line_kept(void **state)
{
	const char *in = "POST /accounts/a/email/sending/send HTTP/1.1\r\n"
	                 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n";
	struct head h;

	assert_int_equal(parse(in, MAX, &h), HEAD_ERROR);
	assert_int_equal(h.framing, 1);
	assert_int_equal(h.method_len, 4);
	assert_memory_equal(h.method, "POST", 4);
	assert_int_equal(h.target_len, 30);
	assert_memory_equal(h.target, "/accounts/a/email/sending/send", 30);
}

/* Errors already in view are reported before the head is complete. */
static void
test_early(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int status;
	} early[] = {
	    {B("G@T"), 400},
	    {B("GET  "), 400},
	    {B("GET /x\x01"), 400},
	    {B("GET /x HTTP/1.1 "), 400},
	    {B("GET /x HTTP/1.12"), 400},
	    {B("GET /x HTTQ"), 400},
	    {B("GET /x HTTP/1.1\rX"), 400},
	    {B("GET /x HTTP/1.1\n"), 400},
	    {B("GET /x HTTP/2.0\r\n"), 505},
	    {B("GET /x HTTP/1.1\r\n X"), 400},
	    {B("GET /x HTTP/1.1\r\nX-A : "), 400},
	    {B("GET /x HTTP/1.1\r\nX-A: a\0"), 400},
	    {B("GET /x HTTP/1.1\r\nX-A: a\r\r"), 400},
	    {B("GET /x HTTP/1.1\r\nX-A: a\r\nX-B: b\n"), 400},
	};
	size_t i;

	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++) {
		struct head h;

		if (head_parse(early[i].in, early[i].len, MAX, &h) !=
		    HEAD_ERROR)
			fail_msg("%s: not refused early", early[i].in);
		assert_int_equal(h.status, early[i].status);
	}
}

/* Builds a head of nfields fields "X-Field-N: v" into buf. */
static size_t
many_fields(char *buf, size_t size, int nfields)
{
	size_t n;
	int i;

	n = (size_t)snprintf(buf, size, "GET / HTTP/1.1\r\n");
	for (i = 0; i < nfields; i++)
		n +=
		    (size_t)snprintf(buf + n, size - n, "X-Field-%d: v\r\n", i);
	n += (size_t)snprintf(buf + n, size - n, "\r\n");
	return n;
}

static void
test_max_fields(void **state)
{
	char buf[4096];
	struct head h;
	size_t n, k;

	n = many_fields(buf, sizeof(buf), HEAD_MAX_FIELDS);
	assert_int_equal(head_parse(buf, n, MAX, &h), HEAD_OK);
	assert_int_equal(h.nfields, HEAD_MAX_FIELDS);
	assert_int_equal(h.len, n);
	for (k = 0; k < n; k++)
		assert_int_equal(head_parse(buf, k, MAX, &h), HEAD_PARTIAL);

	n = many_fields(buf, sizeof(buf), HEAD_MAX_FIELDS + 1);
	assert_int_equal(head_parse(buf, n, MAX, &h), HEAD_ERROR);
	assert_int_equal(h.status, 431);
	assert_int_equal(h.framing, 0);
	assert_string_equal(h.why,
	                    "the request has more than 100 header fields");
	assert_non_null(h.method);
}

static void
test_max_bytes(void **state)
{
	const char *in = "GET /a-long-target HTTP/1.1\r\nHost: x\r\n"
	                 "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	size_t n = strlen(in);
	struct head h;
	char why[64];

	/* The head fits exactly; the bytes after max are not its own. */
	assert_int_equal(head_parse(in, n, n, &h), HEAD_OK);
	assert_int_equal(h.len, n);
	assert_int_equal(head_parse(in, n, n - 1, &h), HEAD_ERROR);
	assert_int_equal(h.status, 431);
	snprintf(why, sizeof(why), "the header section is over %zu bytes",
	         n - 1);
	assert_string_equal(h.why, why);
	assert_non_null(h.method);

	/* Up to max bytes a partial head waits; past it, it is refused. */
	assert_int_equal(head_parse(in, 40, 40, &h), HEAD_PARTIAL);
	assert_int_equal(head_parse(in, 41, 40, &h), HEAD_ERROR);
	assert_int_equal(h.status, 431);
	assert_string_equal(h.why, "the header section is over 40 bytes");
	assert_int_equal(h.framing, 0);

	/* Still in the request line: 414. */
	assert_int_equal(head_parse(in, 10, 10, &h), HEAD_PARTIAL);
	assert_int_equal(head_parse(in, 11, 10, &h), HEAD_ERROR);
	assert_int_equal(h.status, 414);
	assert_string_equal(h.why, "the request-target is too long");
	assert_null(h.method);
	/* The request line's CRLF is past max. */
	assert_int_equal(head_parse(in, n, 28, &h), HEAD_ERROR);
	assert_int_equal(h.status, 414);
	assert_int_equal(head_parse(in, n, 29, &h), HEAD_ERROR);
	assert_int_equal(h.status, 431);
	assert_int_equal(head_parse(in, 0, 0, &h), HEAD_PARTIAL);
	assert_int_equal(head_parse(in, 1, 0, &h), HEAD_ERROR);
	assert_int_equal(h.status, 414);

	/* A visible error wins over the size. */
	assert_int_equal(head_parse("G@T /aaaaaaaa", 13, 10, &h), HEAD_ERROR);
	assert_int_equal(h.status, 400);
}

/* The smuggling vectors of RFC 9112 §11.2, each alone. */
static void
test_smuggling(void **state)
{
	static const struct {
		const char *field;
		size_t len;
		int rc, status, framing;
		int64_t content_length;
		int te;
	} vec[] = {
	    {B("Content-Length : 5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length\t: 5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("X-A: a\r\n Content-Length: 5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length:\r\n 5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length: abc"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length: 5 "), HEAD_OK, 0, 0, 5, 0},
	    {B("Content-Length: +5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length: 0x5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Content-Length: 5\r\nContent-Length: 5"), HEAD_ERROR, 400, 1,
	     -1, 0},
	    {B("Content-Length: 5, 5"), HEAD_ERROR, 400, 1, -1, 0},
	    {B("Transfer-Encoding: chunked"), HEAD_OK, 0, 0, -1, 1},
	    {B("Transfer-Encoding: chunked\r\nContent-Length: 5"), HEAD_OK, 0,
	     0, 5, 1},
	    {B("X-A: a\nContent-Length: 5"), HEAD_ERROR, 400, 0, -1, 0},
	    {B("X-A: a\rContent-Length: 5"), HEAD_ERROR, 400, 0, -1, 0},
	    {B("Content-Length: 5\0"), HEAD_ERROR, 400, 0, -1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char buf[256];
		struct head h;
		size_t n;
		int rc;

		n = (size_t)snprintf(buf, sizeof(buf), "POST /x HTTP/1.1\r\n");
		memcpy(buf + n, vec[i].field, vec[i].len);
		n += vec[i].len;
		memcpy(buf + n, "\r\n\r\nhello", 9);
		n += 9;
		rc = head_parse(buf, n, MAX, &h);
		if (rc != vec[i].rc)
			fail_msg("%s: %d, want %d", vec[i].field, rc,
			         vec[i].rc);
		if (rc == HEAD_OK) {
			assert_int_equal(h.content_length,
			                 vec[i].content_length);
			assert_int_equal(h.te, vec[i].te);
			assert_int_equal(h.len, n - 5);
			continue;
		}
		assert_int_equal(h.status, vec[i].status);
		assert_int_equal(h.framing, vec[i].framing);
	}
}

/* The reason names a long field within why_buf. */
static void
test_long_name(void **state)
{
	char buf[512];
	struct head h;
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX-");
	memset(buf + n, 'a', 200);
	n += 200;
	memcpy(buf + n, ": \x01\r\n\r\n", 7);
	n += 7;
	assert_int_equal(head_parse(buf, n, MAX, &h), HEAD_ERROR);
	assert_int_equal(strlen(h.why), sizeof(h.why_buf) - 1);
	assert_memory_equal(h.why, "the X-aaa", 9);
	assert_string_equal(h.why + strlen(h.why) - 28,
	                    " header holds a control byte");
}

/* The parser reads only p[0..n): no NUL terminator is needed. */
static void
test_not_terminated(void **state)
{
	const char in[] = {'G', 'E', 'T', ' ', '/', ' ',  'H',  'T',  'T',
	                   'P', '/', '1', '.', '0', '\r', '\n', '\r', '\n'};
	struct head h;

	assert_int_equal(head_parse(in, sizeof(in), MAX, &h), HEAD_OK);
	assert_int_equal(h.len, sizeof(in));
	assert_int_equal(h.minor, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_bytes_after),
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_request_line_kept),
	    cmocka_unit_test(test_early),
	    cmocka_unit_test(test_max_fields),
	    cmocka_unit_test(test_max_bytes),
	    cmocka_unit_test(test_smuggling),
	    cmocka_unit_test(test_long_name),
	    cmocka_unit_test(test_not_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
