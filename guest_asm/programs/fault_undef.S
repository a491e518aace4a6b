// fault_undef -- an undefined instruction (.word 0 is permanently undefined, UDF #0).
//
//   .word 0                                   REPORT if it ever resumes, then wfi forever
_start:
    LIB_INIT
    .word 0x00000000
    REPORT
    WFI_FOREVER
