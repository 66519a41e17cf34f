/*
 * buf: a growable byte buffer with a hard cap. Appends that would pass the
 * cap fail with -1 and leave the buffer as it was, so hitting a limit is a
 * clean error, never an out-of-memory abort. The bytes are always followed
 * by a NUL (not counted in len) so p can be used as a C string.
 */
#ifndef PIGEON_CORE_BUF_H
#define PIGEON_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *p;    /* owned; NULL until the first append */
	size_t len; /* bytes used, excluding the trailing NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* cap on len; 0 = no cap */
};

void buf_init(struct buf *b, size_t max);
void buf_clear(struct buf *b); /* frees; b can be reused after buf_init */
void buf_reset(struct buf *b); /* len = 0, keeps memory */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, int c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Returns the bytes (caller frees) and leaves b empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
