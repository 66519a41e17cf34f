/*
 * seed.h: the sender the unit tests of the send path share, written to a
 * new store: account SEED_ACC ("acme", entitled, sending on), its zone
 * and sending domain example.com (a fresh RSA-2048 key, selector
 * "pigeon") and a send,read token whose secret is SEED_TOKEN.
 */
#ifndef PIGEON_TESTS_SEED_H
#define PIGEON_TESTS_SEED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/hash.h"
#include "../../src/mail/dkim.h"
#include "../../src/store/store.h"

#define SEED_ACC "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SEED_TOKEN "test-token-secret"

/* Seeds the store at db_path; off_domain, when not NULL, is a second
 * sending domain of the zone, switched off. 0, or -1 with err. */
static int
seed_sender(const char *db_path, const char *off_domain, char *err,
            size_t errlen)
{
	struct account a;
	struct zone z;
	struct domain d;
	struct token t;
	struct store *st;
	char *pem = NULL;
	int rc = -1;

	if ((st = store_open(db_path, err, errlen)) == NULL)
		return -1;
	if (dkim_keygen_rsa(2048, &pem) == -1) {
		snprintf(err, errlen, "cannot make a DKIM key");
		goto out;
	}
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), SEED_ACC);
	a.name = "acme";
	a.entitled = a.sending_enabled = 1;
	memset(&z, 0, sizeof(z));
	snprintf(z.id, sizeof(z.id), "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1");
	snprintf(z.account_id, sizeof(z.account_id), SEED_ACC);
	z.name = "example.com";
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1");
	snprintf(d.zone_id, sizeof(d.zone_id), "%s", z.id);
	snprintf(d.account_id, sizeof(d.account_id), SEED_ACC);
	d.name = "example.com";
	d.enabled = d.preview_enabled = 1;
	d.selector = "pigeon";
	d.return_path_domain = "bounces.example.com";
	d.rsa_pem = pem;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "11111111111111111111111111111111");
	snprintf(t.account_id, sizeof(t.account_id), SEED_ACC);
	hash_sha256_hex(SEED_TOKEN, strlen(SEED_TOKEN), t.hash);
	t.perms = PERM_SEND | PERM_READ;
	if (store_account_create(st, &a) != 0 ||
	    store_zone_create(st, &z) != 0 ||
	    store_domain_create(st, &d) != 0 || store_token_create(st, &t) != 0)
		goto store_err;
	if (off_domain != NULL) {
		snprintf(d.id, sizeof(d.id),
		         "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2");
		d.name = (char *)off_domain;
		d.enabled = 0;
		if (store_domain_create(st, &d) != 0)
			goto store_err;
	}
	rc = 0;
	goto out;
store_err:
	snprintf(err, errlen, "seed: %s", store_error(st));
out:
	free(pem);
	store_close(st);
	return rc;
}

#endif
