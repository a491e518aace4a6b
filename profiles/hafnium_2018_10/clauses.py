"""The clause registry: every clause of the ``hafnium-2018-10`` profile, as data.

Transcribed from ``shared/spec/hafnium-mailbox-abi.md`` (the oracle); ``tests/test_clause_registry.py``
checks this table against that file (``spec.md`` here), and the suite's self-test fails if a clause
has no test or a test names a clause that is not here. ``source`` is where the spec read the fact in Hafnium at
commit aa039b39158c5e945a8c9c3b1eeff1b84ad79080.

``impl_defined`` names the part of a clause the spec leaves to the implementation: a test that
checks that part is reported apart from the MUST results and never fails a build.
"""

from __future__ import annotations

from profiles import Clause

SECTIONS = {
    1: "Calling convention",
    2: "Hypercall numbers",
    3: "VMs, vCPUs and memory",
    4: "Running vCPUs",
    5: "Configuring the mailbox pages",
    6: "Sending",
    7: "Receiving",
    8: "Clearing",
    10: "Faults (implementation-defined)",
}


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "CALL-1",
        1,
        "A hypercall is an `hvc` instruction executed by a guest at EL1 in AArch64 state. x0 = function ID, x1..x3 = arguments. The 64-bit result is returned in x0.",
        "src/arch/aarch64/vm/hf_call.S, exceptions.S",
    ),
    Clause(
        "CALL-2",
        1,
        "The `hvc` immediate is ignored: `hvc #0` and `hvc #0x1234` behave the same.",
        "exceptions.S: only ESR_EL2.EC = 0x16 is checked",
    ),
    Clause(
        "CALL-3",
        1,
        "Function IDs are matched on u32(x0) with bit 30 cleared: `0x4000ff04` and `0xFFFFFFFF0000ff04` both mean HF_MAILBOX_SEND.",
        "handler.c: (uint32_t)arg0 & ~PSCI_CONVENTION_MASK, mask = 1<<30",
    ),
    Clause("CALL-4", 1, "An unknown function ID returns -1 and changes no state.", "inc/vmapi/hf/call.h"),
    Clause(
        "CALL-5",
        1,
        'When an `hvc` hypercall returns to its caller — straight away, or later after the caller was switched out and resumed — x1..x17 are zero. x18..x30, SP and the rest of the guest state are preserved. *(exceptions.S: "Zero out all volatile registers (except x0)")*',
        "inc/vmapi/hf/call.h",
    ),
    Clause(
        "CALL-6",
        1,
        "PSCI function IDs (0x84000000 range, bit 30 ignored) are handled as PSCI only when the caller is the primary: PSCI_VERSION (0x84000000) returns 2, PSCI_MIGRATE_INFO_TYPE (0x84000006) returns 2, PSCI_SYSTEM_OFF (0x84000008) ends the run. From a secondary they are unknown IDs and return -1 (CALL-4). PSCI_CPU_ON/CPU_OFF/AFFINITY_INFO concern several physical CPUs and are optional for a single-CPU model.",
        "handler.c psci_handler",
        impl_defined="PSCI calls other than VERSION, MIGRATE_INFO_TYPE and SYSTEM_OFF",
    ),
    Clause(
        "CALL-7",
        1,
        "An `smc` from a secondary (or a non-PSCI `smc` from the primary) returns -1 in x0 and execution continues after the `smc`. An `smc` (PSCI or not) is not a hypercall: only x0 changes; x1..x17 and every other register keep their values (they are **not** zeroed as in CALL-5).",
        "handler.c sync_lower_exception; confirmed on a real build of this commit under QEMU",
    ),
    Clause("ID-1", 2, "HF_VCPU_RUN is function ID 0xff00 (x1: vm_id, x2: vcpu_idx)", "inc/vmapi/hf/call.h"),
    Clause("ID-2", 2, "HF_VM_GET_COUNT is function ID 0xff01 (x1: -, x2: -)", "inc/vmapi/hf/call.h"),
    Clause("ID-3", 2, "HF_VCPU_GET_COUNT is function ID 0xff02 (x1: vm_id, x2: -)", "inc/vmapi/hf/call.h"),
    Clause(
        "ID-4", 2, "HF_VM_CONFIGURE is function ID 0xff03 (x1: send page address, x2: recv page address)", "inc/vmapi/hf/call.h"
    ),
    Clause("ID-5", 2, "HF_MAILBOX_SEND is function ID 0xff04 (x1: destination vm_id, x2: size)", "inc/vmapi/hf/call.h"),
    Clause("ID-6", 2, "HF_MAILBOX_RECEIVE is function ID 0xff05 (x1: block, x2: -)", "inc/vmapi/hf/call.h"),
    Clause("ID-7", 2, "HF_MAILBOX_CLEAR is function ID 0xff06 (x1: -, x2: -)", "inc/vmapi/hf/call.h"),
    Clause("VM-1", 3, "VM IDs are 0 for the primary and 1..N for the secondaries, in load order.", "src/api.c"),
    Clause(
        "VM-2",
        3,
        "HF_VM_GET_COUNT returns N + 1 (the primary is counted), to any caller.",
        'the comment in call.h that says "secondary VMs" is wrong; Hafnium\'s own test expects 1 with no secondaries',
    ),
    Clause(
        "VM-3",
        3,
        "HF_VCPU_GET_COUNT(vm) returns that VM's vCPU count when the caller is the primary and the VM exists; -1 when the caller is a secondary or the VM does not exist (e.g. 0xffffffff). The primary's own count is implementation-defined and ≥ 1 (8 in Hafnium's default build).",
        "src/api.c",
        impl_defined="the primary's own vCPU count (>= 1)",
    ),
    Clause(
        "VM-4",
        3,
        "At boot, vCPU 0 of every VM is ready at the VM's entry point; every other vCPU is off. The primary's vCPU 0 runs first.",
        "src/api.c",
    ),
    Clause(
        "VM-5",
        3,
        "Each VM's memory is mapped identity (address the VM uses = physical address) and VMs' memories do not overlap. A VM cannot read or write another VM's memory; the only path between VMs is the mailbox copy.",
        "src/api.c",
        impl_defined="memory sizes and addresses of VMs",
    ),
    Clause(
        "RUN-1", 4, "Only the primary may run vCPUs. A secondary calling HF_VCPU_RUN gets 0x1 and keeps running.", "src/api.c"
    ),
    Clause(
        "RUN-2",
        4,
        "HF_VCPU_RUN returns 0x1 (no switch, no state change) when vm_id is 0, when the VM does not exist, when vcpu_idx ≥ the VM's vCPU count, or when the vCPU is not ready (off, blocked, or already running).",
        "src/api.c",
    ),
    Clause(
        "RUN-3",
        4,
        "Otherwise the vCPU becomes running and runs until one of the events below; then the primary resumes after its `hvc` with x0 = the run response. (The primary vCPU that resumes is the one whose index is the physical CPU's; with one physical CPU, vCPU 0.)",
        "src/api.c",
    ),
    Clause(
        "RUN-4",
        4,
        "Preemption by a physical interrupt (a time slice expiring) → YIELD `0x0`; the vCPU stays ready and resumes where it was on its next run.",
        "src/api.c",
        impl_defined="the length of a time slice",
    ),
    Clause(
        "RUN-5",
        4,
        "`wfi` in the secondary → `0x1`; the vCPU is blocked and, in this profile, nothing ever makes it ready again: later runs of it return 0x1. `wfe` is a no-op: execution continues with no switch.",
        "src/api.c",
    ),
    Clause("RUN-6", 4, "A blocking HF_MAILBOX_RECEIVE with nothing to receive (RECV-4) → `0x1`.", "src/api.c"),
    Clause(
        "RUN-7",
        4,
        "A successful HF_MAILBOX_SEND from the secondary to the primary → MESSAGE `0x3 \\| size << 32`. The vm_id field is 0: the sender is **not** named.",
        "src/api.c",
    ),
    Clause(
        "RUN-8",
        4,
        "A successful HF_MAILBOX_SEND from the secondary to another secondary `to` → WAKE_UP `0x2 \\| to << 16 \\| vcpu << 32`, where vcpu is the index of the vCPU woken by SEND-10 or 0xffff when none was waiting (SEND-11).",
        "src/api.c",
    ),
    Clause(
        "RUN-9",
        4,
        "In cases RUN-7 and RUN-8 the sending vCPU stays ready; its own HF_MAILBOX_SEND returns 0 when it is next run.",
        "src/api.c",
    ),
    Clause("CFG-1", 5, "Both addresses must be 4 KiB aligned (checked before CFG-2).", "src/api.c"),
    Clause(
        "CFG-2",
        5,
        "Only the first successful configure counts: once a VM has configured, every later call returns -1.",
        "src/api.c",
    ),
    Clause(
        "CFG-3",
        5,
        "Both pages must be mapped in the caller's own memory (a VM cannot name another VM's memory, nor unmapped space).",
        "src/api.c",
    ),
    Clause("CFG-4", 5, "The send page and the recv page must be different pages.", "src/api.c"),
    Clause("CFG-5", 5, "On success it returns 0. The VM keeps full access to both pages.", "src/api.c"),
    Clause(
        "SEND-1",
        6,
        "HF_MAILBOX_SEND returns -1, with no state change and no switch, when size > 4096 (size is all 64 bits of x2; size 0 is a valid, empty message).",
        "src/api.c",
    ),
    Clause(
        "SEND-2",
        6,
        "HF_MAILBOX_SEND returns -1, with no state change and no switch, when to == the caller's own ID.",
        "src/api.c",
    ),
    Clause(
        "SEND-3", 6, "HF_MAILBOX_SEND returns -1, with no state change and no switch, when no VM has ID u32(to).", "src/api.c"
    ),
    Clause(
        "SEND-4",
        6,
        "HF_MAILBOX_SEND returns -1, with no state change and no switch, when the caller has not configured its pages.",
        "src/api.c",
    ),
    Clause(
        "SEND-5",
        6,
        "HF_MAILBOX_SEND returns -1, with no state change and no switch, when the receiver has not configured its pages.",
        "src/api.c",
    ),
    Clause(
        "SEND-6",
        6,
        'HF_MAILBOX_SEND returns -1, with no state change and no switch, when the receiver\'s mailbox is not empty (it holds a message, read or unread, that has not been cleared). There is no separate "busy" code.',
        "src/api.c",
    ),
    Clause(
        "SEND-7",
        6,
        "Exactly `size` bytes are copied, taken from the send page at the time of the call; bytes of the recv page beyond `size` keep their old contents. The receiver's mailbox records the sender's ID and the size.",
        "src/api.c",
    ),
    Clause(
        "SEND-8",
        6,
        "To the primary: the primary's mailbox becomes *read*; the sending secondary is switched out and the primary's run returns MESSAGE (RUN-7).",
        "src/api.c",
    ),
    Clause(
        "SEND-9",
        6,
        "To a secondary with a vCPU blocked in a receive: that vCPU is woken — if several are blocked, the one that blocked **most recently** (the waiters are a LIFO stack; observable only where more than one vCPU of a VM can run, which this profile's boot does not do) — it becomes ready and its receive will return `sender \\| size << 32`; the mailbox becomes *read*.",
        "src/api.c",
    ),
    Clause("SEND-10", 6, "To a secondary with no vCPU waiting: the mailbox becomes *received* (unread).", "src/api.c"),
    Clause(
        "SEND-11",
        6,
        "The primary, as sender, gets the woken vCPU's index (SEND-9) or 0xffff (SEND-10) and keeps running.",
        "src/api.c",
    ),
    Clause("SEND-12", 6, "A secondary, as sender, gets 0 and is switched out to the primary (RUN-8).", "src/api.c"),
    Clause(
        "RECV-1",
        7,
        "The primary may not receive: it always gets -1 (blocking or not). It learns of its messages from HF_VCPU_RUN (RUN-7).",
        "src/api.c",
    ),
    Clause(
        "RECV-2",
        7,
        "If the mailbox holds an unread message (*received*), it becomes *read* and the call returns the sender and size, blocking or not.",
        "src/api.c",
    ),
    Clause("RECV-3", 7, "Otherwise (mailbox *empty* or *read*) a non-blocking receive (x1 == 0) returns -1.", "src/api.c"),
    Clause(
        "RECV-4",
        7,
        "Otherwise a blocking receive (x1 ≠ 0) blocks the vCPU and returns to the primary (RUN-6). When a message arrives (SEND-9), the vCPU becomes ready and, when next run, resumes after its `hvc` with x0 = `sender \\| size << 32` and x1..x17 zero.",
        "src/api.c",
    ),
    Clause(
        "RECV-5",
        7,
        "Blocking while the mailbox is *read* is allowed; no message can arrive until some vCPU of the VM clears it.",
        "src/api.c",
    ),
    Clause(
        "RECV-6",
        7,
        "The message data is in the receiver's recv page; the receiver learns the sender's ID from the return value (source-VM reporting) and can reply with its own send.",
        "src/api.c",
    ),
    Clause("CLR-1", 8, "HF_MAILBOX_CLEAR on a *read* mailbox makes it *empty* and returns 0.", "src/api.c"),
    Clause("CLR-2", 8, "On an *empty* mailbox it returns -1 (clearing is not idempotent in this profile).", "src/api.c"),
    Clause("CLR-3", 8, "On a *received* (unread) mailbox it returns -1 and the message stays unread.", "src/api.c"),
    Clause(
        "CLR-4",
        8,
        "Clearing does not change the recv page's contents and notifies nobody. The primary and the secondaries may all clear; for the primary it is the only way to accept another message.",
        "src/api.c",
    ),
)

