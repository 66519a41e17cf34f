/*
 * test_config: src/core/config.c — defaults, loading a file (units,
 * comments, blank lines), errors that name FILE:LINE, the route table
 * (parsing, refusals, config_route_for) and the delivery directives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/core/config.h"

static char path[64];

/* Writes text to a fresh temporary file named in path. */
static void
write_conf(const char *text)
{
	int fd;

	strcpy(path, "/tmp/test_config.XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Loads text over the defaults; returns config_load's result. */
static int
load(struct config *c, const char *text, char *err, size_t errlen)
{
	int rc;

	config_defaults(c, 0);
	write_conf(text);
	err[0] = '\0';
	rc = config_load(c, path, err, errlen);
	unlink(path);
	return rc;
}

static void
test_defaults(void **state)
{
	struct config c;
	char err[256];

	config_defaults(&c, 0);
	assert_int_equal(c.dev, 0);
	assert_string_equal(c.state_dir, "/var/lib/pigeon");
	assert_non_null(c.hostname);
	assert_true(strlen(c.hostname) > 0);
	assert_string_equal(c.http_listen, "127.0.0.1");
	assert_int_equal(c.http_port, 8587);
	assert_int_equal(c.http_threads, 0);
	assert_int_equal(c.max_body, 7 * 1024 * 1024);
	assert_int_equal(c.max_inflight_body, 256 * 1024 * 1024);
	assert_int_equal(c.request_timeout, 60);
	assert_int_equal(c.send_wait_ms, 5000);
	assert_int_equal(c.max_queue_age, 3 * 86400);
	assert_int_equal(c.retry_base_ms, 60000);
	assert_int_equal(c.retry_max_ms, 3600000);
	assert_int_equal(c.commit_batch, 512);
	assert_int_equal(c.auth_cache_ms, 1000);
	/* the table is whole before any file: one row, `* capture` */
	assert_int_equal(c.nroutes, 1);
	assert_int_equal(c.nroutes_file, 0);
	assert_string_equal(c.routes[0].pattern, "*");
	assert_int_equal(c.routes[0].kind, CFG_ROUTE_CAPTURE);
	assert_string_equal(c.routes[0].text, "* capture");
	assert_int_equal(c.routes[0].line, 0);
	assert_ptr_equal(config_route_for(&c, "example.net"), &c.routes[0]);
	assert_int_equal(c.capture_defer_attempts, 2);
	assert_int_equal(c.capture_slow_ms, 10000);
	assert_string_equal(c.log_level, "info");
	assert_null(c.db_path);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.db_path, "/var/lib/pigeon/pigeon.db");
	config_clear(&c);
	assert_null(c.state_dir);
	assert_null(c.db_path);

	config_defaults(&c, 1);
	assert_int_equal(c.dev, 1);
	assert_string_equal(c.state_dir, "./var");
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.db_path, "./var/pigeon.db");
	assert_int_equal(c.nroutes, 1);
	assert_string_equal(c.routes[0].text, "* capture");
	config_clear(&c);
	assert_null(c.routes);
	assert_int_equal(c.nroutes, 0);
}

