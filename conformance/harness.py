"""What a conformance test holds: one booted system of the build under test, driven by the primary.

Every method that makes a hypercall goes through ``Session.call`` — the primary's driver executes
a real ``hvc`` (or ``smc``). Function IDs here are literals copied from the spec (§2), not taken
from the project's ABI module, so a wrong number there cannot hide from the suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from conformance import decode
from conformance.outcomes import CallTimeout, ClauseArg, ConformanceFailure, GuestFault
from conformance.protocol import Build, CallOutcome, GuestVM, Session, describe_trace
from guest_asm import abi, programs

# Spec §2 (ID-1..ID-7), written out on purpose.
HF_VCPU_RUN = 0xFF00
HF_VM_GET_COUNT = 0xFF01
HF_VCPU_GET_COUNT = 0xFF02
HF_VM_CONFIGURE = 0xFF03
HF_MAILBOX_SEND = 0xFF04
HF_MAILBOX_RECEIVE = 0xFF05
HF_MAILBOX_CLEAR = 0xFF06
ERR = 0xFFFF_FFFF_FFFF_FFFF
#: How many YIELDs ``Hv.run`` runs through before it fails: a vCPU that is preempted every time
#: before it reaches its next event never gets there (RUN-4: it resumes where it was).
YIELD_LIMIT = 1000

#: Library layout (guest_asm's convention, not ABI): where library programs keep their pages.
SEND_PAGE = abi.LIB_SEND_PAGE
RECV_PAGE = abi.LIB_RECV_PAGE


def program(name: str, *, memory: int = 0x10_0000, vcpus: int = 1, ready_vcpus: int = 1, **params: int) -> GuestVM:
    """A secondary running a program of the guest library."""
    return GuestVM(programs.source(name, **params), f"{name}.S", memory, vcpus, ready_vcpus)


def script(*steps: programs.Step, memory: int = 0x10_0000, name: str = "script.S") -> GuestVM:
    """A secondary that executes ``steps`` (``programs.Call``, ``Fill``, ...), reporting after each."""
    return GuestVM(programs.script_source(steps), name, memory)


class Hv:
    """One system of the build under test, as a test sees it."""

    def __init__(self, build: Build, session: Session, guests: Sequence[GuestVM]) -> None:
        self.build = build
        self.session = session
        self.guests = tuple(guests)
        self.log: list[str] = []  # the calls this test made, for the report

    # --- raw calls ------------------------------------------------------------------------

    def call_outcome(
        self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, regs: Mapping[int, int] | None = None, insn: str = "hvc #0"
    ) -> CallOutcome:
        """The primary executes one call; the outcome as the build reports it (may be a stop)."""
        outcome = self.session.call(x0, x1, x2, x3, regs=regs, insn=insn)
        shown = f"{insn} {decode.call_name(x0)} x1={x1:#x} x2={x2:#x} x3={x3:#x}"
        if outcome.regs:
            result = decode.shown(outcome.regs[0], decode.call_name(x0))
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
            raise GuestFault(f"the system stopped on a guest fault during call x0={x0:#x}: {outcome.fault}", clause=clause)
        raise ConformanceFailure(f"call x0={x0:#x}", "a return to the primary", "the system switched off", clause=clause)

    def call(self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, insn: str = "hvc #0", clause: ClauseArg = None) -> int:
        return self.call_regs(x0, x1, x2, x3, insn=insn, clause=clause)[0]

    # --- the calls by name (primary) ------------------------------------------------------

    def run_once(self, vm: int, vcpu: int = 0) -> int:
        """One HF_VCPU_RUN: its raw response, YIELD (0x0) included."""
        return self.call(HF_VCPU_RUN, vm, vcpu)

    def run(self, vm: int, vcpu: int = 0, *, clause: ClauseArg = None, stop_clause: ClauseArg = None) -> int:
        """HF_VCPU_RUN again while it returns YIELD (0x0): the first other response.

        A build may preempt a secondary at any time (RUN-4), so a test that waits for an event
        must not depend on the time slice; ``run_once`` sees the YIELDs. Bounded: after
        ``YIELD_LIMIT`` YIELDs in a row it fails, counted against ``clause`` (the event the
        caller waits for) or the test's clauses. A run the spec refuses (RUN-2: no switch) is
        checked with ``run_once``: a YIELD there is a wrong value, not a preemption.
        ``stop_clause`` (default ``clause``): what a run that never returns, or stops the system,
        counts against -- e.g. the refused hypercall the secondary makes in that run.
        """
        for _ in range(YIELD_LIMIT):
            response = self.call(HF_VCPU_RUN, vm, vcpu, clause=stop_clause or clause)
            if response != 0x0:
                return response
        raise ConformanceFailure(
            f"run({vm:#x}, {vcpu:#x}) through YIELDs",
            f"a response other than YIELD within {YIELD_LIMIT} runs (RUN-4: a preempted vCPU resumes where it was)",
            f"YIELD 0x0000000000000000, {YIELD_LIMIT} times in a row",
            clause=clause,
        )

    def vm_count(self) -> int:
        return self.call(HF_VM_GET_COUNT)

    def vcpu_count(self, vm: int) -> int:
        return self.call(HF_VCPU_GET_COUNT, vm)

    def configure(self, send: int | None = None, recv: int | None = None, *, clause: ClauseArg = None) -> int:
        """The primary configures its pages (default: the library's pages in its memory).

        ``clause`` (here and below): what the call not returning counts against."""
        base = self.base(0)
        send = base + SEND_PAGE if send is None else send
        return self.call(HF_VM_CONFIGURE, send, base + RECV_PAGE if recv is None else recv, clause=clause)

    def send(self, to: int, size: int, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_SEND, to, size, clause=clause)

    def receive(self, block: int = 0, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_RECEIVE, block, clause=clause)

    def clear(self, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_CLEAR, clause=clause)

    # --- memory ---------------------------------------------------------------------------

    def base(self, vm: int) -> int:
        return self.session.base(vm)

    def write_send_page(self, data: bytes, vm: int = 0) -> None:
        """Put ``data`` at the start of ``vm``'s library send page (the primary's by default)."""
        self.session.write(vm, self.base(vm) + SEND_PAGE, data)

    def recv_page(self, size: int = abi.PAGE_SIZE, vm: int = 0) -> bytes:
        return self.session.read(vm, self.base(vm) + RECV_PAGE, size)

    def send_page(self, size: int = abi.PAGE_SIZE, vm: int = 0) -> bytes:
        return self.session.read(vm, self.base(vm) + SEND_PAGE, size)

    def reports(self, vm: int) -> list[tuple[int, ...]]:
        """The report slots ``vm``'s library program wrote: x0..x30 after each observed step."""
        size = abi.LIB_REPORT_SLOTS * abi.LIB_REPORT_SLOT
        return programs.read_reports(self.session.read(vm, self.base(vm) + abi.LIB_REPORT, size))

    def report(self, vm: int, index: int) -> tuple[int, ...]:
        got = self.reports(vm)
        if index >= len(got):
            raise ConformanceFailure(f"VM {vm}'s report #{index}", f"at least {index + 1} reports", f"{len(got)} reports")
        return got[index]

    # --- checks ---------------------------------------------------------------------------

    def trace(self) -> Sequence[str]:
        return describe_trace(self.session)


def expect(what: str, actual: object, expected: object, note: str = "", *, clause: ClauseArg = None) -> None:
    """Fail with ``what: expected X, got Y`` unless ``actual == expected``.

    ``clause``: the clause whose rule this check states (e.g. ``"RUN-5"`` for "a script that
    ends in wfi makes run return 0x1"). A failure counts against it alone; without it, against
    every clause the test is tagged with — so a test of several clauses names one in every check,
    and any test names it where a check states another clause's rule on the way.
    """
    if actual != expected:
        raise ConformanceFailure(what, expected, actual, note, clause=clause)


def expect_zero_x1_x17(what: str, regs: Sequence[int]) -> None:
    """CALL-5: x1..x17 are zero after a hypercall returns."""
    for n in range(1, 18):
        expect(f"{what}: x{n}", regs[n], 0, "CALL-5: x1..x17 are zero after a hypercall", clause="CALL-5")
