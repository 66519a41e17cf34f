/*
 * test_jsonreq: the JSON request reader of src/api/jsonreq.c (SPEC §3.1,
 * §3.2, §4): every schema rule (10001), every content rule (10202), the
 * order between them, the de-duplication of recipients, and the bounds
 * jsonreq_scan puts on a body before json-c builds its tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/api/jsonreq.h"
#include "../../src/core/buf.h"

static struct arena *A;
static struct json_object *root;
static struct message M;
static struct raw_req R;
static struct api_error E;

static int
setup(void **state)
{
	A = arena_new(0);
	root = NULL;
	memset(&E, 0, sizeof(E));
	return A == NULL;
}

static int
teardown(void **state)
{
	json_object_put(root);
	root = NULL;
	arena_free(A);
	return 0;
}

/* Parses and reads a send body; returns the kind (AE_NONE on success). */
static enum api_err
send_json(const char *json)
{
	json_object_put(root);
	root = NULL;
	memset(&E, 0, sizeof(E));
	if (jsonreq_parse(json, strlen(json), &root, &E) == -1)
		return E.kind;
	if (jsonreq_send(A, root, &M, &E) == -1) {
		assert_int_not_equal(E.kind, AE_NONE);
		return E.kind;
	}
	return AE_NONE;
}

static enum api_err
raw_json(const char *json)
{
	json_object_put(root);
	root = NULL;
	memset(&E, 0, sizeof(E));
	if (jsonreq_parse(json, strlen(json), &root, &E) == -1)
		return E.kind;
	if (jsonreq_send_raw(A, root, &R, &E) == -1)
		return E.kind;
	return AE_NONE;
}

#define BASE "\"from\":\"a@example.com\",\"subject\":\"Hi\",\"text\":\"x\""

static void
test_minimal(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@example.net\"}"),
	                 AE_NONE);
	assert_string_equal(M.from.address, "a@example.com");
	assert_string_equal(M.from.domain, "example.com");
	assert_null(M.from.name);
	assert_int_equal(M.nto, 1);
	assert_string_equal(M.to[0].ascii, "b@example.net");
	assert_int_equal(M.ncc + M.nbcc, 0);
	assert_string_equal(M.subject, "Hi");
	assert_int_equal(M.text_len, 1);
	assert_null(M.html);
	assert_null(M.reply_to);
	assert_int_equal(M.nheaders + M.natts, 0);
}

static void
test_not_json(void **state)
{
	const char *bad[] = {"",
	                     "nope",
	                     "[1,2]",
	                     "\"str\"",
	                     "{\"a\":1",
	                     "{} x",
	                     "{\"a\":1,}",
	                     "{'a':1}",
	                     "{\"a\":\"\xff\xfe\"}",
	                     "{\"a\":\"\xc0\xaf\"}",
	                     "null",
	                     "42"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(send_json(bad[i]), AE_SCHEMA);
		assert_non_null(E.detail);
	}
}

/* RFC 8259 §7, §8.1, §8.2: what json-c would let through. */
static void
test_not_utf8_json(void **state)
{
	static const struct {
		const char *json;
		const char *why;
	} bad[] = {
	    {"{" BASE ",\"to\":\"b@x.io\",\"subject\":\"h\xed\xa0\x80\"}",
	     "not valid UTF-8"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"x\xc0\xafy\"}",
	     "not valid UTF-8"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\xe0\x80\xaf\"}",
	     "not valid UTF-8"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\xf4\x90\x80\x80\"}",
	     "not valid UTF-8"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\xf5\x80\x80\x80\"}",
	     "not valid UTF-8"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"a\x01b\"}", "control"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"a\tb\"}", "control"},
	    {"{" BASE ",\"to\":\"a\\ud800@x.io\"}", "surrogate"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\\udc00\"}", "surrogate"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\\uD800\\u0041\"}",
	     "surrogate"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":\"\\ud800\"}", "surrogate"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":NaN}", "NaN"},
	    {"{" BASE ",\"to\":\"b@x.io\",\"z\":[-Infinity]}", "Infinity"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (send_json(bad[i].json) != AE_SCHEMA)
			fail_msg("case %zu accepted", i);
		assert_non_null(strstr(E.detail, bad[i].why));
	}
	/* a pair, escaped and raw, and escaped backslashes before a 'u' */
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"n\":1E5,"
	                           "\"z\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80 "
	                           "\\\\ud800 \\\\\\\"\"}"),
	                 AE_NONE);
}

