/*
 * dkim: DKIM signing of outgoing messages (RFC 6376) with rsa-sha256 and
 * ed25519-sha256 (RFC 8463), and the key handling around it: generation,
 * PEM loading and the DNS TXT record.
 *
 * Only what pigeon signs with is here: c=relaxed/relaxed, no l=, no i=, no
 * z=. Verification is not: pigeon never checks signatures (tests use
 * OpenSSL and dkimpy for that).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../core/base64.h"
#include "dkim.h"

#define DKIM_FOLD 78      /* fold the signature field at this column */
#define DKIM_SIG_MAX 1024 /* bytes of a signature (RSA up to 8192 bits) */

struct dkim_key {
	EVP_PKEY *pk; /* owned */
	int ed;       /* 1 for Ed25519, 0 for RSA */
};

/* SPEC §6.2: the headers pigeon signs, in this order. */
const char *const dkim_signed_headers[] = {
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "in-reply-to",
    "references",
    NULL,
};

/* One header field of the message being signed; borrowed. */
struct dkim_field {
	const char *p; /* the field, from its name */
	size_t len;    /* up to, not including, its final CRLF */
	size_t nlen;   /* name length, trailing WSP removed */
};

/*
 * The signed header fields of one message, canonicalized once per
 * dkim_sign call: every signature covers the same bytes, followed by its
 * own DKIM-Signature field (RFC 6376 §3.7).
 */
struct dkim_hdrs {
	struct buf canon;   /* relaxed fields in h= order, each with CRLF */
	const char **names; /* h= names, one per field in canon; malloc'd */
	size_t nnames;
};

/*
 * SHA-256, fetched once for the process: EVP_sha256() makes OpenSSL 3
 * look the digest up again on each use. A fetched EVP_MD is immutable and
 * safe to share between threads; it is never freed.
 */
static EVP_MD *dkim_md;
static pthread_once_t dkim_md_once = PTHREAD_ONCE_INIT;

static void
dkim_md_fetch(void)
{
	dkim_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The shared SHA-256, or NULL when OpenSSL has none. */
static const EVP_MD *
dkim_sha256(void)
{
	pthread_once(&dkim_md_once, dkim_md_fetch);
	return dkim_md;
}

/* Appends a PEM (PKCS#8) of pk's private key, malloc'd, to *pem. */
static int
dkim_pem(EVP_PKEY *pk, char **pem)
{
	BIO *bio = NULL;
	char *data;
	long n;
	int rc = -1;

	*pem = NULL;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto fail;
	/* OpenSSL 3 writes "BEGIN PRIVATE KEY", i.e. PKCS#8. */
	if (!PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL))
		goto fail;
	if ((n = BIO_get_mem_data(bio, &data)) <= 0)
		goto fail;
	if ((*pem = malloc((size_t)n + 1)) == NULL)
		goto fail;
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	rc = 0;
fail:
	if (bio != NULL) {
		/* the buffer held a private key */
		if ((n = BIO_get_mem_data(bio, &data)) > 0)
			OPENSSL_cleanse(data, (size_t)n);
		BIO_free(bio);
	}
	return rc;
}

int
dkim_keygen_rsa(int bits, char **pem)
{
	EVP_PKEY *pk;
	int rc;

	*pem = NULL;
	if (bits < 1024 || bits > 8192)
		return -1;
	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)) == NULL)
		return -1;
	rc = dkim_pem(pk, pem);
	EVP_PKEY_free(pk);
	return rc;
}

int
dkim_keygen_ed25519(char **pem)
{
	EVP_PKEY *pk;
	int rc;

	*pem = NULL;
	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		return -1;
	rc = dkim_pem(pk, pem);
	EVP_PKEY_free(pk);
	return rc;
}

struct dkim_key *
dkim_key_load(const char *pem)
{
	struct dkim_key *k = NULL;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;

	if (pem == NULL)
		goto fail;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		goto fail;
	if ((pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL)
		goto fail;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		goto fail;
	if (EVP_PKEY_is_a(pk, "ED25519"))
		k->ed = 1;
	else if (EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) >= 1024)
		k->ed = 0;
	else
		goto fail;
	k->pk = pk;
	BIO_free(bio);
	return k;
fail:
	free(k);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return NULL;
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pk);
	free(k);
}

