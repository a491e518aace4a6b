"""The ABI core of ``hafnium-2018-10``: VMs, vCPUs and mailboxes as state machines, free of any CPU emulator.

Inputs are the trapping vCPU (VM, vCPU) and its x0..x3; the output is an
:class:`~reference_hv.core_api.Answer`, as Hafnium's ``api_*`` functions give it: the caller's
return value, or the vCPU that runs next. The machine layer (:mod:`reference_hv.system`) does
registers and world switches (the interface: :mod:`reference_hv.core_api`).

Each call is written as a sequence of small named steps (``send_size_ok``, ``deliver``,
``pick_waiter``, ``receive_ok`` ...), each stating one rule next to the clause of ``spec.md`` it
implements. The deliberately wrong builds of :mod:`profiles.hafnium_2018_10.mutants` are
subclasses that override one step.

The value a vCPU receives in x0 when it next runs is written by :meth:`Core.resume_with` only:
a woken receiver's result (SEND-9), a switched-out sender's 0 (SEND-12), the primary's run response
(RUN-4..RUN-9). The scheduler delivers it when it switches to that vCPU.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from profiles.hafnium_2018_10 import abi
from reference_hv import core_api
from reference_hv.core_api import Answer, CopyFn, VmLayout

ERR = abi.HF_ERROR
U32 = 0xFFFF_FFFF
#: CALL-3: a function ID is u32(x0) with bit 30 (the SMC64/HVC64 convention bit) cleared.
FUNCTION_MASK = U32 & ~abi.FUNCTION_ID_IGNORED_BIT


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


# The states as module constants (the same members), for the hot path: reading a member through
# its Enum class costs ~65 ns in CPython 3.11, a global ~6 ns, and a call reads several.
VCPU_READY, VCPU_RUNNING = VcpuState.READY, VcpuState.RUNNING
VCPU_BLOCKED_MAILBOX, VCPU_BLOCKED_WFI, VCPU_ABORTED = VcpuState.BLOCKED_MAILBOX, VcpuState.BLOCKED_WFI, VcpuState.ABORTED
MAILBOX_EMPTY, MAILBOX_RECEIVED, MAILBOX_READ = MailboxState.EMPTY, MailboxState.RECEIVED, MailboxState.READ


@dataclass(slots=True)
class Vcpu(core_api.Vcpu):
    state: VcpuState = VcpuState.OFF


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


ERR_ANSWER = Answer(ERR)
ZERO_ANSWER = Answer(0)
_WFI = abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)
_WFI_ANSWER = Answer(_WFI)
_YIELD = abi.run_response(abi.HF_VCPU_RUN_YIELD)

Handler = Callable[[Vm, Vcpu, int, int, int], Answer]


class Core:
    """The hypervisor's ABI state for one system: VM 0 is the primary, 1..N the secondaries."""

    def __init__(self, layout: Sequence[VmLayout], copy: CopyFn) -> None:
        if not layout:
            raise ValueError("a system needs at least the primary VM")
        if [v.id for v in layout] != list(range(len(layout))):
            raise ValueError("VM IDs must be 0..N in order")
        self.vms = [Vm(v.id, v.base, v.size, [Vcpu(v.id, i) for i in range(v.vcpus)]) for v in layout]
        self.copy = copy
        # VM-4: vCPU 0 of every VM is ready at boot, the rest off (ready_vcpus > 1: this reference's
        # extension); the primary's vCPU 0 runs first.
        for vm, v in zip(self.vms, layout, strict=True):
            for vcpu in vm.vcpus[: max(1, v.ready_vcpus)]:
                vcpu.state = VCPU_READY
        self.vms[0].vcpus[0].state = VCPU_RUNNING
        self._primary = self.vms[abi.HF_PRIMARY_VM_ID].vcpus[0]  # RUN-3: a switch to the primary resumes its vCPU 0
        self._to_primary = Answer(None, self._primary)
        # Answers that never change in a system, made once (an Answer is immutable): the hot path.
        self._vm_count = Answer(len(self.vms))  # VM-2
        self._switch_to = [[Answer(None, v) for v in vm.vcpus] for vm in self.vms]  # RUN-3
        self._calls: dict[int, Handler] = {
            abi.HF_VCPU_RUN: self._vcpu_run,
            abi.HF_VM_GET_COUNT: self._vm_get_count,
            abi.HF_VCPU_GET_COUNT: self._vcpu_get_count,
            abi.HF_VM_CONFIGURE: self._vm_configure,
            abi.HF_MAILBOX_SEND: self._mailbox_send,
            abi.HF_MAILBOX_RECEIVE: self._mailbox_receive,
            abi.HF_MAILBOX_CLEAR: self._mailbox_clear,
        }

    # --- entry points used by the machine layer (reference_hv.core_api.Core) --------------------

    def first(self) -> Vcpu:
        return self._primary

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> VcpuState:
        return self.vms[vm_id].vcpus[vcpu_idx].state

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        """An ``hvc`` from (vm_id, vcpu_idx). CALL-1..CALL-4, CALL-6."""
        vm = self.vms[vm_id]
        handler = self._calls.get(x0 & FUNCTION_MASK)  # CALL-3
        if handler is not None:
            return handler(vm, vm.vcpus[vcpu_idx], x1, x2, x3)
        if vm_id == abi.HF_PRIMARY_VM_ID:
            psci = self.psci(x0 & FUNCTION_MASK)
            if psci is not None:
                return psci
        return ERR_ANSWER  # CALL-4

    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        """An ``smc``: PSCI for the primary, -1 otherwise (CALL-6, CALL-7)."""
        if vm_id == abi.HF_PRIMARY_VM_ID:
            psci = self.psci(x0 & FUNCTION_MASK)
            if psci is not None:
                return psci
        return ERR_ANSWER

    @staticmethod
    def psci(func: int) -> Answer | None:
        """PSCI for the primary (CALL-6); None when ``func`` is not a PSCI function ID."""
        if func & 0xFFFF_FFE0 != abi.PSCI_VERSION:
            return None
        if func == abi.PSCI_VERSION:
            return Answer(abi.PSCI_VERSION_RESULT)
        if func == abi.PSCI_MIGRATE_INFO_TYPE:
            return Answer(abi.PSCI_MIGRATE_INFO_TYPE_RESULT)
        if func == abi.PSCI_SYSTEM_OFF:
            return Answer(None, system_off=True)
        return ERR_ANSWER  # NOT_SUPPORTED: CPU_ON/OFF etc. need several physical CPUs

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary's time slice expired (RUN-4): it stays ready; the primary sees YIELD."""
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VCPU_READY, None, _YIELD)

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        """``wfi`` in a secondary (RUN-5): blocked for good; the primary sees 0x1."""
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VCPU_BLOCKED_WFI, None, _WFI)

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary faulted (§10, implementation-defined): it never runs again; 0x1."""
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VCPU_ABORTED, None, _WFI)

    # --- switching --------------------------------------------------------------------------

    def resume_with(self, vcpu: Vcpu, x0: int | None) -> None:
        """THE writer of pending values: ``vcpu`` receives ``x0`` (x1..x17 zeroed) when it next runs;
        None: it goes on with its registers as they were."""
        vcpu.resume_x0 = x0

    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: int | None, response: int) -> Answer:
        """The secondary ``vcpu`` leaves the CPU in ``state``, to receive ``resume`` when it next runs;
        the primary's vCPU 0 runs next (RUN-3) and its HF_VCPU_RUN returns ``response``."""
        vcpu.state = state
        self.resume_with(vcpu, resume)
        self._primary.state = VCPU_RUNNING
        self.resume_with(self._primary, response)
        return self._to_primary

    # --- run and counts (RUN-1..3, VM-2, VM-3) ----------------------------------------------

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return _WFI_ANSWER  # RUN-1
        target_id, idx = x1 & U32, x2 & U32
        if target_id == abi.HF_PRIMARY_VM_ID or target_id >= len(self.vms):
            return _WFI_ANSWER  # RUN-2
        target = self.vms[target_id]
        if idx >= len(target.vcpus) or target.vcpus[idx].state is not VCPU_READY:
            return _WFI_ANSWER  # RUN-2
        target.vcpus[idx].state = VCPU_RUNNING  # RUN-3; the primary waits inside its hvc
        return self._switch_to[target_id][idx]

    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return self._vm_count  # VM-2

    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target = x1 & U32
        if vm.id != abi.HF_PRIMARY_VM_ID or target >= len(self.vms):
            return ERR_ANSWER  # VM-3
        return Answer(len(self.vms[target].vcpus))

    # --- configure (CFG) --------------------------------------------------------------------

    def aligned(self, send: int, recv: int) -> bool:  # CFG-1
        return not (send % abi.PAGE_SIZE or recv % abi.PAGE_SIZE)

    def may_configure(self, vm: Vm) -> bool:  # CFG-2
        return vm.send is None

    def page_ok(self, vm: Vm, addr: int) -> bool:  # CFG-3
        return vm.owns_page(addr)

    def pages_distinct(self, send: int, recv: int) -> bool:  # CFG-4
        return send != recv

    def configured(self) -> int:  # CFG-5
        return 0

    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Answer:
        if not self.aligned(send, recv):
            return ERR_ANSWER  # CFG-1
        if not self.may_configure(vm):
            return ERR_ANSWER  # CFG-2
        if not (self.page_ok(vm, send) and self.page_ok(vm, recv)):
            return ERR_ANSWER  # CFG-3
        if not self.pages_distinct(send, recv):
            return ERR_ANSWER  # CFG-4
        vm.send, vm.recv = send, recv
        return Answer(self.configured())  # CFG-5

    # --- send (SEND, RUN-7..9) ----------------------------------------------------------------

    def send_target(self, x1: int) -> int:  # argument widths: u32
        return x1 & U32

    def send_size_ok(self, size: int) -> bool:  # SEND-1
        return size <= abi.HF_MAILBOX_SIZE

    def send_to_self_refused(self, vm: Vm, to_id: int) -> bool:  # SEND-2
        return to_id == vm.id

    def sender_ready(self, vm: Vm) -> bool:  # SEND-4
        return vm.send is not None

    def receiver_ready(self, to: Vm) -> bool:  # SEND-5
        return to.recv is not None

    def mailbox_free(self, to: Vm) -> bool:  # SEND-6
        return to.mailbox is MAILBOX_EMPTY

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:  # SEND-7: exactly `size` bytes, at the time of the call
        assert vm.send is not None and to.recv is not None  # SEND-4, SEND-5 (and CFG-3: both pages mapped)
        self.copy(vm.id, vm.send, to.id, to.recv, size)

    def record(self, vm: Vm, to: Vm, size: int) -> None:  # SEND-7: sender and size
        to.sender, to.msg_size = vm.id, size

    def primary_mailbox_after_message(self) -> MailboxState:  # SEND-8
        return MAILBOX_READ

    def message_response(self, vm: Vm, size: int) -> int:  # RUN-7
        return abi.run_response(abi.HF_VCPU_RUN_MESSAGE, 0, size)

    def pick_waiter(self, to: Vm) -> int:  # SEND-9: LIFO
        return to.waiters.pop()

    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:  # SEND-9
        woken.state = VCPU_READY
        self.resume_with(woken, self.receive_ok(to, vm.id, size))
        to.mailbox = MAILBOX_READ

    def leave_unread(self, to: Vm) -> None:  # SEND-10
        to.mailbox = MAILBOX_RECEIVED

    def primary_send_result(self, woken_idx: int) -> int:  # SEND-11
        return woken_idx

    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:  # RUN-8
        return abi.run_response(abi.HF_VCPU_RUN_WAKE_UP, to.id, woken_idx)

    def sender_resume(self, woken_idx: int) -> int | None:  # SEND-12, RUN-9: the send returns 0
        return 0

    def sender_state(self) -> VcpuState:  # RUN-9: the sender stays ready
        return VCPU_READY

    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Answer:  # SEND-8, SEND-12
        return self.switch_to_primary(vcpu, self.sender_state(), self.sender_resume(woken_idx), response)

    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, x3: int) -> Answer:
        to_id = self.send_target(x1)
        if not self.send_size_ok(size):
            return ERR_ANSWER  # SEND-1
        if self.send_to_self_refused(vm, to_id):
            return ERR_ANSWER  # SEND-2
        if to_id >= len(self.vms):
            return ERR_ANSWER  # SEND-3
        if not self.sender_ready(vm):
            return ERR_ANSWER  # SEND-4
        to = self.vms[to_id]
        if not self.receiver_ready(to):
            return ERR_ANSWER  # SEND-5
        if not self.mailbox_free(to):
            return ERR_ANSWER  # SEND-6
        self.deliver(vm, to, size)
        self.record(vm, to, size)
        if to.id == abi.HF_PRIMARY_VM_ID:  # SEND-8, RUN-7, RUN-9
            to.mailbox = self.primary_mailbox_after_message()
            return self.switch_out_sender(vcpu, self.message_response(vm, size), 0)
        if to.waiters:  # SEND-9
            woken_idx = self.pick_waiter(to)
            self.wake(to, to.vcpus[woken_idx], vm, size)
        else:  # SEND-10
            woken_idx = abi.HF_INVALID_VCPU
            self.leave_unread(to)
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(self.primary_send_result(woken_idx))  # SEND-11
        return self.switch_out_sender(vcpu, self.wake_up_response(vm, to, woken_idx), woken_idx)  # SEND-12, RUN-8

    # --- receive (RECV) -----------------------------------------------------------------------

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:  # RECV-2, RECV-4, RECV-6
        return abi.receive_response(sender, size)

    def receive_failed(self) -> int:  # RECV-1, RECV-3
        return ERR

    def blocking(self, block: int) -> bool:  # RECV-3, RECV-4: any non-zero x1
        return block != 0

    def may_receive(self, vm: Vm) -> bool:  # RECV-1
        return vm.id != abi.HF_PRIMARY_VM_ID

    def unread(self, vm: Vm) -> bool:  # RECV-2
        return vm.mailbox is MAILBOX_RECEIVED

    def may_block(self, vm: Vm) -> bool:  # RECV-4, RECV-5
        return True

    def block_response(self) -> int:  # RUN-6
        return _WFI

    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Answer:
        if not self.may_receive(vm):
            return Answer(self.receive_failed())  # RECV-1
        if self.unread(vm):  # RECV-2
            vm.mailbox = MAILBOX_READ
            return Answer(self.receive_ok(vm, vm.sender, vm.msg_size))
        if not self.blocking(block) or not self.may_block(vm):
            return Answer(self.receive_failed())  # RECV-3
        vm.waiters.append(vcpu.index)  # RECV-4, RECV-5
        return self.switch_to_primary(vcpu, VCPU_BLOCKED_MAILBOX, None, self.block_response())  # RUN-6

    # --- clear (CLR) ------------------------------------------------------------------------

    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is not MAILBOX_READ:
            return ERR_ANSWER  # CLR-2, CLR-3
        vm.mailbox = MAILBOX_EMPTY  # CLR-1, CLR-4
        return ZERO_ANSWER
