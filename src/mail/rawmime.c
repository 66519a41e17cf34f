/*
 * rawmime: the header section of a message the client wrote itself
 * (send_raw, SMTP DATA). rawmime_parse() splits it into fields;
 * rawmime_prepare() applies SPEC §4 and the `raw_headers` policy of §5
 * (relaxed: any well-formed field; cloudflare: headers.c in RAW mode) and
 * writes the message pigeon will sign and deliver.
 *
 * The body is never parsed or changed, except that its line endings
 * become CRLF for send_raw and a last line without one gets a CRLF. Date and
 * Message-ID, when pigeon adds them, go at the end of the header section, just
 * before the empty line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/clock.h"
#include "atext.h"
#include "headers.h"
#include "limits.h"
#include "rawmime.h"

/* RFC 5322 §3.6 and RFC 2045 §3: fields a message has at most once
 * (Date and Message-ID are replaced instead when doubled). */
static const char *const rawmime_once[] = {
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
};
#define NONCE (sizeof(rawmime_once) / sizeof(rawmime_once[0]))

/* SPEC §4: fields never delivered as the client wrote them. Bcc would
 * show the blind copies to every recipient; Return-Path is the final
 * delivery's to add (RFC 5321 §4.4), from the envelope pigeon sends. */
static const char *const rawmime_removed[] = {
    "Bcc",
    "Return-Path",
};
#define NREMOVED (sizeof(rawmime_removed) / sizeof(rawmime_removed[0]))

static void rawmime_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rawmime_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static int
rawmime_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 §3.6.8: ftext is printable US-ASCII except ':'. */
static int
rawmime_ftext(int c)
{
	return c >= 33 && c <= 126 && c != ':';
}

int
rawmime_parse(struct arena *a, const char *msg, size_t len, struct rawmime *out,
              char *why, size_t whylen)
{
	struct rawmime_field *f = NULL, *nf, *cur = NULL;
	size_t n = 0, cap = 0, i = 0, s, e, line = 0, k;

	memset(out, 0, sizeof(*out));
	/* SPEC §4: the header section, then an empty line (the body after
	 * it may be empty) */
	while (i < len) {
		line++;
		s = i;
		while (i < len && msg[i] != '\r' && msg[i] != '\n') {
			if (msg[i] == '\0') {
				rawmime_why(
				    why, whylen,
				    "Header line %zu contains a NUL byte.",
				    line);
				return -1;
			}
			i++;
		}
		e = i;
		if (i == len) {
			rawmime_why(
			    why, whylen,
			    "The header section does not end with an empty "
			    "line (line %zu has no CRLF).",
			    line);
			return -1;
		}
		if (msg[i] != '\r' || i + 1 == len || msg[i + 1] != '\n') {
			rawmime_why(
			    why, whylen,
			    "Header line %zu ends with a bare CR or LF, not "
			    "CRLF.",
			    line);
			return -1;
		}
		i += 2;
		/* RFC 5322 §2.1.1: lines ≤ 998 octets without the CRLF */
		if (e - s > MAX_LINE) {
			rawmime_why(why, whylen,
			            "Header line %zu is longer than %d octets.",
			            line, MAX_LINE);
			return -1;
		}
		if (e == s) {
			out->body_off = i; /* the empty line */
			break;
		}
		/* RFC 5322 §2.2.3: a line starting with WSP continues the
		 * field above it */
		if (rawmime_wsp(msg[s])) {
			if (cur == NULL) {
				rawmime_why(
				    why, whylen,
				    "The message starts with a continuation "
				    "line, not a header field.");
				return -1;
			}
			cur->len = i - cur->off;
			cur->value_len = e - (size_t)(cur->value - msg);
			continue;
		}
		for (k = s; k < e && msg[k] != ':'; k++)
			if (!rawmime_ftext((unsigned char)msg[k]))
				break;
		if (k == e || msg[k] != ':') {
			rawmime_why(
			    why, whylen,
			    "Header line %zu is not a header field (no "
			    "'Name:'); is the empty line between the header "
			    "and the body missing?",
			    line);
			return -1;
		}
		if (k == s) {
			rawmime_why(why, whylen,
			            "Header line %zu has an empty field name.",
			            line);
			return -1;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nf = arena_alloc(a, cap * sizeof(*nf))) == NULL) {
				rawmime_why(why, whylen, "Out of memory.");
				return -1;
			}
			if (n > 0)
				memcpy(nf, f, n * sizeof(*nf));
			f = nf;
		}
		cur = &f[n++];
		cur->name = msg + s;
		cur->name_len = k - s;
		cur->value = msg + k + 1;
		cur->value_len = e - (k + 1);
		cur->off = s;
		cur->len = i - s;
	}
	if (out->body_off == 0) {
		rawmime_why(why, whylen,
		            "The header section does not end with an empty "
		            "line.");
		return -1;
	}
	out->f = f;
	out->nf = n;
	return 0;
}

