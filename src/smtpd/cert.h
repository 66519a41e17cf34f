/*
 * cert: the SMTP server's TLS material. cert_ctx() makes a server
 * SSL_CTX from a certificate chain and key file (TLS 1.2 at least);
 * cert_dev() makes, once, the self-signed certificate of `serve --dev`
 * (SPEC §10): EC P-256, subjectAltName DNS:localhost, IP:127.0.0.1 and
 * DNS:<hostname>, so clients told to trust it can connect to either.
 *
 * It is not a CA and renews nothing: a dev certificate lasts 10 years,
 * production ones are the operator's files, read again on SIGHUP.
 */
#ifndef PIGEON_SMTPD_CERT_H
#define PIGEON_SMTPD_CERT_H

#include <stddef.h>

#include <openssl/ssl.h>

#define CERT_DEV_FILE "smtpd-cert.pem"
#define CERT_DEV_KEY "smtpd-key.pem"

/* A server context from PEM files, or NULL with err naming the file. */
SSL_CTX *cert_ctx(const char *cert, const char *key, char *err, size_t errlen);

/*
 * dir/CERT_DEV_FILE and dir/CERT_DEV_KEY (0600), made when either is
 * missing; their paths in cert and key (PATH_MAX each). 1 made, 0 kept,
 * -1 with err.
 */
int cert_dev(const char *dir, const char *hostname, char *cert, char *key,
             char *err, size_t errlen);

#endif
