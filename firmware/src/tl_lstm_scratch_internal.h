/* Scratch layout shared by tl_lstm_step_s8() and tl_lstm_sequence_s8(), each part on a 4-byte
 * boundary:
 *   ax[2][4H] i32 (input products of two tokens; the gate pre-activations z replace them in
 *   place) | ah[4H] i32 | x[8 * ceil(E / 4)] i16 (two tokens interleaved per 4 columns) |
 *   state[2H] i16 (c, then h) */
#ifndef TL_LSTM_SCRATCH_INTERNAL_H
#define TL_LSTM_SCRATCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t *ax[2];
    int32_t *ah;
    int16_t *x;
    int16_t *state;
} tl_lstm_scratch_t;

/* Fills *s from base (when not NULL) and returns the bytes the layout needs. */
static inline size_t tl_lstm_scratch_carve(void *base, uint32_t embed_dim, uint32_t hidden,
                                           tl_lstm_scratch_t *s)
{
    const size_t rows = 4u * (size_t)hidden;
    const size_t sizes[5] = {rows * 4u, rows * 4u, rows * 4u,
                             16u * (((size_t)embed_dim + 3u) / 4u), 4u * (size_t)hidden};
    uint8_t *p = (uint8_t *)base;
    size_t off = 0;
    void *parts[5];
    for (int k = 0; k < 5; k++) {
        parts[k] = p != NULL ? p + off : NULL;
        off += sizes[k];
    }
    s->ax[0] = (int32_t *)parts[0];
    s->ax[1] = (int32_t *)parts[1];
    s->ah = (int32_t *)parts[2];
    s->x = (int16_t *)parts[3];
    s->state = (int16_t *)parts[4];
    return off;
}

#endif /* TL_LSTM_SCRATCH_INTERNAL_H */
