/*
 * mime: builds the message of SPEC §3.3 from a struct message.
 *
 * The header section follows RFC 5322 (folded at 78 columns where there
 * is white space to fold at, never past 998), with RFC 2047 encoded-words
 * for non-ASCII display names, subject and custom header values (a line
 * that holds one stays within 76, §2; Keywords is encoded phrase by
 * phrase). The body
 * is the MIME tree of RFC 2045/2046/2387: text and html leaves in 7bit or
 * quoted-printable, attachments in base64 with RFC 2231 parameters.
 *
 * It does not validate (the front did: addresses, header policy, base64)
 * and does not sign (dkim.c prepends DKIM-Signature). It trusts the struct
 * message and only enforces the output cap: every append is checked and
 * the first failure returns -1.
 */
#include <string.h>
#include <strings.h>

#include "../core/base64.h"
#include "../core/clock.h"
#include "../core/hex.h"
#include "../core/random.h"
#include "atext.h"
#include "headers.h"
#include "limits.h"
#include "mime.h"

/* RFC 5322 §2.1.1: lines SHOULD be ≤ 78 (MUST be ≤ 998, MAX_LINE) */
#define FOLD_COL 78
/* A plain word this long could push a header line past MAX_LINE once the
 * name is added: such values are written as encoded-words instead. */
#define LONG_WORD 900
/* RFC 2047 §2: an encoded-word is ≤ 75 chars; 12 of them are
 * "=?UTF-8?B?" and "?=". A line that holds one is ≤ 76 chars (EW_LINE).
 * A word starts on the current line only when at least EW_MIN columns
 * are left (one 4-octet char in Q). */
#define EW_MAX 75
#define EW_LINE 76
#define EW_OVERHEAD 12
#define EW_MIN 24
/* RFC 2045 §6.7 rule 5 and §6.8: encoded body lines. */
#define QP_COL 76
#define B64_COL 76
#define BOUNDARY_PREFIX "=_pigeon_"
#define BOUNDARY_RANDOM 28
#define BOUNDARY_LEN (sizeof(BOUNDARY_PREFIX) - 1 + BOUNDARY_RANDOM)

/* What goes before the first word a writer puts. */
enum sep {
	SEP_NONE,  /* nothing: the caller placed it */
	SEP_FOLD,  /* a space, or a fold when the word does not fit */
	SEP_FIRST, /* a space, never a fold: the first word after "Name:"
	            * (a fold there is legal but some parsers, Python's
	            * email among them, then keep a leading space) */
};

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/*
 * Length of the UTF-8 character at p (1..4). A malformed sequence counts
 * as one octet, so splitting never loops and never cuts a valid char.
 */
