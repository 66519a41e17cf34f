/*
 * test_mime: the message builder (src/mail/mime.c) against golden files,
 * and its RFC 2047 / RFC 2045 helpers directly.
 *
 * data/mime/NAME.json is a Cloudflare send body; the test loads it into a
 * struct message (a small test-only loader, no validation), pins the
 * clock and the random seam, builds, and compares with data/mime/NAME.eml
 * byte for byte. PIGEON_REGEN=1 rewrites the .eml files instead (review
 * them before committing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/core/base64.h"
#include "../../src/core/buf.h"
#include "../../src/core/clock.h"
#include "../../src/core/random.h"
#include "../../src/mail/limits.h"
#include "../../src/mail/mime.h"

#define FIXED_TIME 1700000000
#define FIXED_SEED 42
#define TEST_MSGID "<TESTID@example.com>"

/* Everything a loaded message owns, freed in one go. */
struct loaded {
	struct json_object *root;
	struct message m;
	struct buf *bins;
	size_t nbins;
};

static void
load_mailbox(struct json_object *o, struct mailbox *mb)
{
	struct json_object *v;

	memset(mb, 0, sizeof(*mb));
	if (json_object_is_type(o, json_type_string)) {
		mb->address = json_object_get_string(o);
		return;
	}
	assert_true(json_object_object_get_ex(o, "address", &v));
	mb->address = json_object_get_string(v);
	if (json_object_object_get_ex(o, "name", &v) &&
	    !json_object_is_type(v, json_type_null))
		mb->name = json_object_get_string(v);
}

static void
load_list(struct json_object *root, const char *key, struct mailbox **out,
          size_t *n)
{
	struct json_object *o;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_object_object_get_ex(root, key, &o))
		return;
	if (!json_object_is_type(o, json_type_array)) {
		*out = calloc(1, sizeof(**out));
		load_mailbox(o, *out);
		*n = 1;
		return;
	}
	*n = json_object_array_length(o);
	*out = calloc(*n ? *n : 1, sizeof(**out));
	for (i = 0; i < *n; i++)
		load_mailbox(json_object_array_get_idx(o, i), &(*out)[i]);
}

static const char *
get_str(struct json_object *o, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

static void
load(const char *name, struct loaded *l)
{
	char path[256];
	struct json_object *o, *a;
	struct message *m = &l->m;
	const char *s, *k;
	size_t i, n;

	memset(l, 0, sizeof(*l));
	snprintf(path, sizeof(path), "data/mime/%s.json", name);
	l->root = json_object_from_file(path);
	assert_non_null(l->root);
	assert_true(json_object_object_get_ex(l->root, "from", &o));
	load_mailbox(o, &m->from);
	load_list(l->root, "to", &m->to, &m->nto);
	load_list(l->root, "cc", &m->cc, &m->ncc);
	load_list(l->root, "bcc", &m->bcc, &m->nbcc);
	load_list(l->root, "reply_to", &m->reply_to, &n);
	m->subject = get_str(l->root, "subject", NULL);
	m->text = get_str(l->root, "text", &m->text_len);
	m->html = get_str(l->root, "html", &m->html_len);
	if (json_object_object_get_ex(l->root, "headers", &o)) {
		m->headers = calloc(json_object_object_length(o) + 1,
		                    sizeof(*m->headers));
		json_object_object_foreach(o, key, val)
		{
			m->headers[m->nheaders].name = key;
			m->headers[m->nheaders++].value =
			    json_object_get_string(val);
		}
	}
	if (!json_object_object_get_ex(l->root, "attachments", &o))
		return;
	m->natts = json_object_array_length(o);
	m->atts = calloc(m->natts + 1, sizeof(*m->atts));
	l->bins = calloc(m->natts + 1, sizeof(*l->bins));
	for (i = 0; i < m->natts; i++) {
		a = json_object_array_get_idx(o, i);
		s = get_str(a, "content", &n);
		buf_init(&l->bins[i], 0);
		assert_int_equal(base64_decode(&l->bins[i], s, n), 0);
		l->nbins++;
		m->atts[i].content = (const unsigned char *)l->bins[i].p;
		m->atts[i].len = l->bins[i].len;
		m->atts[i].filename = get_str(a, "filename", NULL);
		m->atts[i].type = get_str(a, "type", NULL);
		k = get_str(a, "disposition", NULL);
		m->atts[i].disposition =
		    strcmp(k, "inline") == 0 ? DISP_INLINE : DISP_ATTACHMENT;
		m->atts[i].content_id = get_str(a, "content_id", NULL);
	}
}

static void
unload(struct loaded *l)
{
	size_t i;

	for (i = 0; i < l->nbins; i++)
		buf_clear(&l->bins[i]);
	free(l->bins);
	free(l->m.to);
	free(l->m.cc);
	free(l->m.bcc);
	free(l->m.reply_to);
	free(l->m.headers);
	free(l->m.atts);
	json_object_put(l->root);
}

static int
build(const struct message *m, struct buf *out)
{
	clock_set_fixed(FIXED_TIME);
	random_set_seed(FIXED_SEED);
	return mime_build(m, TEST_MSGID, clock_now(), out);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) &&
	    fread(p, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
		p[n] = '\0';
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* Every line ends CRLF, none is over 998 octets, none has a bare CR/LF. */
static void
assert_lines(const char *p, size_t len)
{
	size_t i, line = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			assert_true(i + 1 < len && p[i + 1] == '\n');
			i++;
			line = 0;
			continue;
		}
		assert_true(p[i] != '\n');
		line++;
		assert_true(line <= MAX_LINE);
	}
	assert_true(len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n');
}

/* Header lines (up to the blank line) are ≤ 78 columns, except the
 * ones the caller knows cannot fold. */
static void
assert_header_cols(const char *p, size_t len, size_t maxcol)
{
	size_t i, line = 0;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] == '\r') {
			if (line == 0)
				return;
			line = 0;
			i++;
			continue;
		}
		line++;
		assert_true(line <= maxcol);
	}
}

