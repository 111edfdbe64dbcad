/* Token -> LSTM input: tokenizer version 1, the id's embedding row as int16; version 2, the
 * hash embedding (docs/tokenizer.md section 7, docs/integer-lstm.md section 4a) as int8. */
#include <stddef.h>
#include <string.h>

#include "tl_embedding.h"
#include "tl_fixed_internal.h"

#define ROW_SALT 0x9E3779B9u
#define BUCKET_SALT 0x85EBCA6Bu

/* murmur3's fmix32 */
static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

uint32_t tl_hash_row(uint32_t h, uint32_t j, uint32_t vocab_size)
{
    const uint32_t span = vocab_size - TL_RESERVED_IDS;
    return TL_RESERVED_IDS + (j == 0u ? h : mix32(h ^ (j * ROW_SALT))) % span;
}

uint32_t tl_hash_bucket(uint32_t h, uint32_t buckets) { return mix32(h ^ BUCKET_SALT) % buckets; }

void tl_embedding_hash_s8(const tl_hash_embedding_t *e, uint32_t hash, int8_t *x)
{
    const int8_t *rows[4];
    int32_t w[4] = {1, 1, 1, 1};
    const int8_t *imp =
        e->importance != NULL ? e->importance + (size_t)tl_hash_bucket(hash, e->buckets) * e->hashes
                              : NULL;
    for (uint32_t j = 0; j < e->hashes; j++) {
        rows[j] = e->emb + (size_t)tl_hash_row(hash, j, e->vocab_size) * e->embed_dim;
        if (imp != NULL) {
            w[j] = imp[j];
        }
    }
    for (uint32_t c = 0; c < e->embed_dim; c++) {
        int32_t acc = 0; /* |acc| <= 4 * 128 * 128 */
        for (uint32_t j = 0; j < e->hashes; j++) {
            acc += w[j] * rows[j][c];
        }
        int64_t r = tl_requant_inline(acc, e->m, e->n);
        x[c] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
    }
}

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
