"""§2 Identifiers: ID-1 .. ID-4.

ID-1: each literal function ID does its call (an answer no other call gives); ID-2: partition IDs
of VMs have bit 15 clear; ID-3 (implementation-defined): Hafnium's values; ID-4: the version word.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0, shown
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_1 = 0x00010001


def _primary_ids(hv: Hv) -> list[int]:
    """The IDs in the primary's partition descriptors (Nil UUID), stepping by w3 (PIG-6)."""
    got = hv.partition_info_get()
    expect_x0("FFA_PARTITION_INFO_GET(Nil)", got, 0x84000061, clause="PIG-1")
    page = hv.recv_page()
    count, size = got[2] & 0xFFFF_FFFF, got[3] & 0xFFFF_FFFF
    return [int.from_bytes(page[i * size : i * size + 2], "little") for i in range(count)]


def _handled(what: str, regs: Regs) -> None:
    """ID-1: the literal ID is an FF-A function the callee handles: an FF-A result
    (FFA_SUCCESS_32 / FFA_ERROR_32), not the registers an unhandled ID comes back with (CONV-6,
    CONV-9). The values of the result are the function's own clauses."""
    expect(f"{what}: x0 is FFA_SUCCESS_32 or FFA_ERROR_32", regs[0] in (0x84000061, 0x84000060), True, shown(regs), clause="ID-1")


@pytest.mark.clause("ID-1", "VER-1")
def test_id1_version_0x84000063(boot):
    hv = boot()
    got = hv.ffa(0x84000063, V1_1)[0]
    # Only FFA_VERSION answers a version word (bit 31 clear, major 1); its value is VER-1's.
    expect("0x84000063(0x00010001): a v1.x version word in w0", got >> 16, 1, clause="ID-1")
    expect("0x84000063(0x00010001)", got, 0x00010003, clause="VER-1")


@pytest.mark.clause("ID-1", "IDG-1")
def test_id1_id_get_0x84000069(boot):
    hv = boot()
    hv.version(V1_1)
    got = hv.ffa(0x84000069)
    _handled("0x84000069 (FFA_ID_GET)", got)
    expect_success("0x84000069 (FFA_ID_GET)", got, w2=got[2] & 0xFFFF, clause="IDG-1", conv=False)


@pytest.mark.clause("ID-1", "FEAT-1", "FEAT-3")
def test_id1_features_0x84000064(boot):
    hv = boot()
    hv.version(V1_1)
    known, unknown = hv.ffa(0x84000064, 0x84000064), hv.ffa(0x84000064, 0x840000FF)
    _handled("0x84000064(0x84000064)", known)
    _handled("0x84000064(0x840000FF)", unknown)
    expect_success("0x84000064(0x84000064): FFA_FEATURES(FFA_FEATURES)", known, w2=0, clause="FEAT-3", conv=False)
    expect_error("0x84000064(0x840000FF): FFA_FEATURES of no function", unknown, "NOT_SUPPORTED", clause="FEAT-1", conv=False)


@pytest.mark.clause("ID-1", "MAP-1", "MAP-6", "PIG-1", "PIG-5")
def test_id1_rxtx_map_unmap_release_partition_info(boot):
    hv = boot(script())
    hv.version(V1_1)
    base = hv.base(0)
    steps = [
        ("0xC4000066 (FFA_RXTX_MAP_64)", (0xC4000066, base + 0x10000, base + 0x11000, 1), None, "MAP-1"),
        ("0x84000068 (FFA_PARTITION_INFO_GET, Nil)", (0x84000068,), None, "PIG-1"),
        ("0x84000065 (FFA_RX_RELEASE) of the descriptors", (0x84000065,), None, "PIG-5"),
        ("0x84000065 again: not the owner", (0x84000065,), "DENIED", "PIG-5"),
        ("0x84000067 (FFA_RXTX_UNMAP)", (0x84000067,), None, "MAP-6"),
        ("0x84000067 again: no pair", (0x84000067,), "INVALID_PARAMETERS", "MAP-6"),
    ]
    for what, args, error, clause in steps:
        got = hv.ffa(*args)
        _handled(what, got)
        if error is None:
            expect_x0(what, got, 0x84000061, clause=clause)
        else:
            expect_error(what, got, error, clause=clause, conv=False)


