/*
 * fuzz_head: head_parse() on arbitrary bytes, under a few caps. It may not
 * crash or read outside the input; an accepted head lies within the input
 * and the cap, and a refused one has a status and a reason. Every prefix
 * shorter than an accepted head waits for more, never fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/httpd/head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when [q, q + len) lies within [p, p + n). */
static int
within(const char *q, size_t len, const char *p, size_t n)
{
	return q >= p && len <= n && (size_t)(q - p) <= n - len;
}

static void
check(const char *p, size_t n, size_t max)
{
	struct head h;
	size_t i;
	int rc;

	rc = head_parse(p, n, max, &h);
	if (rc == HEAD_OK) {
		if (h.len > n || h.len > max || h.len < 4 ||
		    memcmp(p + h.len - 4, "\r\n\r\n", 4) != 0 ||
		    h.method == NULL || !within(h.method, h.method_len, p, n) ||
		    !within(h.target, h.target_len, p, n) ||
		    h.method_len == 0 || h.target_len == 0 ||
		    (h.minor != 0 && h.minor != 1) ||
		    h.nfields > HEAD_MAX_FIELDS || h.content_length < -1 ||
		    h.te < 0 || h.nhost < 0 || h.why != NULL)
			abort();
		for (i = 0; i < h.nfields; i++) {
			const struct head_field *f = &h.fields[i];

			if (f->name_len == 0 ||
			    !within(f->name, f->name_len, p, n) ||
			    !within(f->value, f->value_len, p, n) ||
			    memchr(f->value, '\r', f->value_len) != NULL ||
			    memchr(f->value, '\n', f->value_len) != NULL ||
			    memchr(f->value, '\0', f->value_len) != NULL)
				abort();
		}
		/* A prefix of an accepted head is never refused. */
		if (head_parse(p, h.len - 1, max, &h) != HEAD_PARTIAL)
			abort();
	} else if (rc == HEAD_ERROR) {
		if (h.why == NULL || strlen(h.why) == 0 ||
		    (h.status != 400 && h.status != 414 && h.status != 431 &&
		     h.status != 501 && h.status != 505) ||
		    (h.framing != 0 && h.framing != 1))
			abort();
	} else if (rc != HEAD_PARTIAL || n > max)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = {0, 16, 64, 8192};
	char *copy;
	size_t i;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		check(copy, size, maxes[i]);
	check(copy, size, size);
	if (size > 0)
		check(copy, size, size - 1);
	free(copy);
	return 0;
}
