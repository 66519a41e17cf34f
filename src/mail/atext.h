/*
 * atext: the character class of RFC 5322 §3.2.3, which dot-atoms (local
 * parts, Message-IDs, Content-IDs) and MIME encoded-words are made of.
 */
#ifndef PIGEON_MAIL_ATEXT_H
#define PIGEON_MAIL_ATEXT_H

#include <string.h>

/* 1 when c is atext: ALPHA / DIGIT / one of !#$%&'*+-/=?^_`{|}~. */
static inline int
atext(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c > 0 && c < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

#endif
