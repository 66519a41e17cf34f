/*
 * fuzz_addr: addr_parse() and addr_is_name_addr() on arbitrary bytes.
 * Neither may crash, read outside the input or leak; an accepted address
 * must come back without CR, LF or NUL and within the SPEC §3.1 limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/arena.h"
#include "../src/mail/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	struct mailbox m;
	const char *why = NULL;
	char *copy;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if ((a = arena_new(0)) == NULL) {
		free(copy);
		return 0;
	}
	memset(&m, 0, sizeof(m));
	(void)addr_is_name_addr(copy, size);
	if (addr_parse(a, copy, size, &m, &why) == 0) {
		if (m.address == NULL || m.local == NULL || m.domain == NULL ||
		    m.ascii == NULL || strlen(m.ascii) > 254 ||
		    strlen(m.local) > 64 || strpbrk(m.ascii, "\r\n") != NULL ||
		    strlen(m.address) != size)
			abort();
	} else if (why == NULL)
		abort();
	arena_free(a);
	free(copy);
	return 0;
}
