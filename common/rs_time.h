/* rs_time.h: clocks and time formats. Monotonic time for intervals and timeouts, wall time only
 * for reports. No state. */
#ifndef RS_TIME_H
#define RS_TIME_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

int64_t rs_mono_ms(void);   /* CLOCK_MONOTONIC in ms */

/* Initializes a condition variable whose timed waits run on CLOCK_MONOTONIC (the default clock,
 * CLOCK_REALTIME, jumps with the wall clock). 0 or a pthread error number. */
int rs_cond_init_mono(pthread_cond_t *cv);
/* Waits on cv (made by rs_cond_init_mono; mu held) for at most ms milliseconds (ms <= 0: returns
 * at once). Returns like pthread_cond_timedwait (0, ETIMEDOUT); spurious wake-ups are the caller's
 * loop's to handle. */
int rs_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);
int64_t rs_mono_ns(void);
int64_t rs_wall_ms(void);   /* CLOCK_REALTIME in ms since the epoch */

/* "2026-11-28T08:00:00.123Z" into out (>= 32 bytes). */
void rs_time_rfc3339_ms(int64_t wall_ms, char *out, size_t n);
/* RFC 3339 UTC from seconds + nanos with 0, 3, 6 or 9 fractional digits, as proto3 JSON does. */
void rs_time_rfc3339(int64_t seconds, int32_t nanos, char *out, size_t n);

/* Parses a duration: "500ms", "5s", "10m", "2h", "7d", or a plain number of seconds; also
 * combinations like "1h30m". Returns 0 and the milliseconds, or -1. */
int rs_duration_parse_ms(const char *s, int64_t *ms);

#endif
