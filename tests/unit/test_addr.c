/*
 * test_addr: src/mail/addr.c — every accepted form of SPEC §3.1 with the
 * fields it fills, and every refused one with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/arena.h"
#include "../../src/mail/addr.h"

struct good {
	const char *in;
	const char *local;
	const char *domain;
	int utf8_local;
};

static const struct good goods[] = {
    {"jane@example.com", "jane", "example.com", 0},
    {"Jane.Doe+tag@Example.COM", "Jane.Doe+tag", "example.com", 0},
    {"a.b.c@sub.example.co.uk", "a.b.c", "sub.example.co.uk", 0},
    {"!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~", "example.com",
     0},
    {"\"john doe\"@example.com", "\"john doe\"", "example.com", 0},
    {"\"a@b\"@example.com", "\"a@b\"", "example.com", 0},
    {"\"a\\\"b\"@example.com", "\"a\\\"b\"", "example.com", 0},
    {"\"..\"@example.com", "\"..\"", "example.com", 0},
    {"jöran@example.com", "jöran", "example.com", 1},
    {"用户@example.com", "用户", "example.com", 1},
    {"Jane@Bücher.example", "Jane", "xn--bcher-kva.example", 0},
    {"jane@BÜCHER.Example", "jane", "xn--bcher-kva.example", 0},
    {"用户@例子.广告", "用户", "xn--fsqu00a.xn--4rr70v", 1},
    {"jane@xn--bcher-kva.example", "jane", "xn--bcher-kva.example", 0},
    {"a@b-c.d1", "a", "b-c.d1", 0},
    {"a@1.example", "a", "1.example", 0},
    {"a@ab--cd.example", "a", "ab--cd.example", 0},
    /* NFC first (IDN2_NFC_INPUT): "e" + U+0301 is "é". */
    {"a@cafe\xcc\x81.example", "a", "xn--caf-dma.example", 0},
    {"a@café.example", "a", "xn--caf-dma.example", 0},
    {"a@XN--BCHER-KVA.Example", "a", "xn--bcher-kva.example", 0},
};

static void
test_valid(void **state)
{
	struct arena *a = arena_new(0);
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct mailbox m;
		const char *why = NULL;
		char want[600];
		int rc;

		memset(&m, 0, sizeof(m));
		rc = addr_parse(a, goods[i].in, strlen(goods[i].in), &m, &why);
		if (rc != 0)
			fail_msg("%s: refused: %s", goods[i].in, why);
		assert_string_equal(m.address, goods[i].in);
		assert_string_equal(m.local, goods[i].local);
		assert_string_equal(m.domain, goods[i].domain);
		snprintf(want, sizeof(want), "%s@%s", goods[i].local,
		         goods[i].domain);
		assert_string_equal(m.ascii, want);
		assert_int_equal(m.utf8_local, goods[i].utf8_local);
		assert_null(m.name);
	}
	arena_free(a);
}

struct bad {
	const char *in;
	size_t len; /* 0: strlen */
	const char *why;
};

