/*
 * subdomains: the sending domains of a zone over REST (SPEC §8.2),
 * /zones/{zone_id}/email/sending/subdomains: create (with its DKIM
 * keys), list, get, edit its switches, delete, and its DNS records. The
 * rules are tenant/'s (rules.c: names, keys, switches, deletion) and the
 * JSON form is tenant/json.c's, as for `pigeon domain`; this file only
 * reads requests and answers them.
 *
 * Auth ran in http.c with no account in the path: the token is valid
 * and has the route's permission. The zone's account is read here, from
 * the store: a zone that is unknown or another account's is the same
 * 403/10102 (SPEC §2.3: never reveal another account's zone). Every
 * write asks the tenant for a fresh snapshot before answering, so the
 * next send sees it at once.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../core/log.h"
#include "../tenant/json.h"
#include "../tenant/rules.h"
#include "jsonreq.h"
#include "req.h"
#include "routes.h"

#define NAME_MAX_LEN 256 /* a domain name and its NUL (RFC 1035 §2.3.4) */

/* DESIGN §8: a store that cannot be read or written answers "try
 * again" (503 with Retry-After), never 500. */
static int
store_down(struct req *rq, struct store *st)
{
	if (st != NULL)
		log_warnx("subdomains: store: %s", store_error(st));
	return req_fail(rq, AE_UNAVAILABLE, NULL,
	                "the store cannot be reached right now; try again");
}

static int
forbidden(struct req *rq)
{
	return req_fail(rq, AE_FORBIDDEN, NULL,
	                "this token may not do that here: the zone in the "
	                "path is not its account's, or it lacks the "
	                "permission");
}

static int
not_found(struct req *rq)
{
	return req_fail(rq, AE_NOT_FOUND, NULL,
	                "no such sending subdomain in this zone");
}

/*
 * The zone of the path into z when it is the token's account's, and the
 * thread's store connection into *st. 0, or -1 once answered.
 */
static int
zone_load(struct req *rq, struct store **st, struct zone *z)
{
	char id[ID_LEN + 1];
	int rc;

	memset(z, 0, sizeof(*z));
	if (tenant_id_parse(req_param(rq, "zone"), id) == -1)
		return forbidden(rq), -1;
	if ((*st = req_store(rq)) == NULL)
		return store_down(rq, NULL), -1;
	rc = store_zone_get(*st, id, z);
	if (rc == STORE_NOT_FOUND)
		return forbidden(rq), -1;
	if (rc != 0)
		return store_down(rq, *st), -1;
	if (strcmp(z->account_id, rq->auth.account->id) != 0) {
		zone_clear(z);
		return forbidden(rq), -1;
	}
	return 0;
}

/*
 * The live sending domain of the path, in the zone of the path (which
 * zone_load checks), into d, and the thread's store connection into *st.
 * 0, or -1 once answered.
 */
static int
target_load(struct req *rq, struct store **st, struct domain *d)
{
	struct zone z;
	char id[ID_LEN + 1];
	int rc;

	memset(d, 0, sizeof(*d));
	if (zone_load(rq, st, &z) == -1)
		return -1;
	rc = tenant_id_parse(req_param(rq, "id"), id) == -1
	         ? STORE_NOT_FOUND
	         : store_domain_get(*st, id, d);
	if (rc == 0 && strcmp(d->zone_id, z.id) != 0) {
		domain_clear(d);
		rc = STORE_NOT_FOUND;
	}
	zone_clear(&z);
	if (rc == STORE_NOT_FOUND)
		return not_found(rq), -1;
	if (rc != 0)
		return store_down(rq, *st), -1;
	if (tenant_domain_defaults(d) == -1) {
		domain_clear(d);
		return req_fail(rq, AE_INTERNAL, NULL, NULL), -1;
	}
	return 0;
}

/* Answers 200 with o (taken over, NULL: out of memory) as the result. */
static int
answer(struct req *rq, struct json_object *o)
{
	struct buf b;
	const char *s;
	int bad;

	if (o == NULL)
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	buf_init(&b, 0);
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	bad = s == NULL || envelope_open(&b) == -1 || buf_puts(&b, s) == -1 ||
	      envelope_close(&b) == -1;
	json_object_put(o);
	if (bad) {
		buf_clear(&b);
		return req_fail(rq, AE_INTERNAL, NULL, NULL);
	}
	return req_json(rq, 200, &b);
}