static size_t
u8_len(const unsigned char *p, size_t left)
{
	size_t n, i;

	if (p[0] < 0xc0)
		n = 1;
	else if (p[0] < 0xe0)
		n = 2;
	else if (p[0] < 0xf0)
		n = 3;
	else if (p[0] < 0xf8)
		n = 4;
	else
		n = 1;
	if (n > left)
		return 1;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/*
 * The longest the current line of out may grow: EW_LINE once it holds an
 * encoded-word (RFC 2047 §2), else FOLD_COL. Plain text never holds "=?"
 * (text_is_plain, phrase_kind), so "=?" on the line means a word is there;
 * an address holding it only folds sooner.
 */
static size_t
line_max(const struct buf *out)
{
	size_t i;

	for (i = out->len; i >= 2; i--) {
		if (out->p[i - 2] == '\r' && out->p[i - 1] == '\n')
			break;
		if (out->p[i - 2] == '=' && out->p[i - 1] == '?')
			return EW_LINE;
	}
	return FOLD_COL;
}

static int
put(struct buf *out, size_t *col, const char *p, size_t n)
{
	if (buf_append(out, p, n) == -1)
		return -1;
	*col += n;
	return 0;
}

/*
 * Writes the white space ws that precedes a word of n columns. When the
 * word would end past line_max() the white space is preceded by CRLF: RFC
 * 5322 §2.2.3 folding, undone by removing the CRLF. Nothing is folded
 * before an empty word, so no line is white space only.
 */
static int
put_space(struct buf *out, size_t *col, const char *ws, size_t wsn, size_t n)
{
	if (wsn == 0)
		return 0;
	if (n > 0 && *col + wsn + n > line_max(out)) {
		if (buf_append(out, "\r\n", 2) == -1)
			return -1;
		*col = 0;
	}
	return put(out, col, ws, wsn);
}

/*
 * Writes s as words separated by its own white space, folding before the
 * white space where a word would pass line_max(); sep says what goes before
 * the first word.
 */
static int
words_put(struct buf *out, const char *s, size_t len, size_t *col, enum sep sep)
{
	const char *ws, *w;
	size_t i = 0, wsn, n;
	int first = 1;

	while (i < len) {
		ws = s + i;
		while (i < len && is_wsp((unsigned char)s[i]))
			i++;
		wsn = (size_t)(s + i - ws);
		w = s + i;
		while (i < len && !is_wsp((unsigned char)s[i]))
			i++;
		n = (size_t)(s + i - w);
		if (first && sep != SEP_NONE && wsn == 0) {
			ws = " ";
			wsn = 1;
		}
		if (put_space(out, col, ws, wsn,
		              first && sep == SEP_FIRST ? 0 : n) == -1 ||
		    put(out, col, w, n) == -1)
			return -1;
		first = 0;
	}
	return 0;
}

/* RFC 2047 §5 (3): the Q chars allowed in a phrase, used everywhere. */
static int
q_literal(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	       c == '-' || c == '/' || c == ' ';
}

static size_t
q_cost(const unsigned char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += q_literal(p[i]) ? 1 : 3;
	return k;
}

/*
 * Octets of s (from the start) that fit in one encoded-word of at most
 * limit chars, whole UTF-8 characters only (RFC 2047 §5); 0 when not even
 * one fits. In B a word that does not take the rest of s ends where a
 * multiple of 3 octets does, so that it has no "=" padding: GMime 3.2
 * decodes adjacent B words as one stream and loses what follows a
 * padded one. When no such place fits, *useq is set: that word is Q.
 */
static size_t
ew_chunk(const unsigned char *s, size_t len, size_t limit, int *useq)
{
	size_t i = 0, k = 0, c, kc, cut = 0;

	if (limit <= EW_OVERHEAD)
		return 0;
	limit -= EW_OVERHEAD;
	while (i < len) {
		c = u8_len(s + i, len - i);
		if (*useq) {
			kc = q_cost(s + i, c);
			if (k + kc > limit)
				break;
			k += kc;
		} else if (base64_encoded_len(i + c) > limit)
			break;
		i += c;
		if (i % 3 == 0 || i == len)
			cut = i;
	}
	if (*useq || i == len)
		return i;
	if (cut > 0 || i == 0)
		return cut;
	*useq = 1;
	return ew_chunk(s, len, limit + EW_OVERHEAD, useq);
}

/* Appends one encoded-word of s[0..n), B or Q, to word; its length. */
static size_t
ew_word(char *word, const unsigned char *s, size_t n, int useq, struct buf *b64)
{
	size_t j, wn;

	memcpy(word, useq ? "=?UTF-8?Q?" : "=?UTF-8?B?", 10);
	wn = 10;
	if (useq) {
		for (j = 0; j < n; j++) {
			if (s[j] == ' ')
				word[wn++] = '_';
			else if (q_literal(s[j]))
				word[wn++] = (char)s[j];
			else {
				word[wn++] = '=';
				word[wn++] = hex_upper[s[j] >> 4];
				word[wn++] = hex_upper[s[j] & 15];
			}
		}
	} else {
		buf_reset(b64);
		if (base64_encode(b64, s, n, 0) == -1)
			return 0;
		memcpy(word + wn, b64->p, b64->len);
		wn += b64->len;
	}
	word[wn++] = '?';
	word[wn++] = '=';
	return wn;
}

/*
 * RFC 2047: writes s[0..len) as UTF-8 encoded-words, each ≤ 75 chars on
 * lines of at most EW_LINE (§2), never splitting a character (§5),
 * separated by a space or a fold (the white space between adjacent
 * encoded-words is dropped when decoding, §6.2). B or Q, whichever is
 * shorter for the whole string; a B word that would need padding and is
 * not the last is written in Q instead (ew_chunk).
 * whole: a string that fits in one word is never split to fill the
 * current line (display names: Python's address parser, against §6.2,
 * puts a space between adjacent encoded-words of a phrase); it goes on
 * the next line when it does not fit on this one.
 * The first word after "Name:" (SEP_FIRST) is made as short as the line
 * needs; only when not one character fits there (a name of some fifty
 * characters) does the value start on the next line.
 */
static int
ew_put(struct buf *out, const char *s, size_t len, size_t *col, enum sep sep,
       int whole)
{
	const unsigned char *u = (const unsigned char *)s;
	struct buf b64;
	char word[EW_MAX + 1];
	size_t i = 0, n, sp, room, wn;
	int useq, q, first = 1, rc = -1;

	buf_init(&b64, 0);
	useq = q_cost(u, len) <= base64_encoded_len(len);
	while (i < len) {
		sp = (!first || sep != SEP_NONE) ? 1 : 0;
		room = EW_LINE > *col + sp ? EW_LINE - *col - sp : 0;
		if (room > EW_MAX)
			room = EW_MAX;
		q = useq;
		n = 0;
		if (whole && first && ew_chunk(u, len, EW_MAX, &q) != len)
			q = useq;
		else if (whole && first)
			n = len;
		if (n == 0 && (room >= EW_MIN || (first && sep != SEP_FOLD)))
			n = ew_chunk(u + i, len - i, room, &q);
		if (n == 0) {
			/* no room on this line: the word folds */
			q = useq;
			n = ew_chunk(u + i, len - i, EW_MAX, &q);
		}
		if ((wn = ew_word(word, u + i, n, q, &b64)) == 0)
			goto fail;
		if (sp > 0 && *col + sp + wn > EW_LINE) {
			if (buf_append(out, "\r\n", 2) == -1)
				goto fail;
			*col = 0;
		}
		if (put(out, col, " ", sp) == -1 ||
		    put(out, col, word, wn) == -1)
			goto fail;
		i += n;
		first = 0;
	}
	rc = 0;
fail:
	buf_clear(&b64);
	return rc;
}

/*
 * Plain when printable ASCII (or tab), not starting or ending with white
 * space, without "=?" (which a reader would take for an encoded-word) and
 * without a word so long that the line could not stay under 998 octets.
 */
static int
text_is_plain(const char *s, size_t len)
{
	size_t i, run = 0;
	unsigned char c;

	/* leading white space would merge with the one after "Name:";
	 * trailing white space is often stripped in transit */
	if (len > 0 &&
	    (is_wsp((unsigned char)s[0]) || is_wsp((unsigned char)s[len - 1])))
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return 0;
		if (c == '=' && i + 1 < len && s[i + 1] == '?')
			return 0;
		run = is_wsp(c) ? 0 : run + 1;
		if (run > LONG_WORD)
			return 0;
	}
	return 1;
}

