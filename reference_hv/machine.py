"""One VM's physical machine: a Unicorn AArch64 CPU, its memory, and its vCPUs' register files.

Each VM has its own Unicorn instance, so a VM can only ever address its own memory (VM-5):
another VM's range is simply not mapped there, and touching it is a fault. Guest RAM is host
memory (``mem_map_ptr`` over a ctypes array), so the mailbox copy is a ``memmove`` and Python
reads guest memory without going through the emulator.

Registers are read and written through libunicorn's C API directly (``uc_reg_*_batch`` with
arrays prepared once): the Python wrapper costs a few microseconds a register, and the
hypercall path touches 22 of them. The hot functions are called without ctypes converting an
argument per call -- ``uc_emu_start`` through a prototype of plain ints (:func:`fast_function`),
the register calls with ctypes objects made once (:func:`held_function`) -- since ctypes' own
argument handling costs more than the call itself, and the system's interrupt hook is the thunk's
own target (:meth:`Machine.on_exception`).

This module is the only one that calls libunicorn: the scheduler (:mod:`reference_hv.system`)
runs a vCPU with :meth:`Machine.run` and reads what stopped it from the hooks it registered here.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import threading
from collections.abc import Callable
from typing import Any, cast

from unicorn import arm64_const as a64
from unicorn import unicorn_const as ucc
from unicorn.unicorn import UcError
from unicorn.unicorn_const import (
    UC_ARCH_ARM64,
    UC_CTL_IO_WRITE,
    UC_CTL_TLB_FLUSH,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_HOOK_MEM_FETCH_PROT,
    UC_HOOK_MEM_UNMAPPED,
    UC_HOOK_MEM_WRITE_PROT,
    UC_MODE_ARM,
    UC_PROT_ALL,
    UC_PROT_READ,
)
from unicorn.unicorn_py3.arch.types import uc_hook_h
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, HOOK_INTR_CFUNC, HOOK_MEM_INVALID_CFUNC, Uc, uclib

#: SCR_EL3 = NS | RW | HCE: without HCE an ``hvc`` at EL1 is UNDEFINED in Unicorn.
SCR_EL3_VALUE = 0x501
TCG_BUFFER_SIZE = 4 * 1024 * 1024

X_REGS: tuple[int, ...] = (
    *(getattr(a64, f"UC_ARM64_REG_X{i}") for i in range(29)),
    a64.UC_ARM64_REG_X29,
    a64.UC_ARM64_REG_X30,
)
REG_PC: int = a64.UC_ARM64_REG_PC
REG_SP: int = a64.UC_ARM64_REG_SP
REG_NZCV: int = a64.UC_ARM64_REG_NZCV
#: A vCPU's saved context: x0..x30, SP, PC, NZCV.
CONTEXT_REGS: tuple[int, ...] = (*X_REGS, REG_SP, REG_PC, REG_NZCV)
CTX_PC = 32  # index of PC in CONTEXT_REGS
#: The rest of a vCPU's state that differs between the vCPUs of one VM, switched by
#: :meth:`Machine.activate` (with SPSR_EL1, CNTV_CTL_EL0, CNTV_CVAL_EL0 and the IRQ line): PSTATE
#: (DAIF, mode) first, so that the stack pointers land in their banks.
SYS_REGS: tuple[int, ...] = (
    a64.UC_ARM64_REG_PSTATE,
    a64.UC_ARM64_REG_SP_EL0,
    a64.UC_ARM64_REG_SP_EL1,
    a64.UC_ARM64_REG_ELR_EL1,
    a64.UC_ARM64_REG_ESR_EL1,
    a64.UC_ARM64_REG_FAR_EL1,
    a64.UC_ARM64_REG_VBAR_EL1,
    a64.UC_ARM64_REG_TPIDR_EL0,
    a64.UC_ARM64_REG_TPIDR_EL1,
)
_U32 = struct.Struct("<I")

#: Where :meth:`Machine.run` tells the emulator to stop: never mapped, so no translated block is lost.
UNTIL = 0xFFFF_0000_0000

# Exception numbers the interrupt hook reports (QEMU's EXCP_* for AArch64).
INTNO_UNDEF = 1
INTNO_SVC = 2
INTNO_PREFETCH_ABORT = 3
INTNO_DATA_ABORT = 4
INTNO_BRK = 7
INTNO_HVC = 11
INTNO_SMC = 13

#: The status :meth:`Machine.run` returns for a fetch from unmapped memory.
STATUS_FETCH_UNMAPPED: int = ucc.UC_ERR_FETCH_UNMAPPED
#: The statuses :meth:`Machine.run` returns for a write to, or an instruction fetched from, a page
#: made read-only (:meth:`Machine.protect`).
STATUS_WRITE_PROT: int = ucc.UC_ERR_WRITE_PROT
STATUS_FETCH_PROT: int = ucc.UC_ERR_FETCH_PROT

# --- system registers (Unicorn's CP_REG tuples: CRn, CRm, op0, op1, op2) ------------------------
CP_SCR_EL3 = (1, 1, 3, 6, 0)
CP_HCR_EL2 = (1, 1, 3, 4, 0)
CP_SPSR_EL1 = (4, 0, 3, 0, 0)
CP_CNTFRQ_EL0 = (14, 0, 3, 3, 0)
CP_CNTV_CTL_EL0 = (14, 3, 3, 3, 1)
CP_CNTV_CVAL_EL0 = (14, 3, 3, 3, 2)
#: HCR_EL2 once a vCPU's virtual IRQ line is used: RW (EL1 is AArch64) | IMO (IRQs to EL2, so that
#: VI is a virtual IRQ of EL1); VI (bit 7) asserts the line (:meth:`Machine.set_irq`).
HCR_EL2_BASE = (1 << 31) | (1 << 4)
HCR_EL2_VI = 1 << 7

#: The virtual counter of this reference: it stands still. The hypervisor decides with it
#: (a timer has expired when CVAL <= it) and the guest's CNTVCT_EL0 reads it (Unicorn's own is the
#: host clock), so the same programs give the same trace.
VIRTUAL_COUNTER = 0
TIMER_ISTATUS = 1 << 2
_TIMER_CTL_WRITABLE = 0b11  # ENABLE, IMASK


def _sysreg(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    """The MSR-register encoding of a system register (Rt = 0); | 1 << 21 for MRS."""
    return 0xD500_0000 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5


_MRS = 1 << 21
#: The generic-timer instructions the machine emulates (Unicorn ignores a guest's writes to the
#: CNTV_* registers and its counter is the host clock): word & ~0x1F (Rt cleared) -> what.
TIMER_INSNS: dict[int, str] = {
    _sysreg(3, 3, 14, 3, 1): "msr ctl",
    _sysreg(3, 3, 14, 3, 2): "msr cval",
    _sysreg(3, 3, 14, 3, 0): "msr tval",
    _sysreg(3, 3, 14, 3, 0) | _MRS: "mrs tval",
    _sysreg(3, 3, 14, 0, 2) | _MRS: "mrs cntvct",
    _sysreg(3, 3, 14, 0, 1) | _MRS: "mrs cntpct",  # CNTVOFF_EL2 = 0: the same counter
}
_WRITE_ACCESSES = frozenset({ucc.UC_MEM_WRITE_UNMAPPED, ucc.UC_MEM_WRITE, ucc.UC_MEM_WRITE_PROT})

_ARGS4 = struct.Struct("<4Q")
_ARGS8 = struct.Struct("<8Q")
_V = ctypes.c_void_p
assert ctypes.sizeof(_V) == ctypes.sizeof(ctypes.c_uint64) == 8


def fast_function(name: str, *argtypes: Any) -> Any:
    """libunicorn's ``name``, called with plain ints: handles, pointers and 64-bit values as
    ``c_void_p`` (which ctypes converts from an int far faster than ``c_uint64``, or than it checks
    an array against an ``LP_c_int`` argument; on LP64 both are passed alike)."""
    address = ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
    assert address is not None, name
    return ctypes.CFUNCTYPE(ctypes.c_int, *argtypes)(address)


def held_function(name: str) -> Any:
    """libunicorn's ``name`` for the calls that take nanoseconds in C (registers, ``uc_emu_stop``),
    called with ctypes objects made once -- the handle as a ``c_void_p``, arrays, pointers -- and
    small ints (a C ``int``): with no ``argtypes`` ctypes converts no argument per call, and the GIL
    is kept (``PYFUNCTYPE``: releasing and taking it back costs more than the call). ~260 ns a call
    on CPython 3.11 against ~420 ns for :func:`fast_function` with plain ints. The ``uc_err`` it
    returns is not read (the machine only passes registers and handles that exist)."""
    address = ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
    assert address is not None, name
    return ctypes.PYFUNCTYPE(None)(address)


# uc_emu_start releases the GIL: the guest may run for a long time.
_emu_start = fast_function("uc_emu_start", _V, _V, _V, _V, _V)  # uc, begin, until, timeout (u64), count (size_t)
_emu_stop = held_function("uc_emu_stop")  # uc
_reg_read = held_function("uc_reg_read")  # uc, regid (int), value pointer
_reg_write = held_function("uc_reg_write")
_reg_read_batch = held_function("uc_reg_read_batch")  # uc, int regs[], void *vals[], count (int)
_reg_write_batch = held_function("uc_reg_write_batch")


class _CpReg(ctypes.Structure):
    """Unicorn's ``uc_arm64_cp_reg``: a system register by (CRn, CRm, op0, op1, op2), and its value."""

    _fields_ = (
        ("crn", ctypes.c_uint32),
        ("crm", ctypes.c_uint32),
        ("op0", ctypes.c_uint32),
        ("op1", ctypes.c_uint32),
        ("op2", ctypes.c_uint32),
        ("val", ctypes.c_uint64),
    )


