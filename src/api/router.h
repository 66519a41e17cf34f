/*
 * router: the route table (SPEC §1, §8.3): rows of {method, pattern,
 * handler, permission}. Every route answers with and without the
 * /client/v4 prefix.
 */
#ifndef PIGEON_API_ROUTER_H
#define PIGEON_API_ROUTER_H

#include <stddef.h>

#include "../core/arena.h"

struct req;

/* Values of the pattern's :names, in the arena. */
struct route_params {
	const char *account;
	const char *message_id;
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

enum {
	ROUTE_FOUND = 0,
	ROUTE_NONE = -1,
	ROUTE_METHOD = -2,
	ROUTE_PLANNED = -3,
};

/*
 * Finds the row for method and path (the path without its query; a
 * leading /client/v4 is ignored). ROUTE_FOUND with *out and *params set;
 * ROUTE_NONE; ROUTE_METHOD when the path is known with other methods,
 * listed in allow ("GET, HEAD"); or ROUTE_PLANNED for a route of the SPEC
 * that pigeon does not serve yet. HEAD finds the GET row.
 */
int router_match(struct arena *a, const char *method, const char *path,
                 const struct route **out, struct route_params *params,
                 char *allow, size_t allowlen);

#endif