/* The body as a JSON object in rq->root (freed with rq). 0, or -1 once
 * answered (10001). */
static int
body_load(struct req *rq)
{
	struct api_error e = {AE_SCHEMA, NULL, NULL};

	if (jsonreq_parse(rq->body ? rq->body : "", rq->body_len, &rq->root,
	                  &e) == -1)
		return req_error(rq, &e), -1;
	return 0;
}

/*
 * After a write: the tenant takes it now, so the next send sees it, and
 * the answer is d.
 */
static int
written(struct req *rq, const struct domain *d)
{
	tenant_refresh(rq->api->tenant);
	return answer(rq, tenant_domain_json(d));
}

/*
 * POST {name}: a new sending domain of the zone with its DKIM keys, or,
 * as Cloudflare does, the one already there re-enabled.
 */
int
api_subdomain_create(struct req *rq)
{
	struct store *st;
	struct zone z;
	struct domain d;
	struct json_object *v;
	char name[NAME_MAX_LEN], err[512];
	int rc;

	memset(&d, 0, sizeof(d));
	if (zone_load(rq, &st, &z) == -1)
		return 0;
	if (body_load(rq) == -1)
		goto out;
	if (!json_object_object_get_ex(rq->root, "name", &v) ||
	    json_object_is_type(v, json_type_null)) {
		req_fail(rq, AE_SCHEMA, "/name", "name is required");
		goto out;
	}
	if (!json_object_is_type(v, json_type_string)) {
		req_fail(rq, AE_SCHEMA, "/name", "name must be a string");
		goto out;
	}
	/* a NUL inside (\u0000) would cut the name short */
	if ((size_t)json_object_get_string_len(v) !=
	        strlen(json_object_get_string(v)) ||
	    tenant_domain_name(json_object_get_string(v), name, sizeof(name)) ==
	        -1) {
		req_fail(
		    rq, AE_SCHEMA, "/name",
		    arena_printf(rq->a,
		                 "name: '%.100s' is not a domain name like "
		                 "mail.example.com",
		                 json_object_get_string(v)));
		goto out;
	}
	if (!tenant_in_zone(name, z.name)) {
		req_fail(rq, AE_SCHEMA, "/name",
		         arena_printf(rq->a,
		                      "name: %s is not in zone %s: use %s or a "
		                      "name under it",
		                      name, z.name, z.name));
		goto out;
	}
	rc = store_domain_get_by_name(st, name, &d);
	if (rc == 0 && strcmp(d.zone_id, z.id) != 0) {
		req_fail(rq, AE_CONFLICT, "/name",
		         arena_printf(rq->a,
		                      "name: %s is a sending domain of another "
		                      "zone",
		                      name));
		goto out;
	}
	if (rc == 0) {
		if (tenant_domain_defaults(&d) == -1) {
			req_fail(rq, AE_INTERNAL, NULL, NULL);
			goto out;
		}
		if (!d.enabled) {
			d.enabled = 1;
			if (tenant_domain_update(st, &d, err, sizeof(err)) !=
			    0) {
				store_down(rq, st);
				goto out;
			}
		}
		written(rq, &d);
		goto out;
	}
	if (rc != STORE_NOT_FOUND) {
		store_down(rq, st);
		goto out;
	}
	domain_clear(&d);
	rc = tenant_domain_new(st, &z, name, NULL, 0, &d, err, sizeof(err));
	if (rc == TENANT_EXISTS) {
		/* created by another request since the lookup */
		req_fail(rq, AE_CONFLICT, "/name", arena_strdup(rq->a, err));
		goto out;
	}
	if (rc != 0) {
		log_warnx("subdomains: %s", err);
		store_down(rq, NULL);
		goto out;
	}
	written(rq, &d);
out:
	domain_clear(&d);
	zone_clear(&z);
	return 0;
}

