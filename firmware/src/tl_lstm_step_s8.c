/* One LSTM step for one direction (docs/integer-lstm.md section 4): input and recurrent
 * products over the paired-row weights, gate pre-activations, cell and hidden update. */
#include "tl_lstm.h"
#include "tl_lstm_scratch_internal.h"
#include "tl_matvec.h"

size_t tl_lstm_get_buffer_size(uint32_t embed_dim, uint32_t hidden)
{
    tl_lstm_scratch_t s;
    return tl_lstm_scratch_carve(NULL, embed_dim, hidden, &s);
}

tl_status_t tl_lstm_step_s8(const tl_lstm_dir_t *dir, const int8_t *x, int16_t *state,
                            uint32_t embed_dim, uint32_t hidden, void *scratch,
                            size_t scratch_size)
{
    if (dir == NULL || x == NULL || state == NULL || scratch == NULL || hidden == 0u ||
        embed_dim == 0u || ((uintptr_t)scratch & 3u) != 0u ||
        scratch_size < tl_lstm_get_buffer_size(embed_dim, hidden)) {
        return TL_ERR_ARG;
    }
    tl_lstm_scratch_t s;
    (void)tl_lstm_scratch_carve(scratch, embed_dim, hidden, &s);
    const uint32_t rows = 4u * hidden;
    for (uint32_t j = 0; j < embed_dim; j++) {
        s.x[j] = x[j];
    }
    tl_matvec_paired_s8(dir->wx, s.x, rows, embed_dim, s.ax[0]);
    tl_matvec_paired_s8(dir->wh, state + hidden, rows, hidden, s.ah);
    tl_lstm_preact_s32(dir, s.ax[0], s.ah, rows, s.ax[0]);
    tl_lstm_cell_s16(s.ax[0], state, hidden);
    return TL_OK;
}
