/*
 * api: the HTTP front (libmicrohttpd): the Cloudflare-compatible REST
 * routes of SPEC §2-§4 and §8, /healthz.
 */
#ifndef PIGEON_API_API_H
#define PIGEON_API_API_H

#include <stddef.h>

#include "../core/config.h"
#include "../queue/queue.h"

struct api;

/* Listens on cfg->http_listen:http_port; NULL with err on failure. */
struct api *api_start(const struct config *cfg, struct queue *q, char *err,
                      size_t errlen);
/* Stops accepting connections and waits for requests in flight. */
void api_stop(struct api *api);

#endif
