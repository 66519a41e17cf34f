/*
 * test_envelope: the Cloudflare envelope and the error table of
 * src/api/envelope.c (SPEC §2.1, §2.2), and the route table of
 * src/api/router.c (SPEC §1, §8.3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/api/envelope.h"
#include "../../src/api/router.h"
#include "../../src/api/routes.h"
#include "../../src/store/store.h"

static void
test_table(void **state)
{
	static const struct {
		enum api_err k;
		int status, code;
		const char *msg;
	} want[] = {
	    {AE_NOT_FOUND, 404, 10000, "email.sending.error.not_found"},
	    {AE_SCHEMA, 400, 10001,
	     "email.sending.error.invalid_request_schema"},
	    {AE_INTERNAL, 500, 10002, "email.sending.error.internal_server"},
	    {AE_UNAVAILABLE, 503, 10002, "email.sending.error.internal_server"},
	    {AE_NOT_IMPLEMENTED, 405, 10003,
	     "email.sending.error.not_implemented"},
	    {AE_THROTTLED, 429, 10004, "email.sending.error.throttled"},
	    {AE_UPSTREAM, 503, 10100,
	     "email.sending.error.authentication.upstream"},
	    {AE_UNAUTHORIZED, 401, 10101,
	     "email.sending.error.authentication.unauthorized"},
	    {AE_FORBIDDEN, 403, 10102,
	     "email.sending.error.authentication.forbidden"},
	    {AE_BAD_TOKEN_TYPE, 401, 10103,
	     "email.sending.error.authentication.bad_token_type"},
	    {AE_NOT_ENTITLED, 403, 10105,
	     "email.sending.error.authentication.not_entitled"},
	    {AE_TOO_BIG, 400, 10200, "email.sending.error.email.too_big"},
	    {AE_NO_LENGTH, 400, 10201,
	     "email.sending.error.email.no_content_length"},
	    {AE_INVALID, 400, 10202, "email.sending.error.email.invalid"},
	    {AE_DISABLED, 403, 10203,
	     "email.sending.error.email.sending_disabled"},
	    {AE_SENDER, 403, 10204,
	     "email.sending.error.email.sender_not_configured"},
	};
	size_t i;
	int k;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct api_err_row *r = envelope_row(want[i].k);
		assert_int_equal(r->status, want[i].status);
		assert_int_equal(r->code, want[i].code);
		assert_string_equal(r->message, want[i].msg);
		assert_int_equal(envelope_retry_after(want[i].k) > 0,
		                 want[i].status == 503 ||
		                     want[i].status == 429);
	}
	/* never 200 for an error, whatever the kind */
	for (k = -1; k <= AE_COUNT + 1; k++)
		assert_true(envelope_row((enum api_err)k)->status >= 400);
}

static void
test_error_json(void **state)
{
	struct api_error e = {
	    AE_INVALID, "/to/3",
	    "to[3]: 'bob@@example.com' is not a valid address"};
	struct json_object *o, *x, *err0, *msg0;
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(envelope_error(&b, &e), 0);
	o = json_tokener_parse(b.p);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "success", &x));
	assert_false(json_object_get_boolean(x));
	assert_true(json_object_object_get_ex(o, "result", &x));
	assert_null(x);
	assert_true(json_object_object_get_ex(o, "errors", &x));
	assert_int_equal(json_object_array_length(x), 1);
	err0 = json_object_array_get_idx(x, 0);
	assert_int_equal(
	    json_object_get_int(json_object_object_get(err0, "code")), 10202);
	assert_true(json_object_is_type(json_object_object_get(err0, "code"),
	                                json_type_int));
	assert_string_equal(
	    json_object_get_string(json_object_object_get(err0, "message")),
	    "email.sending.error.email.invalid");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(
	        json_object_object_get(err0, "source"), "pointer")),
	    "/to/3");
	assert_true(json_object_object_get_ex(o, "messages", &x));
	msg0 = json_object_array_get_idx(x, 0);
	assert_int_equal(
	    json_object_get_int(json_object_object_get(msg0, "code")), 10202);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(msg0, "message")),
	    e.detail);
	json_object_put(o);

	/* no pointer, no detail */
	buf_reset(&b);
	e = (struct api_error){AE_UNAUTHORIZED, NULL, NULL};
	assert_int_equal(envelope_error(&b, &e), 0);
	assert_string_equal(
	    b.p, "{\"success\":false,\"errors\":[{\"code\":10101,\"message\":"
	         "\"email.sending.error.authentication.unauthorized\"}],"
	         "\"messages\":[],\"result\":null}");
	buf_clear(&b);
}

static void
test_success_and_escape(void **state)
{
	struct json_object *o;
	struct buf b;
	const char s[] = "a\"b\\c\n\r\t\x01\x1f\xc3\xa9";

	buf_init(&b, 0);
	assert_int_equal(envelope_open(&b), 0);
	assert_int_equal(envelope_str(&b, s, sizeof(s) - 1), 0);
	assert_int_equal(envelope_close(&b), 0);
	assert_string_equal(
	    b.p, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":"
	         "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\xc3\xa9\"}");
	o = json_tokener_parse(b.p);
	assert_non_null(o);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(o, "result")), s);
	json_object_put(o);
	buf_reset(&b);
	assert_int_equal(envelope_cstr(&b, NULL), 0);
	assert_string_equal(b.p, "null");
	buf_reset(&b);
	assert_int_equal(envelope_str(&b, "a\0b", 3), 0);
	assert_string_equal(b.p, "\"a\\u0000b\"");
	buf_clear(&b);
}