/*
 * The value unfolded (CRLFs removed, RFC 5322 §2.2.3) with leading and
 * trailing WSP trimmed, NUL-terminated in the arena.
 */
static char *
rawmime_unfold(struct arena *a, const struct rawmime_field *f, size_t *lenp)
{
	const char *v = f->value;
	size_t n = f->value_len, i, o = 0;
	char *s;

	while (n > 0 && (rawmime_wsp(v[0]) || v[0] == '\r' || v[0] == '\n')) {
		v++;
		n--;
	}
	if ((s = arena_alloc(a, n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (v[i] != '\r' && v[i] != '\n')
			s[o++] = v[i];
	while (o > 0 && rawmime_wsp(s[o - 1]))
		o--;
	s[o] = '\0';
	*lenp = o;
	return s;
}

/*
 * RFC 5322 §3.6.4 msg-id, strictly: "<left@right>", one '@', both sides
 * non-empty, printable ASCII with no whitespace, '<' or '>' inside, and
 * short enough for rawmime_result.
 */
static int
rawmime_msgid_ok(const char *v, size_t n)
{
	size_t i, at = 0, nat = 0;

	if (n < 5 || n >= MSGID_MAX || v[0] != '<' || v[n - 1] != '>')
		return 0;
	for (i = 1; i < n - 1; i++) {
		if (v[i] <= 32 || v[i] >= 127 || v[i] == '<' || v[i] == '>')
			return 0;
		if (v[i] == '@') {
			at = i;
			nat++;
		}
	}
	return nat == 1 && at > 1 && at < n - 2;
}

/* min..max digits at *p; their value in *val. 0, or -1. */
static int
rawmime_digits(const char **p, const char *end, size_t min, size_t max,
               int *val)
{
	size_t n = 0;

	*val = 0;
	while (*p < end && **p >= '0' && **p <= '9' && n < max) {
		*val = *val * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n >= min ? 0 : -1;
}

static void
rawmime_cfws(const char **p, const char *end)
{
	while (*p < end && rawmime_wsp(**p))
		(*p)++;
}

/* The index of the 3-letter name at p in names[0..n), or -1. */
static int
rawmime_name3(const char *p, const char *end, const char *const *names, int n)
{
	for (int i = 0; end - p >= 3 && i < n; i++)
		if (strncasecmp(p, names[i], 3) == 0)
			return i;
	return -1;
}

/* Day of the week (0 = Monday) of a proleptic Gregorian date. */
static int
rawmime_weekday(int y, int m, int d)
{
	static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};

	if (m < 3)
		y--;
	/* Sakamoto's method gives 0 = Sunday */
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d + 6) % 7;
}

/*
 * RFC 5322 §3.3 date-time: [day-name ","] day month year hour ":" minute
 * [":" second] zone, with a numeric zone or one of the obsolete names
 * (§4.3), then an optional comment such as "(PDT)". The date must exist,
 * the day name (when given) must be its day, the time and the zone's
 * minutes must be in range (a leap second, :60, is allowed).
 */
static int
rawmime_date_ok(const char *v, size_t n)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
	                                   "Fri", "Sat", "Sun"};
	static const char *const zones[] = {"UT",  "GMT", "EST", "EDT", "CST",
	                                    "CDT", "MST", "MDT", "PST", "PDT"};
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	const char *p = v, *end = v + n;
	int wday = -1, day, mon, year, hh, mm, ss = 0, zone;
	size_t i;
	int ok;

	rawmime_cfws(&p, end);
	if (end - p >= 4 && p[3] == ',') {
		if ((wday = rawmime_name3(p, end, days, 7)) < 0)
			return 0;
		p += 4;
		rawmime_cfws(&p, end);
	}
	if (rawmime_digits(&p, end, 1, 2, &day) == -1)
		return 0;
	rawmime_cfws(&p, end);
	if ((mon = rawmime_name3(p, end, months, 12)) < 0)
		return 0;
	p += 3;
	rawmime_cfws(&p, end);
	if (rawmime_digits(&p, end, 4, 4, &year) == -1 || year < 1900)
		return 0;
	if (day < 1 || day > mdays[mon] ||
	    (mon == 1 && day == 29 &&
	     !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
		return 0;
	if (wday >= 0 && rawmime_weekday(year, mon + 1, day) != wday)
		return 0;
	rawmime_cfws(&p, end);
	if (rawmime_digits(&p, end, 2, 2, &hh) == -1 || p == end ||
	    *p++ != ':' || rawmime_digits(&p, end, 2, 2, &mm) == -1)
		return 0;
	if (p < end && *p == ':') {
		p++;
		if (rawmime_digits(&p, end, 2, 2, &ss) == -1)
			return 0;
	}
	if (hh > 23 || mm > 59 || ss > 60)
		return 0;
	rawmime_cfws(&p, end);
	if (p < end && (*p == '+' || *p == '-')) {
		p++;
		if (rawmime_digits(&p, end, 4, 4, &zone) == -1 ||
		    zone % 100 > 59)
			return 0;
	} else {
		for (ok = 0, i = 0; i < 10 && !ok; i++) {
			size_t zl = strlen(zones[i]);
			if ((size_t)(end - p) >= zl &&
			    strncasecmp(p, zones[i], zl) == 0 &&
			    ((size_t)(end - p) == zl || rawmime_wsp(p[zl]))) {
				p += zl;
				ok = 1;
			}
		}
		if (!ok)
			return 0;
	}
	rawmime_cfws(&p, end);
	if (p < end && (*p != '(' || end[-1] != ')'))
		return 0;
	return 1;
}

/*
 * RFC 5322 §3.2.2 CFWS at *pp: white space and comments, which nest and
 * hold quoted pairs. 0 past it, or -1 for a comment never closed.
 */
static int
rawmime_skip_cfws(const char **pp, const char *end)
{
	const char *p = *pp;
	int depth = 0;

	while (p < end) {
		if (*p == '(') {
			depth++;
		} else if (depth == 0) {
			if (!rawmime_wsp(*p))
				break;
		} else if (*p == ')') {
			depth--;
		} else if (*p == '\\' && p + 1 < end) {
			p++; /* quoted-pair */
		}
		p++;
	}
	*pp = p;
	return depth == 0 ? 0 : -1;
}

/* RFC 5322 §3.2.3 1*atext at *pp, with the non-ASCII bytes of RFC 6532
 * §3.2. 0 past it, or -1 when there is none. */
static int
rawmime_atom(const char **pp, const char *end)
{
	const char *p = *pp;

	while (p < end &&
	       (atext((unsigned char)*p) || (unsigned char)*p >= 0x80))
		p++;
	if (p == *pp)
		return -1;
	*pp = p;
	return 0;
}

/* RFC 5322 §3.2.4 quoted-string at *pp, its opening DQUOTE. 0 past the
 * closing one, or -1 when it is not closed. */
static int
rawmime_quoted(const char **pp, const char *end)
{
	const char *p = *pp + 1;

	for (; p < end && *p != '"'; p++)
		if (*p == '\\' && ++p == end)
			return -1;
	if (p == end)
		return -1;
	*pp = p + 1;
	return 0;
}

/*
 * Words (atoms, quoted strings) and dots with CFWS around them, as a
 * display name (phrase, obs-phrase) or a local part (word *("." word),
 * obs-local-part) is made of. *nwords is their number of words; *dotted
 * is 1 when they are a local part. 0, or -1 for a broken quote or
 * comment.
 */
static int
rawmime_words(const char **pp, const char *end, size_t *nwords, int *dotted)
{
	const char *p = *pp;
	int last = 0; /* 0 nothing yet, 1 a word, 2 a dot */

	*nwords = 0;
	*dotted = 1;
	for (;;) {
		if (rawmime_skip_cfws(&p, end) == -1)
			return -1;
		if (p < end && *p == '"') {
			if (rawmime_quoted(&p, end) == -1)
				return -1;
		} else if (p < end && *p == '.') {
			p++;
			if (last != 1)
				*dotted = 0;
			last = 2;
			continue;
		} else if (rawmime_atom(&p, end) == -1)
			break;
		if (last == 1)
			*dotted = 0; /* two words without a dot */
		last = 1;
		(*nwords)++;
	}
	if (last != 1)
		*dotted = 0;
	*pp = p;
	return 0;
}

/*
 * RFC 5322 §3.4.1 domain at *pp, after the '@': a dot-atom, a
 * domain-literal or obs-domain (atoms and dots with CFWS between), and
 * the CFWS after it. 0 past it, or -1.
 */
static int
rawmime_domain(const char **pp, const char *end)
{
	const char *p = *pp;

	if (rawmime_skip_cfws(&p, end) == -1)
		return -1;
	if (p < end && *p == '[') {
		/* dtext and FWS up to the ']' */
		for (p++; p < end && *p != ']'; p++)
			if (*p == '[' || *p == '\\')
				return -1;
		if (p++ == end)
			return -1;
	} else {
		for (;;) {
			if (rawmime_atom(&p, end) == -1 ||
			    rawmime_skip_cfws(&p, end) == -1)
				return -1;
			if (p == end || *p != '.')
				break;
			p++;
			if (rawmime_skip_cfws(&p, end) == -1)
				return -1;
		}
	}
	if (rawmime_skip_cfws(&p, end) == -1)
		return -1;
	*pp = p;
	return 0;
}

/* rawmime_from() results besides 0. */
enum {
	FROM_NOADDR = -1, /* a list member has no addr-spec (or no member) */
	FROM_GROUP = -2,  /* "name: …;", an address-list form */
	FROM_SYNTAX = -3, /* not a mailbox-list */
};

/* RFC 5322 §3.4.1 addr-spec at *pp: local-part "@" domain. 0 with the
 * domain, CFWS around it included, from *dom to *dom_end; or -1. */
static int
rawmime_addr_spec(const char **pp, const char *end, const char **dom,
                  const char **dom_end)
{
	const char *p = *pp;
	size_t nw;
	int dotted;

	if (rawmime_words(&p, end, &nw, &dotted) == -1 || !dotted || p == end ||
	    *p != '@')
		return -1;
	*dom = ++p;
	if (rawmime_domain(&p, end) == -1)
		return -1;
	*dom_end = p;
	*pp = p;
	return 0;
}

/*
 * The domain p[0..end) that rawmime_addr_spec() found, without its
 * CFWS: " example . com (x)" is "example.com". In the arena, or NULL.
 */
static char *
rawmime_domain_text(struct arena *a, const char *p, const char *end)
{
	char *s, *o;

	if ((s = o = arena_alloc(a, (size_t)(end - p) + 1)) == NULL)
		return NULL;
	while (rawmime_skip_cfws(&p, end) == 0 && p < end) {
		if (*p == '[') {
			/* a domain-literal, kept whole */
			while (p < end && *p != ']')
				*o++ = *p++;
			if (p < end)
				*o++ = *p++;
		} else
			while (p < end && !rawmime_wsp(*p) && *p != '(')
				*o++ = *p++;
	}
	*o = '\0';
	return s;
}

/*
 * RFC 5322 §3.4 mailbox at *pp: an addr-spec, or [display-name]
 * "<" addr-spec ">" with CFWS around. An '@' inside a comment or a
 * quoted display name is not an address. 0 past it, its domain's span in
 * *dom and *dom_end (rawmime_addr_spec), or a FROM_ code.
 */
static int
rawmime_mailbox(const char **pp, const char *end, const char **dom,
                const char **dom_end)
{
	const char *p = *pp, *s;
	size_t nw;
	int dotted;

	if (rawmime_words(&p, end, &nw, &dotted) == -1)
		return FROM_SYNTAX;
	if (p == end || *p == ',')
		return FROM_NOADDR;
	if (*p == ':')
		return FROM_GROUP;
	if (*p == '@') {
		/* addr-spec: the words were its local part */
		s = *pp;
		if (rawmime_addr_spec(&s, end, dom, dom_end) == -1)
			return FROM_SYNTAX;
		*pp = s;
		return 0;
	}
	if (*p != '<')
		return FROM_SYNTAX;
	/* name-addr; obs-route ("<@a,@b:x@y>") is not taken */
	p++;
	if (rawmime_addr_spec(&p, end, dom, dom_end) == -1 || p == end ||
	    *p != '>')
		return FROM_SYNTAX;
	p++;
	if (rawmime_skip_cfws(&p, end) == -1)
		return FROM_SYNTAX;
	*pp = p;
	return 0;
}

/*
 * RFC 5322 §3.6.2: From is a mailbox-list: one or more mailboxes
 * separated by commas (obs-mbox-list, §4.4: empty members are skipped),
 * each with an address. Groups are for To and Cc, not From. v[0..n) is
 * the unfolded value. 0 with the number of mailboxes in *nmb and the
 * first one's domain span in *dom and *dom_end, or a FROM_ code.
 */
static int
rawmime_from(const char *v, size_t n, size_t *nmb, const char **dom,
             const char **dom_end)
{
	const char *p = v, *end = v + n, *d, *de;
	int r;

	*nmb = 0;
	for (;;) {
		if (rawmime_skip_cfws(&p, end) == -1)
			return FROM_SYNTAX;
		if (p == end)
			break;
		if (*p == ',') {
			p++;
			continue;
		}
		if ((r = rawmime_mailbox(&p, end, &d, &de)) != 0)
			return r;
		if ((*nmb)++ == 0) {
			*dom = d;
			*dom_end = de;
		}
		if (p == end)
			break;
		if (*p++ != ',')
			return FROM_SYNTAX;
	}
	return *nmb > 0 ? 0 : FROM_NOADDR;
}

/* The sentence for a From refused by rawmime_from(). */
static void
rawmime_from_why(int r, char *why, size_t whylen)
{
	const char *how;

	if (r == FROM_GROUP)
		how = "a group ('name: ...;') is not one";
	else if (r == FROM_SYNTAX)
		how = "the value does not parse as a list of them";
	else
		how = "a name, a comment or a quoted string alone is not one";
	rawmime_why(why, whylen,
	            "Header 'From' has no address: it needs a mailbox such as "
	            "user@example.com or Name <user@example.com>; %s (RFC "
	            "5322 §3.6.2).",
	            how);
}

/*
 * RFC 5322 §2.1.1: the first body line longer than MAX_LINE octets
 * (without its CRLF); its 1-based number within the body in *lineno and
 * its length in *linelen. 0 when there is none.
 */
static int
rawmime_long_line(const char *body, size_t len, size_t *lineno, size_t *linelen)
{
	const char *p = body, *end = body + len, *nl;
	size_t n = 0, l;

	while (p < end) {
		n++;
		nl = memchr(p, '\n', (size_t)(end - p));
		l = (size_t)((nl != NULL ? nl : end) - p);
		if (l > 0 && nl != NULL && p[l - 1] == '\r')
			l--;
		if (l > MAX_LINE) {
			*lineno = n;
			*linelen = l;
			return 1;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}

/* Appends to out; RAWMIME_TOO_BIG when that would pass out's cap, -1
 * out of memory. */
static int
rawmime_put(struct buf *out, const void *p, size_t n)
{
	if (out->max != 0 && (out->len > out->max || n > out->max - out->len))
		return RAWMIME_TOO_BIG;
	return buf_append(out, p, n);
}

/* The number of bare LFs and lone CRs in[0..len). */
static size_t
rawmime_bare(const char *in, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			i++;
		else if (in[i] == '\r' || in[i] == '\n')
			n++;
	}
	return n;
}

/*
 * send_raw line endings: CRLF stays, bare LF and lone CR become CRLF.
 * Returns the converted copy (arena) or in itself when nothing changes.
 */
static const char *
rawmime_crlf(struct arena *a, const char *in, size_t len, size_t *olen)
{
	size_t i, extra, o = 0;
	char *s;

	extra = rawmime_bare(in, len);
	*olen = len;
	if (extra == 0)
		return in;
	if ((s = arena_alloc(a, len + extra)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			s[o++] = '\r';
			s[o++] = '\n';
			i++;
		} else if (in[i] == '\r' || in[i] == '\n') {
			s[o++] = '\r';
			s[o++] = '\n';
		} else
			s[o++] = in[i];
	}
	*olen = o;
	return s;
}

static int
rawmime_is(const struct rawmime_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* SPEC §4: 1 when f is removed from the message. */
static int
rawmime_removed_name(const struct rawmime_field *f)
{
	size_t i;

	for (i = 0; i < NREMOVED; i++)
		if (rawmime_is(f, rawmime_removed[i]))
			return 1;
	return 0;
}

int
rawmime_prepare(struct arena *a, const char *in, size_t len, int lf_ok,
                enum rawmime_policy policy, const char *sender_domain,
                time_t now, struct buf *out, struct rawmime_result *res,
                char *why, size_t whylen)
{
	struct hdr_state st;
	struct rawmime rm;
	const struct rawmime_field *f;
	const char *msg, *canon, *v, *date = NULL, *msgid = NULL, *dom = NULL,
	                             *dom_end = NULL;
	char *keep, added[MSGID_MAX + 64], datebuf[40];
	size_t mlen, i, k, vlen, ndate = 0, nmsgid = 0, nfrom = 0, start, line,
	                         llen;
	unsigned once[NONCE] = {0};
	int rc = -1, r;

	memset(&st, 0, sizeof(st));
	memset(res, 0, sizeof(*res));
	start = out->len;
	if (sender_domain == NULL || *sender_domain == '\0') {
		rawmime_why(why, whylen, "No sender domain.");
		goto fail;
	}
	if (memchr(in, '\0', len) != NULL) {
		rawmime_why(why, whylen, "The message contains a NUL byte.");
		goto fail;
	}
	if (lf_ok) {
		if ((msg = rawmime_crlf(a, in, len, &mlen)) == NULL) {
			rawmime_why(why, whylen, "Out of memory.");
			goto fail;
		}
	} else {
		/* SMTP: the session refused bare CR/LF already (§7) */
		msg = in;
		mlen = len;
		if (rawmime_bare(in, len) != 0) {
			rawmime_why(why, whylen,
			            "The message has a bare CR or LF.");
			goto fail;
		}
	}
	if (rawmime_parse(a, msg, mlen, &rm, why, whylen) == -1)
		goto fail;
	if ((keep = arena_zalloc(a, rm.nf + 1)) == NULL) {
		rawmime_why(why, whylen, "Out of memory.");
		goto fail;
	}

	for (i = 0; i < rm.nf; i++) {
		f = &rm.f[i];
		if ((v = rawmime_unfold(a, f, &vlen)) == NULL) {
			rawmime_why(why, whylen, "Out of memory.");
			goto fail;
		}
		/* SPEC §5: relaxed takes every field rawmime_parse took */
		if (policy == RAWMIME_CLOUDFLARE &&
		    headers_check(HDR_RAW, f->name, f->name_len, v, vlen, &st,
		                  &canon, why, whylen) == -1)
			goto fail;
		for (k = 0; k < NONCE; k++)
			if (rawmime_is(f, rawmime_once[k]) && ++once[k] > 1) {
				rawmime_why(
				    why, whylen,
				    "Header '%s' appears more than once.",
				    rawmime_once[k]);
				goto fail;
			}
		keep[i] = !rawmime_removed_name(f);
		if (rawmime_is(f, "From")) {
			if (++nfrom > 1) {
				/* RFC 5322 §3.6: exactly one From */
				rawmime_why(
				    why, whylen,
				    "Header 'From' appears more than once.");
				goto fail;
			}
			if ((r = rawmime_from(v, vlen, &res->nfrom, &dom,
			                      &dom_end)) != 0) {
				rawmime_from_why(r, why, whylen);
				goto fail;
			}
			res->from = v;
			if ((res->from_domain = rawmime_domain_text(
			         a, dom, dom_end)) == NULL) {
				rawmime_why(why, whylen, "Out of memory.");
				goto fail;
			}
		} else if (rawmime_is(f, "Subject")) {
			if (res->subject == NULL)
				res->subject = v;
		} else if (rawmime_is(f, "Date")) {
			ndate++;
			date = rawmime_date_ok(v, vlen) ? v : NULL;
		} else if (rawmime_is(f, "Message-ID")) {
			nmsgid++;
			msgid = rawmime_msgid_ok(v, vlen) ? v : NULL;
		}
	}
	if (nfrom == 0) {
		rawmime_why(why, whylen, "The message has no 'From' header.");
		goto fail;
	}
	if (policy == RAWMIME_CLOUDFLARE &&
	    headers_finish(HDR_RAW, &st, why, whylen) == -1)
		goto fail;
	if (rawmime_long_line(msg + rm.body_off, mlen - rm.body_off, &line,
	                      &llen)) {
		rawmime_why(why, whylen,
		            "Line %zu of the body is %zu octets long; lines "
		            "may be at most 998 (RFC 5322 §2.1.1). Encode the "
		            "part as quoted-printable or base64.",
		            line, llen);
		goto fail;
	}

	/*
	 * A Date or Message-ID is kept when it is the only one and well
	 * formed; otherwise every copy goes and pigeon writes its own.
	 */
	if (ndate != 1)
		date = NULL;
	if (nmsgid != 1)
		msgid = NULL;
	for (i = 0; i < rm.nf; i++)
		if ((date == NULL && rawmime_is(&rm.f[i], "Date")) ||
		    (msgid == NULL && rawmime_is(&rm.f[i], "Message-ID")))
			keep[i] = 0;
	if (msgid != NULL)
		snprintf(res->message_id, sizeof(res->message_id), "%s", msgid);
	else
		msgid_new(res->message_id, sender_domain);

	for (i = 0; i < rm.nf; i++)
		if (keep[i] &&
		    (r = rawmime_put(out, msg + rm.f[i].off, rm.f[i].len)) != 0)
			goto put_fail;
	if (date == NULL) {
		clock_rfc5322(now != 0 ? now : clock_now(), datebuf);
		snprintf(added, sizeof(added), "Date: %s\r\n", datebuf);
		if ((r = rawmime_put(out, added, strlen(added))) != 0)
			goto put_fail;
	}
	if (msgid == NULL) {
		snprintf(added, sizeof(added), "Message-ID: %s\r\n",
		         res->message_id);
		if ((r = rawmime_put(out, added, strlen(added))) != 0)
			goto put_fail;
	}
	if ((r = rawmime_put(out, "\r\n", 2)) != 0 ||
	    (r = rawmime_put(out, msg + rm.body_off, mlen - rm.body_off)) != 0)
		goto put_fail;
	/* RFC 5322 §2.1: every line ends in CRLF, the last one too; what
	 * is signed is what is stored. */
	if (mlen > rm.body_off && msg[mlen - 1] != '\n' &&
	    (r = rawmime_put(out, "\r\n", 2)) != 0)
		goto put_fail;
	return 0;

put_fail:
	if (r == RAWMIME_TOO_BIG) {
		rawmime_why(why, whylen,
		            "The message is larger than the size limit.");
		rc = RAWMIME_TOO_BIG;
	} else
		rawmime_why(why, whylen, "Out of memory.");
fail:
	if (out->len > start) {
		out->len = start;
		out->p[start] = '\0';
	}
	res->subject = NULL;
	res->from = NULL;
	res->nfrom = 0;
	res->from_domain = NULL;
	res->message_id[0] = '\0';
	return rc;
}
