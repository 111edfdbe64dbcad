/* int8 x int8 -> int32 matrix-vector product, the inner loop of every LSTM gate and the head.
 * The portable C loop is the reference; the Cortex-M4 DSP path (TL_USE_DSP) does two
 * multiply-accumulates per SMLAD on sign-extended halfword pairs (SXTB16) over four rows at
 * a time, so each input word is loaded and unpacked once per four rows. int32 sums of at most
 * 256 products of |127 * 128| cannot overflow, so both paths are exact and equal. */
#include <string.h>

#include "tl_lstm.h"

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

void tl_matvec_s8(const int8_t *w, const int8_t *x, uint32_t rows, uint32_t cols, int32_t *out)
{
    uint32_t r = 0;
    for (; r + 4u <= rows; r += 4u) {
        const int8_t *w0 = w + (size_t)r * cols;
        const int8_t *w1 = w0 + cols;
        const int8_t *w2 = w1 + cols;
        const int8_t *w3 = w2 + cols;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        uint32_t j = 0;
        for (; j + 4u <= cols; j += 4u) {
            int32_t xv = load32(x + j);
            int16x2_t x02 = __sxtb16(xv);
            int16x2_t x13 = sxtb16_ror8(xv);
            int32_t v0 = load32(w0 + j);
            int32_t v1 = load32(w1 + j);
            int32_t v2 = load32(w2 + j);
            int32_t v3 = load32(w3 + j);
            TL_MAC4(a0, v0, x02, x13);
            TL_MAC4(a1, v1, x02, x13);
            TL_MAC4(a2, v2, x02, x13);
            TL_MAC4(a3, v3, x02, x13);
        }
        for (; j < cols; j++) {
            int32_t xj = x[j];
            a0 += w0[j] * xj;
            a1 += w1[j] * xj;
            a2 += w2[j] * xj;
            a3 += w3[j] * xj;
        }
        out[r] = a0;
        out[r + 1u] = a1;
        out[r + 2u] = a2;
        out[r + 3u] = a3;
    }
    for (; r < rows; r++) {
        const int8_t *wr = w + (size_t)r * cols;
        int32_t acc = 0;
        uint32_t j = 0;
        for (; j + 4u <= cols; j += 4u) {
            int32_t xv = load32(x + j);
            int32_t v = load32(wr + j);
            TL_MAC4(acc, v, __sxtb16(xv), sxtb16_ror8(xv));
        }
        for (; j < cols; j++) {
            acc += wr[j] * x[j];
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
