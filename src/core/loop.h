/*
 * loop: the one way pigeon's threads hand each other work. A loop is a
 * FIFO of closures {fn, arg}: any thread posts, and the loop's own
 * thread runs them, in the order posted. That thread is either a
 * libevent event_base (loop_attach: a post activates an event whose
 * callback runs everything waiting) or a plain thread that sleeps in
 * loop_wait() and runs closures with loop_run(), as many as it wants at
 * a time.
 *
 * It is not a thread pool (one consumer per loop) nor a timer: timers
 * stay on the event_base or in the waiting thread's deadline.
 */
#ifndef PIGEON_CORE_LOOP_H
#define PIGEON_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct loop;

typedef void loop_fn(void *arg);

struct loop *loop_new(void);
/* Closures still posted are dropped without running: close and drain
 * (loop_run) first when they own something. Accepts NULL. */
void loop_free(struct loop *l);

/*
 * Runs l's closures on base's thread from now on: a post activates an
 * event (base must have been made after evthread_use_pthreads()). Once
 * l is closed, the event runs what is left and breaks base's dispatch.
 * 0, or -1 on allocation failure.
 */
int loop_attach(struct loop *l, struct event_base *base);

/*
 * Queues fn(arg) to run on l's thread after every closure posted
 * before. Any thread. 0, or -1 when l is closed or memory is short:
 * then fn will not run and arg is still the caller's.
 */
int loop_post(struct loop *l, loop_fn *fn, void *arg);

/* Wakes l's thread with nothing posted (it has a flag to look at). */
void loop_wake(struct loop *l);

/*
 * A plain thread's sleep: returns when a closure is waiting, l is
 * closed, loop_wake was called since the last return, or
 * deadline_mono_ms (clock_mono_ms; 0 = none) has passed.
 */
void loop_wait(struct loop *l, int64_t deadline_mono_ms);

/* Runs at most max closures, oldest first, on the calling thread (l's
 * own); the number run. */
size_t loop_run(struct loop *l, size_t max);

/* Refuses posts from now on and wakes l's thread. Any thread. */
void loop_close(struct loop *l);
int loop_closed(struct loop *l);
/* Closed, and nothing left to run. */
int loop_done(struct loop *l);

#endif
