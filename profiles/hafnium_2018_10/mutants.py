"""Deliberately wrong hypervisors: the reference with exactly one deviation from the spec each.

The conformance suite's self-test (``python -m conformance.selftest``) runs the suite against every
build in :data:`CATALOGUE` (first the tests of its declared clauses, the whole suite if it survives
them) and expects each to FAIL; a mutant that passes shows a gap in the suite. Every mutant is a build usable on its own::

    hfconform --hv profiles.hafnium_2018_10.mutants:send_accepts_4097
    pytest --pyargs profiles.hafnium_2018_10.tests -p conformance.plugin \
        --hv profiles.hafnium_2018_10.mutants:clear_empty_returns_0

Each mutant is registered with ``@mutant(name, clauses, description)`` next to the clause it breaks:

* ABI-level mutants are small subclasses of the profile's one :class:`~profiles.hafnium_2018_10.core.Core`
  overriding one of its steps (``send_size_ok``, ``deliver``, ``pick_waiter``, ``receive_ok`` ...).
* machine-level mutants (registers, the ``hvc`` immediate, ``smc``, ``wfe``, guest memory) are
  functions that install interceptors on the booted system (:meth:`reference_hv.system.System.intercept`);
  :class:`MutantBuild` calls them at boot. ``System`` itself is never subclassed.
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
from collections.abc import Callable, Sequence

from conformance.protocol import SystemConfig
from guest_asm import layout
from profiles.hafnium_2018_10 import abi
from profiles.hafnium_2018_10.core import ERR, ERR_ANSWER, FUNCTION_MASK, U32, Core, MailboxState, Vcpu, VcpuState, Vm
from reference_hv.catalogue import Catalogue, MutantBuild, Transform
from reference_hv.core_api import Answer, CopyFn, VmLayout
from reference_hv.machine import X_REGS
from reference_hv.system import Return, System, Trap

WFI_RESPONSE = abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)
YIELD_RESPONSE = abi.run_response(abi.HF_VCPU_RUN_YIELD)

_CATALOGUE = Catalogue(Core)
#: Every mutant by name; also module attributes (``--hv profiles.hafnium_2018_10.mutants:NAME``).
CATALOGUE: dict[str, MutantBuild] = _CATALOGUE.mutants
mutant = _CATALOGUE.mutant


def _register_config(name: str, clauses: str, description: str, transform: Transform) -> None:
    _CATALOGUE.config(name, clauses, description, transform)


def __getattr__(name: str) -> MutantBuild:
    return _CATALOGUE.lookup(__name__, name)


# =============================================================================================
# Helpers
# =============================================================================================


class _PagesUnchecked(Core):
    """For mutants that let through a page or a size the reference refuses (CFG-3, SEND-1, SEND-4,
    SEND-5): the copy (SEND-7) goes between the pages' owners, at most a page, and an unconfigured or
    unmapped page copies nothing -- the reference's copy relies on those checks having held."""

    def owner(self, addr: int) -> int | None:
        """The VM whose memory holds the page at ``addr`` (the caller's own, in the reference)."""
        for vm in self.vms:
            if vm.owns_page(addr):
                return vm.id
        return None

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        if vm.send is None or to.recv is None:
            return
        src, dst = self.owner(vm.send), self.owner(to.recv)
        if src is None or dst is None:
            return
        self.copy(src, vm.send, dst, to.recv, min(size, abi.PAGE_SIZE))


def _core(system: System) -> Core:
    """The booted system's core: this profile's (interceptors read its state)."""
    core = system.core
    if not isinstance(core, Core):
        raise TypeError(f"a {abi.PROFILE} mutant needs the {abi.PROFILE} core, not {type(core).__name__}")
    return core


def _zero(system: System, vm: int, addr: int, size: int) -> None:
    if size > 0:
        system.write(vm, addr, bytes(size))


def _keep_registers(first: int, last: int, *, resumed_only: bool = False) -> Callable[[Return], None]:
    """A "return" interceptor: x<first>..x<last> keep the values they had before the return."""

    def after(ret: Return) -> None:
        if ret.resumed or not resumed_only:
            for n in range(first, last + 1):
                ret.machine.set_reg(X_REGS[n], ret.before[n])

    return after


# =============================================================================================
# §1 Calling convention
# =============================================================================================