static void
test_load_units(void **state)
{
	struct config c;
	char err[256];

	assert_int_equal(load(&c,
	                      "# pigeon.conf\n"
	                      "\n"
	                      "send_wait_ms 2s\n"
	                      "   retry_base_ms   1m   # one minute\n"
	                      "retry_max_ms 2h\n"
	                      "max_queue_age 1d\n"
	                      "auth_cache_ms 250ms\n"
	                      "capture_slow_ms 1500\n"
	                      "http_port 9000\n"
	                      "max_body 1048576\n"
	                      "max_inflight_body 8388608\n"
	                      "request_timeout 2m\n"
	                      "state_dir /srv/pigeon\n"
	                      "log_level\tdebug\n"
	                      "capture_defer_attempts 0",
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(c.send_wait_ms, 2000);
	assert_int_equal(c.retry_base_ms, 60000);
	assert_int_equal(c.retry_max_ms, 7200000);
	assert_int_equal(c.max_queue_age, 86400);
	assert_int_equal(c.auth_cache_ms, 250);
	assert_int_equal(c.capture_slow_ms, 1500);
	assert_int_equal(c.http_port, 9000);
	assert_int_equal(c.max_body, 1048576);
	assert_int_equal(c.max_inflight_body, 8388608);
	assert_int_equal(c.request_timeout, 120);
	assert_string_equal(c.state_dir, "/srv/pigeon");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.capture_defer_attempts, 0);
	/* Untouched directives keep their defaults. */
	assert_int_equal(c.commit_batch, 512);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.db_path, "/srv/pigeon/pigeon.db");
	config_clear(&c);

	/* Seconds directives: a plain number is seconds; ms must be whole. */
	assert_int_equal(load(&c, "max_queue_age 90\n", err, sizeof(err)), 0);
	assert_int_equal(c.max_queue_age, 90);
	config_clear(&c);
	assert_int_equal(load(&c, "max_queue_age 2000ms\n", err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_queue_age, 2);
	config_clear(&c);
	assert_int_equal(load(&c, "max_queue_age 1500ms\n", err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "whole seconds"));
	config_clear(&c);
}

/* Each bad file must fail with "FILE:LINE: ..." and the given words. */
static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *words;
	} t[] = {
	    {"send_wait_ms 2s\nbogus 1\n", 2, "unknown directive 'bogus'"},
	    {"# c\n\nsend_wait_ms abc\n", 3, "send_wait_ms 'abc': expected"},
	    {"send_wait_ms 5x\n", 1, "unknown unit"},
	    {"send_wait_ms 2 s\n", 1, "unknown unit"},
	    {"send_wait_ms 61s\n", 1, "out of range"},
	    {"send_wait_ms -1\n", 1, "out of range"},
	    {"http_port 70000\n", 1, "out of range"},
	    {"http_port 80x\n", 1, "expected a number"},
	    {"http_port 99999999999999999999999\n", 1, "expected a number"},
	    {"retry_base_ms 200000000000d\n", 1, "out of range"},
	    {"retry_base_ms -200000000000d\n", 1, "out of range"},
	    {"max_queue_age 9223372036854775807d\n", 1, "out of range"},
	    {"max_body 100\n", 1, "out of range"},
	    {"message_retention 0\n", 1, "out of range"},
	    {"message_retention 3651d\n", 1, "out of range"},
	    {"message_retention 1500ms\n", 1, "whole seconds"},
	    {"request_timeout 0\n", 1, "out of range"},
	    {"request_timeout 2h\n", 1, "out of range"},
	    {"http_port\n", 1, "'http_port' needs a value"},
	    {"http_port   # comment only\n", 1, "needs a value"},
	    {"Send_Wait_Ms 1\n", 1, "unknown directive"},
	};
	struct config c;
	char err[512], want[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (load(&c, t[i].text, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", t[i].text);
		snprintf(want, sizeof(want), "%s:%d: ", path, t[i].line);
		if (strncmp(err, want, strlen(want)) != 0 ||
		    strstr(err, t[i].words) == NULL)
			fail_msg("%s: error '%s', want '%s...%s'", t[i].text,
			         err, want, t[i].words);
		config_clear(&c);
	}
}

/* A line longer than the reader's buffer is an error, not two lines. */
static void
test_long_line(void **state)
{
	struct config c;
	char err[512], *text;
	size_t n = 5000;

	text = malloc(n + 32);
	assert_non_null(text);
	strcpy(text, "state_dir /");
	memset(text + 11, 'x', n);
	strcpy(text + 11 + n, "\nhttp_port 1\n");
	assert_int_equal(load(&c, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: line too long"));
	free(text);
	config_clear(&c);
}

static void
test_missing_file(void **state)
{
	struct config c;
	char err[256];

	config_defaults(&c, 0);
	assert_int_equal(
	    config_load(&c, "/nonexistent/pigeon.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/pigeon.conf"));
	config_clear(&c);
}

static void
test_finish_checks(void **state)
{
	struct config c;
	char err[256];

	assert_int_equal(
	    load(&c, "retry_base_ms 2h\nretry_max_ms 1h\n", err, sizeof(err)),
	    0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "retry_max_ms"));
	config_clear(&c);
	assert_int_equal(load(&c, "log_level loud\n", err, sizeof(err)), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "log_level 'loud'"));
	config_clear(&c);
	assert_int_equal(load(&c, "access_log some\n", err, sizeof(err)), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(
	    strstr(err, "access_log 'some': use all, errors or off"));
	config_clear(&c);
	/* the largest body must fit in the budget of bodies in flight */
	assert_int_equal(
	    load(&c, "max_inflight_body 1048576\n", err, sizeof(err)), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "max_inflight_body is below max_body"));
	config_clear(&c);
}

/* message_retention: 30 days by default, units as max_queue_age, and
 * never shorter than max_queue_age (both named in the refusal). */
static void
test_message_retention(void **state)
{
	struct config c;
	char err[256], buf[32];

	config_defaults(&c, 0);
	assert_int_equal(c.message_retention, 30 * 86400);
	config_clear(&c);
	config_defaults(&c, 1);
	assert_int_equal(c.message_retention, 30 * 86400);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_clear(&c);

	assert_int_equal(load(&c, "message_retention 90\n", err, sizeof(err)),
	                 0);
	assert_int_equal(c.message_retention, 90);
	config_clear(&c);
	assert_int_equal(load(&c, "message_retention 7d\n", err, sizeof(err)),
	                 0);
	assert_int_equal(c.message_retention, 7 * 86400);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_clear(&c);

	/* shorter than the default max_queue_age (3d) */
	assert_int_equal(load(&c, "message_retention 2d\n", err, sizeof(err)),
	                 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "message_retention 2d"));
	assert_non_null(strstr(err, "max_queue_age 3d"));
	config_clear(&c);
	assert_int_equal(load(&c, "max_queue_age 10s\nmessage_retention 9s\n",
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "message_retention 9s"));
	assert_non_null(strstr(err, "max_queue_age 10s"));
	config_clear(&c);
	/* equal is enough */
	assert_int_equal(load(&c, "max_queue_age 10s\nmessage_retention 10s\n",
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_clear(&c);

	config_fmt_secs(30 * 86400, buf, sizeof(buf));
	assert_string_equal(buf, "30d");
	config_fmt_secs(36 * 3600, buf, sizeof(buf));
	assert_string_equal(buf, "36h");
	config_fmt_secs(120, buf, sizeof(buf));
	assert_string_equal(buf, "2m");
	config_fmt_secs(90, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
}

static void
test_dump(void **state)
{
	struct config c;
	char err[256], *out = NULL;
	size_t outlen = 0;
	FILE *fp;

	assert_int_equal(load(&c, "send_wait_ms 2s\n", err, sizeof(err)), 0);
	assert_non_null(fp = open_memstream(&out, &outlen));
	config_dump(&c, fp);
	fclose(fp);
	assert_non_null(strstr(out, "send_wait_ms 2000\n"));
	assert_non_null(strstr(out, "http_port 8587\n"));
	assert_non_null(strstr(out, "route * capture    # the default\n"));
	assert_null(strstr(out, "default_route"));
	free(out);
	config_clear(&c);
}

/* max_connections_per_ip: 2048 by default, 0 (no cap) allowed;
 * header_timeout: 10 s by default, whole seconds from 1 s to 1 h. */
static void
test_connection_limits(void **state)
{
	static const struct {
		const char *text;
		const char *words;
	} bad[] = {
	    {"max_connections_per_ip -1\n", "out of range"},
	    {"max_connections_per_ip 1000001\n", "out of range"},
	    {"max_connections_per_ip 10x\n", "expected a number"},
	    {"header_timeout 0\n", "out of range"},
	    {"header_timeout 2h\n", "out of range"},
	    {"header_timeout 1500ms\n", "whole seconds"},
	};
	struct config c;
	char err[256], *out = NULL;
	size_t i, outlen = 0;
	FILE *fp;

	config_defaults(&c, 0);
	assert_int_equal(c.max_connections_per_ip, 2048);
	assert_int_equal(c.header_timeout, 10);
	config_clear(&c);
	config_defaults(&c, 1);
	assert_int_equal(c.max_connections_per_ip, 2048);
	assert_int_equal(c.header_timeout, 10);
	config_clear(&c);

	assert_int_equal(load(&c,
	                      "max_connections_per_ip 50\nheader_timeout 2s\n",
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_connections_per_ip, 50);
	assert_int_equal(c.header_timeout, 2);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_non_null(fp = open_memstream(&out, &outlen));
	config_dump(&c, fp);
	fclose(fp);
	assert_non_null(strstr(out, "max_connections_per_ip 50\n"));
	assert_non_null(strstr(out, "header_timeout 2\n"));
	free(out);
	config_clear(&c);
	assert_int_equal(load(&c,
	                      "max_connections_per_ip 0\nheader_timeout 1m\n",
	                      err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_connections_per_ip, 0);
	assert_int_equal(c.header_timeout, 60);
	config_clear(&c);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load(&c, bad[i].text, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i].text);
		if (strstr(err, bad[i].words) == NULL)
			fail_msg("%s: error '%s', want '%s'", bad[i].text, err,
			         bad[i].words);
		config_clear(&c);
	}
}

/* access_log: all (the default), errors or off. */
static void
test_access_log(void **state)
{
	static const char *const ok[] = {"all", "errors", "off"};
	struct config c;
	char err[256], text[64];
	size_t i;

	config_defaults(&c, 0);
	assert_string_equal(c.access_log, "all");
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_clear(&c);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "access_log %s\n", ok[i]);
		assert_int_equal(load(&c, text, err, sizeof(err)), 0);
		assert_string_equal(c.access_log, ok[i]);
		assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
		config_clear(&c);
	}
	assert_int_equal(load(&c, "access_log ALL\n", err, sizeof(err)), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "access_log 'ALL'"));
	config_clear(&c);
}

