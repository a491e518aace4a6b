"""Checks the mutant self-test showed missing (``mutants.py``): each states a MUST rule that the
other tests reach only through an implementation-defined clause.

* SEND-16 with non-zero header flags or reserved words: whether such a message is accepted is
  SEND-15's choice (D7), but a message that *is* accepted arrives with its header unchanged.
* ID-2: a receiver ID with bit 15 set is not a VM; whatever FFA_MSG_SEND2 answers for it (SEND-6,
  implementation-defined), no VM receives it -- in particular not the VM whose ID is its low 15 bits.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect.checks import expect_x0
from profiles.ffa_1_1_indirect.guests import program
from profiles.ffa_1_1_indirect.msg_checks import (
    FFA_MSG_WAIT,
    R_READ,
    expect_sent,
    primary_v1_1,
    receiver_slot,
    send,
    slots,
    start_waiting,
)

FFA_SUCCESS_32 = 0x84000061
FFA_ERROR_32 = 0x84000060
INVALID_PARAMETERS = 0xFFFFFFFE
PAYLOAD = b"non-zero header words"


@pytest.mark.clause("SEND-16", "HDR-1", "HDR-2")
@pytest.mark.parametrize(
    ("flags", "reserved"), [(0xA5A5A5A5, 0), (0, 0x5A5A5A5A), (0x1, 0x80000000)], ids=["flags", "reserved", "both"]
)
def test_accepted_header_arrives_unchanged(boot, flags, reserved):
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    start_waiting(hv, 2)
    got = send(hv, 1, 2, PAYLOAD, flags=flags, reserved=reserved)
    if got[0] & 0xFFFF_FFFF == FFA_ERROR_32 and got[2] & 0xFFFF_FFFF == INVALID_PARAMETERS:
        return  # SEND-15 (D7): the specification's MBZ check refused it; nothing was delivered to check
    expect_sent("FFA_MSG_SEND2 with non-zero flags/reserved: SUCCESS or INVALID_PARAMETERS (SEND-15)", got, clause="SEND-16")
    expect_x0("FFA_RUN(2): it reads the message", hv.run(2, clause="SEND-16"), FFA_MSG_WAIT, clause="SEND-16")
    read = slots(hv, 2)[receiver_slot(0, R_READ)]
    expect(
        "partition 2's RX u32 @0: the flags as sent (header copied unchanged)",
        read[0] & 0xFFFF_FFFF,
        flags,
        clause="SEND-16,HDR-1",
    )
    expect("partition 2's RX u32 @4: the reserved word as sent", read[1] & 0xFFFF_FFFF, reserved, clause="SEND-16,HDR-2")
    expect("partition 2's RX u32 @12: sender 1, receiver 2", read[3] & 0xFFFF_FFFF, 0x00010002, clause="SEND-16")


@pytest.mark.clause("ID-2")
def test_bit15_receiver_is_not_a_vm(boot):
    hv = boot(program("receiver"))
    primary_v1_1(hv)
    start_waiting(hv, 2)
    send(hv, 1, 0x8002, PAYLOAD)  # SEND-6: the answer is the environment's, nothing is checked
    got = send(hv, 1, 2, b"to VM 2")
    expect_sent("FFA_MSG_SEND2 to 2 after one to 0x8002: VM 2's RX is still free (ID-2: 0x8002 is not VM 2)", got, clause="ID-2")
