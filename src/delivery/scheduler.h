/*
 * scheduler: the delivery jobs, their timers, and one queue per
 * destination with a connection cap. A job is one message and one
 * destination domain: the recipients one SMTP transaction carries
 * (SPEC §6.3). Its destination is (route, recipient domain), or the
 * route's one destination when it has one (a relay); a due job
 * goes into its route only while fewer than the route's max_conns jobs
 * of that destination are in it, else it waits in the destination's
 * queue, oldest first, and starts when one of them finishes.
 *
 * The scheduler runs on the engine thread and owns the jobs it holds.
 * It does not decide what an answer means (deliver.c) nor which route
 * a domain takes (routes.c); it neither reads nor writes the store. The
 * job builders (sched_job_*, sched_jobs_of, sched_jobs_from_rows) run on
 * any thread.
 */
#ifndef PIGEON_DELIVERY_SCHEDULER_H
#define PIGEON_DELIVERY_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "route.h"

struct sched_rcpt {
	int64_t id;    /* recipients row id */
	char *address; /* envelope form, owned */
	int attempts;  /* attempts made before this one */
	/* the route's answer to this attempt */
	enum route_class cls;
	int code;          /* SMTP reply code, 0 when none */
	char enhanced[16]; /* "4.3.0", "" when none */
	char reply[256];   /* full reply line, "" when none */
};

struct sched_dest;

/* One message and the recipients of one domain, due together. */
struct sched_job {
	int64_t msg_id;   /* messages row id */
	char *message_id; /* "<…>", for log lines */
	char *domain_id;  /* sending domain, may be NULL */
	int64_t created_ms;
	int64_t due_ms; /* wall clock, when to try */
	char *domain;   /* the recipients' domain, from the first one */
	struct sched_rcpt *rcpts;
	size_t nrcpts, cap;
	struct route *route; /* set by the owner before sched_add */
	void *owner;         /* the owner's, untouched here */
	int64_t started_ms;  /* when the route took it */
	/* wall clock ms: when its recipients' leases run out (SPEC §6.3
	 * shared queue); sched_lease_due renews them */
	int64_t lease_until;
	/* the message as delivered, handed over with a new message for its
	 * first attempt (a route that sends it takes it); NULL: the route
	 * reads it from the store */
	struct store_msg_load *msg;
	/* set by an SMTP route for the log line: "host[ip]:port" and the
	 * TLS version ("none" in plaintext); "" otherwise */
	char relay[300];
	char tls[16];
	/* scheduler state */
	struct sched *sched;
	struct sched_dest *dest;
	struct event *timer;
	int state;
	int dropped; /* by the operator while in its route: freed after */
	size_t held; /* recipients counted in the scheduler's sched_held */
	struct sched_job *prev, *next; /* every job of the scheduler */
	struct sched_job *wnext;       /* the destination's queue */
};

/* A job for msg with room for n recipients (it grows); NULL on
 * allocation failure. Strings are copied. */
struct sched_job *sched_job_new(int64_t msg_id, const char *message_id,
                                const char *domain_id, int64_t created_ms,
                                size_t n);
/* Appends a recipient (address copied); -1 on allocation failure. */
int sched_job_add(struct sched_job *j, int64_t rcpt_id, const char *address,
                  int attempts);
void sched_job_free(struct sched_job *j); /* accepts NULL */

/*
 * SPEC §6.3: one job per (message, destination domain). The jobs of m's
 * RCPT_QUEUED recipients, due now, in jobs[] (room for m->nrcpts);
 * their number, or -1 when one could not be made. Each carries a copy
 * of the message (j->msg) when m names its domain and is at most
 * SCHED_HANDOVER_MAX bytes.
 */
#define SCHED_HANDOVER_MAX (64 * 1024)
int sched_jobs_of(const struct store_msg *m, struct sched_job **jobs);

typedef void sched_job_fn(void *arg, struct sched_job *j);

