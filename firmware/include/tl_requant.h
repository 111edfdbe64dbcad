/**
 * @file tl_requant.h
 * @brief Requantisation (docs/integer-lstm.md section 2): int32 accumulator times an integer
 *        multiplier, shifted right with the one rounding rule (half up).
 */
#ifndef TL_REQUANT_H
#define TL_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief requant(a, M, n) = rshift_round((int64) a * M, n), rounding half up.
 * @param a accumulator; @param m multiplier in [2^30, 2^31); @param n shift in 1..62
 */
int64_t tl_requant_s32(int32_t a, int32_t m, int32_t n);

#ifdef __cplusplus
}
#endif
#endif /* TL_REQUANT_H */