static void
test_depth(void **state)
{
	char json[256];
	int i, n = 0;

	n += snprintf(json + n, sizeof(json) - n,
	              "{" BASE ",\"to\":\"b@x.io\","
	              "\"z\":");
	for (i = 0; i < 40; i++)
		json[n++] = '[';
	for (i = 0; i < 40; i++)
		json[n++] = ']';
	json[n++] = '}';
	json[n] = '\0';
	assert_int_equal(send_json(json), AE_SCHEMA);
	assert_string_equal(E.detail, "the body is nested too deeply");
}

static void
test_from_forms(void **state)
{
	assert_int_equal(send_json("{\"from\":{\"address\":\"a@example.com\","
	                           "\"name\":\"Ann\"},\"to\":\"b@x.io\","
	                           "\"subject\":\"s\",\"html\":\"<b>h</b>\"}"),
	                 AE_NONE);
	assert_string_equal(M.from.name, "Ann");
	assert_null(M.text);
	assert_int_equal(M.html_len, 8);
	/* email alias, null name */
	assert_int_equal(send_json("{\"from\":{\"email\":\"a@example.com\","
	                           "\"name\":null},\"to\":\"b@x.io\","
	                           "\"subject\":\"s\",\"text\":\"t\"}"),
	                 AE_NONE);
	assert_string_equal(M.from.address, "a@example.com");
	assert_null(M.from.name);
	/* both → 10001 */
	assert_int_equal(send_json("{\"from\":{\"email\":\"a@example.com\","
	                           "\"address\":\"a@example.com\"},"
	                           "\"to\":\"b@x.io\",\"subject\":\"s\","
	                           "\"text\":\"t\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/from");
	/* neither */
	assert_int_equal(
	    send_json("{\"from\":{\"name\":\"x\"},\"to\":\"b@x.io\","
	              "\"subject\":\"s\",\"text\":\"t\"}"),
	    AE_SCHEMA);
	assert_string_equal(E.pointer, "/from/address");
	/* wrong types */
	assert_int_equal(send_json("{\"from\":42,\"to\":\"b@x.io\","
	                           "\"subject\":\"s\",\"text\":\"t\"}"),
	                 AE_SCHEMA);
	assert_int_equal(
	    send_json("{\"from\":[\"a@example.com\"],\"to\":"
	              "\"b@x.io\",\"subject\":\"s\",\"text\":\"t\"}"),
	    AE_SCHEMA);
	assert_int_equal(send_json("{\"from\":{\"address\":\"a@example.com\","
	                           "\"name\":5},\"to\":\"b@x.io\","
	                           "\"subject\":\"s\",\"text\":\"t\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/from/name");
	/* missing */
	assert_int_equal(send_json("{\"to\":\"b@x.io\",\"subject\":\"s\","
	                           "\"text\":\"t\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/from");
	/* a CR in a display name never reaches a header */
	assert_int_equal(send_json("{\"from\":{\"address\":\"a@example.com\","
	                           "\"name\":\"A\\r\\nBcc: x@y.z\"},"
	                           "\"to\":\"b@x.io\",\"subject\":\"s\","
	                           "\"text\":\"t\"}"),
	                 AE_INVALID);
}

static void
test_name_addr(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":\"Bob <b@x.io>\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/to");
	assert_int_equal(send_json("{\"from\":\"Ann <a@example.com>\","
	                           "\"subject\":\"s\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/from");
	assert_int_equal(send_json("{" BASE ",\"to\":[\"b@x.io\","
	                           "{\"address\":\"Bob <c@x.io>\"}]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/to/1/address");
}

static void
test_bad_address(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":[\"a1@x.io\",\"a2@x.io\","
	                           "\"a3@x.io\",\"bob@@example.com\"]}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/to/3");
	assert_non_null(strstr(E.detail, "to[3]: 'bob@@example.com' "));
	assert_int_equal(send_json("{" BASE ",\"cc\":\"no-at-sign\"}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/cc");
	assert_non_null(strstr(E.detail, "cc: 'no-at-sign'"));
	assert_int_equal(send_json("{\"from\":\"a@@example.com\","
	                           "\"subject\":\"s\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\"}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/from");
	assert_int_equal(send_json("{" BASE ",\"to\":[\"b@x.io\", 7]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/to/1");
	assert_int_equal(send_json("{" BASE ",\"to\":[\"b@x.io\", null]}"),
	                 AE_SCHEMA);
}

static void
test_schema_beats_content(void **state)
{
	/* a bad address (10202) then an unknown disposition (10001) */
	assert_int_equal(
	    send_json("{" BASE ",\"to\":\"bad@@x.io\","
	              "\"attachments\":[{\"content\":\"aGk=\","
	              "\"filename\":\"a.txt\",\"type\":\"text/plain\","
	              "\"disposition\":\"sideways\"}]}"),
	    AE_SCHEMA);
	assert_string_equal(E.pointer, "/attachments/0/disposition");
	/* subject too long (10202) then headers of the wrong type */
	assert_int_equal(send_json("{\"from\":\"a@example.com\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\",\"subject\":\"\\r\","
	                           "\"headers\":[]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/headers");
}

static char *
many_rcpts(int n, int distinct, const char *dom)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "{" BASE ",\"to\":[");
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\"r%d@%s\"", i ? "," : "", i % distinct, dom);
	buf_puts(&b, "]}");
	return b.p;
}

static void
test_recipient_limits(void **state)
{
	char *j;

	j = many_rcpts(50, 50, "x.io");
	assert_int_equal(send_json(j), AE_NONE);
	assert_int_equal(M.nto, 50);
	free(j);
	j = many_rcpts(51, 51, "x.io");
	assert_int_equal(send_json(j), AE_INVALID);
	assert_string_equal(E.pointer, "/to/50");
	free(j);
	/* 120 entries, 50 distinct: fine after de-duplication */
	j = many_rcpts(120, 50, "x.io");
	assert_int_equal(send_json(j), AE_NONE);
	assert_int_equal(M.nto, 50);
	free(j);
	/* 50 in to plus one new in bcc → 51 */
	j = many_rcpts(50, 50, "x.io");
	strcpy(j + strlen(j) - 1, ",\"bcc\":\"z@x.io\"}");
	assert_int_equal(send_json(j), AE_INVALID);
	assert_string_equal(E.pointer, "/bcc");
	free(j);
}

static void
test_dedupe(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":[\"b@X.io\",\"b@x.IO\","
	                           "\"B@x.io\"],\"cc\":[\"b@x.io\",\"c@x.io\"],"
	                           "\"bcc\":{\"address\":\"C@x.io\"}}"),
	                 AE_NONE);
	/* domain case-insensitive, local part exact */
	assert_int_equal(M.nto, 2);
	assert_string_equal(M.to[0].address, "b@X.io");
	assert_string_equal(M.to[0].ascii, "b@x.io");
	assert_string_equal(M.to[1].address, "B@x.io");
	assert_int_equal(M.ncc, 1);
	assert_string_equal(M.cc[0].address, "c@x.io");
	assert_int_equal(M.nbcc, 1);
	assert_string_equal(M.bcc[0].address, "C@x.io");
	/* a bcc that repeats a to is dropped */
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"bcc\":"
	                           "[\"b@x.io\"]}"),
	                 AE_NONE);
	assert_int_equal(M.nbcc, 0);
}

