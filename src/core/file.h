/*
 * file: small files pigeon writes whole (dev.env, the VERP key).
 */
#ifndef PIGEON_CORE_FILE_H
#define PIGEON_CORE_FILE_H

#include <stddef.h>

/* Replaces path with p[0..len), mode 0600: a temporary file, fsync,
 * rename, so a reader never sees half a file. 0 or -1 (errno). */
int file_replace(const char *path, const char *p, size_t len);

/* A secret of len random bytes kept in path: read when it is there (it
 * must be exactly len bytes), else made and written (mode 0600). 0, or
 * -1 with err naming the file. */
int file_secret(const char *path, unsigned char *key, size_t len, char *err,
                size_t errlen);

#endif
