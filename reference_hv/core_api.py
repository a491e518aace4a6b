"""What a profile's ABI core gives the machine layer: the interface between the scheduler
(:mod:`reference_hv.system`: registers, world switches) and ``profiles/<name>/core.py`` (the ABI).

A core is built from the VMs' layout and a copy function, and answers every trap the way
Hafnium's ``api_*`` functions do: with the caller's return value, or with the vCPU that runs next.

* :class:`Answer` -- ``ret``: the caller goes on with x0 = ``ret``; or ``next``: the caller is switched
  out and ``next`` runs; or ``system_off``: the run ends.
* :class:`Vcpu` -- what the scheduler knows of a vCPU: its VM, its index, and the value it receives
  in x0 when it next runs (``resume_x0``). A core subclasses it with its own states.
* The value a resumed vCPU receives is set in ONE place and applied in ONE place: the core writes
  ``resume_x0`` (through one helper of its own), before answering; the scheduler's switch
  (``System._switch``) reads it, delivers it (x0, x1..x17 zeroed) and clears it. The primary's
  run response is such a value: a core that switches to the primary sets it on the primary's vCPU.
* :class:`Core` -- the protocol a profile's ``Core`` class implements; :data:`CoreFactory` builds one.
* Wider results (FF-A: x0..x7, x8..x17 preserved): a core whose class sets ``CALL_REGISTERS = 8``
  gets x0..x7 in ``hypercall`` and ``smc``; its :class:`Answer` may carry ``regs`` (x1..x7 written
  with ``ret``, the registers after them kept) and its vCPUs ``resume_regs`` (the same for a
  pending value). A core with a ``attach_memory`` method is given :class:`GuestMemory` (read and
  write the VMs' memory) right after it is built. Cores without them work as before.

Nothing here knows a profile: states, mailboxes and function IDs are the core's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["Answer", "CopyFn", "Core", "CoreFactory", "GuestMemory", "Vcpu", "VmLayout"]


@dataclass(frozen=True, slots=True)
class VmLayout:
    """One VM as booted: its ID (= its index), its memory, its vCPUs.

    ``ready_vcpus``: how many vCPUs (from index 0) start with a boot context; a profile usually
    boots only vCPU 0 and this reference lets a test start more (``VMSpec.ready_vcpus``).
    """

    id: int
    base: int
    size: int
    vcpus: int
    ready_vcpus: int = 1


@dataclass(slots=True)
class Vcpu:
    """A vCPU as the scheduler sees it; a core subclasses it with its own state."""

    vm_id: int
    index: int
    #: x0 to deliver (with x1..x17 zeroed) when this vCPU next runs; None: it goes on with its
    #: registers as they were (after a preemption, at boot). Written by the core only, read and
    #: cleared by the scheduler only, in its switch to this vCPU.
    resume_x0: int | None = None
    #: With ``resume_x0``: x1..x7 to deliver with it, the registers after them keeping their values
    #: (a core with ``CALL_REGISTERS = 8``); None: x1..x17 are zeroed. Written and cleared as ``resume_x0``.
    resume_regs: tuple[int, ...] | None = None


class Answer(NamedTuple):
    """A core's answer to a trap (a call, a preemption, a ``wfi``, a fault).

    ``ret``: the caller's x0 now; it goes on running (None when it is switched out).
    ``next``: the vCPU that runs next; it receives its ``resume_x0``.
    ``system_off``: the run ends (e.g. PSCI_SYSTEM_OFF).
    ``regs``: with ``ret``, x1..x7 (seven values) written as given and x8..x17 kept (an FF-A
    result, or a call that changes nothing); None: x1..x17 zeroed (an ``hvc``) or x0 alone (an ``smc``).
    """

    ret: int | None
    next: Vcpu | None = None
    system_off: bool = False
    regs: tuple[int, ...] | None = None


#: ``copy(src_vm, src, dst_vm, dst, size)``: copy guest memory; supplied by the machine layer.
CopyFn = Callable[[int, int, int, int, int], None]


@dataclass(frozen=True, slots=True)
class GuestMemory:
    """The VMs' memory for a core that reads or writes it (an FF-A message header, partition
    descriptors): ``read(vm_id, addr, size) -> bytes``, ``write(vm_id, addr, data)``. Both ranges
    must lie in the VM's memory (the core checks; the machine layer refuses with an error)."""

    read: Callable[[int, int, int], bytes]
    write: Callable[[int, int, bytes], None]


class Core(Protocol):
    """The ABI core of one profile, for one booted system (VM 0 is the primary).

    Its class is called as ``Core(layout, copy)`` (:data:`CoreFactory`). Every method gets the
    trapping vCPU as (VM ID, vCPU index) and returns an :class:`Answer`.
    """

    def first(self) -> Vcpu:
        """The vCPU that runs first (the primary's)."""
        ...

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        """An ``hvc``, with x0..x3 as the caller left them (x0..x7 with ``CALL_REGISTERS = 8``).
        ``ret`` is returned with x1..x17 zeroed, or with ``regs`` (:class:`Answer`)."""
        ...

    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        """An ``smc`` (x0..x7 with ``CALL_REGISTERS = 8``). ``ret`` changes x0 only, or x0..x7 with ``regs``."""
        ...

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary vCPU's time slice ran out."""
        ...

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary vCPU executed ``wfi``."""
        ...

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary vCPU faulted and the system goes on (fault policy "continue")."""
        ...

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> object:
        """The vCPU's state in the core's own terms (introspection for tests)."""
        ...


#: Builds a core: ``CoreFactory(layout, copy)``; a profile's ``Core`` class is one.
CoreFactory = Callable[[Sequence[VmLayout], CopyFn], Core]
