/*
 * headers: the custom header policy of SPEC §5 as one table of rows. A row
 * names a header, says which class it is in (allowlisted, set by the
 * server, or to be given through an API field) and may carry a rule for
 * its value. X- headers are checked by their shape, not by a row; every
 * other name is refused.
 *
 * HDR_API checks the `headers` object of a REST send with every rule.
 * HDR_RAW checks the headers a client wrote itself (send_raw, SMTP) under
 * `raw_headers cloudflare`: the message's own fields (From, To, Cc,
 * Subject, Reply-To, Date, Message-ID, MIME-Version, Content-*) and
 * Received are allowed, every other name of the lists stays refused (Bcc,
 * Return-Path, DKIM-Signature, ARC-* among them), the value rules and the
 * cap of 20 allowlisted headers apply, and the size rules do not (rawmime
 * enforces RFC 5322 line lengths). Under `raw_headers relaxed` rawmime
 * does not call this module.
 *
 * This module only judges; it does not write headers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/utf8.h"
#include "headers.h"
#include "limits.h"

enum hdr_class {
	HC_ALLOW,  /* allowlisted, ≤ MAX_ALLOWLISTED_HEADERS per message */
	HC_SERVER, /* set by pigeon */
	HC_FIELD,  /* use the API field */
};

#define HF_PREFIX 0x01  /* name is a prefix ("ARC-") */
#define HF_RAW_OK 0x02  /* a client may write it in a raw message */
#define HF_STRUCT 0x04  /* structured: ASCII, never RFC 2047-encoded */
#define HF_PHRASES 0x08 /* a comma-separated list of phrases */

/* A value rule: 0, or -1 with a sentence after "Header 'Name' ". */
typedef int hdr_rule_fn(const char *v, size_t len, struct hdr_state *st,
                        const char **why);

struct hdr_row {
	const char *name; /* canonical casing */
	enum hdr_class class;
	int flags;
	const char *field; /* HC_FIELD: the API field to use */
	hdr_rule_fn *rule; /* NULL: any value */
};

static hdr_rule_fn rule_lu, rule_lu_post, rule_precedence, rule_auto,
    rule_importance, rule_priority, rule_sensitivity;

static const struct hdr_row hdr_table[] = {
    /* Allowlisted (SPEC §5). */
    {"In-Reply-To", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"References", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Unsubscribe", HC_ALLOW, HF_STRUCT, NULL, rule_lu},
    {"List-Unsubscribe-Post", HC_ALLOW, HF_STRUCT, NULL, rule_lu_post},
    {"List-Id", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Archive", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Help", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Owner", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Post", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"List-Subscribe", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"Precedence", HC_ALLOW, HF_STRUCT, NULL, rule_precedence},
    {"Auto-Submitted", HC_ALLOW, HF_STRUCT, NULL, rule_auto},
    {"Content-Language", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"Keywords", HC_ALLOW, HF_PHRASES, NULL, NULL},
    {"Comments", HC_ALLOW, 0, NULL, NULL},
    {"Importance", HC_ALLOW, HF_STRUCT, NULL, rule_importance},
    {"Priority", HC_ALLOW, HF_STRUCT, NULL, rule_priority},
    {"Sensitivity", HC_ALLOW, HF_STRUCT, NULL, rule_sensitivity},
    {"Organization", HC_ALLOW, 0, NULL, NULL},
    {"Require-Recipient-Valid-Since", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"Expires", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"Reply-By", HC_ALLOW, HF_STRUCT, NULL, NULL},
    {"Archived-At", HC_ALLOW, HF_STRUCT, NULL, NULL},
    /* Set by pigeon. */
    {"Date", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"Message-ID", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"MIME-Version", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"Content-Type", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"Content-Transfer-Encoding", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"DKIM-Signature", HC_SERVER, 0, NULL, NULL},
    {"Return-Path", HC_SERVER, 0, NULL, NULL},
    {"Received", HC_SERVER, HF_RAW_OK, NULL, NULL},
    {"Feedback-ID", HC_SERVER, 0, NULL, NULL},
    {"ARC-", HC_SERVER, HF_PREFIX, NULL, NULL},
    {"TLS-Required", HC_SERVER, 0, NULL, NULL},
    {"TLS-Report-Domain", HC_SERVER, 0, NULL, NULL},
    {"TLS-Report-Submitter", HC_SERVER, 0, NULL, NULL},
    {"CFBL-Address", HC_SERVER, 0, NULL, NULL},
    {"CFBL-Feedback-ID", HC_SERVER, 0, NULL, NULL},
    /* Given through the API's own fields. */
    {"From", HC_FIELD, HF_RAW_OK, "from", NULL},
    {"To", HC_FIELD, HF_RAW_OK, "to", NULL},
    {"Cc", HC_FIELD, HF_RAW_OK, "cc", NULL},
    {"Bcc", HC_FIELD, 0, "bcc", NULL},
    {"Subject", HC_FIELD, HF_RAW_OK, "subject", NULL},
    {"Reply-To", HC_FIELD, HF_RAW_OK, "reply_to", NULL},
};

#define NROWS (sizeof(hdr_table) / sizeof(hdr_table[0]))

/* Strips leading and trailing whitespace (and folding, in RAW mode). */
static void
trim(const char **v, size_t *len)
{
	while (*len > 0 && strchr(" \t\r\n", (*v)[0]) != NULL && (*v)[0]) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && strchr(" \t\r\n", (*v)[*len - 1]) != NULL &&
	       (*v)[*len - 1])
		(*len)--;
}

