"""§10 Faults (implementation-defined): a guest fault is contained and located, never corrupting others."""

from __future__ import annotations

import pytest

from conformance.harness import YIELD_LIMIT, expect
from conformance.protocol import fault_vm
from profiles.hafnium_2018_10.checks import received_clause, woken_clause
from profiles.hafnium_2018_10.hv import ERR, program

FAULT_PROGRAMS = ["fault_load", "fault_store", "fault_fetch", "fault_undef", "fault_brk", "fault_svc"]


@pytest.mark.clause("FAULT")
@pytest.mark.impl_defined
@pytest.mark.parametrize("kind", FAULT_PROGRAMS)
def test_fault_is_reported_or_contained(boot, kind):
    hv = boot(program(kind), program("echo"))
    outcome = hv.call_outcome(0xFF00, 1, 0)
    for _ in range(YIELD_LIMIT):  # a preemption before the fault (RUN-4) is no answer yet
        if not outcome.regs or outcome.regs[0] != 0x0:
            break
        outcome = hv.call_outcome(0xFF00, 1, 0)
    if outcome.regs:
        # The build returned to the primary: only "not runnable" is a sensible run response.
        expect(f"run of a VM that hit {kind}", outcome.regs[0] & 0xFF, 0x1)
    else:
        expect(f"the stop after {kind} is reported as a fault", outcome.fault is not None, True)
        expect("the fault names the VM (its vm attribute)", fault_vm(outcome.fault), 1)


@pytest.mark.clause("FAULT", "VM-5")
@pytest.mark.requires("fault_continue")
@pytest.mark.parametrize("kind", FAULT_PROGRAMS)
def test_fault_does_not_disturb_other_vms(boot, kind):
    hv = boot(program(kind), program("echo"), fault_policy="continue")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): echo blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    # VM 2 is the second guest loaded, echo: it reported its second configure's -1 (VM-1).
    reports = [r[0] for r in hv.reports(2)]
    expect("VM 2's reports: one, echo's second configure", len(reports), 1, clause="VM-1")
    expect("echo's second configure", reports[0], ERR, clause="CALL-1" if reports[0] == 0xFFFF_FFFF else "CFG-2")
    expect(f"run(1, 0): VM 1 hits {kind}; its vCPU stops", hv.run(1, clause="FAULT"), 0x1, clause="FAULT")
    expect("run(1, 0) again: the faulted vCPU never runs again", hv.run_once(1), 0x1, clause="FAULT")
    hv.write_send_page(b"still here")
    # Echo, blocked in its receive before the fault, is still waiting there (VM-5: undisturbed).
    sent = hv.send(2, 10)
    expect("send to echo", sent, 0, clause="VM-5" if sent == ERR else woken_clause(sent))
    answer = hv.run(2, clause="VM-5")
    # Echo's receive first: no report of it is a woken vCPU that did not run (SEND-9).
    reports = hv.reports(2)
    expect("VM 2's reports: echo received", len(reports) >= 2, True, clause="SEND-9")
    received = reports[1][0]
    expect("echo's receive: sender 0, 10 bytes", received, 0x0000000A00000000, clause=received_clause(received, 0, 10))
    expect("run(2, 0): echo answers", answer, 0x0000000A00000003, clause="RUN-7")
    expect("echoed bytes", hv.recv_page(10), b"still here", clause="SEND-7")
