#include "golden_check.h"

#include <string.h>

#include "tl_engine.h"
#include "tl_tokenizer.h"

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int bad;
} cursor_t;

static uint32_t take32(cursor_t *c)
{
    if (c->end - c->p < 4) {
        c->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)c->p[0] | ((uint32_t)c->p[1] << 8) | ((uint32_t)c->p[2] << 16) |
                 ((uint32_t)c->p[3] << 24);
    c->p += 4;
    return v;
}

static const uint8_t *take_bytes(cursor_t *c, size_t n)
{
    size_t padded = (n + 3u) & ~(size_t)3u;
    if ((size_t)(c->end - c->p) < padded) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *r = c->p;
    c->p += padded;
    return r;
}

static uint16_t id_at(const uint8_t *ids, uint32_t k)
{
    return (uint16_t)(ids[2u * k] | (ids[2u * k + 1u] << 8));
}

static int32_t i32_at(const uint8_t *p, uint32_t k)
{
    const uint8_t *q = p + 4u * k;
    return (int32_t)((uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) |
                     ((uint32_t)q[3] << 24));
}

void tl_fmt_int(char *buf, size_t cap, const char *prefix, int64_t value)
{
    size_t n = 0;
    while (prefix[n] != '\0' && n + 1u < cap) {
        buf[n] = prefix[n];
        n++;
    }
    char digits[24];
    size_t d = 0;
    uint64_t mag = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[d++] = (char)('0' + (int)(mag % 10u));
        mag /= 10u;
    } while (mag != 0u);
    if (value < 0 && n + 1u < cap) {
        buf[n++] = '-';
    }
    while (d > 0u && n + 1u < cap) {
        buf[n++] = digits[--d];
    }
    buf[n] = '\0';
}

int tl_golden_pack_header(const uint8_t *pack, size_t len, const char magic[4],
                          uint32_t *spec_version, uint32_t *generator_version,
                          const uint8_t **sha256)
{
    if (len < 48u || memcmp(pack, magic, 4) != 0) {
        return -1;
    }
    cursor_t c = {pack + 4, pack + len, 0};
    *spec_version = take32(&c);
    *generator_version = take32(&c);
    *sha256 = pack + (memcmp(magic, "TLGI", 4) == 0 ? 20 : 16);
    return 0;
}

static void mismatch(tl_log_fn log, const char *what, uint32_t index, uint32_t pos, int64_t want,
                     int64_t got)
{
    char line[160];
    char part[40];
    tl_fmt_int(line, sizeof line, "MISMATCH case ", index);
    size_t n = strlen(line);
    strncat(line, " ", sizeof line - n - 1u);
    strncat(line, what, sizeof line - strlen(line) - 1u);
    tl_fmt_int(part, sizeof part, " at ", pos);
    strncat(line, part, sizeof line - strlen(line) - 1u);
    tl_fmt_int(part, sizeof part, ": want ", want);
    strncat(line, part, sizeof line - strlen(line) - 1u);
    tl_fmt_int(part, sizeof part, " got ", got);
    strncat(line, part, sizeof line - strlen(line) - 1u);
    log(line);
}

int tl_check_tokenizer_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked)
{
    if (len < 48u || memcmp(pack, "TLGT", 4) != 0) {
        return -1;
    }
    cursor_t c = {pack + 4, pack + len, 0};
    (void)take32(&c);
    (void)take32(&c);
    uint32_t count = take32(&c);
    (void)take_bytes(&c, 32);
    int failures = 0;
    uint16_t ids[TL_MAX_LEN];
    for (uint32_t i = 0; i < count; i++) {
        uint32_t vocab = take32(&c), max_len = take32(&c), text_len = take32(&c);
        uint32_t n_ids = take32(&c);
        const uint8_t *text = take_bytes(&c, text_len);
        const uint8_t *want = take_bytes(&c, 2u * (size_t)n_ids);
        if (c.bad || max_len > TL_MAX_LEN) {
            return -1;
        }
        uint32_t got = 0;
        tl_status_t st = tl_tokenize(text, text_len, vocab, max_len, ids, &got);
        int bad = st != TL_OK || got != n_ids;
        if (bad) {
            mismatch(log, "token count", i, 0, n_ids, st != TL_OK ? (int64_t)st : got);
        }
        for (uint32_t k = 0; !bad && k < n_ids; k++) {
            if (ids[k] != id_at(want, k)) {
                mismatch(log, "token id", i, k, id_at(want, k), ids[k]);
                bad = 1;
            }
        }
        failures += bad;
    }
    *checked = count;
    return failures;
}

int tl_check_intlstm_golden(const uint8_t *blob, size_t blob_len, const uint8_t *pack, size_t len,
                            tl_log_fn log, uint32_t *checked)
{
    static uint32_t scratch[4096]; /* 16 KiB: enough for the largest version-1 model */
    tl_blob_view_t view;
    tl_status_t st = tl_blob_parse(blob, blob_len, &view);
    if (st != TL_OK) {
        log("golden blob rejected:");
        log(tl_status_str(st));
        return -1;
    }
    if (len < 52u || memcmp(pack, "TLGI", 4) != 0) {
        return -1;
    }
    cursor_t c = {pack + 4, pack + len, 0};
    (void)take32(&c);
    (void)take32(&c);
    uint32_t count = take32(&c);
    uint32_t num_labels = take32(&c);
    (void)take_bytes(&c, 32);
    if (num_labels != view.num_labels || tl_engine_get_buffer_size(&view) > sizeof scratch) {
        log("golden cases do not match the blob's label count");
        return -1;
    }
    int failures = 0;
    int32_t logits[TL_MAX_LABELS];
    uint16_t ids[TL_MAX_LEN];
    for (uint32_t i = 0; i < count; i++) {
        uint32_t text_len = take32(&c), n_ids = take32(&c), label = take32(&c);
        const uint8_t *text = take_bytes(&c, text_len);
        const uint8_t *want_ids = take_bytes(&c, 2u * (size_t)n_ids);
        const uint8_t *want_logits = take_bytes(&c, 4u * (size_t)num_labels);
        if (c.bad) {
            return -1;
        }
        tl_engine_out_t out = {logits, ids, 0, 0, 0.0f, NULL, NULL};
        st = tl_engine_classify(&view, text, text_len, scratch, sizeof scratch, &out);
        int bad = st != TL_OK || out.n_ids != n_ids;
        if (bad) {
            mismatch(log, "token count", i, 0, n_ids, st != TL_OK ? (int64_t)st : out.n_ids);
        }
        for (uint32_t k = 0; !bad && k < n_ids; k++) {
            if (ids[k] != id_at(want_ids, k)) {
                mismatch(log, "token id", i, k, id_at(want_ids, k), ids[k]);
                bad = 1;
            }
        }
        for (uint32_t k = 0; !bad && k < num_labels; k++) {
            if (logits[k] != i32_at(want_logits, k)) {
                mismatch(log, "logit", i, k, i32_at(want_logits, k), logits[k]);
                bad = 1;
            }
        }
        if (!bad && out.label != label) {
            mismatch(log, "label", i, 0, label, out.label);
            bad = 1;
        }
        failures += bad;
    }
    *checked = count;
    return failures;
}
