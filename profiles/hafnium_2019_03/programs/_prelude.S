// The hafnium-2019-03 prelude: macros that make this profile's hypercalls (after the shared one).

// x0 := HF_VM_CONFIGURE(send page, recv page). x1..x17 are zero afterwards (CALL-5).
.macro CONFIGURE
    adr x1, _start
    add x2, x1, #LIB_RECV_PAGE
    add x1, x1, #LIB_SEND_PAGE
    mov x0, #HF_VM_CONFIGURE
    hvc #0
.endm
