/**
 * @file tl_head.h
 * @brief Classification head (docs/integer-lstm.md section 6), argmax and confidence.
 */
#ifndef TL_HEAD_H
#define TL_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Head tensors (pointers into a model blob). */
typedef struct {
    const int8_t *w;   /**< [C][2H] weights */
    const int32_t *b;  /**< [C] bias at scale s_wo / 128 */
    const int32_t *m;  /**< [C] requant multipliers, [2^30, 2^31) */
    const int32_t *n;  /**< [C] requant shifts, 1..62 */
} tl_head_t;

/** @brief Scratch bytes needed by tl_fully_connected_s8() for C labels. */
size_t tl_head_get_buffer_size(uint32_t num_labels);

/**
 * @brief logit[k] = requant(b[k] + sum_j w[k][j] * p[j], m[k], n[k]), Q.10.
 *
 * The requantised value is saturated to int32 (the spec types logits as int32).
 * @param[in]  pooled  int8 [in_dim] pooled features, Q0.7
 * @param[out] logits  int32 [num_labels]
 * @param      scratch at least tl_head_get_buffer_size(num_labels) bytes, 4-byte aligned
 */
tl_status_t tl_fully_connected_s8(const tl_head_t *head, const int8_t *pooled, uint32_t in_dim,
                           uint32_t num_labels, int32_t *logits, void *scratch,
                           size_t scratch_size);

/** @brief Index of the largest value; the lowest index wins a tie. @p n must be >= 1. */
uint32_t tl_argmax_s32(const int32_t *v, uint32_t n);

/**
 * @brief Softmax probability of the top logit, computed in float on logit / 2^frac_bits.
 *
 * Not part of the bit-exact contract; built with -ffp-contract=off on every target.
 */
float tl_confidence_f32(const int32_t *logits, uint32_t n, int32_t frac_bits);

#ifdef __cplusplus
}
#endif
#endif /* TL_HEAD_H */
