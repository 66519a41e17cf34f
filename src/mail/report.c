/*
 * report: reads a received message as a delivery status notification (RFC
 * 3464; RFC 6533 for message/global-delivery-status) or a feedback report
 * (RFC 5965), both carried in a multipart/report (RFC 6522).
 *
 * It is lenient where real MTAs differ and the meaning stays clear (bare LF
 * line endings, a missing close-delimiter, transport padding, a base64 or
 * quoted-printable status part, a report one level inside a
 * multipart/mixed, fields in any case, comments after a Status or an
 * Action), and strict where acting on a guess could bounce or suppress the
 * wrong address: a per-recipient group needs Final-Recipient, a known Action
 * and an RFC 3463 Status, and a feedback report needs a Feedback-Type token.
 *
 * It is not a MIME library: it reads only the parts a report is made of,
 * never decodes RFC 2047 or RFC 2231, and keeps no bodies. Plain-text
 * bounces (such as the one Exim sends by default) are REPORT_OTHER: their
 * wording is not a format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/base64.h"
#include "../core/buf.h"
#include "limits.h"
#include "report.h"

#define REPORT_MAX_TYPE 64      /* "multipart/report", a report-type */
#define REPORT_MAX_BOUNDARY 200 /* RFC 2046 says 70; some write more */

/* One parse: the arena, and where the first failure goes. */
struct rctx {
	struct arena *a;
	struct report *out;
	int oom;
	char *why;
	size_t whylen;
};

/* A body part (or the message itself): what its header says and where
 * its content is. */
struct rpart {
	const char *hdr, *body, *end; /* header from hdr, content body..end */
	char type[REPORT_MAX_TYPE];   /* lowercase; "text/plain" by default */
	char boundary[REPORT_MAX_BOUNDARY + 1];
	char report_type[REPORT_MAX_TYPE];
	char cte[REPORT_MAX_TYPE]; /* lowercase Content-Transfer-Encoding */
};

/* One header field: name[0..nlen), raw value val..vend, folding kept. */
struct rfield {
	const char *name;
	size_t nlen;
	const char *val, *vend;
};

static const char *const report_actions[] = {
    [REPORT_FAILED] = "failed",       [REPORT_DELAYED] = "delayed",
    [REPORT_DELIVERED] = "delivered", [REPORT_RELAYED] = "relayed",
    [REPORT_EXPANDED] = "expanded",
};
#define NACTIONS (sizeof(report_actions) / sizeof(report_actions[0]))

/* RFC 6522 §3: the second part says what the report is. */
static const struct {
	const char *report_type; /* the multipart/report parameter */
	const char *status_type; /* its machine-readable part */
	enum report_kind kind;
} report_types[] = {
    {"delivery-status", "message/delivery-status", REPORT_DSN},
    {"delivery-status", "message/global-delivery-status", REPORT_DSN},
    {"feedback-report", "message/feedback-report", REPORT_ARF},
};
#define NTYPES (sizeof(report_types) / sizeof(report_types[0]))

/* RFC 6522 §3 third part, RFC 6532 §3.7 and RFC 6533 §6 for the global
 * ones; message/rfc822-headers is not registered but is written. */
static const char *const report_original_types[] = {
    "message/rfc822",         "message/global",         "text/rfc822-headers",
    "message/global-headers", "message/rfc822-headers",
};
#define NORIGINAL                                                              \
	(sizeof(report_original_types) / sizeof(report_original_types[0]))

const char *
report_action_name(enum report_action act)
{
	return (size_t)act < NACTIONS ? report_actions[act] : "unknown";
}

static void report_bad(struct rctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Marks the report malformed with a reason; the first reason stays. */
static void
report_bad(struct rctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->out->kind == REPORT_MALFORMED)
		return;
	c->out->kind = REPORT_MALFORMED;
	if (c->why == NULL || c->whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whylen, fmt, ap);
	va_end(ap);
}

static int
report_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Any white space a structured field may hold once unfolded. */
static int
report_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The line at p: returns the end of its content (before CRLF or a bare
 * LF) and sets *next to the start of the following line.
 */
