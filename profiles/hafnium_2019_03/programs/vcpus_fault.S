// vcpus_fault -- two vCPUs of one VM (x0 = the vCPU index at entry, when several start ready):
// vCPU 1 reports and yields; vCPU 0 faults on a load from ADDR (RUN-11: the whole VM aborts, so
// vCPU 1 never runs again). Each vCPU reports into its own area: LIB_REPORT + index * 32 slots.
// param: ADDR = 0  the address vCPU 0 loads from (default: outside every VM)
//
//   vCPU 0:  ldr x1, [ADDR]                    REPORT if it ever resumes, then wfi forever
//   vCPU 1:  id = VM_GET_ID                    REPORT: x0 = id
//     loop:  HF_VCPU_YIELD                     REPORT: x0 = result
//   other:   wfi forever
_start:
    LIB_INIT
    lsl x10, x0, #13
    add sp, sp, x10
    cbz x0, vcpus_fault_zero
    cmp x0, #1
    b.eq vcpus_fault_one
    WFI_FOREVER
vcpus_fault_zero:
    ldr x0, =ADDR
    ldr x1, [x0]
    REPORT
    WFI_FOREVER
vcpus_fault_one:
    mov x0, #HF_VM_GET_ID
    hvc #0
    REPORT
vcpus_fault_loop:
    mov x0, #HF_VCPU_YIELD
    hvc #0
    REPORT
    b vcpus_fault_loop
    .ltorg
