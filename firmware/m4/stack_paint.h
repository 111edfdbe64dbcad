/* Peak stack of a call by stack painting: fill the unused stack below the caller with a
 * pattern, make the call, then find the lowest word that no longer holds the pattern. The
 * stack is the top _stack_size bytes of RAM (m4/stm32f405*.ld). */
#ifndef TL_STACK_PAINT_H
#define TL_STACK_PAINT_H

#include <stdint.h>

#define TL_STACK_PATTERN 0xC5A5A55Cu

extern uint32_t _estack;
extern char _stack_size[]; /* a linker symbol: its address is the size */

static inline uintptr_t tl_stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

static inline uint32_t *tl_stack_limit(void)
{
    return (uint32_t *)((uintptr_t)&_estack - (uintptr_t)_stack_size);
}

/* Paints from the stack limit up to 64 bytes below this function's own frame. */
__attribute__((noinline)) static void tl_stack_paint(void)
{
    volatile uint32_t *p = tl_stack_limit();
    const uintptr_t hi = tl_stack_pointer() - 64u;
    while ((uintptr_t)p < hi) {
        *p++ = TL_STACK_PATTERN;
    }
}

/* Bytes below @p sp (the caller's stack pointer at the measured call) that were written. */
static inline uint32_t tl_stack_used(uintptr_t sp)
{
    const volatile uint32_t *p = tl_stack_limit();
    while ((uintptr_t)p < sp && *p == TL_STACK_PATTERN) {
        p++;
    }
    return (uint32_t)(sp - (uintptr_t)p);
}

#endif /* TL_STACK_PAINT_H */
