/* Model blob reader (docs/model-blob.md, format 3). Every offset and size from the blob is
 * checked in 64-bit arithmetic against the received length before it is used, the CRC is
 * checked before anything past the header is interpreted, and header fields are read byte by
 * byte (little-endian) so the header itself needs no alignment. Tensor pointers are handed out
 * in place, so the blob base must be 4-byte aligned.
 *
 * Which tensors a blob holds is one table, k_rules: tag, dtype, shape from the header, and the
 * tokenizer versions that require it (0: optional). A new tokenizer version sets its bit in
 * TL_BLOB_TOKENIZER_VERSIONS and adds its rows here. */
#include <string.h>

#include "tl_blob.h"
#include "tl_utf8_internal.h"

_Static_assert(sizeof(float) == 4, "f32 input_scale");
_Static_assert(sizeof(tl_lstm_rq_t) == 8u * sizeof(int32_t), "requant record is 8 int32");

enum { DT_INT8 = 1, DT_INT16 = 2, DT_INT32 = 3 };
/* dims as functions of the header; D_ANY: any length (1-D), D_ONE: 1 (vector) */
enum { D_V, D_E, D_H, D_2H, D_4H, D_C, D_PW, D_RQ, D_P, D_K, D_ANY, D_ONE };
#define TOK_V1 (1u << 1)
#define TOK_V2 (1u << 2)
#define TOK_ALL (TOK_V1 | TOK_V2)

typedef struct {
    char tag[5];
    uint8_t dtype;
    uint8_t ndim;
    uint8_t dim0;
    uint8_t dim1;
    uint8_t required; /* bit k: required when the blob's tokenizer_version is k */
} tensor_rule_t;

enum {
    T_EMB, T_IMP, T_FWX, T_FWH, T_FRQ, T_BWX, T_BWH, T_BRQ, T_HW, T_HB, T_HM, T_HN, T_STST,
    T_TGW, T_TGB, T_TGM, T_TGN, T_TGTR, T_TGST, T_TGEN, T_TGNM, T_COUNT
};
static const tensor_rule_t k_rules[T_COUNT] = {
    [T_EMB] = {"EMB ", DT_INT8, 2, D_V, D_E, TOK_ALL},
    [T_IMP] = {"IMP ", DT_INT8, 2, D_P, D_K, TOK_V2}, /* importance weights (0 rows: P = 0) */
    [T_FWX] = {"FWX ", DT_INT8, 2, D_4H, D_E, TOK_ALL}, /* paired rows, gate-interleaved */
    [T_FWH] = {"FWH ", DT_INT8, 2, D_4H, D_H, TOK_ALL},
    [T_FRQ] = {"FRQ ", DT_INT32, 2, D_4H, D_RQ, TOK_ALL}, /* requant records */
    [T_BWX] = {"BWX ", DT_INT8, 2, D_4H, D_E, TOK_ALL},
    [T_BWH] = {"BWH ", DT_INT8, 2, D_4H, D_H, TOK_ALL},
    [T_BRQ] = {"BRQ ", DT_INT32, 2, D_4H, D_RQ, TOK_ALL},
    [T_HW] = {"HW  ", DT_INT8, 2, D_C, D_PW, TOK_ALL},
    [T_HB] = {"HB  ", DT_INT32, 1, D_C, D_ONE, TOK_ALL},
    [T_HM] = {"HM  ", DT_INT32, 1, D_C, D_ONE, TOK_ALL},
    [T_HN] = {"HN  ", DT_INT32, 1, D_C, D_ONE, TOK_ALL},
    [T_STST] = {"STST", DT_INT32, 1, D_ANY, D_ONE, 0},
    /* the optional tagging section: all eight or none (check_tagger); K = TGW's rows */
    [T_TGW] = {"TGW ", DT_INT8, 2, D_ANY, D_2H, 0},
    [T_TGB] = {"TGB ", DT_INT32, 1, D_ANY, D_ONE, 0},
    [T_TGM] = {"TGM ", DT_INT32, 1, D_ANY, D_ONE, 0},
    [T_TGN] = {"TGN ", DT_INT32, 1, D_ANY, D_ONE, 0},
    [T_TGTR] = {"TGTR", DT_INT32, 2, D_ANY, D_ANY, 0},
    [T_TGST] = {"TGST", DT_INT32, 1, D_ANY, D_ONE, 0},
    [T_TGEN] = {"TGEN", DT_INT32, 1, D_ANY, D_ONE, 0},
    [T_TGNM] = {"TGNM", DT_INT8, 1, D_ANY, D_ONE, 0},
};
#define DIR_ENTRY_SIZE 24u
#define WEIGHT_MAX 127

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t align4(uint64_t x) { return (x + 3u) & ~(uint64_t)3u; }

