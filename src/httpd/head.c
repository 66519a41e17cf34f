/*
 * head: reads the request head of HTTP/1.x strictly (RFC 9112 §2–§6, RFC
 * 9110 §5), one pass over the bytes, with no allocation and no locale.
 * It frames nothing past the head and decides no route: it says what the
 * head holds, or why it is refused, and the server does the rest.
 */
#include <stdio.h>
#include <string.h>

#include "head.h"

/* RFC 9110 §5.6.2 and §5.5: what each byte may be. */
#define TCHAR 0x01 /* token: a method, a field name */
#define VCHAR 0x02 /* visible ASCII: the request-target */
#define FVAL 0x04  /* a field value: VCHAR, SP, HTAB, obs-text */

static const unsigned char byte_class[256] = {
    ['\t'] = FVAL,
    [' '] = FVAL,
    ['!'] = TCHAR | VCHAR | FVAL,
    ['"'] = VCHAR | FVAL,
    ['#' ... '\''] = TCHAR | VCHAR | FVAL,
    ['(' ... ')'] = VCHAR | FVAL,
    ['*' ... '+'] = TCHAR | VCHAR | FVAL,
    [','] = VCHAR | FVAL,
    ['-' ... '.'] = TCHAR | VCHAR | FVAL,
    ['/'] = VCHAR | FVAL,
    ['0' ... '9'] = TCHAR | VCHAR | FVAL,
    [':' ... '@'] = VCHAR | FVAL,
    ['A' ... 'Z'] = TCHAR | VCHAR | FVAL,
    ['[' ... ']'] = VCHAR | FVAL,
    ['^' ... 'z'] = TCHAR | VCHAR | FVAL,
    ['{'] = VCHAR | FVAL,
    ['|'] = TCHAR | VCHAR | FVAL,
    ['}'] = VCHAR | FVAL,
    ['~'] = TCHAR | VCHAR | FVAL,
    [0x80 ... 0xff] = FVAL,
};

#define IS(c, cls) (byte_class[(unsigned char)(c)] & (cls))
#define OWS(c) ((c) == ' ' || (c) == '\t')

#define XSTR(x) #x
#define STR(x) XSTR(x)

#define WHY_CRLF "a line of the header section does not end in CRLF"
#define WHY_LINE                                                               \
	"the request line is not a method, a request-target and an HTTP "      \
	"version, one space apart"
#define WHY_METHOD "the method is not a token"
#define WHY_TARGET "the request-target holds a byte that is not visible ASCII"
#define WHY_VERSION "the request line does not end in an HTTP version"
#define WHY_505 "only HTTP/1.0 and HTTP/1.1 are spoken here"
#define WHY_414 "the request-target is too long"
#define WHY_FOLD "a header field is folded over two lines (obs-fold)"
#define WHY_NAME                                                               \
	"a header field name is not a token (white space before the colon?)"
#define WHY_COLON "a header field line has no colon"
#define WHY_FIELDS                                                             \
	"the request has more than " STR(HEAD_MAX_FIELDS) " header fields"
#define WHY_CL_NAN "the Content-Length is not a number of bytes"
#define WHY_CL_BIG "the Content-Length is too large"
#define WHY_CL_TWO "the request has more than one Content-Length"

/* 18 digits always fit an int64_t. */
#define MAX_CL_DIGITS 18

/* What one parse remembers between lines besides h. */
struct reader {
	struct head *h;
	int close;      /* Connection: close */
	int keep_alive; /* Connection: keep-alive */
};

typedef int head_field_fn(struct reader *r, const char *v, size_t len);

static int field_content_length(struct reader *, const char *, size_t);
static int field_transfer_encoding(struct reader *, const char *, size_t);
static int field_host(struct reader *, const char *, size_t);
static int field_connection(struct reader *, const char *, size_t);
static int field_expect(struct reader *, const char *, size_t);

/* The fields the head itself reads. */
static const struct {
	const char *name;
	head_field_fn *fn;
} head_fields[] = {
    {"content-length", field_content_length},
    {"transfer-encoding", field_transfer_encoding},
    {"host", field_host},
    {"connection", field_connection},
    {"expect", field_expect},
};

static unsigned char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A')
	                            : (unsigned char)c;
}

/* 1 when s[0..n) is the string lit, ASCII letters in any case. */
static int
ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || lower(s[i]) != lower(lit[i]))
			return 0;
	return lit[n] == '\0';
}

/* Fills h's error and returns HEAD_ERROR. why is a string constant or
 * h->why_buf. */
static int
refuse(struct head *h, int status, int framing, const char *why)
{
	h->status = status;
	h->framing = framing;
	h->why = why;
	return HEAD_ERROR;
}

