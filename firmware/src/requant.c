#include "fixed_internal.h"
#include "tl_lstm.h"

int64_t tl_requant(int32_t a, int32_t m, int32_t n) { return tl_requant_inline(a, m, n); }
