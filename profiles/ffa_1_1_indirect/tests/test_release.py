"""§11 RX buffer ownership and FFA_RX_RELEASE: REL-1 .. REL-5.

A message makes the receiver the owner of its RX buffer (SEND-16); FFA_RX_RELEASE gives it back
(REL-1), once (REL-2), with w1 = 0 at a virtual instance (REL-3). Hafnium first wants the RX-full
notification retrieved (REL-4, implementation-defined: D6): every MUST test here retrieves it
(FFA_NOTIFICATION_GET) before it releases, so a build following either reading passes them.
"""

from __future__ import annotations

import pytest

from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv
from profiles.ffa_1_1_indirect.msg_checks import FFA_MSG_WAIT, FFA_YIELD, expect_sent, primary_v1_1, send, slots

MESSAGE = b"release me"
#: ID-1: FFA_RX_RELEASE
FFA_RX_RELEASE = 0x84000065
#: CONV-3: FFA_SUCCESS_32
FFA_SUCCESS_32 = 0x84000061


def _receiver(boot, *after: p.Step) -> Hv:
    """Partition 2: setup, wait, ``after``; the primary v1.1, mapped; 2 waiting; then a message
    1 -> 2 and FFA_RUN(2) until it yields (its script's end) or waits."""
    hv = boot(script(*p.setup(), p.msg_wait(), *after))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and waits", hv.run(2, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    expect_sent("FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, MESSAGE))
    hv.run(2, clause="REL-1")
    return hv


def _primary_received(boot) -> Hv:
    """Partition 2 sends a message to the primary (v1.1, mapped) and yields."""
    hv = boot(script(*p.setup(), p.yield_(), p.Header(2, 1, len(MESSAGE)), p.Payload(MESSAGE), p.msg_send2()))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and yields", hv.run(2, clause="RUN-2"), FFA_YIELD, clause="RUN-2")
    expect_x0("FFA_RUN(2): it sends to 1", hv.run(2, clause="SEND-18"), FFA_YIELD, clause="SEND-18")
    expect_success("partition 2's FFA_MSG_SEND2 to 1", slots(hv, 2)[5][:8], clause="SEND-16")
    return hv


@pytest.mark.clause("REL-1")
def test_receiver_releases(boot):
    hv = _receiver(boot, p.notification_get(2), p.ReadRx(), p.rx_release())
    expect_success("partition 2's FFA_RX_RELEASE after reading", slots(hv, 2)[5][:8], clause="REL-1")


@pytest.mark.clause("REL-1")
def test_primary_releases(boot):
    hv = _primary_received(boot)
    expect_success("the primary's FFA_NOTIFICATION_GET", hv.notification_get(1, clause="NOTIF-1"), x7=1, clause="NOTIF-1")
    expect_success("the primary's FFA_RX_RELEASE", hv.rx_release(clause="REL-1"), clause="REL-1")


@pytest.mark.clause("REL-2")
def test_release_not_idempotent(boot):
    hv = _receiver(boot, p.notification_get(2), p.rx_release(), p.rx_release())
    reports = slots(hv, 2)
    expect_success("partition 2's first FFA_RX_RELEASE", reports[4][:8], clause="REL-1")
    expect_error("partition 2's second FFA_RX_RELEASE", reports[5][:8], "DENIED", clause="REL-2")


@pytest.mark.clause("REL-2")
def test_primary_release_twice(boot):
    hv = _primary_received(boot)
    hv.notification_get(1, clause="NOTIF-1")
    expect_success("the primary's FFA_RX_RELEASE", hv.rx_release(clause="REL-1"), clause="REL-1")
    expect_error("the primary's second FFA_RX_RELEASE", hv.rx_release(clause="REL-2"), "DENIED", clause="REL-2")


@pytest.mark.clause("REL-2")
def test_nothing_received_denied(boot):
    hv = boot(script(*p.setup(), p.rx_release(), p.msg_wait()))
    primary_v1_1(hv)
    expect_error("the primary's FFA_RX_RELEASE, nothing received", hv.rx_release(clause="REL-2"), "DENIED", clause="REL-2")
    expect_x0("FFA_RUN(2)", hv.run(2, clause="REL-2"), FFA_MSG_WAIT, clause="REL-2")
    expect_error("partition 2's FFA_RX_RELEASE, nothing received", slots(hv, 2)[2][:8], "DENIED", clause="REL-2")


@pytest.mark.clause("REL-2")
def test_no_rx_mapped_denied(boot):
    hv = boot(script(p.version(), p.rx_release(), p.msg_wait()))
    primary_v1_1(hv, map_rxtx=False)
    expect_error("the primary's FFA_RX_RELEASE, no RX mapped", hv.rx_release(clause="REL-2"), "DENIED", clause="REL-2")
    hv.run(2, clause="REL-2")
    expect_error("partition 2's FFA_RX_RELEASE, no RX mapped", slots(hv, 2)[1][:8], "DENIED", clause="REL-2")


@pytest.mark.clause("REL-2")
def test_unmapped_while_owned_denied(boot):
    """REL-2's "no RX mapped" after the buffer was owned: the primary owns its RX buffer (the
    descriptors of FFA_PARTITION_INFO_GET, PIG-5), unmaps the pair (MAP-6), then releases: no RX is
    mapped, so DENIED. (Found on Hafnium 21bfbdc1 by the random model test: SUCCESS there.)"""
    hv = boot(script(*p.setup(), p.msg_wait()))
    primary_v1_1(hv)
    info = hv.partition_info_get(clause="PIG-5")
    expect_x0("FFA_PARTITION_INFO_GET(Nil): descriptors in the primary's RX", info, FFA_SUCCESS_32, clause="PIG-2")
    expect_x0("FFA_RXTX_UNMAP while it owns its RX buffer", hv.rxtx_unmap(clause="MAP-6"), FFA_SUCCESS_32, clause="MAP-6")
    expect_error("FFA_RX_RELEASE with no RX mapped", hv.rx_release(clause="REL-2"), "DENIED", clause="REL-2")


@pytest.mark.clause("REL-3")
@pytest.mark.parametrize("w1", [0x2, 0x1, 0xFFFF, 0x8000])
def test_receiver_id_mbz(boot, w1):
    hv = _receiver(boot, p.notification_get(2), p.rx_release(w1), p.rx_release())
    reports = slots(hv, 2)
    expect_error(f"partition 2's FFA_RX_RELEASE(w1 = {w1:#x})", reports[4][:8], "INVALID_PARAMETERS", clause="REL-3")
    expect_success("then FFA_RX_RELEASE(0): it still owned the buffer", reports[5][:8], clause="REL-3")


@pytest.mark.clause("REL-3")
def test_primary_receiver_id_mbz(boot):
    hv = _primary_received(boot)
    hv.notification_get(1, clause="NOTIF-1")
    expect_error("the primary's FFA_RX_RELEASE(w1 = 1)", hv.rx_release(1, clause="REL-3"), "INVALID_PARAMETERS", clause="REL-3")
    expect_success("then FFA_RX_RELEASE(0)", hv.rx_release(clause="REL-3"), clause="REL-3")


@pytest.mark.impl_defined
@pytest.mark.clause("REL-4")
def test_release_before_notification_get_denied(boot):
    hv = _receiver(boot, p.rx_release(), p.notification_get(2), p.rx_release())
    reports = slots(hv, 2)
    note = (
        "REL-4 (D6): Hafnium refuses the release until the RX-full notification is retrieved; DEN0077A as cited ties it "
        "to ownership only (SUCCESS)"
    )
    expect_error(
        "partition 2's FFA_RX_RELEASE before FFA_NOTIFICATION_GET", reports[3][:8], "DENIED", note, clause="REL-4", conv=False
    )
    expect_success("FFA_RX_RELEASE after FFA_NOTIFICATION_GET", reports[5][:8], clause="REL-4", conv=False, note=note)


@pytest.mark.impl_defined
@pytest.mark.clause("REL-4")
def test_primary_release_before_notification_get_denied(boot):
    hv = _primary_received(boot)
    note = "REL-4 (D6): Hafnium refuses the release until the RX-full notification is retrieved; DEN0077A: SUCCESS"
    expect_error(
        "the primary's FFA_RX_RELEASE before FFA_NOTIFICATION_GET", hv.rx_release(), "DENIED", note, clause="REL-4", conv=False
    )


@pytest.mark.clause("REL-5")
def test_send_after_release_succeeds(boot):
    hv = _receiver(boot, p.notification_get(2), p.rx_release(), p.yield_())
    expect_success("partition 2's FFA_RX_RELEASE", slots(hv, 2)[4][:8], clause="REL-1")
    expect_sent("the next FFA_MSG_SEND2 1 -> 2", send(hv, 1, 2, b"and again"), clause="REL-5")


@pytest.mark.clause("REL-5")
def test_secondary_send_after_primary_release(boot):
    steps: list[p.Step] = [
        *p.setup(),
        p.yield_(),
        p.Header(2, 1, len(MESSAGE)),
        p.Payload(MESSAGE),
        p.msg_send2(),
        p.yield_(),
        p.msg_send2(),
    ]
    hv = boot(script(*steps))
    primary_v1_1(hv)
    hv.run(2, clause="RUN-2")
    hv.run(2, clause="SEND-18")
    hv.notification_get(1, clause="NOTIF-1")
    expect_success("the primary's FFA_RX_RELEASE", hv.rx_release(clause="REL-1"), clause="REL-1")
    expect_x0("FFA_RUN(2): it sends again", hv.run(2, clause="REL-5"), FFA_YIELD, clause="REL-5")
    expect_success("partition 2's second FFA_MSG_SEND2 to 1", slots(hv, 2)[7][:8], clause="REL-5")