static uint32_t dim_value(uint8_t which, const tl_blob_view_t *v)
{
    switch (which) {
    case D_V: return v->vocab_size;
    case D_E: return v->embed_dim;
    case D_H: return v->hidden;
    case D_2H: return 2u * v->hidden;
    case D_4H: return 4u * v->hidden;
    case D_C: return v->num_labels;
    case D_PW: return v->pooled_dim;
    case D_RQ: return (uint32_t)(sizeof(tl_lstm_rq_t) / sizeof(int32_t));
    case D_P: return v->hash.buckets;
    case D_K: return v->hash.hashes;
    default: return 1u;
    }
}

/* Header fields (section "Header"); fills the scalar part of the view. */
static tl_status_t check_header(const uint8_t *b, tl_blob_view_t *v)
{
    v->model_version = rd32(b + 8);
    v->vocab_size = rd16(b + 16);
    v->max_len = rd16(b + 18);
    v->embed_dim = rd16(b + 20);
    v->hidden = rd16(b + 22);
    v->num_labels = rd16(b + 24);
    v->pooling = b[26];
    v->tokenizer_version = b[27];
    v->logit_frac_bits = (int32_t)rd32(b + 48);
    v->pooled_dim = (v->pooling == TL_POOLING_MEANMAX ? 4u : 2u) * v->hidden;
    if (rd16(b + 6) != TL_BLOB_HEADER_SIZE || v->model_version < 1u || v->vocab_size < 16u ||
        v->max_len < 1u || v->max_len > TL_MAX_LEN || v->embed_dim < 1u ||
        v->embed_dim > 256u || v->hidden < 1u || v->hidden > TL_MAX_HIDDEN ||
        v->num_labels < 2u || v->num_labels > TL_MAX_LABELS || v->pooling > TL_POOLING_MEANMAX ||
        v->logit_frac_bits != 10) {
        return TL_ERR_INCONSISTENT;
    }
    /* Bytes 52..63: hashes K (u8), 0 (u8), buckets P (u16), embedding multiplier and shift. */
    tl_hash_embedding_t *h = &v->hash;
    h->vocab_size = v->vocab_size;
    h->embed_dim = v->embed_dim;
    h->hashes = b[52];
    h->buckets = rd16(b + 54);
    h->m = (int32_t)rd32(b + 56);
    h->n = (int32_t)rd32(b + 60);
    if (v->tokenizer_version == 1u) {
        return h->hashes == 1u && b[53] == 0u && h->buckets == 0u && h->m == 0 && h->n == 0
                   ? TL_OK
                   : TL_ERR_INCONSISTENT;
    }
    if (h->hashes < 1u || h->hashes > 4u || b[53] != 0u || (h->hashes == 1u && h->buckets == 0u) ||
        h->m < (int32_t)(1u << 30) || h->n < 1 || h->n > 62) {
        return TL_ERR_INCONSISTENT;
    }
    return TL_OK;
}

/* Label table: C entries (u8 n in 1..64, n bytes of valid UTF-8 without NUL), distinct, then
 * zero padding; labels_size counts the padding. */
