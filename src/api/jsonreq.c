/*
 * jsonreq: reads the JSON bodies of send and send_raw (SPEC §3.1, §3.2,
 * §4) into the structs the MIME builder and the queue take.
 *
 * The walk records two errors: the first schema error (10001) and the
 * first content error (10202). A schema error ends the walk; a content
 * error does not, so that a later schema error still wins as SPEC §2.2
 * orders the checks. Content checks that cost something (address parsing,
 * base64) are skipped once a content error is known.
 *
 * What it is not: it does not know sending domains, auth or HTTP.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "../core/base64.h"
#include "../core/utf8.h"
#include "../mail/addr.h"
#include "../mail/atext.h"
#include "../mail/headers.h"
#include "../mail/limits.h"
#include "../mail/mime.h"
#include "jsonreq.h"

#define SHOW_MAX 100       /* bytes of a client value quoted in a message */
#define MIME_NAME_MAX 127  /* a MIME type or subtype name, RFC 6838 §4.2 */
#define CONTENT_ID_MAX 250 /* keeps "Content-ID: <…>" under 998 */

struct rd {
	struct arena *a;
	struct api_error schema;
	struct api_error content;
	const char *seen[MAX_RECIPIENTS]; /* distinct mailbox.ascii */
	size_t nseen;
};

static void note(struct rd *r, struct api_error *slot, enum api_err kind,
                 const char *ptr, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
note(struct rd *r, struct api_error *slot, enum api_err kind, const char *ptr,
     const char *fmt, va_list ap)
{
	char msg[512];

	if (slot->kind != AE_NONE)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	slot->kind = kind;
	slot->pointer = ptr;
	slot->detail = arena_strdup(r->a, msg);
}

/* Records a schema error (10001); the walk stops. Returns -1. */
static int __attribute__((format(printf, 3, 4)))
schema(struct rd *r, const char *ptr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note(r, &r->schema, AE_SCHEMA, ptr, fmt, ap);
	va_end(ap);
	return -1;
}

/* Records a content error (10202); the walk goes on. Returns 1. */
static int __attribute__((format(printf, 3, 4)))
content(struct rd *r, const char *ptr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note(r, &r->content, AE_INVALID, ptr, fmt, ap);
	va_end(ap);
	return 1;
}

static int
has_crlfnul(const char *s, size_t n)
{
	return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL ||
	       memchr(s, '\0', n) != NULL;
}

/* A C0 control character or DEL: what addr_parse refuses first. */
static int
has_ctrl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* RFC 6901 §3: '~' → "~0", '/' → "~1". */
const char *
jsonreq_pointer(struct arena *a, const char *base, const char *key)
{
	size_t n = strlen(base), i, j = n + 1;
	char *p;

	if ((p = arena_alloc(a, n + 1 + 2 * strlen(key) + 1)) == NULL)
		return base;
	memcpy(p, base, n);
	p[n] = '/';
	for (i = 0; key[i] != '\0'; i++) {
		if (key[i] == '~' || key[i] == '/') {
			p[j++] = '~';
			p[j++] = key[i] == '~' ? '0' : '1';
		} else
			p[j++] = key[i];
	}
	p[j] = '\0';
	return p;
}

static const char *
ptr_key(struct rd *r, const char *base, const char *key)
{
	return jsonreq_pointer(r->a, base, key);
}

/* A string member that may be absent or null: 0 absent, 1 string, -1
 * schema error recorded. */
static int
opt_string(struct rd *r, struct json_object *o, const char *key,
           const char *ptr, const char **s, size_t *n)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return schema(r, ptr, "%s must be a string", ptr + 1);
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	return 1;
}

/*
 * One address: a string (bare addr-spec) or {address|email, name?}.
 * Returns 0 parsed, 1 content error (or skipped), -1 schema error.
 */
