/*
 * account: `pigeon account create` and `pigeon account set` (SPEC §9).
 * An account is entitled and may send when created; rate limits and the
 * daily quota start unlimited (0).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tenant/json.h"
#include "admin.h"

#define MAX_ACCOUNT_NAME 255

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_ACCOUNT_NAME)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void
account_print(const struct account *ac)
{
	char t[32];

	admin_time_str(ac->created, t);
	printf("account %s\n", ac->id);
	printf("  name             %s\n", ac->name);
	printf("  entitled         %s\n", ac->entitled ? "yes" : "no");
	printf("  sending enabled  %s\n", ac->sending_enabled ? "yes" : "no");
	printf("  rate             %lld/s%s\n", (long long)ac->rate,
	       ac->rate ? "" : " (unlimited)");
	printf("  burst            %lld\n", (long long)ac->burst);
	printf("  daily quota      %lld%s\n", (long long)ac->daily_quota,
	       ac->daily_quota ? "" : " (unlimited)");
	printf("  created          %s\n", t);
}

int
admin_account_create(struct admin *a)
{
	struct account ac;
	struct store *s = NULL;
	const char *name = a->args[0], *idopt = admin_opt(a, "--id");
	char id[ID_LEN + 1], err[512];
	int status = ADMIN_FAIL;

	memset(&ac, 0, sizeof(ac));
	if (!name_ok(name))
		return admin_err(ADMIN_USAGE,
		                 "account create: NAME must be "
		                 "1-%d characters, no control "
		                 "characters",
		                 MAX_ACCOUNT_NAME);
	if (idopt && admin_id_parse(idopt, id) == -1)
		return admin_err(ADMIN_USAGE,
		                 "account create: --id '%s' is "
		                 "not 32 hex characters",
		                 idopt);
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	if (tenant_account_new(s, name, idopt ? id : NULL, &ac, err,
	                       sizeof(err)) != 0) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (a->json)
		admin_json_print(tenant_account_json(&ac));
	else
		printf("created account %s (%s)\n", ac.id, ac.name);
	status = ADMIN_OK;
fail:
	account_clear(&ac);
	store_close(s);
	return status;
}

/* The numeric settings of `account set`, as a table of rows. */
static const struct {
	const char *opt;
	size_t off;
} account_nums[] = {
    {"--rate", offsetof(struct account, rate)},
    {"--burst", offsetof(struct account, burst)},
    {"--daily-quota", offsetof(struct account, daily_quota)},
};

int
admin_account_set(struct admin *a)
{
	struct account ac;
	struct store *s = NULL;
	const char *v;
	char id[ID_LEN + 1];
	int64_t nums[3];
	int entitled = -1, sending = -1, changed = 0, status = ADMIN_FAIL;
	size_t i;

	memset(&ac, 0, sizeof(ac));
	if (admin_id_arg("account set", "ID", a->args[0], id, NULL) != 0)
		return ADMIN_USAGE;
	if ((v = admin_opt(a, "--entitled")) != NULL) {
		if (admin_parse_bool(v, &entitled) == -1)
			return admin_err(ADMIN_USAGE,
			                 "account set: "
			                 "--entitled '%s': use yes or no",
			                 v);
		changed = 1;
	}
	if ((v = admin_opt(a, "--sending-enabled")) != NULL) {
		if (admin_parse_bool(v, &sending) == -1)
			return admin_err(
			    ADMIN_USAGE,
			    "account set: "
			    "--sending-enabled '%s': use yes or no",
			    v);
		changed = 1;
	}
	for (i = 0; i < sizeof(account_nums) / sizeof(account_nums[0]); i++) {
		nums[i] = -1;
		if ((v = admin_opt(a, account_nums[i].opt)) == NULL)
			continue;
		if (admin_parse_count(v, &nums[i]) == -1)
			return admin_err(ADMIN_USAGE,
			                 "account set: %s '%s': "
			                 "use a whole number, 0 for unlimited",
			                 account_nums[i].opt, v);
		changed = 1;
	}
	if (!changed)
		return admin_err(ADMIN_USAGE,
		                 "account set: nothing to change "
		                 "(see pigeon account set --help)");

	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	switch (store_account_get(s, id, &ac)) {
	case 0:
		break;
	case STORE_NOT_FOUND:
		admin_err(ADMIN_FAIL,
		          "no account %s (see pigeon account "
		          "create)",
		          id);
		goto fail;
	default:
		admin_err(ADMIN_FAIL, "cannot read account %s: %s", id,
		          store_error(s));
		goto fail;
	}
	if (entitled != -1)
		ac.entitled = entitled;
	if (sending != -1)
		ac.sending_enabled = sending;
	for (i = 0; i < sizeof(account_nums) / sizeof(account_nums[0]); i++)
		if (nums[i] != -1)
			*(int64_t *)((char *)&ac + account_nums[i].off) =
			    nums[i];
	if (store_account_update(s, &ac) != 0) {
		admin_err(ADMIN_FAIL, "cannot update account %s: %s", id,
		          store_error(s));
		goto fail;
	}
	if (a->json)
		admin_json_print(tenant_account_json(&ac));
	else
		account_print(&ac);
	status = ADMIN_OK;
fail:
	account_clear(&ac);
	store_close(s);
	return status;
}
