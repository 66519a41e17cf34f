/*
 * log: one line per event, key=value, to stderr. log_warn adds errno's
 * text; fatal/fatalx exit(1) and are for start-up and broken invariants
 * only, never for what a peer sent.
 */
#ifndef PIGEON_CORE_LOG_H
#define PIGEON_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Peer or client text made safe for a log line: control bytes, '"' and
 * '\\' become %XX; cut to fit outlen (at least 5). Returns out, or "-"
 * when s is NULL.
 */
const char *log_escape(const char *s, char *out, size_t outlen);

/*
 * A field value from a peer, a client or a file (an address, a
 * Message-ID, a domain name, an SMTP reply, a path): log_escape'd, and
 * put in double quotes when it is empty, holds a space or is "-", so it
 * is always one value and never adds a field: rcpt=a@b.example but
 * rcpt="%22x status=bounced%22@b.example". Cut to fit outlen (at least
 * 7); "-" when s is NULL. LOG_VALUE_LEN(n) holds a value of n bytes
 * whole.
 */
#define LOG_VALUE_LEN(n) (3 * (n) + 3)
const char *log_value(const char *s, char *out, size_t outlen);

#endif