@pytest.mark.clause("ID-1", "WAIT-10", "RUN-1", "NOTIF-2", "NOTIF-4", "SEND-2")
def test_id1_msg_wait_run_notifications_send2(boot):
    hv = boot(script())
    hv.version(V1_1)
    steps = [
        ("0x8400006B (FFA_MSG_WAIT) from the primary", (0x8400006B,), "NOT_SUPPORTED", "WAIT-10"),
        ("0x8400006D(0x10000) (FFA_RUN of the primary)", (0x8400006D, 0x10000), "INVALID_PARAMETERS", "RUN-1"),
        ("0x84000082(1, 0xC) (FFA_NOTIFICATION_GET)", (0x84000082, 1, 0xC), None, "NOTIF-2"),
        ("0xC4000083 (FFA_NOTIFICATION_INFO_GET_64), none pending", (0xC4000083,), "NO_DATA", "NOTIF-4"),
        ("0x84000086 (FFA_MSG_SEND2) with no TX", (0x84000086,), "DENIED", "SEND-2"),
    ]
    for what, args, error, clause in steps:
        got = hv.ffa(*args)
        _handled(what, got)
        if error is None:
            expect_x0(what, got, 0x84000061, clause=clause)
        else:
            expect_error(what, got, error, clause=clause, conv=False)


@pytest.mark.clause("ID-1", "RUN-2")
def test_id1_yield_0x8400006C(boot):
    # A secondary's 0x8400006C stops it: the primary's FFA_RUN returns FFA_YIELD (RUN-2).
    hv = boot(script(P.version(), P.Call(0x8400006C)))
    hv.version(V1_1)
    got = hv.run(2)
    expect("FFA_RUN(0x20000) of a script whose steps are FFA_VERSION, 0x8400006C", got[0], 0x8400006C, shown(got), clause="ID-1")
    expect("FFA_RUN(0x20000) after 0x8400006C: w1 = 2<<16 | 0", got[1] & 0xFFFF_FFFF, 0x20000, clause="RUN-2")


@pytest.mark.clause("ID-2")
def test_id2_vm_ids_have_bit15_clear(boot):
    hv = boot(script(P.id_get()), script(P.id_get()))
    hv.version(V1_1)
    own = hv.id_get()[2]
    expect("the primary's ID (FFA_ID_GET w2): 16 bits, bit 15 = 0 (a VM)", own & ~0x7FFF, 0, clause="ID-2")
    hv.rxtx_map()
    for pid in _primary_ids(hv):
        expect(f"descriptor ID {pid:#x}: bit 15 = 0 (a VM, no SPMC)", pid & 0x8000, 0, clause="ID-2")


@pytest.mark.clause("ID-3")
@pytest.mark.impl_defined
def test_id3_hafnium_id_values(boot):
    hv = boot(script(), script(), script())
    hv.version(V1_1)
    expect("the primary's FFA_ID_GET w2", hv.id_get()[2], 1, "ID-3: Hafnium's primary is 1", clause="ID-3")
    hv.rxtx_map()
    expect("descriptor IDs (Nil UUID)", _primary_ids(hv), [2, 3, 4], "ID-3: VMs from 1 in manifest order", clause="ID-3")


@pytest.mark.clause("ID-4")
def test_id4_version_word_layout(boot):
    hv = boot()
    got = hv.version(V1_1)
    expect("FFA_VERSION(0x00010001): bit 31 (MBZ)", got >> 31, 0, clause="ID-4")
    expect("FFA_VERSION(0x00010001): major (bits 30..16)", got >> 16 & 0x7FFF, 1, clause="ID-4")
    expect("FFA_VERSION(0x00010001): minor (bits 15..0) >= 1", (got & 0xFFFF) >= 1, True, clause="ID-4")