/* raw_headers: relaxed (the default) or cloudflare (SPEC §5). */
static void
test_raw_headers(void **state)
{
	static const char *const ok[] = {"relaxed", "cloudflare"};
	static const char *const bad[] = {"strict", "Cloudflare", "none"};
	struct config c;
	char err[256], text[64];
	size_t i;

	config_defaults(&c, 0);
	assert_string_equal(c.raw_headers, "relaxed");
	config_clear(&c);
	config_defaults(&c, 1);
	assert_string_equal(c.raw_headers, "relaxed");
	config_clear(&c);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "raw_headers %s\n", ok[i]);
		assert_int_equal(load(&c, text, err, sizeof(err)), 0);
		assert_string_equal(c.raw_headers, ok[i]);
		assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
		config_clear(&c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "raw_headers %s\n", bad[i]);
		assert_int_equal(load(&c, text, err, sizeof(err)), 0);
		assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
		snprintf(text, sizeof(text),
		         "raw_headers '%s': use relaxed or cloudflare", bad[i]);
		if (strstr(err, text) == NULL)
			fail_msg("'%s' not in '%s'", text, err);
		config_clear(&c);
	}
}

/* Loads text over the defaults (dev or not) and finishes; asserts both
 * succeed. */
static void
load_ok(struct config *c, int dev, const char *text)
{
	char err[512];

	config_defaults(c, dev);
	write_conf(text);
	if (config_load(c, path, err, sizeof(err)) == -1 ||
	    config_finish(c, err, sizeof(err)) == -1)
		fail_msg("%s: refused: %s", text, err);
	unlink(path);
}