/* A byte that may not stand where it does: a CR there is a bare CR. */
static int
refuse_byte(struct head *h, char c, int framing, const char *why)
{
	if (c == '\r')
		return refuse(h, 400, 0, WHY_CRLF);
	return refuse(h, 400, framing, why);
}

/*
 * RFC 9112 §3: method SP request-target SP HTTP-version, in s[0..len)
 * without its CRLF. While !complete, s is the start of the line and only
 * what is already wrong is refused. 0 or HEAD_ERROR.
 */
static int
request_line(struct head *h, const char *s, size_t len, int complete)
{
	/* RFC 9112 §2.3: HTTP-name "/" DIGIT "." DIGIT; 'd' is a digit. */
	static const char version[] = "HTTP/d.d";
	size_t i = 0, t, v, k;

	while (i < len && IS(s[i], TCHAR))
		i++;
	if (i == len)
		return complete ? refuse(h, 400, 0, WHY_LINE) : 0;
	if (s[i] != ' ')
		return refuse_byte(h, s[i], 0, WHY_METHOD);
	if (i == 0)
		return refuse(h, 400, 0, WHY_LINE);

	t = ++i;
	while (i < len && IS(s[i], VCHAR))
		i++;
	if (i == len)
		return complete ? refuse(h, 400, 0, WHY_LINE) : 0;
	if (s[i] != ' ')
		return refuse_byte(h, s[i], 0, WHY_TARGET);
	if (i == t)
		return refuse(h, 400, 0, WHY_LINE);

	v = ++i;
	for (k = 0; v + k < len; k++) {
		char c = s[v + k];

		if (k == sizeof(version) - 1 ||
		    (version[k] == 'd' ? c < '0' || c > '9' : c != version[k]))
			return refuse_byte(h, c, 0,
			                   k == 0 && c == ' ' ? WHY_LINE
			                                      : WHY_VERSION);
	}
	if (!complete)
		return 0;
	if (k != sizeof(version) - 1)
		return refuse(h, 400, 0, WHY_VERSION);
	if (s[v + 5] != '1' || (s[v + 7] != '0' && s[v + 7] != '1'))
		return refuse(h, 505, 0, WHY_505);

	h->method = s;
	h->method_len = t - 1;
	h->target = s + t;
	h->target_len = v - 1 - t;
	h->minor = s[v + 7] - '0';
	return 0;
}

/* 400 "the NAME header holds a control byte", in h->why_buf. */
static int
refuse_control(struct head *h, const char *name, size_t name_len)
{
	static const char pre[] = "the ",
	                  post[] = " header holds a control byte";
	size_t room = sizeof(h->why_buf) - sizeof(pre) - sizeof(post) + 1;

	if (name_len > room)
		name_len = room;
	snprintf(h->why_buf, sizeof(h->why_buf), "%s%.*s%s", pre, (int)name_len,
	         name, post);
	return refuse(h, 400, 0, h->why_buf);
}

/*
 * RFC 9112 §5: field-name ":" OWS field-value OWS, in s[0..len) without
 * its CRLF; a complete line is added to h->fields and read if head_fields
 * names it. While !complete, only what is already wrong is refused.
 * 0 or HEAD_ERROR.
 */
static int
field_line(struct reader *r, const char *s, size_t len, int complete)
{
	struct head *h = r->h;
	struct head_field *f;
	size_t i = 0, v, e;

	/* RFC 9112 §5.2: obs-fold is refused, never unfolded. */
	if (OWS(s[0]))
		return refuse(h, 400, 1, WHY_FOLD);
	if (h->nfields == HEAD_MAX_FIELDS)
		return refuse(h, 431, 0, WHY_FIELDS);
	while (i < len && IS(s[i], TCHAR))
		i++;
	if (i == len)
		return complete ? refuse(h, 400, 1, WHY_COLON) : 0;
	/* RFC 9112 §5.1: no white space between the name and the colon. */
	if (s[i] != ':' || i == 0)
		return refuse_byte(h, s[i], 1, WHY_NAME);

	for (v = i + 1; v < len && OWS(s[v]); v++)
		;
	for (e = v; e < len && IS(s[e], FVAL); e++)
		;
	if (e < len)
		return s[e] == '\r' ? refuse(h, 400, 0, WHY_CRLF)
		                    : refuse_control(h, s, i);
	if (!complete)
		return 0;
	while (e > v && OWS(s[e - 1]))
		e--;

	f = &h->fields[h->nfields++];
	f->name = s;
	f->name_len = i;
	f->value = s + v;
	f->value_len = e - v;
	for (i = 0; i < sizeof(head_fields) / sizeof(head_fields[0]); i++)
		if (ieq(f->name, f->name_len, head_fields[i].name))
			return head_fields[i].fn(r, f->value, f->value_len);
	return 0;
}

/* RFC 9112 §6.3: one Content-Length of digits, or the body's framing is a
 * guess. */
