"""Every ordered pair: the header a receiver reads names exactly its sender and itself.

A system of the primary (1) and three secondaries (2, 3, 4). For each ordered pair (sender,
receiver) of distinct partitions, the sender writes a v1.1 header (HDR-1..HDR-5) naming
``sender<<16 | receiver`` and a payload unique to the pair, and calls FFA_MSG_SEND2; the receiver
reads in its own RX buffer exactly ``sender<<16 | receiver`` (HDR-4: the header is copied
unchanged, SEND-16) and the payload. FF-A's own ACS checks the sender ID a receiver reads only
for one pair; a hypervisor that rewrote, swapped or mixed up the IDs for some pair is caught here.
Secondary senders are scripts; secondary receivers run ``receiver`` (wait, notification, read,
release); the primary reads its own RX buffer.
"""

from __future__ import annotations

import itertools

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import program, script
from profiles.ffa_1_1_indirect.msg_checks import (
    FFA_MSG_WAIT,
    FFA_RUN,
    FFA_YIELD,
    R_NOTIF,
    R_READ,
    R_RELEASE,
    R_WAIT,
    expect_read,
    expect_sent,
    header_word,
    primary_v1_1,
    receiver_slot,
    slots,
    start_waiting,
)

PARTITIONS = (1, 2, 3, 4)
PAIRS = list(itertools.permutations(PARTITIONS, 2))


def _payload(sender: int, receiver: int) -> bytes:
    return f"pair {sender}->{receiver} ok!".encode()


@pytest.mark.clause("HDR-4", "SEND-16")
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=[f"{s}to{r}" for s, r in PAIRS])
def test_receiver_reads_its_sender_and_itself(boot, sender, receiver):
    payload = _payload(sender, receiver)
    guests: list[GuestVM] = []
    for partition in PARTITIONS[1:]:
        if partition == sender:
            steps: list[p.Step] = [
                *p.setup(),
                p.yield_(),
                p.Header(sender, receiver, len(payload)),
                p.Payload(payload),
                p.msg_send2(),
            ]
            guests.append(script(*steps))
        else:
            guests.append(program("receiver"))
    hv = boot(*guests)
    primary_v1_1(hv)
    for partition in PARTITIONS[1:]:
        if partition == sender:
            expect_x0(
                f"FFA_RUN({partition}): the sender sets up and yields",
                hv.run(partition, clause="RUN-2"),
                FFA_YIELD,
                clause="RUN-2",
            )
        else:
            start_waiting(hv, partition)

    what = f"{sender} -> {receiver}"
    if sender == 1:
        expect_sent(f"{what}: the primary's FFA_MSG_SEND2", _primary_send(hv, receiver, payload))
    else:
        ran = hv.run(sender, clause="SEND-18")
        expect_x0(f"FFA_RUN({sender}): it sends and goes on to its end (FFA_YIELD)", ran, FFA_YIELD, clause="SEND-18")
        expect_sent(f"{what}: partition {sender}'s FFA_MSG_SEND2", slots(hv, sender)[5][:8])

    if receiver == 1:
        expect_success(
            f"{what}: the primary's FFA_NOTIFICATION_GET(1, 0xC)",
            hv.notification_get(1, clause="NOTIF-1"),
            x7=1,
            clause="NOTIF-1",
        )
        (flags, reserved, offset, got_sender, got_receiver, size), data = hv.read_message()
        word = int.from_bytes(hv.recv_page(20)[12:16], "little")
        expect(f"{what}: the primary's RX header @12", word, header_word(sender, receiver), clause="HDR-4")
        expect(f"{what}: the primary's RX header @8 (offset)", offset, 20, clause="HDR-3")
        expect(f"{what}: the primary's RX header @16 (size)", size, len(payload), clause="HDR-5")
        expect(f"{what}: the payload in the primary's RX", data, payload, clause="SEND-16")
        expect((f"{what}: header sender / receiver"), (got_sender, got_receiver), (sender, receiver), clause="HDR-4")
        expect((f"{what}: header flags / reserved"), (flags, reserved), (0, 0), clause="HDR-1")
        expect_success(f"{what}: the primary's FFA_RX_RELEASE", hv.rx_release(clause="REL-1"), clause="REL-1")
    else:
        ran = hv.run(receiver, clause="WAIT-6")
        expect_x0(f"FFA_RUN({receiver}): it reads, releases, waits again", ran, FFA_MSG_WAIT, clause="WAIT-6")
        reports = slots(hv, receiver)
        expect(f"{what}: partition {receiver}'s reports", len(reports) >= receiver_slot(1, R_WAIT), True, clause="WAIT-6")
        expect_x0(f"{what}: partition {receiver}'s FFA_MSG_WAIT", reports[receiver_slot(0, R_WAIT)][:8], FFA_RUN, clause="WAIT-6")
        expect_success(
            f"{what}: partition {receiver}'s FFA_NOTIFICATION_GET", reports[receiver_slot(0, R_NOTIF)][:8], x7=1, clause="NOTIF-1"
        )
        expect_read(
            f"{what}: partition {receiver}'s RX",
            reports[receiver_slot(0, R_READ)],
            sender=sender,
            receiver=receiver,
            size=len(payload),
            payload=payload,
        )
        expect_success(f"{what}: partition {receiver}'s FFA_RX_RELEASE", reports[receiver_slot(0, R_RELEASE)][:8], clause="REL-1")


def _primary_send(hv, receiver: int, payload: bytes) -> tuple[int, ...]:
    hv.write_message(1, receiver, payload)
    return hv.msg_send2(clause="SEND-16")
