/*
 * queue: the writer thread and the waiters (see queue.h).
 *
 * queue_send() and queue_report() post a small operation to the
 * writer's loop (core/loop.h) and return. The writer thread takes every
 * operation waiting (at most commit_batch), runs them in one
 * transaction, commits, and only then answers: a failed statement or
 * COMMIT rolls the whole batch back and every send in it gets rc -1.
 * While one commit runs, new operations pile up for the next one (group
 * commit, no timer). What an operation does is a row of op_rows[]: its
 * apply() inside the transaction, its done() after the commit, and
 * whether it is ordered — outcome batches that fail to commit are held
 * and retried with backoff, in order, ahead of newer ones: a delivery
 * that happened is never forgotten while the process runs.
 *
 * A committed message goes to the owner (hooks.committed), which
 * schedules its delivery. A send with wait_ms > 0 leaves a waiter, owned
 * by the writer thread alone: it is answered when the committed outcomes
 * of every recipient's first attempt have come back, or when its
 * deadline passes, whichever comes first. So every callback runs on the
 * writer thread.
 *
 * An outcome batch writes, with each recipient's new state, its event
 * and automatic suppression (event.c), in the same savepoint: a failure
 * in any of them fails the batch, which is then held and retried like a
 * failed commit — an outcome is never committed without its event, nor
 * dropped for want of one.
 *
 * Between batches the writer runs the periodic tasks of task_rows[]
 * (the Idempotency-Key purge, the message purge of message_retention,
 * the purge of expired suppressions, the write of the daily sending
 * counts of SPEC §8.4 every second), each a bounded transaction so sends
 * never wait long behind it.
 *
 * A message sent without preview loses its body in the transaction that
 * makes its last recipient final: nothing can read it and nothing will
 * deliver it any more.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/config.h"
#include "../core/log.h"
#include "../core/loop.h"
#include "../core/metrics.h"
#include "../limits/limits.h"
#include "event.h"
#include "queue.h"
#include "tally.h"

#define DEFAULT_BATCH 512
#define WAIT_BUCKETS 1024 /* waiters hashed by message row id */

struct op;

/* How an operation ended: done()'s second argument. */
enum op_status {
	OP_COMMITTED,
	OP_REFUSED, /* the store refused this one alone; the rest committed */
	OP_FAILED,  /* the whole batch was rolled back */
};

/* A kind of writer operation. */
struct op_row {
	const char *name; /* in log lines */
	/* Inside the operation's own savepoint: 0; -1 refused (this one
	 * fails alone); -2 the batch must fail (and its ordered
	 * operations be retried). */
	int (*apply)(struct queue *, struct op *);
	/* After the commit; releases what op holds (not op itself). An
	 * ordered op that failed is held and retried instead: its done()
	 * sees OP_FAILED only when the writer exits. */
	void (*done)(struct queue *, struct op *, enum op_status);
	/* Retried in order, ahead of newer ones, when a commit fails. */
	int ordered;
};

struct op {
	const struct op_row *row;
	struct queue *q;
	struct op *next; /* while held for retry */
	int refused;
	/* message */
	struct store_msg *m; /* borrowed until cb */
	int wait_ms;
	queue_send_fn *cb;
	void *arg;
	/* outcomes */
	int64_t msg_id;
	struct store_outcome *outcomes; /* owned */
	size_t n;
	/* destination snapshot */
	struct store_dest dest; /* strings owned */
	int gone;
	/* claim: what was asked, what came (strings owned) */
	size_t limit;
	int64_t horizon, next_freed;
	struct pending_rcpt *rows;
	size_t nrows, caprows;
	queue_claim_fn *claim_fn;
	/* lease renewal: recipient row ids (owned) and the new end */
	int64_t *ids;
	int64_t until;
	/* findings of a report that came back (owned) */
	struct finding *findings;
	/* findings that made an event, by enum finding_kind */
	int found[FINDING_COMPLAINT + 1];
	queue_done_fn *done_fn;
};