static const char *
report_eol(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL) {
		*next = end;
		return end;
	}
	*next = nl + 1;
	return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

static int
report_blank(const char *p, const char *e)
{
	while (p < e && report_wsp(*p))
		p++;
	return p == e;
}

/*
 * The next field of the header block at *pp (RFC 5322 §2.2): 1 with *f
 * set and *pp past the field and its continuation lines; 0 at an empty
 * (or all white) line, *pp past it, or at the end; -1 for a line that is
 * neither, *pp left on it.
 */
static int
report_field(const char **pp, const char *end, struct rfield *f)
{
	const char *p = *pp, *e, *next, *colon, *n;

	if (p >= end)
		return 0;
	e = report_eol(p, end, &next);
	if (report_blank(p, e)) {
		*pp = next;
		return 0;
	}
	if (report_wsp(*p) || (colon = memchr(p, ':', (size_t)(e - p))) == NULL)
		return -1;
	for (n = p; n < colon; n++)
		if ((unsigned char)*n <= 32 || (unsigned char)*n >= 127)
			break;
	f->nlen = (size_t)(n - p);
	/* "Name :" is obsolete syntax (RFC 5322 §4.5), still read */
	while (n < colon && report_wsp(*n))
		n++;
	if (n != colon || f->nlen == 0)
		return -1;
	f->name = p;
	f->val = colon + 1;
	/* RFC 5322 §2.2.3: a line starting with WSP continues the field */
	while (next < end && report_wsp(*next)) {
		const char *ce, *cn;

		ce = report_eol(next, end, &cn);
		if (report_blank(next, ce))
			break;
		e = ce;
		next = cn;
	}
	f->vend = e;
	*pp = next;
	return 1;
}

static int
report_is(const struct rfield *f, const char *name)
{
	size_t n = strlen(name);

	return f->nlen == n && strncasecmp(f->name, name, n) == 0;
}

/*
 * The value p..end unfolded: every run of white space, line breaks and
 * control bytes is one space, none at either end; at most REPORT_MAX_VALUE
 * bytes. In the arena (NULL and c->oom when it is full).
 */
static char *
report_text(struct rctx *c, const char *p, const char *end)
{
	size_t n = (size_t)(end - p), o = 0;
	int gap = 0;
	char *s;

	if (n > REPORT_MAX_VALUE)
		n = REPORT_MAX_VALUE;
	if ((s = arena_alloc(c->a, n + 1)) == NULL) {
		c->oom = 1;
		return NULL;
	}
	for (; p < end && o < n; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= 32 || ch == 127) {
			gap = 1;
			continue;
		}
		if (gap && o > 0 && o + 1 < n)
			s[o++] = ' ';
		gap = 0;
		s[o++] = (char)ch;
	}
	s[o] = '\0';
	return s;
}

/*
 * RFC 3464 §2.1.2: a typed value "type; value" without its type (and the
 * white space after the ';'). A value without a type is kept whole.
 */
static const char *
report_untyped(const char *s)
{
	const char *semi;

	if (s == NULL || (semi = strchr(s, ';')) == NULL)
		return s;
	semi++;
	while (*semi == ' ')
		semi++;
	return semi;
}

/*
 * An address field (Final-Recipient, Original-Recipient, Original-Mail-From,
 * Original-Rcpt-To): the text without its type and its angle brackets.
 * NULL when it is empty, holds white space or is longer than an address
 * may be; c->oom when the arena is full.
 */
static const char *
report_addr(struct rctx *c, const struct rfield *f)
{
	const char *s;
	size_t n;

	if ((s = report_untyped(report_text(c, f->val, f->vend))) == NULL)
		return NULL;
	n = strlen(s);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s = arena_strndup(c->a, s + 1, n - 2);
		if (s == NULL) {
			c->oom = 1;
			return NULL;
		}
		n -= 2;
	}
	if (n == 0 || n > MAX_ADDRESS || strchr(s, ' ') != NULL)
		return NULL;
	return s;
}

/* RFC 2045 §5.1: CFWS (comments nest) between the tokens of a
 * Content-Type; p..end may still be folded. */
