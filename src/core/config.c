/*
 * config: the directive table and the pigeon.conf reader (see config.h).
 * Adding a directive means adding a row here and a paragraph in
 * etc/pigeon.conf. The route table's lines repeat, so `route` and
 * `default_route` have readers of their own (line_table).
 *
 * Route patterns and relay hosts go through mail/dname, pigeon's one
 * IDNA rule: the one place core/ reaches into mail/.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mail/dname.h"
#include "config.h"

/* CFG_MSEC: milliseconds, a bare number is ms; CFG_SECS: seconds, a bare
 * number is seconds; CFG_DUR: milliseconds, a bare number is seconds
 * (a name without "_ms" reads as seconds, and tests still need ms). */
enum cfg_type { CFG_STR, CFG_INT, CFG_I64, CFG_MSEC, CFG_SECS, CFG_DUR };

struct cfg_row {
	const char *name;
	enum cfg_type type;
	size_t off, size; /* where the value lives in struct config */
	/* numbers: the range; strings: max is the length cap and min 0
	 * lets "" stand for the empty value */
	int64_t min, max;
};

#define MIN5 (5 * 60000)

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
    {"capture_defer_attempts", CFG_INT, OFF(capture_defer_attempts), 0, 1000},
    {"capture_slow_ms", CFG_MSEC, OFF(capture_slow_ms), 0, 600000},
    {"log_level", CFG_STR, OFF(log_level), 1, 16},
    {"message_retention", CFG_SECS, OFF(message_retention), 1, 3650 * 86400},
    {"access_log", CFG_STR, OFF(access_log), 1, 16},
    {"raw_headers", CFG_STR, OFF(raw_headers), 1, 16},
    {"max_connections_per_ip", CFG_INT, OFF(max_connections_per_ip), 0,
     1000000},
    {"header_timeout", CFG_SECS, OFF(header_timeout), 1, 3600},
    {"dns_servers", CFG_STR, OFF(dns_servers), 0, 1024},
    {"mx_port", CFG_INT, OFF(mx_port), 1, 65535},
    {"helo_name", CFG_STR, OFF(helo_name), 1, 255},
    {"tls_ca_file", CFG_STR, OFF(tls_ca_file), 0, 4096},
    {"max_connections_per_destination", CFG_INT,
     OFF(max_connections_per_destination), 1, 1000},
    {"max_messages_per_connection", CFG_INT, OFF(max_messages_per_connection),
     1, 100000},
    {"smtp_timeout_connect", CFG_DUR, OFF(smtp_timeout_connect), 1, 3600000},
    {"smtp_timeout_greeting", CFG_DUR, OFF(smtp_timeout_greeting), 1, 3600000},
    {"smtp_timeout_ehlo", CFG_DUR, OFF(smtp_timeout_ehlo), 1, 3600000},
    {"smtp_timeout_mail", CFG_DUR, OFF(smtp_timeout_mail), 1, 3600000},
    {"smtp_timeout_rcpt", CFG_DUR, OFF(smtp_timeout_rcpt), 1, 3600000},
    {"smtp_timeout_data", CFG_DUR, OFF(smtp_timeout_data), 1, 3600000},
    {"smtp_timeout_dot", CFG_DUR, OFF(smtp_timeout_dot), 1, 3600000},
    {"drain_timeout", CFG_DUR, OFF(drain_timeout), 0, 3600000},
    {"node_id", CFG_STR, OFF(node_id), 0, 64},
    {"smtps_listen", CFG_STR, OFF(smtps_listen), 0, 300},
    {"submission_listen", CFG_STR, OFF(submission_listen), 0, 300},
    {"inbound_listen", CFG_STR, OFF(inbound_listen), 0, 300},
    {"tls_cert", CFG_STR, OFF(tls_cert), 0, 4096},
    {"tls_key", CFG_STR, OFF(tls_key), 0, 4096},
    {"smtpd_timeout_command", CFG_DUR, OFF(smtpd_timeout_command), 100,
     3600000},
    {"smtpd_timeout_data", CFG_DUR, OFF(smtpd_timeout_data), 100, 3600000},
    {"smtpd_timeout_idle", CFG_DUR, OFF(smtpd_timeout_idle), 100, 3600000},
    {"smtpd_max_sessions", CFG_INT, OFF(smtpd_max_sessions), 1, 1000000},
    {"smtpd_max_sessions_per_ip", CFG_INT, OFF(smtpd_max_sessions_per_ip), 1,
     1000000},
    {"queue_window", CFG_INT, OFF(queue_window), 1, 10000000},
    {"queue_lease", CFG_DUR, OFF(queue_lease), 1000, 86400000},
    /* GET /metrics (SPEC §8.3) on an address of its own */
    {"metrics_listen", CFG_STR, OFF(metrics_listen), 0, 300},
    /* webhooks (SPEC §6.5) */
    {"webhook_timeout", CFG_DUR, OFF(webhook_timeout), 100, 600000},
    {"webhook_retry_base", CFG_DUR, OFF(webhook_retry_base), 10, 86400000},
    {"webhook_retry_max", CFG_DUR, OFF(webhook_retry_max), 10, 86400000},
    {"webhook_max_age", CFG_DUR, OFF(webhook_max_age), 1000, 30LL * 86400000},
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

