/* rs_checked.h: arithmetic on values that come from untrusted input (timestamps and sizes read
 * from the store, region reports, HEAD, change records), without undefined behaviour.
 *
 * Signed overflow is undefined in C, and a decoded Timestamp can hold any int64 seconds, so
 * `seconds * 1000` and `now - t` must not be written plainly when the operands are not ours.
 * Each helper either reports the overflow (returns false, *out untouched) or saturates, as named.
 * Header only, no state; built on the compiler's __builtin_*_overflow.
 */
#ifndef RS_CHECKED_H
#define RS_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The __builtin_*_overflow functions store the wrapped result even on overflow; these store
 * only a result that fits. */
#define RS_CHECKED_OP_(name, type, builtin)                                                                            \
    static inline bool name(type a, type b, type *out)                                                                 \
    {                                                                                                                  \
        type r;                                                                                                        \
        if (builtin(a, b, &r))                                                                                         \
            return false;                                                                                              \
        *out = r;                                                                                                      \
        return true;                                                                                                   \
    }

/* a + b / a * b for sizes; false (and *out untouched) when the result does not fit in size_t. */
RS_CHECKED_OP_(rs_size_add, size_t, __builtin_add_overflow)
RS_CHECKED_OP_(rs_size_mul, size_t, __builtin_mul_overflow)

/* a + b / a - b / a * b for int64; false (and *out untouched) when the result does not fit. */
RS_CHECKED_OP_(rs_i64_add, int64_t, __builtin_add_overflow)
RS_CHECKED_OP_(rs_i64_sub, int64_t, __builtin_sub_overflow)
RS_CHECKED_OP_(rs_i64_mul, int64_t, __builtin_mul_overflow)

/* a - b clamped to [INT64_MIN, INT64_MAX]: for ages and lags computed from untrusted times. */
static inline int64_t rs_i64_sub_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_sub_overflow(a, b, &r))
        return r;
    return b < 0 ? INT64_MAX : INT64_MIN;
}

/* A google.protobuf.Timestamp (seconds, nanos) as milliseconds since the epoch:
 * seconds * 1000 + nanos / 1000000 (nanos truncated toward zero, as before). false when that is
 * outside int64; nanos outside the Timestamp's 0..999999999 still convert (to at most +-2147 ms)
 * and never overflow on their own. */
static inline bool rs_ts_to_ms(int64_t seconds, int32_t nanos, int64_t *out)
{
    int64_t ms;
    return rs_i64_mul(seconds, 1000, &ms) && rs_i64_add(ms, nanos / 1000000, out);
}

/* The same, 0 ("no time") when the time does not fit: the convention of the decoders, where an
 * absent Timestamp is 0 too. */
static inline int64_t rs_ts_to_ms_or_zero(int64_t seconds, int32_t nanos)
{
    int64_t ms;
    return rs_ts_to_ms(seconds, nanos, &ms) ? ms : 0;
}

#endif
