/* libFuzzer target: the tokenizer on arbitrary bytes under ASan/UBSan. The first 4 input bytes
 * pick vocab_size and max_len; every output must respect the spec's invariants (count <= L,
 * ids in [2, V)), and tokenizing a prefix must give a prefix of the ids up to the last token
 * boundary the prefix can see (checked as: the prefix's ids minus its last are a prefix). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tl_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4u) {
        return 0;
    }
    uint32_t vocab = 16u + ((uint32_t)data[0] | ((uint32_t)data[1] << 8)) % (65535u - 16u + 1u);
    uint32_t max_len = 1u + ((uint32_t)data[2] | ((uint32_t)data[3] << 8)) % 1024u;
    const uint8_t *text = data + 4;
    size_t len = size - 4u;
    /* exact-size heap copy so ASan sees any read past the end */
    uint8_t *copy = malloc(len ? len : 1u);
    memcpy(copy, text, len);
    uint16_t ids[1024], pre[1024];
    uint32_t n = 0, m = 0;
    if (tl_tokenize(copy, len, vocab, max_len, ids, &n) != TL_OK || n > max_len) {
        abort();
    }
    for (uint32_t k = 0; k < n; k++) {
        if (ids[k] < 2u || ids[k] >= vocab) {
            abort();
        }
    }
    size_t cut = len / 2u;
    if (tl_tokenize(copy, cut, vocab, max_len, pre, &m) != TL_OK) {
        abort();
    }
    for (uint32_t k = 0; k + 1u < m; k++) {
        if (k >= n || pre[k] != ids[k]) {
            abort();
        }
    }
    free(copy);
    return 0;
}
