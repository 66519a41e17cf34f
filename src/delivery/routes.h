/*
 * routes: the route table (name → constructor) and the choice of a
 * route for a recipient domain. Today every domain takes the config's
 * default_route; a `route <pattern> <name>` table (SPEC §6.3) will
 * choose among capture, mx and relay here. It does not deliver.
 */
#ifndef PIGEON_DELIVERY_ROUTES_H
#define PIGEON_DELIVERY_ROUTES_H

#include "route.h"

struct routes;

/* The routes cfg uses, made on base; NULL with err (an unknown name or
 * out of memory). */
struct routes *routes_new(struct event_base *base, const struct config *cfg,
                          char *err, size_t errlen);
/* Frees every route, cancelling what they hold; accepts NULL. */
void routes_free(struct routes *rs);
/* The route for recipients at domain; never NULL. Any thread (the
 * table does not change after routes_new). */
struct route *route_for(const struct routes *rs, const char *domain);

#endif
