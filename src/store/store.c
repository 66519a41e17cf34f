/*
 * store: dispatch from the public store API to a backend's table of
 * operations, and the helpers that do not depend on a backend (state
 * names, *_clear, *_list_free). No SQL here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static const char *const rcpt_state_names[] = {
    [RCPT_QUEUED] = "queued",       [RCPT_DEFERRED] = "deferred",
    [RCPT_DELIVERED] = "delivered", [RCPT_BOUNCED] = "bounced",
    [RCPT_FAILED] = "failed",       [RCPT_SUPPRESSED] = "suppressed",
};

const char *
rcpt_state_name(enum rcpt_state s)
{
	if ((unsigned)s >= sizeof(rcpt_state_names) / sizeof(*rcpt_state_names))
		return "unknown";
	return rcpt_state_names[s];
}

static const char *const supp_reason_names[] = {
    [SUPP_MANUAL] = "manual",           [SUPP_HARD_BOUNCE] = "hard_bounce",
    [SUPP_SOFT_BOUNCE] = "soft_bounce", [SUPP_COMPLAINT] = "complaint",
    [SUPP_POLICY] = "policy",
};

const char *
supp_reason_name(enum supp_reason r)
{
	if ((unsigned)r >=
	    sizeof(supp_reason_names) / sizeof(*supp_reason_names))
		return "unknown";
	return supp_reason_names[r];
}

/*
 * Only SQLite for now; a "postgres://" path will pick the PostgreSQL
 * table once it exists.
 */
struct store *
store_open(const char *path, char *err, size_t errlen)
{
	if (strncmp(path, "postgres://", 11) == 0 ||
	    strncmp(path, "postgresql://", 13) == 0) {
		snprintf(err, errlen,
		         "cannot open %s: PostgreSQL is not "
		         "supported yet",
		         path);
		return NULL;
	}
	return sqlite_store_open(path, err, errlen);
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

const char *
store_error(struct store *s)
{
	return s->err;
}

int
store_account_create(struct store *s, const struct account *a)
{
	return s->ops->account_create(s, a);
}

int
store_account_update(struct store *s, const struct account *a)
{
	return s->ops->account_update(s, a);
}

int
store_zone_create(struct store *s, const struct zone *z)
{
	return s->ops->zone_create(s, z);
}

int
store_domain_create(struct store *s, const struct domain *d)
{
	return s->ops->domain_create(s, d);
}

int
store_domain_update(struct store *s, const struct domain *d)
{
	return s->ops->domain_update(s, d);
}

int
store_token_create(struct store *s, const struct token *t)
{
	return s->ops->token_create(s, t);
}

int
store_token_revoke(struct store *s, const char *token_id)
{
	return s->ops->token_revoke(s, token_id);
}

int
store_account_get(struct store *s, const char *id, struct account *out)
{
	return s->ops->account_get(s, id, out);
}

int
store_zone_get(struct store *s, const char *id, struct zone *out)
{
	return s->ops->zone_get(s, id, out);
}

int
store_domain_get_by_name(struct store *s, const char *name, struct domain *out)
{
	return s->ops->domain_get_by_name(s, name, out);
}

int
store_account_list(struct store *s, struct account **out, size_t *n)
{
	return s->ops->account_list(s, out, n);
}

int
store_zone_list(struct store *s, const char *account_id, struct zone **out,
                size_t *n)
{
	return s->ops->zone_list(s, account_id, out, n);
}

int
store_domain_list(struct store *s, const char *account_id, struct domain **out,
                  size_t *n)
{
	return s->ops->domain_list(s, account_id, out, n);
}

int
store_token_list(struct store *s, const char *account_id, struct token **out,
                 size_t *n)
{
	return s->ops->token_list(s, account_id, out, n);
}

int
store_generation(struct store *s, int64_t *out)
{
	return s->ops->generation(s, out);
}

int
store_begin(struct store *s)
{
	return s->ops->begin(s);
}

int
store_commit(struct store *s)
{
	return s->ops->commit(s);
}

void
store_rollback(struct store *s)
{
	s->ops->rollback(s);
}

int
store_op_begin(struct store *s)
{
	return s->ops->op_begin(s);
}

int
store_op_end(struct store *s, int ok)
{
	return s->ops->op_end(s, ok);
}

int
store_message_insert(struct store *s, struct store_msg *m)
{
	return s->ops->message_insert(s, m);
}

int
store_outcome_apply(struct store *s, const struct store_outcome *o)
{
	return s->ops->outcome_apply(s, o);
}

void
store_lease_set(struct store *s, const char *owner, int64_t lease_ms)
{
	snprintf(s->lease_owner, sizeof(s->lease_owner), "%s", owner);
	s->lease_ms = lease_ms;
}

int
store_lease_claim(struct store *s, int64_t now, int64_t horizon, size_t limit,
                  store_pending_fn *cb, void *arg, int64_t *next_freed)
{
	return s->ops->lease_claim(s, now, horizon, limit, cb, arg, next_freed);
}

int
store_lease_renew(struct store *s, const int64_t *ids, size_t n, int64_t until)
{
	return s->ops->lease_renew(s, ids, n, until);
}

int
store_lease_release(struct store *s)
{
	return s->ops->lease_release(s);
}

int
store_rcpt_of(struct store *s, int64_t rcpt_id, int64_t *msg_id,
              enum rcpt_state *state, char *addr, size_t addrlen)
{
	return s->ops->rcpt_of(s, rcpt_id, msg_id, state, addr, addrlen);
}

int
store_rcpt_find(struct store *s, int64_t msg_id, const char *addr,
                int64_t *rcpt_id, enum rcpt_state *state)
{
	return s->ops->rcpt_find(s, msg_id, addr, rcpt_id, state);
}

int
store_rcpt_bounce(struct store *s, int64_t rcpt_id, const char *reply,
                  int64_t now)
{
	return s->ops->rcpt_bounce(s, rcpt_id, reply, now);
}

int
store_message_status(struct store *s, const char *account_id,
                     const char *message_id, struct msg_status *out)
{
	return s->ops->message_status(s, account_id, message_id, out);
}

void
account_clear(struct account *a)
{
	if (a == NULL)
		return;
	free(a->name);
	memset(a, 0, sizeof(*a));
}

void
zone_clear(struct zone *z)
{
	if (z == NULL)
		return;
	free(z->name);
	memset(z, 0, sizeof(*z));
}

void
domain_clear(struct domain *d)
{
	if (d == NULL)
		return;
	free(d->name);
	free(d->selector);
	free(d->return_path_domain);
	free(d->rsa_pem);
	free(d->ed_pem);
	memset(d, 0, sizeof(*d));
}

void
token_clear(struct token *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->global_email);
	memset(t, 0, sizeof(*t));
}

