/*
 * suppressions: the suppression list managed over REST (SPEC §8.1),
 * under /accounts/{a}/email/sending/suppressions: create, list, get,
 * edit (PATCH), delete, and bulk create. Reads and the short write
 * transactions go through the calling HTTP thread's own store
 * connection (req_store); the send path is not touched: it finds what
 * is written here with store_suppression_find (submit/submit.c).
 *
 * An address is read with the project's parser (mail/addr.c) and kept
 * in its envelope form (struct mailbox.ascii: the domain in lowercase
 * A-labels, the local part as given), the form a send looks up. A
 * sending_domain scope names a sending domain of the account, kept as
 * its stored name. read_only (policy) entries cannot be changed or
 * deleted: 409/10001.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../mail/addr.h"
#include "../tenant/rules.h"
#include "jsonreq.h"
#include "req.h"
#include "routes.h"

#define SUPP_MAX_BULK 1000 /* items of one bulk request */
#define SUPP_MAX_NOTE 1024 /* bytes of a note */

/* A store that cannot be read or written answers "try again" (503 with
 * Retry-After), never 500, as messages.c does. */
static int
store_down(struct req *rq, struct store *st)
{
	if (st != NULL)
		log_warnx("suppressions: store: %s", store_error(st));
	return req_fail(rq, AE_UNAVAILABLE, NULL,
	                "the suppression list cannot be read or written "
	                "right now; nothing was changed, try again");
}

/* "2026-11-26T06:13:41Z" or null. */
static int
put_time(struct buf *b, const char *key, int64_t ms)
{
	char t[32];

	if (ms == 0)
		return buf_printf(b, ",\"%s\":null", key);
	clock_iso8601((time_t)(ms / 1000), t);
	return buf_printf(b, ",\"%s\":\"%s\"", key, t);
}

/* ,"scope":{"type":"account"} or {"type":"sending_domain","value":…} */
static int
put_scope(struct buf *b, const char *value)
{
	if (value == NULL)
		return buf_puts(b, ",\"scope\":{\"type\":\"account\"}");
	if (buf_puts(b, ",\"scope\":{\"type\":\"sending_domain\",\"value\":") ==
	        -1 ||
	    envelope_cstr(b, value) == -1)
		return -1;
	return buf_putc(b, '}');
}

/* One entry as SPEC §8.1 shows it. */
static int
put_entry(struct buf *b, const struct suppression *sp)
{
	char t[32];

	clock_iso8601((time_t)(sp->created / 1000), t);
	if (buf_printf(b, "{\"id\":\"%s\",\"email\":", sp->id) == -1 ||
	    envelope_cstr(b, sp->email) == -1 ||
	    buf_printf(b, ",\"reason\":\"%s\",\"created_at\":\"%s\"",
	               supp_reason_name(sp->reason), t) == -1 ||
	    put_time(b, "expires_at", sp->expires_at) == -1 ||
	    buf_printf(b, ",\"read_only\":%s,\"note\":",
	               sp->read_only ? "true" : "false") == -1 ||
	    envelope_cstr(b, sp->note) == -1 ||
	    put_scope(b, sp->scope_value) == -1)
		return -1;
	return buf_putc(b, '}');
}

/* Answers 200 with the result written by put (and arg), or 500 when
 * out of memory. */
static int
answer(struct req *rq, int (*put)(struct buf *, const void *), const void *arg)
{
	struct buf b;

	buf_init(&b, 0);
	if (envelope_open(&b) == -1 || put(&b, arg) == -1 ||
	    envelope_close(&b) == -1) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}

static int
put_entry_v(struct buf *b, const void *sp)
{
	return put_entry(b, sp);
}

/* {id, scope}: what create and delete answer. */
static int
put_ref(struct buf *b, const void *arg)
{
	const struct suppression *sp = arg;

	if (buf_printf(b, "{\"id\":\"%s\"", sp->id) == -1 ||
	    put_scope(b, sp->scope_value) == -1)
		return -1;
	return buf_putc(b, '}');
}

/* One entry to create, read from a request, strings in the arena. */
struct item {
	const char *given; /* the email as the client wrote it, or NULL */
	struct suppression sp;
};

