/*
 * suppression: `pigeon suppression list|add|remove` (SPEC §8.1, §9), the
 * operator's view of an account's suppression list. An address is read
 * with the project's parser (mail/addr.c) and kept in the envelope form
 * a send looks up; --domain names a sending domain of the account (the
 * sending_domain scope), else the entry is the account's. Entries a
 * running server reads at each send: nothing to signal. read_only
 * (policy) entries are not removed here either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/arena.h"
#include "../core/clock.h"
#include "../mail/addr.h"
#include "admin.h"

#define MAX_NOTE 1024    /* bytes, as the REST API */
#define LIST_DEFAULT 100 /* entries list shows without --limit */
#define LIST_MAX 1000000

/* The JSON form of an entry, as GET …/suppressions/{id} answers it. */
static struct json_object *
entry_json(const struct suppression *sp)
{
	struct json_object *o = json_object_new_object(), *sc;
	char t[32];

	json_object_object_add(o, "id", json_object_new_string(sp->id));
	json_object_object_add(o, "email", json_object_new_string(sp->email));
	json_object_object_add(
	    o, "reason", json_object_new_string(supp_reason_name(sp->reason)));
	clock_iso8601((time_t)(sp->created / 1000), t);
	json_object_object_add(o, "created_at", json_object_new_string(t));
	if (sp->expires_at != 0)
		clock_iso8601((time_t)(sp->expires_at / 1000), t);
	json_object_object_add(
	    o, "expires_at", sp->expires_at ? json_object_new_string(t) : NULL);
	json_object_object_add(o, "read_only",
	                       json_object_new_boolean(sp->read_only));
	json_object_object_add(
	    o, "note", sp->note ? json_object_new_string(sp->note) : NULL);
	sc = json_object_new_object();
	json_object_object_add(sc, "type",
	                       json_object_new_string(sp->scope_value
	                                                  ? "sending_domain"
	                                                  : "account"));
	if (sp->scope_value != NULL)
		json_object_object_add(sc, "value",
		                       json_object_new_string(sp->scope_value));
	json_object_object_add(o, "scope", sc);
	return o;
}

/* "account" or "domain NAME", for the human lines. */
static const char *
scope_str(const struct suppression *sp, char *buf, size_t len)
{
	if (sp->scope_value == NULL)
		return "account";
	snprintf(buf, len, "domain %s", sp->scope_value);
	return buf;
}

/* EMAIL in the envelope form into out (len bytes): 0, or ADMIN_USAGE
 * after saying why. */
static int
email_arg(const char *cmd, const char *s, char *out, size_t len)
{
	struct arena *a;
	struct mailbox mb;
	const char *why = "is not a valid address";
	int rc = -1;

	memset(&mb, 0, sizeof(mb));
	if ((a = arena_new(0)) != NULL && !addr_is_name_addr(s, strlen(s)) &&
	    addr_parse(a, s, strlen(s), &mb, &why) == 0 &&
	    strlen(mb.ascii) < len) {
		snprintf(out, len, "%s", mb.ascii);
		rc = 0;
	}
	arena_free(a);
	if (rc == 0)
		return 0;
	return admin_err(ADMIN_USAGE, "%s: '%s' %s", cmd, s,
	                 addr_is_name_addr(s, strlen(s))
	                     ? "must be a bare address (a@b)"
	                     : why);
}

/* --domain NAME: a sending domain of account id, its stored name into
 * out. 0, ADMIN_USAGE (not a domain name) or ADMIN_FAIL (not one of the
 * account's), after saying so. */
static int
domain_arg(struct store *s, const char *cmd, const char *id, const char *v,
           char *out, size_t len)
{
	struct domain d;
	char name[256];
	int rc;

	if (admin_domain_name(v, name, sizeof(name)) == -1)
		return admin_err(ADMIN_USAGE,
		                 "%s: --domain '%s' is not a domain "
		                 "name",
		                 cmd, v);
	memset(&d, 0, sizeof(d));
	rc = store_domain_get_by_name(s, name, &d);
	if (rc == -1)
		return admin_err(ADMIN_FAIL, "cannot read domain %s: %s", name,
		                 store_error(s));
	if (rc == STORE_NOT_FOUND || strcmp(d.account_id, id) != 0) {
		domain_clear(&d);
		return admin_err(ADMIN_FAIL,
		                 "%s: %s is not a sending domain of account %s "
		                 "(see pigeon domain create)",
		                 cmd, name, id);
	}
	snprintf(out, len, "%s", d.name);
	domain_clear(&d);
	return 0;
}

