/**
 * @file tl_blob.h
 * @brief Model blob reader (docs/model-blob.md, format version 3).
 *
 * tl_blob_parse() validates every rule of the format and fills a view whose pointers point
 * into the caller's blob bytes; nothing is copied, and no byte outside [blob, blob + len) is
 * ever read, whatever the input. A blob of a format or tokenizer version this firmware does
 * not implement is refused with its own status (TL_ERR_UNSUPPORTED,
 * TL_ERR_UNSUPPORTED_TOKENIZER), never read as another version.
 */
#ifndef TL_BLOB_H
#define TL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "tl_crf.h"
#include "tl_embedding.h"
#include "tl_head.h"
#include "tl_lstm.h"
#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Blob format version read by this code (one at a time: the layout changes). */
#define TL_BLOB_FORMAT_VERSION 3
/** @brief Bit k set: tokenizer version k is implemented (1: one table row per token; 2: the
 *         hash embedding, docs/tokenizer.md section 7). */
#define TL_BLOB_TOKENIZER_VERSIONS ((1u << 1) | (1u << 2))
/** @brief Pooling modes (docs/integer-lstm.md section 5). */
#define TL_POOLING_LAST 0u
#define TL_POOLING_MEANMAX 1u
/** @brief Size of the fixed header. */
#define TL_BLOB_HEADER_SIZE 64u
/** @brief Largest label count a blob may declare. */
#define TL_MAX_LABELS 255u
/** @brief Largest max_len a blob may declare. */
#define TL_MAX_LEN 1024u
/** @brief Largest hidden size a blob may declare. */
#define TL_MAX_HIDDEN 256u

/** @brief Validated, zero-copy view of a model blob. */
typedef struct {
    uint32_t model_version;     /**< monotonic release number, >= 1 */
    uint32_t total_size;        /**< blob bytes including the CRC */
    uint32_t vocab_size;        /**< V */
    uint32_t max_len;           /**< L */
    uint32_t embed_dim;         /**< E */
    uint32_t hidden;            /**< H */
    uint32_t num_labels;        /**< C */
    uint32_t pooling;           /**< TL_POOLING_LAST or TL_POOLING_MEANMAX */
    uint32_t pooled_dim;        /**< width the head reads: 2H (last) or 4H (meanmax) */
    uint32_t tokenizer_version; /**< docs/tokenizer.md version (see TL_BLOB_TOKENIZER_VERSIONS) */
    int32_t logit_frac_bits;    /**< 10 */
    const uint8_t *labels;      /**< label table: C entries of (u8 length, UTF-8 bytes) */
    uint32_t labels_size;       /**< bytes of the label table */
    const int8_t *emb;          /**< [V][E] embedding */
    tl_hash_embedding_t hash;   /**< tokenizer version 2: the hash embedding over @ref emb */
    tl_lstm_dir_t dir[2];       /**< [0] forward, [1] backward */
    tl_head_t head;             /**< classification head */
    const int32_t *selftest;    /**< optional STST records, NULL when absent */
    uint32_t selftest_len;      /**< number of int32 values in @ref selftest */
    uint32_t num_tags;          /**< K of the optional tagging section, 0 when absent */
    tl_tag_head_t tag_head;     /**< tagging section: the tag head (when num_tags != 0) */
    tl_crf_t crf;               /**< tagging section: the CRF scores */
    const uint8_t *tag_names;   /**< entity type names: per type (u8 length, ASCII bytes) */
    uint32_t tag_names_size;    /**< bytes of @ref tag_names */
} tl_blob_view_t;

/**
 * @brief Validate a blob and fill @p view.
 * @param[in]  blob  blob bytes, 4-byte aligned (tensors are read in place)
 * @param[in]  len   number of bytes received
 * @param[out] view  filled only on TL_OK
 * @return TL_OK, TL_ERR_TRUNCATED, TL_ERR_BAD_MAGIC, TL_ERR_UNSUPPORTED, TL_ERR_OVERSIZED,
 *         TL_ERR_BAD_CRC, TL_ERR_UNSUPPORTED_TOKENIZER, TL_ERR_INCONSISTENT,
 *         TL_ERR_MISALIGNED or TL_ERR_ARG
 */
tl_status_t tl_blob_parse(const uint8_t *blob, size_t len, tl_blob_view_t *view);

/**
 * @brief Versions check on the first bytes of a blob (an OTA image's first chunk), before the
 *        rest has arrived: magic, format version and tokenizer version.
 * @return TL_OK when this firmware implements both versions (or fewer than 28 bytes were
 *         given: nothing to decide yet), TL_ERR_BAD_MAGIC, TL_ERR_UNSUPPORTED or
 *         TL_ERR_UNSUPPORTED_TOKENIZER
 */
tl_status_t tl_blob_check_versions(const uint8_t *head, size_t len);

/**
 * @brief Name of label @p k (not NUL-terminated).
 * @param[out] name  points into the blob; @param[out] name_len its byte length
 */
tl_status_t tl_blob_label(const tl_blob_view_t *view, uint32_t k, const uint8_t **name,
                          uint32_t *name_len);

/** @brief zlib/IEEE CRC-32 of @p len bytes continuing from @p crc (start with 0). */
uint32_t tl_crc32(uint32_t crc, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* TL_BLOB_H */