static void
test_no_recipients(void **state)
{
	assert_int_equal(send_json("{" BASE "}"), AE_SCHEMA);
	assert_string_equal(E.pointer, "/to");
	assert_int_equal(send_json("{" BASE ",\"to\":[],\"cc\":[]}"),
	                 AE_INVALID);
	assert_int_equal(send_json("{" BASE ",\"to\":null,\"cc\":\"c@x.io\"}"),
	                 AE_NONE);
	assert_int_equal(M.nto, 0);
	assert_int_equal(M.ncc, 1);
}

static void
test_subject(void **state)
{
	struct buf b;
	int i;

	assert_int_equal(send_json("{\"from\":\"a@example.com\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/subject");
	assert_int_equal(send_json("{\"from\":\"a@example.com\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\",\"subject\":1}"),
	                 AE_SCHEMA);
	/* 998 characters of 2 bytes each: fine; 999: too long */
	buf_init(&b, 0);
	buf_puts(&b, "{\"from\":\"a@example.com\",\"text\":\"t\","
	             "\"to\":\"b@x.io\",\"subject\":\"");
	for (i = 0; i < 998; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, "\"}");
	assert_int_equal(send_json(b.p), AE_NONE);
	assert_int_equal(strlen(M.subject), 1996);
	buf_reset(&b);
	buf_puts(&b, "{\"from\":\"a@example.com\",\"text\":\"t\","
	             "\"to\":\"b@x.io\",\"subject\":\"");
	for (i = 0; i < 999; i++)
		buf_puts(&b, "e");
	buf_puts(&b, "\"}");
	assert_int_equal(send_json(b.p), AE_INVALID);
	assert_string_equal(E.pointer, "/subject");
	buf_clear(&b);
	assert_int_equal(send_json("{\"from\":\"a@example.com\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\",\"subject\":\"a\\nb\"}"),
	                 AE_INVALID);
	assert_int_equal(send_json("{\"from\":\"a@example.com\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\",\"subject\":\"\"}"),
	                 AE_NONE);
}

static void
test_body(void **state)
{
	const char *h = "{\"from\":\"a@example.com\",\"subject\":\"s\","
	                "\"to\":\"b@x.io\"";
	char j[256];

	snprintf(j, sizeof(j), "%s}", h);
	assert_int_equal(send_json(j), AE_INVALID);
	assert_string_equal(E.pointer, "/text");
	snprintf(j, sizeof(j), "%s,\"text\":\"\",\"html\":\"\"}", h);
	assert_int_equal(send_json(j), AE_INVALID);
	snprintf(j, sizeof(j), "%s,\"text\":\"\",\"html\":\"<p>\"}", h);
	assert_int_equal(send_json(j), AE_NONE);
	assert_null(M.text);
	assert_string_equal(M.html, "<p>");
	snprintf(j, sizeof(j), "%s,\"text\":5}", h);
	assert_int_equal(send_json(j), AE_SCHEMA);
	assert_string_equal(E.pointer, "/text");
	snprintf(j, sizeof(j), "%s,\"text\":\"a\",\"html\":null}", h);
	assert_int_equal(send_json(j), AE_NONE);
	assert_null(M.html);
}

static void
test_reply_to_unknown(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"reply_to\":"
	                           "{\"address\":\"r@x.io\",\"name\":\"R\"},"
	                           "\"future_field\":{\"x\":[1,2]}}"),
	                 AE_NONE);
	assert_non_null(M.reply_to);
	assert_string_equal(M.reply_to->address, "r@x.io");
	assert_string_equal(M.reply_to->name, "R");
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"reply_to\":"
	                           "[\"r@x.io\"]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/reply_to");
}