void
account_list_free(struct account *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		account_clear(&v[i]);
	free(v);
}

void
zone_list_free(struct zone *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		zone_clear(&v[i]);
	free(v);
}

void
domain_list_free(struct domain *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		domain_clear(&v[i]);
	free(v);
}

void
token_list_free(struct token *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		token_clear(&v[i]);
	free(v);
}

void
msg_status_clear(struct msg_status *st)
{
	if (st == NULL)
		return;
	free(st->message_id);
	for (size_t i = 0; st->rcpts != NULL && i < st->nrcpts; i++) {
		free(st->rcpts[i].address);
		free(st->rcpts[i].reply);
	}
	free(st->rcpts);
	memset(st, 0, sizeof(*st));
}

int
store_idem_get(struct store *s, const char *account_id, const char *key,
               int64_t since_ms, char body_hash[65],
               char endpoint[STORE_ENDPOINT_MAX], struct msg_status *out)
{
	return s->ops->idem_get(s, account_id, key, since_ms, body_hash,
	                        endpoint, out);
}

int
store_idem_purge(struct store *s, int64_t before_ms, int limit)
{
	return s->ops->idem_purge(s, before_ms, limit);
}

int
store_message_purge(struct store *s, int64_t before_ms, int limit)
{
	return s->ops->message_purge(s, before_ms, limit);
}

int
store_message_body_drop(struct store *s, int64_t id)
{
	return s->ops->message_body_drop(s, id);
}

int
store_size(struct store *s, int64_t *bytes, int64_t *free_bytes)
{
	return s->ops->size(s, bytes, free_bytes);
}

int
store_message_reader_open(struct store *s, const char *account_id,
                          const char *message_id, struct store_reader **out,
                          uint64_t *size)
{
	*out = NULL;
	*size = 0;
	return s->ops->message_reader_open(s, account_id, message_id, out,
	                                   size);
}

int
store_message_read(struct store_reader *r, uint64_t off, void *buf, size_t n,
                   size_t *got)
{
	*got = 0;
	return r->read(r, off, buf, n, got);
}

