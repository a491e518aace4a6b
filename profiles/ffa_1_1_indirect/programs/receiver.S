// receiver -- wait for messages and report every step (the secondary side of a test).
// param: RELEASE = 1  1: FFA_RX_RELEASE after reading; 0: wait again without releasing (WAIT-2)
// param: NOTIFY = 1  1: FFA_NOTIFICATION_GET before reading; 0: skip it (REL-4)
//
//   FFA_SETUP: version, map, id (x28)         3 REPORTs
//   loop:
//     FFA_MSG_WAIT                            REPORT
//     [NOTIFY: FFA_NOTIFICATION_GET(own, 0xC) REPORT]
//     read the RX header and payload          REPORT: x0..x4 = flags, reserved, offset,
//                                                     sender<<16 | receiver, size; x5, x6 =
//                                                     the u64s at RX + offset, + offset + 8
//                                                     (0 when beyond the page)
//     [RELEASE: FFA_RX_RELEASE                REPORT]
_start:
    FFA_SETUP
receiver_loop:
    CALL_MSG_WAIT
    REPORT
    ldr x9, =NOTIFY
    cbz x9, receiver_read
    CALL_NOTIFICATION_GET w28
    REPORT
receiver_read:
    READ_RX_REPORT
    ldr x9, =RELEASE
    cbz x9, receiver_loop
    CALL_RX_RELEASE
    REPORT
    b receiver_loop
    .ltorg
    FAULT_VECTORS
