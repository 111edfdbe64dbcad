/* Run-time kernel choice (tl_cpu.h). __builtin_cpu_supports reads what libgcc's constructor
 * found with cpuid, so asking is a load and a test. */
#include "tl_cpu.h"

static _Atomic int g_force_portable;

tl_kernels_t tl_cpu_best_kernels(void)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
    return TL_KERNELS_DSP;
#elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx2") ? TL_KERNELS_AVX2 : TL_KERNELS_PORTABLE;
#else
    return TL_KERNELS_PORTABLE;
#endif
}

tl_kernels_t tl_cpu_kernels(void)
{
#if defined(TL_USE_DSP) && defined(__ARM_FEATURE_DSP)
    return TL_KERNELS_DSP; /* chosen when the image was built */
#else
    return g_force_portable ? TL_KERNELS_PORTABLE : tl_cpu_best_kernels();
#endif
}

void tl_cpu_force_portable(int on) { g_force_portable = on != 0; }