static void
test_headers(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"X-Campaign\":\"c1\",\"precedence\":"
	                           "\"bulk\"}}"),
	                 AE_NONE);
	assert_int_equal(M.nheaders, 2);
	assert_string_equal(M.headers[0].name, "X-Campaign");
	assert_string_equal(M.headers[0].value, "c1");
	assert_string_equal(M.headers[1].name, "Precedence");
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"Date\":\"now\"}}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/headers/Date");
	assert_non_null(strstr(E.detail, "Date"));
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"X-A\":1}}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/headers/X-A");
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "\"X-A: 1\"}"),
	                 AE_SCHEMA);
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"X-A\":\"a\\r\\nBcc: x@y.z\"}}"),
	                 AE_INVALID);
	/* List-Unsubscribe-Post without an https List-Unsubscribe */
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"List-Unsubscribe-Post\":"
	                           "\"List-Unsubscribe=One-Click\"}}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/headers");
	/* RFC 6901 escaping of the pointer */
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\",\"headers\":"
	                           "{\"a/b~c\":\"v\"}}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/headers/a~1b~0c");
}

#define ATT(fields) "{" BASE ",\"to\":\"b@x.io\",\"attachments\":[" fields "]}"

static void
test_attachments(void **state)
{
	assert_int_equal(
	    send_json(ATT("{\"content\":\"aGVs\\nbG8\",\"filename\":"
	                  "\"h.txt\",\"type\":\"text/plain\","
	                  "\"disposition\":\"attachment\"},"
	                  "{\"content\":\"iVBO\",\"filename\":\"l.png\","
	                  "\"type\":\"image/png\",\"disposition\":"
	                  "\"inline\",\"contentId\":\"<logo>\"}")),
	    AE_NONE);
	assert_int_equal(M.natts, 2);
	assert_int_equal(M.atts[0].len, 5);
	assert_memory_equal(M.atts[0].content, "hello", 5);
	assert_int_equal(M.atts[0].disposition, DISP_ATTACHMENT);
	assert_null(M.atts[0].content_id);
	assert_string_equal(M.atts[0].filename, "h.txt");
	assert_string_equal(M.atts[0].type, "text/plain");
	assert_int_equal(M.atts[1].disposition, DISP_INLINE);
	assert_string_equal(M.atts[1].content_id, "logo");
	assert_int_equal(M.atts[1].len, 3);

	/* inline without content_id */
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"l.png\",\"type\":\"image/png\","
	                               "\"disposition\":\"inline\"}")),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/attachments/0/content_id");
	/* both spellings */
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"l.png\",\"type\":\"image/png\","
	                               "\"disposition\":\"inline\","
	                               "\"content_id\":\"a\",\"contentId\":"
	                               "\"a\"}")),
	                 AE_SCHEMA);
	/* missing / mistyped fields */
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"type\":"
	                               "\"text/plain\",\"disposition\":"
	                               "\"attachment\"}")),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/attachments/0/filename");
	assert_int_equal(send_json(ATT("{\"content\":1,\"filename\":\"a\","
	                               "\"type\":\"text/plain\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_SCHEMA);
	assert_int_equal(send_json(ATT("\"x\"")), AE_SCHEMA);
	assert_string_equal(E.pointer, "/attachments/0");
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\","
	                           "\"attachments\":{}}"),
	                 AE_SCHEMA);
	/* content rules */
	assert_int_equal(send_json(ATT("{\"content\":\"a$Gk=\",\"filename\":"
	                               "\"a\",\"type\":\"text/plain\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/attachments/0/content");
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"a\",\"type\":\"pdf\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/attachments/0/type");
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"a\",\"type\":\"text/plain; x=y\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"a\\r\\nb\",\"type\":\"text/plain\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/attachments/0/filename");
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"a\",\"type\":\"text/plain\\u0000x\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
	assert_int_equal(send_json(ATT("{\"content\":\"aGk=\",\"filename\":"
	                               "\"a\\u0000b\",\"type\":\"text/plain\","
	                               "\"disposition\":\"attachment\"}")),
	                 AE_INVALID);
}

