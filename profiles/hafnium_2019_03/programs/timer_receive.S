// timer_receive -- configure, arm the virtual timer DELTA ticks ahead, then a blocking receive
// (RUN-7: WAIT_FOR_MESSAGE with ns != INDEF when armed).
// param: DELTA = 0x10000000  CNTV_CVAL_EL0 := CNTVCT_EL0 + DELTA (about 4 s at 62.5 MHz)
// param: CTL = 1  the value written to CNTV_CTL_EL0 (1 = ENABLE, interrupt not masked; 0 = off)
// Every REPORT also holds x19 = CNTFRQ_EL0 and x20 = DELTA (preserved across hypercalls, CALL-5).
//
//   configure(send, recv)                     REPORT: x0 = configure result
//   arm the timer
//   r = receive(block = 1)                    REPORT: x0 = r
//   wfi forever
_start:
    LIB_INIT
    mrs x19, cntfrq_el0
    ldr x20, =DELTA
    CONFIGURE
    REPORT
    mrs x1, cntvct_el0
    ldr x2, =DELTA
    add x1, x1, x2
    msr cntv_cval_el0, x1
    ldr x0, =CTL
    msr cntv_ctl_el0, x0
    isb
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    WFI_FOREVER
    .ltorg