/* The table of SPEC §6.3 and every field of its rows. */
static void
test_routes_parse(void **state)
{
	struct config c;
	const struct cfg_route *r;

	load_ok(&c, 0,
	        "route *.test      capture\n"
	        "# a relay with a password that holds ':' and '@'\n"
	        "route example.net relay "
	        "smtps://us%40er:p%3Aa:ss%40x@smarthost.example:465 "
	        "tls=verify\n"
	        "route Example.ORG relay smtp://relay.example\n"
	        "route b.example relay SMTPS://relay.example tls=require\n"
	        "route c.example relay smtp://u:p@[::1]:2525/ tls=require\n"
	        "route d.example relay smtp://127.0.0.1:2525 tls=none\n"
	        "route e.example mx tls=verify\n"
	        "route *           mx tls=opportunistic\n");
	assert_int_equal(c.nroutes, 8);
	assert_int_equal(c.nroutes_file, 8);

	r = &c.routes[0];
	assert_string_equal(r->pattern, "*.test");
	assert_int_equal(r->kind, CFG_ROUTE_CAPTURE);
	assert_int_equal(r->tls, CFG_TLS_NONE);
	assert_null(r->host);
	assert_int_equal(r->line, 1);
	assert_string_equal(r->text, "*.test capture");

	r = &c.routes[1];
	assert_string_equal(r->pattern, "example.net");
	assert_int_equal(r->kind, CFG_ROUTE_RELAY);
	assert_int_equal(r->implicit_tls, 1);
	assert_int_equal(r->tls, CFG_TLS_VERIFY);
	assert_string_equal(r->host, "smarthost.example");
	assert_int_equal(r->port, 465);
	assert_string_equal(r->user, "us@er");
	assert_string_equal(r->pass, "p:a:ss@x");
	assert_int_equal(r->line, 3);
	assert_string_equal(
	    r->text,
	    "example.net relay smtps://us%40er:***@smarthost.example:465 "
	    "tls=verify");

	/* smtp://: port 587, opportunistic; pattern lowercased */
	r = &c.routes[2];
	assert_string_equal(r->pattern, "example.org");
	assert_int_equal(r->implicit_tls, 0);
	assert_int_equal(r->tls, CFG_TLS_OPPORTUNISTIC);
	assert_int_equal(r->port, 587);
	assert_null(r->user);
	assert_null(r->pass);
	assert_string_equal(
	    r->text,
	    "example.org relay smtp://relay.example:587 tls=opportunistic");

	/* smtps://: 465, require allowed; the scheme in any case */
	r = &c.routes[3];
	assert_int_equal(r->implicit_tls, 1);
	assert_int_equal(r->tls, CFG_TLS_REQUIRE);
	assert_int_equal(r->port, 465);

	/* an IPv6 literal in brackets, a trailing slash */
	r = &c.routes[4];
	assert_string_equal(r->host, "::1");
	assert_int_equal(r->port, 2525);
	assert_string_equal(r->user, "u");
	assert_string_equal(r->pass, "p");
	assert_string_equal(
	    r->text, "c.example relay smtp://u:***@[::1]:2525 tls=require");

	/* no credentials: plaintext is allowed */
	r = &c.routes[5];
	assert_int_equal(r->tls, CFG_TLS_NONE);
	assert_string_equal(r->host, "127.0.0.1");

	r = &c.routes[6];
	assert_int_equal(r->kind, CFG_ROUTE_MX);
	assert_int_equal(r->tls, CFG_TLS_VERIFY);
	assert_int_equal(r->port, 0);
	assert_string_equal(r->text, "e.example mx tls=verify");

	r = &c.routes[7];
	assert_string_equal(r->pattern, "*");
	assert_int_equal(r->tls, CFG_TLS_OPPORTUNISTIC);
	assert_string_equal(r->text, "* mx tls=opportunistic");
	/* mx defaults to opportunistic */
	config_clear(&c);
	load_ok(&c, 0, "route * mx\n");
	assert_int_equal(c.routes[0].tls, CFG_TLS_OPPORTUNISTIC);
	assert_int_equal(c.nroutes, 1);
	config_clear(&c);

	/* IDN pattern and host: A-labels; a trailing dot dropped */
	load_ok(&c, 0,
	        "route Bücher.example. relay smtp://relais.bücher.example\n");
	assert_string_equal(c.routes[0].pattern, "xn--bcher-kva.example");
	assert_string_equal(c.routes[0].host, "relais.xn--bcher-kva.example");
	assert_int_equal(c.nroutes, 2); /* and the default after it */
	config_clear(&c);

	assert_string_equal(config_route_kind_name(CFG_ROUTE_RELAY), "relay");
	assert_string_equal(config_tls_name(CFG_TLS_REQUIRE), "require");
}

/* Each refusal names FILE:LINE, the directive and what is wrong, and
 * never shows a password. */
