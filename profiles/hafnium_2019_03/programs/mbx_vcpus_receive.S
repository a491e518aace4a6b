// mbx_vcpus_receive -- several vCPUs of one VM (x0 = the vCPU index at entry, when several start
// ready) each block in a receive: the primary, not the hypervisor, picks which one gets a message
// (RUN-12). Each vCPU reports into its own area: LIB_REPORT + index * 32 slots (checks.vcpu_reports).
//
//   vCPU 0 only: configure(send, recv)        REPORT: x0 = 0 (CFG-5)
//   every vCPU, loop:
//     r = receive(block = 1)                  REPORT: x0 = r = sender | size << 32
//     clear                                   REPORT: x0 = clear result
_start:
    LIB_INIT
    lsl x10, x0, #13
    add sp, sp, x10
    cbnz x0, mvr_loop
    CONFIGURE
    REPORT
mvr_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    mov x0, #HF_MAILBOX_CLEAR
    hvc #0
    REPORT
    b mvr_loop
