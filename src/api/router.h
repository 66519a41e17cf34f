/*
 * router: matches a request's method and path against a table of rows
 * {method, pattern, handler, permission, flags} (SPEC §1, §8). The table
 * itself is routes.c; this file knows no handler. Every route answers
 * with and without the /client/v4 prefix.
 */
#ifndef PIGEON_API_ROUTER_H
#define PIGEON_API_ROUTER_H

#include <stddef.h>

#include "../core/arena.h"

struct req;

#define ROUTE_MAX_PARAMS 4

/* The values of a pattern's ":name" and "*name" segments, by name
 * (without the sigil), in the arena. */
struct route_param {
	const char *name;
	const char *value;
};

struct route_params {
	struct route_param p[ROUTE_MAX_PARAMS];
	size_t n;
};

enum route_flag {
	ROUTE_NOAUTH = 1 << 0,  /* no credentials needed */
	ROUTE_BODY = 1 << 1,    /* POST with a Content-Length body */
	ROUTE_SENDING = 1 << 2, /* the account must be entitled (10105) */
};

typedef int route_fn(struct req *rq);

struct route {
	const char *method;
	const char *pattern; /* "/accounts/:account/email/sending/send" */
	route_fn *fn;
	unsigned perm; /* enum perm bits the token needs */
	unsigned flags;
};

/* A table of routes and the SPEC's routes not built yet (patterns). */
struct route_table {
	const struct route *rows;
	size_t n;
	const char *const *planned;
	size_t nplanned;
};

/* router_match() results. */
enum {
	ROUTE_FOUND = 0,
	ROUTE_NONE = -1,
	ROUTE_METHOD = -2,
	ROUTE_PLANNED = -3,
};

/*
 * Finds the row of t for method and path (the path without its query; a
 * leading /client/v4 is ignored). ROUTE_FOUND with *out and *params set;
 * ROUTE_NONE; ROUTE_METHOD when the path is known with other methods,
 * listed in allow ("GET, HEAD"); or ROUTE_PLANNED for a route of the SPEC
 * that pigeon does not serve yet. HEAD finds the GET row.
 */
int router_match(const struct route_table *t, struct arena *a,
                 const char *method, const char *path, const struct route **out,
                 struct route_params *params, char *allow, size_t allowlen);

/* The value of the parameter called name, or NULL. */
const char *route_param(const struct route_params *ps, const char *name);

#endif