/* A task the writer runs between batches (writer thread). */
struct task_row {
	const char *name;
	int64_t every_ms;
	/* One bounded step; the ms until the next (0: as soon as the
	 * operations waiting meanwhile are committed). */
	int64_t (*run)(struct queue *, const struct task_row *);
	/* for purge_run: deletes at most limit rows older than before_ms;
	 * rows go once keep_ms old; what goes, for the log line */
	int (*purge)(struct store *, int64_t before_ms, int limit);
	int64_t keep_ms;
	const char *what;
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

#define NTASKS 5
#define TASK_BACKOFF_MS 10000 /* tasks wait after a failed commit */

struct queue {
	const struct config *cfg;
	struct queue_hooks hooks;
	struct store *st; /* the write connection, writer thread only */
	struct loop *loop;
	size_t batch_max;
	pthread_t writer;
	int writer_running;
	atomic_int stopping; /* queue_send refuses */
	atomic_int release;  /* answer every send now, waiting for nothing */
	/* writer thread only */
	int released; /* release as the writer has seen it */
	struct op **batch;
	size_t nbatch;
	struct waiter *wbucket[WAIT_BUCKETS];
	struct waiter *whead, *wtail;
	/* Ordered operations whose commit failed, oldest first, retried in
	 * order before any newer ordered one so a recipient's state never
	 * goes back. */
	struct op *rhead, *rtail;
	int64_t retry_at;        /* monotonic ms */
	int64_t retry_delay;     /* ms, doubles while the store stays down */
	int64_t task_at[NTASKS]; /* monotonic ms: next run of each task */
	size_t purged[NTASKS];   /* rows deleted by each task's current purge */
	struct buf event;        /* an event's payload while it is written */
	int64_t req_last;        /* the last operator request read */
	/* SPEC §8.4: the daily counts to write (queue_set_limits) */
	_Atomic(struct limits *) limits;
};

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 10000
#define PURGE_EVERY_MS (60 * 60 * 1000)
#define PURGE_RETRY_MS (60 * 1000)
#define PURGE_BATCH 1000 /* records per transaction */
#define MSG_PURGE_EVERY_MS (10 * 60 * 1000)
#define MSG_PURGE_BATCH 1000 /* messages per transaction */
#define USAGE_EVERY_MS 1000

static int message_apply(struct queue *, struct op *);
static void message_done(struct queue *, struct op *, enum op_status);
static int outcomes_apply(struct queue *, struct op *);
static void outcomes_done(struct queue *, struct op *, enum op_status);
static int requests_apply(struct queue *, struct op *);
static int dest_apply(struct queue *, struct op *);
static void plain_done(struct queue *, struct op *, enum op_status);
static int claim_apply(struct queue *, struct op *);
static void claim_done(struct queue *, struct op *, enum op_status);
static int renew_apply(struct queue *, struct op *);
static void renew_done(struct queue *, struct op *, enum op_status);
static int findings_apply(struct queue *, struct op *);
static void findings_done(struct queue *, struct op *, enum op_status);
static int64_t purge_run(struct queue *, const struct task_row *);
static int64_t msg_purge_run(struct queue *, const struct task_row *);
static int64_t depth_run(struct queue *, const struct task_row *);
static int64_t usage_run(struct queue *, const struct task_row *);

enum {
	OP_MESSAGE,
	OP_OUTCOMES,
	OP_REQUESTS,
	OP_DEST,
	OP_CLAIM,
	OP_RENEW,
	OP_FINDINGS
};

static const struct op_row op_rows[] = {
    [OP_MESSAGE] = {"message", message_apply, message_done, 0},
    [OP_OUTCOMES] = {"outcome batch", outcomes_apply, outcomes_done, 1},
    [OP_REQUESTS] = {"operator requests", requests_apply, plain_done, 0},
    [OP_DEST] = {"destination snapshot", dest_apply, plain_done, 0},
    [OP_CLAIM] = {"claim of due recipients", claim_apply, claim_done, 0},
    [OP_RENEW] = {"lease renewal", renew_apply, renew_done, 0},
    [OP_FINDINGS] = {"report findings", findings_apply, findings_done, 0},
};

static const struct task_row task_rows[NTASKS] = {
    {"idempotency purge", PURGE_EVERY_MS, purge_run, store_idem_purge,
     STORE_IDEM_TTL_MS, "idempotency keys older than 24 h"},
    {"message purge", MSG_PURGE_EVERY_MS, msg_purge_run},
    /* an expired entry suppresses nothing (SPEC §8.1) */
    {"suppression purge", PURGE_EVERY_MS, purge_run, store_suppression_purge, 0,
     "expired suppressions"},
    /* pigeon_queue_depth, from the store (queue/tally.c) */
    {"queue depth", 0, depth_run},
    /* SPEC §8.4: a crash loses at most the last second's counts */
    {"usage flush", USAGE_EVERY_MS, usage_run},
};

/* The writer's loop closure: the op joins the batch being gathered
 * (loop_run takes at most batch_max). */
static void
op_take(void *arg)
{
	struct op *op = arg;

	op->q->batch[op->q->nbatch++] = op;
}

int
queue_send(struct queue *q, struct store_msg *m, int wait_ms, queue_send_fn *cb,
           void *arg)
{
	struct op *op;

	if (atomic_load(&q->stopping))
		return -1;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	op->row = &op_rows[OP_MESSAGE];
	op->q = q;
	op->m = m;
	op->wait_ms = wait_ms;
	op->cb = cb;
	op->arg = arg;
	/* closed only once stopping: a send that gets in is drained */
	if (loop_post(q->loop, op_take, op) == -1) {
		free(op);
		return -1;
	}
	return 0;
}

static void
outcomes_free(struct store_outcome *o, size_t n)
{
	for (size_t i = 0; o != NULL && i < n; i++)
		free((char *)o[i].reply);
	free(o);
}

int
queue_report(struct queue *q, int64_t msg_id, struct store_outcome *outcomes,
             size_t n)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) != NULL) {
		op->row = &op_rows[OP_OUTCOMES];
		op->q = q;
		op->msg_id = msg_id;
		op->outcomes = outcomes;
		op->n = n;
		if (loop_post(q->loop, op_take, op) == 0)
			return 0;
		free(op);
	}
	/* The recipients keep their stored state: tried again after a
	 * restart. */
	log_warnx("queue: outcomes of msg %lld not stored (%s); they will "
	          "be retried after a restart",
	          (long long)msg_id,
	          loop_closed(q->loop) ? "the writer has stopped"
	                               : "out of memory");
	outcomes_free(outcomes, n);
	return -1;
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
waiter_resolve(struct queue *q, int64_t msg_id,
               const struct store_outcome *outcomes, size_t n)
{
	struct waiter *w = *waiter_slot(q, msg_id);

	if (w == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct store_outcome *o = &outcomes[i];

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

/* Without preview, a message whose recipients are all final keeps no
 * body (store_message_body_drop). Not worth refusing the operation
 * for: the message purge takes the body later with the rest. */
static void
body_drop(struct queue *q, int64_t msg_id)
{
	if (store_message_body_drop(q->st, msg_id) == -1)
		log_warnx("queue: msg %lld: body kept: %s", (long long)msg_id,
		          store_error(q->st));
}

static int
message_apply(struct queue *q, struct op *op)
{
	struct store_msg *m = op->m;
	size_t i;

	if (store_message_insert(q->st, m) != 0)
		return -1;
	/* every recipient suppressed: final already */
	for (i = 0; i < m->nrcpts && m->rcpts[i].state != RCPT_QUEUED; i++)
		;
	if (!m->preview && i == m->nrcpts)
		body_drop(q, m->id);
	return 0;
}

/*
 * op's message is committed: hand its deliverable recipients to the
 * owner, and answer now or leave a waiter.
 */
static void
message_done(struct queue *q, struct op *op, enum op_status status)
{
	struct store_msg *m = op->m;
	struct waiter *w = NULL;
	enum rcpt_state *states;
	size_t deliverable = 0;
	int scheduled = 0;

	if (status != OP_COMMITTED) {
		op->cb(op->arg, -1, NULL);
		return;
	}
	tally_message(m);
	if ((states = calloc(m->nrcpts ? m->nrcpts : 1, sizeof(*states))) ==
	    NULL) {
		/* committed but unanswerable: the caller must still hear */
		char msg[LOG_VALUE_LEN(998)];

		log_warnx("queue: msg=%s: out of memory answering a send",
		          log_value(m->message_id, msg, sizeof(msg)));
		op->cb(op->arg, 0, NULL);
		return;
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		states[i] = m->rcpts[i].state;
		if (states[i] == RCPT_QUEUED)
			deliverable++;
	}
	if (deliverable > 0)
		scheduled = q->hooks.committed(q->hooks.arg, m) == 0;
	if (scheduled && op->wait_ms > 0 && !q->released)
		w = calloc(1, sizeof(*w));
	if (w == NULL) {
		op->cb(op->arg, 0, states);
		free(states);
		return;
	}
	w->m = m;
	w->cb = op->cb;
	w->arg = op->arg;
	w->states = states;
	w->pending = deliverable;
	w->deadline = clock_mono_ms() + op->wait_ms;
	waiter_add(q, w);
}

int
queue_outcomes_write(struct store *st, int64_t msg_id,
                     const struct store_outcome *o, size_t n,
                     struct buf *scratch, size_t *applied)
{
	struct msg_info mi;
	int final = 1, found, rc;
	size_t done = 0;

	if ((found = store_message_info(st, msg_id, &mi)) == -1)
		return -1;
	for (size_t k = 0; k < n; k++) {
		if ((rc = store_outcome_apply(st, &o[k])) == -1 ||
		    (rc == 0 && found == 0 &&
		     event_record(st, &mi, &o[k], scratch) != 0)) {
			msg_info_clear(&mi);
			return -1;
		}
		done += rc == 0;
		if (o[k].state == RCPT_QUEUED || o[k].state == RCPT_DEFERRED)
			final = 0;
	}
	msg_info_clear(&mi);
	if (applied != NULL)
		*applied = done;
	/* The message's other recipients, in other jobs, may still be
	 * pending: the store checks them all. Without preview, a message
	 * whose recipients are all final keeps no body
	 * (store_message_body_drop); not worth failing for: the message
	 * purge takes it later with the rest. */
	if (final && store_message_body_drop(st, msg_id) == -1)
		log_warnx("queue: msg %lld: body kept: %s", (long long)msg_id,
		          store_error(st));
	return 0;
}

/*
 * Each outcome with its event and suppression, all or none: a failure
 * fails the batch (-2), which is retried, so no outcome is lost for its
 * event. A message that is gone (dropped meanwhile) has no row to
 * update and gets no event; nor does a recipient the operator made
 * final while its attempt was in flight (pigeon queue drop).
 */
static int
outcomes_apply(struct queue *q, struct op *op)
{
	return queue_outcomes_write(q->st, op->msg_id, op->outcomes, op->n,
	                            &q->event, NULL) == 0
	           ? 0
	           : -2;
}

static void
outcomes_done(struct queue *q, struct op *op, enum op_status status)
{
	if (status == OP_COMMITTED) {
		tally_outcomes(op->outcomes, op->n);
		waiter_resolve(q, op->msg_id, op->outcomes, op->n);
	} else if (status == OP_FAILED)
		/* only at exit: held batches are retried until then */
		log_warnx("queue: outcomes of msg %lld not stored; "
		          "they will be retried after a restart",
		          (long long)op->msg_id);
	/* never OP_REFUSED: outcomes_apply fails the batch instead */
	outcomes_free(op->outcomes, op->n);
	op->outcomes = NULL;
}

static int
request_one(void *arg, const struct queue_req *r)
{
	struct queue *q = arg;

	q->req_last = r->id;
	if (q->hooks.request != NULL)
		q->hooks.request(q->hooks.arg, r);
	return 0;
}

/* A read: the requests written since the last one seen. */
static int
requests_apply(struct queue *q, struct op *op)
{
	(void)op;
	return store_requests_after(q->st, q->req_last, request_one, q);
}

static int
dest_apply(struct queue *q, struct op *op)
{
	if (op->gone)
		return store_dest_del(q->st, op->dest.route, op->dest.domain);
	return store_dest_put(q->st, &op->dest);
}

static void
plain_done(struct queue *q, struct op *op, enum op_status status)
{
	(void)q;
	(void)status;
	free(op->dest.domain);
	free(op->dest.reply);
}

static void
op_post(struct queue *q, struct op *op)
{
	op->q = q;
	if (loop_post(q->loop, op_take, op) == -1) {
		log_warnx("queue: %s not done: the writer has stopped",
		          op->row->name);
		plain_done(q, op, OP_FAILED);
		free(op);
	}
}

void
queue_reconcile(struct queue *q)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		log_warnx("queue: out of memory reading operator requests");
		return;
	}
	op->row = &op_rows[OP_REQUESTS];
	op_post(q, op);
}