/* RFC 2047 §2: a header line that holds an encoded-word is ≤ 76. */
static void
assert_ew_lines(const char *p, size_t len)
{
	const char *end = p + len, *e;

	for (; p < end; p = e + 2) {
		e = strstr(p, "\r\n");
		assert_non_null(e);
		if (e == p)
			return; /* the end of the header section */
		if (memmem(p, (size_t)(e - p), "=?", 2) != NULL &&
		    (size_t)(e - p) > 76) {
			fprintf(stderr, "line of %zu: %.*s\n", (size_t)(e - p),
			        (int)(e - p), p);
			fail();
		}
	}
}

/* A B word followed by another encoded-word (only white space or a fold
 * between them) has no "=" padding: GMime 3.2 decodes such a run as one
 * stream. */
static void
assert_no_inner_padding(const char *p, size_t len)
{
	const char *end = p + len, *w, *e, *n;

	if ((e = strstr(p, "\r\n\r\n")) != NULL)
		end = e;
	while ((w = strstr(p, "=?UTF-8?B?")) != NULL && w < end) {
		e = strstr(w + 10, "?=");
		assert_non_null(e);
		for (n = e + 2;
		     *n == ' ' || *n == '\t' || *n == '\r' || *n == '\n'; n++)
			;
		if (strncmp(n, "=?", 2) == 0 &&
		    memchr(w + 10, '=', (size_t)(e - w - 10)) != NULL) {
			fprintf(stderr, "padded inner word: %.*s\n",
			        (int)(e + 2 - w), w);
			fail();
		}
		p = e + 2;
	}
}

static void
golden(const char *name, size_t maxcol)
{
	struct loaded l;
	struct buf out;
	char path[256];
	char *want;
	size_t wlen = 0;
	FILE *f;

	load(name, &l);
	buf_init(&out, MAX_MESSAGE_SIZE);
	assert_int_equal(build(&l.m, &out), 0);
	assert_lines(out.p, out.len);
	assert_header_cols(out.p, out.len, maxcol);
	assert_ew_lines(out.p, out.len);
	assert_no_inner_padding(out.p, out.len);
	assert_null(strstr(out.p, "Bcc:"));
	snprintf(path, sizeof(path), "data/mime/%s.eml", name);
	if (getenv("PIGEON_REGEN") != NULL) {
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(out.p, 1, out.len, f), out.len);
		fclose(f);
	}
	want = slurp(path, &wlen);
	assert_non_null(want);
	if (wlen != out.len || memcmp(want, out.p, wlen) != 0) {
		fprintf(stderr, "%s differs; got:\n%s\n", path, out.p);
		fail();
	}
	free(want);
	buf_clear(&out);
	unload(&l);
}

