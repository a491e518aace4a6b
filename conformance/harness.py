"""What a conformance test holds: one booted system of the build under test, driven by the primary.

Every method that makes a hypercall goes through ``Session.call`` — the primary's driver executes
a real ``hvc`` (or ``smc``). This is the profile-free part; a profile's ``hv.py`` adds its calls by
name, with function IDs copied from its spec as literals, not taken from its ``abi.py``, so a wrong
number there cannot hide from the suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from conformance.outcomes import CallTimeout, ClauseArg, ConformanceFailure, GuestFault
from conformance.protocol import Build, BuildError, CallOutcome, GuestVM, Session, SystemConfig, TraceRecord, trace_records
from guest_asm import layout, programs
from profiles import Profile

#: How many YIELDs a profile's ``Hv.run`` runs through before it fails: a vCPU that is preempted
#: every time before it reaches its next event never gets there (it resumes where it was).
YIELD_LIMIT = 1000

#: Library layout (guest_asm's convention, not ABI): where library programs keep their pages.
SEND_PAGE = layout.LIB_SEND_PAGE
RECV_PAGE = layout.LIB_RECV_PAGE


def boot_session(build: Build, config: SystemConfig) -> Session:
    """Boot ``config`` on ``build``: the one place a boot failure becomes a :class:`BuildError`
    (ERROR, never a conformance FAIL). The caller closes the session."""
    try:
        return build.boot(config)
    except (BuildError, AssertionError):
        raise
    except Exception as e:
        raise BuildError(f"build {build.name!r} failed to boot: {type(e).__name__}: {e}") from e


def boot(build: Build, profile: Profile, *guests: GuestVM, time_slice: int = 10_000, fault_policy: str = "stop") -> Hv:
    """Boot ``guests`` on ``build`` and wrap the session in the profile's ``Hv`` (its ``hv.py``):
    what the ``boot`` fixture does, and what tests that boot inside Hypothesis examples call. The
    caller closes the session."""
    session = boot_session(build, SystemConfig(tuple(guests), time_slice, fault_policy, profile.name))
    hv_class: type[Hv] = profile.module("hv").Hv
    return hv_class(build, session, guests, profile)


class Hv:
    """One system of the build under test, as a test sees it: the calls every profile makes the
    same way (raw calls, memory, reports). A profile's ``hv.py`` subclasses it with its calls by name."""

    def __init__(self, build: Build, session: Session, guests: Sequence[GuestVM], profile: Profile) -> None:
        self.build = build
        self.session = session
        self.guests = tuple(guests)
        self.profile = profile
        self.log: list[str] = []  # the calls this test made, for the report

    # --- raw calls ------------------------------------------------------------------------

    def call_outcome(
        self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, regs: Mapping[int, int] | None = None, insn: str = "hvc #0"
    ) -> CallOutcome:
        """The primary executes one call; the outcome as the build reports it (may be a stop)."""
        outcome = self.session.call(x0, x1, x2, x3, regs=regs, insn=insn)
        name = self.profile.call_name(x0)
        shown = f"{insn} {name} x1={x1:#x} x2={x2:#x} x3={x3:#x}"
        if outcome.regs:
            result = self.profile.shown(outcome.regs[0], name)
            self.log.append(f"{shown} -> {result}")
        else:
            self.log.append(f"{shown} -> stopped")
        return outcome

    def call_regs(
        self,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        *,
        regs: Mapping[int, int] | None = None,
        insn: str = "hvc #0",
        clause: ClauseArg = None,
    ) -> tuple[int, ...]:
        """x0..x30 after the call; a stop (fault, budget, system off) ends the test as FAIL/TIMEOUT,
        counted against ``clause`` (the rule that says the call returns) or the test's clauses."""
        outcome = self.call_outcome(x0, x1, x2, x3, regs=regs, insn=insn)
        if outcome.regs:
            return outcome.regs
        if outcome.timeout is not None:
            raise CallTimeout(f"call x0={x0:#x} did not return: {outcome.timeout}", clause=clause)
        if outcome.fault is not None:
            blame = self.fault_clause(outcome.fault) or clause
            raise GuestFault(f"the system stopped on a guest fault during call x0={x0:#x}: {outcome.fault}", clause=blame)
        raise ConformanceFailure(f"call x0={x0:#x}", "a return to the primary", "the system switched off", clause=clause)

    def fault_clause(self, fault: object) -> ClauseArg:
        """The rule a guest fault that stopped the system breaks by where it is, when the fault
        itself says so (a profile's Hv overrides this); None: the call's (``call_regs``'s
        ``clause``). E.g. a store to a VM's own send page after configure (a page that stays
        writable)."""
        return None

    def call(self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, insn: str = "hvc #0", clause: ClauseArg = None) -> int:
        return self.call_regs(x0, x1, x2, x3, insn=insn, clause=clause)[0]

    # --- memory ---------------------------------------------------------------------------

    def base(self, vm: int) -> int:
        return self.session.base(vm)

    def write_send_page(self, data: bytes, vm: int = 0) -> None:
        """Put ``data`` at the start of ``vm``'s library send page (the primary's by default)."""
        self.session.write(vm, self.base(vm) + SEND_PAGE, data)

    def recv_page(self, size: int = layout.LIB_PAGE_SIZE, vm: int = 0) -> bytes:
        return self.session.read(vm, self.base(vm) + RECV_PAGE, size)

    def send_page(self, size: int = layout.LIB_PAGE_SIZE, vm: int = 0) -> bytes:
        return self.session.read(vm, self.base(vm) + SEND_PAGE, size)

    #: Report slots read at a time: a program writes a few; reading all 176 (44 KiB) each time
    #: costs a real image ~20 round trips of its gdb link.
    REPORT_CHUNK = 8

    def reports(self, vm: int) -> list[tuple[int, ...]]:
        """The report slots ``vm``'s library program wrote: x0..x30 after each observed step (read
        a few slots at a time, up to the first slot without the report magic)."""
        out: list[tuple[int, ...]] = []
        slot, total = layout.LIB_REPORT_SLOT, layout.LIB_REPORT_SLOTS
        start = self.base(vm) + layout.LIB_REPORT
        for first in range(0, total, self.REPORT_CHUNK):
            count = min(self.REPORT_CHUNK, total - first)
            got = programs.read_reports(self.session.read(vm, start + first * slot, count * slot))
            out += got
            if len(got) < count:
                break
        return out

    def report(self, vm: int, index: int) -> tuple[int, ...]:
        got = self.reports(vm)
        if index >= len(got):
            raise ConformanceFailure(f"VM {vm}'s report #{index}", f"at least {index + 1} reports", f"{len(got)} reports")
        return got[index]

    # --- checks ---------------------------------------------------------------------------

    def trace(self) -> list[TraceRecord]:
        return trace_records(self.session)


def expect(what: str, actual: object, expected: object, note: str = "", *, clause: ClauseArg = None) -> None:
    """Fail with ``what: expected X, got Y`` unless ``actual == expected``.

    ``clause``: the clause whose rule this check states (e.g. ``"RUN-5"`` for "a script that
    ends in wfi makes run return 0x1"). A failure counts against it alone; without it, against
    every clause the test is tagged with — so a test of several clauses names one in every check,
    and any test names it where a check states another clause's rule on the way.
    """
    if actual != expected:
        raise ConformanceFailure(what, expected, actual, note, clause=clause)