/*
 * RFC 6376 §3.6.1 p= is the base64 SubjectPublicKeyInfo for RSA; RFC 8463
 * §4.2 makes it the raw 32-byte public key for ed25519.
 */
char *
dkim_dns_txt(const struct dkim_key *k)
{
	unsigned char raw[32], *der = NULL;
	struct buf b;
	size_t rawlen = sizeof(raw);
	int n;

	buf_init(&b, 0);
	if (k == NULL)
		goto fail;
	if (k->ed) {
		if (!EVP_PKEY_get_raw_public_key(k->pk, raw, &rawlen))
			goto fail;
		if (buf_puts(&b, "v=DKIM1; k=ed25519; p=") == -1 ||
		    base64_encode(&b, raw, rawlen, 0) == -1)
			goto fail;
	} else {
		if ((n = i2d_PUBKEY(k->pk, &der)) <= 0)
			goto fail;
		if (buf_puts(&b, "v=DKIM1; k=rsa; p=") == -1 ||
		    base64_encode(&b, der, (size_t)n, 0) == -1)
			goto fail;
	}
	OPENSSL_free(der);
	return buf_steal(&b, NULL);
fail:
	OPENSSL_free(der);
	buf_clear(&b);
	return NULL;
}

static int
dkim_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* A byte relaxed canonicalization keeps as it is, wherever it is. */
static int
dkim_plain(int c)
{
	return c != ' ' && c != '\t' && c != '\r' && c != '\n';
}

/*
 * The end of the run starting at the plain byte p[i] that relaxed
 * header canonicalization leaves unchanged: plain bytes and single SPs
 * between them. Most field values are one run.
 */
static size_t
dkim_run(const char *p, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (p[i] == ' ' && i + 1 < len && dkim_plain(p[i + 1]))
			continue;
		if (!dkim_plain(p[i]))
			break;
	}
	return i;
}

/*
 * Splits the header section of msg into fields (a field runs over its
 * continuation lines) and finds the body: after the first empty line, or
 * empty when the message ends inside the header section. *fp is malloc'd.
 */
static int
dkim_split(const char *msg, size_t len, struct dkim_field **fp, size_t *nfp,
           size_t *body)
{
	struct dkim_field *f = NULL, *nf;
	size_t n = 0, cap = 0, i = 0, eol, j;

	*fp = NULL;
	*nfp = 0;
	*body = len;
	while (i < len) {
		if (len - i >= 2 && msg[i] == '\r' && msg[i + 1] == '\n') {
			*body = i + 2; /* the empty line */
			break;
		}
		/* the field ends at a CRLF not followed by WSP */
		eol = i;
		for (;;) {
			while (eol < len &&
			       !(msg[eol] == '\r' && eol + 1 < len &&
			         msg[eol + 1] == '\n'))
				eol++;
			if (eol + 2 < len && dkim_wsp(msg[eol + 2])) {
				eol += 2;
				continue;
			}
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nf = reallocarray(f, cap, sizeof(*f))) == NULL)
				goto fail;
			f = nf;
		}
		f[n].p = msg + i;
		f[n].len = eol - i;
		for (j = 0; j < f[n].len && msg[i + j] != ':'; j++)
			;
		while (j > 0 && dkim_wsp(msg[i + j - 1]))
			j--;
		f[n].nlen = j;
		n++;
		i = eol < len ? eol + 2 : len;
	}
	*fp = f;
	*nfp = n;
	return 0;
fail:
	free(f);
	return -1;
}

/*
 * RFC 6376 §3.4.2: relaxed header canonicalization of one field (name,
 * colon, value, folding kept), appended with its CRLF unless nocrlf.
 * Names are lowercased; the value is unfolded, WSP runs become one SP and
 * WSP around the colon and at the end is deleted.
 */
