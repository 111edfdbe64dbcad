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

/* requant() for n >= 32, where the result fits 30 bits, without 64-bit shifts. With
 * P = a * M = hi * 2^32 + lo (0 <= lo < 2^32):
 *   n == 32: floor((P + 2^31) / 2^32) = hi + (lo >= 2^31)
 *   n >  32: the rounding constant 2^(n-1) has no low word, and lo / 2^32 < 1 cannot change
 *            a floor over 2^(n-32) of the integer hi + 2^(n-33), so the result is
 *            (hi + 2^(n-33)) >> (n - 32)   (|hi| < 2^30, so nothing overflows). */
static inline int32_t tl_requant_hi(int32_t a, int32_t m, int32_t n)
{
    /* Branch-free form of the two cases: with s = n - 32, the rounding constant 2^(n-1) is
     * (2^s >> 1) * 2^32 + (2^s << 31 mod 2^32), so one multiply-accumulate (SMLAL) adds it. */
    uint32_t s = (uint32_t)(n - 32);
    uint32_t one = 1u << s;
    uint64_t rnd = ((uint64_t)(one >> 1) << 32) | (uint32_t)(one << 31);
    int64_t p = (int64_t)a * m + (int64_t)rnd;
    return (int32_t)(p >> 32) >> s;
}

static inline int32_t tl_sat16_32(int32_t x)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_SAT)
    return TL_SSAT(16, x); /* one SSAT instead of two compares */
#else
    return x < -32768 ? -32768 : (x > 32767 ? 32767 : x);
#endif
}

/* Section 4: z = sat16(requant(ax, mx, nx) + requant(ah, mh, nh)), exactly; the common case
 * (both shifts >= 32, as the converter produces for real models) stays in 32 bits. */
static inline int16_t tl_gate_preact(int32_t ax, int32_t mx, int32_t nx, int32_t ah, int32_t mh,
                                     int32_t nh)
{
    if (nx >= 32 && nh >= 32) {
        return (int16_t)tl_sat16_32(tl_requant_hi(ax, mx, nx) + tl_requant_hi(ah, mh, nh));
    }
    return tl_sat16(tl_requant_inline(ax, mx, nx) + tl_requant_inline(ah, mh, nh));
}

#endif /* TL_FIXED_INTERNAL_H */
