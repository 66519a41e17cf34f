/*
 * sign: what SPEC §6.5's webhooks share with the CLI and the tests,
 * apart from the dispatcher: the signature, the backoff arithmetic, the
 * event type names and the URL check.
 */
#ifndef PIGEON_WEBHOOK_SIGN_H
#define PIGEON_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_LEN 64 /* hex chars: 32 random bytes */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_TYPE_PREFIX "cf.email.sending.message."
/* ",t1,t2,…," of every type, full names: the longest events filter */
#define WEBHOOK_TYPES_MAX 256

/*
 * hex = HMAC-SHA256(secret, "<t>.<body>") in lowercase hex (SPEC §6.5);
 * the key is the secret's bytes as shown. 0 or -1.
 */
int webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
                 char hex[65]);
/* The Pigeon-Signature value "t=<t>,v1=<hex>" into out. 0 or -1. */
int webhook_signature(const char *secret, int64_t t, const char *body,
                      size_t len, char *out, size_t outlen);
/*
 * The delay (ms) before the next attempt after attempts failed ones
 * (>= 1): base doubled each time, capped at max, then a random part
 * of it off (jitter from rnd): in [d/2, d] of that d.
 */
int64_t webhook_backoff(int attempts, int64_t base, int64_t max, uint64_t rnd);

/* The full type name of a short ("delivered") or full
 * ("cf.email.sending.message.delivered") one, or NULL if it is none of
 * SPEC §6.5's. */
const char *webhook_type_full(const char *name);
/* "delivered,bounced" → ",cf.…delivered,cf.…bounced," into out; every
 * name checked. 0, or -1 with the first bad name in bad (badlen). */
int webhook_types_parse(const char *list, char *out, size_t outlen, char *bad,
                        size_t badlen);
/* An http:// or https:// URL with a host, no spaces or control
 * characters, at most WEBHOOK_URL_MAX: 1, else 0. */
int webhook_url_ok(const char *url);

#endif
