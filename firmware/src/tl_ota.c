/* Two-slot OTA manager (see tl_ota.h). Every state change is one metadata record written to
 * the metadata unit not holding the current record (erase, then program, CRC last), so power
 * can fail at any instant: a torn record fails its CRC and the previous one stays in force.
 * Slot contents are only trusted after a read-back SHA-256 and a full blob validation. */
#include <string.h>

#include "tl_engine.h"
#include "tl_ota.h"

#define META_MAGIC 0x4D4F4C54u /* "TLOM" little-endian */
#define READ_PIECE 256u

static uint32_t meta_crc(const tl_ota_meta_t *m)
{
    return tl_crc32(0, (const uint8_t *)m, offsetof(tl_ota_meta_t, crc));
}

static int meta_valid(const tl_ota_meta_t *m)
{
    return m->magic == META_MAGIC && m->crc == meta_crc(m) &&
           (m->active == TL_OTA_NONE || m->active < 2u) &&
           (m->trial == TL_OTA_NONE || m->trial < 2u);
}

static void meta_blank(tl_ota_meta_t *m)
{
    memset(m, 0, sizeof *m);
    m->magic = META_MAGIC;
    m->active = TL_OTA_NONE;
    m->trial = TL_OTA_NONE;
}

/* Persist *next as the new current record (in the other unit). */
static tl_status_t meta_commit(tl_ota_t *ota, const tl_ota_meta_t *next)
{
    tl_ota_meta_t rec = *next;
    rec.magic = META_MAGIC;
    rec.seq = ota->meta.seq + 1u;
    rec.crc = meta_crc(&rec);
    uint32_t unit = ota->meta_unit == 0u ? 1u : 0u;
    const tl_flash_ops_t *f = ota->flash;
    tl_status_t st = f->erase(f->ctx, ota->layout.meta_addr[unit], ota->layout.meta_size);
    if (st == TL_OK) {
        st = f->write(f->ctx, ota->layout.meta_addr[unit], &rec, sizeof rec);
    }
    if (st != TL_OK) {
        return TL_ERR_FLASH;
    }
    ota->meta = rec;
    ota->meta_unit = unit;
    return TL_OK;
}

void tl_ota_layout_stm32f405(tl_ota_layout_t *layout, uint32_t base)
{
    /* Sectors 1-2 (16 KiB each) hold the metadata, sectors 6-8 and 9-11 (3 x 128 KiB) the
     * slots; sector 0 and 3-5 are left to the application. */
    layout->meta_addr[0] = base + 0x4000u;
    layout->meta_addr[1] = base + 0x8000u;
    layout->meta_size = 0x4000u;
    layout->slot_addr[0] = base + 0x40000u;
    layout->slot_addr[1] = base + 0xA0000u;
    layout->slot_size = 0x60000u;
}

tl_status_t tl_ota_init(tl_ota_t *ota, const tl_flash_ops_t *flash, const tl_ota_layout_t *layout)
{
    if (ota == NULL || flash == NULL || layout == NULL || flash->read == NULL ||
        flash->erase == NULL || flash->write == NULL || layout->meta_size < sizeof(tl_ota_meta_t) ||
        layout->slot_size < TL_BLOB_HEADER_SIZE + 4u) {
        return TL_ERR_ARG;
    }
    memset(ota, 0, sizeof *ota);
    ota->flash = flash;
    ota->layout = *layout;
    ota->booted = TL_OTA_NONE;
    ota->meta_unit = TL_OTA_NONE;
    meta_blank(&ota->meta);
    for (uint32_t u = 0; u < 2u; u++) {
        tl_ota_meta_t m;
        if (flash->read(flash->ctx, layout->meta_addr[u], &m, sizeof m) != TL_OK) {
            return TL_ERR_FLASH;
        }
        if (meta_valid(&m) && (ota->meta_unit == TL_OTA_NONE || m.seq > ota->meta.seq)) {
            ota->meta = m;
            ota->meta_unit = u;
        }
    }
    return TL_OK;
}

static uint32_t installed_version(const tl_ota_meta_t *m)
{
    uint32_t v = m->floor_version;
    if (m->active != TL_OTA_NONE && m->slot_version[m->active] > v) {
        v = m->slot_version[m->active];
    }
    return v;
}