static const char *
report_cfws(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '(')
			depth++;
		else if (depth > 0 && *p == ')')
			depth--;
		else if (depth > 0 && *p == '\\' && p + 1 < end)
			p++;
		else if (depth == 0 && !report_space(*p))
			break;
	}
	return p;
}

/* RFC 2045 §5.1 token characters. */
static int
report_tchar(int c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/*
 * Copies p..end's word into out[0..outlen), lowercased when lower, and
 * returns the byte after it. A quoted-string loses its quotes and
 * backslashes; an unquoted word runs (leniently: some boundaries hold
 * tspecials) up to ';', white space, a comment or, for an attribute
 * (attr), '='. Too long a word is cut; the caller checks what it needs.
 */
static const char *
report_word(const char *p, const char *end, char *out, size_t outlen, int lower,
            int attr)
{
	size_t o = 0;
	int q = p < end && *p == '"';
	char ch;

	if (q)
		p++;
	for (; p < end; p++) {
		ch = *p;
		if (q && ch == '"') {
			p++;
			break;
		}
		if (q && ch == '\\' && p + 1 < end)
			ch = *++p;
		else if (q && (ch == '\r' || ch == '\n'))
			continue; /* a folded quoted-string */
		else if (!q && (ch == ';' || report_space(ch) || ch == '(' ||
		                (attr && ch == '=')))
			break;
		if (o + 1 < outlen)
			out[o++] = lower && ch >= 'A' && ch <= 'Z'
			               ? (char)(ch - 'A' + 'a')
			               : ch;
	}
	out[o] = '\0';
	return p;
}

/*
 * RFC 2045 §5.1 Content-Type: type "/" subtype *(";" parameter), comments
 * and folding anywhere between tokens. Fills pt->type, boundary and
 * report_type; a value that does not parse leaves the default.
 */
static void
report_ctype(const struct rfield *f, struct rpart *pt)
{
	const char *p = report_cfws(f->val, f->vend), *end = f->vend;
	char type[REPORT_MAX_TYPE], attr[32];
	size_t tl = 0;

	while (p < end && tl + 1 < sizeof(type) &&
	       (report_tchar((unsigned char)*p) || *p == '/')) {
		type[tl++] = (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p;
		p++;
	}
	type[tl] = '\0';
	if (strchr(type, '/') == NULL)
		return; /* RFC 2045 §5.2: as if it were absent */
	memcpy(pt->type, type, tl + 1);
	for (;;) {
		p = report_cfws(p, end);
		if (p == end || *p != ';')
			break;
		p = report_cfws(p + 1, end);
		p = report_word(p, end, attr, sizeof(attr), 1, 1);
		p = report_cfws(p, end);
		if (p == end || *p != '=')
			continue; /* "; ;" or an attribute without a value */
		p = report_cfws(p + 1, end);
		if (strcmp(attr, "boundary") == 0)
			p = report_word(p, end, pt->boundary,
			                sizeof(pt->boundary), 0, 0);
		else if (strcmp(attr, "report-type") == 0)
			p = report_word(p, end, pt->report_type,
			                sizeof(pt->report_type), 1, 0);
		else
			p = report_word(p, end, attr, sizeof(attr), 0, 0);
	}
}

/*
 * The header of the entity at p..end and where its content starts. A line
 * that is not a field ends the header early (as if the empty line were
 * missing) so a part without one is still read.
 */
static void
report_part(const char *p, const char *end, struct rpart *pt)
{
	struct rfield f;
	const char *q;

	memset(pt, 0, sizeof(*pt));
	snprintf(pt->type, sizeof(pt->type), "text/plain");
	pt->hdr = p;
	pt->end = end;
	while (report_field(&p, end, &f) == 1) {
		if (report_is(&f, "Content-Type")) {
			report_ctype(&f, pt);
		} else if (report_is(&f, "Content-Transfer-Encoding")) {
			q = report_cfws(f.val, f.vend);
			report_word(q, f.vend, pt->cte, sizeof(pt->cte), 1, 0);
		}
	}
	pt->body = p;
}

/*
 * RFC 2046 §5.1.1: 1 when the line p..e is the delimiter of boundary b,
 * 2 when it is the close-delimiter, else 0. Transport padding (white
 * space) may follow either.
 */
static int
report_delim(const char *p, const char *e, const char *b, size_t bl)
{
	int close = 0;

	if ((size_t)(e - p) < bl + 2 || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, b, bl) != 0)
		return 0;
	p += bl + 2;
	if (e - p >= 2 && p[0] == '-' && p[1] == '-') {
		p += 2;
		close = 1;
	}
	return report_blank(p, e) ? 1 + close : 0;
}

/*
 * The body parts of the multipart at pt, at most max: their spans in
 * starts[]/ends[], the count in *n. The CRLF before a delimiter belongs
 * to it (RFC 2046 §5.1.1); preamble and epilogue are dropped; with no
 * close-delimiter the last part runs to the end. 0, or -1 with c's reason
 * when no delimiter is found or there are too many parts.
 */
static int
report_split(struct rctx *c, const struct rpart *pt, const char **starts,
             const char **ends, size_t max, size_t *n)
{
	const char *p = pt->body, *end = pt->end, *e, *next, *start = NULL;
	const char *pe;
	size_t bl = strlen(pt->boundary);
	int d;

	*n = 0;
	if (bl == 0) {
		report_bad(c, "The %s has no boundary parameter.", pt->type);
		return -1;
	}
	for (; p < end; p = next) {
		e = report_eol(p, end, &next);
		if ((d = report_delim(p, e, pt->boundary, bl)) == 0)
			continue;
		if (start != NULL) {
			pe = p;
			if (pe > start && pe[-1] == '\n')
				pe--;
			if (pe > start && pe[-1] == '\r')
				pe--;
			if (*n == max) {
				report_bad(c, "The %s has more than %zu parts.",
				           pt->type, max);
				return -1;
			}
			starts[*n] = start;
			ends[(*n)++] = pe;
		}
		start = next;
		if (d == 2)
			return 0;
	}
	if (start == NULL) {
		report_bad(c,
		           "The %s has no line with its boundary \"%s\"; "
		           "the message may be cut or its boundary broken.",
		           pt->type, pt->boundary);
		return -1;
	}
	if (*n == max) {
		report_bad(c, "The %s has more than %zu parts.", pt->type, max);
		return -1;
	}
	starts[*n] = start;
	ends[(*n)++] = end;
	return 0;
}

/*
 * RFC 2045 §6.7 quoted-printable: "=XX" is a byte, "=" at the end of a
 * line a soft break; any other "=" is kept (rule 1's lenient reading).
 * Writes to o, which has room for end - p bytes; returns the length.
 */
static size_t
report_qp(const char *p, const char *end, char *o)
{
	static const char hex[] = "0123456789ABCDEFabcdef";
	const char *h1, *h2, *q;
	size_t n = 0;

	while (p < end) {
		if (*p != '=') {
			o[n++] = *p++;
			continue;
		}
		for (q = p + 1; q < end && report_wsp(*q); q++)
			;
		if (q == end || *q == '\r' || *q == '\n') {
			/* soft line break */
			if (q < end && *q == '\r')
				q++;
			if (q < end && *q == '\n')
				q++;
			p = q;
			continue;
		}
		if (end - p >= 3 && p[1] != '\0' && p[2] != '\0' &&
		    (h1 = strchr(hex, p[1])) != NULL &&
		    (h2 = strchr(hex, p[2])) != NULL) {
			int v1 = (int)(h1 - hex), v2 = (int)(h2 - hex);

			v1 = v1 >= 16 ? v1 - 6 : v1;
			v2 = v2 >= 16 ? v2 - 6 : v2;
			o[n++] = (char)(v1 << 4 | v2);
			p += 3;
			continue;
		}
		o[n++] = *p++;
	}
	return n;
}

/*
 * The content of pt after its Content-Transfer-Encoding (RFC 2045 §6):
 * base64 and quoted-printable decoded into the arena, 7bit, 8bit and
 * binary as they are. 0 with *p..*end, or -1 for base64 that does not
 * decode (or with c->oom).
 */
static int
report_decode(struct rctx *c, const struct rpart *pt, const char **p,
              const char **end)
{
	size_t len = (size_t)(pt->end - pt->body);
	struct buf b;
	char *s;

	*p = pt->body;
	*end = pt->end;
	if (strcmp(pt->cte, "quoted-printable") == 0) {
		if ((s = arena_alloc(c->a, len + 1)) == NULL) {
			c->oom = 1;
			return -1;
		}
		*p = s;
		*end = s + report_qp(pt->body, pt->end, s);
	} else if (strcmp(pt->cte, "base64") == 0) {
		buf_init(&b, len + 1);
		if (base64_decode(&b, pt->body, len) == -1) {
			buf_clear(&b);
			return -1;
		}
		if ((s = arena_alloc(c->a, b.len + 1)) == NULL) {
			buf_clear(&b);
			c->oom = 1;
			return -1;
		}
		if (b.len > 0)
			memcpy(s, b.p, b.len);
		*p = s;
		*end = s + b.len;
		buf_clear(&b);
	}
	return 0;
}

/*
 * RFC 3463 §2 status-code: class "." subject "." detail, class 2, 4 or 5,
 * subject and detail 1*3digit, then nothing but white space or a comment.
 * 0 with the code in out (12 bytes), or -1.
 */
static int
report_status(const char *s, char out[12])
{
	size_t i = 0, k, part;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return -1;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; k < 3 && s[i] >= '0' && s[i] <= '9'; k++)
			i++;
		if (k == 0 || (part == 0 && s[i++] != '.'))
			return -1;
	}
	if (s[i] != '\0' && s[i] != ' ' && s[i] != '(')
		return -1;
	memcpy(out, s, i);
	out[i] = '\0';
	return 0;
}

