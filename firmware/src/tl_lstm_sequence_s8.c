/* One direction over a whole message (docs/integer-lstm.md section 5): state starts at zero,
 * only the T real tokens are processed (no padding on the device). */
#include <string.h>

#include "tl_lstm.h"
#include "tl_matvec.h"

tl_status_t tl_lstm_sequence_s8(const tl_lstm_dir_t *dir, const int8_t *emb, uint32_t vocab_size,
                             const uint16_t *ids, uint32_t n_ids, int reverse, uint32_t embed_dim,
                             uint32_t hidden, int8_t *h_final, int16_t *c_state, void *scratch,
                             size_t scratch_size)
{
    if (dir == NULL || emb == NULL || h_final == NULL || c_state == NULL ||
        (ids == NULL && n_ids != 0u)) {
        return TL_ERR_ARG;
    }
    for (uint32_t t = 0; t < n_ids; t++) {
        if (ids[t] >= vocab_size) {
            return TL_ERR_ARG;
        }
    }
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0u ||
        scratch_size < tl_lstm_get_buffer_size(hidden)) {
        return TL_ERR_ARG;
    }
    memset(h_final, 0, hidden);
    memset(c_state, 0, (size_t)hidden * sizeof(int16_t));
    const uint32_t rows = 4u * hidden;
    int32_t *ax0 = (int32_t *)scratch;
    int32_t *ax1 = ax0 + rows;
    int32_t *ah = ax1 + rows;
    /* Input projections do not depend on h: two tokens share one pass over Wx. */
    for (uint32_t k = 0; k < n_ids; k += 2u) {
        uint32_t t0 = reverse ? n_ids - 1u - k : k;
        const int8_t *x0 = emb + (size_t)ids[t0] * embed_dim;
        if (k + 1u < n_ids) {
            uint32_t t1 = reverse ? t0 - 1u : t0 + 1u;
            const int8_t *x1 = emb + (size_t)ids[t1] * embed_dim;
            tl_matvec_s8_x2(dir->wx, x0, x1, rows, embed_dim, ax0, ax1);
            tl_lstm_step_ax_s8(dir, ax0, h_final, c_state, hidden, ah);
            tl_lstm_step_ax_s8(dir, ax1, h_final, c_state, hidden, ah);
        } else {
            tl_matvec_s8(dir->wx, x0, rows, embed_dim, ax0);
            tl_lstm_step_ax_s8(dir, ax0, h_final, c_state, hidden, ah);
        }
    }
    return TL_OK;
}