static int
read_addr(struct rd *r, struct json_object *v, const char *ptr,
          const char *label, struct mailbox *out)
{
	struct json_object *x = v, *nv, *xa = NULL, *xe = NULL;
	const char *s, *name = NULL, *why, *aptr = ptr;
	size_t n, nlen = 0;
	int ha, he;

	memset(out, 0, sizeof(*out));
	if (json_object_is_type(v, json_type_object)) {
		/* SPEC §3.1: "email" is our alias of "address", never both;
		 * a null one counts as absent, as for "name". */
		ha = json_object_object_get_ex(v, "address", &xa) && xa;
		he = json_object_object_get_ex(v, "email", &xe) && xe;
		if (ha && he)
			return schema(
			    r, ptr,
			    "%s: give either address or email, not both",
			    label);
		if (!ha && !he)
			return schema(r, ptr_key(r, ptr, "address"),
			              "%s: address is required", label);
		aptr = ptr_key(r, ptr, ha ? "address" : "email");
		x = ha ? xa : xe;
		if (!json_object_is_type(x, json_type_string))
			return schema(r, aptr, "%s: address must be a string",
			              label);
		if (json_object_object_get_ex(v, "name", &nv) && nv != NULL) {
			if (!json_object_is_type(nv, json_type_string))
				return schema(
				    r, ptr_key(r, ptr, "name"),
				    "%s: name must be a string or null", label);
			name = json_object_get_string(nv);
			nlen = (size_t)json_object_get_string_len(nv);
		}
	} else if (!json_object_is_type(v, json_type_string))
		return schema(
		    r, ptr,
		    "%s must be an address string or an object with address "
		    "and name",
		    label);
	s = json_object_get_string(x);
	n = (size_t)json_object_get_string_len(x);
	/* A control character makes a bad address (10202), whatever else
	 * it looks like: "b@x.io\r\nRCPT TO:<c@y.z>" smuggles a command, it
	 * has no display name. addr_parse says what is wrong. */
	if (!has_ctrl(s, n) && addr_is_name_addr(s, n))
		return schema(r, aptr,
		              "%s: '%.*s' %s; give the bare address only",
		              label, n > SHOW_MAX ? SHOW_MAX : (int)n, s,
		              s[0] == '<' ? "is in angle brackets"
		                          : "has a display name");
	if (r->content.kind != AE_NONE)
		return 1;
	if (addr_parse(r->a, s, n, out, &why) == -1)
		return content(r, aptr, "%s: '%.*s' %s", label,
		               n > SHOW_MAX ? SHOW_MAX : (int)n, s, why);
	if (name != NULL) {
		if (has_crlfnul(name, nlen))
			return content(r, ptr_key(r, ptr, "name"),
			               "%s: name contains CR, LF or NUL",
			               label);
		if (nlen > 0)
			out->name = name;
	}
	return 0;
}

enum { DEDUPE_SEEN = 0, DEDUPE_NEW = 1 };

/*
 * Adds mb to the distinct recipients. Returns DEDUPE_NEW, DEDUPE_SEEN when it
 * is a duplicate (SPEC §3.1: exact local part, domain case-insensitive;
 * addr_parse lowercased the domain, so mailbox.ascii is the key), -1 when
 * it would be recipient number 51 (content error recorded).
 */
static int
dedupe(struct rd *r, const struct mailbox *mb, const char *ptr)
{
	size_t i;

	for (i = 0; i < r->nseen; i++)
		if (strcmp(r->seen[i], mb->ascii) == 0)
			return DEDUPE_SEEN;
	if (r->nseen == MAX_RECIPIENTS) {
		content(r, ptr,
		        "too many recipients: at most %d after removing "
		        "duplicates",
		        MAX_RECIPIENTS);
		return -1;
	}
	r->seen[r->nseen++] = mb->ascii;
	return DEDUPE_NEW;
}

/*
 * A recipient list: absent/null, one address, or an array of addresses.
 * *present is set when the key is there (even as an empty array).
 * Returns 0 or -1 (schema error).
 */
static int
read_list(struct rd *r, struct json_object *root, const char *key,
          struct mailbox **out, size_t *nout, int *present)
{
	struct json_object *v, *e;
	struct mailbox mb;
	const char *ptr = ptr_key(r, "", key), *eptr, *label;
	size_t i, n;
	int rc;