static tl_status_t check_labels(const uint8_t *b, uint64_t end_data, tl_blob_view_t *v,
                                uint64_t *dir_offset)
{
    uint64_t off = rd32(b + 32);
    uint64_t size = rd32(b + 36);
    *dir_offset = rd32(b + 40);
    if (off != TL_BLOB_HEADER_SIZE || off + size > end_data || *dir_offset != align4(off + size) ||
        *dir_offset > end_data) {
        return TL_ERR_INCONSISTENT;
    }
    uint64_t p = off;
    for (uint32_t k = 0; k < v->num_labels; k++) {
        if (p + 1u > off + size) {
            return TL_ERR_INCONSISTENT;
        }
        uint32_t n = b[p];
        if (n < 1u || n > 64u || p + 1u + n > off + size) {
            return TL_ERR_INCONSISTENT;
        }
        const uint8_t *s = b + p + 1u;
        size_t i = 0;
        while (i < n) {
            uint32_t cp = 0;
            size_t step = tl_utf8_decode(s, n, i, &cp);
            if (step == 0u || cp == 0u) {
                return TL_ERR_INCONSISTENT;
            }
            i += step;
        }
        /* distinct from every earlier label */
        uint64_t q = off;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t m = b[q];
            if (m == n && memcmp(b + q + 1u, s, n) == 0) {
                return TL_ERR_INCONSISTENT;
            }
            q += 1u + m;
        }
        p += 1u + n;
    }
    if (align4(p) != off + size) {
        return TL_ERR_INCONSISTENT; /* labels_size must equal the padded content */
    }
    for (uint64_t q = p; q < *dir_offset; q++) {
        if (b[q] != 0u) {
            return TL_ERR_INCONSISTENT;
        }
    }
    v->labels = b + off;
    v->labels_size = (uint32_t)size;
    return TL_OK;
}

/* Self-test records: [T, tokens[0..T-1], expected_label, logits[0..C-1]] repeated (T may exceed
 * max_len, as models/blob.py allows: the self-test reads the tokens in place). Tokenizer
 * version 1 tokens are ids < V; version 2 tokens are key hashes, any 32-bit value. */
static tl_status_t check_selftest(const int32_t *s, uint32_t n, const tl_blob_view_t *v)
{
    uint32_t p = 0;
    while (p < n) {
        uint32_t t = (uint32_t)s[p];
        if (s[p] < 0 || (uint64_t)p + 2u + t + v->num_labels > n) {
            return TL_ERR_INCONSISTENT;
        }
        for (uint32_t k = 0; k < t && v->tokenizer_version == 1u; k++) {
            int32_t id = s[p + 1u + k];
            if (id < 0 || (uint32_t)id >= v->vocab_size) {
                return TL_ERR_INCONSISTENT;
            }
        }
        int32_t label = s[p + 1u + t];
        if (label < 0 || (uint32_t)label >= v->num_labels) {
            return TL_ERR_INCONSISTENT;
        }
        p += 2u + t + v->num_labels;
    }
    return TL_OK;
}

static int64_t offset64(int32_t lo, int32_t hi)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | (uint32_t)lo);
}

/* One stored row's requant record (tl_lstm.h): multipliers in [2^30, 2^31), n = S + 32 in
 * 1..62, the recurrent offset 2^(nh-1), the input offset b * Mx + 2^(nx-1) with an int32 b.
 * *ge32 is cleared when a shift is below 32 (the fast path's limit). */
/* A valid record; clears *ge32 unless both shifts are >= 32 and *ge31 unless the record fits
 * the DSP path's n = 31 form (tl_lstm_preact_s32.c): nx >= 31, nh >= 32 and |b| <= 2^28, so
 * that floor(p / 2^31) of the input term fits 32 bits and each term stays below 2^30 (with
 * |ax| < 2^22 for E <= 256). */
static int record_ok(const tl_lstm_rq_t *q, uint32_t *ge32, uint32_t *ge31)
{
    if (q->mx < (int32_t)(1u << 30) || q->mh < (int32_t)(1u << 30) || q->sx < -31 ||
        q->sx > 30 || q->sh < -31 || q->sh > 30) {
        return 0;
    }
    const int64_t half_x = (int64_t)1 << (q->sx + 31), half_h = (int64_t)1 << (q->sh + 31);
    if (offset64(q->clh, q->chh) != half_h) {
        return 0;
    }
    int64_t off = offset64(q->clx, q->chx);
    if (off < INT64_MIN + half_x) {
        return 0; /* the bias would be below -2^31 (and off - half_x would overflow) */
    }
    int64_t biased = off - half_x;
    int64_t b = biased / q->mx; /* exact for a valid record, so truncation = floor */
    if (b < INT32_MIN || b > INT32_MAX || b * q->mx != biased) {
        return 0;
    }
    if (q->sx < 0 || q->sh < 0) {
        *ge32 = 0u;
    }
    if (q->sx < -1 || q->sh < 0 || b < -(INT64_C(1) << 28) || b > (INT64_C(1) << 28)) {
        *ge31 = 0u;
    }
    return 1;
}

