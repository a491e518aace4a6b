"""Deliberately wrong hypervisors: the reference with exactly one deviation from the spec each.

The conformance suite's self-test (``python -m conformance.selftest``) runs the whole suite against
every build in :data:`CATALOGUE` and expects each to FAIL; a mutant that passes shows a gap in the
suite. Every mutant is a build usable on its own::

    hfconform --hv reference_hv.mutants:send_accepts_4097
    pytest --pyargs conformance.tests -p conformance.plugin --hv reference_hv.mutants:clear_empty_returns_0

Each mutant is a small subclass that overrides one step, written next to the clause it breaks:

* ABI-level mutants subclass :class:`SeamCore` — the reference core with configure, send and receive
  cut into small steps (``send_size_ok``, ``deliver``, ``pick_waiter``, ``receive_ok`` ...).
  ``SeamCore`` itself deviates in nothing: the self-test runs it as a second control, next to
  the reference.
* machine-level mutants (registers, the ``hvc`` immediate, ``smc``, ``wfe``) subclass
  :class:`reference_hv.system.System` and are booted through ``ReferenceBuild(system_class=...)``;
  ``System`` itself is unchanged.
* boot-level mutants (which vCPUs are ready, the order of VM IDs) change the configuration the
  build boots.

Deviations left out because no test through the build protocol can observe them:

* *alignment checked after "already configured"* (CFG-1's order): both checks return -1 and change
  nothing, so the order is invisible — ``configure(unaligned)`` after a success returns -1 either way.
* *running the primary allowed* (RUN-2, vm_id 0): the primary's vCPU 0 is running and its other
  vCPUs are off in this profile, so a run of any primary vCPU is refused by the readiness check
  anyway; the mutant kept is "running the primary returns YIELD" instead.
* *the waiters as a FIFO* is observable only with several ready vCPUs (SEND-9): kept, since the
  reference declares ``ready_vcpus``; on a build without that capability the test is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from conformance.protocol import SystemConfig
from guest_asm import abi
from guest_asm.assembler import Image
from reference_hv.build import ReferenceBuild
from reference_hv.core import ERR, U32, CopyFn, Core, MailboxState, Outcome, Vcpu, VcpuState, Vm
from reference_hv.machine import X_REGS, Machine
from reference_hv.system import INTNO_HVC, INTNO_SMC, System, VMSpec

ERR_OUTCOME = Outcome(ERR)
WFI_RESPONSE = abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)


class MutantBuild(ReferenceBuild):
    """The reference with one deviation: a different core, machine layer, or boot configuration."""

    def __init__(
        self,
        mutant: str,
        description: str,
        clauses: tuple[str, ...],
        *,
        core_class: type[Core] = Core,
        system_class: type[System] = System,
        config_transform: Callable[[SystemConfig], SystemConfig] | None = None,
        trace: bool = False,
    ) -> None:
        # No hypercall trace by default: a mutant often leaves a guest spinning on a failing call,
        # and millions of trace events cost minutes and gigabytes (the verdicts do not use it).
        super().__init__(system_class=system_class, core_class=core_class, trace=trace)
        self.name = f"mutant:{mutant}"
        self.mutant = mutant
        self.description = description
        #: The clauses the deviation breaks (spec IDs, e.g. ``("SEND-1",)``).
        self.clauses = clauses
        self.core_class = core_class
        self.config_transform = config_transform

    def boot(self, config: SystemConfig) -> System:
        if self.config_transform is not None:
            config = self.config_transform(config)
        return super().boot(config)

    def __repr__(self) -> str:
        return f"<MutantBuild {self.mutant} ({', '.join(self.clauses)})>"


#: Every mutant by name; also module attributes (``--hv reference_hv.mutants:NAME``).
CATALOGUE: dict[str, MutantBuild] = {}

T = TypeVar("T", bound=type)


def mutant(name: str, clauses: str, description: str, *, system: type[System] = System) -> Callable[[T], T]:
    """Register the decorated Core or System subclass as the mutant ``name`` breaking ``clauses``."""

    def register(cls: T) -> T:
        if name in CATALOGUE:
            raise ValueError(f"duplicate mutant {name!r}")
        ids = tuple(c.strip() for c in clauses.split(","))
        if issubclass(cls, System):
            build = MutantBuild(name, description, ids, system_class=cls)
        elif issubclass(cls, Core):
            build = MutantBuild(name, description, ids, core_class=cls, system_class=system)
        else:
            raise TypeError(f"mutant {name!r}: {cls.__name__} is neither a Core nor a System subclass")
        CATALOGUE[name] = build
        return cls

    return register


def _register_config(name: str, clauses: str, description: str, transform: Callable[[SystemConfig], SystemConfig]) -> None:
    ids = tuple(c.strip() for c in clauses.split(","))
    CATALOGUE[name] = MutantBuild(name, description, ids, config_transform=transform)


def __getattr__(name: str) -> MutantBuild:
    try:
        return CATALOGUE[name] if name in CATALOGUE else CONTROLS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no mutant {name!r}") from None


# =============================================================================================
# The seams: the reference core, cut into steps (no deviation)
# =============================================================================================


class SeamCore(Core):
    """:class:`Core` with configure, send, receive and clear written as small overridable steps.

    Behaviour is the reference's, step for step (a control in the self-test). Two steps are more
    defensive than the reference because mutants can reach them: ``deliver`` copies only between
    pages some VM owns, and skips an unconfigured page.
    """

    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        #: The machine layer, for mutants that write guest memory (set by :class:`MemorySystem`).
        self.memory: System | None = None

    # --- configure (CFG) ----------------------------------------------------------------------

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

    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Outcome:
        if not self.aligned(send, recv):
            return ERR_OUTCOME
        if not self.may_configure(vm):
            return ERR_OUTCOME
        if not (self.page_ok(vm, send) and self.page_ok(vm, recv)):
            return ERR_OUTCOME
        if not self.pages_distinct(send, recv):
            return ERR_OUTCOME
        vm.send, vm.recv = send, recv
        return Outcome(self.configured())

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
        return to.mailbox is MailboxState.EMPTY

    def owner(self, addr: int) -> int | None:
        """The VM whose memory holds the page at ``addr`` (the caller's own, in the reference)."""
        for vm in self.vms:
            if vm.owns_page(addr):
                return vm.id
        return None

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:  # SEND-7: the copy, at the time of the call
        if vm.send is None or to.recv is None:
            return
        src, dst = self.owner(vm.send), self.owner(to.recv)
        if src is None or dst is None:
            return
        self.copy(src, vm.send, dst, to.recv, min(size, abi.PAGE_SIZE))

    def record(self, vm: Vm, to: Vm, size: int) -> None:  # SEND-7: sender and size
        to.sender, to.msg_size = vm.id, size

    def primary_mailbox_after_message(self) -> MailboxState:  # SEND-8
        return MailboxState.READ

    def message_response(self, vm: Vm, size: int) -> int:  # RUN-7
        return abi.run_response(abi.HF_VCPU_RUN_MESSAGE, 0, size)

    def pick_waiter(self, to: Vm) -> int:  # SEND-9: LIFO
        return to.waiters.pop()

    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:  # SEND-9
        woken.state = VcpuState.READY
        woken.resume_x0 = self.receive_ok(to, vm.id, size)
        to.mailbox = MailboxState.READ

    def leave_unread(self, to: Vm) -> None:  # SEND-10
        to.mailbox = MailboxState.RECEIVED

    def primary_send_result(self, woken_idx: int) -> int:  # SEND-11
        return woken_idx

    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:  # RUN-8
        return abi.run_response(abi.HF_VCPU_RUN_WAKE_UP, to.id, woken_idx)

    def sender_resume(self, woken_idx: int) -> int | None:  # SEND-12, RUN-9: the send returns 0
        return 0

    def sender_state(self) -> VcpuState:  # RUN-9: the sender stays ready
        return VcpuState.READY

    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Outcome:  # SEND-8, SEND-12
        return self._to_primary(vcpu, response, self.sender_state(), self.sender_resume(woken_idx))

    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, x3: int) -> Outcome:
        to_id = self.send_target(x1)
        if not self.send_size_ok(size):
            return ERR_OUTCOME  # SEND-1
        if self.send_to_self_refused(vm, to_id):
            return ERR_OUTCOME  # SEND-2
        if to_id >= len(self.vms):
            return ERR_OUTCOME  # SEND-3
        if not self.sender_ready(vm):
            return ERR_OUTCOME  # SEND-4
        to = self.vms[to_id]
        if not self.receiver_ready(to):
            return ERR_OUTCOME  # SEND-5
        if not self.mailbox_free(to):
            return ERR_OUTCOME  # SEND-6
        self.deliver(vm, to, size)
        self.record(vm, to, size)
        if to.id == abi.HF_PRIMARY_VM_ID:
            to.mailbox = self.primary_mailbox_after_message()
            return self.switch_out_sender(vcpu, self.message_response(vm, size), 0)
        if to.waiters:
            woken_idx = self.pick_waiter(to)
            self.wake(to, to.vcpus[woken_idx], vm, size)
        else:
            woken_idx = abi.HF_INVALID_VCPU
            self.leave_unread(to)
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Outcome(self.primary_send_result(woken_idx))
        return self.switch_out_sender(vcpu, self.wake_up_response(vm, to, woken_idx), woken_idx)

    # --- receive (RECV) -----------------------------------------------------------------------

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:  # RECV-2, RECV-4, RECV-6
        return abi.receive_response(sender, size)

    def receive_failed(self) -> int:  # RECV-1, RECV-3
        return ERR

    def blocking(self, block: int) -> bool:  # any non-zero x1
        return block != 0

    def may_receive(self, vm: Vm) -> bool:  # RECV-1
        return vm.id != abi.HF_PRIMARY_VM_ID

    def unread(self, vm: Vm) -> bool:  # RECV-2
        return vm.mailbox is MailboxState.RECEIVED

    def may_block(self, vm: Vm) -> bool:  # RECV-4, RECV-5
        return True

    def block_response(self) -> int:  # RUN-6
        return WFI_RESPONSE

    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Outcome:
        if not self.may_receive(vm):
            return Outcome(self.receive_failed())
        if self.unread(vm):
            vm.mailbox = MailboxState.READ
            return Outcome(self.receive_ok(vm, vm.sender, vm.msg_size))
        if not self.blocking(block) or not self.may_block(vm):
            return Outcome(self.receive_failed())
        vm.waiters.append(vcpu.index)
        return self._to_primary(vcpu, self.block_response(), VcpuState.BLOCKED_MAILBOX, None)


