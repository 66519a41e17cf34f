/*
 * test_dkim: src/mail/dkim.c — relaxed canonicalization (RFC 6376
 * §3.4.5), the RFC 8463 Appendix A ed25519-sha256 vector, and signatures
 * checked with OpenSSL over canonical data written out by hand here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* the static canonicalization helpers are part of what is tested */
#include "../../src/mail/dkim.c"

#include <openssl/sha.h>
#include <pthread.h>

static char *rsa_pem, *ed_pem;
static struct dkim_key *rsa_key, *ed_key;

static int
setup(void **state)
{
	if (dkim_keygen_rsa(2048, &rsa_pem) == -1 ||
	    dkim_keygen_ed25519(&ed_pem) == -1)
		return -1;
	rsa_key = dkim_key_load(rsa_pem);
	ed_key = dkim_key_load(ed_pem);
	return rsa_key != NULL && ed_key != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	dkim_key_free(rsa_key);
	dkim_key_free(ed_key);
	free(rsa_pem);
	free(ed_pem);
	return 0;
}

/* base64(sha256(s)), computed without dkim.c. */
static void
sha_b64(const char *s, size_t n, char out[45])
{
	unsigned char h[32];

	SHA256((const unsigned char *)s, n, h);
	EVP_EncodeBlock((unsigned char *)out, h, 32);
}

static void
body_hash_is(const char *body, const char *canon)
{
	char got[45], want[45];

	assert_int_equal(dkim_body_hash(body, strlen(body), got), 0);
	sha_b64(canon, strlen(canon), want);
	assert_string_equal(got, want);
}

/* RFC 6376 §3.4.5, relaxed/relaxed, and the edges of §3.4.4. */
static void
test_canon_body(void **state)
{
	body_hash_is(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	/* empty body and only empty lines: nothing (§3.4.4) */
	body_hash_is("", "");
	body_hash_is("\r\n", "");
	body_hash_is("\r\n\r\n \t\r\n", "");
	/* a last line without CRLF gets one */
	body_hash_is("abc", "abc\r\n");
	body_hash_is("a  \r\n\r\nb\t\tc\t", "a\r\n\r\nb c\r\n");
	/* inner empty lines stay */
	body_hash_is("x\r\n\r\n\r\ny\r\n", "x\r\n\r\n\r\ny\r\n");
	/* the well-known hash of the empty relaxed body */
	{
		char got[45];

		assert_int_equal(dkim_body_hash("", 0, got), 0);
		assert_string_equal(
		    got, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	}
}

static void
header_canon_is(const char *field, const char *want)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(dkim_canon_header(&b, field, strlen(field), 0), 0);
	assert_string_equal(b.p, want);
	buf_clear(&b);
}

static void
test_canon_header(void **state)
{
	/* RFC 6376 §3.4.5 */
	header_canon_is("A: X", "a:X\r\n");
	header_canon_is("B : Y\t\r\n\tZ  ", "b:Y Z\r\n");
	header_canon_is("SUBJECT:\r\n  Hello\t\tthere  \r\n world ",
	                "subject:Hello there world\r\n");
	header_canon_is("X-Empty:", "x-empty:\r\n");
	header_canon_is("X-Empty:   ", "x-empty:\r\n");
}

/*
 * RFC 6376 §3.4.2 done one byte at a time, written apart from dkim.c, to
 * check the run copying of dkim_canon_header against.
 */
static void
ref_canon_header(struct buf *out, const char *p, size_t len)
{
	size_t i, n, k;
	int sp = 0, started = 0;

	for (n = 0; n < len && p[n] != ':'; n++)
		;
	i = n < len ? n + 1 : len;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	for (k = 0; k < n; k++)
		buf_putc(out, p[k] >= 'A' && p[k] <= 'Z' ? p[k] + 32 : p[k]);
	buf_putc(out, ':');
	for (; i < len; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (p[i] == ' ' || p[i] == '\t') {
			sp = 1;
			continue;
		}
		/* no SP before the first byte of the value */
		if (sp && started)
			buf_putc(out, ' ');
		sp = 0;
		started = 1;
		buf_putc(out, p[i]);
	}
	buf_puts(out, "\r\n");
}

/* Runs of kept bytes, single and repeated WSP at every place, and random
 * fields compared with the byte-at-a-time reference. */
static void
test_canon_header_runs(void **state)
{
	static const char alpha[] = "aB: \t\r\n,;x";
	struct buf got, want;
	char field[64];
	unsigned int seed = 1;
	size_t len, i;
	int round;

	header_canon_is("To: a b c", "to:a b c\r\n");
	header_canon_is("To: a b c ", "to:a b c\r\n");
	header_canon_is("To: a b  c", "to:a b c\r\n");
	header_canon_is("To: a \r\n b\tc", "to:a b c\r\n");
	header_canon_is("To:a \t b", "to:a b\r\n");
	header_canon_is("To: a\r\nb", "to:ab\r\n");
	header_canon_is("To: x ", "to:x\r\n");
	header_canon_is("To: x  y z ", "to:x y z\r\n");
	header_canon_is("No-Colon Here", "no-colon here:\r\n");
	header_canon_is("Mixed-CASE \t:v", "mixed-case:v\r\n");
	header_canon_is(":v", ":v\r\n");

	for (round = 0; round < 20000; round++) {
		len = (size_t)(rand_r(&seed) % (sizeof(field) - 1));
		for (i = 0; i < len; i++)
			field[i] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		field[len] = '\0';
		buf_init(&got, 0);
		buf_init(&want, 0);
		assert_int_equal(dkim_canon_header(&got, field, len, 0), 0);
		ref_canon_header(&want, field, len);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.p, want.p, got.len);
		buf_clear(&got);
		buf_clear(&want);
	}
}

