/*
 * dkim: DKIM signing (RFC 6376, RFC 8463) and key handling.
 */
#ifndef PIGEON_MAIL_DKIM_H
#define PIGEON_MAIL_DKIM_H

#include <stddef.h>
#include <time.h>

#include "../core/buf.h"

struct dkim_key; /* an OpenSSL private key; thread-safe to sign with */

/* Generate keys: a PEM (PKCS#8) private key, malloc'd. 0 or -1. */
int dkim_keygen_rsa(int bits, char **pem);
int dkim_keygen_ed25519(char **pem);
struct dkim_key *dkim_key_load(const char *pem); /* NULL on error */
void dkim_key_free(struct dkim_key *k);          /* accepts NULL */
/* The DNS TXT content "v=DKIM1; k=rsa; p=<base64>" (k=ed25519 for
 * Ed25519, p = the raw 32-byte public key). malloc'd, NULL on error. */
char *dkim_dns_txt(const struct dkim_key *k);

/*
 * The Ed25519 key has a selector of its own, "<selector>-ed25519", so that
 * each key is one TXT record at its own name (RFC 8463 §4.1: distinct
 * selectors per algorithm; verifiers pick the key by s= alone).
 */
#define DKIM_ED25519_SUFFIX "-ed25519"
#define DKIM_SELECTOR_MAX 128
int dkim_ed_selector(const char *selector, char *out, size_t outlen);

/* Headers pigeon signs, in order (SPEC §6.2); "from" is oversigned. */
extern const char *const dkim_signed_headers[];

/*
 * Signs msg[0..len) (CRLF line endings, headers then body) and appends the
 * DKIM-Signature field(s) — rsa-sha256 with rsa, then ed25519-sha256 when
 * ed is not NULL (with selector "<selector>-ed25519") — each folded and ending
 * in CRLF, ready to be put in front of the message. c=relaxed/relaxed,
 * d=domain, s=selector, t=t. h= lists every instance of the signed headers
 * present in the message plus one extra "from", so its length grows with
 * them (each name is shorter than the field it names). Returns 0, -1, or
 * DKIM_TOO_BIG when the fields would pass out's cap (out is unchanged).
 */
#define DKIM_TOO_BIG (-2)
int dkim_sign(const char *msg, size_t len, const char *domain,
              const char *selector, time_t t, const struct dkim_key *rsa,
              const struct dkim_key *ed, struct buf *out);

#endif
