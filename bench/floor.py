"""The floor: the same guest work on bare Unicorn, with the least Python a hypervisor could do.

No ABI core, no trace, no checks: a hook that answers each ``hvc`` with a constant or a
``memmove``, and a Python loop that switches between two Unicorn instances. The reference is
measured doing the same guest work through the ABI (:mod:`bench.__main__`); their ratio is the
price of being a hypervisor.
"""

from __future__ import annotations

import ctypes
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
from reference_hv.machine import fast_function

# libunicorn called the fastest way ctypes allows (plain ints), as the reference's machine does:
# the floor is what the emulator costs, not what ctypes' argument checks cost.
_V, _I = ctypes.c_void_p, ctypes.c_int
_emu_start = fast_function("uc_emu_start", _V, _V, _V, _V, _V)
_emu_stop = fast_function("uc_emu_stop", _V)
_reg_read = fast_function("uc_reg_read", _V, _I, _V)
_reg_write = fast_function("uc_reg_write", _V, _I, _V)

UNTIL = 0xFFFF_0000_0000
X0 = a64.UC_ARM64_REG_X0
PC = a64.UC_ARM64_REG_PC


class BareVM:
    """One Unicorn CPU with host-backed RAM and one raw interrupt hook."""

    def __init__(self, image: Image, size: int, on_intr: Callable[[int], None]) -> None:
        self.uc: Any = cast(Any, Uc)(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.ctl_set_tcg_buffer_size(4 * 1024 * 1024)
        self.uc.reg_write(a64.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 0, 0x501))
        self.h: int = self.uc._uch.value
        self.base = image.base
        self.ram = (ctypes.c_ubyte * size)()
        self.ram_addr = ctypes.addressof(self.ram)
        self.uc.mem_map_ptr(image.base, size, UC_PROT_ALL, self.ram)
        ctypes.memmove(self.ram_addr, image.code, len(image.code))
        self.pc = image.entry
        self.u64 = ctypes.c_uint64()
        self.u64_addr = ctypes.addressof(self.u64)
        self.cb = HOOK_INTR_CFUNC(lambda _uc, intno, _d: on_intr(intno))
        hh = uc_hook_h()
        uclib.uc_hook_add(self.uc._uch, ctypes.byref(hh), UC_HOOK_INTR, ctypes.cast(self.cb, ctypes.c_void_p), None, 1, 0)

    def x0(self) -> int:
        _reg_read(self.h, X0, self.u64_addr)
        return int(self.u64.value)

    def set_x0(self, value: int) -> None:
        self.u64.value = value
        _reg_write(self.h, X0, self.u64_addr)

    def run(self, count: int) -> None:
        _emu_start(self.h, self.pc, UNTIL, 0, count)
        _reg_read(self.h, PC, self.u64_addr)
        self.pc = int(self.u64.value)

    def stop(self) -> None:
        _emu_stop(self.h)


def hvc_loop(image: Image, n: int) -> float:
    """Seconds per ``hvc`` for a guest loop of HF_VM_GET_COUNT answered in the hook."""
    vm: BareVM

    def on_intr(intno: int) -> None:
        if intno == 11 and vm.x0() != abi.PSCI_SYSTEM_OFF:
            vm.set_x0(2)
        else:
            vm.stop()

    vm = BareVM(image, 0x20000, on_intr)
    t = time.perf_counter()
    vm.run(50 * n)
    return (time.perf_counter() - t) / n


def world_switch(primary: Image, secondary: Image, n: int, slice_: int) -> float:
    """Seconds per primary -> secondary -> primary round, the secondary spinning one slice."""
    state = {"switch": False}
    p: BareVM

    def on_primary(intno: int) -> None:
        state["switch"] = intno == 11 and p.x0() != abi.PSCI_SYSTEM_OFF
        p.stop()

    p = BareVM(primary, 0x20000, on_primary)
    s = BareVM(secondary, 0x20000, lambda intno: None)
    t = time.perf_counter()
    while True:
        state["switch"] = False
        p.run(10_000_000)
        if not state["switch"]:
            break
        s.run(slice_)
        p.set_x0(0)  # YIELD
    return (time.perf_counter() - t) / n


def echo(primary: Image, echo_image: Image, n: int) -> float:
    """Seconds per echo round trip (send 4 KiB, run the echo guest, MESSAGE, clear)."""
    send, recv = layout.LIB_SEND_PAGE, layout.LIB_RECV_PAGE
    st: dict[str, Any] = {"to": None, "size": 0, "pending": False}
    p: BareVM
    e: BareVM

    def on_primary(intno: int) -> None:
        x0 = p.x0()
        if intno != 11 or x0 == abi.PSCI_SYSTEM_OFF:
            st["to"] = "end"
            p.stop()
            return
        call = x0 & 0xFFFF
        if call == abi.HF_MAILBOX_SEND:
            ctypes.memmove(e.ram_addr + recv, p.ram_addr + send, 4096)
            st["size"], st["pending"] = 4096, True
            p.set_x0(0)
        elif call == abi.HF_VCPU_RUN:
            st["to"] = "echo"
            p.stop()
        else:
            p.set_x0(0)

    def on_echo(intno: int) -> None:
        call = e.x0() & 0xFFFF
        if call == abi.HF_MAILBOX_RECEIVE:
            if st["pending"]:
                st["pending"] = False
                e.set_x0(st["size"] << 32)
            else:
                st["to"] = "primary-wfi"
                e.stop()
        elif call == abi.HF_MAILBOX_SEND:
            ctypes.memmove(p.ram_addr + recv, e.ram_addr + send, 4096)
            st["to"] = "primary-message"
            e.set_x0(0)
            e.stop()
        else:
            e.set_x0(0)

    p = BareVM(primary, 0x20000, on_primary)
    e = BareVM(echo_image, 0x20000, on_echo)
    t = time.perf_counter()
    while True:
        st["to"] = None
        p.run(10_000_000)
        if st["to"] != "echo":
            break
        e.run(10_000_000)
        p.set_x0(1 if st["to"] == "primary-wfi" else (4096 << 32 | 3))
    return (time.perf_counter() - t) / n


def driver_call(driver: Image, n: int) -> float:
    """Seconds per Python -> primary driver -> hvc -> back to Python, answered in the hook."""
    block = driver.symbol("hf_driver_block") - driver.base
    ready = driver.symbol("hf_driver_ready")
    vm: BareVM

    def on_intr(intno: int) -> None:
        if intno == 11:
            vm.set_x0(2)
        else:
            vm.stop()

    vm = BareVM(driver, 0x20000, on_intr)
    vm.run(1000)  # to hf_driver_ready
    pack = ctypes.c_uint64 * 32
    t = time.perf_counter()
    for _ in range(n):
        cmd = pack(0, abi.HF_VM_GET_COUNT)
        ctypes.memmove(vm.ram_addr + block, cmd, 256)
        vm.pc = ready + 4
        vm.run(1000)
        ctypes.c_uint64.from_address(vm.ram_addr + block + layout.DRIVER_OUT)  # read x0 back
    return (time.perf_counter() - t) / n
