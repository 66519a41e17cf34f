/*
 * scheduler: jobs, timers and per-destination caps (see scheduler.h).
 *
 * A job is in one of four states. TIMED: its timer is armed for due_ms.
 * WAITING: due, but its destination is at its cap; it sits in the
 * destination's queue. STARTING: a slot was freed for it, its timer is
 * armed for now (so a route that answers at once never recurses through
 * a long queue). ROUTE: inside its route. A destination lives while
 * jobs refer to it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "scheduler.h"

#define DEST_BUCKETS 1024

enum { JOB_TIMED, JOB_WAITING, JOB_STARTING, JOB_ROUTE };

struct sched_dest {
	struct route *route;
	char *domain;
	int cap;                         /* now; 0 = none */
	int full;                        /* route->max_conns */
	int strikes;                     /* throttles in a row */
	int64_t paused_until;            /* wall clock ms; 0: not paused */
	int64_t throttled_at;            /* the last throttle, wall clock ms */
	char why[256];                   /* the reply of the last throttle */
	int active;                      /* jobs in the route, or starting */
	size_t njobs;                    /* jobs that point here */
	struct sched_job *whead, *wtail; /* due, waiting for a slot */
	struct sched_dest *hnext;
};

struct sched {
	struct event_base *base;
	sched_done_fn *done;
	void *done_arg;
	size_t held;               /* recipients in jobs */
	int draining;              /* sched_drain: no job starts */
	int inflight;              /* jobs in a route that drains */
	sched_drained_fn *drained; /* called once inflight is 0 */
	void *drained_arg;
	struct sched_job *jobs;
	struct sched_dest *dbucket[DEST_BUCKETS];
	sched_dest_fn *dest_fn;
	void *dest_arg;
};

/* Tells the owner what d looks like now (see sched_on_dest). */
static void
dest_report(struct sched *s, const struct sched_dest *d, int gone)
{
	struct store_dest sd;

	if (s->dest_fn == NULL)
		return;
	memset(&sd, 0, sizeof(sd));
	snprintf(sd.route, sizeof(sd.route), "%s", d->route->name);
	sd.domain = d->domain;
	sd.cap = d->cap;
	sd.full = d->full;
	sd.paused_until = d->paused_until;
	sd.throttled_at = d->throttled_at;
	sd.reply = (char *)d->why; /* borrowed, not changed */
	s->dest_fn(s->dest_arg, &sd, gone);
}

void
sched_on_dest(struct sched *s, sched_dest_fn *fn, void *arg)
{
	s->dest_fn = fn;
	s->dest_arg = arg;
}

/* The destination of an envelope address: its domain. */
static const char *
rcpt_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : address;
}

struct sched_job *
sched_job_new(int64_t msg_id, const char *message_id, const char *domain_id,
              int64_t created_ms, size_t n)
{
	struct sched_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->msg_id = msg_id;
	j->created_ms = created_ms;
	j->cap = n ? n : 1;
	j->message_id = strdup(message_id != NULL ? message_id : "");
	if (domain_id != NULL)
		j->domain_id = strdup(domain_id);
	j->rcpts = calloc(j->cap, sizeof(*j->rcpts));
	if (j->message_id == NULL || j->rcpts == NULL ||
	    (domain_id != NULL && j->domain_id == NULL)) {
		sched_job_free(j);
		return NULL;
	}
	return j;
}

int
sched_job_add(struct sched_job *j, int64_t rcpt_id, const char *address,
              int attempts)
{
	struct sched_rcpt *nv, *r;

	if (j->domain == NULL &&
	    (j->domain = strdup(rcpt_domain(address))) == NULL)
		return -1;
	if (j->nrcpts == j->cap) {
		nv = realloc(j->rcpts, j->cap * 2 * sizeof(*nv));
		if (nv == NULL)
			return -1;
		j->rcpts = nv;
		j->cap *= 2;
	}
	r = &j->rcpts[j->nrcpts];
	memset(r, 0, sizeof(*r));
	if ((r->address = strdup(address)) == NULL)
		return -1;
	r->id = rcpt_id;
	r->attempts = attempts;
	j->nrcpts++;
	return 0;
}

void
sched_job_free(struct sched_job *j)
{
	if (j == NULL)
		return;
	if (j->timer != NULL)
		event_free(j->timer);
	for (size_t i = 0; j->rcpts != NULL && i < j->nrcpts; i++)
		free(j->rcpts[i].address);
	free(j->rcpts);
	free(j->message_id);
	free(j->domain_id);
	free(j->domain);
	if (j->msg != NULL) {
		store_msg_load_clear(j->msg);
		free(j->msg);
	}
	free(j);
}

/* A copy of m as the engine would read it back, for j's first attempt:
 * 0, or -1 out of memory. Large messages are read back instead: a copy
 * waits with its job for as long as its destination makes it. */
static int
handover(const struct store_msg *m, struct sched_job *j)
{
	struct store_msg_load *l;

	if (m->domain_name == NULL || m->return_path_domain == NULL ||
	    m->raw == NULL || m->raw_len > SCHED_HANDOVER_MAX)
		return 0;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->raw = malloc(m->raw_len + 1)) == NULL ||
	    (l->domain = strdup(m->domain_name)) == NULL ||
	    (l->return_path_domain = strdup(m->return_path_domain)) == NULL) {
		if (l != NULL)
			store_msg_load_clear(l);
		free(l);
		return -1;
	}
	memcpy(l->raw, m->raw, m->raw_len);
	l->raw[m->raw_len] = '\0';
	l->raw_len = m->raw_len;
	j->msg = l;
	return 0;
}

int
sched_jobs_of(const struct store_msg *m, struct sched_job **jobs)
{
	struct sched_job *job;
	const char *dom;
	char *taken;
	int n = 0;

	if ((taken = calloc(m->nrcpts ? m->nrcpts : 1, 1)) == NULL)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != RCPT_QUEUED || taken[i])
			continue;
		dom = rcpt_domain(m->rcpts[i].address);
		if ((job = sched_job_new(m->id, m->message_id, m->domain_id,
		                         m->created, 1)) == NULL)
			goto fail;
		jobs[n++] = job;
		if (handover(m, job) == -1)
			goto fail;
		for (size_t k = i; k < m->nrcpts; k++) {
			if (m->rcpts[k].state != RCPT_QUEUED || taken[k] ||
			    strcasecmp(rcpt_domain(m->rcpts[k].address), dom) !=
			        0)
				continue;
			if (sched_job_add(job, m->rcpts[k].id,
			                  m->rcpts[k].address, 0) == -1)
				goto fail;
			taken[k] = 1;
		}
	}
	free(taken);
	return n;
fail:
	while (n > 0)
		sched_job_free(jobs[--n]);
	free(taken);
	return -1;
}

/* Claimed rows become jobs: those of one message come together, one
 * job per domain of it. */
struct gather {
	sched_job_fn *fn;
	void *arg;
	int64_t msg_id;
	struct sched_job **jobs; /* of msg_id, one per domain */
	size_t n, cap;
	size_t njobs;
};

static void
gather_flush(struct gather *g)
{
	for (size_t i = 0; i < g->n; i++)
		g->fn(g->arg, g->jobs[i]);
	g->njobs += g->n;
	g->n = 0;
}

/* The job of r's message and domain, made when new; NULL. */
static struct sched_job *
gather_job(struct gather *g, const struct pending_rcpt *r)
{
	struct sched_job *j, **nv;
	const char *dom = rcpt_domain(r->address);

	if (r->msg_id != g->msg_id) {
		gather_flush(g);
		g->msg_id = r->msg_id;
	}
	for (size_t i = 0; i < g->n; i++)
		if (strcasecmp(g->jobs[i]->domain, dom) == 0)
			return g->jobs[i];
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		if ((nv = realloc(g->jobs, cap * sizeof(*nv))) == NULL)
			return NULL;
		g->jobs = nv;
		g->cap = cap;
	}
	if ((j = sched_job_new(r->msg_id, r->message_id, r->domain_id,
	                       r->created_ms, 1)) == NULL)
		return NULL;
	j->due_ms = r->next_attempt;
	j->lease_until = r->lease_until;
	return g->jobs[g->n++] = j;
}

int
sched_jobs_from_rows(const struct pending_rcpt *rows, size_t n,
                     sched_job_fn *fn, void *arg, size_t *njobs)
{
	struct gather g;
	struct sched_job *j;
	size_t i;

	memset(&g, 0, sizeof(g));
	g.fn = fn;
	g.arg = arg;
	for (i = 0; i < n; i++) {
		const struct pending_rcpt *r = &rows[i];

		if ((j = gather_job(&g, r)) == NULL ||
		    sched_job_add(j, r->rcpt_id, r->address, r->attempts) == -1)
			break;
		if (r->next_attempt < j->due_ms)
			j->due_ms = r->next_attempt;
	}
	if (i < n) /* the message being gathered is left to its lease */
		while (g.n > 0)
			sched_job_free(g.jobs[--g.n]);
	gather_flush(&g);
	free(g.jobs);
	*njobs = g.njobs;
	return i < n ? -1 : 0;
}

