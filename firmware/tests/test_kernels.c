/* Host test: hand-made kernel cases (rounding, LUT, matvec, tokenizer corners, hashes). */
#include <stdio.h>

#include "host_io.h"
#include "kernel_check.h"

int main(void)
{
    int failures = tl_check_kernels(tl_log_stdout);
    printf("kernel checks: %d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