/* Fills e with a 400 at pointer at+field saying what; returns -1. */
static int
bad(struct req *rq, struct api_error *e, enum api_err kind, const char *at,
    const char *field, const char *what)
{
	e->kind = kind;
	e->pointer = arena_printf(rq->a, "%s%s", at, field);
	e->detail = what;
	return -1;
}

/* expires_at of a body: null or absent (never, 0), or an RFC 3339
 * date-time in the future. 0, or -1 with e. */
static int
read_expiry(struct req *rq, struct json_object *v, const char *at, int64_t *out,
            struct api_error *e)
{
	const char *s;

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad(rq, e, AE_SCHEMA, at, "/expires_at",
		           "expires_at must be an RFC 3339 date-time string "
		           "or null");
	s = json_object_get_string(v);
	if (clock_parse_iso8601(s, 0, out) == -1 ||
	    strlen(s) != (size_t)json_object_get_string_len(v))
		return bad(rq, e, AE_SCHEMA, at, "/expires_at",
		           arena_printf(rq->a,
		                        "expires_at '%.64s' is not an RFC 3339 "
		                        "date-time such as "
		                        "2026-12-31T00:00:00Z",
		                        s));
	if (*out <= clock_now_ms())
		return bad(rq, e, AE_SCHEMA, at, "/expires_at",
		           arena_printf(
		               rq->a, "expires_at '%.64s' is in the past", s));
	return 0;
}

/* note of a body: null or absent (none), or a string of at most
 * SUPP_MAX_NOTE bytes without a NUL. 0, or -1 with e. */
static int
read_note(struct req *rq, struct json_object *v, const char *at,
          const char **out, struct api_error *e)
{
	const char *s;
	size_t n;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad(rq, e, AE_SCHEMA, at, "/note",
		           "note must be a string or null");
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n)
		return bad(rq, e, AE_SCHEMA, at, "/note",
		           "note contains a NUL character");
	if (n > SUPP_MAX_NOTE)
		return bad(rq, e, AE_SCHEMA, at, "/note",
		           "note is longer than 1024 bytes");
	*out = n > 0 ? s : NULL;
	return 0;
}

/* The member key of o, NULL when absent or null. */
static struct json_object *
member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/*
 * One entry to create from the object o (a create body, or an item of
 * a bulk one at pointer at): {email, expires_at?, note?, scope?}. 0, or
 * -1 with e (its strings in the arena).
 */
static int
read_item(struct req *rq, struct json_object *o, const char *at,
          struct item *it, struct api_error *e)
{
	struct json_object *v, *sc;
	struct mailbox mb;
	const char *s, *why, *type;
	char name[256];
	size_t n;