static const struct bad bads[] = {
    {"", 0, "is not a valid address"},
    {"jane", 0, "has no '@'"},
    {"jane.example.com", 0, "has no '@'"},
    {"bob@@example.com", 0, "has more than one '@'"},
    {"a@b@example.com", 0, "has more than one '@'"},
    {"@example.com", 0, "has an empty local part"},
    {"\"\"@example.com", 0, "has an empty local part"},
    {".jane@example.com", 0, "has a local part that is not valid"},
    {"jane.@example.com", 0, "has a local part that is not valid"},
    {"ja..ne@example.com", 0, "has a local part that is not valid"},
    {"ja(ne)@example.com", 0, "has a local part that is not valid"},
    {"ja,ne@example.com", 0, "has a local part that is not valid"},
    {"\"unterminated@example.com", 0, "has a local part that is not valid"},
    {"\"a\"b@example.com", 0, "has a local part that is not valid"},
    {"\"a\"", 0, "has no '@'"},
    {"jane doe@example.com", 0,
     "contains whitespace outside a quoted local part"},
    {" jane@example.com", 0, "contains whitespace outside a quoted local part"},
    {"jane@exa mple.com", 0, "contains whitespace outside a quoted local part"},
    {"jane@example.com ", 0, "contains whitespace outside a quoted local part"},
    {"jane@", 0, "has an empty domain"},
    {"jane@localhost", 0, "has a domain without a dot"},
    {"jane@example.com.", 0, "has a domain that is not valid"},
    {"jane@.example.com", 0, "has a domain that is not valid"},
    {"jane@exa..mple.com", 0, "has a domain that is not valid"},
    {"jane@-example.com", 0, "has a domain that is not valid"},
    {"jane@example-.com", 0, "has a domain that is not valid"},
    {"jane@exa_mple.com", 0, "has a domain that is not valid"},
    {"jane@1.2.3.4", 0, "has a domain that is not valid"},
    /* Unicode spaces and invisible characters, anywhere */
    {"a\xc2\xa0"
     "b@example.com",
     0, "contains a Unicode space or an invisible character"},
    {"a\xe2\x80\xa8"
     "b@example.com",
     0, "contains a Unicode space or an invisible character"},
    {"a@example.com\xe2\x80\x8b", 0,
     "contains a Unicode space or an invisible character"},
    {"a@b\xc2\xad"
     "c.example",
     0, "contains a Unicode space or an invisible character"},
    {"\xe2\x80\xae"
     "ab@example.com",
     0, "contains a Unicode space or an invisible character"},
    {"\xef\xbb\xbf"
     "a@example.com",
     0, "contains a Unicode space or an invisible character"},
    /* SPEC §3.1: domain names only */
    {"a@[192.0.2.1]", 0, "has an address literal; give a domain name"},
    {"a@[IPv6:2001:DB8::1]", 0, "has an address literal; give a domain name"},
    {"jane@[1.2.3.4", 0, "has an address literal; give a domain name"},
    {"jane@[1.2.3.256]", 0, "has an address literal; give a domain name"},
    {"jane@[tag:content]", 0, "has an address literal; give a domain name"},
    {"jane@[]", 0, "has an address literal; give a domain name"},
    {"a@b.com\r\nBcc: x@y.com", 0,
     "contains CR, LF, NUL or another control character"},
    {"a@b.com\nRCPT TO:<x@y.com>", 0,
     "contains CR, LF, NUL or another control character"},
    {"a@b.com\rx", 0, "contains CR, LF, NUL or another control character"},
    {"a@b.com\0.evil.com", 17,
     "contains CR, LF, NUL or another control character"},
    {"\"a\tb\"@example.com", 0,
     "contains CR, LF, NUL or another control character"},
    {"a\x7f@example.com", 0,
     "contains CR, LF, NUL or another control character"},
    {"j\xe9r\xf4me@example.com", 0, "is not valid UTF-8"},
    {"jane@b\xc3.com", 0, "is not valid UTF-8"},
    {"\xc0\xaf@example.com", 0, "is not valid UTF-8"},     /* overlong */
    {"\xed\xa0\x80@example.com", 0, "is not valid UTF-8"}, /* surrogate */
    {"\xf4\x90\x80\x80@example.com", 0, "is not valid UTF-8"},
    {"Jane Doe <jane@example.com>", 0,
     "has a display name; give the bare address only"},
    {"<jane@example.com>", 0, "has a display name; give the bare address only"},
    {"jane@xn--a.example", 0,
     "has an internationalized domain that is not valid"},
    {"jane@bü--cher.example", 0,
     "has an internationalized domain that is not valid"},
    {"jane@xn--zz.example", 0,
     "has an internationalized domain that is not valid"},
    {"jane@bü_x.example", 0, "has a domain that is not valid"},
    {"jane@bü x.example", 0, "contains whitespace outside a quoted local part"},
};

static void
test_invalid(void **state)
{
	struct arena *a = arena_new(0);
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct mailbox m;
		const char *why = NULL;
		size_t len = bads[i].len ? bads[i].len : strlen(bads[i].in);

		memset(&m, 0, sizeof(m));
		if (addr_parse(a, bads[i].in, len, &m, &why) == 0)
			fail_msg("%s: accepted as %s", bads[i].in, m.ascii);
		assert_non_null(why);
		if (strcmp(why, bads[i].why) != 0)
			fail_msg("%s: why '%s', want '%s'", bads[i].in, why,
			         bads[i].why);
	}
	arena_free(a);
}

/* Builds "<local of nl octets>@<domain of nd octets>" into s; the
 * domain is labels of at most 61 octets ending in ".com". */
static size_t
make(char *s, size_t nl, size_t nd)
{
	size_t i, n = 0, lab = 0, rest = nd - 4;

	for (i = 0; i < nl; i++)
		s[n++] = 'l';
	s[n++] = '@';
	for (i = 0; i < rest; i++) {
		if (lab == 60 && i + 1 < rest) {
			s[n++] = '.';
			lab = 0;
			continue;
		}
		s[n++] = 'd';
		lab++;
	}
	strcpy(s + n, ".com");
	return n + 4;
}

static int
parse(struct arena *a, const char *s, const char **why)
{
	struct mailbox m;

	return addr_parse(a, s, strlen(s), &m, why);
}

