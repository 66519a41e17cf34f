/*
 * clock: the one seam for time. Tests pin the wall clock with
 * clock_set_fixed() so built messages are reproducible.
 */
#ifndef PIGEON_CORE_CLOCK_H
#define PIGEON_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

time_t clock_now(void);         /* wall clock, seconds */
int64_t clock_now_ms(void);     /* wall clock, milliseconds */
int64_t clock_mono_ms(void);    /* monotonic, milliseconds (never pinned) */
void clock_set_fixed(time_t t); /* 0 = real time again */
/* RFC 5322 date with +0000, e.g. "Thu, 26 Nov 2026 06:13:41 +0000". */
void clock_rfc5322(time_t t, char out[40]);
/* ISO 8601 UTC, e.g. "2026-11-26T06:13:41Z". */
void clock_iso8601(time_t t, char out[32]);

#endif
