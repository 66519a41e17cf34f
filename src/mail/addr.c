/*
 * addr: the mailbox syntax of RFC 5321 §4.1.2, extended by RFC 6531 §3.3
 * to UTF-8 local parts, for the addresses a client sends (SPEC §3.1).
 * It parses a bare addr-spec only: no display name, no comments, no
 * folding whitespace, no source routes.
 *
 * Decisions of our own:
 * - A domain name needs at least two labels ("localhost" is refused, as
 *   Cloudflare does) and its last label must not be all digits (RFC 3696
 *   §2), so "a@1.2.3.4" must be written "a@[1.2.3.4]".
 * - A trailing dot ("example.com.") is refused.
 * - An empty quoted local part ("\"\"@example.com") is refused.
 * - The 254-octet cap applies both to the address as given and to its
 *   A-label form.
 * - mailbox.local is the local part exactly as written: a quoted local part
 *   keeps its quotes and backslashes, so local@domain is always a valid
 *   RFC 5321 mailbox for the envelope.
 *
 * It is not an RFC 5322 parser: headers written by clients of send_raw
 * are rawmime's business.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/utf8.h"
#include "addr.h"
#include "atext.h"
#include "dname.h"
#include "limits.h"

#define MAX_DOMAIN 253 /* RFC 1035 §2.3.4, without the trailing dot */
#define MAX_LABEL 63

/* Reasons: they follow "to[3]: 'x' " in the API's human message. */
#define WHY_INVALID "is not a valid address"
#define WHY_CTRL "contains CR, LF, NUL or another control character"
#define WHY_UTF8 "is not valid UTF-8"
#define WHY_HIDDEN "contains a Unicode space or an invisible character"
#define WHY_SPACE "contains whitespace outside a quoted local part"
#define WHY_NAME "has a display name; give the bare address only"
#define WHY_NOAT "has no '@'"
#define WHY_TWOAT "has more than one '@'"
#define WHY_LOCAL_EMPTY "has an empty local part"
#define WHY_LOCAL_BAD "has a local part that is not valid"
#define WHY_LOCAL_LONG "has a local part longer than 64 octets"
#define WHY_LONG "is longer than 254 octets"
#define WHY_DOMAIN_EMPTY "has an empty domain"
#define WHY_DOMAIN_BAD "has a domain that is not valid"
#define WHY_DOMAIN_DOT "has a domain without a dot"
#define WHY_LABEL_LONG "has a domain label longer than 63 octets"
#define WHY_DOMAIN_LONG "has a domain longer than 253 octets"
#define WHY_IDN "has an internationalized domain that is not valid"
#define WHY_LITERAL "has an address literal; give a domain name"
#define WHY_NOMEM "could not be parsed (out of memory)"

/*
 * 1 for the code point of the n-octet sequence at p (valid UTF-8) when
 * it is Unicode white space or invisible (zero-width, bidi controls,
 * soft hyphen, BOM): an address holding one shows as another address.
 */