tl_status_t tl_ota_begin(tl_ota_t *ota, const tl_ota_manifest_t *manifest)
{
    if (ota == NULL || manifest == NULL) {
        return TL_ERR_ARG;
    }
    if (ota->meta.trial != TL_OTA_NONE) {
        return TL_ERR_STATE; /* a staged image waits for its trial boot */
    }
    if (manifest->version <= installed_version(&ota->meta)) {
        return TL_ERR_ROLLBACK;
    }
    if (manifest->size > ota->layout.slot_size || manifest->size < TL_BLOB_HEADER_SIZE + 4u) {
        return TL_ERR_TOO_LARGE;
    }
    uint32_t target = ota->meta.active == 0u ? 1u : 0u;
    /* Forget what the target slot held before erasing it. */
    if (ota->meta.slot_version[target] != 0u) {
        tl_ota_meta_t next = ota->meta;
        next.slot_version[target] = 0;
        next.slot_size[target] = 0;
        memset(next.slot_sha[target], 0, TL_SHA256_SIZE);
        tl_status_t st = meta_commit(ota, &next);
        if (st != TL_OK) {
            return st;
        }
    }
    const tl_flash_ops_t *f = ota->flash;
    if (f->erase(f->ctx, ota->layout.slot_addr[target], ota->layout.slot_size) != TL_OK) {
        return TL_ERR_FLASH;
    }
    ota->staging = 1;
    ota->target = target;
    ota->manifest = *manifest;
    ota->written = 0;
    return TL_OK;
}

tl_status_t tl_ota_write_chunk(tl_ota_t *ota, uint32_t offset, const uint8_t *data, uint32_t len,
                               uint32_t crc32)
{
    if (ota == NULL || (data == NULL && len != 0u)) {
        return TL_ERR_ARG;
    }
    if (!ota->staging) {
        return TL_ERR_STATE;
    }
    if (offset != ota->written) {
        return TL_ERR_CHUNK_ORDER;
    }
    if ((uint64_t)offset + len > ota->manifest.size) {
        return TL_ERR_TOO_LARGE;
    }
    if (tl_crc32(0, data, len) != crc32) {
        return TL_ERR_CHUNK_CRC;
    }
    if (offset == 0u) {
        /* A blob of a format or tokenizer version this firmware does not implement is refused
         * at its first chunk, by name, instead of after the whole download. */
        tl_status_t st = tl_blob_check_versions(data, len);
        if (st != TL_OK) {
            ota->staging = 0;
            return st;
        }
    }
    const tl_flash_ops_t *f = ota->flash;
    if (len != 0u &&
        f->write(f->ctx, ota->layout.slot_addr[ota->target] + offset, data, len) != TL_OK) {
        ota->staging = 0;
        return TL_ERR_FLASH;
    }
    ota->written += len;
    return TL_OK;
}

/* SHA-256 of a slot's first `size` bytes, read back through the flash driver. */
static tl_status_t slot_digest(const tl_ota_t *ota, uint32_t slot, uint32_t size,
                               uint8_t digest[32])
{
    tl_sha256_t sha;
    uint8_t piece[READ_PIECE];
    tl_sha256_init(&sha);
    for (uint32_t off = 0; off < size; off += READ_PIECE) {
        uint32_t n = size - off < READ_PIECE ? size - off : READ_PIECE;
        if (ota->flash->read(ota->flash->ctx, ota->layout.slot_addr[slot] + off, piece, n) !=
            TL_OK) {
            return TL_ERR_FLASH;
        }
        tl_sha256_update(&sha, piece, n);
    }
    tl_sha256_final(&sha, digest);
    return TL_OK;
}

/* Parse a slot's blob in place; it must carry `version`. */
static tl_status_t slot_view(const tl_ota_t *ota, uint32_t slot, uint32_t size, uint32_t version,
                             tl_blob_view_t *view)
{
    const tl_flash_ops_t *f = ota->flash;
    if (f->map == NULL || size == 0u || size > ota->layout.slot_size) {
        return TL_ERR_NO_MODEL;
    }
    const uint8_t *p = f->map(f->ctx, ota->layout.slot_addr[slot], size);
    if (p == NULL) {
        return TL_ERR_FLASH;
    }
    tl_status_t st = tl_blob_parse(p, size, view);
    if (st != TL_OK) {
        return st;
    }
    return view->model_version == version ? TL_OK : TL_ERR_INCONSISTENT;
}

