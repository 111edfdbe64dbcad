/**
 * @file tl_status.h
 * @brief Status codes returned by every TinyLSTM firmware function.
 */
#ifndef TL_STATUS_H
#define TL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Result of a TinyLSTM call; TL_OK is zero, every error is negative. */
typedef enum {
    TL_OK = 0,                    /**< success */
    TL_ERR_ARG = -1,              /**< NULL pointer, bad size or bad argument */
    TL_ERR_BUFFER = -2,           /**< caller buffer too small */
    TL_ERR_TRUNCATED = -3,        /**< blob shorter than its header or its total_size */
    TL_ERR_BAD_MAGIC = -4,        /**< blob magic is not "TLSM" */
    TL_ERR_UNSUPPORTED = -5,      /**< blob format version this firmware does not implement */
    TL_ERR_OVERSIZED = -6,        /**< more bytes given than the blob's total_size */
    TL_ERR_BAD_CRC = -7,          /**< blob CRC32 mismatch */
    TL_ERR_INCONSISTENT = -8,     /**< header, labels, directory or tensors do not agree */
    TL_ERR_MISALIGNED = -9,       /**< blob base address is not 4-byte aligned */
    TL_ERR_FLASH = -10,           /**< flash read/erase/write failed (or power was lost) */
    TL_ERR_CHUNK_CRC = -11,       /**< OTA chunk CRC mismatch */
    TL_ERR_CHUNK_ORDER = -12,     /**< OTA chunk offset is not the next expected one */
    TL_ERR_DIGEST = -13,          /**< SHA-256 of the staged image differs from the manifest */
    TL_ERR_ROLLBACK = -14,        /**< model version not newer than the installed one */
    TL_ERR_STATE = -15,           /**< call not valid in the slot manager's current state */
    TL_ERR_NO_MODEL = -16,        /**< no bootable model in any slot */
    TL_ERR_SELFTEST = -17,        /**< blob self-test (STST) produced different logits */
    TL_ERR_TOO_LARGE = -18,       /**< image larger than a slot */
    TL_ERR_UNSUPPORTED_TOKENIZER = -19 /**< blob tokenizer version this firmware does not
                                            implement */
} tl_status_t;

/** @brief Short human-readable name of a status code (never NULL). */
const char *tl_status_str(tl_status_t status);

#ifdef __cplusplus
}
#endif
#endif /* TL_STATUS_H */
