// wfi -- block in wfi (RUN-5); never configures.
//
//   loop: wfi                                 REPORT after it, should it ever resume
_start:
    LIB_INIT
wfi_loop:
    wfi
    REPORT
    b wfi_loop
