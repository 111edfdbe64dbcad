/**
 * @file tl_crf.h
 * @brief Linear-chain CRF decoding of the entity tagger (docs/integer-lstm.md section 8).
 */
#ifndef TL_CRF_H
#define TL_CRF_H

#include <stddef.h>
#include <stdint.h>

#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief |emission| bound the decoder accepts (the tag head clamps to it). */
#define TL_CRF_EMISSION_LIMIT (1L << 27)
/** @brief |transition|, |start|, |end| bound (checked by the blob reader). */
#define TL_CRF_SCORE_LIMIT (1L << 20)
/** @brief Most tags a backpointer (uint8) can name. */
#define TL_CRF_MAX_TAGS 255u

/** @brief CRF scores, Q.10 int32 (pointers into a model blob). */
typedef struct {
    const int32_t *transitions; /**< [K][K], row = previous tag, column = next tag */
    const int32_t *start;       /**< [K] score of the first tag */
    const int32_t *end;         /**< [K] score of the last tag */
    uint32_t num_tags;          /**< K, 2..TL_CRF_MAX_TAGS */
} tl_crf_t;

/** @brief Version of docs/integer-lstm.md section 8 (the tagger) implemented here. */
#define TL_TAGGER_SPEC_VERSION 1

/** @brief Tag head tensors (pointers into a model blob, docs/model-blob.md tagging section). */
typedef struct {
    const int8_t *w;  /**< [K][2H] weights: columns 0..H-1 read h_fwd(t), H..2H-1 h_bwd(t) */
    const int32_t *b; /**< [K] bias at scale s_w[k] / 128 */
    const int32_t *m; /**< [K] requant multipliers, [2^30, 2^31) */
    const int32_t *n; /**< [K] requant shifts, 1..62 */
} tl_tag_head_t;

/**
 * @brief Adds one direction's share of a token's tag-head products:
 *        acc[k] += sum_{j < H} w[k][col0 + j] * h[j] for the K tags.
 * The emission accumulator of a token is the sum of both directions' shares, so the states
 * need not be kept: each direction adds its share as it steps (the sum is exact in int32:
 * |acc| <= 2H x 127 x 128 < 2^24).
 * @param[in]     w        int8 [K][row_len] tag head weights
 * @param[in]     row_len  2H
 * @param[in]     col0     0 (forward direction) or H (backward direction)
 * @param[in]     h        int16 [H] hidden state, Q0.7 values (the LSTM state's h half)
 * @param[in,out] acc      int32 [K]
 */
void tl_tag_head_acc_s8(const int8_t *w, uint32_t row_len, uint32_t col0, const int16_t *h,
                        uint32_t hidden, uint32_t num_tags, int32_t *acc);

/**
 * @brief Emissions from the accumulators, in place:
 *        e[k] = clamp(requant(b[k] + acc[k], m[k], n[k]), -TL_CRF_EMISSION_LIMIT,
 *        TL_CRF_EMISSION_LIMIT) (Q.10; the bias add wraps in int32 like the head's).
 * @param[in,out] acc  int32 [num_tags]: accumulators in, emissions out
 */
void tl_tag_head_requant_s32(const tl_tag_head_t *head, uint32_t num_tags, int32_t *acc);

/** @brief Scratch bytes tl_crf_viterbi_s32() needs: T x K uint8 backpointers + 2 K int32. */
size_t tl_crf_viterbi_s32_get_buffer_size(uint32_t num_tokens, uint32_t num_tags);

/**
 * @brief Best tag path by integer Viterbi.
 *
 * score[k] = start[k] + e[0][k]; for t >= 1: prev[j] = the lowest i maximising
 * score[i] + trans[i][j], score'[j] = score[prev[j]] + trans[prev[j]][j] + e[t][j]; after every
 * step the largest score is subtracted from all (every value stays in int32); the last tag is
 * the lowest k maximising score[k] + end[k], then the backpointers are followed.
 * @param[in]  emissions  int32 [num_tokens][num_tags], each |e| <= TL_CRF_EMISSION_LIMIT
 * @param[out] tags       uint8 [num_tokens]
 * @param      scratch    at least tl_crf_viterbi_s32_get_buffer_size() bytes, 4-byte aligned
 * @return TL_OK; TL_ERR_ARG for NULL pointers, K out of range or an emission out of bounds;
 *         TL_ERR_BUFFER when the scratch is too small. num_tokens = 0 is valid (no tags).
 */
tl_status_t tl_crf_viterbi_s32(const tl_crf_t *crf, const int32_t *emissions,
                               uint32_t num_tokens, uint8_t *tags, void *scratch,
                               size_t scratch_size);

#ifdef __cplusplus
}
#endif
#endif /* TL_CRF_H */
