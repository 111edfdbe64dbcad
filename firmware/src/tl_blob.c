/* Model blob reader (docs/model-blob.md v1). Every offset and size from the blob is checked
 * in 64-bit arithmetic against the received length before it is used, the CRC is checked
 * before anything past the header is interpreted, and header fields are read byte by byte
 * (little-endian) so the header itself needs no alignment. Tensor pointers are handed out in
 * place, so the blob base must be 4-byte aligned. */
#include <string.h>

#include "tl_blob.h"
#include "tl_utf8_internal.h"

_Static_assert(sizeof(float) == 4, "f32 input_scale");

enum { DT_INT8 = 1, DT_INT16 = 2, DT_INT32 = 3 };

typedef struct {
    char tag[5];
    uint8_t dtype;
    uint8_t ndim;
    /* dims as functions of the header: 0 = V, 1 = E, 2 = H, 3 = 4H, 4 = C, 5 = 2H */
    uint8_t dim0;
    uint8_t dim1; /* 0xFF: vector */
} req_tensor_t;

enum { D_V, D_E, D_H, D_4H, D_C, D_2H, D_NONE = 0xFF };

#define N_REQUIRED 19u
static const req_tensor_t k_required[N_REQUIRED] = {
    {"EMB ", DT_INT8, 2, D_V, D_E},     {"FWX ", DT_INT8, 2, D_4H, D_E},
    {"FWH ", DT_INT8, 2, D_4H, D_H},    {"FB  ", DT_INT32, 1, D_4H, D_NONE},
    {"FMX ", DT_INT32, 1, D_4H, D_NONE}, {"FNX ", DT_INT32, 1, D_4H, D_NONE},
    {"FMH ", DT_INT32, 1, D_4H, D_NONE}, {"FNH ", DT_INT32, 1, D_4H, D_NONE},
    {"BWX ", DT_INT8, 2, D_4H, D_E},    {"BWH ", DT_INT8, 2, D_4H, D_H},
    {"BB  ", DT_INT32, 1, D_4H, D_NONE}, {"BMX ", DT_INT32, 1, D_4H, D_NONE},
    {"BNX ", DT_INT32, 1, D_4H, D_NONE}, {"BMH ", DT_INT32, 1, D_4H, D_NONE},
    {"BNH ", DT_INT32, 1, D_4H, D_NONE}, {"HW  ", DT_INT8, 2, D_C, D_2H},
    {"HB  ", DT_INT32, 1, D_C, D_NONE},  {"HM  ", DT_INT32, 1, D_C, D_NONE},
    {"HN  ", DT_INT32, 1, D_C, D_NONE},
};
/* Indices into k_required of the multiplier and shift tensors. */
static const uint8_t k_mult_idx[] = {4, 6, 11, 13, 17};
static const uint8_t k_shift_idx[] = {5, 7, 12, 14, 18};
#define DIR_ENTRY_SIZE 24u

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
    case D_4H: return 4u * v->hidden;
    case D_C: return v->num_labels;
    case D_2H: return 2u * v->hidden;
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
    if (rd16(b + 6) != TL_BLOB_HEADER_SIZE || v->model_version < 1u || v->vocab_size < 16u ||
        v->max_len < 1u || v->max_len > TL_MAX_LEN || v->embed_dim < 1u ||
        v->embed_dim > 256u || v->hidden < 1u || v->hidden > TL_MAX_HIDDEN ||
        v->num_labels < 2u || v->num_labels > TL_MAX_LABELS || v->pooling != 0u ||
        v->tokenizer_version != 1u || v->logit_frac_bits != 10) {
        return TL_ERR_INCONSISTENT;
    }
    return TL_OK; /* reserved bytes 52..63 are ignored (docs/model-blob.md clarifications) */
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

/* Self-test records: [T, ids[0..T-1], expected_label, logits[0..C-1]] repeated (T may exceed
 * max_len, as models/blob.py allows: the self-test reads the ids in place). */
