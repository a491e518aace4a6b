"""§10 Faults (implementation-defined): a guest fault is contained and located, never corrupting others."""

from __future__ import annotations

import pytest

from conformance.harness import expect, program

FAULT_PROGRAMS = ["fault_load", "fault_store", "fault_fetch", "fault_undef", "fault_brk", "fault_svc"]


@pytest.mark.clause("FAULT")
@pytest.mark.impl_defined
@pytest.mark.parametrize("kind", FAULT_PROGRAMS)
def test_fault_is_reported_or_contained(boot, kind):
    hv = boot(program(kind), program("echo"))
    outcome = hv.call_outcome(0xFF00, 1, 0)
    if outcome.regs:
        # The build returned to the primary: only "not runnable" is a sensible run response.
        expect(f"run of a VM that hit {kind}", outcome.regs[0] & 0xFF, 0x1)
    else:
        where = str(outcome.fault or "")
        expect(f"the stop after {kind} is reported as a fault", outcome.fault is not None, True)
        expect("the report names the VM", "VM 1" in where, True)


@pytest.mark.clause("FAULT", "VM-5")
@pytest.mark.requires("fault_continue")
@pytest.mark.parametrize("kind", FAULT_PROGRAMS)
def test_fault_does_not_disturb_other_vms(boot, kind):
    hv = boot(program(kind), program("echo"), fault_policy="continue")
    expect("configure", hv.configure(), 0)
    expect("run(2, 0): echo blocks", hv.run(2), 0x1)
    expect(f"run(1, 0): VM 1 hits {kind}; its vCPU stops", hv.run(1), 0x1)
    expect("run(1, 0) again: the faulted vCPU never runs again", hv.run(1), 0x1)
    hv.write_send_page(b"still here")
    expect("send to echo", hv.send(2, 10), 0)
    expect("run(2, 0): echo answers", hv.run(2), 0x0000000A00000003)
    expect("echoed bytes", hv.recv_page(10), b"still here")