/* Fields split from a message: folding, name WSP, the body offset. */
static void
test_split(void **state)
{
	const char *m = "From: a\r\nTo: b,\r\n c\r\nSubject : s\r\n\r\nbody";
	struct dkim_field *f;
	size_t nf, body;

	assert_int_equal(dkim_split(m, strlen(m), &f, &nf, &body), 0);
	assert_int_equal(nf, 3);
	assert_int_equal(f[1].len, strlen("To: b,\r\n c"));
	assert_int_equal(f[2].nlen, 7);
	assert_string_equal(m + body, "body");
	free(f);
	/* no body at all */
	m = "From: a\r\n";
	assert_int_equal(dkim_split(m, strlen(m), &f, &nf, &body), 0);
	assert_int_equal(nf, 1);
	assert_int_equal(body, strlen(m));
	free(f);
}

/* RFC 8463 Appendix A: key, DNS record, bh and b, exactly. */
static void
test_rfc8463(void **state)
{
	static const char seed_b64[] =
	    "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
	static const char body[] = "Hi.\r\n\r\nWe lost the game.  Are you "
	                           "hungry yet?\r\n\r\nJoe.\r\n";
	static const char *const hdrs[] = {
	    "From: Joe SixPack <joe@football.example.com>",
	    "To: Suzie Q <suzie@shopping.example.net>",
	    "Subject: Is dinner ready?",
	    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
	    "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
	};
	static const char sig[] =
	    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	    " d=football.example.com; i=@football.example.com;\r\n"
	    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	    " subject : date : message-id : from : subject : date;\r\n"
	    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	    " b=";
	static const char want_b[] =
	    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus"
	    "Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
	unsigned char seed[48], s[DKIM_SIG_MAX];
	struct dkim_key k = {NULL, 1};
	struct buf data, b64;
	char bh[45], *txt;
	size_t i, slen;
	EVP_MD_CTX *ctx;
	unsigned char h[32];

	assert_int_equal(
	    EVP_DecodeBlock(seed, (const unsigned char *)seed_b64, 44), 33);
	k.pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(k.pk);
	txt = dkim_dns_txt(&k);
	assert_string_equal(txt,
	                    "v=DKIM1; k=ed25519; "
	                    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	free(txt);

	assert_int_equal(dkim_body_hash(body, strlen(body), bh), 0);
	assert_string_equal(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");

	/* h= from:to:subject:date:message-id, then from/subject/date
	 * again, which select nothing (RFC 6376 §5.4.2) */
	buf_init(&data, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(
		    dkim_canon_header(&data, hdrs[i], strlen(hdrs[i]), 0), 0);
	assert_int_equal(dkim_canon_header(&data, sig, strlen(sig), 1), 0);
	assert_int_equal(dkim_sign_data(&k, data.p, data.len, s, &slen), 0);
	buf_init(&b64, 0);
	assert_int_equal(base64_encode(&b64, s, slen, 0), 0);
	/* Ed25519 is deterministic: the very bytes of the RFC */
	assert_string_equal(b64.p, want_b);

	/* and it verifies as pure Ed25519 over sha256(data) */
	SHA256((const unsigned char *)data.p, data.len, h);
	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k.pk), 1);
	assert_int_equal(EVP_DigestVerify(ctx, s, slen, h, 32), 1);
	EVP_MD_CTX_free(ctx);
	buf_clear(&b64);
	buf_clear(&data);
	EVP_PKEY_free(k.pk);
}

/* The value of tag t in a DKIM-Signature field, whitespace removed. */
static char *
tag(const char *field, const char *t)
{
	static char out[1024];
	char compact[4096], *p, *e;
	size_t n = 0, tl = strlen(t);

	field = strchr(field, ':') + 1;
	for (; *field != '\0' && n + 1 < sizeof(compact); field++)
		if (!strchr(" \t\r\n", *field))
			compact[n++] = *field;
	compact[n] = '\0';
	for (p = compact; p != NULL;
	     p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
		if (strncmp(p, t, tl) == 0 && p[tl] == '=') {
			p += tl + 1;
			e = strchr(p, ';');
			n = e ? (size_t)(e - p) : strlen(p);
			memcpy(out, p, n);
			out[n] = '\0';
			return out;
		}
	}
	return NULL;
}

/*
 * Relaxed canonical form of the signature field with the b= value
 * removed, written independently of dkim.c: unfold, one SP per WSP run,
 * no WSP at the ends, no final CRLF (RFC 6376 §3.7).
 */
static void
sig_canon(const char *field, size_t len, struct buf *out)
{
	const char *b = NULL, *p;
	int sp = 0;

	for (p = field; p + 2 < field + len; p++)
		if ((p[0] == ' ' || p[0] == '\t') && p[1] == 'b' && p[2] == '=')
			b = p + 3;
	assert_non_null(b);
	buf_puts(out, "dkim-signature:");
	p = strchr(field, ':') + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	for (; p < b; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == ' ' || *p == '\t') {
			sp = 1;
			continue;
		}
		if (sp)
			buf_putc(out, ' ');
		sp = 0;
		buf_putc(out, *p);
	}
}

