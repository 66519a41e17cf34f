/*
 * queue: `pigeon queue list|show|retry|drop|resume` (SPEC §9, §6.3).
 *
 * The commands read and write the store directly. A change a running
 * server must act on (retry, drop, resume) is also written as a request
 * (store_request_add) and the server is sent SIGUSR1: its writer reads
 * the requests and the engine re-arms, forgets or unpauses the jobs it
 * holds in memory. When no server holds state_dir's lock the store
 * change is enough: the next start rebuilds the schedule from it.
 *
 * A drop writes each non-final recipient as `failed` through the
 * writer's own outcome path (queue_outcomes_write: the state, its
 * event), marked dropped: it makes no soft_bounce suppression, since
 * the operator's choice says nothing of the address.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../core/buf.h"
#include "../core/clock.h"
#include "../queue/event.h"
#include "../queue/queue.h"
#include "admin.h"

#define QUEUE_LIMIT_DEFAULT 100
#define QUEUE_LIMIT_MAX 100000
#define REPLY_CUT 40 /* characters of the last reply in list's text */
#define DROP_REPLY "dropped by the operator (pigeon queue drop)"
#define LOCK_FILE "pigeon.lock" /* serve.c's */
#define NOT_RUNNING                                                            \
	"note: pigeon serve is not running: the change takes effect at its "   \
	"next start\n"

/*
 * Tells the server holding state_dir's lock to read the requests
 * (SIGUSR1): 1 signalled, 0 no server runs, -1 after admin_err. The
 * lock, not the pid alone, says a server runs: a stale pid may name
 * another process.
 */
static int
notify_server(const struct config *cfg)
{
	char path[4096], pid[32] = "";
	ssize_t n;
	long p;
	int fd;

	snprintf(path, sizeof(path), "%s/" LOCK_FILE, cfg->state_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd); /* nobody holds it: no server */
		return 0;
	}
	n = pread(fd, pid, sizeof(pid) - 1, 0);
	close(fd);
	if (n <= 0 || (p = strtol(pid, NULL, 10)) <= 1)
		return admin_err(-1, "cannot read the server's pid in %s",
		                 path);
	if (kill((pid_t)p, SIGUSR1) == -1)
		return admin_err(-1, "cannot signal pigeon serve (pid %ld): %s",
		                 p, strerror(errno));
	return 1;
}

/* "+4m", "-12s", "now" for unix ms t relative to now; "-" for none. */
static const char *
rel_time(int64_t t, int64_t now, char out[16])
{
	int64_t d = t - now, a;
	char sign = d < 0 ? '-' : '+';

	if (t <= 0)
		return "-";
	a = d < 0 ? -d : d;
	if (a < 1000)
		snprintf(out, 16, "now");
	else if (a < 60000)
		snprintf(out, 16, "%c%llds", sign, (long long)(a / 1000));
	else if (a < 3600000)
		snprintf(out, 16, "%c%lldm", sign, (long long)(a / 60000));
	else if (a < 86400000)
		snprintf(out, 16, "%c%lldh", sign, (long long)(a / 3600000));
	else
		snprintf(out, 16, "%c%lldd", sign, (long long)(a / 86400000));
	return out;
}

/* ISO 8601 of unix ms, or "-". */
static const char *
ms_str(int64_t t, char out[32])
{
	if (t <= 0)
		snprintf(out, 32, "-");
	else
		clock_iso8601((time_t)(t / 1000), out);
	return out;
}

static struct json_object *
ms_json(int64_t t)
{
	char s[32];

	return t > 0 ? json_object_new_string(ms_str(t, s)) : NULL;
}

static struct json_object *
str_json(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static int
state_parse(const char *s, int *out)
{
	static const enum rcpt_state ok[] = {RCPT_QUEUED, RCPT_DEFERRED,
	                                     RCPT_DELIVERED, RCPT_BOUNCED,
	                                     RCPT_FAILED};

	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		if (strcmp(s, rcpt_state_name(ok[i])) == 0) {
			*out = (int)ok[i];
			return 0;
		}
	return -1;
}

static int
dest_list(struct admin *a)
{
	struct store *s = NULL;
	struct store_dest *v = NULL;
	struct json_object *arr, *o;
	char t[32], left[16];
	int64_t now = clock_now_ms();
	size_t n = 0;
	int status = ADMIN_FAIL, running;

	if ((running = notify_server(&a->cfg)) == -1)
		return ADMIN_FAIL;
	if ((s = admin_store_open(a)) == NULL)
		return ADMIN_FAIL;
	/* rows left by a server that has stopped say nothing now */
	if (running && store_dest_list(s, &v, &n) != 0) {
		admin_err(ADMIN_FAIL, "cannot list destinations: %s",
		          store_error(s));
		goto out;
	}
	if (a->json) {
		arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			o = json_object_new_object();
			json_object_object_add(
			    o, "route", json_object_new_string(v[i].route));
			json_object_object_add(
			    o, "domain", json_object_new_string(v[i].domain));
			json_object_object_add(o, "cap",
			                       json_object_new_int(v[i].cap));
			json_object_object_add(o, "full_cap",
			                       json_object_new_int(v[i].full));
			json_object_object_add(o, "paused_until",
			                       v[i].paused_until > now
			                           ? ms_json(v[i].paused_until)
			                           : NULL);
			json_object_object_add(o, "throttled_at",
			                       ms_json(v[i].throttled_at));
			json_object_object_add(o, "last_reply",
			                       str_json(v[i].reply));
			json_object_array_add(arr, o);
		}
		admin_json_print(arr);
	} else if (n == 0)
		printf("no destination is throttled%s\n",
		       running ? "" : " (pigeon serve is not running)");
	else {
		printf("%-32s %-9s %-10s %-20s %s\n", "destination", "cap",
		       "paused", "throttled", "last reply");
		for (size_t i = 0; i < n; i++) {
			char dest[300], cap[24];

			snprintf(dest, sizeof(dest), "%s:%s", v[i].route,
			         v[i].domain);
			snprintf(cap, sizeof(cap), "%d/%d", v[i].cap,
			         v[i].full);
			printf("%-32s %-9s %-10s %-20s %s\n", dest, cap,
			       v[i].paused_until > now
			           ? rel_time(v[i].paused_until, now, left)
			           : "no",
			       ms_str(v[i].throttled_at, t),
			       v[i].reply ? v[i].reply : "-");
		}
	}
	status = ADMIN_OK;
out:
	store_dest_list_free(v, n);
	store_close(s);
	return status;
}

int
admin_queue_list(struct admin *a)
{
	struct store *s = NULL;
	struct queue_row *v = NULL;
	struct json_object *o, *arr, *r;
	const char *sv = admin_opt(a, "--state"), *lv = admin_opt(a, "--limit");
	int64_t limit = QUEUE_LIMIT_DEFAULT, total = 0, now = clock_now_ms();
	char next[16], reply[REPLY_CUT + 4];
	size_t n = 0;
	int state = -1, status = ADMIN_FAIL;

	if (admin_opt(a, "--destinations") != NULL) {
		if (sv != NULL || lv != NULL)
			return admin_err(ADMIN_USAGE,
			                 "queue list: --destinations takes "
			                 "neither --state nor --limit");
		return dest_list(a);
	}
	if (sv != NULL && state_parse(sv, &state) != 0)
		return admin_err(ADMIN_USAGE,
		                 "queue list: --state '%s': use queued, "
		                 "deferred, delivered, bounced or failed",
		                 sv);
	if (lv != NULL && (admin_parse_count(lv, &limit) != 0 || limit < 1 ||
	                   limit > QUEUE_LIMIT_MAX))
		return admin_err(ADMIN_USAGE,
		                 "queue list: --limit '%s': use a number "
		                 "from 1 to %d",
		                 lv, QUEUE_LIMIT_MAX);
	if ((s = admin_store_open(a)) == NULL)
		return ADMIN_FAIL;
	if (store_queue_list(s, state, (int)limit, &v, &n, &total) != 0) {
		admin_err(ADMIN_FAIL, "cannot list the queue: %s",
		          store_error(s));
		goto out;
	}
	if (a->json) {
		o = json_object_new_object();
		arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			r = json_object_new_object();
			json_object_object_add(
			    r, "message_id",
			    json_object_new_string(v[i].message_id));
			json_object_object_add(
			    r, "recipient",
			    json_object_new_string(v[i].address));
			json_object_object_add(
			    r, "state",
			    json_object_new_string(
			        rcpt_state_name(v[i].state)));
			json_object_object_add(
			    r, "attempts", json_object_new_int(v[i].attempts));
			json_object_object_add(r, "last_attempt",
			                       ms_json(v[i].last_attempt));
			json_object_object_add(r, "next_attempt",
			                       ms_json(v[i].next_attempt));
			json_object_object_add(r, "last_reply",
			                       str_json(v[i].reply));
			json_object_array_add(arr, r);
		}
		json_object_object_add(o, "recipients", arr);
		json_object_object_add(o, "total",
		                       json_object_new_int64(total));
		json_object_object_add(
		    o, "more", json_object_new_int64(total - (int64_t)n));
		admin_json_print(o);
	} else if (n == 0)
		printf("no %s recipients in the queue\n",
		       state == -1 ? "queued or deferred"
		                   : rcpt_state_name((enum rcpt_state)state));
	else {
		printf("%-40s %-32s %-9s %8s %6s  %s\n", "message_id",
		       "recipient", "state", "attempts", "next", "last reply");
		for (size_t i = 0; i < n; i++) {
			const char *rp = v[i].reply ? v[i].reply : "-";

			snprintf(reply, sizeof(reply), "%.*s%s", REPLY_CUT, rp,
			         strlen(rp) > REPLY_CUT ? "..." : "");
			printf("%-40s %-32s %-9s %8d %6s  %s\n",
			       v[i].message_id, v[i].address,
			       rcpt_state_name(v[i].state), v[i].attempts,
			       v[i].state == RCPT_QUEUED ||
			               v[i].state == RCPT_DEFERRED
			           ? rel_time(v[i].next_attempt, now, next)
			           : "-",
			       reply);
		}
		if (total > (int64_t)n)
			printf("... and %lld more (use --limit)\n",
			       (long long)(total - (int64_t)n));
	}
	status = ADMIN_OK;
out:
	queue_row_list_free(v, n);
	store_close(s);
	return status;
}

/* The message named by the argument, or admin_err: 0, -1. */
static int
msg_load(struct store *s, const char *id, struct queue_msg *m)
{
	int rc = store_queue_message(s, id, m);

	if (rc == STORE_NOT_FOUND)
		return admin_err(-1, "no message %s%s%s in the queue",
		                 id[0] == '<' ? "" : "<", id,
		                 id[0] == '<' ? "" : ">");
	if (rc != 0)
		return admin_err(-1, "cannot read the queue: %s",
		                 store_error(s));
	return 0;
}

#define SHOW_EVENTS_MAX 1000

int
admin_queue_show(struct admin *a)
{
	struct store *s = NULL;
	struct queue_msg m;
	struct store_event *ev = NULL;
	struct event_filter f;
	struct json_object *o, *arr, *r, *earr;
	char t[32], t2[32], next[16];
	int64_t now = clock_now_ms();
	size_t nev = 0;
	int status = ADMIN_FAIL;

	memset(&m, 0, sizeof(m));
	memset(&f, 0, sizeof(f));
	if ((s = admin_store_open(a)) == NULL)
		return ADMIN_FAIL;
	if (msg_load(s, a->args[0], &m) != 0)
		goto out;
	f.message_id = m.message_id;
	if (store_events_list(s, m.account_id, 0, SHOW_EVENTS_MAX, &f, &ev,
	                      &nev) != 0) {
		admin_err(ADMIN_FAIL, "cannot read events: %s", store_error(s));
		goto out;
	}
	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, "message_id",
		                       json_object_new_string(m.message_id));
		json_object_object_add(o, "account_id",
		                       json_object_new_string(m.account_id));
		json_object_object_add(o, "from", str_json(m.mail_from));
		json_object_object_add(o, "subject", str_json(m.subject));
		json_object_object_add(o, "size",
		                       json_object_new_int64(m.size));
		json_object_object_add(o, "created", ms_json(m.created));
		arr = json_object_new_array();
		for (size_t i = 0; i < m.nrcpts; i++) {
			struct rcpt_status *rc = &m.rcpts[i];

			r = json_object_new_object();
			json_object_object_add(
			    r, "recipient",
			    json_object_new_string(rc->address));
			json_object_object_add(
			    r, "state",
			    json_object_new_string(rcpt_state_name(rc->state)));
			json_object_object_add(
			    r, "attempts", json_object_new_int(rc->attempts));
			json_object_object_add(r, "last_attempt",
			                       ms_json(rc->last_attempt));
			json_object_object_add(r, "next_attempt",
			                       ms_json(rc->next_attempt));
			json_object_object_add(r, "last_reply",
			                       str_json(rc->reply));
			earr = json_object_new_array();
			for (size_t k = 0; k < nev; k++) {
				struct json_object *e;

				if (ev[k].msg_id != m.id ||
				    ev[k].rcpt_id != rc->id)
					continue;
				e = json_object_new_object();
				json_object_object_add(
				    e, "type",
				    json_object_new_string(ev[k].type));
				json_object_object_add(e, "created",
				                       ms_json(ev[k].created));
				json_object_object_add(
				    e, "event_id",
				    json_object_new_string(ev[k].event_id));
				json_object_array_add(earr, e);
			}
			json_object_object_add(r, "events", earr);
			json_object_array_add(arr, r);
		}
		json_object_object_add(o, "recipients", arr);
		admin_json_print(o);
		status = ADMIN_OK;
		goto out;
	}
	printf("message   %s\naccount   %s\nfrom      %s\nsubject   %s\n"
	       "size      %lld bytes\ncreated   %s\n",
	       m.message_id, m.account_id, m.mail_from ? m.mail_from : "-",
	       m.subject ? m.subject : "-", (long long)m.size,
	       ms_str(m.created, t));
	for (size_t i = 0; i < m.nrcpts; i++) {
		struct rcpt_status *rc = &m.rcpts[i];
		int pending =
		    rc->state == RCPT_QUEUED || rc->state == RCPT_DEFERRED;

		printf("\nrecipient %s\n  state     %s, %d attempts\n"
		       "  last      %s\n  next      %s\n  reply     %s\n",
		       rc->address, rcpt_state_name(rc->state), rc->attempts,
		       ms_str(rc->last_attempt, t),
		       pending ? rel_time(rc->next_attempt, now, next) : "-",
		       rc->reply ? rc->reply : "-");
		for (size_t k = 0; k < nev; k++)
			if (ev[k].msg_id == m.id && ev[k].rcpt_id == rc->id)
				printf("  event     %s %s\n",
				       ms_str(ev[k].created, t2),
				       ev[k].type + strlen("cf.email.sending."
				                           "message."));
	}
	status = ADMIN_OK;
