/*
 * client: one SMTP client connection (RFC 5321) to one address, on a
 * libevent event_base with bufferevents and OpenSSL. smtp_open brings a
 * session up (greeting, EHLO or HELO, STARTTLS as tls= says, AUTH);
 * smtp_send then carries transactions, one at a time, each with every
 * recipient of one message, until smtp_close or the peer closes. It
 * never blocks: every answer comes through a callback run from the
 * event_base, never from inside smtp_open or smtp_send.
 *
 * It does not choose addresses, MX order, retries or how many
 * connections a destination gets (the mx and relay routes do), nor what
 * a reply means for a recipient (delivery/deliver.c).
 */
#ifndef PIGEON_SMTP_CLIENT_H
#define PIGEON_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "reply.h"

struct event_base;
struct smtp_conn;

/* SPEC §6.3 tls= */
enum smtp_tls {
	SMTP_TLS_NONE,          /* never STARTTLS */
	SMTP_TLS_OPPORTUNISTIC, /* STARTTLS when offered, any certificate; a
	                         * failed handshake is retried once in
	                         * plaintext on a new connection (RFC 7435) */
	SMTP_TLS_REQUIRE,       /* STARTTLS offered and done, any certificate */
	SMTP_TLS_VERIFY,        /* and the chain and host name checked */
};

/* Where a session or a transaction is. Each stage has its timeout. */
enum smtp_stage {
	SMTP_CONNECT,  /* TCP connect, and implicit TLS's handshake */
	SMTP_GREETING, /* the 220 */
	SMTP_EHLO,     /* EHLO, or HELO after a 5xx to EHLO */
	SMTP_STARTTLS, /* the command and its handshake */
	SMTP_AUTH,
	SMTP_RSET, /* before a transaction on a used connection */
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA, /* DATA up to the 354, then the message: the timeout
	            * counts from the last write the peer took */
	SMTP_DOT,  /* the reply to the final dot */
	SMTP_QUIT,
	SMTP_NSTAGES
};

struct smtp_opts {
	const char *helo; /* EHLO's argument */
	/* The name for SNI and tls=verify's name check: the MX host or
	 * the relay host; NULL: none (verify then fails). */
	const char *host;
	enum smtp_tls tls;
	int implicit_tls;        /* smtps: TLS from the first byte; a failed
	                          * handshake fails (no plaintext retry), the
	                          * certificate checked when tls is VERIFY */
	SSL_CTX *ssl_ctx;        /* smtp_ssl_ctx_new(); borrowed until c is
	                          * closed; needed unless tls is NONE and
	                          * implicit_tls is 0 */
	const char *user, *pass; /* AUTH PLAIN or LOGIN, only over TLS;
	                          * NULL: no AUTH */
	/* ms per stage; 0 takes the default: RFC 5321 §4.5.3.2's 5 min,
	 * DATA 2 min, the dot 10 min, QUIT 2 s (-1 there: smtp_close says
	 * no QUIT) */
	int64_t timeout_ms[SMTP_NSTAGES];
};

/* How a session or a transaction ended early. */
enum smtp_err {
	SMTP_ERR_NONE,
	SMTP_ERR_REPLY,   /* the server refused (reply), or said 421 */
	SMTP_ERR_CONNECT, /* the TCP connect failed */
	SMTP_ERR_TIMEOUT, /* the stage's timeout passed */
	SMTP_ERR_CLOSED,  /* the peer closed or reset the connection */
	SMTP_ERR_TLS,     /* handshake, certificate, or no STARTTLS under
	                   * tls=require or verify */
	SMTP_ERR_AUTH,    /* credentials not sent: no TLS, or no AUTH
	                   * mechanism in common */
	SMTP_ERR_PROTO,   /* a malformed or unexpected reply */
	SMTP_ERR_NOMEM,
};

struct smtp_error {
	enum smtp_err err;
	enum smtp_stage stage;   /* where it happened */
	struct smtp_reply reply; /* SMTP_ERR_REPLY: the reply; else code 0 */
	char why[SMTP_REPLY_TEXT + 64]; /* one line for logs, never empty when
	                                 * err is set: "connect: Connection
	                                 * refused", the reply's text, ... */
};

/*
 * What a transaction did. rcpt[i] answers rcpts[i] of smtp_send: its
 * RCPT reply when refused, else the reply to the dot; a refusal of MAIL
 * or DATA, a 421 and a refusal pigeon made without sending (552 5.3.4
 * SIZE, 553 5.6.7 SMTPUTF8) go to every recipient they touch. code 0:
 * no reply applies to it (a timeout, the connection lost, a protocol
 * error): error says what happened. error.err is NONE when the
 * transaction ran to its end.
 */
struct smtp_result {
	struct smtp_error error;
	const struct smtp_reply *rcpt; /* n of them; valid in the callback */
	size_t n;
};