static int
field_content_length(struct reader *r, const char *v, size_t len)
{
	int64_t n = 0;
	size_t i;

	if (r->h->content_length >= 0 || memchr(v, ',', len) != NULL)
		return refuse(r->h, 400, 1, WHY_CL_TWO);
	if (len == 0)
		return refuse(r->h, 400, 1, WHY_CL_NAN);
	for (i = 0; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return refuse(r->h, 400, 1, WHY_CL_NAN);
	if (len > MAX_CL_DIGITS)
		return refuse(r->h, 400, 0, WHY_CL_BIG);
	for (i = 0; i < len; i++)
		n = n * 10 + (v[i] - '0');
	r->h->content_length = n;
	return 0;
}

static int
field_transfer_encoding(struct reader *r, const char *v, size_t len)
{
	r->h->te++;
	return 0;
}

static int
field_host(struct reader *r, const char *v, size_t len)
{
	r->h->nhost++;
	return 0;
}

/* RFC 9110 §7.6.1: a list of connection options; only close and
 * keep-alive matter here. Empty elements are allowed (§5.6.1). */
static int
field_connection(struct reader *r, const char *v, size_t len)
{
	size_t i = 0, s, e;

	while (i < len) {
		for (s = i; s < len && v[s] != ','; s++)
			;
		for (e = s; i < e && OWS(v[i]); i++)
			;
		while (e > i && OWS(v[e - 1]))
			e--;
		if (ieq(v + i, e - i, "close"))
			r->close = 1;
		else if (ieq(v + i, e - i, "keep-alive"))
			r->keep_alive = 1;
		i = s + 1;
	}
	return 0;
}

/* RFC 9110 §10.1.1: 100-continue means nothing to an HTTP/1.0 client. */
static int
field_expect(struct reader *r, const char *v, size_t len)
{
	if (r->h->minor == 1 && ieq(v, len, "100-continue"))
		r->h->expect_continue = 1;
	return 0;
}

/*
 * Reads p[0..min(n, max)) a line at a time; each complete line is judged
 * once, and the line still arriving is looked at for bytes that are
 * already wrong, so a bad head is refused before max bytes of it come.
 */
int
head_parse(const char *p, size_t n, size_t max, struct head *h)
{
	struct reader r = {h, 0, 0};
	size_t m = n < max ? n : max, pos = 0, len;
	const char *lf;
	int rc;

	h->method = h->target = NULL;
	h->method_len = h->target_len = 0;
	h->minor = 0;
	h->nfields = 0;
	h->content_length = -1;
	h->te = h->nhost = h->keep_alive = h->expect_continue = 0;
	h->len = 0;
	h->status = h->framing = 0;
	h->why = NULL;

	while ((lf = memchr(p + pos, '\n', m - pos)) != NULL) {
		len = (size_t)(lf - (p + pos));
		/* RFC 9112 §2.2: lines end in CRLF; a bare LF or CR is
		 * refused, since a proxy may read it another way. */
		if (len == 0 || lf[-1] != '\r')
			return refuse(h, 400, 0, WHY_CRLF);
		len--;
		if (len == 0 && h->method == NULL) {
			/* RFC 9112 §2.2: empty lines before the request
			 * line are skipped. */
			pos += 2;
			continue;
		}
		if (len == 0) {
			h->len = pos + 2;
			if (h->minor == 1)
				h->keep_alive = !r.close;
			else
				h->keep_alive = r.keep_alive && !r.close;
			return HEAD_OK;
		}
		rc = h->method == NULL ? request_line(h, p + pos, len, 1)
		                       : field_line(&r, p + pos, len, 1);
		if (rc != 0)
			return rc;
		pos += len + 2;
	}

	/* The line still arriving; a CR at its end may be half a CRLF. */
	len = m - pos;
	if (len > 0 && p[pos + len - 1] == '\r')
		len--;
	if (len > 0) {
		rc = h->method == NULL ? request_line(h, p + pos, len, 0)
		                       : field_line(&r, p + pos, len, 0);
		if (rc != 0)
			return rc;
	}
	if (n <= max)
		return HEAD_PARTIAL;
	if (h->method == NULL)
		return refuse(h, 414, 0, WHY_414);
	snprintf(h->why_buf, sizeof(h->why_buf),
	         "the header section is over %zu bytes", max);
	return refuse(h, 431, 0, h->why_buf);
}

const char *
head_field(const struct head *h, const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i < h->nfields; i++)
		if (ieq(h->fields[i].name, h->fields[i].name_len, name)) {
			*len = h->fields[i].value_len;
			return h->fields[i].value;
		}
	*len = 0;
	return NULL;
}

int
head_count(const struct head *h, const char *name)
{
	size_t i;
	int c = 0;

	for (i = 0; i < h->nfields; i++)
		c += ieq(h->fields[i].name, h->fields[i].name_len, name);
	return c;
}
