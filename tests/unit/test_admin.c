/*
 * test_admin: the command line of `pigeon` (src/main.c, included so its
 * static parser can be reached) and the value parsers, ids and secrets of
 * src/admin/admin.c. The commands against a real store are exercised by
 * the integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* main.c's main, renamed so this file can have its own */
int pigeon_main(int argc, char **argv);
#define main pigeon_main
#include "../../src/main.c"
#undef main

#include "../../src/core/random.h"

/* Runs the parser on a command line; returns find/parse status (0 ok). */
static int
parse(struct admin *a, const char **cfile, int *dev, int argc,
      const char **argv)
{
	int used = 0, status = -1;

	memset(a, 0, sizeof(*a));
	*cfile = NULL;
	*dev = 0;
	if ((a->cmd = find_cmd(argc, (char **)argv, &used, &status)) == NULL)
		return status;
	return parse_args(a, argc - used, (char **)argv + used, cfile, dev);
}

static void
test_parse_ok(void **state)
{
	const char *argv[] = {"pigeon",
	                      "token",
	                      "create",
	                      "--dev",
	                      "0123456789abcdef0123456789abcdef",
	                      "--perm=send",
	                      "--expires",
	                      "2027-01-01",
	                      "--json",
	                      "--ed"};
	struct admin a;
	const char *cfile;
	int dev;

	assert_int_equal(parse(&a, &cfile, &dev, 9, argv), 0);
	assert_ptr_equal(a.cmd->fn, admin_token_create);
	assert_int_equal(dev, 1);
	assert_int_equal(a.json, 1);
	assert_null(cfile);
	assert_int_equal(a.nargs, 1);
	assert_string_equal(a.args[0], "0123456789abcdef0123456789abcdef");
	assert_string_equal(admin_opt(&a, "--perm"), "send");
	assert_string_equal(admin_opt(&a, "--expires"), "2027-01-01");
	assert_null(admin_opt(&a, "--name"));

	/* A row's own option is unknown to other rows. */
	assert_int_equal(parse(&a, &cfile, &dev, 10, argv), ADMIN_USAGE);
}

static void
test_parse_config_forms(void **state)
{
	const char *v1[] = {"pigeon", "check", "-c", "/etc/p.conf", "-v"};
	const char *v2[] = {"pigeon", "check", "-c/x.conf"};
	const char *v3[] = {"pigeon", "check", "--config=/y.conf"};
	const char *v4[] = {"pigeon", "check", "-c"};
	struct admin a;
	const char *cfile;
	int dev;

	assert_int_equal(parse(&a, &cfile, &dev, 5, v1), 0);
	assert_string_equal(cfile, "/etc/p.conf");
	assert_string_equal(admin_opt(&a, "-v"), "");
	assert_int_equal(dev, 0);
	assert_int_equal(parse(&a, &cfile, &dev, 3, v2), 0);
	assert_string_equal(cfile, "/x.conf");
	assert_int_equal(parse(&a, &cfile, &dev, 3, v3), 0);
	assert_string_equal(cfile, "/y.conf");
	assert_int_equal(parse(&a, &cfile, &dev, 3, v4), ADMIN_USAGE);
}

static void
test_parse_usage_errors(void **state)
{
	const char *unknown[] = {"pigeon", "frob"};
	const char *nosub[] = {"pigeon", "zone"};
	const char *badsub[] = {"pigeon", "zone", "delete", "x"};
	const char *missing[] = {"pigeon", "zone", "create", "acct"};
	const char *extra[] = {"pigeon", "zone", "list", "a", "b"};
	const char *novalue[] = {"pigeon", "account", "create", "n", "--id"};
	const char *flagval[] = {"pigeon", "domain", "create",
	                         "z",      "n",      "--ed25519=yes"};
	const char *dashdash[] = {"pigeon", "account", "create", "--",
	                          "--odd-name"};
	struct admin a;
	const char *cfile;
	int dev;

	assert_int_equal(parse(&a, &cfile, &dev, 2, unknown), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 2, nosub), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 4, badsub), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 4, missing), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 5, extra), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 5, novalue), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 6, flagval), ADMIN_USAGE);
	assert_int_equal(parse(&a, &cfile, &dev, 5, dashdash), 0);
	assert_string_equal(a.args[0], "--odd-name");
}

/* Every row: usage names as many words as nargs, options fit the row. */
static void
test_table(void **state)
{
	size_t i, k;
	int words;
	const char *p;

	for (i = 0; i < NCOMMANDS; i++) {
		const struct admin_cmd *c = &commands[i];

		assert_non_null(c->fn);
		assert_non_null(c->summary);
		assert_non_null(c->example);
		assert_non_null(strstr(c->example, c->name));
		words = 0;
		for (p = c->usage; *p; p++)
			if (p == c->usage || p[-1] == ' ')
				words++;
		assert_int_equal(words, c->nargs);
		assert_true(c->nargs <= ADMIN_MAX_ARGS);
		for (k = 0; k < ADMIN_MAX_OPTS && c->opts[k].name; k++)
			assert_non_null(c->opts[k].help);
	}
}

