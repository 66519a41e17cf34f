/*
 * fuzz_smtpd: the SMTP server's session state machine (src/smtpd/
 * session.c) driven by arbitrary client bytes, without sockets. The
 * first byte picks the listener (implicit TLS submission, STARTTLS
 * submission, inbound) and how the stub hooks answer; the rest is cut
 * into reads at the positions the next bytes say, so that lines, AUTH
 * exchanges and the data stream are split everywhere. The stubs accept
 * one password, one sender domain and recipients of some domains, and
 * answer a message at once or on the next read.
 *
 * Checked: no crash and no read outside the input; every reply is whole
 * lines of "ddd" then ' ' or '-', ending in CRLF; at most 50 recipients
 * reach a message, which is at most 5 MiB and holds no bare CR or LF;
 * nothing but the 220 of STARTTLS is written
 * while TLS starts; after SESSION_CLOSE nothing more is read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/mail/limits.h"
#include "../src/smtpd/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct stub {
	struct session *s;
	int answer_later, pending, mode;
};

static int
stub_auth(void *arg, const char *user, const char *pass)
{
	struct stub *st = arg;

	if (strcmp(user, "api_token") != 0)
		abort(); /* the session checks the user name itself */
	if (st->mode & 8)
		return SESSION_AUTH_UNAVAILABLE;
	return strcmp(pass, "secret") == 0 ? SESSION_AUTH_OK : SESSION_AUTH_BAD;
}

static int
stub_mail(void *arg, const char *addr, const char **reply)
{
	const char *at = strrchr(addr, '@');

	if (at != NULL && strcmp(at, "@example.com") == 0)
		return 0;
	*reply = "550 5.7.1 not a sending domain";
	return -1;
}

static int
stub_rcpt(void *arg, const char *addr, const char **reply)
{
	if (strchr(addr, '@') != NULL && strstr(addr, "bad") == NULL)
		return 0;
	*reply = "550 5.1.1 no";
	return -1;
}

static void
stub_data(void *arg, const char *from, const char *const *rcpts, size_t n,
          const char *msg, size_t len)
{
	struct stub *st = arg;
	size_t i;

	if (n == 0 || n > MAX_RECIPIENTS || len > MAX_MESSAGE_SIZE ||
	    from == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n'))
			abort();
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			abort();
	}
	if (st->answer_later)
		st->pending = 1;
	else
		session_answer(st->s, "250 2.0.0 Ok <id@example.com>");
}

static const struct session_ops ops = {
    .auth = stub_auth,
    .mail = stub_mail,
    .rcpt = stub_rcpt,
    .data = stub_data,
};

/* Every reply line: three digits, ' ' or '-', text, CRLF. */
static void
check_output(struct buf *out)
{
	size_t i = 0, j;

	while (i < out->len) {
		if (out->len - i < 6)
			abort();
		for (j = 0; j < 3; j++)
			if (out->p[i + j] < '0' || out->p[i + j] > '9')
				abort();
		if (out->p[i + 3] != ' ' && out->p[i + 3] != '-')
			abort();
		for (j = i + 4; j < out->len && out->p[j] != '\r'; j++)
			if (out->p[j] == '\n' || out->p[j] == '\0')
				abort();
		if (j + 1 >= out->len || out->p[j + 1] != '\n')
			abort();
		i = j + 2;
	}
	buf_reset(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_conf conf = {.hostname = "mx.example.com"};
	struct stub st = {0};
	const char *p;
	size_t n, cut, used;
	uint8_t mode;

	if (size < 2)
		return 0;
	mode = data[0];
	st.mode = mode;
	conf.kind = (mode & 3) == 2 ? SESSION_INBOUND : SESSION_SUBMIT;
	conf.tls = (mode & 3) == 0;
	conf.starttls = (mode & 3) != 0;
	conf.require_tls = (mode & 3) == 1;
	st.answer_later = (mode & 4) != 0;
	if ((st.s = session_new(&conf, &ops, &st)) == NULL)
		return 0;
	check_output(session_output(st.s));
	/* the second byte sets the read size: 1 to 256 bytes at a time */
	cut = (size_t)data[1] + 1;
	p = (const char *)data + 2;
	n = size - 2;
	while (n > 0) {
		size_t k = n < cut ? n : cut;

		used = session_input(st.s, p, k);
		if (used > k)
			abort();
		check_output(session_output(st.s));
		switch (session_state(st.s)) {
		case SESSION_READ:
			if (used != k)
				abort();
			break;
		case SESSION_WAIT:
			if (!st.pending)
				abort();
			st.pending = 0;
			session_answer(st.s, (mode & 16)
			                         ? "451 4.3.0 later"
			                         : "250 2.0.0 Ok <a@b>");
			check_output(session_output(st.s));
			break;
		case SESSION_TLS:
			used = k; /* the rest of this read is dropped */
			session_tls_started(st.s);
			break;
		case SESSION_CLOSE:
			n = used = k = 0;
			break;
		}
		if (session_state(st.s) == SESSION_CLOSE)
			break;
		p += used;
		n -= used;
	}
	session_timeout(st.s);
	check_output(session_output(st.s));
	session_free(st.s);
	return 0;
}
