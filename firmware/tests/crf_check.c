#include "crf_check.h"

#include <string.h>

#include "tl_crf.h"
#include "tl_engine.h"

#define MAX_T 64u
#define MAX_K 64u

/* Scratch for the largest golden case (T = 64, K = 64), static: no malloc on the device. */
static uint32_t scratch_words[(MAX_T * MAX_K + 2u * MAX_K * 4u) / 4u + 1u];

static uint32_t u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* The pack is 4-byte aligned and little-endian like both targets: arrays are read in place. */
static const int32_t *take_i32s(const uint8_t **p, const uint8_t *end, size_t n)
{
    if (*p == NULL || (size_t)(end - *p) < 4u * n) {
        *p = NULL;
        return NULL;
    }
    const int32_t *r = (const int32_t *)(const void *)*p;
    *p += 4u * n;
    return r;
}

static int expect(tl_log_fn log, int ok, const char *what)
{
    if (!ok) {
        log(what);
    }
    return ok ? 0 : 1;
}

int tl_check_crf_kernel(tl_log_fn log)
{
    int fail = 0;
    int32_t zeros[9] = {0};
    tl_crf_t crf = {zeros, zeros, zeros, 3u};
    int32_t e[6] = {0};
    uint8_t tags[2] = {9u, 9u};
    size_t need = tl_crf_viterbi_s32_get_buffer_size(2u, 3u);
    fail += expect(log, need == 8u + 24u, "crf: buffer size for T=2, K=3");
    fail += expect(log, tl_crf_viterbi_s32(&crf, e, 2u, tags, scratch_words, need) == TL_OK &&
                            tags[0] == 0u && tags[1] == 0u,
                   "crf: all ties decode to tag 0");
    fail += expect(log, tl_crf_viterbi_s32(&crf, e, 2u, tags, scratch_words, need - 1u) ==
                            TL_ERR_BUFFER, "crf: small scratch refused");
    fail += expect(log, tl_crf_viterbi_s32(NULL, e, 2u, tags, scratch_words, need) == TL_ERR_ARG,
                   "crf: NULL model refused");
    fail += expect(log, tl_crf_viterbi_s32(&crf, e, 0u, NULL, NULL, 0u) == TL_OK,
                   "crf: no tokens, nothing to do");
    fail += expect(log, tl_crf_viterbi_s32(&crf, e, 2u, tags, (uint8_t *)scratch_words + 1, need) ==
                            TL_ERR_ARG, "crf: misaligned scratch refused");
    tl_crf_t one = {zeros, zeros, zeros, 1u};
    fail += expect(log, tl_crf_viterbi_s32(&one, e, 2u, tags, scratch_words, need) == TL_ERR_ARG,
                   "crf: one tag refused");
    tl_crf_t many = {zeros, zeros, zeros, TL_CRF_MAX_TAGS + 1u};
    fail += expect(log, tl_crf_viterbi_s32(&many, e, 2u, tags, scratch_words, need) == TL_ERR_ARG,
                   "crf: more tags than a backpointer can name refused");
    e[4] = (int32_t)TL_CRF_EMISSION_LIMIT + 1;
    fail += expect(log, tl_crf_viterbi_s32(&crf, e, 2u, tags, scratch_words, need) == TL_ERR_ARG,
                   "crf: emission out of bounds refused");
    /* a transition rule beats a weaker emission: 1 -> 2 is rewarded, 1 -> 1 punished */
    int32_t trans[9] = {0, 0, 0, 0, -4096, 4096, 0, 0, 0};
    int32_t e2[6] = {0, 2048, 0, 0, 1024, 0};
    tl_crf_t rule = {trans, zeros, zeros, 3u};
    fail += expect(log, tl_crf_viterbi_s32(&rule, e2, 2u, tags, scratch_words, need) == TL_OK &&
                            tags[0] == 1u && tags[1] == 2u,
                   "crf: transitions decide the second tag");
    return fail;
}

int tl_check_viterbi_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked)
{
    uint32_t spec = 0, gen = 0;
    const uint8_t *sha = NULL;
    *checked = 0;
    if (tl_golden_pack_header(pack, len, "TLGV", &spec, &gen, &sha) != 0) {
        return -1;
    }
    const uint8_t *end = pack + len;
    uint32_t count = u32_at(pack + 12);
    const uint8_t *p = pack + 48;
    int failures = 0;
    for (uint32_t n = 0; n < count; n++) {
        if (end - p < 8) {
            return -1;
        }
        uint32_t k = u32_at(p), t = u32_at(p + 4);
        p += 8;
        if (k > MAX_K || t > MAX_T) {
            return -1;
        }
        const int32_t *trans = take_i32s(&p, end, (size_t)k * k);
        const int32_t *start = take_i32s(&p, end, k);
        const int32_t *stop = take_i32s(&p, end, k);
        const int32_t *emissions = take_i32s(&p, end, (size_t)t * k);
        size_t tag_bytes = ((size_t)t + 3u) & ~(size_t)3u;
        if (p == NULL || (size_t)(end - p) < tag_bytes) {
            return -1;
        }
        const uint8_t *want = p;
        p += tag_bytes;
        uint8_t got[MAX_T];
        tl_crf_t crf = {trans, start, stop, k};
        tl_status_t st = tl_crf_viterbi_s32(&crf, emissions, t, got, scratch_words,
                                            sizeof scratch_words);
        if (st != TL_OK || (t > 0u && memcmp(got, want, t) != 0)) {
            char line[80];
            tl_fmt_int(line, sizeof line, "viterbi mismatch in case ", n);
            log(line);
            failures++;
        }
        (*checked)++;
    }
    return failures;
}

/* Engine scratch and outputs for the tagger golden models (small: 64 tokens, 11 tags). */
static uint32_t engine_scratch[4096];

static const uint8_t *take_raw(const uint8_t **p, const uint8_t *end, size_t n)
{
    size_t padded = (n + 3u) & ~(size_t)3u;
    if (*p == NULL || (size_t)(end - *p) < padded) {
        *p = NULL;
        return NULL;
    }
    const uint8_t *r = *p;
    *p += padded;
    return r;
}

int tl_check_tagger_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked)
{
    uint32_t spec = 0, gen = 0;
    const uint8_t *sha = NULL;
    *checked = 0;
    if (tl_golden_pack_header(pack, len, "TLGE", &spec, &gen, &sha) != 0 || len < 52u) {
        return -1;
    }
    const uint8_t *end = pack + len;
    uint32_t count = u32_at(pack + 12), num_blobs = u32_at(pack + 48);
    const uint8_t *p = pack + 52;
    tl_blob_view_t views[2];
    if (num_blobs < 1u || num_blobs > 2u) {
        return -1;
    }
    for (uint32_t b = 0; b < num_blobs; b++) {
        const int32_t *size = take_i32s(&p, end, 1);
        const uint8_t *blob = size != NULL ? take_raw(&p, end, (uint32_t)*size) : NULL;
        tl_status_t st = blob != NULL ? tl_blob_parse(blob, (uint32_t)*size, &views[b]) : TL_ERR_ARG;
        if (st != TL_OK || views[b].num_tags == 0u ||
            tl_engine_get_buffer_size(&views[b]) > sizeof engine_scratch) {
            log("tagger golden blob rejected:");
            log(tl_status_str(st));
            return -1;
        }
    }
    int failures = 0;
    int32_t logits[TL_MAX_LABELS];
    uint8_t tags[TL_MAX_LEN];
    for (uint32_t n = 0; n < count; n++) {
        const int32_t *h = take_i32s(&p, end, 6);
        if (h == NULL || (uint32_t)h[0] >= num_blobs) {
            return -1;
        }
        const tl_blob_view_t *v = &views[h[0]];
        uint32_t t = (uint32_t)h[2], k = (uint32_t)h[5];
        const uint8_t *text = take_raw(&p, end, (uint32_t)h[1]);
        const int32_t *want_logits = take_i32s(&p, end, (uint32_t)h[4]);
        const uint8_t *want_tags = take_raw(&p, end, t);
        const int32_t *want_e = take_i32s(&p, end, (size_t)t * k);
        if (p == NULL || (uint32_t)h[4] != v->num_labels || k != v->num_tags || t > v->max_len) {
            return -1;
        }
        tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, tags, NULL};
        tl_status_t st = tl_engine_classify(v, text, (uint32_t)h[1], engine_scratch,
                                            sizeof engine_scratch, &out);
        int bad = st != TL_OK || out.n_ids != t || out.label != (uint32_t)h[3] ||
                  memcmp(logits, want_logits, 4u * v->num_labels) != 0 ||
                  (t != 0u && (memcmp(tags, want_tags, t) != 0 || out.emissions == NULL ||
                               memcmp(out.emissions, want_e, 4u * (size_t)t * k) != 0));
        if (bad) {
            char line[80];
            tl_fmt_int(line, sizeof line, "tagger mismatch in case ", n);
            log(line);
            failures++;
        }
        (*checked)++;
    }
    return failures;
}
