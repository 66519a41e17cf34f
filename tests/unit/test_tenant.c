/*
 * test_tenant: src/tenant/tenant.c against a real store in a temporary
 * directory (SPEC §2.3): bearer tokens, global keys, expiry, revocation
 * (seen after a reload), permissions, account match, entitlement, the
 * sending domains of the snapshot, what a miss and the refresh thread
 * make visible, and the rules and JSON of src/tenant.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../src/tenant/json.h"
#include "../../src/tenant/rules.h"
#include "../../src/tenant/tenant.h"
#include "../../src/core/clock.h"
#include "../../src/core/hash.h"
#include "../../src/mail/dkim.h"

#define ACC_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ACC_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ACC_N "cccccccccccccccccccccccccccccccc" /* not entitled */

static char dir[64];
static struct config cfg;
static struct store *st;
static struct tenant *au;

static void
mk_account(const char *id, int entitled)
{
	struct account a;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "%s", id);
	a.name = (char *)id;
	a.entitled = entitled;
	a.sending_enabled = 1;
	a.created = clock_now();
	assert_int_equal(store_account_create(st, &a), 0);
}

static void
mk_token(const char *id, const char *acc, const char *secret, unsigned perms,
         int64_t expires, const char *global)
{
	struct token t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.account_id, sizeof(t.account_id), "%s", acc);
	hash_sha256_hex(secret, strlen(secret), t.hash);
	t.perms = perms;
	t.expires = expires;
	t.global_email = (char *)global;
	t.created = clock_now();
	assert_int_equal(store_token_create(st, &t), 0);
}

static void
mk_domain_sel(const char *id, const char *zone, const char *acc,
              const char *name, const char *pem, const char *sel,
              const char *rp)
{
	struct zone z;
	struct domain d;

	memset(&z, 0, sizeof(z));
	snprintf(z.id, sizeof(z.id), "%s", zone);
	snprintf(z.account_id, sizeof(z.account_id), "%s", acc);
	z.name = (char *)name;
	z.created = clock_now();
	assert_int_equal(store_zone_create(st, &z), 0);
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.zone_id, sizeof(d.zone_id), "%s", zone);
	snprintf(d.account_id, sizeof(d.account_id), "%s", acc);
	d.name = (char *)name;
	d.enabled = 1;
	d.selector = (char *)sel;
	d.return_path_domain = (char *)rp;
	d.preview_enabled = 1;
	d.rsa_pem = (char *)pem;
	d.created = d.modified = clock_now();
	assert_int_equal(store_domain_create(st, &d), 0);
}

static void
mk_domain(const char *id, const char *zone, const char *acc, const char *name,
          const char *pem)
{
	mk_domain_sel(id, zone, acc, name, pem, "pigeon", "bounces.x");
}

static char *pem; /* an RSA key for the domains made by the tests */

