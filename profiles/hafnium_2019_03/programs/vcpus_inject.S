// vcpus_inject -- two vCPUs of one VM (x0 = the vCPU index at entry, when several start ready):
// vCPU 1 enables INTID and waits in wfi; vCPU 0 injects INTID into vCPU 1 of its own VM (RUN-10).
// Each vCPU reports into its own area: LIB_REPORT + index * 32 slots (checks.vcpu_reports).
// param: INTID = 5  the interrupt ID vCPU 1 enables and vCPU 0 injects
//
//   vCPU 0:  id = VM_GET_ID                    REPORT: x0 = id
//            INTERRUPT_INJECT(id, 1, INTID)    REPORT: x0 = result
//            wfi forever
//   vCPU 1:  INTERRUPT_ENABLE(INTID, 1)        REPORT: x0 = result
//            wfi                               REPORT (x0 as the wfi left it)
//            INTERRUPT_GET                     REPORT: x0 = intid
//            wfi forever
//   other:   wfi forever
_start:
    LIB_INIT
    lsl x10, x0, #13
    add sp, sp, x10
    cbz x0, vcpus_zero
    cmp x0, #1
    b.eq vcpus_one
    WFI_FOREVER
vcpus_zero:
    mov x0, #HF_VM_GET_ID
    hvc #0
    REPORT
    mov x1, x0
    mov x2, #1
    mov x3, #INTID
    mov x0, #HF_INTERRUPT_INJECT
    hvc #0
    REPORT
    WFI_FOREVER
vcpus_one:
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #INTID
    mov x2, #1
    hvc #0
    REPORT
    wfi
    REPORT
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    REPORT
    WFI_FOREVER
    .ltorg
