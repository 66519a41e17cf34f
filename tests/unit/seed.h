/*
 * seed.h: the sender the unit tests of the send path share, written to a
 * new store: account SEED_ACC ("acme", entitled, sending on), its zone
 * and sending domain example.com (a fresh RSA-2048 key, selector
 * "pigeon") and a send,read token whose secret is SEED_TOKEN; more
 * sending domains of that zone on request (seed_domains).
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

/* The store at db_path, and a fresh RSA-2048 key in *pem (malloc'd).
 * 0, or -1 with err and nothing to free. */
static int
seed_open(const char *db_path, struct store **st, char **pem, char *err,
          size_t errlen)
{
	*pem = NULL;
	if ((*st = store_open(db_path, err, errlen)) == NULL)
		return -1;
	if (dkim_keygen_rsa(2048, pem) == -1) {
		snprintf(err, errlen, "cannot make a DKIM key");
		store_close(*st);
		return -1;
	}
	return 0;
}

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

	if (seed_open(db_path, &st, &pem, err, errlen) == -1)
		return -1;
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

/*
 * More sending domains of seed_sender's zone, switched on and sharing
 * one fresh key: names[0..n) (lowercase A-labels, n ≤ 6), with the ids
 * "d3d3…", "d4d4…" and so on. 0, or -1 with err. Inline, so that a test
 * without them does not warn.
 */
static inline int
seed_domains(const char *db_path, const char *const *names, size_t n, char *err,
             size_t errlen)
{
	struct store *st;
	struct domain d;
	char *pem;
	size_t i, k;
	int rc = 0;

	if (n > 6 || seed_open(db_path, &st, &pem, err, errlen) == -1)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		memset(&d, 0, sizeof(d));
		for (k = 0; k < 32; k += 2) {
			d.id[k] = 'd';
			d.id[k + 1] = (char)('3' + i);
		}
		snprintf(d.zone_id, sizeof(d.zone_id),
		         "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1");
		snprintf(d.account_id, sizeof(d.account_id), SEED_ACC);
		d.name = (char *)names[i];
		d.enabled = d.preview_enabled = 1;
		d.rsa_pem = pem;
		if (store_domain_create(st, &d) != 0) {
			snprintf(err, errlen, "seed: %s", store_error(st));
			rc = -1;
		}
	}
	free(pem);
	store_close(st);
	return rc;
}

#endif
