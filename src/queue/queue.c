/*
 * queue: the writer thread and the waiters (see queue.h).
 *
 * queue_send() puts a small operation that points at the caller's
 * struct store_msg on q->ops (mutex + condvar) and returns. The writer
 * thread takes every operation waiting (at most commit_batch), runs them
 * in one transaction — new messages, and the outcome batches that the
 * delivery engine reports — commits, and only then answers: a failed
 * statement or COMMIT rolls the whole batch back and every send in it
 * gets rc -1. While one commit runs, new operations pile up for the next
 * one (group commit, no timer). Outcome batches that fail to commit are
 * held and retried with backoff, in order, ahead of newer outcomes:
 * a delivery that happened is never forgotten while the process runs.
 *
 * A committed message becomes a delivery job for the engine. A send
 * with wait_ms > 0 leaves a waiter, owned by the writer thread alone: it
 * is answered when the committed outcomes of every recipient's first
 * attempt have come back, or when its deadline passes, whichever comes
 * first. So every callback runs on the writer thread.
 *
 * Between batches the writer also deletes Idempotency-Key records past
 * their 24 h (at start, then hourly), a bounded number per transaction
 * so sends never wait long behind it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../delivery/delivery.h"
#include "queue.h"

#define DEFAULT_BATCH 512
#define WAIT_BUCKETS 1024 /* waiters hashed by message row id */

enum op_kind { OP_SEND, OP_OUTCOMES };

struct op {
	enum op_kind kind;
	struct op *next;
	struct store_msg *m; /* OP_SEND: borrowed until cb */
	int wait_ms;
	queue_send_fn *cb;
	void *arg;
	struct delivery_report *rep; /* OP_OUTCOMES: owned */
	int refused;                 /* the store refused this one alone */
};

/* A send waiting for first-attempt outcomes (writer thread only). */
struct waiter {
	struct store_msg *m;
	queue_send_fn *cb;
	void *arg;
	enum rcpt_state *states;
	size_t pending;   /* recipients still without an outcome */
	int64_t deadline; /* monotonic ms */
	struct waiter *hnext;
	struct waiter *prev, *next; /* by deadline */
};

struct queue {
	const struct config *cfg;
	struct store *st; /* the write connection, writer thread only */
	struct delivery *engine;
	size_t batch_max;
	pthread_t writer;
	int writer_running;
	pthread_mutex_t mu; /* guards the fields down to released */
	pthread_cond_t cv;
	struct op *head, *tail;
	int stopping;    /* queue_send refuses */
	int stop_writer; /* writer drains and exits */
	int release;     /* answer every send now, waiting for nothing */
	int released;    /* release as the writer has seen it */
	/* writer thread only */
	struct op **batch;
	struct waiter *wbucket[WAIT_BUCKETS];
	struct waiter *whead, *wtail;
	/* Outcome batches whose commit failed, oldest first, retried in
	 * order before any newer outcome so a recipient's state never goes
	 * back (writer thread only). */
	struct op *rhead, *rtail;
	int64_t retry_at;    /* monotonic ms */
	int64_t retry_delay; /* ms, doubles while the store stays down */
	int64_t purge_at;    /* monotonic ms: next Idempotency-Key purge */
	size_t purged;       /* records deleted by the current purge */
};

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 10000
#define PURGE_EVERY_MS (60 * 60 * 1000)
#define PURGE_RETRY_MS (60 * 1000)
#define PURGE_BATCH 1000 /* records per transaction */

static void
op_push(struct queue *q, struct op *op)
{
	op->next = NULL;
	if (q->tail != NULL)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	pthread_cond_signal(&q->cv);
}

int
queue_send(struct queue *q, struct store_msg *m, int wait_ms, queue_send_fn *cb,
           void *arg)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	op->kind = OP_SEND;
	op->m = m;
	op->wait_ms = wait_ms;
	op->cb = cb;
	op->arg = arg;
	pthread_mutex_lock(&q->mu);
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		free(op);
		return -1;
	}
	op_push(q, op);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* The engine's report (engine thread): queue it for the writer. */
static void
queue_report(void *arg, struct delivery_report *rep)
{
	struct queue *q = arg;
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		log_warnx("queue: out of memory, outcomes of msg %lld lost",
		          (long long)rep->msg_id);
		delivery_report_free(rep);
		return;
	}
	op->kind = OP_OUTCOMES;
	op->rep = rep;
	pthread_mutex_lock(&q->mu);
	op_push(q, op);
	pthread_mutex_unlock(&q->mu);
}