struct sched *
sched_new(struct event_base *base, sched_done_fn *done, void *arg)
{
	struct sched *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->done = done;
	s->done_arg = arg;
	return s;
}

static size_t
dest_hash(const struct route *rt, const char *domain)
{
	uint64_t h = 1469598103934665603ULL ^ (uintptr_t)rt;

	for (; *domain != '\0'; domain++) {
		h ^= (unsigned char)tolower((unsigned char)*domain);
		h *= 1099511628211ULL;
	}
	return (size_t)(h % DEST_BUCKETS);
}

/* j's destination, made when new; NULL on allocation failure. */
static struct sched_dest *
dest_get(struct sched *s, struct sched_job *j)
{
	struct sched_dest **dp, *d;
	const char *dom = j->route->dest != NULL ? j->route->dest
	                  : j->domain != NULL    ? j->domain
	                                         : "";

	dp = &s->dbucket[dest_hash(j->route, dom)];
	for (d = *dp; d != NULL; d = d->hnext)
		if (d->route == j->route && strcasecmp(d->domain, dom) == 0)
			return d;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if ((d->domain = strdup(dom)) == NULL) {
		free(d);
		return NULL;
	}
	d->route = j->route;
	d->cap = d->full = j->route->max_conns;
	d->hnext = *dp;
	*dp = d;
	return d;
}

/* How long a throttled destination keeps its lowered cap with no job
 * to send it (then it starts at its full cap again). */
#define DEST_MEMORY_MS (3600 * 1000)

/* One job less points at d; the last one frees it, unless d is still
 * throttled: its lowered cap must outlive the jobs that saw the
 * throttle, or the next message would find a full cap again. */
static void
dest_put(struct sched *s, struct sched_dest *d)
{
	struct sched_dest **dp;

	if (--d->njobs > 0)
		return;
	if (d->cap < d->full &&
	    clock_now_ms() - d->throttled_at < DEST_MEMORY_MS)
		return;
	if (d->cap < d->full)
		dest_report(s, d, 1);
	dp = &s->dbucket[dest_hash(d->route, d->domain)];
	while (*dp != d)
		dp = &(*dp)->hnext;
	*dp = d->hnext;
	free(d->domain);
	free(d);
}

