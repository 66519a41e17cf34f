/*
 * test_store: src/store/ (store.c + sqlite.c) on a store in a temp dir —
 * admin CRUD, uniqueness (-2), the generation counter, message insert,
 * raw fetch, status and outcomes, the pending scan, schema version and
 * the open error text, events and suppressions (migration 6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../src/core/clock.h"
#include "../../src/store/store.h"

/* A store from before migration 11 (deleted domains, the message list) */
#define UNDO_11                                                                \
	"DROP INDEX messages_account;"                                         \
	"ALTER TABLE domains DROP COLUMN deleted_name;"

/* A store from before migration 8 (the leases), and so before 11 */
#define UNDO_8                                                                 \
	UNDO_11                                                                \
	"DROP INDEX recipients_leased;"                                        \
	"ALTER TABLE recipients DROP COLUMN lease_owner;"                      \
	"ALTER TABLE recipients DROP COLUMN lease_until;"
/* what migration 10 added: the daily sending counts */
#define UNDO_10 "DROP TABLE send_usage;"

#define ACC "a0000000000000000000000000000001"
#define ACC2 "a0000000000000000000000000000002"
#define ZONE "z0000000000000000000000000000001"
#define DOM "d0000000000000000000000000000001"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/pigeon-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/pigeon.db", f->dir);
	f->s = store_open(f->path, err, sizeof(err));
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The stored bytes of messages row id, read with SQL beside the store
 * (delivery reads them by row id): how many, -1 when there is no row. */
static long
raw_len_of(const char *path, int64_t id)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	long n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT raw FROM messages WHERE "
	                                    "id = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_bytes(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The raw message as GET messages/{id} reads it (a store reader), in
 * one malloc'd buffer: 0, STORE_NOT_FOUND or -1, like the reader. */
static int
raw_by_id(struct store *s, const char *account, const char *id, char **raw,
          size_t *len)
{
	struct store_reader *r;
	uint64_t size;
	size_t got;
	int rc;

	*raw = NULL;
	*len = 0;
	if ((rc = store_message_reader_open(s, account, id, &r, &size)) != 0)
		return rc;
	assert_non_null(*raw = malloc(size + 1));
	while (*len < size) {
		assert_int_equal(
		    store_message_read(r, *len, *raw + *len, size - *len, &got),
		    0);
		assert_true(got > 0);
		*len += got;
	}
	store_reader_close(r);
	return 0;
}

static void
seed(struct store *s)
{
	struct account a = {.id = ACC,
	                    .name = "acme",
	                    .entitled = 1,
	                    .sending_enabled = 1,
	                    .rate = 10,
	                    .burst = 20};
	struct zone z = {.id = ZONE, .account_id = ACC, .name = "example.com"};
	struct domain d = {.id = DOM,
	                   .zone_id = ZONE,
	                   .account_id = ACC,
	                   .name = "example.com",
	                   .enabled = 1,
	                   .selector = "pigeon",
	                   .return_path_domain = "bounces.example.com",
	                   .preview_enabled = 1,
	                   .rsa_pem = "-----BEGIN PRIVATE KEY-----\nRSA\n"
	                              "-----END PRIVATE KEY-----\n"};

	assert_int_equal(store_account_create(s, &a), 0);
	assert_int_equal(store_zone_create(s, &z), 0);
	assert_int_equal(store_domain_create(s, &d), 0);
}

static void
test_open_error(void **state)
{
	char err[256];
	struct store *s;

	s = store_open("/nonexistent-dir/x/pigeon.db", err, sizeof(err));
	assert_null(s);
	assert_non_null(
	    strstr(err, "cannot open /nonexistent-dir/x/pigeon.db"));
}