	*out = NULL;
	*nout = 0;
	if (!json_object_object_get_ex(root, key, &v) || v == NULL)
		return 0;
	*present = 1;
	if (!json_object_is_type(v, json_type_array)) {
		if ((rc = read_addr(r, v, ptr, key, &mb)) == -1)
			return -1;
		if (rc == 0 && dedupe(r, &mb, ptr) == DEDUPE_NEW) {
			if ((*out = arena_alloc(r->a, sizeof(mb))) == NULL)
				return schema(r, ptr, "out of memory");
			(*out)[(*nout)++] = mb;
		}
		return 0;
	}
	n = json_object_array_length(v);
	if (n > 0 && (*out = arena_alloc(
	                  r->a, (n < MAX_RECIPIENTS ? n : MAX_RECIPIENTS) *
	                            sizeof(mb))) == NULL)
		return schema(r, ptr, "out of memory");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		eptr = arena_printf(r->a, "%s/%zu", ptr, i);
		label = arena_printf(r->a, "%s[%zu]", key, i);
		if (eptr == NULL || label == NULL)
			return schema(r, ptr, "out of memory");
		if (e == NULL)
			return schema(
			    r, eptr,
			    "%s must be an address string or an object", label);
		if ((rc = read_addr(r, e, eptr, label, &mb)) == -1)
			return -1;
		if (rc == 0 && dedupe(r, &mb, eptr) == DEDUPE_NEW)
			(*out)[(*nout)++] = mb;
	}
	return 0;
}

/* RFC 2045 §5.1 token. */
static int
is_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return 0;
	}
	return 1;
}

/* "type/subtype", nothing else (no parameters); each name ≤ 127
 * characters (RFC 6838 §4.2). */
static int
is_mime_type(const char *s, size_t n)
{
	const char *sl = memchr(s, '/', n);
	size_t tn = sl != NULL ? (size_t)(sl - s) : 0;

	return sl != NULL && tn <= MIME_NAME_MAX &&
	       n - tn - 1 <= MIME_NAME_MAX && is_token(s, tn) &&
	       is_token(sl + 1, n - tn - 1);
}

/* A Content-ID without its brackets: 1 to CONTENT_ID_MAX characters of
 * RFC 5322 atext, '.' and '@' (the msg-id alphabet, §3.6.4). */
static int
is_content_id(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CONTENT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!atext(c) && c != '.' && c != '@')
			return 0;
	}
	return 1;
}

/* A required string member of an attachment. 0, or -1 (schema). */
static int
att_string(struct rd *r, struct json_object *o, const char *key,
           const char *ptr, const char *label, const char **s, size_t *n)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return schema(r, ptr_key(r, ptr, key), "%s: %s is required",
		              label, key);
	if (!json_object_is_type(v, json_type_string))
		return schema(r, ptr_key(r, ptr, key),
		              "%s: %s must be a string", label, key);
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	return 0;
}

/* Content rules of one attachment (SPEC §3.2); records a content error.
 * tn, fnn: lengths of at->type and at->filename (which may hold a NUL);
 * id/idn is the content_id as given or NULL. */
static void
att_content(struct rd *r, const char *ptr, const char *label,
            struct attachment *at, size_t tn, size_t fnn, const char *b64,
            size_t b64n, const char *id, size_t idn)
{
	struct buf dec;
	unsigned char *p;
	size_t max;

	if (!is_mime_type(at->type, tn)) {
		content(r, ptr_key(r, ptr, "type"),
		        "%s: type '%.*s' is not of the form type/subtype "
		        "(at most 127 characters each)",
		        label, tn > SHOW_MAX ? SHOW_MAX : (int)tn, at->type);
		return;
	}
	if (fnn == 0 || has_crlfnul(at->filename, fnn)) {
		content(r, ptr_key(r, ptr, "filename"),
		        "%s: filename must be non-empty, without CR, LF or NUL",
		        label);
		return;
	}
	if (id != NULL) {
		/* Kept without angle brackets (message.h). */
		if (idn >= 2 && id[0] == '<' && id[idn - 1] == '>') {
			id++;
			idn -= 2;
		}
		if (!is_content_id(id, idn)) {
			content(r, ptr_key(r, ptr, "content_id"),
			        "%s: content_id is not valid: use 1-250 "
			        "letters, digits, '.', '@' and "
			        "!#$%%&'*+-/=?^_`{|}~",
			        label);
			return;
		}
		at->content_id = arena_strndup(r->a, id, idn);
	}
	/* Decode straight into the arena: a buf whose cap is its max never
	 * reallocates (buf.h), and b64n / 4 * 3 + 3 bounds the output. */
	max = b64n / 4 * 3 + 3;
	if ((p = arena_alloc(r->a, max + 1)) == NULL) {
		content(r, ptr_key(r, ptr, "content"), "%s: out of memory",
		        label);
		return;
	}
	dec.p = (char *)p;
	dec.len = 0;
	dec.cap = max + 1;
	dec.max = max;
	if (base64_decode(&dec, b64, b64n) == -1) {
		content(r, ptr_key(r, ptr, "content"),
		        "%s: content is not valid base64", label);
		return;
	}
	if (mime_att_encoding(at->type, p, dec.len) == NULL) {
		content(
		    r, ptr_key(r, ptr, "type"),
		    strncasecmp(at->type, "multipart/", 10) == 0
		        ? "%s: type '%s' cannot be an attachment; send the "
		          "parts as attachments of their own"
		        : "%s: a '%s' attachment must be 7-bit text (ASCII, "
		          "lines of at most 998 octets, RFC 2046 §5.2); "
		          "send it as application/octet-stream",
		    label, at->type);
		return;
	}
	at->content = p;
	at->len = dec.len;
}