tl_status_t tl_ota_finish(tl_ota_t *ota)
{
    if (ota == NULL) {
        return TL_ERR_ARG;
    }
    if (!ota->staging || ota->written != ota->manifest.size) {
        return TL_ERR_STATE;
    }
    ota->staging = 0;
    uint8_t digest[32];
    tl_status_t st = slot_digest(ota, ota->target, ota->manifest.size, digest);
    if (st != TL_OK) {
        return st;
    }
    if (memcmp(digest, ota->manifest.sha256, TL_SHA256_SIZE) != 0) {
        return TL_ERR_DIGEST;
    }
    tl_blob_view_t view;
    st = slot_view(ota, ota->target, ota->manifest.size, ota->manifest.version, &view);
    if (st != TL_OK) {
        return st;
    }
    tl_ota_meta_t next = ota->meta;
    next.trial = ota->target;
    next.attempts = 0;
    next.slot_version[ota->target] = ota->manifest.version;
    next.slot_size[ota->target] = ota->manifest.size;
    memcpy(next.slot_sha[ota->target], digest, TL_SHA256_SIZE);
    return meta_commit(ota, &next);
}

static tl_status_t revert_trial(tl_ota_t *ota)
{
    tl_ota_meta_t next = ota->meta;
    uint32_t t = next.trial;
    next.trial = TL_OTA_NONE;
    next.attempts = 0;
    if (t != TL_OTA_NONE) {
        next.slot_version[t] = 0;
        next.slot_size[t] = 0;
        memset(next.slot_sha[t], 0, TL_SHA256_SIZE);
    }
    return meta_commit(ota, &next);
}

tl_status_t tl_ota_boot(tl_ota_t *ota, tl_blob_view_t *view, int *is_trial)
{
    if (ota == NULL || view == NULL || is_trial == NULL) {
        return TL_ERR_ARG;
    }
    *is_trial = 0;
    ota->booted = TL_OTA_NONE;
    ota->staging = 0;
    const tl_ota_meta_t *m = &ota->meta;
    if (m->trial != TL_OTA_NONE) {
        uint32_t t = m->trial;
        tl_status_t st = TL_ERR_SELFTEST;
        if (m->attempts < TL_OTA_MAX_TRIAL_BOOTS) {
            /* 1. Count the attempt before running anything from the slot. */
            tl_ota_meta_t next = *m;
            next.attempts += 1u;
            st = meta_commit(ota, &next);
            if (st != TL_OK) {
                return st;
            }
            st = slot_view(ota, t, m->slot_size[t], m->slot_version[t], view);
            if (st == TL_OK) {
                ota->booted = t;
                *is_trial = 1;
                return TL_OK;
            }
        }
        /* 2. Out of attempts, or the slot does not validate: revert. */
        st = revert_trial(ota);
        if (st != TL_OK) {
            return st;
        }
    }
    if (m->active == TL_OTA_NONE) {
        return TL_ERR_NO_MODEL;
    }
    tl_status_t st = slot_view(ota, m->active, m->slot_size[m->active],
                               m->slot_version[m->active], view);
    if (st != TL_OK) {
        return TL_ERR_NO_MODEL;
    }
    ota->booted = m->active;
    return TL_OK;
}

tl_status_t tl_ota_confirm(tl_ota_t *ota)
{
    if (ota == NULL) {
        return TL_ERR_ARG;
    }
    if (ota->meta.trial == TL_OTA_NONE || ota->booted != ota->meta.trial) {
        return TL_ERR_STATE;
    }
    tl_ota_meta_t next = ota->meta;
    uint32_t t = next.trial;
    next.active = t;
    next.trial = TL_OTA_NONE;
    next.attempts = 0;
    if (next.slot_version[t] > next.floor_version) {
        next.floor_version = next.slot_version[t];
    }
    return meta_commit(ota, &next);
}

tl_status_t tl_ota_reject(tl_ota_t *ota)
{
    if (ota == NULL) {
        return TL_ERR_ARG;
    }
    if (ota->meta.trial == TL_OTA_NONE || ota->booted != ota->meta.trial) {
        return TL_ERR_STATE;
    }
    ota->booted = TL_OTA_NONE;
    return revert_trial(ota);
}

tl_status_t tl_ota_boot_selftest(tl_ota_t *ota, tl_blob_view_t *view, void *scratch,
                                 size_t scratch_size)
{
    int trial = 0;
    tl_status_t st = tl_ota_boot(ota, view, &trial);
    if (st != TL_OK || !trial) {
        return st;
    }
    st = tl_engine_selftest(view, scratch, scratch_size);
    if (st == TL_OK) {
        return tl_ota_confirm(ota);
    }
    if (st != TL_ERR_SELFTEST) {
        return st; /* caller error (scratch); the attempt is already counted */
    }
    st = tl_ota_reject(ota);
    if (st != TL_OK) {
        return st;
    }
    return tl_ota_boot(ota, view, &trial);
}