#define GOLDEN(n, col)                                                         \
	static void test_##n(void **state)                                     \
	{                                                                      \
		golden(#n, col);                                               \
	}

GOLDEN(text_only, 78)
GOLDEN(html_only, 78)
GOLDEN(both, 78)
GOLDEN(inline_html, 78)
GOLDEN(attachments, 78)
GOLDEN(inline_and_attachment, 78)
GOLDEN(intl, 78)
GOLDEN(specials, 78)
GOLDEN(long, 78)
GOLDEN(qp, 78)
GOLDEN(custom_headers, 90) /* a long URI cannot fold */
GOLDEN(cc_reply_to, 78)
GOLDEN(rfc2047, 78) /* long non-ASCII values, Keywords, a long name */

/* The same seed gives the same bytes; another seed other boundaries. */
static void
test_reproducible(void **state)
{
	struct loaded l;
	struct buf a, b;

	load("inline_and_attachment", &l);
	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_int_equal(build(&l.m, &a), 0);
	assert_int_equal(build(&l.m, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	buf_reset(&b);
	random_set_seed(7);
	assert_int_equal(mime_build(&l.m, TEST_MSGID, FIXED_TIME, &b), 0);
	assert_true(a.len != b.len || memcmp(a.p, b.p, a.len) != 0);
	buf_clear(&a);
	buf_clear(&b);
	unload(&l);
}

/* Any cap below the full size fails with -1; the exact size succeeds. */
static void
test_max(void **state)
{
	struct loaded l;
	struct buf full, out;
	size_t max;

	load("inline_and_attachment", &l);
	buf_init(&full, 0);
	assert_int_equal(build(&l.m, &full), 0);
	for (max = 1; max < full.len; max += (max < 400 ? 1 : 97)) {
		buf_init(&out, max);
		assert_int_equal(build(&l.m, &out), -1);
		assert_true(out.len <= max);
		buf_clear(&out);
	}
	buf_init(&out, full.len - 1);
	assert_int_equal(build(&l.m, &out), -1);
	buf_clear(&out);
	buf_init(&out, full.len);
	assert_int_equal(build(&l.m, &out), 0);
	assert_memory_equal(out.p, full.p, full.len);
	buf_clear(&out);
	buf_clear(&full);
	unload(&l);
}

/* Decodes a run of encoded-words ("=?UTF-8?X?...?=" separated by white
 * space or folds) into out, checking each word is ≤ 75 chars and decodes
 * to whole UTF-8 characters. Returns the encoding letter of the last. */
static int
ew_decode(const char *s, struct buf *out)
{
	const char *e;
	struct buf w;
	size_t i, n, start;
	int enc = 0, c;
	unsigned char ch;

	buf_init(&w, 0);
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0')
			break;
		assert_true(strncmp(s, "=?UTF-8?", 8) == 0);
		enc = s[8];
		assert_true(enc == 'B' || enc == 'Q');
		assert_int_equal(s[9], '?');
		e = strstr(s + 10, "?=");
		assert_non_null(e);
		n = (size_t)(e + 2 - s);
		assert_true(n <= 75);
		buf_reset(&w);
		if (enc == 'B')
			assert_int_equal(
			    base64_decode(&w, s + 10, (size_t)(e - s - 10)), 0);
		else
			for (i = 10; s + i < e; i++) {
				if (s[i] == '_')
					c = ' ';
				else if (s[i] == '=') {
					assert_true(sscanf(s + i + 1, "%2x",
					                   (unsigned *)&c) ==
					            1);
					i += 2;
				} else
					c = (unsigned char)s[i];
				ch = (unsigned char)c;
				buf_append(&w, &ch, 1);
			}
		/* the word ends on a character boundary: its last char is
		 * ASCII or the last of a complete multibyte sequence */
		start = w.len;
		while (start > 0 &&
		       ((unsigned char)w.p[start - 1] & 0xc0) == 0x80)
			start--;
		assert_true(start > 0);
		ch = (unsigned char)w.p[start - 1];
		n = ch < 0x80 ? 1 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;
		assert_int_equal(w.len - (start - 1), n);
		assert_true(((unsigned char)w.p[0] & 0xc0) != 0x80);
		buf_append(out, w.p, w.len);
		s = e + 2;
	}
	buf_clear(&w);
	return enc;
}

static int
encode_text(const char *s, size_t col, struct buf *out)
{
	buf_reset(out);
	assert_int_equal(mime_encode_text(out, s, &col), 0);
	return 0;
}

static void
test_rfc2047_choice(void **state)
{
	struct buf out, dec;

	buf_init(&out, 0);
	buf_init(&dec, 0);
	/* mostly ASCII: Q is shorter */
	encode_text("café au lait", 9, &out);
	assert_string_equal(out.p, "=?UTF-8?Q?caf=C3=A9_au_lait?=");
	/* CJK: B is shorter (3 octets → 4 chars vs 9 in Q) */
	encode_text("日本語", 9, &out);
	assert_string_equal(out.p, "=?UTF-8?B?5pel5pys6Kqe?=");
	/* ASCII stays as is, and "=?" in ASCII gets encoded */
	encode_text("plain words", 9, &out);
	assert_string_equal(out.p, "plain words");
	/* leading white space would be lost after "Subject: " */
	encode_text(" lead", 9, &out);
	assert_string_equal(out.p, "=?UTF-8?Q?_lead?=");
	encode_text("a =?x?= b", 9, &out);
	assert_int_equal(ew_decode(out.p, &dec), 'B');
	assert_string_equal(dec.p, "a =?x?= b");
	/* Q's specials are hex-encoded in the phrase-safe set */
	encode_text("the na\xc3\xafve long_file?=\"x\" here and there", 9,
	            &out);
	assert_string_equal(out.p, "=?UTF-8?Q?the_na=C3=AFve_long=5Ffile=3F=3D"
	                           "=22x=22_here_and_there?=");
	buf_clear(&out);
	buf_clear(&dec);
}

/* Long non-ASCII text: words ≤ 75, lines ≤ 76 (RFC 2047 §2) unless the
 * first word, which cannot fold, starts too far right; never a split
 * char. */
static void
test_rfc2047_split(void **state)
{
	static const char *inputs[] = {
	    "日本語の件名日本語の件名日本語の件名日本語の件名日本語の件名"
	    "日本語の件名日本語の件名日本語の件名",
	    "🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉",
	    "Zoë Müller écrit très souvent à Zoë Müller, à Zoë Müller et à "
	    "Zoë Müller, encore et encore, ça déborde forcément",
	    "a🎉bé日c🎉dé日e🎉fé日g🎉hé日i🎉jé日k🎉lé日m🎉nè日o🎉pé日q🎉ré日",
	};
	struct buf out, dec;
	size_t i, col, line;
	const char *p;

	buf_init(&out, 0);
	buf_init(&dec, 0);
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		for (col = 0; col < 70; col += 9) {
			encode_text(inputs[i], col, &out);
			buf_reset(&dec);
			ew_decode(out.p, &dec);
			assert_string_equal(dec.p, inputs[i]);
			/* more than one word, and folded lines stay short */
			assert_non_null(strstr(strstr(out.p, "?=") + 2, "=?"));
			line = col;
			for (p = out.p; *p; p++) {
				if (*p == '\r') {
					line = 0;
					p++;
					continue;
				}
				line++;
				assert_true(line <= 76 || col > 45);
			}
		}
	}
	buf_clear(&out);
	buf_clear(&dec);
}

static void
test_phrase(void **state)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
	    {"Jane Doe", "Jane Doe"},
	    {"Doe, Jane", "\"Doe, Jane\""},
	    {"John Q. Public", "\"John Q. Public\""},
	    {"a\"b\\c", "\"a\\\"b\\\\c\""},
	    {"two  spaces", "\"two  spaces\""},
	    {"=?utf-8?q?x?=", "=?UTF-8?B?PT91dGYtOD9xP3g/PQ==?="},
	    {"Zoë Müller", "=?UTF-8?B?Wm/DqyBNw7xsbGVy?="},
	    {"tab\there", "=?UTF-8?Q?tab=09here?="},
	};
	struct buf out;
	size_t i, col;

	buf_init(&out, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf_reset(&out);
		col = 4;
		assert_int_equal(mime_encode_phrase(&out, rows[i].in, &col), 0);
		assert_string_equal(out.p, rows[i].want);
		assert_int_equal(col, 4 + strlen(rows[i].want));
	}
	/* a name that fits one encoded-word is not split to fill a line */
	buf_reset(&out);
	col = 60;
	assert_int_equal(
	    mime_encode_phrase(&out, "Zo\xc3\xab M\xc3\xbcller", &col), 0);
	assert_string_equal(out.p, "=?UTF-8?B?Wm/DqyBNw7xsbGVy?=");
	buf_clear(&out);
}

