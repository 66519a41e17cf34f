/*
 * dname: IDNA 2008 through libidn2 (RFC 5890, 5891), with the UTS #46
 * non-transitional mapping so that U-labels are lowercased and
 * NFC-normalised first ("Bücher.de" and its decomposed form are the same
 * name, and "faß.de" keeps its ß).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "dname.h"

/* 1 when s[0..len) is plain ASCII without an A-label: nothing to map. */
static int
dname_plain(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	for (i = 0; i + 4 <= len; i++)
		if ((i == 0 || s[i - 1] == '.') &&
		    strncasecmp(s + i, "xn--", 4) == 0)
			return 0;
	return 1;
}

int
dname_alabels(const char *in, size_t len, char *out, size_t outlen)
{
	char *tmp = NULL, *ace = NULL;
	size_t i;
	int rc;

	if (memchr(in, '\0', len) != NULL)
		return DNAME_INVALID;
	if (dname_plain(in, len)) {
		if (len + 1 > outlen)
			return DNAME_TOO_LONG;
		for (i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
		out[len] = '\0';
		return DNAME_OK;
	}
	if ((tmp = strndup(in, len)) == NULL)
		return DNAME_INVALID;
	rc = idn2_to_ascii_8z(tmp, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	free(tmp);
	if (rc == IDN2_TOO_BIG_DOMAIN)
		return DNAME_TOO_LONG;
	if (rc == IDN2_TOO_BIG_LABEL)
		return DNAME_LABEL_LONG;
	if (rc != IDN2_OK)
		return DNAME_INVALID;
	len = strlen(ace);
	if (len + 1 > outlen) {
		idn2_free(ace);
		return DNAME_TOO_LONG;
	}
	/* UTS #46 lowercases; an ASCII label it left alone may not be. */
	for (i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)ace[i]);
	idn2_free(ace);
	return DNAME_OK;
}

int
dname_ldh_ok(const char *s, size_t maxlen, int min_labels)
{
	size_t len = strlen(s), n = 0;
	int labels = 0;
	const char *p;

	if (len == 0 || len > maxlen)
		return 0;
	for (p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (n == 0 || n > 63 || p[-1] == '-')
				return 0;
			labels++;
			n = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (n == 0 && *p == '-')
			return 0;
		n++;
	}
	return labels >= min_labels;
}

int
dname_operator(const char *in, char *out, size_t outlen, int min_labels)
{
	size_t len = strlen(in);

	/* the absolute form "example.com." */
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (dname_alabels(in, len, out, outlen) != DNAME_OK)
		return -1;
	return dname_ldh_ok(out, 253, min_labels) ? 0 : -1;
}
