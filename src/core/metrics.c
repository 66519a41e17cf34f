/*
 * metrics: pigeon's counters and their exposition in the Prometheus text
 * format 0.0.4 (see metrics.h). Counting is one relaxed atomic add; a
 * scrape reads every value once and writes the families of rows[], then
 * the registered ones, into a buf. A scrape may see one counter bumped
 * and the next not yet: each value is exact, the set is not a snapshot.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

/* Seconds: a queued message delivered on its first attempt takes
 * milliseconds to seconds; a retried one, minutes. */
static const double delivery_le[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600};
/* A group commit is an fsync or two: sub-millisecond to a slow disk's
 * tens of milliseconds. */
static const double commit_le[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct metrics metrics = {
    .delivery = {delivery_le, sizeof(delivery_le) / sizeof(delivery_le[0])},
    .commit = {commit_le, sizeof(commit_le) / sizeof(commit_le[0])},
};

static const char *const fronts[METRIC_FRONT_N] = {"rest", "smtp"};
static const char *const outcomes[METRIC_OUTCOME_N] = {
    "delivered", "bounced", "deferred", "failed", "suppressed", "complained"};

/* Wall clock at start, in ms: pigeon_process_start_time_seconds. */
static atomic_llong started_ms;

__attribute__((constructor)) static void
metrics_started(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store(&started_ms,
	             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int render_build(struct buf *b, const struct metric_row *r);
static int render_start(struct buf *b, const struct metric_row *r);

static const struct metric_row rows[] = {
    {"pigeon_build_info", "The version of pigeon running; always 1.", "gauge",
     render_build},
    {"pigeon_process_start_time_seconds",
     "When the process started, in seconds since the Unix epoch.", "gauge",
     render_start},
    {"pigeon_messages_accepted_total",
     "Messages committed to the queue, by the front they came in by.",
     "counter", metric_render_counter, metrics.accepted, "front", fronts,
     METRIC_FRONT_N},
    {"pigeon_recipients_total",
     "Recipient outcomes committed by the writer: attempts that ended "
     "delivered, bounced, deferred or failed, recipients suppressed at "
     "send time, complaints received.",
     "counter", metric_render_counter, metrics.recipients, "outcome", outcomes,
     METRIC_OUTCOME_N},
    {"pigeon_queue_depth",
     "Recipients queued or deferred (not final) in the store: read from "
     "the store at start and every minute, moved by this process's "
     "commits in between.",
     "gauge", metric_render_gauge, &metrics.queue_depth},
    {"pigeon_delivery_duration_seconds",
     "Per recipient delivered, from the message's acceptance to the end "
     "of the attempt that delivered it (retries included).",
     "histogram", metric_render_hist, &metrics.delivery},
    {"pigeon_store_commit_duration_seconds",
     "The writer's group commits, from BEGIN to the end of COMMIT.",
     "histogram", metric_render_hist, &metrics.commit},
    {"pigeon_smtp_sessions_total",
     "SMTP sessions accepted by the listeners (smtps, submission, "
     "inbound), those refused past a cap included.",
     "counter", metric_render_counter, &metrics.smtp_sessions_total},
    {"pigeon_smtp_sessions_open", "SMTP sessions open now, within the caps.",
     "gauge", metric_render_gauge, &metrics.smtp_sessions},
};

#define EXTRA_MAX 32

static pthread_mutex_t extra_mu = PTHREAD_MUTEX_INITIALIZER;
static const struct metric_row *extra[EXTRA_MAX];
static atomic_size_t nextra;

int
metrics_register(const struct metric_row *r)
{
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&extra_mu);
	n = atomic_load(&nextra);
	for (size_t i = 0; i < n; i++)
		if (extra[i] == r)
			goto out;
	if (n == EXTRA_MAX)
		rc = -1;
	else {
		extra[n] = r;
		atomic_store(&nextra, n + 1); /* published after the row */
	}
out:
	pthread_mutex_unlock(&extra_mu);
	return rc;
}

int64_t
metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
metric_observe_us(struct metric_hist *h, int64_t us)
{
	size_t i;

	if (us < 0)
		us = 0;
	for (i = 0; i < h->n && (double)us > h->le[i] * 1e6; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)us,
	                          memory_order_relaxed);
}

int
metrics_label_value(struct buf *b, const char *v)
{
	if (buf_putc(b, '"') == -1)
		return -1;
	for (; *v != '\0'; v++) {
		const char *e = *v == '\\'   ? "\\\\"
		                : *v == '"'  ? "\\\""
		                : *v == '\n' ? "\\n"
		                             : NULL;

		if (e != NULL ? buf_puts(b, e) == -1 : buf_putc(b, *v) == -1)
			return -1;
	}
	return buf_putc(b, '"');
}

/* HELP text: '\\' and newline escaped (the format's rule for it). */
static int
help_text(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\\'   ? buf_puts(b, "\\\\") == -1
		    : *s == '\n' ? buf_puts(b, "\\n") == -1
		                 : buf_putc(b, *s) == -1)
			return -1;
	return 0;
}

