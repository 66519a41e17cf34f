/*
 * domain: `pigeon domain create|dns|set|delete` (SPEC §6.1, §9). A sending
 * domain is the apex of a zone or a name under it; creating one
 * (tenant_domain_new: its defaults and DKIM keys) prints the DNS records
 * to publish.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../tenant/json.h"
#include "admin.h"

static void
domain_print(const struct domain *d)
{
	char t[32];

	printf("sending domain %s\n", d->id);
	printf("  name                        %s\n", d->name);
	printf("  zone                        %s\n", d->zone_id);
	printf("  account                     %s\n", d->account_id);
	printf("  enabled                     %s\n", d->enabled ? "yes" : "no");
	printf("  dkim selector               %s\n", d->selector);
	printf("  dkim keys                   rsa-2048%s\n",
	       d->ed_pem ? ", ed25519" : "");
	printf("  return path domain          %s\n", d->return_path_domain);
	printf("  drop suppressed recipients  %s\n",
	       d->drop_suppressed ? "yes" : "no");
	printf("  preview enabled             %s\n",
	       d->preview_enabled ? "yes" : "no");
	admin_time_str(d->created, t);
	printf("  created                     %s\n", t);
	admin_time_str(d->modified, t);
	printf("  modified                    %s\n", t);
}

int
admin_domain_create(struct admin *a)
{
	struct zone z;
	struct domain d;
	struct store *s = NULL;
	struct json_object *o, *dns;
	const char *sel = admin_opt(a, "--selector");
	char zid[ID_LEN + 1], name[256], err[512];
	int status = ADMIN_FAIL, rc;

	memset(&z, 0, sizeof(z));
	memset(&d, 0, sizeof(d));
	if (admin_id_arg("domain create", "ZONE_ID", a->args[0], zid,
	                 "zone list") != 0)
		return ADMIN_USAGE;
	if (admin_domain_name(a->args[1], name, sizeof(name)) == -1)
		return admin_err(ADMIN_USAGE,
		                 "domain create: '%s' is not a "
		                 "domain name like mail.example.com",
		                 a->args[1]);
	if (sel != NULL && !admin_selector_ok(sel))
		return admin_err(
		    ADMIN_USAGE,
		    "domain create: --selector '%s' "
		    "must be letters, digits and hyphens (dots between "
		    "labels), at most 63 characters",
		    sel);
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	if (admin_zone_load(s, zid, &z) == -1)
		goto fail;
	rc = tenant_domain_new(s, &z, name, sel,
	                       admin_opt(a, "--ed25519") != NULL, &d, err,
	                       sizeof(err));
	if (rc == TENANT_EXISTS) {
		admin_err(ADMIN_FAIL, "%s (see pigeon domain dns %s)", err,
		          name);
		goto fail;
	}
	if (rc != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json) {
		if ((dns = admin_dns_json(&d, a->cfg.hostname)) == NULL)
			goto fail;
		o = tenant_domain_json(&d);
		json_object_object_add(o, "dns", dns);
		admin_json_print(o);
	} else {
		printf("created sending domain %s (%s) in zone %s\n", d.id,
		       d.name, d.zone_id);
		printf("publish these DNS records (pigeon domain dns %s "
		       "shows them again):\n",
		       d.name);
		if (admin_dns_print(&d, a->cfg.hostname) == -1)
			goto fail;
	}
	status = ADMIN_OK;
fail:
	domain_clear(&d);
	zone_clear(&z);
	store_close(s);
	return status;
}

/*
 * The sending domain NAME of `domain CMD NAME` into d, read through a
 * store opened into *s (the caller closes it, also after a failure).
 * ADMIN_OK, or ADMIN_USAGE or ADMIN_FAIL once said.
 */
static int
domain_arg(struct admin *a, const char *cmd, struct store **s, struct domain *d)
{
	char name[256];

	memset(d, 0, sizeof(*d));
	*s = NULL;
	if (admin_domain_name(a->args[0], name, sizeof(name)) == -1)
		return admin_err(ADMIN_USAGE,
		                 "domain %s: '%s' is not a "
		                 "domain name like mail.example.com",
		                 cmd, a->args[0]);
	if ((*s = admin_store_open(a)) == NULL ||
	    admin_domain_load(*s, name, d) == -1)
		return ADMIN_FAIL;
	return ADMIN_OK;
}

int
admin_domain_dns(struct admin *a)
{
	struct domain d;
	struct store *s;
	struct json_object *dns;
	int status;

	if ((status = domain_arg(a, "dns", &s, &d)) != ADMIN_OK)
		goto fail;
	status = ADMIN_FAIL;
	if (a->json) {
		if ((dns = admin_dns_json(&d, a->cfg.hostname)) == NULL)
			goto fail;
		admin_json_print(dns);
	} else if (admin_dns_print(&d, a->cfg.hostname) == -1)
		goto fail;
	status = ADMIN_OK;
fail:
	domain_clear(&d);
	store_close(s);
	return status;
}

int
admin_domain_set(struct admin *a)
{
	struct domain d;
	struct store *s = NULL;
	const char *v;
	char name[256], err[512];
	int vals[TENANT_NSWITCHES], changed = 0, status = ADMIN_FAIL;
	size_t i;

	memset(&d, 0, sizeof(d));
	if (admin_domain_name(a->args[0], name, sizeof(name)) == -1)
		return admin_err(ADMIN_USAGE,
		                 "domain set: '%s' is not a "
		                 "domain name like mail.example.com",
		                 a->args[0]);
	for (i = 0; i < TENANT_NSWITCHES; i++) {
		vals[i] = -1;
		if ((v = admin_opt(a, tenant_domain_switches[i].opt)) == NULL)
			continue;
		if (admin_parse_bool(v, &vals[i]) == -1)
			return admin_err(ADMIN_USAGE,
			                 "domain set: %s '%s': "
			                 "use yes or no",
			                 tenant_domain_switches[i].opt, v);
		changed = 1;
	}
	if (!changed)
		return admin_err(ADMIN_USAGE, "domain set: nothing to change "
		                              "(see pigeon domain set --help)");
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	if (admin_domain_load(s, name, &d) == -1)
		goto fail;
	for (i = 0; i < TENANT_NSWITCHES; i++)
		if (vals[i] != -1)
			*(int *)((char *)&d + tenant_domain_switches[i].off) =
			    vals[i];
	if (tenant_domain_update(s, &d, err, sizeof(err)) != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json)
		admin_json_print(tenant_domain_json(&d));
	else
		domain_print(&d);
	status = ADMIN_OK;
fail:
	domain_clear(&d);
	store_close(s);
	return status;
}

/* `pigeon domain delete NAME`: the REST DELETE's rule (SPEC §8.2); mail
 * already queued from the domain still goes out. */
int
admin_domain_delete(struct admin *a)
{
	struct domain d;
	struct store *s;
	struct json_object *o;
	char err[512];
	int status;

	if ((status = domain_arg(a, "delete", &s, &d)) != ADMIN_OK)
		goto fail;
	status = ADMIN_FAIL;
	if (tenant_domain_delete(s, &d, err, sizeof(err)) != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json) {
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(d.id));
		json_object_object_add(o, "name",
		                       json_object_new_string(d.name));
		admin_json_print(o);
	} else
		printf("deleted sending domain %s (%s); mail already queued "
		       "from it still goes out\n",
		       d.id, d.name);
	status = ADMIN_OK;
fail:
	domain_clear(&d);
	store_close(s);
	return status;
}
