/* Matrix-vector products over paired-row int8 weights (tl_matvec.h, docs/model-blob.md): for
 * each row pair, A = sum v[j] * x[j] = 256 * dot(odd row) + dot(even row) over the int16 pair
 * values v, and B = sum lo8(v[j]) * x[j] = dot(even row). With weights in [-127, 127] (checked
 * by tl_blob_parse), |x| <= 128 and cols <= 256, |A| < 2^31, so both sums are exact in int32.
 * The two pairs of a row quad are stored in blocks of 8 columns (pair 2q, then pair 2q+1). */
#include <stddef.h>

#include "tl_matvec.h"

#define BLOCK 8u

static inline int32_t low_s8(int32_t v) { return ((v & 0xFF) ^ 0x80) - 0x80; }

/* One quad (rows 4q .. 4q+3): w points at its 2 * cols values, stored block by block. */
static void quad_dots(const int16_t *w, const int16_t *x, uint32_t cols, int32_t *out)
{
    int32_t a0 = 0, b0 = 0, a1 = 0, b1 = 0;
    for (uint32_t j0 = 0; j0 < cols; j0 += BLOCK) {
        const uint32_t width = cols - j0 < BLOCK ? cols - j0 : BLOCK;
        const int16_t *xj = x + j0;
        for (uint32_t k = 0; k < width; k++) {
            int32_t v = w[k], xk = xj[k];
            a0 += v * xk;
            b0 += low_s8(v) * xk;
        }
        w += width;
        for (uint32_t k = 0; k < width; k++) {
            int32_t v = w[k], xk = xj[k];
            a1 += v * xk;
            b1 += low_s8(v) * xk;
        }
        w += width;
    }
    out[0] = b0;
    out[1] = (a0 - b0) >> 8; /* exact: a - b = 256 * dot(odd row) */
    out[2] = b1;
    out[3] = (a1 - b1) >> 8;
}

static void matvec_paired_c(const int16_t *w, const int16_t *x, uint32_t rows, uint32_t cols,
                            int32_t *out)
{
    for (uint32_t q = 0; q < rows / 4u; q++) {
        quad_dots(w + (size_t)q * 2u * cols, x, cols, out + 4u * q);
    }
}

/* Pair h (0 or 1) of the quad at wq, for two inputs. */
static void pair_dots_x2(const int16_t *wq, uint32_t h, const int16_t *xab, uint32_t cols,
                         int32_t *outa, int32_t *outb)
{
    int32_t aa = 0, ba = 0, ab = 0, bb = 0;
    for (uint32_t j0 = 0; j0 < cols; j0 += BLOCK) {
        const uint32_t width = cols - j0 < BLOCK ? cols - j0 : BLOCK;
        const int16_t *w = wq + 2u * j0 + h * width; /* block base, then this pair's part */
        for (uint32_t k = 0; k < width; k++) {
            const uint32_t j = j0 + k;
            int32_t v = w[k], lo = low_s8(v);
            int32_t xa = xab[8u * (j / 4u) + j % 4u], xb = xab[8u * (j / 4u) + 4u + j % 4u];
            aa += v * xa;
            ba += lo * xa;
            ab += v * xb;
            bb += lo * xb;
        }
    }
    outa[0] = ba;
    outa[1] = (aa - ba) >> 8;
    outb[0] = bb;
    outb[1] = (ab - bb) >> 8;
}

