// stub.S -- a deliberately minimal EL2 "hypervisor" for testing the QEMU backend without Hafnium.
//
// It boots under the same QEMU line as a Hafnium image (loaded at the start of the image by
// QEMU's -kernel, entered at EL2 with the device tree's address in x0), and implements only
// HF_VM_GET_COUNT: every other hvc, and every smc, returns -1. It does not run secondaries and
// ignores the initrd. One extra hvc, not part of the ABI, lets the backend's tests see the
// backend's preemption timer at work as Hafnium would:
//   STUB_HANG (x0 = 0x48414E47 "HANG", bit 30 ignored)  spins at EL2, interrupts masked: a call
//       that never returns, as a hypervisor that hangs (the backend's progress-bounded timeout).
//   STUB_SPIN (x0 = 0x53545550 "STUP", bit 30 ignored)  runs an EL1 loop that counts in x0
//       (`add x0, x0, #1; b .-4`) with HCR_EL2.IMO set, like a spinning secondary, until a
//       physical IRQ reaches EL2; then it returns to the primary with x0 = 0 (YIELD),
//       x1 = the loop count and x2 = CNTFRQ_EL0 (the generic timer's frequency, to convert
//       ticks into instructions); every other register is the primary's. No IRQ: it never returns.
// The backend patches the two words below before boot (make_stub_image):
//   stub_vm_count       N + 1 (what HF_VM_GET_COUNT returns)
//   stub_primary_entry  where the primary's image (appended to this image) starts
//
// The primary runs at EL1h, interrupts masked, MMU off, no stage 2 (HCR_EL2.VM = 0), with the
// device tree's address in x0. HCR_EL2.TSC makes its smc trap here (ESR_EL2.EC = 0x17).

// The one call the stub answers, as the hafnium-2018-10 profile numbers it (the era it imitates).
.equ HF_VM_GET_COUNT, 0xff01

_start:
    mov x19, x0                     // the device tree, for the primary
    adr x1, stub_stack_top
    mov sp, x1
    adr x1, stub_vectors
    msr vbar_el2, x1
    mov x1, #0x80000000             // HCR_EL2.RW: EL1 is AArch64
    orr x1, x1, #0x80000            // HCR_EL2.TSC: trap smc
    msr hcr_el2, x1
    ldr x1, =0x30d00800             // SCTLR_EL1: RES1 bits, MMU and caches off
    msr sctlr_el1, x1
    mov x1, #0x3c5                  // SPSR_EL2: EL1h, D A I F masked
    msr spsr_el2, x1
    adr x1, stub_primary_entry
    ldr x1, [x1]
    msr elr_el2, x1
    mov x0, x19
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x19, #0
    isb
    eret

stub_hang:
    wfe
    b stub_hang

// Lower EL, AArch64, synchronous: hvc (EC 0x16) or trapped smc (EC 0x17).
stub_sync:
    stp x1, x2, [sp, #-16]!
    mrs x1, esr_el2
    lsr x1, x1, #26
    cmp x1, #0x16
    b.eq stub_hvc
    cmp x1, #0x17
    b.eq stub_smc
    ldp x1, x2, [sp], #16
    b stub_hang                     // any other exception from the guest: stop (the harness times out)

stub_smc:                           // not a hypercall: x0 = -1, nothing else changes; skip the smc
    mrs x1, elr_el2
    add x1, x1, #4
    msr elr_el2, x1
    ldp x1, x2, [sp], #16
    movn x0, #0
    eret

stub_hvc:
    and w0, w0, #0xbfffffff         // u32(x0) with bit 30 cleared
    ldr x1, =0x13545550             // STUB_SPIN with bit 30 cleared
    cmp x0, x1
    b.eq stub_spin
    ldr x1, =0x08414e47             // STUB_HANG with bit 30 cleared: never returns
    cmp x0, x1
    b.eq stub_hang
    ldp x1, x2, [sp], #16
    mov x1, #HF_VM_GET_COUNT
    cmp x0, x1
    b.ne stub_unknown
    adr x0, stub_vm_count
    ldr x0, [x0]
    b stub_return
stub_unknown:
    movn x0, #0
stub_return:
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    mov x8, #0
    mov x9, #0
    mov x10, #0
    mov x11, #0
    mov x12, #0
    mov x13, #0
    mov x14, #0
    mov x15, #0
    mov x16, #0
    mov x17, #0
    eret

// STUB_SPIN (x1, x2 of the primary on the stack): save the primary's return state, route
// physical IRQs to EL2 and enter the counting loop at EL1h with interrupts masked (an IRQ that
// targets EL2 is taken anyway, as for Hafnium's secondaries).
stub_spin:
    adr x1, stub_saved
    mrs x2, elr_el2
    str x2, [x1]
    mrs x2, spsr_el2
    str x2, [x1, #8]
    mrs x2, hcr_el2
    orr x2, x2, #0x10               // HCR_EL2.IMO
    msr hcr_el2, x2
    adr x2, stub_spinner
    msr elr_el2, x2
    mov x2, #0x3c5                  // EL1h, D A I F masked
    msr spsr_el2, x2
    ldp x1, x2, [sp], #16
    mov x0, #0
    isb
    eret

stub_spinner:                       // runs at EL1
    add x0, x0, #1
    b stub_spinner

// Lower EL, AArch64, IRQ: only while STUB_SPIN's loop runs (IMO is clear otherwise). Back to the
// primary: x0 = 0 (YIELD), x1 = the loop count, x2 = CNTFRQ_EL0; the interrupt is not
// acknowledged (the line is the primary's business, as with Hafnium).
stub_irq:
    mov x1, x0
    mrs x2, cntfrq_el0
    mrs x0, hcr_el2
    bic x0, x0, #0x10               // HCR_EL2.IMO off: the primary keeps its own interrupts
    msr hcr_el2, x0
    adr x0, stub_saved
    ldr x0, [x0]
    msr elr_el2, x0
    adr x0, stub_saved
    ldr x0, [x0, #8]
    msr spsr_el2, x0
    mov x0, #0
    isb
    eret

    .ltorg
    .balign 8
stub_saved:                         // the primary's ELR_EL2, SPSR_EL2 during STUB_SPIN
    .quad 0
    .quad 0
stub_vm_count:
    .quad 0
stub_primary_entry:
    .quad 0
    .balign 16
stub_stack:
    .skip 256
stub_stack_top:

// The EL2 vector table: 16 entries of 0x80 bytes; only "lower EL, AArch64, sync" is served.
    .balign 2048
stub_vectors:
    b stub_hang                     // current EL, SP0: sync
    .balign 0x80
    b stub_hang                     // irq
    .balign 0x80
    b stub_hang                     // fiq
    .balign 0x80
    b stub_hang                     // serror
    .balign 0x80
    b stub_hang                     // current EL, SPx: sync
    .balign 0x80
    b stub_hang
    .balign 0x80
    b stub_hang
    .balign 0x80
    b stub_hang
    .balign 0x80
    b stub_sync                     // lower EL, AArch64: sync
    .balign 0x80
    b stub_irq                      // irq
    .balign 0x80
    b stub_hang                     // fiq
    .balign 0x80
    b stub_hang                     // serror
    .balign 0x80
    b stub_hang                     // lower EL, AArch32
    .balign 0x80
    b stub_hang
    .balign 0x80
    b stub_hang
    .balign 0x80
    b stub_hang
    .balign 0x80
stub_end:
