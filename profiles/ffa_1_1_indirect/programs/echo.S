// echo -- return every message to its sender, the header's sender and receiver swapped.
// param: YIELD = 0  1: FFA_YIELD after each echo (as Hafnium's echo service does); 0: wait again
//
//   FFA_SETUP: version, map, id (x28)         3 REPORTs
//   loop:
//     FFA_MSG_WAIT                            REPORT (w0 = FFA_RUN_32 when a message is there)
//     FFA_NOTIFICATION_GET(own ID, 0xC)       REPORT (w7 bit 0: RX full, NOTIF-1)
//     read the RX header                      REPORT: x0..x4 = flags, reserved, offset,
//                                                     sender<<16 | receiver, size; x5, x6 = the
//                                                     payload's first 16 bytes (READ_RX_REPORT)
//     copy the payload (RX + offset, size) to TX + 20
//     FFA_RX_RELEASE                          REPORT
//     header: 0, 0, 20, receiver<<16 | sender (swapped), size
//     FFA_MSG_SEND2                           REPORT
//     [YIELD: FFA_YIELD                       REPORT]
// So slots 0..2 are the setup, then 5 (6 with YIELD) per message.
_start:
    FFA_SETUP
echo_loop:
    CALL_MSG_WAIT
    REPORT
    CALL_NOTIFICATION_GET w28
    REPORT
    READ_RX_REPORT
    mov w20, w2
    mov w21, w3
    mov w22, w4
    mov x23, #HDR_SIZE_V1_1
    COPY_RX_TO_TX x20, x23, x22
    CALL_RX_RELEASE
    REPORT
    ror w21, w21, #16
    HDR_WRITE_SIMPLE w21, w22
    CALL_MSG_SEND2
    REPORT
    ldr x9, =YIELD
    cbz x9, echo_loop
    CALL_YIELD
    REPORT
    b echo_loop
    .ltorg
    FAULT_VECTORS
