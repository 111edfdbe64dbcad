/* Cortex-M4 device image: boots the model the way a device does, through the OTA slot manager
 * over the real flash driver and the linker-placed metadata and slot regions (factory
 * provisioned: slot A confirmed), runs the blob's self-test, classifies one message and prints
 * the label over semihosting. Exit status 0 only if all of that worked. */
#include <string.h>

#include "golden_check.h"
#include "semihost.h"
#include "tl_engine.h"
#include "tl_ota.h"

void tl_flash_stm32f4_ops(tl_flash_ops_t *ops);
extern const uint8_t __ota_meta_start[], __slot_a_start[], __slot_b_start[];

static uint32_t g_scratch[4096];

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
    tl_status_t st = tl_ota_init(&ota, &ops, &layout);
    if (st == TL_OK) {
        st = tl_ota_boot_selftest(&ota, &view, g_scratch, sizeof g_scratch);
    }
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
    st = tl_engine_selftest(&view, g_scratch, sizeof g_scratch);
    semihost_write0("self-test: ");
    semihost_line(tl_status_str(st));
    if (st != TL_OK) {
        return 1;
    }
    static const char msg[] = "\xe4\xb8\x8a\xe6\xb5\xb7\xe4\xbb\x93\xe5\xba\x93\xe5\xad\x98"
                              "\xe9\xa2\x84\xe8\xad\xa6\xe9\x80\x9a\xe7\x9f\xa5";
    int32_t logits[TL_MAX_LABELS];
    tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f};
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
    return 0;
}
