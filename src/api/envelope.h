/*
 * envelope: the Cloudflare JSON envelope of SPEC §2.1 and the one table
 * that maps an error kind to its HTTP status, code and message (§2.2).
 * Validators never pick a status or a code: they fill a struct api_error
 * with a kind, and this table does the rest.
 */
#ifndef PIGEON_API_ENVELOPE_H
#define PIGEON_API_ENVELOPE_H

#include <stddef.h>

#include "../core/buf.h"
#include "../store/store.h"

enum api_err {
	AE_NONE = 0,
	AE_NOT_FOUND,       /* 404 10000 */
	AE_SCHEMA,          /* 400 10001 */
	AE_INTERNAL,        /* 500 10002 */
	AE_UNAVAILABLE,     /* 503 10002, nothing queued, retryable */
	AE_NOT_IMPLEMENTED, /* 405 10003 */
	AE_THROTTLED,       /* 429 10004 */
	AE_UPSTREAM,        /* 503 10100, token store unreachable */
	AE_UNAUTHORIZED,    /* 401 10101 */
	AE_FORBIDDEN,       /* 403 10102 */
	AE_BAD_TOKEN_TYPE,  /* 401 10103 */
	AE_NOT_ENTITLED,    /* 403 10105 */
	AE_TOO_BIG,         /* 400 10200 */
	AE_NO_LENGTH,       /* 400 10201 */
	AE_INVALID,         /* 400 10202 */
	AE_DISABLED,        /* 403 10203 */
	AE_SENDER,          /* 403 10204 */
	AE_CONFLICT,        /* 409 10001, idempotency (SPEC §2.4) */
	AE_COUNT
};

/* A validation error as data. pointer and detail are borrowed (static or
 * from the request's arena); either may be NULL. */
struct api_error {
	enum api_err kind;
	const char *pointer; /* JSON pointer (RFC 6901), e.g. "/to/3" */
	const char *detail;  /* human sentence for `messages` */
};

struct api_err_row {
	enum api_err kind;
	int status;
	int code;
	const char *message;
};

/* The row of a kind (never NULL; an unknown kind maps to AE_INTERNAL). */
const struct api_err_row *envelope_row(enum api_err kind);

/* Retry-After seconds for a kind, or 0 when none is sent. */
int envelope_retry_after(enum api_err kind);

/* Writes {"success":false,"errors":[…],"messages":[…],"result":null}. */
int envelope_error(struct buf *out, const struct api_error *e);

/* Writes the opening {"success":true,"errors":[],"messages":[],"result":
 * and envelope_close() the final }. The caller writes the result value in
 * between. */
int envelope_open(struct buf *out);
int envelope_close(struct buf *out);

/*
 * The whole 200 answer of a send (SPEC §3.4): the envelope around
 * {delivered, permanent_bounces, queued, message_id,
 * suppressed_recipients}, addrs[i] in the list of st[i]. 0 or -1.
 */
int envelope_send_result(struct buf *out, const char *message_id,
                         const char *const *addrs, const enum rcpt_state *st,
                         size_t n);

/* Appends s[0..n) as a JSON string, with quotes (RFC 8259 §7). */
int envelope_str(struct buf *out, const char *s, size_t n);
/* Same for a NUL-terminated string, or null when s is NULL. */
int envelope_cstr(struct buf *out, const char *s);

#endif
