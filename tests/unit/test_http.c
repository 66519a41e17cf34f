/*
 * test_http: the HTTP front in process (src/api/http.c, router.c,
 * send.c, send_raw.c, messages.c): a real store in a temporary directory,
 * the real queue with the capture route, api_start on an ephemeral port,
 * and requests written byte by byte on a socket. It checks the order of
 * SPEC §2.2 (route → auth → Content-Length → schema → content → sender
 * domain), the envelope and status codes, and a send through to
 * GET messages/{id}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/api/api.h"
#include "../../src/api/req.h"
#include "../../src/core/clock.h"
#include "../../src/core/hash.h"
#include "../../src/core/log.h"
#include "../../src/mail/dkim.h"
#include "../../src/admin/wire.h"
#include "seed.h"

#define ACC SEED_ACC
#define TOKEN SEED_TOKEN
#define SEND "/client/v4/accounts/" ACC "/email/sending/send"
#define SEND_RAW "/accounts/" ACC "/email/sending/send_raw"

static char dir[64];
static struct config cfg;
static struct queue *q;
static struct tenant *tenant;
static struct submit *submit;
static struct api *api;
static int port;

struct resp {
	int status;
	char head[4096];
	char *body; /* malloc'd */
	size_t body_len;
	struct json_object *json;
	int code; /* errors[0].code or 0 */
};

static void
resp_clear(struct resp *r)
{
	free(r->body);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

/* Sends raw bytes, reads the whole answer (the server closes). */
static void
raw_request(const char *req, size_t len, struct resp *r)
{
	struct sockaddr_in sin;
	struct json_object *errs;
	char *p = NULL, *hend;
	size_t n = 0, cap = 0;
	ssize_t k;
	int fd;

	memset(r, 0, sizeof(*r));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, req, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			assert_non_null(p = realloc(p, cap));
		}
		if ((k = read(fd, p + n, cap - n - 1)) <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	p[n] = '\0';
	assert_int_equal(sscanf(p, "HTTP/1.1 %d", &r->status), 1);
	assert_non_null(hend = strstr(p, "\r\n\r\n"));
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(hend - p), p);
	r->body_len = n - (size_t)(hend + 4 - p);
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, hend + 4, r->body_len + 1);
	free(p);
	if ((r->json = json_tokener_parse(r->body)) != NULL &&
	    json_object_object_get_ex(r->json, "errors", &errs) &&
	    json_object_array_length(errs) > 0)
		r->code = json_object_get_int(json_object_object_get(
		    json_object_array_get_idx(errs, 0), "code"));
}

static void
request(const char *method, const char *path, const char *auth,
        const char *body, struct resp *r)
{
	char *req;
	int n;

	n = asprintf(&req,
	             "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s"
	             "Content-Type: application/json\r\n",
	             method, path, auth ? "Authorization: Bearer " : "",
	             auth ? auth : "", auth ? "\r\n" : "");
	assert_true(n > 0);
	if (body != NULL) {
		char *full;
		n = asprintf(&full, "%sContent-Length: %zu\r\n\r\n%s", req,
		             strlen(body), body);
		free(req);
		req = full;
	} else {
		char *full;
		n = asprintf(&full, "%s\r\n", req);
		free(req);
		req = full;
	}
	raw_request(req, (size_t)n, r);
	free(req);
}