	memset(it, 0, sizeof(*it));
	it->sp.reason = SUPP_MANUAL;
	snprintf(it->sp.account_id, sizeof(it->sp.account_id), "%s",
	         rq->auth.account->id);
	if (!json_object_is_type(o, json_type_object))
		return bad(rq, e, AE_SCHEMA, at, "",
		           "an entry must be a JSON object");
	if ((v = member(o, "email")) == NULL)
		return bad(rq, e, AE_SCHEMA, at, "/email", "email is required");
	if (!json_object_is_type(v, json_type_string))
		return bad(rq, e, AE_SCHEMA, at, "/email",
		           "email must be a string");
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	it->given = s;
	if (addr_is_name_addr(s, n))
		return bad(rq, e, AE_SCHEMA, at, "/email",
		           arena_printf(rq->a,
		                        "email '%.300s' must be a bare address "
		                        "(a@b), not \"Name <a@b>\"",
		                        s));
	memset(&mb, 0, sizeof(mb));
	if (strlen(s) != n || addr_parse(rq->a, s, n, &mb, &why) == -1)
		return bad(rq, e, AE_INVALID, at, "/email",
		           arena_printf(rq->a, "email '%.300s' %s", s,
		                        strlen(s) != n
		                            ? "contains a NUL character"
		                            : why));
	it->sp.email = (char *)mb.ascii;
	if (read_expiry(rq, member(o, "expires_at"), at, &it->sp.expires_at,
	                e) == -1 ||
	    read_note(rq, member(o, "note"), at, (const char **)&it->sp.note,
	              e) == -1)
		return -1;
	if ((sc = member(o, "scope")) == NULL)
		return 0;
	if (!json_object_is_type(sc, json_type_object))
		return bad(rq, e, AE_SCHEMA, at, "/scope",
		           "scope must be an object: {\"type\":\"account\"} or "
		           "{\"type\":\"sending_domain\",\"value\":NAME}");
	v = member(sc, "type");
	type = v != NULL && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : NULL;
	if (type == NULL || (strcmp(type, "account") != 0 &&
	                     strcmp(type, "sending_domain") != 0))
		return bad(rq, e, AE_SCHEMA, at, "/scope/type",
		           "scope.type must be \"account\" or "
		           "\"sending_domain\"");
	v = member(sc, "value");
	if (strcmp(type, "account") == 0) {
		if (v != NULL)
			return bad(rq, e, AE_SCHEMA, at, "/scope/value",
			           "scope.value is for a sending_domain scope "
			           "only");
		return 0;
	}
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return bad(rq, e, AE_SCHEMA, at, "/scope/value",
		           "scope.value must be the name of a sending domain");
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v) ||
	    tenant_domain_name(s, name, sizeof(name)) == -1 ||
	    tenant_domain(&rq->auth, name) == NULL)
		return bad(rq, e, AE_SCHEMA, at, "/scope/value",
		           arena_printf(rq->a,
		                        "scope.value '%.253s' is not a sending "
		                        "domain of this account",
		                        s));
	/* the stored name, as the send looks it up */
	it->sp.scope_value =
	    arena_strdup(rq->a, tenant_domain(&rq->auth, name)->d.name);
	if (it->sp.scope_value == NULL)
		return bad(rq, e, AE_INTERNAL, at, "", NULL);
	return 0;
}

/* The body of a POST or PATCH as a JSON object: 0, or -1 answered. */
static int
body_object(struct req *rq, int list, struct json_object **root)
{
	struct api_error e;
	int rc;

	if (rq->body == NULL || rq->body_len == 0) {
		req_fail(rq, AE_SCHEMA, "", "the body must be a JSON object");
		return -1;
	}
	rc = list ? jsonreq_parse_list(rq->body, rq->body_len, root, &e)
	          : jsonreq_parse(rq->body, rq->body_len, root, &e);
	if (rc == -1) {
		req_error(rq, &e);
		return -1;
	}
	return 0;
}

/* The :id of the route as an entry id (32 hex, lowercased), or NULL
 * when it cannot be one (then no entry has it). */
static const char *
entry_id(struct req *rq)
{
	char *id;

	if ((id = arena_alloc(rq->a, ID_LEN + 1)) == NULL ||
	    tenant_id_parse(req_param(rq, "id"), id) == -1)
		return NULL;
	return id;
}

static int
not_found(struct req *rq)
{
	return req_fail(rq, AE_NOT_FOUND, NULL, "no such suppression");
}

static int
read_only(struct req *rq, const struct suppression *sp)
{
	return req_fail(rq, AE_CONFLICT, NULL,
	                arena_printf(rq->a,
	                             "suppression %s is read_only (reason %s): "
	                             "it cannot be changed or deleted",
	                             sp->id, supp_reason_name(sp->reason)));
}

/* POST …/suppressions */
int
api_supp_create(struct req *rq)
{
	struct json_object *root = NULL;
	struct api_error e = {0};
	struct suppression out;
	struct store *st;
	struct item it;
	int added, rc;

	if (body_object(rq, 0, &root) == -1)
		return 0;
	if (read_item(rq, root, "", &it, &e) == -1) {
		json_object_put(root);
		return req_error(rq, &e);
	}
	tenant_new_id(it.sp.id);
	if ((st = req_store(rq)) == NULL) {
		json_object_put(root);
		return store_down(rq, NULL);
	}
	/* one short transaction: the entry written and read back */
	rc = store_begin(st);
	if (rc == 0 &&
	    (rc = store_suppression_add(st, &it.sp, &out, &added)) == 0 &&
	    (rc = store_commit(st)) != 0)
		suppression_clear(&out);
	json_object_put(root);
	if (rc != 0) {
		store_rollback(st);
		return store_down(rq, st);
	}
	if (added)
		log_info("suppression add account=%s id=%s reason=manual",
		         rq->auth.account->id, out.id);
	rc = answer(rq, put_ref, &out);
	suppression_clear(&out);
	return rc;
}

