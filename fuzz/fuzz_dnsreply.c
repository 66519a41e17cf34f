/*
 * fuzz_dnsreply: dnsreply_parse() on arbitrary bytes. It may not crash
 * or read outside the input; an accepted reply's names are NUL-ended
 * within their buffers, its counts within their caps, and a record kept
 * only when the question is MX, A or AAAA.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/dns/dnsreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
name_ok(const char *s)
{
	if (memchr(s, '\0', DNSREPLY_NAME_MAX + 1) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnsreply r;

	if (dnsreply_parse(data, size, &r) < 0)
		return 0;
	name_ok(r.qname);
	if (r.n > DNSREPLY_MAX_RR || r.cnames > DNSREPLY_MAX_CHAIN ||
	    r.rcode < 0 || r.rcode > 15)
		abort();
	if (r.n > 0 && r.qtype != DNSREPLY_MX && r.qtype != DNSREPLY_A &&
	    r.qtype != DNSREPLY_AAAA)
		abort();
	if (r.n == 0 && r.cnames == 0 && r.ttl != 0)
		abort();
	for (size_t i = 0; i < r.n; i++)
		name_ok(r.rr[i].host);
	return 0;
}