int
api_subdomain_list(struct req *rq)
{
	struct store *st;
	struct zone z;
	struct domain *v = NULL;
	struct json_object *arr;
	size_t n = 0, i;

	if (zone_load(rq, &st, &z) == -1)
		return 0;
	if (store_domain_list(st, z.account_id, &v, &n) != 0) {
		store_down(rq, st);
		goto out;
	}
	arr = json_object_new_array();
	for (i = 0; arr != NULL && i < n; i++) {
		if (strcmp(v[i].zone_id, z.id) != 0)
			continue;
		if (tenant_domain_defaults(&v[i]) == -1) {
			json_object_put(arr);
			arr = NULL;
			break;
		}
		json_object_array_add(arr, tenant_domain_json(&v[i]));
	}
	answer(rq, arr);
out:
	domain_list_free(v, n);
	zone_clear(&z);
	return 0;
}

int
api_subdomain_get(struct req *rq)
{
	struct store *st;
	struct domain d;

	if (target_load(rq, &st, &d) == -1)
		return 0;
	answer(rq, tenant_domain_json(&d));
	domain_clear(&d);
	return 0;
}

/*
 * PATCH {preview_enabled?, drop_suppressed_recipients?, enabled?}: the
 * switches of tenant_domain_switches[], each a boolean; any other member
 * is refused, naming it.
 */
int
api_subdomain_edit(struct req *rq)
{
	struct store *st;
	struct domain d;
	int vals[TENANT_NSWITCHES];
	char err[512];
	size_t i;

	if (target_load(rq, &st, &d) == -1)
		return 0;
	if (body_load(rq) == -1)
		goto out;
	for (i = 0; i < TENANT_NSWITCHES; i++)
		vals[i] = -1;
	json_object_object_foreach(rq->root, key, val)
	{
		const char *ptr = jsonreq_pointer(rq->a, "", key);

		for (i = 0; i < TENANT_NSWITCHES; i++)
			if (strcmp(key, tenant_domain_switches[i].field) == 0)
				break;
		if (i == TENANT_NSWITCHES) {
			req_fail(
			    rq, AE_SCHEMA, ptr,
			    arena_printf(rq->a,
			                 "'%.100s' cannot be changed: send "
			                 "preview_enabled, "
			                 "drop_suppressed_recipients or "
			                 "enabled",
			                 key));
			goto out;
		}
		if (!json_object_is_type(val, json_type_boolean)) {
			req_fail(rq, AE_SCHEMA, ptr,
			         arena_printf(rq->a, "%s must be true or false",
			                      key));
			goto out;
		}
		vals[i] = json_object_get_boolean(val);
	}
	for (i = 0; i < TENANT_NSWITCHES; i++)
		if (vals[i] != -1)
			*(int *)((char *)&d + tenant_domain_switches[i].off) =
			    vals[i];
	if (tenant_domain_update(st, &d, err, sizeof(err)) != 0) {
		store_down(rq, st);
		goto out;
	}
	written(rq, &d);
out:
	domain_clear(&d);
	return 0;
}

/* DELETE: tenant_domain_delete; its queued mail still goes out. */
int
api_subdomain_delete(struct req *rq)
{
	struct store *st;
	struct domain d;
	struct json_object *o;
	char err[512];

	if (target_load(rq, &st, &d) == -1)
		return 0;
	if (tenant_domain_delete(st, &d, err, sizeof(err)) != 0) {
		store_down(rq, st);
		goto out;
	}
	tenant_refresh(rq->api->tenant);
	if ((o = json_object_new_object()) != NULL) {
		json_object_object_add(o, "id", json_object_new_string(d.id));
		json_object_object_add(o, "tag", json_object_new_string(d.id));
	}
	answer(rq, o);
out:
	domain_clear(&d);
	return 0;
}

/* GET /{id}/dns: the records `pigeon domain dns` prints (SPEC §6.2). */
int
api_subdomain_dns(struct req *rq)
{
	struct store *st;
	struct domain d;
	struct dnsrec *v;
	size_t n;

	if (target_load(rq, &st, &d) == -1)
		return 0;
	if (tenant_dns(&d, rq->api->cfg->hostname, &v, &n) == -1) {
		log_warnx("subdomains: domain=%s: its DKIM key does not load",
		          d.id);
		req_fail(rq, AE_INTERNAL, NULL,
		         "the DNS records cannot be computed: the DKIM key "
		         "does not load");
	} else {
		answer(rq, tenant_dns_json(v, n));
		dnsrec_free(v, n);
	}
	domain_clear(&d);
	return 0;
}