@mutant("x8_x17_not_cleared", "CALL-5", "a hypercall return zeroes only x1..x7 (x8..x17 keep their values)")
def _x8_x17_kept(system: System) -> None:
    system.intercept("return", after=_keep_registers(8, 17))


@mutant("x18_clobbered", "CALL-5", "a hypercall return zeroes x1..x18: x18 is not preserved")
def _x18_clobbered(system: System) -> None:
    def after(ret: Return) -> None:
        ret.machine.set_reg(X_REGS[18], 0)

    system.intercept("return", after=after)


@mutant("resume_registers_not_cleared", "CALL-5, RECV-4", "a vCPU resumed after a switch gets x0 but x1..x17 as they were")
def _resume_keeps_registers(system: System) -> None:
    system.intercept("return", after=_keep_registers(1, 17, resumed_only=True))


@mutant("hvc_immediate_honoured", "CALL-2", "only `hvc #0` is a hypercall: any other immediate returns -1")
def _hvc_immediate(system: System) -> None:
    def before(trap: Trap) -> Answer | None:
        insn = trap.machine.word(trap.machine.pc - 4) or 0  # the hvc just taken: imm16 in bits 20..5
        return ERR_ANSWER if (insn >> 5) & 0xFFFF else None

    system.intercept("hvc", before=before)


@mutant("smc_zeroes_x1_x17", "CALL-7", "an smc returns like a hypercall: x1..x17 are zeroed")
def _smc_zeroes(system: System) -> None:
    def after(trap: Trap, answer: Answer) -> Answer:
        if answer.ret is not None:
            trap.machine.set_return(answer.ret)  # x0, and x1..x17 zeroed as for an hvc
        return answer

    system.intercept("smc", after=after)


@mutant("wfe_as_wfi", "RUN-5", "a secondary's wfe is trapped and treated as wfi (the vCPU blocks for good)")
def _wfe_as_wfi(system: System) -> None:
    """At boot, before any secondary runs: each wfe of a secondary's image becomes a wfi, which the
    machine layer traps as it traps any wfi."""
    wfe, wfi = layout.INSN_WFE.to_bytes(4, "little"), layout.INSN_WFI.to_bytes(4, "little")
    for vm in range(1, system.vm_count):
        image = system.images[vm]
        off = image.code.find(wfe)
        while off >= 0:
            if off % 4 == 0:
                system.write(vm, image.base + off, wfi)
            off = image.code.find(wfe, off + 1)


