"""Checks found missing by the mutant self-test (``python -m conformance.selftest --profile
hafnium-2019-03``): each names the wrong build that survived the rest of the suite without it.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from guest_asm.programs import Call
from profiles.hafnium_2019_03 import programs
from profiles.hafnium_2019_03.hv import ERR, Hv

REFUSED = 0xFFFF_FFFF_FFFF_FF02  # RUN-1: WAIT_FOR_INTERRUPT, ns=INDEF
YIELD = 0x1  # RUN-6


def _two_vcpus(*steps: programs.Step) -> GuestVM:
    """A scripted secondary with two vCPUs (only vCPU 0 starts at boot, VM-1)."""
    return GuestVM(programs.script_source(steps), "script.S", 0x10_0000, 2, 1)


def _refused_absent_vm(hv: Hv, vm_id: int) -> None:
    """run(vm_id, 0) of a VM that does not exist: refused (RUN-1); -1 means HF_VCPU_RUN itself is
    not 0xff03 (ID-4)."""
    got = hv.run_once(vm_id, 0)
    expect(f"run({vm_id:#x}, 0): no such VM", got, REFUSED, clause="ID-4" if got == ERR else "RUN-1")


@pytest.mark.clause("VM-1", "RUN-1", "VM-4")
def test_only_vcpu_0_starts(boot):
    """Mutant ``all_vcpus_started``: a secondary's vCPU 1 is ``off`` after boot, so running it is
    refused -- whether or not vCPU 0 has run (its script yields first, so a vCPU 1 that ran would
    answer YIELD 0x1, not the refusal)."""
    hv = boot(_two_vcpus(Call(0xFF04)))
    _refused_absent_vm(hv, 5)
    expect("HF_VCPU_GET_COUNT(1)", hv.vcpu_count(1), 2, clause="VM-4")
    expect("run(1, 1) before vCPU 0 ran: vCPU 1 is off", hv.run_once(1, 1), REFUSED, clause="VM-1")
    expect("run(1, 0): vCPU 0 yields", hv.run(1, 0, clause="RUN-6"), YIELD, clause="RUN-6")
    expect("run(1, 1) after vCPU 0 ran: still off", hv.run_once(1, 1), REFUSED, clause="VM-1")


@pytest.mark.clause("RUN-1", "ID-4")
@pytest.mark.parametrize("vm_id", [0x1_0001, 0xFFFF_0001, 0x8000_0001])
def test_run_vm_id_is_32_bits(boot, vm_id):
    """Mutant ``run_vm_id_u16``: HF_VCPU_RUN's vm_id is a uint32_t (ID-4): 0x10001 is no VM (RUN-1),
    not VM 1 read from 16 bits."""
    hv = boot(GuestVM(programs.script_source([Call(0xFF04)]), "script.S"))
    _refused_absent_vm(hv, 5)
    _refused_absent_vm(hv, vm_id)
    expect("run(1, 0): VM 1 itself yields", hv.run(1, 0, clause="RUN-6"), YIELD, clause="RUN-6")