REG_CP: int = a64.UC_ARM64_REG_CP_REG


def status_text(status: int) -> str:
    """The emulator's description of a non-zero :meth:`Machine.run` status."""
    return str(cast(Any, UcError)(status))


class _Batch:
    """A fixed list of registers read or written with one C call."""

    def __init__(self, handle: ctypes.c_void_p, regs: tuple[int, ...]) -> None:
        n = len(regs)
        self._ids = (ctypes.c_int * n)(*regs)
        self.values = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self.values)
        self._ptrs = (ctypes.c_void_p * n)(*(base + 8 * i for i in range(n)))
        #: The arguments of ``uc_reg_*_batch`` (:func:`held_function`: the arrays are passed as pointers).
        self.call = (handle, self._ids, self._ptrs, n)

    def read(self) -> Any:
        _reg_read_batch(*self.call)
        return self.values

    def write(self) -> None:
        _reg_write_batch(*self.call)


def _deny(is_write: bool, address: int) -> bool:
    return False


# The hot register calls of one machine, as closures: every name they use is a local of theirs.


def _reader(batch: _Batch, unpack: Callable[[Any], tuple[int, ...]]) -> Callable[[], tuple[int, ...]]:
    """Read ``batch``'s registers with one call and return them as a tuple."""
    read, (h, ids, ptrs, n), values = _reg_read_batch, batch.call, batch.values

    def read_registers() -> tuple[int, ...]:
        read(h, ids, ptrs, n)
        return unpack(values)

    return read_registers


