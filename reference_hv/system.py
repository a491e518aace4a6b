"""A booted system: the VMs' machines, a profile's ABI core, and the scheduler that runs one physical CPU.

The scheduler lives in Python, outside Unicorn's callbacks: it runs the current vCPU
(:meth:`Machine.run`) until it stops -- a call the core answered with a switch, a ``wfi``, the
end of a time slice, a fault, the primary driver handing back to Python -- and the core's
:class:`~reference_hv.core_api.Answer` names the vCPU that runs next (:meth:`System._switch`).
Calls the core answers with a value are answered inside the interrupt hook, and the guest goes on
in the same run.

The hooks never raise into Unicorn's C: each records what stopped the CPU in ``System._stop``
(the core's :class:`Answer` to a call, a :class:`Fault`, or one of the small stop classes below)
and asks the CPU to stop.

Besides switching, the core gets the machine layer's services through ``System.platform``
(:class:`~reference_hv.core_api.Platform`): guest-memory copies, read-only pages (stage 2: a guest
write is a fault, aborting the VM with fault policy "continue"), each vCPU's virtual IRQ line
(HCR_EL2.VI: the CPU takes the IRQ at VBAR_EL1 as hardware does) and virtual timer (emulated,
with a counter that stands still: deterministic). ``wfi`` is always trapped, ``wfe`` too when the
core handles it (``wait_for_event``).

Deliberately wrong builds change the machine layer through :meth:`System.intercept` (hooks
before and after the core answers an ``hvc`` or ``smc``, after a vCPU receives its x0), never
by subclassing ``System``.
"""

from __future__ import annotations

import ctypes
import importlib
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast, overload

import profiles
from guest_asm import layout, programs
from guest_asm.assembler import Image, assemble
from reference_hv.core_api import Answer, Core, CoreFactory, TimerState, Vcpu, VmLayout
from reference_hv.machine import (
    INTNO_BRK,
    INTNO_DATA_ABORT,
    INTNO_HVC,
    INTNO_PREFETCH_ABORT,
    INTNO_SMC,
    INTNO_SVC,
    INTNO_UNDEF,
    STATUS_FETCH_PROT,
    STATUS_FETCH_UNMAPPED,
    STATUS_WRITE_PROT,
    TIMER_INSNS,
    UNTIL,
    VIRTUAL_COUNTER,
    X_REGS,
    Machine,
    status_text,
)
from reference_hv.trace import RawEvent, TraceRecord, events

_INTNO_KINDS = {
    INTNO_UNDEF: "undefined instruction",
    # Taken with the guest's MMU on (a translation or permission fault of its own page tables).
    INTNO_PREFETCH_ABORT: "instruction abort (prefetch abort, guest MMU on)",
    INTNO_DATA_ABORT: "data abort (guest MMU on)",
    INTNO_SVC: "svc (exception the ABI does not define)",
    INTNO_BRK: "breakpoint (brk)",
}

MASK64 = layout.MASK64
_new_object = object.__new__
_memmove = ctypes.memmove
_BLOCK_IN = struct.Struct("<32Q")  # op, x0..x30 (DRIVER_OP, DRIVER_IN)
_BLOCK_OUT = struct.Struct("<31Q")  # x0..x30 (DRIVER_OUT)
_BLOCK_CALL = struct.Struct("<5Q")  # op, x0..x3: a call without ``regs``
_ZERO_REGS = (0,) * 31
_DRIVER_OP = {insn: n for n, insn in enumerate(layout.DRIVER_OPS)}
_U32 = struct.Struct("<I")
assert layout.DRIVER_IN == 8 and layout.DRIVER_OP == 0

INSN_DC_ZVA = 0xD50B7420  # dc zva, Xt (Rt in bits 4..0)
INSN_ERET = 0xD69F03E0
LEGAL_ERET_MODES = frozenset({0b0000, 0b0100, 0b0101})  # EL0t, EL1t, EL1h
DC_ZVA_BLOCK = 64
#: ESR_EL1 of a Data Abort injected for a write to a read-only page: EC 0x25 (data abort, same EL),
#: IL (32-bit instruction), WnR (a write), DFSC 0b001111 (permission fault, level 3).
ESR_DATA_ABORT_WRITE_PERMISSION = 0x25 << 26 | 1 << 25 | 1 << 6 | 0b001111  # DCZID_EL0.BS of the emulated CPU: 2**4 words
INSN_WFI = layout.INSN_WFI
INSN_WFE = layout.INSN_WFE
_RT = 0x1F  # the Rt field of a system-register instruction

DEFAULT_BASE = 0x4000_0000
VM_ALIGN = 0x10_0000
MAX_VMS = 64
MAX_VCPUS = 64
MAX_MEMORY = 64 * 1024 * 1024
#: The largest budget, time slice or switch count: Unicorn counts instructions in a u64, and
#: 2**64 would wrap to 0 (= no limit).
MAX_COUNT = 1 << 62


class HarnessError(Exception):
    """The harness cannot do what was asked (bad configuration, a halted system, an internal bug)."""


class ConfigError(HarnessError, ValueError):
    """A system description that cannot be booted."""


class SystemHalted(HarnessError):
    """A call on a system that already stopped (fault, PSCI_SYSTEM_OFF, budget exhausted)."""


@dataclass(frozen=True)
class VMSpec:
    """One VM to boot: its program's assembly source (assembled at the VM's base), memory, vCPUs.

    ``ready_vcpus`` > 1 is an extension of this reference (VM-4 boots only vCPU 0): the first
    ``ready_vcpus`` vCPUs start ready at the entry point with x0 = their index, which makes the
    order in which blocked vCPUs are woken (SEND-9) observable.
    """

    source: str
    name: str = "guest"
    memory: int = 0x10_0000
    vcpus: int = 1
    ready_vcpus: int = 1

    @classmethod
    def program(
        cls, program: str, *, memory: int = 0x10_0000, vcpus: int = 1, profile: str = profiles.DEFAULT, **params: int
    ) -> VMSpec:
        """A VM running a program of the guest library, e.g. ``VMSpec.program("relay", NEXT_HOP=2)``."""
        library = importlib.import_module(f"{profiles.get(profile).package}.programs").LIBRARY
        return cls(library.source(program, **params), name=f"{program}.S", memory=memory, vcpus=vcpus)


@dataclass(frozen=True)
class Fault:
    """A guest exception the ABI does not define (§10): where and what."""

    vm: int
    vcpu: int
    pc: int
    kind: str
    address: int | None = None

    def __str__(self) -> str:
        addr = "" if self.address is None else f", address {self.address:#x}"
        return f"VM {self.vm} vCPU {self.vcpu}: {self.kind} at PC {self.pc:#x}{addr}"


@dataclass(frozen=True)
class Timeout:
    """The instruction or world-switch budget ran out before the primary handed back."""

    vm: int
    vcpu: int
    pc: int
    instructions: int
    switches: int

    def __str__(self) -> str:
        return (
            f"budget exhausted after {self.instructions} instructions and {self.switches} world switches; "
            f"VM {self.vm} vCPU {self.vcpu} was running at PC {self.pc:#x}"
        )


@dataclass(frozen=True)
class CallResult:
    """What the primary observed: x0..x30 after its instruction, unless the system stopped first."""

    regs: tuple[int, ...] = ()
    fault: Fault | None = None
    timeout: Timeout | None = None
    system_off: bool = False
    trace: tuple[TraceRecord, ...] = field(default=(), repr=False)

    @classmethod
    def returned(cls, regs: tuple[int, ...], trace: tuple[TraceRecord, ...]) -> CallResult:
        """``CallResult(regs=regs, trace=trace)``, the same instance, made without the frozen
        dataclass's ``__init__`` (one ``object.__setattr__`` per field: ~0.4 us of every call)."""
        result = _new_object(cls)
        result.__dict__.update(regs=regs, fault=None, timeout=None, system_off=False, trace=trace)
        return result

    @property
    def completed(self) -> bool:
        return bool(self.regs)

    @property
    def x0(self) -> int:
        if not self.regs:
            raise HarnessError(f"the call did not return: {self.stop_reason()}")
        return self.regs[0]

    def stop_reason(self) -> str:
        if self.fault is not None:
            return f"fault: {self.fault}"
        if self.timeout is not None:
            return f"timeout: {self.timeout}"
        if self.system_off:
            return "PSCI_SYSTEM_OFF"
        return "returned"


# --- what stopped the CPU (set by the hooks in System._stop; None: it stopped by itself) --------


class _DriverReady:
    """The primary driver reached ``hf_driver_ready``: the call is done."""


_DRIVER_READY = _DriverReady()


class _WaitForEvent:
    """A vCPU executed ``wfe`` (its trap: :meth:`System._make_trap_hook`); PC is past it."""


_WFE = _WaitForEvent()


class _SliceSpent:
    """A secondary spent its time slice on faults handed to it (``Core.inject_write_fault``): each
    costs 1/:data:`INJECTED_FAULTS_PER_SLICE` of a slice, so a guest that faults again and again (its
    handler retrying the store) is preempted like any other, never a storm inside one call."""


_SLICE_SPENT = _SliceSpent()
#: How many injected faults a time slice holds (Unicorn does not say how many instructions ran
#: before a fault, so each is charged this share of the slice).
INJECTED_FAULTS_PER_SLICE = 100


class _InternalError:
    """A hook raised: a bug of the reference (or of an interceptor), never the guest's doing."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


#: An Answer: a call the core answered with a switch or the end of the run (its x0 in
#: ``System._call_x0``, to name it in the trace). None: the CPU stopped by itself.
_Stop = Answer | Fault | _DriverReady | _WaitForEvent | _SliceSpent | _InternalError | None


def _words(code: bytes, word: int, mask: int = 0xFFFF_FFFF) -> list[int]:
    """Offsets of the aligned 32-bit words of ``code`` with ``w & mask == word`` (``mask`` clears
    at most bits 7..0): what an image's hooks are placed on."""
    exact = mask == 0xFFFF_FFFF
    needle = word.to_bytes(4, "little") if exact else (word >> 8).to_bytes(3, "little")
    skip = 0 if exact else 1
    out = []
    off = code.find(needle)
    while off >= 0:
        at = off - skip
        if at % 4 == 0 and at + 4 <= len(code) and (exact or code[at] & mask == word & 0xFF):
            out.append(at)
        off = code.find(needle, off + 1)
    return out