/* RFC 3464 §2.3.3: the action-value before any comment, or -1. */
static int
report_action(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return -1;
	n = strcspn(s, " (;");
	for (i = 0; i < NACTIONS; i++)
		if (strlen(report_actions[i]) == n &&
		    strncasecmp(s, report_actions[i], n) == 0)
			return (int)i;
	return -1;
}

/* The fields of a delivery-status group that pigeon reads. */
enum {
	DSN_REPORTING_MTA,
	DSN_ARRIVAL_DATE,
	DSN_ENVID,
	DSN_FINAL_RCPT,
	DSN_ORIG_RCPT,
	DSN_ACTION,
	DSN_STATUS,
	DSN_DIAG,
	DSN_REMOTE_MTA,
	NDSN
};

static const char *const report_dsn_names[NDSN] = {
    [DSN_REPORTING_MTA] = "Reporting-MTA",
    [DSN_ARRIVAL_DATE] = "Arrival-Date",
    [DSN_ENVID] = "Original-Envelope-Id",
    [DSN_FINAL_RCPT] = "Final-Recipient",
    [DSN_ORIG_RCPT] = "Original-Recipient",
    [DSN_ACTION] = "Action",
    [DSN_STATUS] = "Status",
    [DSN_DIAG] = "Diagnostic-Code",
    [DSN_REMOTE_MTA] = "Remote-MTA",
};