static void
test_schema_version(void **state)
{
	struct fixture *f = *state;
	struct store *again;
	sqlite3 *db;
	sqlite3_stmt *st;
	char err[256], mode[16];
	int v;

	seed(f->s);
	/* reopening applies nothing twice and keeps the rows */
	again = store_open(f->path, err, sizeof(err));
	assert_non_null(again);
	store_close(again);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_true(v >= 1);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(mode, sizeof(mode), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_string_equal(mode, "wal");
	/* a newer schema than this code is refused */
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	again = store_open(f->path, err, sizeof(err));
	assert_null(again);
	assert_non_null(strstr(err, "newer"));
}

static void
test_accounts(void **state)
{
	struct fixture *f = *state;
	struct account a = {
	    .id = ACC, .name = "acme", .entitled = 1, .daily_quota = 500};
	struct account b = {.id = ACC2, .name = "acme"};
	struct account got, *list;
	size_t n;

	assert_int_equal(store_account_create(f->s, &a), 0);
	assert_int_equal(store_account_create(f->s, &a), -2); /* same id */
	/* account names need not be unique (as in Cloudflare) */
	assert_int_equal(store_account_create(f->s, &b), 0);
	assert_int_equal(store_account_get(f->s, ACC, &got), 0);
	assert_string_equal(got.name, "acme");
	assert_int_equal(got.entitled, 1);
	assert_int_equal(got.sending_enabled, 0);
	assert_int_equal(got.daily_quota, 500);
	assert_true(got.created > 0);
	account_clear(&got);
	a.sending_enabled = 1;
	a.name = "acme2";
	assert_int_equal(store_account_update(f->s, &a), 0);
	assert_int_equal(store_account_get(f->s, ACC, &got), 0);
	assert_string_equal(got.name, "acme2");
	assert_int_equal(got.sending_enabled, 1);
	account_clear(&got);
	assert_int_equal(store_account_get(f->s, "nope", &got), 1);
	assert_int_equal(store_account_list(f->s, &list, &n), 0);
	assert_int_equal(n, 2);
	account_list_free(list, n);
	/* an update of an unknown id is an error, not a silent no-op */
	b.id[0] = 'x';
	assert_int_equal(store_account_update(f->s, &b), -1);
	assert_non_null(strstr(store_error(f->s), "not found"));
}

static void
test_zones_domains(void **state)
{
	struct fixture *f = *state;
	struct zone z = {.id = "z0000000000000000000000000000009",
	                 .account_id = ACC,
	                 .name = "example.com"};
	struct zone bad = {.id = "z0000000000000000000000000000008",
	                   .account_id = "no-such-account",
	                   .name = "example.org"};
	struct domain d, *dl;
	struct zone zg, *zl;
	size_t n;

	seed(f->s);
	assert_int_equal(store_zone_create(f->s, &z), -2); /* name taken */
	/* foreign keys are on */
	assert_int_equal(store_zone_create(f->s, &bad), -1);
	assert_int_equal(store_zone_get(f->s, ZONE, &zg), 0);
	assert_string_equal(zg.name, "example.com");
	assert_string_equal(zg.account_id, ACC);
	zone_clear(&zg);
	assert_int_equal(store_zone_list(f->s, ACC, &zl, &n), 0);
	assert_int_equal(n, 1);
	zone_list_free(zl, n);
	assert_int_equal(store_zone_list(f->s, ACC2, &zl, &n), 0);
	assert_int_equal(n, 0);
	zone_list_free(zl, n);

	assert_int_equal(store_domain_get_by_name(f->s, "example.com", &d), 0);
	assert_string_equal(d.id, DOM);
	assert_string_equal(d.selector, "pigeon");
	assert_string_equal(d.return_path_domain, "bounces.example.com");
	assert_non_null(strstr(d.rsa_pem, "RSA"));
	assert_null(d.ed_pem);
	assert_int_equal(d.enabled, 1);
	assert_int_equal(store_domain_create(f->s, &d), -2);
	free(d.ed_pem);
	d.ed_pem = strdup("ED-PEM");
	d.enabled = 0;
	assert_int_equal(store_domain_update(f->s, &d), 0);
	domain_clear(&d);
	assert_int_equal(store_domain_get_by_name(f->s, "example.com", &d), 0);
	assert_string_equal(d.ed_pem, "ED-PEM");
	assert_int_equal(d.enabled, 0);
	domain_clear(&d);
	assert_int_equal(store_domain_get_by_name(f->s, "nope.com", &d), 1);
	assert_int_equal(store_domain_list(f->s, NULL, &dl, &n), 0);
	assert_int_equal(n, 1);
	domain_list_free(dl, n);
}

static void
test_tokens_generation(void **state)
{
	struct fixture *f = *state;
	struct token t = {.id = "t0000000000000000000000000000001",
	                  .account_id = ACC,
	                  .name = "ci",
	                  .perms = PERM_SEND | PERM_READ};
	struct token *list;
	int64_t g0, g1, g2;
	size_t n;

	memset(t.hash, 'a', 64);
	assert_int_equal(store_generation(f->s, &g0), 0);
	seed(f->s);
	assert_int_equal(store_generation(f->s, &g1), 0);
	assert_int_equal(g1, g0 + 3); /* account, zone, domain */
	assert_int_equal(store_token_create(f->s, &t), 0);
	t.id[0] = 'u';
	assert_int_equal(store_token_create(f->s, &t), -2); /* hash unique */
	assert_int_equal(store_generation(f->s, &g2), 0);
	assert_int_equal(g2, g1 + 1); /* a failed write bumps nothing */
	assert_int_equal(
	    store_token_revoke(f->s, "t0000000000000000000000000000001"), 0);
	assert_int_equal(store_token_revoke(f->s, "nope"), -1);
	assert_int_equal(store_generation(f->s, &g2), 0);
	assert_int_equal(g2, g1 + 2);
	assert_int_equal(store_token_list(f->s, ACC, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].revoked, 1);
	assert_int_equal(list[0].perms, PERM_SEND | PERM_READ);
	assert_int_equal(strlen(list[0].hash), 64);
	assert_null(list[0].global_email);
	token_list_free(list, n);
}

static const char RAW[] = "From: a@example.com\r\n\r\nbody\0with NUL\r\n";

static void
msg_init(struct store_msg *m, struct store_rcpt *r, const char *id, int preview)
{
	memset(m, 0, sizeof(*m));
	memset(r, 0, 3 * sizeof(*r));
	r[0].address = "one@example.net";
	r[1].address = "two@example.net";
	r[2].address = "gone@example.net";
	r[2].state = RCPT_SUPPRESSED;
	m->account_id = ACC;
	m->domain_id = DOM;
	m->message_id = id;
	m->mail_from = "a@example.com";
	m->subject = "hi";
	m->raw = RAW;
	m->raw_len = sizeof(RAW) - 1;
	m->preview = preview;
	m->rcpts = r;
	m->nrcpts = 3;
}

struct scan {
	int n;
	int64_t ids[8];
	char mid[64];
};

static int
scan_cb(void *arg, const struct pending_rcpt *r)
{
	struct scan *sc = arg;

	if (sc->n == (int)(sizeof(sc->ids) / sizeof(*sc->ids)))
		return -1;
	sc->ids[sc->n++] = r->rcpt_id;
	snprintf(sc->mid, sizeof(sc->mid), "%s", r->message_id);
	assert_true(r->created_ms > 1000000000000LL);
	assert_string_equal(r->domain_id, DOM);
	return 0;
}

/* Claims what is due now, up to 100, in the caller's transaction. */
static int
claim(struct store *s, int64_t now, struct scan *sc)
{
	int64_t next;

	return store_lease_claim(s, now, now, 100, scan_cb, sc, &next);
}

static void
test_messages(void **state)
{
	struct fixture *f = *state;
	struct store_msg m, m2;
	struct store_rcpt r[3], r2[3];
	struct store_outcome o;
	struct msg_status st;
	struct scan sc;
	char *raw;
	size_t len;

	seed(f->s);
	msg_init(&m, r, "<m1@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_true(m.id > 0);
	assert_true(r[0].id > 0 && r[1].id > r[0].id && r[2].id > r[1].id);
	assert_true(m.created > 1000000000000LL);

	/* a client may reuse a Message-ID (send_raw, SMTP): both are kept */
	msg_init(&m2, r2, "<m1@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	store_rollback(f->s);
	/* an operation the store refuses fails alone inside a batch */
	msg_init(&m2, r2, "<m5@example.com>", 1);
	m2.domain_id = "ffffffffffffffffffffffffffffffff"; /* no such domain */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_op_begin(f->s), 0);
	assert_int_not_equal(store_message_insert(f->s, &m2), 0);
	assert_int_equal(store_op_end(f->s, 0), 0);
	msg_init(&m2, r2, "<m6@example.com>", 1);
	r2[0].state = r2[1].state = RCPT_SUPPRESSED; /* not pending below */
	assert_int_equal(store_op_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	assert_int_equal(store_op_end(f->s, 1), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<m5@example.com>", &st), 1);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<m6@example.com>", &st), 0);
	msg_status_clear(&st);
	/* a rolled-back insert leaves nothing */
	msg_init(&m2, r2, "<m2@example.com>", 0);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	store_rollback(f->s);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<m2@example.com>", &st), 1);
	assert_int_equal(raw_len_of(f->path, m2.id), -1);

	assert_int_equal(raw_by_id(f->s, ACC, "<m1@example.com>", &raw, &len),
	                 0);
	assert_int_equal(len, sizeof(RAW) - 1);
	assert_memory_equal(raw, RAW, len);
	free(raw);
	/* with or without angle brackets (SPEC §8.3) */
	assert_int_equal(raw_by_id(f->s, ACC, "m1@example.com", &raw, &len), 0);
	assert_memory_equal(raw, RAW, len);
	free(raw);
	assert_int_equal(raw_by_id(f->s, ACC2, "<m1@example.com>", &raw, &len),
	                 1);

	/* no preview: the raw is kept for delivery, not shown */
	msg_init(&m2, r2, "<m3@example.com>", 0);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(raw_by_id(f->s, ACC, "<m3@example.com>", &raw, &len),
	                 1);
	assert_int_equal(raw_len_of(f->path, m2.id), (long)m2.raw_len);

	/* claimable: the queued recipients of both messages (inserted
	 * without an owner: unleased), not the suppressed */
	store_lease_set(f->s, "n1", 60000);
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(claim(f->s, clock_now_ms(), &sc), 4);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(sc.ids[0], r[0].id);
	assert_int_equal(sc.ids[1], r[1].id);

	/* outcomes: one delivered, one deferred */
	memset(&o, 0, sizeof(o));
	o.rcpt_id = r[0].id;
	o.state = RCPT_DELIVERED;
	o.attempts = 1;
	o.last_attempt = 1700000000000LL;
	o.reply = "250 2.0.0 ok";
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	o.rcpt_id = r[1].id;
	o.state = RCPT_DEFERRED;
	o.next_attempt = 1700000060000LL;
	o.reply = "451 4.3.0 later";
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_commit(f->s), 0);

	assert_int_equal(
	    store_message_status(f->s, ACC, "<m1@example.com>", &st), 0);
	assert_string_equal(st.message_id, "<m1@example.com>");
	assert_int_equal(st.created, m.created);
	assert_int_equal(st.nrcpts, 3);
	assert_string_equal(st.rcpts[0].address, "one@example.net");
	assert_int_equal(st.rcpts[0].state, RCPT_DELIVERED);
	assert_string_equal(st.rcpts[0].reply, "250 2.0.0 ok");
	assert_int_equal(st.rcpts[0].attempts, 1);
	assert_int_equal(st.rcpts[1].state, RCPT_DEFERRED);
	assert_int_equal(st.rcpts[1].next_attempt, 1700000060000LL);
	assert_int_equal(st.rcpts[2].state, RCPT_SUPPRESSED);
	assert_null(st.rcpts[2].reply);
	msg_status_clear(&st);

	/* the outcomes ended their leases; m3's two are still held */
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(claim(f->s, clock_now_ms(), &sc), 1);
	assert_int_equal(sc.ids[0], r[1].id);
	/* a node starting again: what it held is free */
	assert_int_equal(store_lease_release(f->s), 3);
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(claim(f->s, clock_now_ms(), &sc), 3);
	assert_int_equal(store_commit(f->s), 0);
	assert_string_equal(rcpt_state_name(RCPT_DEFERRED), "deferred");
	assert_string_equal(rcpt_state_name(RCPT_SUPPRESSED), "suppressed");
}

/* Claims of owner at now for what is due by horizon, in a transaction
 * of their own. */
static int
claim_as(struct store *s, const char *owner, int64_t now, int64_t horizon,
         size_t limit, struct scan *sc, int64_t *next)
{
	int64_t nx;
	int n;

	store_lease_set(s, owner, 1000);
	memset(sc, 0, sizeof(*sc));
	assert_int_equal(store_begin(s), 0);
	n = store_lease_claim(s, now, horizon, limit, scan_cb, sc,
	                      next != NULL ? next : &nx);
	assert_int_equal(store_commit(s), 0);
	return n;
}

/* The shared queue (SPEC §6.3): a recipient is tried by the node that
 * holds its lease; leases run out, are renewed, end with an outcome,
 * and a node starting again frees its own. */
static void
test_leases(void **state)
{
	struct fixture *f = *state;
	struct store_msg m, m2;
	struct store_rcpt r[3], r2[3];
	struct store_outcome o;
	struct scan sc;
	int64_t t = clock_now_ms(), next, ids[2];

	seed(f->s);
	/* inserted by n1: leased to it for 1 s */
	store_lease_set(f->s, "n1", 1000);
	msg_init(&m, r, "<l1@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(claim_as(f->s, "n2", t, t, 100, &sc, NULL), 0);
	/* n1's lease ran out: n2 may take them, n1 itself not yet (its
	 * engine may still hold them, renewing late) */
	assert_int_equal(
	    claim_as(f->s, "n1", t + 1500, t + 1500, 100, &sc, NULL), 0);
	assert_int_equal(
	    claim_as(f->s, "n2", t + 1500, t + 1500, 100, &sc, NULL), 2);
	assert_int_equal(sc.ids[0], r[0].id);
	assert_int_equal(sc.ids[1], r[1].id);
	/* n2 renews them (n1 cannot) */
	ids[0] = r[0].id;
	ids[1] = r[1].id;
	store_lease_set(f->s, "n1", 1000);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_lease_renew(f->s, ids, 2, t + 90000), 0);
	store_lease_set(f->s, "n2", 1000);
	assert_int_equal(store_lease_renew(f->s, ids, 2, t + 10000), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(
	    claim_as(f->s, "n3", t + 9000, t + 9000, 100, &sc, NULL), 0);
	/* an outcome that keeps the lease, and one that ends it */
	memset(&o, 0, sizeof(o));
	o.rcpt_id = r[0].id;
	o.state = RCPT_DEFERRED;
	o.attempts = 1;
	o.next_attempt = t + 100;
	o.keep_lease = 1;
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	o.rcpt_id = r[1].id;
	o.keep_lease = 0;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(claim_as(f->s, "n3", t + 200, t + 200, 100, &sc, NULL),
	                 1);
	assert_int_equal(sc.ids[0], r[1].id);

	/* the horizon, and when others' leases run out */
	/* r[0]: n2's lease ended at t + 10000; r[1]: n3's own, a whole
	 * lease length ago */
	assert_int_equal(
	    claim_as(f->s, "n3", t + 20000, t + 20000, 100, &sc, NULL), 2);
	store_lease_set(f->s, "n3", 1000);
	assert_int_equal(store_begin(f->s), 0);
	o.rcpt_id = r[0].id;
	o.next_attempt = t + 50000;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	o.rcpt_id = r[1].id;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(
	    claim_as(f->s, "n4", t + 20000, t + 40000, 100, &sc, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(
	    claim_as(f->s, "n4", t + 20000, t + 50000, 1, &sc, &next), 2);
	assert_int_equal(next, 0); /* one message, taken whole */
	/* held by n4 until t + 21000: when n6 may have them */
	assert_int_equal(
	    claim_as(f->s, "n6", t + 20500, t + 50000, 100, &sc, &next), 0);
	assert_int_equal(next, t + 21000);
	assert_int_equal(
	    claim_as(f->s, "n4", t + 20500, t + 50000, 100, &sc, &next), 0);
	assert_int_equal(next, 0); /* its own do not count */

	/* a page stops past its limit only once a message is whole */
	store_lease_set(f->s, "", 1000); /* inserted unleased */
	msg_init(&m, r, "<l2@example.com>", 1);
	msg_init(&m2, r2, "<l3@example.com>", 1);
	r[2].state = RCPT_QUEUED;
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(claim_as(f->s, "n5", t, t + 60000, 2, &sc, NULL), 3);
	assert_int_equal(sc.ids[2], r[2].id);
	assert_int_equal(claim_as(f->s, "n5", t, t + 60000, 2, &sc, NULL), 2);
	assert_int_equal(sc.ids[0], r2[0].id);
	/* n5 starts again: its five are free (n4's two are not) */
	store_lease_set(f->s, "n5", 1000);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_lease_release(f->s), 5);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(claim_as(f->s, "n5", t, t + 60000, 100, &sc, NULL), 5);
	/* without an owner there is nothing to claim for */
	store_lease_set(f->s, "", 1000);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_lease_claim(f->s, t, t, 10, scan_cb, &sc, &next),
	                 -1);
	store_rollback(f->s);
}

/* Expired Idempotency-Key records go in bounded batches; the messages
 * they named and the keys still within 24 h stay. */
static void
test_idem_purge(void **state)
{
	struct fixture *f = *state;
	static const char *keys[] = {"k1", "k2", "k3", "k4"};
	static const char *ids[] = {"<i1@example.com>", "<i2@example.com>",
	                            "<i3@example.com>", "<i4@example.com>"};
	struct store_msg m;
	struct store_rcpt r[3];
	struct msg_status st;
	char hash[65], ep[STORE_ENDPOINT_MAX];
	int64_t now = 1790000000000LL;

	seed(f->s);
	assert_int_equal(store_begin(f->s), 0);
	for (int i = 0; i < 4; i++) {
		msg_init(&m, r, ids[i], 1);
		m.idem_key = keys[i];
		m.idem_hash = "00";
		/* three a day old and more, the last one an hour old */
		m.created = i < 3 ? now - STORE_IDEM_TTL_MS - 1000 * (i + 1)
		                  : now - 3600 * 1000;
		assert_int_equal(store_message_insert(f->s, &m), 0);
	}
	assert_int_equal(store_commit(f->s), 0);

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_idem_purge(f->s, now - STORE_IDEM_TTL_MS, 2), 2);
	assert_int_equal(store_idem_purge(f->s, now - STORE_IDEM_TTL_MS, 2), 1);
	assert_int_equal(store_idem_purge(f->s, now - STORE_IDEM_TTL_MS, 2), 0);
	assert_int_equal(store_commit(f->s), 0);

	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    store_idem_get(f->s, ACC, keys[i], 0, hash, ep, &st), 1);
	assert_int_equal(store_idem_get(f->s, ACC, "k4", 0, hash, ep, &st), 0);
	assert_string_equal(st.message_id, "<i4@example.com>");
	assert_string_equal(hash, "00");
	msg_status_clear(&st);
	assert_int_equal(store_message_status(f->s, ACC, ids[0], &st), 0);
	msg_status_clear(&st);
}