static void
test_routes_refused(void **state)
{
	static const struct {
		const char *text;
		const char *words;
	} t[] = {
	    {"route * smtp", "route *: unknown kind 'smtp' (use capture, mx "
	                     "or relay)"},
	    {"route * MX", "unknown kind 'MX'"},
	    {"route *", "route *: missing the kind (capture, mx or relay)"},
	    {"route", "'route' needs a value"},
	    {"route exa_mple.net mx", "route exa_mple.net: bad pattern (an "
	                              "exact domain, *.domain or *)"},
	    {"route *example.net mx", "bad pattern"},
	    {"route a.*.net mx", "bad pattern"},
	    {"route ** mx", "bad pattern"},
	    {"route *. mx", "bad pattern"},
	    {"route -a.net mx", "bad pattern"},
	    {"route a..net mx", "bad pattern"},
	    {"route xn--zz.example mx", "bad pattern"},
	    {"route x.net relay ftp://h",
	     "route x.net: the relay URL must start smtp:// or smtps://"},
	    {"route x.net relay smtp:/h", "must start smtp://"},
	    {"route x.net relay", "route x.net: relay needs a URL: "
	                          "smtp://host[:port] or smtps://host[:port]"},
	    {"route x.net relay tls=verify", "relay needs a URL"},
	    {"route x.net relay smtp://", "the relay URL has an empty host"},
	    {"route x.net relay smtp://:25", "empty host"},
	    {"route x.net relay smtp://u:secret@", "empty host"},
	    {"route x.net relay smtp://h_x", "bad relay host 'h_x'"},
	    {"route x.net relay smtp://h:0", "bad relay port '0' (1 to 65535)"},
	    {"route x.net relay smtp://h:65536", "bad relay port '65536'"},
	    {"route x.net relay smtp://h:", "bad relay port ''"},
	    {"route x.net relay smtp://h:2x", "the relay port is not a number"},
	    {"route x.net relay smtp://u:secret", "not a number"},
	    {"route x.net relay smtp://u:secret:x", "more than one ':'"},
	    {"route x.net relay smtp://h/path",
	     "the relay URL takes no path after the host and port"},
	    {"route x.net relay smtp://::1:25",
	     "an IPv6 address goes in brackets"},
	    {"route x.net relay smtp://[::1", "a '[' without ']'"},
	    {"route x.net relay smtp://[::1]x", "text after ']'"},
	    {"route x.net relay smtp://[1.2.3.4]:25", "not an IPv6 address"},
	    {"route x.net relay smtp://u:secret@h tls=none",
	     "route x.net: relay credentials over plaintext: use tls=require "
	     "or verify, or smtps://"},
	    {"default_route relay smtp://u:secret@h tls=none",
	     "default_route: relay credentials over plaintext"},
	    {"route x.net relay smtp://usersecret@h",
	     "the relay URL's user needs a password (user:pass@host)"},
	    {"route x.net relay smtp://:secret@h", "empty user name"},
	    {"route x.net relay smtp://u:@h", "empty password"},
	    {"route x.net relay smtp://u:se@cret@h",
	     "write an '@' in the relay URL's user or password as %40"},
	    {"route x.net relay smtp://u:secret%zz@h",
	     "bad percent-encoding in the relay URL's user or password"},
	    {"route x.net relay smtp://u:secret%4@h", "bad percent-encoding"},
	    {"route x.net relay smtp://u:secret%00@h",
	     "a %00 in the relay URL's user or password"},
	    {"route x.net relay smtp://u:secret[@h",
	     "holds a character that must be percent-encoded"},
	    {"route x.net relay smtp://u:se\"cret@h", "percent-encoded"},
	    {"route x.net relay smtp://u:x:@h", ""}, /* ':' ok in a password */
	    {"route x.net mx tls=maybe",
	     "route x.net: unknown tls= value 'maybe' (use none, "
	     "opportunistic, require or verify)"},
	    {"route x.net mx tls=", "unknown tls= value ''"},
	    {"route x.net mx tls=none tls=verify", "tls= given twice"},
	    {"route x.net mx extra",
	     "route x.net: unexpected argument 'extra'"},
	    {"route x.net mx smtp://h", "unexpected argument 'smtp://h'"},
	    {"route x.net capture tls=none", "unexpected argument 'tls=none'"},
	    {"route x.net relay smtp://h tls=none x",
	     "unexpected argument 'x'"},
	    {"route x.net relay smtp://h smtp://i", "unexpected argument"},
	    {"route x.net mx a b c d e f g h i", "too many arguments"},
	    {"route x.net relay smtps://h tls=opportunistic",
	     "route x.net: smtps:// is TLS from the first byte: "
	     "tls=opportunistic means nothing there (use require or verify)"},
	    {"route x.net relay smtps://h tls=none", "tls=none means nothing"},
	    {"default_route bogus",
	     "default_route: unknown kind 'bogus' (use capture, mx or relay)"},
	    {"default_route", "'default_route' needs a value"},
	};
	struct config c;
	char err[512], want[128], text[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "# one\n%s\n", t[i].text);
		if (t[i].words[0] == '\0') {
			assert_int_equal(load(&c, text, err, sizeof(err)), 0);
			config_clear(&c);
			continue;
		}
		if (load(&c, text, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", t[i].text);
		snprintf(want, sizeof(want), "%s:2: ", path);
		if (strncmp(err, want, strlen(want)) != 0 ||
		    strstr(err, t[i].words) == NULL)
			fail_msg("%s: error '%s', want '%s...%s'", t[i].text,
			         err, want, t[i].words);
		if (strstr(err, "secret") != NULL)
			fail_msg("%s: the password in '%s'", t[i].text, err);
		/* what the failed line held is not left behind */
		assert_int_equal(c.nroutes_file, 0);
		config_clear(&c);
	}

	/* more than CFG_MAX_ROUTES lines */
	{
		size_t n = CFG_MAX_ROUTES + 1, len = 0;
		char *big = malloc(n * 32);

		assert_non_null(big);
		for (i = 0; i < n; i++)
			len += (size_t)sprintf(big + len,
			                       "route d%zu.example mx\n", i);
		assert_int_equal(load(&c, big, err, sizeof(err)), -1);
		assert_non_null(strstr(err, ":1001: more than 1000 routes"));
		free(big);
		config_clear(&c);
	}
}

/* First match wins: exact, *.domain (subdomains only), *, any case, IDN
 * in either form, a trailing dot. */
static void
test_route_for(void **state)
{
	struct config c;

	load_ok(&c, 0,
	        "route a.example.net relay smtp://one.example\n"
	        "route *.example.net relay smtp://two.example\n"
	        "route example.net   relay smtp://three.example\n"
	        "route bücher.example relay smtp://four.example\n"
	        "route *.xn--bcher-kva.example relay smtp://five.example\n"
	        "route * mx\n");
#define HOST(d) (config_route_for(&c, (d))->host)
	assert_string_equal(HOST("a.example.net"), "one.example");
	assert_string_equal(HOST("A.Example.NET"), "one.example");
	assert_string_equal(HOST("a.example.net."), "one.example");
	assert_string_equal(HOST("b.example.net"), "two.example");
	assert_string_equal(HOST("x.a.example.net"), "two.example");
	assert_string_equal(HOST("EXAMPLE.net"), "three.example");
	assert_string_equal(HOST("Bücher.example"), "four.example");
	assert_string_equal(HOST("xn--bcher-kva.example"), "four.example");
	assert_string_equal(HOST("XN--BCHER-KVA.EXAMPLE"), "four.example");
	assert_string_equal(HOST("mail.bücher.example"), "five.example");
	assert_string_equal(HOST("mail.xn--bcher-kva.example"), "five.example");
#undef HOST
	/* not a subdomain: a name that merely ends with the text */
	assert_int_equal(config_route_for(&c, "badexample.net")->kind,
	                 CFG_ROUTE_MX);
	assert_int_equal(config_route_for(&c, "net")->kind, CFG_ROUTE_MX);
	assert_int_equal(config_route_for(&c, "")->kind, CFG_ROUTE_MX);
	assert_int_equal(config_route_for(&c, "\xff.example")->kind,
	                 CFG_ROUTE_MX);
	assert_int_equal(config_route_for(&c, ".example.net")->kind,
	                 CFG_ROUTE_MX);
	assert_int_equal(c.nroutes, 6); /* `*` given: no default added */
	config_clear(&c);

	/* order decides: the same names, the wildcard first */
	load_ok(&c, 0,
	        "route *.example.net capture\n"
	        "route a.example.net mx\n");
	assert_int_equal(config_route_for(&c, "a.example.net")->kind,
	                 CFG_ROUTE_CAPTURE);
	/* no `*` row: the built-in default, capture, matches the rest */
	assert_int_equal(c.nroutes, 3);
	assert_string_equal(c.routes[2].pattern, "*");
	assert_int_equal(c.routes[2].line, 0);
	assert_ptr_equal(config_route_for(&c, "other.example"), &c.routes[2]);
	assert_int_equal(c.routes[2].kind, CFG_ROUTE_CAPTURE);
	config_clear(&c);
}

/* default_route KIND… is `route * KIND…` after the route lines, wherever
 * it is written; without route or default_route the table is `*
 * capture`, in dev and outside it. */
static void
test_default_route(void **state)
{
	struct config c;
	char err[512];
	int dev;

	for (dev = 0; dev <= 1; dev++) {
		load_ok(&c, dev, "http_port 9000\n");
		assert_int_equal(c.nroutes, 1);
		assert_string_equal(c.routes[0].text, "* capture");
		assert_int_equal(c.routes[0].line, 0);
		config_clear(&c);
	}

	load_ok(&c, 0,
	        "default_route relay smtps://u:p@smart.example\n"
	        "route *.test capture\n");
	assert_int_equal(c.nroutes, 2);
	assert_int_equal(c.nroutes_file, 1);
	assert_string_equal(c.routes[0].pattern, "*.test");
	assert_string_equal(c.routes[1].pattern, "*");
	assert_int_equal(c.routes[1].line, 1);
	assert_string_equal(c.routes[1].text,
	                    "* relay smtps://u:***@smart.example:465 "
	                    "tls=verify");
	assert_string_equal(c.routes[1].pass, "p");
	assert_string_equal(config_route_for(&c, "x.example")->host,
	                    "smart.example");
	assert_int_equal(config_route_for(&c, "a.test")->kind,
	                 CFG_ROUTE_CAPTURE);
	/* finishing again builds the same table */
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.nroutes, 2);
	assert_int_equal(config_route_shadowed(&c, 1), -1);
	config_clear(&c);

	/* the plain short form; a second one replaces the first */
	load_ok(&c, 0, "default_route mx tls=require\ndefault_route capture\n");
	assert_int_equal(c.nroutes, 1);
	assert_string_equal(c.routes[0].text, "* capture");
	assert_int_equal(c.routes[0].line, 2);
	config_clear(&c);

	/* after `route *`, default_route is kept but never matches */
	load_ok(&c, 1, "route * mx\ndefault_route capture\n");
	assert_int_equal(c.nroutes, 2);
	assert_int_equal(config_route_shadowed(&c, 1), 0);
	assert_int_equal(config_route_for(&c, "x.example")->kind, CFG_ROUTE_MX);
	config_clear(&c);
}

