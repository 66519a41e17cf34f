/*
 * tally: what the writer counts for GET /metrics (core/metrics.h) as it
 * commits: recipients by outcome and the queue depth. Writer thread.
 */
#ifndef PIGEON_QUEUE_TALLY_H
#define PIGEON_QUEUE_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

/* m is committed: its queued recipients join the depth, the ones
 * suppressed at send time are outcomes. */
void tally_message(const struct store_msg *m);
/* o[0..n) are committed: each counts by outcome, and a final one leaves
 * the depth. */
void tally_outcomes(const struct store_outcome *o, size_t n);
/* A report's findings are committed: bounced recipients (a DSN's
 * failed) and complaints. */
void tally_findings(int bounced, int complained);
/* Sets the depth from the store (recipients queued or deferred, counted
 * on the index by state: the rows not final, not the table). The ms
 * until the next count. */
int64_t tally_depth(struct store *st);

#endif
