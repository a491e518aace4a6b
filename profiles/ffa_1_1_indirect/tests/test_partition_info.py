"""§7 FFA_PARTITION_INFO_GET: PIG-1 .. PIG-8 and worked example D (§15).

Descriptors are read from the primary's RX buffer at stride w3 (PIG-6), whatever size the build
says (PIG-3). The secondaries are scripts (no FF-A manifest UUIDs or messaging methods: what
depends on those is reported, see PIG-7 and example D).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_0, V1_1 = 0x00010000, 0x00010001


def _three(boot: Callable[..., Hv], vcpus: tuple[int, int, int] = (1, 1, 1)) -> Hv:
    hv = boot(*(script(vcpus=n) for n in vcpus))
    hv.version(V1_1)
    return hv


def _descriptors(hv: Hv, count: int, size: int) -> list[tuple[int, int, int]]:
    page = hv.recv_page()
    out = []
    for i in range(count):
        d = page[i * size : i * size + 24]
        out.append((int.from_bytes(d[0:2], "little"), int.from_bytes(d[2:4], "little"), int.from_bytes(d[4:8], "little")))
    return out


# --- PIG-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("PIG-1")
def test_pig1_nil_uuid_lists_every_vm(boot):
    hv = _three(boot)
    hv.rxtx_map()
    got = hv.partition_info_get()
    expect_success("FFA_PARTITION_INFO_GET(Nil)", got, w2=3, x3=got[3] & 0xFFFF_FFFF, clause="PIG-1")
    ids = [d[0] for d in _descriptors(hv, 3, got[3] & 0xFFFF_FFFF)]
    expect("three different partition IDs", len(set(ids)), 3, clause="PIG-1")
    own = hv.id_get()[2] & 0xFFFF
    expect("the caller is not among them (no FF-A manifest)", own in ids, False, clause="PIG-1")


@pytest.mark.clause("PIG-1")
@pytest.mark.parametrize("uuid", [(1, 2, 3, 4), (0, 0, 0, 1), (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)], ids=str)
def test_pig1_unrecognised_uuid(boot, uuid):
    hv = _three(boot)
    hv.rxtx_map()
    expect_error(f"FFA_PARTITION_INFO_GET(UUID {uuid})", hv.partition_info_get(uuid), "INVALID_PARAMETERS", clause="PIG-1")


# --- PIG-2 ---------------------------------------------------------------------------------------


@pytest.mark.clause("PIG-2")
def test_pig2_count_only_needs_no_rx(boot):
    hv = _three(boot)
    got = hv.partition_info_get(flags=1)
    expect_success("FFA_PARTITION_INFO_GET(Nil, w5 = 1) with no RX mapped", got, w2=got[2] & 0xFFFF_FFFF, clause="PIG-2")
    expect("count (w2) > 0", got[2] & 0xFFFF_FFFF > 0, True, clause="PIG-2")


@pytest.mark.clause("PIG-2")
def test_pig2_count_only_while_rx_full_writes_nothing(boot):
    hv = _three(boot)
    hv.rxtx_map()
    expect_x0("FFA_PARTITION_INFO_GET(Nil): RX full", hv.partition_info_get(), 0x84000061, clause="PIG-2")
    before = hv.recv_page()
    got = hv.partition_info_get(flags=1)
    expect_success("FFA_PARTITION_INFO_GET(Nil, w5 = 1) while RX is full", got, w2=got[2] & 0xFFFF_FFFF, clause="PIG-2")
    expect("the RX buffer after the count-only call", hv.recv_page() == before, True, clause="PIG-2")


@pytest.mark.clause("PIG-2")
def test_pig2_count_only_takes_no_ownership(boot):
    hv = _three(boot)
    hv.rxtx_map()
    hv.partition_info_get(flags=1)
    expect_x0(
        "FFA_PARTITION_INFO_GET(Nil) after a count-only call: RX still free", hv.partition_info_get(), 0x84000061, clause="PIG-2"
    )


@pytest.mark.clause("PIG-2")
def test_pig2_descriptor_mode_count_and_size(boot):
    hv = _three(boot)
    hv.rxtx_map()
    got = hv.partition_info_get()
    expect_success("FFA_PARTITION_INFO_GET(Nil, w5 = 0)", got, w2=3, x3=got[3] & 0xFFFF_FFFF, clause="PIG-2")
    expect("w3 (descriptor size): at least the 24-byte v1.1 layout", got[3] & 0xFFFF_FFFF >= 24, True, clause="PIG-2")


@pytest.mark.clause("PIG-2")
@pytest.mark.parametrize("flags", [2, 3, 0x80000000], ids=hex)
def test_pig2_flags_mbz(boot, flags):
    hv = _three(boot)
    hv.rxtx_map()
    expect_error(
        f"FFA_PARTITION_INFO_GET(Nil, w5 = {flags:#x})", hv.partition_info_get(flags=flags), "INVALID_PARAMETERS", clause="PIG-2"
    )


# --- PIG-3 (D8) ----------------------------------------------------------------------------------


@pytest.mark.clause("PIG-3")
@pytest.mark.impl_defined
@pytest.mark.parametrize(("version", "size"), [(V1_1, 0x30), (V1_0, 0x8)], ids=["v1.1", "v1.0"])
def test_pig3_descriptor_size(boot, version, size):
    hv = boot(script(), script(), script())
    hv.version(version)
    hv.rxtx_map()
    got = hv.partition_info_get()
    note = "D8: the v1.1 descriptor (Table 13.34) is 24 bytes" if version == V1_1 else ""
    expect(f"w3 for a {version:#x} caller", got[3] & 0xFFFF_FFFF, size, note, clause="PIG-3")


# --- PIG-4 (Hafnium: the indirect-messaging property) ----------------------------------------------


@pytest.mark.clause("PIG-4")
@pytest.mark.impl_defined
def test_pig4_indirect_property_by_version(boot):
    # VM 2 stays at v1.1; VM 3 locks itself at v1.0 (FFA_VERSION(0x10000), FFA_ID_GET).
    hv = boot(script(P.version(V1_1), P.id_get()), script(P.version(V1_0), P.id_get()))
    hv.version(V1_1)
    hv.run(2)
    hv.run(3)
    hv.rxtx_map()
    got = hv.partition_info_get()
    props = {d[0]: d[2] for d in _descriptors(hv, got[2] & 0xFFFF_FFFF, got[3] & 0xFFFF_FFFF)}
    expect("VM 2 (v1.1): properties bit 2 (indirect messaging)", props.get(2, 0) >> 2 & 1, 1, clause="PIG-4")
    expect("VM 3 (v1.0): properties bit 2 (indirect messaging)", props.get(3, 0) >> 2 & 1, 0, clause="PIG-4")


# --- PIG-5 ---------------------------------------------------------------------------------------


@pytest.mark.clause("PIG-5")
def test_pig5_rx_owned_until_release(boot):
    hv = _three(boot)
    hv.rxtx_map()
    expect_x0("FFA_PARTITION_INFO_GET(Nil)", hv.partition_info_get(), 0x84000061, clause="PIG-5")
    expect_error("FFA_PARTITION_INFO_GET(Nil) again before FFA_RX_RELEASE", hv.partition_info_get(), "BUSY", clause="PIG-5")
    expect_success("FFA_RX_RELEASE", hv.rx_release(), clause="PIG-5")
    expect_x0("FFA_PARTITION_INFO_GET(Nil) after the release", hv.partition_info_get(), 0x84000061, clause="PIG-5")


@pytest.mark.clause("PIG-5", "SEND-9")
def test_pig5_send_to_the_owner_busy(boot):
    # A secondary sends to the primary while the primary's RX holds descriptors: BUSY.
    steps = (*P.setup(), P.Header(2, 1, 4), P.Payload(b"PIG5"), P.msg_send2())
    hv = boot(script(*steps))
    hv.version(V1_1)
    hv.rxtx_map()
    expect_x0("FFA_PARTITION_INFO_GET(Nil)", hv.partition_info_get(), 0x84000061, clause="PIG-5")
    hv.run(2)
    reports = hv.reports(1)
    got = reports[4] if len(reports) > 4 else (0,) * 8
    expect_error("VM 2: FFA_MSG_SEND2 to the primary while its RX holds descriptors", got, "BUSY", clause="PIG-5")


# --- PIG-6 ---------------------------------------------------------------------------------------


@pytest.mark.clause("PIG-6")
def test_pig6_descriptor_layout(boot):
    hv = _three(boot, vcpus=(1, 2, 3))
    hv.rxtx_map()
    got = hv.partition_info_get()
    count, size = got[2] & 0xFFFF_FFFF, got[3] & 0xFFFF_FFFF
    descs = _descriptors(hv, count, size)
    expect("descriptors (Nil UUID)", len(descs), 3, clause="PIG-1")
    expect("execution-context counts @2 (VMs with 1, 2, 3 vCPUs)", sorted(d[1] for d in descs), [1, 2, 3], clause="PIG-6")
    for pid, _, props in descs:
        expect(f"partition {pid:#x}: properties bits 31:11 (v1.1 caller)", props & 0xFFFF_F800, 0, clause="PIG-6")
        expect(f"partition {pid:#x}: properties bit 8 (AArch64)", props >> 8 & 1, 1, clause="PIG-6")


@pytest.mark.clause("PIG-6")
def test_pig6_ids_match_the_partitions(boot):
    hv = boot(script(P.id_get()), script(P.id_get()), script(P.id_get()))
    hv.version(V1_1)
    hv.rxtx_map()
    got = hv.partition_info_get()
    ids = sorted(d[0] for d in _descriptors(hv, got[2] & 0xFFFF_FFFF, got[3] & 0xFFFF_FFFF))
    hv.rx_release()
    for pid in ids:
        hv.run(pid)
    own = sorted(hv.reports(i)[0][2] & 0xFFFF for i in (1, 2, 3) if hv.reports(i))
    expect("descriptor IDs @0 = the secondaries' own FFA_ID_GET", ids, own, clause="PIG-6")


# --- PIG-7 (count-only count) -----------------------------------------------------------------------


@pytest.mark.clause("PIG-7")
@pytest.mark.impl_defined
def test_pig7_count_only_counts_uuids(boot):
    # Hafnium counts one entry per partition UUID in count-only mode (at least one per partition),
    # one descriptor per partition for a v1.1 caller: count-only >= descriptors.
    hv = _three(boot)
    hv.rxtx_map()
    count_only = hv.partition_info_get(flags=1)[2] & 0xFFFF_FFFF
    descriptors = hv.partition_info_get()[2] & 0xFFFF_FFFF
    expect("count only >= descriptor count", count_only >= descriptors, True, f"{count_only} vs {descriptors}", clause="PIG-7")


# --- PIG-8 ---------------------------------------------------------------------------------------


@pytest.mark.clause("PIG-8")
@pytest.mark.impl_defined
def test_pig8_descriptors_without_rx_busy(boot):
    hv = _three(boot)
    expect_error("FFA_PARTITION_INFO_GET(Nil, w5 = 0) with no RX", hv.partition_info_get(), "BUSY", clause="PIG-8", conv=False)


# --- §15 worked example D ------------------------------------------------------------------------------


def _example_d(boot: Callable[..., Hv]) -> tuple[Regs, tuple[int, int, int], Regs, Regs, Regs, Regs]:
    """Example D's sequence, each result kept: (descriptor call, first descriptor, again, count
    only, release, flags 2, next descriptor call)."""
    hv = boot(script(vcpus=8), script(vcpus=8), script(vcpus=8))
    hv.version(V1_1)
    hv.rxtx_map()
    first = hv.partition_info_get()
    desc = _descriptors(hv, 1, 24)[0]
    again = hv.partition_info_get()
    count = hv.partition_info_get(flags=1)
    release = hv.rx_release()
    bad = hv.partition_info_get(flags=2)
    return first, desc, again, count, release, bad


@pytest.mark.clause("PIG-1", "PIG-2", "PIG-5", "PIG-6")
def test_example_d_must_steps(boot):
    first, (_pid, contexts, props), again, count, release, bad = _example_d(boot)
    expect_success("example D: FFA_PARTITION_INFO_GET(Nil, w5 = 0)", first, w2=0x3, x3=first[3] & 0xFFFF_FFFF, clause="PIG-1")
    expect("example D: first descriptor, 8 contexts", contexts, 8, clause="PIG-6")
    expect("example D: properties bits 31:11", props & 0xFFFF_F800, 0, clause="PIG-6")
    expect_error("example D: the same call again", again, "BUSY", clause="PIG-5")
    expect_x0("example D: w5 = 1, RX still full", count, 0x84000061, clause="PIG-2")
    expect_success("example D: FFA_RX_RELEASE (RX was still full)", release, clause="PIG-2")
    expect_error("example D: w5 = 2", bad, "INVALID_PARAMETERS", clause="PIG-2")


@pytest.mark.clause("PIG-3", "ID-3")
@pytest.mark.impl_defined
def test_example_d_impl_defined_steps(boot):
    first, (pid, _, _), _, _, _, _ = _example_d(boot)
    expect("example D: x3 (descriptor size)", first[3], 0x30, "D8: the v1.1 descriptor is 24 bytes", clause="PIG-3")
    expect("example D: first descriptor ID", pid, 0x0002, clause="ID-3")


@pytest.mark.clause("PIG-3")
@pytest.mark.impl_defined
def test_example_d_v1_0_primary(boot):
    hv = boot(script(), script(), script())
    hv.version(V1_0)
    hv.rxtx_map()
    got = hv.partition_info_get()
    expect_success("example D, v1.0 primary: FFA_PARTITION_INFO_GET(Nil)", got, w2=0x3, x3=0x8, clause="PIG-3", conv=False)
