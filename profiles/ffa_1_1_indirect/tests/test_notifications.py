"""§10 Notifications used by indirect messaging: NOTIF-1 .. NOTIF-7.

The RX-buffer-full notification needs no bind (NOTIF-1): a receiver that never called
FFA_NOTIFICATION_BIND retrieves it with FFA_NOTIFICATION_GET (w7 bit 0, NOTIF-2), once; the
primary learns which partitions have one pending from FFA_NOTIFICATION_INFO_GET_64 (NOTIF-4).
NOTIF-5 (the SRI / NPI interrupts) is observable only in part: the primary's driver takes no
interrupts, so only "no interrupt reached a receiver that unmasked IRQs" is checked.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import program, script
from profiles.ffa_1_1_indirect.hv import Hv
from profiles.ffa_1_1_indirect.msg_checks import (
    FFA_MSG_WAIT,
    FFA_YIELD,
    expect_sent,
    primary_v1_1,
    send,
    slots,
    start_waiting,
)

MESSAGE = b"notify me"


def _waiting_script(boot, *after: p.Step, secondaries: int = 1) -> Hv:
    """Partition 2: setup, FFA_MSG_WAIT, then ``after``; partitions 3.. run ``receiver``; all
    waiting; the primary v1.1 and mapped."""
    hv = boot(script(*p.setup(), p.msg_wait(), *after), *[program("receiver") for _ in range(secondaries - 1)])
    primary_v1_1(hv)
    _waits(hv, 2)
    for partition in range(3, secondaries + 2):
        start_waiting(hv, partition)
    return hv


def _waits(hv: Hv, partition: int) -> None:
    expect_x0(f"FFA_RUN({partition}): it sets up and waits", hv.run(partition, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")


def _info_get_offered(hv: Hv) -> None:
    """NOTIF-4 applies if FFA_FEATURES(FFA_NOTIFICATION_INFO_GET_64) answers SUCCESS to the primary."""
    if hv.features(0xC4000083)[0] != 0x84000061:
        pytest.skip("FFA_FEATURES(FFA_NOTIFICATION_INFO_GET_64) is not SUCCESS: NOTIF-4 does not apply")


# --- NOTIF-1, NOTIF-2 ---------------------------------------------------------------------------


@pytest.mark.clause("NOTIF-1")
def test_rx_full_from_the_primary_in_w7_without_bind(boot):
    hv = _waiting_script(boot, p.notification_get(2))
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    expect_x0("FFA_RUN(2): it retrieves its notifications", hv.run(2, clause="NOTIF-1"), FFA_YIELD, clause="NOTIF-1")
    got = slots(hv, 2)[3][:8]
    expect_success(
        "partition 2's FFA_NOTIFICATION_GET(2, 0xC), no bind made", got, w2=0, x3=0, x4=0, x5=0, x6=0, x7=1, clause="NOTIF-1"
    )


@pytest.mark.clause("NOTIF-1")
def test_rx_full_from_a_secondary_in_w7(boot):
    hv = boot(script(*p.setup(), p.yield_(), p.Header(2, 1, len(MESSAGE)), p.Payload(MESSAGE), p.msg_send2()))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and yields", hv.run(2, clause="RUN-2"), FFA_YIELD, clause="RUN-2")
    expect_x0("FFA_RUN(2): it sends to 1", hv.run(2, clause="NOTIF-1"), FFA_YIELD, clause="NOTIF-1")
    expect_success("partition 2's FFA_MSG_SEND2", slots(hv, 2)[5][:8], clause="SEND-16")
    got = hv.notification_get(1, clause="NOTIF-1")
    expect_success("the primary's FFA_NOTIFICATION_GET(1, 0xC)", got, w2=0, x3=0, x4=0, x5=0, x6=0, x7=1, clause="NOTIF-1")


@pytest.mark.clause("NOTIF-2")
def test_retrieved_notification_cleared(boot):
    hv = _waiting_script(boot, p.notification_get(2), p.notification_get(2))
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    expect_x0("FFA_RUN(2)", hv.run(2, clause="NOTIF-2"), FFA_YIELD, clause="NOTIF-2")
    reports = slots(hv, 2)
    expect_success("partition 2's first FFA_NOTIFICATION_GET", reports[3][:8], x7=1, clause="NOTIF-2")
    expect_success("partition 2's second FFA_NOTIFICATION_GET: cleared by the first", reports[4][:8], x7=0, clause="NOTIF-2")


@pytest.mark.clause("NOTIF-2")
@pytest.mark.parametrize("flags", [0x10, 0x1C, 0x8000_0000, 0xFFFF_FFF0])
def test_flags_bits_31_4_mbz(boot, flags):
    hv = _waiting_script(boot, p.notification_get(2, flags=flags), p.notification_get(2))
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    expect_x0("FFA_RUN(2)", hv.run(2, clause="NOTIF-2"), FFA_YIELD, clause="NOTIF-2")
    reports = slots(hv, 2)
    expect_error(f"partition 2's FFA_NOTIFICATION_GET(flags {flags:#x})", reports[3][:8], "INVALID_PARAMETERS", clause="NOTIF-2")
    expect_success("then FFA_NOTIFICATION_GET(0xC): still pending", reports[4][:8], x7=1, clause="NOTIF-2")


@pytest.mark.clause("NOTIF-2")
def test_primary_flags_mbz(boot):
    hv = boot()
    primary_v1_1(hv)
    expect_error(
        "the primary's FFA_NOTIFICATION_GET(1, flags 0x10)",
        hv.notification_get(1, flags=0x10),
        "INVALID_PARAMETERS",
        clause="NOTIF-2",
    )


# --- NOTIF-3 (implementation-defined) -----------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("NOTIF-3")
@pytest.mark.parametrize("flags", [0x4, 0x8])
def test_one_framework_bit_alone(boot, flags):
    hv = _waiting_script(boot, p.notification_get(2, flags=flags), p.notification_get(2))
    send(hv, 1, 2, MESSAGE)
    hv.run(2, clause="NOTIF-3")
    reports = slots(hv, 2)
    note = "NOTIF-3: Hafnium returns its merged framework bitmap for bit 2 or bit 3 alone, a VM sender's RX-full in w7 bit 0"
    expect_success(f"FFA_NOTIFICATION_GET(flags {flags:#x})", reports[3][:8], x7=1, clause="NOTIF-3", conv=False, note=note)
    expect_success("then FFA_NOTIFICATION_GET(0xC): cleared", reports[4][:8], x7=0, clause="NOTIF-3", conv=False, note=note)


# --- NOTIF-4 ------------------------------------------------------------------------------------


@pytest.mark.clause("NOTIF-4")
def test_info_get_lists_the_receiver(boot):
    hv = _waiting_script(boot)
    _info_get_offered(hv)
    expect_error(
        "FFA_NOTIFICATION_INFO_GET_64 with nothing pending",
        hv.notification_info_get(clause="NOTIF-4"),
        "NO_DATA",
        clause="NOTIF-4",
    )
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    got = hv.notification_info_get(clause="NOTIF-4")
    expect_success(
        "FFA_NOTIFICATION_INFO_GET_64 after a message to 2",
        got,
        0x80,
        x1=0,
        x3=0x2,
        x4=0,
        x5=0,
        x6=0,
        x7=0,
        wide=True,
        clause="NOTIF-4",
    )
    expect_error("FFA_NOTIFICATION_INFO_GET_64 again", hv.notification_info_get(clause="NOTIF-4"), "NO_DATA", clause="NOTIF-4")


# --- NOTIF-5 (implementation-defined, D5) ----------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("NOTIF-5")
def test_no_notification_pending_interrupt(boot):
    hv = boot(script(*p.setup(), p.UnmaskIrq(), p.yield_(), p.yield_(), p.notification_get(2)))
    primary_v1_1(hv)
    hv.run(2, clause="NOTIF-5")
    send(hv, 1, 2, MESSAGE)
    for _ in range(2):
        hv.run(2, clause="NOTIF-5")
    reports = slots(hv, 2)
    note = (
        "NOTIF-5 (D5): Hafnium's NS hypervisor raises no Notification Pending Interrupt to a VM (nor the SRI to the "
        "primary, not observable here); DEN0077A describes signalling pending notifications by these interrupts"
    )
    irqs = [n for n, r in enumerate(reports) if r[0] == p.IRQ_MARKER]
    expect("reports of an IRQ taken by partition 2 (IRQs unmasked) after a message to it", irqs, [], note, clause="NOTIF-5")
    expect("partition 2 went on to FFA_NOTIFICATION_GET: x0, w7", reports[-1][0:8:7], (0x84000061, 1), note, clause="NOTIF-5")


# --- NOTIF-6, NOTIF-7 (implementation-defined) -----------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("NOTIF-6")
@pytest.mark.parametrize("w1", [0x3, 0x1, 0xFFFF_0002, 0x0001_0002])
def test_get_for_another_id_or_vcpu_refused(boot, w1):
    hv = _waiting_script(boot, p.Call(0x84000082, w1, 0xC))
    hv.write_message(1, 2, MESSAGE)
    hv.msg_send2()
    hv.run(2, clause="NOTIF-6")
    note = "NOTIF-6: Hafnium refuses another receiver ID, or a vCPU index >= the receiver's vCPU count"
    expect_error(
        f"partition 2's FFA_NOTIFICATION_GET(w1 = {w1:#x}, 0xC)",
        slots(hv, 2)[3][:8],
        "INVALID_PARAMETERS",
        note,
        clause="NOTIF-6",
        conv=False,
    )


@pytest.mark.impl_defined
@pytest.mark.clause("NOTIF-7")
def test_info_get_lists_in_ascending_id_order(boot):
    steps: list[p.Step] = [*p.setup(), p.yield_(), p.Header(2, 1, len(MESSAGE)), p.Payload(MESSAGE), p.msg_send2(), p.msg_wait()]
    hv = boot(script(*steps), program("receiver"), program("receiver"))
    primary_v1_1(hv)
    hv.run(2, clause="NOTIF-7")
    start_waiting(hv, 3, clause="NOTIF-7")
    start_waiting(hv, 4, clause="NOTIF-7")
    hv.run(2, clause="NOTIF-7")  # 2 sends to the primary, then waits
    send(hv, 1, 4, MESSAGE)
    send(hv, 1, 3, MESSAGE)
    got = hv.notification_info_get(clause="NOTIF-7")
    note = "NOTIF-7: Hafnium lists the VMs with a pending notification in ascending index order, the primary (1) included"
    expect(
        "FFA_NOTIFICATION_INFO_GET_64 with 1, 3 and 4 pending: x0, w2, x3",
        (got[0], got[2] & 0xFFFF_FFFF, got[3]),
        (0xC4000061, 0x180, 0x0004_0003_0001),
        note,
        clause="NOTIF-7",
    )