def _returner(batch: _Batch) -> Callable[[int], None]:
    """Write the first register of ``batch`` (x0) and zero the rest (x1..x17: they stay zero in
    ``values``), with one call."""
    write, (h, ids, ptrs, n), values = _reg_write_batch, batch.call, batch.values

    def set_return(x0: int) -> None:
        values[0] = x0
        write(h, ids, ptrs, n)

    return set_return


def _results_writer(batch: _Batch) -> Callable[[int, tuple[int, ...]], None]:
    """Write x0 and x1..x7 (``batch``: x0..x7) with one call."""
    write, (h, ids, ptrs, n), values = _reg_write_batch, batch.call, batch.values

    def set_results(x0: int, regs: tuple[int, ...]) -> None:
        values[0] = x0
        values[1], values[2], values[3], values[4], values[5], values[6], values[7] = regs
        write(h, ids, ptrs, n)

    return set_results


#: Idle machines of finished systems, by (base, size, vCPUs), reset and ready for the next system
#: (:meth:`Machine.acquire`): a new Unicorn engine costs ~0.5 ms to start and to free, a reset one
#: a few microseconds. At most ``POOL_LIMIT`` of each shape are kept, none above ``POOL_MAX_MEMORY``.
_POOL: dict[tuple[int, int, int], list[Machine]] = {}
_POOL_LOCK = threading.Lock()
POOL_LIMIT = 8
#: Machines with more guest memory than this are closed, not kept (a few tests boot large VMs).
POOL_MAX_MEMORY = 16 * 1024 * 1024


