"""The data layer of profile ``ffa-1.1-indirect`` against the literal values of its text.

The clause registry is checked cell by cell against ``spec.md``'s tables (``test_clause_registry``
checks the IDs and the vendored copy); the numbers, encoders and readings against literals copied
from the text (ID-1, CONV-4, §5..§10, §15's worked examples), never from the modules under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

import profiles
from conformance import harness
from profiles.ffa_1_1_indirect import abi, clauses, decode, hv

PROFILE = profiles.get("ffa-1.1-indirect")
SPEC = PROFILE.spec.read_text()
MINUS_ONE = 0xFFFF_FFFF_FFFF_FFFF


def table_rows() -> list[tuple[int, list[str]]]:
    """(section, cells) of every clause row of the text, in order; cells split on unescaped ``|``."""
    rows, section = [], 0
    for line in SPEC.splitlines():
        if m := re.match(r"^## (\d+)\. ", line):
            section = int(m.group(1))
        elif re.match(r"^\| [A-Z]+-\d+ \|", line):
            rows.append((section, [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]))
    return rows


def section_text(number: int) -> str:
    return SPEC.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def expected_rule(section: int, cells: list[str]) -> tuple[str, str, str]:
    """(rule, source, strength) as clauses.py must hold them (its docstring: §8's columns joined)."""
    if section == 8:
        _, strength, offset, size, fld, source = cells
        parts = [f"offset {offset}"] * (offset != "—") + [f"size {size}"] * (size != "—")
        rule = f"Message header, {', '.join(parts)}: {fld}" if parts else f"Message header: {fld}"
        return rule, source, strength
    _, strength, rule, source = cells
    return rule, source, strength


# --- clauses -------------------------------------------------------------------------------------


def test_every_clause_is_its_row_of_the_text_in_order() -> None:
    rows = table_rows()
    assert len(rows) == len(PROFILE.clauses) == 99
    for (section, cells), clause in zip(rows, PROFILE.clauses, strict=True):
        rule, source, strength = expected_rule(section, cells)
        assert clause.id == cells[0]
        assert clause.section == section, clause.id
        assert (clause.rule, clause.source) == (rule, source), clause.id
        assert (clause.impl_defined is not None) == strength.startswith("IMPL-DEF"), clause.id
        assert strength == "MUST" or strength.startswith("IMPL-DEF"), clause.id
    families = {
        "CONV": 9,
        "ID": 4,
        "VER": 8,
        "IDG": 1,
        "FEAT": 7,
        "MAP": 7,
        "PIG": 8,
        "HDR": 7,
        "SEND": 22,
        "NOTIF": 7,
        "REL": 5,
        "WAIT": 9,
        "RUN": 5,
    }
    assert {f: sum(c.id.startswith(f + "-") for c in PROFILE.clauses) for f in families} == families
    # §0: REL-6 and WAIT-4 are reserved, without a row.
    assert "IDs REL-6 and WAIT-4 are reserved" in SPEC
    assert not {"REL-6", "WAIT-4"} & {c.id for c in PROFILE.clauses}


def test_sections_are_the_texts_titles() -> None:
    headings = dict(re.findall(r"^## (\d+)\. (.*)$", SPEC, flags=re.M))
    assert PROFILE.sections == clauses.SECTIONS
    assert set(PROFILE.sections) == {c.section for c in PROFILE.clauses} == set(range(1, 13))
    for number, title in PROFILE.sections.items():
        # the heading without its family tags: "(CONV)", "(WAIT, RUN)"
        assert re.sub(r" \([A-Z]+(?:, [A-Z]+)*\)", "", headings[str(number)]) == title, number
    assert PROFILE.sections[9] == "FFA_MSG_SEND2 — DEN0077A v1.1 §15.1 (ACS-1.1)"


def _ids(text: str) -> set[str]:
    return set(re.findall(r"\b([A-Z]+-\d+)\b", text))


def test_implementation_defined_clauses_are_section_0s_three_kinds() -> None:
    strength = section_text(0).split("**Strength.**", 1)[1].split("Check order:", 1)[0]
    deviation, nature, h_only = (part.split("): ", 1)[1] for part in strength.split("\n- ")[1:4])
    kinds = {
        "DEVIATION": _ids(deviation),
        "nature": _ids(nature),
        "h_only": _ids(h_only),
    }
    assert len(kinds["DEVIATION"]) == 15 and len(kinds["nature"]) == 12 and len(kinds["h_only"]) == 11
    impl = {c.id: c.impl_defined for c in PROFILE.clauses if c.impl_defined}
    assert set(impl) == kinds["DEVIATION"] | kinds["nature"] | kinds["h_only"]
    assert len(impl) == 38
    # §14: each deviation names its clauses; the clause's impl_defined quotes both columns.
    table = {
        m[0]: (m[1], m[2], _ids(m[3]))
        for m in re.findall(r"^\| (D\d+) \| (.*?) \| (.*?) \| (.*?) \|$", section_text(14), flags=re.M)
    }
    assert len(table) == 14
    for cid in kinds["DEVIATION"]:
        text = impl[cid]
        assert text is not None
        d = re.match(r"DEVIATION (D\d+)", text)
        assert d, cid
        does, says, where = table[d.group(1)]
        assert cid in where and does in text and says in text, cid
    for cid in kinds["nature"]:
        assert impl[cid] is not None and impl[cid].startswith("implementation-defined by nature: "), cid
    assert impl["CONV-2"] == "implementation-defined by nature: conduit"
    assert impl["SEND-6"] == "implementation-defined by nature: SP-range receivers"
    for cid in kinds["h_only"]:
        assert impl[cid] == "Hafnium only, not confirmed on the real build: a candidate for MUST once confirmed", cid
        assert "H only" in PROFILE.get(cid).source, cid
    assert impl["FEAT-5"] is not None and impl["FEAT-5"].startswith("DEVIATION D4 (its FFA_MSG_SEND_32 / FFA_MSG_POLL_32 item")
    assert PROFILE.extra_clauses == ()


def test_foundations() -> None:
    assert PROFILE.layer("CONV-1") == 0
    for cid in ("CONV-3", "CONV-4", "ID-1", "ID-4"):
        assert PROFILE.layer(cid) == 1, cid
    for cid in ("VER-1", "VER-4", "IDG-1"):
        assert PROFILE.layer(cid) == 2, cid
    assert len(PROFILE.foundations) == 8
    for cid in ("CONV-5", "CONV-6", "ID-3", "SEND-1", "WAIT-10", "RUN-2"):
        assert PROFILE.layer(cid) == profiles.ABOVE_FOUNDATIONS, cid
    assert not any(PROFILE.get(cid).impl_defined for cid in PROFILE.foundations)


def test_descriptor() -> None:
    assert PROFILE.name == "ffa-1.1-indirect" and PROFILE.spec_name == "ffa-1.1-indirect.md"
    assert "Profile name: **`ffa-1.1-indirect`**" in SPEC
    assert PROFILE.spec.name == "spec.md" and PROFILE.spec.parent.name == "ffa_1_1_indirect"
    assert PROFILE.qualified("SEND-5") == "ffa-1.1-indirect:SEND-5"
    assert PROFILE.module("hv") is hv
    assert profiles.DEFAULT == "hafnium-2018-10"
    assert abi.PROFILE == PROFILE.name


# --- numbers -------------------------------------------------------------------------------------

#: ID-1, copied from the text (FFA_ERROR / FFA_SUCCESS with the _32 / _64 names of CONV-3).
FUNCTION_IDS = {
    "FFA_ERROR_32": 0x84000060,
    "FFA_SUCCESS_32": 0x84000061,
    "FFA_SUCCESS_64": 0xC4000061,
    "FFA_INTERRUPT": 0x84000062,
    "FFA_VERSION": 0x84000063,
    "FFA_FEATURES": 0x84000064,
    "FFA_RX_RELEASE": 0x84000065,
    "FFA_RXTX_MAP_32": 0x84000066,
    "FFA_RXTX_MAP_64": 0xC4000066,
    "FFA_RXTX_UNMAP": 0x84000067,
    "FFA_PARTITION_INFO_GET": 0x84000068,
    "FFA_ID_GET": 0x84000069,
    "FFA_MSG_WAIT": 0x8400006B,
    "FFA_YIELD": 0x8400006C,
    "FFA_RUN": 0x8400006D,
    "FFA_NOTIFICATION_GET": 0x84000082,
    "FFA_NOTIFICATION_INFO_GET_32": 0x84000083,
    "FFA_NOTIFICATION_INFO_GET_64": 0xC4000083,
    "FFA_RX_ACQUIRE": 0x84000084,
    "FFA_SPM_ID_GET": 0x84000085,
    "FFA_MSG_SEND2": 0x84000086,
}
ID_1 = (
    "FFA_ERROR 0x84000060, FFA_SUCCESS 0x84000061 / 0xC4000061, FFA_INTERRUPT 0x84000062, FFA_VERSION 0x84000063, "
    "FFA_FEATURES 0x84000064, FFA_RX_RELEASE 0x84000065, FFA_RXTX_MAP_32 0x84000066 / FFA_RXTX_MAP_64 0xC4000066, "
    "FFA_RXTX_UNMAP 0x84000067, FFA_PARTITION_INFO_GET 0x84000068, FFA_ID_GET 0x84000069, FFA_MSG_WAIT 0x8400006B, "
    "FFA_YIELD 0x8400006C, FFA_RUN 0x8400006D, FFA_NOTIFICATION_GET 0x84000082, FFA_NOTIFICATION_INFO_GET_32 "
    "0x84000083 / _64 0xC4000083, FFA_RX_ACQUIRE 0x84000084, FFA_SPM_ID_GET 0x84000085, **FFA_MSG_SEND2 0x84000086**."
)


def test_function_ids() -> None:
    assert PROFILE.get("ID-1").rule == "Function IDs: " + ID_1
    assert len(re.findall(r"0x[84C]4000\w\w", ID_1)) == len(FUNCTION_IDS)
    assert abi.FUNCTIONS == FUNCTION_IDS
    for name, value in FUNCTION_IDS.items():  # abi's, hv.py's and decode.py's own literals agree
        assert getattr(abi, name) == value, name
        assert getattr(hv, name) == value, name
        assert decode.CALL_NAMES[value] == name
    # CONV-1: SMC32 0x8400_00xx, SMC64 0xC400_00xx; CONV-7: SMC32 only
    assert all(v >> 24 in (0x84, 0xC4) for v in FUNCTION_IDS.values())
    assert abi.SMC64_BIT == 0x4000_0000 and 0x84000066 | abi.SMC64_BIT == 0xC4000066
    conv7 = (
        "FFA_MSG_SEND2, FFA_MSG_WAIT, FFA_RX_RELEASE, FFA_RUN, FFA_ID_GET, FFA_VERSION, FFA_FEATURES, "
        "FFA_PARTITION_INFO_GET and FFA_NOTIFICATION_GET have only an SMC32 ID"
    )
    assert PROFILE.get("CONV-7").rule.startswith(conv7)
    assert set(abi.SMC32_ONLY) == {FUNCTION_IDS[n] for n in re.findall(r"FFA_\w+", conv7.split(" have")[0])}


@pytest.mark.parametrize(
    ("value", "number", "literal", "where"),
    [
        (abi.FFA_MSG_SEND_32, 0x8400006E, "FFA_MSG_SEND_32 (0x8400006E)", "FEAT-5"),
        (abi.FFA_MSG_POLL_32, 0x8400006A, "FFA_MSG_POLL_32 (0x8400006A)", "FEAT-5"),
        (abi.FFA_CONSOLE_LOG_32, 0x8400008A, "FFA_CONSOLE_LOG (0x8400008A / 0xC400008A)", "VER-4"),
        (abi.FFA_CONSOLE_LOG_64 & ~abi.SMC64_BIT, 0x8400008A, "FFA_CONSOLE_LOG (0x8400008A / 0xC400008A)", "VER-4"),
        (abi.HF_FFA_RUN_WAIT_FOR_INTERRUPT, 0xFF06, "HF_FFA_RUN_WAIT_FOR_INTERRUPT (0xFF06", "RUN-3"),
        (abi.SMCCC_SVE_HINT, 1 << 16, "ID bit 16 (SMCCC SVE hint)", "CONV-2"),
        (abi.SMCCC_ERROR_UNKNOWN, 0xFFFF_FFFF_FFFF_FFFF, "x0 = −1 (0xFFFF_FFFF_FFFF_FFFF, SMCCC_ERROR_UNKNOWN)", "CONV-9"),  # noqa: RUF001
        (abi.FFA_VERSION_1_1, 0x00010001, "v1.1 = 0x00010001", "ID-4"),
        (abi.HAFNIUM_VERSION, 0x00010003, "Reference build: 0x00010003", "VER-1"),
        (abi.FFA_VERSION_NOT_SUPPORTED, 0xFFFFFFFF, "NOT_SUPPORTED\n(w0 = 0xFFFFFFFF, x0[63:32] = 0)", "§3"),
        (abi.FFA_VERSION_MBZ_BIT >> 31, 1, "bit 31 MBZ", "ID-4"),
        (abi.FFA_ID_SP_BIT, 1 << 15, "bit 15 = 1: a secure partition", "ID-2"),
        (abi.HAFNIUM_SPMC_ID, 0x8000, "0x8000 = SPMC", "ID-3"),
        (abi.HAFNIUM_SPMD_ID, 0xFFFF, "0xFFFF = SPMD", "ID-3"),
        (abi.HAFNIUM_PRIMARY_VM_ID, 1, "primary = 1", "ID-3"),
        (abi.HAFNIUM_FIRST_SP_ID, 0x8001, "SPs from 0x8001", "ID-3"),
        (abi.HAFNIUM_HYPERVISOR_ID, 0, "0 = hypervisor", "ID-3"),
        (abi.HAFNIUM_NPI_INTID, 5, "0x1 NPI → SUCCESS, w2 = 5", "FEAT-6"),
        (abi.HAFNIUM_SRI_INTID, 8, "0x2 SRI → SUCCESS, w2 = 8", "FEAT-6"),
        (abi.HAFNIUM_MEI_INTID, 4, "0x3 MEI → SUCCESS, w2 = 4", "FEAT-6"),
        (abi.HAFNIUM_NOTIFICATION_FEATURES, 0x3, "**w2 = 0x3**", "FEAT-7"),
        (abi.FFA_FEATURE_NOTIFICATION, 0x4, "Feature ID 0x4", "FEAT-7"),
        (abi.RXTX_MAP_MIN_BUF_64K, 0b01, "0b01 = 64 KiB", "FEAT-4"),
        (abi.RXTX_MAP_MIN_BUF_16K, 0b10, "0b10 = 16 KiB", "FEAT-4"),
        (abi.HAFNIUM_RXTX_MAX_PAGE_COUNT, 1, "RXTX_MAX_PAGE_COUNT (1 in the reference build)", "MAP-2"),
        (abi.HAFNIUM_MAX_MESSAGE_SIZE, 4096, "4096 × RXTX_MAX_PAGE_COUNT (4096 here)", "SEND-14"),  # noqa: RUF001
        (abi.FFA_RXTX_HEADER_SIZE_V1_1, 20, "v1.1 header size = **20 bytes**", "HDR-7"),
        (abi.FFA_RXTX_HEADER_SIZE_V1_2, 40, "(a v1.1 sender; 40 for a v1.2+ sender)", "SEND-11"),
        (abi.MSG_SEND2_FLAG_DELAY_SRI, 1 << 1, 'bit 1 = "delay Schedule Receiver Interrupt"', "§9"),
        (abi.HAFNIUM_PARTITION_INFO_SIZE, 0x30, "(w3 = 0x30, the v1.3 layout)", "PIG-3"),
        (abi.PARTITION_INFO_SIZE_V1_1, 24, "The v1.1 descriptor (Table 13.34) is 24 bytes", "PIG-3"),
        (abi.PARTITION_INFO_SIZE_V1_0, 8, "8-byte v1.0 descriptors", "PIG-3"),
        (abi.FFA_PARTITION_INDIRECT_MSG, 1 << 2, "**bit 2 indirect messaging**", "PIG-6"),
        (abi.FFA_PARTITION_AARCH64 >> 8, 1, "bit 8 AArch64", "PIG-6"),
        (abi.FFA_PARTITION_V1_1_RES_MASK, 0xFFFFF800, "bits 31:11 = 0 for a v1.1 caller", "PIG-6"),
        (abi.FFA_NOTIFICATION_FLAG_HYP_FRAMEWORK >> 3, 1, "bit 3 hypervisor framework, bits 31:4 MBZ", "NOTIF-2"),
        (abi.FFA_NOTIFICATION_FLAGS_MBZ, 0xFFFFFFF0, "bits 31:4 MBZ", "NOTIF-2"),
        (abi.FFA_NOTIFICATION_RX_BUFFER_FULL, 1 << 0, "**bit 0 of w7**", "NOTIF-1"),
    ],
)
def test_numbers_the_text_writes(value: int, number: int, literal: str, where: str) -> None:
    """``number`` is copied from ``literal``, which is copied from the clause (or section) ``where``."""
    text = section_text(3).split("\n| ID")[0] if where == "§3" else section_text(9) if where == "§9" else PROFILE.get(where).rule
    assert literal in text
    assert value == number


def test_error_codes() -> None:
    conv4 = PROFILE.get("CONV-4").rule
    written = dict(re.findall(r"([A-Z_]+) −(\d)", conv4))  # noqa: RUF001
    assert {k: -int(v) for k, v in written.items()} == abi.ERRORS
    assert abi.ERRORS == {
        "NOT_SUPPORTED": -1,
        "INVALID_PARAMETERS": -2,
        "NO_MEMORY": -3,
        "BUSY": -4,
        "INTERRUPTED": -5,
        "DENIED": -6,
        "RETRY": -7,
        "ABORTED": -8,
        "NO_DATA": -9,
    }
    # zero-extended in x2 (CONV-4's own examples)
    assert abi.FFA_INVALID_PARAMETERS == 0x00000000FFFFFFFE == abi.error_code("INVALID_PARAMETERS")
    assert abi.FFA_DENIED == 0x00000000FFFFFFFA and abi.FFA_NO_DATA == 0x00000000FFFFFFF7
    assert (abi.FFA_NOT_SUPPORTED, abi.FFA_BUSY, abi.FFA_ABORTED) == (0xFFFFFFFF, 0xFFFFFFFC, 0xFFFFFFF8)
    assert abi.error_name(0xFFFFFFFC) == "BUSY" and abi.error_name(0) is None
    assert abi.error("DENIED") == (0x84000060, 0, 0xFFFFFFFA, 0, 0, 0, 0, 0)
    assert decode.ERRORS == {v & 0xFFFFFFFF: k for k, v in abi.ERRORS.items()}


def test_versions() -> None:
    assert abi.version(1, 1) == 0x00010001 and abi.version(1, 3) == 0x00010003 == abi.HAFNIUM_VERSION
    assert abi.version(2, 0) == 0x00020000 and abi.version_parts(0x00010002) == (1, 2)
    assert (abi.FFA_VERSION_1_0, abi.FFA_VERSION_1_2) == (0x00010000, 0x00010002)
    with pytest.raises(ValueError, match="major=0x8000 does not fit"):
        abi.version(0x8000, 0)


def test_equ_source() -> None:
    equ = abi.equ_source()
    for line in (
        ".equ FFA_MSG_SEND2, 0x84000086\n",
        ".equ FFA_RXTX_MAP_64, 0xc4000066\n",
        ".equ FFA_SUCCESS_32, 0x84000061\n",
        ".equ FFA_ERROR_32, 0x84000060\n",
        ".equ FFA_INVALID_PARAMETERS, 0xfffffffe\n",
        ".equ FFA_NO_DATA, 0xfffffff7\n",
        ".equ FFA_VERSION_1_1, 0x10001\n",
        ".equ FFA_RXTX_HEADER_SIZE_V1_1, 0x14\n",
        ".equ HDR_SENDER_RECEIVER, 0xc\n",
        ".equ FFA_NOTIFICATION_RX_BUFFER_FULL, 0x1\n",
        ".equ LIB_SEND_PAGE, ",  # the library layout's, as for every profile
    ):
        assert line in equ
    assert abi.constants()["FFA_RUN"] == 0x8400006D


# --- encoders on the text's values ---------------------------------------------------------------


def test_header_of_worked_example_a() -> None:
    # §15 A.2: flags 0xA5A5A5A5, reserved 0x5A5A5A5A, offset 0x18, sender/receiver 0x00010004, size 0xFE8
    example = section_text(15)
    assert "flags 0xA5A5A5A5, reserved 0x5A5A5A5A, offset 0x18, sender/receiver 0x00010004, size 0xFE8" in example
    data = abi.header(1, 4, 0xFE8, offset=0x18, flags=0xA5A5A5A5, reserved=0x5A5A5A5A)
    assert data == bytes.fromhex("a5a5a5a55a5a5a5a1800000004000100e80f0000")
    assert len(data) == 20  # HDR-7
    h = abi.parse_header(data)
    assert (h.flags, h.reserved, h.offset, h.sender, h.receiver, h.size) == (0xA5A5A5A5, 0x5A5A5A5A, 0x18, 1, 4, 0xFE8)
    # HDR-4: "services3's to 1 as 0x00040001"
    assert abi.sender_receiver(4, 1) == 0x00040001
    assert abi.header(4, 1, 8)[8:16] == bytes.fromhex("1400000001000400")  # A.5: offset 0x14
    # 0x18 + 0xFE8 = 4096: SEND-14's limit; SEND-13's probe (offset 20, size 4077) is 4097
    assert 0x18 + 0xFE8 == abi.HAFNIUM_MAX_MESSAGE_SIZE and 20 + 4077 == abi.HAFNIUM_MAX_MESSAGE_SIZE + 1
    with pytest.raises(ValueError, match="sender=0x10000 does not fit"):
        abi.header(0x10000, 1, 0)


def test_run_and_notification_encodings() -> None:
    assert abi.vm_vcpu(4, 0) == 0x00040000  # §15 A.1: FFA_RUN(x1 = 0x00040000)
    assert abi.vm_vcpu(0x20, 0) == 0x200000  # RUN-1's probe FFA_RUN(0x200000)
    assert abi.info_get_w2((0,)) == 0x80  # §15 A.3: x2 = 0x80, x3 = 0x4
    assert abi.pack_ids((4,)) == (0x4, 0, 0, 0, 0)
    assert abi.pack_ids((1, 2, 3, 4, 5)) == (0x0004000300020001, 5, 0, 0, 0)
    assert abi.info_get_w2((1, 0), more=True) == 1 | 2 << 7 | 1 << 12
    assert abi.success(1) == (0x84000061, 0, 1, 0, 0, 0, 0, 0)  # IDG-1: x2 = 0x1
    assert abi.success(0x80, x3=0x4, wide=True) == (0xC4000061, 0, 0x80, 0x4, 0, 0, 0, 0)


def test_partition_descriptor() -> None:
    # §15 D: first descriptor ID 0x0002, 8 contexts, properties 0x0000070D; w3 = 0x30
    assert "ID 0x0002, 8 contexts, properties 0x0000070D" in section_text(15)
    d = abi.partition_info(2, 8, 0x70D, size=0x30)
    assert len(d) == 0x30 and d[:8] == bytes.fromhex("020008000d070000") and d[8:] == bytes(40)
    assert abi.parse_partition_info(d) == (2, 8, 0x70D, bytes(16))
    assert len(abi.partition_info(2, 8, 0x70D, size=8)) == 8 and len(abi.partition_info(2, 8, 0, size=24)) == 24
    bits = abi.FFA_PARTITION_DIRECT_REQ_RECV | abi.FFA_PARTITION_INDIRECT_MSG | abi.FFA_PARTITION_NOTIFICATION
    assert 0x70D & 0xFF == bits | 0 and 0x70D & abi.FFA_PARTITION_AARCH64


# --- readings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "what", "reading"),
    [
        (0x84000061, "FFA_ID_GET", "FFA_SUCCESS_32"),
        (0xC4000061, "FFA_NOTIFICATION_INFO_GET_64", "FFA_SUCCESS_64"),
        (0x84000060, "FFA_MSG_SEND2", "FFA_ERROR_32"),
        (0x8400006B, "FFA_RUN", "FFA_MSG_WAIT"),
        (0x8400006C, "FFA_RUN", "FFA_YIELD"),
        (0x8400006D, "the receiver's FFA_MSG_WAIT", "FFA_RUN"),
        (0xFF06, "FFA_RUN", "HF_FFA_RUN_WAIT_FOR_INTERRUPT"),
        (0x00010003, "FFA_VERSION", "v1.3"),
        (0x00000000FFFFFFFF, "FFA_VERSION", "NOT_SUPPORTED"),
        (MINUS_ONE, "FFA_VERSION", "-1 (not FFA_VERSION's NOT_SUPPORTED: x0[63:32] must be 0)"),
        (0x00000000FFFFFFFE, "FFA_MSG_SEND2 x2", "INVALID_PARAMETERS (-2)"),
        (0x00000000FFFFFFF7, "error code", "NO_DATA (-9)"),
        (0xFFFFFFFFFFFFFFFA, "w2 of FFA_RX_RELEASE", "DENIED (-6), x2[63:32] must be 0 (zero-extended)"),
        (MINUS_ONE, "FFA_MSG_SEND2 to 0x8001", "-1 (SMCCC_ERROR_UNKNOWN, not an FFA_ERROR)"),
        (0x00040000, "FFA_RUN x1", "ID 0x4, 0x0"),
        (0x00010004, "header word @12", "ID 0x1, 0x4"),
        (0x3, "count in w2", ""),
        (0x30, "descriptor size", ""),
        (0x1, "FFA_ID_GET's ID", ""),
        (0x12345, "FFA_RUN", ""),
    ],
)
def test_describe(value: int, what: str, reading: str) -> None:
    assert decode.describe(value, what) == reading
    assert PROFILE.decode is decode.describe


