/* ARM semihosting (BKPT 0xAB) for the QEMU test images: console output and exit status. */
#ifndef TL_SEMIHOST_H
#define TL_SEMIHOST_H

#include <stdint.h>

void semihost_write0(const char *s);
void semihost_line(const char *s);
__attribute__((noreturn)) void semihost_exit(uint32_t status);

#endif
