"""§8 The v1.1 partition message header: HDR-1 .. HDR-7.

The header is five little-endian u32s at offset 0 of the sender's TX buffer and arrives unchanged
at offset 0 of the receiver's RX buffer. Each field is checked where the receiver reads it: in a
secondary's RX (the ``receiver`` program reports the five words and the payload at ``offset``),
or byte by byte in the primary's RX buffer for a message from a secondary script.
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
    R_READ,
    expect_sent,
    primary_v1_1,
    receiver_slot,
    send,
    slots,
    start_waiting,
    u64,
)

PAYLOAD = b"header-test data"


def _delivered(boot, *, offset: int = 20, payload: bytes = PAYLOAD, clause: str) -> tuple[int, ...]:
    """The primary sends ``payload`` at ``offset`` to a waiting ``receiver`` (2) over a TX page whose
    other bytes are not zero: partition 2's report of what it read (x0..x4 = the five words)."""
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    start_waiting(hv, 2)
    expect_sent("FFA_MSG_SEND2 to 2", send(hv, 1, 2, payload, offset=offset, background=0x99), clause=clause)
    expect_x0("FFA_RUN(2): it reads the message", hv.run(2, clause=clause), FFA_MSG_WAIT, clause=clause)
    return slots(hv, 2)[receiver_slot(0, R_READ)]


def _from_secondary(boot, steps: list[p.Step]) -> Hv:
    """Partition 2 runs ``setup, yield, *steps``; the primary is v1.1 and mapped; 2 has sent."""
    hv = boot(script(*p.setup(), p.yield_(), *steps))
    primary_v1_1(hv)
    expect_x0("FFA_RUN(2): it sets up and yields", hv.run(2, clause="RUN-2"), FFA_YIELD, clause="RUN-2")
    expect_x0("FFA_RUN(2): it sends to 1", hv.run(2, clause="SEND-18"), FFA_YIELD, clause="SEND-18")
    return hv


@pytest.mark.clause("HDR-1")
def test_flags_at_offset_0(boot):
    read = _delivered(boot, clause="HDR-1")
    expect("partition 2's RX u32 @0 (flags, 0 as sent)", read[0], 0, clause="HDR-1")


@pytest.mark.clause("HDR-2")
def test_reserved_at_offset_4(boot):
    read = _delivered(boot, clause="HDR-2")
    expect("partition 2's RX u32 @4 (reserved, 0 as sent)", read[1], 0, clause="HDR-2")


@pytest.mark.clause("HDR-3")
@pytest.mark.parametrize("offset", [20, 48, 1000])
def test_offset_at_offset_8(boot, offset):
    read = _delivered(boot, offset=offset, clause="HDR-3")
    expect("partition 2's RX u32 @8 (payload offset)", read[2], offset, clause="HDR-3")
    expect(
        f"partition 2's RX bytes at {offset}: the payload", (read[5], read[6]), (u64(PAYLOAD), u64(PAYLOAD[8:])), clause="HDR-3"
    )


@pytest.mark.clause("HDR-4")
def test_ids_at_offset_12(boot):
    read = _delivered(boot, clause="HDR-4")
    expect("partition 2's RX u32 @12 (sender 1 << 16 | receiver 2)", read[3], 0x00010002, clause="HDR-4")


@pytest.mark.clause("HDR-4")
def test_ids_as_u16_receiver_then_sender(boot):
    hv = _from_secondary(boot, [p.Header(2, 1, len(PAYLOAD)), p.Payload(PAYLOAD), p.msg_send2()])
    expect_success("partition 2's FFA_MSG_SEND2 to 1", slots(hv, 2)[5][:8], clause="SEND-16")
    rx = hv.recv_page(20)
    expect("the primary's RX u16 @12 (receiver)", int.from_bytes(rx[12:14], "little"), 1, clause="HDR-4")
    expect("the primary's RX u16 @14 (sender)", int.from_bytes(rx[14:16], "little"), 2, clause="HDR-4")


@pytest.mark.clause("HDR-5")
@pytest.mark.parametrize("size", [0, 5, 16, 3000])
def test_size_at_offset_16(boot, size):
    payload = bytes((0x30 + i) & 0xFF for i in range(size))
    hv = _from_secondary(boot, [p.Header(2, 1, size), p.Payload(payload), p.msg_send2()])
    expect_success("partition 2's FFA_MSG_SEND2 to 1", slots(hv, 2)[5][:8], clause="SEND-16")
    rx = hv.recv_page(20 + size)
    expect("the primary's RX u32 @16 (size)", int.from_bytes(rx[16:20], "little"), size, clause="HDR-5")
    expect(f"the primary's RX [20, {20 + size}): the payload", rx[20:], payload, clause="HDR-5")


@pytest.mark.clause("HDR-6")
def test_v1_1_payload_starts_at_20(boot):
    read = _delivered(boot, offset=20, clause="HDR-6")
    expect(
        "partition 2's RX bytes 20..35: the payload (no v1.2 reserved/UUID fields)",
        (read[5], read[6]),
        (u64(PAYLOAD), u64(PAYLOAD[8:])),
        clause="HDR-6",
    )


@pytest.mark.clause("HDR-7")
def test_header_is_20_bytes(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    start_waiting(hv, 2)
    got = send(hv, 1, 2, b"", offset=19, size=4)
    expect_error("FFA_MSG_SEND2, offset 19 (inside a 20-byte header)", got, "INVALID_PARAMETERS", clause="HDR-7")
    expect_sent("FFA_MSG_SEND2, offset 20 (right after it)", send(hv, 1, 2, PAYLOAD, offset=20), clause="HDR-7")
