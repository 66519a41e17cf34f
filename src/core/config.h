/*
 * config: pigeon.conf, one directive a line ("name value", '#' comments),
 * described by one table of rows in config.c, plus the route table
 * (`route PATTERN KIND [ARGS…]`, repeatable, SPEC §6.3) with its own
 * reader. etc/pigeon.conf documents every directive with its default.
 */
#ifndef PIGEON_CORE_CONFIG_H
#define PIGEON_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Route kinds (SPEC §6.3). */
enum cfg_route_kind {
	CFG_ROUTE_CAPTURE, /* kept here, no network */
	CFG_ROUTE_MX,      /* MX lookup per recipient domain */
	CFG_ROUTE_RELAY,   /* one smarthost */
};

/* tls= of a route (SPEC §6.3). */
enum cfg_tls {
	CFG_TLS_NONE,          /* never STARTTLS */
	CFG_TLS_OPPORTUNISTIC, /* STARTTLS when offered, any certificate */
	CFG_TLS_REQUIRE,       /* TLS must succeed, any certificate */
	CFG_TLS_VERIFY,        /* TLS with chain and host name checked */
};

/* One row of the route table, as config_finish leaves it. */
struct cfg_route {
	/* "*", "*.example.net" (subdomains only) or "example.net":
	 * lowercase A-labels */
	char *pattern;
	enum cfg_route_kind kind;
	enum cfg_tls tls;  /* capture: CFG_TLS_NONE */
	int implicit_tls;  /* relay smtps://: TLS from the first byte */
	char *host;        /* relay: lowercase name or IP, no brackets */
	int port;          /* relay: 587 (smtp://) or 465 (smtps://) unless
	                      given; mx and capture: 0 (mx uses mx_port) */
	char *user, *pass; /* relay: percent-decoded; NULL without AUTH */
	/* "PATTERN KIND ARGS" with every default written out and the
	 * password as "***": what `pigeon check` prints and logs may show */
	char *text;
	int line; /* its line in the file; 0 for the built-in default */
};

/* An address of dns_servers. */
struct cfg_hostport {
	char *host; /* an IPv4 or IPv6 literal, no brackets */
	int port;   /* 53 unless given */
};

#define CFG_MAX_ROUTES 1000
#define CFG_MAX_DNS_SERVERS 8

struct config {
	int dev;           /* set by --dev, not a directive */
	char *state_dir;   /* store and generated files; dev: ./var */
	char *hostname;    /* SMTP greeting; EHLO unless helo_name */
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
	int auth_cache_ms; /* cache check interval for admin changes (1000) */
	/*
	 * The route table, first match wins: the `route` lines in order,
	 * then `route * …` from default_route when given, then `route *
	 * capture` when no row so far is `*` (config_finish). Read it
	 * with config_route_for.
	 */
	struct cfg_route *routes;
	size_t nroutes;
	size_t nroutes_file;         /* how many came from route lines */
	struct cfg_route route_dflt; /* default_route; pattern NULL if not
	                                given */
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
	/* relaxed|cloudflare: which header fields a client may write in a
	 * message of its own (send_raw, SMTP), SPEC §5 */
	char *raw_headers;

