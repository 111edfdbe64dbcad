/* Host test: the blob reader accepts the golden blob and refuses every kind of damage with the
 * error the spec names, without reading out of bounds (run under ASan by the fuzz build). */
#include <string.h>

#include "host_io.h"
#include "tl_blob.h"

static int g_fail;

static void expect_status(tl_status_t got, tl_status_t want, const char *what)
{
    if (got != want) {
        printf("FAIL %s: want %s, got %s\n", what, tl_status_str(want), tl_status_str(got));
        g_fail++;
    }
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Re-seal the CRC after an edit so the reader reaches the check under test. */
static void reseal(uint8_t *b, size_t len) { wr32(b + len - 4, tl_crc32(0, b, len - 4)); }

/* Offset of the directory entry with `tag`. */
static size_t entry(const uint8_t *b, const char *tag)
{
    size_t dir = rd32(b + 40), n = rd32(b + 44);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(b + dir + 24 * i, tag, 4) == 0) {
            return dir + 24 * i;
        }
    }
    return 0;
}

typedef void (*edit_fn)(uint8_t *b, size_t len);

static void check_edit(const uint8_t *blob, size_t len, edit_fn edit, tl_status_t want,
                       const char *what)
{
    uint8_t *b = malloc(len);
    memcpy(b, blob, len);
    edit(b, len);
    reseal(b, len);
    tl_blob_view_t v;
    expect_status(tl_blob_parse(b, len, &v), want, what);
    free(b);
}

