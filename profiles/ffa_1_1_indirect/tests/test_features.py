"""§5 FFA_FEATURES: FEAT-1 .. FEAT-7, asked by the primary and (FEAT-5) by a secondary.

FEAT-5 .. FEAT-7 are implementation-defined: one ``impl_defined`` test per answer, expecting
Hafnium's as the text states it (D4, D5 name the specification's behaviour in the note).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_1 = 0x00010001


def _primary(boot: Callable[..., Hv]) -> Hv:
    hv = boot()
    hv.version(V1_1)
    return hv


def _asked_by_secondary(boot: Callable[..., Hv], function: int) -> Regs:
    """FFA_FEATURES(function) from a v1.1 secondary (ID 2), read from its report."""
    hv = boot(script(P.version(), P.Call(0x84000064, function)))
    hv.version(V1_1)
    expect_x0("FFA_RUN(0x20000): the secondary asks and yields", hv.run(2), 0x8400006C, clause="RUN-2")
    reports = hv.reports(1)
    return reports[1] if len(reports) > 1 else (0,) * 8


# --- FEAT-1 .. FEAT-4 ------------------------------------------------------------------------------


@pytest.mark.clause("FEAT-1")
def test_feat1_implemented_interface_success(boot):
    hv = _primary(boot)
    expect_success("FFA_FEATURES(0x84000086)", hv.features(0x84000086), w2=0, clause="FEAT-1")


@pytest.mark.clause("FEAT-1")
@pytest.mark.parametrize("function", [0x840000FF, 0xC40000FF, 0x8400FF00], ids=hex)
def test_feat1_invalid_function_id_not_supported(boot, function):
    hv = _primary(boot)
    expect_error(f"FFA_FEATURES({function:#x})", hv.features(function), "NOT_SUPPORTED", clause="FEAT-1")


@pytest.mark.clause("FEAT-2")
def test_feat2_msg_send2(boot):
    hv = _primary(boot)
    expect_success("FFA_FEATURES(FFA_MSG_SEND2_32)", hv.features(0x84000086), w2=0, clause="FEAT-2")


@pytest.mark.clause("FEAT-2")
def test_feat2_msg_send2_asked_by_a_secondary(boot):
    expect_success("VM 2: FFA_FEATURES(FFA_MSG_SEND2_32)", _asked_by_secondary(boot, 0x84000086), w2=0, clause="FEAT-2")


_FEAT3 = {
    0x84000060: "FFA_ERROR_32",
    0x84000061: "FFA_SUCCESS_32",
    0x84000063: "FFA_VERSION_32",
    0x84000064: "FFA_FEATURES_32",
    0x84000065: "FFA_RX_RELEASE_32",
    0x84000067: "FFA_RXTX_UNMAP_32",
    0x84000068: "FFA_PARTITION_INFO_GET_32",
    0x84000069: "FFA_ID_GET_32",
    0x8400006D: "FFA_RUN_32",
    0x84000082: "FFA_NOTIFICATION_GET_32",
}


@pytest.mark.clause("FEAT-3")
@pytest.mark.parametrize("function", list(_FEAT3), ids=lambda f: _FEAT3[f])
def test_feat3_primary_interfaces(boot, function):
    hv = _primary(boot)
    expect_success(f"FFA_FEATURES({_FEAT3[function]})", hv.features(function), w2=0, clause="FEAT-3")


@pytest.mark.clause("FEAT-4")
@pytest.mark.parametrize("w2_in", [0, 1])
def test_feat4_rxtx_map_64(boot, w2_in):
    hv = _primary(boot)
    got = hv.features(0xC4000066, w2_in)
    expect_x0(f"FFA_FEATURES(FFA_RXTX_MAP_64, w2 = {w2_in})", got, 0x84000061, clause="FEAT-4")
    w2 = got[2] & 0xFFFF_FFFF
    expect("w2 bits 1:0 (0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB)", w2 & 0b11 in (0b00, 0b01, 0b10), True, clause="FEAT-4")
    expect("w2 bits 31:2 (a v1.1 caller: no page count)", w2 >> 2, 0, clause="FEAT-4")


@pytest.mark.clause("FEAT-4")
def test_feat4_input_w2_ignored(boot):
    hv = _primary(boot)
    plain, with_input = hv.features(0xC4000066, 0), hv.features(0xC4000066, 1)
    expect("FFA_FEATURES(FFA_RXTX_MAP_64): the same answer with input w2 = 1 as with 0", with_input, plain, clause="FEAT-4")


# --- FEAT-5 (implementation-defined; D4 for MSG_SEND / MSG_POLL) ----------------------------------------


@pytest.mark.clause("FEAT-5")
@pytest.mark.impl_defined
@pytest.mark.parametrize(
    "function",
    [0x84000066, 0x84000083, 0x84000084],
    ids=["FFA_RXTX_MAP_32", "FFA_NOTIFICATION_INFO_GET_32", "FFA_RX_ACQUIRE_32"],
)
def test_feat5_not_supported_to_the_primary(boot, function):
    hv = _primary(boot)
    expect_error(f"FFA_FEATURES({function:#x})", hv.features(function), "NOT_SUPPORTED", clause="FEAT-5", conv=False)


@pytest.mark.clause("FEAT-5")
@pytest.mark.impl_defined
@pytest.mark.parametrize("function", [0xC4000083, 0x8400006C, 0x8400006B], ids=["NOTIFICATION_INFO_GET_64", "YIELD", "MSG_WAIT"])
def test_feat5_success_to_the_primary(boot, function):
    hv = _primary(boot)
    expect_success(f"FFA_FEATURES({function:#x})", hv.features(function), w2=0, clause="FEAT-5", conv=False)


@pytest.mark.clause("FEAT-5")
@pytest.mark.impl_defined
def test_feat5_yield_to_a_secondary(boot):
    got = _asked_by_secondary(boot, 0x8400006C)
    expect_success("VM 2: FFA_FEATURES(FFA_YIELD_32)", got, w2=0, clause="FEAT-5", conv=False)


@pytest.mark.clause("FEAT-5")
@pytest.mark.impl_defined
def test_feat5_notification_info_get_64_not_to_a_secondary(boot):
    got = _asked_by_secondary(boot, 0xC4000083)
    expect_error("VM 2: FFA_FEATURES(FFA_NOTIFICATION_INFO_GET_64)", got, "NOT_SUPPORTED", clause="FEAT-5", conv=False)


@pytest.mark.clause("FEAT-5")
@pytest.mark.impl_defined
@pytest.mark.parametrize("function", [0x8400006E, 0x8400006A], ids=["FFA_MSG_SEND_32", "FFA_MSG_POLL_32"])
def test_feat5_d4_msg_send_poll(boot, function):
    hv = _primary(boot)
    note = "D4: DEN0077A ties the answer to what is implemented (Hafnium still handles the call: SUCCESS)"
    expect_error(f"FFA_FEATURES({function:#x})", hv.features(function), "NOT_SUPPORTED", note, clause="FEAT-5", conv=False)


# --- FEAT-6 (D5), FEAT-7 -----------------------------------------------------------------------------

_D5 = "D5: Hafnium advertises NPI and SRI but raises neither; a build answering NOT_SUPPORTED follows ACS-1.1"


@pytest.mark.clause("FEAT-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize(("feature", "intid"), [(0x1, 5), (0x2, 8), (0x3, 4)], ids=["NPI", "SRI", "MEI"])
def test_feat6_interrupt_ids(boot, feature, intid):
    hv = _primary(boot)
    expect_success(f"FFA_FEATURES(feature {feature:#x})", hv.features(feature), w2=intid, note=_D5, clause="FEAT-6", conv=False)


@pytest.mark.clause("FEAT-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("feature", [0x101, 0x7FFFFF01], ids=hex)
def test_feat6_feature_id_mbz_bits(boot, feature):
    hv = _primary(boot)
    expect_error(f"FFA_FEATURES({feature:#x}): bits 30:8 set", hv.features(feature), "NOT_SUPPORTED", clause="FEAT-6", conv=False)


@pytest.mark.clause("FEAT-6")
@pytest.mark.impl_defined
def test_feat6_input_w2_nonzero(boot):
    hv = _primary(boot)
    expect_error("FFA_FEATURES(0x1, w2 = 1)", hv.features(0x1, 1), "NOT_SUPPORTED", clause="FEAT-6", conv=False)


@pytest.mark.clause("FEAT-7")
@pytest.mark.impl_defined
def test_feat7_notification_features(boot):
    hv = _primary(boot)
    note = "a v1.1-only implementation (no feature ID 4) answers NOT_SUPPORTED"
    expect_success("FFA_FEATURES(0x4)", hv.features(0x4), w2=0x3, note=note, clause="FEAT-7", conv=False)
