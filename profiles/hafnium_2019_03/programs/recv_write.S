// recv_write -- write its recv page before and after configuring it (CFG-4: the recv page becomes
// read-only to the VM; the write after configure is a stage-2 fault, RUN-11).
//
//   str to recv page                           REPORT: x0 = 0 (the write before configure)
//   configure(send, recv)                      REPORT: x0 = configure result
//   str to recv page                           REPORT if it ever resumes (it must not)
//   wfi forever
_start:
    LIB_INIT
    adr x3, _start
    add x3, x3, #LIB_RECV_PAGE
    mov x4, #0x5752
    str x4, [x3]
    mov x0, #0
    REPORT
    CONFIGURE
    REPORT
    adr x3, _start
    add x3, x3, #LIB_RECV_PAGE
    mov x4, #0x5752
    str x4, [x3]
    REPORT
    WFI_FOREVER