static void matvec_paired_x2_c(const int16_t *w, const int16_t *xab, uint32_t rows,
                               uint32_t cols, int32_t *outa, int32_t *outb)
{
    for (uint32_t q = 0; q < rows / 4u; q++) {
        for (uint32_t h = 0; h < 2u; h++) {
            pair_dots_x2(w + (size_t)q * 2u * cols, h, xab, cols, outa + 4u * q + 2u * h,
                         outb + 4u * q + 2u * h);
        }
    }
}

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* Cortex-M4 DSP path. Each kernel is a whole function in assembly (GCC 12 spills the pointers
 * of a C version to the stack) with every column block unrolled 32 times; a run enters the
 * unrolled blocks part-way, Duff's device style, through a computed branch (ldr pc), so no
 * block counter is needed. Every instruction is 32-bit, so a block's size in bytes is fixed;
 * the kernel checks run every width from 8 to 256 columns.
 *
 * Quad block (8 columns of rows 4q .. 4q+3, two paired rows of 16 bytes each), 27
 * instructions for 32 multiply-accumulates: x pairs in r4-r7, weight words in r8-r11,
 * accumulators B_A (row 4q) r2, A_A (256 * row 4q+1 + row 4q) r3, B_B (row 4q+2) r12, A_B lr.
 * The first block of a quad starts the accumulators (smuad), the others add (smlad). */
#define TL_STR(X) #X
#define TL_QW(OP, W, X, A, B)                                                                  \
    TL_STR(OP) " " A ", " W ", " X ACC(OP, A) "\n\t"                                           \
    "sxtb16 " W ", " W "\n\t"                                                                  \
    TL_STR(OP) " " B ", " W ", " X ACC(OP, B) "\n\t"
#define TL_QUAD_WORDS(OP0, A, B)                                                               \
    TL_QW(OP0, "r8", "r4", A, B) TL_QW(smlad, "r9", "r5", A, B)                                \
    TL_QW(smlad, "r10", "r6", A, B) TL_QW(smlad, "r11", "r7", A, B)
#define TL_QUAD_BLOCK(OP0)                                                                     \
    "ldmia.w r1!, {r4-r7}\n\t"                                                                 \
    "ldmia.w r0!, {r8-r11}\n\t" TL_QUAD_WORDS(OP0, "r3", "r2")                                 \
    "ldmia.w r0!, {r8-r11}\n\t" TL_QUAD_WORDS(OP0, "lr", "r12")
/* smuad has no accumulator operand; smlad adds its destination. */
#define ACC(OP, R) ACC_##OP(R)
#define ACC_smuad(R) ""
#define ACC_smlad(R) ", " R
#define TL_X4(X) X X X X
#define TL_X31(X) TL_X4(TL_X4(X)) TL_X4(X) X X X X X X X X X X X

/* out[4q .. 4q+3] for every quad: r0 = w, r1 = x, r2 = quads >= 1, r3 = blocks in 1..32,
 * [sp] = out. Frame: [sp] x, [sp+4] entry | 1, [sp+8] out, [sp+12] end of out. */
#define TL_ARG __attribute__((unused)) /* naked: the body reads the registers */
__attribute__((naked, noinline)) static void quads_dsp(TL_ARG const int16_t *w,
                                                       TL_ARG const int16_t *x,
                                                       TL_ARG uint32_t quads,
                                                       TL_ARG uint32_t blocks, TL_ARG int32_t *out)
{
    __asm__ volatile(".balign 4\n\t" /* adr.w resolves against a word-aligned pc */
                     "push    {r4-r11, lr}\n\t"
                     "sub     sp, sp, #16\n\t"
                     "ldr     r4, [sp, #52]\n\t" /* out: 9 saved registers + 16 bytes above */
                     "str     r1, [sp, #0]\n\t"
                     "str     r4, [sp, #8]\n\t"
                     "add     r4, r4, r2, lsl #4\n\t"
                     "str     r4, [sp, #12]\n\t"
                     "adr.w   r4, 9f\n\t" /* blocks - 1 unrolled blocks end at 9 */
                     "sub     r3, r3, #1\n\t"
                     "movw    r5, #108\n\t" /* bytes per block: 27 x 4 */
                     "mls     r4, r3, r5, r4\n\t"
                     "orr     r4, r4, #1\n\t" /* Thumb state */
                     "str     r4, [sp, #4]\n\t"
                     "1:\n\t" TL_QUAD_BLOCK(smuad) "ldr.w   pc, [sp, #4]\n\t"
                     "8:\n\t" TL_QUAD_BLOCK(smlad) "7:\n\t"
                     ".if (7b - 8b) != 108\n\t.error \"quad block is not 108 bytes\"\n\t.endif\n\t"
                     TL_X31(TL_QUAD_BLOCK(smlad)) "9:\n\t"
                     "sub     r3, r3, r2\n\t" /* A - B = 256 * odd row */
                     "asr     r3, r3, #8\n\t"
                     "sub     lr, lr, r12\n\t"
                     "asr     lr, lr, #8\n\t"
                     "ldr     r4, [sp, #8]\n\t"
                     "stmia   r4!, {r2, r3, r12, lr}\n\t" /* rows 4q .. 4q+3 */
                     "str     r4, [sp, #8]\n\t"
                     "ldr     r1, [sp, #0]\n\t"
                     "ldr     r5, [sp, #12]\n\t"
                     "cmp     r4, r5\n\t"
                     "bne.w   1b\n\t"
                     "add     sp, sp, #16\n\t"
                     "pop     {r4-r11, pc}\n\t");
}

