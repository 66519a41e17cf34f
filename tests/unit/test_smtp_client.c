/*
 * test_smtp_client: src/smtp/client.c on a real event_base against a real
 * SMTP server, tests/peers/smtp_peer.py (aiosmtpd), started by each test
 * with the behaviour it needs on a free 127.0.0.1 port. What the peer
 * received is read back from its JSON log: the commands, whether they
 * came pipelined, the message bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "../../src/core/base64.h"
#include "../../src/core/buf.h"
#include "../../src/smtp/client.h"

extern char **environ;

/* Debian's python3 has aiosmtpd; one found first on PATH may not. */
#define PYTHON "/usr/bin/python3"
#define PEER "../peers/smtp_peer.py"
#define MAX_ARGS 32

struct peer {
	pid_t pid;
	int port;
	char dir[64]; /* port file, log, certificates */
};

/* Copies of the peers a test started, stopped by its teardown even
 * when it failed half-way (pid 0: a free slot). */
static struct peer peers[4];

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static char *
path_in(const struct peer *p, const char *name)
{
	static char path[4][128];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", p->dir, name);
	return path[k];
}

/* Starts the peer with args (NULL-terminated) and waits for its port. */
static void
peer_start(struct peer *p, ...)
{
	const char *argv[MAX_ARGS];
	posix_spawn_file_actions_t fa;
	int64_t deadline;
	va_list ap;
	int n = 0;
	FILE *fp;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/smtpc.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	argv[n++] = PYTHON;
	argv[n++] = PEER;
	argv[n++] = "--ready";
	argv[n++] = path_in(p, "port");
	argv[n++] = "--log";
	argv[n++] = path_in(p, "log.jsonl");
	argv[n++] = "--cert-dir";
	argv[n++] = p->dir;
	va_start(ap, p);
	while (n < MAX_ARGS - 1 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	assert_int_equal(posix_spawn(&p->pid, PYTHON, &fa, NULL,
	                             (char *const *)argv, environ),
	                 0);
	posix_spawn_file_actions_destroy(&fa);
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		if (peers[i].pid == 0) {
			peers[i] = *p;
			break;
		}
	deadline = now_ms() + 10000;
	while ((fp = fopen(path_in(p, "port"), "r")) == NULL) {
		int st;

		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			fail_msg("smtp_peer.py exited (status %d)", st);
		if (now_ms() > deadline)
			fail_msg("smtp_peer.py did not start");
		sleep_ms(10);
	}
	assert_int_equal(fscanf(fp, "%d", &p->port), 1);
	fclose(fp);
}

static void
peer_stop(struct peer *p)
{
	const char *files[] = {"port", "log.jsonl", "ca.pem", "cert.pem",
	                       "key.pem"};

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		if (peers[i].pid == p->pid && p != &peers[i])
			peers[i].pid = 0;
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path_in(p, files[i]));
	rmdir(p->dir);
}

/* Session k (from 1) of the peer's log, waiting for it to be written;
 * the caller puts it. */