int
admin_suppression_list(struct admin *a)
{
	static const char *const reasons[] = {
	    "manual", "hard_bounce", "soft_bounce", "complaint", "policy"};
	struct supp_filter f = {.reason = -1};
	struct suppression *v = NULL;
	struct account ac;
	struct store *s = NULL;
	struct json_object *arr;
	const char *o;
	char id[ID_LEN + 1], email[STORE_ADDR_MAX], when[32], sc[300];
	int64_t limit = LIST_DEFAULT;
	size_t n = 0, i;
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	if (admin_id_arg("suppression list", "ACCOUNT_ID", a->args[0], id,
	                 NULL) != 0)
		return ADMIN_USAGE;
	if ((o = admin_opt(a, "--email")) != NULL) {
		if (email_arg("suppression list --email", o, email,
		              sizeof(email)) != 0)
			return ADMIN_USAGE;
		f.email = email;
	}
	if ((o = admin_opt(a, "--reason")) != NULL) {
		for (i = 0; i < 5; i++)
			if (strcmp(o, reasons[i]) == 0)
				f.reason = (int)i;
		if (f.reason < 0)
			return admin_err(ADMIN_USAGE,
			                 "suppression list: --reason '%s': use "
			                 "manual, hard_bounce, soft_bounce, "
			                 "complaint or policy",
			                 o);
	}
	if ((o = admin_opt(a, "--limit")) != NULL &&
	    (admin_parse_count(o, &limit) == -1 || limit < 1 ||
	     limit > LIST_MAX))
		return admin_err(ADMIN_USAGE,
		                 "suppression list: --limit '%s': use a number "
		                 "from 1 to %d",
		                 o, LIST_MAX);
	f.now = clock_now_ms();
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	/* one more than shown: whether there are more */
	if (store_suppression_list(s, id, "", (int)limit + 1, &f, &v, &n) !=
	    0) {
		admin_err(ADMIN_FAIL, "cannot list suppressions: %s",
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		arr = json_object_new_array();
		for (i = 0; i < n && i < (size_t)limit; i++)
			json_object_array_add(arr, entry_json(&v[i]));
		admin_json_print(arr);
	} else if (n == 0)
		printf("no suppressions in account %s%s\n", id,
		       f.email || f.reason >= 0 ? " that match" : "");
	else
		printf("%-32s  %-32s  %-11s  %-20s  %-20s  %s\n", "ID", "EMAIL",
		       "REASON", "SCOPE", "EXPIRES", "NOTE");
	for (i = 0; !a->json && i < n && i < (size_t)limit; i++) {
		admin_time_str(v[i].expires_at / 1000, when);
		printf("%-32s  %-32s  %-11s  %-20s  %-20s  %s%s\n", v[i].id,
		       v[i].email, supp_reason_name(v[i].reason),
		       scope_str(&v[i], sc, sizeof(sc)), when,
		       v[i].note ? v[i].note : "",
		       v[i].read_only ? " (read_only)" : "");
	}
	if (!a->json && n > (size_t)limit)
		printf("(more: --limit N shows more)\n");
	status = ADMIN_OK;
fail:
	suppression_list_free(v, n);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_suppression_add(struct admin *a)
{
	struct suppression sp, out;
	struct account ac;
	struct store *s = NULL;
	struct json_object *o;
	const char *v, *note = admin_opt(a, "--note");
	char id[ID_LEN + 1], email[STORE_ADDR_MAX], dom[256], sc[300];
	time_t expires = 0;
	int status = ADMIN_FAIL, added = 0, rc;

	memset(&ac, 0, sizeof(ac));
	memset(&sp, 0, sizeof(sp));
	memset(&out, 0, sizeof(out));
	if (admin_id_arg("suppression add", "ACCOUNT_ID", a->args[0], id,
	                 NULL) != 0 ||
	    email_arg("suppression add", a->args[1], email, sizeof(email)) != 0)
		return ADMIN_USAGE;
	if ((v = admin_opt(a, "--expires")) != NULL) {
		if (admin_parse_time(v, &expires) == -1)
			return admin_err(ADMIN_USAGE,
			                 "suppression add: --expires '%s': use "
			                 "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
			                 v);
		if (expires <= clock_now())
			return admin_err(
			    ADMIN_USAGE,
			    "suppression add: --expires '%s' is in "
			    "the past",
			    v);
	}
	if (note != NULL && strlen(note) > MAX_NOTE)
		return admin_err(ADMIN_USAGE,
		                 "suppression add: --note is longer than %d "
		                 "bytes",
		                 MAX_NOTE);
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if ((v = admin_opt(a, "--domain")) != NULL) {
		if ((status = domain_arg(s, "suppression add", id, v, dom,
		                         sizeof(dom))) != 0)
			goto fail;
		status = ADMIN_FAIL;
		sp.scope_value = dom;
	}
	admin_new_id(sp.id);
	memcpy(sp.account_id, id, sizeof(sp.account_id));
	sp.email = email;
	sp.reason = SUPP_MANUAL;
	sp.note = note != NULL && *note != '\0' ? (char *)note : NULL;
	sp.expires_at = (int64_t)expires * 1000;
	if ((rc = store_begin(s)) == 0 &&
	    (rc = store_suppression_add(s, &sp, &out, &added)) == 0)
		rc = store_commit(s);
	if (rc != 0) {
		admin_err(ADMIN_FAIL, "cannot add the suppression: %s",
		          store_error(s));
		store_rollback(s);
		goto fail;
	}
	if (a->json) {
		o = entry_json(&out);
		json_object_object_add(o, "added",
		                       json_object_new_boolean(added));
		admin_json_print(o);
	} else if (added)
		printf("added suppression %s: %s (%s)\n", out.id, out.email,
		       scope_str(&out, sc, sizeof(sc)));
	else
		printf("%s is on the list already (%s): suppression %s, "
		       "reason %s\n",
		       out.email, scope_str(&out, sc, sizeof(sc)), out.id,
		       supp_reason_name(out.reason));
	status = ADMIN_OK;
fail:
	suppression_clear(&out);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_suppression_remove(struct admin *a)
{
	struct supp_filter f = {.reason = -1};
	struct suppression sp, *v = NULL;
	struct account ac;
	struct store *s = NULL;
	struct json_object *o;
	const char *d = admin_opt(a, "--domain");
	char id[ID_LEN + 1], sid[ID_LEN + 1], email[STORE_ADDR_MAX];
	char dom[256], sc[300];
	size_t n = 0;
	int status = ADMIN_FAIL, by_id, rc;

	memset(&ac, 0, sizeof(ac));
	memset(&sp, 0, sizeof(sp));
	if (admin_id_arg("suppression remove", "ACCOUNT_ID", a->args[0], id,
	                 NULL) != 0)
		return ADMIN_USAGE;
	by_id = admin_id_parse(a->args[1], sid) == 0;
	if (by_id && d != NULL)
		return admin_err(ADMIN_USAGE,
		                 "suppression remove: --domain goes with an "
		                 "EMAIL, not an ID");
	if (!by_id && email_arg("suppression remove", a->args[1], email,
	                        sizeof(email)) != 0)
		return ADMIN_USAGE;
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (by_id)
		rc = store_suppression_get(s, id, sid, &sp);
	else {
		/* the entry of this address and scope */
		f.email = email;
		f.scope_type = "account";
		if (d != NULL) {
			if ((status = domain_arg(s, "suppression remove", id, d,
			                         dom, sizeof(dom))) != 0)
				goto fail;
			status = ADMIN_FAIL;
			f.scope_type = "sending_domain";
			f.scope_value = dom;
		}
		rc = store_suppression_list(s, id, "", 1, &f, &v, &n);
		if (rc == 0 && n == 0)
			rc = STORE_NOT_FOUND;
		else if (rc == 0) {
			sp = v[0];
			free(v);
			v = NULL;
			n = 0;
		}
	}
	if (rc == STORE_NOT_FOUND) {
		admin_err(ADMIN_FAIL,
		          "no suppression %s in account %s%s%s (see pigeon "
		          "suppression list)",
		          a->args[1], id, d ? " for domain " : "", d ? d : "");
		goto fail;
	}
	if (rc == 0 && sp.read_only) {
		admin_err(ADMIN_FAIL,
		          "suppression %s is read_only (reason %s): it cannot "
		          "be removed",
		          sp.id, supp_reason_name(sp.reason));
		goto fail;
	}
	if (rc == 0)
		rc = store_suppression_delete(s, id, sp.id);
	if (rc == STORE_NOT_FOUND) {
		admin_err(ADMIN_FAIL, "suppression %s is gone already", sp.id);
		goto fail;
	}
	if (rc != 0) {
		admin_err(ADMIN_FAIL, "cannot remove the suppression: %s",
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		o = entry_json(&sp);
		json_object_object_add(o, "removed",
		                       json_object_new_boolean(1));
		admin_json_print(o);
	} else
		printf("removed suppression %s: %s (%s)\n", sp.id, sp.email,
		       scope_str(&sp, sc, sizeof(sc)));
	status = ADMIN_OK;
fail:
	suppression_list_free(v, n);
	suppression_clear(&sp);
	account_clear(&ac);
	store_close(s);
	return status;
}
