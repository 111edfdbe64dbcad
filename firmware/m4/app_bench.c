/* Cortex-M4 cost benchmark, run under QEMU with -icount shift=0 (see insn_counter.h): executed
 * instructions per message at 16, 32 and 64 tokens (tokenizer + both LSTM directions + head +
 * confidence), for the matrix-vector kernel alone, and for the tokenizer alone. Prints
 * "BENCH key=value ..." lines that benchmarks/mcu_cost.py parses. */
#include <string.h>

#include "golden_check.h"
#include "insn_counter.h"
#include "semihost.h"
#include "tl_engine.h"
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
static int8_t g_vec[512];
static int32_t g_acc[1024];

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
        tl_engine_out_t out = {logits, NULL, 0, 0, 0.0f};
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

    /* 2. The matrix-vector kernel alone on the LSTM's two shapes. */
    for (uint32_t j = 0; j < 256u; j++) {
        g_vec[j] = (int8_t)((int32_t)(j * 97u % 255u) - 127);
    }
    const tl_lstm_dir_t *d = &v.dir[0];
    uint32_t rows = 4u * v.hidden;
    uint32_t a = insn_counter_read();
    tl_matvec_s8(d->wx, g_vec, rows, v.embed_dim, g_acc);
    tl_matvec_s8(d->wh, g_vec, rows, v.hidden, g_acc);
    uint32_t b = insn_counter_read();
    semihost_write0("BENCH kind=matvec path=" KERNEL_PATH);
    emit("insns=", (int64_t)(b - a - overhead));
    emit("macs=", (int64_t)rows * (v.embed_dim + v.hidden));
    semihost_line("");

    /* 3. The two-token input projection (what tl_lstm_sequence uses for Wx). */
    static int32_t acc_b[1024];
    a = insn_counter_read();
    tl_matvec_s8_x2(d->wx, g_vec, g_vec + 64, rows, v.embed_dim, g_acc, acc_b);
    b = insn_counter_read();
    semihost_write0("BENCH kind=matvec_x2 path=" KERNEL_PATH);
    emit("insns=", (int64_t)(b - a - overhead));
    emit("macs=", (int64_t)2 * rows * v.embed_dim);
    semihost_line("");
    return 0;
}
