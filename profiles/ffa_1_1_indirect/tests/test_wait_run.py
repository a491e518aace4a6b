"""§12 FFA_MSG_WAIT and FFA_RUN: WAIT-1 .. WAIT-10, RUN-1 .. RUN-5.

A secondary waits with FFA_MSG_WAIT: with an empty RX buffer it stops and the primary's FFA_RUN
returns FFA_MSG_WAIT_32 (WAIT-6); with a message whose RX-full notification is pending the call
returns at once with FFA_RUN_32 (WAIT-3). The w1 of that FFA_RUN_32 (WAIT-7) and what a wait does
to a buffer already read (WAIT-5, WAIT-8) are Hafnium's choices, tested apart. Not observable
through the protocol: WAIT-9 (a pending enabled virtual interrupt: no FF-A call of this profile
raises or enables one; the clause registry marks it untestable) and RUN-1's BUSY (a vCPU running on another
physical CPU: the primary is the only caller).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from conformance.protocol import CAP_FAULT_CONTINUE
from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import program, script
from profiles.ffa_1_1_indirect.hv import Hv
from profiles.ffa_1_1_indirect.msg_checks import (
    FFA_MSG_WAIT,
    FFA_RUN,
    FFA_YIELD,
    R_READ,
    R_WAIT,
    expect_read,
    expect_sent,
    primary_v1_1,
    receiver_slot,
    send,
    slots,
)

MESSAGE = b"wake up, 2!"
FFA_INTERRUPT = 0x84000062
HF_FFA_RUN_WAIT_FOR_INTERRUPT = 0xFF06


def _booted(boot, *steps: p.Step) -> Hv:
    hv = boot(script(*p.setup(), *steps))
    primary_v1_1(hv)
    return hv


def _yields(hv: Hv, what: str, clause: str) -> None:
    expect_x0(f"FFA_RUN(2): {what}", hv.run(2, clause=clause), FFA_YIELD, clause=clause)


# --- WAIT-1 -------------------------------------------------------------------------------------


@pytest.mark.clause("WAIT-1")
@pytest.mark.parametrize("register", [1, 2, 3, 4, 5, 6, 7])
def test_wait_arguments_mbz(boot, register):
    def wait(value: int) -> p.Call:
        a = [value if n == register else 0 for n in range(8)]
        return p.Call(FFA_MSG_WAIT, a[1], a[2], a[3], a[4], a[5], a[6], a[7])

    hv = _booted(boot, wait(1), wait(0x8000_0000))
    _yields(hv, f"both waits with w{register} != 0 are refused at once; it reaches its end", "WAIT-1")
    reports = slots(hv, 2)
    expect_error(f"partition 2's FFA_MSG_WAIT(w{register} = 1)", reports[2][:8], "INVALID_PARAMETERS", clause="WAIT-1")
    expect_error(f"partition 2's FFA_MSG_WAIT(w{register} = 0x80000000)", reports[3][:8], "INVALID_PARAMETERS", clause="WAIT-1")


# --- WAIT-2, WAIT-3, WAIT-5 -------------------------------------------------------------------------


@pytest.mark.clause("WAIT-2")
def test_wait_releases_a_read_buffer(boot):
    hv = _booted(boot, p.msg_wait(), p.notification_get(2), p.ReadRx(), p.msg_wait(), p.rx_release())
    expect_x0("FFA_RUN(2): it sets up and waits", hv.run(2, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    # It reads the message and waits again without FFA_RX_RELEASE. Hafnium's wait returns at once
    # for the read message (WAIT-8) and then releases; a build may instead release and wait.
    first = hv.run(2, clause="WAIT-2")
    expect(
        f"FFA_RUN(2) returns FFA_YIELD or FFA_MSG_WAIT (x0 = {first[0]:#x})",
        first[0] in (FFA_YIELD, FFA_MSG_WAIT),
        True,
        clause="RUN-2",
    )
    reports = slots(hv, 2)
    expect_success("partition 2's FFA_NOTIFICATION_GET", reports[3][:8], x7=1, clause="NOTIF-1")
    if len(reports) > 6:
        expect_error(
            "partition 2's FFA_RX_RELEASE after that wait: nothing to release", reports[6][:8], "DENIED", clause="WAIT-2"
        )
    expect_sent(
        "the primary's next FFA_MSG_SEND2 1 -> 2: the wait released the buffer", send(hv, 1, 2, b"second"), clause="WAIT-2"
    )


@pytest.mark.clause("WAIT-3")
def test_wait_with_pending_message_returns_at_once(boot):
    hv = _booted(boot, p.yield_(), p.msg_wait(), p.ReadRx())
    _yields(hv, "it sets up and yields", "RUN-2")
    expect_sent("FFA_MSG_SEND2 1 -> 2 (2 is not waiting)", send(hv, 1, 2, MESSAGE))
    _yields(hv, "its FFA_MSG_WAIT returns at once (no switch); it reads, reaches its end", "WAIT-3")
    reports = slots(hv, 2)
    expect_x0("partition 2's FFA_MSG_WAIT with a message pending", reports[3][:8], FFA_RUN, clause="WAIT-3")
    expect_read("partition 2's RX", reports[4], sender=1, receiver=2, size=len(MESSAGE), payload=MESSAGE)


@pytest.mark.impl_defined
@pytest.mark.clause("WAIT-5")
def test_buffer_kept_while_notification_pending(boot):
    hv = _booted(boot, p.yield_(), p.msg_wait(), p.yield_(), p.notification_get(2), p.rx_release())
    hv.run(2, clause="WAIT-5")
    send(hv, 1, 2, MESSAGE)
    hv.run(2, clause="WAIT-5")
    note = (
        "WAIT-5 (D6): Hafnium keeps the unread message's buffer full through that wait (the implied release fails "
        "silently) until FFA_NOTIFICATION_GET + FFA_RX_RELEASE"
    )
    expect_error(
        "FFA_MSG_SEND2 1 -> 2 after 2's immediate wait", send(hv, 1, 2, b"other"), "BUSY", note, clause="WAIT-5", conv=False
    )
    hv.run(2, clause="WAIT-5")
    reports = slots(hv, 2)
    expect_success(
        "partition 2's FFA_RX_RELEASE after FFA_NOTIFICATION_GET", reports[6][:8], clause="WAIT-5", conv=False, note=note
    )


# --- WAIT-6, WAIT-7, WAIT-8, WAIT-10 ------------------------------------------------------------------


@pytest.mark.clause("WAIT-6")
def test_wait_on_empty_buffer_waits(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    ran = hv.run(2, clause="WAIT-6")
    expect_x0("FFA_RUN(2): it waits on an empty RX buffer", ran, FFA_MSG_WAIT, clause="WAIT-6")
    expect("no report of that wait yet (it did not return)", len(slots(hv, 2)), 3, clause="WAIT-6")
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    expect_x0("FFA_RUN(2): it reads and waits again", hv.run(2, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    reports = slots(hv, 2)
    expect_x0("partition 2's FFA_MSG_WAIT, resumed", reports[receiver_slot(0, R_WAIT)][:8], FFA_RUN, clause="WAIT-6")
    expect_read("partition 2's RX", reports[receiver_slot(0, R_READ)], sender=1, receiver=2, size=len(MESSAGE), payload=MESSAGE)


@pytest.mark.impl_defined
@pytest.mark.clause("WAIT-7")
def test_run_w1_after_wait(boot):
    hv = _booted(boot, p.msg_wait(), p.notification_get(2), p.rx_release(), p.yield_(), p.msg_wait())
    hv.run(2, clause="WAIT-7")
    send(hv, 1, 2, MESSAGE)
    hv.run(2, clause="WAIT-7")
    send(hv, 1, 2, MESSAGE)
    hv.run(2, clause="WAIT-7")
    reports = slots(hv, 2)
    note = "WAIT-7 (D14): Hafnium gives 0 on resumption, its own ID at once; its comment says FFA_RUN carries ID<<16 | vCPU"
    expect("partition 2's FFA_MSG_WAIT resumed: w0, w1", (reports[2][0], reports[2][1]), (FFA_RUN, 0), note, clause="WAIT-7")
    expect("partition 2's FFA_MSG_WAIT at once: w0, w1", (reports[6][0], reports[6][1]), (FFA_RUN, 2), note, clause="WAIT-7")


@pytest.mark.impl_defined
@pytest.mark.clause("WAIT-8")
def test_wait_on_a_read_message_returns_at_once(boot):
    hv = _booted(
        boot, p.msg_wait(), p.notification_get(2), p.ReadRx(), p.msg_wait(), p.notification_get(2), p.ReadRx(), p.rx_release()
    )
    hv.run(2, clause="WAIT-8")
    send(hv, 1, 2, MESSAGE)
    ran = hv.run(2, clause="WAIT-8")
    note = (
        "WAIT-8: Hafnium returns at once (FFA_RUN_32, w1 = own ID) for the old message, then releases; "
        "a build may release and wait"
    )
    expect("FFA_RUN(2): the second wait returned at once (script end: FFA_YIELD)", ran[0], FFA_YIELD, note, clause="WAIT-8")
    reports = slots(hv, 2)
    expect("the second FFA_MSG_WAIT: w0, w1", (reports[5][0], reports[5][1]), (FFA_RUN, 2), note, clause="WAIT-8")
    expect("FFA_NOTIFICATION_GET after it: w7 (no new message)", reports[6][7], 0, note, clause="WAIT-8")
    expect("the RX after it: the same message", reports[7][:7], reports[4][:7], note, clause="WAIT-8")
    expect(
        "FFA_RX_RELEASE after it: x0, w2 (released by the wait)",
        (reports[8][0], reports[8][2]),
        (0x84000060, 0xFFFFFFFA),
        note,
        clause="WAIT-8",
    )


@pytest.mark.clause("WAIT-10")
def test_primary_wait_not_supported(boot):
    hv = boot()
    primary_v1_1(hv)
    expect_error("the primary's FFA_MSG_WAIT", hv.msg_wait(clause="WAIT-10"), "NOT_SUPPORTED", clause="WAIT-10")


# --- RUN-1 .. RUN-5 -----------------------------------------------------------------------------


@pytest.mark.clause("RUN-1")
def test_secondary_run_denied(boot):
    hv = boot(script(*p.setup(), p.Call(FFA_RUN, 0x0003_0000), p.Call(FFA_RUN, 0x0003_0001)), program("receiver"))
    primary_v1_1(hv)
    _yields(hv, "its FFA_RUN calls are refused; it reaches its end", "RUN-1")
    reports = slots(hv, 2)
    expect_error("partition 2's FFA_RUN(3, 0)", reports[2][:8], "DENIED", clause="RUN-1")
    expect_error("partition 2's FFA_RUN(3, 1)", reports[3][:8], "DENIED", clause="RUN-1")
    expect("partition 3 never ran", len(slots(hv, 3)), 0, clause="RUN-1")


@pytest.mark.clause("RUN-1")
@pytest.mark.parametrize("w1", [0x0001_0000, 0x0000_0000, 0x0010_0000, 0x7FFF_0000, 0x0002_FFFF])
def test_run_invalid_target(boot, w1):
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    expect_error(f"FFA_RUN(w1 = {w1:#x})", hv.run_once(0, w1=w1, clause="RUN-1"), "INVALID_PARAMETERS", clause="RUN-1")
    expect("partition 2 never ran", len(slots(hv, 2)), 0, clause="RUN-1")


@pytest.mark.clause("RUN-2")
def test_yield_returns_to_primary(boot):
    hv = boot(program("yielder", SETUP=0))
    ran = hv.run(2, clause="RUN-2")
    expect(
        "FFA_RUN(2): w0, w1 when it yields",
        (ran[0] & 0xFFFF_FFFF, ran[1] & 0xFFFF_FFFF),
        (FFA_YIELD, 0x0002_0000),
        clause="RUN-2",
    )
    expect("no report yet (FFA_YIELD has not returned)", len(slots(hv, 2)), 0, clause="RUN-2")
    ran = hv.run(2, clause="RUN-2")
    expect_x0("FFA_RUN(2) again: it yields again", ran, FFA_YIELD, clause="RUN-2")
    expect_x0("partition 2's FFA_YIELD, resumed", slots(hv, 2)[0][:8], 0x84000061, clause="RUN-2")


@pytest.mark.clause("RUN-2")
def test_wait_returns_to_primary(boot):
    hv = boot(program("receiver"), program("receiver"))
    primary_v1_1(hv)
    for partition in (2, 3):
        ran = hv.run(partition, clause="RUN-2")
        got = (ran[0] & 0xFFFF_FFFF, ran[1] & 0xFFFF_FFFF)
        expect(f"FFA_RUN({partition}): w0, w1 when it waits", got, (FFA_MSG_WAIT, partition << 16), clause="RUN-2")


@pytest.mark.impl_defined
@pytest.mark.clause("RUN-3")
def test_preempted_run_returns_interrupt(boot):
    hv = boot(program("spinner"), time_slice=2_000)
    ran = hv.run_once(2, clause="RUN-3")
    note = "RUN-3: Hafnium returns FFA_INTERRUPT_32, w1 = ID<<16 | vCPU, w2 = 0, for a preempted vCPU"
    expect(
        "FFA_RUN(2) of a spinning vCPU: w0, w1, w2",
        (ran[0] & 0xFFFF_FFFF, ran[1], ran[2]),
        (FFA_INTERRUPT, 0x0002_0000, 0),
        note,
        clause="RUN-3",
    )


@pytest.mark.impl_defined
@pytest.mark.clause("RUN-3")
def test_wfi_run_returns_wait_for_interrupt(boot):
    hv = boot(program("wfi"))
    ran = hv.run(2, clause="RUN-3")
    note = "RUN-3: Hafnium's own HF_FFA_RUN_WAIT_FOR_INTERRUPT (0xFF06), w1 = ID<<16 | vCPU, for a vCPU in wfi"
    expect(
        "FFA_RUN(2) of a vCPU in wfi: w0, w1",
        (ran[0] & 0xFFFF_FFFF, ran[1]),
        (HF_FFA_RUN_WAIT_FOR_INTERRUPT, 0x0002_0000),
        note,
        clause="RUN-3",
    )


@pytest.mark.clause("RUN-4")
@pytest.mark.requires(CAP_FAULT_CONTINUE)
def test_aborted_vcpu(boot):
    hv = boot(program("fault_brk"), fault_policy="continue")
    hv.run_once(2, clause="RUN-4")  # the fault: what this run returns is not in the text
    expect_error("FFA_RUN(2) of the aborted vCPU", hv.run_once(2, clause="RUN-4"), "ABORTED", clause="RUN-4")


@pytest.mark.impl_defined
@pytest.mark.clause("RUN-5")
def test_first_run_starts_at_the_entry_point(boot):
    hv = boot(script(p.id_get(), p.yield_()))
    hv.run(2, clause="RUN-5")
    reports = slots(hv, 2)
    note = "RUN-5: the first FFA_RUN of vCPU 0 starts it at the image entry point (its first step: FFA_ID_GET)"
    expect(
        "partition 2's first report: FFA_ID_GET's x0, w2",
        (reports[0][0], reports[0][2]) if reports else None,
        (0x84000061, 2),
        note,
        clause="RUN-5",
    )
