/* Start-up for the STM32F405 (Cortex-M4F): vector table, reset handler that copies .data,
 * zeroes .bss and enables the FPU, then main(); main's return value becomes the semihosting
 * exit status. Every fault handler exits with a distinct non-zero status so a test run can never
 * hang or pass after a fault. Compiled with -fno-tree-loop-distribute-patterns so GCC does not
 * turn the copy loops into calls to memcpy/memset before .data exists. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define EXIT_HARDFAULT 101u
#define EXIT_MEMMANAGE 102u
#define EXIT_BUSFAULT 103u
#define EXIT_USAGEFAULT 104u
#define EXIT_NMI 105u
#define EXIT_UNEXPECTED 106u

void Reset_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void NMI_Handler(void);
void Default_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    SCB_CPACR |= 0xFu << 20; /* CP10 and CP11 full access: enable the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    int rc = main();
    semihost_exit((uint32_t)rc);
}

void HardFault_Handler(void)
{
    semihost_line("HardFault");
    semihost_exit(EXIT_HARDFAULT);
}
void MemManage_Handler(void)
{
    semihost_line("MemManage fault");
    semihost_exit(EXIT_MEMMANAGE);
}
void BusFault_Handler(void)
{
    semihost_line("BusFault");
    semihost_exit(EXIT_BUSFAULT);
}
void UsageFault_Handler(void)
{
    semihost_line("UsageFault");
    semihost_exit(EXIT_USAGEFAULT);
}
void NMI_Handler(void) { semihost_exit(EXIT_NMI); }
void Default_Handler(void)
{
    semihost_line("unexpected interrupt");
    semihost_exit(EXIT_UNEXPECTED);
}

/* Cortex-M4 core exceptions + 82 STM32F405 interrupts, all routed to Default_Handler. */
__attribute__((section(".isr_vector"), used)) static void (*const g_vectors[16 + 82])(void) = {
    [0] = (void (*)(void))(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = Default_Handler, /* SVCall */
    [12] = Default_Handler, /* DebugMonitor */
    [14] = Default_Handler, /* PendSV */
    [15] = Default_Handler, /* SysTick */
    [16 ... 16 + 81] = Default_Handler,
};
