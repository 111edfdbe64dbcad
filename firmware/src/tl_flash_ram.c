/* NOR-flash simulation: erase sets bytes to 0xFF, programming can only clear bits (new = old &
 * data), and an optional power cut stops an operation part-way, in address order, after which
 * every call fails until the caller "reboots" by wrapping the same memory again. */
#include <string.h>

#include "tl_flash_ram.h"

static int in_range(const tl_flash_ram_t *f, uint32_t addr, uint32_t len)
{
    return addr <= f->size && len <= f->size - addr;
}

/* Bytes of an operation of `len` bytes that land before power fails (len when no cut). */
static uint32_t start_op(tl_flash_ram_t *f, uint32_t len, int *cut)
{
    uint32_t op = f->ops++;
    *cut = op == f->cut_at_op;
    if (!*cut) {
        return len;
    }
    f->dead = 1;
    uint32_t den = f->cut_keep_den == 0u ? 1u : f->cut_keep_den;
    return (uint32_t)(((uint64_t)len * f->cut_keep_num) / den);
}

static tl_status_t ram_read(void *ctx, uint32_t addr, void *buf, uint32_t len)
{
    tl_flash_ram_t *f = (tl_flash_ram_t *)ctx;
    if (f->dead || !in_range(f, addr, len)) {
        return TL_ERR_FLASH;
    }
    memcpy(buf, f->mem + addr, len);
    return TL_OK;
}

static tl_status_t ram_erase(void *ctx, uint32_t addr, uint32_t len)
{
    tl_flash_ram_t *f = (tl_flash_ram_t *)ctx;
    if (f->dead || !in_range(f, addr, len) || addr % f->erase_unit != 0u ||
        len % f->erase_unit != 0u) {
        return TL_ERR_FLASH;
    }
    int cut = 0;
    uint32_t n = start_op(f, len, &cut);
    memset(f->mem + addr, 0xFF, n);
    return cut ? TL_ERR_FLASH : TL_OK;
}

static tl_status_t ram_write(void *ctx, uint32_t addr, const void *buf, uint32_t len)
{
    tl_flash_ram_t *f = (tl_flash_ram_t *)ctx;
    if (f->dead || !in_range(f, addr, len)) {
        return TL_ERR_FLASH;
    }
    int cut = 0;
    uint32_t n = start_op(f, len, &cut);
    const uint8_t *src = (const uint8_t *)buf;
    for (uint32_t i = 0; i < n; i++) {
        f->mem[addr + i] &= src[i];
    }
    return cut ? TL_ERR_FLASH : TL_OK;
}

static const uint8_t *ram_map(void *ctx, uint32_t addr, uint32_t len)
{
    tl_flash_ram_t *f = (tl_flash_ram_t *)ctx;
    return in_range(f, addr, len) ? f->mem + addr : NULL;
}

void tl_flash_ram_init(tl_flash_ram_t *flash, uint8_t *mem, uint32_t size, uint32_t erase_unit)
{
    memset(flash, 0, sizeof *flash);
    flash->mem = mem;
    flash->size = size;
    flash->erase_unit = erase_unit == 0u ? 1u : erase_unit;
    flash->cut_at_op = UINT32_MAX;
    flash->cut_keep_den = 1;
}

void tl_flash_ram_ops(tl_flash_ram_t *flash, tl_flash_ops_t *ops)
{
    ops->ctx = flash;
    ops->read = ram_read;
    ops->erase = ram_erase;
    ops->write = ram_write;
    ops->map = ram_map;
}
