/* tl_flash_ops for the STM32F405's internal flash (RM0090 section 3): sector erase and 32-bit
 * programming through the FLASH controller at 0x40023C00, memory-mapped reads. Addresses are
 * absolute (0x08000000-based), as tl_ota_layout_stm32f405(layout, 0x08000000) produces.
 * QEMU's netduinoplus2 does not model the flash controller, so this driver is compiled for the
 * target but exercised only on hardware; the host tests drive the same slot manager through
 * the RAM simulation (tl_flash_ram.h). */
#include <string.h>

#include "tl_ota.h"

#define FLASH_BASE 0x08000000u
#define FLASH_END 0x08100000u
#define FLASH_R(off) (*(volatile uint32_t *)(0x40023C00u + (off)))
#define KEYR 0x04u
#define SR 0x0Cu
#define CR 0x10u
#define SR_BSY (1u << 16)
#define SR_ERRORS 0xF2u /* PGSERR PGPERR PGAERR WRPERR OPERR */
#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_SNB_SHIFT 3u
#define CR_PSIZE_X32 (2u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)

void tl_flash_stm32f4_ops(tl_flash_ops_t *ops);

/* Sector start addresses: 4 x 16 KiB, 1 x 64 KiB, 7 x 128 KiB. */
static uint32_t sector_start(uint32_t s)
{
    if (s < 4u) {
        return FLASH_BASE + s * 0x4000u;
    }
    if (s == 4u) {
        return FLASH_BASE + 0x10000u;
    }
    return FLASH_BASE + 0x20000u + (s - 5u) * 0x20000u;
}

static tl_status_t wait_idle(void)
{
    while (FLASH_R(SR) & SR_BSY) {
    }
    uint32_t sr = FLASH_R(SR);
    FLASH_R(SR) = sr & SR_ERRORS; /* write-1-to-clear */
    return (sr & SR_ERRORS) ? TL_ERR_FLASH : TL_OK;
}

static void unlock(void)
{
    if (FLASH_R(CR) & CR_LOCK) {
        FLASH_R(KEYR) = 0x45670123u;
        FLASH_R(KEYR) = 0xCDEF89ABu;
    }
}

static tl_status_t f_read(void *ctx, uint32_t addr, void *buf, uint32_t len)
{
    (void)ctx;
    if (addr < FLASH_BASE || addr > FLASH_END || len > FLASH_END - addr) {
        return TL_ERR_FLASH;
    }
    memcpy(buf, (const void *)(uintptr_t)addr, len);
    return TL_OK;
}

static tl_status_t f_erase(void *ctx, uint32_t addr, uint32_t len)
{
    (void)ctx;
    tl_status_t st = TL_OK;
    unlock();
    for (uint32_t s = 0; s < 12u && st == TL_OK; s++) {
        uint32_t start = sector_start(s);
        if (start < addr || start >= addr + len) {
            continue;
        }
        st = wait_idle();
        FLASH_R(CR) = CR_PSIZE_X32 | CR_SER | (s << CR_SNB_SHIFT);
        FLASH_R(CR) |= CR_STRT;
        if (st == TL_OK) {
            st = wait_idle();
        }
    }
    FLASH_R(CR) = CR_LOCK;
    return st;
}

static tl_status_t f_write(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
    (void)ctx;
    if ((addr & 3u) != 0u || addr < FLASH_BASE || addr > FLASH_END || len > FLASH_END - addr) {
        return TL_ERR_FLASH;
    }
    const uint8_t *src = (const uint8_t *)buf;
    tl_status_t st = TL_OK;
    unlock();
    FLASH_R(CR) = CR_PSIZE_X32 | CR_PG;
    for (uint32_t off = 0; off < len && st == TL_OK; off += 4u) {
        uint32_t word = 0xFFFFFFFFu;
        memcpy(&word, src + off, len - off < 4u ? len - off : 4u);
        *(volatile uint32_t *)(uintptr_t)(addr + off) = word;
        st = wait_idle();
    }
    FLASH_R(CR) = CR_LOCK;
    return st;
}

static const uint8_t *f_map(void *ctx, uint32_t addr, uint32_t len)
{
    (void)ctx;
    if (addr < FLASH_BASE || addr > FLASH_END || len > FLASH_END - addr) {
        return NULL;
    }
    return (const uint8_t *)(uintptr_t)addr;
}

void tl_flash_stm32f4_ops(tl_flash_ops_t *ops)
{
    ops->ctx = NULL;
    ops->read = f_read;
    ops->erase = f_erase;
    ops->write = f_write;
    ops->map = f_map;
}
