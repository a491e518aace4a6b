// relay -- forward every message along a chain of IDs in its payload (as Hafnium's relay service):
// the payload's first u16 (little-endian) is the next hop; the relay replaces it with the ID of
// the partition it got the message from and sends the whole payload to the next hop.
//
//   FFA_SETUP: version, map, id (x28)         3 REPORTs
//   loop:
//     FFA_MSG_WAIT                            REPORT
//     FFA_NOTIFICATION_GET(own ID, 0xC)       REPORT
//     read the RX header                      REPORT: x0..x4 = flags, reserved, offset,
//                                                     sender<<16 | receiver, size; x5, x6 = the
//                                                     payload's first 16 bytes (READ_RX_REPORT)
//     copy the payload to TX + 20; its u16 @20 := the message's sender
//     FFA_RX_RELEASE                          REPORT
//     header: 0, 0, 20, own<<16 | next hop, size
//     FFA_MSG_SEND2                           REPORT
// So slots 0..2 are the setup, then 5 per message.
_start:
    FFA_SETUP
relay_loop:
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
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
    ldrh w24, [x9, #HDR_SIZE_V1_1]
    lsr w10, w21, #16
    strh w10, [x9, #HDR_SIZE_V1_1]
    CALL_RX_RELEASE
    REPORT
    orr w21, w24, w28, lsl #16
    HDR_WRITE_SIMPLE w21, w22
    CALL_MSG_SEND2
    REPORT
    b relay_loop
    .ltorg
    FAULT_VECTORS