/* config_route_shadowed: the rows an earlier one hides. */
static void
test_route_shadowed(void **state)
{
	struct config c;

	load_ok(&c, 0,
	        "route *.example.net mx\n"    /* 0 */
	        "route a.example.net mx\n"    /* 1: hidden by 0 */
	        "route *.a.example.net mx\n"  /* 2: hidden by 0 */
	        "route example.net mx\n"      /* 3: not hidden */
	        "route example.net capture\n" /* 4: hidden by 3 */
	        "route *.example.net mx\n"    /* 5: hidden by 0 */
	        "route other.net mx\n"        /* 6 */
	        "route * mx\n"                /* 7 */
	        "route last.example mx\n"     /* 8: hidden by 7 */
	        "route * capture\n");         /* 9: hidden by 7 */
	assert_int_equal(config_route_shadowed(&c, 0), -1);
	assert_int_equal(config_route_shadowed(&c, 1), 0);
	assert_int_equal(config_route_shadowed(&c, 2), 0);
	assert_int_equal(config_route_shadowed(&c, 3), -1);
	assert_int_equal(config_route_shadowed(&c, 4), 3);
	assert_int_equal(config_route_shadowed(&c, 5), 0);
	assert_int_equal(config_route_shadowed(&c, 6), -1);
	assert_int_equal(config_route_shadowed(&c, 7), -1);
	assert_int_equal(config_route_shadowed(&c, 8), 7);
	assert_int_equal(config_route_shadowed(&c, 9), 7);
	config_clear(&c);
}

