"""§1 Calling convention: CALL-1 .. CALL-7."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, expect_zero_x1_x17, program, script
from guest_asm.programs import Call, Rel

HVC_IMMEDIATES = ["hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff"]
#: x4..x30 loaded with recognisable values before a primary call.
SENTINELS = {n: 0x5EED_0000_0000_0000 | n << 8 | n for n in range(4, 31)}


@pytest.mark.clause("CALL-1", "VM-2")
def test_primary_hvc_result_in_x0(boot):
    hv = boot(program("idle"), program("idle"))
    expect("HF_VM_GET_COUNT (0xff01) from the primary", hv.call(0xFF01), 3)


@pytest.mark.clause("CALL-1", "VM-2")
def test_secondary_hvc_result_in_x0(boot):
    hv = boot(script(Call(0xFF01)), program("idle"))
    expect("run(1, 0) after the script ends in wfi", hv.run(1), 0x1)
    expect("the secondary's HF_VM_GET_COUNT", hv.report(1, 0)[0], 3)


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_primary(boot, insn):
    hv = boot(program("idle"))
    expect(f"HF_VM_GET_COUNT via {insn}", hv.call(0xFF01, insn=insn), 2)
    base = hv.base(0)
    expect(f"HF_VM_CONFIGURE via {insn}", hv.call(0xFF03, base + 0x10000, base + 0x11000, insn=insn), 0)
    expect(f"a second HF_VM_CONFIGURE via {insn}", hv.call(0xFF03, base + 0x10000, base + 0x11000, insn=insn), ERR)


@pytest.mark.clause("CALL-2")
@pytest.mark.parametrize("insn", HVC_IMMEDIATES)
def test_hvc_immediate_ignored_secondary(boot, insn):
    hv = boot(script(Call(0xFF01, insn=insn), Call(0xFF02, 1, insn=insn), Call(0xFF00, 1, 0, insn=insn)))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"the secondary's HF_VM_GET_COUNT via {insn}", hv.report(1, 0)[0], 2)
    expect(f"the secondary's HF_VCPU_GET_COUNT via {insn}", hv.report(1, 1)[0], ERR)
    expect(f"the secondary's HF_VCPU_RUN via {insn}", hv.report(1, 2)[0], 0x1)


@pytest.mark.clause("CALL-3")
@pytest.mark.parametrize(
    "x0",
    [0xFF01, 0x4000FF01, 0xFFFF_FFFF_0000_FF01, 0xFFFF_FFFF_4000_FF01, 0x1234_5678_0000_FF01, 0x8000_0000_4000_FF01],
)
def test_function_id_low_32_bits_bit_30_ignored(boot, x0):
    hv = boot(program("idle"))
    expect(f"HF_VM_GET_COUNT as x0={x0:#x}", hv.call(x0), 2)


@pytest.mark.clause("CALL-3", "SEND-10", "SEND-11")
@pytest.mark.parametrize("x0", [0x4000FF04, 0xFFFF_FFFF_0000_FF04])
def test_send_with_masked_bits(boot, x0):
    hv = boot(program("receiver"))
    expect("run(1, 0): the receiver blocks", hv.run(1), 0x1)
    expect("configure", hv.configure(), 0)
    expect(f"HF_MAILBOX_SEND as x0={x0:#x} to the blocked receiver", hv.call(x0, 1, 4), 0)


@pytest.mark.clause("CALL-3", "CALL-4")
@pytest.mark.parametrize("x0", [0x8000FF01, 0x1FF01, 0x2000FF01, 0xFF01 << 32, 0x0100FF01])
def test_other_bits_are_not_ignored(boot, x0):
    hv = boot(program("idle"))
    expect(f"x0={x0:#x} is not HF_VM_GET_COUNT", hv.call(x0), ERR)


@pytest.mark.clause("CALL-4", "ID-1", "ID-7")
@pytest.mark.parametrize("x0", [0x0, 0xFEFF, 0xFF07, 0xFF08, 0xFF09, 0xFF0A, 0xFFFF, 0xFFFF_FFFF, 0x8400_006E, ERR])
def test_unknown_ids_return_error(boot, x0):
    hv = boot(script(Call(x0, 1, 2, 3)))
    expect(f"unknown function ID {x0:#x} from the primary", hv.call(x0, 1, 2, 3), ERR)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"unknown function ID {x0:#x} from a secondary", hv.report(1, 0)[0], ERR)


@pytest.mark.clause("CALL-4")
def test_unknown_ids_change_no_state(boot):
    hv = boot(program("receiver"))
    base = hv.base(0)
    for x0 in (0xFF07, 0xFF08, 0xFF13, 0xFEFF):
        expect(f"unknown {x0:#x} with configure-like arguments", hv.call(x0, base + 0x10000, base + 0x11000), ERR)
    expect("the first real configure still succeeds", hv.configure(), 0)
    expect("run(1, 0): the receiver blocks", hv.run(1), 0x1)
    for x0 in (0xFF07, 0xFF08, 0xFF0A):
        expect(f"unknown {x0:#x} with send-like arguments", hv.call(x0, 1, 8), ERR)
    expect("run(1, 0): the receiver is still blocked", hv.run(1), 0x1)
    expect("a real send still wakes it", hv.send(1, 8), 0)


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
    regs = hv.call_regs(*args, regs=SENTINELS)
    expect_zero_x1_x17(f"call {args[0]:#x} from the primary", regs)
    for n in range(18, 31):
        expect(f"call {args[0]:#x}: x{n} preserved", regs[n], SENTINELS[n], "CALL-5: x18..x30 preserved")


@pytest.mark.clause("CALL-5")
def test_primary_registers_after_run_returns(boot):
    hv = boot(program("spinner"), time_slice=2000)
    regs = hv.call_regs(0xFF00, 1, 0, 0x3333, regs=SENTINELS)
    expect("run(1, 0) of a spinner", regs[0], 0x0)
    expect_zero_x1_x17("HF_VCPU_RUN returning after the secondary ran", regs)
    for n in range(18, 31):
        expect(f"run: x{n} preserved", regs[n], SENTINELS[n], "CALL-5")


def _secondary_regs_checked(hv, vm: int, index: int, what: str) -> tuple[int, ...]:
    from guest_asm import programs

    regs = hv.report(vm, index)
    expect_zero_x1_x17(what, regs)
    for n in range(18, 31):
        expect(f"{what}: x{n} preserved", regs[n], programs.pattern(n), "CALL-5")
    return regs


@pytest.mark.clause("CALL-5")
def test_secondary_registers_after_immediate_return(boot):
    hv = boot(script(Call(0xFF01, 7, 8, 9), Call(0xFF05, 0, 5, 6), Call(0xFF99, 1, 2, 3)))
    expect("run(1, 0)", hv.run(1), 0x1)
    for i in range(3):
        _secondary_regs_checked(hv, 1, i, f"secondary call #{i}")


@pytest.mark.clause("CALL-5", "RECV-4")
def test_secondary_registers_after_blocked_receive_wakes(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1, 0x2222, 0x3333)))
    expect("run(1, 0): configure, then block in receive", hv.run(1), 0x1)
    expect("configure", hv.configure(), 0)
    expect("send 5 bytes to the blocked VM 1", hv.send(1, 5), 0)
    expect("run(1, 0): the woken receiver reports and ends in wfi", hv.run(1), 0x1)
    regs = _secondary_regs_checked(hv, 1, 1, "receive after wake-up")
    expect("the woken receive's x0", regs[0], 0x0000000500000000)


@pytest.mark.clause("CALL-5", "RUN-9")
def test_secondary_registers_after_send_resumes(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF04, 0, 3, 0x3333)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): the secondary sends 3 bytes to the primary", hv.run(1), 0x0000000300000003)
    expect("run(1, 0): it resumes and ends in wfi", hv.run(1), 0x1)
    regs = _secondary_regs_checked(hv, 1, 1, "send after resume")
    expect("the send's x0 on resume", regs[0], 0)


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
@pytest.mark.parametrize(("x0", "result"), [(0x84000000, 2), (0xC4000000, 2), (0x84000006, 2), (0xC4000006, 2)])
def test_psci_from_primary(boot, insn, x0, result):
    hv = boot(program("idle"))
    expect(f"PSCI {x0:#x} via {insn} from the primary", hv.call(x0, insn=insn), result)


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("x0", [0x84000008, 0xC4000008])
def test_psci_system_off_ends_the_run(boot, x0):
    hv = boot(program("idle"))
    outcome = hv.call_outcome(x0)
    expect(f"PSCI_SYSTEM_OFF ({x0:#x}) ends the run", (bool(outcome.regs), outcome.system_off), (False, True))


@pytest.mark.clause("CALL-6", "CALL-4")
@pytest.mark.parametrize("x0", [0x84000000, 0x84000006, 0x84000008, 0x84000002, 0x84000003])
def test_psci_from_secondary_is_unknown(boot, x0):
    hv = boot(script(Call(x0), Call(0xFF01)))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"PSCI {x0:#x} via hvc from a secondary", hv.report(1, 0)[0], ERR)
    expect("the secondary kept running", hv.report(1, 1)[0], 2)


@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("x0", [0x84000001, 0x84000002, 0x84000003, 0x84000004])
def test_other_psci_calls_return(boot, x0):
    hv = boot(program("idle"))
    hv.call(x0)  # any value: the call is optional in a single-CPU model, but it must return
    expect("the system goes on after the optional PSCI call", hv.vm_count(), 2)


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize("x0", [0xFF01, 0xFF04, 0x12345678, 0x84000000])
def test_smc_from_secondary(boot, x0):
    from guest_asm import programs

    hv = boot(script(Call(x0, 0x1111, 0x2222, 0x3333, insn="smc #0"), Call(0xFF01)))
    expect("run(1, 0)", hv.run(1), 0x1)
    regs = hv.report(1, 0)
    expect(f"smc {x0:#x} from a secondary", regs[0], ERR)
    expect("smc: x1 unchanged", regs[1:4], (0x1111, 0x2222, 0x3333), "CALL-7: only x0 changes")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], programs.pattern(n), "CALL-7: only x0 changes")
    expect("execution continued after the smc", hv.report(1, 1)[0], 2)


@pytest.mark.clause("CALL-7")
@pytest.mark.parametrize(("x0", "result"), [(0xFF01, ERR), (0xFF03, ERR), (0x0, ERR), (0x84000000, 2), (0x84000006, 2)])
def test_smc_from_primary_keeps_registers(boot, x0, result):
    hv = boot(program("idle"))
    regs = hv.call_regs(x0, 0x1111, 0x2222, 0x3333, regs=SENTINELS, insn="smc #0")
    expect(f"smc {x0:#x} from the primary", regs[0], result)
    expect("smc: x1..x3 unchanged", regs[1:4], (0x1111, 0x2222, 0x3333), "CALL-7: not zeroed as in CALL-5")
    for n in range(4, 31):
        expect(f"smc: x{n} unchanged", regs[n], SENTINELS[n], "CALL-7")
    expect("an smc HF_VM_CONFIGURE configured nothing", hv.configure(), 0)
