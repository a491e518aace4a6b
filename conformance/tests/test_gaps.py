"""Tests added after the self-test (``python -m conformance.selftest``) found a mutant they kill.

Each test names the mutant of ``reference_hv.mutants`` that survived the suite without it.
"""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


@pytest.mark.clause("VM-4", "RUN-2")
@pytest.mark.parametrize("vcpu", [1, 2])
def test_other_vcpus_off_at_boot_run_nothing(boot, vcpu):
    # Mutant all_vcpus_ready_at_boot: a program that reports at once shows whether vCPU 1 ran.
    hv = boot(program("configure_twice", vcpus=3))
    expect(f"run(1, {vcpu}): vCPU {vcpu} is off", hv.run(1, vcpu), 0x1)
    expect(f"no code ran on vCPU {vcpu}", hv.reports(1), [])
    expect("run(1, 0): vCPU 0 runs its two configures", hv.run(1, 0), 0x1)
    expect("VM 1's two configures", [r[0] for r in hv.reports(1)], [0, ERR])


@pytest.mark.clause("RUN-2")
@pytest.mark.parametrize("vm", [0x1_0001, 0x1_0000, 0xFFFF_0001])
def test_run_vm_id_is_u32_not_u16(boot, vm):
    # Mutant run_vm_id_u16: VM IDs are u32, so 0x10001 is an absent VM, not VM 1 (nor 0x10000 the primary).
    hv = boot(program("configure_twice"))
    expect(f"run({vm:#x}, 0)", hv.run_once(vm), 0x1)
    expect("VM 1 did not run", hv.reports(1), [])


@pytest.mark.clause("RUN-6", "RECV-4")
@pytest.mark.parametrize("guest", ["receiver", "script"])
def test_blocking_receive_answers_0x1_not_yield(boot, guest):
    # Mutant blocking_receive_yields: Hv.run() loops over YIELD, so the first response itself is
    # checked. The program reaches its receive within a few instructions, far inside one time
    # slice (as test_0xff00_is_vcpu_run assumes of a wfi program).
    vm = program("receiver") if guest == "receiver" else script(CFG, Call(0xFF05, 1), Call(0xFF01))
    hv = boot(vm)
    expect("run(1, 0): the first response, a blocking receive with nothing to receive", hv.run_once(1), 0x1)
    expect("VM 1 did not go past its receive (reports so far)", len(hv.reports(1)), 0 if guest == "receiver" else 1)


@pytest.mark.clause("CALL-1")
def test_result_is_64_bits_in_x0(boot):
    # Mutant result_truncated_to_w0: -1 is all 64 bits of x0, from the primary and from a secondary.
    hv = boot(script(Call(0xFF02, 0xFFFF_FFFF)))
    expect("HF_VCPU_GET_COUNT(0xffffffff) from the primary", hv.call(0xFF02, 0xFFFF_FFFF), 0xFFFF_FFFF_FFFF_FFFF)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("the secondary's HF_VCPU_GET_COUNT(0xffffffff)", hv.report(1, 0)[0], 0xFFFF_FFFF_FFFF_FFFF)