static int
is_hidden(const unsigned char *p, size_t n)
{
	uint32_t cp = n == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
	              : n == 3
	                  ? (uint32_t)(p[0] & 0x0f) << 12 |
	                        (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
	                  : 0;

	return cp == 0x85 || cp == 0xa0 || cp == 0xad || cp == 0x1680 ||
	       cp == 0x180e || (cp >= 0x2000 && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202f) ||
	       (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff;
}

/* RFC 5322 §3.2.3 atext, plus any non-ASCII byte (RFC 6531 §3.3). */
static int
is_atext(unsigned char c)
{
	return atext(c) || c >= 0x80;
}

/*
 * Scans the local part at s[0..len); returns its length (it ends at the
 * '@' that follows it), or -1 with *why.
 */
static long
scan_local(const char *s, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (len > 0 && p[0] == '"') {
		/* RFC 5321 §4.1.2 Quoted-string; qtextSMTP is %d32-33 /
		 * %d35-91 / %d93-126 (UTF-8 too, RFC 6531), quoted-pairSMTP
		 * is '\' followed by %d32-126. */
		for (i = 1; i < len; i++) {
			if (p[i] == '"')
				break;
			if (p[i] == '\\') {
				if (++i == len || p[i] < 32 || p[i] > 126) {
					*why = WHY_LOCAL_BAD;
					return -1;
				}
			}
		}
		if (i == len) {
			*why = WHY_LOCAL_BAD; /* unterminated */
			return -1;
		}
		if (i == 1) {
			*why = WHY_LOCAL_EMPTY;
			return -1;
		}
		i++;
		if (i == len || p[i] != '@') {
			*why = i == len ? WHY_NOAT : WHY_LOCAL_BAD;
			return -1;
		}
		return (long)i;
	}
	/* RFC 5321 §4.1.2 Dot-string: atoms separated by single dots. */
	for (i = 0; i < len && p[i] != '@'; i++) {
		if (p[i] == '.') {
			if (i == 0 || p[i - 1] == '.' || i + 1 == len ||
			    p[i + 1] == '@') {
				*why = WHY_LOCAL_BAD;
				return -1;
			}
		} else if (p[i] == ' ' || p[i] == '\t') {
			*why = WHY_SPACE;
			return -1;
		} else if (!is_atext(p[i])) {
			*why = WHY_LOCAL_BAD;
			return -1;
		}
	}
	if (i == len) {
		*why = WHY_NOAT;
		return -1;
	}
	if (i == 0) {
		*why = WHY_LOCAL_EMPTY;
		return -1;
	}
	return (long)i;
}

/*
 * Checks that d[0..len) is a name of LDH labels (RFC 1035 §2.3.1, RFC
 * 5321 §4.1.2 sub-domain) with at least two labels and a last label that
 * is not all digits, and lowercases it in place.
 */
static int
check_ldh(char *d, size_t len, const char **why)
{
	size_t i, start = 0, labels = 0;
	int digits = 1;

	if (len > MAX_DOMAIN) {
		*why = WHY_DOMAIN_LONG;
		return -1;
	}
	for (i = 0; i <= len; i++) {
		if (i == len || d[i] == '.') {
			size_t n = i - start;
			if (n == 0 || d[start] == '-' || d[i - 1] == '-') {
				*why = WHY_DOMAIN_BAD;
				return -1;
			}
			if (n > MAX_LABEL) {
				*why = WHY_LABEL_LONG;
				return -1;
			}
			labels++;
			if (i < len) {
				start = i + 1;
				digits = 1;
			}
			continue;
		}
		if (!isalnum((unsigned char)d[i]) && d[i] != '-') {
			*why = d[i] == ' ' || d[i] == '\t' ? WHY_SPACE
			                                   : WHY_DOMAIN_BAD;
			return -1;
		}
		if (!isdigit((unsigned char)d[i]))
			digits = 0;
		d[i] = (char)tolower((unsigned char)d[i]);
	}
	if (labels < 2) {
		*why = WHY_DOMAIN_DOT;
		return -1;
	}
	if (digits) {
		*why = WHY_DOMAIN_BAD; /* RFC 3696 §2: TLD not all-numeric */
		return -1;
	}
	return 0;
}

/*
 * The domain: an LDH name, or an IDN converted to A-labels by
 * dname_alabels() (the one IDNA 2008 rule of pigeon). Returns the domain for
 * the envelope from the arena, or NULL with *why.
 */
static char *
parse_domain(struct arena *a, const char *d, size_t len, const char **why)
{
	char *out, ace[MAX_DOMAIN + 2];
	size_t i;
	int ascii = 1;

	if (len == 0) {
		*why = WHY_DOMAIN_EMPTY;
		return NULL;
	}
	if (d[0] == '[') {
		/* SPEC §3.1: LDH labels or an IDN, so no "[192.0.2.1]":
		 * mail goes where DNS says, never to a bare address */
		*why = WHY_LITERAL;
		return NULL;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)d[i] >= 0x80)
			ascii = 0;
		else if (d[i] == ' ' || d[i] == '\t') {
			*why = WHY_SPACE;
			return NULL;
		}
	}
	if ((out = arena_strndup(a, d, len)) == NULL) {
		*why = WHY_NOMEM;
		return NULL;
	}
	/* Plain LDH names keep their own reasons (too long, no dot). */
	if (ascii && check_ldh(out, len, why) == -1)
		return NULL;
	switch (dname_alabels(out, len, ace, sizeof(ace))) {
	case DNAME_OK:
		break;
	case DNAME_TOO_LONG:
		*why = WHY_DOMAIN_LONG;
		return NULL;
	case DNAME_LABEL_LONG:
		*why = WHY_LABEL_LONG;
		return NULL;
	default:
		*why = WHY_IDN;
		return NULL;
	}
	if (strcmp(ace, out) == 0)
		return out;
	if ((out = arena_strdup(a, ace)) == NULL) {
		*why = WHY_NOMEM;
		return NULL;
	}
	/* The A-label form must itself be a valid LDH name; its own
	 * reason (too long, no dot) is kept. */
	if (check_ldh(out, strlen(out), why) == -1)
		return NULL;
	return out;
}

