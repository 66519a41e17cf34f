/*
 * routes: the route table and the per-domain choice (see routes.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

/* The routes pigeon knows, by the name config uses (SPEC §6.3). */
static const struct route_row {
	const char *name;
	struct route *(*new)(struct event_base *, const struct config *);
} route_table[] = {
    {"capture", capture_new},
};

struct routes {
	struct route *def; /* cfg->default_route */
};

struct routes *
routes_new(struct event_base *base, const struct config *cfg, char *err,
           size_t errlen)
{
	struct routes *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		goto nomem;
	for (size_t i = 0; i < sizeof(route_table) / sizeof(*route_table);
	     i++) {
		if (strcmp(route_table[i].name, cfg->default_route) != 0)
			continue;
		if ((rs->def = route_table[i].new(base, cfg)) == NULL)
			goto nomem;
		break;
	}
	if (rs->def == NULL) {
		snprintf(err, errlen, "delivery: unknown route '%s'",
		         cfg->default_route);
		routes_free(rs);
		return NULL;
	}
	return rs;
nomem:
	snprintf(err, errlen, "delivery: out of memory");
	routes_free(rs);
	return NULL;
}

void
routes_free(struct routes *rs)
{
	if (rs == NULL)
		return;
	if (rs->def != NULL)
		rs->def->free(rs->def);
	free(rs);
}

struct route *
route_for(const struct routes *rs, const char *domain)
{
	(void)domain; /* one route for every domain, until the table */
	return rs->def;
}
