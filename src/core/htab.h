/*
 * htab: a fixed-size open-addressing hash table from string keys to
 * pointers, built once and then only read (a snapshot's index). Keys are
 * borrowed: they must outlive the table. It does not grow, delete or
 * lock: build it on one thread, then read it from many.
 */
#ifndef PIGEON_CORE_HTAB_H
#define PIGEON_CORE_HTAB_H

#include <stddef.h>

struct htab;

/* A table for up to n entries. NULL when out of memory. */
struct htab *htab_new(size_t n);
void htab_free(struct htab *h); /* accepts NULL */

/* Adds key → val (the key borrowed). 0, or -1 when the key is already
 * there or the table holds n entries. */
int htab_put(struct htab *h, const char *key, void *val);

/* The value of key, or NULL. */
void *htab_get(const struct htab *h, const char *key);

#endif
