/* Top level: ties tokenizer, embedding, both LSTM directions, pooling and the head together
 * over one caller-owned scratch buffer laid out as
 *   hashes[L] u32 | rows[L] u16 | x[L][E] i8 (tokenizer version 2 only) | pooled[P_w] i8 |
 *   stats: sum[2H] i32, max[2H] i8 (mean+max pooling only) | state[2H] i16 (self-test: c, h) |
 *   kernel scratch (max of LSTM, head)
 * each part starting on a 4-byte boundary. Tokenizer version 1 reads the embedding rows in
 * place (rows[t] = R + h_t mod (V - R)); version 2 computes each token's input x_t once (the
 * hash embedding) and both directions read those rows (rows[t] = t). */
#include <string.h>

#include "tl_engine.h"
#include "tl_tokenizer.h"

static size_t align4(size_t x) { return (x + 3u) & ~(size_t)3u; }

typedef struct {
    uint32_t *hashes;
    uint16_t *rows;
    int8_t *x;
    int8_t *pooled;
    int32_t *sum;
    int8_t *max;
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

/* Byte sizes of the layout's parts, in order. */
static void part_sizes(const tl_blob_view_t *v, size_t sizes[8])
{
    const size_t L = v->max_len, H = v->hidden;
    const int meanmax = v->pooling == TL_POOLING_MEANMAX;
    sizes[0] = align4(L * sizeof(uint32_t));
    sizes[1] = align4(L * sizeof(uint16_t));
    /* version 2: L inputs; the self-test steps one token at a time through x[0] */
    sizes[2] = v->tokenizer_version == 2u ? align4(L * v->embed_dim) : 0u;
    sizes[3] = align4(v->pooled_dim);
    sizes[4] = meanmax ? 2u * H * sizeof(int32_t) : 0u;
    sizes[5] = meanmax ? align4(2u * H) : 0u;
    sizes[6] = 2u * align4(H * sizeof(int16_t));
    sizes[7] = kernel_size(v);
}

size_t tl_engine_get_buffer_size(const tl_blob_view_t *view)
{
    if (view == NULL) {
        return 0;
    }
    size_t sizes[8], total = 0;
    part_sizes(view, sizes);
    for (int k = 0; k < 8; k++) {
        total += sizes[k];
    }
    return total;
}

static tl_status_t carve(const tl_blob_view_t *v, void *scratch, size_t size, layout_t *l)
{
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0u || size < tl_engine_get_buffer_size(v)) {
        return TL_ERR_BUFFER;
    }
    size_t sizes[8];
    part_sizes(v, sizes);
    uint8_t *p = (uint8_t *)scratch;
    void *parts[8];
    for (int k = 0; k < 8; k++) {
        parts[k] = sizes[k] != 0u ? p : NULL;
        p += sizes[k];
    }
    l->hashes = (uint32_t *)parts[0];
    l->rows = (uint16_t *)parts[1];
    l->x = (int8_t *)parts[2];
    l->pooled = (int8_t *)parts[3];
    l->sum = (int32_t *)parts[4];
    l->max = (int8_t *)parts[5];
    l->state = (int16_t *)parts[6];
    l->kernel = parts[7];
    l->kernel_size = sizes[7];
    return TL_OK;
}

/* floor((2 * sum + T) / (2 * T)): the mean of T int8 states rounded half up (T >= 1). */
static int8_t mean_round(int32_t sum, uint32_t t)
{
    int32_t num = 2 * sum + (int32_t)t, den = 2 * (int32_t)t;
    int32_t q = num / den;
    return (int8_t)(num % den != 0 && num < 0 ? q - 1 : q);
}

/* Pooling mode 1 from both directions' statistics: [mean_f ; mean_b ; max_f ; max_b]. */
static void pool_meanmax(const tl_blob_view_t *v, const layout_t *l, uint32_t n)
{
    const uint32_t H2 = 2u * v->hidden;
    for (uint32_t u = 0; u < H2; u++) {
        l->pooled[u] = n != 0u ? mean_round(l->sum[u], n) : 0;
        l->pooled[H2 + u] = n != 0u ? l->max[u] : 0;
    }
}

/* Head, argmax and confidence over the pooled vector. */
static tl_status_t finish(const tl_blob_view_t *v, const layout_t *l, tl_engine_out_t *out)
{
    tl_status_t st = tl_fully_connected_s8(&v->head, l->pooled, v->pooled_dim, v->num_labels,
                                           out->logits, l->kernel, l->kernel_size);
    if (st != TL_OK) {
        return st;
    }
    out->label = tl_argmax_s32(out->logits, v->num_labels);
    out->confidence = tl_confidence_f32(out->logits, v->num_labels, v->logit_frac_bits);
    return TL_OK;
}

/* Both directions over the rows of @p emb (V rows, or the message's own inputs), then pooling
 * and the head. */
static tl_status_t run_rows(const tl_blob_view_t *v, const int8_t *emb, uint32_t n_rows,
                            uint32_t n, const layout_t *l, tl_engine_out_t *out)
{
    const int meanmax = v->pooling == TL_POOLING_MEANMAX;
    for (uint32_t d = 0; d < 2u; d++) {
        tl_lstm_stats_t stats = {meanmax ? l->sum + d * v->hidden : NULL,
                                 meanmax ? l->max + d * v->hidden : NULL};
        tl_status_t st = tl_lstm_sequence_s8(&v->dir[d], emb, n_rows, l->rows, n, (int)d,
                                             v->embed_dim, v->hidden, l->pooled + d * v->hidden,
                                             meanmax ? &stats : NULL, l->kernel, l->kernel_size);
        if (st != TL_OK) {
            return st;
        }
    }
    if (meanmax) {
        pool_meanmax(v, l, n);
    }
    out->n_ids = n;
    return finish(v, l, out);
}

