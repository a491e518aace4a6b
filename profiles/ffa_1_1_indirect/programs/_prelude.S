// The ffa-1.1-indirect prelude: the FF-A helper layer (after the shared prelude).
//
// Every macro here makes one FF-A call as a v1.1 partition makes it: x0 = the function ID,
// x1..x7 = its arguments with every register the call does not use set to 0 (FFA_MSG_WAIT
// refuses a non-zero x1, x3..x7: WAIT-1), one `hvc #0`; the result is x0..x7 as the hypervisor
// left them (x8..x17 are the caller's, CONV-5). None REPORTs: a program REPORTs after the calls
// it wants a test to see. Scratch registers: x9..x12 (as the shared prelude's macros).
// The library's pages: TX = base + LIB_SEND_PAGE, RX = base + LIB_RECV_PAGE (one 4 KiB page
// each, MAP-2); a v1.1 header is 20 bytes at offset 0 (HDR-1..HDR-7).

.equ HDR_SIZE_V1_1, FFA_RXTX_HEADER_SIZE_V1_1
.equ FRAMEWORK_FLAGS, FFA_NOTIFICATION_FLAG_SPM_FRAMEWORK | FFA_NOTIFICATION_FLAG_HYP_FRAMEWORK
.equ FAULT_MARKER, 0xFA017FA017
.equ IRQ_MARKER, 0x1A0171A017

// x1..x7 := 0.
.macro ZERO_X1_X7
    mov x1, xzr
    mov x2, xzr
    mov x3, xzr
    mov x4, xzr
    mov x5, xzr
    mov x6, xzr
    mov x7, xzr
.endm

// x0 := \id, x1..x7 := 0, hvc #0.
.macro CALL_FFA0 id
    ZERO_X1_X7
    ldr x0, =\id
    hvc #0
.endm

// FFA_VERSION(w1 = 0x00010001): negotiate v1.1 (VER-1: w0 = the callee's version).
.macro CALL_VERSION
    ZERO_X1_X7
    ldr x0, =FFA_VERSION
    ldr x1, =FFA_VERSION_1_1
    hvc #0
.endm

// FFA_RXTX_MAP_64(x1 = TX = base + LIB_SEND_PAGE, x2 = RX = base + LIB_RECV_PAGE, w3 = 1) (MAP-1).
.macro CALL_RXTX_MAP
    ZERO_X1_X7
    adr x1, _start
    add x2, x1, #LIB_RECV_PAGE
    add x1, x1, #LIB_SEND_PAGE
    mov x3, #1
    ldr x0, =FFA_RXTX_MAP_64
    hvc #0
.endm

// FFA_ID_GET; \reg := w2, the caller's ID (IDG-1). \reg must not be x0..x7.
.macro CALL_ID_GET reg
    CALL_FFA0 FFA_ID_GET
    mov \reg, x2
.endm

