/* Entity tag head (docs/integer-lstm.md section 8): int8 weights over both directions' int8
 * states, int32 accumulators, per-tag requantisation to clamped int32 emissions. */
#include "tl_crf.h"
#include "tl_fixed_internal.h"

void tl_tag_head_acc_s8(const int8_t *w, uint32_t row_len, uint32_t col0, const int16_t *h,
                        uint32_t hidden, uint32_t num_tags, int32_t *acc)
{
    for (uint32_t k = 0; k < num_tags; k++) {
        const int8_t *row = w + (size_t)k * row_len + col0;
        int32_t sum = 0;
        for (uint32_t j = 0; j < hidden; j++) {
            sum += (int32_t)row[j] * (int32_t)h[j];
        }
        acc[k] += sum;
    }
}

void tl_tag_head_requant_s32(const tl_tag_head_t *head, uint32_t num_tags, int32_t *acc)
{
    const int64_t limit = (int64_t)TL_CRF_EMISSION_LIMIT;
    for (uint32_t k = 0; k < num_tags; k++) {
        int64_t e = tl_requant_inline(tl_add_wrap32(head->b[k], acc[k]), head->m[k], head->n[k]);
        acc[k] = (int32_t)(e < -limit ? -limit : (e > limit ? limit : e));
    }
}