/* Checks every line of the signature fields: ≤ 78 columns, CRLF, folded
 * with a tab. Returns the number of fields. */
static int
check_folding(const char *s, size_t len)
{
	const char *p = s, *e;
	int fields = 0;

	while (p < s + len) {
		e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p <= 78);
		if (strncmp(p, "DKIM-Signature: ", 16) == 0)
			fields++;
		else
			assert_int_equal(*p, '\t');
		p = e + 2;
	}
	return fields;
}

/*
 * Verifies field (one DKIM-Signature of out) with the key the test holds:
 * bh against the canonical body given, b against the canonical headers
 * given plus the signature field. Returns 1 when both hold.
 */
static int
verify(const char *field, size_t flen, const struct dkim_key *k,
       const char *canon_hdrs, const char *canon_body)
{
	unsigned char sig[DKIM_SIG_MAX], h[32];
	char want_bh[45];
	struct buf data;
	EVP_MD_CTX *ctx;
	const char *b;
	int n, ok;

	sha_b64(canon_body, strlen(canon_body), want_bh);
	if (strcmp(tag(field, "bh"), want_bh) != 0)
		return 0;
	b = tag(field, "b");
	n = EVP_DecodeBlock(sig, (const unsigned char *)b, (int)strlen(b));
	n -= (b[strlen(b) - 1] == '=') + (b[strlen(b) - 2] == '=');
	buf_init(&data, 0);
	buf_puts(&data, canon_hdrs);
	sig_canon(field, flen, &data);
	ctx = EVP_MD_CTX_new();
	if (k->ed) {
		SHA256((const unsigned char *)data.p, data.len, h);
		assert_int_equal(
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pk), 1);
		ok = EVP_DigestVerify(ctx, sig, (size_t)n, h, 32) == 1;
	} else {
		assert_int_equal(
		    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pk),
		    1);
		ok = EVP_DigestVerify(ctx, sig, (size_t)n,
		                      (const unsigned char *)data.p,
		                      data.len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	buf_clear(&data);
	return ok;
}

