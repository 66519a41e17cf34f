/*
 * log: timestamped key=value lines on stderr (see log.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "log.h"

static enum log_level log_max = LOG_LVL_INFO;

void
log_init(enum log_level level)
{
	log_max = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static void log_vemit(enum log_level lvl, const char *errstr, const char *fmt,
                      va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_vemit(enum log_level lvl, const char *errstr, const char *fmt, va_list ap)
{
	static const char *tag[] = {"error", "warn", "info", "debug"};
	char line[4096];
	struct timespec ts;
	struct tm tm;
	int n;

	if (lvl > log_max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tag[lvl]);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (errstr)
		snprintf(line + n, sizeof(line) - (size_t)n, " error=\"%s\"",
		         errstr);
	/* One stdio call per line: the stream's lock keeps lines from
	 * threads whole. */
	fprintf(stderr, "%s\n", line);
}

#define LOG_FN(name, lvl)                                                      \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vemit(lvl, NULL, fmt, ap);                                 \
		va_end(ap);                                                    \
	}

LOG_FN(log_warnx, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_WARN, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_escape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			out[o++] = '%';
			out[o++] = hex_upper[c >> 4];
			out[o++] = hex_upper[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return s == NULL ? "-" : out;
}

const char *
log_value(const char *s, char *out, size_t outlen)
{
	size_t n;

	if (s == NULL)
		return "-";
	/* room for the quotes around what log_escape writes */
	log_escape(s, out + 1, outlen - 2);
	n = strlen(out + 1);
	if (n > 0 && strchr(out + 1, ' ') == NULL && strcmp(out + 1, "-") != 0)
		return out + 1;
	out[0] = '"';
	out[n + 1] = '"';
	out[n + 2] = '\0';
	return out;
}
