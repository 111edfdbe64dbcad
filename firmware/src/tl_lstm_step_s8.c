/* One LSTM step for one direction (docs/integer-lstm.md section 4). */
#include "tl_activation.h"
#include "tl_fixed_internal.h"
#include "tl_lstm.h"
#include "tl_matvec.h"

size_t tl_lstm_get_buffer_size(uint32_t hidden)
{
    /* tl_lstm_sequence: ax of two tokens + ah; tl_lstm_step needs the first two of these */
    return (size_t)3u * 4u * hidden * sizeof(int32_t);
}

tl_status_t tl_lstm_step_s8(const tl_lstm_dir_t *dir, const int8_t *x, int8_t *h, int16_t *c,
                         uint32_t embed_dim, uint32_t hidden, void *scratch, size_t scratch_size)
{
    if (dir == NULL || x == NULL || h == NULL || c == NULL || scratch == NULL || hidden == 0u ||
        embed_dim == 0u || scratch_size < (size_t)2u * 4u * hidden * sizeof(int32_t) ||
        ((uintptr_t)scratch & 3u) != 0u) {
        return TL_ERR_ARG;
    }
    int32_t *ax = (int32_t *)scratch;
    tl_matvec_s8(dir->wx, x, 4u * hidden, embed_dim, ax);
    tl_lstm_step_ax_s8(dir, ax, h, c, hidden, ax + 4u * hidden);
    return TL_OK;
}

void tl_lstm_step_ax_s8(const tl_lstm_dir_t *dir, int32_t *ax, int8_t *h, int16_t *c, uint32_t hidden,
                     int32_t *ah)
{
    const uint32_t rows = 4u * hidden;

    /* 1. The recurrent product uses the old h. */
    tl_matvec_s8(dir->wh, h, rows, hidden, ah);

    /* 2. Gate pre-activations z (Q3.12), stored over ax. With every shift >= 32 (what the
     *    converter produces) both requantised terms fit 30 bits: two short 32-bit passes. */
    if (dir->shifts_ge32) {
        const int32_t *b = dir->b, *mx = dir->mx, *nx = dir->nx;
        for (uint32_t r = 0; r < rows; r++) {
            ax[r] = tl_requant_hi(tl_add_wrap32(b[r], ax[r]), mx[r], nx[r]);
        }
        const int32_t *mh = dir->mh, *nh = dir->nh;
        for (uint32_t r = 0; r < rows; r++) {
            ax[r] = tl_sat16_32(ax[r] + tl_requant_hi(ah[r], mh[r], nh[r]));
        }
    } else {
        for (uint32_t r = 0; r < rows; r++) {
            ax[r] = tl_gate_preact(tl_add_wrap32(dir->b[r], ax[r]), dir->mx[r], dir->nx[r],
                                   ah[r], dir->mh[r], dir->nh[r]);
        }
    }

    /* 3. Cell and hidden update per unit. */
    for (uint32_t u = 0; u < hidden; u++) {
        int32_t ig = tl_lut_interp(tl_sigmoid_lut, (int16_t)ax[u]);
        int32_t fg = tl_lut_interp(tl_sigmoid_lut, (int16_t)ax[hidden + u]);
        int32_t gg = tl_lut_interp(tl_tanh_lut, (int16_t)ax[2u * hidden + u]);
        int32_t og = tl_lut_interp(tl_sigmoid_lut, (int16_t)ax[3u * hidden + u]);
        int32_t fc = tl_rshift_round32(fg * (int32_t)c[u], 15);
        int32_t ic = tl_rshift_round32(ig * gg, 18);
        int16_t cn = (int16_t)tl_sat16_32(fc + ic); /* |fc| <= 2^15, |ic| <= 2^12: no overflow */
        int32_t tc = tl_lut_interp(tl_tanh_lut, cn);
        c[u] = cn;
        h[u] = tl_sat8(tl_rshift_round32(og * tc, 23));
    }
}
