"""§9 FFA_MSG_SEND2: SEND-1 .. SEND-22.

Each refusal is tested with only its own condition violated: a v1.1 primary with RX/TX mapped
sends to partition 2, a ``receiver`` waiting with its RX buffer mapped and empty, a message that
is valid except for the one field under test. The order in which a build makes its checks is
implementation-defined (§0), so no test depends on it. After a refusal the same system takes a
valid message and the receiver reads that one (§9: a failure leaves all state unchanged).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import MINUS_ONE, expect_error, expect_result, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import program, script
from profiles.ffa_1_1_indirect.hv import Hv
from profiles.ffa_1_1_indirect.msg_checks import (
    FFA_MSG_WAIT,
    FFA_RUN,
    FFA_YIELD,
    R_READ,
    V1_0,
    V1_2,
    expect_read,
    expect_sent,
    index,
    page,
    primary_v1_1,
    receiver_slot,
    send,
    slots,
    start_waiting,
)

RECEIVER = 2
VALID = b"a valid message!"
AFTER = b"the one after it"


def _ready(boot, *, secondaries: int = 2) -> Hv:
    """Primary v1.1 and mapped; partitions 2 .. secondaries + 1 run ``receiver``, waiting."""
    hv = boot(*[program("receiver") for _ in range(secondaries)])
    primary_v1_1(hv)
    for partition in range(2, secondaries + 2):
        start_waiting(hv, partition)
    return hv


def _expect_unchanged(hv: Hv, *, clause: str, message: int = 0) -> None:
    """After a refused send: a valid message to partition 2 succeeds and is the one it reads (the
    refused call delivered nothing and left its RX buffer free)."""
    expect_sent(f"after the refusal ({clause}), a valid FFA_MSG_SEND2 to 2", send(hv, 1, RECEIVER, AFTER), clause=clause)
    expect_x0("FFA_RUN(2): it reads the message and waits again", hv.run(RECEIVER, clause=clause), FFA_MSG_WAIT, clause=clause)
    read = slots(hv, RECEIVER)[receiver_slot(message, R_READ)]
    expect_read("partition 2's RX after the refusal", read, sender=1, receiver=RECEIVER, size=len(AFTER), payload=AFTER)


# --- SEND-1 -------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-1")
@pytest.mark.parametrize("w1", [0x0001_0000, 0x0002_0000, 0xFFFF_0000, 0x8000_0000])
def test_sender_id_in_w1_refused(boot, w1):
    hv = _ready(boot)
    expect_error(f"FFA_MSG_SEND2(w1 = {w1:#x})", send(hv, 1, RECEIVER, VALID, w1=w1), "INVALID_PARAMETERS", clause="SEND-1")
    _expect_unchanged(hv, clause="SEND-1")


# --- SEND-2 -------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-2")
def test_no_tx_mapped_denied(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv, map_rxtx=False)
    start_waiting(hv, RECEIVER)
    hv.write_send_page(page(1, RECEIVER, VALID))  # in the primary's memory, but never mapped as TX
    expect_error("FFA_MSG_SEND2 with no TX buffer mapped", hv.msg_send2(), "DENIED", clause="SEND-2")


@pytest.mark.clause("SEND-2")
def test_tx_unmapped_denied(boot):
    hv = _ready(boot)
    hv.write_send_page(page(1, RECEIVER, VALID))
    expect_success("FFA_RXTX_UNMAP", hv.rxtx_unmap(clause="MAP-6"), clause="MAP-6")
    expect_error("FFA_MSG_SEND2 after FFA_RXTX_UNMAP", hv.msg_send2(), "DENIED", clause="SEND-2")
    expect_success("FFA_RXTX_MAP_64 again", hv.rxtx_map(clause="MAP-6"), clause="MAP-6")
    _expect_unchanged(hv, clause="SEND-2")


# --- SEND-3, SEND-4 -------------------------------------------------------------------------------


@pytest.mark.clause("SEND-3")
@pytest.mark.parametrize("sender", [3, 0, 0x10, 0x8001])
def test_header_sender_not_the_caller_refused(boot, sender):
    hv = _ready(boot)
    expect_error(
        f"FFA_MSG_SEND2, header sender {sender:#x}", send(hv, sender, RECEIVER, VALID), "INVALID_PARAMETERS", clause="SEND-3"
    )
    _expect_unchanged(hv, clause="SEND-3")


@pytest.mark.clause("SEND-4")
def test_primary_to_itself_refused(boot):
    hv = _ready(boot)
    expect_error("FFA_MSG_SEND2, header 1 -> 1", send(hv, 1, 1, VALID), "INVALID_PARAMETERS", clause="SEND-4")
    _expect_unchanged(hv, clause="SEND-4")


@pytest.mark.clause("SEND-4")
def test_secondary_to_itself_refused(boot):
    hv = boot(script(*p.setup(), p.Header(2, 2, len(VALID)), p.Payload(VALID), p.msg_send2(), p.msg_wait()))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sends to itself, goes on, waits", hv.run(2, clause="SEND-4"), FFA_MSG_WAIT, clause="SEND-4")
    reports = slots(hv, 2)
    expect("partition 2's reports up to its wait", len(reports), 5, clause="SEND-4")
    expect_error("partition 2's FFA_MSG_SEND2, header 2 -> 2", reports[4][:8], "INVALID_PARAMETERS", clause="SEND-4")


# --- SEND-5 -------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-5")
@pytest.mark.parametrize("w2", [1, 2, 4, 0x8000_0000, 0xFFFF_FFFF])
def test_flags_from_a_vm_refused(boot, w2):
    hv = _ready(boot)
    expect_error(f"FFA_MSG_SEND2(w2 = {w2:#x})", send(hv, 1, RECEIVER, VALID, w2=w2), "INVALID_PARAMETERS", clause="SEND-5")
    _expect_unchanged(hv, clause="SEND-5")


# --- SEND-6 (implementation-defined) ------------------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-6")
@pytest.mark.parametrize("receiver", [0x8001, 0xFFFF])
def test_sp_range_receiver_forwarded(boot, receiver):
    hv = _ready(boot)
    expect_result(
        f"FFA_MSG_SEND2 to {receiver:#x} (bit 15 set)",
        send(hv, 1, receiver, VALID),
        (MINUS_ONE, 0x10000, 0, 0, 0, 0, 0, 0),
        "SEND-6: forwarded to EL3 with w1 = sender<<16; under QEMU with no EL3 firmware x0 = -1, x1 = 0x10000 "
        "(environment-dependent: an SPMC answers for itself)",
        clause="SEND-6",
    )


@pytest.mark.clause("ID-2")
@pytest.mark.parametrize("receiver", [0x8002, 0x8003])
def test_sp_range_receiver_is_not_a_vm(boot, receiver):
    hv = _ready(boot)
    send(hv, 1, receiver, VALID)  # its answer is SEND-6's (implementation-defined)
    # ID-2: bit 15 set names a secure partition: the message never reaches VM receiver & 0x7FFF.
    _expect_unchanged(hv, clause="ID-2")


# --- SEND-7 -------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-7")
@pytest.mark.parametrize("receiver", [0x0000, 0x0010, 0x7FFF])
def test_unknown_receiver_refused(boot, receiver):
    hv = _ready(boot)
    expect_error(f"FFA_MSG_SEND2 to {receiver:#x}", send(hv, 1, receiver, VALID), "INVALID_PARAMETERS", clause="SEND-7")
    _expect_unchanged(hv, clause="SEND-7")


# --- SEND-8 (implementation-defined) ------------------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-8")
def test_every_vm_pair_allowed(boot):
    steps: list[p.Step] = [*p.setup(), p.yield_(), p.Header(2, 3, 8), p.Payload(b"2 to 3!!"), p.msg_send2()]
    hv = boot(script(*steps), program("receiver"))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): sets up, yields", hv.run(2, clause="SEND-8"), FFA_YIELD, clause="SEND-8")
    start_waiting(hv, 3, clause="SEND-8")
    expect_x0("FFA_RUN(2): sends to 3", hv.run(2, clause="SEND-8"), FFA_YIELD, clause="SEND-8")
    expect_success("2 -> 3: FFA_MSG_SEND2", slots(hv, 2)[5][:8], clause="SEND-8", conv=False)
    expect_success("1 -> 3: FFA_MSG_SEND2", send(hv, 1, 2, VALID), clause="SEND-8", conv=False)


# --- SEND-9 -------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-9")
def test_receiver_without_rx_busy(boot):
    hv = boot(program("receiver"), program("receiver"))
    primary_v1_1(hv)
    start_waiting(hv, 3)
    # Partition 2 has never run: it has mapped no RX buffer.
    expect_error("FFA_MSG_SEND2 to 2 (no RX buffer mapped)", send(hv, 1, 2, VALID), "BUSY", clause="SEND-9")
    start_waiting(hv, 2, clause="SEND-9")
    _expect_unchanged(hv, clause="SEND-9")


@pytest.mark.clause("SEND-9")
def test_receiver_unmapped_busy(boot):
    hv = boot(script(*p.setup(), p.Call(0x84000067), p.yield_()))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): maps, unmaps, yields", hv.run(2, clause="SEND-9"), FFA_YIELD, clause="SEND-9")
    expect_success("partition 2's FFA_RXTX_UNMAP", slots(hv, 2)[2][:8], clause="MAP-6")
    expect_error("FFA_MSG_SEND2 to 2 (RX unmapped)", send(hv, 1, 2, VALID), "BUSY", clause="SEND-9")


@pytest.mark.clause("SEND-9")
def test_receiver_full_busy(boot):
    hv = _ready(boot)
    expect_sent("the first message", send(hv, 1, RECEIVER, VALID))
    second = b"second, not read"
    expect_error("a second FFA_MSG_SEND2 before the receiver released", send(hv, 1, RECEIVER, second), "BUSY", clause="SEND-9")
    expect_x0("FFA_RUN(2): it reads the first message", hv.run(RECEIVER, clause="SEND-9"), FFA_MSG_WAIT, clause="SEND-9")
    read = slots(hv, RECEIVER)[receiver_slot(0, R_READ)]
    expect_read(
        "partition 2's RX: the first message, not the refused one", read, sender=1, receiver=2, size=len(VALID), payload=VALID
    )
    _expect_unchanged(hv, clause="SEND-9", message=1)


@pytest.mark.clause("SEND-9")
def test_receiver_holding_descriptors_busy(boot):
    hv = boot(script(*p.setup(), p.Call(0x84000068), p.yield_()))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): FFA_PARTITION_INFO_GET, yields", hv.run(2, clause="SEND-9"), FFA_YIELD, clause="SEND-9")
    expect_x0("partition 2's FFA_PARTITION_INFO_GET (descriptors)", slots(hv, 2)[2][:8], 0x84000061, clause="PIG-5")
    expect_error("FFA_MSG_SEND2 to 2 (RX holds descriptors)", send(hv, 1, 2, VALID), "BUSY", clause="SEND-9")


# --- SEND-10 ------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-10")
def test_v1_0_sender_not_supported(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv, version=V1_0)
    start_waiting(hv, RECEIVER)
    expect_error("a v1.0 primary's valid FFA_MSG_SEND2", send(hv, 1, RECEIVER, VALID), "NOT_SUPPORTED", clause="SEND-10")


# --- SEND-11 .. SEND-14 ---------------------------------------------------------------------------


@pytest.mark.clause("SEND-11")
@pytest.mark.parametrize("offset", [0, 16, 19])
def test_offset_inside_header_refused(boot, offset):
    hv = _ready(boot)
    got = send(hv, 1, RECEIVER, b"", offset=offset, size=8)
    expect_error(f"FFA_MSG_SEND2, offset {offset}", got, "INVALID_PARAMETERS", clause="SEND-11")
    _expect_unchanged(hv, clause="SEND-11")


@pytest.mark.clause("SEND-11")
@pytest.mark.parametrize("offset", [20, 24, 0x100, 4000])
def test_offset_at_or_after_header_accepted(boot, offset):
    hv = _ready(boot)
    expect_sent(f"FFA_MSG_SEND2, offset {offset}", send(hv, 1, RECEIVER, VALID, offset=offset, background=0x80), clause="SEND-11")
    expect_x0("FFA_RUN(2): it reads the message", hv.run(RECEIVER, clause="SEND-11"), FFA_MSG_WAIT, clause="SEND-11")
    read = slots(hv, RECEIVER)[receiver_slot(0, R_READ)]
    expect_read(
        f"partition 2's RX, payload at {offset}", read, sender=1, receiver=2, size=len(VALID), payload=VALID, offset=offset
    )


@pytest.mark.clause("SEND-12")
@pytest.mark.parametrize(("offset", "size"), [(20, 0xFFFF_FFF0), (0xFFFF_FFFF, 1), (0x8000_0000, 0x8000_0000), (24, 0xFFFF_FFFF)])
def test_offset_plus_size_overflow_refused(boot, offset, size):
    hv = _ready(boot)
    got = send(hv, 1, RECEIVER, b"", offset=offset, size=size)
    expect_error(f"FFA_MSG_SEND2, offset {offset:#x} size {size:#x}", got, "INVALID_PARAMETERS", clause="SEND-12")
    _expect_unchanged(hv, clause="SEND-12")


@pytest.mark.clause("SEND-13")
@pytest.mark.parametrize(("offset", "size"), [(20, 4077), (24, 4073), (4096, 1), (4097, 0), (20, 0x1_0000)])
def test_message_beyond_the_maximum_refused(boot, offset, size):
    hv = _ready(boot)
    got = send(hv, 1, RECEIVER, b"", offset=offset, size=size)
    expect_error(
        f"FFA_MSG_SEND2, offset {offset} size {size} (end {offset + size} > 4096)", got, "INVALID_PARAMETERS", clause="SEND-13"
    )
    _expect_unchanged(hv, clause="SEND-13")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-14")
@pytest.mark.parametrize(("offset", "size"), [(20, 4076), (24, 4072)])
def test_maximum_message_accepted(boot, offset, size):
    hv = _ready(boot)
    payload = bytes((7 * i + 1) & 0xFF for i in range(size))
    expect_success(
        f"FFA_MSG_SEND2, offset {offset} size {size} (end 4096)",
        send(hv, 1, RECEIVER, payload, offset=offset),
        clause="SEND-14",
        conv=False,
        note="SEND-14 (D10): Hafnium's limit is 4096 x RXTX_MAX_PAGE_COUNT = 4096; DEN0077A ties it to the mailbox "
        "size, 4096 here too",
    )


# --- SEND-15 (implementation-defined, D7) ------------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-15")
def test_nonzero_flags_and_reserved_delivered(boot):
    hv = _ready(boot)
    note = (
        "SEND-15 (D7): Hafnium neither checks nor clears header flags/reserved and delivers them; DEN0077A as cited makes "
        "them MBZ/SBZ and ACS-1.1 expects INVALID_PARAMETERS"
    )
    got = send(hv, 1, RECEIVER, VALID, flags=0xA5A5A5A5, reserved=0x5A5A5A5A)
    expect_success("FFA_MSG_SEND2, flags 0xA5A5A5A5, reserved 0x5A5A5A5A", got, clause="SEND-15", conv=False, note=note)
    expect_x0("FFA_RUN(2): it reads the message", hv.run(RECEIVER, clause="SEND-15"), FFA_MSG_WAIT, clause="SEND-15")
    read = slots(hv, RECEIVER)[receiver_slot(0, R_READ)]
    expect("partition 2's RX header @0 (flags), @4 (reserved)", read[:2], (0xA5A5A5A5, 0x5A5A5A5A), note, clause="SEND-15")


@pytest.mark.clause("SEND-16")
@pytest.mark.parametrize(("flags", "reserved"), [(0xA5A5A5A5, 0), (0, 0x5A5A5A5A)])
def test_accepted_header_delivered_unchanged(boot, flags, reserved):
    """SEND-15 lets a build refuse non-zero flags/reserved or deliver them; if it accepts the
    message, SEND-16 copies the header unchanged."""
    hv = _ready(boot)
    got = send(hv, 1, RECEIVER, VALID, flags=flags, reserved=reserved)
    if got[0] != 0x84000061:
        pytest.skip(f"the build refused flags {flags:#x} / reserved {reserved:#x} (SEND-15): SEND-16 does not apply")
    expect_success("FFA_MSG_SEND2 with non-zero flags/reserved, accepted", got, clause="SEND-16")
    expect_x0("FFA_RUN(2): it reads the message", hv.run(RECEIVER, clause="SEND-16"), FFA_MSG_WAIT, clause="SEND-16")
    read = slots(hv, RECEIVER)[receiver_slot(0, R_READ)]
    expect("partition 2's RX header @0, @4: as sent", read[:2], (flags, reserved), clause="SEND-16")


# --- SEND-16 .. SEND-19 ---------------------------------------------------------------------------


def _snapshot_receiver(end: int) -> list[p.Step]:
    """setup; wait; notification; copy RX [0, end) to LIB_DATA; release; wait."""
    return [*p.setup(), p.msg_wait(), p.notification_get(2), p.CopyRx(end), p.rx_release(), p.msg_wait()]


@pytest.mark.clause("SEND-16")
@pytest.mark.parametrize(("offset", "size"), [(20, 1), (32, 100), (20, 3000), (200, 0)])
def test_bytes_copied_verbatim(boot, offset, size):
    end = offset + size
    hv = boot(script(*_snapshot_receiver(end)))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and waits", hv.run(2, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    payload = bytes((3 * i + 0x11) & 0xFF for i in range(size))
    tx = page(1, 2, payload, offset=offset, background=0xC0)  # the gap after the header is not zero
    hv.write_send_page(tx)
    got = hv.msg_send2(clause="SEND-16")
    expect_success(f"FFA_MSG_SEND2, offset {offset} size {size}", got, clause="SEND-16")
    expect_error("a second FFA_MSG_SEND2: the receiver's RX buffer is full", hv.msg_send2(), "BUSY", clause="SEND-16")
    expect_x0("FFA_RUN(2): it copies its RX buffer, releases, waits", hv.run(2, clause="SEND-16"), FFA_MSG_WAIT, clause="SEND-16")
    reports = slots(hv, 2)
    expect_x0("partition 2's FFA_MSG_WAIT", reports[2][:8], FFA_RUN, clause="WAIT-6")
    copied = hv.session.read(index(2), hv.base(index(2)) + 0x12000, end)
    expect(f"partition 2's RX [0, {end}): the primary's TX [0, {end}), header included", copied, tx[:end], clause="SEND-16")


@pytest.mark.clause("SEND-17")
def test_rx_full_notification_pending(boot):
    hv = boot(script(*p.setup(), p.notification_get(2), p.msg_wait(), p.notification_get(2)))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and waits", hv.run(2, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    expect_success("partition 2's FFA_NOTIFICATION_GET before any message", slots(hv, 2)[2][:8], x7=0, clause="NOTIF-2")
    expect_success("FFA_MSG_SEND2 to 2", send(hv, 1, 2, VALID), clause="SEND-16")
    expect_x0("FFA_RUN(2)", hv.run(2, clause="SEND-17"), FFA_YIELD, clause="SEND-17")
    expect_success("partition 2's FFA_NOTIFICATION_GET after the message", slots(hv, 2)[4][:8], x7=1, clause="SEND-17")


@pytest.mark.clause("SEND-18")
def test_sender_keeps_running(boot):
    steps: list[p.Step] = [
        *p.setup(),
        p.yield_(),
        p.Header(2, 3, len(VALID)),
        p.Payload(VALID),
        p.msg_send2(),
        p.id_get(),
        p.yield_(),
    ]
    hv = boot(script(*steps), program("receiver"))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and yields", hv.run(2, clause="RUN-2"), FFA_YIELD, clause="RUN-2")
    start_waiting(hv, 3)
    before = len(slots(hv, 3))
    ran = hv.run(2, clause="SEND-18")
    expect_x0("FFA_RUN(2): it sends, goes on to FFA_ID_GET and yields", ran, FFA_YIELD, clause="SEND-18")
    reports = slots(hv, 2)
    expect("partition 2's reports: through FFA_ID_GET (the second yield reports when resumed)", len(reports), 7, clause="SEND-18")
    expect_success("partition 2's FFA_MSG_SEND2", reports[5][:8], clause="SEND-16")
    expect_success("partition 2's FFA_ID_GET right after it", reports[6][:8], 2, clause="SEND-18")
    expect("partition 3 did not run (no report since its wait)", len(slots(hv, 3)), before, clause="SEND-18")


@pytest.mark.clause("SEND-19")
def test_v1_2_header_reaches_v1_1_receiver_unchanged(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv, version=V1_2)
    start_waiting(hv, 2)
    expect_success("a v1.2 primary's FFA_MSG_SEND2, offset 40", send(hv, 1, 2, VALID, offset=40), clause="SEND-19")
    expect_x0("FFA_RUN(2): the v1.1 receiver reads it", hv.run(2, clause="SEND-19"), FFA_MSG_WAIT, clause="SEND-19")
    read = slots(hv, 2)[receiver_slot(0, R_READ)]
    expect("partition 2's RX header @8: the sender's offset, 40", read[2], 40, clause="SEND-19")
    expect_read("partition 2's RX (a 40-byte header)", read, sender=1, receiver=2, size=len(VALID), payload=VALID, offset=40)


@pytest.mark.clause("SEND-19")
def test_v1_1_header_reaches_v1_2_receiver_unchanged(boot):
    hv = boot(script(*p.setup(), p.yield_(), p.Header(2, 1, len(VALID)), p.Payload(VALID), p.msg_send2()))
    primary_v1_1(hv, version=V1_2)
    expect_x0("FFA_RUN(2): sets up, yields", hv.run(2, clause="RUN-2"), FFA_YIELD, clause="RUN-2")
    expect_x0("FFA_RUN(2): sends to 1", hv.run(2, clause="SEND-19"), FFA_YIELD, clause="SEND-19")
    expect_success("partition 2's FFA_MSG_SEND2", slots(hv, 2)[5][:8], clause="SEND-16")
    head, payload = hv.read_message()
    expect("the v1.2 primary's RX header: offset 20 as sent", head[2], 20, clause="SEND-19")
    expect("the payload at RX + 20", payload, VALID, clause="SEND-19")


# --- SEND-20 .. SEND-22 (implementation-defined) --------------------------------------------------------


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-20")
def test_rx_tail_zeroed(boot):
    steps: list[p.Step] = [
        *_snapshot_receiver(4096)[:-1],
        p.msg_wait(),
        p.notification_get(2),
        p.CopyRx(4096, at=4096),
        p.rx_release(),
        p.msg_wait(),
    ]
    hv = boot(script(*steps))
    primary_v1_1(hv)
    hv.run(2, clause="SEND-20")
    send(hv, 1, 2, bytes([0xEE]) * 4076)
    hv.run(2, clause="SEND-20")
    send(hv, 1, 2, b"MESSAGE2")
    hv.run(2, clause="SEND-20")
    second = hv.session.read(index(2), hv.base(index(2)) + 0x12000 + 4096, 4096)
    expect(
        "partition 2's RX after a 4096-byte then a 28-byte message: bytes 28..4095",
        second[28:],
        bytes(4068),
        "SEND-20: Hafnium zeroes the RX tail on every delivery (FF-A v1.3 §4.10); the v1.1 material requires only the "
        "stated length",
        clause="SEND-20",
    )


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-21")
def test_empty_message_at_buffer_end_accepted(boot):
    hv = _ready(boot)
    expect_success(
        "FFA_MSG_SEND2, offset 4096, size 0",
        send(hv, 1, RECEIVER, b"", offset=4096, size=0),
        clause="SEND-21",
        conv=False,
        note="SEND-21: Hafnium accepts (offset >= header size, offset + size <= 4096); the DEN0077A text was not available",
    )


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-22")
def test_v1_0_sender_errors_before_version_check(boot):
    hv = boot(program("receiver"), program("receiver"))  # neither runs: no RX buffer mapped
    primary_v1_1(hv, version=V1_0)
    note = "SEND-22 (D11): Hafnium checks the version after SEND-1..9; DEN0077A read as: a v1.0 caller gets NOT_SUPPORTED"
    expect_error("v1.0: to a receiver without RX", send(hv, 1, 2, VALID), "BUSY", note, clause="SEND-22", conv=False)
    expect_error("v1.0: header sender 3", send(hv, 3, 2, VALID), "INVALID_PARAMETERS", note, clause="SEND-22", conv=False)
    got = send(hv, 1, 2, b"", offset=16, size=8)
    expect_error("v1.0: offset 16 to a receiver without RX", got, "BUSY", note, clause="SEND-22", conv=False)
