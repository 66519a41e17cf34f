/*
 * clock: wall and monotonic time behind one seam (see clock.h).
 */
#include <stdatomic.h>
#include <stdio.h>

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