/*
 * One per-recipient group (RFC 3464 §2.3) from its fields g[]: appended
 * to out->rcpt, or the report marked malformed.
 */
static void
report_dsn_rcpt(struct rctx *c, const struct rfield *g, const int *have,
                size_t group)
{
	struct report *out = c->out;
	struct report_rcpt *r;
	const char *s;
	int act;

	if (out->nrcpt == REPORT_MAX_RCPTS) {
		report_bad(c,
		           "The delivery-status part has more than %d "
		           "recipients.",
		           REPORT_MAX_RCPTS);
		return;
	}
	r = &out->rcpt[out->nrcpt];
	memset(r, 0, sizeof(*r));
	if (!have[DSN_FINAL_RCPT]) {
		report_bad(c,
		           "Recipient group %zu of the delivery-status part "
		           "has no Final-Recipient.",
		           group);
		return;
	}
	if ((r->final_recipient = report_addr(c, &g[DSN_FINAL_RCPT])) == NULL) {
		if (!c->oom)
			report_bad(c,
			           "Recipient group %zu of the delivery-status "
			           "part has a Final-Recipient that is not an "
			           "address.",
			           group);
		return;
	}
	s = have[DSN_ACTION]
	        ? report_text(c, g[DSN_ACTION].val, g[DSN_ACTION].vend)
	        : NULL;
	if ((act = report_action(s)) < 0) {
		report_bad(c,
		           "Recipient group %zu of the delivery-status part "
		           "has no Action of RFC 3464 (failed, delayed, "
		           "delivered, relayed, expanded).",
		           group);
		return;
	}
	r->action = (enum report_action)act;
	s = have[DSN_STATUS]
	        ? report_text(c, g[DSN_STATUS].val, g[DSN_STATUS].vend)
	        : NULL;
	if (report_status(s, r->status) == -1) {
		report_bad(c,
		           "Recipient group %zu of the delivery-status part "
		           "has no Status such as 5.1.1 (RFC 3463).",
		           group);
		return;
	}
	if (have[DSN_ORIG_RCPT])
		r->original_recipient = report_addr(c, &g[DSN_ORIG_RCPT]);
	if (have[DSN_DIAG])
		r->diagnostic_code = report_untyped(
		    report_text(c, g[DSN_DIAG].val, g[DSN_DIAG].vend));
	if (have[DSN_REMOTE_MTA])
		r->remote_mta = report_untyped(report_text(
		    c, g[DSN_REMOTE_MTA].val, g[DSN_REMOTE_MTA].vend));
	out->nrcpt++;
}

