/* Golden-vector checks shared by the host test program and the Cortex-M4 test image. The
 * vectors come packed by firmware/tools/pack_golden.py; every mismatch is reported through
 * the caller's log function and counted. */
#ifndef TL_GOLDEN_CHECK_H
#define TL_GOLDEN_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef void (*tl_log_fn)(const char *line);

/* Formats "<prefix><value>" into buf (for logs without printf on the device). */
void tl_fmt_int(char *buf, size_t cap, const char *prefix, int64_t value);

/* Returns the number of failing cases (or -1 for a malformed pack); *checked gets the count. */
int tl_check_tokenizer_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked);

/* Runs every case through tl_engine_classify() on the blob: token ids, every logit and the
 * label must be identical. Returns failing cases (or -1 for a malformed pack/blob). */
int tl_check_intlstm_golden(const uint8_t *blob, size_t blob_len, const uint8_t *pack, size_t len,
                            tl_log_fn log, uint32_t *checked);

/* Reads the pack header: spec version, generator version, case count and SHA-256 (32 bytes). */
int tl_golden_pack_header(const uint8_t *pack, size_t len, const char magic[4],
                          uint32_t *spec_version, uint32_t *generator_version,
                          const uint8_t **sha256);

#endif