/* SPEC §3.2: one attachment. 0, or -1 (schema). */
static int
read_att(struct rd *r, struct json_object *o, const char *ptr,
         const char *label, struct attachment *at)
{
	struct json_object *cid1 = NULL, *cid2 = NULL, *cid;
	const char *b64, *fn, *type, *disp, *id = NULL;
	size_t b64n, fnn, typen, dispn, idn = 0;
	int h1, h2;

	memset(at, 0, sizeof(*at));
	if (!json_object_is_type(o, json_type_object))
		return schema(r, ptr, "%s must be an object", label);
	if (att_string(r, o, "content", ptr, label, &b64, &b64n) == -1 ||
	    att_string(r, o, "filename", ptr, label, &fn, &fnn) == -1 ||
	    att_string(r, o, "type", ptr, label, &type, &typen) == -1 ||
	    att_string(r, o, "disposition", ptr, label, &disp, &dispn) == -1)
		return -1;
	if (dispn == 10 && strcmp(disp, "attachment") == 0)
		at->disposition = DISP_ATTACHMENT;
	else if (dispn == 6 && strcmp(disp, "inline") == 0)
		at->disposition = DISP_INLINE;
	else
		return schema(r, ptr_key(r, ptr, "disposition"),
		              "%s: disposition must be attachment or inline",
		              label);
	/* content_id, with our contentId alias; never both. */
	h1 = json_object_object_get_ex(o, "content_id", &cid1) && cid1;
	h2 = json_object_object_get_ex(o, "contentId", &cid2) && cid2;
	if (h1 && h2)
		return schema(
		    r, ptr_key(r, ptr, "content_id"),
		    "%s: give either content_id or contentId, not both", label);
	if (h1 || h2) {
		cid = h1 ? cid1 : cid2;
		if (!json_object_is_type(cid, json_type_string))
			return schema(
			    r, ptr_key(r, ptr, h1 ? "content_id" : "contentId"),
			    "%s: content_id must be a string", label);
		id = json_object_get_string(cid);
		idn = (size_t)json_object_get_string_len(cid);
	} else if (at->disposition == DISP_INLINE)
		return schema(
		    r, ptr_key(r, ptr, "content_id"),
		    "%s: content_id is required for an inline attachment",
		    label);
	at->filename = fn;
	at->type = type;
	if (r->content.kind == AE_NONE)
		att_content(r, ptr, label, at, typen, fnn, b64, b64n, id, idn);
	return 0;
}

/* 1 when m already has a header of that name, in any case. */
static int
header_seen(const struct message *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return 1;
	return 0;
}

