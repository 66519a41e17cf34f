/*
 * webhook: `pigeon webhook add|list|remove|replay` (SPEC §6.5, §9). The
 * signing secret is 64 random hex characters, shown once by add; a
 * running server reads the webhooks again every second, so a change
 * here needs no signal. Event types are SPEC §6.5's, given short
 * ("delivered") or full ("cf.email.sending.message.delivered"); they
 * are stored and shown full.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../core/random.h"
#include "../webhook/webhook.h"
#include "admin.h"

#define TYPES_HELP                                                             \
	"delivered, deferred, bounced, failed, rejected, complained (or "      \
	"their full names, cf.email.sending.message.delivered, ...)"

static struct json_object *
jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* ",a,b," → ["a","b"]; NULL (every type) → null. */
static struct json_object *
types_json(const char *events)
{
	struct json_object *arr;
	const char *p, *e;

	if (events == NULL)
		return NULL;
	arr = json_object_new_array();
	for (p = events; *p; p = e) {
		p += strspn(p, ",");
		e = p + strcspn(p, ",");
		if (e > p)
			json_object_array_add(
			    arr, json_object_new_string_len(p, (int)(e - p)));
	}
	return arr;
}

/* ",a,b," → "a,b" into out; NULL → "all". */
static const char *
types_str(const char *events, char *out, size_t outlen)
{
	size_t n;

	if (events == NULL)
		return "all";
	snprintf(out, outlen, "%s", events + (events[0] == ','));
	n = strlen(out);
	if (n > 0 && out[n - 1] == ',')
		out[n - 1] = '\0';
	return out;
}

