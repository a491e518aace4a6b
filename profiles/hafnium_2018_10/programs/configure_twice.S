// configure_twice -- CFG-2: the second configure fails.
//
//   configure(send, recv)                     REPORT: x0 = result (0)
//   configure(send, recv)                     REPORT: x0 = result (-1)
//   wfi forever
_start:
    LIB_INIT
    CONFIGURE
    REPORT
    CONFIGURE
    REPORT
    WFI_FOREVER
