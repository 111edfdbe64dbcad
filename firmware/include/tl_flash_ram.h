/**
 * @file tl_flash_ram.h
 * @brief NOR-flash simulation over caller memory (host builds): RAM array, or a file the caller
 *        maps; can cut power at a chosen operation to test the OTA manager.
 */
#ifndef TL_FLASH_RAM_H
#define TL_FLASH_RAM_H

#include <stdint.h>

#include "tl_ota.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Simulated flash. */
typedef struct {
    uint8_t *mem;          /**< backing bytes (4-byte aligned) */
    uint32_t size;         /**< bytes of flash */
    uint32_t erase_unit;   /**< erase granularity in bytes */
    uint32_t ops;          /**< erase + write operations started so far */
    uint32_t cut_at_op;    /**< operation during which power fails; UINT32_MAX: never */
    uint32_t cut_keep_num; /**< that operation completes cut_keep_num / cut_keep_den ... */
    uint32_t cut_keep_den; /**< ... of its bytes (in address order) before power fails */
    int dead;              /**< 1 after the cut: every later call fails */
} tl_flash_ram_t;

/** @brief Wrap @p mem (erased bytes are 0xFF; the caller initialises it). */
void tl_flash_ram_init(tl_flash_ram_t *flash, uint8_t *mem, uint32_t size, uint32_t erase_unit);

/** @brief Fill @p ops with this simulation's read/erase/write/map functions. */
void tl_flash_ram_ops(tl_flash_ram_t *flash, tl_flash_ops_t *ops);

#ifdef __cplusplus
}
#endif
#endif /* TL_FLASH_RAM_H */
