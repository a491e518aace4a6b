"""§1 Calling convention: CALL-1 .. CALL-7.

Every check names the clause whose rule it states. Where a check of this section needs a call's
value (HF_VM_GET_COUNT's N + 1, HF_VM_GET_ID's caller ID, a configure's 0), the value is first
checked the plain way (``hvc #0``, the plain ID), naming the value's clause; the variant this
section is about is then checked against the same literal, naming the CALL clause.

Literals (spec.md): a refused run and a wfi with no timer = 0xFFFFFFFFFFFFFF02 (RUN-1, RUN-5);
PSCI_VERSION = 0x10001 (CALL-6); -1 = 0xFFFFFFFFFFFFFFFF.
"""

from __future__ import annotations

import pytest

from conformance.harness import YIELD_LIMIT, expect
from conformance.outcomes import ConformanceFailure
from guest_asm import programs
from guest_asm.programs import Call, Rel
from profiles.hafnium_2019_03.checks import REFUSED, expect_err, expect_load_order, report_of
from profiles.hafnium_2019_03.hv import ERR, Hv, expect_zero_x1_x17, preemptions_exhausted, program, script

HVC_IMMEDIATES = ["hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff"]
#: x4..x30 loaded with recognisable values before a primary call.
SENTINELS = {n: 0x5EED_0000_0000_0000 | n << 8 | n for n in range(4, 31)}
#: A function ID far from every ID of the profile (§2, PSCI): unknown (CALL-4).
UNKNOWN = 0xF00D
CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))


def _run_to_wfi(hv: Hv, *, stops: str) -> int:
    """``hv.run(1)`` of a script that ends in wfi (RUN-5: 0xFFFFFFFFFFFFFF02), where a stop of the
    system (no return to the primary) counts against ``stops``, the rule that says the script's
    calls do not stop it."""
    for _ in range(YIELD_LIMIT):
        response = hv.call(0xFF03, 1, 0, clause=stops)
        if response != 0x0:
            return response
    raise preemptions_exhausted("run(0x1, 0x0)", "RUN-5: the script ends in wfi", "RUN-5")


@pytest.mark.clause("CALL-1", "VM-3")
def test_primary_hvc_result_in_x0(boot):
    hv = boot(program("idle"), program("idle"))
    count = hv.call(0xFF01, clause="CALL-1")
    expect("HF_VM_GET_COUNT (0xff01) from the primary", count, 3, clause="VM-3")


