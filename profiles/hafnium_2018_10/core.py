"""The ABI core: VMs, vCPUs and mailboxes as state machines, free of any CPU emulator.

Inputs are the caller (VM, vCPU) and its x0..x3; outputs are an :class:`Outcome` that says what
the caller's x0 becomes, whether the physical CPU switches to another vCPU, and what the primary's
HF_VCPU_RUN returns. The machine layer (:mod:`reference_hv.system`) does registers and world
switches. Every rule cites its clause in ``shared/spec/hafnium-mailbox-abi.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from guest_asm import abi

ERR = abi.HF_ERROR
U32 = 0xFFFF_FFFF


class VcpuState(enum.Enum):
    OFF = "off"
    READY = "ready"
    RUNNING = "running"
    BLOCKED_MAILBOX = "blocked(mailbox)"
    BLOCKED_WFI = "blocked(wfi)"
    ABORTED = "aborted"  # faulted (§10, implementation-defined): never runs again


class MailboxState(enum.Enum):
    EMPTY = "empty"
    RECEIVED = "received"
    READ = "read"


@dataclass(slots=True)
class Vcpu:
    vm_id: int
    index: int
    state: VcpuState = VcpuState.OFF
    #: x0 to deliver (with x1..x17 zeroed) when this vCPU next resumes from a hypercall that
    #: switched it out; None when it resumes with its registers as they were (preemption).
    resume_x0: int | None = None


@dataclass(slots=True)
class Vm:
    id: int
    base: int
    size: int
    vcpus: list[Vcpu]
    send: int | None = None
    recv: int | None = None
    mailbox: MailboxState = MailboxState.EMPTY
    sender: int = 0
    msg_size: int = 0
    #: vCPUs blocked in a receive, most recent last (SEND-9: a LIFO stack).
    waiters: list[int] = field(default_factory=list)

    def owns_page(self, addr: int) -> bool:
        return self.base <= addr and addr + abi.PAGE_SIZE <= self.base + self.size


class Outcome(NamedTuple):
    """What a hypercall does to the physical CPU.

    ``ret``: the caller's x0 now (None when the caller is switched out).
    ``run``: switch to this (vm, vcpu) — the primary's HF_VCPU_RUN succeeded.
    ``to_primary``: the caller (a secondary) is switched out; the primary's HF_VCPU_RUN returns this.
    ``system_off``: PSCI_SYSTEM_OFF — the run ends.
    """

    ret: int | None
    run: tuple[int, int] | None = None
    to_primary: int | None = None
    system_off: bool = False


#: Copies ``size`` bytes from (vm, addr) to (vm, addr); supplied by the machine layer.
CopyFn = Callable[[int, int, int, int, int], None]

_ERR_OUTCOME = Outcome(ERR)
_WFI = abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)
_WFI_OUTCOME = Outcome(_WFI)
_YIELD = abi.run_response(abi.HF_VCPU_RUN_YIELD)


class Core:
    """The hypervisor's ABI state for one system: VM 0 is the primary, 1..N the secondaries."""

    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        if not vms:
            raise ValueError("a system needs at least the primary VM")
        self.vms = vms
        self.copy = copy
        # VM-4: vCPU 0 of every VM ready at boot, the rest off; the primary's vCPU 0 runs first.
        for vm in vms:
            vm.vcpus[0].state = VcpuState.READY
        vms[0].vcpus[0].state = VcpuState.RUNNING
        self._calls: dict[int, Callable[[Vm, Vcpu, int, int, int], Outcome]] = {
            abi.HF_VCPU_RUN: self._vcpu_run,
            abi.HF_VM_GET_COUNT: self._vm_get_count,
            abi.HF_VCPU_GET_COUNT: self._vcpu_get_count,
            abi.HF_VM_CONFIGURE: self._vm_configure,
            abi.HF_MAILBOX_SEND: self._mailbox_send,
            abi.HF_MAILBOX_RECEIVE: self._mailbox_receive,
            abi.HF_MAILBOX_CLEAR: self._mailbox_clear,
        }

    # --- entry points used by the machine layer --------------------------------------------

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        """An ``hvc`` from (vm_id, vcpu_idx). CALL-1..CALL-4, CALL-6."""
        vm = self.vms[vm_id]
        vcpu = vm.vcpus[vcpu_idx]
        func = (x0 & U32) & ~abi.FUNCTION_ID_IGNORED_BIT  # CALL-3
        handler = self._calls.get(func)
        if handler is not None:
            return handler(vm, vcpu, x1, x2, x3)
        if vm.id == abi.HF_PRIMARY_VM_ID:
            psci = self.psci(func)
            if psci is not None:
                return psci
        return _ERR_OUTCOME  # CALL-4

    def smc(self, vm_id: int, x0: int) -> Outcome:
        """An ``smc``: PSCI for the primary, -1 otherwise (CALL-6, CALL-7)."""
        if vm_id == abi.HF_PRIMARY_VM_ID:
            psci = self.psci((x0 & U32) & ~abi.FUNCTION_ID_IGNORED_BIT)
            if psci is not None:
                return psci
        return _ERR_OUTCOME

    @staticmethod
    def psci(func: int) -> Outcome | None:
        """PSCI for the primary (CALL-6); None when ``func`` is not a PSCI function ID."""
        if func & 0xFFFF_FFE0 != abi.PSCI_VERSION:
            return None
        if func == abi.PSCI_VERSION:
            return Outcome(abi.PSCI_VERSION_RESULT)
        if func == abi.PSCI_MIGRATE_INFO_TYPE:
            return Outcome(abi.PSCI_MIGRATE_INFO_TYPE_RESULT)
        if func == abi.PSCI_SYSTEM_OFF:
            return Outcome(None, system_off=True)
        return _ERR_OUTCOME  # NOT_SUPPORTED: CPU_ON/OFF etc. need several physical CPUs

    def preempted(self, vm_id: int, vcpu_idx: int) -> int:
        """A secondary's time slice expired (RUN-4): it stays ready; the primary sees YIELD."""
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.READY
        return _YIELD

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> int:
        """``wfi`` in a secondary (RUN-5): blocked for good; the primary sees 0x1."""
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.BLOCKED_WFI
        return _WFI

    def aborted(self, vm_id: int, vcpu_idx: int) -> int:
        """A secondary faulted (§10, implementation-defined): it never runs again; 0x1."""
        vcpu = self.vms[vm_id].vcpus[vcpu_idx]
        vcpu.state = VcpuState.ABORTED
        vcpu.resume_x0 = None
        return _WFI

    def resume_primary(self) -> Vcpu:
        """The primary vCPU that a switch back to the primary resumes (RUN-3: vCPU 0)."""
        primary = self.vms[0].vcpus[0]
        primary.state = VcpuState.RUNNING
        return primary

    # --- the hypercalls -------------------------------------------------------------------

    def _to_primary(self, vcpu: Vcpu, response: int, state: VcpuState, resume: int | None) -> Outcome:
        vcpu.state = state
        vcpu.resume_x0 = resume
        return Outcome(None, to_primary=response)

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return _WFI_OUTCOME  # RUN-1
        target_id, idx = x1 & U32, x2 & U32
        if target_id == abi.HF_PRIMARY_VM_ID or target_id >= len(self.vms):
            return _WFI_OUTCOME  # RUN-2
        target = self.vms[target_id]
        if idx >= len(target.vcpus) or target.vcpus[idx].state is not VcpuState.READY:
            return _WFI_OUTCOME  # RUN-2
        target.vcpus[idx].state = VcpuState.RUNNING  # RUN-3; the primary waits inside its hvc
        return Outcome(None, run=(target_id, idx))

    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        return Outcome(len(self.vms))  # VM-2

    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        target = x1 & U32
        if vm.id != abi.HF_PRIMARY_VM_ID or target >= len(self.vms):
            return _ERR_OUTCOME  # VM-3
        return Outcome(len(self.vms[target].vcpus))

    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Outcome:
        if send % abi.PAGE_SIZE or recv % abi.PAGE_SIZE:
            return _ERR_OUTCOME  # CFG-1
        if vm.send is not None:
            return _ERR_OUTCOME  # CFG-2
        if not (vm.owns_page(send) and vm.owns_page(recv)):
            return _ERR_OUTCOME  # CFG-3
        if send == recv:
            return _ERR_OUTCOME  # CFG-4
        vm.send, vm.recv = send, recv
        return Outcome(0)  # CFG-5

    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, x3: int) -> Outcome:
        to_id = x1 & U32
        if size > abi.HF_MAILBOX_SIZE:
            return _ERR_OUTCOME  # SEND-1
        if to_id == vm.id:
            return _ERR_OUTCOME  # SEND-2
        if to_id >= len(self.vms):
            return _ERR_OUTCOME  # SEND-3
        if vm.send is None:
            return _ERR_OUTCOME  # SEND-4
        to = self.vms[to_id]
        if to.recv is None:
            return _ERR_OUTCOME  # SEND-5
        if to.mailbox is not MailboxState.EMPTY:
            return _ERR_OUTCOME  # SEND-6
        self.copy(vm.id, vm.send, to.id, to.recv, size)  # SEND-7
        to.sender, to.msg_size = vm.id, size
        if to.id == abi.HF_PRIMARY_VM_ID:  # SEND-8, RUN-7, RUN-9
            to.mailbox = MailboxState.READ
            message = abi.run_response(abi.HF_VCPU_RUN_MESSAGE, 0, size)
            return self._to_primary(vcpu, message, VcpuState.READY, 0)
        if to.waiters:  # SEND-9
            woken_idx = to.waiters.pop()
            woken = to.vcpus[woken_idx]
            woken.state = VcpuState.READY
            woken.resume_x0 = abi.receive_response(vm.id, size)
            to.mailbox = MailboxState.READ
        else:  # SEND-10
            woken_idx = abi.HF_INVALID_VCPU
            to.mailbox = MailboxState.RECEIVED
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Outcome(woken_idx)  # SEND-11
        wake_up = abi.run_response(abi.HF_VCPU_RUN_WAKE_UP, to.id, woken_idx)
        return self._to_primary(vcpu, wake_up, VcpuState.READY, 0)  # SEND-12, RUN-8

    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Outcome:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return _ERR_OUTCOME  # RECV-1
        if vm.mailbox is MailboxState.RECEIVED:  # RECV-2
            vm.mailbox = MailboxState.READ
            return Outcome(abi.receive_response(vm.sender, vm.msg_size))
        if not block:
            return _ERR_OUTCOME  # RECV-3
        vm.waiters.append(vcpu.index)  # RECV-4, RECV-5
        return self._to_primary(vcpu, _WFI, VcpuState.BLOCKED_MAILBOX, None)  # RUN-6

    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.mailbox is not MailboxState.READ:
            return _ERR_OUTCOME  # CLR-2, CLR-3
        vm.mailbox = MailboxState.EMPTY  # CLR-1, CLR-4
        return Outcome(0)