/* -- the route table (SPEC §6.3) ------------------------------------------ */

static const char *const kind_names[] = {
    [CFG_ROUTE_CAPTURE] = "capture",
    [CFG_ROUTE_MX] = "mx",
    [CFG_ROUTE_RELAY] = "relay",
};

static const char *const tls_names[] = {
    [CFG_TLS_NONE] = "none",
    [CFG_TLS_OPPORTUNISTIC] = "opportunistic",
    [CFG_TLS_REQUIRE] = "require",
    [CFG_TLS_VERIFY] = "verify",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define ROUTE_MAX_ARGS 8

const char *
config_route_kind_name(enum cfg_route_kind kind)
{
	return (size_t)kind < NELEM(kind_names) ? kind_names[kind] : "?";
}

const char *
config_tls_name(enum cfg_tls tls)
{
	return (size_t)tls < NELEM(tls_names) ? tls_names[tls] : "?";
}

/* printf into why; returns -1 so that a reader can `return whyf(…)`. */
static int whyf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
whyf(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

static void
route_clear(struct cfg_route *r)
{
	free(r->pattern);
	free(r->host);
	free(r->user);
	if (r->pass != NULL)
		explicit_bzero(r->pass, strlen(r->pass));
	free(r->pass);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* A deep copy of src into *dst. 0, or -1 (out of memory, *dst cleared). */
static int
route_copy(struct cfg_route *dst, const struct cfg_route *src)
{
	*dst = *src;
	dst->pattern = strdup(src->pattern);
	dst->text = strdup(src->text);
	dst->host = dup_or_null(src->host);
	dst->user = dup_or_null(src->user);
	dst->pass = dup_or_null(src->pass);
	if (dst->pattern == NULL || dst->text == NULL ||
	    (src->host && !dst->host) || (src->user && !dst->user) ||
	    (src->pass && !dst->pass)) {
		route_clear(dst);
		return -1;
	}
	return 0;
}

/* "*", "*.domain" or "domain" into a malloc'd lowercase A-label
 * pattern. 0, or -1 (bad, or out of memory: *out NULL either way). */
static int
pattern_norm(const char *in, char **out)
{
	char d[256];
	int wild = strncmp(in, "*.", 2) == 0;

	*out = NULL;
	if (strcmp(in, "*") == 0) {
		*out = strdup("*");
		return *out != NULL ? 0 : -1;
	}
	if (strchr(in + (wild ? 2 : 0), '*') != NULL ||
	    dname_operator(in + (wild ? 2 : 0), d, sizeof(d), 1) == -1)
		return -1;
	if (asprintf(out, "%s%s", wild ? "*." : "", d) == -1) {
		*out = NULL;
		return -1;
	}
	return 0;
}

/* RFC 3986 §2.2, §2.3: what userinfo may hold without percent-encoding
 * (':' too, but the first one splits user from password). */
static int
userinfo_char(int ch)
{
	return isalnum(ch) || strchr("-._~!$&'()*+,;=", ch) != NULL;
}

/* Percent-decodes in[0..len) (RFC 3986 §2.1) into a malloc'd string.
 * colon_ok: a raw ':' may appear (the password). 0, or -1 with why
 * (which never repeats the text: it may be a password). */
static int
pct_decode(const char *in, size_t len, int colon_ok, char **out, char *why,
           size_t whylen)
{
	static const char hex[] = "0123456789abcdef";
	char *o;
	size_t i, n = 0;

	if ((o = *out = malloc(len + 1)) == NULL)
		return whyf(why, whylen, "out of memory");
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		const char *h, *l;

		if (ch == '%') {
			if (len - i < 3)
				goto badpct;
			h = strchr(hex, tolower((unsigned char)in[i + 1]));
			l = strchr(hex, tolower((unsigned char)in[i + 2]));
			if (in[i + 1] == '\0' || in[i + 2] == '\0' ||
			    h == NULL || l == NULL)
				goto badpct;
			ch = (unsigned char)((h - hex) << 4 | (l - hex));
			if (ch == '\0')
				goto fail_nul;
			o[n++] = (char)ch;
			i += 2;
			continue;
		}
		if (!userinfo_char(ch) && !(colon_ok && ch == ':')) {
			whyf(why, whylen,
			     "the relay URL's user or password holds a "
			     "character that must be percent-encoded (RFC "
			     "3986)");
			goto fail;
		}
		o[n++] = (char)ch;
	}
	o[n] = '\0';
	return 0;
badpct:
	whyf(why, whylen,
	     "bad percent-encoding in the relay URL's user or password");
	goto fail;
fail_nul:
	whyf(why, whylen, "a %%00 in the relay URL's user or password");
fail:
	explicit_bzero(o, len + 1);
	free(o);
	*out = NULL;
	return -1;
}

/* The port of a URL or a host:port: digits only, 1 to 65535; else -1. */
static int
port_parse(const char *s, size_t len)
{
	int port = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? port : -1;
}

/* The relay URL, smtp[s]://[user:pass@]host[:port][/], into r. 0, or -1
 * with why. */
static int
relay_url(struct cfg_route *r, const char *url, char *why, size_t whylen)
{
	const char *auth, *end, *at, *host, *hend, *colon;
	char hbuf[256], name[256];
	struct in6_addr a6;
	size_t hlen;

	if (strncasecmp(url, "smtp://", 7) == 0)
		auth = url + 7;
	else if (strncasecmp(url, "smtps://", 8) == 0) {
		auth = url + 8;
		r->implicit_tls = 1;
	} else
		return whyf(why, whylen,
		            "the relay URL must start smtp:// or smtps://");
	end = auth + strcspn(auth, "/");
	if (*end == '/' && end[1] != '\0')
		return whyf(why, whylen,
		            "the relay URL takes no path after the host "
		            "and port");
	host = auth;
	if ((at = memchr(auth, '@', (size_t)(end - auth))) != NULL) {
		const char *sep;

		if (memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL)
			return whyf(why, whylen,
			            "write an '@' in the relay URL's user or "
			            "password as %%40");
		if ((sep = memchr(auth, ':', (size_t)(at - auth))) == NULL)
			return whyf(why, whylen,
			            "the relay URL's user needs a password "
			            "(user:pass@host)");
		if (sep == auth)
			return whyf(why, whylen,
			            "the relay URL has an empty user name");
		if (sep + 1 == at)
			return whyf(why, whylen,
			            "the relay URL has an empty password");
		if (pct_decode(auth, (size_t)(sep - auth), 0, &r->user, why,
		               whylen) == -1 ||
		    pct_decode(sep + 1, (size_t)(at - sep - 1), 1, &r->pass,
		               why, whylen) == -1)
			return -1;
		host = at + 1;
	}
	/* host, "[v6]", then ":port" */
	if (*host == '[') {
		if ((hend = memchr(host, ']', (size_t)(end - host))) == NULL)
			return whyf(why, whylen,
			            "the relay URL has a '[' without ']'");
		hlen = (size_t)(hend - host - 1);
		colon = hend + 1 < end ? hend + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return whyf(why, whylen,
			            "the relay URL has text after ']' that is "
			            "not a port");
		if (hlen >= sizeof(hbuf))
			return whyf(why, whylen, "the relay host is too long");
		memcpy(hbuf, host + 1, hlen);
		hbuf[hlen] = '\0';
		if (inet_pton(AF_INET6, hbuf, &a6) != 1)
			return whyf(
			    why, whylen,
			    "bad relay host '[%s]': not an IPv6 address", hbuf);
		r->host = strdup(hbuf);
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		hlen = (size_t)((colon != NULL ? colon : end) - host);
		if (colon != NULL &&
		    memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			/* not echoed: "smtp://user:pa:ss" puts a password
			 * here */
			return whyf(why, whylen,
			            "the relay host has more than one ':' (an "
			            "IPv6 address goes in brackets: [::1])");
		if (hlen == 0)
			return whyf(why, whylen,
			            "the relay URL has an empty host");
		if (hlen >= sizeof(hbuf))
			return whyf(why, whylen, "the relay host is too long");
		memcpy(hbuf, host, hlen);
		hbuf[hlen] = '\0';
		if (dname_operator(hbuf, name, sizeof(name), 1) == -1)
			return whyf(why, whylen, "bad relay host '%s'", hbuf);
		r->host = strdup(name);
	}
	if (r->host == NULL)
		return whyf(why, whylen, "out of memory");
	if (colon == NULL)
		r->port = r->implicit_tls ? 465 : 587;
	else if ((r->port = port_parse(colon + 1, (size_t)(end - colon - 1))) ==
	         -1) {
		/* not echoed unless digits: "smtp://user:pass" (no host)
		 * puts a password here */
		if (strspn(colon + 1, "0123456789") !=
		    (size_t)(end - colon - 1))
			return whyf(why, whylen,
			            "the relay port is not a number");
		return whyf(why, whylen, "bad relay port '%.*s' (1 to 65535)",
		            (int)(end - colon - 1), colon + 1);
	}
	return 0;
}

/* "tls=VALUE" into *tls. 0, or -1 with why. */
static int
tls_arg(const char *arg, int *seen, enum cfg_tls *tls, char *why, size_t whylen)
{
	size_t i;

	if (*seen)
		return whyf(why, whylen, "tls= given twice");
	*seen = 1;
	for (i = 0; i < NELEM(tls_names); i++)
		if (strcmp(arg + 4, tls_names[i]) == 0) {
			*tls = (enum cfg_tls)i;
			return 0;
		}
	return whyf(why, whylen,
	            "unknown tls= value '%s' (use none, opportunistic, "
	            "require or verify)",
	            arg + 4);
}

/* r->text from the parsed fields: defaults written out, no password.
 * 0, or -1 (out of memory). */
static int
route_text(struct cfg_route *r)
{
	char user[3 * 256 + 1] = "", tls[32] = "";
	const char *p;
	size_t n = 0;
	int v6 = r->host != NULL && strchr(r->host, ':') != NULL;
	int rc;

	/* the user as a URL holds it: what userinfo may not hold raw,
	 * percent-encoded */
	for (p = r->user; p != NULL && *p && n + 4 < sizeof(user); p++) {
		if (userinfo_char((unsigned char)*p))
			user[n++] = *p;
		else
			n += (size_t)snprintf(user + n, sizeof(user) - n,
			                      "%%%02X", (unsigned char)*p);
	}
	user[n] = '\0';
	if (r->kind != CFG_ROUTE_CAPTURE)
		snprintf(tls, sizeof(tls), " tls=%s", tls_names[r->tls]);
	if (r->kind == CFG_ROUTE_RELAY)
		rc = asprintf(&r->text, "%s relay %s://%s%s%s%s%s:%d%s",
		              r->pattern, r->implicit_tls ? "smtps" : "smtp",
		              user, r->user != NULL ? ":***@" : "",
		              v6 ? "[" : "", r->host, v6 ? "]" : "", r->port,
		              tls);
	else
		rc = asprintf(&r->text, "%s %s%s", r->pattern,
		              kind_names[r->kind], tls);
	if (rc == -1) {
		r->text = NULL;
		return -1;
	}
	return 0;
}

/*
 * Parses "PATTERN KIND [ARGS…]" (line, modified) into r; for
 * default_route, pattern is "*" and line holds "KIND [ARGS…]". A refusal
 * names the directive ("route example.net: …", "default_route: …").
 * 0, or -1 with why (r cleared).
 */
static int
route_parse(struct cfg_route *r, const char *pattern, char *line, char *why,
            size_t whylen)
{
	char *argv[ROUTE_MAX_ARGS], *p = line, w[300], sub[256];
	int argc = 0, i = 1, seen_tls = 0;

	memset(r, 0, sizeof(*r));
	while (*p) {
		while (isspace((unsigned char)*p))
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (argc == ROUTE_MAX_ARGS)
			return whyf(why, whylen, "%s: too many arguments",
			            pattern ? "default_route" : "route");
		argv[argc++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	if (pattern == NULL) {
		if (argc == 0)
			return whyf(why, whylen, "'route' needs a value");
		pattern = argv[0];
		memmove(argv, argv + 1, sizeof(argv[0]) * (size_t)--argc);
		snprintf(w, sizeof(w), "route %s", pattern);
	} else
		snprintf(w, sizeof(w), "default_route");
	if (pattern_norm(pattern, &r->pattern) == -1) {
		whyf(why, whylen,
		     "%s: bad pattern (an exact domain, *.domain or *)", w);
		goto fail;
	}
	if (argc == 0) {
		whyf(why, whylen, "%s: missing the kind (capture, mx or relay)",
		     w);
		goto fail;
	}
	if (strcmp(argv[0], "capture") == 0)
		r->kind = CFG_ROUTE_CAPTURE;
	else if (strcmp(argv[0], "mx") == 0) {
		r->kind = CFG_ROUTE_MX;
		r->tls = CFG_TLS_OPPORTUNISTIC;
	} else if (strcmp(argv[0], "relay") == 0) {
		r->kind = CFG_ROUTE_RELAY;
		if (argc < 2 || strncmp(argv[1], "tls=", 4) == 0) {
			whyf(why, whylen,
			     "%s: relay needs a URL: smtp://host[:port] or "
			     "smtps://host[:port]",
			     w);
			goto fail;
		}
		if (relay_url(r, argv[1], sub, sizeof(sub)) == -1)
			goto fail_sub;
		r->tls =
		    r->implicit_tls ? CFG_TLS_VERIFY : CFG_TLS_OPPORTUNISTIC;
		i = 2;
	} else {
		whyf(why, whylen,
		     "%s: unknown kind '%s' (use capture, mx or relay)", w,
		     argv[0]);
		goto fail;
	}
	for (; i < argc; i++) {
		if (r->kind == CFG_ROUTE_CAPTURE ||
		    strncmp(argv[i], "tls=", 4) != 0) {
			whyf(why, whylen, "%s: unexpected argument '%s'", w,
			     argv[i]);
			goto fail;
		}
		if (tls_arg(argv[i], &seen_tls, &r->tls, sub, sizeof(sub)) ==
		    -1)
			goto fail_sub;
	}
	if (r->implicit_tls &&
	    (r->tls == CFG_TLS_NONE || r->tls == CFG_TLS_OPPORTUNISTIC)) {
		whyf(why, whylen,
		     "%s: smtps:// is TLS from the first byte: tls=%s means "
		     "nothing there (use require or verify)",
		     w, tls_names[r->tls]);
		goto fail;
	}
	if (r->user != NULL && r->tls == CFG_TLS_NONE) {
		whyf(why, whylen,
		     "%s: relay credentials over plaintext: use tls=require "
		     "or verify, or smtps://",
		     w);
		goto fail;
	}
	if (route_text(r) == -1) {
		whyf(why, whylen, "out of memory");
		goto fail;
	}
	return 0;
fail_sub:
	whyf(why, whylen, "%s: %s", w, sub);
fail:
	route_clear(r);
	return -1;
}

/* 1 when pattern (as pattern_norm left it) matches domain[0..len), an
 * A-label name in any case. */
static int
pattern_match(const char *pattern, const char *domain, size_t len)
{
	size_t plen;

	if (strcmp(pattern, "*") == 0)
		return 1;
	if (strncmp(pattern, "*.", 2) == 0) {
		/* a subdomain: at least one label before ".suffix" */
		plen = strlen(pattern + 1);
		return len > plen &&
		       strncasecmp(domain + len - plen, pattern + 1, plen) == 0;
	}
	return strlen(pattern) == len && strncasecmp(domain, pattern, len) == 0;
}

const struct cfg_route *
config_route_for(const struct config *cfg, const char *domain)
{
	char ace[256];
	size_t i, len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	/* U-labels compare in their A-label form; a name that does not
	 * convert can only match "*" */
	for (i = 0; i < len; i++)
		if ((unsigned char)domain[i] >= 0x80) {
			if (dname_alabels(domain, len, ace, sizeof(ace)) ==
			    DNAME_OK) {
				domain = ace;
				len = strlen(ace);
			}
			break;
		}
	for (i = 0; i < cfg->nroutes; i++)
		if (pattern_match(cfg->routes[i].pattern, domain, len))
			return &cfg->routes[i];
	return NULL;
}

long
config_route_shadowed(const struct config *cfg, size_t i)
{
	const char *b = cfg->routes[i].pattern, *name;
	size_t j;

	name = strncmp(b, "*.", 2) == 0 ? b + 2 : b;
	for (j = 0; j < i && j < cfg->nroutes; j++) {
		const char *a = cfg->routes[j].pattern;

		if (strcmp(a, "*") == 0 || strcmp(a, b) == 0)
			return (long)j;
		/* "*.x" also covers "y.x" and "*.y.x" */
		if (strncmp(a, "*.", 2) == 0 && strcmp(b, "*") != 0 &&
		    pattern_match(a, name, strlen(name)))
			return (long)j;
	}
	return -1;
}

/* Appends a copy of r to c->routes. 0, or -1 (out of memory). */
static int
routes_push(struct config *c, const struct cfg_route *r)
{
	struct cfg_route *n;

	n = realloc(c->routes, (c->nroutes + 1) * sizeof(*n));
	if (n == NULL)
		return -1;
	c->routes = n;
	if (route_copy(&c->routes[c->nroutes], r) == -1)
		return -1;
	c->nroutes++;
	return 0;
}

/* Drops the rows config_finish added after the route lines. */
static void
routes_trim(struct config *c)
{
	while (c->nroutes > c->nroutes_file)
		route_clear(&c->routes[--c->nroutes]);
}

/*
 * The table config_route_for reads: the route lines, then default_route
 * as "*", then the built-in default when nothing so far is "*". The
 * built-in default is capture, in dev and outside it: `pigeon serve`
 * without --dev promises (in its log and the README) that nothing leaves
 * the machine until a route says where mail goes. 0, or -1 (out of
 * memory).
 */
static int
routes_complete(struct config *c)
{
	static const struct cfg_route dflt = {
	    .pattern = (char *)"*",
	    .kind = CFG_ROUTE_CAPTURE,
	    .text = (char *)"* capture",
	};
	size_t i;
	int star = 0;

	routes_trim(c);
	if (c->route_dflt.pattern != NULL &&
	    routes_push(c, &c->route_dflt) == -1)
		return -1;
	for (i = 0; i < c->nroutes; i++)
		star |= strcmp(c->routes[i].pattern, "*") == 0;
	if (!star && routes_push(c, &dflt) == -1)
		return -1;
	return 0;
}

/* `route PATTERN KIND [ARGS…]`: one more row, after those before. */
static int
read_route(struct config *c, char *val, int line, char *why, size_t whylen)
{
	struct cfg_route r;
	int rc;

	if (c->nroutes_file == CFG_MAX_ROUTES)
		return whyf(why, whylen, "more than %d routes", CFG_MAX_ROUTES);
	if (route_parse(&r, NULL, val, why, whylen) == -1)
		return -1;
	r.line = line;
	routes_trim(c);
	rc = routes_push(c, &r);
	route_clear(&r);
	if (rc == -1)
		return whyf(why, whylen, "out of memory");
	c->nroutes_file = c->nroutes;
	return 0;
}

/* `default_route KIND [ARGS…]`: `route * KIND…` after the route lines
 * (a second one replaces the first). */
static int
read_default_route(struct config *c, char *val, int line, char *why,
                   size_t whylen)
{
	struct cfg_route r;

	if (route_parse(&r, "*", val, why, whylen) == -1)
		return -1;
	r.line = line;
	route_clear(&c->route_dflt);
	c->route_dflt = r;
	return 0;
}

/* Directives with a reader of their own (their lines repeat or take
 * several words). */
static const struct line_row {
	const char *name;
	int (*read)(struct config *, char *val, int line, char *why,
	            size_t whylen);
} line_table[] = {
    {"route", read_route},
    {"default_route", read_default_route},
};

/* -- dns_servers ----------------------------------------------------------- */

/* One "addr", "addr:port", "[v6]" or "[v6]:port" into *hp. 0, or -1. */
static int
hostport_parse(const char *s, size_t len, struct cfg_hostport *hp)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *host = s, *port = NULL;
	size_t hlen = len;
	unsigned char a[sizeof(struct in6_addr)];
	int v6;

	if (len > 0 && s[0] == '[') {
		const char *e = memchr(s, ']', len);

		if (e == NULL)
			return -1;
		host = s + 1;
		hlen = (size_t)(e - host);
		if ((size_t)(e + 1 - s) < len) {
			if (e[1] != ':')
				return -1;
			port = e + 2;
		}
		v6 = 1;
	} else {
		const char *colon = memchr(s, ':', len);

		/* two colons or more: a bare IPv6 address, no port */
		v6 = colon != NULL &&
		     memchr(colon + 1, ':', len - (size_t)(colon - s) - 1);
		if (colon != NULL && !v6) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(buf))
		return -1;
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, a) != 1)
		return -1;
	hp->port = 53;
	if (port != NULL &&
	    (hp->port = port_parse(port, len - (size_t)(port - s))) == -1)
		return -1;
	return (hp->host = strdup(buf)) != NULL ? 0 : -1;
}

static void
dns_addrs_clear(struct config *c)
{
	size_t i;

	for (i = 0; i < c->ndns_addrs; i++)
		free(c->dns_addrs[i].host);
	free(c->dns_addrs);
	c->dns_addrs = NULL;
	c->ndns_addrs = 0;
}

/* dns_servers, a comma list, into c->dns_addrs. 0, or -1 with err. */
static int
dns_servers_parse(struct config *c, char *err, size_t errlen)
{
	const char *p = c->dns_servers;

	dns_addrs_clear(c);
	while (*p != '\0') {
		size_t len;

		while (isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ",");
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (c->ndns_addrs == CFG_MAX_DNS_SERVERS)
			return whyf(err, errlen,
			            "dns_servers: more than %d servers",
			            CFG_MAX_DNS_SERVERS);
		if (c->dns_addrs == NULL &&
		    (c->dns_addrs = calloc(CFG_MAX_DNS_SERVERS,
		                           sizeof(*c->dns_addrs))) == NULL)
			return whyf(err, errlen, "out of memory");
		if (len == 0 ||
		    hostport_parse(p, len, &c->dns_addrs[c->ndns_addrs]) == -1)
			return whyf(err, errlen,
			            "dns_servers '%.*s': want an IP address, "
			            "ADDR:PORT or [IPV6]:PORT (a server is "
			            "named by its address, not by a name)",
			            (int)len, p);
		c->ndns_addrs++;
		p += strcspn(p, ",");
		if (*p == ',' && *++p == '\0')
			return whyf(err, errlen,
			            "dns_servers: a comma with nothing after");
	}
	return 0;
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
	c->capture_defer_attempts = 2;
	c->capture_slow_ms = 10000;
	set_str(&c->log_level, "info");
	c->message_retention = 30 * 86400;
	set_str(&c->access_log, "all");
	set_str(&c->raw_headers, "relaxed");
	c->max_connections_per_ip = 2048;
	c->header_timeout = 10;
	set_str(&c->dns_servers, "");
	c->mx_port = 25;
	set_str(&c->helo_name, "");
	set_str(&c->tls_ca_file, "");
	c->max_connections_per_destination = 10;
	c->max_messages_per_connection = 100;
	/* RFC 5321 §4.5.3.2 */
	c->smtp_timeout_connect = MIN5;
	c->smtp_timeout_greeting = MIN5;
	c->smtp_timeout_ehlo = MIN5;
	c->smtp_timeout_mail = MIN5;
	c->smtp_timeout_rcpt = MIN5;
	c->smtp_timeout_data = 2 * 60000;
	c->smtp_timeout_dot = 10 * 60000;
	c->drain_timeout = 30000;
	set_str(&c->node_id, "");
	set_str(&c->smtps_listen, dev ? "127.0.0.1:2465" : "0.0.0.0:465");
	set_str(&c->submission_listen, dev ? "127.0.0.1:2587" : "0.0.0.0:587");
	set_str(&c->inbound_listen, dev ? "127.0.0.1:2025" : "0.0.0.0:25");
	set_str(&c->tls_cert, "");
	set_str(&c->tls_key, "");
	c->smtpd_timeout_command = 30000;
	c->smtpd_timeout_data = 300000;
	c->smtpd_timeout_idle = MIN5;
	c->smtpd_max_sessions = 1000;
	c->smtpd_max_sessions_per_ip = 20;
	c->queue_window = 10000;
	c->queue_lease = MIN5;
	set_str(&c->metrics_listen, ""); /* /metrics on the API's port */
	c->webhook_timeout = 10000;
	c->webhook_retry_base = 5000;
	c->webhook_retry_max = 10 * 60000;
	c->webhook_max_age = 3LL * 86400000;
	/* the table is whole from the start: `* capture` */
	(void)routes_complete(c);
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
	if (r->type == CFG_MSEC || r->type == CFG_SECS || r->type == CFG_DUR) {
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
		if (r->min == 0 && strcmp(v, "\"\"") == 0)
			v = "";
		else if (strlen(v) > (size_t)r->max || v[0] == '\0') {
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
	set_str(&c->file, path);
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
		for (i = 0; i < NELEM(line_table); i++)
			if (strcmp(line_table[i].name, name) == 0)
				break;
		if (i < NELEM(line_table)) {
			char why2[512];

			if (*val == '\0') {
				snprintf(err, errlen,
				         "%s:%d: '%s' needs a value", path,
				         lineno, name);
				goto fail;
			}
			if (line_table[i].read(c, val, lineno, why2,
			                       sizeof(why2)) == -1) {
				snprintf(err, errlen, "%s:%d: %s", path, lineno,
				         why2);
				goto fail;
			}
			continue;
		}
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
				    cfg_table[i].type == CFG_MSEC ||
				            cfg_table[i].type == CFG_DUR
				        ? " ms"
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

/* RFC 5321 §4.1.1.1, §4.1.3: the EHLO argument is a domain or an
 * address literal. */
static int
helo_ok(const char *s)
{
	char buf[64];
	unsigned char a[sizeof(struct in6_addr)];
	size_t len = strlen(s);

	if (s[0] != '[')
		return dname_ldh_ok(s, 255, 1);
	if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, a) == 1;
	return inet_pton(AF_INET, buf, a) == 1;
}

/* A node's name on the recipients it claims: printable in logs and the
 * CLI as it is. */
static int
node_id_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' &&
		    *s != '_')
			return 0;
	return 1;
}

/* 0 when path is a regular file this process can read; else -1 with
 * err naming the directive. */
static int
file_readable(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return whyf(err, errlen, "tls_ca_file %s: %s", path,
		            strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return whyf(err, errlen, "tls_ca_file %s: not a regular file",
		            path);
	}
	close(fd);
	return 0;
}

int
config_listen_addr(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[256], *end;
	const char *colon;
	long port;
	size_t n;

	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || port < 1 ||
	    port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

int
config_finish(struct config *c, char *err, size_t errlen)
{
	static const char *const listens[] = {
	    "smtps_listen", "submission_listen", "inbound_listen"};
	const char *lv[3];
	struct sockaddr_storage ss;
	unsigned sl;
	size_t n;

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
	/* SPEC §5: the headers a client may write in its own message */
	if (strcmp(c->raw_headers, "relaxed") &&
	    strcmp(c->raw_headers, "cloudflare")) {
		snprintf(err, errlen,
		         "raw_headers '%s': use relaxed or cloudflare",
		         c->raw_headers);
		return -1;
	}
	if (dns_servers_parse(c, err, errlen) == -1)
		return -1;
	if (c->helo_name[0] == '\0')
		set_str(&c->helo_name, c->hostname);
	else if (!helo_ok(c->helo_name)) {
		snprintf(err, errlen,
		         "helo_name '%s': want a domain name or an address "
		         "literal ([192.0.2.1], [IPv6:2001:db8::1])",
		         c->helo_name);
		return -1;
	}
	if (c->node_id[0] == '\0')
		set_str(&c->node_id, c->hostname);
	else if (!node_id_ok(c->node_id)) {
		snprintf(err, errlen,
		         "node_id '%s': use letters, digits, '.', '-' and '_' "
		         "(64 at most)",
		         c->node_id);
		return -1;
	}
	if (c->tls_ca_file[0] != '\0' &&
	    file_readable(c->tls_ca_file, err, errlen) == -1)
		return -1;
	lv[0] = c->smtps_listen;
	lv[1] = c->submission_listen;
	lv[2] = c->inbound_listen;
	for (n = 0; n < 3; n++)
		if (lv[n][0] != '\0' &&
		    config_listen_addr(lv[n], &ss, &sl) == -1) {
			snprintf(err, errlen,
			         "%s '%s': want address:port (127.0.0.1:2465, "
			         "[::1]:2465), or \"\" to turn it off",
			         listens[n], lv[n]);
			return -1;
		}
	if (c->metrics_listen[0] != '\0' &&
	    config_listen_addr(c->metrics_listen, &ss, &sl) == -1) {
		snprintf(err, errlen,
		         "metrics_listen '%s': want address:port "
		         "(127.0.0.1:9587, [::1]:9587), or \"\" to serve "
		         "/metrics on the API's port",
		         c->metrics_listen);
		return -1;
	}
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
		snprintf(err, errlen,
		         "tls_cert and tls_key go together: set "
		         "both or neither");
		return -1;
	}
	if (routes_complete(c) == -1) {
		snprintf(err, errlen, "out of memory");
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
	c->nroutes_file = 0;
	routes_trim(c);
	free(c->routes);
	c->routes = NULL;
	route_clear(&c->route_dflt);
	dns_addrs_clear(c);
	free(c->file);
	c->file = NULL;
}

void
config_dump(const struct config *c, FILE *fp)
{
	const char *base = (const char *)c;
	size_t i;

	for (i = 0; i < NROWS; i++) {
		const struct cfg_row *r = &cfg_table[i];
		const char *s;

		if (r->type == CFG_STR) {
			s = *(char *const *)(base + r->off);
			fprintf(fp, "%s %s\n", r->name, s[0] ? s : "\"\"");
		} else if (r->type == CFG_DUR)
			fprintf(fp, "%s %lldms\n", r->name,
			        (long long)*(const int64_t *)(base + r->off));
		else if (r->size == sizeof(int64_t))
			fprintf(fp, "%s %lld\n", r->name,
			        (long long)*(const int64_t *)(base + r->off));
		else
			fprintf(fp, "%s %d\n", r->name,
			        *(const int *)(base + r->off));
	}
	for (i = 0; i < c->nroutes; i++)
		fprintf(fp, "route %s%s\n", c->routes[i].text,
		        c->routes[i].line == 0 ? CONFIG_DEFAULT_MARK : "");
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
