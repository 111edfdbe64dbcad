/* Host test: every tokenizer golden vector gives identical ids. The binary is stamped with the
 * generator and versions of the vectors it was built against and refuses any other pack. */
#include <string.h>

#include "golden_check.h"
#include "golden_stamp_tokenizer.h"
#include "host_io.h"
#include "tl_tokenizer.h"

_Static_assert(TL_GOLDEN_TOKENIZER_SPEC_VERSION == TL_TOKENIZER_SPEC_VERSION,
               "golden vectors were generated for another tokenizer spec version");

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tokenizer.bin\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    uint8_t *pack = tl_read_file(argv[1], &len);
    uint32_t spec = 0, gen = 0;
    const uint8_t *sha = NULL;
    if (tl_golden_pack_header(pack, len, "TLGT", &spec, &gen, &sha) != 0) {
        fprintf(stderr, "not a tokenizer pack\n");
        return 2;
    }
    printf("vectors: %s v%u, spec v%u, sha256 ", TL_GOLDEN_TOKENIZER_GENERATOR, gen, spec);
    tl_print_sha(sha);
    printf("\n");
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    }
    if (spec != TL_GOLDEN_TOKENIZER_SPEC_VERSION || gen != TL_GOLDEN_TOKENIZER_GENERATOR_VERSION ||
        strcmp(hex, TL_GOLDEN_TOKENIZER_SHA256) != 0) {
        fprintf(stderr, "pack is not the vintage this binary was stamped with (%s)\n",
                TL_GOLDEN_TOKENIZER_SHA256);
        return 1;
    }
    uint32_t checked = 0;
    int failures = tl_check_tokenizer_golden(pack, len, tl_log_stdout, &checked);
    printf("tokenizer golden: %u cases, %d mismatches\n", checked, failures);
    free(pack);
    return failures == 0 && checked > 0 ? 0 : 1;
}
