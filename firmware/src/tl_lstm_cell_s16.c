/* Cell and hidden update of one LSTM step (docs/integer-lstm.md section 4) from the
 * gate-interleaved pre-activations z[4u .. 4u+3] = i, f, g, o of unit u; the state is
 * c[0..H-1] then h[0..H-1]. */
#include "tl_activation.h"
#include "tl_fixed_internal.h"
#include "tl_lstm.h"

static void cell_c(const int32_t *z, int16_t *state, uint32_t hidden)
{
    int16_t *c = state, *h = state + hidden;
    for (uint32_t u = 0; u < hidden; u++) {
        const int32_t *zu = z + 4u * u;
        int32_t ig = tl_lut_interp(tl_sigmoid_lut, (int16_t)zu[0]);
        int32_t fg = tl_lut_interp(tl_sigmoid_lut, (int16_t)zu[1]);
        int32_t gg = tl_lut_interp(tl_tanh_lut, (int16_t)zu[2]);
        int32_t og = tl_lut_interp(tl_sigmoid_lut, (int16_t)zu[3]);
        int32_t fc = tl_rshift_round32(fg * (int32_t)c[u], 15);
        int32_t ic = tl_rshift_round32(ig * gg, 18);
        int16_t cn = (int16_t)tl_sat16_32(fc + ic); /* |fc| <= 2^15, |ic| <= 2^12 */
        int32_t tc = tl_lut_interp(tl_tanh_lut, cn);
        c[u] = cn;
        h[u] = tl_sat8(tl_rshift_round32(og * tc, 23));
    }
}

#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
/* A gate through its table as line segments (tl_activation.h): with k = (z >> 7), the entry at
 * table + 8k holds {base, slope} and the output is (base + slope * z) >> 7; 5 instructions.
 * Z is overwritten with the gate; r10, r11 are scratch. */
#define TL_GATE(Z, TABLE)                                                                      \
    "asr     r10, " Z ", #7\n\t"                                                               \
    "add     r10, " TABLE ", r10, lsl #3\n\t"                                                  \
    "ldrd    r10, r11, [r10]\n\t"                                                              \
    "mla     " Z ", r11, " Z ", r10\n\t"                                                       \
    "asr     " Z ", " Z ", #7\n\t"

/* One unit, 39 instructions: z (i, f, g, o) in r6-r9; c r12; lr = 2^14. */
#define TL_CELL_UNIT                                                                           \
    "ldmia.w r0!, {r6-r9}\n\t" TL_GATE("r7", "r4") /* f */                                    \
    "ldrsh   r12, [r1]\n\t"                                                                    \
    "smlabb  r12, r7, r12, lr\n\t" /* f * c + 2^14 */                                          \
    "asr     r12, r12, #15\n\t" TL_GATE("r6", "r4") /* i */ TL_GATE("r8", "r5") /* g */       \
    "smulbb  r6, r6, r8\n\t"                                                                   \
    "add     r6, r6, #131072\n\t"                                                              \
    "add     r12, r12, r6, asr #18\n\t"                                                        \
    "ssat    r12, #16, r12\n\t" /* c' */                                                       \
    "strh    r12, [r1], #2\n\t" TL_GATE("r12", "r5") /* tanh(c') */ TL_GATE("r9", "r4") /* o */ \
    "smulbb  r9, r9, r12\n\t"                                                                  \
    "add     r9, r9, #4194304\n\t"                                                             \
    "ssat    r9, #8, r9, asr #23\n\t" /* h' */                                                 \
    "strh    r9, [r2], #2\n\t"

/* r0 = z, r1 = c, r2 = h, r3 = units / 2 >= 1, [sp] = sigmoid segments at k = 0,
 * [sp + 4] = tanh segments at k = 0 (entry 256 of each table). */
#define TL_ARG __attribute__((unused)) /* naked: the body reads the registers */
__attribute__((naked, noinline)) static void cell_dsp(TL_ARG const int32_t *z,
                                                      TL_ARG int16_t *c, TL_ARG int16_t *h,
                                                      TL_ARG uint32_t pairs,
                                                      TL_ARG const int32_t *sig,
                                                      TL_ARG const int32_t *tanh_seg)
{
    __asm__ volatile("push    {r4-r11, lr}\n\t"
                     "ldr     r4, [sp, #36]\n\t"
                     "ldr     r5, [sp, #40]\n\t"
                     "mov     lr, #16384\n\t"
                     "1:\n\t" TL_CELL_UNIT TL_CELL_UNIT
                     "subs    r3, r3, #1\n\t"
                     "bne     1b\n\t"
                     "pop     {r4-r11, pc}\n\t");
}
#endif

void tl_lstm_cell_s16(const int32_t *z, int16_t *state, uint32_t hidden)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
    if (hidden >= 2u && hidden % 2u == 0u) {
        cell_dsp(z, state, state + hidden, hidden / 2u, tl_sigmoid_seg[256], tl_tanh_seg[256]);
        return;
    }
#endif
    cell_c(z, state, hidden);
}