static int
text_put(struct buf *out, const char *s, size_t len, size_t *col, enum sep sep)
{
	if (text_is_plain(s, len))
		return words_put(out, s, len, col, sep);
	return ew_put(out, s, len, col, sep, 0);
}

enum phrase_kind { PHRASE_ATOMS, PHRASE_QUOTED, PHRASE_ENCODED };

/*
 * RFC 5322 §3.2.5 phrase: atoms separated by single spaces stay as they
 * are; other printable ASCII becomes a quoted-string (§3.2.4); anything
 * else (non-ASCII, controls, "=?", a quoted word too long) encoded-words.
 */
static enum phrase_kind
phrase_kind(const char *s, size_t len)
{
	size_t i, run = 0;
	unsigned char c;
	int atoms = len > 0 && s[0] != ' ' && s[len - 1] != ' ';

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return PHRASE_ENCODED;
		if (c == ' ') {
			if (i > 0 && s[i - 1] == ' ')
				atoms = 0;
			run = 0;
			continue;
		}
		/* "=?" even quoted is decoded by some readers (Python) */
		if (c == '=' && i + 1 < len && s[i + 1] == '?')
			return PHRASE_ENCODED;
		if (!atext(c))
			atoms = 0;
		run += (c == '"' || c == '\\') ? 2 : 1;
		if (run > LONG_WORD)
			return PHRASE_ENCODED;
	}
	return atoms ? PHRASE_ATOMS : PHRASE_QUOTED;
}

