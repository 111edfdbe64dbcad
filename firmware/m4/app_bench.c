/* Cortex-M4 cost benchmark, run under QEMU with -icount shift=0 (see insn_counter.h): executed
 * instructions per message at 16, 32 and 64 tokens (tokenizer + both LSTM directions + head +
 * confidence), for the tokenizer alone, and for each kernel alone (one call, the model's own
 * tensors). Prints "BENCH key=value ..." lines that benchmarks/mcu_cost.py parses. */
#include <string.h>

#include "golden_check.h"
#include "insn_counter.h"
#include "semihost.h"
#include "tl_embedding.h"
#include "tl_engine.h"
#include "tl_lstm.h"
#include "tl_matvec.h"
#include "tl_tokenizer.h"

extern const uint8_t tl_bench_blob[], tl_bench_blob_end[];

#if defined(TL_USE_DSP)
#define KERNEL_PATH "dsp"
#else
#define KERNEL_PATH "portable"
#endif

static uint32_t g_scratch[4096];
static uint8_t g_text[3 * 1024];
static int16_t g_vec[512];
static int32_t g_acc[1024];

static void emit(const char *key, int64_t value);

static void kernel_line(const char *name, uint32_t insns, int64_t macs)
{
    semihost_write0("BENCH kind=kernel path=" KERNEL_PATH " name=");
    semihost_write0(name);
    emit("insns=", insns);
    emit("macs=", macs);
    semihost_line("");
}

static void emit(const char *key, int64_t value)
{
    char buf[64];
    tl_fmt_int(buf, sizeof buf, key, value);
    semihost_write0(" ");
    semihost_write0(buf);
}

/* T distinct-looking CJK ideographs (3 UTF-8 bytes each, one token each). */
static size_t make_text(uint32_t tokens)
{
    size_t n = 0;
    for (uint32_t k = 0; k < tokens; k++) {
        uint32_t cp = 0x4E00u + (k * 37u) % 0x5000u;
        g_text[n++] = (uint8_t)(0xE0u | (cp >> 12));
        g_text[n++] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        g_text[n++] = (uint8_t)(0x80u | (cp & 0x3Fu));
    }
    return n;
}

int main(void)
{
    tl_blob_view_t v;
    size_t blob_len = (size_t)(tl_bench_blob_end - tl_bench_blob);
    if (tl_blob_parse(tl_bench_blob, blob_len, &v) != TL_OK) {
        semihost_line("bench: blob rejected");
        return 2;
    }
    insn_counter_start();
    uint32_t t0 = insn_counter_read();
    uint32_t t1 = insn_counter_read();
    uint32_t overhead = t1 - t0; /* cost of one reading, subtracted below */

    semihost_write0("BENCH kind=model path=" KERNEL_PATH);
    emit("vocab=", v.vocab_size);
    emit("embed=", v.embed_dim);
    emit("hidden=", v.hidden);
    emit("labels=", v.num_labels);
    emit("max_len=", v.max_len);
    emit("blob_bytes=", (int64_t)blob_len);
    emit("scratch_bytes=", (int64_t)tl_engine_get_buffer_size(&v));
    semihost_line("");

    /* 1. Whole messages. */
    static const uint32_t lengths[] = {0, 16, 32, 64};
    int32_t logits[TL_MAX_LABELS];
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        uint32_t tokens = lengths[i] < v.max_len ? lengths[i] : v.max_len;
        size_t len = make_text(tokens);
        tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f, NULL, NULL};
        uint32_t a = insn_counter_read();
        tl_status_t st = tl_engine_classify(&v, g_text, len, g_scratch, sizeof g_scratch, &out);
        uint32_t b = insn_counter_read();
        uint32_t tk0 = insn_counter_read();
        uint16_t ids[1024];
        uint32_t n = 0;
        (void)tl_tokenize(g_text, len, v.vocab_size, v.max_len, ids, &n);
        uint32_t tk1 = insn_counter_read();
        uint64_t macs = (uint64_t)out.n_ids * 2u * 4u * v.hidden * (v.embed_dim + v.hidden) +
                        (uint64_t)v.num_labels * 2u * v.hidden;
        semihost_write0("BENCH kind=message path=" KERNEL_PATH);
        emit("tokens=", out.n_ids);
        emit("status=", st);
        emit("insns=", (int64_t)(b - a - overhead));
        emit("tokenizer_insns=", (int64_t)(tk1 - tk0 - overhead));
        emit("macs=", (int64_t)macs);
        semihost_line("");
    }

    /* 2. Each kernel alone, on the model's own tensors (forward direction), with inputs of the
     *    sizes a step sees; instructions per call. */
    for (uint32_t j = 0; j < 256u; j++) {
        g_vec[j] = (int16_t)((int32_t)(j * 97u % 255u) - 127);
    }
    const tl_lstm_dir_t *d = &v.dir[0];
    const uint32_t rows = 4u * v.hidden;
    static int32_t acc_b[1024], acc_h[1024];
    static int16_t state[512], xab[1024];
    uint32_t a = insn_counter_read();
    tl_matvec_paired_s8(d->wh, g_vec, rows, v.hidden, acc_h);
    uint32_t b = insn_counter_read();
    kernel_line("recurrent_matvec", b - a - overhead, (int64_t)rows * v.hidden);

    a = insn_counter_read();
    tl_matvec_paired_s8(d->wx, g_vec, rows, v.embed_dim, g_acc);
    b = insn_counter_read();
    kernel_line("input_matvec", b - a - overhead, (int64_t)rows * v.embed_dim);

    a = insn_counter_read();
    tl_embedding_x2_s8(v.emb, v.embed_dim, 5u, 9u, xab);
    b = insn_counter_read();
    kernel_line("embedding_x2", b - a - overhead, 0);

    if (v.tokenizer_version == 2u) { /* the hash embedding: once per token, both directions */
        static int8_t x_hash[256];
        a = insn_counter_read();
        tl_embedding_hash_s8(&v.hash, 0x9e3779b9u, x_hash);
        b = insn_counter_read();
        kernel_line("hash_embedding", b - a - overhead, 0);
    }

    a = insn_counter_read();
    tl_matvec_paired_x2_s8(d->wx, xab, rows, v.embed_dim, g_acc, acc_b);
    b = insn_counter_read();
    kernel_line("input_matvec_x2", b - a - overhead, 2 * (int64_t)rows * v.embed_dim);

    a = insn_counter_read();
    tl_lstm_preact_s32(d, g_acc, acc_h, rows, g_acc);
    b = insn_counter_read();
    kernel_line("preact", b - a - overhead, 0);

    a = insn_counter_read();
    tl_lstm_cell_s16(g_acc, state, v.hidden);
    b = insn_counter_read();
    kernel_line("cell", b - a - overhead, 0);

    int8_t pooled[512];
    for (uint32_t j = 0; j < 2u * v.hidden; j++) {
        pooled[j] = (int8_t)state[j % v.hidden];
    }
    a = insn_counter_read();
    (void)tl_fully_connected_s8(&v.head, pooled, 2u * v.hidden, v.num_labels, logits, g_scratch,
                                sizeof g_scratch);
    b = insn_counter_read();
    kernel_line("head", b - a - overhead, (int64_t)v.num_labels * 2u * v.hidden);

    a = insn_counter_read();
    (void)tl_argmax_s32(logits, v.num_labels);
    float conf = tl_confidence_f32(logits, v.num_labels, v.logit_frac_bits);
    b = insn_counter_read();
    kernel_line("argmax_confidence", b - a - overhead, 0);
    (void)conf;
    return 0;
}
