/*
 * loop: a mutex-protected FIFO of closures with two ways to wake its
 * consumer (see loop.h).
 *
 * Nodes come from a small freelist under the same mutex, so a steady
 * stream of posts allocates nothing once warm. Closures run outside the
 * mutex: a closure may post to its own loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "loop.h"

#define LOOP_FREE_MAX 1024 /* nodes kept for reuse */

struct loop_node {
	loop_fn *fn;
	void *arg;
	struct loop_node *next;
};

struct loop {
	pthread_mutex_t mu; /* guards everything below but ev */
	pthread_cond_t cv;
	struct loop_node *head, *tail;
	struct loop_node *free;
	size_t nfree;
	int closed;
	int woken;
	struct event *ev; /* attached: activated by posts */
};

struct loop *
loop_new(void)
{
	struct loop *l;
	pthread_condattr_t ca;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	return l;
}

static void
nodes_free(struct loop_node *n)
{
	struct loop_node *next;

	for (; n != NULL; n = next) {
		next = n->next;
		free(n);
	}
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	nodes_free(l->head);
	nodes_free(l->free);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* The attached event: run what is posted; once closed, stop the base. */
static void
loop_event(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	/* one pass: a post made meanwhile activates the event again, so
	 * timers get their turn in between */
	loop_run(l, SIZE_MAX);
	if (loop_closed(l))
		event_base_loopbreak(event_get_base(l->ev));
}

int
loop_attach(struct loop *l, struct event_base *base)
{
	if ((l->ev = event_new(base, -1, 0, loop_event, l)) == NULL)
		return -1;
	return 0;
}

/* Under l->mu, so that a post that made it in has woken the consumer
 * before loop_close returns to a thread about to free l. */
static void
loop_signal(struct loop *l)
{
	if (l->ev != NULL)
		event_active(l->ev, EV_READ, 1);
	else
		pthread_cond_signal(&l->cv);
}

int
loop_post(struct loop *l, loop_fn *fn, void *arg)
{
	struct loop_node *n;

	pthread_mutex_lock(&l->mu);
	if (l->closed) {
		pthread_mutex_unlock(&l->mu);
		return -1;
	}
	if ((n = l->free) != NULL) {
		l->free = n->next;
		l->nfree--;
	} else if ((n = malloc(sizeof(*n))) == NULL) {
		pthread_mutex_unlock(&l->mu);
		return -1;
	}
	n->fn = fn;
	n->arg = arg;
	n->next = NULL;
	if (l->tail != NULL)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
	loop_signal(l);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

void
loop_wake(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	l->woken = 1;
	loop_signal(l);
	pthread_mutex_unlock(&l->mu);
}

void
loop_wait(struct loop *l, int64_t deadline_mono_ms)
{
	struct timespec ts;

	ts.tv_sec = deadline_mono_ms / 1000;
	ts.tv_nsec = (deadline_mono_ms % 1000) * 1000000;
	pthread_mutex_lock(&l->mu);
	while (l->head == NULL && !l->closed && !l->woken) {
		if (deadline_mono_ms == 0) {
			pthread_cond_wait(&l->cv, &l->mu);
			continue;
		}
		if (deadline_mono_ms <= clock_mono_ms() ||
		    pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
			break;
	}
	l->woken = 0;
	pthread_mutex_unlock(&l->mu);
}

size_t
loop_run(struct loop *l, size_t max)
{
	struct loop_node *first, *last, *n, *next;
	size_t k = 0;

	if (max == 0)
		return 0;
	pthread_mutex_lock(&l->mu);
	first = last = l->head;
	while (last != NULL && ++k < max && last->next != NULL)
		last = last->next;
	if (first != NULL) {
		l->head = last->next;
		if (l->head == NULL)
			l->tail = NULL;
		last->next = NULL;
	} else
		k = 0;
	pthread_mutex_unlock(&l->mu);
	/* fn may post: the nodes are off the list while it runs */
	for (n = first; n != NULL; n = n->next)
		n->fn(n->arg);
	pthread_mutex_lock(&l->mu);
	for (n = first; n != NULL; n = next) {
		next = n->next;
		if (l->nfree < LOOP_FREE_MAX) {
			n->next = l->free;
			l->free = n;
			l->nfree++;
		} else
			free(n);
	}
	pthread_mutex_unlock(&l->mu);
	return k;
}

void
loop_close(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	l->closed = 1;
	loop_signal(l);
	pthread_mutex_unlock(&l->mu);
}

int
loop_closed(struct loop *l)
{
	int closed;

	pthread_mutex_lock(&l->mu);
	closed = l->closed;
	pthread_mutex_unlock(&l->mu);
	return closed;
}

int
loop_done(struct loop *l)
{
	int done;

	pthread_mutex_lock(&l->mu);
	done = l->closed && l->head == NULL;
	pthread_mutex_unlock(&l->mu);
	return done;
}
