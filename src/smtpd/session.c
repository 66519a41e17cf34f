/*
 * session: the SMTP server's state machine (session.h). RFC 5321 for
 * the commands and their order, RFC 4954 for AUTH, RFC 3207 for
 * STARTTLS, RFC 2920 for PIPELINING (replies in order, input read on
 * while no message is with the owner), RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034 enhanced status codes.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/base64.h"
#include "../mail/limits.h"
#include "session.h"

#define MAX_OUT (256 * 1024) /* replies not yet taken by the owner */
#define MAX_PATH 512         /* the <…> of MAIL and RCPT */
#define AUTH_USER "api_token"

#define R_TOO_BIG "552 5.3.4 Message size exceeds fixed maximum message size"

/* Where the input goes. */
enum phase {
	P_CMD,        /* command lines */
	P_AUTH_PLAIN, /* the response to a 334 of AUTH PLAIN */
	P_AUTH_USER,  /* AUTH LOGIN's user name */
	P_AUTH_PASS,  /* AUTH LOGIN's password */
	P_DATA,       /* the message, up to <CRLF>.<CRLF> */
};

/* Where the data reader is within a line (RFC 5321 §4.5.2). */
enum dstate {
	D_BOL, /* at the start of a line */
	D_DOT, /* a line that started with a dot */
	D_DOT_CR,
	D_MID, /* within a line */
	D_CR,
};

struct session {
	const struct session_conf *conf;
	const struct session_ops *ops;
	void *arg;
	enum session_state state;
	enum phase phase;
	struct buf out;
	struct buf line; /* a command line not yet whole */
	int overlong;    /* the line is past SESSION_MAX_LINE: drop it */
	int tls, helo, authed, errors;
	char *user; /* AUTH LOGIN's user name, between its two 334 */
	/* the transaction */
	char *from; /* NULL: no MAIL yet */
	char *rcpt[MAX_RECIPIENTS];
	size_t nrcpt;
	struct buf msg;
	enum dstate ds;
	int bare, too_big; /* what the data reader found */
};

static void reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	(void)buf_append(&s->out, "\r\n", 2);
}

/* A protocol error: its reply, or past SESSION_MAX_ERRORS the 421 that
 * ends the session. */
static void proto_error(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
proto_error(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (++s->errors > SESSION_MAX_ERRORS) {
		reply(s, "421 4.7.0 %s Too many errors, closing connection",
		      s->conf->hostname);
		s->state = SESSION_CLOSE;
		return;
	}
	va_start(ap, fmt);
	(void)buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	(void)buf_append(&s->out, "\r\n", 2);
}

/* Clears b's bytes (it may hold a secret) and empties it. */
static void
line_wipe(struct buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->len);
	buf_reset(b);
}

