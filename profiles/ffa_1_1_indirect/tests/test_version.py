"""§3 FFA_VERSION: VER-1 .. VER-8 and worked example C (§15).

Negotiation locks at the partition's first FF-A call other than FFA_VERSION (VER-4), so every
ordering boots a fresh system. Which version a partition ended at is observed through a MUST
behaviour that differs between v1.0 and v1.1: a valid FFA_MSG_SEND2 from a v1.0 sender is
NOT_SUPPORTED (SEND-10), from a v1.1 sender SUCCESS (VER-5, SEND-16).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import programs as P
from profiles.ffa_1_1_indirect.checks import expect_error, expect_success, expect_version, expect_x0
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, Regs

V1_0, V1_1, V1_2 = 0x00010000, 0x00010001, 0x00010002
NOT_SUPPORTED = 0x00000000FFFFFFFF  # §3: w0 = 0xFFFFFFFF, x0[63:32] = 0


def _receiver() -> GuestVM:
    return script(*P.setup())


def _send_probe(hv: Hv, clause: str) -> Regs:
    """Negotiation has ended: run the receiver (ID 2) to its yield, map the primary's pair and
    send it a valid v1.1 message; the FFA_MSG_SEND2 result."""
    expect_x0("FFA_RUN(0x20000): the receiver maps and yields", hv.run(2, clause=clause), 0x8400006C, clause=clause)
    expect_success("FFA_RXTX_MAP_64", hv.rxtx_map(), clause=clause, conv=False)
    hv.write_message(1, 2, b"VERSION")
    return hv.msg_send2()


def _expect_at(hv: Hv, version: int, what: str, *, clause: str) -> None:
    got = _send_probe(hv, clause)
    if version == V1_1:
        expect_success(f"{what}: FFA_MSG_SEND2 from a v1.1 partition", got, clause=clause, conv=False)
    else:
        expect_error(f"{what}: FFA_MSG_SEND2 from a v1.0 partition (SEND-10)", got, "NOT_SUPPORTED", clause=clause, conv=False)


# --- VER-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("VER-1")
@pytest.mark.parametrize("requested", [V1_0, V1_1, V1_2], ids=hex)
def test_ver1_compatible_request_returns_callee_version(boot, requested):
    hv = boot()
    expect_version(f"FFA_VERSION({requested:#010x})", hv.version(requested), 0x00010003, "reference build v1.3", clause="VER-1")


# --- VER-2 ---------------------------------------------------------------------------------------


@pytest.mark.clause("VER-2")
def test_ver2_bit31_before_negotiation_ends(boot):
    hv = boot()
    expect_version("FFA_VERSION(0x80010001)", hv.version(0x80010001), NOT_SUPPORTED, clause="VER-2")


@pytest.mark.clause("VER-2")
def test_ver2_bit31_after_negotiation_ends(boot):
    hv = boot()
    hv.version(V1_1)
    hv.id_get()
    expect_version("FFA_VERSION(0x80010001) after FFA_ID_GET", hv.version(0x80010001), NOT_SUPPORTED, clause="VER-2")


# --- VER-3 (D1) ----------------------------------------------------------------------------------


@pytest.mark.clause("VER-3")
@pytest.mark.impl_defined
@pytest.mark.parametrize("requested", [0x00010004, 0x00020000, 0x00000001], ids=hex)
def test_ver3_unservable_request(boot, requested):
    hv = boot()
    note = "D1: DEN0077A as cited (v1.0 rule via ACS-chk): a callee with a lower version returns its highest version (0x00010003)"
    expect_version(f"FFA_VERSION({requested:#010x})", hv.version(requested), NOT_SUPPORTED, note, clause="VER-3")


# --- VER-4 ---------------------------------------------------------------------------------------


@pytest.mark.clause("VER-4")
@pytest.mark.parametrize(("requests", "final"), [((V1_1, V1_0), V1_0), ((V1_0, V1_1), V1_1), ((V1_0, V1_2, V1_1), V1_1)], ids=str)
def test_ver4_later_request_replaces_earlier(boot, requests, final):
    hv = boot(_receiver())
    for requested in requests:
        hv.version(requested)
    expect_success("FFA_ID_GET (ends negotiation)", hv.id_get(), clause="IDG-1", conv=False)
    _expect_at(hv, final, f"requests {', '.join(f'{r:#x}' for r in requests)}", clause="VER-4")


@pytest.mark.clause("VER-4")
@pytest.mark.parametrize(("first", "later"), [(V1_1, V1_0), (V1_0, V1_1)], ids=str)
def test_ver4_locked_after_first_other_call(boot, first, later):
    hv = boot(_receiver())
    hv.version(first)
    hv.id_get()
    hv.version(later)  # after negotiation: its answer is VER-6's; the version stays
    _expect_at(hv, first, f"{first:#x}, FFA_ID_GET, {later:#x}", clause="VER-4")


@pytest.mark.clause("VER-4")
@pytest.mark.parametrize("log", [0x8400008A, 0xC400008A], ids=["FFA_CONSOLE_LOG_32", "FFA_CONSOLE_LOG_64"])
def test_ver4_console_log_ends_negotiation(boot, log):
    hv = boot(_receiver())
    hv.version(V1_1)
    hv.ffa(log, 1, ord("."))  # Hafnium's console log: an FF-A call like any other
    hv.version(V1_0)
    _expect_at(hv, V1_1, f"0x10001, {log:#x}, 0x10000", clause="VER-4")


@pytest.mark.clause("VER-4")
def test_ver4_run_ends_negotiation(boot):
    # FFA_RUN is the primary's first other call here; the receiver's run is the probe's own.
    hv = boot(_receiver())
    hv.version(V1_1)
    expect_x0("FFA_RUN(0x20000)", hv.run(2), 0x8400006C, clause="RUN-2")
    hv.version(V1_0)
    hv.rxtx_map()
    hv.write_message(1, 2, b"VERSION")
    expect_success("FFA_MSG_SEND2 after 0x10001, FFA_RUN, 0x10000", hv.msg_send2(), clause="VER-4", conv=False)


# --- VER-5 ---------------------------------------------------------------------------------------


@pytest.mark.clause("VER-5")
def test_ver5_v1_1_header_size(boot):
    # A v1.1 partition gets the 20-byte header (the callee's own v1.3 one would be 40 bytes).
    hv = boot(_receiver())
    hv.version(V1_1)
    got = _send_probe(hv, "VER-5")  # payload at offset 20
    expect_success("FFA_MSG_SEND2 from v1.1 with offset 20", got, clause="VER-5", conv=False)


@pytest.mark.clause("VER-5")
def test_ver5_v1_1_rxtx_map_features(boot):
    hv = boot()
    hv.version(V1_1)
    got = hv.features(0xC4000066)
    expect_x0("FFA_FEATURES(FFA_RXTX_MAP_64)", got, 0x84000061, clause="VER-5")
    expect("FFA_FEATURES(FFA_RXTX_MAP_64) w2 bits 31:2 (no page count for v1.1)", got[2] & 0xFFFF_FFFC, 0, clause="VER-5")


@pytest.mark.clause("VER-5")
def test_ver5_v1_1_msg_wait_w2_mbz(boot):
    # w2 of FFA_MSG_WAIT is MBZ for a v1.1 partition (bit 0 is v1.2's retain-RX flag), although
    # the callee is v1.3: a v1.1 secondary's FFA_MSG_WAIT(w2 = 1) is refused at once.
    hv = boot(script(*P.setup(), P.Call(0x8400006B, 0, 1)))
    hv.version(V1_1)
    got = hv.run(2)
    reports = hv.reports(1)
    wait = reports[2] if len(reports) > 2 else got
    expect_error(
        "VM 2 (v1.1): FFA_MSG_WAIT(w2 = 1)",
        wait,
        "INVALID_PARAMETERS",
        "the callee's own v1.3 would take it",
        clause="VER-5",
        conv=False,
    )


# --- VER-6 (D2) ----------------------------------------------------------------------------------

_D2 = "D2: TF-A's EL3 SPMC is reported to return the locked version (0x00010001); DEN0077A wording not available"


@pytest.mark.clause("VER-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize(
    ("requested", "answer"),
    [(V1_1, 0x00010003), (V1_0, NOT_SUPPORTED), (V1_2, NOT_SUPPORTED), (0x00010003, NOT_SUPPORTED), (0x00010004, NOT_SUPPORTED)],
    ids=str,
)
def test_ver6_after_negotiation(boot, requested, answer):
    hv = boot()
    hv.version(V1_1)
    hv.id_get()
    expect_version(
        f"FFA_VERSION({requested:#010x}) after negotiation at v1.1", hv.version(requested), answer, _D2, clause="VER-6"
    )


# --- VER-7 (Hafnium: what ends negotiation) ------------------------------------------------------


@pytest.mark.clause("VER-7")
@pytest.mark.impl_defined
def test_ver7_error_result_ends_negotiation(boot):
    hv = boot(_receiver())
    hv.version(V1_1)
    hv.rxtx_unmap()  # ERROR(INVALID_PARAMETERS): handled, so negotiation ends
    hv.version(V1_0)
    _expect_at(hv, V1_1, "0x10001, FFA_RXTX_UNMAP (error), 0x10000", clause="VER-7")


@pytest.mark.clause("VER-7")
@pytest.mark.impl_defined
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
def test_ver7_unhandled_id_does_not_end_negotiation(boot, insn):
    hv = boot(_receiver())
    hv.version(V1_1)
    hv.ffa(0x840000FF, insn=insn)  # not handled (CONV-6, CONV-9)
    hv.version(V1_0)
    hv.id_get()
    _expect_at(hv, V1_0, f"0x10001, {insn} 0x840000FF, 0x10000, FFA_ID_GET", clause="VER-7")


# --- VER-8 ---------------------------------------------------------------------------------------


@pytest.mark.clause("VER-8")
@pytest.mark.impl_defined
def test_ver8_primary_starts_at_v0_0(boot):
    hv = boot(_receiver())
    hv.id_get()  # the primary's first FF-A call: locked at v0.0
    expect_version("FFA_VERSION(0x00010001) after FFA_ID_GET", hv.version(V1_1), NOT_SUPPORTED, "locked at v0.0", clause="VER-8")
    got = _send_probe(hv, "VER-8")
    expect_error("FFA_MSG_SEND2 from a v0.0 primary", got, "NOT_SUPPORTED", clause="VER-8", conv=False)


# --- §15 worked example C --------------------------------------------------------------------------

#: (request, x1[63:32], answer, clause) before FFA_ID_GET, then after it: example C's steps.
_C_BEFORE = [
    (0x00010004, 0, NOT_SUPPORTED, "VER-3"),
    (0x00020000, 0, NOT_SUPPORTED, "VER-3"),
    (0x00000001, 0, NOT_SUPPORTED, "VER-3"),
    (0x80010001, 0, NOT_SUPPORTED, "VER-2"),
    (0x00010001, 0xFFFFFFFF, 0x00010003, "CONV-8"),
    (0x00010000, 0, 0x00010003, "VER-1"),
    (0x00010002, 0, 0x00010003, "VER-1"),
    (0x00010001, 0, 0x00010003, "VER-1"),
]
_C_AFTER = [
    (0x00010002, NOT_SUPPORTED),
    (0x00010001, 0x00010003),
    (0x00010004, NOT_SUPPORTED),
    (0x00010000, NOT_SUPPORTED),
    (0x00010003, NOT_SUPPORTED),
]
_IMPL = {"VER-3", "CONV-8", "VER-6", "PIG-3"}


def _example_c(boot: Callable[..., Hv], must: bool) -> None:
    hv = boot(script(), script(), script())
    for requested, high, answer, clause in _C_BEFORE:
        word = hv.version(requested, x1_high=high)
        if (clause in _IMPL) != must:
            expect_version(f"example C: FFA_VERSION({high << 32 | requested:#x})", word, answer, clause=clause)
    ended = hv.id_get()
    if must:
        expect_success("example C: FFA_ID_GET", ended, clause="IDG-1", conv=False)  # x2 = 0x1: ID-3
    for requested, answer in _C_AFTER:
        got_v = hv.version(requested)
        if not must:
            expect_version(f"example C, after FFA_ID_GET: FFA_VERSION({requested:#010x})", got_v, answer, _D2, clause="VER-6")
    hv.rxtx_map()
    pig = hv.partition_info_get()
    if must:
        # VER-4: still at v1.1 (a v1.0 partition gets 8-byte descriptors): w3 is not 8.
        expect_success("example C: FFA_PARTITION_INFO_GET(Nil)", pig, w2=0x3, x3=pig[3], clause="PIG-1", conv=False)
        expect("example C: descriptor size is not v1.0's 8 bytes (negotiated v1.1)", pig[3] != 0x8, True, clause="VER-4")
    else:
        expect("example C: FFA_PARTITION_INFO_GET(Nil) x3", pig[3], 0x30, "D8: the v1.1 descriptor is 24 bytes", clause="PIG-3")


@pytest.mark.clause("VER-1", "VER-2", "VER-4", "IDG-1", "PIG-1")
def test_example_c_must_steps(boot):
    _example_c(boot, must=True)


@pytest.mark.clause("VER-3", "VER-6", "CONV-8", "PIG-3")
@pytest.mark.impl_defined
def test_example_c_impl_defined_steps(boot):
    _example_c(boot, must=False)