// Write a v1.1 header at TX + 0 (HDR-1..HDR-5), from w registers: flags @0, reserved @4,
// offset @8, sender<<16 | receiver @12, size @16. Clobbers x9.
.macro HDR_WRITE flags, reserved, offset, sr, size
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
    str \flags, [x9, #HDR_FLAGS]
    str \reserved, [x9, #HDR_RESERVED]
    str \offset, [x9, #HDR_OFFSET]
    str \sr, [x9, #HDR_SENDER_RECEIVER]
    str \size, [x9, #HDR_SIZE]
.endm

// The common header: flags = reserved = 0, offset = 20 (the payload right after the header),
// sender<<16 | receiver = w\sr, size = w\size. Clobbers x9, x10.
.macro HDR_WRITE_SIMPLE sr, size
    mov w10, #HDR_SIZE_V1_1
    HDR_WRITE wzr, wzr, w10, \sr, \size
.endm

// Read the v1.1 header at RX + 0 into w registers (each may be wzr to skip it). Clobbers x9.
.macro HDR_READ flags, reserved, offset, sr, size
    adr x9, _start
    add x9, x9, #LIB_RECV_PAGE
    ldr \flags, [x9, #HDR_FLAGS]
    ldr \reserved, [x9, #HDR_RESERVED]
    ldr \offset, [x9, #HDR_OFFSET]
    ldr \sr, [x9, #HDR_SENDER_RECEIVER]
    ldr \size, [x9, #HDR_SIZE]
.endm

// Copy min(x\size, 4096) bytes from RX + x\src_off to TX + x\dst_off (a message's payload;
// the caller keeps src_off + size and dst_off + size within the page). Clobbers x9..x12.
.macro COPY_RX_TO_TX src_off, dst_off, size
    mov x11, \size
    cmp x11, #LIB_PAGE_SIZE
    b.ls copyrt_sized_\@
    mov x11, #LIB_PAGE_SIZE
copyrt_sized_\@:
    adr x9, _start
    add x10, x9, #LIB_SEND_PAGE
    add x10, x10, \dst_off
    add x9, x9, #LIB_RECV_PAGE
    add x9, x9, \src_off
copyrt_loop_\@:
    cbz x11, copyrt_done_\@
    ldrb w12, [x9], #1
    strb w12, [x10], #1
    sub x11, x11, #1
    b copyrt_loop_\@
copyrt_done_\@:
.endm

// FFA_MSG_SEND2(w1 = 0, w2 = 0): send the message in TX (SEND-16).
.macro CALL_MSG_SEND2
    CALL_FFA0 FFA_MSG_SEND2
.endm

// FFA_MSG_WAIT with x1..x7 = 0 (WAIT-1): w0 = FFA_RUN_32 when a message is there (WAIT-3, WAIT-6).
.macro CALL_MSG_WAIT
    CALL_FFA0 FFA_MSG_WAIT
.endm

// FFA_RX_RELEASE(w1 = 0) (REL-1, REL-3).
.macro CALL_RX_RELEASE
    CALL_FFA0 FFA_RX_RELEASE
.endm

// FFA_YIELD: back to the primary (its FFA_RUN returns FFA_YIELD, RUN-2); SUCCESS when run again.
.macro CALL_YIELD
    CALL_FFA0 FFA_YIELD
.endm

// FFA_NOTIFICATION_GET(w1 = vCPU 0 << 16 | w\id, w2 = SPM | hypervisor framework = 0xC) (NOTIF-2):
// w7 bit 0 = the RX-buffer-full notification from a VM (NOTIF-1).
.macro CALL_NOTIFICATION_GET id
    ZERO_X1_X7
    mov w1, \id
    mov x2, #FRAMEWORK_FLAGS
    ldr x0, =FFA_NOTIFICATION_GET
    hvc #0
.endm

// Branch to \label when w0 = \value (e.g. FFA_RUN, FFA_YIELD). Clobbers x9.
.macro IF_W0 value, label
    ldr w9, =\value
    cmp w0, w9
    b.eq \label
.endm

// Branch to \label when w0 = FFA_SUCCESS_32 (CONV-3). Clobbers x9.
.macro IF_SUCCESS label
    IF_W0 FFA_SUCCESS_32, \label
.endm

// Branch to \label when w0 = FFA_ERROR_32 (CONV-3; the code is in w2). Clobbers x9.
.macro IF_ERROR label
    IF_W0 FFA_ERROR_32, \label
.endm

// Branch to \label when w0 is not FFA_SUCCESS_32. Clobbers x9.
.macro IF_NOT_SUCCESS label
    ldr w9, =FFA_SUCCESS_32
    cmp w0, w9
    b.ne \label
.endm

// The usual start of an FF-A library program, each call REPORTed: LIB_INIT (report cursor),
// FAULT_VECTORS_INSTALL, FFA_VERSION(v1.1), FFA_RXTX_MAP_64(library pages), FFA_ID_GET
// (x28 := own ID). Three report slots.
.macro FFA_SETUP
    LIB_INIT
    FAULT_VECTORS_INSTALL
    CALL_VERSION
    REPORT
    CALL_RXTX_MAP
    REPORT
    CALL_ID_GET x28
    REPORT
.endm

// Point VBAR_EL1 at fault_vectors (FAULT_VECTORS, which the program places). Clobbers x9.
.macro FAULT_VECTORS_INSTALL
    adr x9, fault_vectors
    msr vbar_el1, x9
    isb
.endm

// An EL1 vector table (2 KiB aligned) for exceptions taken from the program itself (SP_EL0 or
// SP_EL1): a synchronous exception (e.g. the Data Abort Hafnium injects for a store to the RX
// buffer, MAP-5) REPORTs x0 = FAULT_MARKER, x1 = ESR_EL1, x2 = FAR_EL1, x3 = ELR_EL1 and resumes
// after the faulting instruction; an IRQ (only if the program unmasked IRQs) REPORTs
// x0 = IRQ_MARKER, x1 = ELR_EL1 and returns with IRQs masked again. Anything else: FFA_YIELD
// forever. Place it once, after the program's code (FAULT_VECTORS_INSTALL points VBAR_EL1 at it).
.macro FAULT_VECTORS
    .balign 2048
fault_vectors:
    b fault_sync
    .balign 0x80
    b fault_irq
    .balign 0x80
    b fault_other
    .balign 0x80
    b fault_other
    .balign 0x80
    b fault_sync
    .balign 0x80
    b fault_irq
    .balign 0x80
    b fault_other
    .balign 0x80
    b fault_other
    .balign 0x80
fault_sync:
    ldr x0, =FAULT_MARKER
    mrs x1, esr_el1
    mrs x2, far_el1
    mrs x3, elr_el1
    REPORT
    mrs x9, elr_el1
    add x9, x9, #4
    msr elr_el1, x9
    eret
fault_irq:
    ldr x0, =IRQ_MARKER
    mrs x1, elr_el1
    REPORT
    mrs x9, spsr_el1
    orr x9, x9, #0x80
    msr spsr_el1, x9
    eret
fault_other:
    CALL_YIELD
    b fault_other
.endm

// FFA_YIELD forever (each result unreported): a program's end, seen by the primary as FFA_RUN
// returning FFA_YIELD (RUN-2).
.macro YIELD_FOREVER
yield_forever_\@:
    CALL_YIELD
    b yield_forever_\@
.endm

// x\dst := the little-endian u64 at x\addr, read byte by byte (no alignment needed: a guest with
// its MMU off sees Device memory, where an unaligned load faults). Clobbers x11, x12.
.macro LOAD_U64_BYTES dst, addr
    mov \dst, xzr
    mov x11, #7
ldu_loop_\@:
    ldrb w12, [\addr, x11]
    orr \dst, x12, \dst, lsl #8
    cbz x11, ldu_done_\@
    sub x11, x11, #1
    b ldu_loop_\@
ldu_done_\@:
.endm

// REPORT the message in RX: x0..x4 = its header words (flags, reserved, offset,
// sender<<16 | receiver, size), x5, x6 = the u64s at RX + offset and RX + offset + 8 (both 0
// when offset > 4096 - 16), x7 = 0. Clobbers x9..x12 (and x0..x7).
.macro READ_RX_REPORT
    adr x9, _start
    add x9, x9, #LIB_RECV_PAGE
    ldr w0, [x9, #HDR_FLAGS]
    ldr w1, [x9, #HDR_RESERVED]
    ldr w2, [x9, #HDR_OFFSET]
    ldr w3, [x9, #HDR_SENDER_RECEIVER]
    ldr w4, [x9, #HDR_SIZE]
    mov x5, xzr
    mov x6, xzr
    mov x7, xzr
    mov x10, #(LIB_PAGE_SIZE - 16)
    cmp x2, x10
    b.hi rxr_done_\@
    add x10, x9, x2
    LOAD_U64_BYTES x5, x10
    add x10, x10, #8
    LOAD_U64_BYTES x6, x10
rxr_done_\@:
    REPORT
.endm
