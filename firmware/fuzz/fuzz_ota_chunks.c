/* libFuzzer target: the OTA slot manager driven by hostile sequences of manifests and chunks,
 * with power cuts and reboots in between, under ASan/UBSan on a small simulated flash.
 *
 * Input: [image length, 2 bytes LE][image bytes][operations]. The image is what a well-behaved
 * rollout would send (the seeds are valid blobs behind a script that installs them); each
 * operation is an opcode byte and its arguments, read from the rest of the input (zeros once it
 * runs out). Besides "nothing crashes", these must hold after every operation:
 *  - a chunk write changes nothing but the slot being staged (the running image and the
 *    metadata are untouched);
 *  - the bytes written so far never exceed the manifest's size;
 *  - a finish that succeeds left a slot whose SHA-256 is the manifest's;
 *  - a boot that succeeds returns a view whose tables lie inside one of the two slots. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tl_blob.h"
#include "tl_engine.h"
#include "tl_flash_ram.h"
#include "tl_ota.h"
#include "tl_sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNIT 1024u
#define SLOT (8u * UNIT)
#define FLASH_BYTES (2u * UNIT + 2u * SLOT)
#define MAX_OPS 64u

static uint8_t g_flash[FLASH_BYTES] __attribute__((aligned(8)));
static uint8_t g_before[FLASH_BYTES];
static uint32_t g_scratch[4096];

typedef struct {
    const uint8_t *p;
    size_t left;
} stream_t;

static uint32_t take(stream_t *s, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint32_t b = 0;
        if (s->left > 0u) {
            b = *s->p++;
            s->left--;
        }
        v |= b << (8u * i);
    }
    return v;
}

static void sha256(const uint8_t *bytes, size_t len, uint8_t out[32])
{
    tl_sha256_t ctx;
    tl_sha256_init(&ctx);
    tl_sha256_update(&ctx, bytes, len);
    tl_sha256_final(&ctx, out);
}

typedef struct {
    tl_flash_ram_t fr;
    tl_flash_ops_t ops;
    tl_ota_layout_t layout;
    tl_ota_t ota;
} device_t;

static void power_on(device_t *d)
{
    d->fr.dead = 0; /* power is back */
    d->fr.cut_at_op = UINT32_MAX;
    tl_flash_ram_ops(&d->fr, &d->ops);
    (void)tl_ota_init(&d->ota, &d->ops, &d->layout);
}

/* Everything outside [from, from + len) is as in g_before. */
static void unchanged_outside(uint32_t from, uint32_t len)
{
    if (memcmp(g_flash, g_before, from) != 0 ||
        memcmp(g_flash + from + len, g_before + from + len, FLASH_BYTES - from - len) != 0) {
        abort();
    }
}

static int in_slot(const device_t *d, const uint8_t *p, size_t len)
{
    for (int s = 0; s < 2; s++) {
        const uint8_t *slot = g_flash + d->layout.slot_addr[s];
        if (p >= slot && p + len <= slot + SLOT) {
            return 1;
        }
    }
    return 0;
}