/* The lines of the peer's log (one per session), read afresh. */
static int
peer_lines(struct peer *p, int k, json_object **out)
{
	FILE *fp = fopen(path_in(p, "log.jsonl"), "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	/* a line still being written is not counted */
	while (fp != NULL && (len = getline(&line, &cap, fp)) > 0 &&
	       line[len - 1] == '\n')
		if (++n == k && out != NULL)
			*out = json_tokener_parse(line);
	free(line);
	if (fp != NULL)
		fclose(fp);
	return n;
}

/* Session k (from 1) of the peer's log, waiting for it to be written;
 * the caller puts it. */
static json_object *
peer_session(struct peer *p, int k)
{
	int64_t deadline = now_ms() + 5000;
	json_object *s = NULL;

	while (peer_lines(p, k, &s) < k) {
		if (now_ms() > deadline)
			fail_msg("no session %d in the peer's log", k);
		sleep_ms(20);
	}
	assert_non_null(s);
	return s;
}

static int
peer_nsessions(struct peer *p)
{
	return peer_lines(p, 0, NULL);
}

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

static json_object *
jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* How many strings of the array o[key] start with prefix. */
static int
jcount(json_object *o, const char *key, const char *prefix)
{
	json_object *a = jget(o, key);
	int n = 0;

	for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++)
		if (strncmp(
		        json_object_get_string(json_object_array_get_idx(a, i)),
		        prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* Message k (from 0) of a session, its bytes in out. */
static json_object *
jmessage(json_object *session, size_t k, struct buf *out)
{
	json_object *a = jget(session, "messages"), *m;
	const char *b64;

	assert_non_null(a);
	assert_true(k < json_object_array_length(a));
	m = json_object_array_get_idx(a, k);
	b64 = jstr(m, "data_b64");
	buf_init(out, 0);
	assert_int_equal(base64_decode(out, b64, strlen(b64)), 0);
	return m;
}

/* ---- the client on its event_base ---- */

struct run {
	struct event_base *base;
	struct smtp_conn *c;
	struct smtp_opts o;
	SSL_CTX *ctx;
	int opened, open_failed;
	struct smtp_error open_err;
	int sent, total;
	struct smtp_error send_err;
	struct smtp_reply rcpt[8];
	size_t n;
	int idle;
	struct smtp_error idle_err;
	/* a callback's own next step */
	void (*then)(struct run *);
};

static int
setup(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->base = event_base_new();
	assert_non_null(r->base);
	r->o.helo = "client.test";
	for (int s = 0; s < SMTP_NSTAGES; s++)
		r->o.timeout_ms[s] = 4000;
	r->o.timeout_ms[SMTP_QUIT] = 500;
	*state = r;
	return 0;
}

static void
wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag is set (or ms have passed: a failure). */
static void
wait_for(struct run *r, const int *flag, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct event *guard = evtimer_new(r->base, wake, NULL);
	struct timeval tv = {0, 50000};

	while (!*flag) {
		if (now_ms() > deadline)
			fail_msg("no callback within %d ms", ms);
		evtimer_add(guard, &tv); /* wakes the loop now and then */
		event_base_loop(r->base, EVLOOP_ONCE);
	}
	event_free(guard);
}

/* Closes the connection and runs the loop until it is gone. */
static void
finish(struct run *r)
{
	int64_t deadline = now_ms() + 3000;
	smtp_close(r->c);
	r->c = NULL;
	while (event_base_get_num_events(r->base, EVENT_BASE_COUNT_ADDED |
	                                              EVENT_BASE_COUNT_ACTIVE) >
	       0) {
		if (now_ms() > deadline) {
			event_base_dump_events(r->base, stderr);
			fail_msg("the closed connection lingers");
		}
		event_base_loop(r->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		sleep_ms(1);
	}
}

static int
teardown(void **state)
{
	struct run *r = *state;

	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		if (peers[i].pid != 0)
			peer_stop(&peers[i]);
	if (r->c != NULL)
		finish(r);
	event_base_free(r->base);
	SSL_CTX_free(r->ctx);
	free(r);
	return 0;
}

static void
on_open(void *arg, struct smtp_conn *c, const struct smtp_error *e)
{
	struct run *r = arg;

	assert_ptr_equal(c, r->c);
	r->opened++;
	if (e != NULL) {
		r->open_failed = 1;
		r->open_err = *e;
	}
}

static void
on_sent(void *arg, struct smtp_conn *c, const struct smtp_result *res)
{
	struct run *r = arg;
	void (*then)(struct run *) = r->then;

	assert_ptr_equal(c, r->c);
	r->sent++;
	r->total++;
	r->send_err = res->error;
	r->n = res->n;
	for (size_t i = 0; i < res->n && i < 8; i++)
		r->rcpt[i] = res->rcpt[i];
	r->then = NULL;
	if (then != NULL)
		then(r);
}

static void
on_idle(void *arg, struct smtp_conn *c, const struct smtp_error *e)
{
	struct run *r = arg;

	r->idle++;
	r->idle_err = *e;
}

static void
use_ca(struct run *r, struct peer *p)
{
	SSL_CTX_free(r->ctx);
	r->ctx = smtp_ssl_ctx_new(path_in(p, "ca.pem"));
	assert_non_null(r->ctx);
	r->o.ssl_ctx = r->ctx;
}

static void
use_system_store(struct run *r)
{
	SSL_CTX_free(r->ctx);
	r->ctx = smtp_ssl_ctx_new(NULL);
	assert_non_null(r->ctx);
	r->o.ssl_ctx = r->ctx;
}

/* Opens a session to the peer; 0 ready, -1 failed (r->open_err). */
static int
open_peer(struct run *r, const struct peer *p)
{
	struct sockaddr_in in;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons((uint16_t)p->port);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->opened = 0;
	r->open_failed = 0;
	r->c = smtp_open(r->base, (struct sockaddr *)&in, sizeof(in), &r->o,
	                 on_open, r);
	assert_non_null(r->c);
	assert_int_equal(r->opened, 0); /* never from inside smtp_open */
	wait_for(r, &r->opened, 10000);
	assert_int_equal(r->opened, 1);
	if (r->open_failed)
		fprintf(stderr, "(open failed: %s %s)\n",
		        smtp_err_name(r->open_err.err), r->open_err.why);
	assert_int_equal(smtp_ready(r->c), !r->open_failed);
	return r->open_failed ? -1 : 0;
}

static void
send_msg(struct run *r, const char *from, const char *const *rcpts, size_t n,
         const char *msg, size_t len)
{
	r->sent = 0;
	assert_int_equal(smtp_send(r->c, from, rcpts, n, msg, len, on_sent, r),
	                 0);
	assert_int_equal(r->sent, 0); /* never from inside smtp_send */
	assert_false(smtp_ready(r->c));
	wait_for(r, &r->sent, 10000);
	assert_int_equal(r->sent, 1);
}

static const char MSG[] = "From: a@b.test\r\nTo: ok@x.test\r\n"
                          "Subject: hello\r\n\r\nHello.\r\n";

static void
assert_reply(const struct smtp_reply *r, int code, const char *enh,
             const char *text)
{
	assert_int_equal(r->code, code);
	assert_string_equal(r->enhanced, enh);
	if (text != NULL)
		assert_string_equal(r->text, text);
}

/* ---- the tests ---- */

/* One transaction, three recipients answered 250, 550 and 451; the
 * commands pipelined; the message received whole. */
static void
test_plain_mixed(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "bad@x.test", "later@x.test"};
	struct peer p;
	json_object *s, *m;
	struct buf got;
	char size[32];

	peer_start(&p, "--rcpt-reply", "bad@x.test=550 5.1.1 no such user",
	           "--rcpt-reply", "later@x.test=451 4.3.0 try again later",
	           NULL);
	assert_int_equal(open_peer(r, &p), 0);
	assert_true(smtp_info(r->c)->esmtp);
	assert_null(smtp_info(r->c)->tls);
	assert_true(smtp_info(r->c)->ehlo.ext & SMTP_EXT_PIPELINING);
	assert_int_equal(strncmp(smtp_info(r->c)->peer, "[127.0.0.1]:", 12), 0);
	send_msg(r, "bounce+1@b.test", rcpts, 3, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->n, 3);
	assert_reply(&r->rcpt[0], 250, "2.0.0", "250 2.0.0 OK queued");
	assert_reply(&r->rcpt[1], 550, "5.1.1", "550 5.1.1 no such user");
	assert_reply(&r->rcpt[2], 451, "4.3.0", "451 4.3.0 try again later");
	assert_true(smtp_ready(r->c));
	finish(r);

	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "end_reason"), "quit");
	assert_int_equal(jcount(s, "commands", "EHLO client.test"), 1);
	assert_int_equal(jcount(s, "commands", "RSET"), 0);
	/* MAIL, then RCPTs, each with more behind it */
	assert_true(jcount(s, "pipelined", "") >= 3);
	assert_int_equal(jcount(s, "pipelined", "MAIL FROM:<bounce+1@b.test>"),
	                 1);
	m = jmessage(s, 0, &got);
	assert_string_equal(got.p, MSG);
	snprintf(size, sizeof(size), "SIZE=%zu", strlen(MSG));
	assert_int_equal(jcount(m, "mail_options", size), 1);
	assert_int_equal(jcount(m, "mail_options", "BODY="), 0);
	assert_int_equal(jcount(m, "mail_options", "SMTPUTF8"), 0);
	assert_int_equal(json_object_array_length(jget(m, "rcpt_tos")), 1);
	buf_clear(&got);
	json_object_put(s);
	peer_stop(&p);
}

/* Without PIPELINING each command waits for the reply before it. */
static void
test_no_pipelining(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "bad@x.test", "ok2@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, "--no-pipelining", "--rcpt-reply",
	           "bad@x.test=550 5.1.1 no such user", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	assert_false(smtp_info(r->c)->ehlo.ext & SMTP_EXT_PIPELINING);
	send_msg(r, "a@b.test", rcpts, 3, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->rcpt[0].code, 250);
	assert_int_equal(r->rcpt[1].code, 550);
	assert_int_equal(r->rcpt[2].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "pipelined", ""), 0);
	assert_int_equal(jcount(s, "commands", "RCPT TO:"), 3);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	json_object_put(s);
	peer_stop(&p);
}

