/*
 * config: pigeon.conf, one directive a line ("name value", '#' comments),
 * described by one table of rows in config.c. etc/pigeon.conf documents
 * every directive with its default.
 */
#ifndef PIGEON_CORE_CONFIG_H
#define PIGEON_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config {
	int dev;           /* set by --dev, not a directive */
	char *state_dir;   /* store and generated files; dev: ./var */
	char *hostname;    /* SMTP greeting / EHLO name */
	char *http_listen; /* address, default 127.0.0.1 */
	int http_port;     /* default 8587 */
	int http_threads;  /* 0 = one per core */
	int64_t max_body;  /* request body cap, bytes (7 MiB) */
	int64_t
	    max_inflight_body;   /* announced bodies not yet freed (256 MiB) */
	int64_t request_timeout; /* seconds for the body (60) */
	int send_wait_ms;        /* wait for the first attempt (5000) */
	int64_t max_queue_age;   /* seconds before giving up (3 days) */
	int64_t retry_base_ms;   /* first retry delay (60000) */
	int64_t retry_max_ms;    /* backoff cap (3600000) */
	int commit_batch;        /* max operations per group commit (512) */
	int auth_cache_ms;   /* cache check interval for admin changes (1000) */
	char *default_route; /* "capture" (only route for now) */
	int capture_defer_attempts; /* defer…@ answers 451 this many times (2)
	                             */
	int capture_slow_ms; /* slow…@ answers after this long (10000) */
	char *log_level;     /* error|warn|info|debug */
	char *access_log;    /* all|errors|off: the http line per request */
	char *db_path;       /* derived: <state_dir>/pigeon.db */
	/* seconds a message whose recipients are all final is kept (30
	 * days); at least max_queue_age */
	int64_t message_retention;
	/* open connections from one client address (2048); 0 = no cap */
	int max_connections_per_ip;
	/* seconds a request's header section may take to arrive (10) */
	int64_t header_timeout;
};

/* Defaults (dev != 0: the dev profile of SPEC §10). */
void config_defaults(struct config *c, int dev);
/* Applies FILE on top of *c. 0, or -1 with "FILE:LINE: reason" in err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Fills derived fields and checks ranges. 0 or -1 with err. */
int config_finish(struct config *c, char *err, size_t errlen);
void config_clear(struct config *c);
/* Writes every directive with its value (for `pigeon check -v`). */
void config_dump(const struct config *c, FILE *fp);
/* The one reading of a yes/no value (the CLI's switches, any boolean
 * directive): yes, true, on, 1 or no, false, off, 0, in any case. 0, or
 * -1 when s is none of them. */
int config_parse_bool(const char *s, int *out);
/* A number of seconds in the largest unit that holds it whole, as a
 * directive is written: "30d", "36h", "90s". */
void config_fmt_secs(int64_t secs, char *out, size_t outlen);

#endif