const char *
store_reader_error(struct store_reader *r)
{
	return r->err;
}

void
store_reader_close(struct store_reader *r)
{
	if (r != NULL)
		r->close(r);
}

int
store_message_info(struct store *s, int64_t msg_id, struct msg_info *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->message_info(s, msg_id, out);
}

void
msg_info_clear(struct msg_info *m)
{
	if (m == NULL)
		return;
	free(m->message_id);
	free(m->mail_from);
	free(m->subject);
	free(m->domain);
	memset(m, 0, sizeof(*m));
}

int
store_event_insert(struct store *s, const struct store_event *e)
{
	return s->ops->event_insert(s, e);
}

int
store_events_list(struct store *s, const char *account_id, int64_t after_id,
                  int limit, const struct event_filter *f,
                  struct store_event **out, size_t *n)
{
	static const struct event_filter any;

	*out = NULL;
	*n = 0;
	return s->ops->events_list(s, account_id, after_id, limit,
	                           f != NULL ? f : &any, out, n);
}

void
event_clear(struct store_event *e)
{
	if (e == NULL)
		return;
	/* read back, the strings are the event's own */
	free((char *)e->message_id);
	free((char *)e->recipient);
	free((char *)e->type);
	free((char *)e->payload);
	memset(e, 0, sizeof(*e));
}

void
event_list_free(struct store_event *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		event_clear(&v[i]);
	free(v);
}

int
store_suppression_upsert(struct store *s, const struct suppression *sp)
{
	return s->ops->suppression_upsert(s, sp);
}

int
store_suppression_find(struct store *s, const char *account_id,
                       const char *email, const char *domain_name, int64_t now,
                       struct suppression *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->suppression_find(s, account_id, email, domain_name, now,
	                                out);
}

void
suppression_clear(struct suppression *sp)
{
	if (sp == NULL)
		return;
	free(sp->email);
	free(sp->scope_value);
	free(sp->note);
	memset(sp, 0, sizeof(*sp));
}

int
store_suppression_purge(struct store *s, int64_t before_ms, int limit)
{
	return s->ops->suppression_purge(s, before_ms, limit);
}

int
store_message_load(struct store *s, int64_t msg_id, struct store_msg_load *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->message_load(s, msg_id, out);
}

void
store_msg_load_clear(struct store_msg_load *m)
{
	free(m->raw);
	free(m->domain);
	free(m->return_path_domain);
	memset(m, 0, sizeof(*m));
}

int
store_queue_list(struct store *s, int state, int limit, struct queue_row **out,
                 size_t *n, int64_t *total)
{
	return s->ops->queue_list(s, state, limit, out, n, total);
}

void
queue_row_list_free(struct queue_row *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].message_id);
		free(v[i].address);
		free(v[i].reply);
	}
	free(v);
}

int
store_queue_message(struct store *s, const char *message_id,
                    struct queue_msg *out)
{
	return s->ops->queue_message(s, message_id, out);
}

void
queue_msg_clear(struct queue_msg *m)
{
	for (size_t i = 0; m->rcpts != NULL && i < m->nrcpts; i++) {
		free(m->rcpts[i].address);
		free(m->rcpts[i].reply);
	}
	free(m->rcpts);
	free(m->message_id);
	free(m->mail_from);
	free(m->subject);
	memset(m, 0, sizeof(*m));
}

int
store_queue_retry(struct store *s, int64_t msg_id, const char *domain,
                  int64_t now, int64_t *changed)
{
	return s->ops->queue_retry(s, msg_id, domain, now, changed);
}

int
store_request_add(struct store *s, const struct queue_req *r)
{
	return s->ops->request_add(s, r);
}

int
store_request_last(struct store *s, int64_t *id)
{
	return s->ops->request_last(s, id);
}

int
store_requests_after(struct store *s, int64_t after_id, store_request_fn *cb,
                     void *arg)
{
	return s->ops->requests_after(s, after_id, cb, arg);
}

int
store_dest_put(struct store *s, const struct store_dest *d)
{
	return s->ops->dest_put(s, d);
}

int
store_dest_del(struct store *s, const char *route, const char *domain)
{
	return s->ops->dest_del(s, route, domain);
}

int
store_dest_list(struct store *s, struct store_dest **out, size_t *n)
{
	return s->ops->dest_list(s, out, n);
}