@pytest.mark.clause("CALL-1", "VM-2")
def test_secondary_hvc_result_in_x0(boot):
    hv = boot(program("idle"), script(Call(0xFF00), Call(0xFF01)))
    expect("run(2, 0) after the script ends in wfi", hv.run(2, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_load_order(hv, 2, idle=1)
    expect("VM 2's HF_VM_GET_ID", report_of(hv, 2, 0, "CALL-1")[0], 2, clause="VM-2")
    expect("VM 2's HF_VM_GET_COUNT", report_of(hv, 2, 1, "CALL-1")[0], 3, clause="VM-3")


@pytest.mark.clause("CALL-1")
def test_result_is_64_bits_in_x0(boot):
    hv = boot(script(Call(0xFF02, 0xFFFF_FFFF), Call(0xFF0B, 64, 1)))
    count = hv.call(0xFF02, 0xFFFF_FFFF)
    # 0xffffffff is -1 cut to 32 bits (CALL-1); any other value is a wrong answer (VM-4: -1).
    expect_err("HF_VCPU_GET_COUNT(0xffffffff) from the primary", count, clause="CALL-1" if count == 0xFFFF_FFFF else "VM-4")
    enabled = hv.call(0xFF0B, 64, 1)
    expect_err("HF_INTERRUPT_ENABLE(64, 1) from the primary", enabled, clause="CALL-1" if enabled == 0xFFFF_FFFF else "WAIT-4")
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    for i, (what, clause) in enumerate((("HF_VCPU_GET_COUNT(0xffffffff)", "VM-4"), ("HF_INTERRUPT_ENABLE(64, 1)", "WAIT-4"))):
        got = report_of(hv, 1, i, "CALL-1")[0]
        expect_err(f"VM 1's {what}", got, clause="CALL-1" if got == 0xFFFF_FFFF else clause)


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_primary(boot, insn):
    plain = boot(program("idle"))
    expect("HF_VM_GET_COUNT via hvc #0", plain.call(0xFF01, clause="CALL-1"), 2, clause="VM-3")
    expect("HF_VM_GET_ID via hvc #0", plain.call(0xFF00, clause="CALL-1"), 0, clause="VM-2")
    expect("HF_VM_CONFIGURE via hvc #0", plain.configure(), 0, clause="CFG-5")
    expect_err("a second HF_VM_CONFIGURE via hvc #0", plain.configure(), clause="CFG-2")
    hv = boot(program("idle"))
    base = hv.base(0)
    expect(f"HF_VM_GET_COUNT via {insn}", hv.call(0xFF01, insn=insn, clause="CALL-2"), 2, clause="CALL-2")
    expect(f"HF_VM_GET_ID via {insn}", hv.call(0xFF00, insn=insn, clause="CALL-2"), 0, clause="CALL-2")
    configured = hv.call(0xFF05, base + 0x10000, base + 0x11000, insn=insn, clause="CALL-2")
    expect(f"HF_VM_CONFIGURE via {insn}", configured, 0, clause="CALL-2")
    again = hv.call(0xFF05, base + 0x10000, base + 0x11000, insn=insn, clause="CALL-2")
    expect_err(f"a second HF_VM_CONFIGURE via {insn}", again, clause="CALL-2")


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_secondary(boot, insn):
    hv = boot(
        script(
            Call(0xFF00),
            Call(0xFF00, insn=insn),
            Call(0xFF01),
            Call(0xFF01, insn=insn),
            Call(0xFF02, 1),
            Call(0xFF02, 1, insn=insn),
            Call(0xFF03, 1, 0),
            Call(0xFF03, 1, 0, insn=insn),
        )
    )
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("the secondary's HF_VM_GET_ID via hvc #0", report_of(hv, 1, 0, "CALL-1")[0], 1, clause="VM-2")
    expect(f"the secondary's HF_VM_GET_ID via {insn}", report_of(hv, 1, 1, "CALL-2")[0], 1, clause="CALL-2")
    expect("the secondary's HF_VM_GET_COUNT via hvc #0", report_of(hv, 1, 2, "CALL-1")[0], 2, clause="VM-3")
    expect(f"the secondary's HF_VM_GET_COUNT via {insn}", report_of(hv, 1, 3, "CALL-2")[0], 2, clause="CALL-2")
    expect_err("the secondary's HF_VCPU_GET_COUNT via hvc #0", report_of(hv, 1, 4, "CALL-1")[0], clause="VM-4")
    expect_err(f"the secondary's HF_VCPU_GET_COUNT via {insn}", report_of(hv, 1, 5, "CALL-2")[0], clause="CALL-2")
    expect("the secondary's HF_VCPU_RUN via hvc #0", report_of(hv, 1, 6, "RUN-1")[0], REFUSED, clause="RUN-1")
    expect(f"the secondary's HF_VCPU_RUN via {insn}", report_of(hv, 1, 7, "CALL-2")[0], REFUSED, clause="CALL-2")


#: CALL-3's probe values and their neighbours: bit 30 and bits 63..32 set in every combination.
MASKED = [0x4000_0000, 0xFFFF_FFFF_0000_0000, 0xFFFF_FFFF_4000_0000, 0x1234_5678_0000_0000, 0x8000_0000_4000_0000]


@pytest.mark.clause("CALL-3")
@pytest.mark.parametrize("extra", MASKED)
def test_function_id_low_32_bits_bit_30_ignored_primary(boot, extra):
    hv = boot(program("idle"))
    expect("HF_VM_GET_COUNT as x0=0xff01", hv.call(0xFF01, clause="CALL-1"), 2, clause="VM-3")
    expect("HF_VCPU_GET_COUNT(1) as x0=0xff02", hv.call(0xFF02, 1, clause="CALL-1"), 1, clause="VM-4")
    expect(f"HF_VM_GET_COUNT as x0={0xFF01 | extra:#x}", hv.call(0xFF01 | extra), 2)
    expect(f"HF_VCPU_GET_COUNT(1) as x0={0xFF02 | extra:#x}", hv.call(0xFF02 | extra, 1), 1)


@pytest.mark.clause("CALL-3")
@pytest.mark.parametrize("extra", MASKED)
def test_function_id_low_32_bits_bit_30_ignored_secondary(boot, extra):
    # The probe's values: 0x4000ff00 and 0xFFFFFFFF0000ff00 return VM_GET_ID's value (here VM 1's 1).
    # Each call as the plain ID first: a wrong value there breaks that call's own rule, not CALL-3.
    hv = boot(script(Call(0xFF00), Call(0xFF01), Call(0xFF00 | extra), Call(0xFF01 | extra)))
    expect("run(1, 0) after the script ends in wfi", _run_to_wfi(hv, stops="CALL-3"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_VM_GET_ID as x0=0xff00", report_of(hv, 1, 0, "CALL-1")[0], 1, clause="VM-2")
    expect("VM 1's HF_VM_GET_COUNT as x0=0xff01", report_of(hv, 1, 1, "CALL-1")[0], 2, clause="VM-3")
    expect(f"VM 1's HF_VM_GET_ID as x0={0xFF00 | extra:#x}", report_of(hv, 1, 2, "CALL-3")[0], 1)
    expect(f"VM 1's HF_VM_GET_COUNT as x0={0xFF01 | extra:#x}", report_of(hv, 1, 3, "CALL-3")[0], 2)


@pytest.mark.clause("CALL-3")
@pytest.mark.parametrize("extra", [0x4000_0000, 0xFFFF_FFFF_0000_0000])
def test_run_with_masked_bits(boot, extra):
    # HF_VCPU_RUN (0xff03) with bit 30 or bits 63..32 set runs VM 1: it reports its VM ID. First
    # the plain ID runs it to its yield: if that fails, the run itself is wrong (ID-4), not CALL-3.
    hv = boot(script(Call(0xFF00), Call(0xFF04), Call(0xFF00)))
    yielded = hv.run(1, clause="ID-4")
    # Past its yield (a second report), the YIELD was answered as something else (RUN-6).
    expect("run(1, 0) with x0=0xff03: VM 1 yields", yielded, 0x1, clause="RUN-6" if len(hv.reports(1)) > 1 else "ID-4")
    expect("run(1, 0) with x0=0xff03: VM 1 ran", len(hv.reports(1)), 1, clause="ID-4")
    response = hv.call(0xFF03 | extra, 1, 0, clause="CALL-3")
    for _ in range(YIELD_LIMIT):
        if response != 0x0:
            break
        response = hv.call(0xFF03 | extra, 1, 0, clause="CALL-3")
    expect(f"x0={0xFF03 | extra:#x}(1, 0): VM 1 ran on", len(hv.reports(1)), 3)
    expect(f"x0={0xFF03 | extra:#x}(1, 0): the script ends in wfi", response, REFUSED, clause="RUN-5")


@pytest.mark.clause("CALL-3", "CALL-4")
@pytest.mark.parametrize("x0", [0x8000FF01, 0x1FF01, 0x2000FF01, 0xFF01 << 32, 0x0100FF01, 0x1000FF01])
def test_other_bits_are_not_ignored(boot, x0):
    hv = boot(program("idle"))
    expect_err(f"unknown function ID {UNKNOWN:#x}", hv.call(UNKNOWN, clause="CALL-4"), clause="CALL-4")
    expect_err(f"x0={x0:#x} is not HF_VM_GET_COUNT", hv.call(x0, clause="CALL-3"), clause="CALL-3")


#: Unknown IDs and the clause that makes each unknown: the neighbours of §2's table (0xfeff below
#: ID-1's 0xff00, 0xff0f above 0xff0e -- HF_SHARE_MEMORY, outside this profile) are unknown
#: because the table ends there; the rest by CALL-4. (0xff0e itself: no clause, not tested.)
UNKNOWN_IDS = {
    0x0: "CALL-4",
    0xFEFF: "ID-1",
    0xFF0F: "CALL-4",
    0xFF10: "CALL-4",
    0xFFFF: "CALL-4",
    0xFFFF_FFFF: "CALL-4",
    0xBFFF_FFFF: "CALL-4",
    ERR: "CALL-4",
}


@pytest.mark.clause("CALL-4", "ID-1")
@pytest.mark.parametrize("x0", list(UNKNOWN_IDS))
def test_unknown_ids_return_error(boot, x0):
    clause = UNKNOWN_IDS[x0]
    hv = boot(script(Call(UNKNOWN, 1, 2, 3), Call(x0, 1, 2, 3), Call(0xFF00)))
    expect_err(f"unknown function ID {UNKNOWN:#x} from the primary", hv.call(UNKNOWN, 1, 2, 3, clause="CALL-4"), clause="CALL-4")
    expect_err(f"unknown function ID {x0:#x} from the primary", hv.call(x0, 1, 2, 3, clause=clause), clause=clause)
    # The known calls of this test are controls: -1 from one is its ID doing no call (its ID-n).
    ran = _run_to_wfi(hv, stops=clause)
    expect("run(1, 0) after the script ends in wfi", ran, REFUSED, clause="ID-4" if ran == ERR else "RUN-5")
    expect_err(f"unknown function ID {UNKNOWN:#x} from a secondary", report_of(hv, 1, 0, "CALL-4")[0], clause="CALL-4")
    expect_err(f"unknown function ID {x0:#x} from a secondary", report_of(hv, 1, 1, clause)[0], clause=clause)
    vm_id = report_of(hv, 1, 2, clause)[0]
    expect("the secondary went on: its HF_VM_GET_ID", vm_id, 1, clause="ID-1" if vm_id == ERR else "VM-2")


@pytest.mark.clause("CALL-4")
def test_unknown_ids_change_no_state(boot):
    # VM 1 configures and polls its mailbox once before any unknown call (a baseline: what its
    # receive answers when nothing was sent), yields, and after them polls, clears and asks again.
    hv = boot(script(CFG, Call(0xFF07, 0), Call(0xFF04), Call(0xFF07, 0), Call(0xFF08), Call(0xFF09)))
    none = 0x0000_0000_FFFF_FFFF
    expect("run(1, 0): VM 1 configures, polls, yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1's configure", report_of(hv, 1, 0, "CFG-5")[0], 0, clause="CFG-5")
    # Nothing was sent and no unknown call made yet: any other answer is the receive's own (RECV-3).
    expect("VM 1's non-blocking receive before any unknown call", report_of(hv, 1, 1, "RECV-3")[0], none, clause="RECV-3")
    base = hv.base(0)
    for x0 in (0xFF0F, 0xFF10, 0xFF13, 0xFEFF):
        expect_err(f"unknown {x0:#x} with configure-like arguments", hv.call(x0, base + 0x10000, base + 0x11000))
    # -1 would say an unknown call configured (CALL-4); any other value is a wrong success value.
    configured = hv.configure()
    expect("the first real configure still succeeds", configured, 0, clause="CALL-4" if configured == ERR else "CFG-5")
    for x0 in (0xFF0F, 0xFF10, 0xFF16):
        expect_err(f"unknown {x0:#x} with send-like arguments", hv.call(x0, 1, 8, 1))
        expect_err(f"unknown {x0:#x} with inject-like arguments", hv.call(x0, 1, 0, 5))
    expect("run(1, 0): VM 1 polls, clears, asks; then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    # The same receive as the baseline: another answer now says an unknown call sent a message.
    expect("VM 1's non-blocking receive after the unknown calls: nothing was sent", report_of(hv, 1, 3, "RECV-3")[0], none)
    # The receive found nothing, so the mailbox held no message: a clear answering otherwise breaks CLR-1.
    expect("VM 1's clear of its empty mailbox", report_of(hv, 1, 4, "CLR-1")[0], 0, clause="CLR-1")
    expect("VM 1's HF_MAILBOX_WRITABLE_GET: no mailbox became writable for it", report_of(hv, 1, 5, "WAIT-2")[0], ERR)
    expect_err("HF_MAILBOX_WAITER_GET(1): no waiter was queued", hv.waiter_get(1))
    # An interrupt ID says an unknown call injected one (CALL-4); another "none", WAIT-4's encoding.
    pending = hv.interrupt_get()
    expect("HF_INTERRUPT_GET on the primary: nothing was injected", pending, none, clause="CALL-4" if pending < 64 else "WAIT-4")


#: The clause that makes each call of the register tests return straight away.
RETURNS = {
    0xFF00: "VM-2",
    0xFF01: "VM-3",
    0xFF02: "VM-4",
    0xFF03: "RUN-1",
    0xFF04: "RUN-6",
    0xFF05: "CFG-1",
    0xFF06: "SEND-1",
    0xFF07: "RECV-1",
    0xFF08: "CLR-1",
    0xFF09: "WAIT-2",
    0xFF0A: "WAIT-1",
    0xFF0B: "WAIT-4",
    0xFF0C: "WAIT-4",
    0xFF0D: "WAIT-4",
    0xFF0F: "CALL-4",
    0x84000000: "CALL-6",
}


@pytest.mark.clause("CALL-5")
@pytest.mark.parametrize(
    "args",
    [
        (0xFF00, 0x1111, 0x2222, 0x3333),
        (0xFF01, 0x1111, 0x2222, 0x3333),
        (0xFF02, 1, 0x2222, 0x3333),
        (0xFF02, 0xFFFF_FFFF, 0x2222, 0x3333),
        (0xFF03, 0, 0, 0x3333),
        (0xFF04, 0x1111, 0x2222, 0x3333),
        (0xFF05, 1, 0x2222, 0x3333),
        (0xFF06, 1, 0x2222, 0x3333),
        (0xFF07, 1, 0x2222, 0x3333),
        (0xFF08, 0x1111, 0x2222, 0x3333),
        (0xFF09, 0x1111, 0x2222, 0x3333),
        (0xFF0A, 1, 0x2222, 0x3333),
        (0xFF0B, 5, 1, 0x3333),
        (0xFF0C, 0x1111, 0x2222, 0x3333),
        (0xFF0D, 1, 0, 99),
        (0xFF0F, 0x1111, 0x2222, 0x3333),
        (0x84000000, 0x1111, 0x2222, 0x3333),
    ],
)
def test_primary_x1_x17_zero_x18_x30_kept(boot, args):
    hv = boot(program("idle"))
    regs = hv.call_regs(*args, regs=SENTINELS, clause=RETURNS.get(args[0]))
    expect_zero_x1_x17(f"call {args[0]:#x} from the primary", regs)
    for n in range(18, 31):
        expect(f"call {args[0]:#x}: x{n} preserved", regs[n], SENTINELS[n], "CALL-5: x18..x30 preserved", clause="CALL-5")


@pytest.mark.clause("CALL-5")
def test_primary_registers_after_run_returns(boot):
    hv = boot(program("spinner"), time_slice=2000)
    regs = hv.call_regs(0xFF03, 1, 0, 0x3333, regs=SENTINELS, clause="RUN-4")
    expect("run(1, 0) of a spinner", regs[0], 0x0, "RUN-4: a spinning secondary is preempted", clause="RUN-4")
    expect_zero_x1_x17("HF_VCPU_RUN returning after the secondary ran", regs)
    for n in range(18, 31):
        expect(f"run: x{n} preserved", regs[n], SENTINELS[n], "CALL-5", clause="CALL-5")


def _secondary_regs_checked(hv: Hv, vm: int, index: int, what: str, returns: str) -> tuple[int, ...]:
    """CALL-5 on VM ``vm``'s report #index; ``returns``: the clause that says the call returned."""
    regs = report_of(hv, vm, index, returns)
    expect_zero_x1_x17(what, regs)
    for n in range(18, 31):
        expect(f"{what}: x{n} preserved", regs[n], programs.pattern(n), "CALL-5", clause="CALL-5")
    return regs


@pytest.mark.clause("CALL-5")
def test_secondary_registers_after_immediate_return(boot):
    calls = (
        (Call(0xFF00, 7, 8, 9), "VM-2"),
        (Call(0xFF01, 7, 8, 9), "VM-3"),
        (Call(0xFF07, 0, 5, 6), "RECV-3"),
        (Call(0xFF08, 1, 2, 3), "CLR-1"),
        (Call(0xFF0B, 5, 1, 3), "WAIT-4"),
        (Call(0xFF0C, 1, 2, 3), "WAIT-4"),
        (Call(0xFF99, 1, 2, 3), "CALL-4"),
    )
    hv = boot(script(*(c for c, _ in calls)))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    for i, (_, returns) in enumerate(calls):
        _secondary_regs_checked(hv, 1, i, f"secondary call #{i}", returns)


@pytest.mark.clause("CALL-5", "RUN-12")
def test_secondary_registers_after_blocked_receive_is_delivered(boot):
    hv = boot(script(CFG, Call(0xFF07, 1, 0x2222, 0x3333)))
    expect("run(1, 0): configure, then block in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send 5 bytes to VM 1", hv.send(1, 5), 0, clause="SEND-6")
    expect("run(1, 0): the receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 1, "receive after delivery", "RUN-12")
    expect("the delivered receive's x0", regs[0], 0x0000000500000000, clause="RUN-12")


@pytest.mark.clause("CALL-5", "RUN-8")
def test_secondary_registers_after_send_resumes(boot):
    hv = boot(script(CFG, Call(0xFF06, 0, 3, 0x3333)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): the secondary sends 3 bytes to the primary", hv.run(1, clause="RUN-8"), 0x0000000300000005, clause="RUN-8")
    expect("run(1, 0): it resumes and ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 1, "send after resume", "SEND-7")
    expect("the send's x0 on resume", regs[0], 0, clause="SEND-6")


@pytest.mark.clause("CALL-5", "RUN-6")
def test_secondary_registers_after_yield_resumes(boot):
    hv = boot(script(Call(0xFF04, 0x1111, 0x2222, 0x3333)))
    expect("run(1, 0): HF_VCPU_YIELD", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(1, 0): it resumes and ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 0, "yield after resume", "RUN-6")
    expect("HF_VCPU_YIELD's x0 on resume", regs[0], 0, clause="RUN-6")


@pytest.mark.clause("CALL-5", "RUN-13")
def test_secondary_registers_after_receive_woken_by_interrupt(boot):
    hv = boot(script(CFG, Call(0xFF0B, 5, 1), Call(0xFF07, 1, 0x2222, 0x3333)))
    expect("run(1, 0): configure, enable 5, block in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("HF_INTERRUPT_INJECT(1, 0, 5)", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    try:
        ended = hv.run(1, clause="RUN-13")
    except ConformanceFailure as e:
        if len(hv.reports(1)) < 3:
            raise  # the receive never returned: RUN-13
        # The receive returned (RUN-13 held); the wfi after it, with interrupt 5 still pending and
        # unacknowledged, never gave WAIT_FOR_INTERRUPT: RUN-5's rule is the one broken.
        raise ConformanceFailure(e.what, e.expected, e.actual, "the woken receive returned; at its wfi", clause="RUN-5") from e
    expect("run(1, 0): the receive returns, then wfi", ended, REFUSED, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 2, "receive woken by an interrupt", "RUN-13")
    expect("the woken receive's x0", regs[0], 0x0000_0000_FFFF_FFFF, clause="RUN-13")


@pytest.mark.clause("CALL-5", "RUN-9")
def test_secondary_registers_after_configure_notifies(boot):
    hv = boot(script(Call(0xFF05, Rel(0x10000), Rel(0x11000), 0x3333)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("send(1, 0, notify=1) before VM 1 configured", hv.send(1, 0, 1), clause="SEND-5")
    expect("run(1, 0): VM 1 configures with a waiter", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    expect("run(1, 0): it resumes and ends in wfi", hv.run(1, clause="RUN-9"), REFUSED, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 0, "configure after resume", "RUN-9")
    expect("the configure's x0 on resume", regs[0], 0, clause="RUN-9")


@pytest.mark.clause("CALL-6", "CALL-3")
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
@pytest.mark.parametrize("x0", [0x84000000, 0xC4000000])
def test_psci_version_from_primary(boot, insn, x0):
    hv = boot(program("idle"))
    plain = x0 & ~(1 << 30)
    if x0 != plain:
        # The ID with bit 30 clear first (CALL-6), then with it set: bit 30 is ignored (CALL-3).
        expect(f"PSCI_VERSION {plain:#x} via {insn} from the primary", hv.call(plain, insn=insn), 0x10001, clause="CALL-6")
    expect(
        f"PSCI_VERSION {x0:#x} via {insn} from the primary",
        hv.call(x0, insn=insn),
        0x10001,
        clause="CALL-3" if x0 != plain else "CALL-6",
    )


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
@pytest.mark.parametrize("x0", [0x84000008, 0xC4000008])
def test_psci_system_off_ends_the_run(boot, insn, x0):
    outcome = boot(program("idle")).call_outcome(x0, insn=insn)
    expect(
        f"PSCI_SYSTEM_OFF ({x0:#x}) via {insn}: the system powers off", (bool(outcome.regs), outcome.system_off), (False, True)
    )


@pytest.mark.clause("CALL-6", "CALL-4")
@pytest.mark.parametrize("x0", [0x84000015, 0x84000016, 0x8400006E, 0x840000FF, 0xC4000015])
def test_other_0x840000xx_ids_are_hypercall_ids(boot, x0):
    # Not PSCI 1.1 IDs: handled as hypercall IDs, so unknown (-1) from the primary too.
    hv = boot(program("idle"))
    expect_err(f"unknown function ID {UNKNOWN:#x}", hv.call(UNKNOWN, clause="CALL-4"), clause="CALL-4")
    expect_err(f"x0={x0:#x} from the primary", hv.call(x0, clause="CALL-6"), clause="CALL-6")
    expect("the system goes on: HF_VM_GET_COUNT", hv.vm_count(), 2, clause="VM-3")


@pytest.mark.clause("CALL-6", "CALL-4")
@pytest.mark.parametrize("x0", [0x84000000, 0x84000008, 0x84000002, 0x84000003, 0xC4000000, 0xC4000008, 0x84000014])
def test_psci_from_secondary_is_unknown(boot, x0):
    hv = boot(script(Call(UNKNOWN), Call(x0), Call(0xFF00)))
    # The run comes back because the secondary's PSCI call is no PSCI call (no SYSTEM_OFF).
    expect("run(1, 0) after the script ends in wfi", _run_to_wfi(hv, stops="CALL-6"), REFUSED, clause="RUN-5")
    expect_err(f"unknown function ID {UNKNOWN:#x} from a secondary", report_of(hv, 1, 0, "CALL-4")[0], clause="CALL-4")
    expect_err(f"PSCI {x0:#x} via hvc from a secondary", report_of(hv, 1, 1, "CALL-6")[0], clause="CALL-6")
    expect("the secondary kept running: its HF_VM_GET_ID", report_of(hv, 1, 2, "CALL-6")[0], 1, clause="VM-2")


@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("x0", [0x84000001, 0x84000002, 0x84000003, 0x84000004])
def test_other_psci_calls_return(boot, x0):
    hv = boot(program("idle"))
    hv.call(x0)  # any value: other PSCI behaviour is implementation-defined, but the call returns
    expect("the system goes on after the optional PSCI call", hv.vm_count(), 2, clause="VM-3")


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize("x0", [0xFF00, 0xFF01, 0xFF06, 0x12345678, 0x84000000, 0x84000008])
def test_smc_from_secondary(boot, x0):
    hv = boot(script(CFG, Call(x0, 0x1111, 0x2222, 0x3333, insn="smc #0"), Call(0xFF00)))
    expect("run(1, 0) after the script ends in wfi", _run_to_wfi(hv, stops="CALL-7"), REFUSED, clause="RUN-5")
    regs = report_of(hv, 1, 1, "CALL-7")
    expect_err(f"smc {x0:#x} from a secondary", regs[0], clause="CALL-7")
    expect("smc: x1..x3 unchanged", regs[1:4], (0x1111, 0x2222, 0x3333), "CALL-7: only x0 changes", clause="CALL-7")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], programs.pattern(n), "CALL-7: only x0 changes", clause="CALL-7")
    expect("execution continued after the smc: its HF_VM_GET_ID", report_of(hv, 1, 2, "CALL-7")[0], 1, clause="VM-2")


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize("x0", [0xFF01, 0xFF05, 0xFF0B, 0x0, 0x12345678])
def test_smc_from_primary_keeps_registers(boot, x0):
    hv = boot(program("idle"))
    base = hv.base(0)
    args = (base + 0x10000, base + 0x11000, 0x3333) if x0 == 0xFF05 else (0x1111, 0x2222, 0x3333)
    regs = hv.call_regs(x0, *args, regs=SENTINELS, insn="smc #0", clause="CALL-7")
    expect_err(f"smc {x0:#x} from the primary", regs[0], clause="CALL-7")
    expect("smc: x1..x3 unchanged", regs[1:4], args, "CALL-7: not zeroed as after an hvc", clause="CALL-7")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], SENTINELS[n], "CALL-7", clause="CALL-7")
    # -1 would say the smc configured (CALL-7: it is no hypercall); any other value is CFG-5's.
    configured = hv.configure()
    expect(
        "an smc configured nothing: the first real configure", configured, 0, clause="CALL-7" if configured == ERR else "CFG-5"
    )
