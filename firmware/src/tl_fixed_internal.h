/* Internal fixed-point helpers shared by the kernels (docs/integer-lstm.md section 2).
 * Every right shift that drops bits rounds half up; signed right shifts are arithmetic on
 * every compiler this firmware supports (GCC, Clang), which the static assert checks. */
#ifndef TL_FIXED_INTERNAL_H
#define TL_FIXED_INTERNAL_H

#include <stdint.h>

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_SAT)
/* SSAT as inline assembly: GCC 12's __ssat macro trips -Wsign-conversion. */
#define TL_SSAT(bits, x)                                                  \
    __extension__({                                                       \
        int32_t tl_ssat_r_;                                               \
        __asm__("ssat %0, #" #bits ", %1" : "=r"(tl_ssat_r_) : "r"(x));   \
        tl_ssat_r_;                                                       \
    })
#endif

_Static_assert((-3 >> 1) == -2, "signed right shift must be arithmetic");
_Static_assert((((int64_t)-3) >> 1) == -2, "signed right shift must be arithmetic");

static inline int64_t tl_rshift_round64(int64_t x, int32_t n)
{
    return (x + ((int64_t)1 << (n - 1))) >> n;
}

static inline int32_t tl_rshift_round32(int32_t x, int32_t n)
{
    return (x + (1 << (n - 1))) >> n;
}

static inline int64_t tl_requant_inline(int32_t a, int32_t m, int32_t n)
{
    return tl_rshift_round64((int64_t)a * m, n);
}

static inline int16_t tl_sat16(int64_t x)
{
    return (int16_t)(x < -32768 ? -32768 : (x > 32767 ? 32767 : x));
}

static inline int8_t tl_sat8(int32_t x)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_SAT)
    return (int8_t)TL_SSAT(8, x);
#else
    return (int8_t)(x < -128 ? -128 : (x > 127 ? 127 : x));
#endif
}

static inline int32_t tl_sat32(int64_t x)
{
    return (int32_t)(x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x));
}

/* Section 3: out = lut[k] + rshift_round((lut[k+1] - lut[k]) * frac, 7). */
static inline int16_t tl_lut_interp(const int16_t *lut, int16_t z)
{
    uint32_t u = (uint32_t)((int32_t)z + 32768);
    uint32_t k = u >> 7;
    int32_t frac = (int32_t)(u & 127u);
    int32_t lo = lut[k];
    int32_t d = (int32_t)lut[k + 1] - lo;
    return (int16_t)(lo + tl_rshift_round32(d * frac, 7));
}

/* Wrapping int32 addition (the blob's bias is arbitrary; overflow must not be UB). */
static inline int32_t tl_add_wrap32(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* floor(p / 2^n), 1 <= n <= 62 (an arithmetic shift). */
static inline int64_t tl_shr64(int64_t p, int32_t n) { return p >> n; }

static inline int32_t tl_sat16_32(int32_t x)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_SAT)
    return TL_SSAT(16, x); /* one SSAT instead of two compares */
#else
    return x < -32768 ? -32768 : (x > 32767 ? 32767 : x);
#endif
}

#endif /* TL_FIXED_INTERNAL_H */
