// driver -- the primary driver: how Python makes the primary VM execute any hypercall.
//
// Contract (reference_hv relies on it):
//   hf_driver_block   512-byte, 16-byte aligned command block (offsets from guest_asm.layout):
//                       +DRIVER_OP   (8 bytes)    op number: index into abi.DRIVER_OPS
//                       +DRIVER_IN   (31 x 8)     x0..x30 loaded before the instruction
//                       +DRIVER_OUT  (31 x 8)     x0..x30 stored after it
//   _start            SP := hf_driver_block (SP stays there; hypercalls preserve it)
//   hf_driver_ready   `brk #0`: the harness stops here, writes the block, and resumes at
//                     hf_driver_ready + 4. The driver loads DRIVER_OP and runs variant k:
//                     load x0..x30 from DRIVER_IN, execute exactly abi.DRIVER_OPS[k], store
//                     x0..x30 to DRIVER_OUT, branch back to hf_driver_ready.
//   hf_driver_op_<k>  the variant for op k (generated from abi.DRIVER_OPS by programs.py)
//   hf_driver_bad_op  `brk #1`, reached for an op >= len(DRIVER_OPS) (never treated as op 0)
//   hf_driver_timed   a second way in, used only by the QEMU backend (conformance/backends/qemu.py)
//                     to play the primary kernel's timer: it arms the EL1 virtual timer with
//                     CNTV_TVAL_EL0 := the word at DRIVER_OUT + 248 (the block's last 8 bytes,
//                     "timer ticks"), enables it (CNTV_CTL_EL0 := 1: enabled, not masked), then
//                     goes on at hf_driver_ready + 4 as above. The reference resumes at
//                     hf_driver_ready + 4 and never executes it.
//   hf_driver_timed_phys  the same with the EL1 physical timer (CNTP_TVAL_EL0 / CNTP_CTL_EL0),
//                     for images whose hypervisor switches the virtual timer per vCPU but
//                     leaves the physical one to the primary (the profile's qemu.ERA.timer).

.macro DRIVER_LOAD
    ldp x0, x1, [sp, #DRIVER_IN + 0]
    ldp x2, x3, [sp, #DRIVER_IN + 16]
    ldp x4, x5, [sp, #DRIVER_IN + 32]
    ldp x6, x7, [sp, #DRIVER_IN + 48]
    ldp x8, x9, [sp, #DRIVER_IN + 64]
    ldp x10, x11, [sp, #DRIVER_IN + 80]
    ldp x12, x13, [sp, #DRIVER_IN + 96]
    ldp x14, x15, [sp, #DRIVER_IN + 112]
    ldp x16, x17, [sp, #DRIVER_IN + 128]
    ldp x18, x19, [sp, #DRIVER_IN + 144]
    ldp x20, x21, [sp, #DRIVER_IN + 160]
    ldp x22, x23, [sp, #DRIVER_IN + 176]
    ldp x24, x25, [sp, #DRIVER_IN + 192]
    ldp x26, x27, [sp, #DRIVER_IN + 208]
    ldp x28, x29, [sp, #DRIVER_IN + 224]
    ldr x30, [sp, #DRIVER_IN + 240]
.endm

.macro DRIVER_STORE
    stp x0, x1, [sp, #DRIVER_OUT + 0]
    stp x2, x3, [sp, #DRIVER_OUT + 16]
    stp x4, x5, [sp, #DRIVER_OUT + 32]
    stp x6, x7, [sp, #DRIVER_OUT + 48]
    stp x8, x9, [sp, #DRIVER_OUT + 64]
    stp x10, x11, [sp, #DRIVER_OUT + 80]
    stp x12, x13, [sp, #DRIVER_OUT + 96]
    stp x14, x15, [sp, #DRIVER_OUT + 112]
    stp x16, x17, [sp, #DRIVER_OUT + 128]
    stp x18, x19, [sp, #DRIVER_OUT + 144]
    stp x20, x21, [sp, #DRIVER_OUT + 160]
    stp x22, x23, [sp, #DRIVER_OUT + 176]
    stp x24, x25, [sp, #DRIVER_OUT + 192]
    stp x26, x27, [sp, #DRIVER_OUT + 208]
    stp x28, x29, [sp, #DRIVER_OUT + 224]
    str x30, [sp, #DRIVER_OUT + 240]
.endm

_start:
    adr x0, hf_driver_block
    mov sp, x0
hf_driver_ready:
    brk #0
hf_driver_dispatch:
    ldr x0, [sp, #DRIVER_OP]
// @@DRIVER_DISPATCH@@
    b hf_driver_bad_op
// @@DRIVER_VARIANTS@@
hf_driver_bad_op:
    brk #1
    b hf_driver_bad_op
hf_driver_timed:
    ldr x0, [sp, #DRIVER_OUT + 248]
    msr cntv_tval_el0, x0
    mov x0, #1
    msr cntv_ctl_el0, x0
    isb
    b hf_driver_dispatch
hf_driver_timed_phys:
    ldr x0, [sp, #DRIVER_OUT + 248]
    msr cntp_tval_el0, x0
    mov x0, #1
    msr cntp_ctl_el0, x0
    isb
    b hf_driver_dispatch
    .ltorg
    .balign 16
hf_driver_block:
    .skip DRIVER_BLOCK_SIZE
hf_driver_end:
