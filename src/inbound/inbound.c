/*
 * inbound: reports that come back, made into findings (see inbound.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/arena.h"
#include "../core/file.h"
#include "../core/log.h"
#include "../mail/report.h"
#include "../mail/verp.h"
#include "../store/store.h"
#include "inbound.h"

struct inbound {
	struct queue *q;
	unsigned char key[VERP_KEY_LEN];
	pthread_mutex_t mu; /* st */
	struct store *st;   /* the recipient checks */
};

struct inbound *
inbound_new(const struct config *cfg, struct queue *q, char *err, size_t errlen)
{
	struct inbound *in;
	char path[4096];

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		snprintf(err, errlen, "inbound: out of memory");
		return NULL;
	}
	in->q = q;
	pthread_mutex_init(&in->mu, NULL);
	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, VERP_KEY_FILE);
	if (file_secret(path, in->key, sizeof(in->key), err, errlen) == -1 ||
	    (in->st = store_open(cfg->db_path, err, errlen)) == NULL) {
		inbound_free(in);
		return NULL;
	}
	return in;
}

void
inbound_free(struct inbound *in)
{
	if (in == NULL)
		return;
	store_close(in->st);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

/* The message and recipient rows a VERP address names: 0, or -1 when it
 * is not one of this install's. */
static int
verp_of(struct inbound *in, const char *address, int64_t *msg, int64_t *rcpt)
{
	const char *at = strrchr(address, '@');

	if (at == NULL)
		return -1;
	return verp_decode(address, (size_t)(at - address), in->key,
	                   sizeof(in->key), msg, rcpt);
}

int
inbound_rcpt(void *arg, const char *address)
{
	struct inbound *in = arg;
	char addr[STORE_ADDR_MAX], a[LOG_VALUE_LEN(256)];
	enum rcpt_state state;
	int64_t msg, rcpt, of;
	int rc;

	if (verp_of(in, address, &msg, &rcpt) == -1) {
		log_info("inbound: rcpt=%s refused: not a return address of "
		         "this server",
		         log_value(address, a, sizeof(a)));
		return 0;
	}
	pthread_mutex_lock(&in->mu);
	if (rcpt != 0)
		rc = store_rcpt_of(in->st, rcpt, &of, &state, addr,
		                   sizeof(addr));
	else { /* a transaction of several recipients: the message only */
		struct msg_info mi;

		of = msg;
		if ((rc = store_message_info(in->st, msg, &mi)) == 0)
			msg_info_clear(&mi);
	}
	if (rc == -1)
		log_warnx("inbound: rcpt=%s: %s",
		          log_value(address, a, sizeof(a)),
		          store_error(in->st));
	pthread_mutex_unlock(&in->mu);
	if (rc != 0 || of != msg) {
		log_info("inbound: rcpt=%s refused: its message is gone",
		         log_value(address, a, sizeof(a)));
		return 0;
	}
	return 1;
}

/* "550 5.1.1 …": its basic code, 0 when it does not start with one. */
static int
basic_code(const char *text)
{
	if (text == NULL || text[0] < '2' || text[0] > '5' || text[1] < '0' ||
	    text[1] > '9' || text[2] < '0' || text[2] > '9' ||
	    (text[3] != ' ' && text[3] != '-' && text[3] != '\0'))
		return 0;
	return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
}

/* The findings of r about the message (msg, rcpt) a VERP address names,
 * appended to f (room for cap); how many now. */
static size_t
findings_of(const struct report *r, int64_t msg, int64_t rcpt,
            struct finding *f, size_t n, size_t cap)
{
	struct finding *x;

	if (r->kind == REPORT_ARF) {
		if (strcmp(r->feedback_type, "abuse") != 0 || n == cap)
			return n;
		x = &f[n++];
		memset(x, 0, sizeof(*x));
		x->kind = FINDING_COMPLAINT;
		x->msg_id = msg;
		x->rcpt_id = rcpt;
		if (r->noriginal_rcpt_to > 0)
			snprintf(x->address, sizeof(x->address), "%s",
			         r->original_rcpt_to[0]);
		snprintf(x->text, sizeof(x->text), "%s", r->feedback_type);
		return n;
	}
	for (size_t i = 0; r->kind == REPORT_DSN && i < r->nrcpt && n < cap;
	     i++) {
		const struct report_rcpt *g = &r->rcpt[i];

		if (g->action != REPORT_FAILED && g->action != REPORT_DELAYED)
			continue;
		x = &f[n++];
		memset(x, 0, sizeof(*x));
		x->kind = g->action == REPORT_FAILED ? FINDING_FAILED
		                                     : FINDING_DELAYED;
		x->msg_id = msg;
		x->rcpt_id = rcpt;
		snprintf(x->address, sizeof(x->address), "%s",
		         g->final_recipient);
		snprintf(x->status, sizeof(x->status), "%s", g->status);
		x->code = basic_code(g->diagnostic_code);
		snprintf(x->text, sizeof(x->text), "%s",
		         g->diagnostic_code != NULL ? g->diagnostic_code
		                                    : g->status);
	}
	return n;
}

/* A report's answer, from the writer. */
struct pending {
	inbound_answer_fn *answer;
	void *ctx;
};

static void
findings_done(void *arg, int ok)
{
	struct pending *p = arg;

	if (!ok)
		log_warnx("inbound: a report's findings were not stored; the "
		          "sender is told to try again");
	p->answer(p->ctx, ok);
	free(p);
}

/* One line for what a report was and what it said. */
static void
report_log(const char *mail_from, const struct report *r, const char *why,
           const struct finding *f, size_t n)
{
	static const char *const kinds[] = {
	    [REPORT_OTHER] = "other",
	    [REPORT_DSN] = "dsn",
	    [REPORT_ARF] = "arf",
	    [REPORT_MALFORMED] = "malformed",
	};
	static const char *const verbs[] = {
	    [FINDING_FAILED] = "bounced",
	    [FINDING_DELAYED] = "delayed",
	    [FINDING_COMPLAINT] = "complained",
	};
	char from[LOG_VALUE_LEN(256)], w[LOG_VALUE_LEN(256)],
	    a[LOG_VALUE_LEN(STORE_ADDR_MAX)], t[LOG_VALUE_LEN(512)];

	log_info("inbound: from=%s report=%s findings=%zu%s%s",
	         log_value(mail_from, from, sizeof(from)), kinds[r->kind], n,
	         r->kind == REPORT_MALFORMED ? " dropped: " : "",
	         r->kind == REPORT_MALFORMED ? log_value(why, w, sizeof(w))
	         : r->kind == REPORT_OTHER   ? " dropped: not a report"
	                                     : "");
	for (size_t i = 0; i < n; i++)
		log_info("inbound: msg_id=%lld rcpt=%s %s dsn=%s reply=%s",
		         (long long)f[i].msg_id,
		         log_value(f[i].address[0] != '\0' ? f[i].address
		                                           : "(the VERP one)",
		                   a, sizeof(a)),
		         verbs[f[i].kind],
		         f[i].status[0] != '\0' ? f[i].status : "-",
		         log_value(f[i].text, t, sizeof(t)));
}

void
inbound_message(void *arg, const char *mail_from, const char *const *rcpts,
                size_t nrcpts, const char *data, size_t len,
                inbound_answer_fn *answer, void *ctx)
{
	struct inbound *in = arg;
	struct finding *f = NULL;
	struct pending *p = NULL;
	struct report r;
	struct arena *a;
	int64_t msg, rcpt;
	size_t n = 0, cap;
	char why[256] = "";

	if ((a = arena_new(0)) == NULL ||
	    report_parse(a, data, len, &r, why, sizeof(why)) == -1) {
		log_warnx("inbound: out of memory reading a report");
		arena_free(a);
		answer(ctx, 0);
		return;
	}
	cap = nrcpts * (r.nrcpt > 0 ? r.nrcpt : 1);
	if ((r.kind == REPORT_DSN || r.kind == REPORT_ARF) &&
	    (f = calloc(cap, sizeof(*f))) == NULL) {
		log_warnx("inbound: out of memory reading a report");
		arena_free(a);
		answer(ctx, 0);
		return;
	}
	for (size_t i = 0; f != NULL && i < nrcpts; i++)
		if (verp_of(in, rcpts[i], &msg, &rcpt) == 0)
			n = findings_of(&r, msg, rcpt, f, n, cap);
	report_log(mail_from, &r, why, f, n);
	arena_free(a);
	if (n == 0) {
		free(f);
		answer(ctx, 1);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(f);
		answer(ctx, 0);
		return;
	}
	p->answer = answer;
	p->ctx = ctx;
	if (queue_findings(in->q, f, n, findings_done, p) == -1) {
		free(p);
		answer(ctx, 0);
	}
	free(f);
}