int
metrics_head(struct buf *b, const struct metric_row *r)
{
	if (buf_printf(b, "# HELP %s ", r->name) == -1 ||
	    help_text(b, r->help) == -1 ||
	    buf_printf(b, "\n# TYPE %s %s\n", r->name, r->type) == -1)
		return -1;
	return 0;
}

int
metric_render_counter(struct buf *b, const struct metric_row *r)
{
	const atomic_ullong *v = r->p;

	if (r->label == NULL)
		return buf_printf(
		    b, "%s %llu\n", r->name,
		    atomic_load_explicit(v, memory_order_relaxed));
	for (size_t i = 0; i < r->n; i++)
		if (buf_printf(b, "%s{%s=", r->name, r->label) == -1 ||
		    metrics_label_value(b, r->values[i]) == -1 ||
		    buf_printf(b, "} %llu\n",
		               atomic_load_explicit(
		                   &v[i], memory_order_relaxed)) == -1)
			return -1;
	return 0;
}

int
metric_render_gauge(struct buf *b, const struct metric_row *r)
{
	const atomic_llong *v = r->p;

	return buf_printf(b, "%s %lld\n", r->name,
	                  atomic_load_explicit(v, memory_order_relaxed));
}

/* Buckets are cumulative in the format: each le counts every
 * observation at or below it; +Inf equals _count. */
int
metric_render_hist(struct buf *b, const struct metric_row *r)
{
	const struct metric_hist *h = r->p;
	unsigned long long cum = 0, sum;
	size_t i;

	for (i = 0; i <= h->n; i++) {
		cum +=
		    atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < h->n ? buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n",
		                          r->name, h->le[i], cum) == -1
		             : buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n",
		                          r->name, cum) == -1)
			return -1;
	}
	sum = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
	return buf_printf(b, "%s_sum %llu.%06llu\n%s_count %llu\n", r->name,
	                  sum / 1000000, sum % 1000000, r->name, cum);
}

static int
render_build(struct buf *b, const struct metric_row *r)
{
	return buf_printf(b, "%s{version=\"%s\"} 1\n", r->name, PIGEON_VERSION);
}

static int
render_start(struct buf *b, const struct metric_row *r)
{
	long long ms = atomic_load(&started_ms);

	return buf_printf(b, "%s %lld.%03lld\n", r->name, ms / 1000, ms % 1000);
}

static int
render_row(struct buf *b, const struct metric_row *r)
{
	return metrics_head(b, r) == -1 || r->render(b, r) == -1 ? -1 : 0;
}

int
metrics_render(struct buf *b)
{
	size_t i, n = atomic_load(&nextra);

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (render_row(b, &rows[i]) == -1)
			return -1;
	for (i = 0; i < n; i++)
		if (render_row(b, extra[i]) == -1)
			return -1;
	return 0;
}
