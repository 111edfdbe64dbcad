/* int8 x int8 -> int32 matrix-vector product over row-major weights (the head).
 * The portable C loop is the reference; the Cortex-M4 DSP path (TL_USE_DSP) does two
 * multiply-accumulates per SMLAD on sign-extended halfword pairs (SXTB16): x is unpacked once
 * per call, and four weight rows share each load of it. int32 sums of at most
 * 256 products of |127 * 128| cannot overflow, so both paths are exact and equal. */
#include <string.h>

#include "tl_matvec.h"

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

static inline int32_t load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v); /* Cortex-M4 LDR allows unaligned addresses */
    return v;
}

/* Bytes 1 and 3 sign-extended into two halfwords: SXTB16 with its built-in ROR #8 (GCC 12's
 * arm_acle.h has no __ror to let the intrinsic express it). */
static inline int16x2_t sxtb16_ror8(int32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* Sum of w[j] * x[j] for four bytes: x02/x13 are x's even/odd bytes as halfword pairs. */
#define TL_MAC4(acc, wv, x02, x13)                              \
    do {                                                        \
        (acc) = __smlad(__sxtb16(wv), (x02), (acc));            \
        (acc) = __smlad(sxtb16_ror8(wv), (x13), (acc));         \
    } while (0)

/* One group of 4 columns for rows r..r+3 (at p0, p0 + cols, p2, p2 + cols): 21 instructions
 * for 16 multiply-accumulates. Written in assembly because GCC 12 spills the row pointers of
 * the C version to the stack. */
#define TL_MAC_4x4                                                \
    "ldrd   %[x02], %[x13], [%[xp]], #8\n\t"                      \
    "ldr    %[v], [%[p0], %[cols]]\n\t"                           \
    "sxtb16 %[t], %[v]\n\t"                                       \
    "smlad  %[a1], %[t], %[x02], %[a1]\n\t"                       \
    "sxtb16 %[v], %[v], ror #8\n\t"                               \
    "smlad  %[a1], %[v], %[x13], %[a1]\n\t"                       \
    "ldr    %[v], [%[p0]], #4\n\t"                                \
    "sxtb16 %[t], %[v]\n\t"                                       \
    "smlad  %[a0], %[t], %[x02], %[a0]\n\t"                       \
    "sxtb16 %[v], %[v], ror #8\n\t"                               \
    "smlad  %[a0], %[v], %[x13], %[a0]\n\t"                       \
    "ldr    %[v], [%[p2], %[cols]]\n\t"                           \
    "sxtb16 %[t], %[v]\n\t"                                       \
    "smlad  %[a3], %[t], %[x02], %[a3]\n\t"                       \
    "sxtb16 %[v], %[v], ror #8\n\t"                               \
    "smlad  %[a3], %[v], %[x13], %[a3]\n\t"                       \
    "ldr    %[v], [%[p2]], #4\n\t"                                \
    "sxtb16 %[t], %[v]\n\t"                                       \
    "smlad  %[a2], %[t], %[x02], %[a2]\n\t"                       \
    "sxtb16 %[v], %[v], ror #8\n\t"                               \
    "smlad  %[a2], %[v], %[x13], %[a2]\n\t"

/* Rows r..r+3 over `quads` >= 1 groups of 4 columns; xp holds the unpacked x pairs. Pairs of
 * groups per loop iteration: 44 instructions per 32 multiply-accumulates. */
static inline void mac_4rows(const int8_t *p0, const int8_t *p2, uint32_t cols,
                             const int16x2_t *xp, uint32_t quads, int32_t acc[4])
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t x02, x13, v, t;
    uint32_t pairs = quads / 2u;
    if (quads & 1u) {
        __asm__ volatile(TL_MAC_4x4
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                           [p0] "+r"(p0), [p2] "+r"(p2), [xp] "+r"(xp), [x02] "=&r"(x02),
                           [x13] "=&r"(x13), [v] "=&r"(v), [t] "=&r"(t)
                         : [cols] "r"(cols)
                         : "memory");
    }
    if (pairs != 0u) {
        __asm__ volatile("1:\n\t" TL_MAC_4x4 TL_MAC_4x4
                         "subs   %[k], %[k], #1\n\t"
                         "bne    1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                           [p0] "+r"(p0), [p2] "+r"(p2), [xp] "+r"(xp), [k] "+r"(pairs),
                           [x02] "=&r"(x02), [x13] "=&r"(x13), [v] "=&r"(v), [t] "=&r"(t)
                         : [cols] "r"(cols)
                         : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The common shape (rows % 4 == 0, cols a multiple of 8 up to 256): whole 4-row blocks with
 * nothing but the assembly loop inside, so GCC keeps the block loop's state in registers. */
static void blocks_4rows(const int8_t *p0, uint32_t blocks, uint32_t cols, const int16x2_t *xp,
                         uint32_t pairs, int32_t *out)
{
    do {
        const int8_t *p2 = p0 + 2u * cols;
        const int16x2_t *px = xp;
        uint32_t k = pairs;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32_t x02, x13, v, t;
        __asm__ volatile("1:\n\t" TL_MAC_4x4 TL_MAC_4x4
                         "subs   %[k], %[k], #1\n\t"
                         "bne    1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                           [p0] "+r"(p0), [p2] "+r"(p2), [xp] "+r"(px), [k] "+r"(k),
                           [x02] "=&r"(x02), [x13] "=&r"(x13), [v] "=&r"(v), [t] "=&r"(t)
                         : [cols] "r"(cols)
                         : "cc", "memory");
        out[0] = a0;
        out[1] = a1;
        out[2] = a2;
        out[3] = a3;
        out += 4;
        p0 = p2 + cols; /* p2 ended at row r+2's end = row r+3's start */
    } while (--blocks != 0u);
}

void tl_matvec_s8(const int8_t *w, const int8_t *x, uint32_t rows, uint32_t cols, int32_t *out)
{
    /* 1. Unpack x once: for each 4 bytes, (x0, x2) and (x1, x3) as signed halfword pairs. */
    int16x2_t xp[128];
    const uint32_t quads = cols / 4u <= 64u ? cols / 4u : 64u;
    const uint32_t tail = quads * 4u;
    for (uint32_t q = 0; q < quads; q++) {
        int32_t xv = load32(x + 4u * q);
        xp[2u * q] = __sxtb16(xv);
        xp[2u * q + 1u] = sxtb16_ror8(xv);
    }
    /* 2. Four rows at a time: one LDRD of x pairs feeds eight SMLADs. */
    uint32_t r = 0;
    if (tail == cols && quads % 2u == 0u && quads != 0u && rows >= 4u) {
        blocks_4rows(w, rows / 4u, cols, xp, quads / 2u, out);
        r = rows & ~3u;
    }
    for (; r + 4u <= rows; r += 4u) {
        const int8_t *p0 = w + (size_t)r * cols;
        const int8_t *p2 = p0 + 2u * cols;
        int32_t a[4] = {0, 0, 0, 0};
        if (quads != 0u) {
            mac_4rows(p0, p2, cols, xp, quads, a);
        }
        for (uint32_t j = tail; j < cols; j++) {
            int32_t xj = x[j];
            a[0] += p0[j] * xj;
            a[1] += p0[cols + j] * xj;
            a[2] += p2[j] * xj;
            a[3] += p2[cols + j] * xj;
        }
        out[r] = a[0];
        out[r + 1u] = a[1];
        out[r + 2u] = a[2];
        out[r + 3u] = a[3];
    }
    for (; r < rows; r++) {
        const int8_t *p0 = w + (size_t)r * cols;
        int32_t acc = 0;
        for (uint32_t q = 0; q < quads; q++) {
            int32_t v = load32(p0 + 4u * q);
            TL_MAC4(acc, v, xp[2u * q], xp[2u * q + 1u]);
        }
        for (uint32_t j = tail; j < cols; j++) {
            acc += p0[j] * x[j];
        }
        out[r] = acc;
    }
}

#else /* portable reference */

void tl_matvec_s8(const int8_t *w, const int8_t *x, uint32_t rows, uint32_t cols, int32_t *out)
{
    for (uint32_t r = 0; r < rows; r++) {
        const int8_t *wr = w + (size_t)r * cols;
        int32_t acc = 0;
        for (uint32_t j = 0; j < cols; j++) {
            acc += (int32_t)wr[j] * (int32_t)x[j];
        }
        out[r] = acc;
    }
}

#endif
