/*
 * test_dnsrec: the records of SPEC §6.2 for a sending domain. The DKIM
 * key is a fixed PEM (data/dnsrec/rsa.pem); its expected p= value was
 * made independently with `openssl pkey -pubout -outform DER | base64`
 * (data/dnsrec/rsa.pub.b64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/mail/dkim.h"
#include "../../src/mail/dnsrec.h"

static char *
slurp(const char *path)
{
	FILE *fp;
	char *p;
	long n;

	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	p[n] = '\0';
	fclose(fp);
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		p[--n] = '\0';
	return p;
}

static void
domain_fixture(struct dnsrec_domain *d, char *pem)
{
	memset(d, 0, sizeof(*d));
	d->name = "mail.example.com";
	d->selector = "s2026";
	d->return_path = "bounces.mail.example.com";
	d->rsa_pem = pem;
}

static void
test_records(void **state)
{
	char *pem = slurp("data/dnsrec/rsa.pem");
	char *pub = slurp("data/dnsrec/rsa.pub.b64");
	char want[1024];
	struct dnsrec_domain d;
	struct dnsrec *v;
	size_t n, i;

	domain_fixture(&d, pem);
	assert_int_equal(dnsrec_for_domain(&d, "mx1.pigeon.test", &v, &n), 0);
	assert_int_equal(n, 4);

	assert_string_equal(v[0].type, "TXT");
	assert_string_equal(v[0].name, "s2026._domainkey.mail.example.com");
	snprintf(want, sizeof(want), "v=DKIM1; k=rsa; p=%s", pub);
	assert_string_equal(v[0].content, want);
	assert_int_equal(v[0].priority, -1);

	assert_string_equal(v[1].type, "TXT");
	assert_string_equal(v[1].name, "bounces.mail.example.com");
	assert_string_equal(v[1].content, "v=spf1 a:mx1.pigeon.test -all");
	assert_int_equal(v[1].priority, -1);

	assert_string_equal(v[2].type, "MX");
	assert_string_equal(v[2].name, "bounces.mail.example.com");
	assert_string_equal(v[2].content, "mx1.pigeon.test");
	assert_int_equal(v[2].priority, 10);

	assert_string_equal(v[3].type, "TXT");
	assert_string_equal(v[3].name, "_dmarc.mail.example.com");
	assert_string_equal(v[3].content, "v=DMARC1; p=none");
	assert_int_equal(v[3].priority, -1);

	for (i = 0; i < n; i++)
		assert_int_equal(v[i].ttl, 3600);
	dnsrec_free(v, n);
	free(pem);
	free(pub);
}

/* Every field is required: the defaults of SPEC §6.1 are the tenant's
 * (tenant_dns, tested in test_tenant.c). */
static void
test_fields_required(void **state)
{
	char *pem = slurp("data/dnsrec/rsa.pem");
	struct dnsrec_domain d;
	struct dnsrec *v;
	size_t n;

	domain_fixture(&d, pem);
	d.selector = NULL;
	assert_int_equal(dnsrec_for_domain(&d, "h", &v, &n), -1);
	domain_fixture(&d, pem);
	d.return_path = NULL;
	assert_int_equal(dnsrec_for_domain(&d, "h", &v, &n), -1);
	free(pem);
}

/* The Ed25519 key is published at its own selector, right after the RSA
 * key, with the raw 32-byte public key (RFC 8463 §4.2). */
static void
test_ed25519_published(void **state)
{
	char *pem = slurp("data/dnsrec/rsa.pem");
	char *ed = NULL, *txt;
	struct dkim_key *k;
	struct dnsrec_domain d;
	struct dnsrec *v;
	size_t n;

	assert_int_equal(dkim_keygen_ed25519(&ed), 0);
	domain_fixture(&d, pem);
	d.name = "example.com";
	d.selector = "s1";
	d.ed_pem = ed;
	assert_int_equal(dnsrec_for_domain(&d, "h.example.net", &v, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0].name, "s1._domainkey.example.com");
	assert_non_null(strstr(v[0].content, "k=rsa"));
	assert_string_equal(v[1].name, "s1-ed25519._domainkey.example.com");
	assert_string_equal(v[1].type, "TXT");
	assert_non_null(k = dkim_key_load(ed));
	assert_non_null(txt = dkim_dns_txt(k));
	assert_string_equal(v[1].content, txt);
	assert_non_null(strstr(txt, "k=ed25519"));
	free(txt);
	dkim_key_free(k);
	dnsrec_free(v, n);
	free(ed);
	free(pem);
}

/*
 * A hostname that is not a full domain name ("vm", a dev machine's)
 * cannot be an SPF a: domain (RFC 7208 §7.1) or a useful MX target: both
 * records are left out, the DKIM and DMARC ones stay.
 */
static void
test_dotless_hostname(void **state)
{
	static const char *bad[] = {"vm", "vm.", ".vm", "localhost"};
	char *pem = slurp("data/dnsrec/rsa.pem");
	struct dnsrec_domain d;
	struct dnsrec *v;
	size_t n, i, k;

	domain_fixture(&d, pem);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_false(dnsrec_host_ok(bad[k]));
		assert_int_equal(dnsrec_for_domain(&d, bad[k], &v, &n), 0);
		assert_int_equal(n, 2);
		for (i = 0; i < n; i++) {
			assert_string_equal(v[i].type, "TXT");
			assert_null(strstr(v[i].content, "spf1"));
			assert_null(strstr(v[i].content, bad[k]));
		}
		assert_string_equal(v[1].name, "_dmarc.mail.example.com");
		dnsrec_free(v, n);
	}
	assert_false(dnsrec_host_ok(NULL));
	assert_true(dnsrec_host_ok("vm.example.net"));
	assert_true(dnsrec_host_ok("mx1.pigeon.test."));
	free(pem);
}

static void
test_errors(void **state)
{
	struct dnsrec_domain d;
	struct dnsrec *v = (struct dnsrec *)&d;
	size_t n = 7;

	domain_fixture(&d, NULL);
	assert_int_equal(dnsrec_for_domain(&d, "h", &v, &n), -1);
	assert_null(v);
	assert_int_equal(n, 0);

	domain_fixture(&d, "-----BEGIN PRIVATE KEY-----\nnope\n"
	                   "-----END PRIVATE KEY-----\n");
	assert_int_equal(dnsrec_for_domain(&d, "h", &v, &n), -1);
	assert_null(v);
	dnsrec_free(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records),
	    cmocka_unit_test(test_fields_required),
	    cmocka_unit_test(test_ed25519_published),
	    cmocka_unit_test(test_dotless_hostname),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