/* SPEC §5 through headers_check(HDR_API). 0, or -1 (schema). */
static int
read_headers(struct rd *r, struct json_object *root, struct message *m)
{
	struct json_object *v;
	struct json_object_iterator it, end;
	struct hdr_state st;
	const char *name, *val, *canon, *ptr;
	char why[256];
	size_t n, vlen;

	if (!json_object_object_get_ex(root, "headers", &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return schema(r, "/headers",
		              "headers must be an object of strings");
	n = (size_t)json_object_object_length(v);
	if (n == 0)
		return 0;
	if ((m->headers = arena_alloc(r->a, n * sizeof(*m->headers))) == NULL)
		return schema(r, "/headers", "out of memory");
	memset(&st, 0, sizeof(st));
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		val = NULL;
		ptr = ptr_key(r, "/headers", name);
		if (!json_object_is_type(json_object_iter_peek_value(&it),
		                         json_type_string))
			return schema(r, ptr,
			              "headers: '%.*s' must be a string",
			              SHOW_MAX, name);
		if (r->content.kind != AE_NONE)
			continue;
		val = json_object_get_string(json_object_iter_peek_value(&it));
		vlen = (size_t)json_object_get_string_len(
		    json_object_iter_peek_value(&it));
		canon = NULL;
		if (headers_check(HDR_API, name, strlen(name), val, vlen, &st,
		                  &canon, why, sizeof(why)) == -1) {
			content(r, ptr, "%s", why);
			continue;
		}
		if (header_seen(m, canon ? canon : name)) {
			content(r, ptr,
			        "Header '%.*s' is given more than once (names "
			        "are case-insensitive).",
			        SHOW_MAX, canon ? canon : name);
			continue;
		}
		m->headers[m->nheaders].name = canon ? canon : name;
		m->headers[m->nheaders].value = val;
		m->headers[m->nheaders].structured = headers_structured(canon);
		m->nheaders++;
	}
	if (r->content.kind == AE_NONE &&
	    headers_finish(HDR_API, &st, why, sizeof(why)) == -1)
		content(r, "/headers", "%s", why);
	return 0;
}

static int
read_atts(struct rd *r, struct json_object *root, struct message *m)
{
	struct json_object *v;
	const char *ptr, *label;
	size_t i, n;

	if (!json_object_object_get_ex(root, "attachments", &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return schema(r, "/attachments",
		              "attachments must be an array");
	n = json_object_array_length(v);
	if (n > MAX_ATTACHMENTS) {
		content(r, "/attachments", "too many attachments: at most %d",
		        MAX_ATTACHMENTS);
	}
	if (n == 0)
		return 0;
	if ((m->atts = arena_zalloc(r->a, n * sizeof(*m->atts))) == NULL)
		return schema(r, "/attachments", "out of memory");
	for (i = 0; i < n; i++) {
		ptr = arena_printf(r->a, "/attachments/%zu", i);
		label = arena_printf(r->a, "attachments[%zu]", i);
		if (ptr == NULL || label == NULL)
			return schema(r, "/attachments", "out of memory");
		if (read_att(r, json_object_array_get_idx(v, i), ptr, label,
		             &m->atts[i]) == -1)
			return -1;
		/* RFC 2045 §7: Content-IDs are unique in a message */
		for (size_t j = 0; m->atts[i].content_id != NULL && j < i; j++)
			if (m->atts[j].content_id != NULL &&
			    strcmp(m->atts[j].content_id,
			           m->atts[i].content_id) == 0) {
				content(
				    r, ptr_key(r, ptr, "content_id"),
				    "%s: content_id '%s' is already used by "
				    "attachments[%zu]",
				    label, m->atts[i].content_id, j);
				break;
			}
	}
	m->natts = n;
	return 0;
}

/* The outcome of a walk: the schema error, else the content error. */
static int
verdict(struct rd *r, struct api_error *err)
{
	if (r->schema.kind != AE_NONE)
		*err = r->schema;
	else if (r->content.kind != AE_NONE)
		*err = r->content;
	else
		return 0;
	if (err->detail == NULL)
		err->detail = "out of memory";
	return -1;
}

/*
 * json-c keeps object keys as C strings, so "X-A\u0000B" would be read
 * as "X-A". Finds a key holding an escaped NUL in text that already
 * parsed as JSON: each string is scanned once; it is a key when ':'
 * follows it.
 */
static int
key_has_nul(const char *s, size_t n)
{
	size_t i = 0;
	int nul;

	if (memmem(s, n, "\\u0000", 6) == NULL)
		return 0;
	while (i < n) {
		if (s[i++] != '"')
			continue;
		for (nul = 0; i < n && s[i] != '"'; i++)
			if (s[i] == '\\') {
				if (i + 5 < n &&
				    memcmp(s + i + 1, "u0000", 5) == 0)
					nul = 1;
				i++; /* the escaped character */
			}
		i++; /* the closing quote */
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		                 s[i] == '\n'))
			i++;
		if (nul && i < n && s[i] == ':')
			return 1;
	}
	return 0;
}

/* The value of 4 hex digits (the text parsed, so they are hex). */
static unsigned
hex4(const char *s)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 4 | (unsigned)(s[i] <= '9'   ? s[i] - '0'
		                        : s[i] <= 'F' ? s[i] - 'A' + 10
		                                      : s[i] - 'a' + 10);
	return v;
}

