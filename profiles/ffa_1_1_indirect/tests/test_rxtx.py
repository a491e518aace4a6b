"""§6 FFA_RXTX_MAP / FFA_RXTX_UNMAP: MAP-1 .. MAP-7.

"Registered" is observed through what a registered pair does: FFA_PARTITION_INFO_GET writes its
descriptors into the RX buffer (PIG-2), a second FFA_RXTX_MAP is DENIED (MAP-1).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_1 = 0x00010001
TX, RX = 0x10000, 0x11000  # the library's send and receive pages, from the VM's base
FAULT_MARKER = 0xFA017FA017  # programs.FAULT_MARKER: the report of a fault injected into the VM


def _primary(boot: Callable[..., Hv], *guests: GuestVM) -> Hv:
    hv = boot(*guests)
    hv.version(V1_1)
    return hv


def _map(hv: Hv, tx: int, rx: int, pages: int = 1) -> Regs:
    return hv.ffa(0xC4000066, tx, rx, pages)


# --- MAP-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("MAP-1")
def test_map1_success_registers_the_pair(boot):
    hv = _primary(boot, script())
    expect_success("FFA_RXTX_MAP_64(TX, RX, 1)", hv.rxtx_map(), clause="MAP-1")
    # Registered: the descriptors land in this RX buffer.
    got = hv.partition_info_get()
    expect_x0("FFA_PARTITION_INFO_GET into the registered RX", got, 0x84000061, clause="MAP-1")
    first = int.from_bytes(hv.recv_page(2), "little")
    expect("the first descriptor's ID in the registered RX buffer", first != 0, True, clause="MAP-1")


@pytest.mark.clause("MAP-1")
def test_map1_second_map_denied(boot):
    hv = _primary(boot)
    hv.rxtx_map()
    expect_error("a second FFA_RXTX_MAP_64, same pages", hv.rxtx_map(), "DENIED", clause="MAP-1")


@pytest.mark.clause("MAP-1")
def test_map1_second_map_other_pages_denied(boot):
    hv = _primary(boot)
    hv.rxtx_map()
    base = hv.base(0)
    expect_error("a second FFA_RXTX_MAP_64, other pages", _map(hv, base + 0x12000, base + 0x13000), "DENIED", clause="MAP-1")


# --- MAP-2 (implementation-defined: buffer size and alignment) ---------------------------------------


@pytest.mark.clause("MAP-2")
@pytest.mark.impl_defined
@pytest.mark.parametrize("pages", [0, 2])
def test_map2_page_count(boot, pages):
    hv = _primary(boot)
    base = hv.base(0)
    got = _map(hv, base + 0x12000, base + 0x14000, pages)
    expect_error(
        f"FFA_RXTX_MAP_64 with {pages} pages (RXTX_MAX_PAGE_COUNT = 1)", got, "INVALID_PARAMETERS", clause="MAP-2", conv=False
    )


@pytest.mark.clause("MAP-2")
@pytest.mark.impl_defined
@pytest.mark.parametrize(("dtx", "drx"), [(0x10, 0), (0, 0x800)], ids=["tx+0x10", "rx+0x800"])
def test_map2_unaligned(boot, dtx, drx):
    hv = _primary(boot)
    base = hv.base(0)
    got = _map(hv, base + TX + dtx, base + RX + drx)
    expect_error("FFA_RXTX_MAP_64 with an address not 4 KiB aligned", got, "INVALID_PARAMETERS", clause="MAP-2", conv=False)


# --- MAP-3 (Hafnium) -----------------------------------------------------------------------------------


@pytest.mark.clause("MAP-3")
@pytest.mark.impl_defined
def test_map3_same_page(boot):
    hv = _primary(boot)
    base = hv.base(0)
    expect_error("FFA_RXTX_MAP_64 with RX = TX", _map(hv, base + TX, base + TX), "INVALID_PARAMETERS", clause="MAP-3", conv=False)


# --- MAP-4 -----------------------------------------------------------------------------------------


def _other_vm(hv: Hv) -> tuple[int, int]:
    return hv.base(1) + TX, hv.base(1) + RX


def _far(hv: Hv) -> tuple[int, int]:
    return hv.base(0) + (1 << 40), hv.base(0) + (1 << 40) + 0x1000


@pytest.mark.clause("MAP-4")
@pytest.mark.parametrize("where", [_other_vm, _far], ids=["another VM's pages", "no memory"])
def test_map4_not_owned_fails_and_registers_nothing(boot, where):
    hv = _primary(boot, script())
    tx, rx = where(hv)
    got = _map(hv, tx, rx)
    expect_x0(f"FFA_RXTX_MAP_64({tx:#x}, {rx:#x}): not the caller's memory", got, 0x84000060, clause="MAP-4")
    expect_success("FFA_RXTX_MAP_64 of the caller's own pages afterwards: nothing was registered", hv.rxtx_map(), clause="MAP-4")


@pytest.mark.clause("MAP-4")
def test_map4_one_buffer_not_owned(boot):
    hv = _primary(boot, script())
    base = hv.base(0)
    got = _map(hv, base + TX, hv.base(1) + RX)
    expect_x0("FFA_RXTX_MAP_64(own TX, RX of VM 2)", got, 0x84000060, clause="MAP-4")
    expect_success("FFA_RXTX_MAP_64 of the caller's own pages afterwards", hv.rxtx_map(), clause="MAP-4")


# --- MAP-5 (D9): RX read-only to its owner ----------------------------------------------------------------


@pytest.mark.clause("MAP-5")
@pytest.mark.impl_defined
def test_map5_store_to_own_rx_faults(boot):
    hv = _primary(boot, script(*P.setup(), P.StoreRx(0, 0x5A)))
    hv.run(2)
    reports = hv.reports(1)
    faults = [r for r in reports if r[0] == FAULT_MARKER]
    note = "D9: DEN0077A as cited requires only exclusive ownership: the store may complete"
    expect("VM 2's store to its own RX buffer: a Data Abort injected into it", len(faults), 1, note, clause="MAP-5")


# --- MAP-6 -------------------------------------------------------------------------------------------


@pytest.mark.clause("MAP-6")
def test_map6_unmap_id_mbz(boot):
    hv = _primary(boot)
    hv.rxtx_map()
    expect_error("FFA_RXTX_UNMAP(w1 = 0x10000)", hv.rxtx_unmap(0x10000), "INVALID_PARAMETERS", clause="MAP-6")


@pytest.mark.clause("MAP-6")
def test_map6_unmap_without_pair(boot):
    hv = _primary(boot)
    expect_error("FFA_RXTX_UNMAP with no pair", hv.rxtx_unmap(), "INVALID_PARAMETERS", clause="MAP-6")


@pytest.mark.clause("MAP-6")
def test_map6_unmap_then_again_then_remap(boot):
    hv = _primary(boot)
    hv.rxtx_map()
    expect_success("FFA_RXTX_UNMAP", hv.rxtx_unmap(), clause="MAP-6")
    expect_error("FFA_RXTX_UNMAP again", hv.rxtx_unmap(), "INVALID_PARAMETERS", clause="MAP-6")
    expect_success("FFA_RXTX_MAP_64 after the unmap", hv.rxtx_map(), clause="MAP-6")


@pytest.mark.clause("MAP-6")
def test_map6_id_mbz_keeps_the_pair(boot):
    hv = _primary(boot)
    hv.rxtx_map()
    hv.rxtx_unmap(0x10000)
    expect_success("FFA_RXTX_UNMAP after the refused one: the pair was still registered", hv.rxtx_unmap(), clause="MAP-6")


# --- MAP-7 (Hafnium: INVALID_PARAMETERS for a buffer it cannot use) ----------------------------------------


@pytest.mark.clause("MAP-7")
@pytest.mark.impl_defined
@pytest.mark.parametrize("which", ["TX", "RX"])
def test_map7_not_owned_invalid_parameters(boot, which):
    hv = _primary(boot, script())
    own, other = hv.base(0), hv.base(1)
    tx, rx = (other + TX, own + RX) if which == "TX" else (own + TX, other + RX)
    expect_error(
        f"FFA_RXTX_MAP_64 with {which} in VM 2's memory", _map(hv, tx, rx), "INVALID_PARAMETERS", clause="MAP-7", conv=False
    )