class MemorySystem(System):
    """The reference machine layer, giving a :class:`SeamCore` write access to guest memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.core, SeamCore):
            self.core.memory = self

    def zero(self, vm: int, addr: int, size: int) -> None:
        if size > 0:
            self.write(vm, addr, bytes(size))


def _zero(core: SeamCore, vm: int, addr: int, size: int) -> None:
    if isinstance(core.memory, MemorySystem):
        core.memory.zero(vm, addr, size)


#: Builds that must PASS the suite: the seams with no deviation, with and without :class:`MemorySystem`.
CONTROLS: dict[str, MutantBuild] = {
    "seam_core": MutantBuild(
        "seam_core",
        "control: the reference core cut into steps (no deviation)",
        (),
        core_class=SeamCore,
        system_class=MemorySystem,
    ),
}


# =============================================================================================
# §1 Calling convention
# =============================================================================================


class _ReturnPatched(System):
    """The reference machine layer, with :meth:`patch_return` applied after every ``set_return``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for m in self.machines:
            m.set_return = self._wrap(m, m.set_return)  # type: ignore[method-assign, assignment]

    def _wrap(self, m: Machine, full: Callable[[int], None]) -> Callable[[int], None]:
        def set_return(x0: int) -> None:
            before = [m.reg(r) for r in X_REGS]
            full(x0)
            self.patch_return(m, before)

        return set_return

    def patch_return(self, m: Machine, before: list[int]) -> None:
        """Registers as the hypercall return left them; ``before``: x0..x30 as they were."""


