"""The ABI core of ``hafnium-2019-03``: VMs, vCPUs, mailboxes, waiter lists and virtual interrupts
as state machines, free of any CPU emulator.

Inputs are the trapping vCPU (VM, vCPU) and its x0..x3; the output is an
:class:`~reference_hv.core_api.Answer`, as Hafnium's ``api_*`` functions give it at 53d9d04f: the
caller's return value, or the vCPU that runs next. The machine layer (:mod:`reference_hv.system`)
does registers and world switches; what else the core needs of the machine -- copying guest
memory, making a page read-only (stage 2), a vCPU's virtual IRQ line, its virtual timer -- it asks
through the :class:`~reference_hv.core_api.Platform` it is built with (:mod:`reference_hv.core_api`).

Each call is a sequence of small named steps, each a method whose docstring names the clause of
``spec.md`` it implements (``run_refused`` RUN-1, ``deliver_on_run`` RUN-12, ``mailbox_busy``
SEND-5 ...). The deliberately wrong builds of ``profiles.hafnium_2019_03.mutants`` are subclasses
that override one step: a step states one rule, and what it returns is what a wrong build changes.

The value a vCPU receives in x0 when it next runs is written by :meth:`Core.resume_with` only: a
switched-out caller's own result (SEND-7/8, CFG-5, CLR-3, RUN-6, RUN-10), a receive-blocked vCPU's
0x00000000FFFFFFFF (RUN-13) or its message (RUN-12), the primary's run response (RUN-3..RUN-11).
The scheduler delivers it (x1..x17 zeroed, CALL-5) when it switches to that vCPU.

**Virtual interrupts** (WAIT-4): each vCPU has a 64-bit *enabled* and a 64-bit *pending* mask.
Whenever a vCPU's "has an enabled+pending interrupt" changes, the core sets its virtual IRQ line
through ``Platform.set_irq``; the machine layer delivers the IRQ to the guest as hardware does
(HCR_EL2.VI: taken at VBAR_EL1 when PSTATE.I is clear). Hafnium computes the same line at the end
of every hypercall (handler.c ``set_virtual_interrupt``); the masks change only inside hypercalls,
so setting it at each change is the same.

**The virtual timer** (RUN-2, RUN-5, RUN-7, RUN-13), this reference's deterministic rule: the
guest's CNTV_CTL_EL0 and CNTV_CVAL_EL0 are read through ``Platform.timer``; the timer is *enabled*
when CTL.ENABLE = 1 and CTL.IMASK = 0; the virtual counter the hypervisor decides with stands
still at ``Platform.timer``'s ``counter`` (0 in this reference: the guest's CNTVCT_EL0 reads it
too), so an enabled timer has *expired* when CVAL <= counter (e.g. CVAL = 0), and otherwise has
``(CVAL - counter) * 10**9 // CNTFRQ`` ns left (capped below HF_SLEEP_INDEFINITE: only "≠ INDEF"
is a MUST). Same programs, same trace.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from profiles.hafnium_2019_03 import abi
from reference_hv import core_api
from reference_hv.core_api import Answer, Platform, VmLayout

ERR = abi.HF_ERROR
U32 = 0xFFFF_FFFF
#: CALL-3: a function ID is u32(x0) with bit 30 (the SMC64/HVC64 convention bit) cleared.
FUNCTION_MASK = U32 & ~abi.FUNCTION_ID_IGNORED_BIT
INTID_MASK = (1 << abi.HF_NUM_INTIDS) - 1
#: CNTV_CTL_EL0 bits: ENABLE, IMASK.
TIMER_ENABLE = 1
TIMER_IMASK = 2
NS_PER_S = 1_000_000_000

REFUSED = abi.HF_VCPU_RUN_REFUSED  # RUN-1: WAIT_FOR_INTERRUPT, ns = INDEF
NOTHING = abi.HF_MAILBOX_RECEIVE_NOTHING  # RECV-1, RECV-3, RUN-13
PREEMPTED = abi.run_response(abi.HF_VCPU_RUN_PREEMPTED)
YIELD = abi.run_response(abi.HF_VCPU_RUN_YIELD)
NOTIFY_WAITERS = abi.run_response(abi.HF_VCPU_RUN_NOTIFY_WAITERS)
ABORTED = abi.run_response(abi.HF_VCPU_RUN_ABORTED)


class VcpuState(enum.Enum):
    OFF = "off"
    READY = "ready"
    RUNNING = "running"
    BLOCKED_MAILBOX = "blocked_mailbox"
    BLOCKED_INTERRUPT = "blocked_interrupt"
    ABORTED = "aborted"


class MailboxState(enum.Enum):
    EMPTY = "empty"
    RECEIVED = "received"
    READ = "read"


@dataclass(slots=True)
class Vcpu(core_api.Vcpu):
    state: VcpuState = VcpuState.OFF
    #: WAIT-4: bit n = interrupt ID n.
    enabled: int = 0
    pending: int = 0
    #: The virtual IRQ line as last set through the platform (enabled & pending != 0).
    irq_line: bool = False


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
    #: SEND-5, WAIT-1: IDs of the VMs waiting for this VM's mailbox to become writable, FIFO, one
    #: entry per (waiter, this VM) pair.
    waiters: list[int] = field(default_factory=list)
    #: WAIT-1, WAIT-2: IDs of the VMs whose mailbox became writable for this VM (its ready list).
    ready: list[int] = field(default_factory=list)
    #: RUN-11: a vCPU of this VM faulted; none of its vCPUs runs again.
    aborting: bool = False

    def owns_page(self, addr: int) -> bool:
        return self.base <= addr and addr + abi.PAGE_SIZE <= self.base + self.size


ERR_ANSWER = Answer(ERR)
REFUSED_ANSWER = Answer(REFUSED)

Handler = Callable[[Vm, Vcpu, int, int, int], Answer]

# The states as module constants (the same members), for the hot path: reading a member through
# its Enum class costs ~65 ns in CPython 3.11, a global ~6 ns, and a call reads several.
VCPU_ABORTED = VcpuState.ABORTED
VCPU_BLOCKED_INTERRUPT = VcpuState.BLOCKED_INTERRUPT
VCPU_BLOCKED_MAILBOX = VcpuState.BLOCKED_MAILBOX
VCPU_OFF = VcpuState.OFF
VCPU_READY = VcpuState.READY
VCPU_RUNNING = VcpuState.RUNNING
MAILBOX_EMPTY = MailboxState.EMPTY
MAILBOX_READ = MailboxState.READ
MAILBOX_RECEIVED = MailboxState.RECEIVED


class Core:
    """The hypervisor's ABI state for one system: VM 0 is the primary, 1..N the secondaries."""

    def __init__(self, layout: Sequence[VmLayout], platform: Platform) -> None:
        if not layout:
            raise ValueError("a system needs at least the primary VM")
        if [v.id for v in layout] != list(range(len(layout))):
            raise ValueError("VM IDs must be 0..N in order")
        self.vms = [Vm(v.id, v.base, v.size, [Vcpu(v.id, i) for i in range(v.vcpus)]) for v in layout]
        self.platform = platform
        self.copy = platform  # calling the platform copies guest memory (core_api.CopyFn)
        for vm, v in zip(self.vms, layout, strict=True):
            for vcpu in vm.vcpus[: self.started_vcpus(v)]:
                vcpu.state = VCPU_READY
        self._primary = self.vms[abi.HF_PRIMARY_VM_ID].vcpus[0]
        self._primary.state = VCPU_RUNNING
        self._to_primary = Answer(None, self._primary)
        self._calls: dict[int, Handler] = {
            abi.HF_VM_GET_ID: self._vm_get_id,
            abi.HF_VM_GET_COUNT: self._vm_get_count,
            abi.HF_VCPU_GET_COUNT: self._vcpu_get_count,
            abi.HF_VCPU_RUN: self._vcpu_run,
            abi.HF_VCPU_YIELD: self._vcpu_yield,
            abi.HF_VM_CONFIGURE: self._vm_configure,
            abi.HF_MAILBOX_SEND: self._mailbox_send,
            abi.HF_MAILBOX_RECEIVE: self._mailbox_receive,
            abi.HF_MAILBOX_CLEAR: self._mailbox_clear,
            abi.HF_MAILBOX_WRITABLE_GET: self._mailbox_writable_get,
            abi.HF_MAILBOX_WAITER_GET: self._mailbox_waiter_get,
            abi.HF_INTERRUPT_ENABLE: self._interrupt_enable,
            abi.HF_INTERRUPT_GET: self._interrupt_get,
            abi.HF_INTERRUPT_INJECT: self._interrupt_inject,
        }

    def started_vcpus(self, v: VmLayout) -> int:
        """VM-1: vCPU 0 of every VM starts at boot, the others are ``off``; ``ready_vcpus`` > 1 is
        this reference's extension (capability ``ready_vcpus``) that starts more."""
        return max(1, v.ready_vcpus)

    # --- entry points used by the machine layer (reference_hv.core_api.Core) --------------------

    def first(self) -> Vcpu:
        return self._primary

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> VcpuState:
        return self.vms[vm_id].vcpus[vcpu_idx].state

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        """An ``hvc`` from (vm_id, vcpu_idx). CALL-1, CALL-4, CALL-6: PSCI first, for the primary."""
        vm = self.vms[vm_id]
        func = self.function_id(x0)
        if vm_id == abi.HF_PRIMARY_VM_ID and self.is_psci(func):
            return self.psci(func)
        handler = self._calls.get(func)
        if handler is not None:
            return handler(vm, vm.vcpus[vcpu_idx], x1, x2, x3)
        return self.unknown_call()

    def function_id(self, x0: int) -> int:
        """CALL-3: the ID is u32(x0) with bit 30 cleared (bits 63..32 and 30 are ignored)."""
        return x0 & FUNCTION_MASK

    def unknown_call(self) -> Answer:
        """CALL-4: an unknown ID returns -1 and changes nothing (HF_SHARE_MEMORY, 0xff0e, is
        outside this profile and answered so too)."""
        return ERR_ANSWER

    def is_psci(self, func: int) -> bool:
        """CALL-6: the PSCI 1.1 function IDs, PSCI_VERSION .. MEM_PROTECT_CHECK_RANGE."""
        return abi.PSCI_FIRST <= func <= abi.PSCI_LAST

    def psci(self, func: int) -> Answer:
        """CALL-6 (primary only): PSCI_VERSION -> 0x10001, SYSTEM_OFF ends the run; the rest is
        implementation-defined: this reference answers NOT_SUPPORTED (-1)."""
        if func == abi.PSCI_VERSION:
            return Answer(abi.PSCI_VERSION_RESULT)
        if func == abi.PSCI_SYSTEM_OFF:
            return Answer(None, system_off=True)
        return ERR_ANSWER

    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        """CALL-6, CALL-7: a PSCI ``smc`` from the primary is PSCI; any other ``smc`` -> -1 in x0."""
        func = self.function_id(x0)
        if vm_id == abi.HF_PRIMARY_VM_ID and self.is_psci(func):
            return self.psci(func)
        return self.smc_unknown()

    def smc_unknown(self) -> Answer:
        """CALL-7: SMCCC_RETURN_UNKNOWN (-1); PC advances, no other register changes."""
        return Answer(abi.SMCCC_RETURN_UNKNOWN)

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """RUN-4: a physical interrupt (the time slice) -> PREEMPTED 0x0; the vCPU stays ready."""
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VCPU_READY, None, PREEMPTED)

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        """RUN-5: ``wfi`` in a secondary -> WAIT_FOR_INTERRUPT, ns per the timer; ``blocked_interrupt``
        (always: the wfi traps even with an interrupt pending, it is woken by the next run)."""
        vcpu = self.vms[vm_id].vcpus[vcpu_idx]
        return self.switch_to_primary(vcpu, VCPU_BLOCKED_INTERRUPT, None, self.wfi(vcpu))

    def wfi(self, vcpu: Vcpu) -> int:
        """RUN-5: WAIT_FOR_INTERRUPT with ns = the timer's remaining time, or INDEF."""
        return abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT, self.sleep_ns(vcpu))

    def wait_for_event(self, vm_id: int, vcpu_idx: int) -> Answer | None:
        """RUN-6: ``wfe`` in a secondary -> YIELD; from the primary a no-op (None: it goes on)."""
        if vm_id == abi.HF_PRIMARY_VM_ID:
            return None
        return self.yield_(self.vms[vm_id].vcpus[vcpu_idx], None)

    def yield_(self, vcpu: Vcpu, resume: int | None) -> Answer:
        """RUN-6: the secondary stays ready, the primary's run returns YIELD 0x1."""
        return self.switch_to_primary(vcpu, VCPU_READY, resume, YIELD)

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """RUN-11: an unhandled exception (fault policy "continue")."""
        return self.abort_vm(self.vms[vm_id], self.vms[vm_id].vcpus[vcpu_idx])

    def abort_vm(self, vm: Vm, vcpu: Vcpu) -> Answer:
        """RUN-11: the VM is aborting, the vCPU ``aborted``; the primary's run returns ABORTED 0x7."""
        vm.aborting = True
        return self.switch_to_primary(vcpu, VCPU_ABORTED, None, ABORTED)

    # --- switching --------------------------------------------------------------------------

    def resume_with(self, vcpu: Vcpu, x0: int | None) -> None:
        """THE writer of pending values: ``vcpu`` receives ``x0`` (x1..x17 zeroed) when it next runs;
        None: it goes on with its registers as they were."""
        vcpu.resume_x0 = x0

    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: int | None, response: int) -> Answer:
        """RUN-3: the secondary ``vcpu`` leaves the CPU in ``state``, to receive ``resume`` when it
        next runs; the primary's vCPU 0 runs next and its HF_VCPU_RUN returns ``response``."""
        vcpu.state = state
        self.resume_with(vcpu, resume)
        self._primary.state = VCPU_RUNNING
        self.resume_with(self._primary, response)
        return self._to_primary

    # --- identity and counts (VM-2..VM-4) ----------------------------------------------------

    def _vm_get_id(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        """VM-2: the caller's VM ID."""
        return Answer(vm.id)

    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        """VM-3: N + 1."""
        return Answer(len(self.vms))

    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        """VM-4: -1 unless the caller is the primary and the VM exists; else its vCPU count."""
        target = x1 & U32
        if vm.id != abi.HF_PRIMARY_VM_ID or target >= len(self.vms):
            return ERR_ANSWER
        return Answer(len(self.vms[target].vcpus))

    # --- run (RUN-1, RUN-2, RUN-12, RUN-13) -------------------------------------------------

    def run_refused(self, vm: Vm, target_id: int, idx: int) -> bool:
        """RUN-1: the caller is not the primary, or vm_id is 0, or no such VM, or vcpu_idx >= count."""
        return (
            vm.id != abi.HF_PRIMARY_VM_ID
            or target_id == abi.HF_PRIMARY_VM_ID
            or target_id >= len(self.vms)
            or idx >= len(self.vms[target_id].vcpus)
        )

    def vm_aborting(self, target: Vm, vcpu: Vcpu) -> bool:
        """RUN-1, RUN-11: a vCPU of an aborting VM never runs again (it becomes ``aborted``)."""
        if target.aborting:
            vcpu.state = VCPU_ABORTED
        return target.aborting

    def not_runnable(self, vcpu: Vcpu) -> bool:
        """RUN-1: a vCPU that is ``off``, ``running`` or ``aborted`` is refused."""
        return vcpu.state in (VCPU_OFF, VCPU_RUNNING, VCPU_ABORTED)

    def deliver_on_run(self, target: Vm, vcpu: Vcpu) -> bool:
        """RUN-12: a ``blocked_mailbox`` vCPU run while its VM's mailbox is ``received`` gets the
        message (sender | size << 32) from its receive; the mailbox becomes ``read``."""
        if vcpu.state is not VCPU_BLOCKED_MAILBOX or target.mailbox is not MAILBOX_RECEIVED:
            return False
        self.resume_with(vcpu, self.receive_result(target))
        target.mailbox = MAILBOX_READ
        return True

    def wakes(self, vcpu: Vcpu) -> bool:
        """RUN-13: a blocked vCPU with an enabled+pending interrupt or an expired timer is runnable
        (a receive-blocked one gets the 0x00000000FFFFFFFF stored when it blocked)."""
        return self.has_pending(vcpu) or self.timer_expired(vcpu)

    def blocked_response(self, vcpu: Vcpu) -> int:
        """RUN-2: a blocked vCPU that cannot run: refused (…FF02) if its timer is not enabled, else
        WAIT_FOR_MESSAGE (blocked_mailbox) or WAIT_FOR_INTERRUPT with ns = the remaining time."""
        if not self.timer_enabled(vcpu):
            return REFUSED
        code = abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE if vcpu.state is VCPU_BLOCKED_MAILBOX else abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT
        return abi.run_wait(code, self.remaining_ns(vcpu))

    def prepare_run(self, target: Vm, vcpu: Vcpu) -> int | None:
        """RUN-1, RUN-2, RUN-12, RUN-13 in Hafnium's order (api.c ``api_vcpu_prepare_run``): None
        when the vCPU runs, else the refusing response."""
        if self.vm_aborting(target, vcpu) or self.not_runnable(vcpu):
            return REFUSED
        if vcpu.state is VCPU_READY:
            return None
        if self.deliver_on_run(target, vcpu) or self.wakes(vcpu):
            return None
        return self.blocked_response(vcpu)

    def timer_fires(self, target: Vm, vcpu: Vcpu) -> None:
        """Hafnium's ``api_vcpu_run``: a vCPU that runs with an expired timer gets
        HF_VIRTUAL_TIMER_INTID (3) pending and its timer masked (CTL.IMASK set), so it does not fire
        again (not a clause of the text; the fact is api.c's)."""
        if self.timer_expired(vcpu):
            self.make_pending(vcpu, abi.HF_VIRTUAL_TIMER_INTID)
            self.platform.mask_timer(target.id, vcpu.index)

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id, idx = x1 & U32, x2 & U32
        if self.run_refused(vm, target_id, idx):
            return REFUSED_ANSWER
        target = self.vms[target_id]
        nxt = target.vcpus[idx]
        refusal = self.prepare_run(target, nxt)
        if refusal is not None:
            return Answer(refusal)
        self.timer_fires(target, nxt)
        nxt.state = VCPU_RUNNING  # RUN-3; the primary waits inside its hvc
        return Answer(None, nxt)

    def _vcpu_yield(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        """RUN-6: from a secondary YIELD (its call returns 0 when resumed); from the primary a no-op 0."""
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(0)
        return self.yield_(vcpu, 0)

    # --- configure (CFG) --------------------------------------------------------------------

    def configure_aligned(self, send: int, recv: int) -> bool:
        """CFG-1: both IPAs 4 KiB aligned."""
        return not (send % abi.PAGE_SIZE or recv % abi.PAGE_SIZE)

    def configure_distinct(self, send: int, recv: int) -> bool:
        """CFG-1: the two pages differ."""
        return send != recv

    def configured_before(self, vm: Vm) -> bool:
        """CFG-2: only once per VM."""
        return vm.send is not None or vm.recv is not None

    def send_page_ok(self, vm: Vm, addr: int) -> bool:
        """CFG-3: the send page is valid, owned, exclusive, R and W in the caller's stage 2 (all of
        a VM's own memory is, in this reference)."""
        return vm.owns_page(addr)

    def recv_page_ok(self, vm: Vm, addr: int) -> bool:
        """CFG-3: the recv page is valid, owned, exclusive and R in the caller's stage 2."""
        return vm.owns_page(addr)

    def protect_recv(self, vm: Vm, recv: int) -> None:
        """CFG-4: the recv page becomes read-only to the VM (a write is a stage-2 fault, RUN-11);
        the send page stays R/W."""
        self.platform.protect(vm.id, recv, abi.PAGE_SIZE, False)

    def waiter_result(self, vm: Vm, vcpu: Vcpu) -> Answer:
        """CFG-5, CLR-3, RUN-9 (api.c ``api_waiter_result``): 0 without waiters; 1 for the primary
        with waiters; a secondary with waiters is switched out (ready) with NOTIFY_WAITERS, and its
        call returns 0."""
        if not vm.waiters:
            return Answer(0)
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(abi.HF_WAITERS_TO_NOTIFY)
        return self.switch_to_primary(vcpu, VCPU_READY, 0, NOTIFY_WAITERS)

    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Answer:
        if not (self.configure_aligned(send, recv) and self.configure_distinct(send, recv)):
            return ERR_ANSWER  # CFG-1
        if self.configured_before(vm):
            return ERR_ANSWER  # CFG-2
        if not (self.send_page_ok(vm, send) and self.recv_page_ok(vm, recv)):
            return ERR_ANSWER  # CFG-3
        vm.send, vm.recv = send, recv
        self.protect_recv(vm, recv)  # CFG-4
        return self.waiter_result(vm, vcpu)  # CFG-5, RUN-9

    # --- send (SEND, RUN-8) -----------------------------------------------------------------

    def send_target(self, x1: int) -> int:
        """ID-7: the VM ID is a uint32_t (bits 63..32 ignored)."""
        return x1 & U32

    def send_size_ok(self, size: int) -> bool:
        """SEND-1: size <= 4096 (a 64-bit compare; 0 is allowed)."""
        return size <= abi.HF_MAILBOX_SIZE

    def send_to_self(self, vm: Vm, to_id: int) -> bool:
        """SEND-2: a VM cannot send to itself."""
        return to_id == vm.id

    def send_target_exists(self, to_id: int) -> bool:
        """SEND-3: the recipient VM exists."""
        return to_id < len(self.vms)

    def sender_configured(self, vm: Vm) -> bool:
        """SEND-4: the caller has configured its pages."""
        return vm.send is not None

    def send_checks(self, vm: Vm, to_id: int, size: int) -> bool:
        """SEND-1..SEND-4 in order: whether the send gets past them (else -1, nothing queued)."""
        return (
            self.send_size_ok(size)
            and not self.send_to_self(vm, to_id)
            and self.send_target_exists(to_id)
            and self.sender_configured(vm)
        )

    def mailbox_busy(self, to: Vm) -> bool:
        """SEND-5: the recipient's mailbox is not ``empty``, or the recipient has not configured."""
        return to.mailbox is not MAILBOX_EMPTY or to.recv is None

    def notify_requested(self, notify: int) -> bool:
        """ID-7, SEND-5: notify is true for any non-zero 64-bit value."""
        return notify != 0

    def queue_waiter(self, vm: Vm, to: Vm) -> None:
        """SEND-5: the caller's entry for ``to`` joins ``to``'s waiter list (FIFO) unless queued."""
        if vm.id not in to.waiters:
            to.waiters.append(vm.id)

    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        """SEND-6: exactly ``size`` bytes from the send page to the recv page (beyond them the
        recv page keeps its contents); the sender and size are recorded."""
        assert vm.send is not None and to.recv is not None  # SEND-4, SEND-5
        self.copy(vm.id, vm.send, to.id, to.recv, size)
        to.sender, to.msg_size = vm.id, size

    def send_result(self) -> int:
        """SEND-6: a successful send returns 0 to every caller."""
        return 0

    def message_response(self, to: Vm, size: int) -> int:
        """RUN-8: MESSAGE with vm_id = the recipient, size = the message size only if the recipient
        is the primary, else 0."""
        return abi.run_message(to.id, size if to.id == abi.HF_PRIMARY_VM_ID else 0)

    def send_to_primary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        """SEND-7: the primary's mailbox becomes ``read``; the sending secondary is switched out
        (ready) and the primary's run returns MESSAGE (RUN-8)."""
        to.mailbox = MAILBOX_READ
        return self.switch_to_primary(vcpu, VCPU_READY, self.send_result(), self.message_response(to, size))

    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        """SEND-8: the mailbox becomes ``received``; a secondary sender is switched out (ready) with
        MESSAGE (RUN-8), the primary just gets 0. The hypervisor wakes no vCPU (RUN-12)."""
        to.mailbox = MAILBOX_RECEIVED
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(self.send_result())
        return self.switch_to_primary(vcpu, VCPU_READY, self.send_result(), self.message_response(to, size))

    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, notify: int) -> Answer:
        to_id = self.send_target(x1)
        if not self.send_checks(vm, to_id, size):
            return ERR_ANSWER  # SEND-1..SEND-4
        to = self.vms[to_id]
        if self.mailbox_busy(to):  # SEND-5
            if self.notify_requested(notify):
                self.queue_waiter(vm, to)
            return ERR_ANSWER
        self.copy_message(vm, to, size)  # SEND-6
        if to.id == abi.HF_PRIMARY_VM_ID:
            return self.send_to_primary(vm, vcpu, to, size)  # SEND-7
        return self.send_to_secondary(vm, vcpu, to, size)  # SEND-8

    # --- receive (RECV, RUN-7) --------------------------------------------------------------

    def receive_result(self, vm: Vm) -> int:
        """RECV-2, RUN-12: ``sender (u32) | size << 32``."""
        return abi.receive_response(vm.sender, vm.msg_size)

    def receive_from_primary(self) -> int:
        """RECV-1: the primary's receive always returns 0x00000000FFFFFFFF."""
        return NOTHING

    def receive_unread(self, vm: Vm) -> bool:
        """RECV-2: the mailbox is ``received`` (blocking or not)."""
        return vm.mailbox is MAILBOX_RECEIVED

    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        """RECV-3: not blocking (block = 0; any non-zero value blocks), or the vCPU has an
        enabled+pending interrupt -> 0x00000000FFFFFFFF, no switch."""
        return block == 0 or self.has_pending(vcpu)

    def receive_block(self, vcpu: Vcpu) -> Answer:
        """RECV-4, RUN-7: the vCPU becomes ``blocked_mailbox`` (its receive returns
        0x00000000FFFFFFFF unless RUN-12 delivers a message); the primary's run returns
        WAIT_FOR_MESSAGE with ns per the timer."""
        response = abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE, self.sleep_ns(vcpu))
        return self.switch_to_primary(vcpu, VCPU_BLOCKED_MAILBOX, NOTHING, response)

    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(self.receive_from_primary())  # RECV-1
        if self.receive_unread(vm):  # RECV-2
            vm.mailbox = MAILBOX_READ
            return Answer(self.receive_result(vm))
        if self.receive_nothing(vcpu, block):
            return Answer(NOTHING)  # RECV-3
        return self.receive_block(vcpu)  # RECV-4

    # --- clear (CLR) ------------------------------------------------------------------------

    def clear_empty(self) -> Answer:
        """CLR-1: clearing an ``empty`` mailbox returns 0 and notifies nobody."""
        return Answer(0)

    def clear_unread(self) -> Answer:
        """CLR-2: a ``received`` (unread) mailbox is not cleared: -1, no change."""
        return ERR_ANSWER

    def clear_read(self, vm: Vm, vcpu: Vcpu) -> Answer:
        """CLR-3: ``read`` -> ``empty``; the result as CFG-5 (RUN-9 for a secondary with waiters)."""
        vm.mailbox = MAILBOX_EMPTY
        return self.waiter_result(vm, vcpu)

    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MAILBOX_EMPTY:
            return self.clear_empty()
        if vm.mailbox is MAILBOX_RECEIVED:
            return self.clear_unread()
        return self.clear_read(vm, vcpu)

    # --- writability notification (WAIT-1, WAIT-2) -----------------------------------------

    def fetch_waiter(self, target: Vm) -> int | None:
        """WAIT-1: if ``target``'s mailbox is ``empty``, configured and has waiters, the first
        waiter is removed and returned; else None."""
        if target.mailbox is not MAILBOX_EMPTY or target.recv is None or not target.waiters:
            return None
        return target.waiters.pop(0)

    def add_ready(self, waiting: Vm, target: Vm) -> None:
        """WAIT-1: ``target`` joins the waiting VM's ready list, unless already there."""
        if target.id not in waiting.ready:
            waiting.ready.append(target.id)

    def _mailbox_waiter_get(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        """WAIT-1: -1 unless the caller is the primary and the VM exists; the first waiter's ID."""
        target_id = x1 & U32
        if vm.id != abi.HF_PRIMARY_VM_ID or target_id >= len(self.vms):
            return ERR_ANSWER
        target = self.vms[target_id]
        waiter = self.fetch_waiter(target)
        if waiter is None:
            return ERR_ANSWER
        self.add_ready(self.vms[waiter], target)
        return Answer(waiter)

    def writable_get(self, vm: Vm) -> int:
        """WAIT-2: the first entry of the caller's ready list, removed; else -1."""
        return vm.ready.pop(0) if vm.ready else ERR

    def _mailbox_writable_get(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(self.writable_get(vm))

    # --- virtual interrupts (WAIT-4, RUN-10, RECV-3, RUN-13) ---------------------------------

    def intid_valid(self, intid: int) -> bool:
        """WAIT-4: interrupt IDs are 0..63 (a uint32_t: bits 63..32 of the register are ignored)."""
        return intid & U32 < abi.HF_NUM_INTIDS

    def has_pending(self, vcpu: Vcpu) -> bool:
        """WAIT-4, RECV-3, RUN-13: the vCPU has an enabled+pending interrupt."""
        return vcpu.enabled & vcpu.pending != 0

    def update_irq(self, vm_id: int, vcpu: Vcpu) -> None:
        """WAIT-4: the vCPU's virtual IRQ line is asserted while it has an enabled+pending interrupt
        (handler.c ``set_virtual_interrupt``); the machine layer delivers it as hardware would."""
        line = self.has_pending(vcpu)
        if line != vcpu.irq_line:
            vcpu.irq_line = line
            self.platform.set_irq(vm_id, vcpu.index, line)

    def interrupt_enable(self, vm: Vm, vcpu: Vcpu, intid: int, enable: int) -> int:
        """WAIT-4: -1 if intid >= 64; else the caller's own vCPU enables (enable != 0) or disables it: 0."""
        if not self.intid_valid(intid):
            return ERR
        bit = 1 << (intid & U32)
        vcpu.enabled = vcpu.enabled | bit if enable != 0 else vcpu.enabled & ~bit
        self.update_irq(vm.id, vcpu)
        return 0

    def interrupt_get(self, vm: Vm, vcpu: Vcpu) -> int:
        """WAIT-4: the lowest enabled+pending intid of the calling vCPU, acknowledged (no longer
        pending); else 0x00000000FFFFFFFF."""
        ready = vcpu.enabled & vcpu.pending
        if not ready:
            return abi.HF_INTERRUPT_GET_NONE
        intid = (ready & -ready).bit_length() - 1
        vcpu.pending &= ~(1 << intid)
        self.update_irq(vm.id, vcpu)
        return intid

    def inject_allowed(self, vm: Vm, target_id: int, idx: int, intid: int) -> bool:
        """WAIT-4: -1 if intid >= 64, no such VM or vCPU, or a secondary targets another VM."""
        return (
            self.intid_valid(intid)
            and target_id < len(self.vms)
            and idx < len(self.vms[target_id].vcpus)
            and (vm.id == abi.HF_PRIMARY_VM_ID or vm.id == target_id)
        )

    def make_pending(self, target: Vcpu, intid: int) -> bool:
        """WAIT-4: ``intid`` becomes pending; True when it became the target's first enabled+pending
        interrupt (it is enabled, was not pending, and none other was)."""
        bit = 1 << intid
        first = bool(target.enabled & bit & ~target.pending) and not self.has_pending(target)
        target.pending |= bit
        self.update_irq(target.vm_id, target)
        return first

    def inject_result(self, vm: Vm, first: bool) -> int:
        """WAIT-4: 1 if the caller is the primary and the interrupt became the target's first
        enabled+pending one, otherwise 0."""
        return abi.HF_INJECT_FIRST_PENDING if first and vm.id == abi.HF_PRIMARY_VM_ID else 0

    def inject_wakes(self, vm: Vm, vcpu: Vcpu, target: Vcpu, first: bool) -> bool:
        """RUN-10: a secondary making an interrupt newly enabled+pending (the first) on *another*
        vCPU of its own VM switches to the primary with WAKE_UP."""
        return first and vm.id != abi.HF_PRIMARY_VM_ID and target is not vcpu

    def wake_up(self, vcpu: Vcpu, target: Vcpu) -> Answer:
        """RUN-10: WAKE_UP ``4 | vcpu << 16 | vm << 32``; the injector stays ready and its call
        returns 0 when resumed."""
        return self.switch_to_primary(vcpu, VCPU_READY, 0, abi.run_wake_up(target.vm_id, target.index))

    def _interrupt_enable(self, vm: Vm, vcpu: Vcpu, intid: int, enable: int, x3: int) -> Answer:
        return Answer(self.interrupt_enable(vm, vcpu, intid, enable))

    def _interrupt_get(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(self.interrupt_get(vm, vcpu))

    def _interrupt_inject(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id, idx, intid = x1 & U32, x2 & U32, x3 & U32
        if not self.inject_allowed(vm, target_id, idx, intid):
            return ERR_ANSWER
        target = self.vms[target_id].vcpus[idx]
        first = self.make_pending(target, intid)
        if self.inject_wakes(vm, vcpu, target, first):
            return self.wake_up(vcpu, target)
        return Answer(self.inject_result(vm, first))

    # --- the virtual timer (RUN-2, RUN-5, RUN-7, RUN-13) -------------------------------------

    def timer_enabled(self, vcpu: Vcpu) -> bool:
        """RUN-2, RUN-5: CNTV_CTL_EL0.ENABLE = 1 and IMASK = 0 (api.c ``arch_timer_enabled``)."""
        ctl = self.platform.timer(vcpu.vm_id, vcpu.index).ctl
        return ctl & (TIMER_ENABLE | TIMER_IMASK) == TIMER_ENABLE

    def timer_expired(self, vcpu: Vcpu) -> bool:
        """RUN-13: an enabled timer whose CVAL <= the virtual counter has expired."""
        if not self.timer_enabled(vcpu):
            return False
        t = self.platform.timer(vcpu.vm_id, vcpu.index)
        return t.cval <= t.counter

    def remaining_ns(self, vcpu: Vcpu) -> int:
        """RUN-2, RUN-5: (CVAL - counter) ticks in ns at CNTFRQ, 0 when expired; capped below INDEF
        (the value is implementation-defined, only "≠ INDEF" is a MUST)."""
        t = self.platform.timer(vcpu.vm_id, vcpu.index)
        ticks = max(0, t.cval - t.counter)
        return min(ticks * NS_PER_S // max(1, t.frequency), abi.HF_SLEEP_INDEFINITE - 1)

    def sleep_ns(self, vcpu: Vcpu) -> int:
        """RUN-5, RUN-7: the remaining time if the timer is enabled, else HF_SLEEP_INDEFINITE."""
        return self.remaining_ns(vcpu) if self.timer_enabled(vcpu) else abi.HF_SLEEP_INDEFINITE