static void check_view_in_slot(const device_t *d, const tl_blob_view_t *v)
{
    if (v->total_size > SLOT || !in_slot(d, v->labels, v->labels_size) ||
        !in_slot(d, (const uint8_t *)v->emb, (size_t)v->vocab_size * v->embed_dim)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream_t in = {data, size};
    size_t image_len = take(&in, 2);
    if (image_len > in.left) {
        image_len = in.left;
    }
    const uint8_t *image = in.p;
    in.p += image_len;
    in.left -= image_len;
    uint8_t image_sha[32];
    sha256(image, image_len, image_sha);

    device_t d;
    memset(&d, 0, sizeof d);
    memset(g_flash, 0xFF, sizeof g_flash);
    tl_flash_ram_init(&d.fr, g_flash, FLASH_BYTES, UNIT);
    d.layout.meta_addr[0] = 0;
    d.layout.meta_addr[1] = UNIT;
    d.layout.meta_size = UNIT;
    d.layout.slot_addr[0] = 2u * UNIT;
    d.layout.slot_addr[1] = 2u * UNIT + SLOT;
    d.layout.slot_size = SLOT;
    power_on(&d);

    uint8_t chunk[2048];
    for (unsigned n = 0; n < MAX_OPS && in.left > 0u; n++) {
        uint32_t op = take(&in, 1) % 10u;
        memcpy(g_before, g_flash, sizeof g_flash);
        if (op == 0u) { /* manifest: begin staging */
            uint32_t how = take(&in, 1);
            tl_ota_manifest_t m;
            m.version = take(&in, 4);
            if ((how & 1u) == 0u && image_len >= 12u) {
                memcpy(&m.version, image + 8, 4); /* the image's own version */
            }
            m.size = (how & 2u) ? take(&in, 4) % (SLOT + 64u) : (uint32_t)image_len;
            if (how & 4u) {
                for (int i = 0; i < 32; i++) {
                    m.sha256[i] = (uint8_t)take(&in, 1);
                }
            } else {
                memcpy(m.sha256, image_sha, 32);
            }
            (void)tl_ota_begin(&d.ota, &m);
        } else if (op == 1u || op == 2u) { /* a chunk: the next one, or anywhere */
            uint32_t len = 1u + take(&in, 2) % (uint32_t)sizeof chunk;
            uint32_t offset = op == 1u ? d.ota.written : take(&in, 4);
            uint32_t flags = take(&in, 1);
            for (uint32_t i = 0; i < len; i++) {
                size_t at = (size_t)offset + i;
                chunk[i] = (flags & 1u) ? (uint8_t)take(&in, 1) : at < image_len ? image[at] : 0xFF;
            }
            uint32_t crc = (flags & 2u) ? take(&in, 4) : tl_crc32(0, chunk, len);
            int staging = d.ota.staging;
            uint32_t target = d.ota.target;
            (void)tl_ota_write_chunk(&d.ota, offset, chunk, len, crc);
            if (staging) {
                unchanged_outside(d.layout.slot_addr[target], SLOT);
            } else {
                unchanged_outside(0, 0);
            }
        } else if (op == 3u) {
            if (tl_ota_finish(&d.ota) == TL_OK) {
                uint32_t t = d.ota.meta.trial;
                uint8_t got[32];
                if (t > 1u || d.ota.meta.slot_size[t] > SLOT) {
                    abort();
                }
                sha256(g_flash + d.layout.slot_addr[t], d.ota.meta.slot_size[t], got);
                if (memcmp(got, d.ota.meta.slot_sha[t], 32) != 0 ||
                    memcmp(got, d.ota.manifest.sha256, 32) != 0) {
                    abort();
                }
            }
        } else if (op == 4u) {
            tl_blob_view_t v;
            int trial = 0;
            if (tl_ota_boot(&d.ota, &v, &trial) == TL_OK) {
                check_view_in_slot(&d, &v);
            }
        } else if (op == 5u) {
            (void)tl_ota_confirm(&d.ota);
        } else if (op == 6u) {
            (void)tl_ota_reject(&d.ota);
        } else if (op == 7u) { /* reboot */
            power_on(&d);
        } else if (op == 8u) { /* power fails during one of the next flash operations */
            d.fr.cut_at_op = d.fr.ops + take(&in, 1) % 8u;
            d.fr.cut_keep_num = take(&in, 1) % 4u;
            d.fr.cut_keep_den = 4u;
        } else {
            tl_blob_view_t v;
            if (tl_ota_boot_selftest(&d.ota, &v, g_scratch, sizeof g_scratch) == TL_OK) {
                check_view_in_slot(&d, &v);
            }
        }
        if (d.ota.written > d.ota.manifest.size && d.ota.staging) {
            abort();
        }
    }
    return 0;
}
