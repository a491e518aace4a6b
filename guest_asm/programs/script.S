// script -- the scripted secondary: its steps are data assembled into it (programs.Step).
//
// Step encoding: script_steps is an array of 64-byte records (8 little-endian quads), ended by
// a record of kind 0:
//   +0  kind    0 END  1 CALL  2 FILL  3 COPY_RECV  4 WFI  5 WFE  6 SPIN
//   +8  arg     CALL: op number (index into abi.DRIVER_OPS: the instruction to execute)
//               FILL: size;  COPY_RECV: size, or -1 = the last receive result's size (>> 32)
//   +16 x0      CALL: x0;  FILL: the first byte value
//   +24 x1      CALL: x1 (replaced by last receive & 0xffff when flags bit 0 is set)
//   +32 x2      CALL: x2 (replaced by last receive >> 32 when flags bit 0 is set)
//   +40 x3      CALL: x3
//   +48 flags   CALL: bit 0 = reply (x1, x2 from the last receive result);
//                     bit 1 = this call is a receive: remember its x0 as the last receive result
//   +56 0       reserved
// Every step REPORTs after it: a CALL right after its instruction (x0..x30 as the hypervisor
// left them), FILL/COPY_RECV/WFI/WFE after they complete; SPIN never completes.
// Before a CALL's instruction, x4..x30 hold SCRIPT_PATTERN | n (n = register number), and x0..x3
// the call's arguments. The runner keeps its state in memory (script_state: +0 the next step's
// address, +8 the last receive result, initially 0), never in registers across a CALL.
// After END: wfi forever. A bad kind or op number stops at `brk #2` (script_bad_step).
// Sizes of FILL/COPY_RECV are capped at 4096.

.equ SCRIPT_STEP_SIZE, 64
.equ SCRIPT_PATTERN, 0xC0DE000000000000

.macro SCRIPT_LOAD_REGS
    adr x3, script_patterns
    ldp x4, x5, [x3, #32]
    ldp x6, x7, [x3, #48]
    ldp x8, x9, [x3, #64]
    ldp x10, x11, [x3, #80]
    ldp x12, x13, [x3, #96]
    ldp x14, x15, [x3, #112]
    ldp x16, x17, [x3, #128]
    ldp x18, x19, [x3, #144]
    ldp x20, x21, [x3, #160]
    ldp x22, x23, [x3, #176]
    ldp x24, x25, [x3, #192]
    ldp x26, x27, [x3, #208]
    ldp x28, x29, [x3, #224]
    ldr x30, [x3, #240]
    adr x3, script_args
    ldp x0, x1, [x3, #0]
    ldp x2, x3, [x3, #16]
.endm

_start:
    LIB_INIT
    adr x9, script_steps
    adr x10, script_state
    str x9, [x10, #0]
    str xzr, [x10, #8]
script_next:
    adr x10, script_state
    ldr x9, [x10, #0]
    ldr x11, [x9, #0]
    cbz x11, script_end
    cmp x11, #1
    b.eq script_call
    cmp x11, #2
    b.eq script_fill
    cmp x11, #3
    b.eq script_copy
    cmp x11, #4
    b.eq script_wfi
    cmp x11, #5
    b.eq script_wfe
    cmp x11, #6
    b.eq script_spin
    b script_bad_step

script_advance:
    adr x10, script_state
    ldr x9, [x10, #0]
    add x9, x9, #SCRIPT_STEP_SIZE
    str x9, [x10, #0]
    b script_next

script_call:
    adr x12, script_args
    ldp x13, x14, [x9, #16]
    ldp x15, x16, [x9, #32]
    ldr x17, [x9, #48]
    tbz x17, #0, script_call_args
    ldr x18, [x10, #8]
    and x14, x18, #0xffff
    lsr x15, x18, #32
script_call_args:
    stp x13, x14, [x12, #0]
    stp x15, x16, [x12, #16]
    ldr x11, [x9, #8]
// @@SCRIPT_DISPATCH@@
    b script_bad_step
// @@SCRIPT_VARIANTS@@
script_after_call:
    adr x10, script_state
    ldr x9, [x10, #0]
    ldr x17, [x9, #48]
    tbz x17, #1, script_advance
    str x0, [x10, #8]
    b script_advance

script_fill:
    ldr x13, [x9, #8]
    ldr x14, [x9, #16]
    FILL_SEND x13, x14
    REPORT
    b script_advance

script_copy:
    ldr x13, [x9, #8]
    cmn x13, #1
    b.ne script_copy_sized
    ldr x13, [x10, #8]
    lsr x13, x13, #32
script_copy_sized:
    COPY_RECV_TO_SEND x13
    REPORT
    b script_advance

script_wfi:
    wfi
    REPORT
    b script_advance

script_wfe:
    wfe
    REPORT
    b script_advance

script_spin:
    b script_spin

script_end:
    WFI_FOREVER

script_bad_step:
    brk #2
    b script_bad_step

    .ltorg
    .balign 16
script_state:
    .quad 0, 0
script_args:
    .quad 0, 0, 0, 0
script_patterns:
    .quad SCRIPT_PATTERN | 0, SCRIPT_PATTERN | 1, SCRIPT_PATTERN | 2, SCRIPT_PATTERN | 3
    .quad SCRIPT_PATTERN | 4, SCRIPT_PATTERN | 5, SCRIPT_PATTERN | 6, SCRIPT_PATTERN | 7
    .quad SCRIPT_PATTERN | 8, SCRIPT_PATTERN | 9, SCRIPT_PATTERN | 10, SCRIPT_PATTERN | 11
    .quad SCRIPT_PATTERN | 12, SCRIPT_PATTERN | 13, SCRIPT_PATTERN | 14, SCRIPT_PATTERN | 15
    .quad SCRIPT_PATTERN | 16, SCRIPT_PATTERN | 17, SCRIPT_PATTERN | 18, SCRIPT_PATTERN | 19
    .quad SCRIPT_PATTERN | 20, SCRIPT_PATTERN | 21, SCRIPT_PATTERN | 22, SCRIPT_PATTERN | 23
    .quad SCRIPT_PATTERN | 24, SCRIPT_PATTERN | 25, SCRIPT_PATTERN | 26, SCRIPT_PATTERN | 27
    .quad SCRIPT_PATTERN | 28, SCRIPT_PATTERN | 29, SCRIPT_PATTERN | 30
    .balign 64
script_steps:
// @@SCRIPT_STEPS@@
    .quad 0, 0, 0, 0, 0, 0, 0, 0
script_steps_end:
