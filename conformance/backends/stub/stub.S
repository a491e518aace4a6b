// stub.S -- a deliberately minimal EL2 "hypervisor" for testing the QEMU backend without Hafnium.
//
// It boots under the same QEMU line as a Hafnium image (loaded at the start of the image by
// QEMU's -kernel, entered at EL2 with the device tree's address in x0), and implements only
// HF_VM_GET_COUNT: every other hvc, and every smc, returns -1. It does not run secondaries and
// ignores the initrd: the backend patches the two words below before boot (make_stub_image):
//   stub_vm_count       N + 1 (what HF_VM_GET_COUNT returns)
//   stub_primary_entry  where the primary's image (appended to this image) starts
//
// The primary runs at EL1h, interrupts masked, MMU off, no stage 2 (HCR_EL2.VM = 0), with the
// device tree's address in x0. HCR_EL2.TSC makes its smc trap here (ESR_EL2.EC = 0x17).

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
    ldp x1, x2, [sp], #16
    and w0, w0, #0xbfffffff         // u32(x0) with bit 30 cleared
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

    .ltorg
    .balign 8
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
    b stub_hang                     // irq
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
