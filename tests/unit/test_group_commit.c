/*
 * test_group_commit: tests of src/queue/queue.c group commit.
 *
 * One send whose insert the store refuses (here: a domain that does not
 * exist, a foreign-key violation) must fail alone: the other sends
 * committed in the same transaction must still be answered rc 0. A
 * Message-ID the account already used (send_raw and SMTP keep client
 * Message-IDs, SPEC §4) is accepted.
 *
 * The test makes the batch deterministic: another connection holds the
 * write lock, so the writer's first batch waits in BEGIN IMMEDIATE while
 * the next sends pile up behind it and are then taken together.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../src/core/clock.h"
#include "../../src/core/config.h"
#include "../../src/queue/queue.h"
#include "../../src/admin/wire.h"

#define ACC "a0000000000000000000000000000001"
#define ZONE "z0000000000000000000000000000001"
#define DOM "d0000000000000000000000000000001"

static const char RAW[] = "From: a@example.com\r\nSubject: t\r\n\r\nhi\r\n";
static const char *ONE[] = {"user@example.net"};

struct fixture {
	char dir[64];
	struct config cfg;
	struct queue *q;
	struct store *rd;
};

struct sent {
	struct store_msg m;
	struct store_rcpt r[1];
	char mid[64];
	atomic_int calls;
	atomic_int rc;
};

static void
sent_cb(void *arg, int rc, const enum rcpt_state *states)
{
	struct sent *s = arg;

	(void)states;
	atomic_store(&s->rc, rc);
	atomic_fetch_add(&s->calls, 1);
}

static void
sent_init(struct sent *s, const char *mid)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->mid, sizeof(s->mid), "%s", mid);
	s->m.account_id = ACC;
	s->m.domain_id = DOM;
	s->m.message_id = s->mid;
	s->m.mail_from = "a@example.com";
	s->m.raw = RAW;
	s->m.raw_len = sizeof(RAW) - 1;
	s->m.preview = 1;
	s->m.rcpts = s->r;
	s->m.nrcpts = 1;
	s->r[0].address = ONE[0];
	s->r[0].state = RCPT_QUEUED;
}

static void
sent_wait(struct sent *s, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;

	while (atomic_load(&s->calls) == 0 && clock_mono_ms() < end)
		usleep(2000);
	assert_int_equal(atomic_load(&s->calls), 1);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct account a = {
	    .id = ACC, .name = "acme", .entitled = 1, .sending_enabled = 1};
	struct zone z = {.id = ZONE, .account_id = ACC, .name = "example.com"};
	struct domain d = {.id = DOM,
	                   .zone_id = ZONE,
	                   .account_id = ACC,
	                   .name = "example.com",
	                   .enabled = 1,
	                   .preview_enabled = 1};
	char err[256], path[128];
	struct store *s;

	snprintf(f->dir, sizeof(f->dir), "/tmp/pigeon-rqueue-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/pigeon.db", f->dir);
	config_defaults(&f->cfg, 0);
	free(f->cfg.db_path);
	f->cfg.db_path = strdup(path);
	f->cfg.commit_batch = 64;
	assert_non_null(s = store_open(path, err, sizeof(err)));
	assert_int_equal(store_account_create(s, &a), 0);
	assert_int_equal(store_zone_create(s, &z), 0);
	assert_int_equal(store_domain_create(s, &d), 0);
	store_close(s);
	assert_non_null(f->rd = store_open(path, err, sizeof(err)));
	if ((f->q = wire_queue(&f->cfg, err, sizeof(err))) == NULL)
		fail_msg("queue_start: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	queue_stop(f->q);
	store_close(f->rd);
	config_clear(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
test_one_bad_insert_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct sent first, blocker, dup, innocent;
	struct msg_status st;
	sqlite3 *db;
	int stored;

	/* A Message-ID the account has already used is no reason to fail. */
	sent_init(&first, "<reused@example.com>");
	assert_int_equal(queue_send(f->q, &first.m, 0, sent_cb, &first), 0);
	sent_wait(&first, 5000);
	assert_int_equal(atomic_load(&first.rc), 0);

	/* Hold the write lock: the writer's next batch waits in BEGIN. */
	assert_int_equal(sqlite3_open(f->cfg.db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	                 SQLITE_OK);
	sent_init(&blocker, "<blocker@example.com>");
	assert_int_equal(queue_send(f->q, &blocker.m, 0, sent_cb, &blocker), 0);
	usleep(200 * 1000);
	/* These two pile up and are committed together. */
	sent_init(&dup, "<reused@example.com>");
	dup.m.domain_id = "ffffffffffffffffffffffffffffffff"; /* refused */
	sent_init(&innocent, "<innocent@example.com>");
	assert_int_equal(queue_send(f->q, &dup.m, 0, sent_cb, &dup), 0);
	assert_int_equal(queue_send(f->q, &innocent.m, 0, sent_cb, &innocent),
	                 0);
	usleep(100 * 1000);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);

	sent_wait(&blocker, 10000);
	sent_wait(&dup, 10000);
	sent_wait(&innocent, 10000);
	assert_int_equal(atomic_load(&blocker.rc), 0);
	assert_int_equal(atomic_load(&dup.rc), -1); /* nothing written */
	stored = store_message_status(f->rd, ACC, innocent.mid, &st) == 0;
	if (stored)
		msg_status_clear(&st);
	assert_int_equal(atomic_load(&innocent.rc), 0);
	assert_true(stored);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_bad_insert_fails_alone,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
