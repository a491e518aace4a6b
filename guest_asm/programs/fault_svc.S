// fault_svc -- an svc from EL1 (taken to EL1's own, unset, vector table).
//
//   svc #0                                    REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    svc #0
    REPORT
    WFI_FOREVER
