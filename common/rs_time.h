/* rs_time.h: clocks and time formats. Monotonic time for intervals and timeouts, wall time only
 * for reports. No state. */
#ifndef RS_TIME_H
#define RS_TIME_H

#include <stddef.h>
#include <stdint.h>

int64_t rs_mono_ms(void);   /* CLOCK_MONOTONIC in ms */
int64_t rs_mono_ns(void);
int64_t rs_wall_ms(void);   /* CLOCK_REALTIME in ms since the epoch */

/* "2026-11-28T08:00:00.123Z" into out (>= 32 bytes). */
void rs_time_rfc3339_ms(int64_t wall_ms, char *out, size_t n);
/* RFC 3339 UTC from seconds + nanos with 0, 3, 6 or 9 fractional digits, as proto3 JSON does. */
void rs_time_rfc3339(int64_t seconds, int32_t nanos, char *out, size_t n);

/* A protobuf Timestamp read from untrusted bytes (seconds, nanos) in ms since the epoch; 0 (no
 * time) when it lies beyond what int64 milliseconds hold, so a damaged field never overflows. */
int64_t rs_time_pb_ms(int64_t seconds, int32_t nanos);

/* Parses a duration: "500ms", "5s", "10m", "2h", "7d", or a plain number of seconds; also
 * combinations like "1h30m". Returns 0 and the milliseconds, or -1. */
int rs_duration_parse_ms(const char *s, int64_t *ms);

#endif
