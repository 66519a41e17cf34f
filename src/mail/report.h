/*
 * report: what a message received on the inbound listener (SPEC §7.1) says
 * about mail pigeon sent: a delivery status notification (RFC 3464, RFC
 * 6533), a feedback report (RFC 5965 ARF), anything else, or a report too
 * broken to act on. A pure function of the bytes: it reads no store,
 * matches no VERP address and decides no state; the caller does.
 */
#ifndef PIGEON_MAIL_REPORT_H
#define PIGEON_MAIL_REPORT_H

#include <stddef.h>

#include "../core/arena.h"

/* Per-recipient groups, Original-Rcpt-To and Reported-Domain fields of
 * one report: more is malformed (pigeon sends at most 50 recipients). */
#define REPORT_MAX_RCPTS 100
/* A kept value, in bytes: a longer one is cut (an address longer than
 * RFC 5321 allows is malformed instead). */
#define REPORT_MAX_VALUE 1000
/* Body parts of one multipart: more is malformed. */
#define REPORT_MAX_PARTS 100

enum report_kind {
	REPORT_OTHER,     /* not a report we read: an auto-reply, plain
	                   * mail, a multipart/report of another type */
	REPORT_DSN,       /* report-type=delivery-status */
	REPORT_ARF,       /* report-type=feedback-report */
	REPORT_MALFORMED, /* a report we cannot read; why says how */
};

/* RFC 3464 §2.3.3 action-value */
enum report_action {
	REPORT_FAILED,
	REPORT_DELAYED,
	REPORT_DELIVERED,
	REPORT_RELAYED,
	REPORT_EXPANDED,
};

/*
 * One per-recipient group (RFC 3464 §2.3). Strings are NUL-terminated in
 * the caller's arena, unfolded and trimmed, control bytes made spaces;
 * NULL when the field is absent. The typed fields lose their type:
 * "rfc822; <a@b>" is "a@b", "smtp; 550 5.1.1 …" is "550 5.1.1 …".
 */
struct report_rcpt {
	const char *final_recipient; /* never NULL */
	const char *original_recipient;
	enum report_action action;
	char status[12]; /* RFC 3463 "5.1.1": class 2, 4 or 5 */
	const char *diagnostic_code;
	const char *remote_mta;
};

struct report {
	enum report_kind kind;

	/* DSN, per-message fields (RFC 3464 §2.2); an ARF's Reporting-MTA
	 * and Arrival-Date go to the same two */
	const char *reporting_mta; /* type stripped */
	const char *arrival_date;
	const char *original_envelope_id;
	struct report_rcpt *rcpt; /* nrcpt ≥ 1 for a DSN */
	size_t nrcpt;

	/* ARF (RFC 5965 §3.1) */
	const char *feedback_type; /* lowercase, never NULL for an ARF */
	const char *user_agent;
	const char *version;
	const char *original_mail_from;
	const char **original_rcpt_to; /* every one, in order */
	size_t noriginal_rcpt_to;
	const char **reported_domain;
	size_t nreported_domain;
	const char *source_ip;

	/* the returned message or its header (RFC 6522 §3's third part),
	 * when there is one */
	const char *original_message_id; /* its "<…>", or the value as
	                                  * written when it has none */
	const char *original_to;
};

/*
 * Reads msg[0..len), a whole message (CRLF line endings; bare LF is taken
 * too), and says what it is in out->kind, with the fields above for a DSN or
 * an ARF report (for OTHER and MALFORMED every field is empty). A
 * multipart/report is looked for at the top or as a part of a top-level
 * multipart (one level deep). For REPORT_MALFORMED why holds a sentence
 * such as "Recipient group 1 of the delivery-status part has no
 * Final-Recipient.". Never reads outside msg. Everything out points to is
 * in the arena (msg is not borrowed).
 * Returns 0 (whatever the kind), or -1 when the arena ran out (why says
 * so).
 */
int report_parse(struct arena *a, const char *msg, size_t len,
                 struct report *out, char *why, size_t whylen);

/* "failed", "delayed", … for logs and events. */
const char *report_action_name(enum report_action act);

#endif
