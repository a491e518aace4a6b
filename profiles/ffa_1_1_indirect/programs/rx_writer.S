// rx_writer -- MAP-5: store to its own (mapped) RX buffer.
// param: VALUE = 0x5A  the byte stored at RX + OFFSET
// param: OFFSET = 0  where in the RX page
//
//   FFA_SETUP: version, map, id (x28)         3 REPORTs
//   strb VALUE -> RX + OFFSET                 (a fault injected into the VM: REPORT x0 =
//                                              FAULT_MARKER, x1 = ESR_EL1, x2 = FAR_EL1,
//                                              x3 = ELR_EL1, then on after the store)
//   ldrb back                                 REPORT: x0 = 0x5702E (store done), x1 = the byte read
//   FFA_YIELD forever
_start:
    FFA_SETUP
    adr x20, _start
    add x20, x20, #LIB_RECV_PAGE
    ldr x21, =OFFSET
    add x20, x20, x21
    ldr x22, =VALUE
rx_writer_store:
    strb w22, [x20]
    ldrb w1, [x20]
    ldr x0, =0x5702E
    REPORT
    YIELD_FOREVER
    .ltorg
    FAULT_VECTORS
