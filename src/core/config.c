/*
 * config: the directive table and the pigeon.conf reader (see config.h).
 * Adding a directive means adding a row here and a paragraph in
 * etc/pigeon.conf.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_I64, CFG_MSEC, CFG_SECS };

struct cfg_row {
	const char *name;
	enum cfg_type type;
	size_t off, size; /* where the value lives in struct config */
	int64_t min, max; /* numbers; for strings max is the length cap */
};

#define OFF(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct cfg_row cfg_table[] = {
    {"state_dir", CFG_STR, OFF(state_dir), 1, 4096},
    {"hostname", CFG_STR, OFF(hostname), 1, 253},
    {"http_listen", CFG_STR, OFF(http_listen), 1, 255},
    {"http_port", CFG_INT, OFF(http_port), 0, 65535},
    {"http_threads", CFG_INT, OFF(http_threads), 0, 256},
    {"max_body", CFG_I64, OFF(max_body), 1024, 64 * 1024 * 1024},
    {"max_inflight_body", CFG_I64, OFF(max_inflight_body), 1024,
     INT64_C(64) * 1024 * 1024 * 1024},
    {"request_timeout", CFG_SECS, OFF(request_timeout), 1, 3600},
    {"send_wait_ms", CFG_MSEC, OFF(send_wait_ms), 0, 60000},
    {"max_queue_age", CFG_SECS, OFF(max_queue_age), 1, 30 * 86400},
    {"retry_base_ms", CFG_MSEC, OFF(retry_base_ms), 1, 86400000},
    {"retry_max_ms", CFG_MSEC, OFF(retry_max_ms), 1, 86400000},
    {"commit_batch", CFG_INT, OFF(commit_batch), 1, 100000},
    {"auth_cache_ms", CFG_MSEC, OFF(auth_cache_ms), 0, 3600000},
    {"default_route", CFG_STR, OFF(default_route), 1, 1024},
    {"capture_defer_attempts", CFG_INT, OFF(capture_defer_attempts), 0, 1000},
    {"capture_slow_ms", CFG_MSEC, OFF(capture_slow_ms), 0, 600000},
    {"log_level", CFG_STR, OFF(log_level), 1, 16},
    {"message_retention", CFG_SECS, OFF(message_retention), 1, 3650 * 86400},
    {"access_log", CFG_STR, OFF(access_log), 1, 16},
    {"max_connections_per_ip", CFG_INT, OFF(max_connections_per_ip), 0,
     1000000},
    {"header_timeout", CFG_SECS, OFF(header_timeout), 1, 3600},
};

#define NROWS (sizeof(cfg_table) / sizeof(cfg_table[0]))

/* A why that the caller completes with the directive's range. */
static const char OUT_OF_RANGE[] = "out of range";

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
}

void
config_defaults(struct config *c, int dev)
{
	char host[256];

	memset(c, 0, sizeof(*c));
	c->dev = dev;
	set_str(&c->state_dir, dev ? "./var" : "/var/lib/pigeon");
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	set_str(&c->hostname, host);
	set_str(&c->http_listen, "127.0.0.1");
	c->http_port = 8587;
	c->http_threads = 0;
	c->max_body = 7 * 1024 * 1024;
	c->max_inflight_body = 256 * 1024 * 1024;
	c->request_timeout = 60;
	c->send_wait_ms = 5000;
	c->max_queue_age = 3 * 86400;
	c->retry_base_ms = 60000;
	c->retry_max_ms = 3600000;
	c->commit_batch = 512;
	c->auth_cache_ms = 1000;
	set_str(&c->default_route, "capture");
	c->capture_defer_attempts = 2;
	c->capture_slow_ms = 10000;
	set_str(&c->log_level, "info");
	c->message_retention = 30 * 86400;
	set_str(&c->access_log, "all");
	c->max_connections_per_ip = 2048;
	c->header_timeout = 10;
}

int
config_parse_bool(const char *s, int *out)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Durations may carry a unit: ms, s, m, h or d; sizes are plain bytes. */
static int
parse_num(const struct cfg_row *r, const char *v, int64_t *out,
          const char **why)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || errno) {
		*why = "expected a number";
		return -1;
	}
	if (r->type == CFG_MSEC || r->type == CFG_SECS) {
		int64_t ms;
		if (*end == '\0')
			ms = r->type == CFG_MSEC ? 1 : 1000;
		else if (!strcmp(end, "ms"))
			ms = 1;
		else if (!strcmp(end, "s"))
			ms = 1000;
		else if (!strcmp(end, "m"))
			ms = 60000;
		else if (!strcmp(end, "h"))
			ms = 3600000;
		else if (!strcmp(end, "d"))
			ms = 86400000;
		else {
			*why = "unknown unit (use ms, s, m, h or d)";
			return -1;
		}
		if (n > INT64_MAX / ms || n < INT64_MIN / ms) {
			*why = "out of range";
			return -1;
		}
		if (r->type == CFG_SECS) {
			if (ms < 1000 && n % 1000) {
				*why = "must be whole seconds";
				return -1;
			}
			n = n * ms / 1000;
		} else
			n = n * ms;
		end = (char *)"";
	}
	if (*end != '\0') {
		*why = "expected a number";
		return -1;
	}
	if (n < r->min || n > r->max) {
		*why = OUT_OF_RANGE;
		return -1;
	}
	*out = n;
	return 0;
}

