"""§1 Calling convention: CALL-1 .. CALL-7.

Every check names the clause whose rule it states (issue 9): a wrong value counts against that
clause alone. Where a check of this section needs a call's value (HF_VM_GET_COUNT's N + 1, a
configure's 0), the value is first checked the plain way (``hvc #0``, x0 = 0xff01), naming the
value's clause; the variant this section is about is then checked against the same literal,
naming the CALL clause — so a wrong count fails VM-2 and a wrong immediate fails CALL-2.
"""

from __future__ import annotations

import pytest

from conformance.harness import YIELD_LIMIT, expect
from guest_asm import programs
from guest_asm.programs import Call, Rel
from profiles.hafnium_2018_10.checks import expect_err, received_clause, report_of, woken_clause
from profiles.hafnium_2018_10.hv import ERR, Hv, expect_zero_x1_x17, program, script, yields_exhausted

HVC_IMMEDIATES = ["hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff"]
#: x4..x30 loaded with recognisable values before a primary call.
SENTINELS = {n: 0x5EED_0000_0000_0000 | n << 8 | n for n in range(4, 31)}
#: A function ID far from every ID of the profile (§2, PSCI): unknown (CALL-4).
UNKNOWN = 0xF00D


def _run_to_wfi(hv: Hv, *, stops: str) -> int:
    """``hv.run(1)`` of a script that ends in wfi (RUN-5: 0x1), where a stop of the system (no
    return to the primary) counts against ``stops``, the rule that says the script's calls do not
    stop it."""
    for _ in range(YIELD_LIMIT):
        response = hv.call(0xFF00, 1, 0, clause=stops)
        if response != 0x0:
            return response
    raise yields_exhausted("run(0x1, 0x0)", "RUN-5: the script ends in wfi", "RUN-5")


@pytest.mark.clause("CALL-1", "VM-2")
def test_primary_hvc_result_in_x0(boot):
    hv = boot(program("idle"), program("idle"))
    count = hv.call(0xFF01, clause="CALL-1")
    expect("HF_VM_GET_COUNT (0xff01) from the primary", count, 3, clause="VM-2")


@pytest.mark.clause("CALL-1", "VM-2")
def test_secondary_hvc_result_in_x0(boot):
    hv = boot(script(Call(0xFF01)), script(Call(0xFF01)))  # alike: which one is VM 1 (VM-1) does not matter
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("the secondary's HF_VM_GET_COUNT", report_of(hv, 1, 0, "CALL-1")[0], 3, clause="VM-2")


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_primary(boot, insn):
    # The values via `hvc #0` first (their own clauses), then the same calls via `insn` (CALL-2).
    plain = boot(program("idle"))
    expect("HF_VM_GET_COUNT via hvc #0", plain.call(0xFF01, clause="CALL-1"), 2, clause="VM-2")
    expect("HF_VM_CONFIGURE via hvc #0", plain.configure(), 0, clause="CFG-5")
    expect_err("a second HF_VM_CONFIGURE via hvc #0", plain.configure(), clause="CFG-2")
    hv = boot(program("idle"))
    base = hv.base(0)
    expect(f"HF_VM_GET_COUNT via {insn}", hv.call(0xFF01, insn=insn, clause="CALL-2"), 2, clause="CALL-2")
    expect(
        f"HF_VM_CONFIGURE via {insn}",
        hv.call(0xFF03, base + 0x10000, base + 0x11000, insn=insn, clause="CALL-2"),
        0,
        clause="CALL-2",
    )
    expect_err(
        f"a second HF_VM_CONFIGURE via {insn}",
        hv.call(0xFF03, base + 0x10000, base + 0x11000, insn=insn, clause="CALL-2"),
        clause="CALL-2",
    )


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_secondary(boot, insn):
    # Each call via `hvc #0` (its value's clause), then via `insn` (CALL-2: the same value).
    hv = boot(
        script(
            Call(0xFF01),
            Call(0xFF01, insn=insn),
            Call(0xFF02, 1),
            Call(0xFF02, 1, insn=insn),
            Call(0xFF00, 1, 0),
            Call(0xFF00, 1, 0, insn=insn),
        )
    )
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("the secondary's HF_VM_GET_COUNT via hvc #0", report_of(hv, 1, 0, "CALL-1")[0], 2, clause="VM-2")
    expect(f"the secondary's HF_VM_GET_COUNT via {insn}", report_of(hv, 1, 1, "CALL-2")[0], 2, clause="CALL-2")
    expect_err("the secondary's HF_VCPU_GET_COUNT via hvc #0", report_of(hv, 1, 2, "CALL-1")[0], clause="VM-3")
    expect_err(f"the secondary's HF_VCPU_GET_COUNT via {insn}", report_of(hv, 1, 3, "CALL-2")[0], clause="CALL-2")
    expect("the secondary's HF_VCPU_RUN via hvc #0", report_of(hv, 1, 4, "RUN-1")[0], 0x1, clause="RUN-1")
    expect(f"the secondary's HF_VCPU_RUN via {insn}", report_of(hv, 1, 5, "CALL-2")[0], 0x1, clause="CALL-2")


