// relay -- spec section 11 "Relay" (Hafnium test mailbox.relay, service relay): each message
// starts with the little-endian u32 ID of the VM to forward the rest to.
//
//   configure(send, recv)                     REPORT: x0 = 0 (CFG-5)
//   loop:
//     r = receive(block = 1)                  REPORT: x0 = r = sender | size << 32
//     next = u32 at recv[0]; copy (r >> 32) - 4 bytes recv[4..] -> send[0..]
//     clear                                   REPORT: x0 = clear result (0, CLR-3)
//     send(next, (r >> 32) - 4, notify = 0)   REPORT: x0 = send result (0 once resumed)
//   A message shorter than 4 bytes stops the relay in wfi (Hafnium's service asserts size >= 4).
_start:
    LIB_INIT
    CONFIGURE
    REPORT
relay_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    lsr x20, x0, #32
    cmp x20, #4
    b.lo relay_short
    sub x20, x20, #4
    adr x9, _start
    add x10, x9, #LIB_SEND_PAGE
    add x9, x9, #LIB_RECV_PAGE
    ldr w21, [x9], #4
    mov x11, x20
relay_copy:
    cbz x11, relay_copied
    ldrb w12, [x9], #1
    strb w12, [x10], #1
    sub x11, x11, #1
    b relay_copy
relay_copied:
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    REPORT
    mov x0, #HF_MAILBOX_SEND
    mov x1, x21
    mov x2, x20
    mov x3, #0
    hvc #0
    REPORT
    b relay_loop
relay_short:
    wfi
    b relay_short
