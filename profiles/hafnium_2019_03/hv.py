"""The ``hafnium-2019-03`` calls by name, as a conformance test makes them from the primary.

Function IDs are literals copied from ``spec.md`` §2 (ID-1..ID-14), on purpose not taken from
``abi.py``: a wrong number there cannot hide from the suite.

``program()`` and ``script()`` make secondaries that run this profile's guest programs
(``programs.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance import harness
from conformance.harness import SEND_PAGE, YIELD_LIMIT, expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from conformance.protocol import Build, GuestVM, fault_vm
from guest_asm import layout
from profiles.hafnium_2019_03 import programs

HF_VM_GET_ID = 0xFF00
HF_VM_GET_COUNT = 0xFF01
HF_VCPU_GET_COUNT = 0xFF02
HF_VCPU_RUN = 0xFF03
HF_VCPU_YIELD = 0xFF04
HF_VM_CONFIGURE = 0xFF05
HF_MAILBOX_SEND = 0xFF06
HF_MAILBOX_RECEIVE = 0xFF07
HF_MAILBOX_CLEAR = 0xFF08
HF_MAILBOX_WRITABLE_GET = 0xFF09
HF_MAILBOX_WAITER_GET = 0xFF0A
HF_INTERRUPT_ENABLE = 0xFF0B
HF_INTERRUPT_GET = 0xFF0C
HF_INTERRUPT_INJECT = 0xFF0D
ERR = 0xFFFF_FFFF_FFFF_FFFF
PREEMPTED = 0x0  # §4: the run code of a preemption by a physical interrupt (RUN-4)


def program(name: str, *, memory: int = 0x10_0000, vcpus: int = 1, ready_vcpus: int = 1, **params: int) -> GuestVM:
    """A secondary running a program of this profile's guest library."""
    return GuestVM(programs.source(name, **params), f"{name}.S", memory, vcpus, ready_vcpus)


def script(*steps: programs.Step, memory: int = 0x10_0000, name: str = "script.S") -> GuestVM:
    """A secondary that executes ``steps`` (``programs.Call``, ``Fill``, ...), reporting after each."""
    return GuestVM(programs.script_source(steps), name, memory)


def preemptions_exhausted(what: str, why: str, clause: ClauseArg) -> ConformanceFailure:
    """The failure of a run that answered PREEMPTED (0x0) :data:`YIELD_LIMIT` times in a row,
    counted against ``clause``; ``why`` says why another response was due."""
    return ConformanceFailure(
        f"{what} through PREEMPTEDs",
        f"a response other than PREEMPTED within {YIELD_LIMIT} runs ({why})",
        f"PREEMPTED 0x0000000000000000, {YIELD_LIMIT} times in a row",
        clause=clause,
    )


def boot(build: Build, *guests: GuestVM, time_slice: int = 10_000, fault_policy: str = "stop") -> Hv:
    """:func:`conformance.harness.boot` for this profile (tests that boot inside Hypothesis examples)."""
    from profiles.hafnium_2019_03 import PROFILE

    hv = harness.boot(build, PROFILE, *guests, time_slice=time_slice, fault_policy=fault_policy)
    assert isinstance(hv, Hv)
    return hv


class Hv(harness.Hv):
    """One system of the build under test, with this profile's calls by name."""

    def fault_clause(self, fault: object) -> ClauseArg:
        """A secondary's fault at its own send page (the library's, where every program of the
        suite writes what it sends) breaks CFG-4: the send page stays read-write after configure
        (and is plain memory of the VM before)."""
        vm, address = fault_vm(fault), getattr(fault, "address", None)
        if vm is None or not 0 <= vm <= len(self.guests) or not isinstance(address, int):
            return None
        send = self.base(vm) + SEND_PAGE
        return "CFG-4" if send <= address < send + layout.LIB_PAGE_SIZE else None

    def vm_id(self) -> int:
        return self.call(HF_VM_GET_ID)

    def vm_count(self) -> int:
        return self.call(HF_VM_GET_COUNT)

    def vcpu_count(self, vm: int) -> int:
        return self.call(HF_VCPU_GET_COUNT, vm)

    def run_once(self, vm: int, vcpu: int = 0) -> int:
        """One HF_VCPU_RUN: its raw response, PREEMPTED (0x0) included."""
        return self.call(HF_VCPU_RUN, vm, vcpu)

    def run(self, vm: int, vcpu: int = 0, *, clause: ClauseArg = None, stop_clause: ClauseArg = None) -> int:
        """HF_VCPU_RUN again while it returns PREEMPTED (0x0): the first other response.

        A build may preempt a secondary at any time (RUN-4: the time slice is implementation-
        defined), so a test that waits for an event must not depend on it; ``run_once`` sees the
        PREEMPTEDs. YIELD (0x1, RUN-6) is the secondary's own doing and is returned. Bounded:
        after ``YIELD_LIMIT`` PREEMPTEDs in a row it fails, counted against ``clause`` (the event
        the caller waits for) or the test's clauses. A run the text refuses (RUN-1, RUN-2) is
        checked with ``run_once``: a PREEMPTED there is a wrong value, not a preemption.
        ``stop_clause`` (default ``clause``): what a run that never returns, or stops the system,
        counts against -- e.g. the refused hypercall the secondary makes in that run.
        """
        for _ in range(YIELD_LIMIT):
            response = self.call(HF_VCPU_RUN, vm, vcpu, clause=stop_clause or clause)
            if response != PREEMPTED:
                return response
        raise preemptions_exhausted(f"run({vm:#x}, {vcpu:#x})", "RUN-4: a preempted vCPU stays ready", clause)

    def yield_(self, *, clause: ClauseArg = None) -> int:
        """HF_VCPU_YIELD from the primary (RUN-6: a no-op returning 0)."""
        return self.call(HF_VCPU_YIELD, clause=clause)

    def configure(self, send: int | None = None, recv: int | None = None, *, clause: ClauseArg = None) -> int:
        """The primary configures its pages (default: the library's pages in its memory).

        ``clause`` (here and below): what the call not returning counts against."""
        base = self.base(0)
        send = base + SEND_PAGE if send is None else send
        return self.call(HF_VM_CONFIGURE, send, base + harness.RECV_PAGE if recv is None else recv, clause=clause)

    def send(self, to: int, size: int, notify: int = 0, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_SEND, to, size, notify, clause=clause)

    def receive(self, block: int = 0, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_RECEIVE, block, clause=clause)

    def clear(self, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_CLEAR, clause=clause)

    def writable_get(self, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_WRITABLE_GET, clause=clause)

    def waiter_get(self, vm: int, *, clause: ClauseArg = None) -> int:
        return self.call(HF_MAILBOX_WAITER_GET, vm, clause=clause)

    def interrupt_enable(self, intid: int, enable: int = 1, *, clause: ClauseArg = None) -> int:
        return self.call(HF_INTERRUPT_ENABLE, intid, enable, clause=clause)

    def interrupt_get(self, *, clause: ClauseArg = None) -> int:
        return self.call(HF_INTERRUPT_GET, clause=clause)

    def interrupt_inject(self, vm: int, vcpu: int, intid: int, *, clause: ClauseArg = None) -> int:
        return self.call(HF_INTERRUPT_INJECT, vm, vcpu, intid, clause=clause)


def expect_zero_x1_x17(what: str, regs: Sequence[int]) -> None:
    """CALL-5: x1..x17 are zero after a hypercall returns."""
    for n in range(1, 18):
        expect(f"{what}: x{n}", regs[n], 0, "CALL-5: x1..x17 are zero after a hypercall", clause="CALL-5")
