/*
 * main: the `pigeon` command line (SPEC §9). One table of rows, one per
 * subcommand; the parser below turns argv into a struct admin (global
 * options, the row's own options, positional arguments), loads the
 * configuration and runs the row's handler (src/admin/). The help text is
 * made from the same rows, so it cannot drift from what is accepted.
 *
 * Exit status: 0 ok, 1 runtime failure, 2 usage error. Errors are one
 * line on stderr starting with "pigeon: ".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/admin.h"
#include "core/config.h"

#define BOOL_HELP "yes or no"

/*
 * The commands: {name, subcommand, positional usage, how many, handler,
 * summary, example, own options {name, value, help}}.
 */
/* clang-format off */
static const struct admin_cmd commands[] = {
    {"serve", NULL, "", 0, admin_serve,
     "run the service (HTTP API, queue, delivery) until SIGTERM or SIGINT",
     "pigeon serve --dev",
     {{NULL}}},
    {"account", "create", "NAME", 1, admin_account_create,
     "create an account (entitled, may send, no limits); prints its id",
     "pigeon account create acme -c /etc/pigeon/pigeon.conf",
     {{"--id", "HEX32", "use this id (32 hex chars), not a random one"}}},
    {"account", "set", "ID", 1, admin_account_set,
     "change an account's flags and limits",
     "pigeon account set 0123456789abcdef0123456789abcdef --rate 10 "
     "--burst 20 --dev",
     {{"--entitled", "BOOL", "may use Email Sending (" BOOL_HELP ")"},
      {"--sending-enabled", "BOOL", "may send (" BOOL_HELP ")"},
      {"--rate", "N", "send requests per second, 0 = unlimited"},
      {"--burst", "N", "requests allowed at once above the rate"},
      {"--daily-quota", "N", "recipients per UTC day, 0 = unlimited"}}},
    {"zone", "create", "ACCOUNT_ID NAME", 2, admin_zone_create,
     "add a DNS zone (e.g. example.com) to an account; prints its id",
     "pigeon zone create 0123456789abcdef0123456789abcdef example.com --dev",
     {{NULL}}},
    {"zone", "list", "ACCOUNT_ID", 1, admin_zone_list,
     "list an account's zones",
     "pigeon zone list 0123456789abcdef0123456789abcdef --dev",
     {{NULL}}},
    {"domain", "create", "ZONE_ID NAME", 2, admin_domain_create,
     "onboard a sending domain with new DKIM keys; prints id + DNS records",
     "pigeon domain create 0123456789abcdef0123456789abcdef "
     "mail.example.com --dev",
     {{"--selector", "S", "DKIM selector (default pigeon)"},
      {"--ed25519", NULL, "also make an Ed25519 key (RFC 8463)"}}},
    {"domain", "dns", "NAME", 1, admin_domain_dns,
     "print the DNS records a sending domain needs (zone-file lines)",
     "pigeon domain dns mail.example.com --dev",
     {{NULL}}},
    {"domain", "set", "NAME", 1, admin_domain_set,
     "change a sending domain's switches",
     "pigeon domain set mail.example.com --enabled no --dev",
     {{"--enabled", "BOOL", "may send (" BOOL_HELP ")"},
      {"--drop-suppressed", "BOOL",
       "drop suppressed recipients, do not refuse the send (" BOOL_HELP ")"},
      {"--preview", "BOOL",
       "keep sent messages for GET messages/{id} (" BOOL_HELP ")"}}},
    {"domain", "delete", "NAME", 1, admin_domain_delete,
     "delete a sending domain (mail already queued from it still goes out)",
     "pigeon domain delete mail.example.com --dev",
     {{NULL}}},
    {"token", "create", "ACCOUNT_ID", 1, admin_token_create,
     "issue an API token for an account; the secret is shown once",
     "pigeon token create 0123456789abcdef0123456789abcdef --perm send "
     "--expires 2027-01-01 --dev",
     {{"--name", "N", "a label for the token"},
      {"--perm", "send,read,manage", "permissions (default all three)"},
      {"--expires", "DATE",
       "YYYY-MM-DD (00:00 UTC) or ISO 8601, e.g. 2027-01-01T12:00:00Z"},
      {"--global-key", "EMAIL",
       "make a global API key, used with X-Auth-Email: EMAIL"}}},
    {"token", "list", "ACCOUNT_ID", 1, admin_token_list,
     "list an account's tokens (never their secrets)",
     "pigeon token list 0123456789abcdef0123456789abcdef --dev",
     {{NULL}}},
    {"token", "revoke", "TOKEN_ID", 1, admin_token_revoke,
     "revoke a token (a running server notices within auth_cache_ms)",
     "pigeon token revoke 0123456789abcdef0123456789abcdef --dev",
     {{NULL}}},
    {"queue", "list", "", 0, admin_queue_list,
     "list recipients not yet final (queued, deferred), newest first; "
     "or the throttled destinations",
     "pigeon queue list --state deferred --limit 20 --dev",
     {{"--state", "S", "queued, deferred, delivered, bounced or failed"},
      {"--limit", "N", "show at most N recipients (default 100)"},
      {"--destinations", NULL,
       "the throttled destinations of a running server (SPEC 6.3)"}}},
    {"queue", "show", "MESSAGE_ID", 1, admin_queue_show,
     "show a message, its recipients and their events",
     "pigeon queue show '<id@example.com>' --dev",
     {{NULL}}},
    {"queue", "retry", "[MESSAGE_ID]", 1, admin_queue_retry,
     "make a message's (or every) queued and deferred recipient due now",
     "pigeon queue retry '<id@example.com>' --dev",
     {{"--all", NULL, "every message in the queue"}}, 1},
    {"queue", "drop", "MESSAGE_ID", 1, admin_queue_drop,
     "give up a message's queued and deferred recipients (failed)",
     "pigeon queue drop '<id@example.com>' --dev",
     {{NULL}}},
    {"queue", "resume", "DESTINATION", 1, admin_queue_resume,
     "clear a destination's throttle and retry its recipients now",
     "pigeon queue resume example.net --dev",
     {{NULL}}},
    {"suppression", "list", "ACCOUNT_ID", 1, admin_suppression_list,
     "list an account's suppressions that have not expired (SPEC 8.1)",
     "pigeon suppression list 0123456789abcdef0123456789abcdef "
     "--reason hard_bounce --dev",
     {{"--email", "E", "only this address"},
      {"--reason", "R",
       "manual, hard_bounce, soft_bounce, complaint or policy"},
      {"--limit", "N", "show at most N entries (default 100)"}}},
    {"suppression", "add", "ACCOUNT_ID EMAIL", 2, admin_suppression_add,
     "suppress an address for the account, or one sending domain "
     "(reason manual)",
     "pigeon suppression add 0123456789abcdef0123456789abcdef "
     "bob@example.net --expires 2027-01-01 --dev",
     {{"--domain", "NAME", "only for mail from this sending domain"},
      {"--expires", "DATE", "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; "
       "default never"},
      {"--note", "TEXT", "a note kept with the entry"}}},
    {"suppression", "remove", "ACCOUNT_ID EMAIL|ID", 2,
     admin_suppression_remove,
     "remove a suppression, by id or by address (and --domain)",
     "pigeon suppression remove 0123456789abcdef0123456789abcdef "
     "bob@example.net --dev",
     {{"--domain", "NAME", "the entry of this sending domain, not the "
       "account's"}}},
    {"webhook", "add", "ACCOUNT_ID URL", 2, admin_webhook_add,
     "POST an account's events (SPEC 6.5) to URL, signed; the secret is "
     "shown once",
     "pigeon webhook add 0123456789abcdef0123456789abcdef "
     "https://hooks.example.net/pigeon --events delivered,bounced --dev",
     {{"--events", "TYPE,...",
       "only these types: delivered, deferred, bounced, failed, rejected, "
       "complained (or cf.email.sending.message.TYPE); default all"}}},
    {"webhook", "list", "ACCOUNT_ID", 1, admin_webhook_list,
     "list an account's webhooks: events pending, given up, last error",
     "pigeon webhook list 0123456789abcdef0123456789abcdef --dev",
     {{NULL}}},
    {"webhook", "remove", "WEBHOOK_ID", 1, admin_webhook_remove,
     "remove a webhook and the events still to POST to it",
     "pigeon webhook remove 0123456789abcdef0123456789abcdef --dev",
     {{NULL}}},
    {"webhook", "replay", "WEBHOOK_ID", 1, admin_webhook_replay,
     "POST a webhook's events of a time range again (same Pigeon-Event-Id)",
     "pigeon webhook replay 0123456789abcdef0123456789abcdef --since "
     "2026-11-30T00:00:00Z --type bounced --dev",
     {{"--since", "TIME", "from (YYYY-MM-DD or ISO 8601), required"},
      {"--until", "TIME", "up to, not included (default: now)"},
      {"--type", "T", "only this event type"}}},
    {"check", NULL, "", 0, admin_check,
     "validate the configuration and that state_dir is usable; exit 0 or 1",
     "pigeon check -c /etc/pigeon/pigeon.conf",
     {{"-v", NULL, "also print every directive with its value"}}},
};
/* clang-format on */

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct admin_opt global_opts[] = {
    {"-c", "FILE", "configuration file (required unless --dev)"},
    {"--dev", NULL,
     "dev defaults: state in ./var, HTTP on 127.0.0.1:8587; "
     "-c FILE applies on top"},
    {"--json", NULL, "print JSON instead of text"},
    {"-h, --help", NULL, "this help"},
};

