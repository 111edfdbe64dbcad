#include "tl_head.h"

uint32_t tl_argmax_s32(const int32_t *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t k = 1; k < n; k++) {
        if (v[k] > v[best]) {
            best = k;
        }
    }
    return best;
}
