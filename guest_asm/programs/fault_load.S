// fault_load -- a data abort on a load from ADDR (default 0, outside every VM).
// param: ADDR = 0  the address loaded from
//
//   x0 = ADDR; ldr x1, [x0]                   REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    ldr x0, =ADDR
    ldr x1, [x0]
    REPORT
    WFI_FOREVER
