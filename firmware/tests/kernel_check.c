#include "kernel_check.h"

#include <string.h>

#include "tl_activation.h"
#include "tl_fixed_internal.h"
#include "tl_blob.h"
#include "tl_embedding.h"
#include "tl_head.h"
#include "tl_lstm.h"
#include "tl_matvec.h"
#include "tl_requant.h"
#include "tl_sha256.h"
#include "tl_tokenizer.h"

static int g_fail;
static tl_log_fn g_log;

static void expect(int ok, const char *what)
{
    if (!ok) {
        g_log(what);
        g_fail++;
    }
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void check_requant(void)
{
    const int32_t m = 1 << 30; /* 0.5 * 2^31: requant(a, m, 31) = a / 2 */
    expect(tl_requant_s32(3, m, 31) == 2, "requant 1.5 rounds up to 2");
    expect(tl_requant_s32(-3, m, 31) == -1, "requant -1.5 rounds up to -1");
    expect(tl_requant_s32(-1, m, 31) == 0, "requant -0.5 rounds up to 0");
    expect(tl_requant_s32(5, m, 32) == 1, "requant 1.25 -> 1");
    /* floor((-2^31 * (2^31 - 1) + 1) / 2) = -(2^61 - 2^30) */
    expect(tl_requant_s32(INT32_MIN, INT32_MAX, 1) == -(((int64_t)1 << 61) - ((int64_t)1 << 30)),
           "requant extreme stays in 64 bits");
    expect(tl_requant_s32(1000, 1518500250, 62) == 0, "requant large shift -> 0");
}

static void set_offset(int64_t v, int32_t *lo, int32_t *hi)
{
    *lo = (int32_t)(uint32_t)(uint64_t)v;
    *hi = (int32_t)(uint32_t)((uint64_t)v >> 32);
}

/* The gate pre-activation op from requant records equals the spec's definition,
 * sat16(requant(ax + b, Mx, nx) + requant(ah, Mh, nh)), for every n (32..62 and below). */
static void check_preact(void)
{
    uint32_t seed = 99;
    int ok = 1;
    enum { ROWS = 64 };
    static tl_lstm_rq_t rq[ROWS];
    static int32_t ax[ROWS], ah[ROWS], z[ROWS];
    static int32_t bias[ROWS], want[ROWS];
    for (int round = 0; round < 300 && ok; round++) {
        for (uint32_t r = 0; r < ROWS; r++) {
            int32_t a = (int32_t)(lcg(&seed) << 8) >> 8, h = (int32_t)(lcg(&seed) << 8) >> 8;
            if (r % 3u == 0u) {
                a >>= (lcg(&seed) % 23u);
                h >>= (lcg(&seed) % 23u);
            }
            int32_t nx = 32 + (int32_t)(lcg(&seed) % 31u), nh = 32 + (int32_t)(lcg(&seed) % 31u);
            if (r % 5u == 0u) {
                nx = 32;
                nh = 32;
            }
            if (round % 2 == 1 && r % 7u == 3u) { /* shifts below 32: the general path */
                nx = 1 + (int32_t)(lcg(&seed) % 31u);
                nh = 1 + (int32_t)(lcg(&seed) % 31u);
            }
            bias[r] = (int32_t)(lcg(&seed) % 2000001u) - 1000000;
            if (round == 0 && r == 1u) {
                bias[r] = (1 << 30) - 1; /* the converter's largest bias */
            }
            rq[r].mx = (int32_t)((1u << 30) | (lcg(&seed) << 7));
            rq[r].mh = (int32_t)((1u << 30) | lcg(&seed));
            rq[r].sx = nx - 32;
            rq[r].sh = nh - 32;
            set_offset((int64_t)bias[r] * rq[r].mx + ((int64_t)1 << (nx - 1)), &rq[r].clx,
                       &rq[r].chx);
            set_offset((int64_t)1 << (nh - 1), &rq[r].clh, &rq[r].chh);
            ax[r] = a;
            ah[r] = h;
            int64_t v = tl_requant_s32(tl_add_wrap32(bias[r], a), rq[r].mx, nx) +
                        tl_requant_s32(h, rq[r].mh, nh);
            want[r] = v < -32768 ? -32768 : (v > 32767 ? 32767 : (int32_t)v);
        }
        uint32_t ge32 = 1u;
        for (uint32_t r = 0; r < ROWS; r++) {
            ge32 &= rq[r].sx >= 0 && rq[r].sh >= 0;
        }
        tl_lstm_dir_t dir = {NULL, NULL, rq, ge32};
        tl_lstm_preact_s32(&dir, ax, ah, ROWS, z);
        ok &= memcmp(z, want, sizeof z) == 0;
        tl_lstm_preact_s32(&dir, ax, ah, ROWS, ax); /* in place */
        ok &= memcmp(ax, want, sizeof z) == 0;
    }
    expect(ok, "gate pre-activations from requant records equal the spec");
}

/* Reference of the cell update (section 4) straight from the spec's formulas. */
static void cell_reference(const int32_t *z, int16_t *c, int16_t *h, uint32_t hidden)
{
    for (uint32_t u = 0; u < hidden; u++) {
        int32_t ig = tl_sigmoid_s16((int16_t)z[4u * u]), fg = tl_sigmoid_s16((int16_t)z[4u * u + 1u]);
        int32_t gg = tl_tanh_s16((int16_t)z[4u * u + 2u]), og = tl_sigmoid_s16((int16_t)z[4u * u + 3u]);
        int32_t v = ((fg * c[u] + (1 << 14)) >> 15) + ((ig * gg + (1 << 17)) >> 18);
        c[u] = (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
        v = (og * tl_tanh_s16(c[u]) + (1 << 22)) >> 23;
        h[u] = (int16_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

static void check_cell(void)
{
    enum { H = 32 };
    static int32_t z[4 * H];
    static int16_t state[2 * H], want_c[H], want_h[H];
    uint32_t seed = 77;
    int ok = 1;
    for (int round = 0; round < 400 && ok; round++) {
        for (uint32_t i = 0; i < 4u * H; i++) {
            z[i] = (int32_t)(lcg(&seed) % 65536u) - 32768;
            if (round % 4 == 1) {
                z[i] >>= 4; /* the steep middle of the tables */
            }
        }
        for (uint32_t u = 0; u < H; u++) {
            state[u] = (int16_t)((int32_t)(lcg(&seed) % 65536u) - 32768);
            state[H + u] = 0;
        }
        if (round == 0) {
            z[0] = z[1] = z[2] = z[3] = 32767;
            z[4] = z[5] = z[6] = z[7] = -32768;
            state[0] = 32767;
            state[1] = -32768;
        }
        memcpy(want_c, state, sizeof want_c);
        cell_reference(z, want_c, want_h, H);
        tl_lstm_cell_s16(z, state, H);
        ok &= memcmp(state, want_c, sizeof want_c) == 0 && memcmp(state + H, want_h, sizeof want_h) == 0;
    }
    expect(ok, "cell update equals the spec's formulas");
}

static void check_lut(void)
{
    int seg_ok = 1;
    for (int32_t z = -32768; z <= 32767; z++) {
        int32_t k = (z >> 7) + 256;
        seg_ok &= ((tl_sigmoid_seg[k][0] + tl_sigmoid_seg[k][1] * z) >> 7) == tl_sigmoid_s16((int16_t)z);
        seg_ok &= ((tl_tanh_seg[k][0] + tl_tanh_seg[k][1] * z) >> 7) == tl_tanh_s16((int16_t)z);
    }
    expect(seg_ok, "line-segment tables equal the interpolated tables for every input");
    expect(tl_sigmoid_s16(0) == tl_sigmoid_lut[256], "sigmoid(0) is the table midpoint");
    expect(tl_sigmoid_s16(-32768) == tl_sigmoid_lut[0], "sigmoid(-8) is entry 0");
    expect(tl_tanh_s16(0) == 0, "tanh(0) = 0");
    /* z = -32768 + 64: halfway between entries 0 and 1, rounded half up */
    int32_t lo = tl_tanh_lut[0], hi = tl_tanh_lut[1];
    int32_t num = (hi - lo) * 64 + 64;
    int32_t floor_div = num >= 0 ? num / 128 : -((-num + 127) / 128);
    expect(tl_tanh_s16(-32768 + 64) == lo + floor_div, "tanh interpolation halfway");
    int monotone = 1;
    for (int32_t z = -32768; z < 32767; z += 7) {
        int16_t next = (int16_t)(z + 7 > 32767 ? 32767 : z + 7);
        monotone &= tl_sigmoid_s16((int16_t)z) <= tl_sigmoid_s16(next);
    }
    expect(monotone, "sigmoid is monotone");
    expect(tl_sigmoid_s16(32767) == tl_sigmoid_lut[511] + ((tl_sigmoid_lut[512] - tl_sigmoid_lut[511]) * 127 + 64) / 128,
           "sigmoid top end interpolates towards entry 512");
}

/* Paired-row value of rows (w0, w1) at one column: 256 * w1 + w0. */
static int16_t pair_value(int8_t w0, int8_t w1) { return (int16_t)(256 * w1 + w0); }

/* Where pair p's column j sits in the blocked layout (docs/model-blob.md). */
static uint32_t block_pos(uint32_t p, uint32_t j, uint32_t cols)
{
    uint32_t block = j / 8u, width = block < cols / 8u ? 8u : cols % 8u;
    return (p / 2u) * 2u * cols + 16u * block + (p % 2u) * width + j % 8u;
}

static void check_matvec(void)
{
    enum { MAXC = 256 };
    static int8_t w[16 * MAXC];
    static int16_t wp[8 * MAXC];
    static int8_t x[MAXC];
    static int16_t x16[MAXC], xb16[MAXC], xab[8 * MAXC / 4];
    int32_t out[16], outa[16], outb[16];
    uint32_t seed = 12345;
    /* odd widths (a short last block) and every width of whole 8-column blocks, 8 .. 256 */
    uint32_t dims[16 + 32][2] = {{16, 67}, {4, 64}, {8, 1}, {4, 3}, {8, 4}, {8, 5}, {8, 23},
                                 {12, 41}, {16, 7}, {4, 15}, {4, 12}, {12, 33}, {4, 250},
                                 {16, 256}, {4, 2}, {8, 6}};
    for (uint32_t b = 1; b <= 32u; b++) {
        dims[15 + b][0] = 4u * (1u + b % 4u);
        dims[15 + b][1] = 8u * b;
    }
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        uint32_t rows = dims[d][0], cols = dims[d][1];
        for (uint32_t i = 0; i < rows * cols; i++) {
            w[i] = (int8_t)((int32_t)(lcg(&seed) % 255u) - 127);
        }
        for (uint32_t j = 0; j < cols; j++) {
            x[j] = (int8_t)((int32_t)(lcg(&seed) % 256u) - 128);
            x16[j] = x[j];
            xb16[j] = (int16_t)((int32_t)(lcg(&seed) % 256u) - 128);
        }
        if (d == 0) { /* extremes: every sign combination of the largest products */
            for (uint32_t j = 0; j < cols; j++) {
                w[j] = (int8_t)(j % 2u ? 127 : -127);
                w[cols + j] = (int8_t)(j % 3u ? -127 : 127);
                x16[j] = (int16_t)(j % 5u ? -128 : 127);
                x[j] = (int8_t)x16[j];
            }
        }
        for (uint32_t p = 0; p < rows / 2u; p++) {
            for (uint32_t j = 0; j < cols; j++) {
                wp[block_pos(p, j, cols)] =
                    pair_value(w[2u * p * cols + j], w[(2u * p + 1u) * cols + j]);
            }
        }
        memset(xab, 0, sizeof xab);
        for (uint32_t j = 0; j < cols; j++) {
            xab[8u * (j / 4u) + j % 4u] = x16[j];
            xab[8u * (j / 4u) + 4u + j % 4u] = xb16[j];
        }
        tl_matvec_s8(w, x, rows, cols, out);
        tl_matvec_paired_s8(wp, x16, rows, cols, outa);
        int ok = memcmp(out, outa, rows * sizeof(int32_t)) == 0;
        tl_matvec_paired_x2_s8(wp, xab, rows, cols, outa, outb);
        for (uint32_t r = 0; r < rows; r++) {
            int32_t want = 0, want_b = 0;
            for (uint32_t j = 0; j < cols; j++) {
                want += w[r * cols + j] * x16[j];
                want_b += w[r * cols + j] * xb16[j];
            }
            expect(out[r] == want, "matvec equals the naive sum");
            expect(outa[r] == want && outb[r] == want_b, "paired matvec_x2 equals the naive sums");
        }
        expect(ok, "paired matvec equals the row-major one");
    }
}

static void check_embedding(void)
{
    static int8_t emb[3 * 67];
    static int16_t x[67], xab[8 * 17];
    uint32_t seed = 4242;
    int ok = 1;
    const uint32_t dims[] = {1, 3, 4, 7, 8, 64, 67};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        uint32_t dim = dims[d];
        for (uint32_t i = 0; i < 3u * dim; i++) {
            emb[i] = (int8_t)((int32_t)(lcg(&seed) % 256u) - 128);
        }
        tl_embedding_s8(emb, dim, 2, x);
        tl_embedding_x2_s8(emb, dim, 1, 2, xab);
        for (uint32_t j = 0; j < dim; j++) {
            ok &= x[j] == emb[2u * dim + j];
            ok &= xab[8u * (j / 4u) + j % 4u] == emb[dim + j];
            ok &= xab[8u * (j / 4u) + 4u + j % 4u] == emb[2u * dim + j];
        }
        for (uint32_t j = dim; j % 4u != 0u; j++) { /* the last group is zero-padded */
            ok &= xab[8u * (j / 4u) + j % 4u] == 0 && xab[8u * (j / 4u) + 4u + j % 4u] == 0;
        }
    }
    expect(ok, "embedding rows widen to int16 (one token and two interleaved)");
}

static uint16_t fnv_id(const char *key, uint32_t vocab)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p != '\0'; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return (uint16_t)(2u + h % (vocab - 2u));
}

static void check_tokenizer(void)
{
    uint16_t ids[8];
    uint32_t n = 0;
    const char *t = "DH20231125 x\xff\xc3\xa9#";
    expect(tl_tokenize((const uint8_t *)t, strlen(t), 2048, 8, ids, &n) == TL_OK, "tokenize ok");
    expect(n == 5 && ids[0] == fnv_id("dh", 2048) && ids[1] == fnv_id("#8", 2048) &&
               ids[2] == fnv_id("x", 2048) && ids[3] == fnv_id("\xc3\xa9", 2048) &&
               ids[4] == fnv_id("#", 2048),
           "tokenize: word, number bucket, invalid byte, single, '#'");
    expect(tl_tokenize((const uint8_t *)"a b c d", 7, 2048, 2, ids, &n) == TL_OK && n == 2,
           "tokenize truncates at max_len");
    expect(tl_tokenize((const uint8_t *)"12345678901", 11, 2048, 4, ids, &n) == TL_OK && n == 1 &&
               ids[0] == fnv_id("#10", 2048),
           "numbers longer than 10 share bucket #10");
    expect(tl_tokenize(NULL, 0, 2048, 4, ids, &n) == TL_OK && n == 0, "empty input");
    expect(tl_tokenize((const uint8_t *)"a", 1, 15, 4, ids, &n) == TL_ERR_ARG, "V < 16 refused");
    expect(tl_tokenize((const uint8_t *)"a", 1, 2048, 0, ids, &n) == TL_ERR_ARG, "L = 0 refused");
}

static int hex_eq(const uint8_t *d, const char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        if (hex[2 * i] != digits[d[i] >> 4] || hex[2 * i + 1] != digits[d[i] & 15]) {
            return 0;
        }
    }
    return 1;
}

static void check_hashes(void)
{
    uint8_t d[32];
    tl_sha256_t s;
    tl_sha256_init(&s);
    tl_sha256_update(&s, (const uint8_t *)"abc", 3);
    tl_sha256_final(&s, d);
    expect(hex_eq(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
           "sha256(abc)");
    tl_sha256_init(&s);
    tl_sha256_final(&s, d);
    expect(hex_eq(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
           "sha256(empty)");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tl_sha256_init(&s);
    for (size_t i = 0; i < strlen(m); i++) { /* byte by byte exercises the partial block */
        tl_sha256_update(&s, (const uint8_t *)m + i, 1);
    }
    tl_sha256_final(&s, d);
    expect(hex_eq(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
           "sha256(448-bit message)");
    static uint8_t a[1000];
    memset(a, 'a', sizeof a);
    tl_sha256_init(&s);
    for (int i = 0; i < 1000; i++) {
        tl_sha256_update(&s, a, sizeof a);
    }
    tl_sha256_final(&s, d);
    expect(hex_eq(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
           "sha256(million a)");
    expect(tl_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u, "crc32 check value");
    expect(tl_crc32(tl_crc32(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5) ==
               0xCBF43926u,
           "crc32 continues");
}

static void check_head(void)
{
    int32_t v[4] = {5, 9, 9, -3};
    expect(tl_argmax_s32(v, 4) == 1, "argmax: lowest index wins a tie");
    int32_t eq[4] = {100, 100, 100, 100};
    float c = tl_confidence_f32(eq, 4, 10);
    expect(c > 0.2499f && c < 0.2501f, "confidence of equal logits is 1/C");
    int32_t big[2] = {INT32_MAX, INT32_MIN};
    c = tl_confidence_f32(big, 2, 10);
    expect(c == 1.0f, "confidence of far-apart logits is 1");
}

int tl_check_kernels(tl_log_fn log)
{
    g_fail = 0;
    g_log = log;
    check_requant();
    check_preact();
    check_lut();
    check_cell();
    check_matvec();
    check_embedding();
    check_tokenizer();
    check_hashes();
    check_head();
    return g_fail;
}