#: Faults are implementation-defined (§10) and have no clause ID in the spec; tests of them
#: use this pseudo-clause, reported with the implementation-defined results.
FAULTS = Clause(
    "FAULT",
    10,
    "A fault in one VM never corrupts another VM or the hypervisor; a conforming model may stop the run "
    "and report it (VM, vCPU, PC, faulting address).",
    "spec §10",
    impl_defined="what the primary observes after a guest fault",
)

#: The clauses every other test relies on for its calls to mean what they say, by layer: the
#: result in x0 (layer 0: CALL-1), how a call is identified (layer 1: the immediate, the ignored
#: bits, unknown IDs, the function numbers), then which VM is which (layer 2: VM-1, learnt
#: through those calls). When one of them fails in a test of its own (its first-named clause), the
#: failures of clauses of a higher layer (every other clause is above all three) are not judged:
#: they are BLOCKED by it, so the report names the one thing to fix first (docs/reports.md).
#: Every clause that is not a foundation is in the layer above them (3).
FOUNDATIONS: dict[str, int] = {
    "CALL-1": 0,  # every result is read from x0, all 64 bits of it
    **{cid: 1 for cid in ("CALL-2", "CALL-3", "CALL-4", *(f"ID-{n}" for n in range(1, 8)))},
    "VM-1": 2,
}