@mutant("x8_x17_not_cleared", "CALL-5", "a hypercall return zeroes only x1..x7 (x8..x17 keep their values)")
class _X1ToX7Return(_ReturnPatched):
    def patch_return(self, m: Machine, before: list[int]) -> None:
        for n in range(8, 18):
            m.set_reg(X_REGS[n], before[n])


@mutant("x18_clobbered", "CALL-5", "a hypercall return zeroes x1..x18: x18 is not preserved")
class _X18Clobbered(_ReturnPatched):
    def patch_return(self, m: Machine, before: list[int]) -> None:
        m.set_reg(X_REGS[18], 0)


@mutant("resume_registers_not_cleared", "CALL-5, RECV-4", "a vCPU resumed after a switch gets x0 but x1..x17 as they were")
class _ResumeKeepsRegisters(_ReturnPatched):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._in_exception = False
        super().__init__(*args, **kwargs)

    def _on_exception(self, vm_id: int, intno: int) -> None:
        self._in_exception = True  # an immediate return: x1..x17 zeroed as the reference does
        try:
            super()._on_exception(vm_id, intno)
        finally:
            self._in_exception = False

    def patch_return(self, m: Machine, before: list[int]) -> None:
        if not self._in_exception:  # the resume of a switched-out vCPU: x0 only
            for n in range(1, 18):
                m.set_reg(X_REGS[n], before[n])


@mutant("hvc_immediate_honoured", "CALL-2", "only `hvc #0` is a hypercall: any other immediate returns -1")
class _HvcImmediate(System):
    def _on_exception(self, vm_id: int, intno: int) -> None:
        if intno == INTNO_HVC:
            m = self.machines[vm_id]
            insn = m.word(m.pc - 4) or 0  # the hvc just taken: imm16 in bits 20..5
            if (insn >> 5) & 0xFFFF:
                m.set_return(ERR)
                return
        super()._on_exception(vm_id, intno)


@mutant("smc_zeroes_x1_x17", "CALL-7", "an smc returns like a hypercall: x1..x17 are zeroed")
class _SmcZeroes(System):
    def _on_exception(self, vm_id: int, intno: int) -> None:
        if intno == INTNO_SMC:
            m = self.machines[vm_id]
            outcome = self.core.smc(vm_id, m.reg(X_REGS[0]))
            if outcome.ret is not None:
                m.set_return(outcome.ret)
                return
        super()._on_exception(vm_id, intno)


@mutant("wfe_as_wfi", "RUN-5", "a secondary's wfe is trapped and treated as wfi (the vCPU blocks for good)")
class _WfeAsWfi(System):
    """Modelled at load time: each wfe of a secondary's image is trapped as a wfi would be."""

    @staticmethod
    def _assemble(vm_id: int, spec: VMSpec, base: int) -> Image:
        image = System._assemble(vm_id, spec, base)
        if vm_id == abi.HF_PRIMARY_VM_ID:
            return image
        wfe, wfi = abi.INSN_WFE.to_bytes(4, "little"), abi.INSN_WFI.to_bytes(4, "little")
        code = bytearray(image.code)
        for off in range(0, len(code) - 3, 4):
            if code[off : off + 4] == wfe:
                code[off : off + 4] = wfi
        return dataclasses.replace(image, code=bytes(code))


@mutant("bit30_not_ignored", "CALL-3", "function IDs are matched on u32(x0) without clearing bit 30")
class _Bit30(SeamCore):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        if x0 & abi.FUNCTION_ID_IGNORED_BIT:
            return ERR_OUTCOME
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("upper32_not_ignored", "CALL-3", "function IDs are matched on all 64 bits of x0")
class _Upper32(SeamCore):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        if x0 >> 32:
            return ERR_OUTCOME
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("unknown_id_returns_0", "CALL-4", "an unknown function ID returns 0 instead of -1")
class _UnknownZero(SeamCore):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        outcome = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)
        func = (x0 & U32) & ~abi.FUNCTION_ID_IGNORED_BIT
        known = func in self._calls or (vm_id == abi.HF_PRIMARY_VM_ID and self.psci(func) is not None)
        return outcome if known else Outcome(0)


