#include "tl_fixed_internal.h"
#include "tl_requant.h"

int64_t tl_requant_s32(int32_t a, int32_t m, int32_t n) { return tl_requant_inline(a, m, n); }
