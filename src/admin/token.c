/*
 * token: `pigeon token create|list|revoke` (SPEC §2.3, §9). A token is
 * 40 random chars of [A-Za-z0-9_-]; only its SHA-256 is stored, so the
 * secret is shown once, by create. --global-key makes a global API key
 * (X-Auth-Email + X-Auth-Key) instead of a Bearer token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "../tenant/json.h"
#include "admin.h"

#define MAX_TOKEN_NAME 255
#define MAX_EMAIL 254

static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Enough to catch a slip (no full RFC 5321 check: the key is only
 * compared with what the client sends in X-Auth-Email). */
static int
email_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (!text_ok(s, MAX_EMAIL) || strchr(s, ' ') || at == NULL || at == s ||
	    at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	return 1;
}

int
admin_token_create(struct admin *a)
{
	struct account ac;
	struct token t;
	struct store *s = NULL;
	struct json_object *o;
	const char *name = admin_opt(a, "--name"), *v;
	const char *email = admin_opt(a, "--global-key");
	char id[ID_LEN + 1], secret[TOKEN_LEN + 1], ps[32], when[32];
	char err[512];
	unsigned perms = PERM_SEND | PERM_READ | PERM_MANAGE;
	time_t expires = 0;
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	memset(&t, 0, sizeof(t));
	if (admin_id_arg("token create", "ACCOUNT_ID", a->args[0], id, NULL) !=
	    0)
		return ADMIN_USAGE;
	if (name && !text_ok(name, MAX_TOKEN_NAME))
		return admin_err(ADMIN_USAGE,
		                 "token create: --name must be "
		                 "1-%d characters, no control characters",
		                 MAX_TOKEN_NAME);
	if ((v = admin_opt(a, "--perm")) != NULL &&
	    (admin_parse_perms(v, &perms) == -1))
		return admin_err(ADMIN_USAGE,
		                 "token create: --perm '%s': use "
		                 "a comma-separated list of send, read, manage",
		                 v);
	if ((v = admin_opt(a, "--expires")) != NULL) {
		if (admin_parse_time(v, &expires) == -1)
			return admin_err(ADMIN_USAGE,
			                 "token create: "
			                 "--expires '%s': use YYYY-MM-DD or "
			                 "YYYY-MM-DDTHH:MM:SSZ",
			                 v);
		if (expires <= clock_now())
			return admin_err(ADMIN_USAGE,
			                 "token create: "
			                 "--expires '%s' is in the past",
			                 v);
	}
	if (email && !email_ok(email))
		return admin_err(ADMIN_USAGE,
		                 "token create: --global-key "
		                 "'%s' is not an email address",
		                 email);

	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (tenant_token_new(s, id, name, perms, expires, email, &t, secret,
	                     err, sizeof(err)) != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json) {
		o = tenant_token_json(&t);
		json_object_object_add(o, "token",
		                       json_object_new_string(secret));
		admin_json_print(o);
	} else {
		admin_time_str(t.expires, when);
		printf("created %s %s for account %s (perms %s, expires "
		       "%s)\n",
		       email ? "global API key" : "token", t.id, t.account_id,
		       admin_perms_str(t.perms, ps), when);
		if (email)
			printf("send it as X-Auth-Email: %s and X-Auth-Key: "
			       "the key below; it is shown only once:\n",
			       email);
		else
			printf("send it as Authorization: Bearer <token>; it "
			       "is shown only once:\n");
		printf("%s\n", secret);
	}
	status = ADMIN_OK;
fail:
	explicit_bzero(secret, sizeof(secret));
	token_clear(&t);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_token_list(struct admin *a)
{
	struct account ac;
	struct token *v = NULL;
	struct store *s = NULL;
	struct json_object *arr;
	char id[ID_LEN + 1], ps[32], when[32];
	size_t n = 0, i;
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	if (admin_id_arg("token list", "ACCOUNT_ID", a->args[0], id, NULL) != 0)
		return ADMIN_USAGE;
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (store_token_list(s, id, &v, &n) != 0) {
		admin_err(ADMIN_FAIL, "cannot list tokens: %s", store_error(s));
		goto fail;
	}
	if (a->json) {
		arr = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(arr, tenant_token_json(&v[i]));
		admin_json_print(arr);
	} else if (n == 0)
		printf("no tokens in account %s (see pigeon token create)\n",
		       id);
	for (i = 0; !a->json && i < n; i++) {
		admin_time_str(v[i].expires, when);
		printf("%s  %-7s  %-16s  expires %-20s  %s%s%s\n", v[i].id,
		       v[i].revoked ? "revoked" : "active",
		       admin_perms_str(v[i].perms, ps), when,
		       v[i].name ? v[i].name : "",
		       v[i].global_email ? " global-key " : "",
		       v[i].global_email ? v[i].global_email : "");
	}
	status = ADMIN_OK;
fail:
	token_list_free(v, n);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_token_revoke(struct admin *a)
{
	struct store *s = NULL;
	struct json_object *o;
	char id[ID_LEN + 1];
	int status = ADMIN_FAIL, rc;

	if (admin_id_arg("token revoke", "TOKEN_ID", a->args[0], id,
	                 "token list") != 0)
		return ADMIN_USAGE;
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	rc = store_token_revoke(s, id);
	/* store.h gives writes no "not found" code; the SQLite backend
	 * says so in its error text. */
	if (rc == STORE_NOT_FOUND ||
	    (rc == -1 && strstr(store_error(s), "not found"))) {
		admin_err(ADMIN_FAIL, "no token %s (see pigeon token list)",
		          id);
		goto fail;
	} else if (rc != 0) {
		admin_err(ADMIN_FAIL, "cannot revoke token %s: %s", id,
		          store_error(s));
		goto fail;
	}
	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "revoked",
		                       json_object_new_boolean(1));
		admin_json_print(o);
	} else
		printf("revoked token %s\n", id);
	status = ADMIN_OK;
fail:
	store_close(s);
	return status;
}