/* Pair group (4 columns of one paired row, two inputs), 12 instructions for 16
 * multiply-accumulates: x pairs xa01 r8, xa23 r9, xb01 r10, xb23 r11; weight words r6, r7;
 * accumulators Ba r2, Aa r3, Bb r4, Ab r5. A block is two groups: the first ends 8 bytes on,
 * the second 24 bytes on (the quad's other pair's 16 bytes follow it). */
#define TL_PW(OP, W, XA, XB)                                                                   \
    TL_STR(OP) " r3, " W ", " XA ACC(OP, "r3") "\n\t"                                          \
    TL_STR(OP) " r5, " W ", " XB ACC(OP, "r5") "\n\t"                                          \
    "sxtb16 " W ", " W "\n\t"                                                                  \
    TL_STR(OP) " r2, " W ", " XA ACC(OP, "r2") "\n\t"                                          \
    TL_STR(OP) " r4, " W ", " XB ACC(OP, "r4") "\n\t"
#define TL_PAIR_GROUP(OP0, STEP)                                                               \
    "ldmia.w r1!, {r8-r11}\n\t"                                                                \
    "ldrd    r6, r7, [r0], #" STEP "\n\t" TL_PW(OP0, "r6", "r8", "r10")                        \
    TL_PW(smlad, "r7", "r9", "r11")
#define TL_PAIR_BLOCK(OP0) TL_PAIR_GROUP(OP0, "8") TL_PAIR_GROUP(smlad, "24")

/* One sweep over every quad's first (or, with w + 8 and outputs + 2, second) pair: rows 4q and
 * 4q+1 of outa and outb. r0 = w, r1 = xab, r2 = quads >= 1, r3 = blocks in 1..32,
 * [sp] = outa, [sp+4] = outb. Frame: [sp] xab, [sp+4] entry | 1, [sp+8] end of outa. */
