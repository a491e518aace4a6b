"""§4 FFA_ID_GET: IDG-1, from the primary and from each secondary (read from its reports).

The checks do not assume Hafnium's ID values (ID-3): a secondary's own ID is the one the primary's
FFA_RUN named to run it, as listed in the partition descriptors; the primary's is the one its
message headers must carry (SEND-3).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv

V1_1 = 0x00010001


@pytest.mark.clause("IDG-1")
def test_idg1_primary(boot):
    hv = boot(script(*P.setup()))
    hv.version(V1_1)
    got = hv.id_get()
    expect_success("FFA_ID_GET (primary)", got, w2=got[2] & 0xFFFF, clause="IDG-1")
    own = got[2] & 0xFFFF_FFFF
    expect("FFA_ID_GET (primary): w2 is a 16-bit ID", own <= 0xFFFF, True, clause="IDG-1")


@pytest.mark.clause("IDG-1", "SEND-3")
def test_idg1_primary_id_is_its_sender_id(boot):
    # The header's sender must be the caller's ID (SEND-3): FFA_ID_GET's w2 is accepted as it.
    hv = boot(script(*P.setup()))
    hv.version(V1_1)
    own = hv.id_get()[2] & 0xFFFF
    expect_x0("FFA_RUN(0x20000): VM 2 maps and yields", hv.run(2), 0x8400006C, clause="RUN-2")
    hv.rxtx_map()
    hv.write_message(own, 2, b"IDG-1")
    expect_success(f"FFA_MSG_SEND2 with header sender = FFA_ID_GET's {own:#x}", hv.msg_send2(), clause="IDG-1", conv=False)


def _descriptor_ids(hv: Hv) -> list[int]:
    got = hv.partition_info_get()
    expect_x0("FFA_PARTITION_INFO_GET(Nil)", got, 0x84000061, clause="PIG-1")
    count, size = got[2] & 0xFFFF_FFFF, got[3] & 0xFFFF_FFFF
    page = hv.recv_page()
    hv.rx_release()
    return [int.from_bytes(page[i * size : i * size + 2], "little") for i in range(count)]


@pytest.mark.clause("IDG-1")
def test_idg1_each_secondary(boot):
    # Each secondary, run by the ID its descriptor lists, reports FFA_ID_GET = that ID. Which VM
    # index has which ID is ID-3's: the VM that ran is the one whose reports grew.
    hv = boot(script(P.id_get()), script(P.id_get()), script(P.id_get()))
    hv.version(V1_1)
    hv.rxtx_map()
    ids = _descriptor_ids(hv)
    expect("descriptor count (3 secondaries)", len(ids), 3, clause="PIG-1")
    for pid in ids:
        before = {index: len(hv.reports(index)) for index in (1, 2, 3)}
        expect_x0(f"FFA_RUN({pid:#x} << 16): it gets its ID and yields", hv.run(pid), 0x8400006C, clause="RUN-2")
        ran = [index for index in (1, 2, 3) if len(hv.reports(index)) > before[index]]
        expect(f"FFA_RUN({pid:#x} << 16): one VM ran its FFA_ID_GET", len(ran), 1, clause="IDG-1")
        expect_success(f"the VM run as {pid:#x}: FFA_ID_GET", hv.reports(ran[0])[0], w2=pid, clause="IDG-1")
