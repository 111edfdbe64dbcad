/* Host test: the OTA slot manager. Power is cut during every flash operation of an update (at
 * its start = the chunk boundary, and half-way = mid-chunk), including the metadata writes, the
 * trial boot and the confirm; after each cut the device must boot a valid model (old or new,
 * never nothing), and a retried update must then succeed. Also: bad chunk CRC, chunk order,
 * digest mismatch, anti-rollback, a failing self-test reverts, a crash during the trial reverts. */
#include <string.h>

#include "host_io.h"
#include "tl_engine.h"
#include "tl_flash_ram.h"
#include "tl_ota.h"
#include "tl_sha256.h"

#define FLASH_SIZE 0x100000u
#define ERASE_UNIT 0x4000u
#define CHUNK 8192u

static uint8_t g_flash[FLASH_SIZE] __attribute__((aligned(8)));
static uint8_t g_snapshot[FLASH_SIZE];
static uint32_t g_scratch[4096];
static int g_fail;
static const char *g_msg = "\xe4\xb8\x8a\xe6\xb5\xb7\xe4\xbb\x93\xe5\xba\x93\xe5\xad\x98 urgent 42";
static int32_t g_want_logits[TL_MAX_LABELS];

typedef struct {
    tl_flash_ram_t fr;
    tl_flash_ops_t ops;
    tl_ota_t ota;
    tl_ota_layout_t layout;
} device_t;

typedef struct {
    uint8_t *bytes;
    size_t len;
    uint32_t version;
} image_t;

static void fail(const char *what, int64_t a, int64_t b)
{
    printf("FAIL %s (%lld, %lld)\n", what, (long long)a, (long long)b);
    g_fail++;
}

/* Power on: new manager over the same flash (the simulation's cut counter carries over). */
static tl_status_t power_on(device_t *d)
{
    tl_flash_ram_ops(&d->fr, &d->ops);
    tl_ota_layout_stm32f405(&d->layout, 0);
    return tl_ota_init(&d->ota, &d->ops, &d->layout);
}

static void device_open(device_t *d, uint32_t cut_op, uint32_t num, uint32_t den)
{
    tl_flash_ram_init(&d->fr, g_flash, FLASH_SIZE, ERASE_UNIT);
    d->fr.cut_at_op = cut_op;
    d->fr.cut_keep_num = num;
    d->fr.cut_keep_den = den;
    (void)power_on(d);
}