/*
 * What json-c lets through and RFC 8259 does not: bytes in strings that
 * are not UTF-8 (overlongs, surrogates, past U+10FFFF; §8.1), raw control
 * characters in strings (§7), \u escapes of unpaired surrogates, which
 * json-c would quietly turn into U+FFFD (§8.2), and the NaN and Infinity
 * of JavaScript (outside strings the only capital is E, §6). The text already
 * parsed, so its strings and escapes are well delimited. NULL, or what
 * is wrong.
 */
static const char *
text_flaw(const char *s, size_t n)
{
	static const char lone[] = "the body is not valid JSON: a string has "
	                           "an unpaired UTF-16 surrogate escape";
	size_t i = 0, k;
	unsigned cp;
	int in = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (!in && c >= 'A' && c <= 'Z' && c != 'E')
			return "the body is not valid JSON: NaN and Infinity "
			       "are not JSON numbers";
		if (!in || c == '"') {
			in ^= c == '"';
			i++;
		} else if (c < 0x20)
			return "the body is not valid JSON: a string has an "
			       "unescaped control character";
		else if (c >= 0x80) {
			if ((k = utf8_seq((const unsigned char *)s + i,
			                  n - i)) == 0)
				return "the body is not valid JSON: it is not "
				       "valid UTF-8";
			i += k;
		} else if (c != '\\')
			i++;
		else if (s[i + 1] != 'u')
			i += 2;
		else {
			cp = hex4(s + i + 2);
			i += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return lone;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 6 > n || s[i] != '\\' ||
				    s[i + 1] != 'u')
					return lone;
				cp = hex4(s + i + 2);
				if (cp < 0xdc00 || cp > 0xdfff)
					return lone;
				i += 6;
			}
		}
	}
	return NULL;
}

_Static_assert(JSONREQ_MAX_VALUES == 2 * JSONREQ_SCHEMA_VALUES,
               "JSONREQ_MAX_VALUES is twice what the schema can use");
_Static_assert(JSONREQ_MAX_ARRAY == 4 * MAX_ATTACHMENTS &&
                   MAX_ATTACHMENTS >= MAX_RECIPIENTS,
               "JSONREQ_MAX_ARRAY is four times the longest list");

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * The bounds of jsonreq.h, in one pass and a few hundred bytes of stack,
 * whatever the body. A value starts at '{', '[', a string that is not a
 * key, or the first byte of a number or literal; a string is a key when
 * the object it is in expects one (after '{' or ','). Text that is not
 * JSON is counted somehow and left to json-c to refuse.
 */
static const char *scan(const char *s, size_t n, size_t max_values,
                        size_t max_array);

const char *
jsonreq_scan(const char *s, size_t n)
{
	const char *why = scan(s, n, JSONREQ_MAX_VALUES, JSONREQ_MAX_ARRAY);

	if (why == NULL || strcmp(why, "depth") == 0)
		return why == NULL ? NULL : "the body is nested too deeply";
	if (strcmp(why, "values") == 0)
		return "the body has more than " STR(
		    JSONREQ_MAX_VALUES) " JSON values";
	return "the body has an array of more than " STR(
	    JSONREQ_MAX_ARRAY) " values";
}

/* jsonreq_scan's pass with the bounds given: NULL, or which one was
 * passed: "depth", "values" or "array". */
