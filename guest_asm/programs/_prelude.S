// Shared prelude, in every library program of every profile (after its .equ lines), before the
// profile's own prelude.
//
// Conventions: the program runs at EL1, MMU off, identity mapped, at a 64 KiB aligned base,
// entry _start at the base; it is position independent (adr, never absolute addresses).
// Send page = base + LIB_SEND_PAGE, recv page = base + LIB_RECV_PAGE.
//
// Report slots: REPORT stores x0..x30 into the 256-byte slot at SP (xN at +8*N), then
// LIB_REPORT_MAGIC at +248 (last), then advances SP by one slot. SP is the slot cursor: it starts
// at base + LIB_REPORT (LIB_INIT) and the hypervisor preserves it across hypercalls (CALL-5).
// When the last slot (LIB_REPORT_SLOTS - 1) is reached the cursor stops there, so later reports
// overwrite the last slot instead of running off the end of the VM's memory.
// REPORT changes no register (x0, x1 are restored) and no flag; use it right after an hvc to
// capture the registers exactly as the hypervisor left them.

.equ REPORT_LAST_OFF, LIB_REPORT + (LIB_REPORT_SLOTS - 1) * LIB_REPORT_SLOT
.equ REPORT_LAST_HI, REPORT_LAST_OFF & 0xfff000
.equ REPORT_LAST_LO, REPORT_LAST_OFF & 0xfff

.macro REPORT
    stp x0, x1, [sp, #0]
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    ldr x0, =LIB_REPORT_MAGIC
    str x0, [sp, #248]
    adr x0, _start
    add x0, x0, #REPORT_LAST_HI
    add x0, x0, #REPORT_LAST_LO
    mov x1, sp
    sub x0, x0, x1
    cbz x0, report_full_\@
    ldp x0, x1, [sp], #LIB_REPORT_SLOT
    b report_done_\@
report_full_\@:
    ldp x0, x1, [sp]
report_done_\@:
.endm

// SP := base + LIB_REPORT (the first report slot). Clobbers x9.
.macro LIB_INIT
    adr x9, _start
    add x9, x9, #LIB_REPORT
    mov sp, x9
.endm

// Copy min(\size, 4096) bytes from the recv page to the send page. Clobbers x9..x12 and flags.
.macro COPY_RECV_TO_SEND size
    mov x11, \size
    cmp x11, #LIB_PAGE_SIZE
    b.ls copy_sized_\@
    mov x11, #LIB_PAGE_SIZE
copy_sized_\@:
    adr x9, _start
    add x10, x9, #LIB_SEND_PAGE
    add x9, x9, #LIB_RECV_PAGE
copy_words_\@:
    cmp x11, #8
    b.lo copy_loop_\@
    ldr x12, [x9], #8
    str x12, [x10], #8
    sub x11, x11, #8
    b copy_words_\@
copy_loop_\@:
    cbz x11, copy_done_\@
    ldrb w12, [x9], #1
    strb w12, [x10], #1
    sub x11, x11, #1
    b copy_loop_\@
copy_done_\@:
.endm

// Write (\value + i) & 0xff for i < min(\size, 4096) into the send page. Clobbers x9..x12, flags.
.macro FILL_SEND size, value
    mov x11, \size
    cmp x11, #LIB_PAGE_SIZE
    b.ls fill_sized_\@
    mov x11, #LIB_PAGE_SIZE
fill_sized_\@:
    mov x12, \value
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
fill_loop_\@:
    cbz x11, fill_done_\@
    strb w12, [x9], #1
    add x12, x12, #1
    sub x11, x11, #1
    b fill_loop_\@
fill_done_\@:
.endm

// Block forever in wfi (a wfi'd secondary is never resumed in this profile, RUN-5).
.macro WFI_FOREVER
wfi_forever_\@:
    wfi
    b wfi_forever_\@
.endm