static void e_header_size(uint8_t *b, size_t len) { (void)len; b[6] = 65; }
static void e_version0(uint8_t *b, size_t len) { (void)len; wr32(b + 8, 0); }
static void e_vocab(uint8_t *b, size_t len) { (void)len; b[16] = 15; b[17] = 0; }
static void e_hidden(uint8_t *b, size_t len) { (void)len; b[22] = 0; b[23] = 0; }
static void e_labels1(uint8_t *b, size_t len) { (void)len; b[24] = 1; b[25] = 0; }
static void e_pooling(uint8_t *b, size_t len) { (void)len; b[26] = 2; }
static void e_tokver(uint8_t *b, size_t len) { (void)len; b[27] = 3; }
/* Header bytes 52..63: hashes K, a zero byte, buckets P, the embedding multiplier and shift. */
static void e_hashes0(uint8_t *b, size_t len) { (void)len; b[52] = 0; }
static void e_hashes5(uint8_t *b, size_t len) { (void)len; b[52] = 5; }
static void e_byte53(uint8_t *b, size_t len) { (void)len; b[53] = 1; }
static void e_emb_mult(uint8_t *b, size_t len) { (void)len; wr32(b + 56, 1u << 29); }
static void e_emb_shift(uint8_t *b, size_t len) { (void)len; wr32(b + 60, 63); }
/* Tokenizer version 1 <-> 2 with the other header bytes unchanged: inconsistent both ways. */
static void e_tok_swap(uint8_t *b, size_t len) { (void)len; b[27] = b[27] == 1 ? 2 : 1; }
static void e_frac(uint8_t *b, size_t len) { (void)len; wr32(b + 48, 8); }
static void e_dir_off(uint8_t *b, size_t len) { (void)len; wr32(b + 40, rd32(b + 40) + 4); }
static void e_count_huge(uint8_t *b, size_t len) { (void)len; wr32(b + 44, 0x7FFFFFFFu); }
static void e_label_utf8(uint8_t *b, size_t len) { (void)len; b[65] = 0xFF; }
static void e_label_nul(uint8_t *b, size_t len) { (void)len; b[65] = 0; }
static void e_label_len0(uint8_t *b, size_t len) { (void)len; b[64] = 0; }
static void e_label_dup(uint8_t *b, size_t len)
{
    (void)len;
    /* make label 1 a copy of label 0 when both have the same length */
    size_t n0 = b[64];
    if (b[65 + n0] == n0) {
        memcpy(b + 66 + n0, b + 65, n0);
    } else {
        b[64] = 0; /* fall back: still inconsistent */
    }
}
static void e_emb_dtype(uint8_t *b, size_t len) { (void)len; b[entry(b, "EMB ") + 4] = 2; }
static void e_emb_shape(uint8_t *b, size_t len)
{
    (void)len;
    size_t e = entry(b, "EMB ");
    wr32(b + e + 8, rd32(b + e + 8) - 1);
    wr32(b + e + 20, rd32(b + e + 20) - rd32(b + e + 12));
}
static void e_misaligned(uint8_t *b, size_t len) { (void)len; wr32(b + entry(b, "FRQ ") + 16, rd32(b + entry(b, "FRQ ") + 16) + 2); }
static void e_outside(uint8_t *b, size_t len) { wr32(b + entry(b, "HN  ") + 16, (uint32_t)len); }
static void e_overlap(uint8_t *b, size_t len) { (void)len; wr32(b + entry(b, "BRQ ") + 16, rd32(b + entry(b, "FRQ ") + 16)); }
static void e_nbytes(uint8_t *b, size_t len) { (void)len; wr32(b + entry(b, "HB  ") + 20, 4); }
static void e_missing(uint8_t *b, size_t len) { (void)len; memcpy(b + entry(b, "HW  "), "XW  ", 4); }
static void e_dup_tag(uint8_t *b, size_t len) { (void)len; memcpy(b + entry(b, "HB  "), "HM  ", 4); }
/* Requant record words (tl_lstm_rq_t): mx, clx, chx, sx, mh, clh, chh, sh. */
static uint8_t *record(uint8_t *b, const char *tag, uint32_t row) { return b + rd32(b + entry(b, tag) + 16) + 32u * row; }
static void e_mult(uint8_t *b, size_t len) { (void)len; wr32(record(b, "FRQ ", 3), 1u << 29); }
static void e_shift0(uint8_t *b, size_t len) { (void)len; wr32(record(b, "BRQ ", 0) + 28, (uint32_t)-32); }
static void e_round(uint8_t *b, size_t len) { (void)len; uint8_t *r = record(b, "BRQ ", 5); wr32(r + 4, rd32(r + 4) + 1u); }
static void e_round_low(uint8_t *b, size_t len) { (void)len; wr32(record(b, "FRQ ", 7) + 20, 1u); }
/* Paired weights: 0x7FFF = 256 * 128 - 1 (odd row 128, even row -1), and a low byte of -128. */
static void e_weight_hi(uint8_t *b, size_t len) { (void)len; uint8_t *w = b + rd32(b + entry(b, "FWH ") + 16) + 10; w[0] = 0xFF; w[1] = 0x7F; }
static void e_weight_lo(uint8_t *b, size_t len) { (void)len; uint8_t *w = b + rd32(b + entry(b, "BWX ") + 16) + 6; w[0] = 0x80; w[1] = 0x00; }
static void e_shift63(uint8_t *b, size_t len) { (void)len; wr32(b + rd32(b + entry(b, "HN  ") + 16) + 4, 63); }
static void e_stst_id(uint8_t *b, size_t len)
{
    (void)len;
    size_t e = entry(b, "STST");
    if (e == 0) {
        b[26] = 1;
        return;
    }
    size_t s = rd32(b + e + 16);
    /* first record with T >= 1: its first id to V (tokenizer version 1: ids are rows), or
     * (version 2: tokens are hashes, any value) its label to C */
    uint32_t c = b[24], v = (uint32_t)(b[16] | (b[17] << 8));
    size_t p = 0, n = rd32(b + e + 8);
    while (p < n && rd32(b + s + 4 * p) == 0) {
        p += 2 + c;
    }
    if (b[27] == 1) {
        wr32(b + s + 4 * (p + 1), v);
    } else {
        wr32(b + s + 4 * (p + 1 + rd32(b + s + 4 * p)), c);
    }
}
static void e_reserved(uint8_t *b, size_t len) { (void)len; b[entry(b, "EMB ") + 6] = 1; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s model.blob\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    uint8_t *blob = tl_read_file(argv[1], &len);
    tl_blob_view_t v;
    expect_status(tl_blob_parse(blob, len, &v), TL_OK, "golden blob");
    expect_status(tl_blob_parse(blob, 63, &v), TL_ERR_TRUNCATED, "shorter than the header");
    expect_status(tl_blob_parse(blob, len - 1, &v), TL_ERR_TRUNCATED, "one byte short");
    expect_status(tl_blob_parse(blob + 4, len - 4, &v), TL_ERR_BAD_MAGIC, "shifted");
    expect_status(tl_blob_parse(blob + 1, len - 4, &v), TL_ERR_MISALIGNED, "unaligned base");
    uint8_t *big = calloc(1, len + 8);
    memcpy(big, blob, len);
    expect_status(tl_blob_parse(big, len + 8, &v), TL_ERR_OVERSIZED, "trailing bytes");
    big[len / 2] ^= 1;
    expect_status(tl_blob_parse(big, len, &v), TL_ERR_BAD_CRC, "one bit flipped");
    big[len / 2] ^= 1;
    big[4] = 2;
    expect_status(tl_blob_parse(big, len, &v), TL_ERR_UNSUPPORTED, "format version 2");
    big[4] = 4;
    expect_status(tl_blob_parse(big, len, &v), TL_ERR_UNSUPPORTED, "format version 4");
    big[4] = 3;
    big[27] = 33; /* 33 & 31 == 1: must not alias tokenizer version 1 */
    reseal(big, len);
    expect_status(tl_blob_parse(big, len, &v), TL_ERR_UNSUPPORTED_TOKENIZER, "tokenizer 33");
    expect_status(tl_blob_check_versions(big, 28), TL_ERR_UNSUPPORTED_TOKENIZER, "prefix 33");
    expect_status(tl_blob_check_versions(blob, 28), TL_OK, "prefix of the golden blob");
    expect_status(tl_blob_check_versions(blob, 5), TL_OK, "too short to decide");
    big[4] = 2;
    expect_status(tl_blob_check_versions(big, 6), TL_ERR_UNSUPPORTED, "prefix format 2");
    free(big);

    check_edit(blob, len, e_header_size, TL_ERR_INCONSISTENT, "header_size");
    check_edit(blob, len, e_version0, TL_ERR_INCONSISTENT, "model_version 0");
    check_edit(blob, len, e_vocab, TL_ERR_INCONSISTENT, "vocab 15");
    check_edit(blob, len, e_hidden, TL_ERR_INCONSISTENT, "hidden 0");
    check_edit(blob, len, e_labels1, TL_ERR_INCONSISTENT, "one label");
    check_edit(blob, len, e_pooling, TL_ERR_INCONSISTENT, "pooling 2");
    check_edit(blob, len, e_tokver, TL_ERR_UNSUPPORTED_TOKENIZER, "tokenizer version 3");
    check_edit(blob, len, e_hashes0, TL_ERR_INCONSISTENT, "hashes 0");
    check_edit(blob, len, e_hashes5, TL_ERR_INCONSISTENT, "hashes 5");
    check_edit(blob, len, e_byte53, TL_ERR_INCONSISTENT, "header byte 53");
    check_edit(blob, len, e_emb_mult, TL_ERR_INCONSISTENT, "embedding multiplier 2^29");
    check_edit(blob, len, e_emb_shift, TL_ERR_INCONSISTENT, "embedding shift 63");
    check_edit(blob, len, e_tok_swap, TL_ERR_INCONSISTENT, "tokenizer version 1 <-> 2");
    check_edit(blob, len, e_frac, TL_ERR_INCONSISTENT, "logit_frac_bits 8");
    check_edit(blob, len, e_dir_off, TL_ERR_INCONSISTENT, "dir_offset");
    check_edit(blob, len, e_count_huge, TL_ERR_INCONSISTENT, "tensor_count huge");
    check_edit(blob, len, e_label_utf8, TL_ERR_INCONSISTENT, "label invalid UTF-8");
    check_edit(blob, len, e_label_nul, TL_ERR_INCONSISTENT, "label with NUL");
    check_edit(blob, len, e_label_len0, TL_ERR_INCONSISTENT, "label length 0");
    check_edit(blob, len, e_label_dup, TL_ERR_INCONSISTENT, "duplicate label");
    check_edit(blob, len, e_emb_dtype, TL_ERR_INCONSISTENT, "EMB dtype");
    check_edit(blob, len, e_emb_shape, TL_ERR_INCONSISTENT, "EMB shape");
    check_edit(blob, len, e_misaligned, TL_ERR_INCONSISTENT, "misaligned tensor");
    check_edit(blob, len, e_outside, TL_ERR_INCONSISTENT, "tensor outside");
    check_edit(blob, len, e_overlap, TL_ERR_INCONSISTENT, "overlapping tensors");
    check_edit(blob, len, e_nbytes, TL_ERR_INCONSISTENT, "nbytes");
    check_edit(blob, len, e_missing, TL_ERR_INCONSISTENT, "missing HW");
    check_edit(blob, len, e_dup_tag, TL_ERR_INCONSISTENT, "duplicate tag");
    check_edit(blob, len, e_mult, TL_ERR_INCONSISTENT, "multiplier below 2^30");
    check_edit(blob, len, e_shift0, TL_ERR_INCONSISTENT, "shift 0");
    check_edit(blob, len, e_round, TL_ERR_INCONSISTENT, "input offset not b * M + 2^(n-1)");
    check_edit(blob, len, e_round_low, TL_ERR_INCONSISTENT, "recurrent offset not 2^(n-1)");
    check_edit(blob, len, e_weight_hi, TL_ERR_INCONSISTENT, "paired weight 128");
    check_edit(blob, len, e_weight_lo, TL_ERR_INCONSISTENT, "paired weight -128");
    check_edit(blob, len, e_shift63, TL_ERR_INCONSISTENT, "shift 63");
    check_edit(blob, len, e_stst_id, TL_ERR_INCONSISTENT, "STST id out of range");
    check_edit(blob, len, e_reserved, TL_OK, "reserved directory bytes are ignored");

    /* Every truncation of the header region parses without crashing. */
    for (size_t n = 0; n < 4096 && n < len; n += 61) {
        (void)tl_blob_parse(blob, n, &v);
    }
    printf("blob reader checks: %d failures\n", g_fail);
    free(blob);
    return g_fail == 0 ? 0 : 1;
}