static void
rows_free(struct op *op)
{
	for (size_t i = 0; i < op->nrows; i++) {
		free(op->rows[i].message_id);
		free(op->rows[i].address);
		free(op->rows[i].domain_id);
	}
	free(op->rows);
	op->rows = NULL;
	op->nrows = op->caprows = 0;
}

/* A claimed recipient, copied: the claim is answered after the commit. */
static int
claim_row(void *arg, const struct pending_rcpt *r)
{
	struct op *op = arg;
	struct pending_rcpt *c, *nv;

	if (op->nrows == op->caprows) {
		size_t cap = op->caprows ? op->caprows * 2 : 64;

		if ((nv = realloc(op->rows, cap * sizeof(*nv))) == NULL)
			return -1;
		op->rows = nv;
		op->caprows = cap;
	}
	c = &op->rows[op->nrows];
	*c = *r;
	c->message_id = strdup(r->message_id != NULL ? r->message_id : "");
	c->address = strdup(r->address != NULL ? r->address : "");
	c->domain_id = r->domain_id != NULL ? strdup(r->domain_id) : NULL;
	op->nrows++;
	if (c->message_id == NULL || c->address == NULL ||
	    (r->domain_id != NULL && c->domain_id == NULL))
		return -1;
	return 0;
}

static int
claim_apply(struct queue *q, struct op *op)
{
	rows_free(op);
	return store_lease_claim(q->st, clock_now_ms(), op->horizon, op->limit,
	                         claim_row, op, &op->next_freed) < 0
	           ? -1
	           : 0;
}

