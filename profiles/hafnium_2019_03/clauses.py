"""The clause registry: every clause of the ``hafnium-2019-03`` profile, as data.

Transcribed from ``shared/spec/hafnium-2019-03.md`` (the oracle, vendored here as ``spec.md``), in
the text's order; ``tests/test_clause_registry.py`` checks the IDs against that file, and
``tests/test_profile_2019_03.py`` every rule and source against its table cells. ``source`` is the
row's Source column: where the text read the fact in Hafnium at commit
53d9d04f2df4c6510dae3428369c76829f8c942f (``api.c`` = src/api.c, ``call.h`` =
inc/vmapi/hf/call.h, ``abi.h`` = inc/vmapi/hf/abi.h, ``types.h`` = inc/vmapi/hf/types.h,
``handler.c`` = src/arch/aarch64/handler.c, ``exc.S`` = src/arch/aarch64/exceptions.S).

``rule`` is the row's Rule cell as written (markdown included). Where the cell is a fragment whose
subject is the section's lead-in, the call it is about is put in front: ``HF_VCPU_RUN: `` (RUN-1,
RUN-2), ``HF_VM_CONFIGURE: `` (§5), ``HF_MAILBOX_SEND, checks in order, each → -1, no switch: ``
(SEND-1..SEND-5, the lead-in's own words) or ``HF_MAILBOX_SEND: `` (SEND-6..SEND-8),
``HF_MAILBOX_RECEIVE: `` (§7), ``HF_MAILBOX_CLEAR: `` (§8). A §2 row (ID-n) reads
``<name> is function ID <value> (x1: .., x2: .., x3: ..)``, its source the paragraph under the table.

``impl_defined`` names the part of a clause the text's "Strength" paragraph leaves to the
implementation: a test that checks that part is reported apart from the MUST results and never
fails a build. The paragraph's "memory sizes and addresses of VMs" has no clause to attach to: this
text has no memory-isolation row (the first profile's VM-5).

There is no FAULT pseudo-clause: in this profile a guest fault is not implementation-defined but
the MUST of RUN-11 (ABORTED ``0x7``, the VM never runs again).
"""

from __future__ import annotations

from profiles import Clause