static const char *
scan(const char *s, size_t n, size_t max_values, size_t max_array)
{
	size_t elems[JSONREQ_MAX_DEPTH]; /* elements of each open array */
	unsigned char array[JSONREQ_MAX_DEPTH], want_key[JSONREQ_MAX_DEPTH];
	size_t i, values = 0;
	int depth = 0, word = 0, value;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		value = 0;
		if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++; /* the escaped byte */
			if (depth > 0 && want_key[depth - 1])
				want_key[depth - 1] = 0;
			else
				value = 1;
			word = 0;
		} else if (c == '{' || c == '[') {
			value = 1;
			word = 0;
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
			word = 0;
		} else if (c == ',') {
			if (depth > 0 && !array[depth - 1])
				want_key[depth - 1] = 1;
			word = 0;
		} else if (c == ':' || c == ' ' || c == '\t' || c == '\r' ||
		           c == '\n')
			word = 0;
		else if (!word)
			value = word = 1; /* a number, true, false, null */
		if (!value)
			continue;
		/* json-c counts levels of values, a string or number too */
		if (depth == JSONREQ_MAX_DEPTH)
			return "depth";
		if (++values > max_values)
			return "values";
		if (depth > 0 && array[depth - 1] &&
		    ++elems[depth - 1] > max_array)
			return "array";
		if (c != '{' && c != '[')
			continue;
		array[depth] = c == '[';
		want_key[depth] = c == '{';
		elems[depth] = 0;
		depth++;
	}
	return NULL;
}

static int parse(const char *body, size_t len, int list,
                 struct json_object **root, struct api_error *err);

int
jsonreq_parse(const char *body, size_t len, struct json_object **root,
              struct api_error *err)
{
	return parse(body, len, 0, root, err);
}

int
jsonreq_parse_list(const char *body, size_t len, struct json_object **root,
                   struct api_error *err)
{
	return parse(body, len, 1, root, err);
}

/* jsonreq_parse, with the bounds of a list body when list is set. */
static int
parse(const char *body, size_t len, int list, struct json_object **root,
      struct api_error *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL;
	enum json_tokener_error je;
	static char nomem[] = "out of memory";

	*root = NULL;
	memset(err, 0, sizeof(*err));
	err->kind = AE_SCHEMA;
	err->pointer = "";
	if (len == 0 || len > 0x7fffffff) {
		err->detail = "the body is not valid JSON";
		return -1;
	}
	/* Before json-c allocates anything (jsonreq.h). */
	if (!list && (err->detail = jsonreq_scan(body, len)) != NULL)
		return -1;
	if (list && (err->detail = scan(body, len, JSONREQ_LIST_MAX_VALUES,
	                                JSONREQ_LIST_MAX_ARRAY)) != NULL) {
		if (strcmp(err->detail, "values") == 0)
			err->detail = "the body has more than " STR(
			    JSONREQ_LIST_MAX_VALUES) " JSON values";
		else if (strcmp(err->detail, "array") == 0)
			err->detail = "the body has an array of more than " STR(
			    JSONREQ_LIST_MAX_ARRAY) " values";
		else
			err->detail = "the body is nested too deeply";
		return -1;
	}
	if ((tok = json_tokener_new_ex(JSONREQ_MAX_DEPTH)) == NULL) {
		err->kind = AE_INTERNAL;
		err->detail = nomem;
		return -1;
	}
	/* Strict RFC 8259, valid UTF-8 only, nothing after the value. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	                                JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	je = json_tokener_get_error(tok);
	if (o == NULL || je != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		if (je == json_tokener_error_depth)
			err->detail = "the body is nested too deeply";
		else
			err->detail = "the body is not valid JSON";
		goto fail;
	}
	if (!json_object_is_type(o, json_type_object)) {
		err->detail = "the body must be a JSON object";
		goto fail;
	}
	if ((err->detail = text_flaw(body, len)) != NULL)
		goto fail;
	if (key_has_nul(body, len)) {
		err->kind = AE_INVALID;
		err->detail = "an object key contains a NUL character "
		              "(\\u0000)";
		goto fail;
	}
	json_tokener_free(tok);
	*root = o;
	err->kind = AE_NONE;
	err->pointer = NULL;
	err->detail = NULL;
	return 0;
fail:
	json_object_put(o);
	json_tokener_free(tok);
	return -1;
}

int
jsonreq_send(struct arena *a, struct json_object *root, struct message *m,
             struct api_error *err)
{
	struct rd r;
	struct json_object *v;
	const char *s;
	size_t n;
	int present = 0, rc;

	memset(&r, 0, sizeof(r));
	memset(m, 0, sizeof(*m));
	memset(err, 0, sizeof(*err));
	r.a = a;
	/* from */
	if (!json_object_object_get_ex(root, "from", &v) || v == NULL) {
		schema(&r, "/from", "from is required");
		goto out;
	}
	if (read_addr(&r, v, "/from", "from", &m->from) == -1)
		goto out;
	/* subject */
	if (!json_object_object_get_ex(root, "subject", &v) || v == NULL) {
		schema(&r, "/subject", "subject is required");
		goto out;
	}
	if (!json_object_is_type(v, json_type_string)) {
		schema(&r, "/subject", "subject must be a string");
		goto out;
	}
	m->subject = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (utf8_count(m->subject, n) > MAX_SUBJECT_CHARS)
		content(&r, "/subject", "subject is longer than %d characters",
		        MAX_SUBJECT_CHARS);
	else if (has_crlfnul(m->subject, n))
		content(&r, "/subject", "subject contains CR, LF or NUL");
	/* to, cc, bcc: de-duplicated across the three, in that order. */
	if (read_list(&r, root, "to", &m->to, &m->nto, &present) == -1 ||
	    read_list(&r, root, "cc", &m->cc, &m->ncc, &present) == -1 ||
	    read_list(&r, root, "bcc", &m->bcc, &m->nbcc, &present) == -1)
		goto out;
	if (!present) {
		schema(&r, "/to", "at least one of to, cc or bcc is required");
		goto out;
	}
	/* reply_to: one address, not a list. */
	if (json_object_object_get_ex(root, "reply_to", &v) && v != NULL) {
		if ((m->reply_to = arena_zalloc(a, sizeof(*m->reply_to))) ==
		    NULL) {
			schema(&r, "/reply_to", "out of memory");
			goto out;
		}
		if ((rc = read_addr(&r, v, "/reply_to", "reply_to",
		                    m->reply_to)) == -1)
			goto out;
	}
	/* text, html */
	if ((rc = opt_string(&r, root, "text", "/text", &s, &n)) == -1)
		goto out;
	if (rc == 1) {
		m->text = s;
		m->text_len = n;
	}
	if ((rc = opt_string(&r, root, "html", "/html", &s, &n)) == -1)
		goto out;
	if (rc == 1) {
		m->html = s;
		m->html_len = n;
	}
	if (read_headers(&r, root, m) == -1 || read_atts(&r, root, m) == -1)
		goto out;
	/* Content rules that need the whole body. */
	if (m->text_len == 0 && m->html_len == 0)
		content(&r, "/text",
		        "text or html is required and must not "
		        "be empty");
	if (r.content.kind == AE_NONE && r.nseen == 0)
		content(&r, "/to", "at least one recipient is required");
	if (m->text_len == 0)
		m->text = NULL;
	if (m->html_len == 0)
		m->html = NULL;
out:
	return verdict(&r, err);
}

