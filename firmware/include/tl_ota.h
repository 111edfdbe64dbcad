/**
 * @file tl_ota.h
 * @brief Two-slot (A/B) OTA model manager with power-loss-safe metadata.
 *
 * Flow: tl_ota_begin() with the manifest's version, size and SHA-256 -> tl_ota_write_chunk()
 * for each chunk in order (each with its CRC-32) -> tl_ota_finish() (reads the slot back,
 * checks the SHA-256 and the blob) -> reboot -> tl_ota_boot() tries the new slot once, the
 * caller runs the blob's self-test and calls tl_ota_confirm() or tl_ota_reject(). A trial
 * slot that is booted again without a confirm (crash, power loss, watchdog) is reverted.
 * tl_ota_boot_selftest() does boot + self-test + confirm/reject in one call.
 *
 * Metadata lives in two flash erase units written alternately; each record carries a sequence
 * number and a CRC, so a power cut during a metadata update leaves the previous record valid.
 */
#ifndef TL_OTA_H
#define TL_OTA_H

#include <stddef.h>
#include <stdint.h>

#include "tl_blob.h"
#include "tl_sha256.h"
#include "tl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief "No slot". */
#define TL_OTA_NONE 0xFFFFFFFFu
/** @brief Boots a trial slot gets before it is reverted without a confirm. */
#define TL_OTA_MAX_TRIAL_BOOTS 1u

/** @brief NOR-flash access. Erased bytes read 0xFF; write only clears bits of erased bytes. */
typedef struct tl_flash_ops {
    void *ctx; /**< passed to every call */
    /** @brief Copy @p len bytes at @p addr into @p buf. */
    tl_status_t (*read)(void *ctx, uint32_t addr, void *buf, uint32_t len);
    /** @brief Erase [addr, addr + len); both on erase-unit boundaries. */
    tl_status_t (*erase)(void *ctx, uint32_t addr, uint32_t len);
    /** @brief Program @p len bytes at @p addr (previously erased). */
    tl_status_t (*write)(void *ctx, uint32_t addr, const void *buf, uint32_t len);
    /** @brief Memory-mapped, 4-byte aligned pointer to [addr, addr + len) for zero-copy
     *  parsing of a slot, or NULL when the flash is not mapped. */
    const uint8_t *(*map)(void *ctx, uint32_t addr, uint32_t len);
} tl_flash_ops_t;

/** @brief Where the slots and the metadata live (flash addresses as the ops see them). */
typedef struct {
    uint32_t slot_addr[2]; /**< start of slot A and slot B (erase-unit aligned) */
    uint32_t slot_size;    /**< bytes per slot (whole erase units) */
    uint32_t meta_addr[2]; /**< two metadata erase units */
    uint32_t meta_size;    /**< bytes per metadata unit */
} tl_ota_layout_t;

/** @brief What the (already signature-checked) release manifest says about the image. */
typedef struct {
    uint32_t version;   /**< model version; must exceed the installed one */
    uint32_t size;      /**< image bytes */
    uint8_t sha256[32]; /**< SHA-256 of the image */
} tl_ota_manifest_t;

/** @brief Persistent metadata record (one per metadata unit). */
typedef struct {
    uint32_t magic;           /**< "TLOM" */
    uint32_t seq;             /**< increases with every record written */
    uint32_t active;          /**< confirmed slot or TL_OTA_NONE */
    uint32_t trial;           /**< slot under trial or TL_OTA_NONE */
    uint32_t attempts;        /**< boots of the trial slot so far */
    uint32_t floor_version;   /**< anti-rollback floor: highest confirmed model version */
    uint32_t slot_version[2]; /**< model version held by each slot, 0 = nothing valid */
    uint32_t slot_size[2];    /**< image bytes in each slot */
    uint8_t slot_sha[2][32];  /**< SHA-256 of each slot's image */
    uint32_t crc;             /**< CRC-32 of every field above */
} tl_ota_meta_t;

/** @brief Slot manager state (caller-owned). */
typedef struct {
    const tl_flash_ops_t *flash; /**< flash driver */
    tl_ota_layout_t layout;      /**< geometry */
    tl_ota_meta_t meta;          /**< current metadata */
    uint32_t meta_unit;          /**< unit holding @ref meta, TL_OTA_NONE if none yet */
    uint32_t booted;             /**< slot returned by the last boot, or TL_OTA_NONE */
    int staging;                 /**< 1 between begin and finish */
    uint32_t target;             /**< slot being written */
    tl_ota_manifest_t manifest;  /**< manifest of the image being written */
    uint32_t written;            /**< bytes written so far */
} tl_ota_t;

/**
 * @brief The STM32F405 layout: metadata in sectors 1 and 2 (16 KiB each), slot A in sectors
 *        6-8 and slot B in sectors 9-11 (384 KiB each); @p base is the flash start address.
 */
void tl_ota_layout_stm32f405(tl_ota_layout_t *layout, uint32_t base);

/** @brief Load the newest valid metadata record (a blank device has none). */
tl_status_t tl_ota_init(tl_ota_t *ota, const tl_flash_ops_t *flash, const tl_ota_layout_t *layout);

/** @brief Start staging an image into the inactive slot (erases it). */
tl_status_t tl_ota_begin(tl_ota_t *ota, const tl_ota_manifest_t *manifest);

/**
 * @brief Write the next chunk; @p offset must equal the bytes written so far.
 *
 * The first chunk's blob header is checked at once (tl_blob_check_versions()): a format or
 * tokenizer version this firmware does not implement ends the update with TL_ERR_UNSUPPORTED
 * or TL_ERR_UNSUPPORTED_TOKENIZER (TL_ERR_BAD_MAGIC for something else); the old model stays.
 */
tl_status_t tl_ota_write_chunk(tl_ota_t *ota, uint32_t offset, const uint8_t *data, uint32_t len,
                               uint32_t crc32);

/** @brief Verify SHA-256 and blob of the staged slot and mark it for a trial boot. */
tl_status_t tl_ota_finish(tl_ota_t *ota);

/**
 * @brief Select the slot to run: a pending trial (counting the attempt) or the confirmed one.
 * @param[out] view  parsed blob of the selected slot
 * @param[out] is_trial 1 when the slot is on trial and needs tl_ota_confirm()/tl_ota_reject()
 */
tl_status_t tl_ota_boot(tl_ota_t *ota, tl_blob_view_t *view, int *is_trial);

/** @brief Make the trial slot the confirmed one and raise the anti-rollback floor. */
tl_status_t tl_ota_confirm(tl_ota_t *ota);

/** @brief Abandon the trial slot and go back to the confirmed one. */
tl_status_t tl_ota_reject(tl_ota_t *ota);

/**
 * @brief Boot, and for a trial slot run the blob's self-test, then confirm or reject (and boot
 *        the confirmed slot). @p scratch as for tl_engine_classify().
 */
tl_status_t tl_ota_boot_selftest(tl_ota_t *ota, tl_blob_view_t *view, void *scratch,
                                 size_t scratch_size);

#ifdef __cplusplus
}
#endif
#endif /* TL_OTA_H */