/* A server that answers 502 to EHLO is greeted with HELO; then no
 * extension is used. A recipient whose address needs SMTPUTF8 there is
 * refused without sending. */
static void
test_helo_fallback(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	const char *utf8[] = {"ok@x.test", "\xc3\xbcser@x.test"};
	struct peer p;
	json_object *s, *m;
	struct buf got;

	peer_start(&p, "--no-ehlo", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	assert_false(smtp_info(r->c)->esmtp);
	assert_int_equal(smtp_info(r->c)->ehlo.ext, 0);
	send_msg(r, "a@b.test", utf8, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->send_err.stage, SMTP_MAIL);
	assert_reply(&r->rcpt[0], 553, "5.6.7", NULL);
	assert_reply(&r->rcpt[1], 553, "5.6.7", NULL);
	assert_non_null(strstr(r->rcpt[1].text, "(not sent)"));
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "commands", "EHLO client.test"), 1);
	assert_int_equal(jcount(s, "commands", "HELO client.test"), 1);
	/* the refused one sent nothing: one MAIL, and no RSET */
	assert_int_equal(jcount(s, "commands", "MAIL FROM:<a@b.test>"), 1);
	assert_int_equal(jcount(s, "commands", "RSET"), 0);
	m = jmessage(s, 0, &got);
	assert_int_equal(json_object_array_length(jget(m, "mail_options")), 0);
	buf_clear(&got);
	json_object_put(s);
	peer_stop(&p);
}

/* tls=opportunistic takes STARTTLS with a certificate no one vouches
 * for; tls=require too. */
static void
test_starttls_opportunistic(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, "--tls", "mx.test", NULL);
	use_system_store(r);
	r->o.tls = SMTP_TLS_OPPORTUNISTIC;
	r->o.host = "mx.test";
	assert_int_equal(open_peer(r, &p), 0);
	assert_non_null(smtp_info(r->c)->tls);
	assert_string_equal(smtp_info(r->c)->tls, "TLSv1.3");
	assert_false(smtp_info(r->c)->verified);
	assert_false(smtp_info(r->c)->tls_fallback);
	assert_int_equal(
	    strncmp(smtp_info(r->c)->peer, "mx.test[127.0.0.1]:", 19), 0);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);

	r->o.tls = SMTP_TLS_REQUIRE;
	assert_int_equal(open_peer(r, &p), 0);
	assert_string_equal(smtp_info(r->c)->tls, "TLSv1.3");
	finish(r);

	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "tls"), "TLSv1.3");
	assert_int_equal(jcount(s, "commands", "STARTTLS"), 1);
	assert_int_equal(jcount(s, "commands", "EHLO client.test"), 2);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	json_object_put(s);
	peer_stop(&p);
}

/* tls=require and tls=verify fail where STARTTLS is not offered; the
 * session ends with QUIT. */
static void
test_require_without_starttls(void **state)
{
	struct run *r = *state;
	struct peer p;
	json_object *s;

	peer_start(&p, NULL);
	use_system_store(r);
	r->o.tls = SMTP_TLS_REQUIRE;
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_TLS);
	assert_int_equal(r->open_err.stage, SMTP_STARTTLS);
	assert_string_equal(r->open_err.why,
	                    "starttls: STARTTLS not offered (tls=require)");
	assert_int_equal(smtp_send(r->c, "a@b.test",
	                           (const char *const[]){"ok@x.test"}, 1, MSG,
	                           strlen(MSG), on_sent, r),
	                 -1);
	finish(r);
	r->o.tls = SMTP_TLS_VERIFY;
	r->o.host = "peer.test";
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_TLS);
	finish(r);
	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "end_reason"), "quit");
	assert_int_equal(jcount(s, "commands", "MAIL"), 0);
	json_object_put(s);
	peer_stop(&p);
}

