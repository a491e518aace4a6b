// vcpus_receive -- several vCPUs of one VM block in receive (x0 = the vCPU index at entry, when
// several start ready): vCPU 0 configures first. The primary, not the hypervisor, picks which
// blocked vCPU gets a message (RUN-12). Each vCPU reports into its own area: LIB_REPORT +
// index * 32 slots (checks.vcpu_reports).
//
//   vCPU 0:  configure(send, recv)             REPORT: x0 = result
//   every vCPU:
//     loop:  r = receive(block = 1)            REPORT: x0 = r
//            wfi                               REPORT (if it ever resumes)
_start:
    LIB_INIT
    lsl x10, x0, #13
    add sp, sp, x10
    cbnz x0, vcpus_receive_loop
    CONFIGURE
    REPORT
vcpus_receive_loop:
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0
    REPORT
    wfi
    REPORT
    b vcpus_receive_loop
