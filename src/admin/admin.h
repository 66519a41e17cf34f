/*
 * admin: the subcommands of the `pigeon` binary (SPEC §9). main.c holds
 * the command table and parses the command line into a struct admin; a
 * handler here does one command and returns the process exit status.
 * The admin commands open the store directly; `serve` runs the service.
 */
#ifndef PIGEON_ADMIN_ADMIN_H
#define PIGEON_ADMIN_ADMIN_H

#include <stdint.h>
#include <time.h>

#include "../core/config.h"
#include "../store/store.h"
#include "../tenant/rules.h"

struct json_object;

#ifndef PIGEON_VERSION
#define PIGEON_VERSION "0.1.0" /* meson.build's project version */
#endif

/* Exit statuses (SPEC §9). */
#define ADMIN_OK 0
#define ADMIN_FAIL 1  /* runtime failure */
#define ADMIN_USAGE 2 /* the command line is wrong */

#define ADMIN_MAX_ARGS 4
#define ADMIN_MAX_OPTS 8
#define TOKEN_LEN TENANT_SECRET_LEN

/* A command's own option: "--name" with a value shown as arg in the help,
 * or a flag when arg is NULL. */
struct admin_opt {
	const char *name;
	const char *arg;
	const char *help;
};

struct admin;
typedef int admin_fn(struct admin *a);

/* One row of the command table (main.c). */
struct admin_cmd {
	const char *name;  /* "token" */
	const char *sub;   /* "create", or NULL for a command without one */
	const char *usage; /* positional arguments: "ACCOUNT_ID NAME" */
	int nargs;         /* how many positional arguments it takes */
	admin_fn *fn;
	const char *summary;
	const char *example;
	struct admin_opt opts[ADMIN_MAX_OPTS];
	int optional; /* of nargs, how many may be left out (the last) */
};

/* The parsed command line and the loaded configuration. */
struct admin {
	const struct admin_cmd *cmd;
	struct config cfg;
	int json;
	int nargs;
	const char *args[ADMIN_MAX_ARGS]; /* borrowed from argv */
	const char *vals[ADMIN_MAX_OPTS]; /* of cmd->opts[i]; "" for a flag */
};

/* The value of the command's option name, NULL when not given. */
const char *admin_opt(const struct admin *a, const char *name);

/* "pigeon: <message>" on stderr, one line. Returns status, so that a
 * handler can `return admin_err(ADMIN_FAIL, ...)`. */
int admin_err(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* mkdir -p with mode 0700 for what it creates. 0, or -1 with errno. */
int admin_mkdirs(const char *path);
/* Creates state_dir and opens the store; NULL after admin_err. */
struct store *admin_store_open(struct admin *a);
/* admin_store_open() and the account id loaded into ac; NULL after
 * admin_err (the store closed again). */
struct store *admin_account_open(struct admin *a, const char *id,
                                 struct account *ac);

/* Reads an account / zone / sending domain (by name) for a command: 0, or
 * -1 after admin_err ("no account …" when it does not exist). */
int admin_account_load(struct store *s, const char *id, struct account *ac);
int admin_zone_load(struct store *s, const char *id, struct zone *z);
int admin_domain_load(struct store *s, const char *name, struct domain *d);

/* Value parsers: 0, or -1 when s is not one. */
int admin_parse_bool(const char *s, int *out);      /* config_parse_bool() */
int admin_parse_count(const char *s, int64_t *out); /* 0 … 2^53 */
/* "YYYY-MM-DD" (00:00 UTC) or ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.f]]" with
 * "Z", "±HH:MM", "±HHMM" or no zone (UTC). */
int admin_parse_time(const char *s, time_t *out);

/* The tenant's rules (tenant/rules.h) under the commands' names. */
int admin_parse_perms(const char *s, unsigned *out);
int admin_domain_name(const char *in, char *out, size_t outlen);
int admin_selector_ok(const char *s);
int admin_id_parse(const char *s, char out[ID_LEN + 1]);
void admin_new_id(char out[ID_LEN + 1]);
void admin_new_secret(char out[TOKEN_LEN + 1]);
const char *admin_perms_str(unsigned perms, char out[32]); /* "send,read" */

/* admin_id_parse() of a command's argument: 0, or ADMIN_USAGE after
 * "CMD: WHAT 'ARG' is not 32 hex characters" and, when see is set,
 * " (see pigeon SEE)". */
int admin_id_arg(const char *cmd, const char *what, const char *arg,
                 char id[ID_LEN + 1], const char *see);

/* Output. The objects' JSON form is the tenant's (tenant/json.h). */
/* The records of d as JSON; NULL after admin_err when they cannot be
 * computed. */
struct json_object *admin_dns_json(const struct domain *d,
                                   const char *hostname);
void admin_json_print(struct json_object *o); /* prints and frees */
/* The records as zone-file lines on stdout. 0 or -1 after admin_err. */
int admin_dns_print(const struct domain *d, const char *hostname);
void admin_time_str(int64_t t, char out[32]); /* ISO 8601 or "never" */

/* Handlers: one per row of the command table. */
int admin_serve(struct admin *a);
int admin_check(struct admin *a);
int admin_account_create(struct admin *a);
int admin_account_set(struct admin *a);
int admin_zone_create(struct admin *a);
int admin_zone_list(struct admin *a);
int admin_domain_create(struct admin *a);
int admin_domain_dns(struct admin *a);
int admin_domain_set(struct admin *a);
int admin_domain_delete(struct admin *a);
int admin_token_create(struct admin *a);
int admin_token_list(struct admin *a);
int admin_token_revoke(struct admin *a);
int admin_queue_list(struct admin *a);
int admin_queue_show(struct admin *a);
int admin_queue_retry(struct admin *a);
int admin_queue_drop(struct admin *a);
int admin_queue_resume(struct admin *a);
int admin_suppression_list(struct admin *a);
int admin_suppression_add(struct admin *a);
int admin_suppression_remove(struct admin *a);
int admin_webhook_add(struct admin *a);
int admin_webhook_list(struct admin *a);
int admin_webhook_remove(struct admin *a);
int admin_webhook_replay(struct admin *a);

#endif
