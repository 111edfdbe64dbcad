/**
 * @file tl_lstm.h
 * @brief Integer LSTM kernels of docs/integer-lstm.md (version 1): one step and a whole
 *        sequence for one direction (matrix products: tl_matvec.h, activations:
 *        tl_activation.h, requantisation: tl_requant.h).
 */
#ifndef TL_LSTM_H
#define TL_LSTM_H

#include <stddef.h>
#include <stdint.h>

#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Version of docs/integer-lstm.md implemented here. */
#define TL_INTLSTM_SPEC_VERSION 1

/** @brief Tensors of one LSTM direction (pointers into a model blob). Rows: 4H, gates i,f,g,o. */
typedef struct {
    const int8_t *wx;   /**< [4H][E] input weights */
    const int8_t *wh;   /**< [4H][H] recurrent weights */
    const int32_t *b;   /**< [4H] bias at scale s_wx * s_x */
    const int32_t *mx;  /**< [4H] input requant multipliers, [2^30, 2^31) */
    const int32_t *nx;  /**< [4H] input requant shifts, 1..62 */
    const int32_t *mh;  /**< [4H] recurrent requant multipliers */
    const int32_t *nh;  /**< [4H] recurrent requant shifts */
    uint32_t shifts_ge32; /**< 1 if every nx and nh is >= 32 (set by tl_blob_parse; enables an
                               exact 32-bit requant path; 0 always gives the same results) */
} tl_lstm_dir_t;

/** @brief Scratch bytes needed by tl_lstm_step_s8() / tl_lstm_sequence_s8() for hidden size H. */
size_t tl_lstm_get_buffer_size(uint32_t hidden);

/**
 * @brief One LSTM step (section 4): updates @p h and @p c in place.
 * @param[in]     dir     the direction's tensors
 * @param[in]     x       int8 [E] input
 * @param[in,out] h       int8 [H] hidden state, Q0.7
 * @param[in,out] c       int16 [H] cell state, Q3.12
 * @param[in]     embed_dim E; @param hidden H
 * @param[in]     scratch at least tl_lstm_get_buffer_size(H) bytes, 4-byte aligned
 */
tl_status_t tl_lstm_step_s8(const tl_lstm_dir_t *dir, const int8_t *x, int8_t *h, int16_t *c,
                            uint32_t embed_dim, uint32_t hidden, void *scratch,
                            size_t scratch_size);

/**
 * @brief One LSTM step given the input projection: @p ax holds Wx * x (no bias) and is
 *        overwritten; @p ah is scratch of 4H int32. Same result as tl_lstm_step_s8().
 */
void tl_lstm_step_ax_s8(const tl_lstm_dir_t *dir, int32_t *ax, int8_t *h, int16_t *c, uint32_t hidden,
                     int32_t *ah);

/**
 * @brief Runs one direction over @p n_ids tokens from h = 0, c = 0 (section 5).
 * @param[in]  emb      int8 [V][E] embedding table
 * @param[in]  ids      token ids, each < @p vocab_size
 * @param[in]  reverse  0: t = 0..T-1 (forward); 1: t = T-1..0 (backward)
 * @param[out] h_final  int8 [H] final hidden state (zero when @p n_ids is 0)
 * @param[out] c_state  int16 [H] caller buffer for the cell state
 * @return TL_OK; TL_ERR_ARG when an id is >= vocab_size
 */
tl_status_t tl_lstm_sequence_s8(const tl_lstm_dir_t *dir, const int8_t *emb, uint32_t vocab_size,
                             const uint16_t *ids, uint32_t n_ids, int reverse, uint32_t embed_dim,
                             uint32_t hidden, int8_t *h_final, int16_t *c_state, void *scratch,
                             size_t scratch_size);

#ifdef __cplusplus
}
#endif
#endif /* TL_LSTM_H */
