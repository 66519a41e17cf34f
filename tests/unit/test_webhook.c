/*
 * test_webhook: src/webhook/sign.c — the signature of SPEC §6.5 against
 * known answers (computed apart, with Python's hmac), the backoff
 * arithmetic, the event type names and the URL check; and the store's
 * webhook outbox in a temp dir: a webhook reads only the events after
 * its cursor, of its types, and a message's later event waits for its
 * earlier one.
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

#include "../../src/store/store.h"
#include "../../src/webhook/webhook.h"

#define ACC "abababababababababababababababab"
#define HOOK "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define PFX WEBHOOK_TYPE_PREFIX

static void
test_sign_known_answer(void **state)
{
	char hex[65], sig[128];
	const char *body = "{\"type\":\"x\"}";

	assert_int_equal(webhook_sign("Jefe", 1700000000,
	                              "what do ya want for nothing?", 28, hex),
	                 0);
	assert_string_equal(hex, "1cdd0650c8be1cb0974b1788d458b1e781206cfef59b"
	                         "85faafc582d2e182c57e");
	assert_int_equal(
	    webhook_signature("a2120cfb686270ffbbdbd70c850eb3cfe2c2d867c730d6b3"
	                      "8c250d554e32bd33",
	                      1796012014, body, strlen(body), sig, sizeof(sig)),
	    0);
	assert_string_equal(sig, "t=1796012014,v1=851484941a325e18b2a5c33b6527"
	                         "a71677381686a2bb652238dd1d58adbc3f48");
	/* the time is signed: another t, another mac */
	assert_int_equal(webhook_signature("Jefe", 1700000001,
	                                   "what do ya want for nothing?", 28,
	                                   sig, sizeof(sig)),
	                 0);
	assert_null(strstr(sig, "1cdd0650c8be"));
	/* too small a buffer is an error, not a cut header */
	assert_int_equal(webhook_signature("k", 1, "b", 1, sig, 20), -1);
}

static void
test_backoff(void **state)
{
	/* rnd 0: the low end, half; rnd at the top: the whole delay */
	assert_int_equal(webhook_backoff(1, 1000, 600000, 0), 500);
	assert_int_equal(webhook_backoff(1, 1000, 600000, 500), 1000);
	assert_int_equal(webhook_backoff(1, 1000, 600000, 501), 500);
	assert_int_equal(webhook_backoff(2, 1000, 600000, 1000), 2000);
	assert_int_equal(webhook_backoff(4, 1000, 600000, 4000), 8000);
	assert_int_equal(webhook_backoff(4, 1000, 600000, 0), 4000);
	/* capped: 2^20 s is past 10 min */
	assert_int_equal(webhook_backoff(21, 1000, 600000, 300000), 600000);
	assert_int_equal(webhook_backoff(1000, 1000, 600000, 0), 300000);
	/* never past the cap, never under half of it once capped */
	for (uint64_t r = 0; r < 5000; r += 7) {
		int64_t d = webhook_backoff(30, 5000, 600000, r * 977);

		assert_true(d >= 300000 && d <= 600000);
	}
	/* odd delays keep the upper bound */
	assert_int_equal(webhook_backoff(1, 3, 100, 1), 3);
	assert_int_equal(webhook_backoff(1, 3, 100, 0), 2);
}

static void
test_types(void **state)
{
	char out[WEBHOOK_TYPES_MAX], bad[64];

	assert_string_equal(webhook_type_full("bounced"), PFX "bounced");
	assert_string_equal(webhook_type_full(PFX "complained"),
	                    PFX "complained");
	assert_null(webhook_type_full("opened"));
	assert_null(webhook_type_full(PFX));
	assert_null(webhook_type_full("Delivered"));
	assert_int_equal(webhook_types_parse("delivered," PFX "bounced,"
	                                     "delivered",
	                                     out, sizeof(out), bad,
	                                     sizeof(bad)),
	                 0);
	assert_string_equal(out, "," PFX "delivered," PFX "bounced,");
	assert_int_equal(webhook_types_parse("delivered,nope", out, sizeof(out),
	                                     bad, sizeof(bad)),
	                 -1);
	assert_string_equal(bad, "nope");
	assert_int_equal(
	    webhook_types_parse("", out, sizeof(out), bad, sizeof(bad)), -1);
	assert_int_equal(webhook_types_parse("delivered,", out, sizeof(out),
	                                     bad, sizeof(bad)),
	                 -1);
}

static void
test_url(void **state)
{
	assert_true(webhook_url_ok("http://127.0.0.1:8080/hook"));
	assert_true(webhook_url_ok("https://hooks.example.net/x?y=1"));
	assert_false(webhook_url_ok("ftp://example.net/"));
	assert_false(webhook_url_ok("http://"));
	assert_false(webhook_url_ok("https:///path"));
	assert_false(webhook_url_ok("http://a b/"));
	assert_false(webhook_url_ok("example.net/hook"));
	assert_false(webhook_url_ok("http://a/\r\nX: y"));
}

