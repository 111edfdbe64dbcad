/**
 * @file tl_embedding.h
 * @brief Token id -> LSTM input (docs/integer-lstm.md section 5; tokenizer version 1: the id's
 *        embedding row), written as int16 for the paired-row products.
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

#ifdef __cplusplus
}
#endif
#endif /* TL_EMBEDDING_H */
