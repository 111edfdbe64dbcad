/**
 * @file tl_lstm.h
 * @brief Integer LSTM kernels of docs/integer-lstm.md (version 1) over the format-2 blob layout
 *        (docs/model-blob.md): gate pre-activations, the cell update, one step and a whole
 *        sequence for one direction (matrix products: tl_matvec.h, activations:
 *        tl_activation.h, requantisation: tl_requant.h, embedding: tl_embedding.h).
 *
 * Rows are in the blob's stored order: gate-interleaved, so stored row 4u + g is gate g (i, f,
 * g, o) of hidden unit u. The state of a direction is int16 [2H]: the cell state c (Q3.12),
 * then the hidden state h (Q0.7 values -128..127, the form the paired-row products read).
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
#define TL_INTLSTM_SPEC_VERSION 2

/** @brief Forms of the DSP path's requantisation a direction's records fit (fast_requant). */
#define TL_REQUANT_GE32 1u /**< every nx, nh >= 32: hi32(p) >> S, one shift per term */
#define TL_REQUANT_GE31 2u /**< nx >= 31, nh >= 32, |b| <= 2^28: the input term as
                                floor(p / 2^31) >> (S + 1), from both words */

/**
 * @brief Requant record of one stored row (docs/model-blob.md): CH:CL is a 64-bit offset,
 *        b * Mx + 2^(nx-1) for the input term (the bias folded in) and 2^(nh-1) for the
 *        recurrent one, and S = n - 32; for n >= 32, requant(a + b, M, n) = hi32(a * M + CH:CL)
 *        >> S: one 64-bit multiply-accumulate and one shift.
 */
typedef struct {
    int32_t mx;  /**< input multiplier, [2^30, 2^31) */
    int32_t clx; /**< low word of b * mx + 2^(nx-1) */
    int32_t chx; /**< high word */
    int32_t sx;  /**< nx - 32, -31..30 */
    int32_t mh;  /**< recurrent multiplier */
    int32_t clh; /**< low word of 2^(nh-1) */
    int32_t chh; /**< high word */
    int32_t sh;  /**< nh - 32 */
} tl_lstm_rq_t;

/** @brief Tensors of one LSTM direction (pointers into a model blob). */
typedef struct {
    const int16_t *wx;      /**< [2H * E] paired-row input weights, blocked (tl_matvec.h) */
    const int16_t *wh;      /**< [2H * H] paired-row recurrent weights, blocked */
    const tl_lstm_rq_t *rq; /**< [4H] requant records */
    uint32_t fast_requant;  /**< TL_REQUANT_GE32 or TL_REQUANT_GE31 when every record fits
                                 that form of the DSP path's requantisation, else 0 (set by
                                 tl_blob_parse; 0 always gives the same results) */
} tl_lstm_dir_t;

/**
 * @brief Gate pre-activations (section 4): z[s] = sat16(requant(ax[s] + b, Mx, nx) +
 *        requant(ah[s], Mh, nh)) for the @p rows stored rows.
 * @param[in]  ax  int32 [rows] input products (no bias); @param[in] ah int32 [rows] recurrent
 * @param[out] z   int32 [rows], Q3.12 values in the int16 range; may be @p ax (each z[s] is
 *                 written after ax[s] is read)
 */
void tl_lstm_preact_s32(const tl_lstm_dir_t *dir, const int32_t *ax, const int32_t *ah,
                        uint32_t rows, int32_t *z);

/**
 * @brief Cell and hidden update (section 4) for @p hidden units from gate-interleaved z.
 * @param[in]     z      int32 [4H], unit u's gates i, f, g, o at 4u .. 4u+3
 * @param[in,out] state  int16 [2H]: c (Q3.12), then h (Q0.7)
 */
void tl_lstm_cell_s16(const int32_t *z, int16_t *state, uint32_t hidden);

/** @brief Scratch bytes needed by tl_lstm_step_s8() / tl_lstm_sequence_s8(). */
size_t tl_lstm_get_buffer_size(uint32_t embed_dim, uint32_t hidden);

/**
 * @brief One LSTM step (section 4): updates @p state in place.
 * @param[in]     dir     the direction's tensors
 * @param[in]     x       int8 [E] input
 * @param[in,out] state   int16 [2H]: c then h
 * @param[in]     embed_dim E; @param hidden H
 * @param[in]     scratch at least tl_lstm_get_buffer_size(E, H) bytes, 4-byte aligned
 */
tl_status_t tl_lstm_step_s8(const tl_lstm_dir_t *dir, const int8_t *x, int16_t *state,
                            uint32_t embed_dim, uint32_t hidden, void *scratch,
                            size_t scratch_size);

/** @brief Pooling statistics of one direction's hidden states over a message (section 5). */
typedef struct {
    int32_t *sum; /**< [H] sum of h_t over the steps */
    int8_t *max;  /**< [H] maximum of h_t (-128 before the first step) */
} tl_lstm_stats_t;

/** @brief Adds one step's hidden state (int16 [H], Q0.7 values) to @p stats. */
void tl_lstm_stats_add(tl_lstm_stats_t *stats, const int16_t *h, uint32_t hidden);

/**
 * @brief Runs one direction over @p n_ids tokens from h = 0, c = 0 (section 5).
 * @param[in]  emb      int8 [V][E] embedding table
 * @param[in]  ids      token ids, each < @p vocab_size
 * @param[in]  reverse  0: t = 0..T-1 (forward); 1: t = T-1..0 (backward)
 * @param[out] h_final  int8 [H] final hidden state (zero when @p n_ids is 0)
 * @param[out] stats    sum and max of the hidden states over the steps (NULL: not needed)
 * @return TL_OK; TL_ERR_ARG when an id is >= vocab_size or a buffer is missing or small
 */
tl_status_t tl_lstm_sequence_s8(const tl_lstm_dir_t *dir, const int8_t *emb, uint32_t vocab_size,
                                const uint16_t *ids, uint32_t n_ids, int reverse,
                                uint32_t embed_dim, uint32_t hidden, int8_t *h_final,
                                tl_lstm_stats_t *stats, void *scratch, size_t scratch_size);

#ifdef __cplusplus
}
#endif
#endif /* TL_LSTM_H */
