/*
 * sign: the parts of SPEC §6.5's webhooks that are arithmetic or
 * names, apart from the dispatcher so that the CLI and the unit tests
 * use them alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign.h"

static const char *const short_names[] = {
    "delivered", "deferred", "bounced", "failed", "rejected", "complained",
};
#define NTYPES (sizeof(short_names) / sizeof(*short_names))
static const char *const full_names[NTYPES] = {
    WEBHOOK_TYPE_PREFIX "delivered", WEBHOOK_TYPE_PREFIX "deferred",
    WEBHOOK_TYPE_PREFIX "bounced",   WEBHOOK_TYPE_PREFIX "failed",
    WEBHOOK_TYPE_PREFIX "rejected",  WEBHOOK_TYPE_PREFIX "complained",
};

int
webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
             char hex[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg;
	int n;

	/* "<t>.<body>" whole: HMAC() is the one call OpenSSL 3 keeps */
	if ((msg = malloc(len + 24)) == NULL)
		return -1;
	n = snprintf(msg, 24, "%lld.", (long long)t);
	memcpy(msg + n, body, len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	         (const unsigned char *)msg, (size_t)n + len, mac,
	         &maclen) == NULL ||
	    maclen != 32) {
		free(msg);
		return -1;
	}
	free(msg);
	for (unsigned i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

int
webhook_signature(const char *secret, int64_t t, const char *body, size_t len,
                  char *out, size_t outlen)
{
	char hex[65];
	int n;

	if (webhook_sign(secret, t, body, len, hex) == -1)
		return -1;
	n = snprintf(out, outlen, "t=%lld,v1=%s", (long long)t, hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int64_t
webhook_backoff(int attempts, int64_t base, int64_t max, uint64_t rnd)
{
	int64_t d = base > 0 ? base : 1;

	for (int i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* full at worst, half at best: retries of many events spread */
	return d - d / 2 + (int64_t)(rnd % (uint64_t)(d / 2 + 1));
}

const char *
webhook_type_full(const char *name)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (strcmp(name, short_names[i]) == 0 ||
		    strcmp(name, full_names[i]) == 0)
			return full_names[i];
	return NULL;
}

int
webhook_types_parse(const char *list, char *out, size_t outlen, char *bad,
                    size_t badlen)
{
	char name[128];
	const char *p = list, *e, *full;
	size_t used = 0, n;
	int any = 0;

	snprintf(bad, badlen, "%s", list);
	if (outlen < 2)
		return -1;
	out[used++] = ',';
	out[used] = '\0';
	for (;; p = e + 1) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		if (n >= sizeof(name)) {
			snprintf(bad, badlen, "%.*s", (int)n, p);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if ((full = webhook_type_full(name)) == NULL) {
			snprintf(bad, badlen, "%s", name);
			return -1;
		}
		/* a name twice is kept once */
		if (strstr(out, full) == NULL) {
			n = strlen(full);
			if (used + n + 2 > outlen)
				return -1;
			memcpy(out + used, full, n);
			used += n;
			out[used++] = ',';
			out[used] = '\0';
		}
		any = 1;
		if (*e == '\0')
			break;
	}
	return any ? 0 : -1;
}

int
webhook_url_ok(const char *url)
{
	const char *h;
	size_t n = strlen(url);

	if (n > WEBHOOK_URL_MAX)
		return 0;
	if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		h = url + 8;
	else
		return 0;
	if (*h == '\0' || *h == '/' || *h == ':' || *h == '?' || *h == '#')
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}