/* GET …/suppressions/{id} */
int
api_supp_get(struct req *rq)
{
	struct suppression sp;
	struct store *st;
	const char *id;
	int rc;

	if ((id = entry_id(rq)) == NULL)
		return not_found(rq);
	if ((st = req_store(rq)) == NULL)
		return store_down(rq, NULL);
	rc = store_suppression_get(st, rq->auth.account->id, id, &sp);
	if (rc == STORE_NOT_FOUND)
		return not_found(rq);
	if (rc != 0)
		return store_down(rq, st);
	rc = answer(rq, put_entry_v, &sp);
	suppression_clear(&sp);
	return rc;
}

/* PATCH …/suppressions/{id}: {expires_at?, note?}; nothing else can
 * change. */
int
api_supp_edit(struct req *rq)
{
	struct json_object *root = NULL;
	struct api_error e = {0};
	struct supp_edit ed;
	struct suppression sp;
	struct store *st;
	const char *id;
	int rc;

	memset(&sp, 0, sizeof(sp));
	memset(&ed, 0, sizeof(ed));
	if (body_object(rq, 0, &root) == -1)
		return 0;
	json_object_object_foreach(root, key, val)
	{
		(void)val;
		if (strcmp(key, "expires_at") == 0 || strcmp(key, "note") == 0)
			continue;
		e.kind = AE_SCHEMA;
		e.pointer = arena_printf(rq->a, "/%s", key);
		if (strcmp(key, "scope") == 0 || strcmp(key, "email") == 0)
			e.detail = arena_printf(
			    rq->a,
			    "%s is immutable: delete the suppression and "
			    "create it again",
			    key);
		else
			e.detail = arena_printf(
			    rq->a,
			    "'%.64s' is immutable or unknown: only "
			    "expires_at and note can be changed",
			    key);
		goto refuse;
	}
	if (json_object_object_get_ex(root, "expires_at", NULL)) {
		ed.set_expires = 1;
		if (read_expiry(rq, member(root, "expires_at"), "",
		                &ed.expires_at, &e) == -1)
			goto refuse;
	}
	if (json_object_object_get_ex(root, "note", NULL)) {
		ed.set_note = 1;
		if (read_note(rq, member(root, "note"), "", &ed.note, &e) == -1)
			goto refuse;
	}
	if ((id = entry_id(rq)) == NULL) {
		json_object_put(root);
		return not_found(rq);
	}
	if ((st = req_store(rq)) == NULL) {
		json_object_put(root);
		return store_down(rq, NULL);
	}
	rc = store_suppression_get(st, rq->auth.account->id, id, &sp);
	if (rc == 0 && sp.read_only) {
		json_object_put(root);
		rc = read_only(rq, &sp);
		suppression_clear(&sp);
		return rc;
	}
	suppression_clear(&sp);
	if (rc == 0 && (ed.set_expires || ed.set_note))
		rc = store_suppression_edit(st, rq->auth.account->id, id, &ed);
	json_object_put(root);
	if (rc == 0)
		rc = store_suppression_get(st, rq->auth.account->id, id, &sp);
	if (rc == STORE_NOT_FOUND)
		return not_found(rq);
	if (rc != 0)
		return store_down(rq, st);
	rc = answer(rq, put_entry_v, &sp);
	suppression_clear(&sp);
	return rc;
refuse:
	json_object_put(root);
	return req_error(rq, &e);
}

