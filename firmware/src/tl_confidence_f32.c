/* Confidence = softmax probability of the top label, in single-precision float. Compiled with
 * -ffp-contract=off so no fused multiply-add changes the result between host and Cortex-M4;
 * the remaining difference is the C library's expf, which is why confidence is outside the
 * bit-exact contract. */
#include <math.h>

#include "tl_head.h"

float tl_confidence_f32(const int32_t *logits, uint32_t n, int32_t frac_bits)
{
    if (logits == NULL || n == 0u) {
        return 0.0f;
    }
    uint32_t top = tl_argmax_s32(logits, n);
    float scale = ldexpf(1.0f, -frac_bits);
    float sum = 0.0f;
    for (uint32_t k = 0; k < n; k++) {
        /* logits[k] - logits[top] <= 0, computed in int64 so it cannot overflow */
        float d = (float)((int64_t)logits[k] - (int64_t)logits[top]) * scale;
        sum += expf(d);
    }
    return 1.0f / sum;
}