/* Signs msg with both keys; returns the two fields split in f1/f2. */
static void
sign2(const char *msg, struct buf *out, const char **f2, size_t *l1, size_t *l2)
{
	buf_init(out, 0);
	assert_int_equal(dkim_sign(msg, strlen(msg), "example.com", "pigeon",
	                           1764137621, rsa_key, ed_key, out),
	                 0);
	assert_int_equal(check_folding(out->p, out->len), 2);
	*f2 = strstr(out->p + 1, "DKIM-Signature: ");
	assert_non_null(*f2);
	*l1 = (size_t)(*f2 - out->p);
	*l2 = out->len - *l1;
}

/* Folded headers, a duplicate To, unsigned headers, a messy body. */
static void
test_sign_verify(void **state)
{
	static const char msg[] = "From: A <a@example.com>\r\n"
	                          "To: b@example.net,\r\n\t c@example.net\r\n"
	                          "Subject:  Hello   \r\n  world \r\n"
	                          "X-Other: not signed\r\n"
	                          "To: d@example.net\r\n"
	                          "Date: Thu, 26 Nov 2026 06:13:41 +0000\r\n"
	                          "\r\n"
	                          "Hello  there \t\r\n\r\nbye\r\n\r\n\r\n";
	/* bottom-up: the second To (d@) is picked first */
	static const char hdrs[] = "from:A <a@example.com>\r\n"
	                           "to:d@example.net\r\n"
	                           "to:b@example.net, c@example.net\r\n"
	                           "subject:Hello world\r\n"
	                           "date:Thu, 26 Nov 2026 06:13:41 +0000\r\n";
	static const char body[] = "Hello there\r\n\r\nbye\r\n";
	const char *f2;
	struct buf out;
	size_t l1, l2;
	char *r1, *r2;

	sign2(msg, &out, &f2, &l1, &l2);
	r1 = strndup(out.p, l1);
	r2 = strndup(f2, l2);
	assert_string_equal(tag(r1, "a"), "rsa-sha256");
	assert_string_equal(tag(r2, "a"), "ed25519-sha256");
	assert_string_equal(tag(r1, "h"), "from:to:to:subject:date:from");
	assert_string_equal(tag(r2, "h"), "from:to:to:subject:date:from");
	assert_string_equal(tag(r1, "c"), "relaxed/relaxed");
	assert_string_equal(tag(r1, "d"), "example.com");
	assert_string_equal(tag(r1, "s"), "pigeon");
	assert_string_equal(tag(r1, "t"), "1764137621");
	assert_string_equal(tag(r1, "v"), "1");
	assert_null(tag(r1, "l"));
	assert_true(verify(r1, l1, rsa_key, hdrs, body));
	assert_true(verify(r2, l2, ed_key, hdrs, body));
	/* a changed header, or the wrong key, fails */
	assert_false(verify(
	    r1, l1, rsa_key,
	    "from:A <a@example.com>\r\nto:b@example.net, c@example.net\r\n"
	    "to:d@example.net\r\nsubject:Hello world\r\n"
	    "date:Thu, 26 Nov 2026 06:13:41 +0000\r\n",
	    body));
	assert_false(verify(r1, l1, rsa_key, hdrs, "Hello there\r\n"));
	assert_false(verify(r2, l2, rsa_key, hdrs, body));
	free(r1);
	free(r2);
	buf_clear(&out);
}

