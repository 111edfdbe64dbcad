/* Flat ABI for ctypes (host library only). Contexts are caller-allocated opaque bytes so the
 * library never allocates; scratch is sized for the largest model the blob format allows. */
#include <string.h>

#include "tl_capi.h"
#include "tl_cpu.h"
#include "tl_engine.h"
#include "tl_flash_ram.h"
#include "tl_ota.h"
#include "tl_tokenizer.h"

#define ENGINE_MAGIC 0x454C5454u
#define DEVICE_MAGIC 0x44565454u
#define FLASH_SIZE 0x100000u
#define ERASE_UNIT 0x4000u
/* Largest model the format allows (L = 1024, E = H = 256, tokenizer version 2, mean+max
 * pooling), in bytes (tl_engine.c's layout): hashes[1024] u32 + rows[1024] u16 +
 * x[1024][256] i8 + pooled[1024] i8 + sum[512] i32 + max[512] i8 + c, h [256] i16 each + LSTM
 * scratch (tl_lstm_scratch_internal.h: 3 x 1024 int32 + x 1024 bytes + state 512 int16), plus
 * a tagging section of up to TAGS_AT_MAX_LEN tags at L = 1024 (more tags fit shorter
 * messages): emissions[1024][K] i32, and the Viterbi scratch (1024 x K + 8 K bytes) in place of
 * the LSTM scratch when larger. bind() refuses a model that needs more. */
#define TAGS_AT_MAX_LEN 31u
#define SCRATCH_BYTES (4096u + 2048u + 262144u + 1024u + 2048u + 512u + 1024u + \
                       1024u * TAGS_AT_MAX_LEN * 4u + 1024u * TAGS_AT_MAX_LEN + 8u * TAGS_AT_MAX_LEN)
#define SCRATCH_WORDS (SCRATCH_BYTES / 4u)

typedef struct {
    uint32_t magic;
    tl_blob_view_t view;
    uint32_t scratch[SCRATCH_WORDS];
} engine_t;

typedef struct {
    uint32_t magic;
    tl_flash_ram_t flash;
    tl_flash_ops_t ops;
    tl_ota_t ota;
    int booted;
    engine_t engine;
} device_t;

int tl_api_version(void) { return TL_API_VERSION; }

const char *tl_api_status_str(int status) { return tl_status_str((tl_status_t)status); }

int tl_api_tokenize(const uint8_t *text, size_t len, uint32_t vocab_size, uint32_t max_len,
                    uint16_t *ids, uint32_t ids_cap, uint32_t *n_ids)
{
    if (ids_cap < max_len) {
        return TL_ERR_BUFFER;
    }
    return tl_tokenize(text, len, vocab_size, max_len, ids, n_ids);
}

size_t tl_api_engine_size(void) { return sizeof(engine_t); }

static tl_status_t bind(engine_t *e, const tl_blob_view_t *view)
{
    if (tl_engine_get_buffer_size(view) > sizeof e->scratch) {
        return TL_ERR_BUFFER;
    }
    e->view = *view;
    e->magic = ENGINE_MAGIC;
    return TL_OK;
}

int tl_api_engine_init(void *engine, const uint8_t *blob, size_t len)
{
    engine_t *e = (engine_t *)engine;
    if (e == NULL) {
        return TL_ERR_ARG;
    }
    e->magic = 0;
    tl_blob_view_t view;
    tl_status_t st = tl_blob_parse(blob, len, &view);
    return st != TL_OK ? st : bind(e, &view);
}

static const engine_t *engine_ok(const void *engine)
{
    const engine_t *e = (const engine_t *)engine;
    return e != NULL && e->magic == ENGINE_MAGIC ? e : NULL;
}

int tl_api_engine_info(const void *engine, uint32_t *model_version, uint32_t *vocab_size,
                       uint32_t *max_len, uint32_t *num_labels)
{
    const engine_t *e = engine_ok(engine);
    if (e == NULL || model_version == NULL || vocab_size == NULL || max_len == NULL ||
        num_labels == NULL) {
        return TL_ERR_ARG;
    }
    *model_version = e->view.model_version;
    *vocab_size = e->view.vocab_size;
    *max_len = e->view.max_len;
    *num_labels = e->view.num_labels;
    return TL_OK;
}

