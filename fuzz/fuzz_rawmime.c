/*
 * fuzz_rawmime: rawmime_prepare() (send_raw rules, lf_ok = 1) on arbitrary
 * bytes under both `raw_headers` policies, then dkim_sign() over what it
 * accepted and over the raw input. Nothing may crash, read outside the
 * input or leak. An accepted message must parse again, start with a
 * header, carry no Bcc or Return-Path and hold the Message-ID it reports;
 * what cloudflare accepts, relaxed accepts too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../src/core/arena.h"
#include "../src/core/buf.h"
#include "../src/core/random.h"
#include "../src/mail/dkim.h"
#include "../src/mail/limits.h"
#include "../src/mail/rawmime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dkim_key *ed; /* one key for the whole run; reachable */

static void
check(struct arena *a, const struct buf *out, const struct rawmime_result *res)
{
	struct rawmime rm;
	char why[256];
	size_t i;

	if (rawmime_parse(a, out->p, out->len, &rm, why, sizeof(why)) == -1)
		abort();
	if (res->from == NULL || res->nfrom == 0 || res->from_domain == NULL ||
	    res->message_id[0] != '<' ||
	    strstr(out->p, res->message_id) == NULL)
		abort();
	for (i = 0; i < rm.nf; i++)
		if ((rm.f[i].name_len == 3 &&
		     strncasecmp(rm.f[i].name, "Bcc", 3) == 0) ||
		    (rm.f[i].name_len == 11 &&
		     strncasecmp(rm.f[i].name, "Return-Path", 11) == 0))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rawmime_result res;
	struct arena *a = NULL;
	struct buf out, sig;
	char why[256], *copy, *pem;
	int rc, relaxed_ok = 0;

	if (ed == NULL) {
		if (dkim_keygen_ed25519(&pem) == -1)
			abort();
		ed = dkim_key_load(pem);
		free(pem);
		if (ed == NULL)
			abort();
	}
	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	buf_init(&out, MAX_MESSAGE_SIZE);
	buf_init(&sig, 0);
	if ((a = arena_new(0)) == NULL)
		goto done;
	for (int p = RAWMIME_RELAXED; p <= RAWMIME_CLOUDFLARE; p++) {
		random_set_seed(1);
		why[0] = '\0';
		buf_reset(&out);
		buf_reset(&sig);
		rc = rawmime_prepare(a, copy, size, 1, (enum rawmime_policy)p,
		                     "example.com", 1764137621, &out, &res, why,
		                     sizeof(why));
		if (rc == 0) {
			if (p == RAWMIME_CLOUDFLARE && !relaxed_ok)
				abort();
			relaxed_ok = 1;
			check(a, &out, &res);
			if (dkim_sign(out.p, out.len, "example.com", "s", 1,
			              NULL, ed, &sig) == -1)
				abort();
		} else if (why[0] == '\0' || out.len != 0)
			abort();
	}
	/* the signer must also survive bytes no parser has vetted */
	buf_reset(&sig);
	(void)dkim_sign(copy, size, "example.com", "s", 1, NULL, ed, &sig);
done:
	buf_clear(&sig);
	buf_clear(&out);
	arena_free(a);
	free(copy);
	return 0;
}
