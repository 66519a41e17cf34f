/*
 * cert: TLS server contexts and the dev certificate (cert.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../core/buf.h"
#include "../core/file.h"
#include "../mail/dname.h"
#include "cert.h"

#define DEV_DAYS 3650

/* The last OpenSSL error as text (or "unknown error"). */
static const char *
ssl_why(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, len);
	return buf;
}

SSL_CTX *
cert_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[256];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "cannot make a TLS context: %s",
		         ssl_why(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* idle sessions keep no read or write buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "tls_cert %s: %s", cert,
		         ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "tls_key %s: %s", key,
		         ssl_why(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls_key %s does not match tls_cert %s",
		         key, cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Adds extension nid with value v (OpenSSL's config syntax) to x. */
static int
ext_add(X509 *x, int nid, const char *v)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, v)) == NULL)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? 0 : -1;
}

/* PEM of x or k into b. */
static int
pem_of(X509 *x, EVP_PKEY *k, struct buf *b)
{
	BIO *bio;
	char *p;
	long n;
	int rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if ((x ? PEM_write_bio_X509(bio, x)
	       : PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)) ==
	        1 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0)
		rc = buf_append(b, p, (size_t)n);
	BIO_free(bio);
	return rc;
}

int
cert_dev(const char *dir, const char *hostname, char *cert, char *key,
         char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	struct buf pc, pk;
	char san[600], why[256];
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int rc = -1;

	snprintf(cert, PATH_MAX, "%s/%s", dir, CERT_DEV_FILE);
	snprintf(key, PATH_MAX, "%s/%s", dir, CERT_DEV_KEY);
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	buf_init(&pc, 64 * 1024);
	buf_init(&pk, 64 * 1024);
	ERR_clear_error();
	/* SAN: the names clients use to reach a dev server. A hostname that
	 * is no DNS name (an odd container name) is left out. */
	snprintf(san, sizeof(san), "DNS:localhost, IP:127.0.0.1, IP:::1");
	if (strcmp(hostname, "localhost") != 0 &&
	    dname_ldh_ok(hostname, 253, 0))
		snprintf(san + strlen(san), sizeof(san) - strlen(san),
		         ", DNS:%s", hostname);
	if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl;
	serial[0] &= 0x7f; /* a positive serial number */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * DEV_DAYS) == NULL ||
	    X509_set_pubkey(x, k) != 1)
		goto ssl;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                               (const unsigned char *)"pigeon dev", -1,
	                               -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)"localhost", -1,
	                               -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto ssl;
	/* Its own CA, as `openssl req -x509` makes one: clients are told
	 * to trust this file (PIGEON_SMTP_CA). */
	if (ext_add(x, NID_basic_constraints, "critical,CA:TRUE") == -1 ||
	    ext_add(x, NID_key_usage,
	            "critical,digitalSignature,keyCertSign") == -1 ||
	    ext_add(x, NID_ext_key_usage, "serverAuth") == -1 ||
	    ext_add(x, NID_subject_key_identifier, "hash") == -1 ||
	    ext_add(x, NID_authority_key_identifier, "keyid:always") == -1 ||
	    ext_add(x, NID_subject_alt_name, san) == -1 ||
	    X509_sign(x, k, EVP_sha256()) == 0)
		goto ssl;
	if (pem_of(x, NULL, &pc) == -1 || pem_of(NULL, k, &pk) == -1)
		goto ssl;
	/* the key first: a certificate alone is never taken as a pair */
	if (file_replace(key, pk.p, pk.len) == -1 ||
	    file_replace(cert, pc.p, pc.len) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", cert,
		         strerror(errno));
		goto out;
	}
	rc = 1;
	goto out;
ssl:
	snprintf(err, errlen, "cannot make the dev certificate: %s",
	         ssl_why(why, sizeof(why)));
out:
	if (pk.p != NULL)
		explicit_bzero(pk.p, pk.len);
	buf_clear(&pk);
	buf_clear(&pc);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}
