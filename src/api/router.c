/*
 * router: one table of rows, matched segment by segment. A ":name"
 * segment captures one path segment (MHD has already percent-decoded the
 * path, so "%3Cid%40example.com%3E" arrives as "<id@example.com>"); a
 * "*name" segment captures everything up to the rest of the pattern, so
 * a Message-ID may hold a '/' (RFC 5322 dot-atom-text allows it). Rows
 * are tried in order: the longer of two overlapping patterns comes first.
 * A GET row answers HEAD too (RFC 9110 §9.3.2); MHD leaves the body out.
 */
#include <stdio.h>
#include <string.h>

#include "../store/store.h"
#include "http.h"
#include "router.h"

#define SENDING "/accounts/:account/email/sending"

static const struct route routes[] = {
    {"GET", "/healthz", api_healthz, 0, ROUTE_NOAUTH},
    {"GET", "/user/tokens/verify", api_verify, 0, 0},
    {"POST", SENDING "/send", api_send, PERM_SEND, ROUTE_BODY | ROUTE_SENDING},
    {"POST", SENDING "/send_raw", api_send_raw, PERM_SEND,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id/status", api_message_status,
     PERM_READ, ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id", api_message_raw, PERM_READ,
     ROUTE_SENDING},
};

/* SPEC routes not built yet: answered 404 with a sentence that says so,
 * rather than "no such route". */
static const char *const planned[] = {
    SENDING "/suppressions",
    SENDING "/suppressions/bulk",
    SENDING "/suppressions/:id",
    SENDING "/limits",
    SENDING "/events",
    "/zones/:zone/email/sending/subdomains",
    "/zones/:zone/email/sending/subdomains/:id",
    "/zones/:zone/email/sending/subdomains/:id/dns",
    "/metrics",
};

#define PREFIX "/client/v4"

/* 1 when a request with method is served by a row with row_method. */
static int
method_match(const char *method, const char *row_method)
{
	if (strcmp(method, row_method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(row_method, "GET") == 0;
}

/* 1 when path matches pattern, with the captures in params. */
static int
match(struct arena *a, const char *pattern, const char *path,
      struct route_params *params)
{
	const char *p = pattern, *s = path, *pe, *se;
	size_t pn, sn;

	memset(params, 0, sizeof(*params));
	for (;;) {
		if (*p == '\0' || *s == '\0')
			return *p == '\0' && *s == '\0';
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pe = strchr(p, '/');
		se = strchr(s, '/');
		pn = pe ? (size_t)(pe - p) : strlen(p);
		sn = se ? (size_t)(se - s) : strlen(s);
		if (*p == '*') {
			/* The rest of the pattern must end the path. */
			size_t rest = strlen(p + pn), left = strlen(s);
			if (left <= rest ||
			    strcmp(s + left - rest, p + pn) != 0 ||
			    (params->message_id =
			         arena_strndup(a, s, left - rest)) == NULL)
				return 0;
			return 1;
		}
		if (*p == ':') {
			const char **dst;
			if (sn == 0)
				return 0;
			if (pn == 8 && strncmp(p, ":account", 8) == 0)
				dst = &params->account;
			else
				dst = &params->message_id;
			if ((*dst = arena_strndup(a, s, sn)) == NULL)
				return 0;
		} else if (pn != sn || strncmp(p, s, pn) != 0)
			return 0;
		p += pn;
		s += sn;
	}
}

int
router_match(struct arena *a, const char *method, const char *path,
             const struct route **out, struct route_params *params, char *allow,
             size_t allowlen)
{
	struct route_params tmp;
	char *trim = NULL;
	const char *m;
	size_t i, n, used = 0;
	int rc = ROUTE_NONE;

	if (strncmp(path, PREFIX, sizeof(PREFIX) - 1) == 0 &&
	    (path[sizeof(PREFIX) - 1] == '/' ||
	     path[sizeof(PREFIX) - 1] == '\0'))
		path += sizeof(PREFIX) - 1;
	/* One trailing slash is forgiven: "/healthz/" is "/healthz". */
	n = strlen(path);
	if (n > 1 && path[n - 1] == '/' &&
	    (trim = arena_strndup(a, path, n - 1)) != NULL)
		path = trim;
	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(a, routes[i].pattern, path, &tmp))
			continue;
		if (method_match(method, routes[i].method)) {
			*out = &routes[i];
			*params = tmp;
			return ROUTE_FOUND;
		}
		rc = ROUTE_METHOD;
		m = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD"
		                                         : routes[i].method;
		if (strstr(allow, m) == NULL && used + strlen(m) + 3 < allowlen)
			used += (size_t)snprintf(allow + used, allowlen - used,
			                         "%s%s", used ? ", " : "", m);
	}
	for (i = 0; rc == ROUTE_NONE && i < sizeof(planned) / sizeof(*planned);
	     i++)
		if (match(a, planned[i], path, &tmp))
			rc = ROUTE_PLANNED;
	return rc;
}
