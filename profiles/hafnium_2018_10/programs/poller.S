// poller -- spin on non-blocking receives (it is preempted by the time slice, RUN-4).
//
//   configure(send, recv)                     (not reported)
//   loop:
//     r = receive(block = 0) until r != -1    REPORT: x0 = r (failed polls are not reported)
//     clear                                   (not reported)
_start:
    LIB_INIT
    CONFIGURE
poller_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #0
    hvc #0
    cmn x0, #1
    b.eq poller_loop
    REPORT
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    b poller_loop
