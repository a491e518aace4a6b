// wfe -- wfe is a no-op (RUN-5): execution continues without a switch.
//
//   wfe                                       REPORT (expected straight away)
//   wfi forever
_start:
    LIB_INIT
    wfe
    REPORT
    WFI_FOREVER