/*
 * Recipients claimed from the store (store_lease_claim's rows, a
 * message's together) become jobs, one per (message, domain), due at
 * the earliest next attempt of their recipients. Each job goes to
 * fn(arg, job), which takes it; *njobs how many. 0, or -1 when memory
 * ran out (the rows not made into jobs wait for their leases to run
 * out).
 */
int sched_jobs_from_rows(const struct pending_rcpt *rows, size_t n,
                         sched_job_fn *fn, void *arg, size_t *njobs);

/* The route has answered for every recipient of j; the owner calls
 * sched_finish(). Engine thread. */
typedef void sched_done_fn(void *arg, struct sched_job *j);

struct sched *sched_new(struct event_base *base, sched_done_fn *done,
                        void *arg);
/* Frees every job held, waiting or in a route: free the routes first
 * (they borrow jobs). Accepts NULL. */
void sched_free(struct sched *s);
/* Takes j (j->route set) and runs it at j->due_ms, cap permitting. */
void sched_add(struct sched *s, struct sched_job *j);
/* The jobs in flight in draining routes have finished (n: 0). */
typedef void sched_drained_fn(void *arg, int n);
/* Stopping: no job starts from now on; fn(arg, 0) runs (at once, or when
 * the last one ends) once no job is in a route that drains. Engine
 * thread. */
void sched_drain(struct sched *s, sched_drained_fn *fn, void *arg);
/* Jobs in a route that drains, now. */
int sched_inflight(const struct sched *s);
/* Recipients in the jobs held, waiting or in a route. */
size_t sched_held(const struct sched *s);
/* The recipient row ids of the jobs whose leases run out before
 * `before` (wall clock ms), in a malloc'd array of *n (NULL when none,
 * or memory ran out); those jobs' leases are counted as lasting until
 * `until` from now on: the caller renews them in the store. */
int64_t *sched_lease_due(struct sched *s, int64_t before, int64_t until,
                         size_t *n);

/* sched_health() values (deliver_health's). */
enum { SCHED_NONE, SCHED_OK, SCHED_THROTTLED };
/*
 * SPEC §6.3 destination health, after done and before sched_finish: a
 * throttled answer (why: its reply) halves j's destination's cap (not
 * below 1) and pauses it, base_ms doubled for each throttle in a row up
 * to max_ms; a success gives it one connection back, up to the route's
 * max_conns. Both are logged.
 */
void sched_health(struct sched *s, struct sched_job *j, int health,
                  const char *why, int64_t base_ms, int64_t max_ms);
/* After done: j leaves its route, and the next job waiting for its
 * destination starts. due_ms 0 frees j; else j runs again then. */
void sched_finish(struct sched *s, struct sched_job *j, int64_t due_ms);

/*
 * A throttled destination's state changed (SPEC §6.3): d is its snapshot
 * (borrowed for the call), gone when it is no longer throttled
 * (recovered, resumed or forgotten). Engine thread.
 */
typedef void sched_dest_fn(void *arg, const struct store_dest *d, int gone);
void sched_on_dest(struct sched *s, sched_dest_fn *fn, void *arg);

/*
 * pigeon queue (SPEC §9), engine thread. sched_retry: the jobs of
 * message row msg_id (0: every job) waiting for a later attempt become
 * due now; a job in its route is left to finish. Returns how many.
 * sched_drop: the jobs of msg_id are forgotten; one in its route
 * finishes its attempt and is freed then (the store keeps its
 * recipients' dropped state). Returns how many.
 * sched_resume: every destination of domain (any route), or of
 * "route:domain", gets its full cap back, unpaused, and its jobs
 * become due now. Returns how many destinations.
 */
int sched_retry(struct sched *s, int64_t msg_id);
int sched_drop(struct sched *s, int64_t msg_id);
int sched_resume(struct sched *s, const char *destination);

#endif
