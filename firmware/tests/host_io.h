/* File helpers for the host test programs (test code: malloc is fine here). */
#ifndef TL_HOST_IO_H
#define TL_HOST_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint8_t *tl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 4u);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static inline void tl_log_stdout(const char *line) { printf("%s\n", line); }

static inline void tl_print_sha(const uint8_t *sha)
{
    for (int i = 0; i < 32; i++) {
        printf("%02x", sha[i]);
    }
}

#endif
