"""§3 VMs: VM-1 .. VM-4 -- IDs in load order, vCPU 0 started at boot, the ID and count calls."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call
from profiles.hafnium_2019_03.checks import REFUSED, expect_err, expect_refused, report_of
from profiles.hafnium_2019_03.hv import ERR, program, script


@pytest.mark.clause("VM-1", "VM-2")
def test_vm_ids_follow_load_order(boot):
    # The n-th guest loaded (the session's VM n) reports n as its ID; the primary is 0.
    hv = boot(*(script(Call(0xFF00)) for _ in range(4)))
    expect("HF_VM_GET_ID from the primary", hv.vm_id(), 0, clause="VM-1")
    for vm in range(1, 5):
        expect(f"run({vm}, 0) after the script ends in wfi", hv.run(vm, clause="RUN-5"), REFUSED, clause="RUN-5")
        got = report_of(hv, vm, 0, "VM-1")[0]
        expect(f"the guest loaded #{vm}: its HF_VM_GET_ID", got, vm, clause="VM-1" if 1 <= got <= 4 else "VM-2")


@pytest.mark.clause("VM-1")
def test_vm_ids_follow_load_order_by_behaviour(boot):
    # Three different programs: each run answers as the guest loaded at that position would.
    hv = boot(script(Call(0xFF00)), script(Call(0xFF04), Call(0xFF00)), script(Call(0xFF0B, 64, 1)))
    responses = [hv.run(1, clause="RUN-5"), hv.run(2, clause="RUN-6"), hv.run(3, clause="RUN-5")]
    # Which guest ran where, by its reports: the first and the third report one call before their
    # wfi; the second none before its yield (two, if a wrong yield response made the run go on).
    # Only a guest out of place is VM-1's failure; the right guest answering a wrong run response
    # breaks that response's rule.
    counts = [len(hv.reports(vm)) for vm in (1, 2, 3)]
    in_place = counts[0] == counts[2] == 1 and counts[1] != 1
    expect("the guests in load order, by their reports", in_place, True, f"reports per VM 1..3: {counts}", clause="VM-1")
    expect("run(1, 0): the first guest reports and ends in wfi", responses[0], REFUSED, clause="RUN-5" if in_place else "VM-1")
    expect("run(2, 0): the second guest yields", responses[1], 0x1, clause="RUN-6" if in_place else "VM-1")
    expect("run(3, 0): the third guest ends in wfi", responses[2], REFUSED, clause="RUN-5" if in_place else "VM-1")
    first, third = report_of(hv, 1, 0, "VM-1")[0], report_of(hv, 3, 0, "VM-1")[0]
    # The first guest's HF_VM_GET_ID at VM 3 and the third's -1 at VM 1: the two swapped (VM-1).
    swapped = first == ERR and third != ERR
    expect_err("VM 3's report: the third guest's HF_INTERRUPT_ENABLE(64, 1)", third, clause="VM-1" if swapped else "WAIT-4")
    expect("VM 1's report: the first guest's HF_VM_GET_ID", first, 1, clause="VM-2")


@pytest.mark.clause("VM-1", "RUN-1")
@pytest.mark.parametrize("vcpus", [2, 4])
def test_only_vcpu_0_is_started(boot, vcpus):
    hv = boot(script(Call(0xFF00)), script(Call(0xFF00)), program("idle", vcpus=vcpus))
    for idx in range(1, vcpus):
        # vCPU idx is off (VM-1: only vCPU 0 starts): its run is refused (RUN-1: target off).
        # Its program is a wfi loop: a started vCPU is seen by a PREEMPTED (0x0) run (VM-1); any
        # other wrong value is the refusal's encoding (RUN-1).
        got = hv.run_once(3, idx)
        expect_refused(f"run(3, {idx}) of a vCPU never started", got, clause="VM-1" if got == 0x0 else "RUN-1")
    # VM 1's count answered for VM 3 is VMs numbered out of load order (VM-1), another count VM-4's.
    count = hv.vcpu_count(3)
    expect("HF_VCPU_GET_COUNT(3)", count, vcpus, clause="VM-1" if hv.vcpu_count(1) == vcpus != 1 else "VM-4")
    for vm in (1, 2):
        expect(f"run({vm}, 0): vCPU 0 was started", hv.run(vm, clause="VM-1"), REFUSED, clause="RUN-5")
        expect(f"VM {vm}'s vCPU 0 ran from its entry", report_of(hv, vm, 0, "VM-1")[0], vm, clause="VM-2")


@pytest.mark.clause("VM-2")
@pytest.mark.parametrize("n", [0, 1, 3])
def test_vm_get_id_primary_is_zero(boot, n):
    hv = boot(*[program("idle") for _ in range(n)])
    expect(f"HF_VM_GET_ID from the primary, {n} secondaries", hv.vm_id(), 0)


@pytest.mark.clause("VM-2")
def test_vm_get_id_after_switches(boot):
    # The caller's ID, also after the caller was switched out and resumed (yield).
    hv = boot(program("idle"), script(Call(0xFF00), Call(0xFF04), Call(0xFF00)))
    expect("run(2, 0): VM 2 reports its ID, then yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("HF_VM_GET_ID from the primary in between", hv.vm_id(), 0)
    expect("run(2, 0): VM 2 resumes, reports its ID, then wfi", hv.run(2, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect("VM 2's HF_VM_GET_ID", report_of(hv, 2, 0, "VM-2")[0], 2)
    expect("VM 2's HF_VM_GET_ID after its yield", report_of(hv, 2, 2, "RUN-6")[0], 2)


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
def test_vm_count_counts_the_primary(boot, n):
    hv = boot(*[program("idle") for _ in range(n)])
    expect(f"HF_VM_GET_COUNT with {n} secondaries", hv.vm_count(), n + 1)


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("n", [1, 3])
def test_vm_count_from_a_secondary(boot, n):
    hv = boot(*[script(Call(0xFF01)) for _ in range(n)])
    expect(f"run({n}, 0) after the script ends in wfi", hv.run(n, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect(f"HF_VM_GET_COUNT from VM {n}", report_of(hv, n, 0, "CALL-1")[0], n + 1)


@pytest.mark.clause("VM-4")
def test_vcpu_count_per_vm(boot):
    # Counts a Hafnium of this era can boot (its MAX_CPUS is 8; more overruns its vCPU array).
    hv = boot(program("idle"), program("idle", vcpus=2), program("idle", vcpus=5), program("idle", vcpus=8))
    for vm, count in ((1, 1), (2, 2), (3, 5), (4, 8)):
        expect(f"HF_VCPU_GET_COUNT({vm})", hv.vcpu_count(vm), count)


@pytest.mark.clause("VM-4")
def test_vcpu_count_of_the_primary(boot):
    # The primary's count is implementation-defined; that it is a count, not -1, is VM-4's MUST.
    hv = boot(program("idle"))
    count = hv.vcpu_count(0)
    expect("HF_VCPU_GET_COUNT(0) from the primary is a count (not -1)", 1 <= count < 0xFFFF_FFFF, True)


@pytest.mark.clause("VM-4")
@pytest.mark.parametrize("vm", [3, 4, 0xFF, 0xFFFF, 0xFFFF_FFFF])
def test_vcpu_count_no_such_vm(boot, vm):
    hv = boot(program("idle"), program("idle", vcpus=2))
    expect_err(f"HF_VCPU_GET_COUNT({vm:#x})", hv.vcpu_count(vm))


@pytest.mark.clause("VM-4")
@pytest.mark.parametrize("vm", [0, 1, 2, 3, 0xFFFF_FFFF])
def test_vcpu_count_from_a_secondary(boot, vm):
    hv = boot(script(Call(0xFF02, vm), Call(0xFF00)), program("idle", vcpus=2))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_err(f"VM 1's HF_VCPU_GET_COUNT({vm:#x}): the caller is not the primary", report_of(hv, 1, 0, "VM-4")[0])
    expect("VM 1 went on: its HF_VM_GET_ID", report_of(hv, 1, 1, "VM-4")[0], 1, clause="VM-2")


@pytest.mark.clause("VM-4")
@pytest.mark.impl_defined
def test_vcpu_count_of_the_primary_value(boot):
    # The primary's own vCPU count is the build's choice: at least the one running the driver.
    hv = boot(program("idle"))
    count = hv.vcpu_count(0)
    expect("HF_VCPU_GET_COUNT(0): at least 1, at most 64 (a plausible CPU count)", 1 <= count <= 64, True)
