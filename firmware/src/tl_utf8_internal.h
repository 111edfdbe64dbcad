/* Strict UTF-8 decoding shared by the tokenizer and the blob reader's label check. */
#ifndef TL_UTF8_INTERNAL_H
#define TL_UTF8_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* docs/tokenizer.md section 1: decode one code point at text[i]; returns its length, or 0 for a skipped byte. */
static inline size_t tl_utf8_decode(const uint8_t *text, size_t len, size_t i, uint32_t *cp)
{
    uint8_t b0 = text[i];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 <= 0x7F) {
        *cp = b0;
        return 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 == 0xE0) {
        n = 3;
        lo = 0xA0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
        n = 3;
    } else if (b0 == 0xED) {
        n = 3;
        hi = 0x9F;
    } else if (b0 == 0xF0) {
        n = 4;
        lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
        n = 4;
    } else if (b0 == 0xF4) {
        n = 4;
        hi = 0x8F;
    } else {
        return 0;
    }
    if (len - i < n) {
        return 0;
    }
    if (text[i + 1] < lo || text[i + 1] > hi) {
        return 0;
    }
    for (size_t k = 2; k < n; k++) {
        if (text[i + k] < 0x80 || text[i + k] > 0xBF) {
            return 0;
        }
    }
    if (n == 2) {
        *cp = ((uint32_t)(b0 & 0x1F) << 6) | (text[i + 1] & 0x3Fu);
    } else if (n == 3) {
        *cp = ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(text[i + 1] & 0x3F) << 6) |
              (text[i + 2] & 0x3Fu);
    } else {
        *cp = ((uint32_t)(b0 & 0x07) << 18) | ((uint32_t)(text[i + 1] & 0x3F) << 12) |
              ((uint32_t)(text[i + 2] & 0x3F) << 6) | (text[i + 3] & 0x3Fu);
    }
    return n;
}

#endif /* TL_UTF8_INTERNAL_H */