static void
job_unlink(struct sched *s, struct sched_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		s->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static void
job_arm(struct sched_job *j, int64_t wait)
{
	struct timeval tv;

	if (wait < 0)
		wait = 0;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(j->timer, &tv);
}

static void
route_done(void *arg, struct sched_job *j)
{
	struct sched *s = arg;

	s->done(s->done_arg, j);
}

/* A job's timer fired: into its route, or into the queue of its
 * destination when that is at its cap. */
static void
job_fire(evutil_socket_t fd, short what, void *arg)
{
	struct sched_job *j = arg;
	struct sched_dest *d = j->dest;

	if (j->sched->draining)
		return; /* stopping: the job waits for the next start */
	if (j->state == JOB_TIMED) {
		int64_t now = clock_now_ms();

		if (d->paused_until > now) {
			job_arm(j, d->paused_until - now);
			return;
		}
		if (d->cap > 0 && d->active >= d->cap) {
			j->state = JOB_WAITING;
			j->wnext = NULL;
			if (d->wtail != NULL)
				d->wtail->wnext = j;
			else
				d->whead = j;
			d->wtail = j;
			return;
		}
		d->active++;
	}
	j->state = JOB_ROUTE;
	j->started_ms = clock_now_ms();
	if (j->route->drains)
		j->sched->inflight++;
	j->route->deliver(j->route, j, route_done, j->sched);
}

void
sched_add(struct sched *s, struct sched_job *j)
{
	char msg[LOG_VALUE_LEN(998)];

	j->sched = s;
	j->state = JOB_TIMED;
	j->prev = NULL;
	j->next = s->jobs;
	if (s->jobs != NULL)
		s->jobs->prev = j;
	s->jobs = j;
	if (j->timer == NULL &&
	    (j->timer = evtimer_new(s->base, job_fire, j)) == NULL) {
		log_warnx("delivery: msg=%s: cannot create a timer",
		          log_value(j->message_id, msg, sizeof(msg)));
		job_unlink(s, j);
		sched_job_free(j);
		return;
	}
	if ((j->dest = dest_get(s, j)) == NULL) {
		log_warnx("delivery: msg=%s: out of memory scheduling",
		          log_value(j->message_id, msg, sizeof(msg)));
		job_unlink(s, j);
		sched_job_free(j);
		return;
	}
	j->dest->njobs++;
	j->held = j->nrcpts;
	s->held += j->held;
	job_arm(j, j->due_ms - clock_now_ms());
}

/* Starts d's waiting jobs while it has slots. A paused destination
 * starts none: its waiting jobs go back to their timers, due when the
 * pause ends. */
static void
dest_fill(struct sched_dest *d)
{
	struct sched_job *w;
	int64_t now = clock_now_ms();

	while ((w = d->whead) != NULL &&
	       (d->paused_until > now || d->cap == 0 || d->active < d->cap)) {
		if ((d->whead = w->wnext) == NULL)
			d->wtail = NULL;
		w->wnext = NULL;
		if (d->paused_until > now) {
			w->state = JOB_TIMED;
			job_arm(w, d->paused_until - now);
			continue;
		}
		w->state = JOB_STARTING;
		d->active++;
		job_arm(w, 0);
	}
}

void
sched_health(struct sched *s, struct sched_job *j, int health, const char *why,
             int64_t base_ms, int64_t max_ms)
{
	struct sched_dest *d = j->dest;
	char dom[LOG_VALUE_LEN(255)], rep[LOG_VALUE_LEN(256)];
	int64_t pause;
	int was = d->cap;

	if (d->full == 0)
		return; /* no cap to halve: capture */
	if (health == SCHED_THROTTLED) {
		d->cap = d->cap > 1 ? d->cap / 2 : 1;
		d->strikes++;
		pause = base_ms;
		for (int i = 1; i < d->strikes && pause < max_ms; i++)
			pause *= 2;
		if (pause > max_ms)
			pause = max_ms;
		d->throttled_at = clock_now_ms();
		d->paused_until = d->throttled_at + pause;
		log_warnx(
		    "delivery: destination=%s:%s throttled: cap %d -> %d, "
		    "paused %.1fs (reply=%s)",
		    d->route->name, log_value(d->domain, dom, sizeof(dom)), was,
		    d->cap, (double)pause / 1000.0,
		    log_value(why, rep, sizeof(rep)));
		snprintf(d->why, sizeof(d->why), "%s", why != NULL ? why : "");
		dest_report(s, d, 0);
		return;
	}
	if (health != SCHED_OK || d->cap >= d->full)
		return;
	/* a success: one more connection, step by step */
	d->cap++;
	dest_report(s, d, d->cap == d->full);
	if (d->cap == d->full) {
		d->strikes = 0;
		log_info("delivery: destination=%s:%s recovered: cap %d",
		         d->route->name, log_value(d->domain, dom, sizeof(dom)),
		         d->cap);
	}
}

void
sched_drain(struct sched *s, sched_drained_fn *fn, void *arg)
{
	s->draining = 1;
	s->drained = fn;
	s->drained_arg = arg;
	if (s->inflight == 0) {
		s->drained = NULL;
		fn(arg, 0);
	}
}

void
sched_finish(struct sched *s, struct sched_job *j, int64_t due_ms)
{
	struct sched_dest *d = j->dest;
	sched_drained_fn *fn;

	if (j->route->drains && --s->inflight == 0 && s->drained != NULL) {
		fn = s->drained;
		s->drained = NULL;
		fn(s->drained_arg, 0);
	}
	d->active--;
	dest_fill(d);
	if (j->dropped)
		due_ms = 0;
	s->held -= j->held;
	j->held = due_ms != 0 ? j->nrcpts : 0;
	s->held += j->held;
	if (due_ms == 0) {
		job_unlink(s, j);
		sched_job_free(j);
		dest_put(s, d);
		return;
	}
	j->state = JOB_TIMED;
	j->due_ms = due_ms;
	job_arm(j, due_ms - clock_now_ms());
}

void
sched_free(struct sched *s)
{
	struct sched_job *j, *next;
	struct sched_dest *d, *dn;

	if (s == NULL)
		return;
	for (j = s->jobs; j != NULL; j = next) {
		next = j->next;
		sched_job_free(j);
	}
	for (size_t i = 0; i < DEST_BUCKETS; i++)
		for (d = s->dbucket[i]; d != NULL; d = dn) {
			dn = d->hnext;
			free(d->domain);
			free(d);
		}
	free(s);
}

int
sched_inflight(const struct sched *s)
{
	return s->inflight;
}

int
sched_retry(struct sched *s, int64_t msg_id)
{
	int n = 0;

	for (struct sched_job *j = s->jobs; j != NULL; j = j->next) {
		if (msg_id != 0 && j->msg_id != msg_id)
			continue;
		if (j->state == JOB_TIMED) {
			j->due_ms = clock_now_ms();
			job_arm(j, 0); /* job_fire still honours a pause */
		}
		n++;
	}
	return n;
}

/* Takes j out of its destination's queue of due jobs. */
static void
dest_unqueue(struct sched_dest *d, struct sched_job *j)
{
	struct sched_job **wp = &d->whead, *prev = NULL;

	while (*wp != NULL && *wp != j) {
		prev = *wp;
		wp = &(*wp)->wnext;
	}
	if (*wp == NULL)
		return;
	*wp = j->wnext;
	if (d->wtail == j)
		d->wtail = prev;
	j->wnext = NULL;
}

int
sched_drop(struct sched *s, int64_t msg_id)
{
	struct sched_job *j, *next;
	struct sched_dest *d;
	int n = 0;

	for (j = s->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->msg_id != msg_id)
			continue;
		n++;
		d = j->dest;
		switch (j->state) {
		case JOB_ROUTE:
			/* the route borrows it: freed by sched_finish */
			j->dropped = 1;
			continue;
		case JOB_WAITING:
			dest_unqueue(d, j);
			break;
		case JOB_STARTING:
			d->active--; /* the slot it was given */
			break;
		default:
			break;
		}
		s->held -= j->held;
		job_unlink(s, j);
		sched_job_free(j); /* frees its timer */
		dest_fill(d);
		dest_put(s, d);
	}
	return n;
}