	/* Delivery (SPEC §6.3). Timeouts are in milliseconds. */
	char *dns_servers; /* as written; "" = the system's resolv.conf */
	struct cfg_hostport *dns_addrs; /* dns_servers parsed (finish) */
	size_t ndns_addrs;
	int mx_port;       /* 25 */
	char *helo_name;   /* EHLO name; "" until finish copies hostname */
	char *tls_ca_file; /* "" = the system trust store */
	int max_connections_per_destination; /* 10 */
	int max_messages_per_connection;     /* 100 */
	int64_t smtp_timeout_connect;        /* 5 min */
	int64_t smtp_timeout_greeting;       /* 5 min */
	int64_t smtp_timeout_ehlo;           /* 5 min */
	int64_t smtp_timeout_mail;           /* 5 min */
	int64_t smtp_timeout_rcpt;           /* 5 min */
	int64_t smtp_timeout_data;           /* 2 min: the DATA command */
	int64_t smtp_timeout_dot;            /* 10 min: the final dot */
	/* SIGTERM: how long SMTP transactions in flight may take to finish
	 * before delivery stops (ms; 0: not at all) */
	int64_t drain_timeout;
	/* The shared queue (SPEC §6.3 [ours]): this node's name on the
	 * recipients it claims ("" until finish copies hostname); how many
	 * recipients the engine holds in memory at most before it reads
	 * more from the store (10000); how long a claim lasts unrenewed
	 * (ms, 5 min) */
	/* SPEC §7, §7.1: "address:port", "" = off */
	char *smtps_listen;       /* 0.0.0.0:465; dev 127.0.0.1:2465 */
	char *submission_listen;  /* 0.0.0.0:587; dev 127.0.0.1:2587 */
	char *inbound_listen;     /* 0.0.0.0:25; dev 127.0.0.1:2025 */
	char *tls_cert, *tls_key; /* PEM files; dev: generated in state_dir */
	int64_t smtpd_timeout_command; /* a command before AUTH (30 s) */
	int64_t smtpd_timeout_data;    /* in DATA (300 s) */
	int64_t smtpd_timeout_idle;    /* between commands (5 min) */
	int smtpd_max_sessions;        /* in all (1000) */
	int smtpd_max_sessions_per_ip; /* per client address (20) */
	char *node_id;
	int queue_window;
	int64_t queue_lease;
	/* GET /metrics on "address:port" alone; "" = on the API's port */
	char *metrics_listen;
	/* Webhooks (SPEC §6.5), ms: a POST's time limit (10 s); the first
	 * retry delay (5 s), doubled with jitter up to retry_max (10 min);
	 * how long an event is retried before it is given up (3 days) */
	int64_t webhook_timeout;
	int64_t webhook_retry_base;
	int64_t webhook_retry_max;
	int64_t webhook_max_age;

	char *file; /* the file config_load read last; NULL if none */
};

struct sockaddr_storage;
/* "1.2.3.4:25" or "[::1]:25" as a socket address: 0, or -1. */
int config_listen_addr(const char *s, struct sockaddr_storage *ss,
                       unsigned *len);

/* Defaults (dev != 0: the dev profile of SPEC §10). */
void config_defaults(struct config *c, int dev);
/* Applies FILE on top of *c. 0, or -1 with "FILE:LINE: reason" in err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Fills derived fields and checks ranges. 0 or -1 with err. */
int config_finish(struct config *c, char *err, size_t errlen);
void config_clear(struct config *c);
/* Written after the built-in route when a route table is printed. */
#define CONFIG_DEFAULT_MARK "    # the default"
/* Writes every directive with its value, the routes last, as lines
 * config_load reads again (for `pigeon check -v`). */
void config_dump(const struct config *c, FILE *fp);
/* The one reading of a yes/no value (the CLI's switches, any boolean
 * directive): yes, true, on, 1 or no, false, off, 0, in any case. 0, or
 * -1 when s is none of them. */
int config_parse_bool(const char *s, int *out);
/*
 * The route for recipients at domain (A-labels or U-labels, any case, a
 * trailing dot ignored): the first row of cfg->routes whose pattern
 * matches. Never NULL after config_defaults alone or once config_finish
 * succeeded. Pure: any thread.
 */
const struct cfg_route *config_route_for(const struct config *cfg,
                                         const char *domain);
/* The index of an earlier row of cfg->routes that matches every domain
 * row i matches (so row i is never used), or -1. */
long config_route_shadowed(const struct config *cfg, size_t i);
/* "capture", "mx", "relay"; "none", "opportunistic", "require",
 * "verify". */
const char *config_route_kind_name(enum cfg_route_kind kind);
const char *config_tls_name(enum cfg_tls tls);

/* A number of seconds in the largest unit that holds it whole, as a
 * directive is written: "30d", "36h", "90s". */
void config_fmt_secs(int64_t secs, char *out, size_t outlen);

#endif