static struct waiter **
waiter_slot(struct queue *q, int64_t msg_id)
{
	struct waiter **wp = &q->wbucket[(uint64_t)msg_id % WAIT_BUCKETS];

	while (*wp != NULL && (*wp)->m->id != msg_id)
		wp = &(*wp)->hnext;
	return wp;
}

/* Answers w with what is known and forgets it. */
static void
waiter_finish(struct queue *q, struct waiter *w)
{
	struct waiter **wp = waiter_slot(q, w->m->id);

	*wp = w->hnext;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		q->whead = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		q->wtail = w->prev;
	w->cb(w->arg, 0, w->states);
	free(w->states);
	free(w);
}

/* Inserts w in deadline order; deadlines mostly arrive in order. */
static void
waiter_add(struct queue *q, struct waiter *w)
{
	struct waiter *p = q->wtail, **wp = waiter_slot(q, w->m->id);

	w->hnext = *wp;
	*wp = w;
	while (p != NULL && p->deadline > w->deadline)
		p = p->prev;
	w->prev = p;
	w->next = p != NULL ? p->next : q->whead;
	if (w->next != NULL)
		w->next->prev = w;
	else
		q->wtail = w;
	if (p != NULL)
		p->next = w;
	else
		q->whead = w;
}

/* A committed outcome batch: the first outcome of a recipient answers
 * its waiter's slot. */
static void
waiter_resolve(struct queue *q, const struct delivery_report *rep)
{
	struct waiter *w = *waiter_slot(q, rep->msg_id);

	if (w == NULL)
		return;
	for (size_t i = 0; i < rep->n; i++) {
		const struct store_outcome *o = &rep->outcomes[i];

		for (size_t k = 0; k < w->m->nrcpts; k++) {
			if (w->m->rcpts[k].id != o->rcpt_id)
				continue;
			if (w->states[k] == RCPT_QUEUED) {
				w->states[k] = o->state;
				w->pending--;
			}
			break;
		}
	}
	if (w->pending == 0)
		waiter_finish(q, w);
}

static void
waiters_expire(struct queue *q, int64_t now, int all)
{
	while (q->whead != NULL && (all || q->whead->deadline <= now))
		waiter_finish(q, q->whead);
}

/* The destination of an envelope address: its domain. */
static const char *
rcpt_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : address;
}

/*
 * SPEC §6.3: one delivery job, one transaction, per (message,
 * destination). The jobs of m's queued recipients, in jobs[] (room for
 * m->nrcpts); their number, or -1 when one could not be made (the
 * message is durable: the next start schedules it).
 */
static int
send_jobs(const struct store_msg *m, const enum rcpt_state *states,
          struct delivery_job **jobs)
{
	struct delivery_job *job;
	const char *dom;
	char *taken;
	int n = 0;

	if ((taken = calloc(m->nrcpts ? m->nrcpts : 1, 1)) == NULL)
		return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (states[i] != RCPT_QUEUED || taken[i])
			continue;
		dom = rcpt_domain(m->rcpts[i].address);
		if ((job = delivery_job_new(m->id, m->message_id, m->domain_id,
		                            m->created, 1)) == NULL)
			goto fail;
		jobs[n++] = job;
		for (size_t k = i; k < m->nrcpts; k++) {
			if (states[k] != RCPT_QUEUED || taken[k] ||
			    strcasecmp(rcpt_domain(m->rcpts[k].address), dom) !=
			        0)
				continue;
			if (delivery_job_add(job, m->rcpts[k].id,
			                     m->rcpts[k].address, 0) == -1)
				goto fail;
			taken[k] = 1;
		}
	}
	free(taken);
	return n;
fail:
	while (n > 0)
		delivery_job_free(jobs[--n]);
	free(taken);
	return -1;
}

/*
 * op's message is committed: hand its deliverable recipients to the
 * engine, and answer now or leave a waiter.
 */