@mutant("psci_for_secondaries", "CALL-6", "PSCI calls are answered for secondaries too (PSCI_VERSION -> 2)")
class _PsciSecondaries(SeamCore):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        psci = self.psci((x0 & U32) & ~abi.FUNCTION_ID_IGNORED_BIT)
        if psci is not None and vm_id != abi.HF_PRIMARY_VM_ID:
            return psci if psci.ret is not None else ERR_OUTCOME
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("psci_version_1_0", "CALL-6", "PSCI_VERSION returns 0x10000 (PSCI 1.0) instead of 2")
class _PsciVersion(SeamCore):
    @staticmethod
    def psci(func: int) -> Outcome | None:
        if func == abi.PSCI_VERSION:
            return Outcome(0x10000)
        return Core.psci(func)


@mutant("psci_system_off_ignored", "CALL-6", "PSCI_SYSTEM_OFF returns 0 and the run goes on")
class _SystemOffIgnored(SeamCore):
    @staticmethod
    def psci(func: int) -> Outcome | None:
        if func == abi.PSCI_SYSTEM_OFF:
            return Outcome(0)
        return Core.psci(func)


@mutant("smc_psci_not_handled", "CALL-6, CALL-7", "an smc from the primary is never PSCI: it always returns -1")
class _SmcNoPsci(SeamCore):
    def smc(self, vm_id: int, x0: int) -> Outcome:
        return ERR_OUTCOME


@mutant("smc_psci_for_secondaries", "CALL-7", "an smc from a secondary is handled as PSCI")
class _SmcSecondaryPsci(SeamCore):
    def smc(self, vm_id: int, x0: int) -> Outcome:
        return super().smc(abi.HF_PRIMARY_VM_ID, x0)


@mutant("smc_returns_0", "CALL-7", "an smc that is not PSCI returns 0 instead of -1 (an smc HF_VCPU_RUN looks like YIELD)")
class _SmcReturns0(SeamCore):
    def smc(self, vm_id: int, x0: int) -> Outcome:
        outcome = super().smc(vm_id, x0)
        return Outcome(0) if outcome.ret == ERR else outcome


# =============================================================================================
# §2 Hypercall numbers
# =============================================================================================


