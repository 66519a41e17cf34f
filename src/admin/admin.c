/*
 * admin: what the subcommands share — error lines, the store, value
 * parsers, ids and secrets, and the output of the store's objects as JSON
 * or text. The commands themselves are in account.c, zone.c, domain.c,
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

#include <idn2.h>
#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/random.h"
#include "../mail/dnsrec.h"
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
	strcpy(buf, path);
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
	case 1:
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
	case 1:
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
	case 1:
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

/* Reads exactly n digits at *pp into *out. 0 or -1. */
static int
digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	*pp = p;
	*out = v;
	return 0;
}

int
admin_parse_time(const char *s, time_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	const char *p = s;
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, zh, zm, sign;
	long off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || y < 1970)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (digits(&p, 2, &zh))
				return -1;
			if (*p == ':')
				p++;
			if (digits(&p, 2, &zm) || zh > 23 || zm > 59)
				return -1;
			off = sign * (zh * 3600L + zm * 60L);
		}
	}
	if (*p != '\0')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* Feb 29 of a year that has none rolls over into March. */
	if (tm.tm_mday != d)
		return -1;
	*out = t - off;
	return 0;
}

int
admin_parse_perms(const char *s, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} perms[] = {
	    {"send", PERM_SEND},
	    {"read", PERM_READ},
	    {"manage", PERM_MANAGE},
	};
	unsigned bits = 0;
	const char *p = s, *e;
	size_t i, n;

	for (;;) {
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
			if (strlen(perms[i].name) == n &&
			    strncmp(perms[i].name, p, n) == 0)
				break;
		if (i == sizeof(perms) / sizeof(perms[0]))
			return -1;
		bits |= perms[i].bit;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = bits;
	return 0;
}

/* RFC 1035 §2.3.1 / RFC 5890: LDH labels of 1-63 chars, no hyphen at
 * either end; the whole ≤ 253 chars. */
static int
ldh_name_ok(const char *s, size_t maxlen, int min_labels)
{
	size_t len = strlen(s), n = 0;
	int labels = 0;
	const char *p;

	if (len == 0 || len > maxlen)
		return 0;
	for (p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (n == 0 || n > 63 || p[-1] == '-')
				return 0;
			labels++;
			n = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (n == 0 && *p == '-')
			return 0;
		n++;
	}
	return labels >= min_labels;
}

int
admin_domain_name(const char *in, char *out, size_t outlen)
{
	char *a = NULL;
	const char *p;
	size_t len, i;
	int ascii = 1;

	for (p = in; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (!ascii) {
		/* RFC 5891 §4: the A-label form is what DNS and SMTP use. */
		if (idn2_to_ascii_8z(in, &a, IDN2_NONTRANSITIONAL) != IDN2_OK)
			return -1;
		in = a;
	}
	len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len + 1 > outlen) {
		free(a);
		return -1;
	}
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	free(a);
	return ldh_name_ok(out, 253, 2) ? 0 : -1;
}

int
admin_selector_ok(const char *s)
{
	return ldh_name_ok(s, 63, 1);
}

int
admin_id_parse(const char *s, char out[ID_LEN + 1])
{
	size_t i;

	if (strlen(s) != ID_LEN)
		return -1;
	for (i = 0; i < ID_LEN; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[ID_LEN] = '\0';
	return 0;
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
	random_hex(out, ID_LEN / 2);
}

/* SPEC §2.3: 40 chars of [A-Za-z0-9_-]. 64 symbols, so the low six bits
 * of a random byte pick one without bias. */
void
admin_new_secret(char out[TOKEN_LEN + 1])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "abcdefghijklmnopqrstuvwxyz"
	                               "0123456789-_";
	unsigned char r[TOKEN_LEN];
	size_t i;

	random_bytes(r, sizeof(r));
	for (i = 0; i < TOKEN_LEN; i++)
		out[i] = alphabet[r[i] & 63];
	out[TOKEN_LEN] = '\0';
}

void
admin_time_str(int64_t t, char out[32])
{
	if (t <= 0)
		snprintf(out, 32, "never");
	else
		clock_iso8601((time_t)t, out);
}

static struct json_object *
json_time(int64_t t)
{
	char s[32];

	if (t <= 0)
		return NULL; /* JSON null */
	clock_iso8601((time_t)t, s);
	return json_object_new_string(s);
}