/* tls=verify: the wrong name, or a CA not trusted, fails; the right
 * name with the CA that signed it passes. */
static void
test_verify(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, "--tls", "mx.test", NULL);
	use_ca(r, &p);
	r->o.tls = SMTP_TLS_VERIFY;
	r->o.host = "other.test";
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_TLS);
	assert_int_equal(r->open_err.stage, SMTP_STARTTLS);
	assert_non_null(strstr(r->open_err.why, "certificate verify failed"));
	assert_non_null(strstr(r->open_err.why, "ostname mismatch"));
	finish(r);

	use_system_store(r);
	r->o.host = "mx.test";
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_TLS);
	assert_non_null(strstr(r->open_err.why, "local issuer"));
	finish(r);

	use_ca(r, &p);
	assert_int_equal(open_peer(r, &p), 0);
	assert_true(smtp_info(r->c)->verified);
	assert_string_equal(smtp_info(r->c)->tls, "TLSv1.3");
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	/* the failed ones stopped at the handshake, with nothing sent */
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "commands", "STARTTLS"), 1);
	assert_int_equal(jcount(s, "commands", "MAIL"), 0);
	json_object_put(s);
	s = peer_session(&p, 3);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	json_object_put(s);
	peer_stop(&p);
}

/* Opportunistic TLS whose handshake fails is retried once in plaintext,
 * on a new connection, and says so; tls=require does not retry. */
static void
test_opportunistic_fallback(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, "--tls-fail", NULL);
	use_system_store(r);
	r->o.tls = SMTP_TLS_OPPORTUNISTIC;
	r->o.host = "mx.test";
	assert_int_equal(open_peer(r, &p), 0);
	assert_true(smtp_info(r->c)->tls_fallback);
	assert_null(smtp_info(r->c)->tls);
	assert_true(strlen(smtp_info(r->c)->tls_error) > 0);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "end_reason"), "tls-fail");
	json_object_put(s);
	s = peer_session(&p, 2);
	assert_int_equal(jcount(s, "commands", "STARTTLS"), 0);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	json_object_put(s);

	r->o.tls = SMTP_TLS_REQUIRE;
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_TLS);
	assert_int_equal(r->open_err.stage, SMTP_STARTTLS);
	assert_non_null(strstr(r->open_err.why, "TLS handshake failed"));
	finish(r);
	s = peer_session(&p, 3);
	json_object_put(s);
	sleep_ms(100);
	assert_int_equal(peer_nsessions(&p), 3);
	peer_stop(&p);
}

/* AUTH over STARTTLS: PLAIN, then LOGIN when only LOGIN is offered; a
 * wrong password fails the session with the server's reply. */
static void
test_auth_starttls(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p, q;
	json_object *s;

	peer_start(&p, "--tls", "relay.test", "--auth", "u:p\xc3\xa4ss", NULL);
	use_ca(r, &p);
	r->o.tls = SMTP_TLS_VERIFY;
	r->o.host = "relay.test";
	r->o.user = "u";
	r->o.pass = "p\xc3\xa4ss";
	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	r->o.pass = "wrong";
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->open_err.stage, SMTP_AUTH);
	assert_int_equal(r->open_err.reply.code, 535);
	finish(r);
	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "auth"), "u");
	assert_string_equal(jstr(s, "tls"), "TLSv1.3");
	assert_int_equal(jcount(s, "commands", "AUTH PLAIN"), 1);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	json_object_put(s);
	peer_stop(&p);

	peer_start(&q, "--tls", "relay.test", "--auth", "u:p",
	           "--auth-mechanisms", "LOGIN", NULL);
	use_ca(r, &q);
	r->o.pass = "p";
	assert_int_equal(open_peer(r, &q), 0);
	assert_int_equal(smtp_info(r->c)->ehlo.mech, SMTP_MECH_LOGIN);
	finish(r);
	s = peer_session(&q, 1);
	assert_string_equal(jstr(s, "auth"), "u");
	assert_int_equal(jcount(s, "commands", "AUTH LOGIN"), 1);
	json_object_put(s);
	peer_stop(&q);
}

/* AUTH over implicit TLS (smtps). */
static void
test_auth_implicit_tls(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, "--tls", "relay.test", "--implicit-tls", "--auth", "u:p",
	           NULL);
	use_ca(r, &p);
	r->o.implicit_tls = 1;
	r->o.tls = SMTP_TLS_VERIFY;
	r->o.host = "relay.test";
	r->o.user = "u";
	r->o.pass = "p";
	assert_int_equal(open_peer(r, &p), 0);
	assert_string_equal(smtp_info(r->c)->tls, "TLSv1.3");
	assert_true(smtp_info(r->c)->verified);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "auth"), "u");
	assert_string_equal(jstr(s, "tls"), "TLSv1.3");
	assert_int_equal(jcount(s, "commands", "STARTTLS"), 0);
	json_object_put(s);
	peer_stop(&p);
}

/* Credentials are never sent in plaintext, even when AUTH is offered
 * there. */
static void
test_auth_refused_in_plaintext(void **state)
{
	struct run *r = *state;
	struct peer p;
	json_object *s;

	peer_start(&p, "--auth", "u:p", NULL);
	use_system_store(r);
	r->o.tls = SMTP_TLS_OPPORTUNISTIC;
	r->o.user = "u";
	r->o.pass = "p";
	assert_int_equal(open_peer(r, &p), -1);
	assert_true(smtp_info(r->c)->ehlo.ext & SMTP_EXT_AUTH);
	assert_int_equal(r->open_err.err, SMTP_ERR_AUTH);
	assert_int_equal(r->open_err.stage, SMTP_AUTH);
	assert_string_equal(
	    r->open_err.why,
	    "auth: credentials not sent: the session is not encrypted");
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "commands", "AUTH"), 0);
	assert_string_equal(jstr(s, "end_reason"), "quit");
	json_object_put(s);
	peer_stop(&p);
}

