/*
 * rawmime: the header section of a client-written RFC 5322 message
 * (send_raw, SMTP DATA): parse it, apply SPEC §4/§5, and produce the bytes
 * pigeon signs and delivers.
 */
#ifndef PIGEON_MAIL_RAWMIME_H
#define PIGEON_MAIL_RAWMIME_H

#include <stddef.h>
#include <time.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "msgid.h"

struct rawmime_field {
	const char *name; /* borrowed from the message */
	size_t name_len;
	const char *value; /* raw value after the colon, folding kept, no
	                    * final CRLF; borrowed */
	size_t value_len;
	size_t off, len; /* the whole field incl. its final CRLF in the input */
};

struct rawmime {
	struct rawmime_field *f; /* in the arena */
	size_t nf;
	size_t body_off; /* first byte of the body (after the empty line) */
};

/*
 * Parses the header section of msg[0..len), which must use CRLF line
 * endings. Every line ≤ 998 octets, names of printable ASCII except ':',
 * continuation lines start with SP/HTAB, the section ends with an empty
 * line (a message with no body is accepted when it ends right after the
 * header section's CRLF). 0, or -1 with a human reason in why.
 */
int rawmime_parse(struct arena *a, const char *msg, size_t len,
                  struct rawmime *out, char *why, size_t whylen);

struct rawmime_result {
	char message_id[MSGID_MAX]; /* the Message-ID now in the message */
	const char *subject;        /* raw Subject value (arena) or NULL */
	const char *from;           /* raw From value (arena) */
	size_t nfrom;               /* the mailboxes in From (≥ 1) */
	const char *from_domain;    /* the first one's domain as written,
	                             * without CFWS (arena); not checked
	                             * as a domain name */
};

/* SPEC §5, the directive `raw_headers`: which fields a client may write. */
enum rawmime_policy {
	RAWMIME_RELAXED,    /* any well-formed field (the default) */
	RAWMIME_CLOUDFLARE, /* the lists of §5 (headers.c, HDR_RAW) */
};

/*
 * send_raw / SMTP rules of SPEC §4: bare LF (and lone CR) become CRLF when
 * lf_ok (send_raw); parse (every field well-formed); From must be present
 * and a mailbox-list (how many and whose domain are the caller's to judge,
 * in res); the fields RFC 5322 allows once appear once; under
 * RAWMIME_CLOUDFLARE the header policy of §5 in RAW mode (Bcc and
 * Return-Path refused with the rest); Bcc and Return-Path removed; Date
 * added when missing; Message-ID kept when well-formed, else replaced by a
 * new one on sender_domain; a CRLF added after a last body line without
 * one (RFC 5322 §2.1). Every other field is written as the client wrote
 * it. Appends the result to out. Returns 0, -1 with why (→ 10202), or
 * RAWMIME_TOO_BIG when out's cap was hit (→ 10200).
 */
#define RAWMIME_TOO_BIG (-2)
int rawmime_prepare(struct arena *a, const char *in, size_t len, int lf_ok,
                    enum rawmime_policy policy, const char *sender_domain,
                    time_t now, struct buf *out, struct rawmime_result *res,
                    char *why, size_t whylen);

#endif