static void
test_attachment_count(void **state)
{
	struct buf b;
	int i, n;

	for (n = 100; n <= 101; n++) {
		buf_init(&b, 0);
		buf_puts(&b, "{" BASE ",\"to\":\"b@x.io\",\"attachments\":[");
		for (i = 0; i < n; i++)
			buf_printf(&b,
			           "%s{\"content\":\"aGk=\",\"filename\":"
			           "\"a\",\"type\":\"text/plain\","
			           "\"disposition\":\"attachment\"}",
			           i ? "," : "");
		buf_puts(&b, "]}");
		assert_int_equal(send_json(b.p),
		                 n == 100 ? AE_NONE : AE_INVALID);
		buf_clear(&b);
	}
}

static void
test_send_raw(void **state)
{
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "[\"b@x.io\",\"b@X.IO\",\"c@x.io\"],"
	                          "\"mime_message\":\"From: a@example.com\\r\\n"
	                          "\\r\\nHi\"}"),
	                 AE_NONE);
	assert_string_equal(R.from.domain, "example.com");
	assert_int_equal(R.nrcpts, 2);
	assert_string_equal(R.rcpts[1].address, "c@x.io");
	assert_int_equal(R.mime_len, 25);
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "[\"b@x.io\"]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/mime_message");
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "\"b@x.io\",\"mime_message\":\"x\"}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/recipients");
	assert_int_equal(raw_json("{\"recipients\":[\"b@x.io\"],"
	                          "\"mime_message\":\"x\"}"),
	                 AE_SCHEMA);
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "[],\"mime_message\":\"x\"}"),
	                 AE_INVALID);
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "[\"b@@x.io\"],\"mime_message\":\"x\"}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/recipients/0");
	assert_int_equal(raw_json("{\"from\":\"a@example.com\",\"recipients\":"
	                          "[\"b@x.io\"],\"mime_message\":7}"),
	                 AE_SCHEMA);
}