/* "account create" or "check". */
static const char *
cmd_name(const struct admin_cmd *c, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s%s", c->name, c->sub ? " " : "",
	         c->sub ? c->sub : "");
	return out;
}

static void
print_usage_line(FILE *fp, const struct admin_cmd *c)
{
	char name[64];
	size_t i;

	fprintf(fp, "pigeon %s%s%s", cmd_name(c, name, sizeof(name)),
	        c->usage[0] ? " " : "", c->usage);
	for (i = 0; i < ADMIN_MAX_OPTS && c->opts[i].name; i++)
		fprintf(fp, " [%s%s%s]", c->opts[i].name,
		        c->opts[i].arg ? " " : "",
		        c->opts[i].arg ? c->opts[i].arg : "");
}

static void
print_opt(const struct admin_opt *o)
{
	char left[64];

	snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "",
	         o->arg ? o->arg : "");
	printf("  %-24s %s\n", left, o->help);
}

static void
help_cmd(const struct admin_cmd *c)
{
	size_t i;

	printf("usage: ");
	print_usage_line(stdout, c);
	printf(" [-c FILE | --dev] [--json]\n\n%s\n", c->summary);
	if (c->opts[0].name) {
		printf("\noptions:\n");
		for (i = 0; i < ADMIN_MAX_OPTS && c->opts[i].name; i++)
			print_opt(&c->opts[i]);
	}
	printf("\nglobal options:\n");
	for (i = 0; i < sizeof(global_opts) / sizeof(global_opts[0]); i++)
		print_opt(&global_opts[i]);
	printf("\nexample:\n  %s\n", c->example);
}