/* After the commit the leases are the engine's: the rows go to it. */
static void
claim_done(struct queue *q, struct op *op, enum op_status status)
{
	(void)q;
	if (status == OP_COMMITTED)
		op->claim_fn(op->arg, op->rows, (int)op->nrows, op->next_freed);
	else
		op->claim_fn(op->arg, NULL, -1, 0);
	rows_free(op);
}

int
queue_claim(struct queue *q, size_t limit, int64_t horizon, queue_claim_fn *fn,
            void *arg)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	op->row = &op_rows[OP_CLAIM];
	op->q = q;
	op->limit = limit;
	op->horizon = horizon;
	op->claim_fn = fn;
	op->arg = arg;
	if (loop_post(q->loop, op_take, op) == -1) {
		free(op);
		return -1;
	}
	return 0;
}

static int
renew_apply(struct queue *q, struct op *op)
{
	return store_lease_renew(q->st, op->ids, op->n, op->until);
}

static void
renew_done(struct queue *q, struct op *op, enum op_status status)
{
	(void)q;
	if (status != OP_COMMITTED)
		log_warnx("queue: %zu leases not renewed; another node may "
		          "take their recipients when they run out",
		          op->n);
	free(op->ids);
}

void
queue_lease_renew(struct queue *q, int64_t *ids, size_t n, int64_t until)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		log_warnx("queue: out of memory renewing %zu leases", n);
		free(ids);
		return;
	}
	op->row = &op_rows[OP_RENEW];
	op->ids = ids;
	op->n = n;
	op->until = until;
	op->q = q;
	if (loop_post(q->loop, op_take, op) == -1) {
		free(ids);
		free(op);
	}
}

