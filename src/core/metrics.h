/*
 * metrics: the counters, gauges and histograms of GET /metrics (SPEC
 * §8.3) and their Prometheus text exposition (format 0.0.4). Every value
 * is a C11 atomic bumped with relaxed order: no lock and no allocation
 * on the counting path. Label sets are bounded and known in advance
 * (arrays indexed by an enum); a family whose labels only a higher
 * layer knows (the HTTP routes) renders itself through a row it
 * registers (metrics_register).
 *
 * Adding a metric: a field in struct metrics (or an object of your
 * own), one line where it is counted, and a row in metrics.c's rows[]
 * (or a metrics_register() call at start-up). Names are pigeon_…, with
 * the unit in the name and _total on counters.
 *
 * Not a registry of names at run time and no metric types beyond
 * counter, gauge and histogram.
 */
#ifndef PIGEON_CORE_METRICS_H
#define PIGEON_CORE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRIC_BUCKETS_MAX 16

/* A histogram of durations: per-bucket counts (not cumulative; the last
 * is +Inf) and the sum in microseconds. le[] is in seconds, ascending. */
struct metric_hist {
	const double *le;
	size_t n; /* at most METRIC_BUCKETS_MAX */
	atomic_ullong bucket[METRIC_BUCKETS_MAX + 1];
	atomic_ullong sum_us;
};

/* The front a message came in by (pigeon_messages_accepted_total). */
enum metric_front { METRIC_FRONT_REST, METRIC_FRONT_SMTP, METRIC_FRONT_N };

/* A recipient's outcome as the writer committed it. */
enum metric_outcome {
	METRIC_DELIVERED,
	METRIC_BOUNCED,
	METRIC_DEFERRED,
	METRIC_FAILED,
	METRIC_SUPPRESSED,
	METRIC_COMPLAINED,
	METRIC_OUTCOME_N
};

/* pigeon's own metrics, counted where each thing happens. */
struct metrics {
	atomic_ullong accepted[METRIC_FRONT_N];
	atomic_ullong recipients[METRIC_OUTCOME_N];
	/* recipients queued or deferred: this process's commits move it,
	 * the writer sets it from the store at start and every minute */
	atomic_llong queue_depth;
	struct metric_hist delivery; /* acceptance → delivered, per rcpt */
	struct metric_hist commit;   /* the writer's group commit */
	atomic_ullong smtp_sessions_total;
	atomic_llong smtp_sessions; /* open now */
};

extern struct metrics metrics;

static inline void
metric_add(atomic_ullong *c, unsigned long long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void
metric_inc(atomic_ullong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline void
metric_gauge_add(atomic_llong *g, long long n)
{
	atomic_fetch_add_explicit(g, n, memory_order_relaxed);
}

static inline void
metric_gauge_set(atomic_llong *g, long long v)
{
	atomic_store_explicit(g, v, memory_order_relaxed);
}

/* Counts one observation of us microseconds (negative: 0) in h. */
void metric_observe_us(struct metric_hist *h, int64_t us);
/* The monotonic clock in microseconds, for durations to observe. */
int64_t metrics_now_us(void);

/*
 * A family of the exposition: its HELP and TYPE lines and render(),
 * which appends its samples to b (0, or -1 when b is full or out of
 * memory). p, label, values and n are render's to read.
 */
struct metric_row {
	const char *name;
	const char *help;
	const char *type; /* "counter", "gauge", "histogram" */
	int (*render)(struct buf *b, const struct metric_row *r);
	const void *p;
	const char *label;
	const char *const *values;
	size_t n;
};

/* The renderers of the plain families: p is an atomic_ullong (or an
 * array of n, one per label value), an atomic_llong, a struct
 * metric_hist. */
int metric_render_counter(struct buf *b, const struct metric_row *r);
int metric_render_gauge(struct buf *b, const struct metric_row *r);
int metric_render_hist(struct buf *b, const struct metric_row *r);

/*
 * Adds r (borrowed: it must live as long as the process) after the
 * built-in rows; at start-up, before any scrape. A row already
 * registered is not added twice. 0, or -1 when the table is full.
 */
int metrics_register(const struct metric_row *r);

/* Writes the value v of a label as the format quotes it: '\\', '"' and
 * newline escaped. 0 or -1. */
int metrics_label_value(struct buf *b, const char *v);
/* Writes the HELP and TYPE lines of r. 0 or -1. */
int metrics_head(struct buf *b, const struct metric_row *r);
/* Appends every family (the exposition, format 0.0.4) to b. 0 or -1. */
int metrics_render(struct buf *b);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