static void
send_committed(struct queue *q, struct op *op)
{
	struct store_msg *m = op->m;
	struct delivery_job **jobs;
	struct waiter *w = NULL;
	enum rcpt_state *states;
	size_t deliverable = 0;
	int njobs = 0;

	states = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*states));
	jobs = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*jobs));
	if (states == NULL || jobs == NULL) {
		/* committed but unanswerable: the caller must still hear */
		log_warnx("queue: msg=%s: out of memory answering a send",
		          m->message_id);
		free(states);
		free(jobs);
		op->cb(op->arg, 0, NULL);
		return;
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		states[i] = m->rcpts[i].state;
		if (states[i] == RCPT_QUEUED)
			deliverable++;
	}
	if (deliverable > 0 && (njobs = send_jobs(m, states, jobs)) == -1) {
		njobs = 0;
		log_warnx("queue: msg=%s: out of memory scheduling delivery",
		          m->message_id);
	}
	if (njobs > 0 && op->wait_ms > 0 && !q->released)
		w = calloc(1, sizeof(*w));
	if (w == NULL) {
		op->cb(op->arg, 0, states);
		free(states);
	} else {
		w->m = m;
		w->cb = op->cb;
		w->arg = op->arg;
		w->states = states;
		w->pending = deliverable;
		w->deadline = clock_mono_ms() + op->wait_ms;
		waiter_add(q, w);
	}
	for (int i = 0; i < njobs; i++)
		delivery_submit(q->engine, jobs[i]);
	free(jobs);
}

/* One group commit: everything in ops, or nothing. */
/*
 * Runs one operation inside the batch's transaction, in a savepoint of
 * its own, so that an operation the store refuses (a constraint, a
 * vanished domain) fails alone. 0 done; -1 this operation failed; -2 the
 * transaction itself is broken.
 */
static int
writer_op(struct queue *q, struct op *op)
{
	int ok = 1;

	if (store_op_begin(q->st) == -1)
		return -2;
	if (op->kind == OP_SEND)
		ok = store_message_insert(q->st, op->m) == 0;
	else
		for (size_t k = 0; ok && k < op->rep->n; k++)
			ok = store_outcome_apply(q->st,
			                         &op->rep->outcomes[k]) == 0;
	if (!ok)
		log_warnx("queue: %s refused by the store: %s",
		          op->kind == OP_SEND ? "message" : "outcome batch",
		          store_error(q->st));
	if (store_op_end(q->st, ok) == -1)
		return -2;
	return ok ? 0 : -1;
}

static void
writer_batch(struct queue *q, struct op **ops, size_t n)
{
	struct op *failed = NULL, *flast = NULL;
	int ok, rc;

	ok = store_begin(q->st) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		if ((rc = writer_op(q, ops[i])) == -2)
			ok = 0;
		ops[i]->refused = rc == -1;
	}
	if (ok)
		ok = store_commit(q->st) == 0;
	if (!ok) {
		log_warnx("queue: group commit of %zu operations failed, "
		          "rolled back: %s",
		          n, store_error(q->st));
		store_rollback(q->st);
	}
	for (size_t i = 0; i < n; i++) {
		struct op *op = ops[i];

		if (op->kind == OP_SEND) {
			if (ok && !op->refused)
				send_committed(q, op);
			else
				op->cb(op->arg, -1, NULL);
		} else if (ok && !op->refused) {
			waiter_resolve(q, op->rep);
			delivery_report_free(op->rep);
		} else if (ok) {
			/* Retrying cannot help; the recipients keep their
			 * stored state and are tried again after a restart. */
			delivery_report_free(op->rep);
		} else {
			/* Kept, in order, for retry_run(). */
			op->next = NULL;
			if (flast != NULL)
				flast->next = op;
			else
				failed = op;
			flast = op;
			continue;
		}
		free(op);
	}
	if (failed != NULL) {
		/* Older than anything held: they go in front. */
		flast->next = q->rhead;
		if (q->rhead == NULL)
			q->rtail = flast;
		q->rhead = failed;
	}
	if (!ok && q->rhead != NULL) {
		q->retry_delay =
		    q->retry_delay ? q->retry_delay * 2 : RETRY_MIN_MS;
		if (q->retry_delay > RETRY_MAX_MS)
			q->retry_delay = RETRY_MAX_MS;
		q->retry_at = clock_mono_ms() + q->retry_delay;
	} else if (ok && q->rhead == NULL)
		q->retry_delay = 0;
}

/*
 * Commits the held outcome batches, oldest first, when their time has
 * come (or, when exiting, one last time). What still fails at exit is
 * logged: the store keeps the recipients' previous state, so they are
 * tried again after a restart (at least once, never lost).
 */
