/*
 * wire: the queue (writer) and the delivery engine put together, as
 * `serve` runs them. They know each other only through this wiring: a
 * committed message goes to the engine, the engine's outcomes go to the
 * writer, and the queue starts and stops the engine at the right moments
 * (the engine before the writer; on stop, after sends are refused and
 * before the writer drains). The unit tests that run the two together
 * use it too.
 */
#ifndef PIGEON_ADMIN_WIRE_H
#define PIGEON_ADMIN_WIRE_H

#include <stddef.h>

#include "../core/config.h"
#include "../queue/queue.h"

/* A queue wired to a new engine, both started (the schedule rebuilt from
 * the store); queue_stop() stops and frees both. NULL with err. */
struct queue *wire_queue(const struct config *cfg, char *err, size_t errlen);

#endif
