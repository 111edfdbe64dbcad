/* Top level: ties tokenizer, embedding, both LSTM directions, pooling and the head together
 * over one caller-owned scratch buffer laid out as
 *   hashes[L] u32 | rows[L] u16 | x[L][E] i8 (tokenizer version 2 only) | pooled[P_w] i8 |
 *   stats: sum[2H] i32, max[2H] i8 (mean+max pooling only) | state[2H] i16 (self-test and
 *   tagging: c, h) | emissions[L][K] i32 (tagging section only) |
 *   kernel scratch (max of LSTM, head, Viterbi)
 * each part starting on a 4-byte boundary. Tokenizer version 1 reads the embedding rows in
 * place (rows[t] = R + h_t mod (V - R)); version 2 computes each token's input x_t once (the
 * hash embedding) and both directions read those rows (rows[t] = t).
 *
 * Tagging (docs/integer-lstm.md section 8) keeps no per-token states: each direction steps
 * one token at a time and adds its share of the token's tag-head products to that token's
 * emission accumulator, so the tagger costs L x K int32 of RAM instead of L x 2H int8 states;
 * after both directions the accumulators are requantised in place and decoded by Viterbi in
 * the kernel scratch. */
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
    int32_t *emissions;
    void *kernel;
    size_t kernel_size;
} layout_t;

static size_t kernel_size(const tl_blob_view_t *v)
{
    size_t a = tl_lstm_get_buffer_size(v->embed_dim, v->hidden);
    size_t b = tl_head_get_buffer_size(v->num_labels);
    size_t c = v->num_tags != 0u ? tl_crf_viterbi_s32_get_buffer_size(v->max_len, v->num_tags)
                                 : 0u;
    size_t ab = a > b ? a : b;
    return ab > c ? ab : c;
}

/* Byte sizes of the layout's parts, in order. */
enum { NPARTS = 9 };

static void part_sizes(const tl_blob_view_t *v, size_t sizes[NPARTS])
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
    sizes[7] = (size_t)L * v->num_tags * sizeof(int32_t);
    sizes[8] = kernel_size(v);
}

size_t tl_engine_get_buffer_size(const tl_blob_view_t *view)
{
    if (view == NULL) {
        return 0;
    }
    size_t sizes[NPARTS], total = 0;
    part_sizes(view, sizes);
    for (int k = 0; k < NPARTS; k++) {
        total += sizes[k];
    }
    return total;
}

static tl_status_t carve(const tl_blob_view_t *v, void *scratch, size_t size, layout_t *l)
{
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0u || size < tl_engine_get_buffer_size(v)) {
        return TL_ERR_BUFFER;
    }
    size_t sizes[NPARTS];
    part_sizes(v, sizes);
    uint8_t *p = (uint8_t *)scratch;
    void *parts[NPARTS];
    for (int k = 0; k < NPARTS; k++) {
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
    l->emissions = (int32_t *)parts[7];
    l->kernel = parts[8];
    l->kernel_size = sizes[8];
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

/* One direction one token at a time (input x_t = emb row rows[t]), adding each step's state
 * to the pooling statistics and its share of the tag-head products to emissions[t]. */
static tl_status_t tag_direction(const tl_blob_view_t *v, uint32_t d, const int8_t *emb,
                                 uint32_t n, const layout_t *l)
{
    const int meanmax = v->pooling == TL_POOLING_MEANMAX;
    const uint32_t H = v->hidden, K = v->num_tags;
    tl_lstm_stats_t stats = {meanmax ? l->sum + d * H : NULL, meanmax ? l->max + d * H : NULL};
    memset(l->state, 0, 2u * (size_t)H * sizeof(int16_t));
    if (meanmax) {
        memset(stats.sum, 0, (size_t)H * sizeof(int32_t));
        memset(stats.max, 0x80, H);
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t t = d != 0u ? n - 1u - k : k;
        tl_status_t st = tl_lstm_step_s8(&v->dir[d], emb + (size_t)l->rows[t] * v->embed_dim,
                                         l->state, v->embed_dim, H, l->kernel, l->kernel_size);
        if (st != TL_OK) {
            return st;
        }
        if (meanmax) {
            tl_lstm_stats_add(&stats, l->state + H, H);
        }
        tl_tag_head_acc_s8(v->tag_head.w, 2u * H, d * H, l->state + H, H, K,
                           l->emissions + (size_t)t * K);
    }
    for (uint32_t u = 0; u < H; u++) {
        l->pooled[d * H + u] = n != 0u ? (int8_t)l->state[H + u] : 0;
    }
    return TL_OK;
}

/* Classification and tagging: both directions step by step, the head, then the emissions and
 * their Viterbi path into out->tags. */
static tl_status_t run_tagged(const tl_blob_view_t *v, const int8_t *emb, uint32_t n,
                              const layout_t *l, tl_engine_out_t *out)
{
    const uint32_t K = v->num_tags;
    memset(l->emissions, 0, (size_t)n * K * sizeof(int32_t));
    for (uint32_t d = 0; d < 2u; d++) {
        tl_status_t st = tag_direction(v, d, emb, n, l);
        if (st != TL_OK) {
            return st;
        }
    }
    if (v->pooling == TL_POOLING_MEANMAX) {
        pool_meanmax(v, l, n);
    }
    out->n_ids = n;
    tl_status_t st = finish(v, l, out);
    if (st != TL_OK) {
        return st;
    }
    for (uint32_t t = 0; t < n; t++) {
        tl_tag_head_requant_s32(&v->tag_head, K, l->emissions + (size_t)t * K);
    }
    out->emissions = l->emissions;
    return tl_crf_viterbi_s32(&v->crf, l->emissions, n, out->tags, l->kernel, l->kernel_size);
}

/* Both directions over the rows of @p emb (V rows, or the message's own inputs), then pooling
 * and the head (and the tagger when out->tags is set). */
static tl_status_t run_rows(const tl_blob_view_t *v, const int8_t *emb, uint32_t n_rows,
                            uint32_t n, const layout_t *l, tl_engine_out_t *out)
{
    const int meanmax = v->pooling == TL_POOLING_MEANMAX;
    out->emissions = NULL;
    if (out->tags != NULL) {
        for (uint32_t t = 0; t < n; t++) {
            if (l->rows[t] >= n_rows) {
                return TL_ERR_ARG;
            }
        }
        return run_tagged(v, emb, n, l, out);
    }
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
    if (view == NULL || out == NULL || out->logits == NULL || (text == NULL && len != 0u) ||
        (out->tags != NULL && view->num_tags == 0u)) {
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
        (out->tags != NULL && view->num_tags == 0u) ||
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
        (out->tags != NULL && view->num_tags == 0u) ||
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
        tl_engine_out_t out = {logits, NULL, t, 0, 0.0f, NULL, NULL};
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
