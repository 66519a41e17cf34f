/*
 * api: the HTTP front (src/httpd): the Cloudflare-compatible REST
 * routes of SPEC §2-§4 and §8, /healthz.
 */
#ifndef PIGEON_API_API_H
#define PIGEON_API_API_H

#include <stddef.h>

#include "../core/config.h"
#include "../queue/queue.h"
#include "../submit/submit.h"
#include "../tenant/tenant.h"

struct api;

/* A socket bound and listening on cfg->http_listen:http_port, so that
 * `serve` knows the port is its own before it starts anything else; -1
 * with err (the address and the system's reason) on failure. */
int api_listen(const struct config *cfg, char *err, size_t errlen);
/* Serves on listen_fd (from api_listen, owned from then on), or on
 * cfg->http_listen:http_port when it is -1: requests authenticate against
 * tenant and sends go to submit (q is released at stop); all three are
 * borrowed. NULL with err on failure. */
struct api *api_start(const struct config *cfg, struct queue *q,
                      struct submit *submit, struct tenant *tenant,
                      int listen_fd, char *err, size_t errlen);
/* Stops accepting connections and waits for requests in flight: 0, or
 * -1 when sends were still in flight at the deadline and the daemon was
 * left running (then what api_start borrowed must outlive the process). */
int api_stop(struct api *api);

#endif