/* A message over the server's SIZE is refused without a byte of it
 * sent, and the connection takes the next one. */
static void
test_size_refused(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "ok2@x.test"};
	char big[2000];
	struct peer p;
	json_object *s;

	memset(big, 'a', sizeof(big));
	peer_start(&p, "--size", "1000", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	assert_int_equal(smtp_info(r->c)->ehlo.size, 1000);
	send_msg(r, "a@b.test", rcpts, 2, big, sizeof(big));
	assert_int_equal(r->send_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->send_err.stage, SMTP_MAIL);
	for (int i = 0; i < 2; i++)
		assert_reply(&r->rcpt[i], 552, "5.3.4",
		             "552 5.3.4 message size 2002 exceeds the server's "
		             "limit 1000 (not sent)");
	assert_true(smtp_ready(r->c));
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->rcpt[1].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "commands", "MAIL"), 1);
	json_object_put(s);
	peer_stop(&p);
}

/* Two transactions on one connection, the second from inside the first's
 * callback, with RSET between; the second needs SMTPUTF8 and 8BITMIME. */
static void
second_send(struct run *r)
{
	static const char *rcpts[] = {"\xc3\xbcser@x.test"};
	static const char msg[] =
	    "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0"
	    "\r\n";

	assert_int_equal(r->rcpt[0].code, 250);
	assert_true(smtp_ready(r->c));
	assert_int_equal(
	    smtp_send(r->c, "a@b.test", rcpts, 1, msg, strlen(msg), on_sent, r),
	    0);
}

static void
test_two_transactions(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s, *m;
	struct buf got;

	peer_start(&p, NULL);
	assert_int_equal(open_peer(r, &p), 0);
	r->then = second_send;
	assert_int_equal(
	    smtp_send(r->c, "a@b.test", rcpts, 1, MSG, strlen(MSG), on_sent, r),
	    0);
	/* the first callback starts the second transaction */
	wait_for(r, &r->sent, 5000);
	r->sent = 0;
	wait_for(r, &r->sent, 5000);
	assert_int_equal(r->total, 2);
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->rcpt[0].code, 250);
	assert_int_equal(smtp_info(r->c)->transactions, 2);
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(jcount(s, "commands", "RSET"), 1);
	assert_int_equal(jcount(s, "commands", "EHLO"), 1);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 2);
	m = jmessage(s, 1, &got);
	assert_int_equal(jcount(m, "mail_options", "SMTPUTF8"), 1);
	assert_int_equal(jcount(m, "mail_options", "BODY=8BITMIME"), 1);
	assert_string_equal(jstr(m, "mail_from"), "a@b.test");
	assert_int_equal(strncmp(got.p, "Subject: caf\xc3\xa9", 14), 0);
	buf_clear(&got);
	json_object_put(s);
	peer_stop(&p);
}

/* A connection the peer drops while it waits is reported through the
 * idle callback, and takes no transaction. */
static void
test_idle_lost(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;

	peer_start(&p, "--timeout", "0.3", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	smtp_set_idle(r->c, on_idle, r);
	wait_for(r, &r->idle, 5000);
	assert_int_equal(r->idle_err.err, SMTP_ERR_CLOSED);
	assert_false(smtp_ready(r->c));
	assert_int_equal(
	    smtp_send(r->c, "a@b.test", rcpts, 1, MSG, strlen(MSG), on_sent, r),
	    -1);
	finish(r);
	peer_stop(&p);
}

/* A connection lost while nobody ran the loop is found at the next
 * transaction's RSET, before anything of it was taken. */
static void
test_stale_connection(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;

	peer_start(&p, "--timeout", "0.3", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->rcpt[0].code, 250);
	sleep_ms(600); /* the peer closes meanwhile */
	assert_true(smtp_ready(r->c));
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_CLOSED);
	assert_int_equal(r->send_err.stage, SMTP_RSET);
	assert_int_equal(r->rcpt[0].code, 0);
	finish(r);
	peer_stop(&p);
}

/* MAIL refused: every recipient takes its reply (not the 503s the
 * pipelined RCPTs got), and the connection stays usable. A multi-line
 * reply to the dot is every accepted recipient's answer. */
static void
test_mail_and_data_replies(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "ok2@x.test"};
	struct peer p, q;

	peer_start(&p, "--mail-reply", "550 5.7.1 sender refused", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->send_err.stage, SMTP_MAIL);
	assert_reply(&r->rcpt[0], 550, "5.7.1", "550 5.7.1 sender refused");
	assert_reply(&r->rcpt[1], 550, "5.7.1", "550 5.7.1 sender refused");
	assert_true(smtp_ready(r->c));
	finish(r);
	peer_stop(&p);

	peer_start(&q, "--data-reply",
	           "554-5.7.1 rejected as spam\\n554 5.7.1 see example.test",
	           "--rcpt-reply", "ok2@x.test=452 4.2.2 mailbox full", NULL);
	assert_int_equal(open_peer(r, &q), 0);
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_reply(&r->rcpt[0], 554, "5.7.1",
	             "554 5.7.1 rejected as spam / see example.test");
	assert_reply(&r->rcpt[1], 452, "4.2.2", "452 4.2.2 mailbox full");
	finish(r);
	peer_stop(&q);
}

/* 421 in the greeting fails the session with its reply. */
static void
test_greeting_421(void **state)
{
	struct run *r = *state;
	struct peer p;

	peer_start(&p, "--greeting-421", NULL);
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->open_err.stage, SMTP_GREETING);
	assert_int_equal(r->open_err.reply.code, 421);
	assert_non_null(strstr(r->open_err.why, "too many connections"));
	finish(r);
	peer_stop(&p);
}