void
store_dest_list_free(struct store_dest *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].domain);
		free(v[i].reply);
	}
	free(v);
}

int
store_suppression_add(struct store *s, const struct suppression *sp,
                      struct suppression *out, int *added)
{
	memset(out, 0, sizeof(*out));
	*added = 0;
	return s->ops->suppression_add(s, sp, out, added);
}

int
store_suppression_get(struct store *s, const char *account_id, const char *id,
                      struct suppression *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->suppression_get(s, account_id, id, out);
}

int
store_suppression_list(struct store *s, const char *account_id,
                       const char *after_id, int limit,
                       const struct supp_filter *f, struct suppression **out,
                       size_t *n)
{
	*out = NULL;
	*n = 0;
	return s->ops->suppression_list(s, account_id, after_id, limit, f, out,
	                                n);
}

void
suppression_list_free(struct suppression *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		suppression_clear(&v[i]);
	free(v);
}

int
store_suppression_edit(struct store *s, const char *account_id, const char *id,
                       const struct supp_edit *e)
{
	return s->ops->suppression_edit(s, account_id, id, e);
}

int
store_suppression_delete(struct store *s, const char *account_id,
                         const char *id)
{
	return s->ops->suppression_delete(s, account_id, id);
}

int
store_usage_put(struct store *s, const char *account_id, int64_t day,
                int64_t sent)
{
	return s->ops->usage_put(s, account_id, day, sent);
}

int
store_usage_day(struct store *s, int64_t day, store_usage_fn *cb, void *arg)
{
	return s->ops->usage_day(s, day, cb, arg);
}

int
store_usage_purge(struct store *s, int64_t before_day)
{
	return s->ops->usage_purge(s, before_day);
}

int
store_domain_get(struct store *s, const char *id, struct domain *out)
{
	return s->ops->domain_get(s, id, out);
}

int
store_domain_delete(struct store *s, const char *id)
{
	return s->ops->domain_delete(s, id);
}

int
store_message_list(struct store *s, const char *account_id, int64_t before_id,
                   int limit, const char *q, struct msg_summary **out,
                   size_t *n)
{
	*out = NULL;
	*n = 0;
	return s->ops->message_list(s, account_id, before_id, limit, q, out, n);
}

void
msg_summary_list_free(struct msg_summary *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].message_id);
		free(v[i].mail_from);
		free(v[i].subject);
	}
	free(v);
}

/* -- webhooks (SPEC §6.5) ------------------------------------------------ */

int
store_webhook_create(struct store *s, const struct webhook *w)
{
	return s->ops->webhook_create(s, w);
}

int
store_webhook_list(struct store *s, const char *account_id,
                   struct webhook **out, size_t *n)
{
	return s->ops->webhook_list(s, account_id, out, n);
}

int
store_webhook_delete(struct store *s, const char *id)
{
	return s->ops->webhook_delete(s, id);
}

int
store_webhook_pump(struct store *s, const struct webhook *w, int64_t now,
                   int limit, int64_t *cursor)
{
	return s->ops->webhook_pump(s, w, now, limit, cursor);
}

int
store_webhook_due(struct store *s, const char *webhook_id, int64_t now,
                  int limit, store_webhook_job_fn *cb, void *arg)
{
	return s->ops->webhook_due(s, webhook_id, now, limit, cb, arg);
}

int
store_webhook_result(struct store *s, const char *webhook_id,
                     int64_t event_rowid, int ok, int attempts, int64_t next,
                     int give_up, const char *error, int64_t now)
{
	return s->ops->webhook_result(s, webhook_id, event_rowid, ok, attempts,
	                              next, give_up, error, now);
}

int
store_webhook_replay(struct store *s, const char *webhook_id, int64_t since,
                     int64_t until, const char *type, int64_t now,
                     int64_t *count)
{
	return s->ops->webhook_replay(s, webhook_id, since, until, type, now,
	                              count);
}

int
store_webhook_relax(struct store *s)
{
	return s->ops->webhook_relax(s);
}

void
webhook_clear(struct webhook *w)
{
	if (w == NULL)
		return;
	free(w->url);
	if (w->secret != NULL)
		explicit_bzero(w->secret, strlen(w->secret));
	free(w->secret);
	free(w->events);
	free(w->last_error);
	memset(w, 0, sizeof(*w));
}

void
webhook_list_free(struct webhook *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		webhook_clear(&v[i]);
	free(v);
}
