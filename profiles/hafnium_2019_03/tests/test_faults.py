"""RUN-11: an unhandled exception in a secondary -> ABORTED 0x7; the VM never runs again (RUN-1).

The text makes ABORTED a defined result, so these tests boot with fault policy "continue" and need
a build that returns to the primary after a secondary's fault (capability ``fault_continue``).

Kinds: a data abort on unmapped memory (load, store), an instruction abort (a branch to unmapped
memory), an undefined instruction with VBAR_EL1 pointing at unmapped memory (taken by the build,
or by EL1 whose vector fetch is then an instruction abort: unhandled either way), and a write to
the VM's own recv page after its configure (CFG-4: the recv page becomes read-only to the VM).
Not observable through the protocol: an SError (no guest program can raise one deterministically)
and "unknown trap" classes other than these.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call
from profiles.hafnium_2019_03.checks import REFUSED, expect_calls, expect_refused, report_of, vcpu_reports, x0_of
from profiles.hafnium_2019_03.hv import program, script

#: (program, its parameters): each hits an unhandled exception before its first report.
FAULTS = {
    "load_unmapped": ("fault_load", {}),
    "store_unmapped": ("fault_store", {}),
    "load_high": ("fault_load", {"ADDR": 0xFFFF_0000_0000}),
    "fetch_unmapped": ("fault_fetch", {}),
    "undefined": ("abort_undef", {}),
}


@pytest.mark.clause("RUN-11", "RUN-1")
@pytest.mark.requires("fault_continue")
@pytest.mark.parametrize("kind", list(FAULTS))
def test_unhandled_exception_aborts_the_vm(boot, kind):
    name, params = FAULTS[kind]
    hv = boot(program(name, **params), script(Call(0xFF00), Call(0xFF04), Call(0xFF00)), fault_policy="continue")
    expect("run(2, 0): VM 2 reports its ID, then yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect(f"run(1, 0): VM 1 hits {kind}", hv.run(1, clause="RUN-11"), 0x7, clause="RUN-11")
    expect(f"VM 1 did not go past its {kind}", hv.reports(1), [], clause="RUN-11")
    for i in range(3):
        expect_refused(f"run(1, 0) #{i} of the aborted VM", hv.run_once(1), clause="RUN-1")
    expect("VM 1 never ran again", hv.reports(1), [], clause="RUN-11")
    # The system goes on: VM 2 resumes after its yield, undisturbed.
    expect("run(2, 0): VM 2 resumes, then wfi", hv.run(2, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect_calls("VM 2's calls", [x0_of(hv, 2, i) for i in range(3)], [2, 0, 2], ["VM-2", None, "VM-2"], clause="RUN-6")
    expect("HF_VM_GET_COUNT after the abort", hv.vm_count(), 3, clause="VM-3")


@pytest.mark.clause("RUN-11", "CFG-4", "RUN-1")
@pytest.mark.requires("fault_continue")
def test_write_to_own_recv_page_after_configure_aborts(boot):
    hv = boot(program("recv_write"), fault_policy="continue")
    response = hv.run(1, clause="RUN-11")
    # Report 0: the write before configure went through; report 1: the configure.
    expect("VM 1's write to its recv page before configuring", x0_of(hv, 1, 0), 0, clause="CFG-4")
    expect("VM 1's configure", report_of(hv, 1, 1, "CFG-4")[0], 0, clause="CFG-5")
    expect("VM 1 did not go past its write to the read-only recv page", len(hv.reports(1)), 2, clause="CFG-4")
    expect("run(1, 0): VM 1 writes its recv page after configure", response, 0x7, clause="RUN-11")
    expect_refused("run(1, 0) of the aborted VM", hv.run_once(1), clause="RUN-1")


@pytest.mark.clause("RUN-11", "RUN-1")
@pytest.mark.requires("fault_continue", "ready_vcpus")
def test_abort_stops_every_vcpu_of_the_vm(boot):
    hv = boot(program("vcpus_fault", vcpus=2, ready_vcpus=2), fault_policy="continue")
    expect("run(1, 1): vCPU 1 reports its ID, then yields", hv.run(1, 1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(1, 0): vCPU 0 faults", hv.run(1, 0, clause="RUN-11"), 0x7, clause="RUN-11")
    for idx in (1, 0, 1):
        expect_refused(f"run(1, {idx}) of the aborting VM", hv.run_once(1, idx), clause="RUN-11")
    expect("vCPU 1 never ran again: its one report", len(vcpu_reports(hv, 1, 1)), 1, clause="RUN-11")
    expect("vCPU 0 never went past its fault", vcpu_reports(hv, 1, 0), [], clause="RUN-11")
