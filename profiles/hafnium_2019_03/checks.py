"""Checks the ``hafnium-2019-03`` conformance tests share: each names the clause it states.

Values are literals of the text (``spec.md``), never taken from ``abi.py`` or from the build:

* ``REFUSED`` 0xFFFFFFFFFFFFFF02: WAIT_FOR_INTERRUPT with ns = INDEF -- a refused run (RUN-1,
  RUN-2) and a ``wfi`` with no timer enabled (RUN-5);
* ``WAIT_MESSAGE`` 0xFFFFFFFFFFFFFF03: a blocking receive that blocks, no timer (RUN-7);
* ``NOTHING`` 0x00000000FFFFFFFF: a receive with nothing (RECV-1, RECV-3, RUN-13) and
  HF_INTERRUPT_GET with no enabled+pending interrupt (WAIT-4) -- 32-bit values, not -1.

Multi-vCPU programs of this profile keep one report area per vCPU (:func:`vcpu_reports`).
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.harness import expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from guest_asm import layout, programs
from profiles.hafnium_2019_03.hv import ERR, Hv

#: RUN-1 / RUN-2 / RUN-5: ``WAIT_FOR_INTERRUPT, ns=INDEF``.
REFUSED = 0xFFFF_FFFF_FFFF_FF02
#: RUN-7: ``WAIT_FOR_MESSAGE, ns=INDEF``.
WAIT_MESSAGE = 0xFFFF_FFFF_FFFF_FF03
#: RECV-1 / RECV-3 / RUN-13 / WAIT-4: ``{0xffffffff, 0}`` (a uint32_t "none").
NOTHING = 0x0000_0000_FFFF_FFFF
#: §4 run codes (bits 7..0).
PREEMPTED = 0x0
YIELD = 0x1
WAIT_FOR_INTERRUPT = 0x2
WAIT_FOR_MESSAGE = 0x3
WAKE_UP = 0x4
MESSAGE = 0x5
NOTIFY_WAITERS = 0x6
ABORTED = 0x7
#: HF_SLEEP_INDEFINITE (types.h), the ``ns`` field (bits 63..8) of REFUSED and WAIT_MESSAGE.
INDEF = 0x00FF_FFFF_FFFF_FFFF

#: Report slots each vCPU of a multi-vCPU program of this profile owns (vCPU i's first slot is
#: ``LIB_REPORT + i * VCPU_REPORT_SLOTS * LIB_REPORT_SLOT``); see ``programs/vcpus_*.S``.
VCPU_REPORT_SLOTS = 32


def x0_of(hv: Hv, vm: int, index: int) -> int | str:
    """x0 of VM ``vm``'s report #``index``; when the VM made no such report, a description of that,
    so that the caller's ``expect`` fails with its own clause (a missing report is a wrong value)."""
    got = hv.reports(vm)
    return got[index][0] if index < len(got) else f"no report #{index} (VM {vm} made {len(got)})"


def report_of(hv: Hv, vm: int, index: int, clause: ClauseArg) -> tuple[int, ...]:
    """``hv.report``; a missing report (the guest never came back from a call) counts against
    ``clause``, the rule that says it comes back."""
    got = hv.reports(vm)
    if index >= len(got):
        raise ConformanceFailure(
            f"VM {vm}'s report #{index}", f"at least {index + 1} reports", f"{len(got)} reports", clause=clause
        )
    return got[index]


def expect_load_order(hv: Hv, vm: int, idle: int) -> None:
    """A test's script, loaded as VM ``vm``, ran without leaving a report: if the idle guest
    loaded as VM ``idle`` reports once it has had its turn, the script runs under another ID --
    VMs numbered out of load order (VM-1), not the calls the test checks next."""
    if hv.reports(vm):
        return
    hv.run(idle, clause="RUN-5")
    what = f"reports of VM {idle} (an idle guest, loaded before) once it has had its turn"
    expect(what, len(hv.reports(idle)), 0, clause="VM-1")


def vcpu_reports(hv: Hv, vm: int, vcpu: int) -> list[tuple[int, ...]]:
    """The reports vCPU ``vcpu`` of a multi-vCPU program (``vcpus_*.S``) wrote in its own area."""
    size = VCPU_REPORT_SLOTS * layout.LIB_REPORT_SLOT
    start = hv.base(vm) + layout.LIB_REPORT + vcpu * size
    return programs.read_reports(hv.session.read(vm, start, size))


def vcpu_x0_of(hv: Hv, vm: int, vcpu: int, index: int) -> int | str:
    """:func:`x0_of` for vCPU ``vcpu``'s own report area (:func:`vcpu_reports`)."""
    got = vcpu_reports(hv, vm, vcpu)
    return got[index][0] if index < len(got) else f"no report #{index} (VM {vm} vCPU {vcpu} made {len(got)})"


def expect_calls(
    what: str, got: Sequence[int | str], expected: Sequence[int], probes: Sequence[ClauseArg], *, clause: ClauseArg = None
) -> None:
    """``expect(what, got, expected)`` for the x0 of a script's calls, where ``probes[i]`` is the
    rule of call i's own answer when the call is only a marker (e.g. "VM-2" for an HF_VM_GET_ID)
    and None where the answer is what the test checks. When the first wrong answer is a probe's
    and every answer of that probe is wrong, the probe's own rule broke (what came after may
    follow from it): it is blamed. Anything else -- a missing answer, one wrong answer of several
    alike -- breaks ``clause`` (default: the test's)."""
    if len(got) == len(expected):
        wrong = [i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
        probe = probes[wrong[0]] if wrong else None
        if probe is not None and all(got[i] != expected[i] for i, p in enumerate(probes) if p == probe):
            clause = probe
    expect(what, list(got), list(expected), clause=clause)


def expect_err(what: str, actual: int | str, note: str = "", *, clause: ClauseArg = None) -> None:
    """``expect(what, actual, -1)``: the call was refused with -1 in all 64 bits."""
    expect(what, actual, ERR, note, clause=clause)


def expect_refused(what: str, actual: int | str, *, clause: ClauseArg) -> None:
    """A run the text refuses: exactly 0xFFFFFFFFFFFFFF02 (RUN-1, RUN-2; also RUN-5's unarmed wfi)."""
    expect(what, actual, REFUSED, "WAIT_FOR_INTERRUPT with ns = HF_SLEEP_INDEFINITE", clause=clause)


def expect_wait_armed(what: str, actual: int, code: int, *, clause: ClauseArg) -> None:
    """RUN-5 / RUN-7 / RUN-2 with the vCPU's virtual timer enabled: code ``code`` in bits 7..0 and
    ns (bits 63..8) any value but HF_SLEEP_INDEFINITE 0x00FFFFFFFFFFFFFF (its exact value is
    implementation-defined, the text's Strength paragraph)."""
    expect(f"{what}: the code (bits 7..0)", actual & 0xFF, code, clause=clause)
    if actual >> 8 == INDEF:
        raise ConformanceFailure(
            f"{what}: ns (bits 63..8)",
            "the timer's remaining time: not HF_SLEEP_INDEFINITE",
            f"{actual:#018x}: ns = HF_SLEEP_INDEFINITE 0x00ffffffffffffff",
            "RUN-5: ns = remaining virtual-timer time if the vCPU's timer is enabled",
            clause=clause,
        )
