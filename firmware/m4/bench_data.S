/* The golden model blob, embedded for the cost benchmark (nothing else, so the image's size
 * minus the blob is the firmware's own flash footprint). */
    .section .rodata.model, "a"
    .balign 4
    .global tl_bench_blob
tl_bench_blob:
    .incbin GOLDEN_BLOB
    .global tl_bench_blob_end
tl_bench_blob_end:
