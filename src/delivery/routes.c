/*
 * routes: the route table and the per-domain choice (see routes.h). One
 * route object per row of cfg->routes (SPEC §6.3), except that every
 * capture row shares one; the mx and relay rows share the resolver and
 * what an SMTP route needs besides (struct smtp_env).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

struct routes {
	const struct config *cfg;
	struct route **row;    /* cfg->nroutes: the route of each row */
	struct route *capture; /* shared by every capture row, or NULL */
	struct smtp_env *env;  /* shared by the SMTP routes, or NULL */
};

struct routes *
routes_new(struct event_base *base, const struct config *cfg, char *err,
           size_t errlen)
{
	struct routes *rs;
	const struct cfg_route *cr;

	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->row = calloc(cfg->nroutes + 1, sizeof(*rs->row))) == NULL)
		goto nomem;
	rs->cfg = cfg;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		cr = &cfg->routes[i];
		if (cr->kind == CFG_ROUTE_CAPTURE) {
			if (rs->capture == NULL &&
			    (rs->capture = capture_new(base, cfg)) == NULL)
				goto nomem;
			rs->row[i] = rs->capture;
			continue;
		}
		if (rs->env == NULL &&
		    (rs->env = smtp_env_new(base, cfg, err, errlen)) == NULL)
			goto fail;
		if ((rs->row[i] = smtp_route_new(base, cfg, cr, rs->env, err,
		                                 errlen)) == NULL)
			goto fail;
	}
	return rs;
nomem:
	snprintf(err, errlen, "delivery: out of memory");
fail:
	routes_free(rs);
	return NULL;
}

void
routes_free(struct routes *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; rs->row != NULL && i < rs->cfg->nroutes; i++)
		if (rs->row[i] != NULL && rs->row[i] != rs->capture)
			rs->row[i]->free(rs->row[i]);
	if (rs->capture != NULL)
		rs->capture->free(rs->capture);
	smtp_env_free(rs->env);
	free(rs->row);
	free(rs);
}

struct route *
route_for(const struct routes *rs, const char *domain)
{
	const struct cfg_route *cr = config_route_for(rs->cfg, domain);

	/* never NULL: the table ends with "*" */
	return rs->row[cr != NULL ? (size_t)(cr - rs->cfg->routes)
	                          : rs->cfg->nroutes - 1];
}
