/*
 * htab: open addressing with linear probing over a power-of-two array
 * at most half full, so a probe for a missing key ends quickly. The hash
 * is FNV-1a (64-bit): the keys are ids, hex digests and domain names an
 * operator created, not chosen by a client.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

struct htab_slot {
	const char *key; /* NULL: empty */
	void *val;
};

struct htab {
	size_t mask; /* slots - 1 */
	size_t n, max;
	struct htab_slot *slots;
};

static uint64_t
htab_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct htab *
htab_new(size_t n)
{
	struct htab *h;
	size_t cap = 8;

	while (cap < 2 * n)
		cap *= 2;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->slots = calloc(cap, sizeof(*h->slots))) == NULL) {
		free(h);
		return NULL;
	}
	h->mask = cap - 1;
	h->max = n;
	return h;
}

void
htab_free(struct htab *h)
{
	if (h == NULL)
		return;
	free(h->slots);
	free(h);
}

int
htab_put(struct htab *h, const char *key, void *val)
{
	size_t i;

	if (h->n == h->max)
		return -1;
	for (i = htab_hash(key) & h->mask; h->slots[i].key != NULL;
	     i = (i + 1) & h->mask)
		if (strcmp(h->slots[i].key, key) == 0)
			return -1;
	h->slots[i].key = key;
	h->slots[i].val = val;
	h->n++;
	return 0;
}

void *
htab_get(const struct htab *h, const char *key)
{
	size_t i;

	for (i = htab_hash(key) & h->mask; h->slots[i].key != NULL;
	     i = (i + 1) & h->mask)
		if (strcmp(h->slots[i].key, key) == 0)
			return h->slots[i].val;
	return NULL;
}
