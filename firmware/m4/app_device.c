/* Cortex-M4 device image: boots the model the way a device does, through the OTA slot manager
 * over the real flash driver and the linker-placed metadata and slot regions (factory
 * provisioned: slot A confirmed), runs the blob's self-test, classifies one message and prints
 * the label over semihosting. Exit status 0 only if all of that worked. It also measures, by
 * stack painting, the peak stack of the boot, of the self-test and of one classification of a
 * max_len-token message, and prints them with the engine's scratch as "MEM key=value" lines
 * (benchmarks/mcu_cost.py). */
#include <string.h>

#include "golden_check.h"
#include "semihost.h"
#include "stack_paint.h"
#include "tl_engine.h"
#include "tl_ota.h"

void tl_flash_stm32f4_ops(tl_flash_ops_t *ops);
extern const uint8_t __ota_meta_start[], __slot_a_start[], __slot_b_start[];

/* The engine's scratch for the models this image runs (tl_engine_get_buffer_size for V=2048,
 * E=64, H=128, L=64: 8064 bytes with one table row per token and last pooling, 13696 with the
 * hash embedding and mean+max pooling); a model needing more fails its self-test and is
 * reverted. */
static uint32_t g_scratch[13696 / 4];
static uint8_t g_text[3 * 1024];

static void mem_line(const char *key, int64_t value)
{
    char buf[64];
    tl_fmt_int(buf, sizeof buf, key, value);
    semihost_write0(" ");
    semihost_write0(buf);
}

int main(void)
{
    tl_flash_ops_t ops;
    tl_flash_stm32f4_ops(&ops);
    tl_ota_layout_t layout;
    tl_ota_layout_stm32f405(&layout, 0x08000000u);
    if (layout.meta_addr[0] != (uint32_t)(uintptr_t)__ota_meta_start ||
        layout.slot_addr[0] != (uint32_t)(uintptr_t)__slot_a_start ||
        layout.slot_addr[1] != (uint32_t)(uintptr_t)__slot_b_start) {
        semihost_line("linker regions disagree with tl_ota_layout_stm32f405");
        return 3;
    }
    tl_ota_t ota;
    tl_blob_view_t view;
    uintptr_t sp = tl_stack_pointer();
    tl_stack_paint();
    tl_status_t st = tl_ota_init(&ota, &ops, &layout);
    if (st == TL_OK) {
        st = tl_ota_boot_selftest(&ota, &view, g_scratch, sizeof g_scratch);
    }
    uint32_t boot_stack = tl_stack_used(sp); /* init + boot of the confirmed slot (blob check) */
    if (st != TL_OK) {
        semihost_write0("boot failed: ");
        semihost_line(tl_status_str(st));
        return 1;
    }
    char line[96];
    tl_fmt_int(line, sizeof line, "booted slot ", ota.booted);
    semihost_write0(line);
    tl_fmt_int(line, sizeof line, " model v", view.model_version);
    semihost_line(line);
    sp = tl_stack_pointer();
    tl_stack_paint();
    st = tl_engine_selftest(&view, g_scratch, sizeof g_scratch);
    uint32_t selftest_stack = tl_stack_used(sp);
    semihost_write0("self-test: ");
    semihost_line(tl_status_str(st));
    if (st != TL_OK) {
        return 1;
    }
    static const char msg[] = "\xe4\xb8\x8a\xe6\xb5\xb7\xe4\xbb\x93\xe5\xba\x93\xe5\xad\x98"
                              "\xe9\xa2\x84\xe8\xad\xa6\xe9\x80\x9a\xe7\x9f\xa5";
    int32_t logits[TL_MAX_LABELS];
    tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, NULL, NULL};
    st = tl_engine_classify(&view, (const uint8_t *)msg, sizeof msg - 1u, g_scratch,
                            sizeof g_scratch, &out);
    const uint8_t *name = NULL;
    uint32_t name_len = 0;
    if (st != TL_OK || tl_blob_label(&view, out.label, &name, &name_len) != TL_OK ||
        name_len >= 64u) {
        semihost_line("classify failed");
        return 1;
    }
    char label[72];
    memcpy(label, name, name_len);
    label[name_len] = '\0';
    semihost_write0("classified: label ");
    semihost_line(label);

    /* Peak stack of one classification of a max_len-token message (CJK: one token each). */
    size_t n = 0;
    for (uint32_t k = 0; k < view.max_len && n + 3u <= sizeof g_text; k++) {
        uint32_t cp = 0x4E00u + (k * 37u) % 0x5000u;
        g_text[n++] = (uint8_t)(0xE0u | (cp >> 12));
        g_text[n++] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        g_text[n++] = (uint8_t)(0x80u | (cp & 0x3Fu));
    }
    sp = tl_stack_pointer();
    tl_stack_paint();
    st = tl_engine_classify(&view, g_text, n, g_scratch, sizeof g_scratch, &out);
    uint32_t classify_stack = tl_stack_used(sp);
    if (st != TL_OK) {
        semihost_line("classify (max_len) failed");
        return 1;
    }
    semihost_write0("MEM");
    mem_line("tokens=", out.n_ids);
    mem_line("classify_stack_bytes=", classify_stack);
    mem_line("boot_stack_bytes=", boot_stack);
    mem_line("selftest_stack_bytes=", selftest_stack);
    mem_line("scratch_needed_bytes=", (int64_t)tl_engine_get_buffer_size(&view));
    mem_line("scratch_static_bytes=", (int64_t)sizeof g_scratch);
    mem_line("stack_reserved_bytes=", (int64_t)(uintptr_t)_stack_size);
    semihost_line("");
    return 0;
}
