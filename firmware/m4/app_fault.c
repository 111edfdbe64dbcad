/* Cortex-M4 image that faults on purpose: checks that a fault under QEMU ends the run with the
 * HardFault exit status instead of hanging or exiting 0. */
#include <stdint.h>

#include "semihost.h"

int main(void)
{
    semihost_line("jumping to an invalid address");
    void (*volatile bad)(void) = (void (*)(void))(uintptr_t)0xFFFFFFF1u;
    bad();
    return 0;
}
