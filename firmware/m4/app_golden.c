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
    if (tok_fail < 0 || lstm_fail < 0 || vit_fail < 0 || tag_fail < 0 || n_tok == 0u ||
        n_lstm == 0u || n_vit == 0u || n_tag == 0u) {
        semihost_line("RESULT: unusable golden vectors");
        return 2;
    }
    int ok = kernel_fail == 0 && tok_fail == 0 && lstm_fail == 0 && vit_fail == 0 && tag_fail == 0;
    semihost_line(ok ? "RESULT: PASS" : "RESULT: FAIL");
    return ok ? 0 : 1;
}