int tl_api_engine_label(const void *engine, uint32_t k, char *buf, size_t cap, uint32_t *len)
{
    const engine_t *e = engine_ok(engine);
    const uint8_t *name = NULL;
    uint32_t n = 0;
    if (e == NULL || buf == NULL || len == NULL) {
        return TL_ERR_ARG;
    }
    tl_status_t st = tl_blob_label(&e->view, k, &name, &n);
    if (st != TL_OK) {
        return st;
    }
    if (cap < (size_t)n + 1u) {
        return TL_ERR_BUFFER;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    *len = n;
    return TL_OK;
}

int tl_api_engine_tagger(const void *engine, uint32_t *num_tags, uint8_t *names,
                         uint32_t names_cap, uint32_t *names_len)
{
    const engine_t *e = engine_ok(engine);
    if (e == NULL || num_tags == NULL || names_len == NULL || (names == NULL && names_cap != 0u)) {
        return TL_ERR_ARG;
    }
    *num_tags = e->view.num_tags;
    *names_len = e->view.tag_names_size;
    if (names_cap < e->view.tag_names_size) {
        return TL_ERR_BUFFER;
    }
    if (e->view.tag_names_size != 0u) {
        memcpy(names, e->view.tag_names, e->view.tag_names_size);
    }
    return TL_OK;
}

int tl_api_engine_selftest(void *engine)
{
    engine_t *e = (engine_t *)engine;
    if (engine_ok(e) == NULL) {
        return TL_ERR_ARG;
    }
    return tl_engine_selftest(&e->view, e->scratch, sizeof e->scratch);
}

int tl_api_classify(void *engine, const uint8_t *text, size_t len, uint32_t *label,
                    int32_t *logits, uint32_t logits_cap, float *confidence, uint16_t *ids,
                    uint32_t ids_cap, uint32_t *n_ids)
{
    engine_t *e = (engine_t *)engine;
    if (engine_ok(e) == NULL || label == NULL || logits == NULL || confidence == NULL ||
        n_ids == NULL) {
        return TL_ERR_ARG;
    }
    if (logits_cap < e->view.num_labels || (ids != NULL && ids_cap < e->view.max_len)) {
        return TL_ERR_BUFFER;
    }
    tl_engine_out_t out = {logits, ids, 0, 0, 0.0f, NULL, NULL};
    tl_status_t st = tl_engine_classify(&e->view, text, len, e->scratch, sizeof e->scratch, &out);
    if (st != TL_OK) {
        return st;
    }
    *label = out.label;
    *confidence = out.confidence;
    *n_ids = out.n_ids;
    return TL_OK;
}

int tl_api_classify_tagged(void *engine, const uint8_t *text, size_t len, uint32_t *label,
                           int32_t *logits, uint32_t logits_cap, float *confidence,
                           uint32_t *n_ids, uint8_t *tags, uint32_t tags_cap,
                           int32_t *emissions, uint32_t emissions_cap)
{
    engine_t *e = (engine_t *)engine;
    if (engine_ok(e) == NULL || label == NULL || logits == NULL || confidence == NULL ||
        n_ids == NULL || tags == NULL) {
        return TL_ERR_ARG;
    }
    if (logits_cap < e->view.num_labels || tags_cap < e->view.max_len ||
        (emissions != NULL && emissions_cap < e->view.max_len * e->view.num_tags)) {
        return TL_ERR_BUFFER;
    }
    tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, tags, NULL};
    tl_status_t st = tl_engine_classify(&e->view, text, len, e->scratch, sizeof e->scratch, &out);
    if (st != TL_OK) {
        return st;
    }
    *label = out.label;
    *confidence = out.confidence;
    *n_ids = out.n_ids;
    if (emissions != NULL && out.n_ids != 0u) {
        memcpy(emissions, out.emissions, (size_t)out.n_ids * e->view.num_tags * sizeof(int32_t));
    }
    return TL_OK;
}

int tl_api_classify_batch(void *engine, const uint8_t *texts, const uint32_t *offsets,
                          uint32_t count, uint32_t *labels, int32_t *logits,
                          uint32_t logits_stride, float *confidences)
{
    engine_t *e = (engine_t *)engine;
    if (engine_ok(e) == NULL || offsets == NULL || labels == NULL || logits == NULL ||
        confidences == NULL || (texts == NULL && count != 0u)) {
        return TL_ERR_ARG;
    }
    if (logits_stride < e->view.num_labels) {
        return TL_ERR_BUFFER;
    }
    for (uint32_t k = 0; k < count; k++) {
        if (offsets[k + 1u] < offsets[k]) {
            return TL_ERR_ARG;
        }
        tl_engine_out_t out = {logits + (size_t)k * logits_stride, NULL, 0, 0, 0.0f, NULL, NULL};
        tl_status_t st = tl_engine_classify(&e->view, texts + offsets[k],
                                            offsets[k + 1u] - offsets[k], e->scratch,
                                            sizeof e->scratch, &out);
        if (st != TL_OK) {
            return st;
        }
        labels[k] = out.label;
        confidences[k] = out.confidence;
    }
    return TL_OK;
}