/* The overview; group != NULL limits it to one command's subcommands. */
static void
help_all(FILE *fp, const char *group)
{
	size_t i;

	if (group == NULL)
		fprintf(fp,
		        "pigeon %s: self-hosted email sending "
		        "that speaks Cloudflare's Email Sending API\n\n",
		        PIGEON_VERSION);
	fprintf(fp, "usage:\n");
	for (i = 0; i < NCOMMANDS; i++) {
		if (group && strcmp(commands[i].name, group) != 0)
			continue;
		fprintf(fp, "  ");
		print_usage_line(fp, &commands[i]);
		fprintf(fp, "\n      %s\n", commands[i].summary);
	}
	fprintf(fp, "\nevery command takes -c FILE (required unless --dev), "
	            "--dev, --json and -h/--help.\n"
	            "exit status: 0 ok, 1 failure, 2 usage error.\n"
	            "pigeon COMMAND --help shows a command's options and an "
	            "example.\n");
}

/* The subcommands of group as "create, set". */
static const char *
subs_of(const char *group, char *out, size_t outlen)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, group) == 0 && commands[i].sub &&
		    len < outlen)
			len +=
			    (size_t)snprintf(out + len, outlen - len, "%s%s",
			                     len ? ", " : "", commands[i].sub);
	return out;
}