/* Paired-row weights: both rows' weights in [-127, 127] (the low byte is the even row's). */
static int paired_ok(const int16_t *w, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++) {
        int32_t v = w[i];
        int32_t lo = ((v & 0xFF) ^ 0x80) - 0x80;
        int32_t hi = (v - lo) / 256; /* exact */
        if (lo < -WEIGHT_MAX || hi < -WEIGHT_MAX || hi > WEIGHT_MAX) {
            return 0;
        }
    }
    return 1;
}

tl_status_t tl_blob_check_versions(const uint8_t *head, size_t len)
{
    if (head == NULL && len != 0u) {
        return TL_ERR_ARG;
    }
    if (len >= 4u && memcmp(head, "TLSM", 4) != 0) {
        return TL_ERR_BAD_MAGIC;
    }
    if (len >= 6u && rd16(head + 4) != TL_BLOB_FORMAT_VERSION) {
        return TL_ERR_UNSUPPORTED;
    }
    if (len >= 28u && (head[27] >= 32u || ((TL_BLOB_TOKENIZER_VERSIONS >> head[27]) & 1u) == 0u)) {
        return TL_ERR_UNSUPPORTED_TOKENIZER;
    }
    return TL_OK;
}

/* Directory: every entry well-formed, aligned, inside the data area, not overlapping another;
 * known tags with the dtype and shape the header implies, at most once each. */
static tl_status_t check_directory(const uint8_t *blob, uint64_t dir_off, uint64_t count,
                                   uint64_t end_data, const tl_blob_view_t *v,
                                   const void *found[T_COUNT], uint32_t dims[T_COUNT][2])
{
    uint64_t dir_end = dir_off + count * DIR_ENTRY_SIZE;
    for (uint64_t e = 0; e < count; e++) {
        const uint8_t *d = blob + dir_off + e * DIR_ENTRY_SIZE;
        uint32_t dtype = d[4], ndim = d[5];
        uint64_t dim0 = rd32(d + 8), dim1 = rd32(d + 12), off = rd32(d + 16);
        uint64_t nbytes = rd32(d + 20);
        uint64_t esize = dtype == DT_INT8 ? 1u : (dtype == DT_INT16 ? 2u : 4u);
        if (dtype < DT_INT8 || dtype > DT_INT32 || ndim < 1u || ndim > 2u ||
            (ndim == 1u && dim1 != 1u) || (off & 3u) != 0u || nbytes != dim0 * dim1 * esize ||
            off < dir_end || off + nbytes > end_data) {
            return TL_ERR_INCONSISTENT;
        }
        for (uint64_t o = 0; o < e; o++) {
            const uint8_t *q = blob + dir_off + o * DIR_ENTRY_SIZE;
            uint64_t qo = rd32(q + 16), qn = rd32(q + 20);
            if (nbytes != 0u && qn != 0u && off < qo + qn && qo < off + nbytes) {
                return TL_ERR_INCONSISTENT;
            }
        }
        for (uint32_t r = 0; r < T_COUNT; r++) {
            const tensor_rule_t *rule = &k_rules[r];
            if (memcmp(d, rule->tag, 4) != 0) {
                continue;
            }
            if (found[r] != NULL || dtype != rule->dtype || ndim != rule->ndim ||
                (rule->dim0 != D_ANY && dim0 != dim_value(rule->dim0, v)) ||
                (rule->dim1 != D_ANY && dim1 != dim_value(rule->dim1, v))) {
                return TL_ERR_INCONSISTENT;
            }
            found[r] = blob + off;
            dims[r][0] = (uint32_t)dim0;
            dims[r][1] = (uint32_t)dim1;
        }
    }
    for (uint32_t r = 0; r < T_COUNT; r++) {
        if (found[r] == NULL && ((k_rules[r].required >> v->tokenizer_version) & 1u) != 0u) {
            return TL_ERR_INCONSISTENT;
        }
    }
    return TL_OK;
}

/* Numbers inside the tensors: requant records, head multipliers, paired weights, STST. */
static tl_status_t check_values(const void *const found[T_COUNT], tl_blob_view_t *v)
{
    const uint32_t rows = 4u * v->hidden;
    for (uint32_t d = 0; d < 2u; d++) {
        const uint32_t t = d == 0u ? T_FWX : T_BWX;
        const tl_lstm_rq_t *rq = (const tl_lstm_rq_t *)found[t + 2u];
        uint32_t ge32 = 1u, ge31 = 1u;
        for (uint32_t r = 0; r < rows; r++) {
            if (!record_ok(&rq[r], &ge32, &ge31)) {
                return TL_ERR_INCONSISTENT;
            }
        }
        const int16_t *wx = (const int16_t *)found[t], *wh = (const int16_t *)found[t + 1u];
        if (!paired_ok(wx, (uint64_t)rows / 2u * v->embed_dim) ||
            !paired_ok(wh, (uint64_t)rows / 2u * v->hidden)) {
            return TL_ERR_INCONSISTENT;
        }
        v->dir[d].wx = wx;
        v->dir[d].wh = wh;
        v->dir[d].rq = rq;
        v->dir[d].fast_requant = ge32 ? TL_REQUANT_GE32 : (ge31 ? TL_REQUANT_GE31 : 0u);
    }
    const int32_t *hm = (const int32_t *)found[T_HM], *hn = (const int32_t *)found[T_HN];
    for (uint32_t k = 0; k < v->num_labels; k++) {
        if (hm[k] < (int32_t)(1u << 30) || hn[k] < 1 || hn[k] > 62) {
            return TL_ERR_INCONSISTENT;
        }
    }
    if (v->selftest != NULL) {
        return check_selftest(v->selftest, v->selftest_len, v);
    }
    return TL_OK;
}

/* Entity type names (TGNM): per type a u8 length 1..16, then [A-Z][A-Z0-9_]*; distinct, at
 * least one, nothing after the last. Returns the number of names, 0 when malformed. */
static uint32_t count_names(const uint8_t *t, uint32_t size)
{
    uint32_t p = 0, count = 0;
    while (p < size) {
        uint32_t n = t[p];
        if (n < 1u || n > 16u || p + 1u + n > size) {
            return 0;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint8_t c = t[p + 1u + i];
            int upper = c >= 'A' && c <= 'Z';
            if (!upper && (i == 0u || !((c >= '0' && c <= '9') || c == '_'))) {
                return 0;
            }
        }
        for (uint32_t q = 0; q < p; q += 1u + t[q]) {
            if (t[q] == n && memcmp(t + q + 1u, t + p + 1u, n) == 0) {
                return 0;
            }
        }
        p += 1u + n;
        count++;
    }
    return count;
}

static int scores_ok(const int32_t *s, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        if (s[i] < -(int32_t)TL_CRF_SCORE_LIMIT || s[i] > (int32_t)TL_CRF_SCORE_LIMIT) {
            return 0;
        }
    }
    return 1;
}

/* The optional tagging section (docs/model-blob.md): none of its tensors, or all eight with
 * K = 1 + 2 x names in 3..255, every vector K long, transitions K x K, multipliers in
 * [2^30, 2^31), shifts 1..62 and scores within TL_CRF_SCORE_LIMIT. */
static tl_status_t check_tagger(const void *const found[T_COUNT], uint32_t dims[T_COUNT][2],
                                tl_blob_view_t *v)
{
    uint32_t present = 0;
    for (uint32_t r = T_TGW; r <= T_TGNM; r++) {
        present += found[r] != NULL;
    }
    if (present == 0u) {
        return TL_OK;
    }
    const uint32_t k = dims[T_TGW][0];
    if (present != T_TGNM - T_TGW + 1u || k < 3u || k > TL_CRF_MAX_TAGS ||
        k != 1u + 2u * count_names((const uint8_t *)found[T_TGNM], dims[T_TGNM][0]) ||
        dims[T_TGTR][0] != k || dims[T_TGTR][1] != k) {
        return TL_ERR_INCONSISTENT;
    }
    static const uint8_t vectors[] = {T_TGB, T_TGM, T_TGN, T_TGST, T_TGEN};
    for (uint32_t i = 0; i < sizeof vectors; i++) {
        if (dims[vectors[i]][0] != k) {
            return TL_ERR_INCONSISTENT;
        }
    }
    const int32_t *m = (const int32_t *)found[T_TGM], *n = (const int32_t *)found[T_TGN];
    for (uint32_t j = 0; j < k; j++) {
        if (m[j] < (int32_t)(1u << 30) || n[j] < 1 || n[j] > 62) {
            return TL_ERR_INCONSISTENT;
        }
    }
    v->crf.transitions = (const int32_t *)found[T_TGTR];
    v->crf.start = (const int32_t *)found[T_TGST];
    v->crf.end = (const int32_t *)found[T_TGEN];
    if (!scores_ok(v->crf.transitions, k * k) || !scores_ok(v->crf.start, k) ||
        !scores_ok(v->crf.end, k)) {
        return TL_ERR_INCONSISTENT;
    }
    v->crf.num_tags = k;
    v->num_tags = k;
    v->tag_head.w = (const int8_t *)found[T_TGW];
    v->tag_head.b = (const int32_t *)found[T_TGB];
    v->tag_head.m = m;
    v->tag_head.n = n;
    v->tag_names = (const uint8_t *)found[T_TGNM];
    v->tag_names_size = dims[T_TGNM][0];
    return TL_OK;
}

