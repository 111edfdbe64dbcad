/* Factory provisioning: a metadata record naming slot A as the confirmed model, and the model
 * blob itself in slot A (both generated at build time by tools/make_factory_image.py). */
    .section .ota_meta, "a"
    .balign 4
    .incbin FACTORY_META

    .section .slot_a, "a"
    .balign 4
    .incbin FACTORY_BLOB