class _Platform:
    """The machine layer's services to the core (:class:`~reference_hv.core_api.Platform`):
    calling it copies guest memory; the rest is forwarded to the VM's :class:`Machine`."""

    __slots__ = ("_machines", "read", "write")

    def __init__(
        self,
        machines: list[Machine],
        read: Callable[[int, int, int], bytes],
        write: Callable[[int, int, bytes], None],
    ) -> None:
        self._machines = machines
        self.read = read
        self.write = write

    def __call__(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        """The core's copy function (core_api.CopyFn): both ranges must lie in their VM's memory.
        (On the path of every message: the checks of :meth:`Machine.contains`, inlined.)"""
        s, d = self._machines[src_vm], self._machines[dst_vm]
        s_off, d_off = src - s.base, dst - d.base
        if not (size >= 0 and 0 <= s_off and s_off + size <= s.size and 0 <= d_off and d_off + size <= d.size):
            raise HarnessError(
                f"the core copied {size:#x} bytes from VM {src_vm} {src:#x} to VM {dst_vm} {dst:#x}: outside their memory"
            )
        _memmove(d.ram_addr + d_off, s.ram_addr + s_off, size)

    def protect(self, vm_id: int, addr: int, size: int, writable: bool) -> None:
        try:
            self._machines[vm_id].protect(addr, size, writable)
        except ValueError as e:
            raise HarnessError(f"the core's protect: {e}") from None

    def set_irq(self, vm_id: int, vcpu_idx: int, asserted: bool) -> None:
        self._machines[vm_id].set_irq(vcpu_idx, asserted)

    def timer(self, vm_id: int, vcpu_idx: int) -> TimerState:
        m = self._machines[vm_id]
        ctl, cval = m.timer(vcpu_idx)
        return TimerState(ctl, cval, VIRTUAL_COUNTER, m.frequency)

    def mask_timer(self, vm_id: int, vcpu_idx: int) -> None:
        self._machines[vm_id].mask_timer(vcpu_idx)


# --- the interception API -----------------------------------------------------------------


@dataclass(frozen=True)
class Trap:
    """An ``hvc`` or ``smc`` as an interceptor sees it (:meth:`System.intercept`)."""

    system: System
    kind: str  # "hvc" or "smc"
    vm: int
    vcpu: int
    #: The call's registers as recorded in the trace: x0..x3 for an hvc, (x0,) for an smc; x0..x7
    #: for both with a core that reads eight (core_api: CALL_REGISTERS).
    args: tuple[int, ...]
    #: The caller's machine, to read or change registers and memory.
    machine: Machine


@dataclass(frozen=True)
class Return:
    """A vCPU that has just received its x0 (x1..x17 zeroed, CALL-5), as an interceptor sees it."""

    system: System
    vm: int
    vcpu: int
    x0: int
    #: False: the immediate answer to its own hvc; True: the pending value of a vCPU switched back in.
    resumed: bool
    #: x0..x30 as they were before x0 was written.
    before: tuple[int, ...]
    machine: Machine


Before = Callable[[Trap], Answer | None]
After = Callable[[Trap, Answer], Answer]
AfterReturn = Callable[[Return], None]
INTERCEPT_KINDS = ("hvc", "smc", "return")


class System:
    """A booted system. With no ``primary`` spec the primary runs the driver (:meth:`call`).

    ``profile`` selects the ABI (its ``Core`` answers the traps); ``core_class`` replaces that core
    with another :data:`~reference_hv.core_api.CoreFactory` (e.g. a deliberately wrong subclass).
    """

    def __init__(
        self,
        secondaries: Sequence[VMSpec] = (),
        *,
        primary: VMSpec | None = None,
        primary_vcpus: int = 8,
        time_slice: int = 10_000,
        budget: int = 5_000_000,
        max_switches: int = 100_000,
        fault_policy: Literal["stop", "continue"] = "stop",
        base: int = DEFAULT_BASE,
        trace: bool = True,
        profile: str = profiles.DEFAULT,
        core_class: CoreFactory | None = None,
    ) -> None:
        for what, value in (("time_slice", time_slice), ("budget", budget), ("max_switches", max_switches)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
                raise ConfigError(f"{what} must be an int in 1..{MAX_COUNT:#x}, not {value!r}")
        if not isinstance(base, int) or isinstance(base, bool) or base % VM_ALIGN or not 0 < base < UNTIL // 2:
            raise ConfigError(f"base must be a multiple of {VM_ALIGN:#x} in 0x{VM_ALIGN:x}..{UNTIL // 2:#x}, not {base!r}")
        if fault_policy not in ("stop", "continue"):
            raise ConfigError(f"fault_policy must be 'stop' or 'continue', not {fault_policy!r}")
        self.driven = primary is None
        if primary is None:
            primary = VMSpec(programs.driver_source(), name="driver.S", vcpus=primary_vcpus)
        specs = [primary, *secondaries]
        if len(specs) > MAX_VMS:
            raise ConfigError(f"{len(specs)} VMs: at most {MAX_VMS} are supported")
        self.profile = profiles.get(profile)
        self.time_slice = time_slice
        self.budget = budget
        self.max_switches = max_switches
        self.fault_policy = fault_policy
        self._tracing = trace
        self._raw: list[RawEvent] = []
        self.halted: str | None = None
        self.faults: list[Fault] = []
        self._closed = False  # close() gave the machines back: never touch them again
        self._block_dirty = True  # the driver block's x4..x30 may be non-zero (a call with regs)
        self.machines: list[Machine] = []
        self.images: list[Image] = []
        vms: list[VmLayout] = []
        addr = base
        for vm_id, spec in enumerate(specs):
            self._check_spec(vm_id, spec)
            image = self._assemble(vm_id, spec, addr)
            machine = Machine.acquire(vm_id, addr, spec.memory, spec.vcpus)
            machine.load(image.base, image.code)
            for idx in range(spec.ready_vcpus):
                machine.start_vcpu(idx, image.entry, x0=idx)
            self.machines.append(machine)
            self.images.append(image)
            vms.append(VmLayout(vm_id, addr, spec.memory, spec.vcpus, spec.ready_vcpus))
            addr = (addr + spec.memory + VM_ALIGN - 1) // VM_ALIGN * VM_ALIGN
        if core_class is None:
            core_class = self.profile.module("core").Core
        self.platform = _Platform(self.machines, self._read_guest, self._write_guest)
        self.core: Core = core_class(vms, self.platform)
        # A core that reads x0..x7 and answers with x1..x7 (core_api: CALL_REGISTERS = 8); other
        # cores are untouched.
        wide = getattr(self.core, "CALL_REGISTERS", 4)
        if wide not in (4, 8):
            raise ConfigError(f"{type(self.core).__name__}.CALL_REGISTERS must be 4 or 8, not {wide!r}")
        self._wide = wide == 8
        #: The core's handler of guest writes to read-only pages (optional in the protocol).
        self._inject_write_fault: Callable[[int, int, int], bool] | None = getattr(self.core, "inject_write_fault", None)
        #: The core's wfe handler (optional in the protocol): without one, wfe is not trapped.
        self._wait_for_event: Callable[[int, int], Answer | None] | None = getattr(self.core, "wait_for_event", None)
        self._current: Vcpu = self.core.first()
        self._stop: _Stop = None
        self._call_x0 = 0
        self._mem_fault: tuple[int, int, bool] | None = None  # (address, pc, is_write)
        self._before: dict[str, list[Before]] = {"hvc": [], "smc": []}
        self._after: dict[str, list[After]] = {"hvc": [], "smc": []}
        self._returns: list[AfterReturn] = []
        for vm_id, machine in enumerate(self.machines):
            machine.on_exception(self._make_hook(vm_id, machine))
            machine.on_unmapped(self._make_mem_hook(vm_id, machine))
            self._hook_image(vm_id, machine, self.images[vm_id].code)
        if self.driven:
            driver = self.images[0]
            self._driver_ready = driver.symbol("hf_driver_ready")
            self._driver_block = driver.symbol("hf_driver_block")
            self._driver_block_off = self._driver_block - driver.base
            # Run the driver to its first hand-back so the first call starts from a known place.
            first = self._execute()
            if first != "driver":
                raise HarnessError(f"the primary driver did not reach hf_driver_ready: {first}")

    # --- construction ---------------------------------------------------------------------

    @staticmethod
    def _check_spec(vm_id: int, spec: VMSpec) -> None:
        who = f"VM {vm_id} ({spec.name})"
        if not 1 <= spec.vcpus <= MAX_VCPUS:
            raise ConfigError(f"{who}: vcpus must be 1..{MAX_VCPUS}, not {spec.vcpus}")
        if not 1 <= spec.ready_vcpus <= spec.vcpus:
            raise ConfigError(f"{who}: ready_vcpus must be 1..vcpus, not {spec.ready_vcpus}")
        if spec.memory % layout.LIB_PAGE_SIZE or not layout.LIB_PAGE_SIZE <= spec.memory <= MAX_MEMORY:
            raise ConfigError(f"{who}: memory must be a multiple of 4 KiB up to {MAX_MEMORY:#x}, not {spec.memory:#x}")

    @staticmethod
    def _assemble(vm_id: int, spec: VMSpec, base: int) -> Image:
        image = assemble(spec.source, base=base, name=spec.name)
        if len(image.code) > spec.memory:
            raise ConfigError(
                f"VM {vm_id} ({spec.name}): its image is {len(image.code):#x} bytes, larger than its memory {spec.memory:#x}"
            )
        return image

    # --- public API -----------------------------------------------------------------------

    @property
    def vm_count(self) -> int:
        return len(self.machines)

    def base(self, vm: int) -> int:
        """The first address of ``vm``'s memory (identity mapped, VM-5)."""
        return self._machine(vm).base

    def memory_size(self, vm: int) -> int:
        return self._machine(vm).size

    def read(self, vm: int, addr: int, size: int) -> bytes:
        """Read ``vm``'s memory, as a debugger would (no guest instruction runs)."""
        for what, value in (("addr", addr), ("size", size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"read: {what} must be a non-negative int, not {value!r}")
        try:
            return self._machine(vm).read(addr, size)
        except ValueError as e:
            raise HarnessError(str(e)) from None

    def write(self, vm: int, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``vm``'s memory, as a debugger would. Not for code that has already run."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigError(f"write: data must be bytes, not {type(data).__name__}")
        if not isinstance(addr, int) or isinstance(addr, bool) or addr < 0:
            raise ConfigError(f"write: addr must be a non-negative int, not {addr!r}")
        data = bytes(data)
        try:
            self._machine(vm).load(addr, data)
        except ValueError as e:
            raise HarnessError(str(e)) from None

    @property
    def trace(self) -> list[TraceRecord]:
        return events(self._raw, self.profile.call_name)

    def vcpu_state(self, vm: int, vcpu: int) -> object:
        """The vCPU's state in the core's terms: introspection for the reference's own tests
        (not part of the conformance protocol)."""
        return self.core.vcpu_state(vm, vcpu)

    @overload
    def intercept(self, kind: Literal["hvc", "smc"], *, before: Before | None = None, after: After | None = None) -> None: ...

    @overload
    def intercept(self, kind: Literal["return"], *, after: AfterReturn) -> None: ...

    def intercept(self, kind: str, *, before: Before | None = None, after: After | AfterReturn | None = None) -> None:
        """Run ``before`` / ``after`` around every ``kind`` event, from the next one on (in the
        spirit of Qiling's ``set_syscall`` ENTER / EXIT hooks): how a deliberately wrong build
        deviates at the machine level without a second machine layer.

        * ``"hvc"``, ``"smc"``: ``before(trap) -> Answer | None`` runs before the core; an
          :class:`Answer` is used instead of asking the core (the first one given wins).
          ``after(trap, answer) -> Answer`` runs after the core answered; what it returns is what
          the system applies (the trace records it). Both may change registers or memory through
          ``trap.machine`` / ``trap.system``; the system then writes the answer's x0 (an hvc's
          with x1..x17 zeroed, an smc's alone).
        * ``"return"``: ``after(ret: Return)`` runs after a vCPU received its x0 and x1..x17 were
          zeroed: the immediate answer to its hvc, or its pending value when it is switched back
          in (``ret.resumed``); ``ret.before`` holds x0..x30 as they were.

        Interceptors run inside Unicorn's hooks: an exception in one stops the system with a
        :class:`HarnessError`. Several interceptors of a kind run in the order they were added.
        """
        if kind not in INTERCEPT_KINDS:
            raise ValueError(f"intercept: kind must be one of {', '.join(INTERCEPT_KINDS)}, not {kind!r}")
        if kind == "return":
            if before is not None:
                raise ValueError("intercept('return'): only after= (the value is delivered already)")
            if after is not None:
                self._returns.append(cast(AfterReturn, after))
        else:
            if before is not None:
                self._before[kind].append(before)
            if after is not None:
                self._after[kind].append(cast(After, after))
        if self._closed:
            return  # its machines belong to other systems now
        for vm_id, machine in enumerate(self.machines):
            machine.on_exception(self._make_hook(vm_id, machine))

    def call(
        self,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        *,
        regs: Mapping[int, int] | None = None,
        insn: str = "hvc #0",
    ) -> CallResult:
        """Make the primary execute ``insn`` (an ``hvc`` or ``smc``) with x0..x3 = the arguments.

        ``regs`` sets any of x4..x30 before the instruction (to check what the call preserves or
        clears). Returns x0..x30 as the primary saw them after the instruction, or why the system
        stopped before the instruction completed.
        """
        if not self.driven:
            raise HarnessError("call() needs the primary driver: this system was booted with its own primary")
        if self.halted is not None:
            self._check_running()
        op = _DRIVER_OP.get(insn)
        if op is None:
            raise HarnessError(f"unsupported instruction {insn!r}; one of {', '.join(layout.DRIVER_OPS)}")
        primary = self.machines[0]
        if regs:
            values = [0] * 31
            values[:4] = [x0 & MASK64, x1 & MASK64, x2 & MASK64, x3 & MASK64]
            for n, v in regs.items():
                if not 4 <= n <= 30:
                    raise HarnessError(f"regs may set x4..x30 only, not x{n}")
                values[n] = v & MASK64
            _BLOCK_IN.pack_into(primary.ram, self._driver_block_off, op, *values)
            self._block_dirty = True
        else:  # x4..x30 stay zero from the last call that wrote them all
            if self._block_dirty:
                _BLOCK_IN.pack_into(primary.ram, self._driver_block_off, op, *_ZERO_REGS)
                self._block_dirty = False
            _BLOCK_CALL.pack_into(primary.ram, self._driver_block_off, op, x0 & MASK64, x1 & MASK64, x2 & MASK64, x3 & MASK64)
        primary.pc_hint = self._driver_ready + 4  # where the next run starts (the primary is current)
        start = len(self._raw)
        stop = self._execute()
        trace = tuple(events(self._raw, self.profile.call_name, start)) if self._tracing else ()
        if stop == "driver":
            regs_out = _BLOCK_OUT.unpack_from(primary.ram, self._driver_block_off + layout.DRIVER_OUT)
            return CallResult.returned(regs_out, trace)
        return self._stopped(stop, trace)

    def run(self) -> CallResult:
        """Run a system booted with its own primary until PSCI_SYSTEM_OFF, a fault or the budget."""
        if self.driven:
            raise HarnessError("run() is for systems booted with their own primary program; use call()")
        self._check_running()
        start = len(self._raw)
        stop = self._execute()
        return self._stopped(stop, tuple(events(self._raw, self.profile.call_name, start)))

    def close(self) -> None:
        """Give the emulators back (another system may reuse them, reset); the trace stays readable."""
        if not self._closed:
            self._closed = True
            for m in self.machines:
                m.release()
        self.halted = self.halted or "closed"

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------

    def _machine(self, vm: int) -> Machine:
        if not 0 <= vm < len(self.machines):
            raise HarnessError(f"no VM {vm}: this system has VMs 0..{len(self.machines) - 1}")
        if self._closed or self.machines[vm].closed:
            raise SystemHalted("the system is closed: its memory is gone")
        return self.machines[vm]

    def _check_running(self) -> None:
        if self.halted is not None:
            raise SystemHalted(f"the system has stopped ({self.halted}); boot a new one")

    def _stopped(self, stop: Fault | Timeout | str, trace: tuple[TraceRecord, ...]) -> CallResult:
        if isinstance(stop, Fault):
            self.halted = f"fault: {stop}"
            return CallResult(fault=stop, trace=trace)
        if isinstance(stop, Timeout):
            self.halted = f"timeout: {stop}"
            return CallResult(timeout=stop, trace=trace)
        if stop == "system_off":
            self.halted = "PSCI_SYSTEM_OFF"
            return CallResult(system_off=True, trace=trace)
        raise HarnessError(f"unexpected stop {stop!r}")  # pragma: no cover - _execute returns the above

    def _read_guest(self, vm: int, addr: int, size: int) -> bytes:
        """The core's read of guest memory (core_api.Platform.read): the range must lie in ``vm``'s memory."""
        m = self.machines[vm]
        if not (size >= 0 and m.contains(addr, size)):
            raise HarnessError(f"the core read {size:#x} bytes of VM {vm} at {addr:#x}: outside its memory")
        return m.read(addr, size)

    def _write_guest(self, vm: int, addr: int, data: bytes) -> None:
        """The core's write of guest memory (core_api.Platform.write): the range must lie in ``vm``'s memory."""
        m = self.machines[vm]
        if not m.contains(addr, len(data)):
            raise HarnessError(f"the core wrote {len(data):#x} bytes to VM {vm} at {addr:#x}: outside its memory")
        m.load(addr, data)

    def _log(
        self, kind: str, vm: int, vcpu: int, args: tuple[int, ...] = (), result: int | None = None, detail: str = ""
    ) -> None:  # off the hot path: hypercalls append to the trace inline
        if self._tracing:
            self._raw.append((kind, vm, vcpu, args, result, detail))

    # --- the hooks (they run inside Machine.run; none may raise) -------------------------------

    def _make_hook(self, vm_id: int, m: Machine) -> Callable[[object, int, object], None]:
        """The exception hook of ``vm_id`` (called straight from the emulator as ``hook(uc, intno,
        data)``, :meth:`Machine.on_exception`): an hvc is answered here, on the hot path -- through
        :meth:`_trap` when interceptors are installed, else with the same steps inlined."""
        other = self._on_exception
        wide = self._wide
        if self._before["hvc"] or self._after["hvc"] or self._returns:

            def intercepted(_uc: object, intno: int, _data: object) -> None:
                try:
                    if intno == INTNO_HVC:
                        self._trap("hvc", vm_id, m, m.args8() if wide else m.args())
                    else:
                        other(vm_id, m, intno)
                except BaseException as e:  # noqa: BLE001 - a harness bug must not unwind through C
                    self._stop = _InternalError(e)
                    m.stop()

            return intercepted
        if wide:
            return self._make_wide_hook(vm_id, m)

        hypercall = self.core.hypercall
        args_of, set_return, stop_cpu = m.args, m.set_return, m.stop
        tracing, raw = self._tracing, self._raw

        def hook(_uc: object, intno: int, _data: object) -> None:
            try:
                if intno != INTNO_HVC:
                    other(vm_id, m, intno)
                    return
                args = args_of()
                x0, x1, x2, x3 = args
                vcpu_idx = self._current.index
                answer = hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)  # positional: a *args call costs ~0.1 us more
                ret = answer.ret
                if tracing:
                    raw.append(("hvc", vm_id, vcpu_idx, args, ret, ""))
                if ret is not None:
                    set_return(ret)
                    return
                self._stop = answer
                self._call_x0 = x0
                stop_cpu()
            except BaseException as e:  # noqa: BLE001 - a harness bug must not unwind through C
                self._stop = _InternalError(e)
                stop_cpu()

        return hook

    def _make_wide_hook(self, vm_id: int, m: Machine) -> Callable[[object, int, object], None]:
        """The hook of a core that reads x0..x7 and may answer with x1..x7 (``Answer.regs``): the
        same steps as :meth:`_make_hook`'s, apart so that the other cores' hot path is unchanged."""
        other = self._on_exception
        hypercall: Callable[..., Answer] = self.core.hypercall  # x0..x7 (CALL_REGISTERS = 8)
        args_of, set_return, set_results, stop_cpu = m.args8, m.set_return, m.set_results, m.stop
        tracing, raw = self._tracing, self._raw

        def hook(_uc: object, intno: int, _data: object) -> None:
            try:
                if intno != INTNO_HVC:
                    other(vm_id, m, intno)
                    return
                args = args_of()
                x0, x1, x2, x3, x4, x5, x6, x7 = args
                vcpu_idx = self._current.index
                answer = hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
                ret = answer.ret
                if tracing:
                    raw.append(("hvc", vm_id, vcpu_idx, args, ret, ""))
                if ret is not None:
                    regs = answer.regs
                    if regs is None:
                        set_return(ret)
                    else:
                        set_results(ret, regs)
                    return
                self._stop = answer
                self._call_x0 = x0
                stop_cpu()
            except BaseException as e:  # noqa: BLE001 - a harness bug must not unwind through C
                self._stop = _InternalError(e)
                stop_cpu()

        return hook

    def _trap(self, kind: str, vm_id: int, m: Machine, args: tuple[int, ...]) -> None:
        """An hvc or smc with the interceptors: before, the core, after; then the answer is applied."""
        vcpu_idx = self._current.index
        trap = Trap(self, kind, vm_id, vcpu_idx, args, m)
        answer: Answer | None = None
        for before in self._before[kind]:
            answer = before(trap)
            if answer is not None:
                break
        if answer is None:
            if kind == "hvc":
                answer = self.core.hypercall(vm_id, vcpu_idx, *args)
            else:
                answer = self.core.smc(vm_id, vcpu_idx, *args)
        for after in self._after[kind]:
            answer = after(trap, answer)
        ret, regs = answer.ret, answer.regs
        self._log(kind, vm_id, vcpu_idx, args, ret)
        if ret is None:
            self._stop = answer
            self._call_x0 = args[0]
            m.stop()
        elif kind == "smc":
            if regs is None:
                m.set_reg(X_REGS[0], ret)  # CALL-7: only x0 changes
            else:
                m.set_results(ret, regs)
        else:
            self._return(m, vm_id, vcpu_idx, ret, resumed=False, regs=regs)

    def _return(
        self, m: Machine, vm_id: int, vcpu_idx: int, x0: int, *, resumed: bool, regs: tuple[int, ...] | None = None
    ) -> None:
        """Deliver x0 to the loaded vCPU of ``m`` (x1..x17 zeroed, CALL-5; or x1..x7 = ``regs``,
        the rest kept), then the "return" interceptors."""
        if not self._returns:
            if regs is None:
                m.set_return(x0)
            else:
                m.set_results(x0, regs)
            return
        before = m.xregs()
        if regs is None:
            m.set_return(x0)
        else:
            m.set_results(x0, regs)
        ret = Return(self, vm_id, vcpu_idx, x0, resumed, before, m)
        for after in self._returns:
            after(ret)

    def _on_exception(self, vm_id: int, m: Machine, intno: int) -> None:
        """An exception other than an hvc: an ``smc``, the driver's ``brk``, or a fault."""
        if intno == INTNO_SMC:
            self._trap("smc", vm_id, m, m.args8() if self._wide else (m.reg(X_REGS[0]),))
            return
        pc = m.pc
        if intno == INTNO_BRK and vm_id == 0 and self.driven and pc == self._driver_ready:
            self._stop = _DRIVER_READY
            m.stop()
            return
        kind = _INTNO_KINDS.get(intno, f"exception {intno}")
        address = pc if intno == INTNO_PREFETCH_ABORT else None  # the fetch that faulted is at PC
        self._stop = Fault(vm_id, self._current.index, pc, kind, address)
        m.stop()

    def _hook_image(self, vm_id: int, m: Machine, code: bytes) -> None:
        """The code hooks on instructions of the image (the words present at boot):

        * ``eret``: Unicorn returns from an illegal eret as if legal (:meth:`_make_eret_hook`);
        * ``wfi``: always trapped, as with HCR_EL2.TWI (Unicorn's wfi is a no-op while an IRQ is
          pending, e.g. the virtual IRQ line is asserted): skipped and the run stops, as Unicorn's
          own wfi does (the scheduler sees a stop after a wfi);
        * ``wfe`` (only for a core with ``wait_for_event``; else a no-op in Unicorn): skipped, the
          run stops and the core answers;
        * the generic-timer instructions (:data:`~reference_hv.machine.TIMER_INSNS`), emulated.
        """
        for off in _words(code, INSN_ERET):
            m.on_code_at(m.base + off, self._make_eret_hook(vm_id, m))
        for off in _words(code, INSN_WFI):
            m.on_code_at(m.base + off, self._make_trap_hook(vm_id, m, m.base + off, None))
        if self._wait_for_event is not None:
            for off in _words(code, INSN_WFE):
                m.on_code_at(m.base + off, self._make_trap_hook(vm_id, m, m.base + off, _WFE))
        for word in TIMER_INSNS:
            for off in _words(code, word, ~_RT & 0xFFFF_FFFF):
                access = m.timer_access(m.base + off, int.from_bytes(code[off : off + 4], "little"))
                if access is not None:
                    m.on_code_at(m.base + off, self._guarded(m, access))

    def _make_trap_hook(self, vm_id: int, m: Machine, address: int, stop: _WaitForEvent | None) -> Callable[[], None]:
        """Before a trapped instruction: skip it and stop the run with ``stop``."""

        def hook() -> None:
            try:
                m.skip(address)
                self._stop = stop
            except BaseException as e:  # noqa: BLE001 - like every hook
                self._stop = _InternalError(e)
            m.stop()

        return hook

    def _guarded(self, m: Machine, fn: Callable[[], None]) -> Callable[[], None]:
        def hook() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - like every hook
                self._stop = _InternalError(e)
                m.stop()

        return hook

    def _make_eret_hook(self, vm_id: int, m: Machine) -> Callable[[], None]:
        """Before an ``eret``: a return to a mode EL1 cannot return to (EL2, EL3, a reserved M)
        is an illegal exception return -- on hardware the next instruction faults; Unicorn goes on."""

        def hook() -> None:
            try:
                spsr = m.spsr_el1()
                mode = spsr & 0x1F
                if mode & 0x10 or mode in LEGAL_ERET_MODES:  # AArch32 targets are not judged here
                    return
                kind = f"illegal exception return (eret with SPSR_EL1 {spsr:#x}: mode {mode:#06b} is not EL0t, EL1t or EL1h)"
                self._stop = Fault(vm_id, self._current.index, m.pc, kind)
            except BaseException as e:  # noqa: BLE001 - like every hook: a harness bug must not unwind through C
                self._stop = _InternalError(e)
            m.stop()

        return hook

    def _make_mem_hook(self, vm_id: int, m: Machine) -> Callable[[bool, int], bool]:
        def hook(is_write: bool, address: int) -> bool:
            try:
                self._mem_fault = (address, m.pc, is_write)
            except BaseException as e:  # noqa: BLE001 - like every hook
                self._stop = _InternalError(e)
            return False

        return hook

    # --- the scheduler ----------------------------------------------------------------------

    def _execute(self) -> Fault | Timeout | str:
        """Run the physical CPU until the primary hands back ("driver"), "system_off", a fault or a timeout.

        Run the current vCPU until it stops; the core answers what stopped it with the vCPU that
        runs next. This loop is the hot path of every world switch: it keeps to locals and C calls.
        """
        budget = self.budget
        switches = 0
        core = self.core
        machines = self.machines
        time_slice, max_switches = self.time_slice, self.max_switches
        slice_left = time_slice  # of the current vCPU's slice: less only after faults handed to it
        fault_cost = time_slice // INJECTED_FAULTS_PER_SLICE or 1  # at least 1 (see _SliceSpent)
        while True:
            vcpu = self._current
            vm_id, vcpu_idx = vcpu.vm_id, vcpu.index
            m = machines[vm_id]
            is_primary = vm_id == 0
            count = budget if is_primary or budget < slice_left else slice_left
            self._mem_fault = None
            status = m.run(count)
            stop = self._stop  # what a hook saw (None: the CPU stopped by itself)
            self._stop = None
            if status and not isinstance(stop, _InternalError):
                stop = self._memory_fault(vcpu, status)
                if self._injected(stop, status, m):
                    budget -= 1
                    slice_left -= fault_cost
                    if slice_left > 0:
                        continue  # the vCPU goes on at its vector, in what is left of its time slice
                    stop = _SLICE_SPENT  # a guest faulting again and again is preempted like any other
            if stop is _DRIVER_READY:  # the end of every call()
                return "driver"
            if isinstance(stop, Answer):  # a call the core answered with a switch (or the end): the hot path
                budget -= 1
                if stop.system_off:
                    self._log("stop", vm_id, vcpu_idx, detail=self._reason(None, None))
                    return "system_off"
                if stop.next is not None:
                    self._switch(stop.next, None)
            else:
                answer: Answer | None = None
                why: str | None = None  # the switch's reason for the trace (None: the call that stopped the CPU)
                if stop is None:  # the CPU stopped by itself: a wfi, the end of the count, or a jump to UNTIL
                    pc = m.stopped_pc()
                    off = pc - 4 - m.base
                    if pc == UNTIL:  # a jump to the stop address: as unmapped as any other
                        stop = Fault(vm_id, vcpu_idx, pc, "instruction abort (fetch from unmapped address)", pc)
                    elif 0 <= off <= m.size - 4 and _U32.unpack_from(m.ram, off)[0] == INSN_WFI:  # wfi ends the run silently
                        budget -= 1
                        self._log("wfi", vm_id, vcpu_idx, detail=f"at PC {pc - 4:#x}")
                        if not is_primary:  # the primary's wfi is a no-op: no interrupt source is modelled
                            answer, why = core.wait_for_interrupt(vm_id, vcpu_idx), "wfi"
                    else:  # the count ran out
                        budget -= count
                        if is_primary:
                            return self._timeout(vcpu, pc, switches)
                        if self._tracing:
                            self._raw.append(("preempt", vm_id, vcpu_idx, (), None, f"at PC {pc:#x}"))
                        answer, why = core.preempted(vm_id, vcpu_idx), "time slice"
                elif stop is _WFE:
                    budget -= 1
                    self._log("note", vm_id, vcpu_idx, detail=f"wfe at PC {m.stopped_pc() - 4:#x}")
                    if self._wait_for_event is not None:
                        answer, why = self._wait_for_event(vm_id, vcpu_idx), "wfe"
                elif stop is _SLICE_SPENT:
                    if self._tracing:
                        self._raw.append(("preempt", vm_id, vcpu_idx, (), None, "time slice spent on injected faults"))
                    answer, why = core.preempted(vm_id, vcpu_idx), "time slice"
                elif isinstance(stop, _InternalError):
                    raise HarnessError(
                        f"internal error in the reference hypervisor while VM {vm_id} vCPU {vcpu_idx} ran: {stop.error!r}"
                    ) from stop.error
                if isinstance(stop, Fault):
                    self.faults.append(stop)
                    self._log("fault", stop.vm, stop.vcpu, detail=str(stop))
                    budget -= 1
                    if is_primary or self.fault_policy == "stop":
                        return stop
                    answer, why = core.aborted(vm_id, vcpu_idx), "fault"
                if answer is not None:
                    if answer.system_off:
                        self._log("stop", vm_id, vcpu_idx, detail=self._reason(why, None))
                        return "system_off"
                    if answer.next is not None:
                        self._switch(answer.next, why)
            switches += 1
            slice_left = time_slice
            if budget <= 0 or switches > max_switches:
                current = self._current
                return self._timeout(current, machines[current.vm_id].pc, switches)

    def _switch(self, vcpu: Vcpu, why: str | None) -> None:
        """The world switch: ``vcpu`` runs next. The one place a vCPU's pending value (its
        ``resume_x0``, written by the core) is read, delivered and cleared."""
        m = self.machines[vcpu.vm_id]
        if m.loaded != vcpu.index:
            m.activate(vcpu.index)
        x0 = vcpu.resume_x0
        if x0 is not None:
            vcpu.resume_x0 = None
            regs = vcpu.resume_regs
            if regs is not None:
                vcpu.resume_regs = None
            if self._returns:
                self._return(m, vcpu.vm_id, vcpu.index, x0, resumed=True, regs=regs)
            elif regs is None:
                m.set_return(x0)
            else:
                m.set_results(x0, regs)
        if self._tracing:
            to_primary = vcpu.vm_id == 0
            self._raw.append(("switch", vcpu.vm_id, vcpu.index, (), x0 if to_primary else None, self._reason(why, vcpu)))
        self._current = vcpu

    def _reason(self, why: str | None, vcpu: Vcpu | None) -> str:
        """A switch's reason for the trace: the scheduler's own (``why``), or for the call that
        stopped the CPU: "hypercall" when it switches to the primary, else its name (HF_VCPU_RUN)."""
        if why is not None:
            return why
        if vcpu is not None and vcpu.vm_id == 0:
            return "hypercall"
        return self.profile.call_name(self._call_x0)

    def _timeout(self, vcpu: Vcpu, pc: int, switches: int) -> Timeout:
        t = Timeout(vcpu.vm_id, vcpu.index, pc, self.budget, switches)
        self._log("stop", vcpu.vm_id, vcpu.index, detail=str(t))
        return t

    def _injected(self, fault: Fault, status: int, m: Machine) -> bool:
        """A secondary's write to a page its core made read-only, which the core hands to the guest
        (``Core.inject_write_fault``): the vCPU takes a Data Abort at its own EL1 vector."""
        inject = self._inject_write_fault
        if inject is None or status != STATUS_WRITE_PROT or fault.vm == 0 or fault.address is None:
            return False
        if not inject(fault.vm, fault.vcpu, fault.address):
            return False
        self._log("fault", fault.vm, fault.vcpu, detail=f"{fault}: injected into the guest")
        m.take_sync_exception(fault.pc, ESR_DATA_ABORT_WRITE_PERMISSION, fault.address)
        return True

    def _memory_fault(self, vcpu: Vcpu, status: int) -> Fault:
        m = self.machines[vcpu.vm_id]
        if self._mem_fault is None:
            return Fault(vcpu.vm_id, vcpu.index, m.pc, f"emulator error: {status_text(status)}")
        address, pc, is_write = self._mem_fault
        insn = m.word(pc)
        if insn is not None and insn & 0xFFFF_FFE0 == INSN_DC_ZVA:
            # dc zva zeroes a whole block: the fault is the block's first byte, not where the
            # emulator's write of it first went unmapped.
            address = m.reg(X_REGS[insn & 0x1F]) & ~(DC_ZVA_BLOCK - 1) if insn & 0x1F != 31 else address
        if status == STATUS_FETCH_UNMAPPED:
            return Fault(vcpu.vm_id, vcpu.index, pc, "instruction abort (fetch from unmapped address)", address)
        if status == STATUS_FETCH_PROT:
            kind = "instruction abort (stage-2 permission fault: fetch from a non-executable page)"
            return Fault(vcpu.vm_id, vcpu.index, pc, kind, address)
        if status == STATUS_WRITE_PROT:
            return Fault(vcpu.vm_id, vcpu.index, pc, "data abort (stage-2 permission fault: write to a read-only page)", address)
        kind = "data abort (write to unmapped address)" if is_write else "data abort (read from unmapped address)"
        return Fault(vcpu.vm_id, vcpu.index, pc, kind, address)
