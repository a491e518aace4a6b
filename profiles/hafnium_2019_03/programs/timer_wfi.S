// timer_wfi -- arm the virtual timer DELTA ticks ahead, then wfi (RUN-5: ns != INDEF when armed).
// param: DELTA = 0x10000000  CNTV_CVAL_EL0 := CNTVCT_EL0 + DELTA (about 4 s at 62.5 MHz)
// param: CTL = 1  the value written to CNTV_CTL_EL0 (1 = ENABLE, interrupt not masked; 0 = off)
// Every REPORT also holds x19 = CNTFRQ_EL0 and x20 = DELTA (preserved across hypercalls, CALL-5).
//
//   arm the timer                             REPORT: x0 = CNTV_CTL_EL0 as written
//   wfi                                       REPORT if it ever resumes
//   wfi forever
_start:
    LIB_INIT
    mrs x19, cntfrq_el0
    ldr x20, =DELTA
    mrs x1, cntvct_el0
    ldr x2, =DELTA
    add x1, x1, x2
    msr cntv_cval_el0, x1
    ldr x0, =CTL
    msr cntv_ctl_el0, x0
    isb
    REPORT
    wfi
    REPORT
    WFI_FOREVER
    .ltorg
