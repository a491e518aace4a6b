"""§1 Calling convention: CONV-1 .. CONV-9.

Every call is a real ``hvc`` (or ``smc``) of the primary's driver, or of a scripted secondary whose
results are read from its reports. Unhandled IDs (CONV-6, CONV-9) and upper halves (CONV-8) are
implementation-defined: each has its own ``impl_defined`` test, never mixed with a MUST check.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import (
    ERRORS,
    FFA_ERROR_32,
    FFA_SUCCESS_32,
    MINUS_ONE,
    PATTERN,
    expect_error,
    expect_preserved_x8_x17,
    expect_result,
    expect_success,
    expect_x0,
    shown,
)
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_1 = 0x00010001
ARGS = (0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77)  # CONV-6's probe: x1..x7 = 0x11..0x77


def _mapped_receiver() -> GuestVM:
    """A secondary (ID 2) that negotiates v1.1, maps its RX/TX pair and yields (RX empty)."""
    return script(*P.setup())


def _ready_to_send(hv: Hv) -> None:
    """Run the receiver to its yield, negotiate and map the primary's pair (after the run: the
    run ended negotiation already, so FFA_VERSION comes first)."""
    expect("FFA_VERSION(0x00010001)", hv.version(V1_1), 0x00010003, clause="VER-1")
    expect_x0("FFA_RUN(0x20000): the receiver maps and yields", hv.run(2), 0x8400006C, clause="RUN-2")
    expect_success("FFA_RXTX_MAP_64", hv.rxtx_map(), clause="MAP-1")


# --- CONV-1 -------------------------------------------------------------------------------------


@pytest.mark.clause("CONV-1")
def test_conv1_x0_selects_the_function(boot):
    # Three SMC32 IDs, three different answers: the function is x0.
    hv = boot()
    expect("FFA_VERSION(0x00010001): a version word in w0", hv.ffa(0x84000063, V1_1)[0], 0x00010003, clause="VER-1")
    expect_success("FFA_ID_GET", hv.ffa(0x84000069), w2=1, clause="CONV-1", conv=False)
    expect_success("FFA_FEATURES(FFA_ID_GET)", hv.ffa(0x84000064, 0x84000069), w2=0, clause="CONV-1", conv=False)


@pytest.mark.clause("CONV-1", "MAP-4")
def test_conv1_smc64_arguments_are_x_registers(boot):
    # FFA_RXTX_MAP_64 (0xC4000066) takes 64-bit addresses in x1, x2: a TX address whose low half
    # is the caller's own page but with bit 40 set is another address (not the caller's memory),
    # so the call fails; a build reading w1 would map the caller's page.
    hv = boot()
    hv.version(V1_1)
    base = hv.base(0)
    # First, a TX address that is not the caller's memory in either reading (MAP-4): refused.
    # (A build accepting any address would accept the next one too: that is MAP-4's failure.)
    away = hv.ffa(0xC4000066, (1 << 40) + 0x1000, base + 0x11000, 1)
    expect_x0("FFA_RXTX_MAP_64(TX = 2^40 + 0x1000, RX = own page)", away, FFA_ERROR_32, clause="MAP-4")
    far = hv.ffa(0xC4000066, base + 0x10000 + (1 << 40), base + 0x11000, 1)
    expect_x0("FFA_RXTX_MAP_64(TX = own page + 2^40, RX = own page)", far, FFA_ERROR_32, "x1 is 64 bits", clause="CONV-1")
    # MAP-4: nothing was registered, so the real pair maps.
    expect_success("FFA_RXTX_MAP_64 of the caller's own pages", hv.rxtx_map(), clause="MAP-4", conv=False)


# --- CONV-2 (implementation-defined: the conduit) -------------------------------------------------


@pytest.mark.clause("CONV-2")
@pytest.mark.impl_defined
def test_conv2_smc_conduit(boot):
    hv = boot()
    hv.version(V1_1)
    expect_success("FFA_ID_GET by smc #0", hv.ffa(0x84000069, insn="smc #0"), w2=1, clause="CONV-2", conv=False)


@pytest.mark.clause("CONV-2")
@pytest.mark.impl_defined
@pytest.mark.parametrize("insn", ["hvc #1", "hvc #0x1234", "hvc #0xffff"])
def test_conv2_immediate_not_examined(boot, insn):
    hv = boot()
    hv.version(V1_1)
    expect_success(f"FFA_ID_GET by {insn}", hv.ffa(0x84000069, insn=insn), w2=1, clause="CONV-2", conv=False)


@pytest.mark.clause("CONV-2")
@pytest.mark.impl_defined
def test_conv2_sve_hint_bit_cleared(boot):
    hv = boot()
    hv.version(V1_1)
    got = hv.ffa(0x84010069)  # FFA_ID_GET with bit 16 (SMCCC SVE hint) set
    expect_success("0x84010069 (FFA_ID_GET | SVE hint)", got, w2=1, clause="CONV-2", conv=False)


# --- CONV-3 -------------------------------------------------------------------------------------


@pytest.mark.clause("CONV-3")
def test_conv3_success_32(boot):
    hv = boot()
    hv.version(V1_1)
    expect_x0("FFA_ID_GET", hv.id_get(), 0x84000061, clause="CONV-3")


@pytest.mark.clause("CONV-3")
def test_conv3_error_32_code_in_w2(boot):
    hv = boot()
    hv.version(V1_1)
    got = hv.rxtx_unmap()  # no pair registered: INVALID_PARAMETERS (MAP-6)
    expect_x0("FFA_RXTX_UNMAP with no pair", got, 0x84000060, clause="CONV-3")
    expect("FFA_RXTX_UNMAP with no pair: w2 is an error code", (got[2] & 0xFFFF_FFFF) in ERRORS.values(), True, clause="CONV-3")


@pytest.mark.clause("CONV-3", "SEND-16")
def test_conv3_success_64_for_smc64_interface(boot):
    # FFA_NOTIFICATION_INFO_GET_64 returns 64-bit values: FFA_SUCCESS_64 (probe: x0 = 0xC4000061).
    hv = boot(_mapped_receiver())
    _ready_to_send(hv)
    hv.write_message(1, 2, b"CONV-3")
    expect_success("FFA_MSG_SEND2 1 -> 2", hv.msg_send2(), clause="SEND-16", conv=False)
    expect_x0("FFA_NOTIFICATION_INFO_GET_64", hv.notification_info_get(), 0xC4000061, clause="CONV-3")


# --- CONV-4: each code zero-extended in x2 ----------------------------------------------------------


def _not_supported(hv: Hv) -> Regs:
    hv.version(V1_1)
    return hv.ffa(0x84000064, 0x840000FF)  # FFA_FEATURES of an invalid ID (FEAT-1)


def _invalid_parameters(hv: Hv) -> Regs:
    hv.version(V1_1)
    hv.rxtx_map()
    return hv.rxtx_unmap(0x10000)  # MAP-6


def _busy(hv: Hv) -> Regs:
    hv.version(V1_1)
    hv.rxtx_map()
    hv.partition_info_get()
    return hv.partition_info_get()  # PIG-5


def _denied(hv: Hv) -> Regs:
    hv.version(V1_1)
    hv.rxtx_map()
    return hv.rxtx_map()  # MAP-1


def _no_data(hv: Hv) -> Regs:
    hv.version(V1_1)
    return hv.notification_info_get()  # NOTIF-4: nothing pending


@pytest.mark.clause("CONV-4")
@pytest.mark.parametrize(
    ("code", "x2", "make", "rule"),
    [
        ("NOT_SUPPORTED", 0x00000000FFFFFFFF, _not_supported, "FEAT-1"),
        ("INVALID_PARAMETERS", 0x00000000FFFFFFFE, _invalid_parameters, "MAP-6"),
        ("BUSY", 0x00000000FFFFFFFC, _busy, "PIG-5"),
        ("DENIED", 0x00000000FFFFFFFA, _denied, "MAP-1"),
        ("NO_DATA", 0x00000000FFFFFFF7, _no_data, "NOTIF-4"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v[-1].isdigit() else None,
)
def test_conv4_error_code_zero_extended(boot, code, x2, make, rule):
    # Which call answers this code is ``rule``'s; that x2 holds it zero-extended is CONV-4's.
    hv = boot(script())
    got = make(hv)
    expect_x0(f"the call that answers {code} ({rule})", got, 0x84000060, clause=rule)
    expect(f"w2 of ERROR({code}) ({rule})", got[2] & 0xFFFF_FFFF, x2, clause=rule)
    expect(f"x2 of ERROR({code})", got[2], x2, "CONV-4: the signed code zero-extended", clause="CONV-4")


# --- CONV-5 -------------------------------------------------------------------------------------

#: The primary's calls, in an order where each has a defined answer, with the registers of x1..x7
#: each result assigns (CONV-5: the others are 0). FFA_VERSION's result is not FFA_SUCCESS/ERROR.
_SEQUENCE: list[tuple[str, tuple[int, ...], set[int]]] = [
    ("FFA_VERSION(0x00010001)", (0x84000063, V1_1), {0}),
    ("FFA_ID_GET", (0x84000069,), {2}),
    ("FFA_FEATURES(FFA_MSG_SEND2)", (0x84000064, 0x84000086), {2}),
    ("FFA_FEATURES(0x840000FF)", (0x84000064, 0x840000FF), {2}),
    ("FFA_RXTX_UNMAP (none mapped)", (0x84000067,), {2}),
    ("FFA_PARTITION_INFO_GET count only", (0x84000068, 0, 0, 0, 0, 1), {2}),
    ("FFA_RX_RELEASE (not owned)", (0x84000065,), {2}),
    ("FFA_MSG_SEND2 (no TX)", (0x84000086,), {2}),
    ("FFA_MSG_WAIT (primary)", (0x8400006B,), {2}),
    ("FFA_RUN(0x10000)", (0x8400006D, 0x10000), {2}),
    ("FFA_NOTIFICATION_GET(1, 0xC)", (0x84000082, 1, 0xC), {2, 3, 4, 5, 6, 7}),
    ("FFA_NOTIFICATION_INFO_GET_64 (none)", (0xC4000083,), {2}),
]


def _rxtx_map_args(hv: Hv) -> tuple[int, ...]:
    base = hv.base(0)
    return (0xC4000066, base + 0x10000, base + 0x11000, 1)


@pytest.mark.clause("CONV-5")
def test_conv5_x8_x17_preserved(boot):
    hv = boot(script())
    calls = [(what, args) for what, args, _ in _SEQUENCE]
    calls += [
        ("FFA_RXTX_MAP_64", _rxtx_map_args(hv)),
        ("FFA_PARTITION_INFO_GET (descriptors)", (0x84000068, 0, 0, 0, 0, 0)),
        ("FFA_PARTITION_INFO_GET again (BUSY)", (0x84000068, 0, 0, 0, 0, 0)),
        ("FFA_RX_RELEASE", (0x84000065,)),
        ("FFA_RXTX_MAP_64 again (DENIED)", _rxtx_map_args(hv)),
        ("FFA_RXTX_UNMAP", (0x84000067,)),
    ]
    for what, args in calls:
        regs = hv.ffa_regs(*args, extra=PATTERN)
        expect_preserved_x8_x17(what, regs)


@pytest.mark.clause("CONV-5")
def test_conv5_unassigned_registers_zero(boot):
    hv = boot(script())
    for what, args, assigned in _SEQUENCE:
        regs = hv.ffa_regs(*args)
        if args[0] == 0x84000063:
            continue  # §3: FFA_VERSION's result is a version word, not FFA_SUCCESS/FFA_ERROR
        expect(f"{what}: FFA_SUCCESS_32/FFA_ERROR_32", regs[0] in (FFA_SUCCESS_32, FFA_ERROR_32, 0xC4000061), True, shown(regs))
        for n in range(1, 8):
            if n not in assigned:
                expect(f"{what}: x{n} (not assigned)", regs[n], 0, f"result {shown(regs)}", clause="CONV-5")


@pytest.mark.clause("CONV-5")
def test_conv5_preserved_in_a_secondary(boot):
    # The script runner loads x8..x30 with pattern(n) before every call and reports x0..x30 after.
    steps = (*P.setup(), P.id_get(), P.Call(0x84000064, 0x84000086), P.rx_release(), P.Call(0x84000067))
    hv = boot(script(*steps))
    expect_x0("FFA_RUN(0x20000)", hv.run(2), 0x8400006C, clause="RUN-2")
    reports = hv.reports(1)
    expect("VM 2's reports", len(reports) >= len(steps), True, clause="CONV-5")
    names = ["FFA_VERSION", "FFA_RXTX_MAP_64", "FFA_ID_GET", "FFA_FEATURES", "FFA_RX_RELEASE", "FFA_RXTX_UNMAP"]
    for what, regs in zip(names, reports, strict=False):
        expect_preserved_x8_x17(f"VM 2: {what}", regs, {n: P.pattern(n) for n in range(8, 18)})


# --- CONV-6 (D3): unhandled IDs by hvc --------------------------------------------------------------


@pytest.mark.clause("CONV-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("fid", [0x84000066, 0xC4000086, 0x84000083, 0x840000FF], ids=hex)
def test_conv6_unhandled_hvc_returns_registers_unchanged(boot, fid):
    hv = boot()
    hv.version(V1_1)
    got = hv.ffa(fid, *ARGS)
    note = "D3: DEN0077A as cited: an interface not implemented is NOT_SUPPORTED (FFA_ERROR_32, w2 = 0xFFFFFFFF)"
    expect_result(f"hvc {fid:#x} with x1..x7 = 0x11..0x77", got, (fid, *ARGS), note, clause="CONV-6")


# --- CONV-7: SMC32-only functions have no 0xC4 form ---------------------------------------------------

_SMC32_ONLY = [0x84000086, 0x8400006B, 0x84000065, 0x8400006D, 0x84000069, 0x84000063, 0x84000064, 0x84000068, 0x84000082]


@pytest.mark.clause("CONV-7")
@pytest.mark.parametrize("fid", _SMC32_ONLY, ids=hex)
def test_conv7_features_of_smc64_form(boot, fid):
    hv = boot()
    hv.version(V1_1)
    form = fid | 0x40000000
    expect_error(f"FFA_FEATURES({form:#x})", hv.features(form), "NOT_SUPPORTED", clause="CONV-7", conv=False)


@pytest.mark.clause("CONV-7")
def test_conv7_id_get_64_is_not_id_get(boot):
    hv = boot()
    hv.version(V1_1)
    got = hv.ffa(0xC4000069)
    expect("0xC4000069: not FFA_ID_GET's SUCCESS", got[0] in (0x84000061, 0xC4000061), False, shown(got), clause="CONV-7")


@pytest.mark.clause("CONV-7")
def test_conv7_version_64_is_not_version(boot):
    hv = boot()
    got = hv.ffa(0xC4000063, V1_1)
    expect("0xC4000063(0x00010001): not a version word", got[0] == 0x00010003, False, shown(got), clause="CONV-7")


@pytest.mark.clause("CONV-7", "PIG-2")
def test_conv7_partition_info_get_64_writes_nothing(boot):
    hv = boot(script())
    hv.version(V1_1)
    hv.rxtx_map()
    hv.ffa(0xC4000068)  # no effect: the RX buffer stays free
    expect_x0("FFA_PARTITION_INFO_GET after 0xC4000068: RX free", hv.partition_info_get(), 0x84000061, clause="CONV-7")


@pytest.mark.clause("CONV-7", "SEND-16")
def test_conv7_msg_send2_64_delivers_nothing(boot):
    hv = boot(_mapped_receiver())
    _ready_to_send(hv)
    hv.write_message(1, 2, b"CONV-7")
    hv.ffa(0xC4000086)  # not FFA_MSG_SEND2: the receiver's RX stays free
    expect_success("FFA_MSG_SEND2 after 0xC4000086: the receiver is free", hv.msg_send2(), clause="CONV-7", conv=False)


@pytest.mark.clause("CONV-7", "PIG-2", "PIG-5")
def test_conv7_rx_release_64_releases_nothing(boot):
    hv = boot(script())
    hv.version(V1_1)
    hv.rxtx_map()
    expect_x0("FFA_PARTITION_INFO_GET: RX full", hv.partition_info_get(), 0x84000061, clause="PIG-2")
    expect_error("FFA_PARTITION_INFO_GET again: RX still full", hv.partition_info_get(), "BUSY", clause="PIG-5", conv=False)
    hv.ffa(0xC4000065)  # not FFA_RX_RELEASE: the RX buffer stays full
    expect_error("FFA_PARTITION_INFO_GET after 0xC4000065", hv.partition_info_get(), "BUSY", clause="CONV-7", conv=False)


# --- CONV-8 (D13): upper halves ------------------------------------------------------------------------

_D13 = "D13: SMC32 interfaces are defined on w registers (CONV-1); the text on these bits was not available"


@pytest.mark.clause("CONV-8")
@pytest.mark.impl_defined
def test_conv8_version_ignores_x1_upper_half(boot):
    hv = boot()
    expect("FFA_VERSION(x1 = 0xFFFFFFFF00010001)", hv.version(V1_1, x1_high=0xFFFFFFFF), 0x00010003, _D13, clause="CONV-8")


@pytest.mark.clause("CONV-8")
@pytest.mark.impl_defined
def test_conv8_msg_send2_ignores_x1_upper_half_and_low_bits(boot):
    hv = boot(_mapped_receiver())
    hv.version(V1_1)
    hv.run(2)
    hv.rxtx_map()
    hv.write_message(1, 2, b"CONV-8")
    got = hv.msg_send2(0xFFFFFFFF0000FFFF)
    expect_success("FFA_MSG_SEND2(x1 = 0xFFFFFFFF0000FFFF)", got, note=_D13, clause="CONV-8", conv=False)


@pytest.mark.clause("CONV-8")
@pytest.mark.impl_defined
def test_conv8_msg_send2_ignores_x2_upper_half(boot):
    hv = boot(_mapped_receiver())
    hv.version(V1_1)
    hv.run(2)
    hv.rxtx_map()
    hv.write_message(1, 2, b"CONV-8")
    hv.msg_send2()  # the receiver is now full
    got = hv.msg_send2(0, 0xFFFFFFFF00000000)
    expect_error("FFA_MSG_SEND2(x2 = 0xFFFFFFFF00000000) to a full receiver", got, "BUSY", _D13, clause="CONV-8", conv=False)


@pytest.mark.clause("CONV-8")
@pytest.mark.impl_defined
def test_conv8_msg_wait_checks_whole_x1(boot):
    # From a secondary (the primary's FFA_MSG_WAIT is NOT_SUPPORTED, WAIT-10): x1 = 1<<32.
    hv = boot(script(P.version(), P.rxtx_map(), P.Call(0x8400006B, 1 << 32)))
    hv.version(V1_1)
    hv.run(2)
    reports = hv.reports(1)
    got = reports[2] if len(reports) > 2 else (0,) * 8
    expect_error("VM 2: FFA_MSG_WAIT(x1 = 1<<32)", got, "INVALID_PARAMETERS", _D13, clause="CONV-8", conv=False)


# --- CONV-9: unhandled IDs by smc -----------------------------------------------------------------------


@pytest.mark.clause("CONV-9")
@pytest.mark.impl_defined
@pytest.mark.parametrize("fid", [0x840000FF, 0x84000066], ids=hex)
def test_conv9_unhandled_smc_refused(boot, fid):
    hv = boot()
    hv.version(V1_1)
    got = hv.ffa(fid, 0x11, 0x22, 0x33, insn="smc #0")
    expect_result(f"smc {fid:#x} with x1..x3 = 0x11/0x22/0x33", got, (MINUS_ONE, 0x11, 0x22, 0x33, 0, 0, 0, 0), clause="CONV-9")
