/* Hand-made kernel checks shared by the host test program and the Cortex-M4 test image. */
#ifndef TL_KERNEL_CHECK_H
#define TL_KERNEL_CHECK_H

#include "golden_check.h"

/* Returns the number of failed checks; each failure is logged. */
int tl_check_kernels(tl_log_fn log);

#endif