/* All of a report's findings, or none (the sender is told 451 and sends
 * it again). */
static int
findings_apply(struct queue *q, struct op *op)
{
	int64_t now = clock_now_ms();
	int rc;

	for (size_t i = 0; i < op->n; i++) {
		if ((rc = event_finding(q->st, &op->findings[i], &q->event,
		                        now)) == -1)
			return -1;
		op->found[op->findings[i].kind] += rc == 1;
	}
	return 0;
}

static void
findings_done(struct queue *q, struct op *op, enum op_status status)
{
	(void)q;
	if (status == OP_COMMITTED)
		tally_findings(op->found[FINDING_FAILED],
		               op->found[FINDING_COMPLAINT]);
	op->done_fn(op->arg, status == OP_COMMITTED);
	free(op->findings);
}

int
queue_findings(struct queue *q, const struct finding *f, size_t n,
               queue_done_fn *done, void *arg)
{
	struct op *op;

	if (atomic_load(&q->stopping) || (op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	if (n > 0 && (op->findings = calloc(n, sizeof(*f))) == NULL) {
		free(op);
		return -1;
	}
	if (n > 0)
		memcpy(op->findings, f, n * sizeof(*f));
	op->row = &op_rows[OP_FINDINGS];
	op->q = q;
	op->n = n;
	op->done_fn = done;
	op->arg = arg;
	if (loop_post(q->loop, op_take, op) == -1) {
		free(op->findings);
		free(op);
		return -1;
	}
	return 0;
}

void
queue_dest_report(struct queue *q, const struct store_dest *d, int gone)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL ||
	    (op->dest.domain = strdup(d->domain)) == NULL ||
	    (d->reply != NULL && (op->dest.reply = strdup(d->reply)) == NULL)) {
		if (op != NULL)
			free(op->dest.domain);
		free(op);
		log_warnx("queue: out of memory recording a destination");
		return;
	}
	op->row = &op_rows[OP_DEST];
	memcpy(op->dest.route, d->route, sizeof(op->dest.route));
	op->dest.cap = d->cap;
	op->dest.full = d->full;
	op->dest.paused_until = d->paused_until;
	op->dest.throttled_at = d->throttled_at;
	op->gone = gone;
	op_post(q, op);
}

