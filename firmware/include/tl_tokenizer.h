/**
 * @file tl_tokenizer.h
 * @brief Hashing tokenizer of docs/tokenizer.md: UTF-8 bytes -> key hashes (sections 1-6), or
 *        version 1's ids (table rows R + h mod (V - R)).
 */
#ifndef TL_TOKENIZER_H
#define TL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Version of docs/tokenizer.md whose golden vectors tl_tokenize() reproduces. */
#define TL_TOKENIZER_SPEC_VERSION 1

/**
 * @brief Tokenize UTF-8 text into hashed ids.
 *
 * Never reads past @p text + @p len; invalid UTF-8 is skipped one byte at a time.
 * Stops after @p max_len ids without reading the rest of the input.
 *
 * @param[in]  text        input bytes (may be NULL when @p len is 0)
 * @param[in]  len         number of input bytes
 * @param[in]  vocab_size  V, 16..65535
 * @param[in]  max_len     L, 1..1024
 * @param[out] ids         caller array of at least @p max_len entries
 * @param[out] n_ids       number of ids written (0..max_len)
 * @return TL_OK, or TL_ERR_ARG for NULL pointers or parameters out of range
 */
tl_status_t tl_tokenize(const uint8_t *text, size_t len, uint32_t vocab_size, uint32_t max_len,
                        uint16_t *ids, uint32_t *n_ids);

/**
 * @brief Tokenize UTF-8 text into the tokens' 32-bit key hashes (the input of the hash
 *        embedding, docs/tokenizer.md section 7); same tokens and limits as tl_tokenize().
 * @param[out] hashes    caller array of at least @p max_len entries
 * @param[out] n_tokens  number of hashes written (0..max_len)
 * @return TL_OK, or TL_ERR_ARG for NULL pointers or @p max_len outside 1..1024
 */
tl_status_t tl_tokenize_hashes(const uint8_t *text, size_t len, uint32_t max_len,
                               uint32_t *hashes, uint32_t *n_tokens);

#ifdef __cplusplus
}
#endif
#endif /* TL_TOKENIZER_H */