@mutant(
    "renumbered_55c4d8b8",
    "ID-1, ID-2, ID-3, ID-4, ID-5, ID-6, ID-7",
    "§12 2018-12-19 numbering: VM_GET_ID 0xff00 ... VCPU_RUN 0xff03, VM_CONFIGURE 0xff05 ... MAILBOX_CLEAR 0xff08",
)
class _Renumbered(SeamCore):
    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls = {
            0xFF00: lambda vm, vcpu, x1, x2, x3: Outcome(vm.id),  # HF_VM_GET_ID
            0xFF01: self._vm_get_count,
            0xFF02: self._vcpu_get_count,
            0xFF03: self._vcpu_run,
            0xFF04: self._vcpu_yield,
            0xFF05: self._vm_configure,
            0xFF06: self._mailbox_send,
            0xFF07: self._mailbox_receive,
            0xFF08: self._mailbox_clear,
        }

    def _vcpu_yield(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Outcome(0)
        return self._to_primary(vcpu, abi.run_response(abi.HF_VCPU_RUN_YIELD), VcpuState.READY, 0)


@mutant("receive_clear_swapped", "ID-6, ID-7", "HF_MAILBOX_RECEIVE is 0xff06 and HF_MAILBOX_CLEAR 0xff05")
class _RecvClearSwapped(SeamCore):
    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls[abi.HF_MAILBOX_RECEIVE], self._calls[abi.HF_MAILBOX_CLEAR] = self._mailbox_clear, self._mailbox_receive


@mutant("get_counts_swapped", "ID-2, ID-3", "HF_VM_GET_COUNT is 0xff02 and HF_VCPU_GET_COUNT 0xff01")
class _CountsSwapped(SeamCore):
    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls[abi.HF_VM_GET_COUNT], self._calls[abi.HF_VCPU_GET_COUNT] = self._vcpu_get_count, self._vm_get_count


# =============================================================================================
# §3 VMs, vCPUs and memory
# =============================================================================================


@mutant("vm_count_excludes_primary", "VM-2", "HF_VM_GET_COUNT returns N (secondaries only), as call.h's comment says")
class _VmCountN(SeamCore):
    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        return Outcome(len(self.vms) - 1)


@mutant("vm_count_primary_only", "VM-2", "HF_VM_GET_COUNT from a secondary returns -1")
class _VmCountPrimaryOnly(SeamCore):
    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        return Outcome(len(self.vms)) if vm.id == abi.HF_PRIMARY_VM_ID else ERR_OUTCOME


@mutant("vcpu_count_for_secondaries", "VM-3", "HF_VCPU_GET_COUNT answers secondaries too")
class _VcpuCountAnyone(SeamCore):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        target = x1 & U32
        return ERR_OUTCOME if target >= len(self.vms) else Outcome(len(self.vms[target].vcpus))


@mutant("vcpu_count_absent_vm_0", "VM-3", "HF_VCPU_GET_COUNT of an absent VM returns 0 instead of -1")
class _VcpuCountAbsentZero(SeamCore):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 >= len(self.vms):
            return Outcome(0)
        return super()._vcpu_get_count(vm, vcpu, x1, x2, x3)


@mutant("vcpu_count_vm_id_64_bit", "VM-3", "HF_VCPU_GET_COUNT uses all 64 bits of the VM ID")
class _VcpuCount64(SeamCore):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if x1 >> 32:
            return ERR_OUTCOME
        return super()._vcpu_get_count(vm, vcpu, x1, x2, x3)


def _all_vcpus_ready(config: SystemConfig) -> SystemConfig:
    guests = tuple(dataclasses.replace(g, ready_vcpus=g.vcpus) for g in config.secondaries)
    return dataclasses.replace(config, secondaries=guests)


def _reverse_vm_ids(config: SystemConfig) -> SystemConfig:
    return dataclasses.replace(config, secondaries=tuple(reversed(config.secondaries)))


_register_config(
    "all_vcpus_ready_at_boot", "VM-4", "every vCPU of a secondary is ready at boot, not only vCPU 0", _all_vcpus_ready
)
_register_config("vm_ids_reversed", "VM-1", "secondaries get IDs in reverse load order", _reverse_vm_ids)


# =============================================================================================
# §4 Running vCPUs
# =============================================================================================


@mutant("secondary_run_returns_error", "RUN-1", "HF_VCPU_RUN from a secondary returns -1 instead of 0x1")
class _SecondaryRunErr(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return ERR_OUTCOME
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("secondary_may_run", "RUN-1", "a secondary's HF_VCPU_RUN of another VM's ready vCPU is obeyed")
class _SecondaryRuns(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return super()._vcpu_run(vm, vcpu, x1, x2, x3)
        target_id, idx = x1 & U32, x2 & U32
        if target_id == vm.id or not 0 < target_id < len(self.vms) or idx >= len(self.vms[target_id].vcpus):
            return Outcome(WFI_RESPONSE)
        target = self.vms[target_id].vcpus[idx]
        if target.state is not VcpuState.READY:
            return Outcome(WFI_RESPONSE)
        # The caller is switched out (as after a send), the target runs in its place.
        vcpu.state, vcpu.resume_x0 = VcpuState.READY, 0
        target.state = VcpuState.RUNNING
        return Outcome(None, run=(target_id, idx))


@mutant("run_primary_yields", "RUN-2", "HF_VCPU_RUN of the primary (vm_id 0) returns YIELD 0x0 instead of 0x1")
class _RunPrimaryYield(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 == abi.HF_PRIMARY_VM_ID:
            return Outcome(abi.run_response(abi.HF_VCPU_RUN_YIELD))
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vcpu_index_modulo", "RUN-2", "an absent vCPU index wraps modulo the VM's vCPU count")
class _RunModulo(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        target_id = x1 & U32
        if 0 < target_id < len(self.vms):
            x2 = (x2 & U32) % len(self.vms[target_id].vcpus)
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vm_id_u16", "RUN-2, RUN-3", "HF_VCPU_RUN takes the VM ID modulo 0x10000 (u16 instead of u32)")
class _RunU16(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        return super()._vcpu_run(vm, vcpu, x1 & 0xFFFF, x2, x3)


@mutant("run_blocked_vcpu_allowed", "RUN-2, RUN-5", "HF_VCPU_RUN runs a blocked vCPU (wfi or receive) again")
class _RunBlocked(SeamCore):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        target_id, idx = x1 & U32, x2 & U32
        if vm.id == abi.HF_PRIMARY_VM_ID and 0 < target_id < len(self.vms) and idx < len(self.vms[target_id].vcpus):
            target = self.vms[target_id].vcpus[idx]
            if target.state in (VcpuState.BLOCKED_WFI, VcpuState.BLOCKED_MAILBOX):
                target.state = VcpuState.READY
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("preemption_as_wfi", "RUN-4", "a preempted vCPU is reported as WAIT_FOR_INTERRUPT 0x1 (it stays ready)")
class _PreemptWfi(SeamCore):
    def preempted(self, vm_id: int, vcpu_idx: int) -> int:
        super().preempted(vm_id, vcpu_idx)
        return WFI_RESPONSE


@mutant("preemption_blocks", "RUN-4", "a preempted vCPU reports YIELD but is never runnable again")
class _PreemptBlocks(SeamCore):
    def preempted(self, vm_id: int, vcpu_idx: int) -> int:
        response = super().preempted(vm_id, vcpu_idx)
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.BLOCKED_WFI
        return response


@mutant("wfi_as_yield", "RUN-5", "wfi is reported as YIELD 0x0 and the vCPU stays ready")
class _WfiYield(SeamCore):
    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> int:
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.READY
        return abi.run_response(abi.HF_VCPU_RUN_YIELD)


@mutant("wfi_woken_by_send", "RUN-5", "a send to a VM makes its wfi-blocked vCPUs ready again")
class _WfiWoken(SeamCore):
    def leave_unread(self, to: Vm) -> None:
        super().leave_unread(to)
        for v in to.vcpus:
            if v.state is VcpuState.BLOCKED_WFI:
                v.state = VcpuState.READY


@mutant("blocking_receive_yields", "RUN-6", "a blocking receive with nothing to receive returns YIELD 0x0 to the primary")
class _BlockYield(SeamCore):
    def block_response(self) -> int:
        return abi.run_response(abi.HF_VCPU_RUN_YIELD)


@mutant("message_names_sender", "RUN-7", "§12 b06d175e-like: MESSAGE carries the sending VM's ID in bits 31..16")
class _MessageNamesSender(SeamCore):
    def message_response(self, vm: Vm, size: int) -> int:
        return abi.run_response(abi.HF_VCPU_RUN_MESSAGE, vm.id, size)


@mutant("message_size_in_bits_31_16", "RUN-7", "MESSAGE carries the size in bits 31..16 instead of 63..32")
class _MessageSizeField(SeamCore):
    def message_response(self, vm: Vm, size: int) -> int:
        return abi.HF_VCPU_RUN_MESSAGE | (size & 0xFFFF) << 16


@mutant("wake_up_layout_6d2db331", "RUN-8", "§12 6d2db331: WAKE_UP packs vm_id in bits 63..32 and the vCPU in 31..16")
class _WakeUpLayout(SeamCore):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return abi.HF_VCPU_RUN_WAKE_UP | (woken_idx & 0xFFFF) << 16 | to.id << 32


@mutant("wake_up_names_sender", "RUN-8", "WAKE_UP names the sending VM instead of the recipient")
class _WakeUpSender(SeamCore):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return super().wake_up_response(vm, vm, woken_idx)


@mutant("wake_up_vcpu_0_when_none", "RUN-8, SEND-11", "WAKE_UP names vCPU 0 when no vCPU was waiting (not 0xffff)")
class _WakeUpZero(SeamCore):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return super().wake_up_response(vm, to, 0 if woken_idx == abi.HF_INVALID_VCPU else woken_idx)


@mutant("sender_not_resumable", "RUN-9", "a secondary that sent is left blocked: it never runs again")
class _SenderBlocked(SeamCore):
    def sender_state(self) -> VcpuState:
        return VcpuState.BLOCKED_WFI


@mutant("send_resumes_without_result", "RUN-9, CALL-5", "a switched-out sender resumes with its registers as they were")
class _SenderNoResult(SeamCore):
    def sender_resume(self, woken_idx: int) -> int | None:
        return None


@mutant(
    "send_returns_size_on_resume",
    "RUN-9, SEND-12",
    "a switched-out sender's send returns bits 63..32 of the run response (a message's size), not 0",
)
class _SenderSize(SeamCore):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Outcome:
        return self._to_primary(vcpu, response, self.sender_state(), response >> 32)


# =============================================================================================
# §5 Configuring the mailbox pages
# =============================================================================================


@mutant("configure_unaligned_accepted", "CFG-1", "configure does not check alignment")
class _CfgUnaligned(SeamCore):
    def aligned(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_recv_alignment_unchecked", "CFG-1", "configure checks only the send page's alignment")
class _CfgRecvUnaligned(SeamCore):
    def aligned(self, send: int, recv: int) -> bool:
        return send % abi.PAGE_SIZE == 0


@mutant("configure_twice_accepted", "CFG-2", "a second configure succeeds and replaces the pages")
class _CfgTwice(SeamCore):
    def may_configure(self, vm: Vm) -> bool:
        return True


@mutant("configure_any_page", "CFG-3", "configure does not check that the pages are mapped in the caller's memory")
class _CfgAnyPage(SeamCore):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return True


@mutant("configure_foreign_page", "CFG-3, VM-5", "configure accepts a page of another VM's memory")
class _CfgForeign(SeamCore):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return self.owner(addr) is not None


@mutant("configure_last_page_refused", "CFG-3", "off by one: the last page of the VM's memory is refused")
class _CfgLastPage(SeamCore):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return vm.base <= addr and addr + abi.PAGE_SIZE < vm.base + vm.size


@mutant("configure_address_48_bit", "CFG-3", "configure ignores address bits 63..48")
class _Cfg48(SeamCore):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return vm.owns_page(addr & 0xFFFF_FFFF_FFFF)


@mutant("configure_same_page_accepted", "CFG-4", "configure accepts the same page as send and recv page")
class _CfgSame(SeamCore):
    def pages_distinct(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_returns_1", "CFG-5", "§12 2019-01: a successful configure returns 1 (notify waiters)")
class _CfgOne(SeamCore):
    def configured(self) -> int:
        return 1


# =============================================================================================
# §6 Sending
# =============================================================================================


@mutant("send_accepts_4097", "SEND-1", "off by one: a 4097-byte message is accepted")
class _Send4097(SeamCore):
    def send_size_ok(self, size: int) -> bool:
        return size <= abi.HF_MAILBOX_SIZE + 1


@mutant("send_refuses_4096", "SEND-1", "off by one: a 4096-byte message is refused")
class _Send4096(SeamCore):
    def send_size_ok(self, size: int) -> bool:
        return size < abi.HF_MAILBOX_SIZE


@mutant("send_size_u32", "SEND-1", "the size limit is checked on u32(size)")
class _SendSizeU32(SeamCore):
    def send_size_ok(self, size: int) -> bool:
        return size & U32 <= abi.HF_MAILBOX_SIZE


@mutant("send_to_self_allowed", "SEND-2", "a VM may send to itself")
class _SendSelf(SeamCore):
    def send_to_self_refused(self, vm: Vm, to_id: int) -> bool:
        return False


@mutant("send_vm_id_64_bit", "SEND-3", "the destination VM ID uses all 64 bits of x1")
class _SendTo64(SeamCore):
    def send_target(self, x1: int) -> int:
        return x1


@mutant("send_unconfigured_sender", "SEND-4", "an unconfigured VM may send (an empty page's worth of nothing is copied)")
class _SendUnconfiguredSender(SeamCore):
    def sender_ready(self, vm: Vm) -> bool:
        return True


@mutant("send_unconfigured_receiver", "SEND-5", "a send to an unconfigured VM succeeds (nothing is copied)")
class _SendUnconfiguredReceiver(SeamCore):
    def receiver_ready(self, to: Vm) -> bool:
        return True


@mutant("send_overwrites_unread", "SEND-6", "a send to a mailbox holding a message overwrites it")
class _SendOverwrite(SeamCore):
    def mailbox_free(self, to: Vm) -> bool:
        return True


@mutant("send_to_read_mailbox", "SEND-6", "a mailbox whose message was read counts as free (no clear needed)")
class _SendRead(SeamCore):
    def mailbox_free(self, to: Vm) -> bool:
        return to.mailbox is not MailboxState.RECEIVED


@mutant("send_copies_whole_page", "SEND-7", "every send copies 4096 bytes, whatever its size")
class _SendWholePage(SeamCore):
    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, abi.PAGE_SIZE)


@mutant("send_zeroes_rest_of_page", "SEND-7", "a send zeroes the recv page beyond `size`", system=MemorySystem)
class _SendZeroRest(SeamCore):
    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, size)
        if to.recv is not None and size < abi.PAGE_SIZE:
            _zero(self, to.id, to.recv + size, abi.PAGE_SIZE - size)


@mutant("send_copies_one_byte_short", "SEND-7", "off by one: size - 1 bytes are copied")
class _SendShort(SeamCore):
    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, max(size - 1, 0))


@mutant("send_copies_late", "SEND-7", "a message to a secondary is copied when the receiver next runs, not at the send")
class _SendLate(SeamCore):
    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self.pending: dict[int, tuple[Vm, int]] = {}

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        if to.id == abi.HF_PRIMARY_VM_ID:
            super().deliver(vm, to, size)
        else:
            self.pending[to.id] = (vm, size)

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        outcome = super()._vcpu_run(vm, vcpu, x1, x2, x3)
        if outcome.run is not None and outcome.run[0] in self.pending:
            sender, size = self.pending.pop(outcome.run[0])
            super().deliver(sender, self.vms[outcome.run[0]], size)
        return outcome


@mutant("sender_is_receiver", "SEND-7, RECV-6", "the mailbox records the receiver's own ID as the sender")
class _SenderIsReceiver(SeamCore):
    def record(self, vm: Vm, to: Vm, size: int) -> None:
        to.sender, to.msg_size = to.id, size

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return super().receive_ok(vm, vm.id, size)


@mutant("sender_is_zero", "SEND-7, RECV-6", "the receiver always learns sender 0")
class _SenderZero(SeamCore):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return super().receive_ok(vm, 0, size)


@mutant("sender_is_previous", "SEND-7, RECV-6", "the receiver learns the previous message's sender (0 for the first)")
class _SenderPrevious(SeamCore):
    def __init__(self, vms: list[Vm], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self.previous: dict[int, int] = {}

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        shown = self.previous.get(vm.id, 0)
        self.previous[vm.id] = sender
        return super().receive_ok(vm, shown, size)


@mutant("primary_mailbox_received", "SEND-8", "a message to the primary leaves its mailbox received (unread), not read")
class _PrimaryReceived(SeamCore):
    def primary_mailbox_after_message(self) -> MailboxState:
        return MailboxState.RECEIVED


@mutant("to_primary_no_switch", "SEND-8, RUN-7", "a secondary's send to the primary returns 0 without switching")
class _ToPrimaryNoSwitch(SeamCore):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Outcome:
        if response & 0xFF == abi.HF_VCPU_RUN_MESSAGE:
            return Outcome(0)
        return super().switch_out_sender(vcpu, response, woken_idx)


@mutant("waiters_fifo", "SEND-9", "the vCPU woken is the one that blocked first (FIFO), not most recently")
class _Fifo(SeamCore):
    def pick_waiter(self, to: Vm) -> int:
        return to.waiters.pop(0)


@mutant("woken_vcpu_left_blocked", "SEND-9", "the woken vCPU gets its result but stays blocked")
class _WokenBlocked(SeamCore):
    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:
        super().wake(to, woken, vm, size)
        woken.state = VcpuState.BLOCKED_MAILBOX


@mutant("woken_mailbox_unread", "SEND-9", "waking a waiter leaves the mailbox received (unread) instead of read")
class _WokenUnread(SeamCore):
    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:
        super().wake(to, woken, vm, size)
        to.mailbox = MailboxState.RECEIVED


@mutant("waiter_not_woken", "SEND-9, SEND-10", "a send never wakes a blocked receiver: the message is left unread")
class _NoWake(SeamCore):
    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, x3: int) -> Outcome:
        to_id = x1 & U32
        if to_id < len(self.vms):
            waiters, self.vms[to_id].waiters = self.vms[to_id].waiters, []
            try:
                return super()._mailbox_send(vm, vcpu, x1, size, x3)
            finally:
                self.vms[to_id].waiters = waiters
        return super()._mailbox_send(vm, vcpu, x1, size, x3)


@mutant("no_waiter_mailbox_read", "SEND-10", "with no waiter, the message is marked read at once (it can never be received)")
class _NoWaiterRead(SeamCore):
    def leave_unread(self, to: Vm) -> None:
        to.mailbox = MailboxState.READ


@mutant("primary_send_returns_0", "SEND-11", "§12 b06d175e: the primary's send returns 0, not the vCPU index / 0xffff")
class _PrimarySendZero(SeamCore):
    def primary_send_result(self, woken_idx: int) -> int:
        return 0


@mutant("primary_send_no_waiter_error", "SEND-11", "the primary's send returns -1 (not 0xffff) when no vCPU waited")
class _PrimarySendNoWaiter(SeamCore):
    def primary_send_result(self, woken_idx: int) -> int:
        return ERR if woken_idx == abi.HF_INVALID_VCPU else woken_idx


@mutant("secondary_send_returns_index", "SEND-12", "a secondary's send returns the woken vCPU's index / 0xffff, not 0")
class _SecondarySendIndex(SeamCore):
    def sender_resume(self, woken_idx: int) -> int | None:
        return woken_idx


@mutant("secondary_sender_keeps_running", "SEND-12, RUN-8", "a secondary's send to a secondary returns 0 with no switch")
class _SecondaryNoSwitch(SeamCore):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Outcome:
        if response & 0xFF == abi.HF_VCPU_RUN_WAKE_UP:
            return Outcome(0)
        return super().switch_out_sender(vcpu, response, woken_idx)


# =============================================================================================
# §7 Receiving
# =============================================================================================


@mutant("primary_may_receive", "RECV-1", "the primary's receive follows the secondaries' rules (RECV-1 not checked)")
class _PrimaryReceives(SeamCore):
    def may_receive(self, vm: Vm) -> bool:
        return True


@mutant("receive_failure_u32", "RECV-1, RECV-3", "§12 6d2db331: a failed receive returns 0x00000000FFFFFFFF")
class _RecvFailU32(SeamCore):
    def receive_failed(self) -> int:
        return 0xFFFF_FFFF


@mutant("receive_sender_in_bits_31_16", "RECV-2, RECV-6", "a receive returns the sender in bits 31..16 instead of 15..0")
class _RecvSenderField(SeamCore):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return (sender & 0xFFFF) << 16 | (size & U32) << 32


@mutant("receive_without_size", "RECV-2", "a receive returns the sender only (size not reported)")
class _RecvNoSize(SeamCore):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return sender & 0xFFFF


@mutant("receive_read_message_again", "RECV-3, RECV-5", "a receive on a read mailbox returns the message again, blocking or not")
class _RecvAgain(SeamCore):
    def unread(self, vm: Vm) -> bool:
        return vm.mailbox is not MailboxState.EMPTY


@mutant("receive_always_blocks", "RECV-3", "block is ignored: every receive with nothing to receive blocks")
class _RecvAlwaysBlocks(SeamCore):
    def blocking(self, block: int) -> bool:
        return True


@mutant("receive_block_u32", "RECV-4", "block is tested on u32(x1): 0x100000000 does not block")
class _RecvBlockU32(SeamCore):
    def blocking(self, block: int) -> bool:
        return block & U32 != 0


@mutant("receive_block_only_1", "RECV-4", "only block == 1 blocks")
class _RecvBlockOne(SeamCore):
    def blocking(self, block: int) -> bool:
        return block == 1


@mutant("receive_cannot_block_while_read", "RECV-5", "a blocking receive on a read mailbox returns -1 instead of blocking")
class _RecvNoBlockRead(SeamCore):
    def may_block(self, vm: Vm) -> bool:
        return vm.mailbox is MailboxState.EMPTY


# =============================================================================================
# §8 Clearing
# =============================================================================================


@mutant("clear_empty_returns_0", "CLR-2", "§12 aa7db8ee: clearing an empty mailbox returns 0")
class _ClearEmpty(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.mailbox is MailboxState.EMPTY:
            return Outcome(0)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_unread_allowed", "CLR-3", "clearing an unread message succeeds and discards it")
class _ClearUnread(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.mailbox is MailboxState.RECEIVED:
            vm.mailbox = MailboxState.EMPTY
            return Outcome(0)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_unread_marks_read", "CLR-3", "clearing an unread message returns -1 but marks it read")
class _ClearUnreadRead(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.mailbox is MailboxState.RECEIVED:
            vm.mailbox = MailboxState.READ
            return ERR_OUTCOME
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_zeroes_recv_page", "CLR-4", "a clear zeroes the recv page", system=MemorySystem)
class _ClearZeroes(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        outcome = super()._mailbox_clear(vm, vcpu, x1, x2, x3)
        if outcome.ret == 0 and vm.recv is not None:
            _zero(self, vm.id, vm.recv, abi.PAGE_SIZE)
        return outcome


@mutant("clear_wakes_waiters", "CLR-4", "a clear wakes every vCPU blocked in a receive (with -1)")
class _ClearWakes(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        outcome = super()._mailbox_clear(vm, vcpu, x1, x2, x3)
        if outcome.ret == 0:
            for other in self.vms:
                for idx in other.waiters:
                    other.vcpus[idx].state = VcpuState.READY
                    other.vcpus[idx].resume_x0 = ERR
                other.waiters.clear()
        return outcome


@mutant("clear_only_by_primary", "CLR-4", "only the primary may clear: a secondary's clear returns -1")
class _ClearPrimaryOnly(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return ERR_OUTCOME
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_leaves_mailbox_read", "CLR-1", "a clear of a read mailbox returns 0 but leaves it read (the next send is refused)")
class _ClearNoEmpty(SeamCore):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Outcome:
        return Outcome(0) if vm.mailbox is MailboxState.READ else ERR_OUTCOME


@mutant("result_truncated_to_w0", "CALL-1", "a hypercall's result is returned as 32 bits (w0): -1 reads 0xffffffff")
class _ResultW0(SeamCore):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Outcome:
        outcome = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)
        if outcome.ret is None:
            return outcome
        return Outcome(outcome.ret & U32, outcome.run, outcome.to_primary, outcome.system_off)
