/*
 * test_httpd: the key the per-address connection cap counts a client by
 * (src/httpd/httpd.c, httpd_addr_key). The server itself is tested over
 * real sockets in tests/integration/test_http_front.py and
 * test_connections.py.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../../src/httpd/httpd.h"

static void
key_of(const char *addr, unsigned char key[16])
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1)
		in4->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	httpd_addr_key(&ss, key);
}

static int
same(const char *a, const char *b)
{
	unsigned char ka[16], kb[16];

	key_of(a, ka);
	key_of(b, kb);
	return memcmp(ka, kb, 16) == 0;
}

static void
test_ipv6_by_its_64(void **state)
{
	(void)state;
	assert_true(
	    same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"));
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same("::1", "2001:db8::1"));
}

static void
test_ipv4_by_address(void **state)
{
	(void)state;
	assert_true(same("192.0.2.1", "192.0.2.1"));
	assert_false(same("192.0.2.1", "192.0.2.2"));
	/* a dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d: each is
	 * its own address, not one /64 for all of them */
	assert_true(same("::ffff:192.0.2.1", "192.0.2.1"));
	assert_false(same("::ffff:192.0.2.1", "::ffff:192.0.2.2"));
	/* an IPv4 address and the IPv6 /64 that starts with the same bytes
	 * are not one client */
	assert_false(same("192.0.2.1", "c000:201::"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv6_by_its_64),
	    cmocka_unit_test(test_ipv4_by_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
