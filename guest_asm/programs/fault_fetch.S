// fault_fetch -- an instruction abort: branch to ADDR (default 0, outside every VM).
// param: ADDR = 0  the address branched to
//
//   x0 = ADDR; br x0                          REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    ldr x0, =ADDR
    br x0
    REPORT
    WFI_FOREVER