static image_t make_image(const uint8_t *golden, size_t len, uint32_t version, int break_selftest)
{
    image_t im = {malloc(len), len, version};
    memcpy(im.bytes, golden, len);
    for (int i = 0; i < 4; i++) {
        im.bytes[8 + i] = (uint8_t)(version >> (8 * i));
    }
    if (break_selftest) {
        tl_blob_view_t v;
        if (tl_blob_parse(golden, len, &v) != TL_OK || v.selftest == NULL) {
            fail("golden blob has no STST to break", 0, 0);
        } else {
            /* last int32 of STST is the last record's last logit */
            size_t off = (size_t)((const uint8_t *)(v.selftest + v.selftest_len - 1) - golden);
            im.bytes[off] ^= 1;
        }
    }
    uint32_t crc = tl_crc32(0, im.bytes, len - 4);
    for (int i = 0; i < 4; i++) {
        im.bytes[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    return im;
}

static void manifest_of(const image_t *im, tl_ota_manifest_t *m)
{
    tl_sha256_t s;
    tl_sha256_init(&s);
    tl_sha256_update(&s, im->bytes, im->len);
    tl_sha256_final(&s, m->sha256);
    m->version = im->version;
    m->size = (uint32_t)im->len;
}

static tl_status_t install(device_t *d, const image_t *im)
{
    tl_ota_manifest_t m;
    manifest_of(im, &m);
    tl_status_t st = tl_ota_begin(&d->ota, &m);
    for (uint32_t off = 0; st == TL_OK && off < im->len; off += CHUNK) {
        uint32_t n = (uint32_t)(im->len - off < CHUNK ? im->len - off : CHUNK);
        st = tl_ota_write_chunk(&d->ota, off, im->bytes + off, n, tl_crc32(0, im->bytes + off, n));
    }
    return st == TL_OK ? tl_ota_finish(&d->ota) : st;
}

static tl_status_t boot(device_t *d, tl_blob_view_t *v)
{
    return tl_ota_boot_selftest(&d->ota, v, g_scratch, sizeof g_scratch);
}

/* Reboot without a cut and check a valid model runs; returns its version (0 on failure). */
static uint32_t boot_valid(const char *ctx)
{
    device_t d;
    device_open(&d, UINT32_MAX, 0, 1);
    tl_blob_view_t v;
    tl_status_t st = boot(&d, &v);
    if (st != TL_OK) {
        printf("FAIL %s: boot -> %s\n", ctx, tl_status_str(st));
        g_fail++;
        return 0;
    }
    int32_t logits[TL_MAX_LABELS];
    tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, NULL, NULL};
    st = tl_engine_classify(&v, (const uint8_t *)g_msg, strlen(g_msg), g_scratch, sizeof g_scratch,
                            &out);
    if (st != TL_OK || memcmp(logits, g_want_logits, v.num_labels * sizeof(int32_t)) != 0 ||
        d.ota.meta.trial != TL_OTA_NONE) {
        printf("FAIL %s: booted model misbehaves\n", ctx);
        g_fail++;
        return 0;
    }
    return v.model_version;
}

/* The sequence under test: stage `im`, reset, boot with self-test (confirm or revert). */
static void update_then_reboot(device_t *d, const image_t *im)
{
    (void)install(d, im);
    if (power_on(d) == TL_OK) {
        tl_blob_view_t v;
        (void)boot(d, &v);
    }
}

static void check_power_cuts(const image_t *from, const image_t *to, uint32_t want_final)
{
    device_t d;
    /* 1. Provision `from` on a blank device and keep that flash. */
    memset(g_flash, 0xFF, FLASH_SIZE);
    device_open(&d, UINT32_MAX, 0, 1);
    if (install(&d, from) != TL_OK || power_on(&d) != TL_OK) {
        fail("provisioning", 0, 0);
        return;
    }
    tl_blob_view_t v;
    if (boot(&d, &v) != TL_OK) {
        fail("provisioning boot", 0, 0);
        return;
    }
    memcpy(g_snapshot, g_flash, FLASH_SIZE);
    /* 2. Count the flash operations of an uninterrupted update. */
    device_open(&d, UINT32_MAX, 0, 1);
    update_then_reboot(&d, to);
    uint32_t total_ops = d.fr.ops;
    if (boot_valid("uninterrupted") != want_final) {
        fail("uninterrupted update ends on the wrong version", want_final, 0);
    }
    /* 3. Cut power in each operation, at its start and half-way. */
    uint32_t cuts = 0, ended_old = 0, ended_new = 0;
    for (uint32_t op = 0; op < total_ops; op++) {
        for (uint32_t half = 0; half < 2u; half++) {
            memcpy(g_flash, g_snapshot, FLASH_SIZE);
            device_open(&d, op, half, 2);
            update_then_reboot(&d, to);
            char ctx[64];
            snprintf(ctx, sizeof ctx, "cut in op %u/%u (%s)", op, total_ops,
                     half ? "mid-operation" : "at its start");
            uint32_t got = boot_valid(ctx);
            if (got != from->version && got != want_final) {
                fail(ctx, got, want_final);
            }
            ended_old += got == from->version;
            ended_new += got == want_final && want_final != from->version;
            /* 4. A retried update after the cut completes. */
            if (got == from->version && want_final != from->version) {
                device_open(&d, UINT32_MAX, 0, 1);
                update_then_reboot(&d, to);
                if (boot_valid("retry after cut") != want_final) {
                    fail("retry after a cut does not reach the new version", op, half);
                }
            }
            cuts++;
        }
    }
    printf("power cuts: %u (%u flash ops x 2), booted old %u, new %u\n", cuts, total_ops,
           ended_old, ended_new);
}

static void check_errors(const image_t *v1, const image_t *v2)
{
    device_t d;
    memset(g_flash, 0xFF, FLASH_SIZE);
    device_open(&d, UINT32_MAX, 0, 1);
    tl_blob_view_t v;
    if (boot(&d, &v) != TL_ERR_NO_MODEL) {
        fail("blank flash boots nothing", 0, 0);
    }
    if (install(&d, v1) != TL_OK || boot(&d, &v) != TL_OK) {
        fail("install v1", 0, 0);
    }
    tl_ota_manifest_t m;
    manifest_of(v2, &m);
    /* chunk CRC and order */
    if (tl_ota_begin(&d.ota, &m) != TL_OK ||
        tl_ota_write_chunk(&d.ota, 0, v2->bytes, 64, 0x12345678u) != TL_ERR_CHUNK_CRC ||
        tl_ota_write_chunk(&d.ota, 64, v2->bytes + 64, 64, tl_crc32(0, v2->bytes + 64, 64)) !=
            TL_ERR_CHUNK_ORDER ||
        tl_ota_finish(&d.ota) != TL_ERR_STATE) {
        fail("chunk crc / order / early finish", 0, 0);
    }
    /* digest mismatch */
    m.sha256[0] ^= 1;
    tl_status_t st = tl_ota_begin(&d.ota, &m);
    for (uint32_t off = 0; st == TL_OK && off < v2->len; off += CHUNK) {
        uint32_t n = (uint32_t)(v2->len - off < CHUNK ? v2->len - off : CHUNK);
        st = tl_ota_write_chunk(&d.ota, off, v2->bytes + off, n, tl_crc32(0, v2->bytes + off, n));
    }
    if (st != TL_OK || tl_ota_finish(&d.ota) != TL_ERR_DIGEST || boot_valid("after digest") != 1) {
        fail("digest mismatch is refused and v1 keeps running", 0, 0);
    }
    /* a blob of another format or tokenizer version is refused by name at its first chunk */
    static const struct {
        uint32_t byte;
        uint8_t value;
        tl_status_t want;
    } k_versions[] = {{4, 2, TL_ERR_UNSUPPORTED}, {4, 4, TL_ERR_UNSUPPORTED},
                      {27, 3, TL_ERR_UNSUPPORTED_TOKENIZER}, {0, 'X', TL_ERR_BAD_MAGIC}};
    for (size_t k = 0; k < sizeof k_versions / sizeof k_versions[0]; k++) {
        uint8_t head[CHUNK];
        memcpy(head, v2->bytes, CHUNK);
        head[k_versions[k].byte] = k_versions[k].value;
        manifest_of(v2, &m);
        st = tl_ota_begin(&d.ota, &m);
        tl_status_t first = tl_ota_write_chunk(&d.ota, 0, head, CHUNK, tl_crc32(0, head, CHUNK));
        if (st != TL_OK || first != k_versions[k].want ||
            tl_ota_write_chunk(&d.ota, 0, v2->bytes, CHUNK, tl_crc32(0, v2->bytes, CHUNK)) !=
                TL_ERR_STATE ||
            boot_valid("after an unsupported version") != 1) {
            fail("unsupported version refused at the first chunk", first, k_versions[k].want);
        }
        device_open(&d, UINT32_MAX, 0, 1);
    }
    /* rollback and size */
    device_open(&d, UINT32_MAX, 0, 1);
    manifest_of(v1, &m);
    if (tl_ota_begin(&d.ota, &m) != TL_ERR_ROLLBACK) {
        fail("same version refused", 0, 0);
    }
    manifest_of(v2, &m);
    m.size = d.layout.slot_size + 1u;
    if (tl_ota_begin(&d.ota, &m) != TL_ERR_TOO_LARGE) {
        fail("oversized image refused", 0, 0);
    }
    /* staged image: a second begin waits for the trial; a crash during the trial reverts */
    if (install(&d, v2) != TL_OK || tl_ota_begin(&d.ota, &m) != TL_ERR_STATE) {
        fail("begin while a trial is pending", 0, 0);
    }
    int trial = 0;
    device_open(&d, UINT32_MAX, 0, 1);
    if (tl_ota_boot(&d.ota, &v, &trial) != TL_OK || !trial || v.model_version != 2u) {
        fail("trial boot of v2", trial, v.model_version);
    }
    /* crash: no confirm, reset */
    if (boot_valid("after a crashed trial") != 1) {
        fail("crashed trial reverts to v1", 0, 0);
    }
    device_open(&d, UINT32_MAX, 0, 1);
    if (d.ota.meta.floor_version != 1u || d.ota.meta.slot_version[1] != 0u) {
        fail("revert keeps floor and forgets the slot", d.ota.meta.floor_version,
             d.ota.meta.slot_version[1]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s model.blob\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    uint8_t *golden = tl_read_file(argv[1], &len);
    tl_blob_view_t gv;
    tl_engine_out_t out = {g_want_logits, NULL, 0, 0, 0.0f, NULL, NULL};
    if (tl_blob_parse(golden, len, &gv) != TL_OK ||
        tl_engine_classify(&gv, (const uint8_t *)g_msg, strlen(g_msg), g_scratch,
                           sizeof g_scratch, &out) != TL_OK) {
        fprintf(stderr, "golden blob unusable\n");
        return 2;
    }
    image_t v1 = make_image(golden, len, 1, 0);
    image_t v2 = make_image(golden, len, 2, 0);
    image_t v3 = make_image(golden, len, 3, 1);

    check_errors(&v1, &v2);
    check_power_cuts(&v1, &v2, 2);  /* good update: ends on v2 */
    check_power_cuts(&v2, &v3, 2);  /* self-test fails: always back on v2 */
    printf("ota checks: %d failures\n", g_fail);
    free(v1.bytes);
    free(v2.bytes);
    free(v3.bytes);
    free(golden);
    return g_fail == 0 ? 0 : 1;
}
