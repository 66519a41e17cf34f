/*
 * reply: SMTP replies (RFC 5321 §4.2) read from bytes, as pure
 * functions: one whole reply, single- or multi-line, with its code, its
 * enhanced status code (RFC 3463, taken only when the server offered
 * ENHANCEDSTATUSCODES, RFC 2034) and one line of text for logs; and the
 * extensions a 250 reply to EHLO lists. No I/O and no allocation: the
 * client (client.c) feeds it the bytes it has read.
 */
#ifndef PIGEON_SMTP_REPLY_H
#define PIGEON_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_MAX_LINE 2048 /* bytes of one line, its CRLF not counted */
#define SMTP_REPLY_MAX_LINES 100
#define SMTP_REPLY_TEXT 512 /* out->text, its NUL included */
/* The most bytes a whole reply can take: a reader that holds this many
 * without a whole reply has a malformed one. */
#define SMTP_REPLY_MAX_BYTES (SMTP_REPLY_MAX_LINES * (SMTP_REPLY_MAX_LINE + 2))

/* smtp_reply_parse() results, as head_parse() has them. */
enum {
	SMTP_REPLY_OK = 0,      /* out is filled; the reply took *used bytes */
	SMTP_REPLY_PARTIAL = 1, /* no last line yet: read more */
	SMTP_REPLY_ERROR = -1,  /* malformed: the session cannot go on */
};

struct smtp_reply {
	int code;          /* 200..559; 0 when there is no reply */
	char enhanced[16]; /* "5.1.1", "" when none */
	/* The reply as one line for logs and the API: "550 5.1.1 <x@y>:
	 * Recipient address rejected"; the lines of a multi-line reply
	 * joined by " / ". No control bytes; cut to fit on a UTF-8
	 * boundary, with "..." at the cut. */
	char text[SMTP_REPLY_TEXT];
};

/*
 * Reads one whole reply from the start of p[0..n): lines of a 3-digit
 * code (RFC 5321 §4.2: 2-5, 0-5, 0-9) followed by '-' (more lines
 * follow), ' ' or the end of the line (the last line), every line with
 * the same code, each ended by CRLF (a bare LF is taken too), at most
 * SMTP_REPLY_MAX_LINE bytes each and SMTP_REPLY_MAX_LINES lines. With
 * enhanced set, a line's text may start with "class.subject.detail "
 * (class 2, 4 or 5 matching the code's first digit, 1-3 digits each):
 * the first such code is kept in out->enhanced. Bytes after the reply
 * (the next pipelined reply) are not looked at. One of SMTP_REPLY_*;
 * *used is set on SMTP_REPLY_OK. A prefix of a valid reply is PARTIAL,
 * never ERROR.
 */
int smtp_reply_parse(const char *p, size_t n, int enhanced,
                     struct smtp_reply *out, size_t *used);

/* A reply pigeon makes itself (a refusal it decides without sending):
 * text is "<code> <enhanced> <detail>". */
void smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* EHLO keywords pigeon acts on (RFC 5321 §4.1.1.1: the first word of
 * each line after the first). */
enum smtp_ext {
	SMTP_EXT_PIPELINING = 1 << 0, /* RFC 2920 */
	SMTP_EXT_SIZE = 1 << 1,       /* RFC 1870 */
	SMTP_EXT_8BITMIME = 1 << 2,   /* RFC 6152 */
	SMTP_EXT_SMTPUTF8 = 1 << 3,   /* RFC 6531 */
	SMTP_EXT_STARTTLS = 1 << 4,   /* RFC 3207 */
	SMTP_EXT_ENHANCED = 1 << 5,   /* ENHANCEDSTATUSCODES, RFC 2034 */
	SMTP_EXT_AUTH = 1 << 6,       /* RFC 4954 */
	SMTP_EXT_CHUNKING = 1 << 7,   /* RFC 3030: BDAT */
	SMTP_EXT_DSN = 1 << 8,        /* RFC 3461 (not used yet) */
};

/* SASL mechanisms pigeon speaks, as AUTH offers them. */
enum smtp_mech {
	SMTP_MECH_PLAIN = 1 << 0, /* RFC 4616 */
	SMTP_MECH_LOGIN = 1 << 1,
};

struct smtp_ehlo {
	unsigned ext;  /* SMTP_EXT_* offered */
	unsigned mech; /* SMTP_MECH_* offered with AUTH */
	uint64_t size; /* SIZE's number; 0: no SIZE or no fixed limit */
};

/*
 * The extensions listed by a whole reply p[0..n) (as smtp_reply_parse
 * took it), keywords in any case; AUTH's mechanisms also in the old
 * "AUTH=PLAIN LOGIN" form. Unknown keywords are skipped. 0, or -1 when
 * p is not a whole 250 reply (e is then empty).
 */
int smtp_ehlo_parse(const char *p, size_t n, struct smtp_ehlo *e);

#endif
