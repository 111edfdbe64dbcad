/**
 * @file tl_sha256.h
 * @brief Streaming SHA-256 (FIPS 180-4) used to check OTA images against the manifest.
 */
#ifndef TL_SHA256_H
#define TL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Digest length in bytes. */
#define TL_SHA256_SIZE 32u

/** @brief Hash state (caller-owned, no allocation). */
typedef struct {
    uint32_t state[8];  /**< chaining value */
    uint64_t length;    /**< bytes absorbed so far */
    uint8_t block[64];  /**< pending partial block */
    uint32_t used;      /**< bytes in @ref block */
} tl_sha256_t;

/** @brief Start a new hash. */
void tl_sha256_init(tl_sha256_t *ctx);
/** @brief Absorb @p len bytes. */
void tl_sha256_update(tl_sha256_t *ctx, const uint8_t *data, size_t len);
/** @brief Finish and write the 32-byte digest. */
void tl_sha256_final(tl_sha256_t *ctx, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif
#endif /* TL_SHA256_H */