/* 1 when the trimmed value is one of the NULL-terminated words. */
static int
one_of(const char *v, size_t len, const char *const *words)
{
	trim(&v, &len);
	for (; *words; words++)
		if (strlen(*words) == len && strncasecmp(v, *words, len) == 0)
			return 1;
	return 0;
}

/* RFC 2076 / RFC 3834 §5 / RFC 4021 §2.1: the enumerated headers. */
static int
rule_precedence(const char *v, size_t len, struct hdr_state *st,
                const char **why)
{
	static const char *const w[] = {"bulk", "list", "junk", NULL};

	*why = "must be one of bulk, list, junk.";
	return one_of(v, len, w) ? 0 : -1;
}

static int
rule_auto(const char *v, size_t len, struct hdr_state *st, const char **why)
{
	static const char *const w[] = {"auto-generated", "auto-replied",
	                                "auto-notified", NULL};

	*why = "must be one of auto-generated, auto-replied, auto-notified.";
	return one_of(v, len, w) ? 0 : -1;
}

static int
rule_importance(const char *v, size_t len, struct hdr_state *st,
                const char **why)
{
	static const char *const w[] = {"high", "normal", "low", NULL};

	*why = "must be one of high, normal, low.";
	return one_of(v, len, w) ? 0 : -1;
}

static int
rule_priority(const char *v, size_t len, struct hdr_state *st, const char **why)
{
	static const char *const w[] = {"normal", "non-urgent", "urgent", NULL};

	*why = "must be one of normal, non-urgent, urgent.";
	return one_of(v, len, w) ? 0 : -1;
}

static int
rule_sensitivity(const char *v, size_t len, struct hdr_state *st,
                 const char **why)
{
	static const char *const w[] = {"personal", "private",
	                                "company-confidential", NULL};

	*why = "must be one of personal, private, company-confidential.";
	return one_of(v, len, w) ? 0 : -1;
}

/*
 * RFC 2369 §2 / RFC 8058 §3.1: one or more "<URI>" separated by commas,
 * each https: or mailto: (http: is refused: RFC 8058 wants https for
 * one-click). Sets st->lu_https when one URI is https.
 */
static int
rule_lu(const char *v, size_t len, struct hdr_state *st, const char **why)
{
	size_t i = 0, j, n = 0;
	int https = 0;

	*why = "must be a comma-separated list of <https://...> or "
	       "<mailto:...> URIs.";
	for (;;) {
		while (i < len && strchr(" \t\r\n", v[i]) && v[i])
			i++;
		if (i == len || v[i] != '<')
			return -1;
		for (j = ++i; j < len && v[j] != '>'; j++)
			if ((unsigned char)v[j] <= ' ' || v[j] == '<' ||
			    v[j] == 0x7f)
				return -1;
		if (j == len)
			return -1;
		if (j - i > 8 && strncasecmp(v + i, "https://", 8) == 0)
			https = 1;
		else if (j - i > 7 && strncasecmp(v + i, "mailto:", 7) == 0)
			;
		else if (j - i >= 5 && strncasecmp(v + i, "http:", 5) == 0) {
			*why = "must not use an http: URI; use https: or "
			       "mailto:.";
			return -1;
		} else
			return -1;
		n++;
		i = j + 1;
		while (i < len && strchr(" \t\r\n", v[i]) && v[i])
			i++;
		if (i == len)
			break;
		if (v[i] != ',')
			return -1;
		i++;
	}
	if (n == 0)
		return -1;
	if (https)
		st->lu_https = 1;
	return 0;
}

