/* Cortex-M4 test image: hand-made kernel checks, then every tokenizer and integer-LSTM golden
 * vector through the same code the device runs; mismatches go out over semihosting and the
 * exit status is 0 only when everything matched (1 = mismatches, 2 = unusable vectors). */
#include <string.h>

#include "crf_check.h"
#include "golden_check.h"
#include "golden_data.h"
#include "golden_stamp_intlstm.h"
#include "golden_stamp_tokenizer.h"
#include "golden_stamp_tagger.h"
#include "golden_stamp_viterbi.h"
#include "kernel_check.h"
#include "semihost.h"
#include "stack_paint.h"
#include "tl_engine.h"
#include "tl_lstm.h"
#include "tl_tokenizer.h"

_Static_assert(TL_GOLDEN_TOKENIZER_SPEC_VERSION == TL_TOKENIZER_SPEC_VERSION, "tokenizer spec");
_Static_assert(TL_GOLDEN_INTLSTM_SPEC_VERSION == TL_INTLSTM_SPEC_VERSION, "integer-lstm spec");

#if defined(TL_USE_DSP)
#define KERNEL_PATH "dsp (SMLAD/SXTB16)"
#else
#define KERNEL_PATH "portable C"
#endif

static size_t span(const uint8_t *a, const uint8_t *b) { return (size_t)(b - a); }

static void report(const char *what, int failures, uint32_t checked)
{
    char line[96];
    tl_fmt_int(line, sizeof line, what, checked);
    semihost_write0(line);
    tl_fmt_int(line, sizeof line, " cases, mismatches ", failures);
    semihost_line(line);
}

static void mem_value(const char *key, int64_t value)
{
    char buf[64];
    tl_fmt_int(buf, sizeof buf, key, value);
    semihost_write0(" ");
    semihost_write0(buf);
}

static uint32_t g_tag_scratch[4096];
static uint8_t g_tag_text[3u * TL_MAX_LEN];

/* What tagging costs on this target: the engine scratch and the peak stack of one max_len
 * classification of the tagger pack's first (spec v1) blob, with and without tags (the
 * "without" view is the same blob with its tagging section ignored). Returns 0 on success. */
static int measure_tagging(void)
{
    const uint8_t *pack = tl_golden_tagger;
    uint32_t size = 0;
    memcpy(&size, pack + 52, 4);
    tl_blob_view_t tagged, plain;
    if (tl_blob_parse(pack + 56, size, &tagged) != TL_OK || tagged.num_tags == 0u) {
        return 1;
    }
    plain = tagged;
    plain.num_tags = 0u;
    size_t n = 0;
    for (uint32_t k = 0; k < tagged.max_len; k++) { /* CJK: one token per character */
        uint32_t cp = 0x4E00u + (k * 37u) % 0x5000u;
        g_tag_text[n++] = (uint8_t)(0xE0u | (cp >> 12));
        g_tag_text[n++] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        g_tag_text[n++] = (uint8_t)(0x80u | (cp & 0x3Fu));
    }
    int32_t logits[TL_MAX_LABELS];
    uint8_t tags[TL_MAX_LEN];
    uint32_t stack[2] = {0, 0};
    const tl_blob_view_t *views[2] = {&tagged, &plain};
    for (int k = 0; k < 2; k++) {
        tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, k == 0 ? tags : NULL, NULL};
        uintptr_t sp = tl_stack_pointer();
        tl_stack_paint();
        tl_status_t st = tl_engine_classify(views[k], g_tag_text, n, g_tag_scratch,
                                            sizeof g_tag_scratch, &out);
        stack[k] = tl_stack_used(sp);
        if (st != TL_OK || out.n_ids != tagged.max_len) {
            return 1;
        }
    }
    semihost_write0("MEM");
    mem_value("tag_tokens=", tagged.max_len);
    mem_value("tag_num_tags=", tagged.num_tags);
    mem_value("tag_hidden=", tagged.hidden);
    mem_value("tag_classify_stack_bytes=", stack[0]);
    mem_value("plain_classify_stack_bytes=", stack[1]);
    mem_value("tag_scratch_bytes=", (int64_t)tl_engine_get_buffer_size(&tagged));
    mem_value("plain_scratch_bytes=", (int64_t)tl_engine_get_buffer_size(&plain));
    semihost_line("");
    return 0;
}

int main(void)
{
    semihost_line("tinylstm m4 golden test, kernels: " KERNEL_PATH);
    semihost_line("vectors: " TL_GOLDEN_TOKENIZER_GENERATOR " sha256 " TL_GOLDEN_TOKENIZER_SHA256);
    semihost_line("vectors: " TL_GOLDEN_INTLSTM_GENERATOR " sha256 " TL_GOLDEN_INTLSTM_SHA256);
    semihost_line("vectors: " TL_GOLDEN_VITERBI_GENERATOR " sha256 " TL_GOLDEN_VITERBI_SHA256);
    semihost_line("vectors: " TL_GOLDEN_TAGGER_GENERATOR " sha256 " TL_GOLDEN_TAGGER_SHA256);
    int kernel_fail = tl_check_kernels(semihost_line) + tl_check_crf_kernel(semihost_line);
    report("kernel checks: 2 suites,", kernel_fail, 2);

    uint32_t n_tok = 0, n_lstm = 0;
    int tok_fail = tl_check_tokenizer_golden(
        tl_golden_tokenizer, span(tl_golden_tokenizer, tl_golden_tokenizer_end), semihost_line,
        &n_tok);
    report("tokenizer golden: ", tok_fail, n_tok);
    int lstm_fail = tl_check_intlstm_golden(
        tl_golden_blob, span(tl_golden_blob, tl_golden_blob_end), tl_golden_intlstm,
        span(tl_golden_intlstm, tl_golden_intlstm_end), semihost_line, &n_lstm);
    report("intlstm golden: ", lstm_fail, n_lstm);
    uint32_t n_vit = 0;
    int vit_fail = tl_check_viterbi_golden(
        tl_golden_viterbi, span(tl_golden_viterbi, tl_golden_viterbi_end), semihost_line, &n_vit);
    report("viterbi golden: ", vit_fail, n_vit);
    uint32_t n_tag = 0;
    int tag_fail = tl_check_tagger_golden(
        tl_golden_tagger, span(tl_golden_tagger, tl_golden_tagger_end), semihost_line, &n_tag);
    report("tagger golden: ", tag_fail, n_tag);
    if (measure_tagging() != 0) {
        semihost_line("tagging measurement failed");
        tag_fail = tag_fail < 0 ? tag_fail : tag_fail + 1;
    }
    if (tok_fail < 0 || lstm_fail < 0 || vit_fail < 0 || tag_fail < 0 || n_tok == 0u ||
        n_lstm == 0u || n_vit == 0u || n_tag == 0u) {
        semihost_line("RESULT: unusable golden vectors");
        return 2;
    }
    int ok = kernel_fail == 0 && tok_fail == 0 && lstm_fail == 0 && vit_fail == 0 && tag_fail == 0;
    semihost_line(ok ? "RESULT: PASS" : "RESULT: FAIL");
    return ok ? 0 : 1;
}
