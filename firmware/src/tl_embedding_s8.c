/* Token id -> LSTM input as int16 (tokenizer version 1: the id's embedding row). */
#include <stddef.h>
#include <string.h>

#include "tl_embedding.h"

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* Four int8 -> two words of int16 pairs in column order: SXTB16 splits even and odd bytes,
 * PKHBT/PKHTB put (x0, x1) and (x2, x3) back together. */
static inline void widen4(const int8_t *src, uint32_t *dst)
{
    uint32_t v, even, odd, lo, hi;
    memcpy(&v, src, sizeof v);
    __asm__("sxtb16 %[e], %[v]\n\t"
            "sxtb16 %[o], %[v], ror #8\n\t"
            "pkhbt  %[lo], %[e], %[o], lsl #16\n\t"
            "pkhtb  %[hi], %[o], %[e], asr #16"
            : [e] "=&r"(even), [o] "=&r"(odd), [lo] "=&r"(lo), [hi] "=r"(hi)
            : [v] "r"(v));
    dst[0] = lo;
    dst[1] = hi;
}
#endif

void tl_embedding_s8(const int8_t *emb, uint32_t dim, uint32_t id, int16_t *x)
{
    const int8_t *row = emb + (size_t)id * dim;
    uint32_t j = 0;
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
    for (; j + 4u <= dim; j += 4u) {
        uint32_t w[2];
        widen4(row + j, w);
        memcpy(x + j, w, sizeof w);
    }
#endif
    for (; j < dim; j++) {
        x[j] = row[j];
    }
}

void tl_embedding_x2_s8(const int8_t *emb, uint32_t dim, uint32_t id_a, uint32_t id_b,
                        int16_t *xab)
{
    const int8_t *ra = emb + (size_t)id_a * dim;
    const int8_t *rb = emb + (size_t)id_b * dim;
    const uint32_t groups = (dim + 3u) / 4u;
    for (uint32_t q = 0; q < groups; q++) {
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
        if (4u * q + 4u <= dim) {
            uint32_t w[4];
            widen4(ra + 4u * q, w);
            widen4(rb + 4u * q, w + 2);
            memcpy(xab + 8u * q, w, sizeof w);
            continue;
        }
#endif
        for (uint32_t k = 0; k < 4u; k++) {
            uint32_t j = 4u * q + k;
            xab[8u * q + k] = j < dim ? ra[j] : 0;
            xab[8u * q + 4u + k] = j < dim ? rb[j] : 0;
        }
    }
}
