"""A booted system: the VMs' machines, the ABI core, and the scheduler that runs one physical CPU.

The scheduler lives in Python, outside Unicorn's callbacks: it runs the current vCPU with
``emu_start`` until an event (a hypercall that switches, a ``wfi``, the end of a time slice,
a fault, the primary driver handing back to Python), then decides what runs next. Hypercalls
that do not switch are answered inside the interrupt hook, and the guest goes on in the same
``emu_start``.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from unicorn.unicorn import UcError
from unicorn.unicorn_py3.unicorn import uclib

from guest_asm import abi, programs
from guest_asm.assembler import Image, assemble
from reference_hv.core import Core, Outcome, Vcpu, VcpuState, Vm
from reference_hv.machine import REG_PC, X_REGS, Machine
from reference_hv.trace import RawEvent, TraceEvent, events

INTNO_UNDEF = 1
INTNO_SVC = 2
INTNO_BRK = 7
INTNO_HVC = 11
INTNO_SMC = 13
INTNO_PREFETCH_ABORT = 3
INTNO_DATA_ABORT = 4
_INTNO_KINDS = {
    INTNO_UNDEF: "undefined instruction",
    # Taken with the guest's MMU on (a translation or permission fault of its own page tables).
    INTNO_PREFETCH_ABORT: "instruction abort (prefetch abort, guest MMU on)",
    INTNO_DATA_ABORT: "data abort (guest MMU on)",
    INTNO_SVC: "svc (exception the ABI does not define)",
    INTNO_BRK: "breakpoint (brk)",
}

MASK64 = abi.MASK64
_BLOCK_IN = struct.Struct("<32Q")  # op, x0..x30 (DRIVER_OP, DRIVER_IN)
_BLOCK_OUT = struct.Struct("<31Q")  # x0..x30 (DRIVER_OUT)
_U32 = struct.Struct("<I")
assert abi.DRIVER_IN == 8 and abi.DRIVER_OP == 0

INSN_DC_ZVA = 0xD50B7420  # dc zva, Xt (Rt in bits 4..0)
INSN_ERET = 0xD69F03E0
_ERET_BYTES = INSN_ERET.to_bytes(4, "little")
LEGAL_ERET_MODES = frozenset({0b0000, 0b0100, 0b0101})  # EL0t, EL1t, EL1h
DC_ZVA_BLOCK = 64  # DCZID_EL0.BS of the emulated CPU: 2**4 words

#: Where ``emu_start`` is told to stop: never mapped, so no translated block is lost.
UNTIL = 0xFFFF_0000_0000
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
    def program(cls, program: str, *, memory: int = 0x10_0000, vcpus: int = 1, **params: int) -> VMSpec:
        """A VM running a program of the guest library, e.g. ``VMSpec.program("relay", NEXT_HOP=2)``."""
        return cls(programs.source(program, **params), name=f"{program}.S", memory=memory, vcpus=vcpus)


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
    trace: tuple[TraceEvent, ...] = field(default=(), repr=False)

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


# What stopped the CPU, set by the hooks (ints: this is the hot path).
_EV_NONE, _EV_OUTCOME, _EV_DRIVER, _EV_FAULT, _EV_INTERNAL = range(5)


class System:
    """A booted system. With no ``primary`` spec the primary runs the driver (:meth:`call`).

    ``core_class`` replaces the ABI core (a subclass of :class:`reference_hv.core.Core`): the seam
    through which deliberately wrong builds are made for the suite's self-test.
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
        core_class: type[Core] = Core,
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
        self.time_slice = time_slice
        self.budget = budget
        self.max_switches = max_switches
        self.fault_policy = fault_policy
        self._tracing = trace
        self._raw: list[RawEvent] = []
        self.halted: str | None = None
        self.faults: list[Fault] = []
        self.machines: list[Machine] = []
        self.images: list[Image] = []
        vms: list[Vm] = []
        addr = base
        for vm_id, spec in enumerate(specs):
            self._check_spec(vm_id, spec)
            image = self._assemble(vm_id, spec, addr)
            machine = Machine(vm_id, addr, spec.memory, spec.vcpus)
            machine.load(image.base, image.code)
            for idx in range(spec.ready_vcpus):
                machine.start_vcpu(idx, image.entry, x0=idx)
            self.machines.append(machine)
            self.images.append(image)
            vms.append(Vm(vm_id, addr, spec.memory, [Vcpu(vm_id, i) for i in range(spec.vcpus)]))
            addr = (addr + spec.memory + VM_ALIGN - 1) // VM_ALIGN * VM_ALIGN
        self.core = core_class(vms, self._copy)
        self._hvcs = [self._make_hvc(vm_id, machine) for vm_id, machine in enumerate(self.machines)]
        for vm_id, machine in enumerate(self.machines):
            machine.on_exception(self._make_hook(vm_id, machine))
            machine.on_unmapped(self._make_mem_hook(vm_id))
            code = self.images[vm_id].code  # Unicorn returns from an illegal eret as if legal
            off = code.find(_ERET_BYTES)
            while off >= 0:
                if off % 4 == 0:
                    machine.on_code_at(machine.base + off, self._make_eret_hook(vm_id, machine))
                off = code.find(_ERET_BYTES, off + 1)
        for vm, spec in zip(vms, specs, strict=True):
            for idx in range(1, spec.ready_vcpus):
                vm.vcpus[idx].state = VcpuState.READY
        self._current: Vcpu = vms[0].vcpus[0]
        self._ev = _EV_NONE
        self._ev_obj: Outcome | Fault | BaseException | None = None
        self._mem_fault: tuple[int, int, bool] | None = None  # (address, pc, is_write)
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
        if spec.memory % abi.PAGE_SIZE or not abi.PAGE_SIZE <= spec.memory <= MAX_MEMORY:
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
    def trace(self) -> list[TraceEvent]:
        return events(self._raw)

    def vcpu_state(self, vm: int, vcpu: int) -> VcpuState:
        """Introspection for the reference's own tests (not part of the conformance protocol)."""
        return self.core.vms[vm].vcpus[vcpu].state

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
        self._check_running()
        try:
            op = abi.DRIVER_OPS.index(insn)
        except ValueError:
            raise HarnessError(f"unsupported instruction {insn!r}; one of {', '.join(abi.DRIVER_OPS)}") from None
        values = [0] * 31
        values[:4] = [x0 & MASK64, x1 & MASK64, x2 & MASK64, x3 & MASK64]
        for n, v in (regs or {}).items():
            if not 4 <= n <= 30:
                raise HarnessError(f"regs may set x4..x30 only, not x{n}")
            values[n] = v & MASK64
        primary = self.machines[0]
        _BLOCK_IN.pack_into(primary.ram, self._driver_block_off, op, *values)
        primary.set_reg(REG_PC, self._driver_ready + 4)
        start = len(self._raw)
        stop = self._execute()
        trace = tuple(events(self._raw, start)) if self._tracing else ()
        if stop == "driver":
            regs_out = _BLOCK_OUT.unpack_from(primary.ram, self._driver_block_off + abi.DRIVER_OUT)
            return CallResult(regs=regs_out, trace=trace)
        return self._stopped(stop, trace)

    def run(self) -> CallResult:
        """Run a system booted with its own primary until PSCI_SYSTEM_OFF, a fault or the budget."""
        if self.driven:
            raise HarnessError("run() is for systems booted with their own primary program; use call()")
        self._check_running()
        start = len(self._raw)
        stop = self._execute()
        return self._stopped(stop, tuple(events(self._raw, start)))

    def close(self) -> None:
        """Free the emulators and guest memory; the trace stays readable."""
        for m in self.machines:
            m.close()
        self.halted = self.halted or "closed"

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------

    def _machine(self, vm: int) -> Machine:
        if not 0 <= vm < len(self.machines):
            raise HarnessError(f"no VM {vm}: this system has VMs 0..{len(self.machines) - 1}")
        if self.machines[vm].closed:
            raise SystemHalted("the system is closed: its memory is gone")
        return self.machines[vm]

    def _check_running(self) -> None:
        if self.halted is not None:
            raise SystemHalted(f"the system has stopped ({self.halted}); boot a new one")

    def _stopped(self, stop: Fault | Timeout | str, trace: tuple[TraceEvent, ...]) -> CallResult:
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

    def _copy(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        s, d = self.machines[src_vm], self.machines[dst_vm]
        # Both pages were checked by HF_VM_CONFIGURE to lie in their VM's memory.
        ctypes.memmove(d.ram_addr + dst - d.base, s.ram_addr + src - s.base, size)

    def _log(
        self, kind: str, vm: int, vcpu: int, args: tuple[int, ...] = (), result: int | None = None, detail: str = ""
    ) -> None:  # off the hot path: hypercalls append to the trace inline
        if self._tracing:
            self._raw.append((kind, vm, vcpu, args, result, detail))

    def _make_hvc(self, vm_id: int, m: Machine) -> Callable[[], None]:
        """The hypercall path of ``vm_id``: answered on the spot unless the CPU must switch."""
        hypercall = self.core.hypercall

        def hvc() -> None:
            args = m.args()
            vcpu_idx = self._current.index
            outcome = hypercall(vm_id, vcpu_idx, *args)
            ret = outcome.ret
            if self._tracing:
                self._raw.append(("hvc", vm_id, vcpu_idx, args, ret, ""))
            if ret is not None:
                m.set_return(ret)
                return
            self._ev, self._ev_obj = _EV_OUTCOME, outcome
            m.stop()

        return hvc

    def _make_hook(self, vm_id: int, m: Machine) -> Callable[[int], None]:
        hvc = self._hvcs[vm_id]
        on_exception = self._on_exception
        # A subclass that intercepts exceptions (reference_hv.mutants) sees every hvc too.
        direct = type(self)._on_exception is System._on_exception

        def hook(intno: int) -> None:
            try:
                if direct and intno == INTNO_HVC:
                    hvc()
                else:
                    on_exception(vm_id, intno)
            except BaseException as e:  # noqa: BLE001 - a harness bug must not unwind through C
                self._ev, self._ev_obj = _EV_INTERNAL, e
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
                self._ev, self._ev_obj = _EV_FAULT, Fault(vm_id, self._current.index, m.pc, kind)
            except BaseException as e:  # noqa: BLE001 - like every hook: a harness bug must not unwind through C
                self._ev, self._ev_obj = _EV_INTERNAL, e
            m.stop()

        return hook

    def _make_mem_hook(self, vm_id: int) -> Callable[[int, int], bool]:
        def hook(access: int, address: int) -> bool:
            self._mem_fault = (address, self.machines[vm_id].pc, access in _WRITE_ACCESSES)
            return False

        return hook

    def _on_exception(self, vm_id: int, intno: int) -> None:
        """An exception taken by ``vm_id``'s guest: ``hvc``, ``smc``, the driver's ``brk``, faults."""
        if intno == INTNO_HVC:
            self._hvcs[vm_id]()
            return
        m = self.machines[vm_id]
        vcpu = self._current
        if intno == INTNO_SMC:
            x0 = m.reg(X_REGS[0])
            outcome = self.core.smc(vm_id, x0)
            self._log("smc", vm_id, vcpu.index, (x0,), outcome.ret)
            if outcome.ret is not None:
                m.set_reg(X_REGS[0], outcome.ret)  # CALL-7: only x0 changes
                return
            self._ev, self._ev_obj = _EV_OUTCOME, outcome
            m.stop()
            return
        pc = m.pc
        if intno == INTNO_BRK and vm_id == 0 and self.driven and pc == self._driver_ready:
            self._ev = _EV_DRIVER
            m.stop()
            return
        kind = _INTNO_KINDS.get(intno, f"exception {intno}")
        address = pc if intno == INTNO_PREFETCH_ABORT else None  # the fetch that faulted is at PC
        self._ev, self._ev_obj = _EV_FAULT, Fault(vm_id, vcpu.index, pc, kind, address)
        m.stop()

    def _execute(self) -> Fault | Timeout | str:
        """Run the physical CPU until the primary hands back ("driver"), "system_off", a fault or a timeout.

        This loop is the hot path of every world switch: it keeps to locals and C calls.
        """
        budget = self.budget
        switches = 0
        core = self.core
        machines = self.machines
        emu_start = uclib.uc_emu_start
        time_slice, max_switches = self.time_slice, self.max_switches
        while True:
            vcpu = self._current
            vm_id = vcpu.vm_id
            m = machines[vm_id]
            if m.loaded != vcpu.index:
                m.activate(vcpu.index)
            if vcpu.resume_x0 is not None:
                m.set_return(vcpu.resume_x0)
                vcpu.resume_x0 = None
            is_primary = vm_id == 0
            count = budget if is_primary or budget < time_slice else time_slice
            self._ev = _EV_NONE
            self._mem_fault = None
            # Machine.start, inlined: this line is the world switch.
            begin = m.pc_hint if m.pc_hint is not None else m.reg(REG_PC)
            m.pc_hint = None
            status = emu_start(m.handle, begin, UNTIL, 0, count)
            ev = self._ev
            if status and ev != _EV_INTERNAL:
                ev, self._ev_obj = _EV_FAULT, self._memory_fault(vcpu, status)
            if ev == _EV_OUTCOME:
                outcome = cast(Outcome, self._ev_obj)
                budget -= 1
                if outcome.run is not None:
                    target = core.vms[outcome.run[0]].vcpus[outcome.run[1]]
                    if self._tracing:
                        self._raw.append(("switch", target.vm_id, target.index, (), None, "HF_VCPU_RUN"))
                    self._current = target
                elif outcome.to_primary is not None:
                    self._switch_to_primary(outcome.to_primary, "hypercall")
                elif outcome.system_off:
                    self._log("stop", vm_id, vcpu.index, detail="PSCI_SYSTEM_OFF")
                    return "system_off"
            elif ev == _EV_NONE:
                pc = m.stopped_pc()
                off = pc - 4 - m.base
                if pc == UNTIL:  # a jump to the stop address: as unmapped as any other
                    kind = "instruction abort (fetch from unmapped address)"
                    ev, self._ev_obj = _EV_FAULT, Fault(vm_id, vcpu.index, pc, kind, pc)
                elif 0 <= off <= m.size - 4 and _U32.unpack_from(m.ram, off)[0] == abi.INSN_WFI:  # wfi ends emu_start silently
                    budget -= 1
                    self._log("wfi", vm_id, vcpu.index, detail=f"at PC {pc - 4:#x}")
                    if not is_primary:  # the primary's wfi is a no-op: no interrupt source is modelled
                        self._switch_to_primary(core.wait_for_interrupt(vm_id, vcpu.index), "wfi")
                else:  # the count ran out
                    budget -= count
                    if is_primary:
                        return self._timeout(vcpu, pc, switches)
                    if self._tracing:
                        self._raw.append(("preempt", vm_id, vcpu.index, (), None, f"at PC {pc:#x}"))
                    self._switch_to_primary(core.preempted(vm_id, vcpu.index), "time slice")
            elif ev == _EV_DRIVER:
                return "driver"
            elif ev == _EV_INTERNAL:
                error = cast(BaseException, self._ev_obj)
                raise HarnessError(
                    f"internal error in the reference hypervisor while VM {vm_id} vCPU {vcpu.index} ran: {error!r}"
                ) from error
            if ev == _EV_FAULT:
                fault = cast(Fault, self._ev_obj)
                self.faults.append(fault)
                self._log("fault", fault.vm, fault.vcpu, detail=str(fault))
                budget -= 1
                if is_primary or self.fault_policy == "stop":
                    return fault
                self._switch_to_primary(core.aborted(vm_id, vcpu.index), "fault")
            switches += 1
            if budget <= 0 or switches > max_switches:
                return self._timeout(self._current, machines[self._current.vm_id].pc, switches)

    def _switch_to_primary(self, response: int, reason: str) -> None:
        primary = self.core.resume_primary()
        primary.resume_x0 = response
        if self._tracing:
            self._raw.append(("switch", 0, primary.index, (), response, reason))
        self._current = primary

    def _timeout(self, vcpu: Vcpu, pc: int, switches: int) -> Timeout:
        t = Timeout(vcpu.vm_id, vcpu.index, pc, self.budget, switches)
        self._log("stop", vcpu.vm_id, vcpu.index, detail=str(t))
        return t

    def _memory_fault(self, vcpu: Vcpu, status: int) -> Fault:
        if self._mem_fault is None:
            pc = self.machines[vcpu.vm_id].pc
            return Fault(vcpu.vm_id, vcpu.index, pc, f"emulator error: {cast(Any, UcError)(status)}")
        address, pc, is_write = self._mem_fault
        m = self.machines[vcpu.vm_id]
        insn = m.word(pc)
        if insn is not None and insn & 0xFFFF_FFE0 == INSN_DC_ZVA:
            # dc zva zeroes a whole block: the fault is the block's first byte, not where the
            # emulator's write of it first went unmapped.
            address = m.reg(X_REGS[insn & 0x1F]) & ~(DC_ZVA_BLOCK - 1) if insn & 0x1F != 31 else address
        if status == _UC_ERR_FETCH_UNMAPPED:
            return Fault(vcpu.vm_id, vcpu.index, pc, "instruction abort (fetch from unmapped address)", address)
        kind = "data abort (write to unmapped address)" if is_write else "data abort (read from unmapped address)"
        return Fault(vcpu.vm_id, vcpu.index, pc, kind, address)


from unicorn import unicorn_const as _ucc  # noqa: E402

_UC_ERR_FETCH_UNMAPPED: int = _ucc.UC_ERR_FETCH_UNMAPPED
_WRITE_ACCESSES = (_ucc.UC_MEM_WRITE_UNMAPPED, _ucc.UC_MEM_WRITE)
