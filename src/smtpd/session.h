/*
 * session: one SMTP server session as a state machine (SPEC §7, §7.1),
 * without sockets: bytes in (session_input), reply bytes out
 * (session_output), and a few calls to its owner for what the session
 * cannot decide itself (struct session_ops: the credentials, the
 * envelope addresses, the message). Commands are rows of a table.
 *
 * What it does: command syntax (any case, PIPELINING), the order of
 * commands, AUTH PLAIN and LOGIN (RFC 4954) with the initial response,
 * MAIL parameters (SIZE, BODY, SMTPUTF8), the recipient cap, DATA with
 * dot-unstuffing, the smuggling defence (a bare CR or LF anywhere in the
 * data, so also <LF>.<LF>, refuses the message), the size cap, the
 * error cap, and which timeout applies in which state.
 *
 * What it is not: it opens no socket, speaks no TLS (it says when the
 * owner must start it) and knows no tenant, address rule or store: the
 * owner's hooks decide, and answer the message later (session_answer).
 */
#ifndef PIGEON_SMTPD_SESSION_H
#define PIGEON_SMTPD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"

#define SESSION_MAX_ERRORS 10 /* protocol errors; the next is a 421 */
#define SESSION_MAX_LINE 4096 /* a command line (AUTH responses too) */

enum session_kind {
	SESSION_SUBMIT,  /* AUTH, then MAIL from an account's domain */
	SESSION_INBOUND, /* no AUTH; MAIL FROM:<> allowed (SPEC §7.1) */
};

/* What the owner must do after session_input() or session_answer(). */
enum session_state {
	SESSION_READ,  /* read more input */
	SESSION_WAIT,  /* a message is with the owner: session_answer() */
	SESSION_TLS,   /* write the output, then start TLS: discard any
	                * input not yet given (RFC 3207 §4.2), call
	                * session_tls_started() */
	SESSION_CLOSE, /* write the output, then close */
};

/* Which timeout the owner applies while it waits for input. */
enum session_timer {
	SESSION_T_NONE,    /* waiting for the owner (SESSION_WAIT) */
	SESSION_T_COMMAND, /* a command, before AUTH (30 s) */
	SESSION_T_DATA,    /* in DATA (300 s) */
	SESSION_T_IDLE,    /* between commands after AUTH (5 min) */
};

/* auth() results. */
enum session_auth {
	SESSION_AUTH_OK = 0,
	SESSION_AUTH_BAD = -1,         /* 535 5.7.8 */
	SESSION_AUTH_UNAVAILABLE = -2, /* 454 4.7.0: try again */
};

struct session_conf {
	const char *hostname; /* borrowed; the greeting and EHLO */
	enum session_kind kind;
	int tls;         /* TLS is on from the start (implicit TLS) */
	int starttls;    /* STARTTLS may be offered (a certificate) */
	int require_tls; /* AUTH and MAIL refused before STARTTLS */
};

struct session_ops {
	/* AUTH: one of enum session_auth. */
	int (*auth)(void *arg, const char *user, const char *pass);
	/* MAIL FROM (addr "" for <>): 0, or -1 with *reply a whole reply
	 * line without CRLF (static or alive until the next call). */
	int (*mail)(void *arg, const char *addr, const char **reply);
	/* RCPT TO: 0, or -1 with *reply as mail's. */
	int (*rcpt)(void *arg, const char *addr, const char **reply);
	/* The message after its final dot (CRLF, unstuffed, at most
	 * MAX_MESSAGE_SIZE) and its envelope, borrowed until
	 * session_answer(); the owner answers once. */
	void (*data)(void *arg, const char *from, const char *const *rcpts,
	             size_t n, const char *msg, size_t len);
};

struct session;

/* A session that greets at once (its 220 is in the output). NULL when
 * memory is short. conf and ops are borrowed. */
struct session *session_new(const struct session_conf *conf,
                            const struct session_ops *ops, void *arg);
void session_free(struct session *s); /* accepts NULL */

/*
 * Gives the session n bytes of input. Returns how many it took: fewer
 * than n only when it stopped reading (the state is not SESSION_READ);
 * the rest is the owner's to keep (SESSION_WAIT: give it again after
 * session_answer) or drop (SESSION_TLS, SESSION_CLOSE).
 */
size_t session_input(struct session *s, const char *p, size_t n);

/* The reply bytes to write; the owner takes them with buf_reset(). */
struct buf *session_output(struct session *s);

enum session_state session_state(const struct session *s);
enum session_timer session_timer(const struct session *s);

/* The owner's answer to data(): line is a whole reply without CRLF. */
void session_answer(struct session *s, const char *line);

/* TLS is up: the client starts again with EHLO (RFC 3207 §4.2). */
void session_tls_started(struct session *s);

/* The timer ran out: a 421, then SESSION_CLOSE. */
void session_timeout(struct session *s);

/* Instead of all else (a cap at accept): line, then SESSION_CLOSE. */
void session_refuse(struct session *s, const char *line);

/* 1 once AUTH succeeded. */
int session_authed(const struct session *s);

#endif