static void
test_send_raw_limit(void **state)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "{\"from\":\"a@example.com\",\"mime_message\":\"x\","
	             "\"recipients\":[");
	for (i = 0; i < 51; i++)
		buf_printf(&b, "%s\"r%d@x.io\"", i ? "," : "", i);
	buf_puts(&b, "]}");
	assert_int_equal(raw_json(b.p), AE_INVALID);
	assert_string_equal(E.pointer, "/recipients/50");
	buf_clear(&b);
}

/* pre, then n copies of e separated by commas, then post. */
static char *
repeat(const char *pre, int n, const char *e, const char *post)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, pre);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", e);
	buf_puts(&b, post);
	return b.p;
}

/* {"k0":v,"k1":v,...} with n members: n + 1 values, keys are none. */
static char *
members(int n, const char *v)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "{");
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s\"k%d\":%s", i ? "," : "", i, v);
	buf_puts(&b, "}");
	return b.p;
}

static const char *
scan(const char *s)
{
	return jsonreq_scan(s, strlen(s));
}

#define TOO_MANY "the body has more than 5626 JSON values"
#define TOO_LONG "the body has an array of more than 400 values"
#define TOO_DEEP "the body is nested too deeply"

static void
test_scan_values(void **state)
{
	const char *kinds[] = {"{}",   "[]",     "\"s\"", "true",
	                       "null", "-1.5e3", "0"};
	size_t i;
	char *j;

	assert_int_equal(JSONREQ_MAX_VALUES, 2 * JSONREQ_SCHEMA_VALUES);
	/* the object and its members: exactly the bound, then one more */
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		j = members(JSONREQ_MAX_VALUES - 1, kinds[i]);
		if (scan(j) != NULL)
			fail_msg("%s: %s", kinds[i], scan(j));
		free(j);
		j = members(JSONREQ_MAX_VALUES, kinds[i]);
		if (scan(j) == NULL || strcmp(scan(j), TOO_MANY) != 0)
			fail_msg("%s: one past the bound is let through",
			         kinds[i]);
		free(j);
	}
	/* {"x":[1]} is three values: 1 + 3 * 1875 = 5626 */
	j = members(JSONREQ_MAX_VALUES / 3, "{\"x\":[1]}");
	assert_null(scan(j));
	free(j);
	j = members(JSONREQ_MAX_VALUES / 3, "{\"x\":[1,2]}");
	assert_string_equal(scan(j), TOO_MANY);
	free(j);
	/* through the parser: 10001 at the root, no tree */
	j = members(JSONREQ_MAX_VALUES, "{}");
	assert_int_equal(send_json(j), AE_SCHEMA);
	assert_string_equal(E.detail, TOO_MANY);
	assert_string_equal(E.pointer, "");
	assert_null(root);
	free(j);
}

static void
test_scan_array(void **state)
{
	char *j;

	j = repeat("{\"a\":[", JSONREQ_MAX_ARRAY, "{}", "]}");
	assert_null(scan(j));
	free(j);
	j = repeat("{\"a\":[", JSONREQ_MAX_ARRAY + 1, "{}", "]}");
	assert_string_equal(scan(j), TOO_LONG);
	free(j);
	/* a top-level array, as the amplification body has it */
	j = repeat("[", JSONREQ_MAX_ARRAY + 1, "{}", "]");
	assert_int_equal(send_json(j), AE_SCHEMA);
	assert_string_equal(E.detail, TOO_LONG);
	free(j);
	/* each array has its own count; nested elements are not its own */
	j = repeat("{\"a\":[", JSONREQ_MAX_ARRAY, "[1,2,3]",
	           "],\"b\":[1,2,3]}");
	assert_null(scan(j));
	free(j);
	j = repeat("[[", JSONREQ_MAX_ARRAY, "1", "]]");
	assert_null(scan(j));
	free(j);
	/* an object's members are not array elements */
	j = members(JSONREQ_MAX_ARRAY + 1, "1");
	assert_null(scan(j));
	free(j);
	/* the schema's own longest lists still get their 10202 (SPEC §2.2) */
	j = repeat("{" BASE ",\"to\":[", JSONREQ_MAX_ARRAY, "\"r@x.io\"",
	           "],\"cc\":[\"a@x.io\"]}");
	assert_int_equal(send_json(j), AE_NONE);
	assert_int_equal(M.nto, 1);
	free(j);
}

