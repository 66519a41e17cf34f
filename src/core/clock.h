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
/*
 * The one reader of the times clients and operators write, to unix ms.
 * Strict (flags 0): an RFC 3339 §5.6 date-time, "2026-12-01T00:00:00Z",
 * with a fraction and an offset allowed ("…T01:00:00.5+01:00").
 * CLOCK_ISO_LENIENT, for the CLI: also a date alone (midnight UTC), no
 * seconds, no offset (UTC), an offset without its colon and a ',' before
 * the fraction. Years before 1970 and days a month has not are refused.
 * 0 or -1.
 */
#define CLOCK_ISO_LENIENT 1
int clock_parse_iso8601(const char *s, int flags, int64_t *ms);

#endif