/* The delivery directives of SPEC §6.3: defaults, units, ranges and
 * their checks. */
static void
test_delivery_directives(void **state)
{
	static const struct {
		const char *text;
		int line; /* 0: refused by config_finish */
		const char *words;
	} bad[] = {
	    {"mx_port 0\n", 1, "mx_port '0': out of range (1 to 65535)"},
	    {"max_connections_per_destination 0\n", 1, "out of range"},
	    {"max_messages_per_connection 0\n", 1, "out of range"},
	    {"smtp_timeout_data 0\n", 1, "out of range (1 to 3600000 ms)"},
	    {"smtp_timeout_dot 2h\n", 1, "out of range"},
	    {"smtp_timeout_ehlo 5x\n", 1, "unknown unit"},
	    {"helo_name\n", 1, "needs a value"},
	    {"helo_name \"\"\n", 0, "helo_name '\"\"': want a domain name"},
	    {"dns_servers ns.example\n", 0,
	     "dns_servers 'ns.example': want an IP address"},
	    {"dns_servers 1.2.3.4,\n", 0, "a comma with nothing after"},
	    {"dns_servers 1.2.3.4,,5.6.7.8\n", 0, "dns_servers '':"},
	    {"dns_servers 1.2.3.4:0\n", 0, "dns_servers '1.2.3.4:0'"},
	    {"dns_servers 1.2.3.4 5.6.7.8\n", 0, "want an IP address"},
	    {"dns_servers [::1\n", 0, "want an IP address"},
	    {"dns_servers 1,2,3,4,5,6,7,8,9\n", 0, "want an IP address"},
	    {"dns_servers 1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,"
	     "1.1.1.7,1.1.1.8,1.1.1.9\n",
	     0, "more than 8 servers"},
	    {"helo_name bad_name\n", 0,
	     "helo_name 'bad_name': want a domain name or an address "
	     "literal"},
	    {"helo_name [1.2.3]\n", 0, "helo_name '[1.2.3]'"},
	    {"helo_name [IPv6:1.2.3.4]\n", 0, "helo_name"},
	    {"tls_ca_file /nonexistent/ca.pem\n", 0,
	     "tls_ca_file /nonexistent/ca.pem: No such file or directory"},
	    {"tls_ca_file /tmp\n", 0, "tls_ca_file /tmp: not a regular file"},
	};
	struct config c;
	char err[512], want[128], ca[64], text[128];
	size_t i;
	int fd;

	config_defaults(&c, 0);
	assert_string_equal(c.dns_servers, "");
	assert_int_equal(c.mx_port, 25);
	assert_string_equal(c.helo_name, "");
	assert_string_equal(c.tls_ca_file, "");
	assert_int_equal(c.max_connections_per_destination, 10);
	assert_int_equal(c.max_messages_per_connection, 100);
	assert_int_equal(c.smtp_timeout_connect, 300000);
	assert_int_equal(c.smtp_timeout_greeting, 300000);
	assert_int_equal(c.smtp_timeout_ehlo, 300000);
	assert_int_equal(c.smtp_timeout_mail, 300000);
	assert_int_equal(c.smtp_timeout_rcpt, 300000);
	assert_int_equal(c.smtp_timeout_data, 120000);
	assert_int_equal(c.smtp_timeout_dot, 600000);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	/* helo_name follows hostname; no DNS servers: the system's */
	assert_string_equal(c.helo_name, c.hostname);
	assert_int_equal(c.ndns_addrs, 0);
	config_clear(&c);

	load_ok(&c, 0,
	        "hostname mail.example.net\n"
	        "dns_servers 127.0.0.1:5353, [::1]:53,::2 ,10.0.0.1\n"
	        "mx_port 2525\n"
	        "max_connections_per_destination 3\n"
	        "max_messages_per_connection 1\n"
	        "smtp_timeout_connect 500ms\n"
	        "smtp_timeout_greeting 2\n"
	        "smtp_timeout_ehlo 1s\n"
	        "smtp_timeout_mail 1m\n"
	        "smtp_timeout_rcpt 250ms\n"
	        "smtp_timeout_data 1h\n"
	        "smtp_timeout_dot 10m\n");
	assert_int_equal(c.ndns_addrs, 4);
	assert_string_equal(c.dns_addrs[0].host, "127.0.0.1");
	assert_int_equal(c.dns_addrs[0].port, 5353);
	assert_string_equal(c.dns_addrs[1].host, "::1");
	assert_int_equal(c.dns_addrs[1].port, 53);
	assert_string_equal(c.dns_addrs[2].host, "::2");
	assert_int_equal(c.dns_addrs[2].port, 53);
	assert_string_equal(c.dns_addrs[3].host, "10.0.0.1");
	assert_int_equal(c.mx_port, 2525);
	assert_string_equal(c.helo_name, "mail.example.net");
	assert_int_equal(c.max_connections_per_destination, 3);
	assert_int_equal(c.max_messages_per_connection, 1);
	/* a bare number is seconds (the names have no _ms) */
	assert_int_equal(c.smtp_timeout_connect, 500);
	assert_int_equal(c.smtp_timeout_greeting, 2000);
	assert_int_equal(c.smtp_timeout_ehlo, 1000);
	assert_int_equal(c.smtp_timeout_mail, 60000);
	assert_int_equal(c.smtp_timeout_rcpt, 250);
	assert_int_equal(c.smtp_timeout_data, 3600000);
	assert_int_equal(c.smtp_timeout_dot, 600000);
	config_clear(&c);

	load_ok(&c, 0, "dns_servers \"\"\nhelo_name [192.0.2.1]\n");
	assert_string_equal(c.dns_servers, "");
	assert_int_equal(c.ndns_addrs, 0);
	assert_string_equal(c.helo_name, "[192.0.2.1]");
	config_clear(&c);
	load_ok(&c, 0, "helo_name [IPv6:2001:db8::1]\n");
	config_clear(&c);
	load_ok(&c, 0, "helo_name out.example.net\nhostname h.example\n");
	assert_string_equal(c.helo_name, "out.example.net");
	config_clear(&c);

	/* tls_ca_file: a readable file */
	strcpy(ca, "/tmp/test_config_ca.XXXXXX");
	assert_true((fd = mkstemp(ca)) != -1);
	close(fd);
	snprintf(text, sizeof(text), "tls_ca_file %s\n", ca);
	load_ok(&c, 0, text);
	assert_string_equal(c.tls_ca_file, ca);
	config_clear(&c);
	unlink(ca);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = load(&c, bad[i].text, err, sizeof(err));

		if (rc == 0 && bad[i].line == 0)
			rc = config_finish(&c, err, sizeof(err));
		if (rc != -1)
			fail_msg("accepted: %s", bad[i].text);
		if (bad[i].line != 0)
			snprintf(want, sizeof(want), "%s:%d: ", path,
			         bad[i].line);
		else
			want[0] = '\0';
		if (strncmp(err, want, strlen(want)) != 0 ||
		    strstr(err, bad[i].words) == NULL)
			fail_msg("%s: error '%s', want '%s...%s'", bad[i].text,
			         err, want, bad[i].words);
		config_clear(&c);
	}
}

