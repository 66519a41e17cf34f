/*
 * random: getrandom(2), or a seeded xorshift stream for tests.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>

#include "hex.h"
#include "log.h"
#include "random.h"

static uint64_t random_state;
static pthread_mutex_t random_lock = PTHREAD_MUTEX_INITIALIZER;

void
random_set_seed(uint64_t seed)
{
	pthread_mutex_lock(&random_lock);
	random_state = seed;
	pthread_mutex_unlock(&random_lock);
}

void
random_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	ssize_t r;

	pthread_mutex_lock(&random_lock);
	if (random_state) {
		while (n--) {
			/* xorshift64*: reproducible, for tests only */
			random_state ^= random_state >> 12;
			random_state ^= random_state << 25;
			random_state ^= random_state >> 27;
			*p++ = (unsigned char)((random_state *
			                        0x2545F4914F6CDD1DULL) >>
			                       56);
		}
		pthread_mutex_unlock(&random_lock);
		return;
	}
	pthread_mutex_unlock(&random_lock);
	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		p += r;
		n -= (size_t)r;
	}
}

uint64_t
random_u64(void)
{
	uint64_t v;

	random_bytes(&v, sizeof(v));
	return v;
}

void
random_alnum(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char pool[64];
	size_t i = 0, j = sizeof(pool);

	/* One random_bytes() call per 64 draws, not one per character. */
	while (i < n) {
		if (j == sizeof(pool)) {
			random_bytes(pool, sizeof(pool));
			j = 0;
		}
		if (pool[j] >=
		    248) { /* 248 = 4 * 62: reject to stay unbiased */
			j++;
			continue;
		}
		out[i++] = set[pool[j++] % 62];
	}
	out[n] = '\0';
}

void
random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];
	size_t i, n;

	/* one draw per 32 bytes, not one per byte (ids are made on the
	 * writer's hot path: an event each) */
	for (i = 0; i < nbytes; i += n) {
		n = nbytes - i < sizeof(b) ? nbytes - i : sizeof(b);
		random_bytes(b, n);
		hex_encode(b, n, out + 2 * i);
	}
	out[2 * nbytes] = '\0';
}
