/*
 * head: the request head of HTTP/1.x (RFC 9112 §2–§7, RFC 9110 §5), read
 * strictly, as a pure function over bytes. A head that a proxy in front
 * of pigeon could read another way is an error, never a guess: lines end
 * in CRLF only, a field name is a token glued to its colon, no obs-fold,
 * no control bytes in values, one Content-Length of digits only.
 */
#ifndef PIGEON_HTTPD_HEAD_H
#define PIGEON_HTTPD_HEAD_H

#include <stddef.h>
#include <stdint.h>

#define HEAD_MAX_FIELDS 100

/* head_parse() results. */
enum {
	HEAD_OK = 0,      /* h is filled; the head is h->len bytes */
	HEAD_PARTIAL = 1, /* the empty line is not in yet: read more */
	HEAD_ERROR = -1,  /* h->status and h->why say what is wrong */
};

struct head_field {
	const char *name; /* as sent (a token) */
	size_t name_len;
	const char *value; /* without leading and trailing OWS */
	size_t value_len;
};

struct head {
	const char *method; /* a token; NULL when the request line is bad */
	size_t method_len;
	const char *target; /* the request-target as sent, not decoded */
	size_t target_len;
	int minor; /* HTTP/1.<minor>: 0 or 1 */
	struct head_field fields[HEAD_MAX_FIELDS];
	size_t nfields;
	int64_t content_length; /* -1 when absent */
	int te;                 /* Transfer-Encoding fields seen */
	int nhost;              /* Host fields seen */
	int keep_alive;         /* the connection may carry another request */
	int expect_continue;    /* Expect: 100-continue */
	size_t len;             /* bytes of the head, its empty line included */
	/* HEAD_ERROR: the status to answer (400, 414, 431, 501 or 505), a
	 * sentence for the client, and whether the error is about how the
	 * body is framed (a send route answers those 10201). head_parse
	 * answers 400, 414, 431 and 505; 501 is left to the server. why is
	 * a string constant or points into why_buf (the sentences that name
	 * a field or max), so it lives as long as this struct head and no
	 * longer: copy the string, not the pointer, into a copy of h. */
	int status;
	const char *why;
	int framing;
	char why_buf[96];
};

/*
 * Reads the head at the start of p[0..n); bytes after it (a body, the next
 * request) are not looked at. max is the most bytes a head may take (past
 * it: 431, or 414 while still in the request line). method, target and
 * the fields point into p (borrowed). method and target are set once the
 * request line is read, so a field refused later leaves them for the
 * server to pick its answer by route. Empty lines before the request line
 * are skipped and counted in len. Call again from the start of p when
 * more bytes arrive: h is filled afresh. One of HEAD_*; a prefix of a
 * valid head is HEAD_PARTIAL, never HEAD_ERROR.
 */
int head_parse(const char *p, size_t n, size_t max, struct head *h);

/* The value of the field called name (any case), or NULL; *len set. The
 * first of several. */
const char *head_field(const struct head *h, const char *name, size_t *len);
/* How many fields are called name. */
int head_count(const struct head *h, const char *name);

#endif