/* RFC 8058 §3.1: exactly "List-Unsubscribe=One-Click". */
static int
rule_lu_post(const char *v, size_t len, struct hdr_state *st, const char **why)
{
	static const char want[] = "List-Unsubscribe=One-Click";

	trim(&v, &len);
	*why = "must be exactly 'List-Unsubscribe=One-Click'.";
	if (len != sizeof(want) - 1 || memcmp(v, want, len) != 0)
		return -1;
	st->lu_post = 1;
	return 0;
}

/*
 * The client's header name, printable for a message: at most 64 bytes,
 * anything outside printable ASCII shown as '?'.
 */
static void
show_name(char *dst, size_t dstlen, const char *name, size_t nlen)
{
	size_t i, n = nlen > 64 ? 64 : nlen;

	if (dstlen == 0)
		return;
	if (n > dstlen - 1)
		n = dstlen - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		dst[i] = c > ' ' && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	if (nlen > 64 && dstlen > 68) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

/* SPEC §5: the cap on allowlisted headers, in both modes. */
static const char TOO_MANY[] =
    "is not allowed. At most 20 allowlisted headers may be set per message.";

static int
refuse(char *why, size_t whylen, const char *name, size_t nlen,
       const char *what)
{
	char shown[72];

	show_name(shown, sizeof(shown), name, nlen);
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "Header '%s' %s", shown, what);
	return -1;
}

/* RFC 5322 §2.2 field-name: printable ASCII except ':'. */
static int
name_ok(const char *name, size_t nlen)
{
	size_t i;

	if (nlen == 0)
		return 0;
	for (i = 0; i < nlen; i++)
		if ((unsigned char)name[i] <= ' ' ||
		    (unsigned char)name[i] >= 0x7f || name[i] == ':')
			return 0;
	return 1;
}

/* SPEC §5: "X-" then one or more of [A-Za-z0-9_-]. */
static int
is_x_name(const char *name, size_t nlen)
{
	size_t i;

	if (nlen < 3 || strncasecmp(name, "X-", 2) != 0)
		return 0;
	for (i = 2; i < nlen; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

/*
 * A structured value is written as given (outer white space trimmed) and
 * folded only at its white space: it must be printable ASCII, and no
 * word may be too long to fold under 998 octets.
 */
static int
struct_value_check(const char *v, size_t len, const char **why)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x7f || (c < ' ' && c != '\t')) {
			*why = "has a non-ASCII value. It is a structured "
			       "header and cannot be encoded; encode a "
			       "display name as an RFC 2047 encoded-word.";
			return -1;
		}
		run = c == ' ' || c == '\t' ? 0 : run + 1;
		if (run > MAX_STRUCT_WORD) {
			*why = "has a value with a word of over 900 "
			       "characters. Separate the parts with spaces.";
			return -1;
		}
	}
	return 0;
}

static const struct hdr_row *
lookup(const char *name, size_t nlen)
{
	size_t i, n;

	for (i = 0; i < NROWS; i++) {
		n = strlen(hdr_table[i].name);
		if (hdr_table[i].flags & HF_PREFIX) {
			if (nlen > n &&
			    strncasecmp(name, hdr_table[i].name, n) == 0)
				return &hdr_table[i];
		} else if (nlen == n &&
		           strncasecmp(name, hdr_table[i].name, n) == 0)
			return &hdr_table[i];
	}
	return NULL;
}