/*
 * RFC 3464 §2.1: the per-message fields, an empty line, then one group of
 * per-recipient fields for each recipient, groups apart by empty lines.
 * A first group that already names a recipient is taken as one (some
 * MTAs write no per-message fields).
 */
static void
report_dsn(struct rctx *c, const char *p, const char *end)
{
	struct report *out = c->out;
	struct rfield f, g[NDSN];
	int have[NDSN], r, first = 1;
	size_t group = 0, i;

	out->rcpt = arena_zalloc(c->a, REPORT_MAX_RCPTS * sizeof(*out->rcpt));
	if (out->rcpt == NULL) {
		c->oom = 1;
		return;
	}
	while (p < end && out->kind != REPORT_MALFORMED && !c->oom) {
		memset(have, 0, sizeof(have));
		while ((r = report_field(&p, end, &f)) == 1)
			for (i = 0; i < NDSN; i++)
				if (!have[i] &&
				    report_is(&f, report_dsn_names[i])) {
					g[i] = f;
					have[i] = 1;
				}
		if (r == -1) {
			report_bad(c, "The delivery-status part has a line "
			              "that is not a field.");
			return;
		}
		if (have[DSN_FINAL_RCPT] || have[DSN_ACTION] ||
		    have[DSN_STATUS]) {
			report_dsn_rcpt(c, g, have, ++group);
			first = 0;
		} else if (first &&
		           (have[DSN_REPORTING_MTA] || have[DSN_ARRIVAL_DATE] ||
		            have[DSN_ENVID])) {
			first = 0;
			if (have[DSN_REPORTING_MTA])
				out->reporting_mta = report_untyped(
				    report_text(c, g[DSN_REPORTING_MTA].val,
				                g[DSN_REPORTING_MTA].vend));
			if (have[DSN_ARRIVAL_DATE])
				out->arrival_date =
				    report_text(c, g[DSN_ARRIVAL_DATE].val,
				                g[DSN_ARRIVAL_DATE].vend);
			if (have[DSN_ENVID])
				out->original_envelope_id = report_text(
				    c, g[DSN_ENVID].val, g[DSN_ENVID].vend);
		}
	}
	if (out->nrcpt == 0)
		report_bad(c, "The delivery-status part names no recipient.");
}

/* Appends s to the list *v (REPORT_MAX_RCPTS long, made on first use). */
static void
report_push(struct rctx *c, const char ***v, size_t *n, const char *s,
            const char *name)
{
	if (s == NULL)
		return;
	if (*v == NULL &&
	    (*v = arena_alloc(c->a, REPORT_MAX_RCPTS * sizeof(**v))) == NULL) {
		c->oom = 1;
		return;
	}
	if (*n == REPORT_MAX_RCPTS) {
		report_bad(c, "The feedback report has more than %d %s fields.",
		           REPORT_MAX_RCPTS, name);
		return;
	}
	(*v)[(*n)++] = s;
}

