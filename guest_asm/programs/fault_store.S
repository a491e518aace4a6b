// fault_store -- a data abort on a store to ADDR (default 0, outside every VM).
// param: ADDR = 0  the address stored to
//
//   x0 = ADDR; x1 = 0x5354; str x1, [x0]      REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    ldr x0, =ADDR
    mov x1, #0x5354
    str x1, [x0]
    REPORT
    WFI_FOREVER