int
headers_check(enum hdr_mode mode, const char *name, size_t nlen,
              const char *value, size_t vlen, struct hdr_state *st,
              const char **canon, char *why, size_t whylen)
{
	const struct hdr_row *r = NULL;
	const char *rwhy = NULL;
	char msg[128];
	size_t add = 0, i;
	int allowlisted = 0;

	*canon = NULL;
	if (!name_ok(name, nlen))
		return refuse(why, whylen, name, nlen,
		              "is not allowed. It is not a valid header name.");
	if (nlen >= 2 && strncasecmp(name, "X-", 2) == 0) {
		if (!is_x_name(name, nlen))
			return refuse(
			    why, whylen, name, nlen,
			    "is not allowed. X- header names may only use "
			    "letters, digits, '_' and '-'.");
		if (nlen > MAX_HEADER_NAME)
			return refuse(
			    why, whylen, name, nlen,
			    "is not allowed. Header names are limited to 100 "
			    "characters.");
	} else if ((r = lookup(name, nlen)) != NULL) {
		if (!(r->flags & HF_PREFIX))
			name = r->name; /* same length, canonical casing */
		if (mode == HDR_RAW && (r->flags & HF_RAW_OK))
			;
		else if (r->class == HC_SERVER)
			return refuse(
			    why, whylen, name, nlen,
			    "is not allowed. It is set by the server.");
		else if (r->class == HC_FIELD && mode == HDR_RAW)
			/* Bcc: a raw message has no such field to use */
			return refuse(why, whylen, name, nlen,
			              "is not allowed. Blind copies go only to "
			              "the envelope recipients.");
		else if (r->class == HC_FIELD) {
			snprintf(msg, sizeof(msg),
			         "is not allowed. Use the '%s' field.",
			         r->field);
			return refuse(why, whylen, name, nlen, msg);
		}
		allowlisted = r->class == HC_ALLOW;
	} else if (mode == HDR_RAW && nlen > 8 &&
	           strncasecmp(name, "Content-", 8) == 0)
		; /* a MIME header of the client's own body: canon NULL */
	else
		return refuse(why, whylen, name, nlen,
		              "is not allowed. Use an X- header, or an "
		              "allowlisted one such as In-Reply-To, References "
		              "or List-Unsubscribe.");

	if (mode == HDR_API) {
		/* SPEC §5: every value UTF-8, non-empty, ≤ 2048 bytes, no
		 * CR, LF or NUL; the whole set ≤ 16384 bytes. */
		for (i = 0; i < vlen; i++)
			if (value[i] == '\r' || value[i] == '\n' ||
			    value[i] == '\0')
				return refuse(
				    why, whylen, name, nlen,
				    "has a value with CR, LF or NUL.");
		for (i = 0; i < vlen && (value[i] == ' ' || value[i] == '\t');
		     i++)
			;
		if (i == vlen)
			return refuse(why, whylen, name, nlen,
			              "has an empty value.");
		if (vlen > MAX_HEADER_VALUE)
			return refuse(why, whylen, name, nlen,
			              "has a value longer than 2048 bytes.");
		if (!utf8_valid(value, vlen))
			return refuse(why, whylen, name, nlen,
			              "has a value that is not valid UTF-8.");
		if (r != NULL && (r->flags & HF_STRUCT) &&
		    struct_value_check(value, vlen, &rwhy) == -1)
			return refuse(why, whylen, name, nlen, rwhy);
		if (allowlisted && st->allowlisted >= MAX_ALLOWLISTED_HEADERS)
			return refuse(why, whylen, name, nlen, TOO_MANY);
		add = nlen + 2 + vlen + 2;
		if (st->total + add > MAX_HEADERS_TOTAL)
			return refuse(
			    why, whylen, name, nlen,
			    "is not allowed. Custom headers may total at "
			    "most 16384 bytes.");
	} else if (memchr(value, '\0', vlen) != NULL)
		return refuse(why, whylen, name, nlen,
		              "has a value with a NUL byte.");
	else if (allowlisted && st->allowlisted >= MAX_ALLOWLISTED_HEADERS)
		return refuse(why, whylen, name, nlen, TOO_MANY);

	if (r != NULL && r->rule != NULL) {
		/* Rules set state only on success; work on a copy so a
		 * refused header leaves *st as it was. */
		struct hdr_state tmp = *st;
		if (r->rule(value, vlen, &tmp, &rwhy) == -1)
			return refuse(why, whylen, name, nlen, rwhy);
		*st = tmp;
	}
	if (allowlisted)
		st->allowlisted++;
	st->total += add;
	*canon = r != NULL ? r->name : NULL;
	return 0;
}

int
headers_structured(const char *canon)
{
	const struct hdr_row *r;

	if (canon == NULL)
		return 0;
	r = lookup(canon, strlen(canon));
	return r != NULL && (r->flags & HF_STRUCT);
}

int
headers_phrase_list(const char *canon)
{
	const struct hdr_row *r;

	if (canon == NULL)
		return 0;
	r = lookup(canon, strlen(canon));
	return r != NULL && (r->flags & HF_PHRASES);
}

int
headers_finish(enum hdr_mode mode, const struct hdr_state *st, char *why,
               size_t whylen)
{
	/* RFC 8058 §3.1: one-click needs an https List-Unsubscribe URI. */
	if (st->lu_post && !st->lu_https) {
		if (why != NULL && whylen > 0)
			snprintf(why, whylen,
			         "Header 'List-Unsubscribe-Post' needs a "
			         "List-Unsubscribe header with an https URI.");
		return -1;
	}
	return 0;
}
