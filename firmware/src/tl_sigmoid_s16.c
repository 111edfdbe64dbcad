/* Sigmoid gate activation by table lookup with linear interpolation (section 3). */
#include "tl_activation.h"
#include "tl_fixed_internal.h"

int16_t tl_sigmoid_s16(int16_t z) { return tl_lut_interp(tl_sigmoid_lut, z); }
