/* Top level: ties tokenizer, both LSTM directions, pooling (mode 0) and the head together over
 * one caller-owned scratch buffer laid out as
 *   ids[L] u16 | pooled[2H] i8 (h_fwd ; h_bwd) | state[2H] i16 (self-test: c, h) |
 *   kernel scratch (max of LSTM, head)
 * each part starting on a 4-byte boundary. */
#include <string.h>

#include "tl_engine.h"
#include "tl_tokenizer.h"

static size_t align4(size_t x) { return (x + 3u) & ~(size_t)3u; }

typedef struct {
    uint16_t *ids;
    int8_t *pooled;
    int16_t *state;
    void *kernel;
    size_t kernel_size;
} layout_t;

static size_t kernel_size(const tl_blob_view_t *v)
{
    size_t a = tl_lstm_get_buffer_size(v->embed_dim, v->hidden);
    size_t b = tl_head_get_buffer_size(v->num_labels);
    return a > b ? a : b;
}

size_t tl_engine_get_buffer_size(const tl_blob_view_t *view)
{
    if (view == NULL) {
        return 0;
    }
    return align4((size_t)view->max_len * sizeof(uint16_t)) + align4(2u * (size_t)view->hidden) +
           2u * align4((size_t)view->hidden * sizeof(int16_t)) + kernel_size(view);
}

static tl_status_t carve(const tl_blob_view_t *v, void *scratch, size_t size, layout_t *l)
{
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0u || size < tl_engine_get_buffer_size(v)) {
        return TL_ERR_BUFFER;
    }
    uint8_t *p = (uint8_t *)scratch;
    l->ids = (uint16_t *)(void *)p;
    p += align4((size_t)v->max_len * sizeof(uint16_t));
    l->pooled = (int8_t *)p;
    p += align4(2u * (size_t)v->hidden);
    l->state = (int16_t *)(void *)p;
    p += 2u * align4((size_t)v->hidden * sizeof(int16_t));
    l->kernel = p;
    l->kernel_size = kernel_size(v);
    return TL_OK;
}

static tl_status_t run_model(const tl_blob_view_t *v, const uint16_t *ids, uint32_t n_ids,
                             const layout_t *l, tl_engine_out_t *out)
{
    for (uint32_t d = 0; d < 2u; d++) {
        tl_status_t st = tl_lstm_sequence_s8(&v->dir[d], v->emb, v->vocab_size, ids, n_ids, (int)d,
                                          v->embed_dim, v->hidden, l->pooled + d * v->hidden,
                                          l->kernel, l->kernel_size);
        if (st != TL_OK) {
            return st;
        }
    }
    tl_status_t st = tl_fully_connected_s8(&v->head, l->pooled, 2u * v->hidden, v->num_labels,
                                    out->logits, l->kernel, l->kernel_size);
    if (st != TL_OK) {
        return st;
    }
    out->n_ids = n_ids;
    out->label = tl_argmax_s32(out->logits, v->num_labels);
    out->confidence = tl_confidence_f32(out->logits, v->num_labels, v->logit_frac_bits);
    return TL_OK;
}

tl_status_t tl_engine_classify(const tl_blob_view_t *view, const uint8_t *text, size_t len,
                               void *scratch, size_t scratch_size, tl_engine_out_t *out)
{
    if (view == NULL || out == NULL || out->logits == NULL || (text == NULL && len != 0u)) {
        return TL_ERR_ARG;
    }
    layout_t l;
    tl_status_t st = carve(view, scratch, scratch_size, &l);
    if (st != TL_OK) {
        return st;
    }
    uint32_t n = 0;
    st = tl_tokenize(text, len, view->vocab_size, view->max_len, l.ids, &n);
    if (st != TL_OK) {
        return st;
    }
    if (out->ids != NULL) {
        memcpy(out->ids, l.ids, (size_t)n * sizeof(uint16_t));
    }
    return run_model(view, l.ids, n, &l, out);
}

tl_status_t tl_engine_classify_ids(const tl_blob_view_t *view, const uint16_t *ids,
                                   uint32_t n_ids, void *scratch, size_t scratch_size,
                                   tl_engine_out_t *out)
{
    if (view == NULL || out == NULL || out->logits == NULL || n_ids > view->max_len ||
        (ids == NULL && n_ids != 0u)) {
        return TL_ERR_ARG;
    }
    layout_t l;
    tl_status_t st = carve(view, scratch, scratch_size, &l);
    if (st != TL_OK) {
        return st;
    }
    return run_model(view, ids, n_ids, &l, out);
}

/* One direction over int32 ids read in place (self-test records; ids checked by the reader). */
static tl_status_t run_direction_i32(const tl_blob_view_t *v, uint32_t d, const int32_t *ids,
                                     uint32_t n, const layout_t *l)
{
    memset(l->state, 0, 2u * (size_t)v->hidden * sizeof(int16_t));
    for (uint32_t k = 0; k < n; k++) {
        uint32_t t = d != 0u ? n - 1u - k : k;
        const int8_t *x = v->emb + (size_t)(uint32_t)ids[t] * v->embed_dim;
        tl_status_t st = tl_lstm_step_s8(&v->dir[d], x, l->state, v->embed_dim, v->hidden,
                                         l->kernel, l->kernel_size);
        if (st != TL_OK) {
            return st;
        }
    }
    int8_t *h = l->pooled + d * v->hidden;
    for (uint32_t u = 0; u < v->hidden; u++) {
        h[u] = (int8_t)l->state[v->hidden + u];
    }
    return TL_OK;
}

tl_status_t tl_engine_selftest(const tl_blob_view_t *view, void *scratch, size_t scratch_size)
{
    if (view == NULL) {
        return TL_ERR_ARG;
    }
    layout_t l;
    tl_status_t st = carve(view, scratch, scratch_size, &l);
    if (st != TL_OK) {
        return st;
    }
    const int32_t *s = view->selftest;
    uint32_t p = 0;
    int32_t logits[TL_MAX_LABELS];
    while (s != NULL && p < view->selftest_len) {
        /* tl_blob_parse() checked the record structure, every id and the label. */
        uint32_t t = (uint32_t)s[p];
        for (uint32_t d = 0; d < 2u && st == TL_OK; d++) {
            st = run_direction_i32(view, d, s + p + 1u, t, &l);
        }
        if (st == TL_OK) {
            st = tl_fully_connected_s8(&view->head, l.pooled, 2u * view->hidden, view->num_labels, logits,
                                l.kernel, l.kernel_size);
        }
        if (st != TL_OK) {
            return st;
        }
        if (tl_argmax_s32(logits, view->num_labels) != (uint32_t)s[p + 1u + t] ||
            memcmp(logits, s + p + 2u + t, view->num_labels * sizeof(int32_t)) != 0) {
            return TL_ERR_SELFTEST;
        }
        p += 2u + t + view->num_labels;
    }
    return TL_OK;
}
