"""One VM's emulated AArch64 CPU (Unicorn): its memory, one register context per vCPU, and how a
stretch of execution of one vCPU ends.

Each VM gets its own ``Uc`` with only its own memory mapped, at its base (identity mapped, MMU
off), so a guest can reach nothing but its own memory (VM-5). Its vCPUs take turns on that ``Uc``:
the registers of the vCPUs not loaded are kept as saved Unicorn contexts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from unicorn.arm64_const import UC_ARM64_REG_CP_REG, UC_ARM64_REG_PC, UC_ARM64_REG_X0, UC_ARM64_REG_X29, UC_ARM64_REG_X30
from unicorn.unicorn_const import UC_ARCH_ARM64, UC_HOOK_BLOCK, UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_MODE_ARM
from unicorn.unicorn_py3.unicorn import Uc, UcContext, UcError  # the typed binding (unicorn.Uc re-exports it untyped)

#: x0..x30 (Unicorn numbers x0..x28 consecutively; x29 and x30 are FP and LR).
XREGS = (*range(UC_ARM64_REG_X0, UC_ARM64_REG_X0 + 29), UC_ARM64_REG_X29, UC_ARM64_REG_X30)
MASK64 = (1 << 64) - 1
WFI = (0xD503207F).to_bytes(4, "little")
#: Where emu_start is told to stop: an address no VM maps, so reaching it is a fetch fault. (Unicorn
#: does not run the block just before `until`, so `until` must never be an address with code.)
UNTIL = 0x7FFF_FFFF_F000
#: SCR_EL3 = RW | HCE | NS: AArch64 below EL3 and `hvc` enabled (by default it is UNDEF at EL1).
SCR_EL3 = (1, 1, 3, 6, 0, 0x501)
#: Unicorn's exception numbers, as its interrupt hook reports them.
EXC_UNDEF, EXC_SVC, EXC_PREFETCH_ABORT, EXC_DATA_ABORT, EXC_BRK, EXC_HVC, EXC_SMC = 1, 2, 3, 4, 7, 11, 13
EXC_NAMES = {EXC_UNDEF: "undefined instruction", EXC_SVC: "svc", EXC_PREFETCH_ABORT: "prefetch abort",
             EXC_DATA_ABORT: "data abort", EXC_BRK: "brk"}  # fmt: skip
ACCESS = {19: "read from", 20: "write to", 21: "fetch from"}  # UC_MEM_{READ,WRITE,FETCH}_UNMAPPED


@dataclass(frozen=True)
class Fault:
    """A guest fault, as the suite reads it (``conformance.protocol.Fault``)."""

    vm: int
    vcpu: int
    pc: int
    address: int | None
    kind: str

    def __str__(self) -> str:
        where = f", address {self.address:#x}" if self.address is not None else ""
        return f"VM {self.vm} vCPU {self.vcpu}: {self.kind} at pc {self.pc:#x}{where}"


class Exit(Enum):
    """Why ``Machine.execute`` came back."""

    HVC = "hvc"  # PC is after the hvc
    SMC = "smc"  # PC is after the smc
    BRK = "brk"  # PC is at the brk: the primary driver waits at one; for a secondary, also a fault
    WFI = "wfi"  # PC is after the wfi
    BUDGET = "budget"  # the instruction budget ran out (a time slice expired)
    FAULT = "fault"  # see Machine.fault


class Machine:
    """A VM's CPU and memory: ``memory`` bytes at ``base`` holding ``code``; ``vcpus`` contexts."""

    def __init__(self, vm: int, base: int, memory: int, code: bytes, entry: int, vcpus: int = 1) -> None:
        self.vm, self.base, self.memory = vm, base, memory
        self.uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        self.uc.ctl_set_tcg_buffer_size(4 << 20)  # not the default 1 GiB of address space per Uc
        self.uc.reg_write(UC_ARM64_REG_CP_REG, SCR_EL3)
        self.uc.mem_map(base, memory)
        self.uc.mem_write(base, code)
        self._hooks = [
            self.uc.hook_add(UC_HOOK_INTR, self._on_exception),
            self.uc.hook_add(UC_HOOK_BLOCK, self._on_block),
            self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_bad_access),
        ]
        self.vcpu = 0  # the vCPU whose registers are loaded
        self.pcs = [entry] * vcpus  # VM-4: every vCPU starts at the entry point, registers zero
        self._boot_context = self.uc.context_save()
        self._contexts: list[UcContext | None] = [None] * vcpus
        self.fault: Fault | None = None
        self._exception: int | None = None
        self._bad_access: tuple[int, int] | None = None
        self._executed, self._limit, self._last_block_end = 0, 0, -1

    def close(self) -> None:
        """Free the guest memory now; the Uc itself is freed by Python's garbage collector (the
        binding keeps every Uc with hooks in a reference cycle)."""
        for hook in self._hooks:
            self.uc.hook_del(hook)
        self._hooks.clear()
        self.uc.mem_unmap(self.base, self.memory)

    def select(self, vcpu: int) -> None:
        """Load ``vcpu``'s registers (saving those of the vCPU loaded before)."""
        if vcpu != self.vcpu:
            self._contexts[self.vcpu] = self.uc.context_save()
            saved = self._contexts[vcpu]
            self.uc.context_restore(self._boot_context if saved is None else saved)
            self.vcpu = vcpu

    # --- the loaded vCPU's registers, and memory ---------------------------------------------

    def x(self, n: int) -> int:
        return int(self.uc.reg_read(XREGS[n]))

    def set_x(self, n: int, value: int) -> None:
        self.uc.reg_write(XREGS[n], value & MASK64)

    def hypercall_return(self, x0: int) -> None:
        """CALL-5: x0 is the result, x1..x17 are zeroed, everything else is kept."""
        self.set_x(0, x0)
        for n in range(1, 18):
            self.set_x(n, 0)

    def owns(self, addr: int, size: int) -> bool:
        return self.base <= addr and addr + size <= self.base + self.memory

    def read(self, addr: int, size: int) -> bytes:
        if not self.owns(addr, size):
            raise ValueError(f"VM {self.vm}: [{addr:#x}, +{size:#x}) is not in its memory")
        return bytes(self.uc.mem_read(addr, size)) if size else b""

    def write(self, addr: int, data: bytes) -> None:
        if not self.owns(addr, len(data)):
            raise ValueError(f"VM {self.vm}: [{addr:#x}, +{len(data):#x}) is not in its memory")
        self.uc.mem_write(addr, bytes(data))

    # --- running -------------------------------------------------------------------------------

    def execute(self, limit: int) -> tuple[Exit, int]:
        """Run the loaded vCPU from where it was until an exception, a wfi, a fault, or about
        ``limit`` instructions (counted per translation block; at least one block runs).
        Returns why, and how many instructions ran."""
        self._exception, self._bad_access, self.fault = None, None, None
        self._executed, self._limit, self._last_block_end = 0, limit, -1
        try:
            self.uc.emu_start(self.pcs[self.vcpu], UNTIL)
        except UcError as e:
            if self._bad_access is None:
                self.fault = Fault(self.vm, self.vcpu, self.pc, None, f"emulation error: {e}")
        self.pc = int(self.uc.reg_read(UC_ARM64_REG_PC))
        return self._why(), self._executed

    @property
    def pc(self) -> int:
        return self.pcs[self.vcpu]

    @pc.setter
    def pc(self, value: int) -> None:
        self.pcs[self.vcpu] = value

    def _why(self) -> Exit:
        exc, pc = self._exception, self.pc
        if self._bad_access is not None:
            access, address = self._bad_access
            kind = "instruction abort" if access == 21 else "data abort"
            self.fault = Fault(self.vm, self.vcpu, pc, address, f"{kind} ({ACCESS.get(access, 'access to')} unmapped address)")
        elif exc not in (None, EXC_HVC, EXC_SMC):
            at = pc - 4 if exc == EXC_SVC else pc  # svc stops after itself, the others at themselves
            self.fault = Fault(self.vm, self.vcpu, at, None, EXC_NAMES.get(exc, f"exception {exc}"))
        elif exc is None and pc == UNTIL:
            self.fault = Fault(self.vm, self.vcpu, pc, pc, "instruction abort (fetch from unmapped address)")
        if exc == EXC_HVC:
            return Exit.HVC
        if exc == EXC_SMC:
            return Exit.SMC
        if exc == EXC_BRK:
            return Exit.BRK
        if self.fault is not None:
            return Exit.FAULT
        # emu_start returned on its own: a wfi (it ends the block it is in) or our budget. (An
        # early stop Unicorn gives no reason for would be taken as a preemption: RUN-4 allows it.)
        if self._last_block_end == pc and self.uc.mem_read(pc - 4, 4) == WFI:
            return Exit.WFI
        return Exit.BUDGET

    def _on_exception(self, uc: Uc, intno: int, _data: object) -> None:
        self._exception = intno
        uc.emu_stop()

    def _on_block(self, uc: Uc, address: int, size: int, _data: object) -> None:
        if self._executed and self._executed >= self._limit:
            uc.emu_stop()  # stopped here, this block does not run
            return
        self._executed += size // 4
        self._last_block_end = address + size

    def _on_bad_access(self, uc: Uc, access: int, address: int, size: int, value: int, _data: object) -> bool:
        self._bad_access = (access, address)
        return False  # not handled: emu_start raises UcError