static int
phrase_put(struct buf *out, const char *s, size_t *col, enum sep sep)
{
	struct buf q;
	size_t len = strlen(s), i;
	int rc = -1;

	switch (phrase_kind(s, len)) {
	case PHRASE_ATOMS:
		return words_put(out, s, len, col, sep);
	case PHRASE_ENCODED:
		return ew_put(out, s, len, col, sep, 1);
	case PHRASE_QUOTED:
		break;
	}
	/* the quoted-string may fold at its spaces: FWS is allowed inside
	 * and unfolding gives the same string back (§3.2.4) */
	buf_init(&q, out->max);
	if (buf_putc(&q, '"') == -1)
		goto fail;
	for (i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') && buf_putc(&q, '\\') == -1)
			goto fail;
		if (buf_putc(&q, s[i]) == -1)
			goto fail;
	}
	if (buf_putc(&q, '"') == -1)
		goto fail;
	rc = words_put(out, q.p, q.len, col, sep);
fail:
	buf_clear(&q);
	return rc;
}

int
mime_encode_phrase(struct buf *out, const char *s, size_t *col)
{
	return phrase_put(out, s, col, SEP_NONE);
}

int
mime_encode_text(struct buf *out, const char *s, size_t *col)
{
	return text_put(out, s, strlen(s), col, SEP_NONE);
}

/*
 * The address as written in the header: as the client gave it, except
 * that an IDN domain is written in its A-label form when the local part
 * is ASCII, so the header stays 7-bit when it can.
 */
static int
addr_put(struct buf *out, const struct mailbox *mb, size_t *col, enum sep sep,
         int comma)
{
	const char *a = mb->address, *at;
	size_t llen, dlen, n, i;
	int ascii = 1, angle = mb->name != NULL && *mb->name != '\0';

	for (i = 0; a[i] != '\0'; i++)
		if ((unsigned char)a[i] > 0x7e)
			ascii = 0;
	at = strrchr(a, '@');
	if (ascii || mb->utf8_local || mb->domain == NULL || at == NULL) {
		llen = strlen(a);
		dlen = 0;
	} else {
		llen = (size_t)(at - a) + 1;
		dlen = strlen(mb->domain);
	}
	n = llen + dlen + (angle ? 2 : 0) + (comma ? 1 : 0);
	if (put_space(out, col, " ", sep != SEP_NONE ? 1 : 0,
	              sep == SEP_FIRST ? 0 : n) == -1 ||
	    (angle && put(out, col, "<", 1) == -1) ||
	    put(out, col, a, llen) == -1 ||
	    (dlen && put(out, col, mb->domain, dlen) == -1) ||
	    (angle && put(out, col, ">", 1) == -1) ||
	    (comma && put(out, col, ",", 1) == -1))
		return -1;
	return 0;
}

/* RFC 5322 §3.4: name-addr when there is a display name, else addr-spec. */
static int
mailbox_put(struct buf *out, const struct mailbox *mb, size_t *col,
            enum sep sep, int comma)
{
	if (mb->name != NULL && *mb->name != '\0') {
		if (phrase_put(out, mb->name, col, sep) == -1)
			return -1;
		sep = SEP_FOLD;
	}
	return addr_put(out, mb, col, sep, comma);
}

static int
hdr_start(struct buf *out, const char *name, size_t *col)
{
	*col = 0;
	if (put(out, col, name, strlen(name)) == -1 ||
	    put(out, col, ":", 1) == -1)
		return -1;
	return 0;
}

static int
hdr_end(struct buf *out)
{
	return buf_append(out, "\r\n", 2);
}

static int
hdr_list(struct buf *out, const char *name, const struct mailbox *mb, size_t n)
{
	size_t col, i;

	if (n == 0)
		return 0;
	if (hdr_start(out, name, &col) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (mailbox_put(out, &mb[i], &col, i ? SEP_FOLD : SEP_FIRST,
		                i + 1 < n) == -1)
			return -1;
	return hdr_end(out);
}

/* An unstructured value: "Name: value", folded or encoded as needed. */
static int
hdr_text(struct buf *out, const char *name, const char *value)
{
	size_t col;

	if (hdr_start(out, name, &col) == -1)
		return -1;
	if (*value != '\0' &&
	    text_put(out, value, strlen(value), &col, SEP_FIRST) == -1)
		return -1;
	return hdr_end(out);
}

/*
 * A list of phrases (Keywords, RFC 5322 §3.6.5) that cannot go as
 * written: each comma-separated phrase, trimmed of outer white space,
 * goes as written when plain, else as encoded-words of its own, so the
 * commas stay outside every word. An encoded phrase has white space on
 * both sides, before its comma too (RFC 2047 §5 (3)); empty phrases are
 * left out. A value that is plain is written as given (hdr_text).
 */
static int
hdr_phrases(struct buf *out, const char *name, const char *value)
{
	const char *p = value, *e, *end = value + strlen(value);
	size_t col, n, done = 0;
	int enc = 0;

	if (text_is_plain(value, (size_t)(end - value)))
		return hdr_text(out, name, value);
	if (hdr_start(out, name, &col) == -1)
		return -1;
	while (p < end) {
		if ((e = memchr(p, ',', (size_t)(end - p))) == NULL)
			e = end;
		while (p < e && is_wsp((unsigned char)*p))
			p++;
		n = (size_t)(e - p);
		while (n > 0 && is_wsp((unsigned char)p[n - 1]))
			n--;
		if (n > 0) {
			if (done > 0 &&
			    ((enc && put_space(out, &col, " ", 1, 1) == -1) ||
			     put(out, &col, ",", 1) == -1))
				return -1;
			enc = !text_is_plain(p, n);
			if ((enc ? ew_put(out, p, n, &col,
			                  done ? SEP_FOLD : SEP_FIRST, 1)
			         : words_put(out, p, n, &col,
			                     done ? SEP_FOLD : SEP_FIRST)) ==
			    -1)
				return -1;
			done++;
		}
		p = e < end ? e + 1 : end;
	}
	if (done == 0 &&
	    text_put(out, value, (size_t)(end - value), &col, SEP_FIRST) == -1)
		return -1;
	return hdr_end(out);
}

/*
 * A structured value (headers_structured()): printable ASCII, written as
 * given without its outer white space, folded only at white space, never
 * encoded (RFC 2047 §5 keeps encoded-words out of msg-ids and URIs).
 */
static int
hdr_structured(struct buf *out, const char *name, const char *value)
{
	size_t col, len = strlen(value);

	while (len > 0 && is_wsp((unsigned char)*value)) {
		value++;
		len--;
	}
	while (len > 0 && is_wsp((unsigned char)value[len - 1]))
		len--;
	if (hdr_start(out, name, &col) == -1 ||
	    (len > 0 && words_put(out, value, len, &col, SEP_FIRST) == -1))
		return -1;
	return hdr_end(out);
}

/* RFC 2231 §7 attribute-char, minus a few a reader might trip on. */
static int
pct_literal(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* Width of octet c in a quoted-string (ascii) or RFC 2231 value. */
static size_t
pct_cost(unsigned char c, int ascii)
{
	if (ascii)
		return (c == '"' || c == '\\') ? 2 : 1;
	return pct_literal(c) ? 1 : 3;
}

/*
 * Writes "; attr=value" folding before the parameter when needed. A
 * printable ASCII value is a quoted-string; a non-ASCII one is RFC 2231
 * §4 "attr*=utf-8''%XX…". A value too long for one line is split into
 * RFC 2231 §3 continuations (attr*0=, attr*1=, …), at character
 * boundaries.
 */
static int
param_put(struct buf *out, size_t *col, const char *attr, const char *val)
{
	const unsigned char *u = (const unsigned char *)val;
	size_t len = strlen(val), alen = strlen(attr), i, j, c, n, k, seg, cost;
	int ascii = 1, cont;
	struct buf w;
	int rc = -1;

	for (i = 0; i < len; i++)
		if (u[i] < 0x20 || u[i] > 0x7e)
			ascii = 0;
	buf_init(&w, out->max);
	/* the whole parameter on one line, or continuations */
	for (i = 0, n = 0; i < len; i++)
		n += pct_cost(u[i], ascii);
	n += ascii ? alen + 3 : alen + 9;
	cont = n + 2 > FOLD_COL;
	for (i = 0, seg = 0; i < len || seg == 0; seg++) {
		buf_reset(&w);
		if (buf_puts(&w, attr) == -1)
			goto fail;
		if (cont && buf_printf(&w, "*%zu", seg) == -1)
			goto fail;
		if (!ascii && buf_putc(&w, '*') == -1)
			goto fail;
		if (buf_putc(&w, '=') == -1)
			goto fail;
		if (!ascii && seg == 0 && buf_puts(&w, "utf-8''") == -1)
			goto fail;
		if (ascii && buf_putc(&w, '"') == -1)
			goto fail;
		for (k = 0; i < len; i += c, k++) {
			c = u8_len(u + i, len - i);
			for (j = i, cost = 0; j < i + c; j++)
				cost += pct_cost(u[j], ascii);
			/* " " segment ";" within FOLD_COL, ≥ 1 char each */
			if (cont && k > 0 &&
			    w.len + cost + (ascii ? 1 : 0) + 2 > FOLD_COL)
				break;
			for (j = i; j < i + c; j++) {
				if (ascii) {
					if ((u[j] == '"' || u[j] == '\\') &&
					    buf_putc(&w, '\\') == -1)
						goto fail;
					if (buf_putc(&w, u[j]) == -1)
						goto fail;
				} else if (pct_literal(u[j])) {
					if (buf_putc(&w, u[j]) == -1)
						goto fail;
				} else if (buf_printf(&w, "%%%c%c",
				                      hex_upper[u[j] >> 4],
				                      hex_upper[u[j] & 15]) ==
				           -1)
					goto fail;
			}
		}
		if (ascii && buf_putc(&w, '"') == -1)
			goto fail;
		if (put(out, col, ";", 1) == -1 ||
		    put_space(out, col, " ", 1, w.len) == -1 ||
		    put(out, col, w.p, w.len) == -1)
			goto fail;
	}
	rc = 0;
fail:
	buf_clear(&w);
	return rc;
}

/*
 * RFC 2045 §2.7: 7bit when there is no NUL, no octet ≥ 128 and no line
 * over 998 octets. CR and LF count as line ends (they become CRLF).
 */
static int
body_is_7bit(const char *p, size_t len)
{
	size_t i, line = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c == '\r' || c == '\n') {
			line = 0;
			continue;
		}
		if (c == 0 || c > 0x7f || ++line > MAX_LINE)
			return 0;
	}
	return 1;
}

