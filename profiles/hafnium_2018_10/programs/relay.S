// relay -- spec section 11 mailbox.relay: forward every message to NEXT_HOP.
// param: NEXT_HOP  the VM ID to forward every message to
//
//   configure(send, recv)                     (not reported)
//   loop:
//     r = receive(block = 1)                  REPORT: x0 = r = sender | size << 32
//     copy r >> 32 bytes recv -> send; clear (result not reported)
//     send(NEXT_HOP, r >> 32)                 REPORT: x0 = send result
_start:
    LIB_INIT
    CONFIGURE
relay_loop:
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
    ldr x1, =NEXT_HOP
    mov x2, x20
    hvc #0
    REPORT
    b relay_loop