def test_result_readings() -> None:
    assert decode.result((0x84000060, 0, 0xFFFFFFFE, 0, 0, 0, 0, 0)) == "FFA_ERROR_32 INVALID_PARAMETERS (-2)"
    assert decode.result((0x84000061, 0, 1, 0, 0, 0, 0, 0)) == "FFA_SUCCESS_32 x2=0x1"
    assert decode.result((0x8400006B, 0x40000, 0, 0, 0, 0, 0, 0)) == "FFA_MSG_WAIT w1=ID 0x4, 0x0"
    assert decode.result((0x8400006D, 0x4, 0, 0, 0, 0, 0, 0)) == "FFA_RUN w1=ID 0x0, 0x4"
    assert decode.result((MINUS_ONE, 0x10000, 0, 0, 0, 0, 0, 0)) == "-1 (SMCCC_ERROR_UNKNOWN) x1=0x10000"
    assert decode.result((0xC4000061, 0, 0x80, 0x4, 0, 0, 0, 0)) == "FFA_SUCCESS_64 x2=0x80 x3=0x4"
    assert decode.result((0x00010003, 0, 0, 0, 0, 0, 0, 0)) == "0x10003"
    assert PROFILE.shown(0x84000060, "FFA_MSG_SEND2") == "0x0000000084000060 (FFA_ERROR_32)"


