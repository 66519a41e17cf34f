/*
 * headers: the custom header policy of SPEC §5, one table of rows.
 */
#ifndef PIGEON_MAIL_HEADERS_H
#define PIGEON_MAIL_HEADERS_H

#include <stddef.h>

enum hdr_mode {
	HDR_API, /* `headers` of a REST send: every rule of §5 */
	HDR_RAW, /* headers of send_raw / SMTP under `raw_headers cloudflare`:
	          * name lists, value rules and the cap of 20 of §5, with From,
	          * To, Cc, Subject, Reply-To, Date, Message-ID, MIME-Version,
	          * Content-* and Received allowed; no size rules (the raw
	          * parser enforces 998-octet lines). `relaxed` checks no
	          * names here (rawmime.c). */
};

/* Carried across the headers of one message. Zero-initialise. */
struct hdr_state {
	unsigned allowlisted; /* count of allowlisted headers seen */
	size_t total;         /* sum of len(name)+2+len(value)+2 */
	int lu_https;         /* a List-Unsubscribe with an https URI */
	int lu_post;          /* List-Unsubscribe-Post seen */
};

/*
 * Checks one header. name/value are the raw bytes (value unfolded for
 * RAW mode). On success returns 0 and sets *canon to the static canonical
 * name ("List-Unsubscribe"; an X- header keeps the client's spelling and
 * *canon is NULL). On refusal returns -1 and writes a human sentence to
 * why, e.g. "Header 'Date' is not allowed. It is set by the server."
 */
int headers_check(enum hdr_mode mode, const char *name, size_t nlen,
                  const char *value, size_t vlen, struct hdr_state *st,
                  const char **canon, char *why, size_t whylen);

/* 1 when the header named canon (as set by headers_check) is structured:
 * its value is written trimmed of outer white space, folded only at
 * white space, never RFC 2047-encoded. */
int headers_structured(const char *canon);

/* 1 when the header named canon is a list of phrases (RFC 5322 §3.6.5
 * Keywords): each phrase is encoded on its own, never the commas. */
int headers_phrase_list(const char *canon);

/* Rules that need the whole set (List-Unsubscribe-Post needs an https
 * List-Unsubscribe). 0, or -1 with why. */
int headers_finish(enum hdr_mode mode, const struct hdr_state *st, char *why,
                   size_t whylen);

#endif