static void
test_parse_time(void **state)
{
	time_t t;

	assert_int_equal(admin_parse_time("2027-01-01", &t), 0);
	assert_int_equal(t, 1798761600);
	assert_int_equal(admin_parse_time("2027-01-01T12:30:00Z", &t), 0);
	assert_int_equal(t, 1798761600 + 12 * 3600 + 30 * 60);
	assert_int_equal(admin_parse_time("2027-01-01T12:30Z", &t), 0);
	assert_int_equal(t, 1798761600 + 12 * 3600 + 30 * 60);
	assert_int_equal(admin_parse_time("2027-01-01T12:30:00.250+02:00", &t),
	                 0);
	assert_int_equal(t, 1798761600 + 10 * 3600 + 30 * 60);
	assert_int_equal(admin_parse_time("2027-01-01T00:00:00-0130", &t), 0);
	assert_int_equal(t, 1798761600 + 90 * 60);
	assert_int_equal(admin_parse_time("2028-02-29", &t), 0);

	assert_int_equal(admin_parse_time("2027-02-29", &t), -1);
	assert_int_equal(admin_parse_time("2027-13-01", &t), -1);
	assert_int_equal(admin_parse_time("2027-1-01", &t), -1);
	assert_int_equal(admin_parse_time("2027-01-01T25:00Z", &t), -1);
	assert_int_equal(admin_parse_time("2027-01-01X", &t), -1);
	assert_int_equal(admin_parse_time("2027-01-01T10:00:00+2", &t), -1);
	assert_int_equal(admin_parse_time("tomorrow", &t), -1);
	assert_int_equal(admin_parse_time("", &t), -1);
}

static void
test_parse_values(void **state)
{
	unsigned perms;
	int64_t n;
	int b;

	assert_int_equal(admin_parse_bool("yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(admin_parse_bool("False", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(admin_parse_bool("0", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(admin_parse_bool("maybe", &b), -1);

	assert_int_equal(admin_parse_count("0", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(admin_parse_count("1000000", &n), 0);
	assert_int_equal(n, 1000000);
	assert_int_equal(admin_parse_count("-1", &n), -1);
	assert_int_equal(admin_parse_count("+1", &n), -1);
	assert_int_equal(admin_parse_count("1e3", &n), -1);
	assert_int_equal(admin_parse_count("", &n), -1);
	assert_int_equal(admin_parse_count("99999999999999999999", &n), -1);

	assert_int_equal(admin_parse_perms("send", &perms), 0);
	assert_int_equal(perms, PERM_SEND);
	assert_int_equal(admin_parse_perms("manage,send,read", &perms), 0);
	assert_int_equal(perms, PERM_SEND | PERM_READ | PERM_MANAGE);
	assert_int_equal(admin_parse_perms("send,", &perms), -1);
	assert_int_equal(admin_parse_perms("sen", &perms), -1);
	assert_int_equal(admin_parse_perms("send,admin", &perms), -1);
	assert_int_equal(admin_parse_perms("", &perms), -1);
}

static void
test_names(void **state)
{
	char out[256], id[ID_LEN + 1];

	assert_int_equal(
	    admin_domain_name("Mail.Example.COM.", out, sizeof(out)), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(admin_domain_name("b\xc3\xbc"
	                                   "cher.example",
	                                   out, sizeof(out)),
	                 0);
	assert_string_equal(out, "xn--bcher-kva.example");
	assert_int_equal(admin_domain_name("localhost", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("a..b", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("-a.b", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("a-.b", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("a_b.c", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("a b.c", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("x@y.z", out, sizeof(out)), -1);
	assert_int_equal(admin_domain_name("", out, sizeof(out)), -1);

	assert_true(admin_selector_ok("pigeon"));
	assert_true(admin_selector_ok("s2026.eu"));
	assert_false(admin_selector_ok("bad_sel"));
	assert_false(admin_selector_ok(""));
	assert_false(admin_selector_ok("a.b."));

	assert_int_equal(admin_id_parse("0123456789ABCDEF0123456789abcdef", id),
	                 0);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	assert_int_equal(admin_id_parse("0123456789abcdef0123456789abcde", id),
	                 -1);
	assert_int_equal(admin_id_parse("0123456789abcdef0123456789abcdeg", id),
	                 -1);
}

static void
test_ids_and_secrets(void **state)
{
	char id[ID_LEN + 1], s1[TOKEN_LEN + 1], s2[TOKEN_LEN + 1];
	size_t i;

	admin_new_id(id);
	assert_int_equal(strlen(id), ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), ID_LEN);
	admin_new_secret(s1);
	admin_new_secret(s2);
	assert_int_equal(strlen(s1), TOKEN_LEN);
	for (i = 0; i < TOKEN_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                       "abcdefghijklmnopqrstuvwxyz0123456789-_",
		                       s1[i]));
	assert_string_not_equal(s1, s2);
}

static void
test_mkdirs(void **state)
{
	char tmpl[] = "/tmp/test_admin.XXXXXX", path[256], file[300];
	struct stat st;
	FILE *fp;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/a/b/c", tmpl);
	assert_int_equal(admin_mkdirs(path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777 & ~0700, 0);
	assert_int_equal(admin_mkdirs(path), 0); /* exists: fine */
	snprintf(file, sizeof(file), "%s/f", path);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/a/b/c/f/g", tmpl);
	assert_int_equal(admin_mkdirs(path), -1); /* under a file */
	unlink(file);
	snprintf(path, sizeof(path), "%s/a/b/c", tmpl);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a/b", tmpl);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a", tmpl);
	rmdir(path);
	rmdir(tmpl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_config_forms),
	    cmocka_unit_test(test_parse_usage_errors),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_parse_values),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_ids_and_secrets),
	    cmocka_unit_test(test_mkdirs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
