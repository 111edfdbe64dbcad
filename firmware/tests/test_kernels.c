/* Host test: hand-made kernel cases (rounding, LUT, matvec, tokenizer corners, hashes), on the
 * portable kernels and again on the best SIMD kernels this CPU has (tl_cpu.h). */
#include <stdio.h>

#include "host_io.h"
#include "kernel_check.h"
#include "tl_cpu.h"

static const char *path_name(tl_kernels_t k)
{
    return k == TL_KERNELS_AVX2 ? "avx2" : (k == TL_KERNELS_DSP ? "dsp" : "portable");
}

int main(void)
{
    int failures = 0;
    for (int forced = 1; forced >= 0; forced--) {
        tl_cpu_force_portable(forced);
        int f = tl_check_kernels(tl_log_stdout);
        printf("kernel checks (%s): %d failures\n", path_name(tl_cpu_kernels()), f);
        failures += f;
    }
    printf("kernel checks: %d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