static struct json_object *
json_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *
admin_account_json(const struct account *ac)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(ac->id));
	json_object_object_add(o, "name", json_str(ac->name));
	json_object_object_add(o, "entitled",
	                       json_object_new_boolean(ac->entitled));
	json_object_object_add(o, "sending_enabled",
	                       json_object_new_boolean(ac->sending_enabled));
	json_object_object_add(o, "rate", json_object_new_int64(ac->rate));
	json_object_object_add(o, "burst", json_object_new_int64(ac->burst));
	json_object_object_add(o, "daily_quota",
	                       json_object_new_int64(ac->daily_quota));
	json_object_object_add(o, "created", json_time(ac->created));
	return o;
}

struct json_object *
admin_zone_json(const struct zone *z)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(z->id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(z->account_id));
	json_object_object_add(o, "name", json_str(z->name));
	json_object_object_add(o, "created", json_time(z->created));
	return o;
}

/* Field names of SPEC §6.1 / §8.2. */
struct json_object *
admin_domain_json(const struct domain *d)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(d->id));
	json_object_object_add(o, "tag", json_object_new_string(d->id));
	json_object_object_add(o, "zone_id",
	                       json_object_new_string(d->zone_id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(d->account_id));
	json_object_object_add(o, "name", json_str(d->name));
	json_object_object_add(o, "enabled",
	                       json_object_new_boolean(d->enabled));
	json_object_object_add(o, "dkim_selector", json_str(d->selector));
	json_object_object_add(o, "return_path_domain",
	                       json_str(d->return_path_domain));
	json_object_object_add(o, "drop_suppressed_recipients",
	                       json_object_new_boolean(d->drop_suppressed));
	json_object_object_add(o, "preview_enabled",
	                       json_object_new_boolean(d->preview_enabled));
	json_object_object_add(o, "ed25519",
	                       json_object_new_boolean(d->ed_pem != NULL));
	json_object_object_add(o, "created", json_time(d->created));
	json_object_object_add(o, "modified", json_time(d->modified));
	return o;
}

const char *
admin_perms_str(unsigned perms, char out[32])
{
	out[0] = '\0';
	if (perms & PERM_SEND)
		strcat(out, "send,");
	if (perms & PERM_READ)
		strcat(out, "read,");
	if (perms & PERM_MANAGE)
		strcat(out, "manage,");
	if (out[0])
		out[strlen(out) - 1] = '\0';
	return out;
}

struct json_object *
admin_token_json(const struct token *t)
{
	struct json_object *o = json_object_new_object(), *p;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(t->account_id));
	/* A token made without --name may come back as "". */
	json_object_object_add(
	    o, "name", json_str(t->name && t->name[0] ? t->name : NULL));
	p = json_object_new_array();
	if (t->perms & PERM_SEND)
		json_object_array_add(p, json_object_new_string("send"));
	if (t->perms & PERM_READ)
		json_object_array_add(p, json_object_new_string("read"));
	if (t->perms & PERM_MANAGE)
		json_object_array_add(p, json_object_new_string("manage"));
	json_object_object_add(o, "perms", p);
	json_object_object_add(o, "expires", json_time(t->expires));
	json_object_object_add(o, "revoked",
	                       json_object_new_boolean(t->revoked));
	json_object_object_add(o, "global_email", json_str(t->global_email));
	json_object_object_add(o, "created", json_time(t->created));
	return o;
}

struct json_object *
admin_dns_json(const struct domain *d, const char *hostname)
{
	struct json_object *arr, *o;
	struct dnsrec *v;
	size_t n, i;

	if (dnsrec_for_domain(d, hostname, &v, &n) == -1) {
		admin_err(ADMIN_FAIL,
		          "%s: cannot compute the DNS records "
		          "(is its DKIM key readable?)",
		          d->name);
		return NULL;
	}
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "type",
		                       json_object_new_string(v[i].type));
		json_object_object_add(o, "name",
		                       json_object_new_string(v[i].name));
		json_object_object_add(o, "content",
		                       json_object_new_string(v[i].content));
		if (v[i].priority >= 0)
			json_object_object_add(
			    o, "priority", json_object_new_int(v[i].priority));
		json_object_object_add(o, "ttl", json_object_new_int(v[i].ttl));
		json_object_array_add(arr, o);
	}
	dnsrec_free(v, n);
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
 * (RFC 1035 §3.3.14) — a 2048-bit DKIM key is longer than one.
 */
int
admin_dns_print(const struct domain *d, const char *hostname)
{
	struct dnsrec *v;
	size_t n, i, off, len;

	if (dnsrec_for_domain(d, hostname, &v, &n) == -1)
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
	return 0;
}
