"""Checks the ``ffa-1.1-indirect`` conformance tests share: each names the clause it states.

An FF-A result is eight registers x0..x7 (CONV-1, CONV-3). Checking one has three parts, each
counted against its own rule:

* the call's answer (x0 = FFA_SUCCESS_32 / FFA_ERROR_32, the values the interface assigns, the
  error code in w2): the caller's ``clause``, the rule that says what this call returns;
* the error code zero-extended in x2 (CONV-4: x2 = 0x00000000FFFFFFFE for INVALID_PARAMETERS);
* the registers of x1..x7 the interface does not assign are 0 (CONV-5).

``conv=False`` leaves the last two out: an ``impl_defined`` test checks only its own clause (a MUST
check in it would be downgraded to a DEVIATION), so it asks for the answer alone.

Every number here is a literal from the text (§0 notation, CONV-3, CONV-4, §3, CONV-9), written out
on purpose, not taken from ``abi.py``: a wrong number there cannot hide from the suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from conformance.harness import expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from profiles.ffa_1_1_indirect import decode

#: CONV-3 (and §0 notation: SUCCESS = w0 = 0x84000061, ERROR(e) = w0 = 0x84000060 with w2 = e).
FFA_ERROR_32 = 0x84000060
FFA_SUCCESS_32 = 0x84000061
FFA_SUCCESS_64 = 0xC4000061

#: CONV-4: the error codes as x2 holds them, zero-extended (x2 = 0x00000000FFFFFFFE for -2).
ERRORS: dict[str, int] = {
    "NOT_SUPPORTED": 0x00000000FFFFFFFF,
    "INVALID_PARAMETERS": 0x00000000FFFFFFFE,
    "NO_MEMORY": 0x00000000FFFFFFFD,
    "BUSY": 0x00000000FFFFFFFC,
    "INTERRUPTED": 0x00000000FFFFFFFB,
    "DENIED": 0x00000000FFFFFFFA,
    "RETRY": 0x00000000FFFFFFF9,
    "ABORTED": 0x00000000FFFFFFF8,
    "NO_DATA": 0x00000000FFFFFFF7,
}

#: §3: FFA_VERSION's NOT_SUPPORTED: w0 = 0xFFFFFFFF with x0[63:32] = 0 (not -1).
VERSION_NOT_SUPPORTED = 0xFFFF_FFFF
#: §0 notation "-1": all 64 bits (CONV-9's SMCCC_ERROR_UNKNOWN); not FFA_VERSION's NOT_SUPPORTED.
MINUS_ONE = 0xFFFF_FFFF_FFFF_FFFF

#: CONV-5: a pattern to load into x8..x17 before a call; each register a different value, both
#: halves non-zero, so that a zeroed, swapped or truncated register shows.
PATTERN: dict[int, int] = {n: 0xA5A5_0000_5A5A_0000 | n << 32 | n for n in range(8, 18)}

Regs = Sequence[int]

_W = 0xFFFF_FFFF


def shown(regs: Regs) -> str:
    """x0..x7 as the text writes a result: ``FFA_ERROR_32 INVALID_PARAMETERS (-2)``."""
    return decode.result(tuple(regs[:8]))


def error_name(x2: int) -> str:
    """The name of the code in w2 (CONV-4), or its hex when it is none of them."""
    for name, code in ERRORS.items():
        if code == x2 & _W:
            return name
    return f"{x2 & _W:#x}"


def expect_x0(what: str, regs: Regs, x0: int, note: str = "", *, clause: ClauseArg) -> None:
    """x0, all 64 bits, is ``x0``; a wrong one is reported with the whole result read out."""
    if regs[0] != x0:
        got = shown(regs)
        raise ConformanceFailure(what, x0, regs[0], f"{note}; result {got}" if note else f"result {got}", clause=clause)


def expect_success(
    what: str,
    regs: Regs,
    w2: int | None = None,
    *,
    x1: int | None = None,
    x3: int | None = None,
    x4: int | None = None,
    x5: int | None = None,
    x6: int | None = None,
    x7: int | None = None,
    wide: bool = False,
    clause: ClauseArg,
    conv: bool = True,
    note: str = "",
) -> None:
    """``regs`` is FFA_SUCCESS_32 (FFA_SUCCESS_64 when ``wide``) with the values the interface
    assigns (``w2=``, ``x1=`` ...; compared as w registers for SMC32, CONV-1; as x for SMC64),
    against ``clause``. With ``conv``: every register of x1..x7 not given is 0 (CONV-5)."""
    expect_x0(what, regs, FFA_SUCCESS_64 if wide else FFA_SUCCESS_32, note, clause=clause)
    assigned = {1: x1, 2: w2, 3: x3, 4: x4, 5: x5, 6: x6, 7: x7}
    mask = 0xFFFF_FFFF_FFFF_FFFF if wide else _W
    for n, value in assigned.items():
        if value is not None:
            reg = f"x{n}" if wide else f"w{n}"
            expect(f"{what}: {reg}", regs[n] & mask, value, note, clause=clause)
    if conv:
        unassigned = [n for n, value in assigned.items() if value is None]
        expect_unassigned_zero(what, regs, unassigned)


def expect_error(what: str, regs: Regs, code: str, note: str = "", *, clause: ClauseArg, conv: bool = True) -> None:
    """``regs`` is FFA_ERROR_32 with the error ``code`` (a CONV-4 name: ``"BUSY"``) in w2, against
    ``clause``. With ``conv``: x2 holds it zero-extended (CONV-4) and x1, x3..x7 are 0 (CONV-5)."""
    expected = ERRORS[code]
    expect_x0(what, regs, FFA_ERROR_32, f"{note}; expected ERROR({code})" if note else f"expected ERROR({code})", clause=clause)
    if regs[2] & _W != expected:
        raise ConformanceFailure(f"{what}: w2 (error code)", expected, regs[2] & _W, note, clause=clause)
    if conv:
        expect(f"{what}: x2 (error code, zero-extended)", regs[2], expected, "CONV-4: x2[63:32] = 0", clause="CONV-4")
        expect_unassigned_zero(what, regs, [1, 3, 4, 5, 6, 7])


def expect_unassigned_zero(what: str, regs: Regs, registers: Sequence[int]) -> None:
    """The ``registers`` of x1..x7 (those the interface does not assign) are 0 (CONV-5)."""
    for n in registers:
        expect(f"{what}: x{n} (not assigned by the interface)", regs[n], 0, f"result {shown(regs)}", clause="CONV-5")


def expect_preserved_x8_x17(what: str, regs: Regs, pattern: Mapping[int, int] = PATTERN, *, clause: ClauseArg = "CONV-5") -> None:
    """x8..x17 after the call still hold what the caller loaded (``pattern``, e.g. via
    ``hv.ffa_regs(..., extra=PATTERN)``): CONV-5, no interface here returns extended registers."""
    if len(regs) < 18:
        raise ValueError(f"{what}: {len(regs)} registers; x8..x17 need hv.ffa_regs")
    for n in range(8, 18):
        expect(f"{what}: x{n} (the caller's value)", regs[n], pattern[n], "x8..x17 are preserved", clause=clause)


def expect_version(what: str, x0: int, expected: int, note: str = "", *, clause: ClauseArg) -> None:
    """An FFA_VERSION result (§3): x0, all 64 bits, is ``expected`` -- a version word, or
    NOT_SUPPORTED = 0x00000000FFFFFFFF (not -1, not wrapped in FFA_SUCCESS)."""
    expect(f"{what}: FFA_VERSION result (x0)", x0, expected, note, clause=clause)


def expect_result(what: str, regs: Regs, expected: Sequence[int], note: str = "", *, clause: ClauseArg) -> None:
    """x0..x7 are exactly ``expected`` (all 64 bits each): a result that is neither FFA_SUCCESS nor
    FFA_ERROR (FFA_RUN's, CONV-6's unchanged registers, CONV-9's -1)."""
    got = tuple(regs[:8])
    want = tuple(expected)
    if got != want:
        diff = ", ".join(f"x{n}={g:#x} (expected {w:#x})" for n, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
        raise ConformanceFailure(what, want, got, f"{note}; {diff}" if note else diff, clause=clause)
