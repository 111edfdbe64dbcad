/* One direction over a whole message (docs/integer-lstm.md section 5): state starts at zero,
 * only the T real tokens are processed (no padding on the device). */
#include <string.h>

#include "tl_lstm.h"

tl_status_t tl_lstm_sequence(const tl_lstm_dir_t *dir, const int8_t *emb, uint32_t vocab_size,
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
    memset(h_final, 0, hidden);
    memset(c_state, 0, (size_t)hidden * sizeof(int16_t));
    for (uint32_t k = 0; k < n_ids; k++) {
        uint32_t t = reverse ? n_ids - 1u - k : k;
        const int8_t *x = emb + (size_t)ids[t] * embed_dim;
        tl_status_t st =
            tl_lstm_step(dir, x, h_final, c_state, embed_dim, hidden, scratch, scratch_size);
        if (st != TL_OK) {
            return st;
        }
    }
    return TL_OK;
}