/*
 * RFC 5965 §3.1: the machine-readable part of a feedback report, fields
 * of one block (empty lines between them are let through). Feedback-Type
 * is required and must be a token (§3.1, §7.3); the other required ones,
 * User-Agent and Version, are kept when present but not demanded: a
 * complaint without them is still a complaint.
 */
static void
report_arf(struct rctx *c, const char *p, const char *end)
{
	struct report *out = c->out;
	struct rfield f;
	const char **one;
	char *s;
	size_t i;
	int r;

	while (p < end && out->kind != REPORT_MALFORMED && !c->oom) {
		if ((r = report_field(&p, end, &f)) == 0)
			continue;
		if (r == -1) {
			report_bad(c, "The feedback-report part has a line "
			              "that is not a field.");
			return;
		}
		one = NULL;
		if (report_is(&f, "Original-Rcpt-To"))
			report_push(c, &out->original_rcpt_to,
			            &out->noriginal_rcpt_to, report_addr(c, &f),
			            "Original-Rcpt-To");
		else if (report_is(&f, "Reported-Domain"))
			report_push(
			    c, &out->reported_domain, &out->nreported_domain,
			    report_text(c, f.val, f.vend), "Reported-Domain");
		else if (report_is(&f, "Feedback-Type"))
			one = &out->feedback_type;
		else if (report_is(&f, "User-Agent"))
			one = &out->user_agent;
		else if (report_is(&f, "Version"))
			one = &out->version;
		else if (report_is(&f, "Arrival-Date"))
			one = &out->arrival_date;
		else if (report_is(&f, "Source-IP"))
			one = &out->source_ip;
		else if (report_is(&f, "Reporting-MTA")) {
			if (out->reporting_mta == NULL)
				out->reporting_mta = report_untyped(
				    report_text(c, f.val, f.vend));
		} else if (report_is(&f, "Original-Mail-From")) {
			if (out->original_mail_from == NULL)
				out->original_mail_from = report_addr(c, &f);
		}
		if (one != NULL && *one == NULL)
			*one = report_text(c, f.val, f.vend);
	}
	if (out->kind == REPORT_MALFORMED || c->oom)
		return;
	if (out->feedback_type == NULL || *out->feedback_type == '\0') {
		report_bad(c, "The feedback report has no Feedback-Type.");
		return;
	}
	if ((s = arena_strdup(c->a, out->feedback_type)) == NULL) {
		c->oom = 1;
		return;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (!report_tchar((unsigned char)s[i])) {
			report_bad(c, "The feedback report's Feedback-Type is "
			              "not a token.");
			return;
		}
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	}
	out->feedback_type = s;
}

/*
 * The returned message (or its header) at pt: its Message-ID, the
 * "<…>" part only, and its To. Nothing when they are absent.
 */
static void
report_original(struct rctx *c, const struct rpart *pt)
{
	struct rfield f;
	const char *p, *end, *s, *lt, *gt;
	int r;

	/* the third part is a courtesy: a broken one is not a broken
	 * report */
	if (report_decode(c, pt, &p, &end) == -1)
		return;
	/* some MTAs start text/rfc822-headers with an empty line */
	while ((r = report_field(&p, end, &f)) == 0 && p < end)
		;
	for (; r == 1; r = report_field(&p, end, &f)) {
		if (report_is(&f, "Message-ID") &&
		    c->out->original_message_id == NULL) {
			if ((s = report_text(c, f.val, f.vend)) == NULL)
				return;
			if ((lt = strchr(s, '<')) != NULL &&
			    (gt = strchr(lt, '>')) != NULL) {
				s = arena_strndup(c->a, lt,
				                  (size_t)(gt - lt) + 1);
				if (s == NULL) {
					c->oom = 1;
					return;
				}
			}
			c->out->original_message_id = *s ? s : NULL;
		} else if (report_is(&f, "To") && c->out->original_to == NULL)
			c->out->original_to = report_text(c, f.val, f.vend);
	}
}