@pytest.mark.clause("CALL-3")
@pytest.mark.parametrize(
    "x0",
    [0xFF01, 0x4000FF01, 0xFFFF_FFFF_0000_FF01, 0xFFFF_FFFF_4000_FF01, 0x1234_5678_0000_FF01, 0x8000_0000_4000_FF01],
)
def test_function_id_low_32_bits_bit_30_ignored(boot, x0):
    hv = boot(program("idle"))
    expect("HF_VM_GET_COUNT as x0=0xff01", hv.call(0xFF01, clause="CALL-1"), 2, clause="VM-2")
    expect(f"HF_VM_GET_COUNT as x0={x0:#x}", hv.call(x0), 2)


@pytest.mark.clause("CALL-3", "SEND-11")
@pytest.mark.parametrize("x0", [0x4000FF04, 0xFFFF_FFFF_0000_FF04])
def test_send_with_masked_bits(boot, x0):
    # VM 1 gets a send as x0=0xff04 (SEND-11's value), VM 2 the same send as x0 (CALL-3).
    hv = boot(program("receiver"), program("receiver"))
    expect("run(1, 0): the receiver blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(2, 0): the receiver blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    sent = hv.send(1, 4)
    expect("HF_MAILBOX_SEND as x0=0xff04 to the blocked receiver VM 1", sent, 0, clause=woken_clause(sent))
    expect(f"HF_MAILBOX_SEND as x0={x0:#x} to the blocked receiver VM 2", hv.call(x0, 2, 4, clause="CALL-3"), 0, clause="CALL-3")


@pytest.mark.clause("CALL-3", "CALL-4")
@pytest.mark.parametrize("x0", [0x8000FF01, 0x1FF01, 0x2000FF01, 0xFF01 << 32, 0x0100FF01])
def test_other_bits_are_not_ignored(boot, x0):
    hv = boot(program("idle"))
    expect_err(f"unknown function ID {UNKNOWN:#x}", hv.call(UNKNOWN, clause="CALL-4"), clause="CALL-4")
    expect_err(f"x0={x0:#x} is not HF_VM_GET_COUNT", hv.call(x0, clause="CALL-3"), clause="CALL-3")


#: Which clause makes each ID unknown: the neighbours of §2's table (0xfeff below ID-1's 0xff00,
#: 0xff07.. above ID-7's 0xff06) are unknown because the table ends there; the rest by CALL-4.
UNKNOWN_IDS = {
    0x0: "CALL-4",
    0xFEFF: "ID-1",
    0xFF07: "ID-7",
    0xFF08: "ID-7",
    0xFF09: "ID-7",
    0xFF0A: "ID-7",
    0xFFFF: "CALL-4",
    0xFFFF_FFFF: "CALL-4",
    0x8400_006E: "CALL-4",
    ERR: "CALL-4",
}


@pytest.mark.clause("CALL-4", "ID-1", "ID-7")
@pytest.mark.parametrize("x0", list(UNKNOWN_IDS))
def test_unknown_ids_return_error(boot, x0):
    # An ID far from the table first (CALL-4), then x0 (CALL-4, or the table's edge it sits at).
    clause = UNKNOWN_IDS[x0]
    hv = boot(script(Call(UNKNOWN, 1, 2, 3), Call(x0, 1, 2, 3)))
    expect_err(f"unknown function ID {UNKNOWN:#x} from the primary", hv.call(UNKNOWN, 1, 2, 3, clause="CALL-4"), clause="CALL-4")
    expect_err(f"unknown function ID {x0:#x} from the primary", hv.call(x0, 1, 2, 3, clause=clause), clause=clause)
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_err(f"unknown function ID {UNKNOWN:#x} from a secondary", report_of(hv, 1, 0, "CALL-4")[0], clause="CALL-4")
    expect_err(f"unknown function ID {x0:#x} from a secondary", report_of(hv, 1, 1, clause)[0], clause=clause)


@pytest.mark.clause("CALL-4")
def test_unknown_ids_change_no_state(boot):
    hv = boot(program("receiver"))
    base = hv.base(0)
    for x0 in (0xFF07, 0xFF08, 0xFF13, 0xFEFF):
        expect_err(f"unknown {x0:#x} with configure-like arguments", hv.call(x0, base + 0x10000, base + 0x11000))
    # -1 would say an unknown call configured (CALL-4); any other value is a wrong success value.
    configured = hv.configure()
    expect("the first real configure still succeeds", configured, 0, clause="CALL-4" if configured == ERR else "CFG-5")
    expect("run(1, 0): the receiver blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    for x0 in (0xFF07, 0xFF08, 0xFF0A):
        expect_err(f"unknown {x0:#x} with send-like arguments", hv.call(x0, 1, 8))
    expect("run(1, 0): the receiver is still blocked (refused, no switch)", hv.run_once(1), 0x1, clause="RUN-2")
    # A receive report of 8 bytes would be a message an unknown call sent (CALL-4); any other
    # report says the refused run ran VM 1 all the same (RUN-2).
    reports = hv.reports(1)
    expect("VM 1 received nothing", reports, [], clause="CALL-4" if reports and reports[0][0] == 8 << 32 else "RUN-2")
    # -1 would say an unknown call left a message in VM 1's mailbox (CALL-4).
    sent = hv.send(1, 8)
    expect("a real send still wakes it", sent, 0, clause="CALL-4" if sent == ERR else woken_clause(sent))


#: The clause that makes each call of the register tests return straight away.
RETURNS = {
    0xFF00: "RUN-2",
    0xFF01: "VM-2",
    0xFF02: "VM-3",
    0xFF03: "CFG-1",
    0xFF04: "SEND-1",
    0xFF05: "RECV-1",
    0xFF06: "CLR-2",
    0xFF0F: "CALL-4",
    0x84000000: "CALL-6",
}


@pytest.mark.clause("CALL-5")
@pytest.mark.parametrize(
    "args",
    [
        (0xFF01, 0x1111, 0x2222, 0x3333),
        (0xFF02, 1, 0x2222, 0x3333),
        (0xFF02, 0xFFFF_FFFF, 0x2222, 0x3333),
        (0xFF00, 0, 0, 0x3333),
        (0xFF05, 1, 0x2222, 0x3333),
        (0xFF06, 0x1111, 0x2222, 0x3333),
        (0xFF04, 1, 0x2222, 0x3333),
        (0xFF03, 1, 2, 3),
        (0xFF0F, 0x1111, 0x2222, 0x3333),
        (0x84000000, 0x1111, 0x2222, 0x3333),
    ],
)
def test_primary_x1_x17_zero_x18_x30_kept(boot, args):
    hv = boot(program("idle"))
    regs = hv.call_regs(*args, regs=SENTINELS, clause=RETURNS.get(args[0]))
    expect_zero_x1_x17(f"call {args[0]:#x} from the primary", regs)
    for n in range(18, 31):
        expect(f"call {args[0]:#x}: x{n} preserved", regs[n], SENTINELS[n], "CALL-5: x18..x30 preserved")


@pytest.mark.clause("CALL-5")
def test_primary_registers_after_run_returns(boot):
    hv = boot(program("spinner"), time_slice=2000)
    regs = hv.call_regs(0xFF00, 1, 0, 0x3333, regs=SENTINELS, clause="RUN-4")
    expect("run(1, 0) of a spinner", regs[0], 0x0, "RUN-4: a spinning secondary is preempted", clause="RUN-4")
    expect_zero_x1_x17("HF_VCPU_RUN returning after the secondary ran", regs)
    for n in range(18, 31):
        expect(f"run: x{n} preserved", regs[n], SENTINELS[n], "CALL-5", clause="CALL-5")


def _secondary_regs_checked(hv, vm: int, index: int, what: str, returns: str) -> tuple[int, ...]:
    """CALL-5 on VM ``vm``'s report #index; ``returns``: the clause that says the call returned."""
    regs = report_of(hv, vm, index, returns)
    expect_zero_x1_x17(what, regs)
    for n in range(18, 31):
        expect(f"{what}: x{n} preserved", regs[n], programs.pattern(n), "CALL-5", clause="CALL-5")
    return regs


@pytest.mark.clause("CALL-5")
def test_secondary_registers_after_immediate_return(boot):
    hv = boot(script(Call(0xFF01, 7, 8, 9), Call(0xFF05, 0, 5, 6), Call(0xFF99, 1, 2, 3)))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    for i, returns in enumerate(("VM-2", "RECV-3", "CALL-4")):
        _secondary_regs_checked(hv, 1, i, f"secondary call #{i}", returns)


@pytest.mark.clause("CALL-5", "RECV-4")
def test_secondary_registers_after_blocked_receive_wakes(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1, 0x2222, 0x3333)))
    expect("run(1, 0): configure, then block in receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    sent = hv.send(1, 5)
    expect("send 5 bytes to the blocked VM 1", sent, 0, clause=woken_clause(sent))
    expect("run(1, 0): the woken receiver reports and ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 1, "receive after wake-up", "SEND-9")
    expect("the woken receive's x0", regs[0], 0x0000000500000000, clause=received_clause(regs[0], 0, 5))


@pytest.mark.clause("CALL-5", "RUN-9")
def test_secondary_registers_after_send_resumes(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF04, 0, 3, 0x3333)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(
        "run(1, 0): the secondary sends 3 bytes to the primary",
        hv.run(1, clause="RUN-7"),
        0x0000000300000003,
        clause="RUN-7",
    )
    expect("run(1, 0): it resumes and ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    regs = _secondary_regs_checked(hv, 1, 1, "send after resume", "RUN-9")
    expect("the send's x0 on resume", regs[0], 0, clause="RUN-9")


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
@pytest.mark.parametrize(("x0", "result"), [(0x84000000, 2), (0xC4000000, 2), (0x84000006, 2), (0xC4000006, 2)])
def test_psci_from_primary(boot, insn, x0, result):
    hv = boot(program("idle"))
    plain = x0 & ~(1 << 30)
    if x0 != plain:
        # The ID with bit 30 clear first (CALL-6), then with it set: bit 30 is ignored (CALL-3).
        expect(f"PSCI {plain:#x} via {insn} from the primary", hv.call(plain, insn=insn), result)
    expect(f"PSCI {x0:#x} via {insn} from the primary", hv.call(x0, insn=insn), result, clause="CALL-3" if x0 != plain else None)


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("x0", [0x84000008, 0xC4000008])
def test_psci_system_off_ends_the_run(boot, x0):
    plain = x0 & ~(1 << 30)
    if x0 != plain:
        # The ID with bit 30 clear first, on a system of its own (CALL-6); then x0: bit 30 is ignored (CALL-3).
        outcome = boot(program("idle")).call_outcome(plain)
        expect(f"PSCI_SYSTEM_OFF ({plain:#x}) ends the run", (bool(outcome.regs), outcome.system_off), (False, True))
    outcome = boot(program("idle")).call_outcome(x0)
    expect(
        f"PSCI_SYSTEM_OFF ({x0:#x}) ends the run",
        (bool(outcome.regs), outcome.system_off),
        (False, True),
        clause="CALL-3" if x0 != plain else None,
    )


@pytest.mark.clause("CALL-6", "CALL-4")
@pytest.mark.parametrize("x0", [0x84000000, 0x84000006, 0x84000008, 0x84000002, 0x84000003])
def test_psci_from_secondary_is_unknown(boot, x0):
    # An unknown ID first (CALL-4's -1), then the PSCI ID, which is just as unknown (CALL-6).
    hv = boot(script(Call(UNKNOWN), Call(x0), Call(0xFF01)))
    # The run comes back because the secondary's PSCI call is no PSCI call (no SYSTEM_OFF).
    expect("run(1, 0) after the script ends in wfi", _run_to_wfi(hv, stops="CALL-6"), 0x1, clause="RUN-5")
    expect_err(f"unknown function ID {UNKNOWN:#x} from a secondary", report_of(hv, 1, 0, "CALL-4")[0], clause="CALL-4")
    expect_err(f"PSCI {x0:#x} via hvc from a secondary", report_of(hv, 1, 1, "CALL-6")[0], clause="CALL-6")
    expect("the secondary kept running: its HF_VM_GET_COUNT", report_of(hv, 1, 2, "CALL-6")[0], 2, clause="VM-2")


@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("x0", [0x84000001, 0x84000002, 0x84000003, 0x84000004])
def test_other_psci_calls_return(boot, x0):
    hv = boot(program("idle"))
    hv.call(x0)  # any value: the call is optional in a single-CPU model, but it must return
    expect("the system goes on after the optional PSCI call", hv.vm_count(), 2, clause="VM-2")


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize("x0", [0xFF01, 0xFF04, 0x12345678, 0x84000000])
def test_smc_from_secondary(boot, x0):
    hv = boot(script(Call(x0, 0x1111, 0x2222, 0x3333, insn="smc #0"), Call(0xFF01)))
    expect("run(1, 0) after the script ends in wfi", _run_to_wfi(hv, stops="CALL-7"), 0x1, clause="RUN-5")
    regs = report_of(hv, 1, 0, "CALL-7")
    expect_err(f"smc {x0:#x} from a secondary", regs[0])
    expect("smc: x1 unchanged", regs[1:4], (0x1111, 0x2222, 0x3333), "CALL-7: only x0 changes")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], programs.pattern(n), "CALL-7: only x0 changes")
    expect("execution continued after the smc: its HF_VM_GET_COUNT", report_of(hv, 1, 1, "CALL-7")[0], 2, clause="VM-2")


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize(("x0", "result"), [(0xFF01, ERR), (0xFF03, ERR), (0x0, ERR), (0x84000000, 2), (0x84000006, 2)])
def test_smc_from_primary_keeps_registers(boot, x0, result):
    hv = boot(program("idle"))
    if x0 >> 24 == 0x84:
        # PSCI's value via hvc first (CALL-6), then the same call via smc (CALL-7).
        expect(f"PSCI {x0:#x} via hvc from the primary", hv.call(x0, clause="CALL-6"), result, clause="CALL-6")
    regs = hv.call_regs(x0, 0x1111, 0x2222, 0x3333, regs=SENTINELS, insn="smc #0")
    expect(f"smc {x0:#x} from the primary", regs[0], result, clause="CALL-1" if (result, regs[0]) == (ERR, 0xFFFF_FFFF) else None)
    expect("smc: x1..x3 unchanged", regs[1:4], (0x1111, 0x2222, 0x3333), "CALL-7: not zeroed as in CALL-5")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], SENTINELS[n], "CALL-7")
    # -1 would say the smc configured (CALL-7); any other value is a wrong success value (CFG-5).
    configured = hv.configure()
    expect("an smc HF_VM_CONFIGURE configured nothing", configured, 0, clause="CALL-7" if configured == ERR else "CFG-5")


def _cut_to_w0(actual: int, otherwise: str) -> str:
    """-1 cut to 32 bits is CALL-1's failure (the 64-bit result in x0); another value, ``otherwise``."""
    return "CALL-1" if actual == 0xFFFF_FFFF else otherwise


@pytest.mark.clause("CALL-1")
def test_result_is_64_bits_in_x0(boot):
    # Mutant result_truncated_to_w0: -1 is all 64 bits of x0, from the primary and from a secondary.
    hv = boot(script(Call(0xFF02, 0xFFFF_FFFF)))
    # 0xffffffff is -1 cut to 32 bits (CALL-1); any other value is a wrong count (VM-3: -1).
    count = hv.call(0xFF02, 0xFFFF_FFFF)
    expect_err("HF_VCPU_GET_COUNT(0xffffffff) from the primary", count, clause=_cut_to_w0(count, "VM-3"))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    count = hv.report(1, 0)[0]
    expect_err("the secondary's HF_VCPU_GET_COUNT(0xffffffff)", count, clause=_cut_to_w0(count, "VM-3"))