static int
setup(void **state)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/pigeon-test-auth-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	config_defaults(&cfg, 0);
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	if (config_finish(&cfg, err, sizeof(err)) == -1)
		return -1;
	cfg.auth_cache_ms = 0; /* check the generation on every call */
	if ((st = store_open(cfg.db_path, err, sizeof(err))) == NULL)
		return -1;
	if (dkim_keygen_rsa(2048, &pem) == -1)
		return -1;
	mk_account(ACC_A, 1);
	mk_account(ACC_B, 1);
	mk_account(ACC_N, 0);
	mk_token("11111111111111111111111111111111", ACC_A, "tok-a-send",
	         PERM_SEND | PERM_READ, 0, NULL);
	mk_token("22222222222222222222222222222222", ACC_A, "tok-a-read",
	         PERM_READ, 0, NULL);
	mk_token("33333333333333333333333333333333", ACC_A, "tok-a-global",
	         PERM_SEND | PERM_READ | PERM_MANAGE, 0, "ops@example.com");
	mk_token("44444444444444444444444444444444", ACC_A, "tok-a-expired",
	         PERM_SEND, clock_now() - 10, NULL);
	mk_token("55555555555555555555555555555555", ACC_B, "tok-b", PERM_SEND,
	         clock_now() + 3600, NULL);
	mk_token("66666666666666666666666666666666", ACC_N, "tok-n", PERM_SEND,
	         0, NULL);
	mk_domain("d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1",
	          "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1", ACC_A, "example.com",
	          pem);
	mk_domain("d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2",
	          "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2", ACC_B, "b.example", pem);
	if ((au = tenant_new(&cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tenant_new: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	tenant_free(au);
	free(pem);
	store_close(st);
	config_clear(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tenant_auth with the credentials given; its status. */
static int
check(const char *hdr, const char *email, const char *key, const char *account,
      unsigned perm, int entitled, struct tenant_ctx *ctx)
{
	struct tenant_cred cred = {hdr, email, key};
	const char *why;

	return tenant_auth(au, &cred, account, perm, entitled, ctx, &why);
}

/* tenant_auth with a bearer token; returns its status. */
static int
bearer(const char *hdr, const char *account, unsigned perm, int entitled)
{
	struct tenant_ctx ctx;
	int rc;

	if ((rc = check(hdr, NULL, NULL, account, perm, entitled, &ctx)) !=
	    TENANT_OK) {
		assert_null(ctx.snap);
		return rc;
	}
	assert_non_null(ctx.token);
	assert_string_equal(ctx.account->id, ctx.token->account_id);
	tenant_release(&ctx);
	return TENANT_OK;
}

static void
test_bearer(void **state)
{
	assert_int_equal(bearer("Bearer tok-a-send", ACC_A, PERM_SEND, 1),
	                 TENANT_OK);
	assert_int_equal(bearer("bearer tok-a-send", NULL, 0, 0), TENANT_OK);
	assert_int_equal(bearer(NULL, ACC_A, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(bearer("Bearer ", ACC_A, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(bearer("Basic tok-a-send", ACC_A, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(bearer("Bearer tok-a-sen", ACC_A, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(bearer("Bearer tok-a-expired", ACC_A, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(bearer("Bearer tok-b", ACC_B, PERM_SEND, 1),
	                 TENANT_OK);
}

static void
test_account_and_perms(void **state)
{
	/* another account, known or not: 10102 */
	assert_int_equal(bearer("Bearer tok-a-send", ACC_B, PERM_SEND, 1),
	                 TENANT_FORBIDDEN);
	assert_int_equal(bearer("Bearer tok-a-send",
	                        "ffffffffffffffffffffffffffffffff", PERM_SEND,
	                        1),
	                 TENANT_FORBIDDEN);
	assert_int_equal(bearer("Bearer tok-a-read", ACC_A, PERM_SEND, 1),
	                 TENANT_FORBIDDEN);
	assert_int_equal(bearer("Bearer tok-a-read", ACC_A, PERM_READ, 1),
	                 TENANT_OK);
	assert_int_equal(bearer("Bearer tok-a-send", ACC_A, PERM_MANAGE, 1),
	                 TENANT_FORBIDDEN);
	assert_int_equal(bearer("Bearer tok-n", ACC_N, PERM_SEND, 1),
	                 TENANT_NOT_ENTITLED);
	assert_int_equal(bearer("Bearer tok-n", NULL, 0, 0), TENANT_OK);
}

static void
test_global_key(void **state)
{
	struct tenant_ctx ctx;

	assert_int_equal(bearer("Bearer tok-a-global", ACC_A, PERM_SEND, 1),
	                 TENANT_BAD_TOKEN_TYPE);
	assert_int_equal(check(NULL, "OPS@example.com", "tok-a-global", ACC_A,
	                       PERM_SEND, 1, &ctx),
	                 0);
	assert_string_equal(ctx.token->id, "33333333333333333333333333333333");
	tenant_release(&ctx);
	assert_int_equal(check(NULL, "other@example.com", "tok-a-global", ACC_A,
	                       PERM_SEND, 1, &ctx),
	                 TENANT_UNAUTHORIZED);
	/* an ordinary token is not a global key */
	assert_int_equal(check(NULL, "ops@example.com", "tok-a-send", ACC_A,
	                       PERM_SEND, 1, &ctx),
	                 TENANT_UNAUTHORIZED);
	assert_int_equal(
	    check(NULL, NULL, "tok-a-global", ACC_A, PERM_SEND, 1, &ctx),
	    TENANT_UNAUTHORIZED);
}

static void
test_domains(void **state)
{
	struct tenant_ctx ctx;
	const struct tenant_domain *d;

	assert_int_equal(
	    check("Bearer tok-a-send", NULL, NULL, ACC_A, PERM_SEND, 1, &ctx),
	    0);
	assert_non_null(d = tenant_domain(&ctx, "example.com"));
	assert_string_equal(d->d.id, "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1");
	assert_non_null(d->rsa);
	assert_null(d->ed);
	assert_non_null(tenant_domain(&ctx, "EXAMPLE.com"));
	assert_null(tenant_domain(&ctx, "b.example")); /* account B's */
	assert_null(tenant_domain(&ctx, "other.example"));
	tenant_release(&ctx);
}

static void
test_reload(void **state)
{
	struct tenant_ctx held;

	/* A request holds the old snapshot across a reload. */
	assert_int_equal(
	    check("Bearer tok-b", NULL, NULL, ACC_B, PERM_SEND, 1, &held), 0);
	assert_int_equal(
	    store_token_revoke(st, "55555555555555555555555555555555"), 0);
	assert_int_equal(bearer("Bearer tok-b", ACC_B, PERM_SEND, 1),
	                 TENANT_UNAUTHORIZED);
	/* still readable: the snapshot lives until released */
	assert_string_equal(held.token->id, "55555555555555555555555555555555");
	assert_non_null(tenant_domain(&held, "b.example"));
	tenant_release(&held);
	/* a new token is seen without a restart */
	mk_token("77777777777777777777777777777777", ACC_B, "tok-b2", PERM_SEND,
	         0, NULL);
	assert_int_equal(bearer("Bearer tok-b2", ACC_B, PERM_SEND, 1),
	                 TENANT_OK);
}

/* A tenant of its own with another auth_cache_ms (the config shared). */
static struct tenant *
tenant_with(struct config *c, int auth_cache_ms)
{
	struct tenant *t;
	char err[256];

	*c = cfg;
	c->auth_cache_ms = auth_cache_ms;
	if ((t = tenant_new(c, err, sizeof(err))) == NULL)
		fail_msg("tenant_new: %s", err);
	return t;
}

static int
auth_with(struct tenant *t, const char *hdr, const char *account,
          struct tenant_ctx *ctx)
{
	struct tenant_cred cred = {hdr, NULL, NULL};
	const char *why;

	return tenant_auth(t, &cred, account, PERM_SEND, 1, ctx, &why);
}

/* What the CLI creates works at once, even when the refresh thread
 * would not look for an hour: a miss checks the generation. */
static void
test_created_works_at_once(void **state)
{
	struct config c;
	struct tenant *t = tenant_with(&c, 3600000);
	struct tenant_ctx ctx;
	const struct tenant_domain *d;

	assert_int_equal(auth_with(t, "Bearer tok-a-new", ACC_A, &ctx),
	                 TENANT_UNAUTHORIZED);
	mk_token("88888888888888888888888888888888", ACC_A, "tok-a-new",
	         PERM_SEND, 0, NULL);
	assert_int_equal(auth_with(t, "Bearer tok-a-new", ACC_A, &ctx),
	                 TENANT_OK);
	assert_null(tenant_domain(&ctx, "new.example"));
	tenant_release(&ctx);

	/* a sending domain made after the request's snapshot was taken;
	 * an old row without selector or return path gets the defaults */
	assert_int_equal(auth_with(t, "Bearer tok-a-new", ACC_A, &ctx),
	                 TENANT_OK);
	mk_domain_sel("d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3",
	              "e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3", ACC_A, "new.example",
	              pem, NULL, NULL);
	assert_non_null(d = tenant_domain(&ctx, "New.Example"));
	assert_string_equal(d->d.id, "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3");
	assert_string_equal(d->d.selector, TENANT_SELECTOR);
	assert_string_equal(d->d.return_path_domain, "bounces.new.example");
	assert_non_null(d->rsa);
	/* the token found before the reload is still the request's */
	assert_string_equal(ctx.token->id, "88888888888888888888888888888888");
	assert_non_null(tenant_domain(&ctx, "example.com"));
	tenant_release(&ctx);
	tenant_free(t);
}

/* A revocation is not a miss: the refresh thread makes it visible
 * within auth_cache_ms. */
static void
test_refresh_sees_revocation(void **state)
{
	struct config c;
	struct tenant *t = tenant_with(&c, 20);
	struct tenant_ctx ctx;
	int i, rc = TENANT_OK;

	mk_token("99999999999999999999999999999999", ACC_A, "tok-a-short",
	         PERM_SEND, 0, NULL);
	assert_int_equal(auth_with(t, "Bearer tok-a-short", ACC_A, &ctx),
	                 TENANT_OK);
	tenant_release(&ctx);
	assert_int_equal(
	    store_token_revoke(st, "99999999999999999999999999999999"), 0);
	for (i = 0; i < 200 && rc == TENANT_OK; i++) {
		usleep(10000);
		if ((rc = auth_with(t, "Bearer tok-a-short", ACC_A, &ctx)) ==
		    TENANT_OK)
			tenant_release(&ctx);
	}
	assert_int_equal(rc, TENANT_UNAUTHORIZED);
	tenant_free(t);
}

/* Bad tokens, many of them, from several threads: every one refused,
 * and the tenant stays usable (the miss path is bounded, not a reload
 * each). */
static void *
flood(void *arg)
{
	struct tenant *t = arg;
	struct tenant_ctx ctx;
	char hdr[64];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(hdr, sizeof(hdr), "Bearer bad-%p-%d", (void *)&ctx, i);
		if (auth_with(t, hdr, ACC_A, &ctx) != TENANT_UNAUTHORIZED)
			return (void *)1;
	}
	return NULL;
}

static void
test_bad_token_flood(void **state)
{
	struct config c;
	struct tenant *t = tenant_with(&c, 3600000);
	struct tenant_ctx ctx;
	pthread_t th[4];
	void *r;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, flood, t), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &r), 0);
		assert_null(r);
	}
	assert_int_equal(auth_with(t, "Bearer tok-a-send", ACC_A, &ctx),
	                 TENANT_OK);
	tenant_release(&ctx);
	tenant_free(t);
}

/* The defaults of SPEC §6.1 where a domain has none, in its DNS
 * records. */
static void
test_dns_defaults(void **state)
{
	struct domain d;
	struct dnsrec *v;
	size_t n;

	memset(&d, 0, sizeof(d));
	d.name = "example.com";
	d.rsa_pem = pem;
	assert_int_equal(tenant_dns(&d, "h.example.net", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "pigeon._domainkey.example.com");
	assert_string_equal(v[1].name, "bounces.example.com");
	assert_string_equal(v[1].content, "v=spf1 a:h.example.net -all");
	assert_string_equal(v[2].name, "bounces.example.com");
	assert_string_equal(v[2].content, "h.example.net");
	assert_string_equal(v[3].name, "_dmarc.example.com");
	dnsrec_free(v, n);
	/* a dev machine's "vm" cannot be named in SPF or MX: left out */
	assert_int_equal(tenant_dns(&d, "vm", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "pigeon._domainkey.example.com");
	assert_string_equal(v[1].name, "_dmarc.example.com");
	dnsrec_free(v, n);
}

static void
test_rules(void **state)
{
	char out[256], ps[32];
	unsigned perms;

	assert_int_equal(tenant_perms_parse("send,read,manage", &perms), 0);
	assert_int_equal(perms, PERM_SEND | PERM_READ | PERM_MANAGE);
	assert_string_equal(tenant_perms_str(perms, ps), "send,read,manage");
	assert_string_equal(tenant_perms_str(PERM_READ, ps), "read");
	assert_string_equal(tenant_perms_str(0, ps), "");
	assert_int_equal(tenant_perms_parse("send,write", &perms), -1);
	assert_true(tenant_in_zone("example.com", "example.com"));
	assert_true(tenant_in_zone("mail.example.com", "example.com"));
	assert_false(tenant_in_zone("badexample.com", "example.com"));
	assert_false(tenant_in_zone("com", "example.com"));
	/* one IDN rule with the address parser: an A-label must decode */
	assert_int_equal(
	    tenant_domain_name("xn--bcher-kva.DE", out, sizeof(out)), 0);
	assert_string_equal(out, "xn--bcher-kva.de");
	assert_int_equal(tenant_domain_name("xn--zz.com", out, sizeof(out)),
	                 -1);
	assert_int_equal(tenant_domain_name("fa\xc3\x9f.de", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "xn--fa-hia.de");
}

/* The JSON of a token: perms in table order, no empty name. */
static void
test_json(void **state)
{
	struct token t;
	struct json_object *o;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", "11111111111111111111111111111111");
	snprintf(t.account_id, sizeof(t.account_id), "%s", ACC_A);
	t.name = "";
	t.perms = PERM_MANAGE | PERM_SEND;
	t.created = 86400;
	o = tenant_token_json(&t);
	assert_string_equal(
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"id\":\"11111111111111111111111111111111\",\"account_id\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"name\":null,\"perms\":"
	    "[\"send\",\"manage\"],\"expires\":null,\"revoked\":false,"
	    "\"global_email\":null,\"created\":\"1970-01-02T00:00:00Z\"}");
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_account_and_perms),
	    cmocka_unit_test(test_global_key),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_created_works_at_once),
	    cmocka_unit_test(test_refresh_sees_revocation),
	    cmocka_unit_test(test_bad_token_flood),
	    cmocka_unit_test(test_dns_defaults),
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
