#include "kernel_check.h"

#include <string.h>

#include "tl_activation.h"
#include "tl_fixed_internal.h"
#include "tl_blob.h"
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

/* The 32-bit fast path of the gate pre-activation equals the 64-bit definition. */
static void check_gate_preact(void)
{
    uint32_t seed = 99;
    int ok = 1;
    for (int i = 0; i < 20000 && ok; i++) {
        int32_t ax = (int32_t)(lcg(&seed) << 8), ah = (int32_t)(lcg(&seed) << 8);
        if (i % 3 == 0) {
            ax >>= (lcg(&seed) % 31u);
            ah >>= (lcg(&seed) % 31u);
        }
        int32_t mx = (int32_t)((1u << 30) | (lcg(&seed) << 7)), mh = (int32_t)((1u << 30) | lcg(&seed));
        int32_t nx = 32 + (int32_t)(lcg(&seed) % 31u), nh = 32 + (int32_t)(lcg(&seed) % 31u);
        if (i % 5 == 0) {
            nx = 32;
        }
        if (i == 0) {
            ax = INT32_MIN;
            mx = INT32_MAX;
            ah = INT32_MAX;
            mh = INT32_MAX;
        }
        int64_t want = tl_requant_s32(ax, mx, nx) + tl_requant_s32(ah, mh, nh);
        want = want < -32768 ? -32768 : (want > 32767 ? 32767 : want);
        ok = tl_gate_preact(ax, mx, nx, ah, mh, nh) == want &&
             tl_requant_hi(ax, mx, nx) == tl_requant_s32(ax, mx, nx);
    }
    expect(ok, "32-bit requant fast path equals the 64-bit definition");
}

static void check_lut(void)
{
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

static void check_matvec(void)
{
    static int8_t w[13 * 67];
    static int8_t x[67];
    static int8_t xb[67];
    int32_t out[13], out2a[13], out2b[13];
    uint32_t seed = 12345;
    const uint32_t dims[][2] = {{13, 67}, {4, 64}, {8, 1}, {1, 3}, {5, 4}, {7, 5}, {8, 24}, {12, 40}, {6, 8}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        uint32_t rows = dims[d][0], cols = dims[d][1];
        for (uint32_t i = 0; i < rows * cols; i++) {
            w[i] = (int8_t)((int32_t)(lcg(&seed) % 255u) - 127);
        }
        for (uint32_t j = 0; j < cols; j++) {
            x[j] = (int8_t)((int32_t)(lcg(&seed) % 256u) - 128);
        }
        if (d == 0) { /* extremes */
            x[0] = -128;
            w[0] = -127;
        }
        tl_matvec_s8(w, x, rows, cols, out);
        for (uint32_t j = 0; j < cols; j++) {
            xb[j] = (int8_t)((int32_t)(lcg(&seed) % 256u) - 128);
        }
        tl_matvec_s8_x2(w, x, xb, rows, cols, out2a, out2b);
        for (uint32_t r = 0; r < rows; r++) {
            int32_t want = 0, want_b = 0;
            for (uint32_t j = 0; j < cols; j++) {
                want += w[r * cols + j] * x[j];
                want_b += w[r * cols + j] * xb[j];
            }
            expect(out[r] == want, "matvec equals the naive sum");
            expect(out2a[r] == want && out2b[r] == want_b, "matvec_x2 equals the naive sums");
        }
    }
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
    check_gate_preact();
    check_lut();
    check_matvec();
    check_tokenizer();
    check_hashes();
    check_head();
    return g_fail;
}