@mutant("bit30_not_ignored", "CALL-3", "function IDs are matched on u32(x0) without clearing bit 30")
class _Bit30(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        if x0 & abi.FUNCTION_ID_IGNORED_BIT:
            return ERR_ANSWER
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("upper32_not_ignored", "CALL-3", "function IDs are matched on all 64 bits of x0")
class _Upper32(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        if x0 >> 32:
            return ERR_ANSWER
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("unknown_id_returns_0", "CALL-4", "an unknown function ID returns 0 instead of -1")
class _UnknownZero(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        answer = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)
        func = x0 & FUNCTION_MASK
        known = func in self._calls or (vm_id == abi.HF_PRIMARY_VM_ID and self.psci(func) is not None)
        return answer if known else Answer(0)


@mutant("psci_for_secondaries", "CALL-6", "PSCI calls are answered for secondaries too (PSCI_VERSION -> 2)")
class _PsciSecondaries(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        psci = self.psci(x0 & FUNCTION_MASK)
        if psci is not None and vm_id != abi.HF_PRIMARY_VM_ID:
            return psci if psci.ret is not None else ERR_ANSWER
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("psci_version_1_0", "CALL-6", "PSCI_VERSION returns 0x10000 (PSCI 1.0) instead of 2")
class _PsciVersion(Core):
    @staticmethod
    def psci(func: int) -> Answer | None:
        if func == abi.PSCI_VERSION:
            return Answer(0x10000)
        return Core.psci(func)


@mutant("psci_system_off_ignored", "CALL-6", "PSCI_SYSTEM_OFF returns 0 and the run goes on")
class _SystemOffIgnored(Core):
    @staticmethod
    def psci(func: int) -> Answer | None:
        if func == abi.PSCI_SYSTEM_OFF:
            return Answer(0)
        return Core.psci(func)


@mutant("smc_psci_not_handled", "CALL-6, CALL-7", "an smc from the primary is never PSCI: it always returns -1")
class _SmcNoPsci(Core):
    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return ERR_ANSWER


@mutant("smc_psci_for_secondaries", "CALL-7", "an smc from a secondary is handled as PSCI")
class _SmcSecondaryPsci(Core):
    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return super().smc(abi.HF_PRIMARY_VM_ID, 0, x0)


@mutant("smc_returns_0", "CALL-7", "an smc that is not PSCI returns 0 instead of -1 (an smc HF_VCPU_RUN looks like YIELD)")
class _SmcReturns0(Core):
    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        answer = super().smc(vm_id, vcpu_idx, x0)
        return Answer(0) if answer.ret == ERR else answer


# =============================================================================================
# §2 Hypercall numbers
# =============================================================================================


@mutant(
    "renumbered_55c4d8b8",
    "ID-1, ID-2, ID-3, ID-4, ID-5, ID-6, ID-7",
    "§12 2018-12-19 numbering: VM_GET_ID 0xff00 ... VCPU_RUN 0xff03, VM_CONFIGURE 0xff05 ... MAILBOX_CLEAR 0xff08",
)
class _Renumbered(Core):
    def __init__(self, vms: Sequence[VmLayout], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls = {
            0xFF00: lambda vm, vcpu, x1, x2, x3: Answer(vm.id),  # HF_VM_GET_ID
            0xFF01: self._vm_get_count,
            0xFF02: self._vcpu_get_count,
            0xFF03: self._vcpu_run,
            0xFF04: self._vcpu_yield,
            0xFF05: self._vm_configure,
            0xFF06: self._mailbox_send,
            0xFF07: self._mailbox_receive,
            0xFF08: self._mailbox_clear,
        }

    def _vcpu_yield(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(0)
        return self.switch_to_primary(vcpu, VcpuState.READY, 0, YIELD_RESPONSE)


@mutant("receive_clear_swapped", "ID-6, ID-7", "HF_MAILBOX_RECEIVE is 0xff06 and HF_MAILBOX_CLEAR 0xff05")
class _RecvClearSwapped(Core):
    def __init__(self, vms: Sequence[VmLayout], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls[abi.HF_MAILBOX_RECEIVE], self._calls[abi.HF_MAILBOX_CLEAR] = self._mailbox_clear, self._mailbox_receive


@mutant("get_counts_swapped", "ID-2, ID-3", "HF_VM_GET_COUNT is 0xff02 and HF_VCPU_GET_COUNT 0xff01")
class _CountsSwapped(Core):
    def __init__(self, vms: Sequence[VmLayout], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self._calls[abi.HF_VM_GET_COUNT], self._calls[abi.HF_VCPU_GET_COUNT] = self._vcpu_get_count, self._vm_get_count


# =============================================================================================
# §3 VMs, vCPUs and memory
# =============================================================================================


@mutant("vm_count_excludes_primary", "VM-2", "HF_VM_GET_COUNT returns N (secondaries only), as call.h's comment says")
class _VmCountN(Core):
    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(len(self.vms) - 1)


@mutant("vm_count_primary_only", "VM-2", "HF_VM_GET_COUNT from a secondary returns -1")
class _VmCountPrimaryOnly(Core):
    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(len(self.vms)) if vm.id == abi.HF_PRIMARY_VM_ID else ERR_ANSWER


@mutant("vcpu_count_for_secondaries", "VM-3", "HF_VCPU_GET_COUNT answers secondaries too")
class _VcpuCountAnyone(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target = x1 & U32
        return ERR_ANSWER if target >= len(self.vms) else Answer(len(self.vms[target].vcpus))


@mutant("vcpu_count_absent_vm_0", "VM-3", "HF_VCPU_GET_COUNT of an absent VM returns 0 instead of -1")
class _VcpuCountAbsentZero(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 >= len(self.vms):
            return Answer(0)
        return super()._vcpu_get_count(vm, vcpu, x1, x2, x3)


@mutant("vcpu_count_vm_id_64_bit", "VM-3", "HF_VCPU_GET_COUNT uses all 64 bits of the VM ID")
class _VcpuCount64(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if x1 >> 32:
            return ERR_ANSWER
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
class _SecondaryRunErr(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return ERR_ANSWER
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("secondary_may_run", "RUN-1", "a secondary's HF_VCPU_RUN of another VM's ready vCPU is obeyed")
class _SecondaryRuns(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return super()._vcpu_run(vm, vcpu, x1, x2, x3)
        target_id, idx = x1 & U32, x2 & U32
        if target_id == vm.id or not 0 < target_id < len(self.vms) or idx >= len(self.vms[target_id].vcpus):
            return Answer(WFI_RESPONSE)
        target = self.vms[target_id].vcpus[idx]
        if target.state is not VcpuState.READY:
            return Answer(WFI_RESPONSE)
        # The caller is switched out (as after a send), the target runs in its place.
        vcpu.state = VcpuState.READY
        self.resume_with(vcpu, 0)
        target.state = VcpuState.RUNNING
        return Answer(None, target)


@mutant("run_primary_yields", "RUN-2", "HF_VCPU_RUN of the primary (vm_id 0) returns YIELD 0x0 instead of 0x1")
class _RunPrimaryYield(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 == abi.HF_PRIMARY_VM_ID:
            return Answer(abi.run_response(abi.HF_VCPU_RUN_YIELD))
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vcpu_index_modulo", "RUN-2", "an absent vCPU index wraps modulo the VM's vCPU count")
class _RunModulo(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id = x1 & U32
        if 0 < target_id < len(self.vms):
            x2 = (x2 & U32) % len(self.vms[target_id].vcpus)
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vm_id_u16", "RUN-2, RUN-3", "HF_VCPU_RUN takes the VM ID modulo 0x10000 (u16 instead of u32)")
class _RunU16(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return super()._vcpu_run(vm, vcpu, x1 & 0xFFFF, x2, x3)


@mutant("run_blocked_vcpu_allowed", "RUN-2, RUN-5", "HF_VCPU_RUN runs a blocked vCPU (wfi or receive) again")
class _RunBlocked(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id, idx = x1 & U32, x2 & U32
        if vm.id == abi.HF_PRIMARY_VM_ID and 0 < target_id < len(self.vms) and idx < len(self.vms[target_id].vcpus):
            target = self.vms[target_id].vcpus[idx]
            if target.state in (VcpuState.BLOCKED_WFI, VcpuState.BLOCKED_MAILBOX):
                target.state = VcpuState.READY
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("preemption_as_wfi", "RUN-4", "a preempted vCPU is reported as WAIT_FOR_INTERRUPT 0x1 (it stays ready)")
class _PreemptWfi(Core):
    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VcpuState.READY, None, WFI_RESPONSE)


@mutant("preemption_blocks", "RUN-4", "a preempted vCPU reports YIELD but is never runnable again")
class _PreemptBlocks(Core):
    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        answer = super().preempted(vm_id, vcpu_idx)
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.BLOCKED_WFI
        return answer


@mutant("wfi_as_yield", "RUN-5", "wfi is reported as YIELD 0x0 and the vCPU stays ready")
class _WfiYield(Core):
    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VcpuState.READY, None, YIELD_RESPONSE)


@mutant("wfi_woken_by_send", "RUN-5", "a send to a VM makes its wfi-blocked vCPUs ready again")
class _WfiWoken(Core):
    def leave_unread(self, to: Vm) -> None:
        super().leave_unread(to)
        for v in to.vcpus:
            if v.state is VcpuState.BLOCKED_WFI:
                v.state = VcpuState.READY


@mutant("blocking_receive_yields", "RUN-6", "a blocking receive with nothing to receive returns YIELD 0x0 to the primary")
class _BlockYield(Core):
    def block_response(self) -> int:
        return abi.run_response(abi.HF_VCPU_RUN_YIELD)


@mutant("message_names_sender", "RUN-7", "§12 b06d175e-like: MESSAGE carries the sending VM's ID in bits 31..16")
class _MessageNamesSender(Core):
    def message_response(self, vm: Vm, size: int) -> int:
        return abi.run_response(abi.HF_VCPU_RUN_MESSAGE, vm.id, size)


@mutant("message_size_in_bits_31_16", "RUN-7", "MESSAGE carries the size in bits 31..16 instead of 63..32")
class _MessageSizeField(Core):
    def message_response(self, vm: Vm, size: int) -> int:
        return abi.HF_VCPU_RUN_MESSAGE | (size & 0xFFFF) << 16


@mutant("wake_up_layout_6d2db331", "RUN-8", "§12 6d2db331: WAKE_UP packs vm_id in bits 63..32 and the vCPU in 31..16")
class _WakeUpLayout(Core):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return abi.HF_VCPU_RUN_WAKE_UP | (woken_idx & 0xFFFF) << 16 | to.id << 32


@mutant("wake_up_names_sender", "RUN-8", "WAKE_UP names the sending VM instead of the recipient")
class _WakeUpSender(Core):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return super().wake_up_response(vm, vm, woken_idx)


@mutant("wake_up_vcpu_0_when_none", "RUN-8, SEND-11", "WAKE_UP names vCPU 0 when no vCPU was waiting (not 0xffff)")
class _WakeUpZero(Core):
    def wake_up_response(self, vm: Vm, to: Vm, woken_idx: int) -> int:
        return super().wake_up_response(vm, to, 0 if woken_idx == abi.HF_INVALID_VCPU else woken_idx)


@mutant("sender_not_resumable", "RUN-9", "a secondary that sent is left blocked: it never runs again")
class _SenderBlocked(Core):
    def sender_state(self) -> VcpuState:
        return VcpuState.BLOCKED_WFI


@mutant("send_resumes_without_result", "RUN-9, CALL-5", "a switched-out sender resumes with its registers as they were")
class _SenderNoResult(Core):
    def sender_resume(self, woken_idx: int) -> int | None:
        return None


@mutant(
    "send_returns_size_on_resume",
    "RUN-9, SEND-12",
    "a switched-out sender's send returns bits 63..32 of the run response (a message's size), not 0",
)
class _SenderSize(Core):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Answer:
        return self.switch_to_primary(vcpu, self.sender_state(), response >> 32, response)


# =============================================================================================
# §5 Configuring the mailbox pages
# =============================================================================================


@mutant("configure_unaligned_accepted", "CFG-1", "configure does not check alignment")
class _CfgUnaligned(Core):
    def aligned(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_recv_alignment_unchecked", "CFG-1", "configure checks only the send page's alignment")
class _CfgRecvUnaligned(Core):
    def aligned(self, send: int, recv: int) -> bool:
        return send % abi.PAGE_SIZE == 0


@mutant("configure_twice_accepted", "CFG-2", "a second configure succeeds and replaces the pages")
class _CfgTwice(Core):
    def may_configure(self, vm: Vm) -> bool:
        return True


@mutant("configure_any_page", "CFG-3", "configure does not check that the pages are mapped in the caller's memory")
class _CfgAnyPage(_PagesUnchecked):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return True


@mutant("configure_foreign_page", "CFG-3, VM-5", "configure accepts a page of another VM's memory")
class _CfgForeign(_PagesUnchecked):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return self.owner(addr) is not None


@mutant("configure_last_page_refused", "CFG-3", "off by one: the last page of the VM's memory is refused")
class _CfgLastPage(Core):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return vm.base <= addr and addr + abi.PAGE_SIZE < vm.base + vm.size


@mutant("configure_address_48_bit", "CFG-3", "configure ignores address bits 63..48")
class _Cfg48(_PagesUnchecked):
    def page_ok(self, vm: Vm, addr: int) -> bool:
        return vm.owns_page(addr & 0xFFFF_FFFF_FFFF)


@mutant("configure_same_page_accepted", "CFG-4", "configure accepts the same page as send and recv page")
class _CfgSame(Core):
    def pages_distinct(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_returns_1", "CFG-5", "§12 2019-01: a successful configure returns 1 (notify waiters)")
class _CfgOne(Core):
    def configured(self) -> int:
        return 1


# =============================================================================================
# §6 Sending
# =============================================================================================


@mutant("send_accepts_4097", "SEND-1", "off by one: a 4097-byte message is accepted")
class _Send4097(_PagesUnchecked):
    def send_size_ok(self, size: int) -> bool:
        return size <= abi.HF_MAILBOX_SIZE + 1


@mutant("send_refuses_4096", "SEND-1", "off by one: a 4096-byte message is refused")
class _Send4096(Core):
    def send_size_ok(self, size: int) -> bool:
        return size < abi.HF_MAILBOX_SIZE


@mutant("send_size_u32", "SEND-1", "the size limit is checked on u32(size)")
class _SendSizeU32(_PagesUnchecked):
    def send_size_ok(self, size: int) -> bool:
        return size & U32 <= abi.HF_MAILBOX_SIZE


@mutant("send_to_self_allowed", "SEND-2", "a VM may send to itself")
class _SendSelf(Core):
    def send_to_self_refused(self, vm: Vm, to_id: int) -> bool:
        return False


@mutant("send_vm_id_64_bit", "SEND-3", "the destination VM ID uses all 64 bits of x1")
class _SendTo64(Core):
    def send_target(self, x1: int) -> int:
        return x1


@mutant("send_unconfigured_sender", "SEND-4", "an unconfigured VM may send (an empty page's worth of nothing is copied)")
class _SendUnconfiguredSender(_PagesUnchecked):
    def sender_ready(self, vm: Vm) -> bool:
        return True


@mutant("send_unconfigured_receiver", "SEND-5", "a send to an unconfigured VM succeeds (nothing is copied)")
class _SendUnconfiguredReceiver(_PagesUnchecked):
    def receiver_ready(self, to: Vm) -> bool:
        return True


@mutant("send_overwrites_unread", "SEND-6", "a send to a mailbox holding a message overwrites it")
class _SendOverwrite(Core):
    def mailbox_free(self, to: Vm) -> bool:
        return True


@mutant("send_to_read_mailbox", "SEND-6", "a mailbox whose message was read counts as free (no clear needed)")
class _SendRead(Core):
    def mailbox_free(self, to: Vm) -> bool:
        return to.mailbox is not MailboxState.RECEIVED


@mutant("send_copies_whole_page", "SEND-7", "every send copies 4096 bytes, whatever its size")
class _SendWholePage(Core):
    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, abi.PAGE_SIZE)


@mutant("send_zeroes_rest_of_page", "SEND-7", "a send zeroes the recv page beyond `size`")
def _send_zeroes_rest(system: System) -> None:
    core = _core(system)

    def after(trap: Trap, answer: Answer) -> Answer:
        x0, x1, size = trap.args[0], trap.args[1], trap.args[2]
        if x0 & FUNCTION_MASK == abi.HF_MAILBOX_SEND and answer.ret != ERR:  # a send the core accepted
            to = core.vms[core.send_target(x1)]
            if to.recv is not None and size < abi.PAGE_SIZE:
                _zero(system, to.id, to.recv + size, abi.PAGE_SIZE - size)
        return answer

    system.intercept("hvc", after=after)


@mutant("send_copies_one_byte_short", "SEND-7", "off by one: size - 1 bytes are copied")
class _SendShort(Core):
    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, max(size - 1, 0))


@mutant("send_copies_late", "SEND-7", "a message to a secondary is copied when the receiver next runs, not at the send")
class _SendLate(Core):
    def __init__(self, vms: Sequence[VmLayout], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self.pending: dict[int, tuple[Vm, int]] = {}

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        if to.id == abi.HF_PRIMARY_VM_ID:
            super().deliver(vm, to, size)
        else:
            self.pending[to.id] = (vm, size)

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        answer = super()._vcpu_run(vm, vcpu, x1, x2, x3)
        if answer.next is not None and answer.next.vm_id in self.pending:
            sender, size = self.pending.pop(answer.next.vm_id)
            super().deliver(sender, self.vms[answer.next.vm_id], size)
        return answer


@mutant("sender_is_receiver", "SEND-7, RECV-6", "the mailbox records the receiver's own ID as the sender")
class _SenderIsReceiver(Core):
    def record(self, vm: Vm, to: Vm, size: int) -> None:
        to.sender, to.msg_size = to.id, size

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return super().receive_ok(vm, vm.id, size)


@mutant("sender_is_zero", "SEND-7, RECV-6", "the receiver always learns sender 0")
class _SenderZero(Core):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return super().receive_ok(vm, 0, size)


@mutant("sender_is_previous", "SEND-7, RECV-6", "the receiver learns the previous message's sender (0 for the first)")
class _SenderPrevious(Core):
    def __init__(self, vms: Sequence[VmLayout], copy: CopyFn) -> None:
        super().__init__(vms, copy)
        self.previous: dict[int, int] = {}

    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        shown = self.previous.get(vm.id, 0)
        self.previous[vm.id] = sender
        return super().receive_ok(vm, shown, size)


@mutant("primary_mailbox_received", "SEND-8", "a message to the primary leaves its mailbox received (unread), not read")
class _PrimaryReceived(Core):
    def primary_mailbox_after_message(self) -> MailboxState:
        return MailboxState.RECEIVED


@mutant("to_primary_no_switch", "SEND-8, RUN-7", "a secondary's send to the primary returns 0 without switching")
class _ToPrimaryNoSwitch(Core):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Answer:
        if response & 0xFF == abi.HF_VCPU_RUN_MESSAGE:
            return Answer(0)
        return super().switch_out_sender(vcpu, response, woken_idx)


@mutant("waiters_fifo", "SEND-9", "the vCPU woken is the one that blocked first (FIFO), not most recently")
class _Fifo(Core):
    def pick_waiter(self, to: Vm) -> int:
        return to.waiters.pop(0)


@mutant("woken_vcpu_left_blocked", "SEND-9", "the woken vCPU gets its result but stays blocked")
class _WokenBlocked(Core):
    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:
        super().wake(to, woken, vm, size)
        woken.state = VcpuState.BLOCKED_MAILBOX


@mutant("woken_mailbox_unread", "SEND-9", "waking a waiter leaves the mailbox received (unread) instead of read")
class _WokenUnread(Core):
    def wake(self, to: Vm, woken: Vcpu, vm: Vm, size: int) -> None:
        super().wake(to, woken, vm, size)
        to.mailbox = MailboxState.RECEIVED


@mutant("waiter_not_woken", "SEND-9, SEND-10", "a send never wakes a blocked receiver: the message is left unread")
class _NoWake(Core):
    def _mailbox_send(self, vm: Vm, vcpu: Vcpu, x1: int, size: int, x3: int) -> Answer:
        to_id = x1 & U32
        if to_id < len(self.vms):
            waiters, self.vms[to_id].waiters = self.vms[to_id].waiters, []
            try:
                return super()._mailbox_send(vm, vcpu, x1, size, x3)
            finally:
                self.vms[to_id].waiters = waiters
        return super()._mailbox_send(vm, vcpu, x1, size, x3)


@mutant("no_waiter_mailbox_read", "SEND-10", "with no waiter, the message is marked read at once (it can never be received)")
class _NoWaiterRead(Core):
    def leave_unread(self, to: Vm) -> None:
        to.mailbox = MailboxState.READ


@mutant("primary_send_returns_0", "SEND-11", "§12 b06d175e: the primary's send returns 0, not the vCPU index / 0xffff")
class _PrimarySendZero(Core):
    def primary_send_result(self, woken_idx: int) -> int:
        return 0


@mutant("primary_send_no_waiter_error", "SEND-11", "the primary's send returns -1 (not 0xffff) when no vCPU waited")
class _PrimarySendNoWaiter(Core):
    def primary_send_result(self, woken_idx: int) -> int:
        return ERR if woken_idx == abi.HF_INVALID_VCPU else woken_idx


@mutant("secondary_send_returns_index", "SEND-12", "a secondary's send returns the woken vCPU's index / 0xffff, not 0")
class _SecondarySendIndex(Core):
    def sender_resume(self, woken_idx: int) -> int | None:
        return woken_idx


@mutant("secondary_sender_keeps_running", "SEND-12, RUN-8", "a secondary's send to a secondary returns 0 with no switch")
class _SecondaryNoSwitch(Core):
    def switch_out_sender(self, vcpu: Vcpu, response: int, woken_idx: int) -> Answer:
        if response & 0xFF == abi.HF_VCPU_RUN_WAKE_UP:
            return Answer(0)
        return super().switch_out_sender(vcpu, response, woken_idx)


# =============================================================================================
# §7 Receiving
# =============================================================================================


@mutant("primary_may_receive", "RECV-1", "the primary's receive follows the secondaries' rules (RECV-1 not checked)")
class _PrimaryReceives(Core):
    def may_receive(self, vm: Vm) -> bool:
        return True


@mutant("receive_failure_u32", "RECV-1, RECV-3", "§12 6d2db331: a failed receive returns 0x00000000FFFFFFFF")
class _RecvFailU32(Core):
    def receive_failed(self) -> int:
        return 0xFFFF_FFFF


@mutant("receive_sender_in_bits_31_16", "RECV-2, RECV-6", "a receive returns the sender in bits 31..16 instead of 15..0")
class _RecvSenderField(Core):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return (sender & 0xFFFF) << 16 | (size & U32) << 32


@mutant("receive_without_size", "RECV-2", "a receive returns the sender only (size not reported)")
class _RecvNoSize(Core):
    def receive_ok(self, vm: Vm, sender: int, size: int) -> int:
        return sender & 0xFFFF


@mutant("receive_read_message_again", "RECV-3, RECV-5", "a receive on a read mailbox returns the message again, blocking or not")
class _RecvAgain(Core):
    def unread(self, vm: Vm) -> bool:
        return vm.mailbox is not MailboxState.EMPTY


@mutant("receive_always_blocks", "RECV-3", "block is ignored: every receive with nothing to receive blocks")
class _RecvAlwaysBlocks(Core):
    def blocking(self, block: int) -> bool:
        return True


@mutant("receive_block_u32", "RECV-4", "block is tested on u32(x1): 0x100000000 does not block")
class _RecvBlockU32(Core):
    def blocking(self, block: int) -> bool:
        return block & U32 != 0


@mutant("receive_block_only_1", "RECV-4", "only block == 1 blocks")
class _RecvBlockOne(Core):
    def blocking(self, block: int) -> bool:
        return block == 1


@mutant("receive_cannot_block_while_read", "RECV-5", "a blocking receive on a read mailbox returns -1 instead of blocking")
class _RecvNoBlockRead(Core):
    def may_block(self, vm: Vm) -> bool:
        return vm.mailbox is MailboxState.EMPTY


# =============================================================================================
# §8 Clearing
# =============================================================================================


@mutant("clear_empty_returns_0", "CLR-2", "§12 aa7db8ee: clearing an empty mailbox returns 0")
class _ClearEmpty(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.EMPTY:
            return Answer(0)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_unread_allowed", "CLR-3", "clearing an unread message succeeds and discards it")
class _ClearUnread(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.RECEIVED:
            vm.mailbox = MailboxState.EMPTY
            return Answer(0)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_unread_marks_read", "CLR-3", "clearing an unread message returns -1 but marks it read")
class _ClearUnreadRead(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.RECEIVED:
            vm.mailbox = MailboxState.READ
            return ERR_ANSWER
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_zeroes_recv_page", "CLR-4", "a clear zeroes the recv page")
def _clear_zeroes(system: System) -> None:
    core = _core(system)

    def after(trap: Trap, answer: Answer) -> Answer:
        if trap.args[0] & FUNCTION_MASK == abi.HF_MAILBOX_CLEAR and answer.ret == 0:  # a clear the core accepted
            recv = core.vms[trap.vm].recv
            if recv is not None:
                _zero(system, trap.vm, recv, abi.PAGE_SIZE)
        return answer

    system.intercept("hvc", after=after)


@mutant("clear_wakes_waiters", "CLR-4", "a clear wakes every vCPU blocked in a receive (with -1)")
class _ClearWakes(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        answer = super()._mailbox_clear(vm, vcpu, x1, x2, x3)
        if answer.ret == 0:
            for other in self.vms:
                for idx in other.waiters:
                    other.vcpus[idx].state = VcpuState.READY
                    self.resume_with(other.vcpus[idx], ERR)
                other.waiters.clear()
        return answer


@mutant("clear_only_by_primary", "CLR-4", "only the primary may clear: a secondary's clear returns -1")
class _ClearPrimaryOnly(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return ERR_ANSWER
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_leaves_mailbox_read", "CLR-1", "a clear of a read mailbox returns 0 but leaves it read (the next send is refused)")
class _ClearNoEmpty(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(0) if vm.mailbox is MailboxState.READ else ERR_ANSWER


@mutant("result_truncated_to_w0", "CALL-1", "a hypercall's result is returned as 32 bits (w0): -1 reads 0xffffffff")
class _ResultW0(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        answer = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)
        if answer.ret is None:
            return answer
        return answer._replace(ret=answer.ret & U32)
