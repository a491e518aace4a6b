// echo -- spec section 11 mailbox.echo: return every message to its sender.
//
//   configure(send, recv)                     (not reported)
//   configure(send, recv) again               REPORT: x0 = its result (-1 expected, CFG-2)
//   loop:
//     r = receive(block = 1)                  REPORT: x0 = r = sender | size << 32
//     copy r >> 32 bytes recv -> send; clear (result not reported)
//     send(r & 0xffff, r >> 32)               REPORT: x0 = send result (0 when resumed)
// So slot 0 is the second configure, then two slots per message.
_start:
    LIB_INIT
    CONFIGURE
    CONFIGURE
    REPORT
echo_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    mov x19, x0
    lsr x20, x19, #32
    COPY_RECV_TO_SEND x20
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    mov x0, #HF_MAILBOX_SEND
    and x1, x19, #0xffff
    mov x2, x20
    hvc #0
    REPORT
    b echo_loop
