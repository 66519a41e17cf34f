/*
 * message: what a front (REST send) hands to the MIME builder. Every
 * pointer is borrowed from the request's arena and lives until arena_free.
 */
#ifndef PIGEON_MAIL_MESSAGE_H
#define PIGEON_MAIL_MESSAGE_H

#include <stddef.h>

/* An address as the client wrote it plus its parsed, delivery-ready form. */
struct mailbox {
	const char *address; /* as given, e.g. "Jane@Bücher.example" */
	const char *name;    /* display name (UTF-8) or NULL */
	const char *local;   /* local part, unquoted form as given */
	const char
	    *domain; /* domain, lowercased A-labels: "xn--bcher-kva.example" */
	const char *ascii; /* local@domain with the A-label domain: used on the
	                    * envelope and as the de-duplication key */
	int utf8_local;    /* local part has non-ASCII (needs SMTPUTF8) */
};

struct header {
	const char *name;  /* canonical casing (SPEC §5) */
	const char *value; /* UTF-8, no CR/LF/NUL */
	int structured;    /* ASCII, written trimmed, never encoded */
};

enum disposition { DISP_ATTACHMENT, DISP_INLINE };

struct attachment {
	const unsigned char *content; /* decoded bytes */
	size_t len;
	const char *filename; /* UTF-8 */
	const char *type;     /* "type/subtype" */
	enum disposition disposition;
	const char *content_id; /* inline only, without angle brackets */
};

struct message {
	struct mailbox from;
	struct mailbox *to, *cc, *bcc;
	size_t nto, ncc, nbcc;
	struct mailbox *reply_to; /* NULL when absent */
	const char *subject;      /* UTF-8 */
	const char *text;         /* NULL or UTF-8 */
	size_t text_len;
	const char *html;
	size_t html_len;
	struct header *headers;
	size_t nheaders;
	struct attachment *atts;
	size_t natts;
};

#endif
