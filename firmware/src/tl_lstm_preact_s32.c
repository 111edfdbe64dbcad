/* Gate pre-activations (docs/integer-lstm.md section 4) from the requant records (tl_lstm.h):
 * z = sat16(requant(ax + b, Mx, nx) + requant(ah, Mh, nh)), exactly. The record's 64-bit
 * offsets carry the bias and the rounding constant: requant(a + b, M, n) =
 * floor((a * M + CH:CL) / 2^n), with |a * M + CH:CL| < 2^63 for every valid record. */
#include "tl_fixed_internal.h"
#include "tl_lstm.h"

static inline int64_t offset64(int32_t lo, int32_t hi)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | (uint32_t)lo);
}

static void preact_c(const tl_lstm_dir_t *dir, const int32_t *ax, const int32_t *ah,
                     uint32_t rows, int32_t *z)
{
    const tl_lstm_rq_t *q = dir->rq;
    for (uint32_t r = 0; r < rows; r++) {
        int64_t px = (int64_t)ax[r] * q[r].mx + offset64(q[r].clx, q[r].chx);
        int64_t ph = (int64_t)ah[r] * q[r].mh + offset64(q[r].clh, q[r].chh);
        /* n = S + 32; for n >= 32 this is hi32(p) >> S (what the DSP path computes) */
        z[r] = tl_sat16(tl_shr64(px, q[r].sx + 32) + tl_shr64(ph, q[r].sh + 32));
    }
}

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* One row, 10 instructions: the record in r4-r11 (mx clx chx sx mh clh chh sh), ax r12, ah lr;
 * SMLAL adds a * M to the 64-bit offset, its high word shifted by S is the requantised term. */
#define TL_PREACT_ROW                                                                          \
    "ldmia.w r0!, {r4-r11}\n\t"                                                                \
    "ldr     r12, [r1]\n\t"                                                                    \
    "ldr     lr, [r2], #4\n\t"                                                                 \
    "smlal   r5, r6, r12, r4\n\t"                                                              \
    "asr     r6, r6, r7\n\t"                                                                   \
    "smlal   r9, r10, lr, r8\n\t"                                                              \
    "asr     r10, r10, r11\n\t"                                                                \
    "add     r6, r6, r10\n\t" /* |terms| <= 2^30 */                                            \
    "ssat    r6, #16, r6\n\t"                                                                  \
    "str     r6, [r1], #4\n\t"

/* The same with an input shift n >= 31 (spec v2's hash embedding has nx = 31 on most rows):
 * floor(p / 2^31) = (hi << 1) | (lo >> 31) fits 32 bits for a TL_REQUANT_GE31 record, and
 * floor(p / 2^n) = floor(p / 2^31) >> (n - 31) = ... >> (S + 1). Three more instructions per
 * row than TL_PREACT_ROW, instead of the 64-bit C requantisation. */
#define TL_PREACT_ROW31                                                                        \
    "ldmia.w r0!, {r4-r11}\n\t"                                                                \
    "ldr     r12, [r1]\n\t"                                                                    \
    "ldr     lr, [r2], #4\n\t"                                                                 \
    "smlal   r5, r6, r12, r4\n\t"                                                              \
    "lsl     r6, r6, #1\n\t"                                                                   \
    "orr     r6, r6, r5, lsr #31\n\t"                                                          \
    "add     r7, r7, #1\n\t"                                                                   \
    "asr     r6, r6, r7\n\t"                                                                   \
    "smlal   r9, r10, lr, r8\n\t"                                                              \
    "asr     r10, r10, r11\n\t"                                                                \
    "add     r6, r6, r10\n\t" /* |terms| < 2^30 */                                             \
    "ssat    r6, #16, r6\n\t"                                                                  \
    "str     r6, [r1], #4\n\t"

/* z over ax in place: r0 = records, r1 = ax (z), r2 = ah, r3 = rows / 4 >= 1. */
#define TL_ARG __attribute__((unused)) /* naked: the body reads the registers */
__attribute__((naked, noinline)) static void preact_dsp(TL_ARG const tl_lstm_rq_t *q,
                                                        TL_ARG int32_t *axz,
                                                        TL_ARG const int32_t *ah,
                                                        TL_ARG uint32_t quads)
{
    __asm__ volatile("push    {r4-r11, lr}\n\t"
                     "1:\n\t" TL_PREACT_ROW TL_PREACT_ROW TL_PREACT_ROW TL_PREACT_ROW
                     "subs    r3, r3, #1\n\t"
                     "bne     1b\n\t"
                     "pop     {r4-r11, pc}\n\t");
}

__attribute__((naked, noinline)) static void preact_dsp31(TL_ARG const tl_lstm_rq_t *q,
                                                          TL_ARG int32_t *axz,
                                                          TL_ARG const int32_t *ah,
                                                          TL_ARG uint32_t quads)
{
    __asm__ volatile("push    {r4-r11, lr}\n\t"
                     "1:\n\t" TL_PREACT_ROW31 TL_PREACT_ROW31 TL_PREACT_ROW31 TL_PREACT_ROW31
                     "subs    r3, r3, #1\n\t"
                     "bne     1b\n\t"
                     "pop     {r4-r11, pc}\n\t");
}
#endif

void tl_lstm_preact_s32(const tl_lstm_dir_t *dir, const int32_t *ax, const int32_t *ah,
                        uint32_t rows, int32_t *z)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
    /* the in-place form only: every shift n >= 32 (S >= 0), hi32 and one shift; or input
     * shifts n >= 31, from both words of the input term */
    if (dir->fast_requant != 0u && z == ax && rows >= 4u && rows % 4u == 0u) {
        if (dir->fast_requant == TL_REQUANT_GE32) {
            preact_dsp(dir->rq, z, ah, rows / 4u);
        } else {
            preact_dsp31(dir->rq, z, ah, rows / 4u);
        }
        return;
    }
#endif
    preact_c(dir, ax, ah, rows, z);
}
