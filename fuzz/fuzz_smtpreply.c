/*
 * fuzz_smtpreply: smtp_reply_parse() and smtp_ehlo_parse() on arbitrary
 * bytes, with and without enhanced codes. They may not crash or read
 * outside the input; an accepted reply lies within the input, ends a
 * line, has a code of RFC 5321's grammar, a text that starts with it and
 * holds no control byte, an enhanced code of the code's class or none;
 * the same reply is read from its own bytes alone, and its prefixes wait
 * for more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/smtp/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
enhanced_ok(const char *e, int code)
{
	size_t n = strlen(e);

	if (n == 0)
		return 1;
	return n >= 5 && n <= 9 && e[0] == '0' + code / 100 && e[1] == '.' &&
	       strspn(e, "0123456789.") == n;
}

static void
check(const char *p, size_t n, int enhanced)
{
	struct smtp_reply r, again;
	struct smtp_ehlo e;
	size_t used = 0, used2 = 0, len;
	int rc;

	rc = smtp_reply_parse(p, n, enhanced, &r, &used);
	if (rc == SMTP_REPLY_PARTIAL || rc == SMTP_REPLY_ERROR) {
		if (rc == SMTP_REPLY_PARTIAL && n >= SMTP_REPLY_MAX_BYTES)
			abort();
		return;
	}
	if (rc != SMTP_REPLY_OK)
		abort();
	len = strlen(r.text);
	if (used == 0 || used > n || p[used - 1] != '\n' || r.code < 200 ||
	    r.code > 559 || r.code % 100 > 59 || len < 3 ||
	    len >= SMTP_REPLY_TEXT || memcmp(r.text, p, 3) != 0 ||
	    !enhanced_ok(r.enhanced, r.code) || (!enhanced && r.enhanced[0]))
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)r.text[i] < 0x20 || r.text[i] == 0x7f)
			abort();
	if (smtp_reply_parse(p, used, enhanced, &again, &used2) !=
	        SMTP_REPLY_OK ||
	    used2 != used || again.code != r.code ||
	    strcmp(again.text, r.text) != 0 ||
	    strcmp(again.enhanced, r.enhanced) != 0)
		abort();
	if (smtp_reply_parse(p, used - 1, enhanced, &again, &used2) !=
	        SMTP_REPLY_PARTIAL ||
	    smtp_reply_parse(p, used / 2, enhanced, &again, &used2) !=
	        SMTP_REPLY_PARTIAL)
		abort();
	if (smtp_ehlo_parse(p, used, &e) != (r.code == 250 ? 0 : -1))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	check(copy, size, 0);
	check(copy, size, 1);
	free(copy);
	return 0;
}