int tl_api_kernels(void) { return (int)tl_cpu_kernels(); }

void tl_api_force_portable(int on) { tl_cpu_force_portable(on); }

size_t tl_api_device_size(void) { return sizeof(device_t); }

uint32_t tl_api_device_flash_size(void) { return FLASH_SIZE; }

static device_t *device_ok(void *device)
{
    device_t *d = (device_t *)device;
    return d != NULL && d->magic == DEVICE_MAGIC ? d : NULL;
}

int tl_api_device_init(void *device, uint8_t *flash, uint32_t flash_size)
{
    device_t *d = (device_t *)device;
    if (d == NULL || flash == NULL || flash_size != FLASH_SIZE || ((uintptr_t)flash & 3u) != 0u) {
        return TL_ERR_ARG;
    }
    memset(d, 0, sizeof *d);
    tl_flash_ram_init(&d->flash, flash, flash_size, ERASE_UNIT);
    tl_flash_ram_ops(&d->flash, &d->ops);
    tl_ota_layout_t layout;
    tl_ota_layout_stm32f405(&layout, 0);
    tl_status_t st = tl_ota_init(&d->ota, &d->ops, &layout);
    if (st == TL_OK) {
        d->magic = DEVICE_MAGIC;
    }
    return st;
}

int tl_api_device_begin(void *device, uint32_t version, uint32_t size, const uint8_t *sha256)
{
    device_t *d = device_ok(device);
    if (d == NULL || sha256 == NULL) {
        return TL_ERR_ARG;
    }
    tl_ota_manifest_t m;
    m.version = version;
    m.size = size;
    memcpy(m.sha256, sha256, TL_SHA256_SIZE);
    return tl_ota_begin(&d->ota, &m);
}

int tl_api_device_write_chunk(void *device, uint32_t offset, const uint8_t *data, uint32_t len,
                              uint32_t crc32)
{
    device_t *d = device_ok(device);
    return d == NULL ? TL_ERR_ARG : tl_ota_write_chunk(&d->ota, offset, data, len, crc32);
}

int tl_api_device_finish(void *device)
{
    device_t *d = device_ok(device);
    return d == NULL ? TL_ERR_ARG : tl_ota_finish(&d->ota);
}

int tl_api_device_boot(void *device)
{
    device_t *d = device_ok(device);
    if (d == NULL) {
        return TL_ERR_ARG;
    }
    d->booted = 0;
    d->engine.magic = 0;
    tl_blob_view_t view;
    tl_status_t st =
        tl_ota_boot_selftest(&d->ota, &view, d->engine.scratch, sizeof d->engine.scratch);
    if (st == TL_OK) {
        st = bind(&d->engine, &view);
        d->booted = st == TL_OK;
    }
    return st;
}

int tl_api_device_state(const void *device, uint32_t *active, uint32_t *trial,
                        uint32_t *running_version, uint32_t *floor_version)
{
    const device_t *d = (const device_t *)device;
    if (d == NULL || d->magic != DEVICE_MAGIC || active == NULL || trial == NULL ||
        running_version == NULL || floor_version == NULL) {
        return TL_ERR_ARG;
    }
    *active = d->ota.meta.active;
    *trial = d->ota.meta.trial;
    *running_version = d->booted ? d->engine.view.model_version : 0u;
    *floor_version = d->ota.meta.floor_version;
    return TL_OK;
}

int tl_api_device_power_cut(void *device, uint32_t op, uint32_t num, uint32_t den)
{
    device_t *d = device_ok(device);
    if (d == NULL || den == 0u || num > den) {
        return TL_ERR_ARG;
    }
    d->flash.ops = 0;
    d->flash.cut_at_op = op;
    d->flash.cut_keep_num = num;
    d->flash.cut_keep_den = den;
    return TL_OK;
}

void *tl_api_device_engine(void *device)
{
    device_t *d = device_ok(device);
    return d != NULL && d->booted ? &d->engine : NULL;
}
