/*
 * test_config: src/core/config.c — defaults, loading a file (units,
 * comments, blank lines), and errors that name FILE:LINE.
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
	assert_string_equal(c.default_route, "capture");
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
	config_clear(&c);
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
	assert_int_equal(load(&c, "default_route mx\n", err, sizeof(err)), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "default_route"));
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
	assert_non_null(strstr(out, "default_route capture\n"));
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
	    cmocka_unit_test(test_connection_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
