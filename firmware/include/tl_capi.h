/**
 * @file tl_capi.h
 * @brief Flat C ABI of libtinylstm.so for ctypes (the edge agent): plain integers, pointers and
 *        caller-allocated opaque contexts; every function returns a tl_status_t as int.
 *
 * Engine: allocate tl_api_engine_size() bytes (8-byte aligned), tl_api_engine_init() with the
 * blob bytes (4-byte aligned, kept alive by the caller), then tl_api_classify().
 * Device: allocate tl_api_device_size() bytes, tl_api_device_init() over a caller-owned 1 MiB
 * flash image (erased = 0xFF; a RAM buffer or a mapped file), stage with begin/write/finish,
 * tl_api_device_boot() (self-test, confirm or revert), then tl_api_device_classify().
 */
#ifndef TL_CAPI_H
#define TL_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief ABI version; bumped on any signature change. */
#define TL_API_VERSION 3

/** @brief Returns TL_API_VERSION. */
int tl_api_version(void);
/** @brief Name of a status code. */
const char *tl_api_status_str(int status);
/** @brief Tokenize without a model. @param[out] ids caller array of @p ids_cap >= max_len. */
int tl_api_tokenize(const uint8_t *text, size_t len, uint32_t vocab_size, uint32_t max_len,
                    uint16_t *ids, uint32_t ids_cap, uint32_t *n_ids);

/** @brief Bytes of an engine context. */
size_t tl_api_engine_size(void);
/** @brief Validate @p blob and bind the engine to it. */
int tl_api_engine_init(void *engine, const uint8_t *blob, size_t len);
/** @brief Header numbers of the bound model. */
int tl_api_engine_info(const void *engine, uint32_t *model_version, uint32_t *vocab_size,
                       uint32_t *max_len, uint32_t *num_labels);
/** @brief Copy label @p k's UTF-8 name (NUL-terminated) into @p buf; @p len gets its length. */
int tl_api_engine_label(const void *engine, uint32_t k, char *buf, size_t cap, uint32_t *len);
/**
 * @brief The model's tagging section: @p num_tags gets K (0: none) and @p names the entity type
 *        names table (per type a u8 length, then its ASCII bytes; @p names_len bytes).
 * @return TL_OK, TL_ERR_BUFFER when @p names_cap < the table (names_len is still set)
 */
int tl_api_engine_tagger(const void *engine, uint32_t *num_tags, uint8_t *names,
                         uint32_t names_cap, uint32_t *names_len);
/** @brief Run the blob's STST self-test. */
int tl_api_engine_selftest(void *engine);
/**
 * @brief Classify UTF-8 text.
 * @param[out] label       argmax index
 * @param[out] logits      caller array of @p logits_cap >= num_labels int32 (Q.10)
 * @param[out] confidence  softmax probability of @p label
 * @param[out] ids         caller array of @p ids_cap >= max_len token ids (may be NULL)
 * @param[out] n_ids       number of tokens
 */
int tl_api_classify(void *engine, const uint8_t *text, size_t len, uint32_t *label,
                    int32_t *logits, uint32_t logits_cap, float *confidence, uint16_t *ids,
                    uint32_t ids_cap, uint32_t *n_ids);

/**
 * @brief Classify and tag UTF-8 text (a model with a tagging section, else TL_ERR_ARG):
 *        the outputs of tl_api_classify() (without ids), each token's BIO tag and, when
 *        @p emissions is not NULL, the tokens' int32 emissions (docs/integer-lstm.md section 8).
 * @param[out] tags       caller array of @p tags_cap >= max_len tags
 * @param[out] emissions  NULL, or a caller array of @p emissions_cap >= max_len x K int32;
 *                        gets n_ids x K (row-major, Q.10)
 */
int tl_api_classify_tagged(void *engine, const uint8_t *text, size_t len, uint32_t *label,
                           int32_t *logits, uint32_t logits_cap, float *confidence,
                           uint32_t *n_ids, uint8_t *tags, uint32_t tags_cap,
                           int32_t *emissions, uint32_t emissions_cap);

/**
 * @brief Classify @p count texts in one call (what a batch costs without the caller's
 *        per-call overhead): text k is bytes [offsets[k], offsets[k+1]) of @p texts.
 * @param[out] labels       count argmax indices
 * @param[out] logits       count x @p logits_stride int32 (stride >= num_labels)
 * @param[out] confidences  count softmax probabilities
 * @return TL_OK, or the first failing text's status
 */
int tl_api_classify_batch(void *engine, const uint8_t *texts, const uint32_t *offsets,
                          uint32_t count, uint32_t *labels, int32_t *logits,
                          uint32_t logits_stride, float *confidences);

/** @brief The kernels in use: 0 portable C, 1 x86-64 AVX2 (tl_cpu.h). */
int tl_api_kernels(void);
/** @brief 1: force the portable kernels (every SIMD path must give the same results); 0: best. */
void tl_api_force_portable(int on);

/** @brief Bytes of a device context. */
size_t tl_api_device_size(void);
/** @brief Bytes of flash the device expects (1 MiB, STM32F405 layout). */
uint32_t tl_api_device_flash_size(void);
/** @brief Attach to a flash image and load the slot metadata. */
int tl_api_device_init(void *device, uint8_t *flash, uint32_t flash_size);
/** @brief Start an OTA update (manifest version, size, SHA-256 of 32 bytes). */
int tl_api_device_begin(void *device, uint32_t version, uint32_t size, const uint8_t *sha256);
/** @brief Write the chunk at @p offset with its CRC-32. */
int tl_api_device_write_chunk(void *device, uint32_t offset, const uint8_t *data, uint32_t len,
                              uint32_t crc32);
/** @brief Verify the staged image and mark it for a trial boot. */
int tl_api_device_finish(void *device);
/** @brief Boot: trial slot with self-test and confirm/revert, else the confirmed slot. */
int tl_api_device_boot(void *device);
/** @brief Slot state: active slot, trial slot (0xFFFFFFFF = none), running version, floor. */
int tl_api_device_state(const void *device, uint32_t *active, uint32_t *trial,
                        uint32_t *running_version, uint32_t *floor_version);
/** @brief Cut power during flash operation @p op, after @p num / @p den of its bytes. */
int tl_api_device_power_cut(void *device, uint32_t op, uint32_t num, uint32_t den);
/** @brief The engine of the booted model (valid after tl_api_device_boot() succeeded). */
void *tl_api_device_engine(void *device);

#ifdef __cplusplus
}
#endif
#endif /* TL_CAPI_H */