/* Empty body; only From: h=from:from. Every listed header signed. */
static void
test_sign_minimal_and_full(void **state)
{
	static const char m1[] = "From: a@example.com\r\n\r\n";
	static const char m2[] =
	    "References: <r@x>\r\n"
	    "In-Reply-To: <r@x>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	    "List-Unsubscribe: <https://example.com/u>\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Message-ID: <m@example.com>\r\n"
	    "Date: Thu, 26 Nov 2026 06:13:41 +0000\r\n"
	    "Subject: s\r\n"
	    "Reply-To: r@example.com\r\n"
	    "Cc: c@example.net\r\n"
	    "To: t@example.net\r\n"
	    "FROM: f@example.com\r\n"
	    "\r\n"
	    "x";
	static const char h2[] =
	    "from:f@example.com\r\nto:t@example.net\r\ncc:c@example.net\r\n"
	    "reply-to:r@example.com\r\nsubject:s\r\n"
	    "date:Thu, 26 Nov 2026 06:13:41 +0000\r\n"
	    "message-id:<m@example.com>\r\nmime-version:1.0\r\n"
	    "content-type:text/plain; charset=utf-8\r\n"
	    "content-transfer-encoding:7bit\r\n"
	    "list-unsubscribe:<https://example.com/u>\r\n"
	    "list-unsubscribe-post:List-Unsubscribe=One-Click\r\n"
	    "in-reply-to:<r@x>\r\nreferences:<r@x>\r\n";
	const char *f2;
	struct buf out;
	size_t l1, l2;
	char *r1, *r2;

	sign2(m1, &out, &f2, &l1, &l2);
	r1 = strndup(out.p, l1);
	r2 = strndup(f2, l2);
	assert_string_equal(tag(r1, "h"), "from:from");
	assert_string_equal(tag(r1, "bh"),
	                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	assert_true(verify(r1, l1, rsa_key, "from:a@example.com\r\n", ""));
	assert_true(verify(r2, l2, ed_key, "from:a@example.com\r\n", ""));
	free(r1);
	free(r2);
	buf_clear(&out);

	sign2(m2, &out, &f2, &l1, &l2);
	r1 = strndup(out.p, l1);
	r2 = strndup(f2, l2);
	assert_string_equal(
	    tag(r1, "h"),
	    "from:to:cc:reply-to:subject:date:message-id:mime-version:"
	    "content-type:content-transfer-encoding:list-unsubscribe:"
	    "list-unsubscribe-post:in-reply-to:references:from");
	assert_true(verify(r1, l1, rsa_key, h2, "x\r\n"));
	assert_true(verify(r2, l2, ed_key, h2, "x\r\n"));
	free(r1);
	free(r2);
	buf_clear(&out);
}

/* One key alone; a failing sign leaves out as it was. */
static void
test_sign_one_key(void **state)
{
	static const char m[] = "From: a@example.com\r\n\r\nhi\r\n";
	struct buf out;

	buf_init(&out, 0);
	buf_puts(&out, "keep");
	assert_int_equal(
	    dkim_sign(m, strlen(m), "example.com", "s", 1, NULL, ed_key, &out),
	    0);
	assert_int_equal(check_folding(out.p + 4, out.len - 4), 1);
	assert_non_null(strstr(out.p, "a=ed25519-sha256"));
	buf_reset(&out);
	assert_int_equal(
	    dkim_sign(m, strlen(m), "example.com", "s", 1, NULL, NULL, &out),
	    -1);
	buf_clear(&out);

	/* d= and s= cannot smuggle tags or line breaks */
	buf_init(&out, 0);
	assert_int_equal(dkim_sign(m, strlen(m), "example.com; l=0", "s", 1,
	                           NULL, ed_key, &out),
	                 -1);
	assert_int_equal(dkim_sign(m, strlen(m), "example.com", "s\r\nX: y", 1,
	                           NULL, ed_key, &out),
	                 -1);
	assert_int_equal(
	    dkim_sign(m, strlen(m), "", "s", 1, NULL, ed_key, &out), -1);
	assert_int_equal(out.len, 0);
	buf_clear(&out);

	/* a cap too small for the second signature */
	buf_init(&out, 600);
	buf_puts(&out, "keep");
	assert_int_equal(dkim_sign(m, strlen(m), "example.com", "s", 1, rsa_key,
	                           ed_key, &out),
	                 DKIM_TOO_BIG);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.p, "keep");
	buf_clear(&out);
}

/*
 * The signed headers are canonicalized once per message; each signature
 * puts its own field after them and takes it off again, also when it
 * fails, so both sign the same header bytes.
 */
