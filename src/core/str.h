/*
 * str: borrowed byte views. A view never owns its bytes; the comment where
 * one is stored says whose they are and how long they live.
 */
#ifndef PIGEON_CORE_STR_H
#define PIGEON_CORE_STR_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

static inline struct str
str_from(const char *s)
{
	return (struct str){s, s ? strlen(s) : 0};
}

static inline int
str_eq(struct str a, const char *b)
{
	size_t n = strlen(b);

	return a.len == n && memcmp(a.p, b, n) == 0;
}

static inline int
str_case_eq(struct str a, const char *b)
{
	size_t n = strlen(b);

	return a.len == n && strncasecmp(a.p, b, n) == 0;
}

#endif
