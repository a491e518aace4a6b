"""The floor: the same guest work on bare Unicorn, with the least Python a hypervisor could do.

No ABI core, no trace, no checks: a hook that answers each ``hvc`` with a constant or a
``memmove``, and a Python loop that switches between two Unicorn instances: the C calls of the
reference's machine layer (less where a constant answer needs no register read), made the same
way, with every name a local. The reference is
measured doing the same guest work through the ABI (:mod:`bench.__main__`); their ratio is the
price of being a hypervisor.
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable
from typing import Any, cast

from unicorn import arm64_const as a64
from unicorn.unicorn_const import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, UC_PROT_ALL
from unicorn.unicorn_py3.arch.types import uc_hook_h
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, Uc, uclib

from guest_asm import layout
from guest_asm.assembler import Image
from profiles.hafnium_2018_10 import abi
from reference_hv.machine import fast_function, held_function

# libunicorn called the fastest way ctypes allows, as the reference's machine does (uc_emu_start
# with plain ints; the register calls and uc_emu_stop with ctypes objects made once, GIL held):
# the floor is what the emulator costs, not what ctypes' argument conversions cost. The hooks are
# the thunks' own targets (no wrapper frame), with every name they use a local.
_V = ctypes.c_void_p
_emu_start = fast_function("uc_emu_start", _V, _V, _V, _V, _V)
_emu_stop = held_function("uc_emu_stop")
_reg_read = held_function("uc_reg_read")
_reg_write = held_function("uc_reg_write")

UNTIL = 0xFFFF_0000_0000
X0 = a64.UC_ARM64_REG_X0
PC = a64.UC_ARM64_REG_PC


class BareVM:
    """One Unicorn CPU with host-backed RAM and one raw interrupt hook, ``on_intr(uc, intno, data)``."""

    def __init__(self, image: Image, size: int, on_intr: Callable[[Any, int, Any], None]) -> None:
        self.uc: Any = cast(Any, Uc)(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.ctl_set_tcg_buffer_size(4 * 1024 * 1024)
        self.uc.reg_write(a64.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 0, 0x501))
        self.h: int = self.uc._uch.value
        self.hobj = ctypes.c_void_p(self.h)
        self.base = image.base
        self.ram = (ctypes.c_ubyte * size)()
        self.ram_addr = ctypes.addressof(self.ram)
        self.uc.mem_map_ptr(image.base, size, UC_PROT_ALL, self.ram)
        ctypes.memmove(self.ram_addr, image.code, len(image.code))
        self.pc = image.entry
        self.u64 = ctypes.c_uint64()
        self.u64_addr = ctypes.c_void_p(ctypes.addressof(self.u64))
        self.cb = HOOK_INTR_CFUNC(on_intr)
        hh = uc_hook_h()
        uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), UC_HOOK_INTR, ctypes.cast(self.cb, ctypes.c_void_p), None, 1, 0)

    def run(self, count: int) -> None:
        _emu_start(self.h, self.pc, UNTIL, 0, count)
        _reg_read(self.hobj, PC, self.u64_addr)
        self.pc = int(self.u64.value)

    def fast(self) -> tuple[Any, Any, Any]:
        """``(handle, u64, pointer to u64)``: what a hook needs to read or write one register inline."""
        return self.hobj, self.u64, self.u64_addr


def hvc_loop(image: Image, n: int) -> float:
    """Seconds per ``hvc`` for a guest loop of HF_VM_GET_COUNT answered in the hook."""
    read, write, stop, off = _reg_read, _reg_write, _emu_stop, abi.PSCI_SYSTEM_OFF
    h: Any = None
    u64: Any = None
    ptr: Any = None

    def on_intr(_uc: Any, intno: int, _d: Any) -> None:
        if intno == 11:
            read(h, X0, ptr)
            if u64.value != off:
                u64.value = 2
                write(h, X0, ptr)
                return
        stop(h)

    vm = BareVM(image, 0x20000, on_intr)
    h, u64, ptr = vm.fast()
    t = time.perf_counter()
    vm.run(50 * n)
    return (time.perf_counter() - t) / n


def world_switch(primary: Image, secondary: Image, n: int, slice_: int) -> float:
    """Seconds per primary -> secondary -> primary round, the secondary spinning one slice."""
    read, write, stop, start, off = _reg_read, _reg_write, _emu_stop, _emu_start, abi.PSCI_SYSTEM_OFF
    switch = False
    ph: Any = None
    pu64: Any = None
    pptr: Any = None

    def on_primary(_uc: Any, intno: int, _d: Any) -> None:
        nonlocal switch
        if intno == 11:
            read(ph, X0, pptr)
            switch = pu64.value != off
        stop(ph)

    def on_secondary(_uc: Any, intno: int, _d: Any) -> None:
        pass

    p = BareVM(primary, 0x20000, on_primary)
    s = BareVM(secondary, 0x20000, on_secondary)
    ph, pu64, pptr = p.fast()
    sh, su64, sptr = s.fast()
    p_int, s_int, p_pc, s_pc = p.h, s.h, p.pc, s.pc
    t = time.perf_counter()
    while True:
        switch = False
        start(p_int, p_pc, UNTIL, 0, 10_000_000)
        read(ph, PC, pptr)
        p_pc = pu64.value
        if not switch:
            break
        start(s_int, s_pc, UNTIL, 0, slice_)
        read(sh, PC, sptr)
        s_pc = su64.value
        pu64.value = 0  # YIELD
        write(ph, X0, pptr)
    return (time.perf_counter() - t) / n


def echo(primary: Image, echo_image: Image, n: int) -> float:
    """Seconds per echo round trip (send 4 KiB, run the echo guest, MESSAGE, clear)."""
    send, recv = layout.LIB_SEND_PAGE, layout.LIB_RECV_PAGE
    read, write, stop, start, memmove = _reg_read, _reg_write, _emu_stop, _emu_start, ctypes.memmove
    off, mailbox_send, vcpu_run, mailbox_receive = (
        abi.PSCI_SYSTEM_OFF,
        abi.HF_MAILBOX_SEND,
        abi.HF_VCPU_RUN,
        abi.HF_MAILBOX_RECEIVE,
    )
    to: str | None = None
    pending = False
    ph: Any = None
    pu64: Any = None
    pptr: Any = None
    eh: Any = None
    eu64: Any = None
    eptr: Any = None
    p_ram = e_ram = 0

    def on_primary(_uc: Any, intno: int, _d: Any) -> None:
        nonlocal to, pending
        read(ph, X0, pptr)
        x0 = pu64.value
        if intno != 11 or x0 == off:
            to = "end"
            stop(ph)
            return
        call = x0 & 0xFFFF
        if call == mailbox_send:
            memmove(e_ram + recv, p_ram + send, 4096)
            pending = True
            pu64.value = 0
            write(ph, X0, pptr)
        elif call == vcpu_run:
            to = "echo"
            stop(ph)
        else:
            pu64.value = 0
            write(ph, X0, pptr)

    def on_echo(_uc: Any, intno: int, _d: Any) -> None:
        nonlocal to, pending
        read(eh, X0, eptr)
        call = eu64.value & 0xFFFF
        if call == mailbox_receive:
            if pending:
                pending = False
                eu64.value = 4096 << 32
                write(eh, X0, eptr)
            else:
                to = "primary-wfi"
                stop(eh)
        elif call == mailbox_send:
            memmove(p_ram + recv, e_ram + send, 4096)
            to = "primary-message"
            eu64.value = 0
            write(eh, X0, eptr)
            stop(eh)
        else:
            eu64.value = 0
            write(eh, X0, eptr)

    p = BareVM(primary, 0x20000, on_primary)
    e = BareVM(echo_image, 0x20000, on_echo)
    ph, pu64, pptr = p.fast()
    eh, eu64, eptr = e.fast()
    p_ram, e_ram = p.ram_addr, e.ram_addr
    p_int, e_int, p_pc, e_pc = p.h, e.h, p.pc, e.pc
    message = 4096 << 32 | 3
    t = time.perf_counter()
    while True:
        to = None
        start(p_int, p_pc, UNTIL, 0, 10_000_000)
        read(ph, PC, pptr)
        p_pc = pu64.value
        if to != "echo":
            break
        start(e_int, e_pc, UNTIL, 0, 10_000_000)
        read(eh, PC, eptr)
        e_pc = eu64.value
        pu64.value = 1 if to == "primary-wfi" else message
        write(ph, X0, pptr)
    return (time.perf_counter() - t) / n


def driver_call(driver: Image, n: int) -> float:
    """Seconds per Python -> primary driver -> hvc -> back to Python, answered in the hook."""
    block = driver.symbol("hf_driver_block") - driver.base
    ready = driver.symbol("hf_driver_ready")
    write, stop, read, start = _reg_write, _emu_stop, _reg_read, _emu_start
    h: Any = None
    u64: Any = None
    ptr: Any = None

    def on_intr(_uc: Any, intno: int, _d: Any) -> None:
        if intno == 11:
            u64.value = 2
            write(h, X0, ptr)
        else:
            stop(h)

    vm = BareVM(driver, 0x20000, on_intr)
    h, u64, ptr = vm.fast()
    vm.run(1000)  # to hf_driver_ready
    ram, h_int, resume = vm.ram, vm.h, ready + 4
    command, result = struct.Struct("<5Q").pack_into, struct.Struct("<Q").unpack_from
    out = block + layout.DRIVER_OUT
    t = time.perf_counter()
    for _ in range(n):
        command(ram, block, 0, abi.HF_VM_GET_COUNT, 0, 0, 0)  # op 0 (hvc), x0..x3; x4..x30 stay 0
        start(h_int, resume, UNTIL, 0, 1000)
        read(h, PC, ptr)  # where it stopped, as a hypervisor must know
        result(ram, out)  # x0 back
    return (time.perf_counter() - t) / n
