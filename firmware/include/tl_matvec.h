/**
 * @file tl_matvec.h
 * @brief int8 x int8 -> int32 matrix-vector products (no bias): the inner loop of every LSTM
 *        gate and of the head.
 *
 * Paired-row layout (docs/model-blob.md, format 2): rows 2p and 2p+1 of an int8 matrix share
 * one int16 per column, v = 256 * w[2p+1][j] + w[2p][j] (weights in [-127, 127]); its low byte
 * is w[2p][j]. The input vector is int16 (values -128..127), so one SMLAD on a weight word
 * accumulates two columns of both rows at once and one on its SXTB16 two columns of the even
 * row: dot(2p) = B, dot(2p+1) = (A - B) / 256. The two pairs of a row quad (rows 4q .. 4q+3)
 * are stored in blocks of 8 columns: pair 2q's 8 values, then pair 2q+1's (the last block of a
 * width that is not a multiple of 8 is shorter). rows is a multiple of 4.
 */
#ifndef TL_MATVEC_H
#define TL_MATVEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief out[r] = sum_j w[r][j] * x[j] for r < rows (row-major int8 weights; the head).
 *
 * Portable C by default; built with TL_USE_DSP on a Cortex-M4 it uses SMLAD/SXTB16 and must
 * give identical results.
 */
void tl_matvec_s8(const int8_t *w, const int8_t *x, uint32_t rows, uint32_t cols, int32_t *out);

/**
 * @brief out[r] = sum_j w[r][j] * x[j] for paired-row weights.
 * @param[in]  w     int16 [rows / 2 * cols] paired, blocked rows; @p rows a multiple of 4
 * @param[in]  x     int16 [cols], values -128..127
 * @param[out] out   int32 [rows]
 */
void tl_matvec_paired_s8(const int16_t *w, const int16_t *x, uint32_t rows, uint32_t cols,
                         int32_t *out);

/**
 * @brief Two input vectors through one pass over paired-row weights (each weight word is
 *        loaded and unpacked once for both): outa = w * xa, outb = w * xb.
 * @param[in] xab  int16 [ceil(cols / 4)][2][4]: for column group q, xa[4q .. 4q+3] then
 *                 xb[4q .. 4q+3] (columns past @p cols are ignored); see tl_embedding_x2_s8()
 */
void tl_matvec_paired_x2_s8(const int16_t *w, const int16_t *xab, uint32_t rows, uint32_t cols,
                            int32_t *outa, int32_t *outb);

#ifdef __cplusplus
}
#endif
#endif /* TL_MATVEC_H */