static void
test_hdrs_shared(void **state)
{
	static const char m[] = "To: b@example.net\r\n"
	                        "From: A <a@example.com>\r\n"
	                        "X-No: x\r\n"
	                        "to: c@example.net\r\n"
	                        "Subject:  Hi \r\n"
	                        "\r\n"
	                        "body\r\n";
	static const char canon[] = "from:A <a@example.com>\r\n"
	                            "to:c@example.net\r\n"
	                            "to:b@example.net\r\n"
	                            "subject:Hi\r\n";
	struct dkim_field *f;
	struct dkim_hdrs h;
	struct buf out;
	const char *f2;
	size_t nf, body, l1;
	char bh[45], *r1, *r2;

	assert_int_equal(dkim_split(m, strlen(m), &f, &nf, &body), 0);
	assert_int_equal(dkim_hdrs_init(&h, f, nf), 0);
	free(f); /* h borrows nothing from the fields */
	assert_int_equal(h.nnames, 4);
	assert_string_equal(h.names[0], "from");
	assert_string_equal(h.names[1], "to");
	assert_string_equal(h.names[2], "to");
	assert_string_equal(h.names[3], "subject");
	assert_string_equal(h.canon.p, canon);
	assert_int_equal(dkim_body_hash(m + body, strlen(m + body), bh), 0);

	buf_init(&out, 0);
	assert_int_equal(
	    dkim_sign_one(&h, "example.com", "s", 1, rsa_key, bh, &out), 0);
	assert_int_equal(h.canon.len, strlen(canon));
	assert_string_equal(h.canon.p, canon);
	l1 = out.len;
	assert_int_equal(
	    dkim_sign_one(&h, "example.com", "s2", 1, ed_key, bh, &out), 0);
	assert_int_equal(h.canon.len, strlen(canon));
	assert_string_equal(h.canon.p, canon);
	f2 = out.p + l1;
	assert_memory_equal(f2, "DKIM-Signature: ", 16);
	r1 = strndup(out.p, l1);
	r2 = strndup(f2, out.len - l1);
	assert_string_equal(tag(r1, "h"), "from:to:to:subject:from");
	assert_string_equal(tag(r2, "h"), "from:to:to:subject:from");
	assert_true(verify(r1, l1, rsa_key, canon, "body\r\n"));
	assert_true(verify(r2, out.len - l1, ed_key, canon, "body\r\n"));
	free(r1);
	free(r2);
	buf_clear(&out);

	/* out too small: fails after signing, h is as it was */
	buf_init(&out, 10);
	assert_int_equal(
	    dkim_sign_one(&h, "example.com", "s", 1, ed_key, bh, &out),
	    DKIM_TOO_BIG);
	assert_int_equal(h.canon.len, strlen(canon));
	assert_string_equal(h.canon.p, canon);
	buf_clear(&out);
	dkim_hdrs_clear(&h);
}

/* One thread's share of test_threads: signs again and again. */
struct sign_job {
	const char *msg;
	const char *want; /* the single-thread output */
	int bad;          /* signatures that differed or failed */
};

static void *
sign_thread(void *arg)
{
	struct sign_job *j = arg;
	struct buf out;
	int i;

	buf_init(&out, 0);
	for (i = 0; i < 20; i++) {
		buf_reset(&out);
		if (dkim_sign(j->msg, strlen(j->msg), "example.com", "pigeon",
		              1764137621, rsa_key, ed_key, &out) == -1 ||
		    strcmp(out.p, j->want) != 0)
			j->bad++;
	}
	buf_clear(&out);
	return NULL;
}

/* The shared SHA-256 and keys sign from several threads at once, with
 * the bytes of one thread (both signatures are deterministic). */