/* A peer that stops answering: the stage's timeout, for the greeting
 * (while opening), for RCPT and for the reply to the dot. */
static void
test_stall_timeouts(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p, q;
	int64_t t0;

	peer_start(&p, "--stall-at", "greeting", "--faults", "1", NULL);
	r->o.timeout_ms[SMTP_GREETING] = 300;
	t0 = now_ms();
	assert_int_equal(open_peer(r, &p), -1);
	/* libevent's clock is coarse: a few ms either way */
	assert_true(now_ms() - t0 >= 280);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(r->open_err.err, SMTP_ERR_TIMEOUT);
	assert_int_equal(r->open_err.stage, SMTP_GREETING);
	assert_string_equal(r->open_err.why,
	                    "greeting: timed out after 300 ms");
	finish(r);
	/* the next session is served */
	assert_int_equal(open_peer(r, &p), 0);
	finish(r);
	peer_stop(&p);

	peer_start(&q, "--stall-at", "rcpt", NULL);
	r->o.timeout_ms[SMTP_RCPT] = 300;
	assert_int_equal(open_peer(r, &q), 0);
	t0 = now_ms();
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_true(now_ms() - t0 >= 280);
	assert_int_equal(r->send_err.err, SMTP_ERR_TIMEOUT);
	assert_int_equal(r->send_err.stage, SMTP_RCPT);
	assert_int_equal(r->rcpt[0].code, 0);
	assert_false(smtp_ready(r->c));
	finish(r);
	peer_stop(&q);

	/* the message went whole, its reply does not come */
	peer_start(&q, "--stall-at", "dot", NULL);
	r->o.timeout_ms[SMTP_DOT] = 300;
	assert_int_equal(open_peer(r, &q), 0);
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_TIMEOUT);
	assert_int_equal(r->send_err.stage, SMTP_DOT);
	assert_string_equal(r->send_err.why, "dot: timed out after 300 ms");
	assert_int_equal(r->rcpt[0].code, 0);
	finish(r);
	peer_stop(&q);
}

/* The peer drops the connection while the message goes out: the
 * transaction fails, the recipients it had refused keep their reply. */
static void
test_drop_in_data(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "bad@x.test"};
	struct peer p;

	peer_start(&p, "--drop-in-data", "--rcpt-reply",
	           "bad@x.test=550 5.1.1 no such user", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_CLOSED);
	assert_true(r->send_err.stage == SMTP_DATA ||
	            r->send_err.stage == SMTP_DOT);
	assert_int_equal(r->rcpt[0].code, 0);
	assert_int_equal(r->rcpt[1].code, 550);
	assert_false(smtp_ready(r->c));
	finish(r);
	peer_stop(&p);
}

/* Lines that start with a dot arrive as they were, in a small message
 * and in a large one fed in many pieces; a message without a final CRLF
 * gets one. */
/* Lines of varied length, a third of them dotted, so that piece
 * boundaries fall everywhere; *len bytes, the caller frees. */
static char *
dotted_message(size_t *len)
{
	size_t big_len = 3 * 1024 * 1024 + 17, n = 0;
	char *big = malloc(big_len);

	assert_non_null(big);
	for (int i = 0; n < big_len; i++) {
		size_t l = (size_t)(i * 37 % 120);
		size_t k = 0;

		for (; k < l && n < big_len; k++)
			big[n++] = i % 3 == 0 && k == 0 ? '.' : 'a' + i % 26;
		if (n + 2 <= big_len) {
			big[n++] = '\r';
			big[n++] = '\n';
		} else
			while (n < big_len)
				big[n++] = '.';
	}
	*len = big_len;
	return big;
}

/* Lines that start with a dot arrive as they were, in a small message
 * and in a large one fed in many pieces; a message without a final CRLF
 * gets one. chunking: the peer offers CHUNKING (and TLS when tls), and
 * each message goes as BDAT, never DATA. */
static void
check_dots(struct run *r, int chunking, int tls)
{
	const char *rcpts[] = {"ok@x.test"};
	const char small[] = ".first\r\nmid\r\n.\r\n..two\r\n. x\r\n.\r\n"
	                     "\r\n.\r\nlast .\r\n.";
	size_t big_len;
	char *big = dotted_message(&big_len), bdat[64];
	struct peer p;
	json_object *s, *m;
	struct buf got;

	if (tls)
		peer_start(&p, "--chunking", "--tls", "mx.test", NULL);
	else if (chunking)
		peer_start(&p, "--chunking", NULL);
	else
		peer_start(&p, NULL);
	if (tls) {
		use_ca(r, &p);
		r->o.tls = SMTP_TLS_VERIFY;
		r->o.host = "mx.test";
	}
	assert_int_equal(open_peer(r, &p), 0);
	assert_int_equal((smtp_info(r->c)->ehlo.ext & SMTP_EXT_CHUNKING) != 0,
	                 chunking);
	send_msg(r, "a@b.test", rcpts, 1, small, strlen(small));
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	s = peer_session(&p, 1);
	if (tls)
		assert_string_equal(jstr(s, "tls"), "TLSv1.3");
	m = jmessage(s, 0, &got);
	assert_string_equal(jstr(m, "via"), chunking ? "BDAT" : "DATA");
	assert_int_equal(got.len, strlen(small) + 2);
	assert_memory_equal(got.p, small, strlen(small));
	assert_memory_equal(got.p + strlen(small), "\r\n", 2);
	snprintf(bdat, sizeof(bdat), "BDAT %zu LAST", strlen(small) + 2);
	assert_int_equal(jcount(s, "commands", bdat), chunking);
	assert_int_equal(jcount(s, "commands", "DATA"), !chunking);
	buf_clear(&got);
	json_object_put(s);

	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 1, big, big_len);
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->rcpt[0].code, 250);
	finish(r);
	s = peer_session(&p, 2);
	m = jmessage(s, 0, &got);
	assert_string_equal(jstr(m, "via"), chunking ? "BDAT" : "DATA");
	assert_int_equal(got.len, big_len + 2);
	assert_memory_equal(got.p, big, big_len);
	buf_clear(&got);
	json_object_put(s);
	free(big);
	peer_stop(&p);
}