/* Runs sql on the store's file beside the store. */
static void
sql(const char *path, const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/*
 * Migration 4: an Idempotency-Key record keeps the endpoint it was used
 * with; the records of a store from before it are kept, with no endpoint
 * (""), and new ones are written with theirs.
 */
static void
test_idem_endpoint(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct msg_status st;
	char hash[65], ep[STORE_ENDPOINT_MAX], err[256];

	seed(f->s);
	assert_int_equal(store_begin(f->s), 0);
	msg_init(&m, r, "<old@example.com>", 1);
	m.idem_key = "old";
	m.idem_hash = "aa";
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	store_close(f->s);
	/* the store as migration 3 left it, with the record */
	sql(f->path,
	    "ALTER TABLE idempotency DROP COLUMN endpoint;" UNDO_8 UNDO_10
	    "PRAGMA user_version = 3;");
	assert_non_null(f->s = store_open(f->path, err, sizeof(err)));

	assert_int_equal(store_idem_get(f->s, ACC, "old", 0, hash, ep, &st), 0);
	assert_string_equal(hash, "aa");
	assert_string_equal(ep, "");
	assert_string_equal(st.message_id, "<old@example.com>");
	msg_status_clear(&st);

	assert_int_equal(store_begin(f->s), 0);
	msg_init(&m, r, "<raw@example.com>", 1);
	m.idem_key = "k";
	m.idem_hash = "bb";
	m.idem_endpoint = "send_raw";
	assert_int_equal(store_message_insert(f->s, &m), 0);
	msg_init(&m, r, "<send@example.com>", 1);
	m.idem_key = "k2";
	m.idem_hash = "cc";
	m.idem_endpoint = "send";
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_idem_get(f->s, ACC, "k", 0, hash, ep, &st), 0);
	assert_string_equal(ep, "send_raw");
	assert_string_equal(hash, "bb");
	assert_string_equal(st.message_id, "<raw@example.com>");
	msg_status_clear(&st);
	assert_int_equal(store_idem_get(f->s, ACC, "k2", 0, hash, ep, &st), 0);
	assert_string_equal(ep, "send");
	msg_status_clear(&st);
	/* a reopened store keeps them */
	store_close(f->s);
	assert_non_null(f->s = store_open(f->path, err, sizeof(err)));
	assert_int_equal(store_idem_get(f->s, ACC, "k", 0, hash, ep, &st), 0);
	assert_string_equal(ep, "send_raw");
	msg_status_clear(&st);
}

