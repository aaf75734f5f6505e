#include "rs_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t rs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rs_mono_ms(void) { return rs_mono_ns() / 1000000; }

int rs_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

int rs_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    if (ms <= 0)
        return ETIMEDOUT;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cv, mu, &ts);
}

int64_t rs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* out: RS_DATE_BUF bytes, enough for any int field values (GCC's -Wformat-truncation counts 72),
 * so the date is never cut */
#define RS_DATE_BUF 80
static void fmt_date(int64_t seconds, char *out, size_t n)
{
    time_t t = (time_t)seconds;
    struct tm tm = {0};
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm); /* out of range for gmtime: not left uninitialized */
    /* %04d, not strftime's %Y: year 1 is "0001" in RFC 3339 */
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

void rs_time_rfc3339_ms(int64_t wall_ms, char *out, size_t n)
{
    int64_t s = wall_ms / 1000, ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        s--;
    }
    char d[RS_DATE_BUF];
    fmt_date(s, d, sizeof d);
    snprintf(out, n, "%s.%03dZ", d, (int)ms);
}

void rs_time_rfc3339(int64_t seconds, int32_t nanos, char *out, size_t n)
{
    char d[RS_DATE_BUF];
    fmt_date(seconds, d, sizeof d);
    if (nanos <= 0 || nanos > 999999999)
        snprintf(out, n, "%sZ", d);
    else if (nanos % 1000000 == 0)
        snprintf(out, n, "%s.%03dZ", d, nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(out, n, "%s.%06dZ", d, nanos / 1000);
    else
        snprintf(out, n, "%s.%09dZ", d, nanos);
}

int rs_duration_parse_ms(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -1;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        long long v = strtoll(p, &end, 10);
        p = end;
        int64_t mult;
        if (*p == '\0' && total == 0 && !strpbrk(s, "smhd")) {
            mult = 1000; /* a bare number: seconds */
        } else if (p[0] == 'm' && p[1] == 's') {
            mult = 1;
            p += 2;
        } else if (*p == 's') {
            mult = 1000;
            p++;
        } else if (*p == 'm') {
            mult = 60000;
            p++;
        } else if (*p == 'h') {
            mult = 3600000;
            p++;
        } else if (*p == 'd') {
            mult = 86400000;
            p++;
        } else {
            return -1;
        }
        if (v < 0 || v > INT64_MAX / mult / 2)
            return -1;
        total += v * mult;
    }
    *ms = total;
    return 0;
}

