"""The protocol a hypervisor build implements to be judged by this suite.

It is deliberately small (see ``docs/alternate-builds.md``):

* a **build** object with a ``name`` and ``boot(config) -> Session``;
* a **session** — one booted system: the primary runs the project's primary driver
  (``guest_asm.programs.driver_source()``) and each secondary runs the assembly source given in
  the config, assembled by the build at the base address it gives that VM;
* ``session.call(...)`` makes the primary execute one real ``hvc``/``smc`` and returns x0..x30
  as the primary saw them after it, or says why the system stopped first;
* ``session.base / read / write`` give debugger-style access to guest memory (the suite reads
  the secondaries' report slots and the primary's recv page; it writes only data, never code).

Nothing here imports the bundled reference: any object with these attributes is a build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Optional features a build may declare in ``capabilities``; tests that need one are SKIPPED
#: (reported as "unsupported") on a build without it.
CAP_READY_VCPUS = "ready_vcpus"  # GuestVM.ready_vcpus > 1: several vCPUs of a VM ready at boot
CAP_FAULT_CONTINUE = "fault_continue"  # after a secondary's fault the primary's run returns and the system goes on


@dataclass(frozen=True)
class GuestVM:
    """A secondary VM: assembly source in this project's dialect, assembled at the VM's base."""

    source: str
    name: str = "guest"
    memory: int = 0x10_0000
    vcpus: int = 1
    ready_vcpus: int = 1  # > 1 needs CAP_READY_VCPUS


@dataclass(frozen=True)
class SystemConfig:
    """What to boot: the primary (always the driver) plus these secondaries, VM IDs 1..N in order."""

    secondaries: tuple[GuestVM, ...] = ()
    #: Instructions a secondary runs before it is preempted (RUN-4); a hint a build may ignore.
    time_slice: int = 10_000
    #: What a build does after a secondary's fault: "stop" the system, or "continue" (CAP_FAULT_CONTINUE).
    fault_policy: str = "stop"


class Fault(Protocol):
    """A guest fault, as the suite reads it (never by parsing ``str()``): which VM and vCPU, where.

    ``kind`` is free text (e.g. "data abort (read from unmapped address)"); ``address`` the
    faulting address where there is one. ``str()`` is what the report shows.
    """

    @property
    def vm(self) -> int: ...

    @property
    def vcpu(self) -> int: ...

    @property
    def pc(self) -> int: ...

    @property
    def address(self) -> int | None: ...

    @property
    def kind(self) -> str: ...


def fault_vm(fault: object) -> int | None:
    """The VM a build's fault names (its ``vm`` attribute), or None if it names none."""
    vm = getattr(fault, "vm", None)
    return vm if isinstance(vm, int) and not isinstance(vm, bool) else None


class CallOutcome(Protocol):
    """What ``Session.call`` returns."""

    @property
    def regs(self) -> tuple[int, ...]:
        """x0..x30 after the instruction; empty when the system stopped before it returned."""
        ...

    @property
    def fault(self) -> Fault | None:
        """A guest fault that stopped the system: a :class:`Fault` (vm, vcpu, pc, address, kind)."""
        ...

    @property
    def timeout(self) -> object | None:
        """The build's budget ran out before the primary's instruction returned."""
        ...

    @property
    def system_off(self) -> bool: ...


@runtime_checkable
class Session(Protocol):
    """One booted system."""

    def call(
        self,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        *,
        regs: Mapping[int, int] | None = None,
        insn: str = "hvc #0",
    ) -> CallOutcome:
        """The primary executes ``insn`` (one of ``guest_asm.abi.DRIVER_OPS``) with x0..x3 and ``regs`` (x4..x30)."""
        ...

    def base(self, vm: int) -> int:
        """The first address of ``vm``'s memory."""
        ...

    def read(self, vm: int, addr: int, size: int) -> bytes: ...

    def write(self, vm: int, addr: int, data: bytes) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Build(Protocol):
    """A hypervisor build under test."""

    name: str
    capabilities: frozenset[str]

    def boot(self, config: SystemConfig) -> Session: ...


class BuildError(Exception):
    """The build or its environment is broken (reported as ERROR, never as a conformance FAIL)."""


def describe_trace(session: Session) -> Sequence[str]:
    """The session's hypercall trace as text lines, if the build keeps one (``session.trace``)."""
    trace = getattr(session, "trace", None)
    if trace is None:
        return ()
    return [str(e) for e in trace]