class Machine:
    """The CPU and memory of one VM, with the register files of its vCPUs.

    A system gets its machines with :meth:`acquire` and gives them back with :meth:`release`: a
    released machine is reset before its next use to the state of a new one -- guest memory zeroed,
    the CPU's whole state (system registers included) restored from right after its creation, the
    translated code and the TLB flushed, its hooks detached -- so nothing of one system reaches the
    next.
    """

    @classmethod
    def acquire(cls, vm_id: int, base: int, size: int, vcpus: int) -> Machine:
        """A machine for VM ``vm_id``: an idle one of this shape, reset, or a new one."""
        with _POOL_LOCK:
            idle = _POOL.get((base, size, vcpus))
            m = idle.pop() if idle else None
        if m is None:
            return cls(vm_id, base, size, vcpus)
        m._reset(vm_id)
        return m

    def __init__(self, vm_id: int, base: int, size: int, vcpus: int) -> None:
        self.vm_id = vm_id
        self.base = base
        self.size = size
        # Unicorn's Python binding is only partly annotated: its untyped calls are marked here.
        self.uc: Any = cast(Any, Uc)(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
        self.uc.reg_write(a64.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 0, SCR_EL3_VALUE))
        self.ram = (ctypes.c_ubyte * size)()
        self.ram_addr = ctypes.addressof(self.ram)
        self.uc.mem_map_ptr(base, size, UC_PROT_ALL, self.ram)
        self.handle = self.uc._uch
        handle: int = self.handle.value  # the engine's address, for uc_emu_start (fast_function)
        self._h = handle
        h = self._hobj = ctypes.c_void_p(handle)  # the same, for the held calls (held_function)
        self._callbacks: list[Any] = []
        self.closed = False
        #: The PC when known without asking the CPU (None: ask). Valid only while the CPU is stopped;
        #: the scheduler (System._execute) starts the CPU here and clears it.
        self.pc_hint: int | None = None
        self._u64 = ctypes.c_uint64()
        self._u64_addr = ctypes.c_void_p(ctypes.addressof(self._u64))
        self._cpreg = _CpReg()
        self._cpreg_addr = ctypes.c_void_p(ctypes.addressof(self._cpreg))
        # The calls of every hvc, as closures over their prepared arguments (no attribute loads).
        args4 = _Batch(h, X_REGS[:4])
        ret = _Batch(h, X_REGS[:18])  # x0 = result, x1..x17 = 0 (CALL-5)
        args8 = _Batch(h, X_REGS[:8])  # x0..x7: the arguments and results of a wide core (FF-A)
        self._batches = (args4, ret, args8)  # they own the arrays the closures point to
        self.args = cast(Callable[[], tuple[int, int, int, int]], _reader(args4, _ARGS4.unpack_from))
        self.args8 = cast(Callable[[], tuple[int, int, int, int, int, int, int, int]], _reader(args8, _ARGS8.unpack_from))
        self.set_return = _returner(ret)
        self.set_results = _results_writer(args8)
        self.stop = functools.partial(_emu_stop, h)
        self._ctx = _Batch(h, CONTEXT_REGS)
        self._xs = _Batch(h, X_REGS)
        #: The interrupt hook of the system using the machine (on_exception): (its handle, its thunk).
        self._exception_hook: tuple[Any, Any] | None = None
        #: A callback given to on_exception during a run, installed when the run returns.
        self._next_exception_hook: Callable[[Any, int, Any], None] | None = None
        #: Inside uc_emu_start (the hooks run then).
        self._running = False
        #: Thunks of replaced interrupt hooks, kept alive until the machine is released (one may be
        #: running: a hook that installs an interceptor replaces itself).
        self._retired: list[Any] = []
        self._unmapped: Callable[[bool, int], bool] = _deny  # see on_unmapped
        self._unmapped_hooked = False
        #: Hooks of one system (on_code_at), deleted when the machine is released.
        self._system_hooks: list[tuple[Any, Any]] = []
        #: The CPU's whole state right after creation (SCR_EL3 set): what a reset restores.
        self._pristine = self.uc.context_save()
        #: Saved contexts of the vCPUs not loaded in the CPU right now.
        self.contexts: list[list[int] | None] = [None] * vcpus
        self.loaded = 0
        self._sys = _Batch(h, SYS_REGS)
        #: A vCPU's system registers before it first runs (SYS_REGS, then SPSR_EL1, CNTV_CTL_EL0,
        #: CNTV_CVAL_EL0): those of the CPU as created.
        self._sys_pristine = self._save_sys()
        #: Saved system registers of the vCPUs not loaded (None: as created).
        self.sys_contexts: list[list[int] | None] = [None] * vcpus
        #: Each vCPU's virtual IRQ line (:meth:`set_irq`); HCR_EL2 is written only once one is used.
        self.irq = [False] * vcpus
        self._irq_used = False
        #: Ranges made read-only (:meth:`protect`), made writable again by a reset.
        self._protected: list[tuple[int, int]] = []
        #: CNTFRQ_EL0 of the emulated CPU, in Hz.
        self.frequency = self._cp(CP_CNTFRQ_EL0)

    # --- running --------------------------------------------------------------------------

    def run(self, count: int) -> int:
        """Run the loaded vCPU from its PC for at most ``count`` instructions: the world switch.

        Returns when a hook stopped the CPU (:meth:`stop`), the guest executed ``wfi``, the count
        ran out, or the emulator failed (the status, non-zero: :func:`status_text`). The hooks run
        inside this call, on the same thread.
        """
        begin = self.pc_hint
        if begin is None:
            _reg_read(self._hobj, REG_PC, self._u64_addr)
            begin = self._u64.value
        else:
            self.pc_hint = None
        self._running = True
        status: int = _emu_start(self._h, begin, UNTIL, 0, count)
        self._running = False  # (nothing raises through uc_emu_start: the hooks catch everything)
        if self._next_exception_hook is not None:
            self._install_exception_hook(self._next_exception_hook)
        return status

    #: ``stop()``: ask the CPU to stop after the current block (``uc_emu_stop``: asynchronous).
    stop: Callable[[], None]

    def on_exception(self, callback: Callable[[Any, int, Any], None]) -> None:
        """Call ``callback(uc, intno, data)`` for every exception the guest takes (hvc, smc, brk,
        undef, ...): straight from the emulator, with no frame in between (the hot path of every
        hvc); ``intno`` is the exception number, ``uc`` and ``data`` are to be ignored. The callback
        must not raise (Unicorn's C is below it).

        A later call replaces the callback (one hook either way); :meth:`release` removes it. Made
        from inside a hook of this machine's run, the replacement takes effect when the run returns
        (the emulator would also hand the new hook the exception being handled).
        """
        if self._running:
            self._next_exception_hook = callback
            return
        self._install_exception_hook(callback)

    def _install_exception_hook(self, callback: Callable[[Any, int, Any], None]) -> None:
        self._next_exception_hook = None
        self._drop_exception_hook()
        cb = HOOK_INTR_CFUNC(callback)
        self._exception_hook = (self._add_hook(UC_HOOK_INTR, cb), cb)

    def _drop_exception_hook(self) -> None:
        if self._exception_hook is not None:
            handle, cb = self._exception_hook
            self._exception_hook = None
            uclib.uc_hook_del(self.handle, handle)
            self._callbacks.remove(cb)
            self._retired.append(cb)

    def on_unmapped(self, callback: Callable[[bool, int], bool]) -> None:
        """Call ``callback(is_write, address)`` when the guest touches unmapped memory, or writes
        to or executes from a page made read-only (:meth:`protect`); False = fault.

        A later call replaces the callback (one hook either way)."""
        self._unmapped = callback
        if not self._unmapped_hooked:
            self._unmapped_hooked = True
            writes = _WRITE_ACCESSES
            cb = HOOK_MEM_INVALID_CFUNC(
                lambda _uc, access, address, _size, _value, _data: self._unmapped(access in writes, address)
            )
            self._add_hook(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT, cb)

    def on_code_at(self, address: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` before the instruction at ``address`` executes (a hook on that word
        only), until the machine is released."""
        cb = HOOK_CODE_CFUNC(lambda _uc, _address, _size, _data: callback())
        handle = self._add_hook(UC_HOOK_CODE, cb, address, address)
        self._system_hooks.append((handle, cb))

    def take_sync_exception(self, pc: int, esr: int, far: int) -> None:
        """Take a synchronous exception to EL1 for the instruction at ``pc``, as the CPU does for a
        fault of its own: ELR_EL1 = ``pc``, SPSR_EL1 = PSTATE, ESR_EL1 = ``esr``, FAR_EL1 = ``far``;
        PSTATE = EL1h with D, A, I, F masked; the next run starts at VBAR_EL1 + 0x000 (from EL1t),
        + 0x200 (from EL1h) or + 0x400 (from EL0). How a hypervisor injects an abort into its guest."""
        uc = self.uc
        pstate = int(uc.reg_read(a64.UC_ARM64_REG_PSTATE))
        mode = pstate & 0xF
        offset = 0x400 if mode >> 2 == 0 else 0x200 if mode & 1 else 0x000
        uc.reg_write(a64.UC_ARM64_REG_CP_REG, (*CP_SPSR_EL1, pstate))
        uc.reg_write(a64.UC_ARM64_REG_ELR_EL1, pc)
        uc.reg_write(a64.UC_ARM64_REG_ESR_EL1, esr)
        uc.reg_write(a64.UC_ARM64_REG_FAR_EL1, far)
        uc.reg_write(a64.UC_ARM64_REG_PSTATE, (pstate & ~0x3CF) | 0x3C5)
        self.pc_hint = int(uc.reg_read(a64.UC_ARM64_REG_VBAR_EL1)) + offset

    def spsr_el1(self) -> int:
        """SPSR_EL1 (op0 3, op1 0, CRn 4, CRm 0, op2 0): where an ``eret`` returns to."""
        return int(self.uc.reg_read(a64.UC_ARM64_REG_CP_REG, (4, 0, 3, 0, 0)))

    def _add_hook(self, kind: int, cb: Any, begin: int = 1, end: int = 0) -> Any:
        handle = uc_hook_h()
        status = uclib.uc_hook_add(self.handle, ctypes.byref(handle), kind, ctypes.cast(cb, ctypes.c_void_p), None, begin, end)
        if status:
            raise RuntimeError(f"VM {self.vm_id}: uc_hook_add failed with error {status}")
        self._callbacks.append(cb)  # the C side holds only a pointer: keep the thunk alive
        return handle

    def skip(self, address: int) -> None:
        """From a code hook on the instruction at ``address``: do not execute it, go on after it
        (the CPU leaves the block and resumes at ``address + 4`` in the same run)."""
        self._u64.value = address + 4
        _reg_write(self._hobj, REG_PC, self._u64_addr)

    # --- the virtual IRQ line and the virtual timer ---------------------------------------------

    def set_irq(self, vcpu: int, asserted: bool) -> None:
        """``vcpu``'s virtual IRQ line: HCR_EL2.VI while it is loaded (switched by :meth:`activate`).
        The CPU then takes the IRQ exception at VBAR_EL1 (+0x280 from EL1h, +0x80 from EL1t;
        ELR_EL1, SPSR_EL1 written, DAIF masked) as soon as PSTATE.I is clear -- QEMU's own
        delivery, also from a hook inside the run (it is taken after the current instruction)."""
        self.irq[vcpu] = asserted
        self._irq_used = True
        if vcpu == self.loaded:
            self._write_hcr(asserted)

    def _write_hcr(self, asserted: bool) -> None:
        self._set_cp(CP_HCR_EL2, HCR_EL2_BASE | (HCR_EL2_VI if asserted else 0))

    def timer(self, vcpu: int) -> tuple[int, int]:
        """``vcpu``'s (CNTV_CTL_EL0, CNTV_CVAL_EL0)."""
        if vcpu == self.loaded:
            return self._cp(CP_CNTV_CTL_EL0), self._cp(CP_CNTV_CVAL_EL0)
        ctx = self.sys_contexts[vcpu] or self._sys_pristine
        return ctx[-2], ctx[-1]

    def mask_timer(self, vcpu: int) -> None:
        """Set ``vcpu``'s CNTV_CTL_EL0.IMASK."""
        ctl, cval = self.timer(vcpu)
        self._set_timer(vcpu, ctl | 0b10, cval)

    def _set_timer(self, vcpu: int, ctl: int, cval: int) -> None:
        ctl &= _TIMER_CTL_WRITABLE
        if ctl & 1 and cval <= VIRTUAL_COUNTER:
            ctl |= TIMER_ISTATUS  # the condition is met (read-only to the guest)
        if vcpu == self.loaded:
            self._set_cp(CP_CNTV_CVAL_EL0, cval)
            self._set_cp(CP_CNTV_CTL_EL0, ctl)
            return
        ctx = list(self.sys_contexts[vcpu] or self._sys_pristine)
        ctx[-2], ctx[-1] = ctl, cval
        self.sys_contexts[vcpu] = ctx

    def timer_access(self, address: int, word: int) -> Callable[[], None] | None:
        """The emulation of the generic-timer instruction ``word`` at ``address`` (a code hook for
        :meth:`on_code_at`), or None when ``word`` is not one (:data:`TIMER_INSNS`).

        Unicorn ignores a guest's writes to CNTV_CTL/CVAL/TVAL_EL0 (reads work) and its
        CNTVCT_EL0 is the host clock: writes are done here before the instruction (which then
        changes nothing), and reads of CNTVCT_EL0 / CNTPCT_EL0 (= :data:`VIRTUAL_COUNTER`) and
        CNTV_TVAL_EL0 are done here instead of the instruction. Reads of CNTV_CTL/CVAL_EL0 are the
        CPU's own (they return what was written here, ISTATUS included)."""
        what = TIMER_INSNS.get(word & ~0x1F)
        if what is None:
            return None
        rt = word & 0x1F
        xt = X_REGS[rt] if rt != 31 else None

        def value() -> int:
            return 0 if xt is None else self.reg(xt)

        def access() -> None:
            ctl, cval = self.timer(self.loaded)
            if what == "msr ctl":
                self._set_timer(self.loaded, value(), cval)
            elif what == "msr cval":
                self._set_timer(self.loaded, ctl, value())
            elif what == "msr tval":
                tval = value() & 0xFFFF_FFFF
                tval -= (tval & 0x8000_0000) << 1  # a signed 32-bit value
                self._set_timer(self.loaded, ctl, (VIRTUAL_COUNTER + tval) & 0xFFFF_FFFF_FFFF_FFFF)
            else:
                result = (cval - VIRTUAL_COUNTER) & 0xFFFF_FFFF if what == "mrs tval" else VIRTUAL_COUNTER
                if xt is not None:
                    self._u64.value = result
                    _reg_write(self._hobj, xt, self._u64_addr)
                self.skip(address)

        return access

    def _cp(self, cp: tuple[int, int, int, int, int]) -> int:
        """A system register (CP_* tuple), read with one C call."""
        r = self._cpreg
        r.crn, r.crm, r.op0, r.op1, r.op2 = cp
        _reg_read(self._hobj, REG_CP, self._cpreg_addr)
        value: int = r.val
        return value

    def _set_cp(self, cp: tuple[int, int, int, int, int], value: int) -> None:
        r = self._cpreg
        r.crn, r.crm, r.op0, r.op1, r.op2 = cp
        r.val = value
        _reg_write(self._hobj, REG_CP, self._cpreg_addr)

    def _save_sys(self) -> list[int]:
        return [*self._sys.read(), self._cp(CP_SPSR_EL1), self._cp(CP_CNTV_CTL_EL0), self._cp(CP_CNTV_CVAL_EL0)]

    def _restore_sys(self, ctx: list[int]) -> None:
        n = len(SYS_REGS)
        for i, value in enumerate(ctx[:n]):
            self._sys.values[i] = value
        self._sys.write()
        for cp, value in zip((CP_SPSR_EL1, CP_CNTV_CTL_EL0, CP_CNTV_CVAL_EL0), ctx[n:], strict=True):
            self._set_cp(cp, value)

    # --- memory ---------------------------------------------------------------------------

    def protect(self, addr: int, size: int, writable: bool) -> None:
        """Stage 2: make ``[addr, addr + size)`` read-only to the guest (``writable`` False: R, not
        W, not X, as Hafnium's MM_MODE_R) or read-write-execute again. A guest write there stops
        the run with :data:`STATUS_WRITE_PROT` (the unmapped hook sees it as a write), an
        instruction fetch with :data:`STATUS_FETCH_PROT`; the hypervisor's own copies (``ram``)
        are unaffected."""
        if not self.contains(addr, size) or addr % 0x1000 or size % 0x1000:
            raise ValueError(f"VM {self.vm_id}: cannot protect {size:#x} bytes at {addr:#x}")
        self.uc.mem_protect(addr, size, UC_PROT_ALL if writable else UC_PROT_READ)
        self._protected.append((addr, size))

    def contains(self, addr: int, size: int) -> bool:
        return self.base <= addr and addr + size <= self.base + self.size

    def load(self, addr: int, data: bytes) -> None:
        if not self.contains(addr, len(data)):
            raise ValueError(f"VM {self.vm_id}: {len(data)} bytes at {addr:#x} fall outside its memory")
        ctypes.memmove(self.ram_addr + addr - self.base, data, len(data))

    def read(self, addr: int, size: int) -> bytes:
        if not self.contains(addr, size):
            raise ValueError(f"VM {self.vm_id}: {size} bytes at {addr:#x} fall outside its memory")
        return ctypes.string_at(self.ram_addr + addr - self.base, size)  # one memcpy

    def word(self, addr: int) -> int | None:
        """The 32-bit word at ``addr``, or None when it is not this VM's memory."""
        off = addr - self.base
        if not 0 <= off <= self.size - 4:
            return None
        return int(_U32.unpack_from(self.ram, off)[0])

    # --- registers ------------------------------------------------------------------------

    def reg(self, reg: int) -> int:
        _reg_read(self._hobj, reg, self._u64_addr)
        value: int = self._u64.value
        return value

    def set_reg(self, reg: int, value: int) -> None:
        self.pc_hint = value if reg == REG_PC else self.pc_hint
        self._u64.value = value
        _reg_write(self._hobj, reg, self._u64_addr)

    @property
    def pc(self) -> int:
        """The PC (from the CPU, unless the scheduler already read it since the CPU stopped)."""
        pc = self.pc_hint
        if pc is None:
            _reg_read(self._hobj, REG_PC, self._u64_addr)
            pc = self._u64.value
        return pc

    def stopped_pc(self) -> int:
        """Read the PC of the stopped CPU once and keep it for the next :meth:`run`."""
        _reg_read(self._hobj, REG_PC, self._u64_addr)
        pc: int = self._u64.value
        self.pc_hint = pc
        return pc

    #: ``args()``: x0..x3, read with one call.
    args: Callable[[], tuple[int, int, int, int]]
    #: ``args8()``: x0..x7, read with one call.
    args8: Callable[[], tuple[int, int, int, int, int, int, int, int]]
    #: ``set_results(x0, regs)``: return x0 and ``regs`` = x1..x7 (seven values); x8 and above keep
    #: their values.
    set_results: Callable[[int, tuple[int, ...]], None]
    #: ``set_return(x0)``: return from a hypercall: x0 = result, x1..x17 = 0 (CALL-5).
    set_return: Callable[[int], None]

    def xregs(self) -> tuple[int, ...]:
        """x0..x30, read with one call."""
        return tuple(self._xs.read())

    def save(self) -> list[int]:
        return list(self._ctx.read())

    def restore(self, ctx: list[int]) -> None:
        self.pc_hint = None
        for i, value in enumerate(ctx):
            self._ctx.values[i] = value
        self._ctx.write()

    def activate(self, vcpu: int) -> None:
        """Load ``vcpu``'s registers into the CPU, saving those of the vCPU loaded before."""
        if vcpu == self.loaded:
            return
        ctx = self.contexts[vcpu]
        if ctx is None:
            raise RuntimeError(f"VM {self.vm_id} vCPU {vcpu} has no context: it was never started")
        self.contexts[self.loaded] = self.save()
        self.sys_contexts[self.loaded] = self._save_sys()
        self._restore_sys(self.sys_contexts[vcpu] or self._sys_pristine)
        self.restore(ctx)
        self.contexts[vcpu] = None
        self.sys_contexts[vcpu] = None
        self.loaded = vcpu
        if self._irq_used:
            self._write_hcr(self.irq[vcpu])

    def start_vcpu(self, vcpu: int, entry: int, x0: int = 0) -> None:
        """Give ``vcpu`` its boot context: PC = entry, SP = 0, x0 as given, all else zero."""
        ctx = [0] * len(CONTEXT_REGS)
        ctx[0] = x0
        ctx[CTX_PC] = entry
        if vcpu == self.loaded:
            self.restore(ctx)
        else:
            self.contexts[vcpu] = ctx

    def release(self) -> None:
        """The system is done with this machine: detach its hooks and keep the machine for another
        system (reset when it is acquired), or close it when enough of its shape are idle."""
        if self.closed:
            return
        for handle, cb in self._system_hooks:
            uclib.uc_hook_del(self.handle, handle)
            self._callbacks.remove(cb)
        self._system_hooks.clear()
        self._next_exception_hook = None
        self._drop_exception_hook()
        self._retired.clear()
        self._unmapped = _deny
        key = (self.base, self.size, len(self.contexts))
        with _POOL_LOCK:
            idle = _POOL.setdefault(key, [])
            keep = len(idle) < POOL_LIMIT and self.size <= POOL_MAX_MEMORY
            if keep:
                idle.append(self)
        if not keep:
            self.close()

    def _reset(self, vm_id: int) -> None:
        """The state of a new machine: memory zeroed and writable, the CPU as created (HCR_EL2 and the
        timer registers included), no translated code, no TLB."""
        self.vm_id = vm_id
        ctypes.memset(self.ram_addr, 0, self.size)
        if self._protected:  # pages made read-only (protect) are writable again
            self.uc.mem_protect(self.base, self.size, UC_PROT_ALL)
            self._protected.clear()
        self.uc.context_restore(self._pristine)
        self.uc.ctl_flush_tb()
        self.uc.ctl(UC_CTL_TLB_FLUSH, UC_CTL_IO_WRITE)
        self.pc_hint = None
        self.contexts = [None] * len(self.contexts)
        self.sys_contexts = [None] * len(self.contexts)
        self.irq = [False] * len(self.contexts)
        self._irq_used = False
        self.loaded = 0

    def close(self) -> None:
        """Release the emulator and the guest RAM now, not when the garbage collector gets to them.

        The interrupt hooks close a reference cycle (System -> Machine -> thunk -> System), so
        without this a finished system would hold its translation buffer and RAM until a cyclic
        collection: hundreds of MB over a test run.
        """
        if self.closed:
            return
        self.closed = True
        finalizer = getattr(self.uc, "_Uc__finalizer", None)
        if finalizer is not None:
            finalizer()  # uc_close, exactly once (the binding's own finalizer)
        self.uc = None
        self._callbacks.clear()
        self._system_hooks.clear()
        self._exception_hook = self._next_exception_hook = None
        self._retired.clear()
        self._unmapped = _deny
        self.ram = (ctypes.c_ubyte * 0)()
        self.ram_addr = 0
        self.size = 0
