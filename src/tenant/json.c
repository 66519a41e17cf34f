/*
 * json: field names and order of SPEC §6.1, §8.2 and §9. Times are ISO
 * 8601 UTC, or null when unset; a missing string is null.
 */
#include <time.h>

#include <json-c/json.h>

#include "../core/clock.h"
#include "json.h"
#include "rules.h"

static struct json_object *
json_time(int64_t t)
{
	char s[32];

	if (t <= 0)
		return NULL; /* JSON null */
	clock_iso8601((time_t)t, s);
	return json_object_new_string(s);
}

static struct json_object *
json_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *
tenant_account_json(const struct account *ac)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(ac->id));
	json_object_object_add(o, "name", json_str(ac->name));
	json_object_object_add(o, "entitled",
	                       json_object_new_boolean(ac->entitled));
	json_object_object_add(o, "sending_enabled",
	                       json_object_new_boolean(ac->sending_enabled));
	json_object_object_add(o, "rate", json_object_new_int64(ac->rate));
	json_object_object_add(o, "burst", json_object_new_int64(ac->burst));
	json_object_object_add(o, "daily_quota",
	                       json_object_new_int64(ac->daily_quota));
	json_object_object_add(o, "created", json_time(ac->created));
	return o;
}

struct json_object *
tenant_zone_json(const struct zone *z)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(z->id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(z->account_id));
	json_object_object_add(o, "name", json_str(z->name));
	json_object_object_add(o, "created", json_time(z->created));
	return o;
}

/* Field names of SPEC §6.1 / §8.2; "tag" is the id again. */
struct json_object *
tenant_domain_json(const struct domain *d)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(d->id));
	json_object_object_add(o, "tag", json_object_new_string(d->id));
	json_object_object_add(o, "zone_id",
	                       json_object_new_string(d->zone_id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(d->account_id));
	json_object_object_add(o, "name", json_str(d->name));
	json_object_object_add(o, "enabled",
	                       json_object_new_boolean(d->enabled));
	json_object_object_add(o, "dkim_selector", json_str(d->selector));
	json_object_object_add(o, "return_path_domain",
	                       json_str(d->return_path_domain));
	json_object_object_add(o, "drop_suppressed_recipients",
	                       json_object_new_boolean(d->drop_suppressed));
	json_object_object_add(o, "preview_enabled",
	                       json_object_new_boolean(d->preview_enabled));
	json_object_object_add(o, "ed25519",
	                       json_object_new_boolean(d->ed_pem != NULL));
	json_object_object_add(o, "created", json_time(d->created));
	json_object_object_add(o, "modified", json_time(d->modified));
	return o;
}

struct json_object *
tenant_token_json(const struct token *t)
{
	struct json_object *o = json_object_new_object(), *p;
	size_t i;

	json_object_object_add(o, "id", json_object_new_string(t->id));
	json_object_object_add(o, "account_id",
	                       json_object_new_string(t->account_id));
	/* A token made without a name may come back as "". */
	json_object_object_add(
	    o, "name", json_str(t->name && t->name[0] ? t->name : NULL));
	p = json_object_new_array();
	for (i = 0; i < tenant_nperms; i++)
		if (t->perms & tenant_perms[i].bit)
			json_object_array_add(
			    p, json_object_new_string(tenant_perms[i].name));
	json_object_object_add(o, "perms", p);
	json_object_object_add(o, "expires", json_time(t->expires));
	json_object_object_add(o, "revoked",
	                       json_object_new_boolean(t->revoked));
	json_object_object_add(o, "global_email", json_str(t->global_email));
	json_object_object_add(o, "created", json_time(t->created));
	return o;
}

struct json_object *
tenant_dns_json(const struct dnsrec *v, size_t n)
{
	struct json_object *arr = json_object_new_array(), *o;
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "type",
		                       json_object_new_string(v[i].type));
		json_object_object_add(o, "name",
		                       json_object_new_string(v[i].name));
		json_object_object_add(o, "content",
		                       json_object_new_string(v[i].content));
		if (v[i].priority >= 0)
			json_object_object_add(
			    o, "priority", json_object_new_int(v[i].priority));
		json_object_object_add(o, "ttl", json_object_new_int(v[i].ttl));
		json_object_array_add(arr, o);
	}
	return arr;
}