/* -- the outbox ------------------------------------------------------- */

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct account a;
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/pigeon-test-webhook-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/pigeon.db", f->dir);
	assert_non_null(f->s = store_open(f->path, err, sizeof(err)));
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), ACC);
	a.name = "acme";
	assert_int_equal(store_account_create(f->s, &a), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[192];

	store_close(f->s);
	snprintf(p, sizeof(p), "%s/pigeon.db-wal", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/pigeon.db-shm", f->dir);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
event_add(struct store *s, int64_t msg, const char *type, int64_t created)
{
	struct store_event e;
	char id[40];
	static int n;

	memset(&e, 0, sizeof(e));
	snprintf(id, sizeof(id), "%032d", ++n);
	memcpy(e.event_id, id, ID_LEN);
	snprintf(e.account_id, sizeof(e.account_id), ACC);
	e.msg_id = msg;
	e.rcpt_id = msg * 10;
	e.message_id = "<m@example.com>";
	e.recipient = "r@example.net";
	e.type = type;
	e.created = created;
	e.payload = "{}";
	assert_int_equal(store_event_insert(s, &e), 0);
}

struct seen {
	int64_t rows[16], msgs[16];
	int n;
};

static int
collect(void *arg, const struct webhook_job *j)
{
	struct seen *s = arg;

	s->rows[s->n] = j->event_rowid;
	s->msgs[s->n++] = j->msg_id;
	return 0;
}

static void
test_outbox(void **state)
{
	struct fixture *f = *state;
	struct webhook w, *v = NULL;
	struct seen seen;
	size_t n = 0;
	int64_t cur, count;

	event_add(f->s, 1, PFX "delivered", 1000); /* before the webhook */
	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), HOOK);
	snprintf(w.account_id, sizeof(w.account_id), ACC);
	w.url = "http://127.0.0.1:9/";
	w.secret = "s";
	w.events = "," PFX "deferred," PFX "delivered,";
	assert_int_equal(store_webhook_create(f->s, &w), 0);
	assert_int_equal(store_webhook_create(f->s, &w), STORE_EXISTS);

	event_add(f->s, 2, PFX "deferred", 2000);  /* row 2 */
	event_add(f->s, 3, PFX "delivered", 2100); /* row 3 */
	event_add(f->s, 2, PFX "bounced", 2200);   /* row 4: not its type */
	event_add(f->s, 2, PFX "delivered", 2300); /* row 5 */

	assert_int_equal(store_webhook_list(f->s, ACC, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].cursor, 1); /* the older event is not its */
	assert_int_equal(v[0].unread, 3); /* of its types, not yet read */
	assert_int_equal(v[0].pending, 0);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_webhook_pump(f->s, &v[0], 5000, 2, &cur), 0);
	assert_int_equal(cur, 3); /* a page of two, of any type */
	v[0].cursor = cur;
	assert_int_equal(store_webhook_pump(f->s, &v[0], 5000, 100, &cur), 0);
	assert_int_equal(cur, 5);
	assert_int_equal(store_commit(f->s), 0);
	webhook_list_free(v, n);

	/* message 2's delivered waits for its deferred */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(
	    store_webhook_due(f->s, HOOK, 5000, 10, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.rows[0], 2);
	assert_int_equal(seen.rows[1], 3);
	/* a failure keeps it first, and not due before next */
	assert_int_equal(store_webhook_result(f->s, HOOK, 2, 0, 1, 9000, 0,
	                                      "HTTP 500", 5000),
	                 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(
	    store_webhook_due(f->s, HOOK, 6000, 10, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.rows[0], 3);
	/* done: the next event of the message comes up */
	assert_int_equal(
	    store_webhook_result(f->s, HOOK, 2, 1, 2, 0, 0, NULL, 9000), 0);
	assert_int_equal(
	    store_webhook_result(f->s, HOOK, 3, 1, 1, 0, 0, NULL, 9000), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(
	    store_webhook_due(f->s, HOOK, 9000, 10, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.rows[0], 5);
	/* given up: counted, no longer due, and the message goes on */
	assert_int_equal(
	    store_webhook_result(f->s, HOOK, 5, 0, 1, 0, 1, "refused", 9500),
	    0);
	assert_int_equal(store_webhook_list(f->s, ACC, &v, &n), 0);
	assert_int_equal(v[0].pending, 0);
	assert_int_equal(v[0].unread, 0);
	assert_int_equal(v[0].given_up, 1);
	assert_string_equal(v[0].last_error, "refused");
	webhook_list_free(v, n);

	/* replay: its types only, in the range; a given-up row again */
	assert_int_equal(
	    store_webhook_replay(f->s, HOOK, 2000, 2301, NULL, 10000, &count),
	    0);
	assert_int_equal(count, 3); /* rows 2, 3, 5 */
	assert_int_equal(store_webhook_replay(f->s, HOOK, 0, INT64_MAX,
	                                      PFX "deferred", 10000, &count),
	                 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_webhook_list(f->s, NULL, &v, &n), 0);
	assert_int_equal(v[0].pending, 3);
	assert_int_equal(v[0].given_up, 0);
	webhook_list_free(v, n);
	assert_int_equal(store_webhook_replay(f->s, ACC, 0, 1, NULL, 1, &count),
	                 STORE_NOT_FOUND);

	/* removed with its outbox */
	assert_int_equal(store_webhook_delete(f->s, HOOK), 0);
	assert_int_equal(store_webhook_delete(f->s, HOOK), STORE_NOT_FOUND);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(
	    store_webhook_due(f->s, HOOK, 99999, 10, collect, &seen), 0);
	assert_int_equal(seen.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_known_answer),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_url),
	    cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