/* What the caller logs and decides by. Strings live as long as c. */
struct smtp_info {
	const char *peer;      /* "mx.example.net[192.0.2.1]:25" */
	const char *tls;       /* "TLSv1.3", NULL in plaintext */
	int verified;          /* the certificate's chain and name checked out,
	                        * whatever tls= asked for */
	int tls_fallback;      /* opportunistic TLS failed in its handshake:
	                        * this session is the plaintext retry */
	const char *tls_error; /* why it failed, "" when it did not */
	int esmtp;             /* 0: the server took HELO only */
	struct smtp_ehlo ehlo; /* what it offers (after STARTTLS) */
	unsigned transactions; /* begun on this connection */
};

/* c is ready when e is NULL; else the session failed (e borrowed for
 * the call) and c only takes smtp_close. */
typedef void smtp_open_fn(void *arg, struct smtp_conn *c,
                          const struct smtp_error *e);
/* r is borrowed for the call. Whether c takes another smtp_send:
 * smtp_ready(c). */
typedef void smtp_send_fn(void *arg, struct smtp_conn *c,
                          const struct smtp_result *r);
/* A ready connection between transactions was lost (the peer closed,
 * or said 421): c only takes smtp_close. */
typedef void smtp_idle_fn(void *arg, struct smtp_conn *c,
                          const struct smtp_error *e);

/* A client context: TLS 1.2 or later, the system's trust store or
 * ca_file's certificates (PEM) when not NULL. One per route; free with
 * SSL_CTX_free. NULL on failure (OpenSSL's error queue says why). */
SSL_CTX *smtp_ssl_ctx_new(const char *ca_file);

/*
 * Connects to addr and brings a session up on base: the greeting, EHLO
 * (HELO after a 5xx to it), STARTTLS as o->tls says and EHLO again,
 * AUTH when o->user is set. Then cb(arg, c, NULL), or cb(arg, c, e)
 * when it failed; a 421 at any point fails it with the reply. o and its
 * strings are copied. NULL (errno set), and no callback, when o is
 * unusable (EINVAL: no helo or one with a control byte, TLS without
 * ssl_ctx, a user without a password), memory is short or no socket
 * opens. The caller owns c until smtp_close, whatever the outcome.
 */
struct smtp_conn *smtp_open(struct event_base *base,
                            const struct sockaddr *addr, socklen_t alen,
                            const struct smtp_opts *o, smtp_open_fn *cb,
                            void *arg);

/*
 * One transaction on a ready connection: RSET when c carried one
 * before, MAIL FROM (SIZE=, BODY=8BITMIME when msg has 8-bit bytes and
 * the server offers it, SMTPUTF8 when an address needs it), every RCPT
 * (pipelined with DATA when the server offers PIPELINING), DATA, msg
 * dot-stuffed (msg is CRLF text; CRLF.CRLF is added), the final reply.
 * When the server offers CHUNKING and PIPELINING, "BDAT <size> LAST"
 * and msg as it is (RFC 3030) go with MAIL and RCPT in one write
 * instead; BDAT's reply is then the final one (stage SMTP_DOT).
 * mail_from ("" for <>), rcpts[0..n) (bare addresses, no <>) and msg
 * are borrowed until the callback. A message over the server's SIZE,
 * or needing SMTPUTF8 it does not offer, is refused without a byte
 * sent. 0: cb(arg, c, r) will run once; -1 when c is not ready (still
 * opening, in a transaction, failed or lost) or n is 0: no callback.
 * A connection the peer dropped while it waited shows at the RSET: an
 * error (CLOSED, TIMEOUT) at SMTP_RSET means nothing of this
 * transaction was taken, and it may go at once on a new connection.
 */
int smtp_send(struct smtp_conn *c, const char *mail_from,
              const char *const *rcpts, size_t n, const char *msg, size_t len,
              smtp_send_fn *cb, void *arg);

/* 1 when c takes smtp_send now. */
int smtp_ready(const struct smtp_conn *c);

/* Calls fn(arg, c, e) should c be lost while ready; NULL: no call. */
void smtp_set_idle(struct smtp_conn *c, smtp_idle_fn *fn, void *arg);

const struct smtp_info *smtp_info(const struct smtp_conn *c);

/*
 * Ends c, in any state, also from inside its callbacks; no callback of
 * c runs after it, and c must not be used again. A session that is
 * still in step says QUIT and lingers on the base for the 221 (at most
 * timeout_ms[SMTP_QUIT]; -1 there: no QUIT); anything else is dropped
 * at once. Accepts NULL.
 */
void smtp_close(struct smtp_conn *c);
/* smtp_close without the QUIT: c is gone at once (or when its callback
 * returns). For a base about to be freed. Accepts NULL. */
void smtp_drop(struct smtp_conn *c);

/* "connect", "greeting", ...; "?" for an unknown value. */
const char *smtp_stage_name(enum smtp_stage s);
/* "reply", "timeout", ...; "?" for an unknown value. */
const char *smtp_err_name(enum smtp_err e);

#endif
