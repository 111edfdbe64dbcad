/* libFuzzer target: the blob reader (and, for blobs it accepts, the engine) on hostile bytes
 * under ASan/UBSan. Each input is parsed as given, then again with total_size and CRC fixed up
 * so mutations reach the checks behind the CRC. An accepted blob must be safe to run: its
 * self-test and a classification (with tags when it has a tagging section) execute (the
 * weights are hostile, so results are not checked beyond their ranges, only that nothing reads
 * out of bounds or overflows). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tl_blob.h"
#include "tl_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t g_scratch[4096];

static void exercise(const uint8_t *blob, size_t len)
{
    tl_blob_view_t v;
    if (tl_blob_parse(blob, len, &v) != TL_OK) {
        return;
    }
    if (tl_engine_get_buffer_size(&v) > sizeof g_scratch) {
        abort(); /* the reader's limits must keep scratch bounded */
    }
    for (uint32_t k = 0; k < v.num_labels; k++) {
        const uint8_t *name;
        uint32_t n;
        if (tl_blob_label(&v, k, &name, &n) != TL_OK || name < blob || name + n > blob + len) {
            abort();
        }
    }
    (void)tl_engine_selftest(&v, g_scratch, sizeof g_scratch);
    int32_t logits[TL_MAX_LABELS];
    tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, NULL, NULL};
    static const char text[] = "DH20231125 \xe4\xb8\x8a\xe6\xb5\xb7 urgent!";
    if (tl_engine_classify(&v, (const uint8_t *)text, sizeof text - 1u, g_scratch,
                           sizeof g_scratch, &out) != TL_OK ||
        out.label >= v.num_labels) {
        abort();
    }
    if (v.num_tags != 0u) { /* the tagger too: every tag one of the section's K */
        static uint8_t tags[TL_MAX_LEN];
        tl_engine_out_t tagged = {logits, NULL, 0, 0, 0.0f, tags, NULL};
        if (tl_engine_classify(&v, (const uint8_t *)text, sizeof text - 1u, g_scratch,
                               sizeof g_scratch, &tagged) != TL_OK ||
            tagged.label != out.label) {
            abort();
        }
        for (uint32_t t = 0; t < tagged.n_ids; t++) {
            if (tags[t] >= v.num_tags) {
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size, 4-byte aligned heap copy: ASan flags any byte read past `size` */
    uint8_t *blob = malloc(size ? size : 1u);
    memcpy(blob, data, size);
    exercise(blob, size);
    if (size >= TL_BLOB_HEADER_SIZE + 4u) {
        uint32_t total = (uint32_t)size;
        memcpy(blob + 12, &total, 4);
        uint32_t crc = tl_crc32(0, blob, size - 4u);
        memcpy(blob + size - 4u, &crc, 4);
        exercise(blob, size);
    }
    free(blob);
    return 0;
}
