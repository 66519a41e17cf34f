/*
 * clock: wall and monotonic time behind one seam (see clock.h).
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

static _Atomic time_t clock_fixed;

void
clock_set_fixed(time_t t)
{
	clock_fixed = t;
}

time_t
clock_now(void)
{
	time_t f = clock_fixed;

	return f ? f : time(NULL);
}

int64_t
clock_now_ms(void)
{
	struct timespec ts;
	time_t f = clock_fixed;

	if (f)
		return (int64_t)f * 1000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_rfc5322(time_t t, char out[40])
{
	static const char *days[] = {"Sun", "Mon", "Tue", "Wed",
	                             "Thu", "Fri", "Sat"};
	static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 40, "%s, %d %s %04d %02d:%02d:%02d +0000",
	         days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void
clock_iso8601(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Exactly n digits at *pp into *out, *pp moved past them. 0 or -1. */
static int
digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	*pp = p;
	*out = v;
	return 0;
}

int
clock_parse_iso8601(const char *s, int flags, int64_t *ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	int lenient = flags & CLOCK_ISO_LENIENT;
	const char *p = s;
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, zh = 0, zm = 0, sign = 1;
	int frac = 0, scale;
	time_t t;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || (lenient && *p == ',')) {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (scale = 100; isdigit((unsigned char)*p);
				     p++, scale /= 10)
					frac += (*p - '0') * scale;
			}
		} else if (!lenient)
			return -1;
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (digits(&p, 2, &zh))
				return -1;
			if (*p == ':')
				p++;
			else if (!lenient)
				return -1;
			if (digits(&p, 2, &zm))
				return -1;
		} else if (!lenient)
			return -1;
	} else if (!lenient)
		return -1;
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60 || zh > 23 ||
	    zm > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != d)
		return -1; /* Feb 29 of a year without one rolls over */
	*ms = ((int64_t)t - sign * (zh * 3600LL + zm * 60LL)) * 1000 + frac;
	return 0;
}
