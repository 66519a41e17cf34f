/*
 * smtpd: pigeon's SMTP server (SPEC §7, §7.1) on libevent and OpenSSL.
 * Three listeners: implicit TLS submission (smtps_listen), STARTTLS
 * submission (submission_listen: AUTH and MAIL refused before
 * STARTTLS) and inbound (inbound_listen: no AUTH, STARTTLS offered when
 * there is a certificate). A few threads, each with its own event base,
 * accept from every listening socket; a session lives on the thread
 * that accepted it, as a session.c state machine over a bufferevent.
 *
 * Submission authenticates with the tenant layer (user name api_token,
 * password an API token with send) and hands the message to submit/,
 * the path of REST send_raw: 250 only once the queue's writer has
 * committed it. What the inbound listener accepts, and what becomes of
 * a message there, its owner decides (struct smtpd_inbound).
 *
 * It is not a parser of mail (mail/, submit/) and keeps no state of its
 * own beyond its sessions.
 */
#ifndef PIGEON_SMTPD_SMTPD_H
#define PIGEON_SMTPD_SMTPD_H

#include <stddef.h>

#include "../core/config.h"

struct submit;
struct tenant;

/* The inbound listener's decisions (SPEC §7.1), made by its owner. */
/* Any thread, once: ok 1 → 250 2.0.0 Ok, 0 → 451 4.3.0. */
typedef void smtpd_answer_fn(void *ctx, int ok);
struct smtpd_inbound {
	/* RCPT TO on the inbound listener, on the session's thread (may
	 * read the store briefly): 1 accept, 0 → 550 5.1.1 */
	int (*rcpt)(void *arg, const char *address);
	/* The message after the final dot (CRLF, dot-unstuffed, ≤ 5 MiB),
	 * its envelope; the callee answers once through answer(ctx, ok). */
	void (*message)(void *arg, const char *mail_from,
	                const char *const *rcpts, size_t nrcpts,
	                const char *data, size_t len, smtpd_answer_fn *answer,
	                void *ctx);
	void *arg;
};

/* The listeners, in this order. */
enum smtpd_listener {
	SMTPD_SMTPS,
	SMTPD_SUBMISSION,
	SMTPD_INBOUND,
	SMTPD_NLISTENERS,
};

/* The directive of each listener ("smtps_listen", …). */
const char *smtpd_directive(enum smtpd_listener l);

/*
 * Opens the listening sockets of the enabled listeners (a directive
 * "" leaves its fd -1). 0, or -1 with err naming the directive; then
 * nothing stays open.
 */
int smtpd_listen(const struct config *cfg, int fds[SMTPD_NLISTENERS], char *err,
                 size_t errlen);

struct smtpd;

/*
 * Starts the server on fds (taken over, -1 for a listener that is
 * off). cert and key are PEM files, or NULL: then the TLS listeners
 * must be off and inbound offers no STARTTLS. inbound may be NULL (every
 * RCPT there is refused with 550 5.1.1); it is copied. The server, or
 * NULL with err.
 */
struct smtpd *smtpd_start(const struct config *cfg, struct submit *submit,
                          struct tenant *tenant,
                          const struct smtpd_inbound *inbound,
                          int fds[SMTPD_NLISTENERS], const char *cert,
                          const char *key, char *err, size_t errlen);

/* Reads cert and key again (SIGHUP): new sessions use them, sessions
 * open keep theirs. On failure the old ones stay and err says why:
 * 0 or -1. */
int smtpd_reload(struct smtpd *d, char *err, size_t errlen);

/* Stops accepting, waits (up to cfg->drain_timeout) for the messages
 * with the queue, then closes every session and frees d: 0. -1 when
 * messages are still out: then d and its threads are left running
 * (the process is about to exit), and the queue, submit and tenant
 * must not be freed. Accepts NULL. */
int smtpd_stop(struct smtpd *d);

#endif
