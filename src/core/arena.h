/*
 * arena: one request, one arena. Everything a request parses or builds is
 * allocated here and freed at once by arena_free(). Allocation failure is a
 * NULL return, never an abort.
 */
#ifndef PIGEON_CORE_ARENA_H
#define PIGEON_CORE_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(size_t chunk);        /* chunk 0 = 16 KiB */
void arena_free(struct arena *a);             /* accepts NULL */
void *arena_alloc(struct arena *a, size_t n); /* 16-byte aligned */
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
