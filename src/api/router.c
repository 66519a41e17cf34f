/*
 * router: a table of rows (routes.c), matched segment by segment. A ":name"
 * segment captures one path segment (req_new has already percent-decoded the
 * path, so "%3Cid%40example.com%3E" arrives as "<id@example.com>"); a
 * "*name" segment captures everything up to the rest of the pattern, so
 * a Message-ID may hold a '/' (RFC 5322 dot-atom-text allows it). Rows
 * are tried in order: the longer of two overlapping patterns comes first.
 * A GET row answers HEAD too (RFC 9110 §9.3.2); the server leaves the body out.
 */
#include <stdio.h>
#include <string.h>

#include "router.h"

#define PREFIX "/client/v4"

/* 1 when a request with method is served by a row with row_method. */
static int
method_match(const char *method, const char *row_method)
{
	if (strcmp(method, row_method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(row_method, "GET") == 0;
}

/* Records the capture of the segment named p[1..pn) (after its sigil):
 * 0, or -1 when there is no room or memory. */
static int
capture(struct arena *a, struct route_params *ps, const char *p, size_t pn,
        const char *v, size_t vn)
{
	struct route_param *rp;

	if (ps->n == ROUTE_MAX_PARAMS)
		return -1;
	rp = &ps->p[ps->n];
	if ((rp->name = arena_strndup(a, p + 1, pn - 1)) == NULL ||
	    (rp->value = arena_strndup(a, v, vn)) == NULL)
		return -1;
	ps->n++;
	return 0;
}

const char *
route_param(const struct route_params *ps, const char *name)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return ps->p[i].value;
	return NULL;
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
			    capture(a, params, p, pn, s, left - rest) == -1)
				return 0;
			return 1;
		}
		if (*p == ':') {
			if (sn == 0 || capture(a, params, p, pn, s, sn) == -1)
				return 0;
		} else if (pn != sn || strncmp(p, s, pn) != 0)
			return 0;
		p += pn;
		s += sn;
	}
}

int
router_match(const struct route_table *t, struct arena *a, const char *method,
             const char *path, const struct route **out,
             struct route_params *params, char *allow, size_t allowlen)
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
	for (i = 0; i < t->n; i++) {
		if (!match(a, t->rows[i].pattern, path, &tmp))
			continue;
		if (method_match(method, t->rows[i].method)) {
			*out = &t->rows[i];
			*params = tmp;
			return ROUTE_FOUND;
		}
		rc = ROUTE_METHOD;
		m = strcmp(t->rows[i].method, "GET") == 0 ? "GET, HEAD"
		                                          : t->rows[i].method;
		if (strstr(allow, m) == NULL && used + strlen(m) + 3 < allowlen)
			used += (size_t)snprintf(allow + used, allowlen - used,
			                         "%s%s", used ? ", " : "", m);
	}
	for (i = 0; rc == ROUTE_NONE && i < t->nplanned; i++)
		if (match(a, t->planned[i], path, &tmp))
			rc = ROUTE_PLANNED;
	return rc;
}