static void
test_threads(void **state)
{
	static const char m[] = "From: a@example.com\r\nTo: b@example.net\r\n"
	                        "Subject: threads\r\n\r\nbody\r\n";
	struct sign_job jobs[4];
	pthread_t th[4];
	struct buf want;
	int i;

	assert_non_null(dkim_sha256());
	assert_ptr_equal(dkim_sha256(), dkim_sha256());
	assert_int_equal(EVP_MD_get_size(dkim_sha256()), 32);
	buf_init(&want, 0);
	assert_int_equal(dkim_sign(m, strlen(m), "example.com", "pigeon",
	                           1764137621, rsa_key, ed_key, &want),
	                 0);
	for (i = 0; i < 4; i++) {
		jobs[i].msg = m;
		jobs[i].want = want.p;
		jobs[i].bad = 0;
		assert_int_equal(
		    pthread_create(&th[i], NULL, sign_thread, &jobs[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].bad, 0);
	}
	buf_clear(&want);
}

static void
test_keys(void **state)
{
	unsigned char raw[64];
	char *txt, *pem;
	struct dkim_key *k;

	assert_non_null(strstr(rsa_pem, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(ed_pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(EVP_PKEY_get_bits(rsa_key->pk), 2048);

	/* RSA: base64 SubjectPublicKeyInfo of a 2048-bit key */
	txt = dkim_dns_txt(rsa_key);
	assert_non_null(txt);
	assert_memory_equal(txt, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEF",
	                    42);
	assert_int_equal(strlen(txt), 18 + 392);
	free(txt);

	/* ed25519: the raw 32-byte key */
	txt = dkim_dns_txt(ed_key);
	assert_memory_equal(txt, "v=DKIM1; k=ed25519; p=", 22);
	assert_int_equal(strlen(txt + 22), 44);
	assert_int_equal(EVP_DecodeBlock(raw, (unsigned char *)txt + 22, 44),
	                 33);
	free(txt);

	/* a PEM round trip gives the same public key */
	assert_int_equal(dkim_pem(ed_key->pk, &pem), 0);
	k = dkim_key_load(pem);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k->pk, ed_key->pk), 1);
	dkim_key_free(k);
	free(pem);

	assert_null(dkim_key_load("not a key"));
	assert_null(dkim_key_load(NULL));
	assert_int_equal(dkim_keygen_rsa(512, &pem), -1);
	assert_null(pem);
	dkim_key_free(NULL);
}

/* A long domain and selector still fold under 78 columns where the
 * tokens allow it. */
static void
test_folding_long(void **state)
{
	static const char m[] = "From: a@example.com\r\nTo: b@example.net\r\n"
	                        "Subject: s\r\n\r\nbody\r\n";
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(
	    dkim_sign(
	        m, strlen(m),
	        "a-rather-long-subdomain.of-a-long-domain-name.example.com",
	        "selector-2026-11", 1764137621, rsa_key, ed_key, &out),
	    0);
	assert_int_equal(check_folding(out.p, out.len), 2);
	buf_clear(&out);
}

/*
 * h= names every instance of a signed header (RFC 6376 §5.4.2), so the
 * fields grow with them; passing out's cap is DKIM_TOO_BIG, not an error
 * of the signer, and out is left as it was.
 */
static void
test_cap(void **state)
{
	struct buf b, out;
	size_t full;

	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "From: a@example.com\r\n"), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(
		    buf_printf(&b, "List-Unsubscribe: <https://e.x/%d>\r\n", i),
		    0);
	assert_int_equal(buf_puts(&b, "\r\nx\r\n"), 0);
	buf_init(&out, 0);
	assert_int_equal(
	    dkim_sign(b.p, b.len, "example.com", "s", 1, rsa_key, ed_key, &out),
	    0);
	full = out.len;
	assert_true(full > 2 * 300 * strlen("list-unsubscribe:"));
	buf_clear(&out);
	/* exactly room: signed; a byte less, for either field: too big */
	buf_init(&out, full);
	assert_int_equal(
	    dkim_sign(b.p, b.len, "example.com", "s", 1, rsa_key, ed_key, &out),
	    0);
	buf_clear(&out);
	buf_init(&out, full - 1);
	assert_int_equal(buf_puts(&out, "X"), 0);
	assert_int_equal(
	    dkim_sign(b.p, b.len, "example.com", "s", 1, rsa_key, ed_key, &out),
	    DKIM_TOO_BIG);
	assert_int_equal(out.len, 1);
	buf_clear(&out);
	buf_init(&out, 100);
	assert_int_equal(
	    dkim_sign(b.p, b.len, "example.com", "s", 1, rsa_key, NULL, &out),
	    DKIM_TOO_BIG);
	assert_int_equal(out.len, 0);
	buf_clear(&out);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canon_body),
	    cmocka_unit_test(test_canon_header),
	    cmocka_unit_test(test_canon_header_runs),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_rfc8463),
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_sign_minimal_and_full),
	    cmocka_unit_test(test_sign_one_key),
	    cmocka_unit_test(test_hdrs_shared),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_folding_long),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
