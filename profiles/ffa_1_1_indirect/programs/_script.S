// The ffa-1.1-indirect scripted secondary: its steps are data assembled into it
// (programs.script_source). Not a program by itself (the name starts with "_").
//
// Step encoding: script_steps is an array of 128-byte records (16 little-endian quads), ended by
// a record of kind 0:
//   +0  kind    0 END  1 CALL  2 HEADER  3 DATA  4 FILL  5 READ_RX  6 COPY_RX  7 STORE_RX
//               8 WFI  9 SPIN  10 UNMASK_IRQ (PSTATE.I := 0)
//   +8  op      CALL: index into abi.DRIVER_OPS (the instruction to execute)
//   +16 .. +72  a0..a7:
//       CALL      x0..x7 of the call
//       HEADER    flags, reserved, offset, sender<<16 | receiver, size -> u32s at TX + 0..19
//       DATA      a0 = TX offset, a1 = length, a2 = address of the bytes
//       FILL      a0 = TX offset, a1 = length, a2 = first byte (byte i = (a2 + i) & 0xff)
//       COPY_RX   a0 = offset in LIB_DATA, a1 = length: RX [0, a1) -> LIB_DATA + a0
//       STORE_RX  a0 = offset in RX, a1 = the byte stored
//   +80 .. +120 0, reserved
// Every step REPORTs after it: a CALL right after its instruction (x0..x30 as the hypervisor left
// them), the others after they complete (READ_RX: x0..x4 = the RX header's words, x5, x6 = the
// u64s at RX + offset and + 8; STORE_RX: x0 = 0x5702E, x1 = the byte read back); SPIN never
// completes. Before a CALL's instruction x8..x30 hold SCRIPT_PATTERN | n (CONV-5: a build keeps
// x8..x17). The runner keeps its state in memory (script_state: the next step's address).
// After END: FFA_YIELD forever (unreported). A bad kind or op stops at `brk #2`.

.equ SCRIPT_STEP_SIZE, 128
.equ SCRIPT_PATTERN, 0xC0DE000000000000