static tl_status_t check_selftest(const int32_t *s, uint32_t n, const tl_blob_view_t *v)
{
    uint32_t p = 0;
    while (p < n) {
        uint32_t t = (uint32_t)s[p];
        if (s[p] < 0 || (uint64_t)p + 2u + t + v->num_labels > n) {
            return TL_ERR_INCONSISTENT;
        }
        for (uint32_t k = 0; k < t; k++) {
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

tl_status_t tl_blob_parse(const uint8_t *blob, size_t len, tl_blob_view_t *view)
{
    if (blob == NULL || view == NULL) {
        return TL_ERR_ARG;
    }
    if (((uintptr_t)blob & 3u) != 0u) {
        return TL_ERR_MISALIGNED;
    }
    /* 1. Fixed header, total size, CRC. */
    if (len < TL_BLOB_HEADER_SIZE) {
        return TL_ERR_TRUNCATED;
    }
    if (memcmp(blob, "TLSM", 4) != 0) {
        return TL_ERR_BAD_MAGIC;
    }
    if (rd16(blob + 4) != TL_BLOB_FORMAT_VERSION) {
        return TL_ERR_UNSUPPORTED;
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
    tl_blob_view_t v;
    memset(&v, 0, sizeof v);
    v.total_size = (uint32_t)total;
    tl_status_t st = check_header(blob, &v);
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
    uint64_t dir_end = dir_off + count * DIR_ENTRY_SIZE;
    if (count < N_REQUIRED || dir_end > end_data) {
        return TL_ERR_INCONSISTENT;
    }
    /* 3. Every entry: well-formed, aligned, inside the data area, no overlap. */
    const void *found[N_REQUIRED] = {0};
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
        /* Known tags: dtype and shape must match the header. */
        for (uint32_t r = 0; r < N_REQUIRED; r++) {
            const req_tensor_t *req = &k_required[r];
            if (memcmp(d, req->tag, 4) != 0) {
                continue;
            }
            if (found[r] != NULL || dtype != req->dtype || ndim != req->ndim ||
                dim0 != dim_value(req->dim0, &v) || dim1 != dim_value(req->dim1, &v)) {
                return TL_ERR_INCONSISTENT;
            }
            found[r] = blob + off;
        }
        if (memcmp(d, "STST", 4) == 0) {
            if (v.selftest != NULL || dtype != DT_INT32 || ndim != 1u) {
                return TL_ERR_INCONSISTENT;
            }
            v.selftest = (const int32_t *)(const void *)(blob + off);
            v.selftest_len = (uint32_t)dim0;
        }
    }
    for (uint32_t r = 0; r < N_REQUIRED; r++) {
        if (found[r] == NULL) {
            return TL_ERR_INCONSISTENT;
        }
    }
    /* 4. Requantisation parameters. */
    for (uint32_t i = 0; i < sizeof k_mult_idx; i++) {
        const int32_t *m = (const int32_t *)found[k_mult_idx[i]];
        const int32_t *n = (const int32_t *)found[k_shift_idx[i]];
        uint32_t rows = k_required[k_mult_idx[i]].dim0 == D_C ? v.num_labels : 4u * v.hidden;
        for (uint32_t r = 0; r < rows; r++) {
            if (m[r] < (int32_t)(1u << 30) || n[r] < 1 || n[r] > 62) {
                return TL_ERR_INCONSISTENT;
            }
        }
    }
    if (v.selftest != NULL) {
        st = check_selftest(v.selftest, v.selftest_len, &v);
        if (st != TL_OK) {
            return st;
        }
    }
    /* 5. Hand out the view. */
    v.emb = (const int8_t *)found[0];
    for (uint32_t d = 0; d < 2u; d++) {
        const void *const *f = found + 1u + 7u * d;
        v.dir[d].wx = (const int8_t *)f[0];
        v.dir[d].wh = (const int8_t *)f[1];
        v.dir[d].b = (const int32_t *)f[2];
        v.dir[d].mx = (const int32_t *)f[3];
        v.dir[d].nx = (const int32_t *)f[4];
        v.dir[d].mh = (const int32_t *)f[5];
        v.dir[d].nh = (const int32_t *)f[6];
        v.dir[d].shifts_ge32 = 1u;
        for (uint32_t r = 0; r < 4u * v.hidden; r++) {
            if (v.dir[d].nx[r] < 32 || v.dir[d].nh[r] < 32) {
                v.dir[d].shifts_ge32 = 0u;
            }
        }
    }
    v.head.w = (const int8_t *)found[15];
    v.head.b = (const int32_t *)found[16];
    v.head.m = (const int32_t *)found[17];
    v.head.n = (const int32_t *)found[18];
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