static void
retry_run(struct queue *q, int exiting)
{
	struct op *op;
	size_t n;

	if (q->rhead == NULL || (!exiting && clock_mono_ms() < q->retry_at))
		return;
	for (n = 0; q->rhead != NULL && n < q->batch_max; n++) {
		q->batch[n] = q->rhead;
		q->rhead = q->rhead->next;
	}
	if (q->rhead == NULL)
		q->rtail = NULL;
	writer_batch(q, q->batch, n);
	if (exiting) {
		while ((op = q->rhead) != NULL) {
			q->rhead = op->next;
			log_warnx("queue: outcomes of msg %lld not stored; "
			          "they will be retried after a restart",
			          (long long)op->rep->msg_id);
			delivery_report_free(op->rep);
			free(op);
		}
		q->rtail = NULL;
	}
}

/* Holds a newer outcome batch behind the ones waiting for the store. */
static void
retry_push(struct queue *q, struct op *op)
{
	op->next = NULL;
	if (q->rtail != NULL)
		q->rtail->next = op;
	else
		q->rhead = op;
	q->rtail = op;
}

/*
 * Deletes one batch of expired Idempotency-Key records when a purge is
 * due; a full batch leaves the purge due, so the next one follows once
 * the sends waiting meanwhile are committed.
 */
static void
purge_run(struct queue *q)
{
	int n = -1;

	if (clock_mono_ms() < q->purge_at || q->rhead != NULL)
		return;
	if (store_begin(q->st) == 0) {
		n = store_idem_purge(q->st, clock_now_ms() - STORE_IDEM_TTL_MS,
		                     PURGE_BATCH);
		if (n < 0 || store_commit(q->st) != 0)
			n = -1;
	}
	if (n < 0) {
		log_warnx("queue: purging expired idempotency keys failed, "
		          "retrying in a minute: %s",
		          store_error(q->st));
		store_rollback(q->st);
		q->purge_at = clock_mono_ms() + PURGE_RETRY_MS;
		return;
	}
	q->purged += (size_t)n;
	if (n == PURGE_BATCH)
		return;
	if (q->purged > 0)
		log_info("queue: purged %zu idempotency keys older than 24 h",
		         q->purged);
	q->purged = 0;
	q->purge_at = clock_mono_ms() + PURGE_EVERY_MS;
}

/* The earliest time the writer must wake without new operations. */
static int64_t
writer_wake(struct queue *q)
{
	int64_t wake = 0;

	if (q->whead != NULL)
		wake = q->whead->deadline;
	if (q->rhead != NULL && (wake == 0 || q->retry_at < wake))
		wake = q->retry_at;
	/* The purge waits while held outcomes do. */
	if (q->rhead == NULL && (wake == 0 || q->purge_at < wake))
		wake = q->purge_at;
	return wake;
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	struct timespec ts;
	int64_t wake;
	size_t n, i, k;
	int exiting;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->head == NULL && !q->stop_writer &&
		       q->release == q->released) {
			if ((wake = writer_wake(q)) == 0) {
				pthread_cond_wait(&q->cv, &q->mu);
				continue;
			}
			if (wake <= clock_mono_ms())
				break;
			ts.tv_sec = wake / 1000;
			ts.tv_nsec = (wake % 1000) * 1000000;
			if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) ==
			    ETIMEDOUT)
				break;
		}
		for (n = 0; q->head != NULL && n < q->batch_max; n++) {
			q->batch[n] = q->head;
			q->head = q->head->next;
		}
		if (q->head == NULL)
			q->tail = NULL;
		exiting = q->stop_writer && q->head == NULL;
		q->released = q->release;
		pthread_mutex_unlock(&q->mu);
		/* While older outcomes wait for the store, newer ones queue
		 * behind them; sends go ahead. */
		for (i = k = 0; i < n; i++)
			if (q->rhead != NULL &&
			    q->batch[i]->kind == OP_OUTCOMES)
				retry_push(q, q->batch[i]);
			else
				q->batch[k++] = q->batch[i];
		if (k > 0)
			writer_batch(q, q->batch, k);
		retry_run(q, exiting);
		waiters_expire(q, clock_mono_ms(), exiting || q->released);
		if (exiting)
			break;
		purge_run(q);
	}
	return NULL;
}

/* Rebuilding the schedule: the pending recipients of one message (the
 * scan gives them together) make one job per destination, due at the
 * earliest of their next attempts. */
struct rebuild {
	struct delivery *engine;
	int64_t msg_id;
	struct delivery_job **jobs; /* of msg_id, one per domain */
	size_t n, cap;
	int64_t now;
	size_t nrcpts, njobs;
	int failed;
};

