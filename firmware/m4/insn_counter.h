/* Executed-instruction counter for QEMU runs with `-icount shift=0`: the virtual clock then
 * advances exactly 1 ns per instruction, and QEMU models the STM32F405's TIM2 at 1 GHz, so a
 * free-running TIM2 with prescaler 0 counts instructions (DWT CYCCNT reads 0 under QEMU). On
 * real silicon the same counter counts timer clocks instead. 32 bits: < 4.29e9 per reading. */
#ifndef TL_INSN_COUNTER_H
#define TL_INSN_COUNTER_H

#include <stdint.h>

#define TL_REG(a) (*(volatile uint32_t *)(a))
#define TL_RCC_APB1ENR 0x40023840u
#define TL_TIM2 0x40000000u

static inline void insn_counter_start(void)
{
    TL_REG(TL_RCC_APB1ENR) |= 1u;         /* TIM2EN */
    TL_REG(TL_TIM2 + 0x28u) = 0u;          /* PSC */
    TL_REG(TL_TIM2 + 0x2Cu) = 0xFFFFFFFFu; /* ARR */
    TL_REG(TL_TIM2 + 0x14u) = 1u;          /* EGR.UG: load the prescaler */
    TL_REG(TL_TIM2 + 0x00u) = 1u;          /* CR1.CEN */
}

static inline uint32_t insn_counter_read(void) { return TL_REG(TL_TIM2 + 0x24u); }

#endif
