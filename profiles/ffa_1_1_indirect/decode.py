"""Reading FF-A values the way ``spec.md`` writes them (``Profile.decode``, ``Profile.call_name``).

A failure report shows ``0x0000000084000060`` vs ``0x0000000084000061``; a reader wants
"FFA_ERROR_32" vs "FFA_SUCCESS_32", and for x2 "INVALID_PARAMETERS (-2)". :func:`describe` gives
that reading from the value and what was checked (the check's ``what`` text, or the call's name in
a call log); :func:`result` reads a whole x0..x7 result. Numbers are the text's literals (§0
notation, CONV-4, ID-1, ID-4, RUN-2, RUN-3, HDR-4), written out here on purpose, not taken from
``abi.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK64 = 0xFFFF_FFFF_FFFF_FFFF  # "-1" (CONV-9: SMCCC_ERROR_UNKNOWN)
ERROR_32 = 0x84000060
SUCCESS_32 = 0x84000061
SUCCESS_64 = 0xC4000061
CALL_NAMES = {  # ID-1, then the IDs FEAT-5, VER-4 and RUN-3 name
    0x84000060: "FFA_ERROR_32",
    0x84000061: "FFA_SUCCESS_32",
    0xC4000061: "FFA_SUCCESS_64",
    0x84000062: "FFA_INTERRUPT",
    0x84000063: "FFA_VERSION",
    0x84000064: "FFA_FEATURES",
    0x84000065: "FFA_RX_RELEASE",
    0x84000066: "FFA_RXTX_MAP_32",
    0xC4000066: "FFA_RXTX_MAP_64",
    0x84000067: "FFA_RXTX_UNMAP",
    0x84000068: "FFA_PARTITION_INFO_GET",
    0x84000069: "FFA_ID_GET",
    0x8400006B: "FFA_MSG_WAIT",
    0x8400006C: "FFA_YIELD",
    0x8400006D: "FFA_RUN",
    0x84000082: "FFA_NOTIFICATION_GET",
    0x84000083: "FFA_NOTIFICATION_INFO_GET_32",
    0xC4000083: "FFA_NOTIFICATION_INFO_GET_64",
    0x84000084: "FFA_RX_ACQUIRE",
    0x84000085: "FFA_SPM_ID_GET",
    0x84000086: "FFA_MSG_SEND2",
    0x8400006E: "FFA_MSG_SEND_32",
    0x8400006A: "FFA_MSG_POLL_32",
    0x8400008A: "FFA_CONSOLE_LOG_32",
    0xC400008A: "FFA_CONSOLE_LOG_64",
}
ERRORS = {  # CONV-4, as w2 holds them
    0xFFFFFFFF: "NOT_SUPPORTED",
    0xFFFFFFFE: "INVALID_PARAMETERS",
    0xFFFFFFFD: "NO_MEMORY",
    0xFFFFFFFC: "BUSY",
    0xFFFFFFFB: "INTERRUPTED",
    0xFFFFFFFA: "DENIED",
    0xFFFFFFF9: "RETRY",
    0xFFFFFFF8: "ABORTED",
    0xFFFFFFF7: "NO_DATA",
}
#: The results whose w1 is ``ID<<16 | vCPU`` when the primary's FFA_RUN returns them (RUN-2, RUN-3).
RUN_RESULTS = {
    0x8400006C: "FFA_YIELD",
    0x8400006B: "FFA_MSG_WAIT",
    0x84000062: "FFA_INTERRUPT",
    0xFF06: "HF_FFA_RUN_WAIT_FOR_INTERRUPT",
}

_VERSION = re.compile(r"FFA_VERSION|\bversion\b|\bVER-\d", re.I)
_ERROR_CODE = re.compile(r"\b[xw]2\b|error code|\berror\b", re.I)
_ID_PAIR = re.compile(r"\b[xw]1\b|ID<<16|vm_vcpu|header word|@12|sender/receiver", re.I)
_PLAIN = re.compile(r"number of|count|\bsize\b|\boffset\b|\bID\b|\bbytes?\b", re.I)


def call_name(x0: int) -> str:
    """The function a raw x0 names (its low 32 bits, bit 16 -- the SMCCC SVE hint -- cleared, as
    Hafnium decodes it: CONV-2), or its hex."""
    func = x0 & 0xFFFF_FFFF & ~(1 << 16)
    name = CALL_NAMES.get(func)
    if name is None:
        return f"{x0:#x}"
    return name if func == x0 else f"{name} (x0={x0:#x})"


def version(value: int) -> str:
    """An FFA_VERSION result (§3, ID-4): ``v1.3``, or NOT_SUPPORTED (w0 = 0xFFFFFFFF, x0[63:32] = 0)."""
    if value == 0xFFFF_FFFF:
        return "NOT_SUPPORTED"
    if value == MASK64:
        return "-1 (not FFA_VERSION's NOT_SUPPORTED: x0[63:32] must be 0)"
    if value >> 31:
        return "not a version word (bit 31 or bits 63:32 set)"
    return f"v{value >> 16}.{value & 0xFFFF}"


def error(x2: int) -> str:
    """An error code in w2 (CONV-4): ``INVALID_PARAMETERS (-2)``."""
    name = ERRORS.get(x2 & 0xFFFF_FFFF)
    if name is None:
        return f"not an FF-A error code (w2 = {x2 & 0xFFFF_FFFF:#x})"
    signed = (x2 & 0xFFFF_FFFF) - (1 << 32)
    extended = "" if x2 >> 32 == 0 else ", x2[63:32] must be 0 (zero-extended)"
    return f"{name} ({signed}){extended}"


def id_pair(w1: int) -> str:
    """``ID<<16 | B`` (§0): FFA_RUN's w1 (VM and vCPU), or the header's sender/receiver word."""
    return f"ID {w1 >> 16 & 0xFFFF:#x}, {w1 & 0xFFFF:#x}"


def describe(value: object, what: str = "") -> str:
    """A reading of ``value`` for a report, or "" when a raw number says it all."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MASK64:
        return ""
    if _VERSION.search(what) and not _ERROR_CODE.search(what):
        return version(value)
    if _ERROR_CODE.search(what) and value & 0xFFFF_FFFF in ERRORS:
        return error(value)
    if value == MASK64:
        return "-1 (SMCCC_ERROR_UNKNOWN, not an FFA_ERROR)"
    if _ID_PAIR.search(what):
        return id_pair(value) if value <= 0xFFFF_FFFF else ""
    if _PLAIN.search(what):
        return ""
    name = CALL_NAMES.get(value) or RUN_RESULTS.get(value)
    return name or ""


def result(regs: Sequence[int]) -> str:
    """x0..x7 of an FF-A result, as the text writes it: ``FFA_ERROR_32 INVALID_PARAMETERS (-2)``,
    ``FFA_SUCCESS_32 w2=0x1``, ``FFA_MSG_WAIT w1=ID 0x4, 0x0``; non-zero x1..x7 listed."""
    if not regs:
        return "no result"
    x0 = regs[0]
    rest = list(regs[1:8])
    if x0 == ERROR_32 and len(rest) >= 2:
        others = [f"x{n}={v:#x}" for n, v in enumerate(rest, 1) if v and n != 2]
        return " ".join(["FFA_ERROR_32", error(rest[1]), *others])
    if x0 == MASK64:
        head = "-1 (SMCCC_ERROR_UNKNOWN)"
    elif x0 in RUN_RESULTS or x0 == 0x8400006D:
        head = CALL_NAMES.get(x0) or RUN_RESULTS[x0]
        if rest and rest[0]:
            head += f" w1={id_pair(rest[0])}"
        rest[0:1] = [0] if rest else []
    else:
        head = CALL_NAMES.get(x0, f"{x0:#x}")
    extra = [f"x{n}={v:#x}" for n, v in enumerate(rest, 1) if v]
    return " ".join([head, *extra])


def message(call: str, args: tuple[int, ...], result: int | None) -> tuple[int, int | None] | None:
    """A traced FFA_MSG_SEND2 that succeeded: the destination is in the sender's TX buffer (HDR-4),
    which a trace does not hold, so no arrow can be drawn from the registers alone."""
    return None
