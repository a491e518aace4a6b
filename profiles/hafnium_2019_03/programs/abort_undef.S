// abort_undef -- an undefined instruction, with VBAR_EL1 first set to ADDR (default 0, outside
// every VM): if the build lets EL1 take the exception, its vector fetch at ADDR + 0x200 is an
// instruction abort on unmapped memory; either way an unhandled exception (RUN-11).
// param: ADDR = 0  the value written to VBAR_EL1
//
//   VBAR_EL1 = ADDR; .word 0                   REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    ldr x0, =ADDR
    msr vbar_el1, x0
    isb
    .word 0x00000000
    REPORT
    WFI_FOREVER
    .ltorg