tl_status_t tl_blob_parse(const uint8_t *blob, size_t len, tl_blob_view_t *view)
{
    if (blob == NULL || view == NULL) {
        return TL_ERR_ARG;
    }
    if (((uintptr_t)blob & 3u) != 0u) {
        return TL_ERR_MISALIGNED;
    }
    /* 1. Fixed header, versions, total size, CRC. */
    if (len < TL_BLOB_HEADER_SIZE) {
        return TL_ERR_TRUNCATED;
    }
    tl_status_t st = tl_blob_check_versions(blob, 6u); /* magic, format version */
    if (st != TL_OK) {
        return st;
    }
    uint64_t total = rd32(blob + 12);
    if (total > len) {
        return TL_ERR_TRUNCATED;
    }
    if (total < len) {
        return TL_ERR_OVERSIZED;
    }
    if (total < TL_BLOB_HEADER_SIZE + 4u) {
        return TL_ERR_TRUNCATED; /* no room for the CRC (as models/blob.py says) */
    }
    uint64_t end_data = total - 4u;
    if (tl_crc32(0, blob, (size_t)end_data) != rd32(blob + end_data)) {
        return TL_ERR_BAD_CRC;
    }
    st = tl_blob_check_versions(blob, TL_BLOB_HEADER_SIZE); /* tokenizer version */
    if (st != TL_OK) {
        return st;
    }
    tl_blob_view_t v;
    memset(&v, 0, sizeof v);
    v.total_size = (uint32_t)total;
    st = check_header(blob, &v);
    if (st != TL_OK) {
        return st;
    }
    /* 2. Labels and directory bounds. */
    uint64_t dir_off = 0;
    st = check_labels(blob, end_data, &v, &dir_off);
    if (st != TL_OK) {
        return st;
    }
    uint64_t count = rd32(blob + 44);
    if (dir_off + count * DIR_ENTRY_SIZE > end_data) {
        return TL_ERR_INCONSISTENT;
    }
    /* 3. Directory entries against the rules, then the numbers inside the tensors. */
    const void *found[T_COUNT] = {0};
    uint32_t dims[T_COUNT][2] = {{0}};
    st = check_directory(blob, dir_off, count, end_data, &v, found, dims);
    if (st != TL_OK) {
        return st;
    }
    v.selftest = (const int32_t *)found[T_STST];
    v.selftest_len = dims[T_STST][0];
    st = check_values(found, &v);
    if (st == TL_OK) {
        st = check_tagger(found, dims, &v);
    }
    if (st != TL_OK) {
        return st;
    }
    /* 4. Hand out the view. */
    v.emb = (const int8_t *)found[T_EMB];
    v.hash.emb = v.emb;
    v.hash.importance = v.hash.buckets != 0u ? (const int8_t *)found[T_IMP] : NULL;
    v.head.w = (const int8_t *)found[T_HW];
    v.head.b = (const int32_t *)found[T_HB];
    v.head.m = (const int32_t *)found[T_HM];
    v.head.n = (const int32_t *)found[T_HN];
    *view = v;
    return TL_OK;
}

tl_status_t tl_blob_label(const tl_blob_view_t *view, uint32_t k, const uint8_t **name,
                          uint32_t *name_len)
{
    if (view == NULL || name == NULL || name_len == NULL || k >= view->num_labels) {
        return TL_ERR_ARG;
    }
    const uint8_t *p = view->labels;
    for (uint32_t j = 0; j < k; j++) {
        p += 1u + p[0];
    }
    *name = p + 1;
    *name_len = p[0];
    return TL_OK;
}
