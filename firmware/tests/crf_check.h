/* Checks of the CRF decoder shared by the host test program and the Cortex-M4 test image:
 * hand-made cases (argument errors, ties, bounds) and the Viterbi golden vectors packed by
 * firmware/tools/pack_golden.py. */
#ifndef TL_CRF_CHECK_H
#define TL_CRF_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "golden_check.h"

/* Returns the number of failed hand-made checks. */
int tl_check_crf_kernel(tl_log_fn log);

/* Decodes every golden case and compares the tag path. Returns failing cases (or -1 for a
 * malformed pack); *checked gets the count. */
int tl_check_viterbi_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked);

/* Runs every engine case of the tagger pack (its blobs inside) through tl_engine_classify()
 * with tags: label, logits, every emission and tag must be identical. Returns failing cases
 * (or -1 for a malformed pack or blob); *checked gets the count. */
int tl_check_tagger_golden(const uint8_t *pack, size_t len, tl_log_fn log, uint32_t *checked);

#endif
