/* Host test: every integer-LSTM golden case gives identical token ids, logits and label. The binary is stamped with the
 * generator and versions of the vectors it was built against and refuses any other pack. */
#include <string.h>

#include "golden_check.h"
#include "golden_stamp_intlstm.h"
#include "host_io.h"
#include "tl_cpu.h"
#include "tl_lstm.h"

_Static_assert(TL_GOLDEN_INTLSTM_SPEC_VERSION == TL_INTLSTM_SPEC_VERSION,
               "golden vectors were generated for another integer-lstm spec version");

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--portable") == 0)) {
        fprintf(stderr, "usage: %s model.blob cases.bin [--portable]\n", argv[0]);
        return 2;
    }
    tl_cpu_force_portable(argc == 4);
    size_t len = 0;
    uint8_t *pack = tl_read_file(argv[2], &len);
    size_t blob_len = 0;
    uint8_t *blob = tl_read_file(argv[1], &blob_len);
    uint32_t spec = 0, gen = 0;
    const uint8_t *sha = NULL;
    if (tl_golden_pack_header(pack, len, "TLGI", &spec, &gen, &sha) != 0) {
        fprintf(stderr, "not a intlstm pack\n");
        return 2;
    }
    printf("vectors: %s v%u, spec v%u, sha256 ", TL_GOLDEN_INTLSTM_GENERATOR, gen, spec);
    tl_print_sha(sha);
    printf("\n");
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    if (spec != TL_GOLDEN_INTLSTM_SPEC_VERSION || gen != TL_GOLDEN_INTLSTM_GENERATOR_VERSION ||
        strcmp(hex, TL_GOLDEN_INTLSTM_SHA256) != 0) {
        fprintf(stderr, "pack is not the vintage this binary was stamped with (%s)\n",
                TL_GOLDEN_INTLSTM_SHA256);
        return 1;
    }
    uint32_t checked = 0;
    int failures = tl_check_intlstm_golden(blob, blob_len, pack, len, tl_log_stdout, &checked);
    tl_kernels_t k = tl_cpu_kernels();
    printf("kernels: %s\n", k == TL_KERNELS_AVX2 ? "avx2" : "portable");
    printf("intlstm golden: %u cases, %d mismatches\n", checked, failures);
    free(pack);
    free(blob);
    return failures == 0 && checked > 0 ? 0 : 1;
}