static char *
nest(int d, const char *inside)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "{\"a\":");
	for (i = 1; i < d; i++)
		buf_puts(&b, i % 2 ? "[" : "{\"k\":");
	buf_puts(&b, inside);
	for (i = d - 1; i >= 1; i--)
		buf_puts(&b, i % 2 ? "]" : "}");
	buf_puts(&b, "}");
	return b.p;
}

static void
test_scan_depth(void **state)
{
	const char *inner[] = {"1", "\"s\"", "{}", "[]", "null"};
	size_t i;
	char *j;

	/* levels of values, as json-c counts them: the body's object is
	 * the first, the innermost value (an empty container, a scalar)
	 * the last; json-c agrees on both sides of the bound */
	for (i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		j = nest(JSONREQ_MAX_DEPTH - 1, inner[i]);
		assert_null(scan(j));
		assert_int_equal(send_json(j), AE_SCHEMA);
		assert_string_equal(E.pointer, "/from"); /* parsed */
		free(j);
		j = nest(JSONREQ_MAX_DEPTH, inner[i]);
		assert_string_equal(scan(j), TOO_DEEP);
		assert_int_equal(send_json(j), AE_SCHEMA);
		assert_string_equal(E.detail, TOO_DEEP);
		free(j);
	}
	/* an empty container at the last level holds no value */
	j = nest(JSONREQ_MAX_DEPTH, "");
	assert_null(scan(j));
	free(j);
	/* closed containers give their level back */
	j = repeat("{\"a\":[", 3, "[[[[[[[[[[[[[1]]]]]]]]]]]]]", "]}");
	assert_null(scan(j));
	free(j);
	j = repeat("{\"a\":[", 3, "[[[[[[[[[[[[[[1]]]]]]]]]]]]]]", "]}");
	assert_string_equal(scan(j), TOO_DEEP);
	free(j);
}

/* Strings are skipped whole: brackets, commas and escaped quotes in them
 * are no structure, in keys or in values. */
static void
test_scan_strings(void **state)
{
	char *j;

	assert_null(
	    scan("{\"[[[[[[[[[[[[[[[[[[[[\":\"{{{{{{{{{{{{{{{{{{{{\"}"));
	/* an escaped quote does not end the string */
	assert_null(scan("{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[\\\"\"}"));
	/* an escaped backslash does not escape the quote after it: the
	 * brackets after it are structure again */
	j = nest(JSONREQ_MAX_DEPTH - 1, "\"\\\\\"");
	assert_null(scan(j));
	free(j);
	j = nest(JSONREQ_MAX_DEPTH, "\"\\\\\"");
	assert_string_equal(scan(j), TOO_DEEP);
	free(j);
	/* \" and \\ and \u escapes, at the last level */
	j = nest(JSONREQ_MAX_DEPTH - 1, "\"a\\\"b\\\\c\\u005b[\"");
	assert_null(scan(j));
	free(j);
	/* commas and values inside strings are not counted */
	j = repeat("{\"a\":[", JSONREQ_MAX_ARRAY, "\",1,{},[\\\",2,\"", "]}");
	assert_null(scan(j));
	free(j);
	j = members(JSONREQ_MAX_VALUES - 1, "\"1,2,[3],{}\"");
	assert_null(scan(j));
	free(j);
	/* a string cut short, or ending in a backslash: not JSON, no
	 * out-of-bounds read (ASan), left to json-c */
	assert_null(scan("{\"a\":\"[[["));
	assert_null(scan("{\"a\":\"\\"));
	assert_int_equal(send_json("{\"a\":\"\\"), AE_SCHEMA);
	assert_string_equal(E.detail, "the body is not valid JSON");
}