#: The titles of the text's sections that hold clauses (§10 "Deltas ..." is informative, §11 the
#: worked examples; neither has a clause).
SECTIONS = {
    1: "Calling convention",
    2: "Function IDs",
    3: "VMs",
    4: "Running",
    5: "Configure",
    6: "Send",
    7: "Receive",
    8: "Clear",
    9: "Writability notification",
}


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "CALL-1",
        1,
        "A hypercall is `hvc` from EL1 (AArch64). x0 = function ID, x1..x3 = arguments, result in x0 (`int64_t hf_call(size_t, size_t, size_t, size_t)`).",
        "call.h; src/arch/aarch64/hftest/hf_call.S",
    ),
    Clause(
        "CALL-2",
        1,
        "The `hvc` immediate is ignored: only ESR_EL2.EC = 0x16 selects the fast path.",
        "exc.S `lower_sync_exception`",
    ),
    Clause(
        "CALL-3",
        1,
        "The ID is matched on `(uint32_t)x0 & ~0x40000000`: bit 30 and bits 63..32 are ignored. *(probe: 0x4000ff00 and 0xFFFFFFFF0000ff00 both return VM_GET_ID's 0)*",
        "handler.c `hvc_handler`; src/arch/aarch64/psci.h `SMCCC_CONVENTION_MASK 0x40000000`",
    ),
    Clause("CALL-4", 1, "Unknown ID → -1, no state change. *(probe: 0xff0f → -1)*", "handler.c `default: ret.user_ret = -1`"),
    Clause(
        "CALL-5",
        1,
        "On return from an `hvc` (directly or after being switched out and resumed) x1..x17 are 0; x18..x30, SP preserved.",
        'exc.S ("Zero out all volatile registers (except x0)", "Store zeroes in volatile register storage, except x0")',
    ),
    Clause(
        "CALL-6",
        1,
        'PSCI IDs are handled first, **only for the primary** (hvc or smc): PSCI_VERSION → 0x10001 (PSCI 1.1), SYSTEM_OFF powers off; other PSCI behaviour is implementation-defined. "PSCI IDs" are the function IDs the PSCI 1.1 specification defines (PSCI_VERSION 0x84000000 … MEM_PROTECT_CHECK_RANGE 0x84000014, bit 30 ignored); any other ID, including other 0x840000xx values, is not PSCI and is handled as a hypercall ID. From a secondary a PSCI ID via `hvc` is an unknown ID (-1).',
        "handler.c `psci_handler`, `hvc_handler`",
        impl_defined="PSCI behaviour other than PSCI_VERSION and SYSTEM_OFF",
    ),
    Clause(
        "CALL-7",
        1,
        "`smc` from a secondary, or a non-PSCI `smc` from the primary: x0 = -1 (PSCI_RETURN_NOT_SUPPORTED = SMCCC_RETURN_UNKNOWN, src/arch/aarch64/psci.h), PC advances past the `smc`, no other register changes.",
        "handler.c `sync_lower_exception` case 0x17",
    ),
    Clause("ID-1", 2, "HF_VM_GET_ID is function ID 0xff00 (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause("ID-2", 2, "HF_VM_GET_COUNT is function ID 0xff01 (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause("ID-3", 2, "HF_VCPU_GET_COUNT is function ID 0xff02 (x1: vm_id, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause("ID-4", 2, "HF_VCPU_RUN is function ID 0xff03 (x1: vm_id, x2: vcpu_idx, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause("ID-5", 2, "HF_VCPU_YIELD is function ID 0xff04 (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause(
        "ID-6", 2, "HF_VM_CONFIGURE is function ID 0xff05 (x1: send IPA, x2: recv IPA, x3: -)", "call.h; handler.c `hvc_handler`"
    ),
    Clause(
        "ID-7",
        2,
        "HF_MAILBOX_SEND is function ID 0xff06 (x1: vm_id, x2: size, x3: notify (≠0 = true))",
        "call.h; handler.c `hvc_handler`",
    ),
    Clause(
        "ID-8",
        2,
        "HF_MAILBOX_RECEIVE is function ID 0xff07 (x1: block (≠0 = true), x2: -, x3: -)",
        "call.h; handler.c `hvc_handler`",
    ),
    Clause("ID-9", 2, "HF_MAILBOX_CLEAR is function ID 0xff08 (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause("ID-10", 2, "HF_MAILBOX_WRITABLE_GET is function ID 0xff09 (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause(
        "ID-11", 2, "HF_MAILBOX_WAITER_GET is function ID 0xff0a (x1: vm_id, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"
    ),
    Clause(
        "ID-12", 2, "HF_INTERRUPT_ENABLE is function ID 0xff0b (x1: intid, x2: enable, x3: -)", "call.h; handler.c `hvc_handler`"
    ),
    Clause("ID-13", 2, "HF_INTERRUPT_GET is function ID 0xff0c (x1: -, x2: -, x3: -)", "call.h; handler.c `hvc_handler`"),
    Clause(
        "ID-14",
        2,
        "HF_INTERRUPT_INJECT is function ID 0xff0d (x1: vm_id, x2: vcpu_idx, x3: intid)",
        "call.h; handler.c `hvc_handler`",
    ),
    Clause(
        "VM-1",
        3,
        "Primary = 0, secondaries 1..N in load order; at boot vCPU 0 of each VM is started.",
        "types.h; src/load.c `vm_secondary_start_vcpu(vm, 0, …)`",
    ),
    Clause("VM-2", 3, "VM_GET_ID returns the caller's VM ID.", "api.c `api_vm_get_id`; test hf_vm_get_id.primary_has_primary_id"),
    Clause(
        "VM-3",
        3,
        "VM_GET_COUNT returns N+1. *(probe: 3 with 2 secondaries)*",
        "api.c `api_vm_get_count`; tests hf_vm_get_count.*",
    ),
    Clause(
        "VM-4",
        3,
        "VCPU_GET_COUNT: -1 if the caller is not the primary or the VM does not exist; else the vCPU count.",
        "api.c `api_vcpu_get_count`; tests hf_vcpu_get_count.*",
        impl_defined="the primary's own vCPU count",
    ),
    Clause(
        "RUN-1",
        4,
        "HF_VCPU_RUN: Refusals return `WAIT_FOR_INTERRUPT, ns=INDEF` = **0xFFFFFFFFFFFFFF02**: caller not primary; vm_id 0; no such VM; vcpu_idx ≥ count; target `off`, `running` or `aborted`; VM aborting.",
        "api.c `api_vcpu_run` default `ret`, `api_vcpu_prepare_run`",
    ),
    Clause(
        "RUN-2",
        4,
        "HF_VCPU_RUN: Running a `blocked_mailbox` or `blocked_interrupt` vCPU that has no enabled+pending interrupt, no expired timer and (for blocked_mailbox) no `received` message also refuses: 0xFFFFFFFFFFFFFF02 if its timer is not enabled — **even for a vCPU blocked in receive** *(probe: re-run of a receive-blocked vCPU → 0xFFFFFFFFFFFFFF02)*; if its timer is enabled, code WAIT_FOR_MESSAGE (blocked_mailbox) or WAIT_FOR_INTERRUPT (blocked_interrupt) with ns = remaining time.",
        "api.c `api_vcpu_prepare_run`",
        impl_defined="the ns value of WAIT_FOR_MESSAGE / WAIT_FOR_INTERRUPT when the vCPU's timer is enabled (only ≠ HF_SLEEP_INDEFINITE is a MUST)",
    ),
    Clause(
        "RUN-3",
        4,
        "Otherwise the vCPU runs until one of RUN-4..RUN-10; the primary then resumes with x0 = the code below.",
        "api.c `api_switch_to_primary`",
    ),
    Clause(
        "RUN-4",
        4,
        "Physical interrupt → PREEMPTED `0x0`; the vCPU stays ready.",
        "handler.c `irq_lower` → api.c `api_preempt`",
        impl_defined="the length of a time slice (only that preemption is reported as PREEMPTED is a MUST)",
    ),
    Clause(
        "RUN-5",
        4,
        "`wfi` → WAIT_FOR_INTERRUPT, ns = remaining virtual-timer time if the vCPU's timer is enabled, else INDEF. The vCPU is `blocked_interrupt`.",
        "handler.c `sync_lower_exception`; api.c `api_switch_to_primary`",
        impl_defined="the ns value when the vCPU's timer is enabled (only ≠ HF_SLEEP_INDEFINITE is a MUST)",
    ),
    Clause(
        "RUN-6",
        4,
        "`wfe` or HF_VCPU_YIELD from a secondary → YIELD `0x1`; vCPU stays ready; HF_VCPU_YIELD returns 0 to it. From the primary HF_VCPU_YIELD is a no-op returning 0. *(probe: YIELD = 0x1)*",
        "handler.c; api.c `api_yield`; test hf_vcpu_yield.yield_is_noop_for_primary; HFTEST_SERVICE_SELECT expects YIELD",
    ),
    Clause(
        "RUN-7",
        4,
        "Blocking receive that blocks (RECV-4) → WAIT_FOR_MESSAGE, ns as RUN-5 *(probe: 0xFFFFFFFFFFFFFF03)*.",
        "api.c `api_mailbox_receive`; tests mailbox.echo, relay (`sleep.ns == HF_SLEEP_INDEFINITE`)",
        impl_defined="the ns value when the vCPU's timer is enabled (only ≠ HF_SLEEP_INDEFINITE is a MUST)",
    ),
    Clause(
        "RUN-8",
        4,
        "Successful send from a secondary → MESSAGE; `vm_id` = recipient; `size` = message size **only if the recipient is the primary**, else 0. *(probe: to primary 3 bytes → 0x0000000300000005; secondary 1 → secondary 2 → 0x20005)*",
        "api.c `api_mailbox_send`; test mailbox.relay (`message.vm_id == SERVICE_VM1`, `message.size == 0`)",
    ),
    Clause(
        "RUN-9",
        4,
        "A secondary whose CONFIGURE succeeds, or whose CLEAR empties a *read* mailbox (CLR-3), while its mailbox has waiters → NOTIFY_WAITERS `0x6`; the secondary's own call returns 0. Clearing an already *empty* mailbox (CLR-1) notifies nobody, waiters or not.",
        "api.c `api_waiter_result`; tests mailbox.secondary_to_primary_notification{,_on_configure}",
    ),
    Clause(
        "RUN-10",
        4,
        "A secondary injecting an interrupt into *another* vCPU of its own VM, making it newly enabled+pending → WAKE_UP `4 \\| vcpu<<16 \\| vm<<32`; the injector stays ready. Observable only where a second vCPU of a secondary can run and enable the interrupt, which this profile's boot never allows (VM-1: only vCPU 0 starts, and no call starts another); a build may offer a way to start more vCPUs (declared as a capability) to have it tested.",
        "api.c `internal_interrupt_inject`",
    ),
    Clause(
        "RUN-11",
        4,
        "An unhandled exception (data/instruction abort on unmapped memory, unknown trap, SError) → ABORTED `0x7`; the VM is marked aborting; its vCPUs never run again (RUN-1).",
        "handler.c `sync_lower_exception`, `serr_lower`; api.c `api_abort`; tests abort.*",
    ),
    Clause(
        "RUN-12",
        4,
        "When the primary runs a `blocked_mailbox` vCPU while the VM's mailbox is `received`, the message is delivered (this takes precedence over RUN-13 when both hold): that vCPU's receive returns `sender \\| size<<32` and the mailbox becomes `read`. The hypervisor itself never chooses a vCPU.",
        "api.c `api_vcpu_prepare_run`",
    ),
    Clause(
        "RUN-13",
        4,
        "A blocked vCPU with an enabled+pending interrupt or an expired timer is runnable; if it was blocked in receive its receive returns `0x00000000FFFFFFFF` (the value stored when it blocked).",
        "api.c `api_vcpu_prepare_run`; exc.S switch path stores x0",
    ),
    Clause(
        "CFG-1",
        5,
        "HF_VM_CONFIGURE: Both IPAs must be 4 KiB aligned, and must differ; else -1 (checked before CFG-2).",
        "api.c `api_vm_configure`; tests hf_vm_configure.fails_with_unaligned_pointer, fails_with_same_page",
    ),
    Clause(
        "CFG-2",
        5,
        "HF_VM_CONFIGURE: Only once per VM: a later call → -1.",
        "api.c; test hf_vm_configure.fails_if_already_succeeded",
    ),
    Clause(
        "CFG-3",
        5,
        "HF_VM_CONFIGURE: The send page must be valid, owned, exclusive, R and W in the caller's stage 2; the recv page valid, owned, exclusive, R; else -1.",
        "api.c `api_mode_valid_owned_and_exclusive`",
    ),
    Clause(
        "CFG-4",
        5,
        "HF_VM_CONFIGURE: On success both pages become unowned+shared; the send page stays R/W, **the recv page becomes read-only to the VM** (a write to it is a stage-2 fault → RUN-11; from code, not run).",
        "api.c (`MM_MODE_UNOWNED \\| MM_MODE_SHARED \\| MM_MODE_R` for recv)",
    ),
    Clause(
        "CFG-5",
        5,
        "HF_VM_CONFIGURE: Success returns 0 if the caller's mailbox has no waiters; 1 if the caller is the primary and there are waiters; a secondary with waiters gets 0 and RUN-9 happens.",
        "api.c `api_waiter_result`; call.h doc; test mailbox.secondary_to_primary_notification_on_configure",
    ),
    Clause(
        "SEND-1",
        6,
        "HF_MAILBOX_SEND, checks in order, each → -1, no switch: size > 4096 (64-bit compare; size 0 allowed). *(probe: 4097 → -1)*",
        "api.c `api_mailbox_send`",
    ),
    Clause("SEND-2", 6, "HF_MAILBOX_SEND, checks in order, each → -1, no switch: to == caller. *(probe)*", "api.c"),
    Clause("SEND-3", 6, "HF_MAILBOX_SEND, checks in order, each → -1, no switch: no VM `to`. *(probe: 99 → -1)*", "api.c"),
    Clause("SEND-4", 6, "HF_MAILBOX_SEND, checks in order, each → -1, no switch: caller has not configured.", "api.c"),
    Clause(
        "SEND-5",
        6,
        "HF_MAILBOX_SEND, checks in order, each → -1, no switch: `to`'s mailbox not `empty`, or `to` not configured. If notify ≠ 0, the caller's wait entry for `to` is appended to `to`'s waiter list **unless already queued** (FIFO, one entry per (caller, to) pair). *(probe: two notify sends to an unconfigured VM → one waiter)*",
        "api.c; test mailbox.secondary_to_primary_notification",
    ),
    Clause(
        "SEND-6",
        6,
        "HF_MAILBOX_SEND: Success copies exactly `size` bytes; bytes beyond keep old contents; records sender and size; returns **0** for every caller (no vCPU index, no 0xffff).",
        "api.c; tests mailbox.echo, repeated_echo",
    ),
    Clause(
        "SEND-7",
        6,
        "HF_MAILBOX_SEND: To the primary: mailbox → `read`; the sending secondary is switched out (ready) and RUN-8 occurs.",
        "api.c",
    ),
    Clause(
        "SEND-8",
        6,
        "HF_MAILBOX_SEND: To a secondary: mailbox → `received`. A secondary sender is switched out (ready) with RUN-8; a primary sender just gets 0.",
        "api.c",
    ),
    Clause(
        "RECV-1",
        7,
        "HF_MAILBOX_RECEIVE: From the primary always 0x00000000FFFFFFFF. *(probe)*",
        "api.c; tests hf_mailbox_receive.cannot_receive_from_primary_{blocking,non_blocking}",
    ),
    Clause(
        "RECV-2", 7, "HF_MAILBOX_RECEIVE: Mailbox `received` → `read`; returns sender \\| size<<32 (blocking or not).", "api.c"
    ),
    Clause(
        "RECV-3",
        7,
        "HF_MAILBOX_RECEIVE: Otherwise, if block = 0 **or** the vCPU has an enabled+pending interrupt → 0x00000000FFFFFFFF, no switch.",
        "api.c; test interrupts.pending_interrupt_no_blocking_receive",
    ),
    Clause(
        "RECV-4",
        7,
        "HF_MAILBOX_RECEIVE: Otherwise the vCPU becomes `blocked_mailbox` and RUN-7 occurs; it resumes per RUN-12 or RUN-13. Blocking in state `read` is allowed.",
        "api.c",
    ),
    Clause(
        "CLR-1", 8, "HF_MAILBOX_CLEAR: `empty` → 0 (idempotent). *(probe)*", "api.c `api_mailbox_clear`; test mailbox.clear_empty"
    ),
    Clause("CLR-2", 8, "HF_MAILBOX_CLEAR: `received` (unread) → -1, no change.", "api.c"),
    Clause(
        "CLR-3",
        8,
        "HF_MAILBOX_CLEAR: `read` → `empty`; result as CFG-5 (0; 1 for the primary with waiters; a secondary with waiters gets 0 and RUN-9).",
        "api.c; tests mailbox.primary_to_secondary (`hf_mailbox_clear() == 1`), secondary_to_primary_notification",
    ),
    Clause(
        "WAIT-1",
        9,
        "WAITER_GET(vm): -1 unless the caller is the primary and `vm` exists. If `vm`'s mailbox is `empty`, configured, and has waiters, the first waiter is removed, appended to the waiting VM's ready list (if not already there), and its VM ID returned; else -1. *(probe: after configure → 0 then -1)*",
        "api.c `api_mailbox_waiter_get`, `api_fetch_waiter`; tests mailbox.* (`hf_mailbox_waiter_get(...) == HF_PRIMARY_VM_ID`, then -1)",
    ),
    Clause(
        "WAIT-2",
        9,
        "WRITABLE_GET: any caller; removes the first entry of its own ready list and returns the ID of the VM whose mailbox became writable; else -1. *(probe: 1 then -1)*",
        "api.c `api_mailbox_writable_get`; service echo_with_notification",
    ),
    Clause(
        "WAIT-3",
        9,
        "The hypervisor never injects HF_MAILBOX_WRITABLE_INTID (2) itself: the primary must inject it (HF_INTERRUPT_INJECT) into each waiter returned by WAIT-1.",
        "`grep` of src/ @53d9d04f finds no use of the INTID; abi.h NOTIFY_WAITERS comment; test mailbox.primary_to_secondary",
    ),
    Clause(
        "WAIT-4",
        9,
        "INTERRUPT_ENABLE(intid, en): -1 if intid ≥ 64, else 0. INTERRUPT_GET: lowest enabled+pending intid of the calling vCPU, acknowledged; else 0x00000000FFFFFFFF. INTERRUPT_INJECT(vm, vcpu, intid): -1 if intid ≥ 64, no VM/vCPU, or a secondary targets another VM; else 1 if the caller is the primary and the interrupt became the target's first enabled+pending one, otherwise 0 (RUN-10 for secondaries).",
        "api.c `api_interrupt_*`, `internal_interrupt_inject`; tests interrupts.*, mailbox.primary_to_secondary (`inject == 1`)",
    ),
)

#: The clauses every other test relies on for its calls to mean what they say, by layer: the
#: result in x0 (layer 0: CALL-1), how a call is identified (layer 1: the immediate, the ignored
#: bits, unknown IDs, the fourteen function numbers), then which VM is which (layer 2: VM-1, learnt
#: through those calls). When one of them fails in a test of its own (its first-named clause), the
#: failures of clauses of a higher layer (every other clause is above all three) are not judged:
#: they are BLOCKED by it, so the report names the one thing to fix first (docs/reports.md).
#: Every clause that is not a foundation is in the layer above them (3).
FOUNDATIONS: dict[str, int] = {
    "CALL-1": 0,  # every result is read from x0, all 64 bits of it
    **{cid: 1 for cid in ("CALL-2", "CALL-3", "CALL-4", *(f"ID-{n}" for n in range(1, 15)))},
    "VM-1": 2,
}
