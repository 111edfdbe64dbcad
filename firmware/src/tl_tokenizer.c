/* Hashing tokenizer, docs/tokenizer.md (sections 1-6). One pass over the bytes, no buffers:
 * a word's FNV-1a hash is accumulated while its run is read, a number run only counts its
 * digits, and each SINGLE code point is hashed from its folded UTF-8 encoding. */
#include "tl_tokenizer.h"
#include "tl_utf8_internal.h"

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u
#define RESERVED_IDS 2u

enum { CLS_SPACE, CLS_LETTER, CLS_DIGIT, CLS_SINGLE };
enum { RUN_NONE, RUN_WORD, RUN_NUMBER };

typedef struct {
    uint32_t vocab_size;
    uint32_t max_len;
    uint16_t *ids;    /* version 1 ids (table rows), or NULL */
    uint32_t *hashes; /* the tokens' key hashes, or NULL */
    uint32_t n;
    int run;          /* RUN_* */
    uint32_t hash;    /* running FNV-1a of the word run */
    uint32_t digits;  /* length of the number run */
} tok_state_t;

static uint32_t fnv_byte(uint32_t h, uint8_t b) { return (h ^ b) * FNV_PRIME; }

static void emit(tok_state_t *s, uint32_t h)
{
    if (s->ids != NULL) {
        s->ids[s->n] = (uint16_t)(RESERVED_IDS + h % (s->vocab_size - RESERVED_IDS));
    } else {
        s->hashes[s->n] = h;
    }
    s->n++;
}

/* Ends the current run, emitting its token. */
static void flush(tok_state_t *s)
{
    if (s->run == RUN_WORD) {
        emit(s, s->hash);
    } else if (s->run == RUN_NUMBER) {
        uint32_t bucket = s->digits < 10u ? s->digits : 10u;
        uint32_t h = fnv_byte(FNV_OFFSET, (uint8_t)'#');
        if (bucket == 10u) {
            h = fnv_byte(h, (uint8_t)'1');
            h = fnv_byte(h, (uint8_t)'0');
        } else {
            h = fnv_byte(h, (uint8_t)('0' + bucket));
        }
        emit(s, h);
    }
    s->run = RUN_NONE;
}

/* Section 2. */
static uint32_t fold(uint32_t cp)
{
    if (cp >= 0xFF01u && cp <= 0xFF5Eu) {
        cp -= 0xFEE0u;
    } else if (cp == 0x3000u) {
        cp = 0x20u;
    }
    if (cp >= 'A' && cp <= 'Z') {
        cp += 0x20u;
    }
    return cp;
}

/* Section 3, SPACE ranges (inclusive). */
static const uint32_t k_space[][2] = {
    {0x0000, 0x0020}, {0x007F, 0x00A0}, {0x00AD, 0x00AD}, {0x1680, 0x1680},
    {0x180E, 0x180E}, {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x206F},
    {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFC}, {0xE0000, 0xE007F},
};

static int classify(uint32_t cp)
{
    if (cp >= 'a' && cp <= 'z') {
        return CLS_LETTER;
    }
    if (cp >= '0' && cp <= '9') {
        return CLS_DIGIT;
    }
    for (size_t r = 0; r < sizeof k_space / sizeof k_space[0]; r++) {
        if (cp < k_space[r][0]) {
            break;
        }
        if (cp <= k_space[r][1]) {
            return CLS_SPACE;
        }
    }
    return CLS_SINGLE;
}

/* FNV-1a of the UTF-8 encoding of one code point (< 0x110000). */
static uint32_t hash_cp(uint32_t cp)
{
    uint32_t h = FNV_OFFSET;
    if (cp < 0x80u) {
        h = fnv_byte(h, (uint8_t)cp);
    } else if (cp < 0x800u) {
        h = fnv_byte(h, (uint8_t)(0xC0u | (cp >> 6)));
        h = fnv_byte(h, (uint8_t)(0x80u | (cp & 0x3Fu)));
    } else if (cp < 0x10000u) {
        h = fnv_byte(h, (uint8_t)(0xE0u | (cp >> 12)));
        h = fnv_byte(h, (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu)));
        h = fnv_byte(h, (uint8_t)(0x80u | (cp & 0x3Fu)));
    } else {
        h = fnv_byte(h, (uint8_t)(0xF0u | (cp >> 18)));
        h = fnv_byte(h, (uint8_t)(0x80u | ((cp >> 12) & 0x3Fu)));
        h = fnv_byte(h, (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu)));
        h = fnv_byte(h, (uint8_t)(0x80u | (cp & 0x3Fu)));
    }
    return h;
}

static void run(const uint8_t *text, size_t len, tok_state_t *sp);

tl_status_t tl_tokenize(const uint8_t *text, size_t len, uint32_t vocab_size, uint32_t max_len,
                        uint16_t *ids, uint32_t *n_ids)
{
    if (ids == NULL || n_ids == NULL || (text == NULL && len != 0) || vocab_size < 16u ||
        vocab_size > 65535u || max_len < 1u || max_len > 1024u) {
        return TL_ERR_ARG;
    }
    tok_state_t s = {vocab_size, max_len, ids, NULL, 0, RUN_NONE, 0, 0};
    run(text, len, &s);
    *n_ids = s.n;
    return TL_OK;
}

tl_status_t tl_tokenize_hashes(const uint8_t *text, size_t len, uint32_t max_len,
                               uint32_t *hashes, uint32_t *n_tokens)
{
    if (hashes == NULL || n_tokens == NULL || (text == NULL && len != 0) || max_len < 1u ||
        max_len > 1024u) {
        return TL_ERR_ARG;
    }
    tok_state_t s = {0, max_len, NULL, hashes, 0, RUN_NONE, 0, 0};
    run(text, len, &s);
    *n_tokens = s.n;
    return TL_OK;
}

static void run(const uint8_t *text, size_t len, tok_state_t *sp)
{
    tok_state_t s = *sp;
    size_t i = 0;
    while (i < len && s.n < s.max_len) {
        uint32_t cp = 0;
        size_t n = tl_utf8_decode(text, len, i, &cp);
        int cls = CLS_SPACE; /* a skipped byte is a separator */
        if (n == 0) {
            i += 1;
        } else {
            i += n;
            cp = fold(cp);
            cls = classify(cp);
        }
        if (cls == CLS_LETTER) {
            if (s.run != RUN_WORD) {
                flush(&s);
                if (s.n >= s.max_len) {
                    break;
                }
                s.run = RUN_WORD;
                s.hash = FNV_OFFSET;
            }
            s.hash = fnv_byte(s.hash, (uint8_t)cp);
        } else if (cls == CLS_DIGIT) {
            if (s.run != RUN_NUMBER) {
                flush(&s);
                if (s.n >= s.max_len) {
                    break;
                }
                s.run = RUN_NUMBER;
                s.digits = 0;
            }
            if (s.digits < 10u) {
                s.digits++;
            }
        } else {
            flush(&s);
            if (cls == CLS_SINGLE && s.n < s.max_len) {
                emit(&s, hash_cp(cp));
            }
        }
    }
    if (s.n < s.max_len) {
        flush(&s);
    }
    *sp = s;
}