@pytest.mark.parametrize(
    ("x0", "name"),
    [
        (0x84000086, "FFA_MSG_SEND2"),
        (0xC4000066, "FFA_RXTX_MAP_64"),
        (0x84010069, "FFA_ID_GET (x0=0x84010069)"),  # CONV-2: bit 16, the SVE hint, is cleared
        (0xFFFFFFFF84000069, "FFA_ID_GET (x0=0xffffffff84000069)"),
        (0xC4000086, "0xc4000086"),  # CONV-7: not an FF-A function
        (0x840000FF, "0x840000ff"),  # CONV-6's probe
        (0x8400008A, "FFA_CONSOLE_LOG_32"),
        (0x8400006E, "FFA_MSG_SEND_32"),
    ],
)
def test_call_name(x0: int, name: str) -> None:
    assert decode.call_name(x0) == name
    assert PROFILE.call_name is decode.call_name


def test_no_message_arrows_from_registers() -> None:
    # The destination of an FFA_MSG_SEND2 is in the sender's TX buffer (HDR-4), not in a register.
    assert decode.message("FFA_MSG_SEND2", (0x84000086, 0, 0, 0), 0x84000061) is None
    assert PROFILE.message is decode.message


# --- the calls by name ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    regs: tuple[int, ...]
    fault: None = None
    timeout: None = None
    system_off: bool = False


@dataclass
class _Session:
    """Records the primary's calls (x0..x7 and the instruction); answers FFA_SUCCESS_32."""

    calls: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    memory: dict[int, bytes] = field(default_factory=dict)
    answer: tuple[int, ...] = (0x84000061,) + (0,) * 30

    def call(self, x0: int, x1: int, x2: int, x3: int, *, regs: Any = None, insn: str = "hvc #0") -> _Outcome:
        more = [0] * 27
        for n, v in (regs or {}).items():
            more[n - 4] = v
        self.calls.append(((x0, x1, x2, x3, *more[:4]), insn))
        return _Outcome(self.answer)

    def base(self, vm: int) -> int:
        return 0x4000_0000

    def write(self, vm: int, addr: int, data: bytes) -> None:
        self.memory[addr] = data

    def read(self, vm: int, addr: int, size: int) -> bytes:
        return self.memory.get(addr, bytes(size))[:size].ljust(size, b"\0")


def test_hv_calls_by_name() -> None:
    session = _Session()
    h = hv.Hv(build=None, session=session, guests=(), profile=PROFILE)  # type: ignore[arg-type]
    base = 0x4000_0000
    assert h.version() == 0x84000061
    h.version(0x00010001, x1_high=0xFFFFFFFF)
    h.id_get()
    h.features(0x84000086)
    h.features(0xC4000066, 1)
    h.rxtx_map()
    h.rxtx_map(0x1000, 0x2000, 2)
    h.rxtx_unmap(0x10000)
    h.partition_info_get(flags=1)
    h.partition_info_get((1, 2, 3, 4))
    h.msg_send2()
    h.msg_send2(0x10000, 2)
    h.msg_wait()
    h.rx_release(4)
    h.yield_()
    h.run_once(4)
    h.run(4, 1)
    h.notification_get(1)
    h.notification_get(4, vcpu=2, flags=0x10)
    h.notification_info_get()
    h.ffa(0x840000FF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, insn="smc #0")
    assert [c[0] for c in session.calls] == [
        (0x84000063, 0x00010001, 0, 0, 0, 0, 0, 0),
        (0x84000063, 0xFFFFFFFF00010001, 0, 0, 0, 0, 0, 0),  # CONV-8's probe
        (0x84000069, 0, 0, 0, 0, 0, 0, 0),
        (0x84000064, 0x84000086, 0, 0, 0, 0, 0, 0),
        (0x84000064, 0xC4000066, 1, 0, 0, 0, 0, 0),
        (0xC4000066, base + harness.SEND_PAGE, base + harness.RECV_PAGE, 1, 0, 0, 0, 0),
        (0xC4000066, 0x1000, 0x2000, 2, 0, 0, 0, 0),
        (0x84000067, 0x10000, 0, 0, 0, 0, 0, 0),
        (0x84000068, 0, 0, 0, 0, 1, 0, 0),  # w5 = flags
        (0x84000068, 1, 2, 3, 4, 0, 0, 0),
        (0x84000086, 0, 0, 0, 0, 0, 0, 0),
        (0x84000086, 0x10000, 2, 0, 0, 0, 0, 0),
        (0x8400006B, 0, 0, 0, 0, 0, 0, 0),
        (0x84000065, 4, 0, 0, 0, 0, 0, 0),
        (0x8400006C, 0, 0, 0, 0, 0, 0, 0),
        (0x8400006D, 0x00040000, 0, 0, 0, 0, 0, 0),
        (0x8400006D, 0x00040001, 0, 0, 0, 0, 0, 0),
        (0x84000082, 0x1, 0xC, 0, 0, 0, 0, 0),
        (0x84000082, 0x00020004, 0x10, 0, 0, 0, 0, 0),
        (0xC4000083, 0, 0, 0, 0, 0, 0, 0),
        (0x840000FF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77),
    ]
    assert session.calls[-1][1] == "smc #0"
    assert h.log[0] == "hvc #0 FFA_VERSION x1=0x10001 x2=0x0 x3=0x0 -> FFA_SUCCESS_32"
    assert h.log[8] == "hvc #0 FFA_PARTITION_INFO_GET x1=0x0 x2=0x0 x3=0x0 x5=0x1 -> FFA_SUCCESS_32"
    session.answer = (0x84000060, 0, 0xFFFFFFFE) + (0,) * 28
    h.msg_send2()
    assert h.log[-1] == "hvc #0 FFA_MSG_SEND2 x1=0x0 x2=0x0 x3=0x0 -> FFA_ERROR_32 INVALID_PARAMETERS (-2)"
    with pytest.raises(ValueError, match="8 arguments"):
        h.ffa(0x84000063, *range(8))
    regs = h.ffa_regs(0x84000069, extra={8: 0x88, 17: 0x1717})
    assert len(regs) == 31 and len(h.ffa(0x84000069)) == 8


