/**
 * @file tl_engine.h
 * @brief Whole-message classification: tokenizer -> BiLSTM -> pooling -> head -> argmax.
 */
#ifndef TL_ENGINE_H
#define TL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "tl_blob.h"
#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Outputs of one classification; the arrays belong to the caller. */
typedef struct {
    int32_t *logits;  /**< in: caller array of num_labels int32; out: Q.10 logits */
    uint16_t *ids;    /**< in: optional caller array of max_len ids (NULL: not copied); out:
                           each token's version 1 id, row_0 of its hash */
    uint32_t n_ids;   /**< out: number of tokens T */
    uint32_t label;   /**< out: argmax of the logits (lowest index wins a tie) */
    float confidence; /**< out: softmax probability of @ref label */
    uint8_t *tags;    /**< in: optional caller array of max_len tags (NULL: no tagging; set
                           only for a blob with a tagging section, else TL_ERR_ARG); out: the
                           BIO tag of each of the n_ids tokens (docs/integer-lstm.md section 8) */
    const int32_t *emissions; /**< out: the tokens' int32 emissions [n_ids][num_tags], Q.10,
                                   inside the scratch (valid until it is reused); NULL when
                                   not tagging */
} tl_engine_out_t;

/** @brief Scratch bytes tl_engine_classify() needs for this model. */
size_t tl_engine_get_buffer_size(const tl_blob_view_t *view);

/**
 * @brief Classify UTF-8 text with a validated model.
 * @param[in]  view     from tl_blob_parse()
 * @param[in]  text     input bytes; @param len their count
 * @param[in]  scratch  caller memory of tl_engine_get_buffer_size() bytes, 4-byte aligned
 * @param[out] out      results (its @ref tl_engine_out_t::logits must be set)
 */
tl_status_t tl_engine_classify(const tl_blob_view_t *view, const uint8_t *text, size_t len,
                               void *scratch, size_t scratch_size, tl_engine_out_t *out);

/**
 * @brief Classify a message given as its tokens' key hashes (n <= max_len), what
 *        tl_tokenize_hashes() produces. Same outputs as tl_engine_classify();
 *        @ref tl_engine_out_t::ids is ignored.
 */
tl_status_t tl_engine_classify_hashes(const tl_blob_view_t *view, const uint32_t *hashes,
                                      uint32_t n, void *scratch, size_t scratch_size,
                                      tl_engine_out_t *out);

/**
 * @brief Classify an already tokenized message as version 1 ids (ids < vocab_size,
 *        n_ids <= max_len; TL_ERR_ARG for a tokenizer version 2 model, whose input is hashes).
 * Same outputs as tl_engine_classify(); @ref tl_engine_out_t::ids is ignored.
 */
tl_status_t tl_engine_classify_ids(const tl_blob_view_t *view, const uint16_t *ids,
                                   uint32_t n_ids, void *scratch, size_t scratch_size,
                                   tl_engine_out_t *out);

/**
 * @brief Run the blob's STST self-test records, if any.
 * @return TL_OK when every record reproduces its label and logits exactly (or there is no
 *         STST tensor), TL_ERR_SELFTEST otherwise
 */
tl_status_t tl_engine_selftest(const tl_blob_view_t *view, void *scratch, size_t scratch_size);

#ifdef __cplusplus
}
#endif
#endif /* TL_ENGINE_H */
