/* Classification head: int8 matrix-vector product, int32 bias, per-label requant (section 6). */
#include "tl_fixed_internal.h"
#include "tl_head.h"
#include "tl_matvec.h"

size_t tl_head_get_buffer_size(uint32_t num_labels)
{
    return (size_t)num_labels * sizeof(int32_t);
}

tl_status_t tl_fully_connected_s8(const tl_head_t *head, const int8_t *pooled, uint32_t in_dim,
                           uint32_t num_labels, int32_t *logits, void *scratch,
                           size_t scratch_size)
{
    if (head == NULL || pooled == NULL || logits == NULL || scratch == NULL || in_dim == 0u ||
        num_labels == 0u || scratch_size < tl_head_get_buffer_size(num_labels) ||
        ((uintptr_t)scratch & 3u) != 0u) {
        return TL_ERR_ARG;
    }
    int32_t *acc = (int32_t *)scratch;
    tl_matvec_s8(head->w, pooled, num_labels, in_dim, acc);
    for (uint32_t k = 0; k < num_labels; k++) {
        logits[k] = tl_sat32(tl_requant_inline(tl_add_wrap32(head->b[k], acc[k]), head->m[k],
                                               head->n[k]));
    }
    return TL_OK;
}