/* Copies p with every CR, LF or CRLF written as CRLF. */
static int
body_put_7bit(struct buf *out, const char *p, size_t len)
{
	size_t i = 0, s;

	while (i < len) {
		s = i;
		while (i < len && p[i] != '\r' && p[i] != '\n')
			i++;
		if (buf_append(out, p + s, i - s) == -1)
			return -1;
		if (i == len)
			break;
		if (buf_append(out, "\r\n", 2) == -1)
			return -1;
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			i++;
		i++;
	}
	return 0;
}

/*
 * RFC 2045 §6.7 quoted-printable of p, line ends normalised to CRLF
 * (hard breaks). Rule 2: literal 33-126 except '='; rule 3: space and
 * tab literal except at the end of a line; rule 5: soft line breaks
 * ("=" CRLF) keep every encoded line ≤ 76 chars.
 */
static int
body_put_qp(struct buf *out, const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i, col = 0, tn;
	char t[3];
	int eol;

	for (i = 0; i < len; i++) {
		if (u[i] == '\r' || u[i] == '\n') {
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
			if (u[i] == '\r' && i + 1 < len && u[i + 1] == '\n')
				i++;
			continue;
		}
		eol = i + 1 == len || u[i + 1] == '\r' || u[i + 1] == '\n';
		if ((u[i] >= 33 && u[i] <= 126 && u[i] != '=') ||
		    (is_wsp(u[i]) && !eol)) {
			t[0] = (char)u[i];
			tn = 1;
		} else {
			t[0] = '=';
			t[1] = hex_upper[u[i] >> 4];
			t[2] = hex_upper[u[i] & 15];
			tn = 3;
		}
		/* leave room for the soft break's "=" unless the line ends */
		if (col + tn > (eol ? QP_COL : QP_COL - 1)) {
			if (buf_append(out, "=\r\n", 3) == -1)
				return -1;
			col = 0;
		}
		if (buf_append(out, t, tn) == -1)
			return -1;
		col += tn;
	}
	return 0;
}

static int
ends_crlf(const struct buf *out)
{
	return out->len >= 2 && out->p[out->len - 2] == '\r' &&
	       out->p[out->len - 1] == '\n';
}

