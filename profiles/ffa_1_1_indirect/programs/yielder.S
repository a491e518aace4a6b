// yielder -- FFA_YIELD forever, reporting each result (RUN-2: SUCCESS when run again).
// param: SETUP = 1  1: FFA_SETUP first (version, map, id: 3 REPORTs); 0: yield at once
//
//   loop: FFA_YIELD                           REPORT
_start:
    LIB_INIT
    ldr x9, =SETUP
    cbz x9, yielder_loop
    FFA_SETUP
yielder_loop:
    CALL_YIELD
    REPORT
    b yielder_loop
    .ltorg
    FAULT_VECTORS