int
jsonreq_send_raw(struct arena *a, struct json_object *root, struct raw_req *req,
                 struct api_error *err)
{
	struct rd r;
	struct json_object *v;
	int present = 0;

	memset(&r, 0, sizeof(r));
	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	r.a = a;
	if (!json_object_object_get_ex(root, "from", &v) || v == NULL) {
		schema(&r, "/from", "from is required");
		goto out;
	}
	if (read_addr(&r, v, "/from", "from", &req->from) == -1)
		goto out;
	if (!json_object_object_get_ex(root, "recipients", &v) || v == NULL) {
		schema(&r, "/recipients", "recipients is required");
		goto out;
	}
	if (!json_object_is_type(v, json_type_array)) {
		schema(&r, "/recipients",
		       "recipients must be an array of addresses");
		goto out;
	}
	if (read_list(&r, root, "recipients", &req->rcpts, &req->nrcpts,
	              &present) == -1)
		goto out;
	if (!json_object_object_get_ex(root, "mime_message", &v) || v == NULL) {
		schema(&r, "/mime_message", "mime_message is required");
		goto out;
	}
	if (!json_object_is_type(v, json_type_string)) {
		schema(&r, "/mime_message", "mime_message must be a string");
		goto out;
	}
	req->mime = json_object_get_string(v);
	req->mime_len = (size_t)json_object_get_string_len(v);
	if (r.content.kind == AE_NONE && r.nseen == 0)
		content(&r, "/recipients",
		        "at least one recipient is required");
	if (req->mime_len == 0)
		content(&r, "/mime_message", "mime_message is empty");
out:
	return verdict(&r, err);
}
