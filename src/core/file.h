/*
 * file: small files pigeon writes whole (dev.env, the VERP key).
 */
#ifndef PIGEON_CORE_FILE_H
#define PIGEON_CORE_FILE_H

#include <stddef.h>

/* Replaces path with p[0..len), mode 0600: a temporary file, fsync,
 * rename, so a reader never sees half a file. 0 or -1 (errno). */
int file_replace(const char *path, const char *p, size_t len);

#endif