static int
is_help(const char *s)
{
	return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

/* Finds the row for argv[1] (and argv[2]); *used = words consumed.
 * NULL after printing help or an error; *status says which. */
static const struct admin_cmd *
find_cmd(int argc, char **argv, int *used, int *status)
{
	char subs[128];
	size_t i;
	int group = 0;

	for (i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, argv[1]) != 0)
			continue;
		if (commands[i].sub == NULL) {
			*used = 2;
			return &commands[i];
		}
		group = 1;
		if (argc > 2 && strcmp(commands[i].sub, argv[2]) == 0) {
			*used = 3;
			return &commands[i];
		}
	}
	if (!group) {
		*status = admin_err(ADMIN_USAGE,
		                    "unknown command '%s' (see "
		                    "pigeon --help)",
		                    argv[1]);
		return NULL;
	}
	subs_of(argv[1], subs, sizeof(subs));
	if (argc > 2 && is_help(argv[2])) {
		help_all(stdout, argv[1]);
		*status = ADMIN_OK;
	} else if (argc > 2)
		*status = admin_err(ADMIN_USAGE,
		                    "%s: unknown subcommand '%s' "
		                    "(use %s)",
		                    argv[1], argv[2], subs);
	else
		*status = admin_err(ADMIN_USAGE,
		                    "%s: missing subcommand "
		                    "(use %s)",
		                    argv[1], subs);
	return NULL;
}

/*
 * Options may come anywhere after the command words, as "--opt VALUE" or
 * "--opt=VALUE" (and "-c FILE" / "-cFILE"); "--" ends them. Returns 0, or
 * ADMIN_USAGE after the error line.
 */