/* The model over the key hashes in l->hashes[0..n-1]. */
static tl_status_t run_hashes(const tl_blob_view_t *v, uint32_t n, const layout_t *l,
                              tl_engine_out_t *out)
{
    if (v->tokenizer_version == 1u) {
        for (uint32_t t = 0; t < n; t++) {
            l->rows[t] = (uint16_t)tl_hash_row(l->hashes[t], 0u, v->vocab_size);
        }
        return run_rows(v, v->emb, v->vocab_size, n, l, out);
    }
    for (uint32_t t = 0; t < n; t++) {
        tl_embedding_hash_s8(&v->hash, l->hashes[t], l->x + (size_t)t * v->embed_dim);
        l->rows[t] = (uint16_t)t;
    }
    return run_rows(v, l->x, n, n, l, out);
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
    st = tl_tokenize_hashes(text, len, view->max_len, l.hashes, &n);
    if (st != TL_OK) {
        return st;
    }
    if (out->ids != NULL) { /* version 1 ids: each token's row_0 */
        for (uint32_t t = 0; t < n; t++) {
            out->ids[t] = (uint16_t)tl_hash_row(l.hashes[t], 0u, view->vocab_size);
        }
    }
    return run_hashes(view, n, &l, out);
}

tl_status_t tl_engine_classify_hashes(const tl_blob_view_t *view, const uint32_t *hashes,
                                      uint32_t n, void *scratch, size_t scratch_size,
                                      tl_engine_out_t *out)
{
    if (view == NULL || out == NULL || out->logits == NULL || n > view->max_len ||
        (hashes == NULL && n != 0u)) {
        return TL_ERR_ARG;
    }
    layout_t l;
    tl_status_t st = carve(view, scratch, scratch_size, &l);
    if (st != TL_OK) {
        return st;
    }
    if (n != 0u) {
        memcpy(l.hashes, hashes, (size_t)n * sizeof(uint32_t));
    }
    return run_hashes(view, n, &l, out);
}

tl_status_t tl_engine_classify_ids(const tl_blob_view_t *view, const uint16_t *ids,
                                   uint32_t n_ids, void *scratch, size_t scratch_size,
                                   tl_engine_out_t *out)
{
    if (view == NULL || out == NULL || out->logits == NULL || n_ids > view->max_len ||
        (ids == NULL && n_ids != 0u) || view->tokenizer_version != 1u) {
        return TL_ERR_ARG;
    }
    layout_t l;
    tl_status_t st = carve(view, scratch, scratch_size, &l);
    if (st != TL_OK) {
        return st;
    }
    if (n_ids != 0u) {
        memcpy(l.rows, ids, (size_t)n_ids * sizeof(uint16_t));
    }
    return run_rows(view, view->emb, view->vocab_size, n_ids, &l, out);
}

/* One direction over a self-test record's tokens read in place (ids for tokenizer version 1,
 * key hashes for version 2; checked by the reader), one step at a time (T may exceed L). */
static tl_status_t run_direction_i32(const tl_blob_view_t *v, uint32_t d, const int32_t *tokens,
                                     uint32_t n, const layout_t *l)
{
    const int meanmax = v->pooling == TL_POOLING_MEANMAX;
    tl_lstm_stats_t stats = {meanmax ? l->sum + d * v->hidden : NULL,
                             meanmax ? l->max + d * v->hidden : NULL};
    memset(l->state, 0, 2u * (size_t)v->hidden * sizeof(int16_t));
    if (meanmax) {
        memset(stats.sum, 0, (size_t)v->hidden * sizeof(int32_t));
        memset(stats.max, 0x80, v->hidden);
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t t = d != 0u ? n - 1u - k : k;
        const int8_t *x = v->emb + (size_t)(uint32_t)tokens[t] * v->embed_dim;
        if (v->tokenizer_version != 1u) {
            tl_embedding_hash_s8(&v->hash, (uint32_t)tokens[t], l->x);
            x = l->x;
        }
        tl_status_t st = tl_lstm_step_s8(&v->dir[d], x, l->state, v->embed_dim, v->hidden,
                                         l->kernel, l->kernel_size);
        if (st != TL_OK) {
            return st;
        }
        if (meanmax) {
            tl_lstm_stats_add(&stats, l->state + v->hidden, v->hidden);
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
        if (st == TL_OK && view->pooling == TL_POOLING_MEANMAX) {
            pool_meanmax(view, &l, t);
        }
        tl_engine_out_t out = {logits, NULL, t, 0, 0.0f};
        if (st == TL_OK) {
            st = finish(view, &l, &out);
        }
        if (st != TL_OK) {
            return st;
        }
        if (out.label != (uint32_t)s[p + 1u + t] ||
            memcmp(logits, s + p + 2u + t, view->num_labels * sizeof(int32_t)) != 0) {
            return TL_ERR_SELFTEST;
        }
        p += 2u + t + view->num_labels;
    }
    return TL_OK;
}