static void
test_message_fk(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];

	seed(f->s);
	msg_init(&m, r, "<fk@example.com>", 1);
	m.account_id = ACC2; /* no such account */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), -1);
	assert_non_null(strstr(store_error(f->s), "FOREIGN KEY"));
	store_rollback(f->s);
	/* the error survives the rollback */
	assert_non_null(strstr(store_error(f->s), "FOREIGN KEY"));
}

/* The one integer query answers on the store's file, read beside it. */
static int64_t
count(const char *path, const char *q)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int64_t n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Gives r[0] and r[1] of m their states s0 and s1 (r[2] is suppressed). */
static void
settle(struct store *s, struct store_rcpt *r, enum rcpt_state s0,
       enum rcpt_state s1)
{
	struct store_outcome o = {.attempts = 1, .last_attempt = 1};

	o.rcpt_id = r[0].id;
	o.state = s0;
	assert_int_equal(store_outcome_apply(s, &o), 0);
	o.rcpt_id = r[1].id;
	o.state = s1;
	assert_int_equal(store_outcome_apply(s, &o), 0);
}

/*
 * message_retention: the messages past it whose recipients are all final
 * go, oldest first and in batches, with their recipients and their
 * Idempotency-Key records; one with a queued or deferred recipient stays
 * however old, and so does a recent one.
 */
static void
test_message_purge(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *id;
		int64_t age_s; /* before the cutoff when > 100 */
		enum rcpt_state s0, s1;
		int gone;
	} t[] = {
	    {"<p1@example.com>", 500, RCPT_DELIVERED, RCPT_BOUNCED, 1},
	    {"<p2@example.com>", 900, RCPT_DELIVERED, RCPT_DEFERRED, 0},
	    {"<p3@example.com>", 800, RCPT_QUEUED, RCPT_DELIVERED, 0},
	    {"<p4@example.com>", 10, RCPT_DELIVERED, RCPT_DELIVERED, 0},
	    {"<p5@example.com>", 700, RCPT_FAILED, RCPT_SUPPRESSED, 1},
	    {"<p6@example.com>", 600, RCPT_DELIVERED, RCPT_DELIVERED, 1},
	};
	enum { N = sizeof(t) / sizeof(t[0]) };
	int64_t now = 1790000000000LL, cutoff = now - 100 * 1000, id[N];
	int64_t bytes = 0, free_bytes = -1;
	struct store_msg m;
	struct store_rcpt r[3];
	struct msg_status st;
	char q[160], hash[65], ep[STORE_ENDPOINT_MAX];

	seed(f->s);
	assert_int_equal(store_begin(f->s), 0);
	for (int i = 0; i < N; i++) {
		msg_init(&m, r, t[i].id, 1);
		m.created = now - t[i].age_s * 1000;
		m.idem_key = t[i].id;
		m.idem_hash = "00";
		assert_int_equal(store_message_insert(f->s, &m), 0);
		settle(f->s, r, t[i].s0, t[i].s1);
		id[i] = m.id;
	}
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM recipients"),
	                 3 * N);

	/* oldest first: p5 (700 s) and p6 (600 s), then p1 (500 s) */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_purge(f->s, cutoff, 2), 2);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<p5@example.com>", &st),
	    STORE_NOT_FOUND);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<p1@example.com>", &st), 0);
	msg_status_clear(&st);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_purge(f->s, cutoff, 2), 1);
	assert_int_equal(store_message_purge(f->s, cutoff, 2), 0);
	assert_int_equal(store_commit(f->s), 0);

	for (int i = 0; i < N; i++) {
		int rc = store_message_status(f->s, ACC, t[i].id, &st);

		if (t[i].gone)
			assert_int_equal(rc, STORE_NOT_FOUND);
		else {
			assert_int_equal(rc, 0);
			assert_int_equal(st.nrcpts, 3);
			msg_status_clear(&st);
		}
		snprintf(q, sizeof(q),
		         "SELECT count(*) FROM recipients WHERE message_id = "
		         "%lld",
		         (long long)id[i]);
		assert_int_equal(count(f->path, q), t[i].gone ? 0 : 3);
		snprintf(q, sizeof(q),
		         "SELECT count(*) FROM idempotency WHERE msg_id = %lld",
		         (long long)id[i]);
		assert_int_equal(count(f->path, q), t[i].gone ? 0 : 1);
		assert_int_equal(
		    store_idem_get(f->s, ACC, t[i].id, 0, hash, ep, &st),
		    t[i].gone ? STORE_NOT_FOUND : 0);
		msg_status_clear(&st);
		assert_int_equal(raw_len_of(f->path, id[i]),
		                 t[i].gone ? -1 : (long)(sizeof(RAW) - 1));
	}
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 3);
	/* the deferred and queued ones stay past any cutoff until final */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_purge(f->s, now + 1000, 1000), 1);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM messages"), 2);

	assert_int_equal(store_size(f->s, &bytes, &free_bytes), 0);
	assert_true(bytes > 0);
	assert_true(free_bytes >= 0 && free_bytes < bytes);
	assert_int_equal(bytes % 512, 0);
}

/*
 * Without preview the body is emptied once every recipient is final,
 * and not before; the status stays. With preview it is kept.
 */