/*
 * Runs one operation inside the batch's transaction, in a savepoint of
 * its own, so that an operation the store refuses (a constraint, a
 * vanished domain) fails alone. 0 done; -1 this operation failed; -2 the
 * transaction itself is broken, or the operation wants the batch failed.
 */
static int
writer_op(struct queue *q, struct op *op)
{
	int rc;

	if (store_op_begin(q->st) == -1)
		return -2;
	if ((rc = op->row->apply(q, op)) == -1)
		log_warnx("queue: %s refused by the store: %s", op->row->name,
		          store_error(q->st));
	if (store_op_end(q->st, rc == 0) == -1)
		return -2;
	return rc;
}

/* Holds an ordered operation behind the ones waiting for the store. */
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

/* One group commit: everything in ops, or nothing. */
static void
writer_batch(struct queue *q, struct op **ops, size_t n)
{
	struct op *failed = NULL, *flast = NULL;
	int64_t t0 = metrics_now_us(); /* pigeon_store_commit_duration */
	int ok, rc;

	ok = store_begin(q->st) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		if ((rc = writer_op(q, ops[i])) == -2)
			ok = 0;
		ops[i]->refused = rc == -1;
	}
	if (ok && (ok = store_commit(q->st) == 0))
		metric_observe_us(&metrics.commit, metrics_now_us() - t0);
	if (!ok) {
		log_warnx("queue: group commit of %zu operations failed, "
		          "rolled back: %s",
		          n, store_error(q->st));
		store_rollback(q->st);
		/* The store is failing: the periodic tasks, which would wait
		 * out its busy timeout too, give way to the sends. */
		for (size_t i = 0; i < NTASKS; i++)
			if (q->task_at[i] < clock_mono_ms() + TASK_BACKOFF_MS)
				q->task_at[i] =
				    clock_mono_ms() + TASK_BACKOFF_MS;
	}
	for (size_t i = 0; i < n; i++) {
		struct op *op = ops[i];

		if (!ok && op->row->ordered) {
			/* Kept, in order, for retry_run(). */
			op->next = NULL;
			if (flast != NULL)
				flast->next = op;
			else
				failed = op;
			flast = op;
			continue;
		}
		op->row->done(q, op,
		              !ok           ? OP_FAILED
		              : op->refused ? OP_REFUSED
		                            : OP_COMMITTED);
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
 * Commits the held operations, oldest first, when their time has come
 * (or, when exiting, one last time). What still fails at exit ends with
 * done(OP_FAILED): for outcomes, the store keeps the recipients'
 * previous state, so they are tried again after a restart (at least
 * once, never lost).
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
			op->row->done(q, op, OP_FAILED);
			free(op);
		}
		q->rtail = NULL;
	}
}

/*
 * One batch of a purge task (t->purge: Idempotency-Key records older
 * than 24 h, expired suppressions); a full batch leaves the purge due,
 * so the next one follows once the sends waiting meanwhile are
 * committed. One line at the end of a purge that deleted something.
 */
static int64_t
purge_run(struct queue *q, const struct task_row *t)
{
	size_t *purged = &q->purged[t - task_rows];
	int n = -1;

	if (store_begin(q->st) == 0) {
		n = t->purge(q->st, clock_now_ms() - t->keep_ms, PURGE_BATCH);
		if (n < 0 || store_commit(q->st) != 0)
			n = -1;
	}
	if (n < 0) {
		log_warnx("queue: purging %s failed, retrying in a minute: %s",
		          t->what, store_error(q->st));
		store_rollback(q->st);
		return PURGE_RETRY_MS;
	}
	*purged += (size_t)n;
	if (n == PURGE_BATCH)
		return 0;
	if (*purged > 0)
		log_info("queue: purged %zu %s", *purged, t->what);
	*purged = 0;
	return t->every_ms;
}

