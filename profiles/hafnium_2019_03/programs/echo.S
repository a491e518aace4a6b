// echo -- spec section 11 "Echo" (Hafnium test mailbox.echo, service echo): return every message
// to its sender, clearing before the reply as Hafnium's service does.
// param: SELECT = 0  non-zero: first the hftest service selection (receive the name, clear, yield)
//
//   configure(send, recv)                     REPORT: x0 = 0 (CFG-5)
//   if SELECT:
//     receive(block = 1)                      REPORT: the service name's sender | size << 32
//     clear                                   REPORT
//     HF_VCPU_YIELD                           REPORT: 0 (the run before it answered YIELD 0x1)
//   loop:
//     r = receive(block = 1)                  REPORT: x0 = r = sender | size << 32
//     copy r >> 32 bytes recv -> send
//     clear                                   REPORT: x0 = clear result (0, CLR-3)
//     send(u32(r), r >> 32, notify = 0)       REPORT: x0 = send result (0 once resumed)
// So slot 0 is the configure (then 3 with SELECT), then three slots per message.
_start:
    LIB_INIT
    CONFIGURE
    REPORT
    ldr x0, =SELECT
    cbz x0, echo_loop
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    REPORT
    mov x0, #HF_VCPU_YIELD
    hvc #0
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
    REPORT
    mov x0, #HF_MAILBOX_SEND
    mov w1, w19
    mov x2, x20
    mov x3, #0
    hvc #0
    REPORT
    b echo_loop
