/* One direction over a whole message (docs/integer-lstm.md section 5): state starts at zero,
 * only the T real tokens are processed (no padding on the device). The input products do not
 * depend on h, so two tokens share one pass over the input weights. */
#include <string.h>

#include "tl_embedding.h"
#include "tl_lstm.h"
#include "tl_lstm_scratch_internal.h"
#include "tl_matvec.h"

/* The recurrent half of a step: ax (the token's input products) becomes z in place; the new
 * hidden state is added to the pooling statistics when there are any. */
static void recur(const tl_lstm_dir_t *dir, int32_t *ax, uint32_t hidden,
                  const tl_lstm_scratch_t *s, tl_lstm_stats_t *stats)
{
    const uint32_t rows = 4u * hidden;
    tl_matvec_paired_s8(dir->wh, s->state + hidden, rows, hidden, s->ah);
    tl_lstm_preact_s32(dir, ax, s->ah, rows, ax);
    tl_lstm_cell_s16(ax, s->state, hidden);
    if (stats != NULL) {
        tl_lstm_stats_add(stats, s->state + hidden, hidden);
    }
}

void tl_lstm_stats_add(tl_lstm_stats_t *stats, const int16_t *h, uint32_t hidden)
{
    for (uint32_t u = 0; u < hidden; u++) {
        stats->sum[u] += h[u];
        if (h[u] > stats->max[u]) {
            stats->max[u] = (int8_t)h[u];
        }
    }
}

tl_status_t tl_lstm_sequence_s8(const tl_lstm_dir_t *dir, const int8_t *emb, uint32_t vocab_size,
                                const uint16_t *ids, uint32_t n_ids, int reverse,
                                uint32_t embed_dim, uint32_t hidden, int8_t *h_final,
                                tl_lstm_stats_t *stats, void *scratch, size_t scratch_size)
{
    if (dir == NULL || emb == NULL || h_final == NULL || hidden == 0u ||
        embed_dim == 0u || (ids == NULL && n_ids != 0u)) {
        return TL_ERR_ARG;
    }
    for (uint32_t t = 0; t < n_ids; t++) {
        if (ids[t] >= vocab_size) {
            return TL_ERR_ARG;
        }
    }
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0u ||
        scratch_size < tl_lstm_get_buffer_size(embed_dim, hidden)) {
        return TL_ERR_ARG;
    }
    tl_lstm_scratch_t s;
    (void)tl_lstm_scratch_carve(scratch, embed_dim, hidden, &s);
    memset(s.state, 0, 2u * (size_t)hidden * sizeof(int16_t));
    if (stats != NULL) {
        memset(stats->sum, 0, (size_t)hidden * sizeof(int32_t));
        memset(stats->max, 0x80, hidden); /* -128 */
    }
    const uint32_t rows = 4u * hidden;
    for (uint32_t k = 0; k < n_ids; k += 2u) {
        uint32_t t0 = reverse ? n_ids - 1u - k : k;
        if (k + 1u < n_ids) {
            uint32_t t1 = reverse ? t0 - 1u : t0 + 1u;
            tl_embedding_x2_s8(emb, embed_dim, ids[t0], ids[t1], s.x);
            tl_matvec_paired_x2_s8(dir->wx, s.x, rows, embed_dim, s.ax[0], s.ax[1]);
            recur(dir, s.ax[0], hidden, &s, stats);
            recur(dir, s.ax[1], hidden, &s, stats);
        } else {
            tl_embedding_s8(emb, embed_dim, ids[t0], s.x);
            tl_matvec_paired_s8(dir->wx, s.x, rows, embed_dim, s.ax[0]);
            recur(dir, s.ax[0], hidden, &s, stats);
        }
    }
    for (uint32_t u = 0; u < hidden; u++) {
        h_final[u] = (int8_t)s.state[hidden + u];
    }
    return TL_OK;
}