static int
apply(struct config *c, const struct cfg_row *r, const char *v,
      const char **why)
{
	char *base = (char *)c;
	int64_t n;

	if (r->type == CFG_STR) {
		if (strlen(v) > (size_t)r->max || v[0] == '\0') {
			*why = "value too long or empty";
			return -1;
		}
		set_str((char **)(base + r->off), v);
		return 0;
	}
	if (parse_num(r, v, &n, why) == -1)
		return -1;
	if (r->size == sizeof(int64_t))
		*(int64_t *)(base + r->off) = n;
	else
		*(int *)(base + r->off) = (int)n;
	return 0;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char line[4096];
	FILE *fp;
	int lineno = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *p = line, *name, *val, *e;
		const char *why = NULL;
		size_t i;

		lineno++;
		if (strchr(p, '\n') == NULL && !feof(fp)) {
			/* fgets() split the line: refuse, don't misread. */
			snprintf(err, errlen, "%s:%d: line too long", path,
			         lineno);
			goto fail;
		}
		if ((e = strchr(p, '#')) != NULL)
			*e = '\0';
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			continue;
		name = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		for (i = 0; i < NROWS; i++)
			if (strcmp(cfg_table[i].name, name) == 0)
				break;
		if (i == NROWS) {
			snprintf(err, errlen, "%s:%d: unknown directive '%s'",
			         path, lineno, name);
			goto fail;
		}
		if (*val == '\0') {
			snprintf(err, errlen, "%s:%d: '%s' needs a value", path,
			         lineno, name);
			goto fail;
		}
		if (apply(c, &cfg_table[i], val, &why) == -1) {
			if (why == OUT_OF_RANGE)
				snprintf(
				    err, errlen,
				    "%s:%d: %s '%s': out of range (%lld to "
				    "%lld%s)",
				    path, lineno, name, val,
				    (long long)cfg_table[i].min,
				    (long long)cfg_table[i].max,
				    cfg_table[i].type == CFG_MSEC   ? " ms"
				    : cfg_table[i].type == CFG_SECS ? " s"
				                                    : "");
			else
				snprintf(err, errlen, "%s:%d: %s '%s': %s",
				         path, lineno, name, val, why);
			goto fail;
		}
	}
	fclose(fp);
	return 0;
fail:
	fclose(fp);
	return -1;
}

int
config_finish(struct config *c, char *err, size_t errlen)
{
	size_t n;

	if (strcmp(c->default_route, "capture") != 0) {
		snprintf(err, errlen,
		         "default_route '%s': only 'capture' is available (MX "
		         "and relay delivery are not built yet)",
		         c->default_route);
		return -1;
	}
	if (c->max_inflight_body < c->max_body) {
		snprintf(err, errlen,
		         "max_inflight_body is below max_body: "
		         "the largest body could never be read");
		return -1;
	}
	if (c->retry_max_ms < c->retry_base_ms) {
		snprintf(err, errlen, "retry_max_ms is below retry_base_ms");
		return -1;
	}
	if (strcmp(c->log_level, "error") && strcmp(c->log_level, "warn") &&
	    strcmp(c->log_level, "info") && strcmp(c->log_level, "debug")) {
		snprintf(err, errlen,
		         "log_level '%s': use error, warn, info or debug",
		         c->log_level);
		return -1;
	}
	/* A message must outlive its last delivery attempt. */
	if (c->message_retention < c->max_queue_age) {
		char keep[32], age[32];

		config_fmt_secs(c->message_retention, keep, sizeof(keep));
		config_fmt_secs(c->max_queue_age, age, sizeof(age));
		snprintf(err, errlen,
		         "message_retention %s is shorter than max_queue_age "
		         "%s: a message must be kept until its last attempt",
		         keep, age);
		return -1;
	}
	if (strcmp(c->access_log, "all") && strcmp(c->access_log, "errors") &&
	    strcmp(c->access_log, "off")) {
		snprintf(err, errlen, "access_log '%s': use all, errors or off",
		         c->access_log);
		return -1;
	}
	free(c->db_path);
	n = strlen(c->state_dir) + sizeof("/pigeon.db");
	if ((c->db_path = malloc(n)) == NULL)
		return -1;
	snprintf(c->db_path, n, "%s/pigeon.db", c->state_dir);
	return 0;
}

void
config_clear(struct config *c)
{
	size_t i;

	for (i = 0; i < NROWS; i++)
		if (cfg_table[i].type == CFG_STR) {
			char **p = (char **)((char *)c + cfg_table[i].off);
			free(*p);
			*p = NULL;
		}
	free(c->db_path);
	c->db_path = NULL;
}

void
config_dump(const struct config *c, FILE *fp)
{
	const char *base = (const char *)c;
	size_t i;

	for (i = 0; i < NROWS; i++) {
		const struct cfg_row *r = &cfg_table[i];
		if (r->type == CFG_STR)
			fprintf(fp, "%s %s\n", r->name,
			        *(char *const *)(base + r->off));
		else if (r->size == sizeof(int64_t))
			fprintf(fp, "%s %lld\n", r->name,
			        (long long)*(const int64_t *)(base + r->off));
		else
			fprintf(fp, "%s %d\n", r->name,
			        *(const int *)(base + r->off));
	}
}

void
config_fmt_secs(int64_t secs, char *out, size_t outlen)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(out, outlen, "%lldd", (long long)(secs / 86400));
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(out, outlen, "%lldh", (long long)(secs / 3600));
	else if (secs != 0 && secs % 60 == 0)
		snprintf(out, outlen, "%lldm", (long long)(secs / 60));
	else
		snprintf(out, outlen, "%llds", (long long)secs);
}