static void
rebuild_flush(struct rebuild *rb)
{
	for (size_t i = 0; i < rb->n; i++)
		delivery_submit(rb->engine, rb->jobs[i]);
	rb->njobs += rb->n;
	rb->n = 0;
}

/* The job of r's message and destination, made when new; NULL. */
static struct delivery_job *
rebuild_job(struct rebuild *rb, const struct pending_rcpt *r)
{
	struct delivery_job *j, **nv;
	const char *dom = rcpt_domain(r->address);

	if (r->msg_id != rb->msg_id) {
		rebuild_flush(rb);
		rb->msg_id = r->msg_id;
	}
	for (size_t i = 0; i < rb->n; i++)
		if (strcasecmp(rcpt_domain(rb->jobs[i]->rcpts[0].address),
		               dom) == 0)
			return rb->jobs[i];
	if (rb->n == rb->cap) {
		size_t cap = rb->cap ? rb->cap * 2 : 8;
		if ((nv = realloc(rb->jobs, cap * sizeof(*nv))) == NULL)
			return NULL;
		rb->jobs = nv;
		rb->cap = cap;
	}
	if ((j = delivery_job_new(r->msg_id, r->message_id, r->domain_id,
	                          r->created_ms, 1)) == NULL)
		return NULL;
	j->due_ms = 0;
	return rb->jobs[rb->n++] = j;
}

static int
rebuild_row(void *arg, const struct pending_rcpt *r)
{
	struct rebuild *rb = arg;
	struct delivery_job *j;
	int64_t due = r->state == RCPT_QUEUED ? rb->now : r->next_attempt;

	if ((j = rebuild_job(rb, r)) == NULL ||
	    delivery_job_add(j, r->rcpt_id, r->address, r->attempts) == -1) {
		rb->failed = 1;
		return -1;
	}
	if (j->due_ms == 0 || due < j->due_ms)
		j->due_ms = due;
	rb->nrcpts++;
	return 0;
}

struct queue *
queue_start(const struct config *cfg, char *err, size_t errlen)
{
	struct queue *q = NULL;
	struct rebuild rb;
	pthread_condattr_t ca;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		return NULL;
	}
	q->cfg = cfg;
	q->batch_max =
	    cfg->commit_batch > 0 ? (size_t)cfg->commit_batch : DEFAULT_BATCH;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((q->batch = calloc(q->batch_max, sizeof(*q->batch))) == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		goto fail;
	}
	if ((q->st = store_open(cfg->db_path, err, errlen)) == NULL)
		goto fail;
	if ((q->engine = delivery_new(cfg, queue_report, q, err, errlen)) ==
	    NULL)
		goto fail;
	memset(&rb, 0, sizeof(rb));
	rb.engine = q->engine;
	rb.now = clock_now_ms();
	if (store_pending_scan(q->st, rebuild_row, &rb) == -1 || rb.failed) {
		while (rb.n > 0)
			delivery_job_free(rb.jobs[--rb.n]);
		free(rb.jobs);
		snprintf(err, errlen, "queue: rebuilding the schedule: %s",
		         rb.failed ? "out of memory" : store_error(q->st));
		goto fail;
	}
	rebuild_flush(&rb);
	free(rb.jobs);
	q->purge_at = clock_mono_ms(); /* the first purge comes at once */
	if (rb.nrcpts > 0)
		log_info("queue: schedule rebuilt: %zu recipients in %zu jobs",
		         rb.nrcpts, rb.njobs);
	if (delivery_start(q->engine, err, errlen) == -1)
		goto fail;
	if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
		snprintf(err, errlen, "queue: cannot start the writer thread");
		goto fail;
	}
	q->writer_running = 1;
	return q;
fail:
	delivery_free(q->engine);
	store_close(q->st);
	free(q->batch);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
	return NULL;
}

/*
 * Refuse sends; stop the engine (its last reports are queued); let the
 * writer commit everything queued, answer every waiter with what it
 * knows, and exit.
 */
void
queue_release(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->release = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void
queue_stop(struct queue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_mutex_unlock(&q->mu);
	delivery_stop(q->engine);
	pthread_mutex_lock(&q->mu);
	q->stop_writer = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (q->writer_running)
		pthread_join(q->writer, NULL);
	delivery_free(q->engine);
	store_close(q->st);
	free(q->batch);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