/* config_dump writes lines config_load reads back to the same values. */
static void
test_dump_reads_back(void **state)
{
	struct config a, b;
	char *out = NULL, err[512];
	size_t outlen = 0, i;
	FILE *fp;

	load_ok(&a, 0,
	        "smtp_timeout_rcpt 250ms\n"
	        "dns_servers 127.0.0.1:5353\n"
	        "route *.test capture\n"
	        "route x.example relay smtp://relay.example\n");
	assert_non_null(fp = open_memstream(&out, &outlen));
	config_dump(&a, fp);
	fclose(fp);
	assert_non_null(strstr(out, "smtp_timeout_rcpt 250ms\n"));
	assert_non_null(strstr(out, "tls_ca_file \"\"\n"));
	assert_non_null(strstr(out, "route *.test capture\n"));
	assert_non_null(strstr(out, "route * capture    # the default\n"));
	config_defaults(&b, 0);
	write_conf(out);
	if (config_load(&b, path, err, sizeof(err)) == -1 ||
	    config_finish(&b, err, sizeof(err)) == -1)
		fail_msg("dump not read back: %s\n%s", err, out);
	unlink(path);
	assert_int_equal(b.smtp_timeout_rcpt, 250);
	assert_string_equal(b.dns_servers, "127.0.0.1:5353");
	/* the default, printed, is read as a route line of its own */
	assert_int_equal(b.nroutes, a.nroutes);
	for (i = 0; i < a.nroutes; i++)
		assert_string_equal(b.routes[i].text, a.routes[i].text);
	free(out);
	config_clear(&a);
	config_clear(&b);
}

/* Every directive config_dump knows, and the route lines, have a
 * commented line in etc/pigeon.conf ("#name value"). */
static void
test_documented(void **state)
{
	struct config c;
	char *out = NULL, *doc, *line, *save = NULL, want[128];
	size_t outlen = 0;
	FILE *fp;
	long n;

	assert_non_null(fp = fopen("../../etc/pigeon.conf", "r"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(doc = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(doc, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);

	config_defaults(&c, 0);
	assert_non_null(fp = open_memstream(&out, &outlen));
	config_dump(&c, fp);
	fclose(fp);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		snprintf(want, sizeof(want), "\n#%.*s ",
		         (int)strcspn(line, " "), line);
		if (strstr(doc, want) == NULL)
			fail_msg("'%s' is not in etc/pigeon.conf", want + 1);
	}
	assert_non_null(strstr(doc, "\n#default_route "));
	free(out);
	free(doc);
	config_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_load_units),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_finish_checks),
	    cmocka_unit_test(test_dump),
	    cmocka_unit_test(test_message_retention),
	    cmocka_unit_test(test_access_log),
	    cmocka_unit_test(test_raw_headers),
	    cmocka_unit_test(test_connection_limits),
	    cmocka_unit_test(test_routes_parse),
	    cmocka_unit_test(test_routes_refused),
	    cmocka_unit_test(test_route_for),
	    cmocka_unit_test(test_default_route),
	    cmocka_unit_test(test_route_shadowed),
	    cmocka_unit_test(test_delivery_directives),
	    cmocka_unit_test(test_dump_reads_back),
	    cmocka_unit_test(test_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