static void
test_message_body_drop(void **state)
{
	struct fixture *f = *state;
	struct store_msg m, p;
	struct store_rcpt r[3], pr[3];
	struct msg_status st;
	struct store_outcome o = {.attempts = 1, .last_attempt = 1};
	char *raw;
	size_t len;

	seed(f->s);
	assert_int_equal(store_begin(f->s), 0);
	msg_init(&m, r, "<nopreview@example.com>", 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	msg_init(&p, pr, "<preview@example.com>", 1);
	assert_int_equal(store_message_insert(f->s, &p), 0);
	/* two queued */
	assert_int_equal(store_message_body_drop(f->s, m.id), 0);
	o.rcpt_id = r[0].id;
	o.state = RCPT_DELIVERED;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	o.rcpt_id = r[1].id;
	o.state = RCPT_DEFERRED;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	/* one deferred */
	assert_int_equal(store_message_body_drop(f->s, m.id), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(raw_len_of(f->path, m.id), (long)(sizeof(RAW) - 1));

	assert_int_equal(store_begin(f->s), 0);
	o.state = RCPT_BOUNCED;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_message_body_drop(f->s, m.id), 1);
	assert_int_equal(store_message_body_drop(f->s, m.id), 0);
	settle(f->s, pr, RCPT_DELIVERED, RCPT_DELIVERED);
	assert_int_equal(store_message_body_drop(f->s, p.id), 0);
	assert_int_equal(store_commit(f->s), 0);

	assert_int_equal(raw_len_of(f->path, m.id), 0);
	assert_int_equal(raw_len_of(f->path, p.id), (long)(sizeof(RAW) - 1));
	assert_int_equal(raw_by_id(f->s, ACC, m.message_id, &raw, &len),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_message_status(f->s, ACC, m.message_id, &st), 0);
	assert_int_equal(st.nrcpts, 3);
	assert_int_equal(st.rcpts[1].state, RCPT_BOUNCED);
	msg_status_clear(&st);
	assert_int_equal(raw_by_id(f->s, ACC, p.message_id, &raw, &len), 0);
	assert_int_equal(len, sizeof(RAW) - 1);
	free(raw);
}

/* SQL beside the store: deletes messages row id and its recipients. */
static void
delete_message(const char *path, int64_t id)
{
	char sql[160];
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
	         "DELETE FROM recipients WHERE message_id = %lld; "
	         "DELETE FROM messages WHERE id = %lld;",
	         (long long)id, (long long)id);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The message reader of GET messages/{id}: pieces at any offset give
 * back the stored bytes exactly (a NUL included), after the connection
 * that opened it is closed; unknown and preview-less messages are not
 * found; a message deleted between reads fails the next read. */
static void
test_message_reader(void **state)
{
	struct fixture *f = *state;
	struct store_reader *rd, *rd2;
	struct store_msg m;
	struct store_rcpt r[3];
	struct store *s2;
	char big[200000], out[sizeof(big)], err[256];
	uint64_t size, off;
	size_t got, i;

	seed(f->s);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	msg_init(&m, r, "<big@example.com>", 1);
	m.raw = big;
	m.raw_len = sizeof(big);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	msg_init(&m, r, "<small@example.com>", 1);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	msg_init(&m, r, "<hidden@example.com>", 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);

	/* opened on another connection (a thread's), which it borrows */
	s2 = store_open(f->path, err, sizeof(err));
	assert_non_null(s2);
	assert_int_equal(
	    store_message_reader_open(s2, ACC, "big@example.com", &rd, &size),
	    0);
	assert_int_equal(size, sizeof(big));
	for (off = 0; off < size; off += got) {
		assert_int_equal(
		    store_message_read(rd, off, out + off, 65536, &got), 0);
		assert_true(got > 0 && got <= 65536);
	}
	assert_memory_equal(out, big, sizeof(big));
	/* past the end: nothing, no error; at an odd offset: the tail */
	assert_int_equal(store_message_read(rd, size, out, 10, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(store_message_read(rd, size - 3, out, 10, &got), 0);
	assert_int_equal(got, 3);
	assert_memory_equal(out, big + size - 3, 3);

	assert_int_equal(store_message_reader_open(
	                     f->s, ACC, "<small@example.com>", &rd2, &size),
	                 0);
	assert_int_equal(size, sizeof(RAW) - 1);
	assert_int_equal(store_message_read(rd2, 0, out, sizeof(out), &got), 0);
	assert_int_equal(got, sizeof(RAW) - 1);
	assert_memory_equal(out, RAW, got);
	store_reader_close(rd2);

	/* not found: another account, no preview, unknown */
	assert_int_equal(store_message_reader_open(
	                     f->s, ACC2, "<big@example.com>", &rd2, &size),
	                 STORE_NOT_FOUND);
	assert_null(rd2);
	assert_int_equal(store_message_reader_open(
	                     f->s, ACC, "<hidden@example.com>", &rd2, &size),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_message_reader_open(
	                     f->s, ACC, "<no@example.com>", &rd2, &size),
	                 STORE_NOT_FOUND);

	/* deleted between two reads (a retention purge): an error */
	delete_message(f->path, 1);
	assert_int_equal(store_message_read(rd, 0, out, 100, &got), -1);
	assert_non_null(strstr(store_reader_error(rd), "gone"));
	store_reader_close(rd);
	store_close(s2);
	store_reader_close(NULL);
}

/* An event of recipient r of message m, as the writer makes one. */
static void
event_of(struct store_event *e, const struct store_msg *m,
         const struct store_rcpt *r, const char *type, int64_t at,
         const char *eid)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->event_id, sizeof(e->event_id), "%s", eid);
	snprintf(e->account_id, sizeof(e->account_id), "%s", m->account_id);
	e->msg_id = m->id;
	e->message_id = m->message_id;
	e->rcpt_id = r->id;
	e->recipient = r->address;
	e->type = type;
	e->created = at;
	e->payload = "{\"type\":\"x\"}";
}

#define DELIVERED "cf.email.sending.message.delivered"
#define DEFERRED "cf.email.sending.message.deferred"
#define BOUNCED "cf.email.sending.message.bounced"

/*
 * Migration 6 on a store the previous schema made: its rows stay, and it
 * gains the events and suppressions tables (written and read back). The
 * older store is this one with migration 6 undone by hand.
 */
static void
test_migration_6(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct store_event e, *v;
	struct suppression sp = {.email = "one@example.net",
	                         .reason = SUPP_MANUAL};
	struct msg_status st;
	char err[256];
	size_t n;

	seed(f->s);
	msg_init(&m, r, "<v5@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	store_close(f->s);
	sql(f->path,
	    "DROP TABLE events; DROP TABLE suppressions;" UNDO_8 UNDO_10
	    "PRAGMA user_version = 5;");
	assert_int_equal(count(f->path, "SELECT count(*) FROM sqlite_master "
	                                "WHERE name IN ('events', "
	                                "'suppressions')"),
	                 0);

	assert_non_null(f->s = store_open(f->path, err, sizeof(err)));
	assert_int_equal(count(f->path, "PRAGMA user_version"), 11);
	assert_int_equal(count(f->path, "SELECT count(*) FROM sqlite_master "
	                                "WHERE name IN ('events_page', "
	                                "'events_msg', 'suppressions_key', "
	                                "'suppressions_page', "
	                                "'suppressions_expiry')"),
	                 5);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<v5@example.com>", &st), 0);
	assert_int_equal(st.nrcpts, 3);
	msg_status_clear(&st);

	event_of(&e, &m, &r[0], DELIVERED, 5, "e1");
	memcpy(sp.id, "s1", 3);
	memcpy(sp.account_id, ACC, sizeof(ACC));
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_event_insert(f->s, &e), 0);
	assert_int_equal(store_suppression_upsert(f->s, &sp), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_events_list(f->s, ACC, 0, 10, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].event_id, "e1");
	event_list_free(v, n);
	assert_int_equal(
	    store_suppression_find(f->s, ACC, "one@example.net", NULL, 1, &sp),
	    0);
	suppression_clear(&sp);
}

/* The message info an event names, with its sending domain's name. */
static void
test_message_info(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct msg_info mi;

	seed(f->s);
	msg_init(&m, r, "<info@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	m.subject = NULL;
	m.domain_id = NULL;
	m.message_id = "<bare@example.com>";
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_message_info(f->s, m.id - 1, &mi), 0);
	assert_int_equal(mi.id, m.id - 1);
	assert_string_equal(mi.account_id, ACC);
	assert_string_equal(mi.message_id, "<info@example.com>");
	assert_string_equal(mi.mail_from, "a@example.com");
	assert_string_equal(mi.subject, "hi");
	assert_string_equal(mi.domain, "example.com");
	assert_true(mi.created > 1000000000000LL);
	msg_info_clear(&mi);
	assert_int_equal(store_message_info(f->s, m.id, &mi), 0);
	assert_null(mi.subject);
	assert_null(mi.domain);
	msg_info_clear(&mi);
	assert_int_equal(store_message_info(f->s, m.id + 1, &mi),
	                 STORE_NOT_FOUND);
}

/*
 * Events: the cursor grows in commit order and is never given again,
 * even once every row is gone; pages, and the type, message_id and
 * since filters; another account's are not listed; events go with
 * their message in the purge.
 */
static void
test_events(void **state)
{
	struct fixture *f = *state;
	struct event_filter fl = {0};
	struct store_msg m, m2;
	struct store_rcpt r[3], r2[3];
	struct store_event e, *v;
	int64_t last;
	size_t n;

	seed(f->s);
	msg_init(&m, r, "<ev1@example.com>", 1);
	msg_init(&m2, r2, "<ev2@example.com>", 1);
	m.created = m2.created = 1700000000000LL;
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	event_of(&e, &m, &r[0], DELIVERED, 100, "e1");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	event_of(&e, &m, &r[1], DEFERRED, 200, "e2");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	event_of(&e, &m2, &r2[0], BOUNCED, 300, "e3");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	event_of(&e, &m, &r[1], DELIVERED, 400, "e4");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	assert_int_equal(store_commit(f->s), 0);

	assert_int_equal(store_events_list(f->s, ACC, 0, 10, NULL, &v, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_true(i == 0 || v[i].id > v[i - 1].id);
		assert_string_equal(v[i].account_id, ACC);
		assert_string_equal(v[i].payload, "{\"type\":\"x\"}");
	}
	assert_string_equal(v[1].event_id, "e2");
	assert_int_equal(v[1].msg_id, m.id);
	assert_int_equal(v[1].rcpt_id, r[1].id);
	assert_string_equal(v[1].message_id, "<ev1@example.com>");
	assert_string_equal(v[1].recipient, "two@example.net");
	assert_string_equal(v[1].type, DEFERRED);
	assert_int_equal(v[1].created, 200);
	last = v[1].id;
	event_list_free(v, n);
	/* a page after the cursor */
	assert_int_equal(store_events_list(f->s, ACC, last, 1, NULL, &v, &n),
	                 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].event_id, "e3");
	event_list_free(v, n);
	/* filters */
	fl.type = DELIVERED;
	assert_int_equal(store_events_list(f->s, ACC, 0, 10, &fl, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].event_id, "e1");
	assert_string_equal(v[1].event_id, "e4");
	event_list_free(v, n);
	fl.type = NULL;
	fl.message_id = "ev2@example.com"; /* brackets or not */
	assert_int_equal(store_events_list(f->s, ACC, 0, 10, &fl, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].event_id, "e3");
	event_list_free(v, n);
	fl.message_id = "<ev1@example.com>";
	fl.since = 200;
	assert_int_equal(store_events_list(f->s, ACC, 0, 10, &fl, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].event_id, "e2");
	assert_string_equal(v[1].event_id, "e4");
	event_list_free(v, n);
	assert_int_equal(store_events_list(f->s, ACC2, 0, 10, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	event_list_free(v, n);

	/* the purge takes a message's events with it */
	settle(f->s, r, RCPT_DELIVERED, RCPT_DELIVERED);
	settle(f->s, r2, RCPT_BOUNCED, RCPT_DELIVERED);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_purge(f->s, 1800000000000LL, 10), 2);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM events"), 0);
	/* the cursor is never given again, though every row is gone */
	msg_init(&m, r, "<ev3@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	event_of(&e, &m, &r[0], DELIVERED, 500, "e5");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_events_list(f->s, ACC, 0, 10, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_true(v[0].id > last + 2);
	event_list_free(v, n);
}

#define D "example.com"

/*
 * Suppressions, as steps: a write of an entry (SPEC §6.4's upsert: one
 * entry per account, email and scope; a live entry keeps the later
 * expiry, and its reason unless both are automatic and the new one
 * outlasts it; an expired one is replaced; a policy entry never
 * changes), or the lookup of a send at a time from a sending domain
 * (the account's scope, or that domain's; expired entries do not
 * count), with the entry it must find; then the purge.
 */
static void
test_suppressions(void **state)
{
	struct fixture *f = *state;
	enum { PUT, GET };
	static const struct {
		int op;
		const char
		    *id; /* PUT: the new id; GET: the one found, NULL none */
		const char *email;
		enum supp_reason reason; /* GET: the reason found */
		const char *domain;      /* scope (PUT) or the sending domain */
		int64_t at;              /* PUT: created; GET: now */
		int64_t expires;         /* 0 never */
	} t[] = {
	    /* soft, then a longer hard: one entry, hard, the later expiry */
	    {PUT, "s1", "x@example.net", SUPP_SOFT_BOUNCE, D, 100, 1100},
	    {PUT, "s2", "x@example.net", SUPP_HARD_BOUNCE, D, 200, 2000},
	    {GET, "s1", "x@example.net", SUPP_HARD_BOUNCE, D, 300, 2000},
	    /* a shorter one changes nothing */
	    {PUT, "s3", "x@example.net", SUPP_SOFT_BOUNCE, D, 300, 1300},
	    {GET, "s1", "x@example.net", SUPP_HARD_BOUNCE, D, 300, 2000},
	    /* a domain's entry: for sends of that domain only */
	    {GET, NULL, "x@example.net", 0, "other.example", 300, 0},
	    {GET, NULL, "x@example.net", 0, NULL, 300, 0},
	    /* a local part is as given */
	    {GET, NULL, "X@example.net", 0, D, 300, 0},
	    /* expired: it suppresses nothing, and a new one replaces it */
	    {GET, NULL, "x@example.net", 0, D, 2000, 0},
	    {PUT, "s4", "x@example.net", SUPP_SOFT_BOUNCE, D, 2500, 3500},
	    {GET, "s1", "x@example.net", SUPP_SOFT_BOUNCE, D, 2600, 3500},
	    /* a manual entry keeps its reason; never (0) beats any date */
	    {PUT, "m1", "y@example.net", SUPP_MANUAL, D, 100, 500},
	    {PUT, "m2", "y@example.net", SUPP_HARD_BOUNCE, D, 200, 9000},
	    {GET, "m1", "y@example.net", SUPP_MANUAL, D, 300, 9000},
	    {PUT, "m3", "y@example.net", SUPP_COMPLAINT, D, 300, 0},
	    {PUT, "m4", "y@example.net", SUPP_HARD_BOUNCE, D, 400, 9999},
	    {GET, "m1", "y@example.net", SUPP_MANUAL, D, 99999, 0},
	    /* a policy entry of the account's scope: read-only, and found
	     * for every sending domain, before a domain's own entry */
	    {PUT, "p1", "z@example.net", SUPP_POLICY, NULL, 100, 500},
	    {PUT, "p2", "z@example.net", SUPP_HARD_BOUNCE, NULL, 200, 9000},
	    {GET, "p1", "z@example.net", SUPP_POLICY, "any.example", 300, 500},
	    {PUT, "p3", "z@example.net", SUPP_HARD_BOUNCE, D, 200, 9000},
	    {GET, "p1", "z@example.net", SUPP_POLICY, D, 300, 500},
	    {GET, "p3", "z@example.net", SUPP_HARD_BOUNCE, D, 600, 9000},
	};
	struct suppression sp;
	int rc;

	seed(f->s);
	assert_string_equal(supp_reason_name(SUPP_HARD_BOUNCE), "hard_bounce");
	assert_string_equal(supp_reason_name(SUPP_POLICY), "policy");
	for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
		memset(&sp, 0, sizeof(sp));
		if (t[i].op == PUT) {
			snprintf(sp.id, sizeof(sp.id), "%s", t[i].id);
			snprintf(sp.account_id, sizeof(sp.account_id), ACC);
			sp.email = (char *)t[i].email;
			sp.reason = t[i].reason;
			sp.scope_value = (char *)t[i].domain;
			sp.created = t[i].at;
			sp.expires_at = t[i].expires;
			sp.read_only = t[i].reason == SUPP_POLICY;
			assert_int_equal(store_begin(f->s), 0);
			assert_int_equal(store_suppression_upsert(f->s, &sp),
			                 0);
			assert_int_equal(store_commit(f->s), 0);
			continue;
		}
		rc = store_suppression_find(f->s, ACC, t[i].email, t[i].domain,
		                            t[i].at, &sp);
		if (t[i].id == NULL) {
			if (rc != STORE_NOT_FOUND)
				fail_msg("step %zu: found %s", i, sp.id);
			continue;
		}
		if (rc != 0)
			fail_msg("step %zu: %d", i, rc);
		assert_string_equal(sp.id, t[i].id);
		assert_string_equal(sp.account_id, ACC);
		assert_string_equal(sp.email, t[i].email);
		assert_int_equal(sp.reason, t[i].reason);
		assert_int_equal(sp.expires_at, t[i].expires);
		suppression_clear(&sp);
	}
	assert_int_equal(count(f->path, "SELECT count(*) FROM suppressions"),
	                 4);

	/* the purge: entries expired before the time given, in batches */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_suppression_purge(f->s, 3600, 1), 1);
	assert_int_equal(store_suppression_purge(f->s, 3600, 10), 1);
	assert_int_equal(store_suppression_purge(f->s, 3600, 10), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM suppressions "
	                                "WHERE id IN ('m1', 'p3')"),
	                 2);
}