static void
test_dot_stuffing(void **state)
{
	check_dots(*state, 0, 0);
}

/* RFC 3030 §2: BDAT's bytes go as they are, no dot added or doubled. */
static void
test_chunking_dots(void **state)
{
	check_dots(*state, 1, 0);
}

/* The same over STARTTLS: the second EHLO's CHUNKING counts. */
static void
test_chunking_starttls(void **state)
{
	check_dots(*state, 1, 1);
}

/* CHUNKING with PIPELINING: MAIL, the RCPTs and BDAT LAST go with the
 * message in one write; each RCPT's reply decides its recipient, BDAT's
 * the accepted ones'. The connection then carries a second message
 * (RSET first), still by BDAT. */
static void
test_chunking_mixed(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "bad@x.test", "later@x.test"};
	struct peer p;
	json_object *s, *m;
	struct buf got;
	char bdat[64];

	peer_start(&p, "--chunking", "--rcpt-reply",
	           "bad@x.test=550 5.1.1 no such user", "--rcpt-reply",
	           "later@x.test=451 4.3.0 try again later", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	assert_true(smtp_info(r->c)->ehlo.ext & SMTP_EXT_CHUNKING);
	send_msg(r, "bounce+1@b.test", rcpts, 3, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_int_equal(r->n, 3);
	assert_reply(&r->rcpt[0], 250, "2.0.0", "250 2.0.0 OK queued");
	assert_reply(&r->rcpt[1], 550, "5.1.1", "550 5.1.1 no such user");
	assert_reply(&r->rcpt[2], 451, "4.3.0", "451 4.3.0 try again later");
	assert_true(smtp_ready(r->c));
	send_msg(r, "bounce+2@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_reply(&r->rcpt[0], 250, "2.0.0", "250 2.0.0 OK queued");
	finish(r);

	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "end_reason"), "quit");
	snprintf(bdat, sizeof(bdat), "BDAT %zu LAST", strlen(MSG));
	assert_int_equal(jcount(s, "commands", bdat), 2);
	assert_int_equal(jcount(s, "commands", "DATA"), 0);
	assert_int_equal(jcount(s, "commands", "RSET"), 1);
	/* everything but BDAT had more bytes behind it */
	assert_int_equal(jcount(s, "pipelined", "MAIL FROM:<bounce+1@b.test>"),
	                 1);
	assert_int_equal(jcount(s, "pipelined", "RCPT TO:<later@x.test>"), 1);
	assert_int_equal(jcount(s, "pipelined", "RCPT TO:<ok@x.test>"), 2);
	m = jmessage(s, 0, &got);
	assert_string_equal(got.p, MSG);
	assert_string_equal(jstr(m, "via"), "BDAT");
	assert_int_equal(json_object_array_length(jget(m, "rcpt_tos")), 1);
	buf_clear(&got);
	m = jmessage(s, 1, &got);
	assert_string_equal(got.p, MSG);
	assert_string_equal(jstr(m, "mail_from"), "bounce+2@b.test");
	buf_clear(&got);
	json_object_put(s);
	peer_stop(&p);
}

/* Every RCPT refused: the server refuses BDAT too, which is nobody's
 * answer; each recipient keeps its own and the connection goes on. A
 * refused MAIL is every recipient's. A 4xx to BDAT LAST is every
 * accepted recipient's, as the dot's would be. */
static void
test_chunking_refusals(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"bad@x.test", "later@x.test"};
	const char *two[] = {"ok@x.test", "later@x.test"};
	struct peer p, q;
	json_object *s;

	peer_start(&p, "--chunking", "--rcpt-reply",
	           "bad@x.test=550 5.1.1 no such user", "--rcpt-reply",
	           "later@x.test=451 4.3.0 try again later", NULL);
	assert_int_equal(open_peer(r, &p), 0);
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_reply(&r->rcpt[0], 550, "5.1.1", "550 5.1.1 no such user");
	assert_reply(&r->rcpt[1], 451, "4.3.0", "451 4.3.0 try again later");
	assert_true(smtp_ready(r->c));
	/* in step: the next transaction is served */
	send_msg(r, "a@b.test", two, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_reply(&r->rcpt[0], 250, "2.0.0", "250 2.0.0 OK queued");
	assert_reply(&r->rcpt[1], 451, "4.3.0", NULL);
	finish(r);
	s = peer_session(&p, 1);
	assert_int_equal(json_object_array_length(jget(s, "messages")), 1);
	assert_int_equal(jcount(s, "commands", "BDAT"), 2);
	json_object_put(s);
	peer_stop(&p);

	peer_start(&q, "--chunking", "--mail-reply", "550 5.7.1 sender refused",
	           NULL);
	assert_int_equal(open_peer(r, &q), 0);
	send_msg(r, "a@b.test", two, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_REPLY);
	assert_int_equal(r->send_err.stage, SMTP_MAIL);
	assert_reply(&r->rcpt[0], 550, "5.7.1", "550 5.7.1 sender refused");
	assert_reply(&r->rcpt[1], 550, "5.7.1", "550 5.7.1 sender refused");
	assert_true(smtp_ready(r->c));
	finish(r);
	peer_stop(&q);

	peer_start(&q, "--chunking", "--data-reply", "451 4.7.1 try later",
	           "--rcpt-reply", "later@x.test=452 4.2.2 mailbox full", NULL);
	assert_int_equal(open_peer(r, &q), 0);
	send_msg(r, "a@b.test", two, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_NONE);
	assert_reply(&r->rcpt[0], 451, "4.7.1", "451 4.7.1 try later");
	assert_reply(&r->rcpt[1], 452, "4.2.2", "452 4.2.2 mailbox full");
	assert_true(smtp_ready(r->c));
	finish(r);
	peer_stop(&q);
}