static void
test_lengths(void **state)
{
	struct arena *a = arena_new(0);
	const char *why;
	char s[600];

	/* RFC 5321 §4.5.3.1.1: local part ≤ 64 octets. */
	make(s, 64, 11);
	assert_int_equal(parse(a, s, &why), 0);
	make(s, 65, 11);
	assert_int_equal(parse(a, s, &why), -1);
	assert_string_equal(why, "has a local part longer than 64 octets");
	/* UTF-8 counts octets: 32 two-octet characters = 64. */
	strcpy(s, "");
	for (int i = 0; i < 32; i++)
		strcat(s, "é");
	strcat(s, "@example.com");
	assert_int_equal(parse(a, s, &why), 0);
	memmove(s + 1, s, strlen(s) + 1);
	s[0] = 'x';
	assert_int_equal(parse(a, s, &why), -1);
	assert_string_equal(why, "has a local part longer than 64 octets");

	/* The whole address ≤ 254 octets. */
	assert_int_equal(make(s, 64, 189), 254);
	assert_int_equal(parse(a, s, &why), 0);
	assert_int_equal(make(s, 64, 190), 255);
	assert_int_equal(parse(a, s, &why), -1);
	assert_string_equal(why, "is longer than 254 octets");

	/* Labels ≤ 63. */
	strcpy(s, "a@");
	memset(s + 2, 'x', 63);
	strcpy(s + 65, ".com");
	assert_int_equal(parse(a, s, &why), 0);
	strcpy(s, "a@");
	memset(s + 2, 'x', 64);
	strcpy(s + 66, ".com");
	assert_int_equal(parse(a, s, &why), -1);
	assert_string_equal(why, "has a domain label longer than 63 octets");
	arena_free(a);
}

/* An IDN whose A-label form passes 254 octets is refused too. */
static void
test_idn_expands(void **state)
{
	struct arena *a = arena_new(0);
	const char *why;
	char s[600] = "l";
	int i;

	/* 60 × "ü." is 180 octets of input; each label becomes "xn--tda". */
	strcat(s, "@");
	for (i = 0; i < 40; i++)
		strcat(s, "ü.");
	strcat(s, "com");
	assert_true(strlen(s) <= 254);
	assert_int_equal(parse(a, s, &why), -1);
	assert_string_equal(why, "has a domain longer than 253 octets");
	arena_free(a);
}

static void
test_name_addr(void **state)
{
	const char *yes[] = {"Jane <jane@example.com>", "<jane@example.com>",
	                     "Jane<jane@example.com>",
	                     "\"Doe, Jane\" <jane@example.com> ", "<>"};
	const char *no[] = {"jane@example.com", "\"<x>\"@example.com", ">",
	                    "jane@example.com>", ""};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_int_equal(addr_is_name_addr(yes[i], strlen(yes[i])), 1);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_int_equal(addr_is_name_addr(no[i], strlen(no[i])), 0);
}

/* The parser reads only s[0..len): no NUL terminator is needed. */
static void
test_not_terminated(void **state)
{
	struct arena *a = arena_new(0);
	const char buf[] = {'a', '@', 'b', '.', 'c', 'o', 'm', 'X', 'Y'};
	struct mailbox m;
	const char *why;

	assert_int_equal(addr_parse(a, buf, 7, &m, &why), 0);
	assert_string_equal(m.ascii, "a@b.com");
	assert_string_equal(m.address, "a@b.com");
	arena_free(a);
}

/* addr_domain: a domain alone, by addr_parse's rule and with its
 * reasons; every spelling of one name gives mailbox.domain's form. */
static void
test_domain(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
	    {"example.com", "example.com"},
	    {"Example.COM", "example.com"},
	    {"B\xc3\xbc"
	     "cher.example",
	     "xn--bcher-kva.example"},
	    {"B\xc3\x9c"
	     "CHER.Example",
	     "xn--bcher-kva.example"},
	    {"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
	    {"", "has an empty domain"},
	    {"localhost", "has a domain without a dot"},
	    {"[192.0.2.1]", "has an address literal; give a domain name"},
	    {"exa\xc2\xad"
	     "mple.com",
	     "contains a Unicode space or an invisible character"},
	    {"exa\x01mple.com",
	     "contains CR, LF, NUL or another control character"},
	    {"\xff.example", "is not valid UTF-8"},
	    {"a_b.example", "has a domain that is not valid"},
	};
	static const char addr[] = "j@B\xc3\xbc"
	                           "cher.Example";
	static const char dom[] = "b\xc3\xbc"
	                          "cher.EXAMPLE";
	struct arena *a = arena_new(0);
	struct mailbox m;
	const char *out, *why;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
		    addr_domain(a, good[i].in, strlen(good[i].in), &out, &why),
		    0);
		assert_string_equal(out, good[i].out);
		assert_null(why);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = NULL;
		assert_int_equal(
		    addr_domain(a, bad[i].in, strlen(bad[i].in), &out, &why),
		    -1);
		assert_string_equal(why, bad[i].why);
	}
	/* the same as the domain of a whole address */
	assert_int_equal(addr_parse(a, addr, strlen(addr), &m, &why), 0);
	assert_int_equal(addr_domain(a, dom, strlen(dom), &out, &why), 0);
	assert_string_equal(out, m.domain);
	arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_idn_expands),
	    cmocka_unit_test(test_name_addr),
	    cmocka_unit_test(test_not_terminated),
	    cmocka_unit_test(test_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
