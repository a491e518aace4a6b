// configure_spin -- configure its mailbox, then spin forever (preempted by the time slice).
//
//   configure(send, recv)                     (not reported)
//   b .
_start:
    LIB_INIT
    CONFIGURE
configure_spin_loop:
    b configure_spin_loop
