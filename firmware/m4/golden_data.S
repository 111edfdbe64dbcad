/* The golden model blob and the packed golden cases, embedded in flash at build time. */
    .section .rodata.golden, "a"

    .balign 4
    .global tl_golden_blob
tl_golden_blob:
    .incbin GOLDEN_BLOB
    .global tl_golden_blob_end
tl_golden_blob_end:

    .balign 4
    .global tl_golden_tokenizer
tl_golden_tokenizer:
    .incbin GOLDEN_TOKENIZER
    .global tl_golden_tokenizer_end
tl_golden_tokenizer_end:

    .balign 4
    .global tl_golden_intlstm
tl_golden_intlstm:
    .incbin GOLDEN_INTLSTM
    .global tl_golden_intlstm_end
tl_golden_intlstm_end:

    .balign 4
    .global tl_golden_viterbi
tl_golden_viterbi:
    .incbin GOLDEN_VITERBI
    .global tl_golden_viterbi_end
tl_golden_viterbi_end:

    .balign 4
    .global tl_golden_tagger
tl_golden_tagger:
    .incbin GOLDEN_TAGGER
    .global tl_golden_tagger_end
tl_golden_tagger_end:
