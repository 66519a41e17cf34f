/*
 * reply: reads SMTP replies (RFC 5321 §4.2) and EHLO extension lists
 * from bytes, one pass, no allocation. It decides nothing about what a
 * reply means: the client and delivery/deliver.c do.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "reply.h"

#define CUT_MARK "..."

/* The reply's one-line text as it is built. */
struct text {
	char *p;
	size_t len, cap; /* cap counts the NUL */
	int cut;
};

static void
text_init(struct text *t, char *p, size_t cap)
{
	t->p = p;
	t->len = 0;
	t->cap = cap;
	t->cut = 0;
	p[0] = '\0';
}

/* Appends s[0..n), control bytes made blanks, until the text is full;
 * then ends it on a UTF-8 boundary with CUT_MARK. */
static void
text_add(struct text *t, const char *s, size_t n)
{
	size_t room, i;

	if (t->cut)
		return;
	room = t->cap - 1 - t->len;
	for (i = 0; i < n && i < room; i++) {
		unsigned char c = (unsigned char)s[i];

		t->p[t->len + i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	t->len += i;
	t->p[t->len] = '\0';
	if (i == n)
		return;
	/* Full: make room for the mark, without splitting a sequence. */
	t->cut = 1;
	t->len = t->cap - 1 - strlen(CUT_MARK);
	while (t->len > 0 && ((unsigned char)t->p[t->len] & 0xc0) == 0x80)
		t->len--;
	memcpy(t->p + t->len, CUT_MARK, sizeof(CUT_MARK));
	t->len += strlen(CUT_MARK);
}

/* RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39. Checks the first
 * n (up to 3) bytes of a line; the code, or 0 when not whole yet, or -1
 * when the bytes cannot start one. */
static int
code_of(const char *s, size_t n)
{
	static const char lo[3] = {'2', '0', '0'}, hi[3] = {'5', '5', '9'};
	size_t i;

	for (i = 0; i < n && i < 3; i++)
		if (s[i] < lo[i] || s[i] > hi[i])
			return -1;
	if (n < 3)
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* Digits at s[0..n), 1 to 3 of them; their count or 0. */
static size_t
digits3(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && i < 4 && s[i] >= '0' && s[i] <= '9')
		i++;
	return i >= 1 && i <= 3 ? i : 0;
}

/* RFC 3463 §2: "class.subject.detail" at the start of s[0..n), followed
 * by a space or the end, its class the code's first digit. Its length,
 * or 0. */
static size_t
enhanced_at(const char *s, size_t n, int code)
{
	size_t i, d;

	/* RFC 3463 §3.1: class 2, 4 or 5 */
	if (n < 5 || code / 100 == 3 || s[0] != '0' + code / 100 || s[1] != '.')
		return 0;
	i = 2;
	if ((d = digits3(s + i, n - i)) == 0)
		return 0;
	i += d;
	if (i >= n || s[i] != '.')
		return 0;
	i++;
	if ((d = digits3(s + i, n - i)) == 0)
		return 0;
	i += d;
	return i == n || s[i] == ' ' ? i : 0;
}

int
smtp_reply_parse(const char *p, size_t n, int enhanced, struct smtp_reply *out,
                 size_t *used)
{
	struct text t;
	size_t off = 0, nlines = 0;
	int code = 0;

	out->code = 0;
	out->enhanced[0] = '\0';
	text_init(&t, out->text, sizeof(out->text));
	for (;;) {
		const char *line = p + off, *lf, *body;
		size_t avail = n - off, len, blen, e;
		int lcode;

		if (nlines == SMTP_REPLY_MAX_LINES && avail > 0)
			return SMTP_REPLY_ERROR;
		lf = memchr(line, '\n',
		            avail < SMTP_REPLY_MAX_LINE + 2
		                ? avail
		                : SMTP_REPLY_MAX_LINE + 2);
		len = lf != NULL ? (size_t)(lf - line) : avail;
		if (lf != NULL && len > 0 && line[len - 1] == '\r')
			len--;
		/* refuse what cannot start a line as soon as it is seen */
		if ((lcode = code_of(line, len)) < 0 ||
		    (lcode > 0 && nlines > 0 && lcode != code) ||
		    (len > 3 && line[3] != '-' && line[3] != ' ' &&
		     !(lf == NULL && len == 4 && line[3] == '\r')))
			return SMTP_REPLY_ERROR;
		if (lf == NULL) {
			if (avail >= SMTP_REPLY_MAX_LINE + 2 ||
			    (avail == SMTP_REPLY_MAX_LINE + 1 &&
			     line[SMTP_REPLY_MAX_LINE] != '\r'))
				return SMTP_REPLY_ERROR;
			return SMTP_REPLY_PARTIAL;
		}
		if (len < 3 || len > SMTP_REPLY_MAX_LINE)
			return SMTP_REPLY_ERROR;
		code = lcode;
		nlines++;
		body = len > 4 ? line + 4 : line + len;
		blen = len > 4 ? len - 4 : 0;
		e = enhanced ? enhanced_at(body, blen, code) : 0;
		if (e > 0 && out->enhanced[0] == '\0' &&
		    e < sizeof(out->enhanced)) {
			memcpy(out->enhanced, body, e);
			out->enhanced[e] = '\0';
		} else if (e > 0 && e == strlen(out->enhanced) &&
		           memcmp(body, out->enhanced, e) == 0) {
			/* the same code again on a later line: said once */
			body += e;
			blen -= e;
			while (blen > 0 && *body == ' ') {
				body++;
				blen--;
			}
		}
		if (nlines == 1)
			text_add(&t, line, 3);
		if (blen > 0) {
			text_add(&t, t.len > 3 ? " / " : " ",
			         t.len > 3 ? 3 : 1);
			text_add(&t, body, blen);
		}
		off += (size_t)(lf - line) + 1;
		if (len == 3 || line[3] == ' ')
			break;
	}
	out->code = code;
	*used = off;
	return SMTP_REPLY_OK;
}

void
smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
               const char *fmt, ...)
{
	char detail[SMTP_REPLY_TEXT], head[32];
	struct text t;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	text_init(&t, r->text, sizeof(r->text));
	n = snprintf(head, sizeof(head), "%d %s%s", code, r->enhanced,
	             r->enhanced[0] ? " " : "");
	text_add(&t, head, (size_t)n);
	text_add(&t, detail, strlen(detail));
}

/* EHLO keywords, as rows: name and flag. */
static const struct ext_row {
	const char *name;
	unsigned flag;
} ext_rows[] = {
    {"PIPELINING", SMTP_EXT_PIPELINING},
    {"SIZE", SMTP_EXT_SIZE},
    {"8BITMIME", SMTP_EXT_8BITMIME},
    {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
    {"STARTTLS", SMTP_EXT_STARTTLS},
    {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCED},
    {"AUTH", SMTP_EXT_AUTH},
    {"CHUNKING", SMTP_EXT_CHUNKING},
    {"DSN", SMTP_EXT_DSN},
};

static const struct ext_row mech_rows[] = {
    {"PLAIN", SMTP_MECH_PLAIN},
    {"LOGIN", SMTP_MECH_LOGIN},
};

static unsigned
row_flag(const struct ext_row *rows, size_t nrows, const char *w, size_t n)
{
	for (size_t i = 0; i < nrows; i++)
		if (strlen(rows[i].name) == n &&
		    strncasecmp(rows[i].name, w, n) == 0)
			return rows[i].flag;
	return 0;
}

/* The next word of s[*i..n), split on spaces (and '=' when eq is set). */
static const char *
word(const char *s, size_t n, size_t *i, size_t *wlen, int eq)
{
	size_t start;

	while (*i < n && (s[*i] == ' ' || (eq && s[*i] == '=')))
		(*i)++;
	start = *i;
	while (*i < n && s[*i] != ' ' && !(eq && s[*i] == '='))
		(*i)++;
	*wlen = *i - start;
	return *wlen > 0 ? s + start : NULL;
}

/* RFC 1870 §4: SIZE's number, capped rather than wrapped. */
static uint64_t
size_value(const char *w, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return 0;
		v = v > UINT64_MAX / 10 - 1 ? UINT64_MAX
		                            : v * 10 + (uint64_t)(w[i] - '0');
	}
	return v;
}

int
smtp_ehlo_parse(const char *p, size_t n, struct smtp_ehlo *e)
{
	struct smtp_reply r;
	size_t used, off = 0;

	memset(e, 0, sizeof(*e));
	if (smtp_reply_parse(p, n, 0, &r, &used) != SMTP_REPLY_OK ||
	    r.code != 250)
		return -1;
	while (off < used) {
		const char *line = p + off,
		           *lf = memchr(line, '\n', used - off);
		size_t len = (size_t)(lf - line), i = 4, wl;
		const char *w;
		unsigned flag;

		if (len > 0 && line[len - 1] == '\r')
			len--;
		off += (size_t)(lf - line) + 1;
		if (line == p || len <= 4)
			continue; /* the first line names the server */
		/* "AUTH=LOGIN PLAIN": an old form some servers still send */
		if ((w = word(line, len, &i, &wl, 1)) == NULL)
			continue;
		flag = row_flag(ext_rows,
		                sizeof(ext_rows) / sizeof(ext_rows[0]), w, wl);
		e->ext |= flag;
		if (flag == SMTP_EXT_SIZE && (w = word(line, len, &i, &wl, 0)))
			e->size = size_value(w, wl);
		else if (flag == SMTP_EXT_AUTH)
			while ((w = word(line, len, &i, &wl, 1)) != NULL)
				e->mech |= row_flag(mech_rows,
				                    sizeof(mech_rows) /
				                        sizeof(mech_rows[0]),
				                    w, wl);
	}
	return 0;
}