/*
 * No byte may smuggle a header or SMTP command (SPEC §3.1), nor hide
 * what the text says. 0, or -1 with *why.
 */
static int
check_bytes(const char *s, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			*why = WHY_CTRL;
			return -1;
		}
		if ((n = utf8_seq(p + i, len - i)) == 0) {
			*why = WHY_UTF8;
			return -1;
		}
		if (n > 1 && is_hidden(p + i, n)) {
			*why = WHY_HIDDEN;
			return -1;
		}
	}
	return 0;
}

int
addr_parse(struct arena *a, const char *s, size_t len, struct mailbox *out,
           const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *dom;
	char *local, *domain, *ascii;
	size_t i, n;
	long llen;

	*why = WHY_INVALID;
	if (len == 0)
		return -1;
	if (check_bytes(s, len, why) == -1)
		return -1;
	if (addr_is_name_addr(s, len)) {
		*why = WHY_NAME;
		return -1;
	}
	if (len > MAX_ADDRESS) {
		*why = WHY_LONG;
		return -1;
	}
	if ((llen = scan_local(s, len, why)) == -1)
		return -1;
	if ((size_t)llen > MAX_LOCAL_PART) {
		*why = WHY_LOCAL_LONG;
		return -1;
	}
	dom = s + llen + 1;
	n = len - (size_t)llen - 1;
	if (memchr(dom, '@', n) != NULL) {
		*why = WHY_TWOAT;
		return -1;
	}
	if ((domain = parse_domain(a, dom, n, why)) == NULL)
		return -1;
	if ((local = arena_strndup(a, s, (size_t)llen)) == NULL ||
	    (ascii = arena_printf(a, "%s@%s", local, domain)) == NULL ||
	    (out->address = arena_strndup(a, s, len)) == NULL) {
		*why = WHY_NOMEM;
		return -1;
	}
	if (strlen(ascii) > MAX_ADDRESS) {
		*why = WHY_LONG;
		return -1;
	}
	out->local = local;
	out->domain = domain;
	out->ascii = ascii;
	out->utf8_local = 0;
	for (i = 0; i < (size_t)llen; i++)
		if (p[i] >= 0x80)
			out->utf8_local = 1;
	*why = NULL;
	return 0;
}

int
addr_domain(struct arena *a, const char *d, size_t len, const char **out,
            const char **why)
{
	if (check_bytes(d, len, why) == -1 ||
	    (*out = parse_domain(a, d, len, why)) == NULL)
		return -1;
	*why = NULL;
	return 0;
}

/*
 * "Jane <jane@example.com>", "<jane@example.com>", "Jane<j@x.com>": the
 * RFC 5322 §3.4 name-addr forms, which the API refuses with 10001.
 */
int
addr_is_name_addr(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	                   s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len < 2 || s[len - 1] != '>')
		return 0;
	return memchr(s, '<', len - 1) != NULL;
}
