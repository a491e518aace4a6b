// sender -- send COUNT messages of SIZE payload bytes to TO, then yield forever.
// param: TO  the receiver ID (header bits 15:0)
// param: SIZE = 8  payload size (bytes at TX + 20; at most 4076)
// param: FILL = 0x41  payload byte i is (FILL + i) & 0xff
// param: COUNT = 1  how many sends
//
//   FFA_SETUP: version, map, id (x28)         3 REPORTs
//   header 0, 0, 20, own<<16 | TO, SIZE; payload
//   COUNT times: FFA_MSG_SEND2                REPORT
//   FFA_YIELD forever
_start:
    FFA_SETUP
    ldr x19, =SIZE
    ldr x20, =FILL
    FILL_SEND x19, x20
    // the fill started at TX + 0: move it to TX + 20 (backwards, the ranges overlap)
    adr x9, _start
    add x9, x9, #LIB_SEND_PAGE
    mov x10, x19
sender_move:
    cbz x10, sender_moved
    sub x10, x10, #1
    ldrb w11, [x9, x10]
    add x12, x10, #HDR_SIZE_V1_1
    strb w11, [x9, x12]
    b sender_move
sender_moved:
    ldr x21, =TO
    orr w21, w21, w28, lsl #16
    HDR_WRITE_SIMPLE w21, w19
    ldr x23, =COUNT
sender_loop:
    cbz x23, sender_done
    CALL_MSG_SEND2
    REPORT
    sub x23, x23, #1
    b sender_loop
sender_done:
    YIELD_FOREVER
    .ltorg
    FAULT_VECTORS