size_t
sched_held(const struct sched *s)
{
	return s->held;
}

int64_t *
sched_lease_due(struct sched *s, int64_t before, int64_t until, size_t *n)
{
	int64_t *ids = NULL, *nv;
	size_t cap = 0;

	*n = 0;
	for (struct sched_job *j = s->jobs; j != NULL; j = j->next) {
		if (j->lease_until >= before)
			continue;
		if (*n + j->nrcpts > cap) {
			cap = (*n + j->nrcpts) * 2;
			if ((nv = realloc(ids, cap * sizeof(*nv))) == NULL) {
				free(ids);
				*n = 0;
				return NULL;
			}
			ids = nv;
		}
		for (size_t i = 0; i < j->nrcpts; i++)
			ids[(*n)++] = j->rcpts[i].id;
		j->lease_until = until;
	}
	return ids;
}

int
sched_resume(struct sched *s, const char *destination)
{
	const char *colon = strchr(destination, ':');
	char dom[LOG_VALUE_LEN(255)];
	struct sched_dest *d;
	int n = 0;

	for (size_t i = 0; i < DEST_BUCKETS; i++)
		for (d = s->dbucket[i]; d != NULL; d = d->hnext) {
			if (colon != NULL
			        ? (strncmp(destination, d->route->name,
			                   (size_t)(colon - destination)) !=
			               0 ||
			           d->route->name[colon - destination] !=
			               '\0' ||
			           strcasecmp(colon + 1, d->domain) != 0)
			        : strcasecmp(destination, d->domain) != 0)
				continue;
			n++;
			if (d->cap < d->full || d->paused_until != 0)
				dest_report(s, d, 1);
			d->cap = d->full;
			d->strikes = 0;
			d->paused_until = 0;
			log_info("delivery: destination=%s:%s resumed by the "
			         "operator: cap %d",
			         d->route->name,
			         log_value(d->domain, dom, sizeof(dom)),
			         d->cap);
			for (struct sched_job *j = s->jobs; j != NULL;
			     j = j->next)
				if (j->dest == d && j->state == JOB_TIMED) {
					j->due_ms = clock_now_ms();
					job_arm(j, 0);
				}
			dest_fill(d);
		}
	return n;
}