/*
 * RFC 6522: a multipart/report at pt. Its report-type names the part
 * to read (a report-type pigeon does not read is REPORT_OTHER; none
 * at all is told by the parts); the original message is read when
 * there is one.
 */
static void
report_multipart(struct rctx *c, const struct rpart *pt)
{
	const char *starts[REPORT_MAX_PARTS], *ends[REPORT_MAX_PARTS];
	const char *p, *end;
	struct rpart part, status, orig;
	size_t n, i, k;
	int have_status = 0, have_orig = 0, known = pt->report_type[0] == '\0';
	enum report_kind kind = REPORT_OTHER;

	for (k = 0; k < NTYPES; k++)
		if (strcmp(pt->report_type, report_types[k].report_type) == 0)
			known = 1;
	if (!known)
		return; /* disposition-notification, tlsrpt, …: OTHER */
	if (report_split(c, pt, starts, ends, REPORT_MAX_PARTS, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		report_part(starts[i], ends[i], &part);
		for (k = 0; k < NTYPES && !have_status; k++)
			if (strcmp(part.type, report_types[k].status_type) ==
			        0 &&
			    (pt->report_type[0] == '\0' ||
			     strcmp(pt->report_type,
			            report_types[k].report_type) == 0)) {
				status = part;
				kind = report_types[k].kind;
				have_status = 1;
			}
		for (k = 0; k < NORIGINAL && !have_orig; k++)
			if (strcmp(part.type, report_original_types[k]) == 0) {
				orig = part;
				have_orig = 1;
			}
	}
	if (!have_status) {
		if (pt->report_type[0] != '\0')
			report_bad(c,
			           "The multipart/report of type %s has no "
			           "%s part.",
			           pt->report_type,
			           strcmp(pt->report_type, "feedback-report") ==
			                   0
			               ? "message/feedback-report"
			               : "message/delivery-status");
		else
			report_bad(c, "The multipart/report has no "
			              "report-type and no status part.");
		return;
	}
	c->out->kind = kind;
	if (report_decode(c, &status, &p, &end) == -1) {
		report_bad(c, "The %s part's base64 does not decode.",
		           status.type);
		return;
	}
	if (kind == REPORT_DSN)
		report_dsn(c, p, end);
	else
		report_arf(c, p, end);
	if (have_orig && c->out->kind != REPORT_MALFORMED && !c->oom)
		report_original(c, &orig);
}

int
report_parse(struct arena *a, const char *msg, size_t len, struct report *out,
             char *why, size_t whylen)
{
	const char *starts[REPORT_MAX_PARTS], *ends[REPORT_MAX_PARTS];
	struct rctx c = {a, out, 0, why, whylen};
	struct rpart top, part;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	report_part(msg, msg + len, &top);
	if (strcmp(top.type, "multipart/report") == 0) {
		report_multipart(&c, &top);
	} else if (strncmp(top.type, "multipart/", 10) == 0) {
		/* a report one level down, as some MTAs wrap it; a broken
		 * outer multipart is simply not a report */
		if (report_split(&c, &top, starts, ends, REPORT_MAX_PARTS,
		                 &n) == 0) {
			for (i = 0; i < n; i++) {
				report_part(starts[i], ends[i], &part);
				if (strcmp(part.type, "multipart/report") ==
				    0) {
					report_multipart(&c, &part);
					break;
				}
			}
		} else
			out->kind = REPORT_OTHER;
	}
	if (c.oom) {
		memset(out, 0, sizeof(*out));
		out->kind = REPORT_MALFORMED;
		if (why != NULL && whylen > 0)
			snprintf(why, whylen, "Out of memory.");
		return -1;
	}
	if (out->kind != REPORT_MALFORMED && why != NULL && whylen > 0)
		why[0] = '\0';
	if (out->kind == REPORT_OTHER || out->kind == REPORT_MALFORMED) {
		/* nothing half-read is handed back */
		enum report_kind kind = out->kind;

		memset(out, 0, sizeof(*out));
		out->kind = kind;
	}
	return 0;
}