.macro SCRIPT_LOAD_REGS
    adr x7, script_patterns
    ldp x8, x9, [x7, #64]
    ldp x10, x11, [x7, #80]
    ldp x12, x13, [x7, #96]
    ldp x14, x15, [x7, #112]
    ldp x16, x17, [x7, #128]
    ldp x18, x19, [x7, #144]
    ldp x20, x21, [x7, #160]
    ldp x22, x23, [x7, #176]
    ldp x24, x25, [x7, #192]
    ldp x26, x27, [x7, #208]
    ldp x28, x29, [x7, #224]
    ldr x30, [x7, #240]
    adr x7, script_state
    ldr x7, [x7, #0]
    add x7, x7, #16
    ldp x0, x1, [x7, #0]
    ldp x2, x3, [x7, #16]
    ldp x4, x5, [x7, #32]
    ldr x6, [x7, #48]
    ldr x7, [x7, #56]
.endm

_start:
    LIB_INIT
    FAULT_VECTORS_INSTALL
    adr x9, script_steps
    adr x10, script_state
    str x9, [x10, #0]
script_next:
    adr x10, script_state
    ldr x13, [x10, #0]
    ldr x14, [x13, #0]
    cbz x14, script_end
    cmp x14, #1
    b.eq script_call
    cmp x14, #2
    b.eq script_header
    cmp x14, #3
    b.eq script_data
    cmp x14, #4
    b.eq script_fill
    cmp x14, #5
    b.eq script_read_rx
    cmp x14, #6
    b.eq script_copy_rx
    cmp x14, #7
    b.eq script_store_rx
    cmp x14, #8
    b.eq script_wfi
    cmp x14, #9
    b.eq script_spin
    cmp x14, #10
    b.eq script_unmask_irq
    b script_bad_step

script_advance:
    adr x10, script_state
    ldr x13, [x10, #0]
    add x13, x13, #SCRIPT_STEP_SIZE
    str x13, [x10, #0]
    b script_next

script_call:
    ldr x14, [x13, #8]
// @@SCRIPT_DISPATCH@@
    b script_bad_step
// @@SCRIPT_VARIANTS@@

script_header:
    ldp x0, x1, [x13, #16]
    ldp x2, x3, [x13, #32]
    ldr x4, [x13, #48]
    HDR_WRITE w0, w1, w2, w3, w4
    REPORT
    b script_advance

script_data:
    ldp x0, x1, [x13, #16]
    ldr x2, [x13, #32]
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
    add x9, x9, x0
script_data_loop:
    cbz x1, script_data_done
    ldrb w12, [x2], #1
    strb w12, [x9], #1
    sub x1, x1, #1
    b script_data_loop
script_data_done:
    REPORT
    b script_advance

script_fill:
    ldp x0, x1, [x13, #16]
    ldr x2, [x13, #32]
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
    add x9, x9, x0
script_fill_loop:
    cbz x1, script_fill_done
    strb w2, [x9], #1
    add x2, x2, #1
    sub x1, x1, #1
    b script_fill_loop
script_fill_done:
    REPORT
    b script_advance

script_read_rx:
    READ_RX_REPORT
    b script_advance

script_copy_rx:
    ldp x0, x1, [x13, #16]
    adr x9, _start
    add x10, x9, #LIB_DATA
    add x10, x10, x0
    add x9, x9, #LIB_RECV_PAGE
script_copy_rx_loop:
    cbz x1, script_copy_rx_done
    ldrb w12, [x9], #1
    strb w12, [x10], #1
    sub x1, x1, #1
    b script_copy_rx_loop
script_copy_rx_done:
    REPORT
    b script_advance

script_store_rx:
    ldp x0, x1, [x13, #16]
    adr x9, _start
    add x9, x9, #LIB_RECV_PAGE
    add x9, x9, x0
    strb w1, [x9]
    ldrb w1, [x9]
    ldr x0, =0x5702E
    REPORT
    b script_advance

script_wfi:
    wfi
    REPORT
    b script_advance

script_spin:
    b script_spin

script_unmask_irq:
    msr daifclr, #2
    REPORT
    b script_advance

script_end:
    YIELD_FOREVER

script_bad_step:
    brk #2
    b script_bad_step

    .ltorg
    FAULT_VECTORS
    .balign 16
script_state:
    .quad 0, 0
script_patterns:
    .quad SCRIPT_PATTERN | 0, SCRIPT_PATTERN | 1, SCRIPT_PATTERN | 2, SCRIPT_PATTERN | 3
    .quad SCRIPT_PATTERN | 4, SCRIPT_PATTERN | 5, SCRIPT_PATTERN | 6, SCRIPT_PATTERN | 7
    .quad SCRIPT_PATTERN | 8, SCRIPT_PATTERN | 9, SCRIPT_PATTERN | 10, SCRIPT_PATTERN | 11
    .quad SCRIPT_PATTERN | 12, SCRIPT_PATTERN | 13, SCRIPT_PATTERN | 14, SCRIPT_PATTERN | 15
    .quad SCRIPT_PATTERN | 16, SCRIPT_PATTERN | 17, SCRIPT_PATTERN | 18, SCRIPT_PATTERN | 19
    .quad SCRIPT_PATTERN | 20, SCRIPT_PATTERN | 21, SCRIPT_PATTERN | 22, SCRIPT_PATTERN | 23
    .quad SCRIPT_PATTERN | 24, SCRIPT_PATTERN | 25, SCRIPT_PATTERN | 26, SCRIPT_PATTERN | 27
    .quad SCRIPT_PATTERN | 28, SCRIPT_PATTERN | 29, SCRIPT_PATTERN | 30, 0
    .balign 16
script_steps:
// @@SCRIPT_STEPS@@
    .quad 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
// @@SCRIPT_DATA@@
