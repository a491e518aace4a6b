// echo_with_notification -- Hafnium's service of that name (tests mailbox.primary_to_secondary,
// secondary_to_primary_notification): echo with notify = 1, and when the sender's mailbox is
// busy, wait for HF_MAILBOX_WRITABLE_INTID and HF_MAILBOX_WRITABLE_GET naming the sender.
//
//   configure(send, recv)                     REPORT: x0 = 0 (CFG-5)
//   interrupt_enable(WRITABLE_INTID 2, 1)     REPORT: x0 = 0
//   loop:
//     r = receive(block = 1)                  REPORT: r = sender | size << 32
//     copy r >> 32 bytes recv -> send
//   try:
//     s = send(u32(r), r >> 32, notify = 1)   REPORT: s
//     if s == 0: goto done
//   wait:
//     w = writable_get()                      REPORT: w
//     if w == u32(r): goto try
//     if w == -1: wfi; interrupt_get()        REPORT: the intid (after the wfi returns)
//     goto wait
//   done:
//     clear                                   REPORT: clear result
//     goto loop
_start:
    LIB_INIT
    CONFIGURE
    REPORT
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #HF_MAILBOX_WRITABLE_INTID
    mov x2, #1
    hvc #0
    REPORT
ewn_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    mov x19, x0
    lsr x20, x19, #32
    COPY_RECV_TO_SEND x20
ewn_try:
    mov x0, #HF_MAILBOX_SEND
    mov w1, w19
    mov x2, x20
    mov x3, #1
    hvc #0
    REPORT
    cbz x0, ewn_done
ewn_wait:
    mov x0, #HF_MAILBOX_WRITABLE_GET
    hvc #0
    REPORT
    mov w1, w19
    cmp x0, x1
    b.eq ewn_try
    cmn x0, #1
    b.ne ewn_wait
    wfi
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    REPORT
    b ewn_wait
ewn_done:
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    REPORT
    b ewn_loop