__attribute__((naked, noinline)) static void pairs_x2_dsp(TL_ARG const int16_t *w,
                                                          TL_ARG const int16_t *xab,
                                                          TL_ARG uint32_t quads,
                                                          TL_ARG uint32_t blocks,
                                                          TL_ARG int32_t *outa,
                                                          TL_ARG int32_t *outb)
{
    __asm__ volatile(".balign 4\n\t"
                     "push    {r4-r11, lr}\n\t"
                     "sub     sp, sp, #16\n\t"
                     "ldr     r12, [sp, #52]\n\t"
                     "ldr     lr, [sp, #56]\n\t"
                     "str     r1, [sp, #0]\n\t"
                     "add     r4, r12, r2, lsl #4\n\t"
                     "str     r4, [sp, #8]\n\t"
                     "adr.w   r4, 9f\n\t"
                     "sub     r3, r3, #1\n\t"
                     "movw    r5, #96\n\t" /* bytes per block: 24 x 4 */
                     "mls     r4, r3, r5, r4\n\t"
                     "orr     r4, r4, #1\n\t"
                     "str     r4, [sp, #4]\n\t"
                     "1:\n\t" TL_PAIR_BLOCK(smuad) "ldr.w   pc, [sp, #4]\n\t"
                     "8:\n\t" TL_PAIR_BLOCK(smlad) "7:\n\t"
                     ".if (7b - 8b) != 96\n\t.error \"pair block is not 96 bytes\"\n\t.endif\n\t"
                     TL_X31(TL_PAIR_BLOCK(smlad)) "9:\n\t"
                     "sub     r3, r3, r2\n\t"
                     "asr     r3, r3, #8\n\t"
                     "sub     r5, r5, r4\n\t"
                     "asr     r5, r5, #8\n\t"
                     "strd    r2, r3, [r12], #16\n\t" /* rows 4q, 4q+1 of outa */
                     "strd    r4, r5, [lr], #16\n\t"
                     "ldr     r1, [sp, #0]\n\t"
                     "ldr     r6, [sp, #8]\n\t"
                     "cmp     r12, r6\n\t"
                     "bne.w   1b\n\t"
                     "add     sp, sp, #16\n\t"
                     "pop     {r4-r11, pc}\n\t");
}

/* The unrolled kernels take whole 8-column blocks, 1 to 32 of them. */
static inline int dsp_shape(uint32_t rows, uint32_t cols)
{
    return rows >= 4u && rows % 4u == 0u && cols >= 8u && cols <= 256u && cols % 8u == 0u;
}

void tl_matvec_paired_s8(const int16_t *w, const int16_t *x, uint32_t rows, uint32_t cols,
                         int32_t *out)
{
    if (dsp_shape(rows, cols)) {
        quads_dsp(w, x, rows / 4u, cols / 8u, out);
    } else {
        matvec_paired_c(w, x, rows, cols, out);
    }
}

void tl_matvec_paired_x2_s8(const int16_t *w, const int16_t *xab, uint32_t rows, uint32_t cols,
                            int32_t *outa, int32_t *outb)
{
    if (dsp_shape(rows, cols)) {
        pairs_x2_dsp(w, xab, rows / 4u, cols / 8u, outa, outb);
        pairs_x2_dsp(w + 8, xab, rows / 4u, cols / 8u, outa + 2, outb + 2);
    } else {
        matvec_paired_x2_c(w, xab, rows, cols, outa, outb);
    }
}

#else

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "tl_cpu.h"

/* x86-64 AVX2 path, chosen at run time (tl_cpu.h). A quad block is 32 bytes: 8 columns of
 * pair 2q (low 128 bits) and of pair 2q+1 (high 128 bits); with the 8 inputs broadcast to
 * both halves, vpmaddwd on the raw values sums A (256 * odd row + even row) pairwise and on
 * the values shifted left by 8 (256 * the even row's weight, exact in int16) sums 256 * B.
 * Both stay inside int32 for the same reason as the portable sums. */
#define TL_AVX2 __attribute__((target("avx2")))

/* Rows 4q .. 4q+3 from the per-half sums of a (A) and b (256 * B). */
TL_AVX2 static inline void quad_out_avx2(__m256i a, __m256i b, int32_t *out)
{
    __m256i h = _mm256_hadd_epi32(a, b); /* [a01 a23 b01 b23 | a45 a67 b45 b67] */
    h = _mm256_hadd_epi32(h, h);          /* [A0 B0 A0 B0 | A1 B1 A1 B1] */
    int32_t a0 = _mm256_extract_epi32(h, 0), b0 = _mm256_extract_epi32(h, 1) >> 8;
    int32_t a1 = _mm256_extract_epi32(h, 4), b1 = _mm256_extract_epi32(h, 5) >> 8;
    out[0] = b0;
    out[1] = (a0 - b0) >> 8;
    out[2] = b1;
    out[3] = (a1 - b1) >> 8;
}