out:
	event_list_free(ev, nev);
	queue_msg_clear(&m);
	store_close(s);
	return status;
}

/* The request for a running server, then the signal; the note when no
 * server runs. 0 or -1 after admin_err. */
static int
request_send(struct admin *a, struct store *s, const struct queue_req *r)
{
	int rc;

	if (store_request_add(s, r) != 0)
		return admin_err(-1, "cannot record the request: %s",
		                 store_error(s));
	if ((rc = notify_server(&a->cfg)) == -1)
		return -1;
	if (rc == 0 && !a->json)
		fputs(NOT_RUNNING, stderr);
	return 0;
}

static void
count_print(struct admin *a, const char *key, int64_t n, const char *text)
{
	struct json_object *o;

	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, key, json_object_new_int64(n));
		admin_json_print(o);
	} else
		printf("%lld %s\n", (long long)n, text);
}

int
admin_queue_retry(struct admin *a)
{
	struct store *s = NULL;
	struct queue_msg m;
	struct queue_req r;
	int all = admin_opt(a, "--all") != NULL, status = ADMIN_FAIL;
	int64_t n = 0;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	if (all == (a->nargs == 1))
		return admin_err(ADMIN_USAGE,
		                 "queue retry: give a MESSAGE_ID or --all");
	if ((s = admin_store_open(a)) == NULL)
		return ADMIN_FAIL;
	if (!all && msg_load(s, a->args[0], &m) != 0)
		goto out;
	if (store_begin(s) != 0 ||
	    store_queue_retry(s, m.id, NULL, clock_now_ms(), &n) != 0 ||
	    store_commit(s) != 0) {
		admin_err(ADMIN_FAIL, "cannot retry: %s", store_error(s));
		store_rollback(s);
		goto out;
	}
	r.kind = QREQ_RETRY;
	r.msg_id = m.id;
	if (n > 0 && request_send(a, s, &r) != 0)
		goto out;
	count_print(a, "retried", n, "recipients due now");
	status = ADMIN_OK;
out:
	queue_msg_clear(&m);
	store_close(s);
	return status;
}

