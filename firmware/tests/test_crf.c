/* Host test: the CRF decoder's hand-made checks, every Viterbi golden case and every tagger
 * engine case (tag head + Viterbi on the golden tagging blobs). The binary is stamped with the
 * vectors it was built against and refuses any other pack. */
#include <string.h>

#include "crf_check.h"
#include "tl_crf.h"
#include "golden_stamp_tagger.h"
#include "golden_stamp_viterbi.h"
#include "host_io.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s viterbi.bin tagger.bin\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    uint8_t *pack = tl_read_file(argv[1], &len);
    uint32_t spec = 0, gen = 0;
    const uint8_t *sha = NULL;
    if (tl_golden_pack_header(pack, len, "TLGV", &spec, &gen, &sha) != 0) {
        fprintf(stderr, "not a viterbi pack\n");
        return 2;
    }
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    if (gen != TL_GOLDEN_VITERBI_GENERATOR_VERSION || strcmp(hex, TL_GOLDEN_VITERBI_SHA256) != 0) {
        fprintf(stderr, "pack is not the vintage this binary was stamped with (%s)\n",
                TL_GOLDEN_VITERBI_SHA256);
        return 1;
    }
    int kernel_fail = tl_check_crf_kernel(tl_log_stdout);
    printf("crf kernel checks: %d failures\n", kernel_fail);
    uint32_t checked = 0;
    int failures = tl_check_viterbi_golden(pack, len, tl_log_stdout, &checked);
    printf("viterbi golden: %u cases, %d mismatches\n", checked, failures);
    free(pack);
    size_t tlen = 0;
    uint8_t *tpack = tl_read_file(argv[2], &tlen);
    if (tl_golden_pack_header(tpack, tlen, "TLGE", &spec, &gen, &sha) != 0) {
        fprintf(stderr, "not a tagger pack\n");
        return 2;
    }
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    if (gen != TL_GOLDEN_TAGGER_GENERATOR_VERSION || spec != TL_TAGGER_SPEC_VERSION ||
        strcmp(hex, TL_GOLDEN_TAGGER_SHA256) != 0) {
        fprintf(stderr, "tagger pack is not the vintage this binary was stamped with (%s)\n",
                TL_GOLDEN_TAGGER_SHA256);
        return 1;
    }
    uint32_t tchecked = 0;
    int tfailures = tl_check_tagger_golden(tpack, tlen, tl_log_stdout, &tchecked);
    printf("tagger golden: %u cases, %d mismatches\n", tchecked, tfailures);
    free(tpack);
    return kernel_fail == 0 && failures == 0 && checked > 0 && tfailures == 0 && tchecked > 0
               ? 0
               : 1;
}