/* "store 12.3 MiB, 0.4 MiB free", or why the size is unknown. */
static const char *
store_size_str(struct queue *q, char *out, size_t outlen)
{
	int64_t bytes, free_bytes;

	if (store_size(q->st, &bytes, &free_bytes) == -1)
		snprintf(out, outlen, "store size unknown: %s",
		         store_error(q->st));
	else
		snprintf(out, outlen, "store %.1f MiB, %.1f MiB free",
		         (double)bytes / (1024 * 1024),
		         (double)free_bytes / (1024 * 1024));
	return out;
}

/*
 * message_retention: deletes one batch of the messages past it whose
 * recipients are all final, with their recipients and events
 * (store_message_purge);
 * a full batch leaves the purge due, like the Idempotency-Key purge. One
 * line when a purge deleted something. SQLite puts the freed pages on
 * its free list and reuses them: the file stops growing, it does not
 * shrink.
 */
static int64_t
msg_purge_run(struct queue *q, const struct task_row *t)
{
	int64_t before = clock_now_ms() - q->cfg->message_retention * 1000;
	size_t *purged = &q->purged[t - task_rows];
	char keep[32], size[560];
	int n = -1;

	if (store_begin(q->st) == 0) {
		n = store_message_purge(q->st, before, MSG_PURGE_BATCH);
		if (n < 0 || store_commit(q->st) != 0)
			n = -1;
	}
	config_fmt_secs(q->cfg->message_retention, keep, sizeof(keep));
	if (n < 0) {
		log_warnx("queue: purging messages older than %s failed, "
		          "retrying in a minute: %s",
		          keep, store_error(q->st));
		store_rollback(q->st);
		return PURGE_RETRY_MS;
	}
	*purged += (size_t)n;
	if (n == MSG_PURGE_BATCH)
		return 0;
	if (*purged > 0)
		log_info("queue: purged %zu message%s older than %s; %s",
		         *purged, *purged == 1 ? "" : "s", keep,
		         store_size_str(q, size, sizeof(size)));
	*purged = 0;
	return t->every_ms;
}

/* The daily quota's counts that changed (SPEC §8.4), written in a
 * transaction of their own; kept to write again when it fails. */
static int64_t
usage_run(struct queue *q, const struct task_row *t)
{
	struct limits *lim = atomic_load(&q->limits);

	if (lim != NULL && limits_flush(lim, q->st, clock_now_ms()) == -1)
		log_warnx("queue: writing the daily sending counts failed, "
		          "retrying in a second: %s",
		          store_error(q->st));
	return t->every_ms;
}

/* The tasks that are due; they wait while held outcomes do (the store
 * is failing). */
static void
tasks_run(struct queue *q)
{
	int64_t after;

	if (q->rhead != NULL)
		return;
	for (size_t i = 0; i < NTASKS; i++) {
		if (clock_mono_ms() < q->task_at[i])
			continue;
		after = task_rows[i].run(q, &task_rows[i]);
		q->task_at[i] = clock_mono_ms() + after;
	}
}

static int64_t
depth_run(struct queue *q, const struct task_row *t)
{
	(void)t;
	return tally_depth(q->st);
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
	/* The tasks wait while held outcomes do. */
	for (size_t i = 0; q->rhead == NULL && i < NTASKS; i++)
		if (wake == 0 || q->task_at[i] < wake)
			wake = q->task_at[i];
	return wake;
}

/* Stopping, the engine stopped: what it held is free for other nodes
 * now, not when the leases run out. */
static void
leases_end(struct queue *q)
{
	int n = -1;

	if (store_begin(q->st) == 0) {
		n = store_lease_release(q->st);
		if (n < 0 || store_commit(q->st) != 0)
			n = -1;
	}
	if (n < 0) {
		store_rollback(q->st);
		log_warnx("queue: this node's leases were not ended: %s; "
		          "other nodes take its recipients when they run out",
		          store_error(q->st));
	} else if (n > 0)
		log_info("queue: %d recipients this node held are free for "
		         "other nodes",
		         n);
}

