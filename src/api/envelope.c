/*
 * envelope: Cloudflare's response envelope (SPEC §2.1) and the error table
 * (SPEC §2.2). Responses are written by hand into a struct buf: the shapes
 * are fixed and small, and this avoids building a json-c tree per request.
 */
#include <stdio.h>
#include <string.h>

#include "../core/jsonw.h"
#include "envelope.h"

/* SPEC §2.2, every row. Retry-After applies to the 503s and the 429. */
static const struct api_err_row err_table[] = {
    {AE_NONE, 500, 10002, "email.sending.error.internal_server"},
    {AE_NOT_FOUND, 404, 10000, "email.sending.error.not_found"},
    {AE_SCHEMA, 400, 10001, "email.sending.error.invalid_request_schema"},
    {AE_INTERNAL, 500, 10002, "email.sending.error.internal_server"},
    {AE_UNAVAILABLE, 503, 10002, "email.sending.error.internal_server"},
    {AE_NOT_IMPLEMENTED, 405, 10003, "email.sending.error.not_implemented"},
    {AE_THROTTLED, 429, 10004, "email.sending.error.throttled"},
    {AE_UPSTREAM, 503, 10100, "email.sending.error.authentication.upstream"},
    {AE_UNAUTHORIZED, 401, 10101,
     "email.sending.error.authentication.unauthorized"},
    {AE_FORBIDDEN, 403, 10102, "email.sending.error.authentication.forbidden"},
    {AE_BAD_TOKEN_TYPE, 401, 10103,
     "email.sending.error.authentication.bad_token_type"},
    {AE_NOT_ENTITLED, 403, 10105,
     "email.sending.error.authentication.not_entitled"},
    {AE_TOO_BIG, 400, 10200, "email.sending.error.email.too_big"},
    {AE_NO_LENGTH, 400, 10201, "email.sending.error.email.no_content_length"},
    {AE_INVALID, 400, 10202, "email.sending.error.email.invalid"},
    {AE_DISABLED, 403, 10203, "email.sending.error.email.sending_disabled"},
    {AE_SENDER, 403, 10204, "email.sending.error.email.sender_not_configured"},
    {AE_CONFLICT, 409, 10001, "email.sending.error.invalid_request_schema"},
};

#define RETRY_AFTER_SECONDS 5

const struct api_err_row *
envelope_row(enum api_err kind)
{
	if (kind <= AE_NONE || kind >= AE_COUNT || err_table[kind].kind != kind)
		return &err_table[AE_INTERNAL];
	return &err_table[kind];
}

int
envelope_retry_after(enum api_err kind)
{
	int st = envelope_row(kind)->status;

	return st == 503 || st == 429 ? RETRY_AFTER_SECONDS : 0;
}

/* The envelope's names for the JSON string writer of core/jsonw.c. */
int
envelope_str(struct buf *out, const char *s, size_t n)
{
	return jsonw_str(out, s, n);
}

int
envelope_cstr(struct buf *out, const char *s)
{
	return jsonw_cstr(out, s);
}

int
envelope_error(struct buf *out, const struct api_error *e)
{
	const struct api_err_row *r = envelope_row(e->kind);

	if (buf_printf(out,
	               "{\"success\":false,\"errors\":[{\"code\":%d,"
	               "\"message\":\"%s\"",
	               r->code, r->message) == -1)
		return -1;
	if (e->pointer != NULL) {
		if (buf_puts(out, ",\"source\":{\"pointer\":") == -1 ||
		    envelope_cstr(out, e->pointer) == -1 ||
		    buf_putc(out, '}') == -1)
			return -1;
	}
	if (buf_puts(out, "}],\"messages\":[") == -1)
		return -1;
	if (e->detail != NULL) {
		if (buf_printf(out, "{\"code\":%d,\"message\":", r->code) ==
		        -1 ||
		    envelope_cstr(out, e->detail) == -1 ||
		    buf_putc(out, '}') == -1)
			return -1;
	}
	return buf_puts(out, "],\"result\":null}");
}

int
envelope_open(struct buf *out)
{
	return buf_puts(
	    out, "{\"success\":true,\"errors\":[],\"messages\":[],\"result\":");
}

int
envelope_close(struct buf *out)
{
	return buf_putc(out, '}');
}

/* "key":[…] with the addresses whose state is in mask. */
static int
put_list(struct buf *b, const char *key, const char *const *addrs,
         const enum rcpt_state *st, size_t n, unsigned mask)
{
	size_t i;
	int first = 1;

	if (buf_printf(b, "\"%s\":[", key) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!(mask & (1u << st[i])))
			continue;
		if ((!first && buf_putc(b, ',') == -1) ||
		    envelope_cstr(b, addrs[i]) == -1)
			return -1;
		first = 0;
	}
	return buf_putc(b, ']');
}

/* SPEC §3.4: all five keys, each recipient in one list. */
int
envelope_send_result(struct buf *b, const char *message_id,
                     const char *const *addrs, const enum rcpt_state *st,
                     size_t n)
{
	return envelope_open(b) == -1 || buf_putc(b, '{') == -1 ||
	               put_list(b, "delivered", addrs, st, n,
	                        1u << RCPT_DELIVERED) == -1 ||
	               buf_putc(b, ',') == -1 ||
	               put_list(b, "permanent_bounces", addrs, st, n,
	                        (1u << RCPT_BOUNCED) | (1u << RCPT_FAILED)) ==
	                   -1 ||
	               buf_putc(b, ',') == -1 ||
	               put_list(b, "queued", addrs, st, n,
	                        (1u << RCPT_QUEUED) | (1u << RCPT_DEFERRED)) ==
	                   -1 ||
	               buf_puts(b, ",\"message_id\":") == -1 ||
	               envelope_cstr(b, message_id) == -1 ||
	               buf_putc(b, ',') == -1 ||
	               put_list(b, "suppressed_recipients", addrs, st, n,
	                        1u << RCPT_SUPPRESSED) == -1 ||
	               buf_putc(b, '}') == -1 || envelope_close(b) == -1
	           ? -1
	           : 0;
}