static void
test_router(void **state)
{
	struct arena *a = arena_new(0);
	const struct route *r;
	struct route_params p;
	char allow[64];

	assert_int_equal(
	    router_match(&api_routes, a, "POST",
	                 "/client/v4/accounts/abc/email/sending/send", &r, &p,
	                 allow, sizeof(allow)),
	    ROUTE_FOUND);
	assert_string_equal(route_param(&p, "account"), "abc");
	assert_int_equal(r->perm, PERM_SEND);
	assert_true(r->flags & ROUTE_BODY);
	assert_int_equal(router_match(&api_routes, a, "POST",
	                              "/accounts/abc/email/sending/send_raw",
	                              &r, &p, allow, sizeof(allow)),
	                 ROUTE_FOUND);
	assert_string_equal(r->pattern,
	                    "/accounts/:account/email/sending/send_raw");
	assert_int_equal(
	    router_match(&api_routes, a, "GET",
	                 "/client/v4/accounts/abc/email/sending/messages/"
	                 "<x@example.com>",
	                 &r, &p, allow, sizeof(allow)),
	    ROUTE_FOUND);
	assert_string_equal(route_param(&p, "message_id"), "<x@example.com>");
	assert_int_equal(r->perm, PERM_READ);
	assert_int_equal(
	    router_match(&api_routes, a, "GET",
	                 "/accounts/abc/email/sending/messages/x@e.com/"
	                 "status",
	                 &r, &p, allow, sizeof(allow)),
	    ROUTE_FOUND);
	assert_string_equal(route_param(&p, "message_id"), "x@e.com");
	assert_string_equal(
	    r->pattern,
	    "/accounts/:account/email/sending/messages/*message_id/status");
	/* a Message-ID may hold '/' (RFC 5322 dot-atom-text) */
	assert_int_equal(router_match(&api_routes, a, "GET",
	                              "/accounts/abc/email/sending/messages/"
	                              "<a/b@e.com>/status",
	                              &r, &p, allow, sizeof(allow)),
	                 ROUTE_FOUND);
	assert_string_equal(route_param(&p, "message_id"), "<a/b@e.com>");
	assert_int_equal(router_match(&api_routes, a, "GET",
	                              "/accounts/abc/email/sending/messages/"
	                              "<a/b@e.com>",
	                              &r, &p, allow, sizeof(allow)),
	                 ROUTE_FOUND);
	assert_string_equal(route_param(&p, "message_id"), "<a/b@e.com>");
	assert_int_equal(r->perm, PERM_READ);
	assert_null(strstr(r->pattern, "status"));
	assert_int_equal(router_match(&api_routes, a, "GET", "/healthz", &r, &p,
	                              allow, sizeof(allow)),
	                 ROUTE_FOUND);
	assert_true(r->flags & ROUTE_NOAUTH);
	assert_int_equal(router_match(&api_routes, a, "GET",
	                              "/client/v4/user/tokens/verify", &r, &p,
	                              allow, sizeof(allow)),
	                 ROUTE_FOUND);
	/* wrong method on a known route → 405 with Allow */
	assert_int_equal(
	    router_match(&api_routes, a, "GET",
	                 "/client/v4/accounts/abc/email/sending/send", &r, &p,
	                 allow, sizeof(allow)),
	    ROUTE_METHOD);
	assert_string_equal(allow, "POST");
	assert_int_equal(router_match(&api_routes, a, "DELETE", "/healthz", &r,
	                              &p, allow, sizeof(allow)),
	                 ROUTE_METHOD);
	assert_string_equal(allow, "GET, HEAD");
	/* unknown */
	assert_int_equal(router_match(&api_routes, a, "POST",
	                              "/accounts/abc/email/sending/nope", &r,
	                              &p, allow, sizeof(allow)),
	                 ROUTE_NONE);
	assert_int_equal(router_match(&api_routes, a, "POST",
	                              "/accounts//email/sending/send", &r, &p,
	                              allow, sizeof(allow)),
	                 ROUTE_NONE);
	assert_int_equal(router_match(&api_routes, a, "GET",
	                              "/client/v4x/healthz", &r, &p, allow,
	                              sizeof(allow)),
	                 ROUTE_NONE);
	/* SPEC §10's dashboard: not built, and the answer says so */
	assert_int_equal(router_match(&api_routes, a, "GET", "/", &r, &p, allow,
	                              sizeof(allow)),
	                 ROUTE_PLANNED);
	assert_int_equal(router_match(&api_routes, a, "GET", "/healthzz", &r,
	                              &p, allow, sizeof(allow)),
	                 ROUTE_NONE);
	arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_error_json),
	    cmocka_unit_test(test_success_and_escape),
	    cmocka_unit_test(test_router),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