/* A text/plain or text/html leaf: its Content-* headers, blank, body. */
static int
leaf_text(struct buf *out, const char *sub, const char *p, size_t len, int top)
{
	int sevenbit = body_is_7bit(p, len);

	if (buf_printf(out,
	               "Content-Type: text/%s; charset=utf-8\r\n"
	               "Content-Transfer-Encoding: %s\r\n\r\n",
	               sub, sevenbit ? "7bit" : "quoted-printable") == -1)
		return -1;
	if ((sevenbit ? body_put_7bit(out, p, len)
	              : body_put_qp(out, p, len)) == -1)
		return -1;
	/* a message ends with a line end; inside a multipart the CRLF
	 * before the delimiter belongs to the delimiter (RFC 2046 §5.1.1) */
	if (top && !ends_crlf(out) && buf_append(out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

const char *
mime_att_encoding(const char *type, const void *p, size_t len)
{
	if (strncasecmp(type, "multipart/", 10) == 0)
		return NULL;
	if (strcasecmp(type, "message/rfc822") == 0 ||
	    strcasecmp(type, "message/partial") == 0 ||
	    strcasecmp(type, "message/external-body") == 0)
		return body_is_7bit(p, len) ? "7bit" : NULL;
	return "base64";
}

/* An attachment leaf: base64 (RFC 2045 §6.8) in 76-char lines, or an
 * attached message in 7bit with CRLF line ends. */
static int
leaf_att(struct buf *out, const struct attachment *a, int top)
{
	const char *type = a->type ? a->type : "application/octet-stream";
	const char *fn = a->filename;
	const char *enc = mime_att_encoding(type, a->content, a->len);
	size_t col;
	int inl = a->disposition == DISP_INLINE;

	if (hdr_start(out, "Content-Type", &col) == -1 ||
	    words_put(out, type, strlen(type), &col, SEP_FIRST) == -1 ||
	    (fn && param_put(out, &col, "name", fn) == -1) ||
	    hdr_end(out) == -1)
		return -1;
	if (hdr_start(out, "Content-Disposition", &col) == -1 ||
	    words_put(out, inl ? "inline" : "attachment", inl ? 6 : 10, &col,
	              SEP_FIRST) == -1 ||
	    (fn && param_put(out, &col, "filename", fn) == -1) ||
	    hdr_end(out) == -1)
		return -1;
	if (enc == NULL)
		return -1; /* the front refuses these */
	if (buf_printf(out, "Content-Transfer-Encoding: %s\r\n", enc) == -1)
		return -1;
	if (inl && a->content_id != NULL &&
	    buf_printf(out, "Content-ID: <%s>\r\n", a->content_id) == -1)
		return -1;
	if (buf_append(out, "\r\n", 2) == -1 ||
	    (*enc == 'b'
	         ? base64_encode(out, a->content, a->len, B64_COL)
	         : body_put_7bit(out, (const char *)a->content, a->len)) == -1)
		return -1;
	if (top && !ends_crlf(out) && buf_append(out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/*
 * A fresh boundary: "=_pigeon_" + 28 alnum from the random seam. "=_"
 * cannot occur in quoted-printable or base64 output; a 7bit body that
 * happens to contain it makes us draw again (RFC 2046 §5.1.1).
 */
/* 1 when an attachment written as is (7bit) contains b. */
static int
att_holds(const struct message *m, const char *b)
{
	for (size_t i = 0; i < m->natts; i++)
		if (m->atts[i].type != NULL &&
		    strncasecmp(m->atts[i].type, "message/", 8) == 0 &&
		    memmem(m->atts[i].content, m->atts[i].len, b,
		           BOUNDARY_LEN) != NULL)
			return 1;
	return 0;
}

static void
boundary_new(const struct message *m, char b[BOUNDARY_LEN + 1])
{
	size_t plen = sizeof(BOUNDARY_PREFIX) - 1;

	for (;;) {
		memcpy(b, BOUNDARY_PREFIX, plen);
		random_alnum(b + plen, BOUNDARY_RANDOM);
		if (m->text != NULL &&
		    memmem(m->text, m->text_len, b, BOUNDARY_LEN) != NULL)
			continue;
		if (m->html != NULL &&
		    memmem(m->html, m->html_len, b, BOUNDARY_LEN) != NULL)
			continue;
		if (att_holds(m, b))
			continue;
		break;
	}
}

static int
multipart_head(struct buf *out, const char *sub, const char *type,
               const char *b)
{
	size_t col;

	if (hdr_start(out, "Content-Type", &col) == -1 ||
	    put(out, &col, " multipart/", 11) == -1 ||
	    put(out, &col, sub, strlen(sub)) == -1 ||
	    (type && param_put(out, &col, "type", type) == -1) ||
	    param_put(out, &col, "boundary", b) == -1 || hdr_end(out) == -1 ||
	    buf_append(out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

static int
delim(struct buf *out, const char *b, int first, int close)
{
	return buf_printf(out, "%s--%s%s\r\n", first ? "" : "\r\n", b,
	                  close ? "--" : "");
}

static int
has_text(const struct message *m)
{
	return m->text != NULL && m->text_len > 0;
}

static int
has_html(const struct message *m)
{
	return m->html != NULL && m->html_len > 0;
}

/* text, html, or multipart/alternative of both (RFC 2046 §5.1.4). */
static int
put_alternative(struct buf *out, const struct message *m, int top)
{
	char b[BOUNDARY_LEN + 1];

	if (!has_html(m))
		return leaf_text(out, "plain", m->text ? m->text : "",
		                 m->text ? m->text_len : 0, top);
	if (!has_text(m))
		return leaf_text(out, "html", m->html, m->html_len, top);
	boundary_new(m, b);
	if (multipart_head(out, "alternative", NULL, b) == -1 ||
	    delim(out, b, 1, 0) == -1 ||
	    leaf_text(out, "plain", m->text, m->text_len, 0) == -1 ||
	    delim(out, b, 0, 0) == -1 ||
	    leaf_text(out, "html", m->html, m->html_len, 0) == -1 ||
	    delim(out, b, 0, 1) == -1)
		return -1;
	return 0;
}

static size_t
count_disp(const struct message *m, enum disposition d)
{
	size_t i, n = 0;

	for (i = 0; i < m->natts; i++)
		if (m->atts[i].disposition == d)
			n++;
	return n;
}

/* The body and its inline parts in multipart/related (RFC 2387). */
static int
put_related(struct buf *out, const struct message *m, int top)
{
	char b[BOUNDARY_LEN + 1];
	const char *root;
	size_t i;

	if (count_disp(m, DISP_INLINE) == 0)
		return put_alternative(out, m, top);
	if (has_text(m) && has_html(m))
		root = "multipart/alternative";
	else
		root = has_html(m) ? "text/html" : "text/plain";
	boundary_new(m, b);
	if (multipart_head(out, "related", root, b) == -1 ||
	    delim(out, b, 1, 0) == -1 || put_alternative(out, m, 0) == -1)
		return -1;
	for (i = 0; i < m->natts; i++) {
		if (m->atts[i].disposition != DISP_INLINE)
			continue;
		if (delim(out, b, 0, 0) == -1 ||
		    leaf_att(out, &m->atts[i], 0) == -1)
			return -1;
	}
	return delim(out, b, 0, 1);
}

/* Everything, plus the regular attachments in multipart/mixed. */
static int
put_mixed(struct buf *out, const struct message *m)
{
	char b[BOUNDARY_LEN + 1];
	size_t i;

	if (count_disp(m, DISP_ATTACHMENT) == 0)
		return put_related(out, m, 1);
	boundary_new(m, b);
	if (multipart_head(out, "mixed", NULL, b) == -1 ||
	    delim(out, b, 1, 0) == -1 || put_related(out, m, 0) == -1)
		return -1;
	for (i = 0; i < m->natts; i++) {
		if (m->atts[i].disposition != DISP_ATTACHMENT)
			continue;
		if (delim(out, b, 0, 0) == -1 ||
		    leaf_att(out, &m->atts[i], 0) == -1)
			return -1;
	}
	return delim(out, b, 0, 1);
}

int
mime_build(const struct message *m, const char *message_id, time_t date,
           struct buf *out)
{
	char d[40];
	size_t col, i;

	clock_rfc5322(date, d);
	if (hdr_start(out, "From", &col) == -1 ||
	    mailbox_put(out, &m->from, &col, SEP_FIRST, 0) == -1 ||
	    hdr_end(out) == -1)
		return -1;
	if (hdr_list(out, "To", m->to, m->nto) == -1 ||
	    hdr_list(out, "Cc", m->cc, m->ncc) == -1 ||
	    (m->reply_to != NULL &&
	     hdr_list(out, "Reply-To", m->reply_to, 1) == -1))
		return -1;
	if (hdr_text(out, "Subject", m->subject ? m->subject : "") == -1 ||
	    buf_printf(out,
	               "Date: %s\r\nMessage-ID: %s\r\n"
	               "MIME-Version: 1.0\r\n",
	               d, message_id) == -1)
		return -1;
	for (i = 0; i < m->nheaders; i++)
		if ((m->headers[i].structured
		         ? hdr_structured(out, m->headers[i].name,
		                          m->headers[i].value)
		     : headers_phrase_list(m->headers[i].name)
		         ? hdr_phrases(out, m->headers[i].name,
		                       m->headers[i].value)
		         : hdr_text(out, m->headers[i].name,
		                    m->headers[i].value)) == -1)
			return -1;
	return put_mixed(out, m);
}