static void
wipe(char **p)
{
	if (*p != NULL) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

/* RSET, a new EHLO, the end of a message. */
static void
tx_reset(struct session *s)
{
	size_t i;

	free(s->from);
	s->from = NULL;
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	s->nrcpt = 0;
	buf_clear(&s->msg);
	s->bare = s->too_big = 0;
}

struct session *
session_new(const struct session_conf *conf, const struct session_ops *ops,
            void *arg)
{
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conf = conf;
	s->ops = ops;
	s->arg = arg;
	s->tls = conf->tls;
	buf_init(&s->out, MAX_OUT);
	buf_init(&s->line, SESSION_MAX_LINE);
	buf_init(&s->msg, MAX_MESSAGE_SIZE);
	reply(s, "220 %s ESMTP ready", conf->hostname);
	return s;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	tx_reset(s);
	wipe(&s->user);
	line_wipe(&s->line);
	buf_clear(&s->line);
	buf_clear(&s->out);
	free(s);
}

struct buf *
session_output(struct session *s)
{
	return &s->out;
}

enum session_state
session_state(const struct session *s)
{
	return s->state;
}

int
session_authed(const struct session *s)
{
	return s->authed;
}

enum session_timer
session_timer(const struct session *s)
{
	if (s->state == SESSION_WAIT)
		return SESSION_T_NONE;
	if (s->phase == P_DATA)
		return SESSION_T_DATA;
	/* SPEC §7: 30 s per command before AUTH; the inbound listener,
	 * which has no AUTH, waits as RFC 5321 §4.5.3.2.7 says (5 min). */
	if (s->conf->kind == SESSION_SUBMIT && !s->authed)
		return SESSION_T_COMMAND;
	return SESSION_T_IDLE;
}

void
session_timeout(struct session *s)
{
	reply(s, "421 4.4.2 %s Error: timeout exceeded", s->conf->hostname);
	s->state = SESSION_CLOSE;
}

void
session_refuse(struct session *s, const char *line)
{
	buf_reset(&s->out);
	reply(s, "%s", line);
	s->state = SESSION_CLOSE;
}

void
session_answer(struct session *s, const char *line)
{
	reply(s, "%s", line);
	tx_reset(s);
	if (s->state == SESSION_WAIT)
		s->state = SESSION_READ;
}

void
session_tls_started(struct session *s)
{
	s->tls = 1;
	s->helo = 0;
	s->authed = 0;
	tx_reset(s);
	buf_reset(&s->line);
	s->overlong = 0;
	s->phase = P_CMD;
	s->state = SESSION_READ;
}

/* ---- AUTH (RFC 4954) ------------------------------------------------ */

/* Decodes a client's base64 response into a NUL-terminated string in
 * out (its bytes may hold other NULs): 0, or -1 (not base64). */
static int
decode64(const char *in, struct buf *out)
{
	if (strcmp(in, "=") == 0) /* §4: an empty initial response */
		return buf_putc(out, '\0') == -1 ? -1 : 0;
	if (base64_decode(out, in, strlen(in)) == -1 || buf_putc(out, '\0'))
		return -1;
	out->len--;
	return 0;
}

/* The user name and password are checked; the reply. */
static void
auth_check(struct session *s, const char *user, const char *pass)
{
	int rc = SESSION_AUTH_BAD;

	if (strcmp(user, AUTH_USER) == 0)
		rc = s->ops->auth(s->arg, user, pass);
	if (rc == SESSION_AUTH_OK) {
		s->authed = 1;
		reply(s, "235 2.7.0 Authentication successful");
	} else if (rc == SESSION_AUTH_UNAVAILABLE)
		reply(s, "454 4.7.0 Temporary authentication failure; try "
		         "again later");
	else
		proto_error(
		    s, "535 5.7.8 Authentication credentials invalid (user "
		       "name api_token, password an API token with the send "
		       "permission)");
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void
auth_plain(struct session *s, const char *resp)
{
	struct buf b;
	const char *authz, *user, *pass, *end;

	buf_init(&b, SESSION_MAX_LINE);
	if (decode64(resp, &b) == -1) {
		proto_error(s, "501 5.5.2 Invalid base64 data");
		goto out;
	}
	end = b.p + b.len;
	authz = b.p;
	user = memchr(authz, '\0', b.len);
	pass = user ? memchr(user + 1, '\0', (size_t)(end - user - 1)) : NULL;
	if (user == NULL || pass == NULL) {
		proto_error(s, "501 5.5.2 Invalid AUTH PLAIN response");
		goto out;
	}
	user++;
	pass++;
	if (authz[0] != '\0' && strcmp(authz, user) != 0)
		user = ""; /* acting for another: never */
	auth_check(s, user, pass);
out:
	line_wipe(&b);
	buf_clear(&b);
}

/* A line of an AUTH exchange. */
static void
auth_line(struct session *s, const char *line)
{
	struct buf b;
	enum phase ph = s->phase;

	s->phase = P_CMD;
	if (strcmp(line, "*") == 0) {
		wipe(&s->user);
		proto_error(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (ph == P_AUTH_PLAIN) {
		auth_plain(s, line);
		return;
	}
	buf_init(&b, SESSION_MAX_LINE);
	if (decode64(line, &b) == -1) {
		wipe(&s->user);
		proto_error(s, "501 5.5.2 Invalid base64 data");
	} else if (ph == P_AUTH_USER) {
		if ((s->user = strdup(b.p)) == NULL)
			reply(s, "454 4.7.0 Temporary authentication failure");
		else {
			s->phase = P_AUTH_PASS;
			reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
		}
	} else {
		auth_check(s, s->user ? s->user : "", b.p);
		wipe(&s->user);
	}
	line_wipe(&b);
	buf_clear(&b);
}

static void
do_auth(struct session *s, char *arg)
{
	char *mech = arg, *ir;

	if ((ir = strchr(arg, ' ')) != NULL) {
		*ir++ = '\0';
		while (*ir == ' ')
			ir++;
		if (*ir == '\0')
			ir = NULL;
	}
	if (strcasecmp(mech, "PLAIN") == 0) {
		if (ir != NULL)
			auth_plain(s, ir);
		else {
			s->phase = P_AUTH_PLAIN;
			reply(s, "334 ");
		}
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (ir != NULL) {
			s->phase = P_AUTH_USER;
			auth_line(s, ir);
		} else {
			s->phase = P_AUTH_USER;
			reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
		}
	} else
		proto_error(s, "504 5.5.4 Unrecognized authentication type");
}

/* ---- MAIL, RCPT ----------------------------------------------------- */

/*
 * Reads "<path>" after MAIL FROM: / RCPT TO: (spaces allowed before it),
 * a source route dropped (RFC 5321 §4.1.2), into out. *rest: what
 * follows (the parameters). 0, or -1 on bad syntax.
 */
static int
read_path(char *p, char *out, size_t outlen, char **rest)
{
	char *q;
	int quoted = 0;
	size_t n;

	while (*p == ' ')
		p++;
	if (*p++ != '<')
		return -1;
	for (q = p; *q != '\0'; q++) {
		if (*q == '\\' && quoted && q[1] != '\0')
			q++;
		else if (*q == '"')
			quoted = !quoted;
		else if (*q == '>' && !quoted)
			break;
	}
	if (*q != '>')
		return -1;
	if (*p == '@') { /* @a,@b:user@c */
		char *colon = memchr(p, ':', (size_t)(q - p));

		if (colon == NULL)
			return -1;
		p = colon + 1;
	}
	if ((n = (size_t)(q - p)) >= outlen)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	q++;
	if (*q != '\0' && *q != ' ')
		return -1;
	while (*q == ' ')
		q++;
	*rest = q;
	return 0;
}

/* Skips "FROM:" / "TO:" in any case: the rest, or NULL. */
static char *
after(char *arg, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(arg, word, n) != 0)
		return NULL;
	return arg + n;
}

/* RFC 1870, 6152, 6531, 4954 §5: MAIL's parameters. 0, or -1 after a
 * reply. */
static int
mail_params(struct session *s, char *p)
{
	char *kw, *val, *end;
	unsigned long long size;

	while ((kw = strsep(&p, " ")) != NULL) {
		if (*kw == '\0')
			continue;
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(kw, "SIZE") == 0 && val != NULL) {
			size = strtoull(val, &end, 10);
			if (*val == '\0' || *end != '\0' ||
			    !isdigit((unsigned char)*val)) {
				proto_error(s, "501 5.5.4 Bad SIZE parameter");
				return -1;
			}
			if (size > MAX_MESSAGE_SIZE) {
				reply(s, R_TOO_BIG);
				return -1;
			}
		} else if (strcasecmp(kw, "BODY") == 0 && val != NULL) {
			if (strcasecmp(val, "7BIT") != 0 &&
			    strcasecmp(val, "8BITMIME") != 0) {
				proto_error(s, "501 5.5.4 Bad BODY parameter");
				return -1;
			}
		} else if (strcasecmp(kw, "SMTPUTF8") == 0 && val == NULL) {
			;
		} else if (strcasecmp(kw, "AUTH") == 0 && val != NULL) {
			; /* RFC 4954 §5: nothing is relayed on */
		} else {
			proto_error(
			    s, "555 5.5.4 Unsupported parameter '%.64s'", kw);
			return -1;
		}
	}
	return 0;
}

static void
do_mail(struct session *s, char *arg)
{
	char path[MAX_PATH], *rest;
	const char *why = NULL;

	if (s->conf->kind == SESSION_SUBMIT && !s->authed) {
		proto_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (s->from != NULL) {
		proto_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((arg = after(arg, "FROM:")) == NULL ||
	    read_path(arg, path, sizeof(path), &rest) == -1) {
		proto_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (mail_params(s, rest) == -1)
		return;
	if (s->ops->mail(s->arg, path, &why) == -1) {
		reply(s, "%s", why ? why : "550 5.7.1 Sender refused");
		return;
	}
	if ((s->from = strdup(path)) == NULL) {
		reply(s, "451 4.3.0 Out of memory; try again");
		return;
	}
	reply(s, "250 2.1.0 Ok");
}

static void
do_rcpt(struct session *s, char *arg)
{
	char path[MAX_PATH], *rest;
	const char *why = NULL;
	size_t i;

	if (s->from == NULL) {
		proto_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if ((arg = after(arg, "TO:")) == NULL ||
	    read_path(arg, path, sizeof(path), &rest) == -1 ||
	    path[0] == '\0') {
		proto_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (*rest != '\0') {
		proto_error(s, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (s->nrcpt == MAX_RECIPIENTS) {
		reply(s,
		      "452 4.5.3 Too many recipients (at most %d per "
		      "message)",
		      MAX_RECIPIENTS);
		return;
	}
	if (s->ops->rcpt(s->arg, path, &why) == -1) {
		reply(s, "%s", why ? why : "550 5.1.1 Recipient refused");
		return;
	}
	for (i = 0; i < s->nrcpt; i++)
		if (strcasecmp(s->rcpt[i], path) == 0)
			break;
	if (i == s->nrcpt) {
		if ((s->rcpt[s->nrcpt] = strdup(path)) == NULL) {
			reply(s, "451 4.3.0 Out of memory; try again");
			return;
		}
		s->nrcpt++;
	}
	reply(s, "250 2.1.5 Ok");
}

/* ---- the other commands --------------------------------------------- */

static void
do_ehlo(struct session *s, char *arg)
{
	const char *h = s->conf->hostname;
	int auth = s->conf->kind == SESSION_SUBMIT &&
	           (s->tls || !s->conf->require_tls);

	char who[256];
	size_t i;

	/* The argument is never refused: clients write anything there. It
	 * is echoed in printable ASCII only. */
	for (i = 0; arg[i] != '\0' && i < sizeof(who) - 1; i++)
		who[i] = arg[i] >= 0x20 && arg[i] < 0x7f ? arg[i] : '?';
	who[i] = '\0';
	tx_reset(s);
	s->helo = 1;
	reply(s, "250-%s greets %s", h, i ? who : "client");
	if (auth)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250-SIZE %d", MAX_MESSAGE_SIZE);
	reply(s, "250-8BITMIME");
	reply(s, "250-PIPELINING");
	reply(s, "250-SMTPUTF8");
	if (!s->tls && s->conf->starttls)
		reply(s, "250-STARTTLS");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
do_helo(struct session *s, char *arg)
{
	tx_reset(s);
	s->helo = 1;
	reply(s, "250 %s", s->conf->hostname);
}

static void
do_starttls(struct session *s, char *arg)
{
	if (s->tls) {
		proto_error(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (!s->conf->starttls) {
		proto_error(s, "502 5.5.1 Error: STARTTLS not offered");
		return;
	}
	if (*arg != '\0') {
		proto_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	s->state = SESSION_TLS;
}

static void
do_data(struct session *s, char *arg)
{
	if (s->from == NULL) {
		proto_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == 0) {
		proto_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (*arg != '\0') {
		proto_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	s->phase = P_DATA;
	s->ds = D_BOL;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
do_rset(struct session *s, char *arg)
{
	tx_reset(s);
	reply(s, "250 2.0.0 Ok");
}

static void
do_noop(struct session *s, char *arg)
{
	reply(s, "250 2.0.0 Ok");
}

static void
do_quit(struct session *s, char *arg)
{
	reply(s, "221 2.0.0 Bye");
	s->state = SESSION_CLOSE;
}

static void
do_help(struct session *s, char *arg)
{
	reply(s, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA "
	         "RSET NOOP QUIT HELP VRFY");
}

static void
do_vrfy(struct session *s, char *arg)
{
	reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
	         "attempt delivery");
}

/* What a command needs before it runs. */
enum {
	NEED_HELO = 1 << 0,   /* EHLO or HELO first */
	NEED_TLS = 1 << 1,    /* STARTTLS first where the listener says */
	NEED_SUBMIT = 1 << 2, /* not on the inbound listener */
};

static const struct command {
	const char *name;
	unsigned needs;
	void (*run)(struct session *s, char *arg);
} commands[] = {
    {"EHLO", 0, do_ehlo},
    {"HELO", 0, do_helo},
    {"STARTTLS", 0, do_starttls},
    {"AUTH", NEED_SUBMIT | NEED_HELO | NEED_TLS, do_auth},
    {"MAIL", NEED_HELO | NEED_TLS, do_mail},
    {"RCPT", NEED_HELO, do_rcpt},
    {"DATA", NEED_HELO, do_data},
    {"RSET", 0, do_rset},
    {"NOOP", 0, do_noop},
    {"QUIT", 0, do_quit},
    {"HELP", 0, do_help},
    {"VRFY", 0, do_vrfy},
};

/* One command line, without its line end. */
static void
command(struct session *s, char *line)
{
	const struct command *c = NULL;
	char *arg;
	size_t i, n;

	n = strcspn(line, " ");
	arg = line + n;
	while (*arg == ' ')
		arg++;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strlen(commands[i].name) == n &&
		    strncasecmp(commands[i].name, line, n) == 0) {
			c = &commands[i];
			break;
		}
	if (c == NULL) {
		proto_error(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if ((c->needs & NEED_SUBMIT) && s->conf->kind != SESSION_SUBMIT) {
		proto_error(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if ((c->needs & NEED_HELO) && !s->helo) {
		proto_error(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if ((c->needs & NEED_TLS) && s->conf->require_tls && !s->tls) {
		proto_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (c->run == do_auth && (s->authed || s->from != NULL)) {
		proto_error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (c->run == do_auth && *arg == '\0') {
		proto_error(
		    s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	c->run(s, arg);
}

/* A command line holds no control byte (a CR not at its end, a NUL):
 * nothing of it can end up as a line of a reply. */
static int
line_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f)
			return 0;
	return 1;
}

/* A whole line in s->line (its LF not included). */
static void
line_done(struct session *s)
{
	char *p;

	if (s->line.len > 0 && s->line.p[s->line.len - 1] == '\r')
		s->line.len--;
	if (buf_putc(&s->line, '\0') == -1) {
		line_wipe(&s->line);
		s->phase = P_CMD;
		wipe(&s->user);
		proto_error(s, "500 5.5.2 Error: line too long");
		return;
	}
	p = s->line.p;
	if (!line_ok(p, s->line.len - 1))
		proto_error(s, "500 5.5.2 Error: bad command line");
	else if (s->phase == P_CMD)
		command(s, p);
	else
		auth_line(s, p);
	line_wipe(&s->line);
}

/* ---- DATA ----------------------------------------------------------- */

static void
msg_put(struct session *s, const char *p, size_t n)
{
	if (s->too_big || s->bare)
		return;
	if (buf_append(&s->msg, p, n) == -1) {
		s->too_big = 1;
		buf_clear(&s->msg);
	}
}

/* The final dot: the message is refused, or goes to the owner. */
static void
data_end(struct session *s)
{
	s->phase = P_CMD;
	if (s->bare) {
		/* SPEC §7: the smuggling defence. */
		reply(s, "554 5.6.0 Message refused: lines must end in CRLF "
		         "(a bare LF or CR was found; send with CRLF line "
		         "ends, e.g. curl --crlf)");
		tx_reset(s);
		return;
	}
	if (s->too_big) {
		reply(s, R_TOO_BIG);
		tx_reset(s);
		return;
	}
	s->state = SESSION_WAIT;
	s->ops->data(s->arg, s->from, (const char *const *)s->rcpt, s->nrcpt,
	             s->msg.p ? s->msg.p : "", s->msg.len);
}

/*
 * RFC 5321 §4.5.2 and §2.3.8: lines end in CRLF, a leading dot is
 * removed, <CRLF>.<CRLF> ends the message. A CR or LF that is not part
 * of a CRLF marks the message refused; the reader goes on to the real
 * end, so nothing after such a line is read as a command. The bytes
 * taken.
 */
static size_t
data_input(struct session *s, const char *p, size_t n)
{
	size_t i, run;

	for (i = 0; i < n; i++) {
		char c = p[i];

		switch (s->ds) {
		case D_BOL:
			if (c == '.') {
				s->ds = D_DOT;
				continue;
			}
			s->ds = D_MID;
			/* FALLTHROUGH */
		case D_MID:
		mid:
			if (c == '\r')
				s->ds = D_CR;
			else if (c == '\n')
				s->bare = 1;
			else {
				for (run = 1;
				     i + run < n && p[i + run] != '\r' &&
				     p[i + run] != '\n';
				     run++)
					;
				msg_put(s, p + i, run);
				i += run - 1;
			}
			break;
		case D_DOT:
			if (c == '\r') {
				s->ds = D_DOT_CR;
				break;
			}
			s->ds = D_MID; /* the dot is dropped */
			goto mid;
		case D_DOT_CR:
			if (c == '\n') {
				data_end(s);
				return i + 1;
			}
			s->bare = 1;
			s->ds = D_MID;
			goto mid;
		case D_CR:
			if (c == '\n') {
				msg_put(s, "\r\n", 2);
				s->ds = D_BOL;
				break;
			}
			s->bare = 1;
			s->ds = D_MID;
			goto mid;
		}
	}
	return n;
}

size_t
session_input(struct session *s, const char *p, size_t n)
{
	size_t used = 0, k;
	const char *nl;

	while (used < n && s->state == SESSION_READ) {
		if (s->phase == P_DATA) {
			used += data_input(s, p + used, n - used);
			continue;
		}
		nl = memchr(p + used, '\n', n - used);
		k = nl ? (size_t)(nl - (p + used)) : n - used;
		if (!s->overlong && buf_append(&s->line, p + used, k) == -1) {
			line_wipe(&s->line);
			s->overlong = 1;
		}
		used += k;
		if (nl == NULL)
			break;
		used++; /* the LF */
		if (s->overlong) {
			s->overlong = 0;
			s->phase = P_CMD;
			wipe(&s->user);
			proto_error(s, "500 5.5.2 Error: line too long");
		} else
			line_done(s);
	}
	return used;
}
