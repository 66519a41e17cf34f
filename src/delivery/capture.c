/*
 * capture: the route that sends nothing (SPEC §6.3). The message is
 * already in the store, where the dashboard and GET messages/{id} find
 * it; the recipient's local part picks the answer, so that clients can
 * test every outcome without a network:
 *
 *	bounce…	550 5.1.1, final
 *	defer…	451 4.3.0 for the first capture_defer_attempts attempts,
 *		then 250
 *	fail…	451 4.3.0 always (retried until max_queue_age → failed)
 *	slow…	250, after capture_slow_ms (a timer, the loop never waits)
 *	other	250
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"
#include "scheduler.h"

/* A job waiting for a slow answer. */
struct capture_wait {
	struct event *ev;
	struct sched_job *job;
	route_done_fn *done;
	void *arg;
	struct capture *c;
	struct capture_wait *prev, *next;
};

struct capture {
	struct capture_wait *waits;
};

static void
answer(struct sched_rcpt *r, int code, const char *enhanced, const char *text)
{
	r->cls = ROUTE_RESP;
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	snprintf(r->reply, sizeof(r->reply), "%d %s %s", code, enhanced, text);
}

static int
prefixed(const char *addr, const char *prefix)
{
	return strncasecmp(addr, prefix, strlen(prefix)) == 0;
}

static void
wait_unlink(struct capture *c, struct capture_wait *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		c->waits = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
}

static void
slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture_wait *w = arg;

	wait_unlink(w->c, w);
	event_free(w->ev);
	w->done(w->arg, w->job);
	free(w);
}

static void
capture_deliver(struct route *rt, struct sched_job *j, route_done_fn *done,
                void *arg)
{
	struct capture *c = rt->ctx;
	struct capture_wait *w;
	struct timeval tv;
	int slow = 0;

	for (size_t i = 0; i < j->nrcpts; i++) {
		struct sched_rcpt *r = &j->rcpts[i];
		int attempt = r->attempts + 1;

		if (prefixed(r->address, "bounce"))
			answer(r, 550, "5.1.1",
			       "mailbox unavailable (capture: bounce)");
		else if (prefixed(r->address, "fail"))
			answer(r, 451, "4.3.0",
			       "temporary failure (capture: fail)");
		else if (prefixed(r->address, "defer") &&
		         attempt <= rt->cfg->capture_defer_attempts)
			answer(r, 451, "4.3.0",
			       "temporary failure (capture: defer)");
		else {
			slow |= prefixed(r->address, "slow");
			answer(r, 250, "2.0.0", "ok (capture)");
		}
	}
	if (!slow || rt->cfg->capture_slow_ms <= 0 ||
	    (w = calloc(1, sizeof(*w))) == NULL) {
		done(arg, j);
		return;
	}
	w->job = j;
	w->done = done;
	w->arg = arg;
	w->c = c;
	if ((w->ev = evtimer_new(rt->base, slow_cb, w)) == NULL) {
		free(w);
		done(arg, j);
		return;
	}
	w->next = c->waits;
	if (c->waits != NULL)
		c->waits->prev = w;
	c->waits = w;
	tv.tv_sec = rt->cfg->capture_slow_ms / 1000;
	tv.tv_usec = (rt->cfg->capture_slow_ms % 1000) * 1000;
	evtimer_add(w->ev, &tv);
}

/* Drops slow answers still pending; their jobs belong to the engine. */
static void
capture_free(struct route *rt)
{
	struct capture *c = rt->ctx;
	struct capture_wait *w, *next;

	for (w = c->waits; w != NULL; w = next) {
		next = w->next;
		event_free(w->ev);
		free(w);
	}
	free(c);
	free(rt);
}

struct route *
capture_new(struct event_base *base, const struct config *cfg)
{
	struct route *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return NULL;
	if ((rt->ctx = calloc(1, sizeof(struct capture))) == NULL) {
		free(rt);
		return NULL;
	}
	rt->name = "capture";
	rt->deliver = capture_deliver;
	rt->free = capture_free;
	rt->max_conns = 0; /* no network: no cap */
	rt->base = base;
	rt->cfg = cfg;
	return rt;
}
