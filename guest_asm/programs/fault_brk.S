// fault_brk -- a breakpoint exception (brk #0) taken from EL1.
//
//   brk #0                                    REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    brk #0
    REPORT
    WFI_FOREVER