TL_AVX2 static void matvec_paired_avx2(const int16_t *w, const int16_t *x, uint32_t rows,
                                       uint32_t cols, int32_t *out)
{
    const uint32_t blocks = cols / BLOCK;
    __m256i xb[256 / BLOCK];
    for (uint32_t c = 0; c < blocks; c++) {
        xb[c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x + BLOCK * c)));
    }
    for (uint32_t q = 0; q < rows / 4u; q++) {
        const __m256i *wq = (const __m256i *)(w + (size_t)q * 2u * cols);
        __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
        for (uint32_t c = 0; c < blocks; c++) {
            __m256i v = _mm256_loadu_si256(wq + c);
            a = _mm256_add_epi32(a, _mm256_madd_epi16(v, xb[c]));
            b = _mm256_add_epi32(b, _mm256_madd_epi16(_mm256_slli_epi16(v, 8), xb[c]));
        }
        quad_out_avx2(a, b, out + 4u * q);
    }
}

TL_AVX2 static void matvec_paired_x2_avx2(const int16_t *w, const int16_t *xab, uint32_t rows,
                                          uint32_t cols, int32_t *outa, int32_t *outb)
{
    const uint32_t blocks = cols / BLOCK;
    __m256i xa[256 / BLOCK], xb[256 / BLOCK];
    for (uint32_t c = 0; c < blocks; c++) { /* xab: per 4 columns, 4 of a then 4 of b */
        __m128i lo = _mm_loadu_si128((const __m128i *)(xab + 16u * c));
        __m128i hi = _mm_loadu_si128((const __m128i *)(xab + 16u * c + 8u));
        xa[c] = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(lo, hi));
        xb[c] = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(lo, hi));
    }
    for (uint32_t q = 0; q < rows / 4u; q++) {
        const __m256i *wq = (const __m256i *)(w + (size_t)q * 2u * cols);
        __m256i aa = _mm256_setzero_si256(), ba = _mm256_setzero_si256();
        __m256i ab = _mm256_setzero_si256(), bb = _mm256_setzero_si256();
        for (uint32_t c = 0; c < blocks; c++) {
            __m256i v = _mm256_loadu_si256(wq + c), v8 = _mm256_slli_epi16(v, 8);
            aa = _mm256_add_epi32(aa, _mm256_madd_epi16(v, xa[c]));
            ba = _mm256_add_epi32(ba, _mm256_madd_epi16(v8, xa[c]));
            ab = _mm256_add_epi32(ab, _mm256_madd_epi16(v, xb[c]));
            bb = _mm256_add_epi32(bb, _mm256_madd_epi16(v8, xb[c]));
        }
        quad_out_avx2(aa, ba, outa + 4u * q);
        quad_out_avx2(ab, bb, outb + 4u * q);
    }
}

static inline int avx2_shape(uint32_t rows, uint32_t cols)
{
    return tl_cpu_kernels() == TL_KERNELS_AVX2 && rows % 4u == 0u && cols >= BLOCK &&
           cols <= 256u && cols % BLOCK == 0u;
}
#else
static inline int avx2_shape(uint32_t rows, uint32_t cols)
{
    (void)rows;
    (void)cols;
    return 0;
}
#define matvec_paired_avx2 matvec_paired_c
#define matvec_paired_x2_avx2 matvec_paired_x2_c
#endif

void tl_matvec_paired_s8(const int16_t *w, const int16_t *x, uint32_t rows, uint32_t cols,
                         int32_t *out)
{
    if (avx2_shape(rows, cols)) {
        matvec_paired_avx2(w, x, rows, cols, out);
    } else {
        matvec_paired_c(w, x, rows, cols, out);
    }
}

void tl_matvec_paired_x2_s8(const int16_t *w, const int16_t *xab, uint32_t rows, uint32_t cols,
                            int32_t *outa, int32_t *outb)
{
    if (avx2_shape(rows, cols)) {
        matvec_paired_x2_avx2(w, xab, rows, cols, outa, outb);
    } else {
        matvec_paired_x2_c(w, xab, rows, cols, outa, outb);
    }
}

#endif
