/* Gate activations by table lookup with linear interpolation (section 3). */
#include "fixed_internal.h"
#include "lstm_lut.h"
#include "tl_lstm.h"

int16_t tl_sigmoid_q15(int16_t z) { return tl_lut_interp(tl_sigmoid_lut, z); }

int16_t tl_tanh_q15(int16_t z) { return tl_lut_interp(tl_tanh_lut, z); }
