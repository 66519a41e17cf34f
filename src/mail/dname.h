/*
 * dname: the one rule for internationalized domain names (IDNA 2008),
 * shared by the address parser (mail/addr.c) and the names of zones and
 * sending domains (tenant/rules.c), and the route patterns of the config
 * (core/config.c). It converts, and says whether a converted name is LDH;
 * trailing dots and the words of a refusal are each caller's.
 */
#ifndef PIGEON_MAIL_DNAME_H
#define PIGEON_MAIL_DNAME_H

#include <stddef.h>

enum dname_status {
	DNAME_OK = 0,
	DNAME_INVALID = -1,    /* not a valid IDN (or out of memory) */
	DNAME_TOO_LONG = -2,   /* longer than 253 octets, or than outlen */
	DNAME_LABEL_LONG = -3, /* a label longer than 63 octets */
};

/*
 * Writes the A-label form of in[0..len) (RFC 5890 §2.3.2.1), lowercase,
 * NUL-terminated, into out. A name of ASCII letters, digits, hyphens and
 * dots with no "xn--" label is only lowercased; any other goes through
 * libidn2 with the UTS #46 non-transitional mapping and NFC, which also
 * checks that each A-label decodes to a valid U-label (RFC 5891 §5.4).
 * Returns DNAME_OK or another enum dname_status.
 */
int dname_alabels(const char *in, size_t len, char *out, size_t outlen);

/*
 * 1 when s is a name of LDH labels (RFC 1035 §2.3.1, RFC 5890): letters,
 * digits and hyphens, 1-63 of them a label, no hyphen at either end, at
 * least min_labels labels and at most maxlen octets in all; else 0.
 */
int dname_ldh_ok(const char *s, size_t maxlen, int min_labels);

/*
 * A domain name as an operator writes it (any case, U-labels or A-labels,
 * one trailing dot allowed) into out: lowercase A-labels, no trailing dot.
 * 0, or -1 when it is not a name of at least min_labels LDH labels.
 */
int dname_operator(const char *in, char *out, size_t outlen, int min_labels);

#endif
