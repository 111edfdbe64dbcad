/**
 * @file tl_matvec.h
 * @brief int8 x int8 -> int32 matrix-vector products (no bias): the inner loop of every LSTM
 *        gate and of the head.
 */
#ifndef TL_MATVEC_H
#define TL_MATVEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief out[r] = sum_j w[r][j] * x[j] for r < rows (row-major int8 weights).
 *
 * Portable C by default; built with TL_USE_DSP on a Cortex-M4 it uses SMLAD/SXTB16 and must
 * give identical results.
 */
void tl_matvec_s8(const int8_t *w, const int8_t *x, uint32_t rows, uint32_t cols, int32_t *out);

/**
 * @brief Two products with one weight matrix: outa = w * xa, outb = w * xb (as two
 *        tl_matvec_s8() calls; the DSP path unpacks each weight word once for both).
 */
void tl_matvec_s8_x2(const int8_t *w, const int8_t *xa, const int8_t *xb, uint32_t rows,
                     uint32_t cols, int32_t *outa, int32_t *outb);

#ifdef __cplusplus
}
#endif
#endif /* TL_MATVEC_H */
