// mbx_page_writes -- CFG-4: after configure the send page stays writable, the recv page becomes
// read-only to the VM (a write to it is a stage-2 fault: RUN-11, ABORTED).
//
//   configure(send, recv)                     REPORT: x0 = 0 (CFG-5)
//   store a byte to the send page             REPORT
//   store a byte to the recv page             REPORT (never, if the write faults)
//   wfi forever
_start:
    LIB_INIT
    CONFIGURE
    REPORT
    adr x9, _start
    add x10, x9, #LIB_SEND_PAGE
    mov w11, #0x5a
    strb w11, [x10]
    REPORT
    add x10, x9, #LIB_RECV_PAGE
    strb w11, [x10]
    REPORT
mbx_page_writes_end:
    wfi
    b mbx_page_writes_end