static int
dkim_canon_header(struct buf *out, const char *p, size_t len, int nocrlf)
{
	size_t i, k, n, e;
	char *name;
	int sp = 0;

	for (n = 0; n < len && p[n] != ':'; n++)
		;
	i = n;
	while (n > 0 && dkim_wsp(p[n - 1]))
		n--;
	/* the name is copied as it is, then lowercased in place */
	if (buf_append(out, p, n) == -1)
		return -1;
	name = out->p + out->len - n;
	for (k = 0; k < n; k++)
		if (name[k] >= 'A' && name[k] <= 'Z')
			name[k] += 32;
	if (buf_putc(out, ':') == -1)
		return -1;
	if (i < len)
		i++; /* the colon */
	/* skip WSP (and folding) after the colon */
	while (i < len && (dkim_wsp(p[i]) || p[i] == '\r' || p[i] == '\n'))
		i++;
	/* runs are copied whole; CR and LF unfold to nothing */
	while (i < len) {
		if (dkim_wsp(p[i])) {
			sp = 1;
			i++;
			continue;
		}
		if (p[i] == '\r' || p[i] == '\n') {
			i++;
			continue;
		}
		e = dkim_run(p, len, i);
		if (sp && buf_putc(out, ' ') == -1)
			return -1;
		sp = 0;
		if (buf_append(out, p + i, e - i) == -1)
			return -1;
		i = e;
	}
	if (!nocrlf && buf_append(out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/*
 * RFC 6376 §3.4.4: relaxed body canonicalization, hashed as it goes.
 * Trailing WSP of each line is deleted, WSP runs become one SP, empty
 * lines at the end are dropped and a last line without CRLF gets one. An
 * empty body (or one of only empty lines) canonicalizes to nothing
 * (§3.4.4 and its erratum; dkimpy does the same).
 */
static int
dkim_canon_body(EVP_MD_CTX *md, const char *p, size_t len)
{
	size_t i = 0, s, e, empty = 0, k;
	char line[512];
	size_t ln;
	int sp;

	while (i < len) {
		s = i;
		while (i < len &&
		       !(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			i++;
		e = i;
		i = i < len ? i + 2 : len;
		while (e > s && dkim_wsp(p[e - 1]))
			e--;
		if (e == s) {
			empty++;
			continue;
		}
		for (; empty > 0; empty--)
			if (!EVP_DigestUpdate(md, "\r\n", 2))
				return -1;
		ln = 0;
		sp = 0;
		for (k = s; k < e; k++) {
			if (dkim_wsp(p[k])) {
				sp = 1;
				continue;
			}
			if (ln + 2 > sizeof(line)) {
				if (!EVP_DigestUpdate(md, line, ln))
					return -1;
				ln = 0;
			}
			if (sp)
				line[ln++] = ' ';
			sp = 0;
			line[ln++] = p[k];
		}
		if (!EVP_DigestUpdate(md, line, ln) ||
		    !EVP_DigestUpdate(md, "\r\n", 2))
			return -1;
	}
	return 0;
}

/* bh= of RFC 6376 §3.7: base64(sha256(canonical body)), 44 chars. */
static int
dkim_body_hash(const char *body, size_t len, char out[45])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hl;
	struct buf b;
	EVP_MD_CTX *md;
	int rc = -1;

	buf_init(&b, 0);
	if (dkim_sha256() == NULL || (md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (!EVP_DigestInit_ex(md, dkim_sha256(), NULL) ||
	    dkim_canon_body(md, body, len) == -1 ||
	    !EVP_DigestFinal_ex(md, h, &hl) ||
	    base64_encode(&b, h, hl, 0) == -1)
		goto fail;
	if (b.len != 44)
		goto fail;
	memcpy(out, b.p, 45);
	rc = 0;
fail:
	buf_clear(&b);
	EVP_MD_CTX_free(md);
	return rc;
}

/*
 * Signs data with k: rsa-sha256 is RSASSA-PKCS1-v1_5 over SHA-256 (RFC
 * 6376 §3.3.1); ed25519-sha256 is pure Ed25519 over the SHA-256 hash of
 * the data (RFC 8463 §3). sig has DKIM_SIG_MAX bytes.
 */
static int
dkim_sign_data(const struct dkim_key *k, const void *data, size_t len,
               unsigned char *sig, size_t *siglen)
{
	const EVP_MD *sha = dkim_sha256();
	unsigned char h[32];
	EVP_MD_CTX *ctx;
	int rc = -1;

	if (sha == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	*siglen = DKIM_SIG_MAX;
	if (k->ed) {
		if (!EVP_Digest(data, len, h, NULL, sha, NULL))
			goto fail;
		if (!EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) ||
		    !EVP_DigestSign(ctx, NULL, siglen, h, sizeof(h)) ||
		    *siglen > DKIM_SIG_MAX ||
		    !EVP_DigestSign(ctx, sig, siglen, h, sizeof(h)))
			goto fail;
	} else {
		if (!EVP_DigestSignInit(ctx, NULL, sha, NULL, k->pk) ||
		    !EVP_DigestSign(ctx, NULL, siglen, data, len) ||
		    *siglen > DKIM_SIG_MAX ||
		    !EVP_DigestSign(ctx, sig, siglen, data, len))
			goto fail;
	}
	rc = 0;
fail:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * Appends tok to the field being folded: on the current line after sep
 * (" " or "") when it fits in DKIM_FOLD columns, else on a new line after
 * CRLF + HTAB (RFC 5322 §2.2.3 folding). *col is the current column.
 */
static int
dkim_fold(struct buf *b, size_t *col, const char *sep, const char *tok,
          size_t tlen)
{
	size_t sl = strlen(sep);

	if (*col + sl + tlen > DKIM_FOLD) {
		if (buf_append(b, "\r\n\t", 3) == -1)
			return -1;
		*col = 1;
	} else {
		if (buf_append(b, sep, sl) == -1)
			return -1;
		*col += sl;
	}
	if (buf_append(b, tok, tlen) == -1)
		return -1;
	*col += tlen;
	return 0;
}

/*
 * Fills h (caller-allocated) from the message's fields f: h= (RFC 6376
 * §3.5, §5.4.2) has each signed header once per instance present,
 * instances picked bottom-up, and the canonical fields follow that order.
 * Borrows nothing from f afterwards. Clear h with dkim_hdrs_clear, also
 * after a failure.
 */
static int
dkim_hdrs_init(struct dkim_hdrs *h, const struct dkim_field *f, size_t nf)
{
	const char *name;
	size_t i, j, n;

	buf_init(&h->canon, 0);
	h->nnames = 0;
	/* a field has one name, so it is picked at most once */
	if ((h->names = reallocarray(NULL, nf ? nf : 1, sizeof(*h->names))) ==
	    NULL)
		return -1;
	for (i = 0; dkim_signed_headers[i] != NULL; i++) {
		name = dkim_signed_headers[i];
		n = strlen(name);
		for (j = nf; j-- > 0;) {
			if (f[j].nlen != n || strncasecmp(f[j].p, name, n) != 0)
				continue;
			if (dkim_canon_header(&h->canon, f[j].p, f[j].len, 0) ==
			    -1)
				return -1;
			h->names[h->nnames++] = name;
		}
	}
	return 0;
}

static void
dkim_hdrs_clear(struct dkim_hdrs *h)
{
	buf_clear(&h->canon);
	free(h->names);
	h->names = NULL;
	h->nnames = 0;
}

/*
 * Makes one DKIM-Signature field with key k and appends it (folded, with
 * its final CRLF) to out. h are the message's signed headers, bh the body
 * hash. The field's canonical form is put after h->canon while signing
 * and taken off again, so h serves the next signature unchanged.
 */
static int
dkim_sign_one(struct dkim_hdrs *h, const char *domain, const char *selector,
              time_t t, const struct dkim_key *k, const char *bh,
              struct buf *out)
{
	unsigned char sig[DKIM_SIG_MAX];
	struct buf field, b64;
	char tok[300];
	size_t col, siglen, i, n, pos, base = h->canon.len;
	int first = 1, rc = -1;

	buf_init(&field, 0);
	buf_init(&b64, 0);

	if (buf_printf(&field, "DKIM-Signature: v=1; a=%s;",
	               k->ed ? "ed25519-sha256" : "rsa-sha256") == -1)
		goto fail;
	col = field.len;
	if (dkim_fold(&field, &col, " ", "c=relaxed/relaxed;", 18) == -1)
		goto fail;
	n = (size_t)snprintf(tok, sizeof(tok), "d=%s;", domain);
	if (n >= sizeof(tok) || dkim_fold(&field, &col, " ", tok, n) == -1)
		goto fail;
	n = (size_t)snprintf(tok, sizeof(tok), "s=%s;", selector);
	if (n >= sizeof(tok) || dkim_fold(&field, &col, " ", tok, n) == -1)
		goto fail;
	n = (size_t)snprintf(tok, sizeof(tok), "t=%lld;", (long long)t);
	if (dkim_fold(&field, &col, " ", tok, n) == -1)
		goto fail;

	/*
	 * h= as dkim_hdrs_init picked the fields, then "from" once more so
	 * no From can be added without breaking the signature (§8.15).
	 */
	for (i = 0; i < h->nnames; i++) {
		snprintf(tok, sizeof(tok), "%s%s:", first ? "h=" : "",
		         h->names[i]);
		if (dkim_fold(&field, &col, first ? " " : "", tok,
		              strlen(tok)) == -1)
			goto fail;
		first = 0;
	}
	snprintf(tok, sizeof(tok), "%sfrom;", first ? "h=" : "");
	if (dkim_fold(&field, &col, first ? " " : "", tok, strlen(tok)) == -1)
		goto fail;
	snprintf(tok, sizeof(tok), "bh=%s;", bh);
	if (dkim_fold(&field, &col, " ", tok, strlen(tok)) == -1)
		goto fail;
	if (dkim_fold(&field, &col, " ", "b=", 2) == -1)
		goto fail;

	/* RFC 6376 §3.7: the signature field itself, b= empty, no CRLF */
	if (dkim_canon_header(&h->canon, field.p, field.len, 1) == -1)
		goto fail;
	if (dkim_sign_data(k, h->canon.p, h->canon.len, sig, &siglen) == -1)
		goto fail;
	if (base64_encode(&b64, sig, siglen, 0) == -1)
		goto fail;

	/* b= is split with FWS (CRLF HTAB) to keep lines short */
	for (pos = 0; pos < b64.len; pos += n) {
		n = col < DKIM_FOLD ? DKIM_FOLD - col : 0;
		if (n == 0) {
			if (buf_append(&field, "\r\n\t", 3) == -1)
				goto fail;
			col = 1;
			n = DKIM_FOLD - 1;
		}
		if (n > b64.len - pos)
			n = b64.len - pos;
		if (buf_append(&field, b64.p + pos, n) == -1)
			goto fail;
		col += n;
	}
	if (buf_append(&field, "\r\n", 2) == -1)
		goto fail;
	if (out->max != 0 && field.len > out->max - out->len) {
		rc = DKIM_TOO_BIG;
		goto fail;
	}
	if (buf_append(out, field.p, field.len) == -1)
		goto fail;
	rc = 0;
fail:
	if (h->canon.len > base) {
		h->canon.len = base;
		h->canon.p[base] = '\0';
	}
	buf_clear(&field);
	buf_clear(&b64);
	return rc;
}

/* d= and s= go into the field as they are: a domain or selector made of
 * letters, digits, '-', '_' and '.' only (RFC 6376 §3.5), so nothing can
 * break out of its tag. */
static int
dkim_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > 253)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

int
dkim_ed_selector(const char *selector, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", selector, DKIM_ED25519_SUFFIX);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
dkim_sign(const char *msg, size_t len, const char *domain, const char *selector,
          time_t t, const struct dkim_key *rsa, const struct dkim_key *ed,
          struct buf *out)
{
	struct dkim_field *f = NULL;
	struct dkim_hdrs h = {{NULL, 0, 0, 0}, NULL, 0};
	size_t nf, body, start = out->len;
	char bh[45];
	int rc = -1;

	if (!dkim_name_ok(domain) || !dkim_name_ok(selector) ||
	    (rsa == NULL && ed == NULL))
		goto fail;
	if (dkim_split(msg, len, &f, &nf, &body) == -1)
		goto fail;
	if (dkim_body_hash(msg + body, len - body, bh) == -1)
		goto fail;
	if (dkim_hdrs_init(&h, f, nf) == -1)
		goto fail;
	/* each signature is independent: neither covers the other */
	if (rsa != NULL &&
	    (rc = dkim_sign_one(&h, domain, selector, t, rsa, bh, out)) != 0)
		goto fail;
	if (ed != NULL) {
		char edsel[DKIM_SELECTOR_MAX];
		if ((rc = dkim_ed_selector(selector, edsel, sizeof(edsel))) !=
		        0 ||
		    (rc = dkim_sign_one(&h, domain, edsel, t, ed, bh, out)) !=
		        0)
			goto fail;
	}
	rc = 0;
fail:
	if (rc != 0 && out->len > start) {
		out->len = start;
		out->p[start] = '\0';
	}
	dkim_hdrs_clear(&h);
	free(f);
	return rc;
}
