// receiver -- receive and clear, forever.
//
//   configure(send, recv)                     (not reported)
//   loop:
//     r = receive(block = 1)                  REPORT: x0 = r
//     clear                                   REPORT: x0 = clear result
_start:
    LIB_INIT
    CONFIGURE
receiver_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    REPORT
    b receiver_loop
