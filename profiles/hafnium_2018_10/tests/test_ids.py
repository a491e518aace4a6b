"""§2 Hypercall numbers: ID-1 .. ID-7 — each literal function ID does its call and no other.

Each test first checks that the literal ID does its call (the ID clause: a check whose answer no
other call gives), then the call's values (their own clauses).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel
from profiles.hafnium_2018_10.checks import expect_err, received_clause, report_of, woken_clause
from profiles.hafnium_2018_10.hv import ERR, program, script


@pytest.mark.clause("ID-1", "RUN-4", "RUN-5")
def test_0xff00_is_vcpu_run(boot):
    # One secondary per system, so that VM 1 is the program named whatever the load order (VM-1).
    hv = boot(program("spinner"), time_slice=2000)
    expect("0xff00(3, 0): HF_VCPU_RUN of an absent VM is refused", hv.call(0xFF00, 3, 0, clause="ID-1"), 0x1, clause="ID-1")
    expect("0xff00(1, 0) on a spinner: YIELD", hv.call(0xFF00, 1, 0, clause="RUN-4"), 0x0, clause="RUN-4")
    hv = boot(program("wfi"), time_slice=2000)
    # The wfi program may be preempted before its wfi (RUN-4): run through YIELDs.
    expect("0xff00(1, 0) on a wfi program", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")


@pytest.mark.clause("ID-2", "VM-2")
def test_0xff01_is_vm_get_count(boot):
    # 0xff01 counts VMs (ID-2): two more secondaries, two more; the count itself is VM-2's N + 1.
    one = boot(program("idle")).call(0xFF01, clause="ID-2")
    hv = boot(program("idle"), program("idle"), program("idle"))
    three = hv.call(0xFF01, clause="ID-2")
    expect("0xff01 with 3 secondaries minus 0xff01 with 1", three - one, 2, clause="ID-2")
    expect("0xff01", three, 4, clause="VM-2")


@pytest.mark.clause("ID-3", "VM-3")
def test_0xff02_is_vcpu_get_count(boot):
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    first, second = hv.call(0xFF02, 1, clause="ID-3"), hv.call(0xFF02, 2, clause="ID-3")
    # 0xff02 counts the named VM's vCPUs (ID-3): two VMs, two different counts. The right counts
    # the other way round are VMs numbered out of load order (VM-1); other counts are VM-3's.
    expect("0xff02(1) and 0xff02(2): two different counts", first != second, True, clause="ID-3")
    order = "VM-1" if (first, second) == (5, 3) else "VM-3"
    expect("0xff02(1)", first, 3, clause=order)
    expect("0xff02(2)", second, 5, clause=order)


@pytest.mark.clause("ID-4", "CFG-5", "CFG-2")
def test_0xff03_is_vm_configure(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    first = hv.call(0xFF03, base + 0x10000, base + 0x11000, clause="ID-4")
    again = hv.call(0xFF03, base + 0x12000, base + 0x13000, clause="ID-4")
    # A configure answers 0 or -1 (CFG-5, CFG-2); 0x1 twice is HF_VCPU_RUN refusing an absent VM.
    first_clause = "ID-4" if (first, again) == (0x1, 0x1) else "CFG-5"
    expect("0xff03(send, recv)", first, 0, clause=first_clause)
    expect_err("0xff03 again", again, clause="CFG-2")


@pytest.mark.clause("ID-5", "SEND-7")
def test_0xff04_is_mailbox_send(boot):
    hv = boot(program("receiver"))
    expect("run(1, 0): the receiver blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    hv.write_send_page(b"ID-5")
    sent = hv.call(0xFF04, 1, 4, clause="ID-5")
    # 0 is the woken vCPU's index (SEND-11): 0xff04 sent (ID-5); 0xffff is a send that found no waiter.
    expect("0xff04(1, 4)", sent, 0, clause="SEND-9" if sent == 0xFFFF else "ID-5")
    expect("VM 1's recv page", hv.recv_page(4, vm=1), b"ID-5", clause="SEND-7")


@pytest.mark.clause("ID-6", "RECV-3")
def test_0xff05_is_mailbox_receive(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 0), Call(0xFF05, 0)))
    # -1 in all 64 bits first (CALL-1), so that a receive's 0xffffffff below is RECV-3's.
    expect_err("unknown function ID 0xf00d", hv.call(0xF00D), clause="CALL-4")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures, polls twice and ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1's configure", report_of(hv, 1, 0, "CFG-5")[0], 0, clause="CFG-5")
    expect("VM 1's 0xff05(0) with nothing sent", report_of(hv, 1, 1, "RECV-3")[0], ERR, clause="RECV-3")
    expect("VM 1's 0xff05(0) again", report_of(hv, 1, 2, "RECV-3")[0], ERR, clause="RECV-3")


@pytest.mark.clause("ID-6", "RECV-4", "RECV-3")
def test_0xff05_returns_a_message(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), Call(0xFF05, 0), Call(0xFF05, 0)))
    # -1 in all 64 bits first (CALL-1), so that a receive's 0xffffffff below is RECV-3's.
    expect_err("unknown function ID 0xf00d", hv.call(0xF00D), clause="CALL-4")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    # Only the configure reported: VM 1 is held in its 0xff05(1) — a receive, with nothing to receive.
    expect("VM 1's reports so far", len(hv.reports(1)), 1, clause="ID-6")
    sent = hv.send(1, 9)
    expect("send 9 bytes to the blocked VM 1", sent, 0, clause=woken_clause(sent))
    expect("run(1, 0): VM 1 receives, polls twice and ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    received = report_of(hv, 1, 1, "SEND-9")[0]
    expect("VM 1's blocking 0xff05", received, 0x0000000900000000, clause=received_clause(received, 0, 9))
    second, third = report_of(hv, 1, 2, "RECV-3")[0], report_of(hv, 1, 3, "RECV-3")[0]
    # The message once more, then -1: the wake left it unread (SEND-9: the mailbox becomes read);
    # the message every time: a read message received again (RECV-3).
    unread = second == 0x0000000900000000 and third == ERR
    expect("VM 1's 0xff05(0) after the message: mailbox is read", second, ERR, clause="SEND-9" if unread else "RECV-3")
    expect("VM 1's 0xff05(0) again", third, ERR, clause="RECV-3")


@pytest.mark.clause("ID-7", "CLR-1", "CLR-2")
def test_0xff06_is_mailbox_clear(boot):
    hv = boot(program("sender", TO=0, SIZE=3))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("0xff06 on an empty mailbox", hv.call(0xFF06, clause="ID-7"), clause="CLR-2")
    expect("run(1, 0): VM 1 sends 3 bytes", hv.run(1, clause="RUN-7"), 0x0000000300000003, clause="RUN-7")
    # Only a clear answers 0 here (a receive from the primary is always -1, RECV-1).
    cleared = hv.call(0xFF06, clause="ID-7")
    if cleared != 0:
        # Is 0xff06 a clear at all? A secondary's 0xff06 on the mailbox its own receive made read
        # answers 0 if so: then it is the primary's mailbox that MESSAGE did not leave read (SEND-8).
        probe = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), Call(0xFF06)))
        probe.run(1, clause="RUN-6")
        expect("the primary configures (probe system)", probe.configure(), 0, clause="CFG-5")
        probe.send(1, 1)
        probe.run(1, clause="RUN-5")
        reports = probe.reports(1)
        is_clear = len(reports) >= 3 and reports[2][0] == 0
        expect("0xff06 on the read mailbox", cleared, 0, clause="SEND-8" if is_clear else "ID-7")
    again = hv.call(0xFF06, clause="ID-7")
    # 0 again would say the first clear left the mailbox read (CLR-1); -1 is CLR-2's empty mailbox.
    expect_err("0xff06 again", again, clause="CLR-1" if again == 0 else "CLR-2")