static int
setup(void **state)
{
	char err[256];
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	log_init(LOG_LVL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/pigeon-test-http-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	config_defaults(&cfg, 0);
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	cfg.http_port = 0;
	cfg.http_threads = 2;
	cfg.send_wait_ms = 3000;
	cfg.max_body = 1024 * 1024;
	if (config_finish(&cfg, err, sizeof(err)) == -1)
		return -1;
	if (seed_sender(cfg.db_path, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	/* port 0: the system picks one, read back from the socket */
	if ((fd = api_listen(&cfg, err, sizeof(err))) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		fprintf(stderr, "listen: %s\n", err);
		return -1;
	}
	port = ntohs(sin.sin_port);
	if ((q = wire_queue(&cfg, err, sizeof(err))) == NULL ||
	    (tenant = tenant_new(&cfg, err, sizeof(err))) == NULL ||
	    (submit = submit_new(&cfg, q)) == NULL ||
	    (api = api_start(&cfg, q, submit, tenant, fd, err, sizeof(err))) ==
	        NULL) {
		fprintf(stderr, "start: %s\n", err);
		return -1;
	}
	return port > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	api_stop(api);
	queue_stop(q);
	submit_free(submit);
	tenant_free(tenant);
	config_clear(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_healthz_verify(void **state)
{
	struct resp r;

	request("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"success\":true,\"errors\":[],"
	                            "\"messages\":[],\"result\":{\"status\":"
	                            "\"ok\"}}");
	resp_clear(&r);
	request("GET", "/client/v4/user/tokens/verify", TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"id\":\"1111111111111111111111111111"
	                               "1111\",\"status\":\"active\""));
	resp_clear(&r);
	request("GET", "/user/tokens/verify", "wrong", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.code, 10101);
	resp_clear(&r);
}

static void
test_route_errors(void **state)
{
	struct resp r;

	/* route before auth */
	request("POST", "/client/v4/accounts/" ACC "/email/sending/nope", NULL,
	        "{}", &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.code, 10000);
	assert_non_null(strstr(r.body, "\"success\":false"));
	assert_non_null(strstr(r.body, "\"result\":null"));
	resp_clear(&r);
	request("GET", "/nothing/here", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.code, 10000);
	resp_clear(&r);
	request("GET", SEND, TOKEN, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_int_equal(r.code, 10003);
	assert_non_null(strstr(r.head, "\r\nAllow: POST"));
	resp_clear(&r);
}

static void
test_auth_then_length(void **state)
{
	const char chunked[] = "POST " SEND " HTTP/1.1\r\nHost: t\r\n"
	                       "Connection: close\r\n%s"
	                       "Transfer-Encoding: chunked\r\n\r\n"
	                       "2\r\n{}\r\n0\r\n\r\n";
	char req[1024];
	struct resp r;
	int n;

	/* auth before Content-Length */
	n = snprintf(req, sizeof(req), chunked, "");
	raw_request(req, (size_t)n, &r);
	assert_int_equal(r.status, 401);
	assert_int_equal(r.code, 10101);
	resp_clear(&r);
	n = snprintf(req, sizeof(req), chunked,
	             "Authorization: Bearer " TOKEN "\r\n");
	raw_request(req, (size_t)n, &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.code, 10201);
	resp_clear(&r);
	/* too big: answered from the header alone, no body sent */
	n = snprintf(req, sizeof(req),
	             "POST " SEND
	             " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	             "Authorization: Bearer " TOKEN "\r\n"
	             "Content-Length: 99999999\r\n\r\n");
	raw_request(req, (size_t)n, &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.code, 10200);
	resp_clear(&r);
	/* another account's route */
	request("POST",
	        "/accounts/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/email/sending/send",
	        TOKEN, "{}", &r);
	assert_int_equal(r.status, 403);
	assert_int_equal(r.code, 10102);
	resp_clear(&r);
}

static void
test_send_order(void **state)
{
	struct resp r;

	request("POST", SEND, TOKEN, "{not json", &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.code, 10001);
	resp_clear(&r);
	/* content rules before the sender domain */
	request("POST", SEND, TOKEN,
	        "{\"from\":\"a@other.example\",\"to\":\"bob@@x.io\","
	        "\"subject\":\"s\",\"text\":\"t\"}",
	        &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.code, 10202);
	assert_non_null(strstr(r.body, "\"pointer\":\"/to\""));
	assert_non_null(strstr(r.body, "to: 'bob@@x.io'"));
	resp_clear(&r);
	request("POST", SEND, TOKEN,
	        "{\"from\":\"a@other.example\",\"to\":\"b@x.io\","
	        "\"subject\":\"s\",\"text\":\"t\"}",
	        &r);
	assert_int_equal(r.status, 403);
	assert_int_equal(r.code, 10204);
	resp_clear(&r);
}

static const char *
json_str(struct json_object *o, const char *k)
{
	return json_object_get_string(json_object_object_get(o, k));
}

static void
test_send_and_read(void **state)
{
	struct json_object *res, *l;
	struct resp r;
	char path[512], mid[300];
	const char *s;
	size_t i, n;

	request(
	    "POST", SEND, TOKEN,
	    "{\"from\":{\"address\":\"news@example.com\",\"name\":\"News\"},"
	    "\"to\":[\"Ok@Example.net\",\"bounce@example.org\"],"
	    "\"bcc\":\"defer@example.net\",\"subject\":\"Hello\","
	    "\"text\":\"Hi\"}",
	    &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: application/json"));
	assert_non_null(r.json);
	assert_true(
	    json_object_get_boolean(json_object_object_get(r.json, "success")));
	res = json_object_object_get(r.json, "result");
	l = json_object_object_get(res, "delivered");
	assert_int_equal(json_object_array_length(l), 1);
	/* as the client wrote it */
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(l, 0)),
	    "Ok@Example.net");
	l = json_object_object_get(res, "permanent_bounces");
	assert_int_equal(json_object_array_length(l), 1);
	l = json_object_object_get(res, "queued");
	assert_int_equal(json_object_array_length(l), 1);
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(l, 0)),
	    "defer@example.net");
	l = json_object_object_get(res, "suppressed_recipients");
	assert_int_equal(json_object_array_length(l), 0);
	s = json_str(res, "message_id");
	assert_true(s[0] == '<' && s[strlen(s) - 1] == '>');
	assert_non_null(strstr(s, "@example.com>"));
	snprintf(mid, sizeof(mid), "%s", s);
	resp_clear(&r);

	/* GET messages/{id}: URL-encoded with brackets */
	n = (size_t)snprintf(path, sizeof(path),
	                     "/client/v4/accounts/" ACC
	                     "/email/sending/messages/");
	for (i = 0; mid[i] != '\0'; i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n,
		                      mid[i] == '<'   ? "%%3C"
		                      : mid[i] == '>' ? "%%3E"
		                      : mid[i] == '@' ? "%%40"
		                                      : "%c",
		                      mid[i]);
	request("GET", path, TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: message/rfc822"));
	assert_memory_equal(r.body, "DKIM-Signature: ", 16);
	assert_non_null(strstr(r.body, mid));
	assert_null(strstr(r.body, "defer@example.net")); /* bcc */
	resp_clear(&r);

	/* and without brackets; the status */
	mid[strlen(mid) - 1] = '\0';
	snprintf(path, sizeof(path),
	         "/accounts/" ACC "/email/sending/messages/%s/status", mid + 1);
	request("GET", path, TOKEN, NULL, &r);
	assert_int_equal(r.status, 200);
	res = json_object_object_get(r.json, "result");
	assert_non_null(res);
	l = json_object_object_get(res, "recipients");
	assert_int_equal(json_object_array_length(l), 3);
	assert_string_equal(json_str(json_object_array_get_idx(l, 0), "status"),
	                    "delivered");
	assert_string_equal(json_str(json_object_array_get_idx(l, 1), "status"),
	                    "bounced");
	assert_non_null(json_str(res, "created"));
	resp_clear(&r);

	request("GET",
	        "/accounts/" ACC "/email/sending/messages/nope@example.com",
	        TOKEN, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.code, 10000);
	resp_clear(&r);
}

static void
test_send_raw(void **state)
{
	struct json_object *res;
	struct resp r;

	request(
	    "POST", SEND_RAW, TOKEN,
	    "{\"from\":\"news@example.com\",\"recipients\":[\"x@example.net\"],"
	    "\"mime_message\":\"From: news@example.com\\nTo: x@example.net\\n"
	    "Subject: Raw\\nMessage-ID: <keep.me@example.com>\\n\\nHello\\n\"}",
	    &r);
	assert_int_equal(r.status, 200);
	res = json_object_object_get(r.json, "result");
	assert_string_equal(json_str(res, "message_id"),
	                    "<keep.me@example.com>");
	assert_int_equal(
	    json_object_array_length(json_object_object_get(res, "delivered")),
	    1);
	resp_clear(&r);
	request(
	    "POST", SEND_RAW, TOKEN,
	    "{\"from\":\"news@example.com\",\"recipients\":[\"x@example.net\"],"
	    "\"mime_message\":\"no header section\"}",
	    &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.code, 10202);
	resp_clear(&r);
	request("POST", SEND_RAW, TOKEN,
	        "{\"from\":\"news@other.example\",\"recipients\":[\"x@x.io\"],"
	        "\"mime_message\":\"From: news@other.example\\n\\nHi\"}",
	        &r);
	assert_int_equal(r.status, 403);
	assert_int_equal(r.code, 10204);
	resp_clear(&r);
}

/* The first look at a request (req_framing, req_target, origin_path):
 * each refusal is one 400 with Connection: close. */
static void
test_framing(void **state)
{
	static const struct {
		const char *req;
		int status, code;
	} cases[] = {
	    {"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n",
	     400, 10001},
	    {"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\r\n "
	     "Content-Length: 0\r\n\r\n",
	     400, 10001},
	    {"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n "
	     "0\r\n\r\n",
	     400, 10001},
	    {"POST " SEND " HTTP/1.1\r\nHost: t\r\nContent-Length\t: 2\r\n"
	     "\r\n{}",
	     400, 10201},
	    {"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
	     "gzip\r\n\r\n",
	     400, 10001},
	    {"GET /healthz HTTP/1.1\r\n\r\n", 400, 10001},
	    {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 10001},
	    {"GET /healthz%00x HTTP/1.1\r\nHost: t\r\n\r\n", 400, 10001},
	    {"GET /health%7a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	     "\r\n",
	     200, 0},
	    {"GET http://t:1/client/v4/healthz HTTP/1.1\r\nHost: t\r\n"
	     "Connection: close\r\n\r\n",
	     200, 0},
	    {"GET /healthz HTTP/1.0\r\n\r\n", 200, 0},
	};
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw_request(cases[i].req, strlen(cases[i].req), &r);
		if (r.status != cases[i].status || r.code != cases[i].code)
			fail_msg("case %zu: %d %d\n%s", i, r.status, r.code,
			         r.body);
		if (r.status == 400)
			assert_non_null(
			    strstr(r.head, "\r\nConnection: close"));
		resp_clear(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthz_verify),
	    cmocka_unit_test(test_route_errors),
	    cmocka_unit_test(test_auth_then_length),
	    cmocka_unit_test(test_send_order),
	    cmocka_unit_test(test_send_and_read),
	    cmocka_unit_test(test_send_raw),
	    cmocka_unit_test(test_framing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