/* BDAT's reply does not come: the dot's timeout. The peer dropping the
 * connection in the message: CLOSED, refused recipients keep theirs. */
static void
test_chunking_stall_and_drop(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test", "bad@x.test"};
	struct peer p, q;
	int64_t t0;

	peer_start(&p, "--chunking", "--stall-at", "dot", NULL);
	r->o.timeout_ms[SMTP_DOT] = 300;
	assert_int_equal(open_peer(r, &p), 0);
	t0 = now_ms();
	send_msg(r, "a@b.test", rcpts, 1, MSG, strlen(MSG));
	assert_true(now_ms() - t0 >= 280);
	assert_int_equal(r->send_err.err, SMTP_ERR_TIMEOUT);
	assert_int_equal(r->send_err.stage, SMTP_DOT);
	assert_string_equal(r->send_err.why, "dot: timed out after 300 ms");
	assert_int_equal(r->rcpt[0].code, 0);
	assert_false(smtp_ready(r->c));
	finish(r);
	peer_stop(&p);

	peer_start(&q, "--chunking", "--drop-in-data", "--rcpt-reply",
	           "bad@x.test=550 5.1.1 no such user", NULL);
	assert_int_equal(open_peer(r, &q), 0);
	send_msg(r, "a@b.test", rcpts, 2, MSG, strlen(MSG));
	assert_int_equal(r->send_err.err, SMTP_ERR_CLOSED);
	assert_int_equal(r->rcpt[0].code, 0);
	assert_int_equal(r->rcpt[1].code, 550);
	assert_false(smtp_ready(r->c));
	finish(r);
	peer_stop(&q);
}

/* A port nobody listens on. */
static void
test_connect_refused(void **state)
{
	struct run *r = *state;
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct peer p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	close(fd);
	memset(&p, 0, sizeof(p));
	p.port = ntohs(in.sin_port);
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_CONNECT);
	assert_int_equal(r->open_err.stage, SMTP_CONNECT);
	assert_string_equal(r->open_err.why, "connect: Connection refused");
}

/* A greeting that never ends (one line of 300,000 bytes from a raw
 * server): read in pieces up to SMTP_REPLY_MAX_BYTES, then refused as
 * malformed, and the connection closed. */
static void
test_endless_reply(void **state)
{
	struct run *r = *state;
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct peer p;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), status;
	pid_t pid;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&in, &len), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		char chunk[1000], b;
		int fd = accept(lfd, NULL, NULL);

		memset(chunk, 'a', sizeof(chunk));
		memcpy(chunk, "220 ", 4);
		for (int i = 0; i < 300 && fd >= 0; i++)
			if (write(fd, chunk, sizeof(chunk)) < 0)
				break;
		while (fd >= 0 && read(fd, &b, 1) > 0)
			;
		_exit(0);
	}
	close(lfd);
	memset(&p, 0, sizeof(p));
	p.port = ntohs(in.sin_port);
	assert_int_equal(open_peer(r, &p), -1);
	assert_int_equal(r->open_err.err, SMTP_ERR_PROTO);
	assert_int_equal(r->open_err.stage, SMTP_GREETING);
	assert_string_equal(r->open_err.why, "greeting: malformed reply");
	finish(r);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* smtp_close from inside the callback that reports the end of a
 * transaction; smtp_drop. */
static void
close_inside(struct run *r)
{
	smtp_close(r->c);
	r->c = NULL;
}

static void
test_close_in_callback(void **state)
{
	struct run *r = *state;
	const char *rcpts[] = {"ok@x.test"};
	struct peer p;
	json_object *s;

	peer_start(&p, NULL);
	assert_int_equal(open_peer(r, &p), 0);
	r->then = close_inside;
	assert_int_equal(
	    smtp_send(r->c, "a@b.test", rcpts, 1, MSG, strlen(MSG), on_sent, r),
	    0);
	wait_for(r, &r->sent, 5000);
	assert_null(r->c);
	finish(r);
	s = peer_session(&p, 1);
	assert_string_equal(jstr(s, "end_reason"), "quit");
	json_object_put(s);

	/* smtp_drop: gone at once, no QUIT */
	assert_int_equal(open_peer(r, &p), 0);
	smtp_drop(r->c);
	r->c = NULL;
	finish(r); /* runs what libevent still holds */
	s = peer_session(&p, 2);
	assert_string_equal(jstr(s, "end_reason"), "closed");
	assert_int_equal(jcount(s, "commands", "QUIT"), 0);
	json_object_put(s);
	peer_stop(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_mixed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_pipelining, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_helo_fallback, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_opportunistic, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_require_without_starttls,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_opportunistic_fallback, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_auth_starttls, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_auth_implicit_tls, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_auth_refused_in_plaintext,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_transactions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_idle_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_connection, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_mail_and_data_replies, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_greeting_421, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stall_timeouts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_drop_in_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dot_stuffing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunking_dots, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_chunking_starttls, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_chunking_mixed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_chunking_refusals, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_chunking_stall_and_drop, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_connect_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_endless_reply, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_callback, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
