/**
 * @file tl_cpu.h
 * @brief Run-time choice of the host's SIMD kernels (x86-64: AVX2, detected with cpuid);
 *        the portable C kernels are the fallback and give identical results.
 *
 * The Cortex-M4 build chooses at compile time (TL_USE_DSP) and ignores this.
 */
#ifndef TL_CPU_H
#define TL_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Kernel paths. */
typedef enum {
    TL_KERNELS_PORTABLE = 0, /**< portable C */
    TL_KERNELS_AVX2 = 1,     /**< x86-64 AVX2 */
    TL_KERNELS_DSP = 2       /**< Cortex-M4 DSP (compile-time) */
} tl_kernels_t;

/** @brief The kernels in use now: the best the CPU supports unless forced portable. */
tl_kernels_t tl_cpu_kernels(void);

/** @brief The best kernels this CPU supports (ignores tl_cpu_force_portable()). */
tl_kernels_t tl_cpu_best_kernels(void);

/** @brief 1: use the portable kernels even where SIMD exists (tests, comparisons); 0: best. */
void tl_cpu_force_portable(int on);

#ifdef __cplusplus
}
#endif
#endif /* TL_CPU_H */
