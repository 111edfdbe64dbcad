/* Integer Viterbi over int32 emissions (docs/integer-lstm.md section 8). */
#include "tl_crf.h"

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

size_t tl_crf_viterbi_s32_get_buffer_size(uint32_t num_tokens, uint32_t num_tags)
{
    return align4((size_t)num_tokens * num_tags) + 2u * (size_t)num_tags * sizeof(int32_t);
}

static int in_bounds(int32_t v, int32_t limit) { return v >= -limit && v <= limit; }

tl_status_t tl_crf_viterbi_s32(const tl_crf_t *crf, const int32_t *emissions,
                               uint32_t num_tokens, uint8_t *tags, void *scratch,
                               size_t scratch_size)
{
    if (crf == NULL || crf->transitions == NULL || crf->start == NULL || crf->end == NULL ||
        crf->num_tags < 2u || crf->num_tags > TL_CRF_MAX_TAGS) {
        return TL_ERR_ARG;
    }
    if (num_tokens == 0u) {
        return TL_OK;
    }
    if (emissions == NULL || tags == NULL || scratch == NULL || ((uintptr_t)scratch & 3u) != 0u) {
        return TL_ERR_ARG;
    }
    const uint32_t k_tags = crf->num_tags;
    if (scratch_size < tl_crf_viterbi_s32_get_buffer_size(num_tokens, k_tags)) {
        return TL_ERR_BUFFER;
    }
    for (size_t i = 0; i < (size_t)num_tokens * k_tags; i++) {
        if (!in_bounds(emissions[i], (int32_t)TL_CRF_EMISSION_LIMIT)) {
            return TL_ERR_ARG;
        }
    }
    uint8_t *back = (uint8_t *)scratch; /* [T][K], row 0 unused */
    int32_t *score = (int32_t *)(void *)(back + align4((size_t)num_tokens * k_tags));
    int32_t *next = score + k_tags;

    /* Scores stay in [-2^29, 0] after each normalisation; a sum of a score, a transition
     * (|.| <= 2^20) and an emission (|.| <= 2^27) cannot leave int32. */
    int32_t top = INT32_MIN;
    for (uint32_t k = 0; k < k_tags; k++) {
        score[k] = crf->start[k] + emissions[k];
        top = score[k] > top ? score[k] : top;
    }
    for (uint32_t k = 0; k < k_tags; k++) {
        score[k] -= top;
    }
    for (uint32_t t = 1; t < num_tokens; t++) {
        const int32_t *e = emissions + (size_t)t * k_tags;
        uint8_t *bp = back + (size_t)t * k_tags;
        top = INT32_MIN;
        for (uint32_t j = 0; j < k_tags; j++) {
            uint32_t best = 0;
            int32_t best_score = score[0] + crf->transitions[j];
            for (uint32_t i = 1; i < k_tags; i++) {
                int32_t cand = score[i] + crf->transitions[(size_t)i * k_tags + j];
                if (cand > best_score) { /* strict: the lowest index wins a tie */
                    best_score = cand;
                    best = i;
                }
            }
            next[j] = best_score + e[j];
            bp[j] = (uint8_t)best;
            top = next[j] > top ? next[j] : top;
        }
        for (uint32_t j = 0; j < k_tags; j++) {
            score[j] = next[j] - top;
        }
    }
    uint32_t last = 0;
    int32_t last_score = score[0] + crf->end[0];
    for (uint32_t k = 1; k < k_tags; k++) {
        int32_t cand = score[k] + crf->end[k];
        if (cand > last_score) {
            last_score = cand;
            last = k;
        }
    }
    tags[num_tokens - 1u] = (uint8_t)last;
    for (uint32_t t = num_tokens - 1u; t > 0u; t--) {
        tags[t - 1u] = back[(size_t)t * k_tags + tags[t]];
    }
    return TL_OK;
}
