/*
 * admin: what the subcommands share — error lines, the store, value
 * parsers and the printing of tenant objects. The rules (names, ids,
 * secrets, permissions, defaults) and the JSON form are the tenant's
 * (src/tenant/); the admin_ names here are thin calls kept for the
 * commands. The commands themselves are in account.c, zone.c, domain.c,
 * token.c, check.c and serve.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../tenant/json.h"
#include "../tenant/rules.h"
#include "admin.h"

#define MAX_COUNT (INT64_C(1) << 53) /* exact in a JSON number */

const char *
admin_opt(const struct admin *a, const char *name)
{
	size_t i;

	for (i = 0; i < ADMIN_MAX_OPTS && a->cmd->opts[i].name; i++)
		if (strcmp(a->cmd->opts[i].name, name) == 0)
			return a->vals[i];
	return NULL;
}

int
admin_err(int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	char *p;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line, whatever a store or library message contained. */
	for (p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "pigeon: %s\n", line);
	return status;
}

int
admin_mkdirs(const char *path)
{
	char buf[4096], *p;
	struct stat st;

	if (strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, strlen(path) + 1);
	for (p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

struct store *
admin_store_open(struct admin *a)
{
	struct store *s;
	char err[512];

	/* --dev means the store `pigeon serve --dev` made here: in another
	 * directory an empty one would only mislead */
	if (a->cfg.dev && strcmp(a->cmd->name, "serve") != 0 &&
	    access(a->cfg.db_path, F_OK) == -1) {
		admin_err(ADMIN_FAIL,
		          "no dev store at %s: run pigeon serve --dev (make "
		          "run) in this directory first, or give -c FILE",
		          a->cfg.db_path);
		return NULL;
	}
	if (admin_mkdirs(a->cfg.state_dir) == -1) {
		admin_err(ADMIN_FAIL, "cannot create state_dir %s: %s",
		          a->cfg.state_dir, strerror(errno));
		return NULL;
	}
	err[0] = '\0';
	if ((s = store_open(a->cfg.db_path, err, sizeof(err))) == NULL)
		admin_err(ADMIN_FAIL, "cannot open the store %s: %s",
		          a->cfg.db_path, err[0] ? err : "unknown error");
	return s;
}

struct store *
admin_account_open(struct admin *a, const char *id, struct account *ac)
{
	struct store *s;

	if ((s = admin_store_open(a)) != NULL &&
	    admin_account_load(s, id, ac) == -1) {
		store_close(s);
		s = NULL;
	}
	return s;
}

int
admin_account_load(struct store *s, const char *id, struct account *ac)
{
	switch (store_account_get(s, id, ac)) {
	case 0:
		return 0;
	case STORE_NOT_FOUND:
		return admin_err(-1,
		                 "no account %s (see pigeon account "
		                 "create)",
		                 id);
	default:
		return admin_err(-1, "cannot read account %s: %s", id,
		                 store_error(s));
	}
}

int
admin_zone_load(struct store *s, const char *id, struct zone *z)
{
	switch (store_zone_get(s, id, z)) {
	case 0:
		return 0;
	case STORE_NOT_FOUND:
		return admin_err(-1, "no zone %s (see pigeon zone list)", id);
	default:
		return admin_err(-1, "cannot read zone %s: %s", id,
		                 store_error(s));
	}
}

int
admin_domain_load(struct store *s, const char *name, struct domain *d)
{
	switch (store_domain_get_by_name(s, name, d)) {
	case 0:
		return 0;
	case STORE_NOT_FOUND:
		return admin_err(-1,
		                 "no sending domain %s (see pigeon domain "
		                 "create)",
		                 name);
	default:
		return admin_err(-1, "cannot read sending domain %s: %s", name,
		                 store_error(s));
	}
}

int
admin_parse_bool(const char *s, int *out)
{
	return config_parse_bool(s, out);
}

int
admin_parse_count(const char *s, int64_t *out)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end != '\0' || n < 0 || n > MAX_COUNT)
		return -1;
	*out = n;
	return 0;
}

int
admin_parse_time(const char *s, time_t *out)
{
	int64_t ms;

	if (clock_parse_iso8601(s, CLOCK_ISO_LENIENT, &ms) == -1)
		return -1;
	*out = (time_t)(ms / 1000);
	return 0;
}

int
admin_parse_perms(const char *s, unsigned *out)
{
	return tenant_perms_parse(s, out);
}

int
admin_domain_name(const char *in, char *out, size_t outlen)
{
	return tenant_domain_name(in, out, outlen);
}

int
admin_selector_ok(const char *s)
{
	return tenant_selector_ok(s);
}

int
admin_id_parse(const char *s, char out[ID_LEN + 1])
{
	return tenant_id_parse(s, out);
}

int
admin_id_arg(const char *cmd, const char *what, const char *arg,
             char id[ID_LEN + 1], const char *see)
{
	if (admin_id_parse(arg, id) == 0)
		return 0;
	return admin_err(ADMIN_USAGE,
	                 "%s: %s '%s' is not 32 hex characters%s%s%s", cmd,
	                 what, arg, see ? " (see pigeon " : "", see ? see : "",
	                 see ? ")" : "");
}

void
admin_new_id(char out[ID_LEN + 1])
{
	tenant_new_id(out);
}

void
admin_new_secret(char out[TOKEN_LEN + 1])
{
	tenant_new_secret(out);
}

void
admin_time_str(int64_t t, char out[32])
{
	if (t <= 0)
		snprintf(out, 32, "never");
	else
		clock_iso8601((time_t)t, out);
}

const char *
admin_perms_str(unsigned perms, char out[32])
{
	return tenant_perms_str(perms, out);
}

/* The SPF and MX records are left out when hostname cannot be named in
 * them (dnsrec_host_ok): says so on stderr, where --json output stays
 * parseable. */
static void
dns_host_warn(const char *hostname)
{
	if (dnsrec_host_ok(hostname))
		return;
	fprintf(stderr,
	        "pigeon: warning: hostname '%s' is not a full domain name: "
	        "the SPF and MX records of the return path, which name this "
	        "server, are left out (set hostname in the config to the "
	        "server's DNS name)\n",
	        hostname);
}

struct json_object *
admin_dns_json(const struct domain *d, const char *hostname)
{
	struct json_object *arr;
	struct dnsrec *v;
	size_t n;

	if (tenant_dns(d, hostname, &v, &n) == -1) {
		admin_err(ADMIN_FAIL,
		          "%s: cannot compute the DNS records "
		          "(is its DKIM key readable?)",
		          d->name);
		return NULL;
	}
	arr = tenant_dns_json(v, n);
	dnsrec_free(v, n);
	dns_host_warn(hostname);
	return arr;
}

void
admin_json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/*
 * Zone-file lines (RFC 1035 §5.1), ready to paste: absolute names, and
 * TXT content cut into <character-string>s of at most 255 octets
 * (RFC 1035 §3.3.14) — a 2048-bit DKIM key is longer than one. Records
 * left out (dnsrec_host_ok) are named in a comment line.
 */
int
admin_dns_print(const struct domain *d, const char *hostname)
{
	struct dnsrec *v;
	size_t n, i, off, len;

	if (tenant_dns(d, hostname, &v, &n) == -1)
		return admin_err(-1,
		                 "%s: cannot compute the DNS records "
		                 "(is its DKIM key readable?)",
		                 d->name);
	for (i = 0; i < n; i++) {
		printf("%s.\t%d\tIN\t%s\t", v[i].name, v[i].ttl, v[i].type);
		if (v[i].priority >= 0) {
			printf("%d %s.\n", v[i].priority, v[i].content);
			continue;
		}
		len = strlen(v[i].content);
		for (off = 0; off < len; off += 255)
			printf("%s\"%.*s\"", off ? " " : "",
			       (int)(len - off > 255 ? 255 : len - off),
			       v[i].content + off);
		putchar('\n');
	}
	dnsrec_free(v, n);
	if (!dnsrec_host_ok(hostname)) {
		printf("; SPF (TXT) and MX for the return path left out: "
		       "hostname '%s' is not a full domain name\n",
		       hostname);
		dns_host_warn(hostname);
	}
	return 0;
}
