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
* :class:`Platform` -- what the machine layer does for a core besides switching: calling it copies
  guest memory (it is a :data:`CopyFn`); ``read`` / ``write`` read and write a VM's memory (an FF-A
  message header, partition descriptors); ``protect`` makes a page read-only to its VM (stage 2);
  ``set_irq`` sets a vCPU's virtual IRQ line; ``timer`` / ``mask_timer`` read and mask a vCPU's
  virtual timer. A core that only copies may take it as a plain ``CopyFn``.
* Wider results (FF-A: x0..x7, x8..x17 preserved): a core whose class sets ``CALL_REGISTERS = 8``
  gets x0..x7 in ``hypercall`` and ``smc``; its :class:`Answer` may carry ``regs`` (x1..x7 written
  with ``ret``, the registers after them kept) and its vCPUs ``resume_regs`` (the same for a
  pending value). Cores without them work as before.

Nothing here knows a profile: states, mailboxes and function IDs are the core's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["Answer", "CopyFn", "Core", "CoreFactory", "Platform", "TimerState", "Vcpu", "VmLayout"]


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


class TimerState(NamedTuple):
    """A vCPU's virtual timer as the hypervisor sees it (:meth:`Platform.timer`).

    ``ctl``, ``cval``: the guest's CNTV_CTL_EL0 (bit 0 ENABLE, bit 1 IMASK) and CNTV_CVAL_EL0;
    ``counter``: the virtual counter the hypervisor decides with (the machine layer's rule: it is
    deterministic, and the guest's CNTVCT_EL0 reads the same value); ``frequency``: CNTFRQ_EL0 in Hz.
    """

    ctl: int
    cval: int
    counter: int
    frequency: int


class Platform(Protocol):
    """The machine layer's services to a core (built as ``Core(layout, platform)``).

    Calling it copies guest memory (a :data:`CopyFn`; the hypervisor's own writes ignore the
    guest's stage-2 permissions). Everything else is addressed by (VM ID, vCPU index).
    """

    def __call__(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        """Copy ``size`` bytes of guest memory (both ranges inside their VM)."""
        ...

    def read(self, vm_id: int, addr: int, size: int) -> bytes:
        """``size`` bytes of the VM's memory at ``addr`` (the range inside its memory)."""
        ...

    def write(self, vm_id: int, addr: int, data: bytes) -> None:
        """Write ``data`` into the VM's memory at ``addr``, whatever the guest's stage-2 permissions."""
        ...

    def protect(self, vm_id: int, addr: int, size: int, writable: bool) -> None:
        """Stage 2: make ``[addr, addr + size)`` of the VM read-only to its guest (``writable``
        False) or writable again. A guest write to a read-only page is a fault (``Core.aborted``
        with fault policy "continue"). Page-aligned ranges only."""
        ...

    def set_irq(self, vm_id: int, vcpu_idx: int, asserted: bool) -> None:
        """The vCPU's virtual IRQ line (HCR_EL2.VI): while asserted, the guest takes the IRQ
        exception at VBAR_EL1 whenever its PSTATE.I is clear, as hardware does."""
        ...

    def timer(self, vm_id: int, vcpu_idx: int) -> TimerState:
        """The vCPU's virtual timer registers now."""
        ...

    def mask_timer(self, vm_id: int, vcpu_idx: int) -> None:
        """Set the vCPU's CNTV_CTL_EL0.IMASK (the guest sees it)."""
        ...


class Core(Protocol):
    """The ABI core of one profile, for one booted system (VM 0 is the primary).

    Its class is called as ``Core(layout, platform)`` (:data:`CoreFactory`). Every method gets the
    trapping vCPU as (VM ID, vCPU index) and returns an :class:`Answer`.

    Optional: ``wait_for_event(vm_id, vcpu_idx) -> Answer | None``, called when a vCPU executes
    ``wfe`` (None: it goes on). A core without it leaves ``wfe`` to the CPU (a no-op in Unicorn)
    and the machine layer installs no ``wfe`` trap.

    Optional: ``inject_write_fault(vm_id, vcpu_idx, address) -> bool``, called when a secondary
    vCPU writes to a page the core made read-only (``Platform.protect``). True: the fault is the
    guest's -- the machine layer takes a Data Abort to the vCPU's own EL1 vector (ESR_EL1 EC 0x25,
    WnR, permission fault; FAR_EL1 = the address) and the vCPU goes on there; False (or no such
    method): a fault of the system (the run stops, or ``aborted`` with fault policy "continue").
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


#: Builds a core: ``CoreFactory(layout, platform)``; a profile's ``Core`` class is one (a core
#: that takes a plain :data:`CopyFn` is one too: the platform is one).
CoreFactory = Callable[[Sequence[VmLayout], Platform], Core]