/* DELETE …/suppressions/{id} */
int
api_supp_delete(struct req *rq)
{
	struct suppression sp;
	struct store *st;
	const char *id;
	int rc;

	if ((id = entry_id(rq)) == NULL)
		return not_found(rq);
	if ((st = req_store(rq)) == NULL)
		return store_down(rq, NULL);
	rc = store_suppression_get(st, rq->auth.account->id, id, &sp);
	if (rc == 0 && sp.read_only) {
		rc = read_only(rq, &sp);
		suppression_clear(&sp);
		return rc;
	}
	if (rc == 0 &&
	    (rc = store_suppression_delete(st, rq->auth.account->id, id)) != 0)
		suppression_clear(&sp);
	if (rc == STORE_NOT_FOUND)
		return not_found(rq);
	if (rc != 0)
		return store_down(rq, st);
	log_info("suppression remove account=%s id=%s", rq->auth.account->id,
	         sp.id);
	rc = answer(rq, put_ref, &sp);
	suppression_clear(&sp);
	return rc;
}

/* A page of the list and what comes after it. */
struct page {
	struct suppression *v;
	size_t n;
	int per_page;
	const char *cursor; /* NULL on the last page */
};

static int
put_page(struct buf *b, const void *arg)
{
	const struct page *pg = arg;

	if (buf_putc(b, '[') == -1)
		return -1;
	for (size_t i = 0; i < pg->n; i++)
		if ((i > 0 && buf_putc(b, ',') == -1) ||
		    put_entry(b, &pg->v[i]) == -1)
			return -1;
	if (buf_puts(b, "],\"result_info\":{\"cursor\":") == -1 ||
	    envelope_cstr(b, pg->cursor) == -1)
		return -1;
	/* the envelope's closing brace follows: result_info ends here and
	 * envelope_close closes the envelope */
	return buf_printf(b, ",\"per_page\":%d,\"count\":%zu}", pg->per_page,
	                  pg->n);
}

/* A query parameter that must be absent or one of names[]: 0, or -1
 * answered. */
static int
query_enum(struct req *rq, const char *name, const char *const *names, size_t n,
           const char **out)
{
	const char *v;
	int rc;

	*out = NULL;
	if ((rc = req_query(rq, name, &v)) != 0) {
		req_query_fail(rq, name, rc);
		return -1;
	}
	if (v == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = names[i];
			return 0;
		}
	req_fail(rq, AE_SCHEMA, NULL,
	         arena_printf(rq->a,
	                      "the %s parameter is not one of those "
	                      "allowed",
	                      name));
	return -1;
}

/* GET …/suppressions?per_page=&cursor=&email=&search=&reason=&
 * scope_type=&scope_value= */
