/*
 * zone: `pigeon zone create` and `pigeon zone list` (SPEC §9). A zone is
 * a DNS zone an account owns (example.com); its sending domains are the
 * apex or names under it (domain.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../tenant/json.h"
#include "admin.h"

int
admin_zone_create(struct admin *a)
{
	struct account ac;
	struct zone z;
	struct store *s = NULL;
	char id[ID_LEN + 1], name[256], err[512];
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	memset(&z, 0, sizeof(z));
	if (admin_id_arg("zone create", "ACCOUNT_ID", a->args[0], id, NULL) !=
	    0)
		return ADMIN_USAGE;
	if (admin_domain_name(a->args[1], name, sizeof(name)) == -1)
		return admin_err(ADMIN_USAGE,
		                 "zone create: '%s' is not a "
		                 "domain name like example.com",
		                 a->args[1]);
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (tenant_zone_new(s, &ac, name, &z, err, sizeof(err)) != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json)
		admin_json_print(tenant_zone_json(&z));
	else
		printf("created zone %s (%s) in account %s\n", z.id, z.name,
		       z.account_id);
	status = ADMIN_OK;
fail:
	zone_clear(&z);
	account_clear(&ac);
	store_close(s);
	return status;
}

int
admin_zone_list(struct admin *a)
{
	struct account ac;
	struct zone *v = NULL;
	struct store *s = NULL;
	struct json_object *arr;
	char id[ID_LEN + 1], t[32];
	size_t n = 0, i;
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	if (admin_id_arg("zone list", "ACCOUNT_ID", a->args[0], id, NULL) != 0)
		return ADMIN_USAGE;
	if ((s = admin_account_open(a, id, &ac)) == NULL)
		goto fail;
	if (store_zone_list(s, id, &v, &n) != 0) {
		admin_err(ADMIN_FAIL, "cannot list zones: %s", store_error(s));
		goto fail;
	}
	if (a->json) {
		arr = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(arr, tenant_zone_json(&v[i]));
		admin_json_print(arr);
	} else if (n == 0)
		printf("no zones in account %s (see pigeon zone create)\n", id);
	else
		for (i = 0; i < n; i++) {
			admin_time_str(v[i].created, t);
			printf("%s  %s  created %s\n", v[i].id, v[i].name, t);
		}
	status = ADMIN_OK;
fail:
	zone_list_free(v, n);
	account_clear(&ac);
	store_close(s);
	return status;
}