/* ASCII text folds before white space; unfolding gives it back. */
static void
test_fold_ascii(void **state)
{
	const char *s = "one two three four five six seven eight nine ten "
	                "eleven twelve thirteen fourteen fifteen sixteen "
	                "seventeen eighteen nineteen twenty";
	struct buf out, unf;
	size_t col = 9, i, line = 9;

	buf_init(&out, 0);
	buf_init(&unf, 0);
	assert_int_equal(mime_encode_text(&out, s, &col), 0);
	for (i = 0; i < out.len; i++) {
		if (out.p[i] == '\r') {
			assert_int_equal(out.p[i + 1], '\n');
			assert_int_equal(out.p[i + 2], ' ');
			i++;
			line = 0;
			continue;
		}
		line++;
		assert_true(line <= 78);
		buf_putc(&unf, out.p[i]);
	}
	assert_string_equal(unf.p, s);
	assert_non_null(strstr(out.p, "\r\n"));
	/* a word longer than a line cannot fold, but stays whole */
	buf_reset(&out);
	col = 9;
	assert_int_equal(mime_encode_text(&out,
	                                  "a bbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	                                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	                                  "bbbbbbbbbbbbbbbbbbbbbbbbbbb c",
	                                  &col),
	                 0);
	assert_non_null(strstr(out.p, "a\r\n bbb"));
	buf_clear(&out);
	buf_clear(&unf);
}