def test_run_goes_on_through_interrupts_only() -> None:
    answers = iter([0x84000062, 0x84000062, 0x8400006C])

    class Session(_Session):
        def call(self, x0: int, x1: int, x2: int, x3: int, *, regs: Any = None, insn: str = "hvc #0") -> _Outcome:
            super().call(x0, x1, x2, x3, regs=regs, insn=insn)
            return _Outcome((next(answers), 0x40000) + (0,) * 29)

    session = Session()
    h = hv.Hv(build=None, session=session, guests=(), profile=PROFILE)  # type: ignore[arg-type]
    assert h.run(4)[:2] == (0x8400006C, 0x40000)  # FFA_YIELD is returned: only FFA_INTERRUPT is run through
    assert len(session.calls) == 3


def test_messages_in_the_primary_buffers() -> None:
    session = _Session()
    h = hv.Hv(build=None, session=session, guests=(), profile=PROFILE)  # type: ignore[arg-type]
    h.write_message(1, 4, b"MESSAGE2")
    tx = session.memory[0x4000_0000 + harness.SEND_PAGE]
    assert tx == abi.header(1, 4, 8) + b"MESSAGE2"
    h.write_message(1, 4, b"x", offset=24, flags=0xA5A5A5A5)
    tx = session.memory[0x4000_0000 + harness.SEND_PAGE]
    assert tx == abi.header(1, 4, 1, offset=24, flags=0xA5A5A5A5) + bytes(4) + b"x"
    h.write_message(1, 4, offset=16, size=0)  # SEND-11: the header alone
    assert session.memory[0x4000_0000 + harness.SEND_PAGE] == abi.header(1, 4, 0, offset=16)
    session.memory[0x4000_0000 + harness.RECV_PAGE] = abi.header(4, 1, 8) + b"SVC->PVM"
    assert h.read_message() == ((0, 0, 20, 4, 1, 8), b"SVC->PVM")


def test_an_untestable_clause_is_exempt_from_the_self_check_and_never_passes() -> None:
    """WAIT-9 cannot be observed through the build protocol: the registry says why (listed by
    ``--list-clauses``), it needs no test, and it is reported NOT RUN, never PASS."""
    from conformance import cli, report

    wait9 = PROFILE.get("WAIT-9")
    assert wait9.untestable and "outside this profile" in wait9.untestable
    assert [c.id for c in PROFILE.clauses if c.untestable] == ["WAIT-9"]
    assert any("not testable through the build protocol" in line for line in cli.list_clauses(PROFILE))
    summary = report.aggregate([], "reference", profile=PROFILE)
    (row,) = [r for r in summary.impl if r.clause.id == "WAIT-9"]
    assert row.status == "NOT RUN"