int
admin_queue_drop(struct admin *a)
{
	struct store *s = NULL;
	struct queue_msg m;
	struct queue_req r;
	struct store_outcome *o = NULL;
	struct buf scratch;
	int64_t now = clock_now_ms();
	size_t n = 0, applied = 0;
	int status = ADMIN_FAIL;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	buf_init(&scratch, EVENT_PAYLOAD_MAX);
	if ((s = admin_store_open(a)) == NULL)
		goto out;
	if (msg_load(s, a->args[0], &m) != 0)
		goto out;
	if ((o = calloc(m.nrcpts ? m.nrcpts : 1, sizeof(*o))) == NULL) {
		admin_err(ADMIN_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.nrcpts; i++) {
		struct rcpt_status *rc = &m.rcpts[i];

		if (rc->state != RCPT_QUEUED && rc->state != RCPT_DEFERRED)
			continue;
		o[n].rcpt_id = rc->id;
		o[n].state = RCPT_FAILED;
		o[n].attempts = rc->attempts;
		o[n].last_attempt = rc->last_attempt;
		o[n].reply = DROP_REPLY;
		snprintf(o[n].address, sizeof(o[n].address), "%s", rc->address);
		o[n].answered = now;
		snprintf(o[n].route, sizeof(o[n].route), "operator");
		o[n].dropped = 1;
		n++;
	}
	/* the guarded outcome SQL writes only what is still pending when
	 * the transaction runs, whatever the engine did since the read */
	if (n > 0 &&
	    (store_begin(s) != 0 ||
	     queue_outcomes_write(s, m.id, o, n, &scratch, &applied) != 0 ||
	     store_commit(s) != 0)) {
		admin_err(ADMIN_FAIL, "cannot drop: %s", store_error(s));
		store_rollback(s);
		goto out;
	}
	r.kind = QREQ_DROP;
	r.msg_id = m.id;
	if (applied > 0 && request_send(a, s, &r) != 0)
		goto out;
	count_print(a, "dropped", (int64_t)applied,
	            "recipients dropped (failed)");
	status = ADMIN_OK;
out:
	free(o);
	buf_clear(&scratch);
	queue_msg_clear(&m);
	store_close(s);
	return status;
}

int
admin_queue_resume(struct admin *a)
{
	struct store *s = NULL;
	struct queue_req r;
	const char *dest = a->args[0], *colon = strchr(dest, ':');
	char route[16] = "", domain[256], norm[300];
	int64_t n = 0;
	int status = ADMIN_FAIL;

	memset(&r, 0, sizeof(r));
	if (colon != NULL && (size_t)(colon - dest) < sizeof(route))
		snprintf(route, sizeof(route), "%.*s", (int)(colon - dest),
		         dest);
	if (admin_domain_name(colon ? colon + 1 : dest, domain,
	                      sizeof(domain)) != 0 ||
	    (colon != NULL && route[0] == '\0'))
		return admin_err(ADMIN_USAGE,
		                 "queue resume: '%s' is not a destination "
		                 "(a domain, or ROUTE:DOMAIN as queue list "
		                 "--destinations shows it)",
		                 dest);
	if ((s = admin_store_open(a)) == NULL)
		return ADMIN_FAIL;
	/* its recipients are due now, and its row goes: the engine says
	 * again if it is still throttled */
	if (store_begin(s) != 0 ||
	    store_queue_retry(s, 0, domain, clock_now_ms(), &n) != 0 ||
	    store_dest_del(s, route[0] ? route : NULL, domain) != 0 ||
	    store_commit(s) != 0) {
		admin_err(ADMIN_FAIL, "cannot resume: %s", store_error(s));
		store_rollback(s);
		goto out;
	}
	r.kind = QREQ_RESUME;
	snprintf(norm, sizeof(norm), "%s%s%s", route, route[0] ? ":" : "",
	         domain);
	r.destination = norm;
	if (request_send(a, s, &r) != 0)
		goto out;
	count_print(a, "retried", n, "recipients due now");
	status = ADMIN_OK;
out:
	store_close(s);
	return status;
}