/*
 * The writer's outcome batch in the store: the state change, its event
 * and its suppression are in one transaction — a failure in the middle
 * (here an event without its recipient) rolled back leaves none of them.
 */
static void
test_outcome_event_atomic(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct store_outcome o = {.state = RCPT_BOUNCED, .attempts = 1};
	struct suppression sp = {.email = "one@example.net",
	                         .reason = SUPP_HARD_BOUNCE,
	                         .scope_value = D,
	                         .expires_at = 1};
	struct store_event e;
	struct msg_status st;

	seed(f->s);
	msg_init(&m, r, "<atomic@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	snprintf(sp.id, sizeof(sp.id), "s1");
	snprintf(sp.account_id, sizeof(sp.account_id), ACC);

	assert_int_equal(store_begin(f->s), 0);
	o.rcpt_id = r[0].id;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	event_of(&e, &m, &r[0], BOUNCED, 1, "e1");
	assert_int_equal(store_event_insert(f->s, &e), 0);
	assert_int_equal(store_suppression_upsert(f->s, &sp), 0);
	o.rcpt_id = r[1].id;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	event_of(&e, &m, &r[1], BOUNCED, 1, "e2");
	e.recipient = NULL;
	assert_int_equal(store_event_insert(f->s, &e), -1);
	assert_non_null(strstr(store_error(f->s), "NOT NULL"));
	store_rollback(f->s);

	assert_int_equal(count(f->path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(count(f->path, "SELECT count(*) FROM suppressions"),
	                 0);
	assert_int_equal(
	    store_message_status(f->s, ACC, "<atomic@example.com>", &st), 0);
	assert_int_equal(st.rcpts[0].state, RCPT_QUEUED);
	assert_int_equal(st.rcpts[1].state, RCPT_QUEUED);
	msg_status_clear(&st);
}

static int
req_cb(void *arg, const struct queue_req *r)
{
	char *out = arg;

	snprintf(out + strlen(out), 64, "%d:%lld:%s;", (int)r->kind,
	         (long long)r->msg_id, r->destination ? r->destination : "-");
	return 0;
}

/* pigeon queue: list, message, retry, the guarded outcome, requests and
 * the destinations snapshot. */
static void
test_queue_admin(void **state)
{
	struct fixture *f = *state;
	struct store_msg m1, m2;
	struct store_rcpt r1[3], r2[3];
	struct store_outcome o = {
	    .state = RCPT_DEFERRED, .attempts = 1, .next_attempt = 5000};
	struct queue_row *v = NULL;
	struct queue_msg qm;
	struct queue_req rq = {.kind = QREQ_DROP, .msg_id = 7};
	struct store_dest d = {.route = "mx",
	                       .domain = "example.net",
	                       .cap = 2,
	                       .full = 4,
	                       .paused_until = 9,
	                       .throttled_at = 8,
	                       .reply = "421 busy"};
	struct store_dest *dv = NULL;
	size_t n = 0;
	int64_t total = 0, changed = 0, last = -1;
	char seen[256] = "";

	seed(f->s);
	msg_init(&m1, r1, "<q1@example.com>", 1);
	msg_init(&m2, r2, "<q2@example.com>", 1);
	r2[1].address = "two@Other.example";
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m1), 0);
	assert_int_equal(store_message_insert(f->s, &m2), 0);
	o.rcpt_id = r1[0].id;
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	assert_int_equal(store_commit(f->s), 0);

	/* pending: newest message first; suppressed ones are final */
	assert_int_equal(store_queue_list(f->s, -1, 3, &v, &n, &total), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].message_id, "<q2@example.com>");
	assert_int_equal(v[2].msg_id, m1.id);
	queue_row_list_free(v, n);
	assert_int_equal(
	    store_queue_list(f->s, RCPT_DEFERRED, 10, &v, &n, &total), 0);
	assert_int_equal(n, 1);
	assert_int_equal(total, 1);
	assert_string_equal(v[0].address, "one@example.net");
	assert_int_equal(v[0].next_attempt, 5000);
	queue_row_list_free(v, n);

	/* a message of any account, by Message-ID with or without <> */
	assert_int_equal(store_queue_message(f->s, "q1@example.com", &qm), 0);
	assert_int_equal(qm.id, m1.id);
	assert_string_equal(qm.account_id, ACC);
	assert_string_equal(qm.subject, "hi");
	assert_int_equal(qm.size, sizeof(RAW) - 1);
	assert_int_equal(qm.nrcpts, 3);
	assert_int_equal(qm.rcpts[0].id, r1[0].id);
	assert_int_equal(qm.rcpts[0].state, RCPT_DEFERRED);
	queue_msg_clear(&qm);
	assert_int_equal(store_queue_message(f->s, "<no@example.com>", &qm),
	                 STORE_NOT_FOUND);

	/* retry: one message, a domain (any case), or all pending */
	assert_int_equal(store_queue_retry(f->s, m1.id, NULL, 42, &changed), 0);
	assert_int_equal(changed, 2);
	assert_int_equal(
	    store_queue_retry(f->s, 0, "other.EXAMPLE", 43, &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(store_queue_retry(f->s, 0, NULL, 44, &changed), 0);
	assert_int_equal(changed, 4);

	/* an outcome for a recipient already final is not written */
	o.state = RCPT_FAILED;
	o.next_attempt = 0;
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_outcome_apply(f->s, &o), 0);
	o.state = RCPT_DEFERRED;
	o.attempts = 2;
	assert_int_equal(store_outcome_apply(f->s, &o), STORE_NOT_FOUND);
	o.rcpt_id = r1[2].id; /* suppressed at the send */
	assert_int_equal(store_outcome_apply(f->s, &o), STORE_NOT_FOUND);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_queue_message(f->s, "<q1@example.com>", &qm), 0);
	assert_int_equal(qm.rcpts[0].state, RCPT_FAILED);
	assert_int_equal(qm.rcpts[0].attempts, 1);
	assert_int_equal(qm.rcpts[2].state, RCPT_SUPPRESSED);
	queue_msg_clear(&qm);

	/* requests: read after the last one seen */
	assert_int_equal(store_request_last(f->s, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(store_request_add(f->s, &rq), 0);
	rq.kind = QREQ_RESUME;
	rq.msg_id = 0;
	rq.destination = "mx:example.net";
	assert_int_equal(store_request_add(f->s, &rq), 0);
	assert_int_equal(store_requests_after(f->s, 0, req_cb, seen), 0);
	assert_string_equal(seen, "1:7:-;2:0:mx:example.net;");
	seen[0] = '\0';
	assert_int_equal(store_requests_after(f->s, 1, req_cb, seen), 0);
	assert_string_equal(seen, "2:0:mx:example.net;");
	assert_int_equal(store_request_last(f->s, &last), 0);
	assert_int_equal(last, 2);

	/* destinations: put replaces, del by route and domain */
	assert_int_equal(store_dest_put(f->s, &d), 0);
	d.cap = 3;
	assert_int_equal(store_dest_put(f->s, &d), 0);
	d.domain = "b.example";
	d.route[0] = 'r';
	assert_int_equal(store_dest_put(f->s, &d), 0);
	assert_int_equal(store_dest_list(f->s, &dv, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dv[0].cap, 3);
	assert_string_equal(dv[0].reply, "421 busy");
	store_dest_list_free(dv, n);
	assert_int_equal(store_dest_del(f->s, NULL, "EXAMPLE.net"), 0);
	assert_int_equal(store_dest_list(f->s, &dv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(dv[0].domain, "b.example");
	store_dest_list_free(dv, n);
	assert_int_equal(store_dest_del(f->s, NULL, NULL), 0);
	assert_int_equal(store_dest_list(f->s, &dv, &n), 0);
	assert_int_equal(n, 0);
	store_dest_list_free(dv, n);
}

/* SPEC §8.2: a deleted domain leaves the lists and lookups, frees its
 * name, and stays for its messages (their load and info name it). */
static void
test_domain_delete(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct store_msg_load ld;
	struct msg_info mi;
	struct domain d, *v,
	    again = {.id = "d0000000000000000000000000000002",
	             .zone_id = ZONE,
	             .account_id = ACC,
	             .name = "example.com",
	             .enabled = 1};
	int64_t g0, g1;
	size_t n;

	seed(f->s);
	msg_init(&m, r, "<del@example.com>", 1);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_domain_get(f->s, DOM, &d), 0);
	assert_string_equal(d.name, "example.com");
	domain_clear(&d);
	assert_int_equal(store_generation(f->s, &g0), 0);
	assert_int_equal(store_domain_delete(f->s, DOM), 0);
	assert_int_equal(store_generation(f->s, &g1), 0);
	assert_true(g1 > g0);
	assert_int_equal(store_domain_delete(f->s, DOM), STORE_NOT_FOUND);
	assert_int_equal(store_domain_get(f->s, DOM, &d), STORE_NOT_FOUND);
	assert_int_equal(store_domain_get_by_name(f->s, "example.com", &d),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_domain_list(f->s, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	domain_list_free(v, n);
	/* an update of the deleted row changes nothing */
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", DOM);
	assert_int_equal(store_domain_update(f->s, &d), -1);
	/* its message still loads with its name and return path */
	assert_int_equal(store_message_load(f->s, m.id, &ld), 0);
	assert_string_equal(ld.domain, "example.com");
	assert_string_equal(ld.return_path_domain, "bounces.example.com");
	store_msg_load_clear(&ld);
	assert_int_equal(store_message_info(f->s, m.id, &mi), 0);
	assert_string_equal(mi.domain, "example.com");
	msg_info_clear(&mi);
	/* the name is free again */
	assert_int_equal(store_domain_create(f->s, &again), 0);
	assert_int_equal(store_domain_get_by_name(f->s, "example.com", &d), 0);
	assert_string_equal(d.id, again.id);
	domain_clear(&d);
}

/* SPEC §8.3: pages newest first, counts by state, q. */
static void
test_message_list(void **state)
{
	struct fixture *f = *state;
	struct store_msg m;
	struct store_rcpt r[3];
	struct msg_summary *v;
	char id[32];
	int64_t ids[5];
	size_t n;
	int i;

	seed(f->s);
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "<m%d@example.com>", i);
		msg_init(&m, r, id, 1);
		m.subject = i == 3 ? "Invoice MARCH" : "hi";
		assert_int_equal(store_begin(f->s), 0);
		assert_int_equal(store_message_insert(f->s, &m), 0);
		assert_int_equal(store_commit(f->s), 0);
		ids[i] = m.id;
	}
	assert_int_equal(store_message_list(f->s, ACC, 0, 2, NULL, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, ids[4]);
	assert_int_equal(v[1].id, ids[3]);
	assert_string_equal(v[0].message_id, "<m4@example.com>");
	assert_string_equal(v[0].mail_from, "a@example.com");
	assert_int_equal(v[0].size, (int64_t)(sizeof(RAW) - 1));
	assert_int_equal(v[0].total, 3);
	assert_int_equal(v[0].counts[RCPT_QUEUED], 2);
	assert_int_equal(v[0].counts[RCPT_SUPPRESSED], 1);
	assert_int_equal(v[0].counts[RCPT_DELIVERED], 0);
	msg_summary_list_free(v, n);
	assert_int_equal(
	    store_message_list(f->s, ACC, ids[3], 10, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].id, ids[2]);
	assert_int_equal(v[2].id, ids[0]);
	msg_summary_list_free(v, n);
	/* q: the subject in any case, a recipient, the Message-ID */
	assert_int_equal(
	    store_message_list(f->s, ACC, 0, 10, "invoice march", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, ids[3]);
	msg_summary_list_free(v, n);
	assert_int_equal(store_message_list(f->s, ACC, 0, 10, "gone@", &v, &n),
	                 0);
	assert_int_equal(n, 5);
	msg_summary_list_free(v, n);
	assert_int_equal(store_message_list(f->s, ACC, 0, 10, "m2@", &v, &n),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, ids[2]);
	msg_summary_list_free(v, n);
	assert_int_equal(
	    store_message_list(f->s, ACC, 0, 10, "nowhere", &v, &n), 0);
	assert_int_equal(n, 0);
	msg_summary_list_free(v, n);
	/* another account sees none of them */
	assert_int_equal(store_message_list(f->s, ACC2, 0, 10, NULL, &v, &n),
	                 0);
	assert_int_equal(n, 0);
	msg_summary_list_free(v, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_error),
	    cmocka_unit_test_setup_teardown(test_schema_version, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zones_domains, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tokens_generation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_fk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idem_purge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idem_endpoint, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_message_purge, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_message_body_drop, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_message_reader, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_migration_6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_domain_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_message_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suppressions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_admin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcome_event_atomic, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
