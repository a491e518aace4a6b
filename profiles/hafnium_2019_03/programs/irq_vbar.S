// irq_vbar -- a guest with its own vector table (VBAR_EL1, 2 KiB aligned) that unmasks IRQs and
// waits: an IRQ entry acknowledges the interrupt with HF_INTERRUPT_GET, reports and returns (eret);
// every other entry reports the exception and stops. Whether the build delivers the virtual IRQ
// to the table or the main flow finds the interrupt pending, exactly one HF_INTERRUPT_GET returns
// INTID (WAIT-4: acknowledged).
// param: INTID = 5  the interrupt ID enabled
//
//   VBAR_EL1 = irq_vectors
//   INTERRUPT_ENABLE(INTID, 1)                 REPORT: x0 = result, x18 = 0
//   unmask IRQs; wfi; mask IRQs
//   INTERRUPT_GET                              REPORT: x0 = intid, x18 = 0
//   wfi forever
//   IRQ entry: INTERRUPT_GET                   REPORT: x0 = intid, x18 = 0x1AA; eret
//   other entry                                REPORT: x0 = ESR_EL1, x18 = 0xE00 | entry offset >> 7; wfi forever
_start:
    LIB_INIT
    adr x0, irq_vectors
    msr vbar_el1, x0
    isb
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #INTID
    mov x2, #1
    hvc #0
    mov x18, #0
    REPORT
    msr daifclr, #2
    isb
    wfi
    msr daifset, #2
    isb
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    mov x18, #0
    REPORT
    WFI_FOREVER

irq_handler:
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    mov x18, #0x1AA
    REPORT
    eret

irq_other:
    mrs x0, esr_el1
    REPORT
    WFI_FOREVER
    .ltorg

    .balign 2048
irq_vectors:
    mov x18, #0xE00
    b irq_other
    .balign 128
    b irq_handler
    .balign 128
    mov x18, #0xE02
    b irq_other
    .balign 128
    mov x18, #0xE03
    b irq_other
    .balign 128
    mov x18, #0xE04
    b irq_other
    .balign 128
    b irq_handler
    .balign 128
    mov x18, #0xE06
    b irq_other
    .balign 128
    mov x18, #0xE07
    b irq_other
    .balign 128
    mov x18, #0xE08
    b irq_other
    .balign 128
    mov x18, #0xE09
    b irq_other
    .balign 128
    mov x18, #0xE0A
    b irq_other
    .balign 128
    mov x18, #0xE0B
    b irq_other
    .balign 128
    mov x18, #0xE0C
    b irq_other
    .balign 128
    mov x18, #0xE0D
    b irq_other
    .balign 128
    mov x18, #0xE0E
    b irq_other
    .balign 128
    mov x18, #0xE0F
    b irq_other
    .balign 128