/* Quoted-printable: soft breaks at 76, trailing white space, '=', CR/LF. */
static void
test_qp_encoding(void **state)
{
	struct message m;
	struct buf out;
	char text[300];
	const char *body, *p;
	size_t line;

	memset(&m, 0, sizeof(m));
	m.from.address = "a@example.com";
	m.subject = "s";
	memset(text, 'a', 200);
	memcpy(text + 200, " =\xc3\xa9 \n\rx\t\r\n", 11);
	m.text = text;
	m.text_len = 211;
	buf_init(&out, 0);
	random_set_seed(FIXED_SEED);
	assert_int_equal(mime_build(&m, TEST_MSGID, FIXED_TIME, &out), 0);
	assert_non_null(
	    strstr(out.p, "Content-Transfer-Encoding: quoted-printable\r\n"));
	body = strstr(out.p, "\r\n\r\n") + 4;
	line = 0;
	for (p = body; *p; p++) {
		if (*p == '\r') {
			assert_true(line <= 76);
			line = 0;
			p++;
			continue;
		}
		line++;
	}
	assert_non_null(strstr(body, "aaaa=\r\naaaa"));
	assert_non_null(strstr(body, " =3D=C3=A9=20\r\n\r\nx=09\r\n"));
	buf_clear(&out);
}

/* Words too long to fold become encoded-words: no line passes 998. */
static void
test_long_words(void **state)
{
	struct message m;
	struct mailbox to;
	struct buf out, dec;
	char subj[MAX_SUBJECT_CHARS + 1], name[2001];
	const char *p, *e;

	memset(&m, 0, sizeof(m));
	memset(&to, 0, sizeof(to));
	memset(subj, 'a', MAX_SUBJECT_CHARS);
	subj[MAX_SUBJECT_CHARS] = '\0';
	memset(name, 'n', 2000);
	name[2000] = '\0';
	m.from.address = "a@example.com";
	to.address = "b@example.net";
	to.name = name;
	m.to = &to;
	m.nto = 1;
	m.subject = subj;
	m.text = "x";
	m.text_len = 1;
	buf_init(&out, 0);
	buf_init(&dec, 0);
	assert_int_equal(mime_build(&m, TEST_MSGID, FIXED_TIME, &out), 0);
	assert_lines(out.p, out.len);
	p = strstr(out.p, "\r\nSubject: ") + 11;
	e = strstr(p, "\r\nDate: ");
	buf_append(&dec, p, (size_t)(e - p));
	p = dec.p;
	buf_clear(&out);
	buf_init(&out, 0);
	ew_decode(p, &out);
	assert_string_equal(out.p, subj);
	buf_clear(&dec);
	buf_clear(&out);
}

