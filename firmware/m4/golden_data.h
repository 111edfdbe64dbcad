#ifndef TL_GOLDEN_DATA_H
#define TL_GOLDEN_DATA_H

#include <stdint.h>

extern const uint8_t tl_golden_blob[], tl_golden_blob_end[];
extern const uint8_t tl_golden_tokenizer[], tl_golden_tokenizer_end[];
extern const uint8_t tl_golden_intlstm[], tl_golden_intlstm_end[];
extern const uint8_t tl_golden_viterbi[], tl_golden_viterbi_end[];
extern const uint8_t tl_golden_tagger[], tl_golden_tagger_end[];

#endif
