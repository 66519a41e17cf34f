/*
 * tally: the writer's counts for GET /metrics (see tally.h). The depth
 * is moved by this process's commits and set again from the store every
 * TALLY_DEPTH_EVERY_MS, which takes in what other processes changed (the
 * CLI's pigeon queue drop, other nodes of a shared store) and what a
 * finding or a drop made final without an outcome counted here.
 */
#include "../core/log.h"
#include "../core/metrics.h"
#include "tally.h"

#define TALLY_DEPTH_EVERY_MS (60 * 1000)
#define TALLY_RETRY_MS (10 * 1000)

void
tally_message(const struct store_msg *m)
{
	long long queued = 0;

	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state == RCPT_QUEUED)
			queued++;
		else if (m->rcpts[i].state == RCPT_SUPPRESSED)
			metric_inc(&metrics.recipients[METRIC_SUPPRESSED]);
	}
	metric_gauge_add(&metrics.queue_depth, queued);
}

void
tally_outcomes(const struct store_outcome *o, size_t n)
{
	static const int by_state[] = {
	    [RCPT_QUEUED] = -1,
	    [RCPT_DEFERRED] = METRIC_DEFERRED,
	    [RCPT_DELIVERED] = METRIC_DELIVERED,
	    [RCPT_BOUNCED] = METRIC_BOUNCED,
	    [RCPT_FAILED] = METRIC_FAILED,
	    [RCPT_SUPPRESSED] = METRIC_SUPPRESSED,
	};
	int k;

	for (size_t i = 0; i < n; i++) {
		/* a complaint leaves the state as it was */
		if (o[i].complaint) {
			metric_inc(&metrics.recipients[METRIC_COMPLAINED]);
			continue;
		}
		if ((unsigned)o[i].state >=
		        sizeof(by_state) / sizeof(by_state[0]) ||
		    (k = by_state[o[i].state]) < 0)
			continue;
		metric_inc(&metrics.recipients[k]);
		if (k != METRIC_DEFERRED)
			metric_gauge_add(&metrics.queue_depth, -1);
	}
}

void
tally_findings(int bounced, int complained)
{
	metric_add(&metrics.recipients[METRIC_BOUNCED],
	           (unsigned long long)bounced);
	metric_add(&metrics.recipients[METRIC_COMPLAINED],
	           (unsigned long long)complained);
}

int64_t
tally_depth(struct store *st)
{
	struct queue_row *rows = NULL;
	int64_t total;
	size_t n = 0;

	if (store_queue_list(st, -1, 0, &rows, &n, &total) == -1) {
		log_warnx("queue: depth not counted: %s", store_error(st));
		return TALLY_RETRY_MS;
	}
	queue_row_list_free(rows, n);
	metric_gauge_set(&metrics.queue_depth, total);
	return TALLY_DEPTH_EVERY_MS;
}