/* The unfolded value of header name in the message p, in out. */
static void
header_value(const char *p, const char *name, struct buf *out)
{
	char key[128];
	const char *v, *e;

	snprintf(key, sizeof(key), "\r\n%s:", name);
	v = strstr(p, key);
	assert_non_null(v);
	v += strlen(key);
	buf_reset(out);
	for (;;) {
		e = strstr(v, "\r\n");
		buf_append(out, v, (size_t)(e - v));
		if (e[2] != ' ' && e[2] != '\t')
			break;
		v = e + 2;
	}
}

/*
 * RFC 2047 §2 and §5 in whole messages: every line holding an
 * encoded-word is ≤ 76, whatever the column a value starts at (the
 * length of the display names before it, of the header name); no inner
 * B word is padded; every word decodes to whole characters and the
 * value comes back.
 */
static void
test_rfc2047_header_lines(void **state)
{
	static const char *texts[] = {
	    "日本語の件名日本語の件名日本語の件名日本語の件名日本語の件名"
	    "日本語の件名日本語の件名日本語の件名",
	    "🎉日本語の件名日本語の件名日本語の件名日本語の件名日本語の件名"
	    "日本語の件名日本語の件名",
	    "Zoë Müller écrit très souvent à Zoë Müller, à Zoë Müller et à "
	    "Zoë Müller, encore et encore, ça déborde forcément",
	    "a🎉bé日c🎉dé日e🎉fé日g🎉hé日i🎉jé日k🎉lé日m🎉nè日o🎉pé日q🎉ré日",
	    "Grüße",
	    "Ünïcödé Ünïcödé Ünïcödé",
	    "Ωmega Ωmega Ωmega Ωmega Ωmega Ωmega Ωmega Ωmega",
	};
	static const char *hnames[] = {
	    "X-N",
	    "X-Note-Of-Twenty-Ch",
	    "X-A-Header-Name-Of-Exactly-Forty-Chars-",
	    "X-A-Header-Name-Well-Over-Fifty-Characters-Long-So-Values-Wrap",
	};
	struct message m;
	struct mailbox to[2];
	struct header h;
	struct buf out, val, dec;
	size_t i, k, pad, ntexts = sizeof(texts) / sizeof(texts[0]);
	char name[256];

	buf_init(&out, 0);
	buf_init(&val, 0);
	buf_init(&dec, 0);
	for (i = 0; i < ntexts; i++)
		for (k = 0; k < sizeof(hnames) / sizeof(hnames[0]); k++)
			for (pad = 0; pad < 40; pad += 7) {
				memset(&m, 0, sizeof(m));
				memset(to, 0, sizeof(to));
				memset(&h, 0, sizeof(h));
				/* a display name pad + 1 ASCII chars
				 * longer: the next value starts further
				 * right */
				memset(name, 'n', pad + 1);
				snprintf(name + pad + 1, sizeof(name) - pad - 1,
				         " %s", texts[(i + k) % ntexts]);
				m.from.address = "a@example.com";
				m.from.name = texts[i];
				to[0].address = "b@example.net";
				to[0].name = name;
				to[1].address = "c@example.net";
				to[1].name = texts[i];
				m.to = to;
				m.nto = 2;
				m.subject = texts[(i + pad) % ntexts];
				h.name = hnames[k];
				h.value = texts[i];
				m.headers = &h;
				m.nheaders = 1;
				m.text = "x";
				m.text_len = 1;
				buf_reset(&out);
				assert_int_equal(mime_build(&m, TEST_MSGID,
				                            FIXED_TIME, &out),
				                 0);
				assert_ew_lines(out.p, out.len);
				assert_no_inner_padding(out.p, out.len);
				header_value(out.p, "Subject", &val);
				buf_reset(&dec);
				ew_decode(val.p, &dec);
				assert_string_equal(dec.p, m.subject);
				header_value(out.p, hnames[k], &val);
				buf_reset(&dec);
				ew_decode(val.p, &dec);
				assert_string_equal(dec.p, texts[i]);
			}
	buf_clear(&out);
	buf_clear(&val);
	buf_clear(&dec);
}

/* A run of 3-octet characters after a 4-octet one never ends a B word on
 * a multiple of 3 octets: such a word is written in Q. */
