// sender -- send COUNT messages of SIZE bytes to TO, then block in wfi.
// param: TO  the destination VM ID (x1 of the send)
// param: SIZE  message size in bytes (x2 of the send; the fill is capped at 4096)
// param: FILL = 0x41  byte i of the send page is (FILL + i) & 0xff
// param: COUNT = 1  how many sends
//
//   configure(send, recv)                     (not reported)
//   fill SIZE bytes of the send page
//   COUNT times: send(TO, SIZE)               REPORT: x0 = send result
//   wfi forever
_start:
    LIB_INIT
    CONFIGURE
    ldr x19, =SIZE
    ldr x20, =FILL
    FILL_SEND x19, x20
    ldr x21, =COUNT
sender_loop:
    cbz x21, sender_done
    mov x0, #HF_MAILBOX_SEND
    ldr x1, =TO
    ldr x2, =SIZE
    hvc #0
    REPORT
    sub x21, x21, #1
    b sender_loop
sender_done:
    WFI_FOREVER