static void *
writer_main(void *arg)
{
	struct queue *q = arg;
	size_t i, k;
	int exiting;

	for (;;) {
		loop_wait(q->loop, writer_wake(q));
		q->nbatch = 0;
		loop_run(q->loop, q->batch_max);
		exiting = loop_done(q->loop);
		q->released = atomic_load(&q->release);
		/* While older ordered operations wait for the store, newer
		 * ones queue behind them; the others go ahead. */
		for (i = k = 0; i < q->nbatch; i++)
			if (q->rhead != NULL && q->batch[i]->row->ordered)
				retry_push(q, q->batch[i]);
			else
				q->batch[k++] = q->batch[i];
		if (k > 0)
			writer_batch(q, q->batch, k);
		retry_run(q, exiting);
		waiters_expire(q, clock_mono_ms(), exiting || q->released);
		if (exiting) {
			leases_end(q);
			/* the counts of the sends just answered */
			usage_run(q, &task_rows[NTASKS - 1]);
			break;
		}
		tasks_run(q);
	}
	return NULL;
}

struct queue *
queue_new(const struct config *cfg, const struct queue_hooks *hooks, char *err,
          size_t errlen)
{
	struct queue *q = NULL;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		return NULL;
	}
	q->cfg = cfg;
	q->hooks = *hooks;
	buf_init(&q->event, EVENT_PAYLOAD_MAX);
	q->batch_max =
	    cfg->commit_batch > 0 ? (size_t)cfg->commit_batch : DEFAULT_BATCH;
	if ((q->batch = calloc(q->batch_max, sizeof(*q->batch))) == NULL ||
	    (q->loop = loop_new()) == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		goto fail;
	}
	if ((q->st = store_open(cfg->db_path, err, errlen)) == NULL)
		goto fail;
	store_lease_set(q->st,
	                cfg->node_id != NULL && cfg->node_id[0] != '\0'
	                    ? cfg->node_id
	                    : "local",
	                cfg->queue_lease > 0 ? cfg->queue_lease : 300000);
	return q;
fail:
	loop_free(q->loop);
	free(q->batch);
	free(q);
	return NULL;
}

int
queue_start(struct queue *q, char *err, size_t errlen)
{
	char keep[32], size[560], path[LOG_VALUE_LEN(256)];
	int freed;

	/* The destinations snapshot is the engine's memory: a new engine
	 * starts with none. Requests written before now are met by the
	 * rebuild from the store. */
	if (store_dest_del(q->st, NULL, NULL) == -1 ||
	    store_request_last(q->st, &q->req_last) == -1) {
		snprintf(err, errlen, "queue: %s", store_error(q->st));
		return -1;
	}
	/* What this node held at its last stop is free again: tried at
	 * once, not when the leases run out. */
	if ((freed = store_lease_release(q->st)) < 0) {
		snprintf(err, errlen, "queue: %s", store_error(q->st));
		return -1;
	}
	if (freed > 0)
		log_info("queue: %d recipients held by node %s at its last "
		         "stop are due again",
		         freed, q->cfg->node_id);
	if (q->hooks.start(q->hooks.arg, err, errlen) == -1)
		return -1;
	config_fmt_secs(q->cfg->message_retention, keep, sizeof(keep));
	log_info("queue: %s at %s; messages kept %s once final",
	         store_size_str(q, size, sizeof(size)),
	         log_value(q->cfg->db_path, path, sizeof(path)), keep);
	/* every task comes at once */
	for (size_t i = 0; i < NTASKS; i++)
		q->task_at[i] = clock_mono_ms();
	if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
		snprintf(err, errlen, "queue: cannot start the writer thread");
		return -1;
	}
	q->writer_running = 1;
	return 0;
}

void
queue_set_limits(struct queue *q, struct limits *lim)
{
	atomic_store(&q->limits, lim);
}

/* Answers every waiter now and every later send at its commit. */
void
queue_release(struct queue *q)
{
	atomic_store(&q->release, 1);
	loop_wake(q->loop);
}

/*
 * Refuse sends; stop delivery (its last reports are posted); let the
 * writer commit everything posted, answer every waiter with what it
 * knows, and exit.
 */
void
queue_stop(struct queue *q)
{
	if (q == NULL)
		return;
	atomic_store(&q->stopping, 1);
	q->hooks.stop(q->hooks.arg);
	loop_close(q->loop);
	if (q->writer_running)
		pthread_join(q->writer, NULL);
	else
		writer_main(q); /* never started: the same drain, here */
	if (q->hooks.done != NULL)
		q->hooks.done(q->hooks.arg);
	store_close(q->st);
	loop_free(q->loop);
	buf_clear(&q->event);
	free(q->batch);
	free(q);
}