static void
test_rfc2047_no_padding(void **state)
{
	struct buf out, dec;
	const char *s = "🎉日本語の件名日本語の件名日本語の件名日本語の件名";

	buf_init(&out, 0);
	buf_init(&dec, 0);
	encode_text(s, 9, &out);
	assert_no_inner_padding(out.p, out.len);
	assert_non_null(strstr(out.p, "=?UTF-8?Q?=F0=9F=8E=89"));
	ew_decode(out.p, &dec);
	assert_string_equal(dec.p, s);
	buf_clear(&out);
	buf_clear(&dec);
}

/* Keywords (RFC 5322 §3.6.5): each phrase on its own; the commas never
 * inside an encoded-word, white space around an encoded phrase (RFC
 * 2047 §5 (3)); a plain list as given. */
static void
test_keywords(void **state)
{
	struct message m;
	struct header h;
	struct buf out, val;

	memset(&m, 0, sizeof(m));
	memset(&h, 0, sizeof(h));
	m.from.address = "a@example.com";
	m.subject = "k";
	m.text = "x";
	m.text_len = 1;
	m.headers = &h;
	m.nheaders = 1;
	h.name = "Keywords";
	buf_init(&out, 0);
	buf_init(&val, 0);
	h.value = "café,  thé au lait ,plain words,,日本語";
	assert_int_equal(mime_build(&m, TEST_MSGID, FIXED_TIME, &out), 0);
	header_value(out.p, "Keywords", &val);
	assert_string_equal(val.p, " =?UTF-8?B?Y2Fmw6k=?= , "
	                           "=?UTF-8?Q?th=C3=A9_au_lait?= , plain "
	                           "words, =?UTF-8?B?5pel5pys6Kqe?=");
	h.value = "alpha, beta,gamma";
	buf_reset(&out);
	assert_int_equal(mime_build(&m, TEST_MSGID, FIXED_TIME, &out), 0);
	header_value(out.p, "Keywords", &val);
	assert_string_equal(val.p, " alpha, beta,gamma");
	buf_clear(&out);
	buf_clear(&val);
}

/* An IDN domain is written in A-labels when the local part is ASCII. */
static void
test_idn_address(void **state)
{
	struct message m;
	struct mailbox to[2];
	struct buf out;

	memset(&m, 0, sizeof(m));
	memset(to, 0, sizeof(to));
	m.from.address = "a@example.com";
	to[0].address = "jane@b\xc3\xbc"
	                "cher.example";
	to[0].domain = "xn--bcher-kva.example";
	to[1].address = "j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example";
	to[1].domain = "xn--bcher-kva.example";
	to[1].utf8_local = 1;
	m.to = to;
	m.nto = 2;
	m.subject = "s";
	m.text = "x";
	m.text_len = 1;
	buf_init(&out, 0);
	assert_int_equal(mime_build(&m, TEST_MSGID, FIXED_TIME, &out), 0);
	assert_non_null(strstr(out.p, "\r\nTo: jane@xn--bcher-kva.example, "
	                              "j\xc3\xb6rg@b\xc3\xbc"
	                              "cher.example\r\n"));
	buf_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_only),
	    cmocka_unit_test(test_html_only),
	    cmocka_unit_test(test_both),
	    cmocka_unit_test(test_inline_html),
	    cmocka_unit_test(test_attachments),
	    cmocka_unit_test(test_inline_and_attachment),
	    cmocka_unit_test(test_intl),
	    cmocka_unit_test(test_specials),
	    cmocka_unit_test(test_long),
	    cmocka_unit_test(test_qp),
	    cmocka_unit_test(test_custom_headers),
	    cmocka_unit_test(test_cc_reply_to),
	    cmocka_unit_test(test_rfc2047),
	    cmocka_unit_test(test_reproducible),
	    cmocka_unit_test(test_max),
	    cmocka_unit_test(test_rfc2047_choice),
	    cmocka_unit_test(test_rfc2047_split),
	    cmocka_unit_test(test_phrase),
	    cmocka_unit_test(test_fold_ascii),
	    cmocka_unit_test(test_qp_encoding),
	    cmocka_unit_test(test_long_words),
	    cmocka_unit_test(test_idn_address),
	    cmocka_unit_test(test_rfc2047_header_lines),
	    cmocka_unit_test(test_rfc2047_no_padding),
	    cmocka_unit_test(test_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