/* Every limit of the schema at its maximum at once: accepted. */
static void
test_scan_full_send(void **state)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_puts(&b, "{\"from\":{\"address\":\"a@example.com\",\"name\":\"A\"},"
	             "\"reply_to\":{\"address\":\"r@example.com\","
	             "\"name\":\"R\"},\"subject\":\"s\",\"text\":\"t\","
	             "\"html\":\"<p>h</p>\",\"to\":[");
	for (i = 0; i < MAX_RECIPIENTS; i++)
		buf_printf(&b, "%s{\"address\":\"r%d@x.io\",\"name\":\"R %d\"}",
		           i ? "," : "", i, i);
	buf_puts(&b, "],\"cc\":[");
	for (i = 0; i < MAX_RECIPIENTS; i++)
		buf_printf(&b, "%s{\"email\":\"r%d@x.io\",\"name\":null}",
		           i ? "," : "", i);
	buf_puts(&b, "],\"bcc\":[");
	for (i = 0; i < MAX_RECIPIENTS; i++)
		buf_printf(&b, "%s{\"address\":\"r%d@x.io\",\"name\":\"\"}",
		           i ? "," : "", i);
	buf_puts(&b, "],\"attachments\":[");
	for (i = 0; i < MAX_ATTACHMENTS; i++)
		buf_printf(&b,
		           "%s{\"content\":\"aGk=\",\"filename\":\"a%d.txt\","
		           "\"type\":\"text/plain\",\"disposition\":\"inline\","
		           "\"content_id\":\"c%d\"}",
		           i ? "," : "", i, i);
	/* as many headers as MAX_HEADERS_TOTAL lets names of 6 bytes have */
	buf_puts(&b, "],\"headers\":{");
	for (i = 0; i < MAX_HEADERS_TOTAL / 11; i++)
		buf_printf(&b, "%s\"X-%04d\":\"v\"", i ? "," : "", i);
	buf_puts(&b, "},\"sdk_extra\":{\"a\":[1,2,3]}}");
	assert_null(jsonreq_scan(b.p, b.len));
	assert_int_equal(send_json(b.p), AE_NONE);
	assert_int_equal(M.nto, MAX_RECIPIENTS);
	assert_int_equal(M.ncc + M.nbcc, 0);
	assert_int_equal(M.natts, MAX_ATTACHMENTS);
	assert_int_equal(M.nheaders, MAX_HEADERS_TOTAL / 11);
	buf_clear(&b);
}

/* SPEC §2.2: a control character makes a bad address (10202), even when
 * the rest looks like "Name <addr>" (10001). */
static void
test_ctrl_address(void **state)
{
	assert_int_equal(send_json("{" BASE ",\"to\":\"bob@example.net\\r\\n"
	                           "RCPT TO:<x@y.z>\"}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/to");
	assert_non_null(strstr(E.detail, "contains CR, LF"));
	assert_int_equal(send_json("{" BASE ",\"to\":[\"b@x.io\",{\"address\":"
	                           "\"c@x.io\\nBcc: <d@y.z>\"}]}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/to/1/address");
	assert_non_null(strstr(E.detail, "control character"));
	assert_int_equal(send_json("{\"from\":\"Ann <a@example.com>\\r\\n\","
	                           "\"subject\":\"s\",\"text\":\"t\","
	                           "\"to\":\"b@x.io\"}"),
	                 AE_INVALID);
	assert_string_equal(E.pointer, "/from");
	assert_int_equal(send_json("{" BASE ",\"cc\":\"Bob\\t<b@x.io>\"}"),
	                 AE_INVALID);
	assert_int_equal(send_json("{" BASE ",\"cc\":\"<b@x.io\\u007f>\"}"),
	                 AE_INVALID);
	/* a schema error later in the body still wins */
	assert_int_equal(send_json("{" BASE ",\"to\":\"b@x.io\\r\\n<c@y.z>\","
	                           "\"headers\":[]}"),
	                 AE_SCHEMA);
	assert_string_equal(E.pointer, "/headers");
	/* without one it is a display name, as before */
	assert_int_equal(send_json("{" BASE ",\"to\":\"Bob <b@x.io> \"}"),
	                 AE_SCHEMA);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_minimal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_utf8_json, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_addr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_beats_content, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_recipient_limits, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_dedupe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_recipients, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_subject, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_to_unknown, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attachment_count, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_send_raw, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_raw_limit, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_scan_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_array, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_depth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_full_send, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