int
api_supp_list(struct req *rq)
{
	static const char *const reasons[] = {
	    "manual", "hard_bounce", "soft_bounce", "complaint", "policy"};
	static const char *const types[] = {"account", "sending_domain"};
	struct supp_filter f = {.reason = -1};
	struct page pg;
	struct mailbox mb;
	struct store *st;
	const char *v, *reason, *why, *after = "";
	char name[256];
	int rc;

	memset(&pg, 0, sizeof(pg));
	f.now = clock_now_ms();
	if (req_per_page(rq, &pg.per_page) == -1 || req_cursor(rq, &v) == -1)
		return 0;
	if (v != NULL) {
		char *id = arena_alloc(rq->a, ID_LEN + 1);
		if (id == NULL || tenant_id_parse(v, id) == -1)
			return req_bad_cursor(rq);
		after = id;
	}
	if ((rc = req_query(rq, "email", &v)) != 0)
		return req_query_fail(rq, "email", rc);
	if (v != NULL) {
		memset(&mb, 0, sizeof(mb));
		if (addr_parse(rq->a, v, strlen(v), &mb, &why) == -1)
			return req_fail(
			    rq, AE_INVALID, NULL,
			    arena_printf(rq->a, "email '%.300s' %s", v, why));
		f.email = mb.ascii;
	}
	if ((rc = req_query(rq, "search", &f.search)) != 0)
		return req_query_fail(rq, "search", rc);
	if (query_enum(rq, "reason", reasons, 5, &reason) == -1 ||
	    query_enum(rq, "scope_type", types, 2, &f.scope_type) == -1)
		return 0;
	for (int r = 0; reason != NULL && r < 5; r++)
		if (strcmp(reason, reasons[r]) == 0)
			f.reason = r;
	if ((rc = req_query(rq, "scope_value", &v)) != 0)
		return req_query_fail(rq, "scope_value", rc);
	if (v != NULL) {
		if (f.scope_type != NULL &&
		    strcmp(f.scope_type, "account") == 0)
			return req_fail(rq, AE_SCHEMA, NULL,
			                "scope_value goes with "
			                "scope_type=sending_domain only");
		if (tenant_domain_name(v, name, sizeof(name)) == -1)
			return req_fail(rq, AE_SCHEMA, NULL,
			                arena_printf(rq->a,
			                             "scope_value '%.253s' is "
			                             "not a domain name",
			                             v));
		f.scope_type = "sending_domain";
		if ((f.scope_value = arena_strdup(rq->a, name)) == NULL)
			return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	if ((st = req_store(rq)) == NULL)
		return store_down(rq, NULL);
	/* one more than the page: whether another page follows */
	if (store_suppression_list(st, rq->auth.account->id, after,
	                           pg.per_page + 1, &f, &pg.v, &pg.n) != 0)
		return store_down(rq, st);
	if (pg.n > (size_t)pg.per_page) {
		pg.n = (size_t)pg.per_page;
		pg.cursor = pg.v[pg.n - 1].id;
	}
	rc = answer(rq, put_page, &pg);
	suppression_list_free(pg.v, pg.n + (pg.cursor != NULL));
	return rc;
}

/* Bulk: each item's outcome. */
enum item_status { IT_PROCESSED, IT_INVALID, IT_ERROR, IT_SKIPPED, IT_DUP };

struct bulk {
	struct item *it;
	enum item_status *status;
	const char **error; /* a sentence, or NULL */
	char (*id)[ID_LEN + 1];
	size_t n;
	size_t count[IT_DUP + 1];
};

static int
put_bulk(struct buf *b, const void *arg)
{
	static const char *const names[] = {"processed", "invalid", "error",
	                                    "skipped"};
	const struct bulk *bk = arg;
	int first = 1;

	if (buf_printf(b,
	               "{\"total\":%zu,\"processed\":%zu,\"invalid\":%zu,"
	               "\"errors\":%zu,\"skipped\":%zu,\"deduplicated\":%zu,"
	               "\"items\":[",
	               bk->n, bk->count[IT_PROCESSED], bk->count[IT_INVALID],
	               bk->count[IT_ERROR], bk->count[IT_SKIPPED],
	               bk->count[IT_DUP]) == -1)
		return -1;
	for (size_t i = 0; i < bk->n; i++) {
		if (bk->status[i] == IT_DUP)
			continue; /* counted once, not listed */
		if (buf_printf(b, "%s{\"index\":%zu,\"status\":\"%s\"",
		               first ? "" : ",", i, names[bk->status[i]]) == -1)
			return -1;
		first = 0;
		if (bk->id[i][0] != '\0' &&
		    (buf_printf(b, ",\"id\":\"%s\"", bk->id[i]) == -1 ||
		     put_scope(b, bk->it[i].sp.scope_value) == -1))
			return -1;
		if (bk->it[i].given != NULL &&
		    (buf_puts(b, ",\"email\":") == -1 ||
		     envelope_cstr(b, bk->it[i].given) == -1))
			return -1;
		if (bk->error[i] != NULL &&
		    (buf_puts(b, ",\"error\":") == -1 ||
		     envelope_cstr(b, bk->error[i]) == -1))
			return -1;
		if (buf_putc(b, '}') == -1)
			return -1;
	}
	return buf_puts(b, "]}");
}

/* 1 when item i repeats the address and scope of an earlier valid
 * one. */
static int
repeated(const struct bulk *bk, size_t i)
{
	const struct suppression *a = &bk->it[i].sp, *b;

	for (size_t j = 0; j < i; j++) {
		if (bk->status[j] != IT_PROCESSED)
			continue;
		b = &bk->it[j].sp;
		if (strcmp(a->email, b->email) == 0 &&
		    (a->scope_value == NULL) == (b->scope_value == NULL) &&
		    (a->scope_value == NULL ||
		     strcmp(a->scope_value, b->scope_value) == 0))
			return 1;
	}
	return 0;
}

/*
 * The valid, distinct items written in one transaction, each in a
 * savepoint of its own so one the store refuses fails alone. 0, or -1
 * when the transaction failed (nothing written).
 */
static int
bulk_write(struct store *st, struct bulk *bk)
{
	struct suppression out;
	int added;

	if (store_begin(st) != 0)
		return -1;
	for (size_t i = 0; i < bk->n; i++) {
		if (bk->status[i] != IT_PROCESSED)
			continue;
		tenant_new_id(bk->it[i].sp.id);
		if (store_op_begin(st) != 0)
			goto fail;
		if (store_suppression_add(st, &bk->it[i].sp, &out, &added) !=
		    0) {
			log_warnx("suppressions: bulk item %zu: %s", i,
			          store_error(st));
			if (store_op_end(st, 0) != 0)
				goto fail;
			bk->status[i] = IT_ERROR;
			bk->error[i] = "the entry could not be written";
			continue;
		}
		if (store_op_end(st, 1) != 0) {
			suppression_clear(&out);
			goto fail;
		}
		memcpy(bk->id[i], out.id, sizeof(bk->id[i]));
		if (!added) {
			bk->status[i] = IT_SKIPPED;
			bk->error[i] =
			    out.read_only ? "a read_only entry is there already"
			                  : "the address is on the suppression "
			                    "list already";
		}
		suppression_clear(&out);
	}
	if (store_commit(st) != 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/* POST …/suppressions/bulk {items:[…]} */
int
api_supp_bulk(struct req *rq)
{
	struct json_object *root = NULL, *items;
	struct api_error e = {0};
	struct store *st;
	struct bulk bk;
	size_t i;
	int rc;

	memset(&bk, 0, sizeof(bk));
	if (body_object(rq, 1, &root) == -1)
		return 0;
	if ((items = member(root, "items")) == NULL ||
	    !json_object_is_type(items, json_type_array)) {
		json_object_put(root);
		return req_fail(rq, AE_SCHEMA, "/items",
		                "items must be an array of entries");
	}
	bk.n = json_object_array_length(items);
	if (bk.n > SUPP_MAX_BULK) {
		json_object_put(root);
		return req_fail(rq, AE_SCHEMA, "/items",
		                arena_printf(rq->a,
		                             "items has %zu entries: at most "
		                             "1000 in one request",
		                             bk.n));
	}
	bk.it = arena_alloc(rq->a, (bk.n + 1) * sizeof(*bk.it));
	bk.status = arena_alloc(rq->a, (bk.n + 1) * sizeof(*bk.status));
	bk.error = arena_alloc(rq->a, (bk.n + 1) * sizeof(*bk.error));
	bk.id = arena_alloc(rq->a, (bk.n + 1) * sizeof(*bk.id));
	if (bk.it == NULL || bk.status == NULL || bk.error == NULL ||
	    bk.id == NULL) {
		json_object_put(root);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	for (i = 0; i < bk.n; i++) {
		bk.id[i][0] = '\0';
		bk.error[i] = NULL;
		bk.status[i] = IT_PROCESSED;
		if (read_item(rq, json_object_array_get_idx(items, i),
		              arena_printf(rq->a, "/items/%zu", i), &bk.it[i],
		              &e) == -1) {
			bk.status[i] = IT_INVALID;
			bk.error[i] = e.detail != NULL ? e.detail
			                               : "the entry is invalid";
		} else if (repeated(&bk, i))
			bk.status[i] = IT_DUP;
	}
	if ((st = req_store(rq)) == NULL) {
		json_object_put(root);
		return store_down(rq, NULL);
	}
	if (bulk_write(st, &bk) != 0) {
		json_object_put(root);
		return store_down(rq, st);
	}
	for (i = 0; i < bk.n; i++)
		bk.count[bk.status[i]]++;
	log_info("suppression bulk account=%s total=%zu processed=%zu "
	         "invalid=%zu skipped=%zu",
	         rq->auth.account->id, bk.n, bk.count[IT_PROCESSED],
	         bk.count[IT_INVALID], bk.count[IT_SKIPPED]);
	rc = answer(rq, put_bulk, &bk);
	json_object_put(root);
	return rc;
}