static struct json_object *
webhook_json(const struct webhook *w, int counts)
{
	struct json_object *o = json_object_new_object();
	char t[32];

	json_object_object_add(o, "id", json_object_new_string(w->id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(w->account_id));
	json_object_object_add(o, "url", json_object_new_string(w->url));
	json_object_object_add(o, "events", types_json(w->events));
	clock_iso8601((time_t)w->created, t);
	json_object_object_add(o, "created", json_object_new_string(t));
	if (counts) {
		/* in the outbox, or still to be read into it */
		json_object_object_add(
		    o, "pending",
		    json_object_new_int64(w->pending + w->unread));
		json_object_object_add(o, "given_up",
		                       json_object_new_int64(w->given_up));
		json_object_object_add(o, "last_error", jstr(w->last_error));
		if (w->last_error_at != 0)
			clock_iso8601((time_t)(w->last_error_at / 1000), t);
		json_object_object_add(
		    o, "last_error_at",
		    w->last_error_at != 0 ? json_object_new_string(t) : NULL);
	}
	return o;
}

int
admin_webhook_add(struct admin *a)
{
	struct account ac;
	struct webhook w;
	struct store *s = NULL;
	struct json_object *o;
	const char *url = a->args[1], *ev = admin_opt(a, "--events");
	char id[ID_LEN + 1], secret[WEBHOOK_SECRET_LEN + 1];
	char types[WEBHOOK_TYPES_MAX], bad[128], ts[WEBHOOK_TYPES_MAX];
	int status = ADMIN_FAIL, rc;

	memset(&ac, 0, sizeof(ac));
	memset(&w, 0, sizeof(w));
	if (admin_id_arg("webhook add", "ACCOUNT_ID", a->args[0], id, NULL) !=
	    0)
		return ADMIN_USAGE;
	if (!webhook_url_ok(url))
		return admin_err(ADMIN_USAGE,
		                 "webhook add: URL '%.200s' is not an http:// "
		                 "or https:// URL",
		                 url);
	if (ev != NULL && webhook_types_parse(ev, types, sizeof(types), bad,
	                                      sizeof(bad)) != 0)
		return admin_err(ADMIN_USAGE,
		                 "webhook add: --events: '%s' is not an event "
		                 "type; use " TYPES_HELP,
		                 bad);
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	admin_new_id(w.id);
	memcpy(w.account_id, id, sizeof(w.account_id));
	random_hex(secret, WEBHOOK_SECRET_LEN / 2);
	w.url = (char *)url;
	w.secret = secret;
	w.events = ev != NULL ? types : NULL;
	w.created = clock_now();
	if ((rc = store_webhook_create(s, &w)) != 0) {
		admin_err(ADMIN_FAIL, "cannot add the webhook: %s",
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		o = webhook_json(&w, 0);
		json_object_object_add(o, "secret",
		                       json_object_new_string(secret));
		admin_json_print(o);
	} else {
		printf("added webhook %s for account %s: %s (events %s)\n",
		       w.id, id, url, types_str(w.events, ts, sizeof(ts)));
		printf(
		    "each POST is signed with this secret (Pigeon-Signature); "
		    "it is shown only once:\n%s\n",
		    secret);
	}
	status = ADMIN_OK;
fail:
	explicit_bzero(secret, sizeof(secret));
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_webhook_list(struct admin *a)
{
	struct account ac;
	struct webhook *v = NULL;
	struct store *s = NULL;
	struct json_object *arr;
	char id[ID_LEN + 1], ts[WEBHOOK_TYPES_MAX], when[32];
	size_t n = 0, i;
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	if (admin_id_arg("webhook list", "ACCOUNT_ID", a->args[0], id, NULL) !=
	    0)
		return ADMIN_USAGE;
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (store_webhook_list(s, id, &v, &n) != 0) {
		admin_err(ADMIN_FAIL, "cannot list webhooks: %s",
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		arr = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(arr, webhook_json(&v[i], 1));
		admin_json_print(arr);
	} else if (n == 0)
		printf("no webhooks in account %s (see pigeon webhook add)\n",
		       id);
	for (i = 0; !a->json && i < n; i++) {
		admin_time_str(v[i].last_error_at / 1000, when);
		printf("%s  %s  events %s  pending %lld  given up %lld",
		       v[i].id, v[i].url,
		       types_str(v[i].events, ts, sizeof(ts)),
		       (long long)(v[i].pending + v[i].unread),
		       (long long)v[i].given_up);
		if (v[i].last_error != NULL)
			printf("  last error %s: %s", when, v[i].last_error);
		printf("\n");
	}
	status = ADMIN_OK;
fail:
	webhook_list_free(v, n);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_webhook_remove(struct admin *a)
{
	struct store *s = NULL;
	struct json_object *o;
	char id[ID_LEN + 1];
	int status = ADMIN_FAIL, rc;

	if (admin_id_arg("webhook remove", "WEBHOOK_ID", a->args[0], id,
	                 "webhook list") != 0)
		return ADMIN_USAGE;
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	rc = store_webhook_delete(s, id);
	if (rc == STORE_NOT_FOUND) {
		admin_err(ADMIN_FAIL, "no webhook %s (see pigeon webhook list)",
		          id);
		goto fail;
	} else if (rc != 0) {
		admin_err(ADMIN_FAIL, "cannot remove webhook %s: %s", id,
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(id));
		admin_json_print(o);
	} else
		printf("removed webhook %s\n", id);
	status = ADMIN_OK;
fail:
	store_close(s);
	return status;
}

int
admin_webhook_replay(struct admin *a)
{
	struct store *s = NULL;
	struct json_object *o;
	const char *since = admin_opt(a, "--since");
	const char *until = admin_opt(a, "--until");
	const char *type = admin_opt(a, "--type"), *full = NULL;
	char id[ID_LEN + 1];
	time_t t0 = 0, t1 = 0;
	int64_t count = 0;
	int status = ADMIN_FAIL, rc;

	if (admin_id_arg("webhook replay", "WEBHOOK_ID", a->args[0], id,
	                 "webhook list") != 0)
		return ADMIN_USAGE;
	if (since == NULL)
		return admin_err(ADMIN_USAGE,
		                 "webhook replay: --since TIME is required");
	if (admin_parse_time(since, &t0) == -1)
		return admin_err(ADMIN_USAGE,
		                 "webhook replay: --since '%s': use YYYY-MM-DD "
		                 "or YYYY-MM-DDTHH:MM:SSZ",
		                 since);
	if (until != NULL && admin_parse_time(until, &t1) == -1)
		return admin_err(ADMIN_USAGE,
		                 "webhook replay: --until '%s': use YYYY-MM-DD "
		                 "or YYYY-MM-DDTHH:MM:SSZ",
		                 until);
	if (until != NULL && t1 <= t0)
		return admin_err(
		    ADMIN_USAGE,
		    "webhook replay: --until must be after --since");
	if (type != NULL && (full = webhook_type_full(type)) == NULL)
		return admin_err(ADMIN_USAGE,
		                 "webhook replay: --type '%s' is not an event "
		                 "type; use " TYPES_HELP,
		                 type);
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	rc =
	    store_webhook_replay(s, id, (int64_t)t0 * 1000,
	                         until != NULL ? (int64_t)t1 * 1000 : INT64_MAX,
	                         full, clock_now_ms(), &count);
	if (rc == STORE_NOT_FOUND) {
		admin_err(ADMIN_FAIL, "no webhook %s (see pigeon webhook list)",
		          id);
		goto fail;
	} else if (rc != 0) {
		admin_err(ADMIN_FAIL, "cannot replay webhook %s: %s", id,
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "queued",
		                       json_object_new_int64(count));
		admin_json_print(o);
	} else
		printf("queued %lld events again for webhook %s\n",
		       (long long)count, id);
	status = ADMIN_OK;
fail:
	store_close(s);
	return status;
}
