"""Multi-VM scenarios of ``hafnium-2019-03``: the text's worked examples (§11) and the flows that
join several sections -- a notification round trip between two secondaries (SEND-5, RUN-9,
WAIT-1..WAIT-4), an interrupt that wakes a receive (RUN-13, RECV-3), an echo (RUN-12, RUN-8).

Every value is a literal of the text; the secondaries are scripted (``hv.script``), each report
slot holds x0..x30 after a step.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, CopyRecv, Fill, Rel, Wfi
from profiles.hafnium_2019_03.checks import x0_of
from profiles.hafnium_2019_03.hv import ERR, Hv, script

CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))
REFUSED = 0xFFFF_FFFF_FFFF_FF02  # RUN-1, RUN-2, RUN-5: WAIT_FOR_INTERRUPT, ns=INDEF
WAIT_MESSAGE = 0xFFFF_FFFF_FFFF_FF03  # RUN-7: WAIT_FOR_MESSAGE, ns=INDEF
NOTHING = 0x0000_0000_FFFF_FFFF  # RECV-3, RUN-13
NOTIFY_WAITERS = 0x6  # RUN-9


def _waiter_queued(hv: Hv, vm: int) -> str:
    """After a configure or clear that should have announced waiters did not: the clause at fault,
    found by asking WAITER_GET(vm) -- a waiter there was queued (RUN-9 did not happen), none was
    queued (SEND-5)."""
    return "RUN-9" if hv.waiter_get(vm) != ERR else "SEND-5"


@pytest.mark.clause("RUN-9", "SEND-5", "CFG-5", "WAIT-1", "WAIT-2")
def test_notify_on_configure_worked_example(boot):
    """§11 "Notify on configure": the waiter queued before VM 1 configures is announced by it."""
    hv = boot(script(CFG))
    expect("the primary's configure", hv.configure(clause="CFG-5"), 0, clause="CFG-5")
    expect("send(1, 0, notify) before VM 1 configures", hv.send(1, 0, 1), ERR, clause="SEND-5")
    expect("the same send again (one waiter entry per pair)", hv.send(1, 0, 1), ERR, clause="SEND-5")
    notify = hv.run(1, clause="RUN-9")
    if notify != NOTIFY_WAITERS:  # no waiter queued (SEND-5), or not announced (RUN-9)?
        expect("run(1, 0): its configure finds the waiter", notify, NOTIFY_WAITERS, clause=_waiter_queued(hv, 1))
    expect("waiter_get(1): the primary", hv.waiter_get(1), 0, clause="WAIT-1")
    again = hv.waiter_get(1)
    if again != ERR:  # the entry was not removed (WAIT-1), or queued twice (SEND-5)?
        expect("waiter_get(1) again: -1", again, ERR, clause="SEND-5" if hv.waiter_get(1) == ERR else "WAIT-1")
    expect("writable_get(): VM 1 became writable", hv.writable_get(), 1, clause="WAIT-2")
    expect("writable_get() again: the entry was removed", hv.writable_get(), ERR, clause="WAIT-2")
    expect("send(1, 0, 0) now", hv.send(1, 0, 0), 0, clause="SEND-6")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's configure returned 0 after NOTIFY_WAITERS", x0_of(hv, 1, 0), 0, clause="RUN-9")
    expect("run(1, 0): VM 1 resumes, its script ends in wfi", ended, REFUSED, clause="RUN-5")


@pytest.mark.clause("WAIT-3", "WAIT-1", "WAIT-2", "WAIT-4", "RUN-9", "RUN-12", "RUN-13", "SEND-5", "RUN-8")
def test_notification_round_trip_between_secondaries(boot):
    """VM 1 asks to be told when VM 2's mailbox is writable; VM 2 reads and clears; the primary
    relays the notification (WAITER_GET, then HF_MAILBOX_WRITABLE_INTID into VM 1: WAIT-3)."""
    receiver = script(CFG, Call(0xFF07, 1), Call(0xFF08))
    sender = script(
        CFG,
        Call(0xFF0B, 2, 1),  # [1] enable HF_MAILBOX_WRITABLE_INTID
        Fill(4, 0x61),  # [2]
        Call(0xFF06, 2, 4, 1),  # [3] VM 2's mailbox is full: -1, waiter queued
        Wfi(),  # [4]
        Call(0xFF0C),  # [5] -> 2
        Call(0xFF09),  # [6] -> 2
        Call(0xFF06, 2, 4, 0),  # [7] -> MESSAGE to VM 2
    )
    hv = boot(sender, receiver)
    expect("the primary's configure", hv.configure(clause="CFG-5"), 0, clause="CFG-5")
    expect("run(2, 0): VM 2 blocks in receive", hv.run(2, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    hv.write_send_page(b"abc")
    expect("the primary's send(2, 3)", hv.send(2, 3), 0, clause="SEND-8")
    waiting = hv.run(1, clause="RUN-5")
    expect("VM 1's send to the full mailbox (notify)", x0_of(hv, 1, 3), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1's send is refused, it waits in wfi", waiting, REFUSED, clause="RUN-5")
    notify = hv.run(2, clause="RUN-9")
    expect("VM 2's receive got the message on its run", x0_of(hv, 2, 1), 3 << 32, clause="RUN-12")
    if len(hv.reports(2)) > 2:  # VM 2's clear returned: -1 (its mailbox was not left read by RUN-12) or 0
        clause = "RUN-12" if x0_of(hv, 2, 2) == ERR else _waiter_queued(hv, 2)
        expect("run(2, 0): VM 2's clear of its read mailbox finds VM 1 waiting", notify, NOTIFY_WAITERS, clause=clause)
    expect("run(2, 0): VM 2's clear of its read mailbox finds VM 1 waiting", notify, NOTIFY_WAITERS, clause="RUN-9")
    expect("waiter_get(2): VM 1", hv.waiter_get(2), 1, clause="WAIT-1")
    expect("waiter_get(2) again", hv.waiter_get(2), ERR, clause="WAIT-1")
    expect(
        "run(1, 0) before the primary injects: the hypervisor did not make intid 2 pending itself",
        hv.run_once(1),
        REFUSED,
        clause="WAIT-3",
    )
    expect("inject(1, 0, HF_MAILBOX_WRITABLE_INTID)", hv.interrupt_inject(1, 0, 2), 1, clause="WAIT-4")
    sent = hv.run(1, clause="RUN-13")
    woke = len(hv.reports(1)) > 4
    expect("VM 1 woke from its wfi (its report after the wfi)", woke, True, clause="RUN-13")
    expect("VM 1's interrupt_get after its wfi", x0_of(hv, 1, 5), 2, clause="WAIT-4")
    expect("VM 1's writable_get: VM 2", x0_of(hv, 1, 6), 2, clause="WAIT-2")
    expect("run(1, 0): VM 1 woke (RUN-13) and sent to VM 2", sent, 0x0000_0000_0002_0005, clause="RUN-8")
    expect("VM 1's bytes in VM 2's recv page", hv.recv_page(4, vm=2), b"abcd", clause="SEND-6")
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's clear returned 0 after NOTIFY_WAITERS", x0_of(hv, 2, 2), 0, clause="RUN-9")
    expect("run(2, 0): VM 2 resumes, its script ends in wfi", ended, REFUSED, clause="RUN-5")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send returned 0", x0_of(hv, 1, 7), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 resumes, ends in wfi", ended, REFUSED, clause="RUN-5")


@pytest.mark.clause("RUN-13", "RECV-3", "RUN-2", "RUN-7", "WAIT-4")
def test_interrupt_wakes_a_blocked_receive(boot):
    hv = boot(script(CFG, Call(0xFF0B, 1, 1), Call(0xFF07, 1), Call(0xFF07, 1), Call(0xFF0C), Call(0xFF0C), Call(0xFF07, 1)))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("run(1, 0) again: nothing to wake it", hv.run_once(1), REFUSED, clause="RUN-2")
    expect("inject(1, 0, 1): enabled, first pending", hv.interrupt_inject(1, 0, 1), 1, clause="WAIT-4")
    blocked = hv.run(1, clause="RUN-13")
    expect("VM 1's receive woken by the interrupt", x0_of(hv, 1, 2), NOTHING, clause="RUN-13")
    expect("VM 1's blocking receive with intid 1 pending does not block", x0_of(hv, 1, 3), NOTHING, clause="RECV-3")
    expect("VM 1's interrupt_get", x0_of(hv, 1, 4), 1, clause="WAIT-4")
    expect("VM 1's interrupt_get again: acknowledged, none", x0_of(hv, 1, 5), NOTHING, clause="WAIT-4")
    expect("run(1, 0): with nothing pending its last receive blocks", blocked, WAIT_MESSAGE, clause="RUN-7")


@pytest.mark.clause("RUN-12", "RUN-8", "SEND-6", "SEND-7", "CLR-3", "CLR-1")
def test_echo_worked_example(boot):
    """§11 "Echo", with a scripted echo: receive, copy, reply to the sender with its size, clear."""
    echo = script(CFG, Call(0xFF07, 1), CopyRecv(), Call(0xFF06, 0, 0, 0, reply=True), Call(0xFF08), Call(0xFF07, 1))
    hv = boot(echo)
    expect("configure", hv.configure(clause="CFG-5"), 0, clause="CFG-5")
    expect("run(1, 0): echo blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    msg = b"Echo this back to me!\0"
    hv.write_send_page(msg)
    expect("send(1, 22, 0)", hv.send(1, len(msg), 0), 0, clause="SEND-6")
    echoed = hv.run(1, clause="RUN-8")
    expect("echo's receive delivered on its run", x0_of(hv, 1, 1), 22 << 32, clause="RUN-12")
    expect("run(1, 0): MESSAGE to the primary, size 22", echoed, 0x0000_0016_0000_0005, clause="RUN-8")
    expect("the 22 bytes in the primary's recv page", hv.recv_page(len(msg)), msg, clause="SEND-6")
    cleared = hv.clear()
    expect("clear of the read mailbox", cleared, 0, clause="SEND-7" if cleared == ERR else "CLR-3")
    expect("clear again", hv.clear(), 0, clause="CLR-1")
    blocked = hv.run(1, clause="RUN-7")
    expect("echo's send returned 0", x0_of(hv, 1, 3), 0, clause="SEND-6")
    got = x0_of(hv, 1, 4)
    expect("echo's clear of its read mailbox", got, 0, clause="RUN-12" if got == ERR else "CLR-3")
    expect("run(1, 0): echo clears and blocks again", blocked, WAIT_MESSAGE, clause="RUN-7")