static int
parse_args(struct admin *a, int argc, char **argv, const char **cfile, int *dev)
{
	const struct admin_cmd *c = a->cmd;
	char name[64], opt[64];
	const char *arg, *val, *eq;
	int i, k, dashdash = 0;
	size_t n;

	cmd_name(c, name, sizeof(name));
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (dashdash || arg[0] != '-' || arg[1] == '\0') {
			if (a->nargs >= c->nargs)
				return admin_err(
				    ADMIN_USAGE,
				    "%s: unexpected "
				    "argument '%s' (usage: pigeon %s %s)",
				    name, arg, name, c->usage);
			a->args[a->nargs++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(arg, "--dev") == 0) {
			*dev = 1;
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (arg[1] == 'c') { /* -c FILE or -cFILE */
			if (arg[2] != '\0')
				*cfile = arg + 2;
			else if (i + 1 < argc)
				*cfile = argv[++i];
			else
				return admin_err(ADMIN_USAGE,
				                 "%s: -c needs a "
				                 "FILE",
				                 name);
			continue;
		}
		if (strncmp(arg, "--config", 8) == 0 &&
		    (arg[8] == '\0' || arg[8] == '=')) {
			if (arg[8] == '=')
				*cfile = arg + 9;
			else if (i + 1 < argc)
				*cfile = argv[++i];
			else
				return admin_err(ADMIN_USAGE,
				                 "%s: --config "
				                 "needs a FILE",
				                 name);
			continue;
		}
		eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
		n = eq ? (size_t)(eq - arg) : strlen(arg);
		snprintf(opt, sizeof(opt), "%.*s", (int)n, arg);
		for (k = 0; k < ADMIN_MAX_OPTS && c->opts[k].name; k++)
			if (strcmp(c->opts[k].name, opt) == 0)
				break;
		if (k == ADMIN_MAX_OPTS || c->opts[k].name == NULL)
			return admin_err(ADMIN_USAGE,
			                 "%s: unknown option '%s' "
			                 "(see pigeon %s --help)",
			                 name, opt, name);
		if (c->opts[k].arg == NULL) {
			if (eq)
				return admin_err(ADMIN_USAGE,
				                 "%s: %s takes "
				                 "no value",
				                 name, opt);
			a->vals[k] = "";
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return admin_err(ADMIN_USAGE,
			                 "%s: %s needs a value "
			                 "(%s)",
			                 name, opt, c->opts[k].arg);
		a->vals[k] = val;
	}
	if (a->nargs < c->nargs - c->optional) {
		/* Name the first missing positional argument. */
		const char *p = c->usage;
		int skip = a->nargs;

		while (skip-- > 0 && (p = strchr(p, ' ')) != NULL)
			p++;
		n = p ? strcspn(p, " ") : 0;
		return admin_err(ADMIN_USAGE,
		                 "%s: missing %.*s (usage: "
		                 "pigeon %s %s)",
		                 name, (int)n, p ? p : "", name, c->usage);
	}
	return 0;
}

/* 1 when argv[i] is a global option, with *width the words it takes. */
static int
is_global(int argc, char **argv, int i, int *width)
{
	const char *s = argv[i];

	*width = 1;
	if (strcmp(s, "--dev") == 0 || strcmp(s, "--json") == 0)
		return 1;
	if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) {
		*width = i + 1 < argc ? 2 : 1;
		return 1;
	}
	return strncmp(s, "-c", 2) == 0 || strncmp(s, "--config=", 9) == 0;
}

/* "pigeon --dev zone list X" is read as "pigeon zone list X --dev": global
 * options before the command move behind it. Returns argv or a new
 * vector (never freed: it lives as long as the process), NULL on ENOMEM. */
static char **
reorder(int argc, char **argv)
{
	char **v;
	int i = 1, w, n = 0;

	while (i < argc && is_global(argc, argv, i, &w))
		i += w;
	if (i == 1 || i == argc)
		return argv;
	if ((v = calloc((size_t)argc + 1, sizeof(*v))) == NULL)
		return NULL;
	v[n++] = argv[0];
	for (w = i; w < argc; w++)
		v[n++] = argv[w];
	for (w = 1; w < i; w++)
		v[n++] = argv[w];
	return v;
}

int
main(int argc, char **argv)
{
	struct admin a;
	const char *cfile = NULL;
	char err[1024];
	int dev = 0, used = 0, status = ADMIN_USAGE, i;

	/* The state directory holds DKIM private keys and token hashes:
	 * whatever pigeon creates is private to its user. */
	umask(077);
	memset(&a, 0, sizeof(a));
	if (argc < 2)
		return admin_err(ADMIN_USAGE, "missing command (see pigeon "
		                              "--help)");
	if ((argv = reorder(argc, argv)) == NULL)
		return admin_err(ADMIN_FAIL, "out of memory");
	if (is_help(argv[1])) {
		help_all(stdout, NULL);
		return ADMIN_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("pigeon %s\n", PIGEON_VERSION);
		return ADMIN_OK;
	}
	if (is_global(argc, argv, 1, &used))
		return admin_err(ADMIN_USAGE, "missing command (see pigeon "
		                              "--help)");
	if (argv[1][0] == '-')
		return admin_err(ADMIN_USAGE,
		                 "missing command or unknown "
		                 "option '%s' (see pigeon --help)",
		                 argv[1]);
	if ((a.cmd = find_cmd(argc, argv, &used, &status)) == NULL)
		return status;
	/* --help wins over anything else on the line. */
	for (i = used; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_help(argv[i])) {
			help_cmd(a.cmd);
			return ADMIN_OK;
		}
	if (parse_args(&a, argc - used, argv + used, &cfile, &dev) != 0)
		return ADMIN_USAGE;
	if (!dev && cfile == NULL)
		return admin_err(ADMIN_USAGE,
		                 "no config: pass -c FILE or --dev");

	/* Dev defaults (SPEC §10), then the file on top, then checks. */
	config_defaults(&a.cfg, dev);
	status = ADMIN_FAIL;
	err[0] = '\0';
	if (cfile && config_load(&a.cfg, cfile, err, sizeof(err)) == -1) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto out;
	}
	if (config_finish(&a.cfg, err, sizeof(err)) == -1) {
		admin_err(ADMIN_FAIL, "%s%s%s", cfile ? cfile : "",
		          cfile ? ": " : "", err[0] ? err : "out of memory");
		goto out;
	}
	status = a.cmd->fn(&a);
out:
	config_clear(&a.cfg);
	return status;
}
