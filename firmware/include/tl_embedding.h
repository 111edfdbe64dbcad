/**
 * @file tl_embedding.h
 * @brief Token -> LSTM input (docs/integer-lstm.md section 4a): tokenizer version 1, the id's
 *        embedding row, written as int16 for the paired-row products; version 2, the hash
 *        embedding (K rows per token weighed by an importance bucket, docs/tokenizer.md
 *        section 7), written as int8.
 */
#ifndef TL_EMBEDDING_H
#define TL_EMBEDDING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief x[j] = emb[id][j] for j < dim (int8 -> int16). */
void tl_embedding_s8(const int8_t *emb, uint32_t dim, uint32_t id, int16_t *x);

/**
 * @brief The inputs of two tokens interleaved per group of 4 columns, the layout
 *        tl_matvec_paired_x2_s8() reads: xab[8q + k] = emb[id_a][4q + k],
 *        xab[8q + 4 + k] = emb[id_b][4q + k] (zero past @p dim).
 * @param[out] xab int16 [ceil(dim / 4) * 8]
 */
void tl_embedding_x2_s8(const int8_t *emb, uint32_t dim, uint32_t id_a, uint32_t id_b,
                        int16_t *xab);

/** @brief Reserved ids (0 padding, 1 reserved): rows are R + (hash mod (V - R)). */
#define TL_RESERVED_IDS 2u

/** @brief A hash embedding (pointers into a model blob). */
typedef struct {
    const int8_t *emb;        /**< [V][E] table */
    const int8_t *importance; /**< [P][K] importance weights, NULL when P = 0 (weights 1) */
    uint32_t vocab_size;      /**< V */
    uint32_t embed_dim;       /**< E */
    uint32_t hashes;          /**< K, 1..4 */
    uint32_t buckets;         /**< P, 0..65535 */
    int32_t m;                /**< multiplier of the weighed sum, [2^30, 2^31) */
    int32_t n;                /**< its shift, 1..62 */
} tl_hash_embedding_t;

/** @brief Table row j (0..K-1) of key hash @p h: row_j(h) of docs/tokenizer.md section 7. */
uint32_t tl_hash_row(uint32_t h, uint32_t j, uint32_t vocab_size);

/** @brief Importance bucket of key hash @p h (@p buckets >= 1). */
uint32_t tl_hash_bucket(uint32_t h, uint32_t buckets);

/**
 * @brief x[e] = sat8(requant(sum_j w_j * emb[row_j(h)][e], M, n)) for e < E
 *        (docs/integer-lstm.md section 4a; w_j = importance[bucket(h)][j], or 1 when P = 0).
 * @param[out] x int8 [E]
 */
void tl_embedding_hash_s8(const tl_hash_embedding_t *e, uint32_t hash, int8_t *x);

#ifdef __cplusplus
}
#endif
#endif /* TL_EMBEDDING_H */
