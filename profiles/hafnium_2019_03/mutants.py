"""Deliberately wrong hypervisors for ``hafnium-2019-03``: the reference with one deviation each.

The suite's self-test (``python -m conformance.selftest --profile hafnium-2019-03``) runs the suite
against every build in :data:`CATALOGUE` (first the tests of its declared clauses, the whole suite
if it survives them) and expects each to FAIL; a survivor shows a gap in the suite. Every mutant is
a build usable on its own::

    hfconform --profile hafnium-2019-03 --hv profiles.hafnium_2019_03.mutants:send_accepts_4097

Each mutant is registered with ``@mutant(name, clauses, description)`` under the section of the
clause it breaks:

* ABI-level mutants are small subclasses of the profile's :class:`~profiles.hafnium_2019_03.core.Core`
  overriding one of its named steps (``send_size_ok``, ``mailbox_busy``, ``deliver_on_run`` ...).
* machine-level mutants (registers, the ``hvc`` immediate, ``smc``, ``wfe``) install interceptors on
  the booted system (:meth:`reference_hv.system.System.intercept`); ``System`` is never subclassed.
* boot-level mutants (which vCPUs start, the order of VM IDs) change the configuration booted.

Besides one or more mutants per observable clause, the catalogue holds the neighbouring revisions'
behaviours as wrong builds of this profile: the first profile's (``hafnium-2018-10``: its
numbering, run codes and packing, a clear of an empty mailbox returning -1, a send returning the
woken vCPU's index or 0xffff, a failed receive returning -1, PSCI_VERSION 2; and the whole 2018
core behind this profile's interface, ``core_2018_10``) and the early-2019 state of spec §10
(aa7db8ee: the hypervisor waking a receive-blocked vCPU on send, codes WAKE_UP 3 / MESSAGE 4 /
SLEEP 5, a blocking receive reporting WAIT_FOR_INTERRUPT, no RECV-3 pending-interrupt rule, ``wfe``
not yielding).

Deviations left out because no test through the build protocol can observe them:

* *CFG-1 checked after CFG-2* (the order of the checks): both return -1 and change nothing.
* *PSCI IDs beyond MEM_PROTECT_CHECK_RANGE treated as PSCI* (CALL-6): the reference answers the
  PSCI IDs other than PSCI_VERSION and SYSTEM_OFF with -1, as it answers an unknown hypercall ID.
* *the secondary's WAKE_UP switch of RUN-10 skipped*: observable only with a second running vCPU
  of a secondary (``ready_vcpus``); kept (``inject_never_wakes``) since the reference declares it.
* *HF_SHARE_MEMORY* (0xff0e): outside this profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from conformance.protocol import SystemConfig
from profiles.hafnium_2019_03 import abi
from profiles.hafnium_2019_03.core import (
    ERR,
    ERR_ANSWER,
    NOTHING,
    REFUSED,
    U32,
    Core,
    MailboxState,
    Vcpu,
    VcpuState,
    Vm,
)
from reference_hv.catalogue import Catalogue, MutantBuild, Transform
from reference_hv.core_api import Answer, Platform, VmLayout
from reference_hv.machine import X_REGS
from reference_hv.system import Return, System, Trap

YIELD_1 = abi.run_response(abi.HF_VCPU_RUN_YIELD)

_CATALOGUE = Catalogue(Core)
#: Every mutant by name; also module attributes (``--hv profiles.hafnium_2019_03.mutants:NAME``).
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
    SEND-5): the copy (SEND-6) goes between the pages' owners, at most a page, and an unconfigured
    or unowned page copies nothing -- the reference's copy relies on those checks having held."""

    def owner(self, addr: int) -> int | None:
        """The VM whose memory holds the page at ``addr``."""
        for vm in self.vms:
            if vm.owns_page(addr):
                return vm.id
        return None

    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        to.sender, to.msg_size = vm.id, size
        if vm.send is None or to.recv is None:
            return
        src, dst = self.owner(vm.send), self.owner(to.recv)
        if src is None or dst is None:
            return
        self.copy(src, vm.send, dst, to.recv, min(size, abi.PAGE_SIZE))

    def protect_recv(self, vm: Vm, recv: int) -> None:
        if self.owner(recv) == vm.id:
            super().protect_recv(vm, recv)


def _core(system: System) -> Core:
    """The booted system's core: this profile's (interceptors read its state)."""
    core = system.core
    if not isinstance(core, Core):
        raise TypeError(f"a {abi.PROFILE} mutant needs the {abi.PROFILE} core, not {type(core).__name__}")
    return core


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


@mutant("result_truncated_to_w0", "CALL-1", "a hypercall's result is returned as 32 bits (w0): -1 reads 0xffffffff")
class _ResultW0(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        answer = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)
        if answer.ret is None:
            return answer
        return answer._replace(ret=answer.ret & U32)


@mutant("hvc_immediate_honoured", "CALL-2", "only `hvc #0` is a hypercall: any other immediate returns -1")
def _hvc_immediate(system: System) -> None:
    def before(trap: Trap) -> Answer | None:
        insn = trap.machine.word(trap.machine.pc - 4) or 0  # the hvc just taken: imm16 in bits 20..5
        return ERR_ANSWER if (insn >> 5) & 0xFFFF else None

    system.intercept("hvc", before=before)


@mutant("bit30_not_ignored", "CALL-3", "function IDs are matched on u32(x0) without clearing bit 30")
class _Bit30(Core):
    def function_id(self, x0: int) -> int:
        return x0 & U32


@mutant("upper32_not_ignored", "CALL-3", "function IDs are matched on all 64 bits of x0 (bit 30 cleared)")
class _Upper32(Core):
    def function_id(self, x0: int) -> int:
        return x0 & ~abi.FUNCTION_ID_IGNORED_BIT


@mutant("unknown_id_returns_0", "CALL-4", "an unknown function ID returns 0 instead of -1")
class _UnknownZero(Core):
    def unknown_call(self) -> Answer:
        return Answer(0)


@mutant("x8_x17_not_cleared", "CALL-5", "a hypercall return zeroes only x1..x7 (x8..x17 keep their values)")
def _x8_x17_kept(system: System) -> None:
    system.intercept("return", after=_keep_registers(8, 17))


@mutant("x18_clobbered", "CALL-5", "a hypercall return zeroes x1..x18: x18 is not preserved")
def _x18_clobbered(system: System) -> None:
    def after(ret: Return) -> None:
        ret.machine.set_reg(X_REGS[18], 0)

    system.intercept("return", after=after)


@mutant("resume_registers_not_cleared", "CALL-5", "a vCPU resumed after a switch gets x0 but x1..x17 as they were")
def _resume_keeps_registers(system: System) -> None:
    system.intercept("return", after=_keep_registers(1, 17, resumed_only=True))


@mutant("psci_for_secondaries", "CALL-6", "PSCI IDs are answered for secondaries too (PSCI_VERSION -> 0x10001)")
class _PsciSecondaries(Core):
    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        func = self.function_id(x0)
        if vm_id != abi.HF_PRIMARY_VM_ID and func == abi.PSCI_VERSION:
            return self.psci(func)
        return super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)


@mutant("psci_version_0_2", "CALL-6", "hafnium-2018-10: PSCI_VERSION returns 2 (PSCI 0.2) instead of 0x10001")
class _PsciVersion02(Core):
    def psci(self, func: int) -> Answer:
        if func == abi.PSCI_VERSION:
            return Answer(2)
        return super().psci(func)


@mutant("psci_system_off_ignored", "CALL-6", "PSCI_SYSTEM_OFF returns 0 and the run goes on")
class _SystemOffIgnored(Core):
    def psci(self, func: int) -> Answer:
        if func == abi.PSCI_SYSTEM_OFF:
            return Answer(0)
        return super().psci(func)


@mutant(
    "psci_ids_not_first", "CALL-6, CALL-3", "hypercall IDs are matched before PSCI: PSCI_VERSION with bit 30 set is unknown (-1)"
)
class _PsciBit30(Core):
    def is_psci(self, func: int) -> bool:
        return super().is_psci(func) and not func & abi.FUNCTION_ID_IGNORED_BIT

    def function_id(self, x0: int) -> int:
        func = super().function_id(x0)
        return x0 & U32 if super().is_psci(func) else func


@mutant("smc_psci_not_handled", "CALL-6, CALL-7", "an smc from the primary is never PSCI: it always returns -1")
class _SmcNoPsci(Core):
    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return self.smc_unknown()


@mutant("smc_zeroes_x1_x17", "CALL-7", "an smc returns like a hypercall: x1..x17 are zeroed")
def _smc_zeroes(system: System) -> None:
    def after(trap: Trap, answer: Answer) -> Answer:
        if answer.ret is not None:
            trap.machine.set_return(answer.ret)  # x0, and x1..x17 zeroed as for an hvc
        return answer

    system.intercept("smc", after=after)


@mutant("smc_returns_0", "CALL-7", "an smc that is not PSCI returns 0 instead of -1")
class _SmcReturns0(Core):
    def smc_unknown(self) -> Answer:
        return Answer(0)


@mutant("smc_psci_for_secondaries", "CALL-7", "an smc from a secondary is handled as PSCI (PSCI_VERSION -> 0x10001)")
class _SmcSecondaryPsci(Core):
    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return super().smc(abi.HF_PRIMARY_VM_ID, 0, x0)


# =============================================================================================
# §2 Function IDs: each call moved away from its number, the 2018 numbering, swaps
# =============================================================================================

_NAMES = {number: name for name, number in abi.HYPERCALLS.items()}


def _moved(number: int) -> type[Core]:
    class _Moved(Core):
        def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
            super().__init__(vms, platform)
            self._calls[number + 0x20] = self._calls.pop(number)

    _Moved.__name__ = _Moved.__qualname__ = f"_Moved{number:x}"
    return _Moved


for _n, _number in enumerate(sorted(_NAMES), start=1):
    mutant(
        f"id_{_NAMES[_number].lower()}_moved",
        f"ID-{_n}",
        f"{_NAMES[_number]} is {_number + 0x20:#x}, not {_number:#x} ({_number:#x} is unknown: -1)",
    )(_moved(_number))


@mutant(
    "numbering_2018_10",
    ", ".join(f"ID-{n}" for n in range(1, 15)),
    "hafnium-2018-10's numbering: 0xff00 RUN, 0xff01 VM_GET_COUNT, 0xff02 VCPU_GET_COUNT, 0xff03 CONFIGURE, "
    "0xff04 SEND, 0xff05 RECEIVE, 0xff06 CLEAR; no other call",
)
class _Numbering2018(Core):
    def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
        super().__init__(vms, platform)
        self._calls = {
            0xFF00: self._vcpu_run,
            0xFF01: self._vm_get_count,
            0xFF02: self._vcpu_get_count,
            0xFF03: self._vm_configure,
            0xFF04: self._mailbox_send,
            0xFF05: self._mailbox_receive,
            0xFF06: self._mailbox_clear,
        }


@mutant("receive_clear_swapped", "ID-8, ID-9", "HF_MAILBOX_RECEIVE is 0xff08 and HF_MAILBOX_CLEAR 0xff07")
class _RecvClearSwapped(Core):
    def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
        super().__init__(vms, platform)
        self._calls[abi.HF_MAILBOX_RECEIVE], self._calls[abi.HF_MAILBOX_CLEAR] = self._mailbox_clear, self._mailbox_receive


@mutant("waiter_writable_swapped", "ID-10, ID-11", "HF_MAILBOX_WRITABLE_GET is 0xff0a and HF_MAILBOX_WAITER_GET 0xff09")
class _WaiterWritableSwapped(Core):
    def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
        super().__init__(vms, platform)
        calls = self._calls
        calls[abi.HF_MAILBOX_WRITABLE_GET], calls[abi.HF_MAILBOX_WAITER_GET] = (
            self._mailbox_waiter_get,
            self._mailbox_writable_get,
        )


# =============================================================================================
# §3 VMs
# =============================================================================================


def _all_vcpus_ready(config: SystemConfig) -> SystemConfig:
    guests = tuple(dataclasses.replace(g, ready_vcpus=g.vcpus) for g in config.secondaries)
    return dataclasses.replace(config, secondaries=guests)


def _reverse_vm_ids(config: SystemConfig) -> SystemConfig:
    return dataclasses.replace(config, secondaries=tuple(reversed(config.secondaries)))


_register_config("vm_ids_reversed", "VM-1", "secondaries get IDs in reverse load order", _reverse_vm_ids)
_register_config("all_vcpus_started", "VM-1", "every vCPU of a secondary starts at boot, not only vCPU 0", _all_vcpus_ready)


@mutant("vm_get_id_always_0", "VM-2", "HF_VM_GET_ID returns 0 (the primary's ID) to every caller")
class _VmIdZero(Core):
    def _vm_get_id(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(abi.HF_PRIMARY_VM_ID)


@mutant("vm_get_id_index_of_vcpu", "VM-2", "HF_VM_GET_ID returns the caller's vCPU index")
class _VmIdVcpu(Core):
    def _vm_get_id(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(vcpu.index)


@mutant("vm_count_excludes_primary", "VM-3", "HF_VM_GET_COUNT returns N (secondaries only)")
class _VmCountN(Core):
    def _vm_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return Answer(len(self.vms) - 1)


@mutant("vcpu_count_for_secondaries", "VM-4", "HF_VCPU_GET_COUNT answers secondaries too")
class _VcpuCountAnyone(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target = x1 & U32
        return ERR_ANSWER if target >= len(self.vms) else Answer(len(self.vms[target].vcpus))


@mutant("vcpu_count_absent_vm_0", "VM-4", "HF_VCPU_GET_COUNT of an absent VM returns 0 instead of -1")
class _VcpuCountAbsentZero(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 >= len(self.vms):
            return Answer(0)
        return super()._vcpu_get_count(vm, vcpu, x1, x2, x3)


@mutant("vcpu_count_vm_id_64_bit", "VM-4", "HF_VCPU_GET_COUNT uses all 64 bits of the VM ID")
class _VcpuCount64(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if x1 >> 32:
            return ERR_ANSWER
        return super()._vcpu_get_count(vm, vcpu, x1, x2, x3)


@mutant("vcpu_count_started_only", "VM-4", "HF_VCPU_GET_COUNT counts only the started vCPUs")
class _VcpuCountStarted(Core):
    def _vcpu_get_count(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        answer = super()._vcpu_get_count(vm, vcpu, x1, x2, x3)
        if answer.ret == ERR:
            return answer
        return Answer(sum(v.state is not VcpuState.OFF for v in self.vms[x1 & U32].vcpus))


# =============================================================================================
# §4 Running
# =============================================================================================


@mutant("secondary_run_returns_error", "RUN-1", "HF_VCPU_RUN from a secondary returns -1 instead of 0xFFFFFFFFFFFFFF02")
class _SecondaryRunErr(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return ERR_ANSWER
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_refusal_ns_0", "RUN-1", "a refused run returns WAIT_FOR_INTERRUPT with ns = 0 (0x2) instead of ns = INDEF")
class _RunRefusalNs0(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if self.run_refused(vm, x1 & U32, x2 & U32):
            return Answer(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vcpu_index_modulo", "RUN-1", "an absent vCPU index wraps modulo the VM's vCPU count")
class _RunModulo(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id = x1 & U32
        if 0 < target_id < len(self.vms):
            x2 = (x2 & U32) % len(self.vms[target_id].vcpus)
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant("run_vm_id_u16", "RUN-1", "HF_VCPU_RUN takes the VM ID modulo 0x10000 (u16 instead of u32)")
class _RunU16(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return super()._vcpu_run(vm, vcpu, x1 & 0xFFFF, x2, x3)


@mutant("run_primary_yields", "RUN-1", "HF_VCPU_RUN of the primary (vm_id 0) returns YIELD 0x1")
class _RunPrimaryYield(Core):
    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID and x1 & U32 == abi.HF_PRIMARY_VM_ID:
            return Answer(YIELD_1)
        return super()._vcpu_run(vm, vcpu, x1, x2, x3)


@mutant(
    "receive_blocked_refusal_says_message", "RUN-2", "re-running a receive-blocked vCPU (no timer) answers WAIT_FOR_MESSAGE …FF03"
)
class _BlockedRefusalMessage(Core):
    def blocked_response(self, vcpu: Vcpu) -> int:
        if vcpu.state is VcpuState.BLOCKED_MAILBOX and not self.timer_enabled(vcpu):
            return abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE)
        return super().blocked_response(vcpu)


@mutant("blocked_vcpu_runs", "RUN-2", "HF_VCPU_RUN runs a blocked vCPU (wfi or receive) that has nothing to wake it")
class _BlockedRuns(Core):
    def blocked_response(self, vcpu: Vcpu) -> int | None:  # type: ignore[override]
        return None


@mutant(
    "blocked_timer_ignored", "RUN-2", "a blocked vCPU with its timer enabled is refused with …FF02 (the timer is not looked at)"
)
class _BlockedTimerIgnored(Core):
    def blocked_response(self, vcpu: Vcpu) -> int:
        return REFUSED


@mutant("ready_vcpu_not_run", "RUN-3", "a ready vCPU is not run: HF_VCPU_RUN answers YIELD 0x1 at once, every other time")
class _ReadyNotRun(Core):
    def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
        super().__init__(vms, platform)
        self.skip = False

    def prepare_run(self, target: Vm, vcpu: Vcpu) -> int | None:
        if vcpu.state is VcpuState.READY:
            self.skip = not self.skip
            if self.skip:
                return YIELD_1
        return super().prepare_run(target, vcpu)


@mutant("preemption_as_yield", "RUN-4", "a preempted vCPU is reported as YIELD 0x1 (it stays ready)")
class _PreemptYield(Core):
    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VcpuState.READY, None, YIELD_1)


@mutant("preemption_blocks", "RUN-4", "a preempted vCPU reports PREEMPTED but is never runnable again")
class _PreemptBlocks(Core):
    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        answer = super().preempted(vm_id, vcpu_idx)
        self.vms[vm_id].vcpus[vcpu_idx].state = VcpuState.BLOCKED_INTERRUPT
        return answer


@mutant("wfi_as_yield", "RUN-5", "wfi is reported as YIELD 0x1 and the vCPU stays ready")
class _WfiYield(Core):
    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.switch_to_primary(self.vms[vm_id].vcpus[vcpu_idx], VcpuState.READY, None, YIELD_1)


@mutant("wfi_ns_0", "RUN-5", "wfi with no timer reports WAIT_FOR_INTERRUPT with ns = 0 (0x2) instead of INDEF")
class _WfiNs0(Core):
    def wfi(self, vcpu: Vcpu) -> int:
        return abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT, self.remaining_ns(vcpu) if self.timer_enabled(vcpu) else 0)


@mutant("wfi_ns_indef_with_timer", "RUN-5", "wfi reports ns = INDEF even when the vCPU's timer is enabled")
class _WfiIndef(Core):
    def wfi(self, vcpu: Vcpu) -> int:
        return abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)


@mutant("wfe_not_yielding", "RUN-6", "§10 (before 48196eb5): wfe is a no-op, not a YIELD")
class _WfeNoop(Core):
    def wait_for_event(self, vm_id: int, vcpu_idx: int) -> Answer | None:
        return None


@mutant("yield_code_0", "RUN-6", "hafnium-2018-10: YIELD is code 0 (the primary sees it as PREEMPTED)")
class _YieldCode0(Core):
    def yield_(self, vcpu: Vcpu, resume: int | None) -> Answer:
        return self.switch_to_primary(vcpu, VcpuState.READY, resume, 0)


@mutant("yield_returns_1_to_caller", "RUN-6", "HF_VCPU_YIELD returns 1 to the secondary when it resumes (and to the primary)")
class _YieldReturns1(Core):
    def _vcpu_yield(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(1)
        return self.yield_(vcpu, 1)


@mutant("blocking_receive_reports_wfi", "RUN-7", "§10: a blocking receive that blocks reports WAIT_FOR_INTERRUPT (…FF02)")
class _BlockWfi(Core):
    def receive_block(self, vcpu: Vcpu) -> Answer:
        response = abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT, self.sleep_ns(vcpu))
        return self.switch_to_primary(vcpu, VcpuState.BLOCKED_MAILBOX, NOTHING, response)


@mutant("message_size_always", "RUN-8", "MESSAGE carries the size for a secondary recipient too")
class _MessageSizeAlways(Core):
    def message_response(self, to: Vm, size: int) -> int:
        return abi.run_message(to.id, size)


@mutant("message_names_sender", "RUN-8", "MESSAGE names the sending VM instead of the recipient")
class _MessageNamesSender(Core):
    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        to.mailbox = MailboxState.RECEIVED
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(self.send_result())
        return self.switch_to_primary(vcpu, VcpuState.READY, self.send_result(), abi.run_message(vm.id, 0))


@mutant("message_2018_packing", "RUN-8", "hafnium-2018-10's MESSAGE: code 3, size in 63..32, no vm_id (…03)")
class _Message2018(Core):
    def message_response(self, to: Vm, size: int) -> int:
        return 0x3 | (size if to.id == abi.HF_PRIMARY_VM_ID else 0) << 32


@mutant("notify_waiters_not_switched", "RUN-9", "a secondary's configure or clear with waiters returns 0 without switching")
class _NotifyNoSwitch(Core):
    def waiter_result(self, vm: Vm, vcpu: Vcpu) -> Answer:
        if vm.id != abi.HF_PRIMARY_VM_ID:
            return Answer(0)
        return super().waiter_result(vm, vcpu)


@mutant("notify_waiters_returns_1", "RUN-9, CFG-5, CLR-3", "a secondary switched out with NOTIFY_WAITERS resumes with 1, not 0")
class _NotifyReturns1(Core):
    def waiter_result(self, vm: Vm, vcpu: Vcpu) -> Answer:
        if vm.waiters and vm.id != abi.HF_PRIMARY_VM_ID:
            return self.switch_to_primary(vcpu, VcpuState.READY, 1, abi.run_response(abi.HF_VCPU_RUN_NOTIFY_WAITERS))
        return super().waiter_result(vm, vcpu)


@mutant("clear_empty_notifies", "RUN-9, CLR-1", "clearing an empty mailbox notifies its waiters (NOTIFY_WAITERS / 1)")
class _ClearEmptyNotifies(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.EMPTY:
            return self.waiter_result(vm, vcpu)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("wake_up_2018_packing", "RUN-10", "hafnium-2018-10's WAKE_UP: code 2, vm_id in 31..16, vCPU in 63..32")
class _WakeUp2018(Core):
    def wake_up(self, vcpu: Vcpu, target: Vcpu) -> Answer:
        return self.switch_to_primary(vcpu, VcpuState.READY, 0, 0x2 | target.vm_id << 16 | target.index << 32)


@mutant("inject_never_wakes", "RUN-10", "a secondary's inject into another of its vCPUs returns 0 without WAKE_UP")
class _InjectNoWake(Core):
    def inject_wakes(self, vm: Vm, vcpu: Vcpu, target: Vcpu, first: bool) -> bool:
        return False


@mutant("abort_reported_as_wfi", "RUN-11", "hafnium-2018-10-like: a fault is reported as WAIT_FOR_INTERRUPT (…FF02), not ABORTED")
class _AbortWfi(Core):
    def abort_vm(self, vm: Vm, vcpu: Vcpu) -> Answer:
        vm.aborting = True
        return self.switch_to_primary(vcpu, VcpuState.ABORTED, None, REFUSED)


@mutant("aborted_vcpu_runs_again", "RUN-11, RUN-1", "after ABORTED the VM is not marked aborting and its vCPU may be run again")
class _AbortRunsAgain(Core):
    def abort_vm(self, vm: Vm, vcpu: Vcpu) -> Answer:
        return self.switch_to_primary(vcpu, VcpuState.READY, None, abi.run_response(abi.HF_VCPU_RUN_ABORTED))


@mutant("abort_spares_other_vcpus", "RUN-11", "only the faulting vCPU is aborted: the VM's other vCPUs still run")
class _AbortOneVcpu(Core):
    def abort_vm(self, vm: Vm, vcpu: Vcpu) -> Answer:
        return self.switch_to_primary(vcpu, VcpuState.ABORTED, None, abi.run_response(abi.HF_VCPU_RUN_ABORTED))


@mutant("run_does_not_deliver", "RUN-12", "running a receive-blocked vCPU with a message waiting does not deliver it (refused)")
class _NoDeliverOnRun(Core):
    def deliver_on_run(self, target: Vm, vcpu: Vcpu) -> bool:
        return False


@mutant("delivery_leaves_unread", "RUN-12", "a message delivered by a run leaves the mailbox received, not read")
class _DeliverUnread(Core):
    def deliver_on_run(self, target: Vm, vcpu: Vcpu) -> bool:
        delivered = super().deliver_on_run(target, vcpu)
        if delivered:
            target.mailbox = MailboxState.RECEIVED
        return delivered


@mutant(
    "hypervisor_wakes_receiver",
    "RUN-12, SEND-6, SEND-8",
    "§10 (before b06d175e): a send wakes a receive-blocked vCPU itself (mailbox read) and returns its index to the primary",
)
class _HypervisorWakes(Core):
    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        blocked = [v for v in to.vcpus if v.state is VcpuState.BLOCKED_MAILBOX]
        if not blocked:
            return super().send_to_secondary(vm, vcpu, to, size)
        woken = blocked[-1]
        woken.state = VcpuState.READY
        self.resume_with(woken, self.receive_result(to))
        to.mailbox = MailboxState.READ
        if vm.id == abi.HF_PRIMARY_VM_ID:
            return Answer(woken.index)
        return self.switch_to_primary(vcpu, VcpuState.READY, self.send_result(), self.message_response(to, size))


@mutant("pending_interrupt_does_not_wake", "RUN-13", "a blocked vCPU with an enabled+pending interrupt stays blocked (refused)")
class _PendingNoWake(Core):
    def wakes(self, vcpu: Vcpu) -> bool:
        return self.timer_expired(vcpu)


@mutant("timer_expiry_does_not_wake", "RUN-13", "a blocked vCPU whose timer expired stays blocked")
class _TimerNoWake(Core):
    def wakes(self, vcpu: Vcpu) -> bool:
        return self.has_pending(vcpu)


@mutant("woken_receive_returns_error", "RUN-13", "a receive woken by an interrupt returns -1, not 0x00000000FFFFFFFF")
class _WokenReceiveErr(Core):
    def receive_block(self, vcpu: Vcpu) -> Answer:
        response = abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE, self.sleep_ns(vcpu))
        return self.switch_to_primary(vcpu, VcpuState.BLOCKED_MAILBOX, ERR, response)


def _codes_2018(response: int) -> int:
    """A 2019 run response as hafnium-2018-10 coded it: YIELD 0, WAIT_FOR_INTERRUPT 1 (no ns,
    also for a blocked receive and a refusal), WAKE_UP 2 | vm << 16 | vcpu << 32, MESSAGE
    3 | size << 32."""
    code = response & 0xFF
    if code in (abi.HF_VCPU_RUN_PREEMPTED, abi.HF_VCPU_RUN_YIELD):
        return 0
    if code in (abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT, abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE):
        return 0x1
    if code == abi.HF_VCPU_RUN_WAKE_UP:
        return 0x2 | (response >> 32) << 16 | ((response >> 16) & 0xFFFF) << 32
    if code == abi.HF_VCPU_RUN_MESSAGE:
        return 0x3 | (response >> 32) << 32
    return response


def _codes_aa7db8ee(response: int) -> int:
    """A 2019 run response as aa7db8ee (§10) coded it: WAIT_FOR_MESSAGE did not exist (a blocking
    receive reported WAIT_FOR_INTERRUPT), WAKE_UP was 3 and MESSAGE 4."""
    code = response & 0xFF
    rest = response & ~0xFF
    if code == abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE:
        return rest | abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT
    if code == abi.HF_VCPU_RUN_WAKE_UP:
        return rest | 3
    if code == abi.HF_VCPU_RUN_MESSAGE:
        return rest | 4
    return response


class _Recoded(Core):
    """Every run response (the switch to the primary's and a refused run's) through ``recode``."""

    @staticmethod
    def recode(response: int) -> int:
        return response

    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: int | None, response: int) -> Answer:
        return super().switch_to_primary(vcpu, state, resume, self.recode(response))

    def _vcpu_run(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        answer = super()._vcpu_run(vm, vcpu, x1, x2, x3)
        return answer if answer.ret is None else Answer(self.recode(answer.ret))


@mutant(
    "run_codes_2018_10",
    "RUN-1, RUN-2, RUN-5, RUN-6, RUN-7, RUN-8, RUN-10",
    "hafnium-2018-10's run codes: YIELD 0, WAIT_FOR_INTERRUPT 1 (no ns), WAKE_UP 2, MESSAGE 3 with 2018 packing",
)
class _Codes2018(_Recoded):
    recode = staticmethod(_codes_2018)


@mutant(
    "run_codes_aa7db8ee",
    "RUN-7, RUN-8, RUN-10",
    "§10 (aa7db8ee): WAKE_UP 3, MESSAGE 4, no WAIT_FOR_MESSAGE (a blocking receive reports WAIT_FOR_INTERRUPT)",
)
class _CodesAa7(_Recoded):
    recode = staticmethod(_codes_aa7db8ee)


# =============================================================================================
# §5 Configure
# =============================================================================================


class _Unaligned(Core):
    """For mutants that accept an unaligned page: the page holding the address is the one protected."""

    def protect_recv(self, vm: Vm, recv: int) -> None:
        super().protect_recv(vm, recv - recv % abi.PAGE_SIZE)


@mutant("configure_unaligned_accepted", "CFG-1", "configure does not check alignment")
class _CfgUnaligned(_Unaligned):
    def configure_aligned(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_recv_alignment_unchecked", "CFG-1", "configure checks only the send page's alignment")
class _CfgRecvUnaligned(_Unaligned):
    def configure_aligned(self, send: int, recv: int) -> bool:
        return send % abi.PAGE_SIZE == 0


@mutant("configure_same_page_accepted", "CFG-1", "configure accepts the same page as send and recv page")
class _CfgSame(Core):
    def configure_distinct(self, send: int, recv: int) -> bool:
        return True


@mutant("configure_twice_accepted", "CFG-2", "a second configure succeeds and replaces the pages")
class _CfgTwice(Core):
    def configured_before(self, vm: Vm) -> bool:
        return False


@mutant("configure_any_page", "CFG-3", "configure does not check that the pages are the caller's memory")
class _CfgAnyPage(_PagesUnchecked):
    def send_page_ok(self, vm: Vm, addr: int) -> bool:
        return True

    def recv_page_ok(self, vm: Vm, addr: int) -> bool:
        return True


@mutant("configure_foreign_page", "CFG-3", "configure accepts a page of another VM's memory")
class _CfgForeign(_PagesUnchecked):
    def send_page_ok(self, vm: Vm, addr: int) -> bool:
        return self.owner(addr) is not None

    def recv_page_ok(self, vm: Vm, addr: int) -> bool:
        return self.owner(addr) is not None


@mutant("configure_last_page_refused", "CFG-3", "off by one: the last page of the VM's memory is refused")
class _CfgLastPage(Core):
    def send_page_ok(self, vm: Vm, addr: int) -> bool:
        return vm.base <= addr and addr + abi.PAGE_SIZE < vm.base + vm.size

    def recv_page_ok(self, vm: Vm, addr: int) -> bool:
        return self.send_page_ok(vm, addr)


@mutant("recv_page_writable", "CFG-4", "the recv page stays writable to its VM after configure")
class _RecvWritable(Core):
    def protect_recv(self, vm: Vm, recv: int) -> None:
        return None


@mutant("send_page_read_only", "CFG-4", "configure makes the send page read-only too")
class _SendReadOnly(Core):
    def protect_recv(self, vm: Vm, recv: int) -> None:
        super().protect_recv(vm, recv)
        if vm.send is not None:
            self.platform.protect(vm.id, vm.send, abi.PAGE_SIZE, False)


@mutant(
    "configure_ignores_waiters",
    "CFG-5, RUN-9",
    "a successful configure returns 0 even to the primary with waiters, no NOTIFY_WAITERS",
)
class _CfgNoWaiters(Core):
    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Answer:
        waiters, vm.waiters = vm.waiters, []
        try:
            return super()._vm_configure(vm, vcpu, send, recv, x3)
        finally:
            vm.waiters = waiters


@mutant("configure_returns_1", "CFG-5", "a successful configure always returns 1 (as if there were waiters)")
class _CfgOne(Core):
    def _vm_configure(self, vm: Vm, vcpu: Vcpu, send: int, recv: int, x3: int) -> Answer:
        answer = super()._vm_configure(vm, vcpu, send, recv, x3)
        return Answer(1) if answer.ret == 0 else answer


# =============================================================================================
# §6 Send
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
    def send_to_self(self, vm: Vm, to_id: int) -> bool:
        return False


@mutant("send_vm_id_64_bit", "SEND-3", "the destination VM ID uses all 64 bits of x1")
class _SendTo64(Core):
    def send_target(self, x1: int) -> int:
        return x1


@mutant("send_unconfigured_sender", "SEND-4", "an unconfigured VM may send (nothing is copied)")
class _SendUnconfiguredSender(_PagesUnchecked):
    def sender_configured(self, vm: Vm) -> bool:
        return True


@mutant("send_unconfigured_receiver", "SEND-5", "a send to an unconfigured VM succeeds (nothing is copied)")
class _SendUnconfiguredReceiver(_PagesUnchecked):
    def mailbox_busy(self, to: Vm) -> bool:
        return to.mailbox is not MailboxState.EMPTY


@mutant("send_overwrites_unread", "SEND-5", "a send to a mailbox holding a message overwrites it")
class _SendOverwrite(Core):
    def mailbox_busy(self, to: Vm) -> bool:
        return to.recv is None


@mutant("send_to_read_mailbox", "SEND-5", "a mailbox whose message was read counts as free (no clear needed)")
class _SendRead(Core):
    def mailbox_busy(self, to: Vm) -> bool:
        return to.mailbox is MailboxState.RECEIVED or to.recv is None


@mutant("notify_ignored", "SEND-5", "a refused send with notify queues no waiter")
class _NotifyIgnored(Core):
    def notify_requested(self, notify: int) -> bool:
        return False


@mutant("notify_only_1", "SEND-5", "notify is true only when x3 == 1")
class _NotifyOnly1(Core):
    def notify_requested(self, notify: int) -> bool:
        return notify == 1


@mutant("notify_u32", "SEND-5", "notify is tested on u32(x3): 0x100000000 is false")
class _NotifyU32(Core):
    def notify_requested(self, notify: int) -> bool:
        return notify & U32 != 0


@mutant("notify_queued_twice", "SEND-5", "a second notify send queues the same waiter again")
class _NotifyTwice(Core):
    def queue_waiter(self, vm: Vm, to: Vm) -> None:
        to.waiters.append(vm.id)


@mutant("notify_lifo", "SEND-5, WAIT-1", "waiters are queued at the front (LIFO), not the back")
class _NotifyLifo(Core):
    def queue_waiter(self, vm: Vm, to: Vm) -> None:
        if vm.id not in to.waiters:
            to.waiters.insert(0, vm.id)


@mutant("send_copies_whole_page", "SEND-6", "every send copies 4096 bytes, whatever its size")
class _SendWholePage(Core):
    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        super().copy_message(vm, to, abi.PAGE_SIZE)
        to.msg_size = size


@mutant("send_copies_one_byte_short", "SEND-6", "off by one: size - 1 bytes are copied")
class _SendShort(Core):
    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        super().copy_message(vm, to, max(size - 1, 0))
        to.msg_size = size


@mutant("send_zeroes_rest_of_page", "SEND-6", "a send zeroes the recv page beyond `size`")
def _send_zeroes_rest(system: System) -> None:
    core = _core(system)

    def after(trap: Trap, answer: Answer) -> Answer:
        x0, x1, size = trap.args[0], trap.args[1], trap.args[2]
        if core.function_id(x0) == abi.HF_MAILBOX_SEND and answer.ret != ERR:  # a send the core accepted
            to_id = core.send_target(x1)
            to = core.vms[to_id] if to_id < len(core.vms) else None
            if to is not None and to.recv is not None and size < abi.PAGE_SIZE:
                system.write(to.id, to.recv + size, bytes(abi.PAGE_SIZE - size))
        return answer

    system.intercept("hvc", after=after)


@mutant("sender_is_zero", "SEND-6, RECV-2, RUN-12", "the recipient always learns sender 0")
class _SenderZero(Core):
    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        super().copy_message(vm, to, size)
        to.sender = abi.HF_PRIMARY_VM_ID


@mutant("sender_is_recipient", "SEND-6, RECV-2, RUN-12", "the mailbox records the recipient's own ID as the sender")
class _SenderRecipient(Core):
    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        super().copy_message(vm, to, size)
        to.sender = to.id


@mutant("size_recorded_as_0", "SEND-6, RECV-2, RUN-12", "the mailbox records size 0 (the bytes are copied)")
class _SizeZero(Core):
    def copy_message(self, vm: Vm, to: Vm, size: int) -> None:
        super().copy_message(vm, to, size)
        to.msg_size = 0


@mutant("send_returns_0xffff_2018", "SEND-6", "hafnium-2018-10: the primary's send to a secondary returns 0xffff (no vCPU woken)")
class _Send0xffff(Core):
    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        answer = super().send_to_secondary(vm, vcpu, to, size)
        return Answer(0xFFFF) if answer.ret == 0 else answer


@mutant("secondary_send_returns_1", "SEND-6", "a secondary's successful send returns 1 when it resumes")
class _SecondarySend1(Core):
    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: int | None, response: int) -> Answer:
        if response & 0xFF == abi.HF_VCPU_RUN_MESSAGE and resume == 0:
            resume = 1
        return super().switch_to_primary(vcpu, state, resume, response)


@mutant("primary_mailbox_received", "SEND-7", "a message to the primary leaves its mailbox received (unread), not read")
class _PrimaryReceived(Core):
    def send_to_primary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        answer = super().send_to_primary(vm, vcpu, to, size)
        to.mailbox = MailboxState.RECEIVED
        return answer


@mutant("to_primary_no_switch", "SEND-7, RUN-8", "a secondary's send to the primary returns 0 without switching")
class _ToPrimaryNoSwitch(Core):
    def send_to_primary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        to.mailbox = MailboxState.READ
        return Answer(self.send_result())


@mutant("secondary_sender_keeps_running", "SEND-8, RUN-8", "a secondary's send to a secondary returns 0 with no switch")
class _SecondaryNoSwitch(Core):
    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        to.mailbox = MailboxState.RECEIVED
        return Answer(self.send_result())


@mutant("send_to_secondary_marks_read", "SEND-8", "a message to a secondary is marked read at once (it can never be received)")
class _SendMarksRead(Core):
    def send_to_secondary(self, vm: Vm, vcpu: Vcpu, to: Vm, size: int) -> Answer:
        answer = super().send_to_secondary(vm, vcpu, to, size)
        to.mailbox = MailboxState.READ
        return answer


# =============================================================================================
# §7 Receive
# =============================================================================================


@mutant("primary_receive_minus1", "RECV-1", "the primary's receive returns -1 (hafnium-2018-10) instead of 0x00000000FFFFFFFF")
class _PrimaryReceiveErr(Core):
    def receive_from_primary(self) -> int:
        return ERR


@mutant("primary_may_block", "RECV-1", "the primary's receive follows the secondaries' rules (a blocking one blocks)")
class _PrimaryBlocks(Core):
    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Answer:
        if vm.id == abi.HF_PRIMARY_VM_ID and block != 0:
            return Answer(abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE))
        return super()._mailbox_receive(vm, vcpu, block, x2, x3)


@mutant("receive_sender_in_bits_31_16", "RECV-2", "a receive returns the sender in bits 31..16 instead of 31..0")
class _RecvSenderField(Core):
    def receive_result(self, vm: Vm) -> int:
        return (vm.sender & 0xFFFF) << 16 | (vm.msg_size & U32) << 32


@mutant("receive_without_size", "RECV-2", "a receive returns the sender only (size not reported)")
class _RecvNoSize(Core):
    def receive_result(self, vm: Vm) -> int:
        return vm.sender & U32


@mutant("receive_leaves_unread", "RECV-2", "a receive returns the message but leaves the mailbox received")
class _RecvUnread(Core):
    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Answer:
        answer = super()._mailbox_receive(vm, vcpu, block, x2, x3)
        if answer.ret is not None and answer.ret != NOTHING and vm.id != abi.HF_PRIMARY_VM_ID:
            vm.mailbox = MailboxState.RECEIVED
        return answer


@mutant("receive_read_message_again", "RECV-2", "a receive on a read mailbox returns the message again")
class _RecvAgain(Core):
    def receive_unread(self, vm: Vm) -> bool:
        return vm.mailbox is not MailboxState.EMPTY


@mutant("receive_nothing_minus1", "RECV-3", "hafnium-2018-10 (before 6d2db331): a receive with nothing returns -1")
class _RecvNothingErr(Core):
    def _mailbox_receive(self, vm: Vm, vcpu: Vcpu, block: int, x2: int, x3: int) -> Answer:
        answer = super()._mailbox_receive(vm, vcpu, block, x2, x3)
        if vm.id != abi.HF_PRIMARY_VM_ID and answer.ret == NOTHING:
            return ERR_ANSWER
        return answer


@mutant("receive_always_blocks", "RECV-3", "block is ignored: every receive with nothing to receive blocks")
class _RecvAlwaysBlocks(Core):
    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        return self.has_pending(vcpu)


@mutant(
    "no_recv3_pending_rule", "RECV-3", "§10 (before 9311c9aa): a blocking receive blocks even with an enabled+pending interrupt"
)
class _RecvNoPendingRule(Core):
    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        return block == 0


@mutant("receive_block_u32", "RECV-4, RECV-3", "block is tested on u32(x1): 0x100000000 does not block")
class _RecvBlockU32(Core):
    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        return block & U32 == 0 or self.has_pending(vcpu)


@mutant("receive_block_only_1", "RECV-3", "only block == 1 blocks")
class _RecvBlockOne(Core):
    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        return block != 1 or self.has_pending(vcpu)


@mutant(
    "receive_cannot_block_while_read",
    "RECV-4",
    "a blocking receive on a read mailbox returns 0x00000000FFFFFFFF instead of blocking",
)
class _RecvNoBlockRead(Core):
    def receive_nothing(self, vcpu: Vcpu, block: int) -> bool:
        return super().receive_nothing(vcpu, block) or self.vms[vcpu.vm_id].mailbox is MailboxState.READ


@mutant("blocked_receiver_left_ready", "RECV-4", "a blocking receive reports WAIT_FOR_MESSAGE but leaves the vCPU ready")
class _BlockedReady(Core):
    def receive_block(self, vcpu: Vcpu) -> Answer:
        response = abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE, self.sleep_ns(vcpu))
        return self.switch_to_primary(vcpu, VcpuState.READY, NOTHING, response)


# =============================================================================================
# §8 Clear
# =============================================================================================


@mutant("clear_empty_returns_minus1", "CLR-1", "hafnium-2018-10 (before aa7db8ee): clearing an empty mailbox returns -1")
class _ClearEmptyErr(Core):
    def clear_empty(self) -> Answer:
        return ERR_ANSWER


@mutant("clear_unread_allowed", "CLR-2", "clearing an unread message succeeds and discards it")
class _ClearUnread(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.RECEIVED:
            return self.clear_read(vm, vcpu)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_unread_marks_read", "CLR-2", "clearing an unread message returns -1 but marks it read")
class _ClearUnreadRead(Core):
    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.RECEIVED:
            vm.mailbox = MailboxState.READ
            return ERR_ANSWER
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


@mutant("clear_leaves_mailbox_read", "CLR-3", "a clear of a read mailbox returns 0 but leaves it read (the next send is refused)")
class _ClearNoEmpty(Core):
    def clear_read(self, vm: Vm, vcpu: Vcpu) -> Answer:
        answer = super().clear_read(vm, vcpu)
        vm.mailbox = MailboxState.READ
        return answer


@mutant(
    "clear_ignores_waiters",
    "CLR-3, RUN-9",
    "a clear of a read mailbox returns 0 even to the primary with waiters, no NOTIFY_WAITERS",
)
class _ClearNoWaiters(Core):
    def clear_read(self, vm: Vm, vcpu: Vcpu) -> Answer:
        vm.mailbox = MailboxState.EMPTY
        return Answer(0)


# =============================================================================================
# §9 Writability notification, interrupts
# =============================================================================================


@mutant("waiter_get_lifo", "WAIT-1, SEND-5", "WAITER_GET returns the most recent waiter first")
class _WaiterLifo(Core):
    def fetch_waiter(self, target: Vm) -> int | None:
        if target.mailbox is not MailboxState.EMPTY or target.recv is None or not target.waiters:
            return None
        return target.waiters.pop()


@mutant("waiter_get_keeps_waiter", "WAIT-1", "WAITER_GET returns the first waiter without removing it")
class _WaiterKept(Core):
    def fetch_waiter(self, target: Vm) -> int | None:
        if target.mailbox is not MailboxState.EMPTY or target.recv is None or not target.waiters:
            return None
        return target.waiters[0]


@mutant("waiter_get_any_state", "WAIT-1", "WAITER_GET hands out waiters whatever the mailbox's state")
class _WaiterAnyState(Core):
    def fetch_waiter(self, target: Vm) -> int | None:
        return target.waiters.pop(0) if target.waiters else None


@mutant("waiter_get_for_secondaries", "WAIT-1", "a secondary may call WAITER_GET")
class _WaiterSecondary(Core):
    def _mailbox_waiter_get(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        return super()._mailbox_waiter_get(self.vms[abi.HF_PRIMARY_VM_ID], vcpu, x1, x2, x3)


@mutant("waiter_not_made_ready", "WAIT-1, WAIT-2", "WAITER_GET does not put the VM on the waiter's ready list")
class _WaiterNoReady(Core):
    def add_ready(self, waiting: Vm, target: Vm) -> None:
        return None


@mutant("writable_get_keeps_entry", "WAIT-2", "WRITABLE_GET returns the first entry without removing it")
class _WritableKept(Core):
    def writable_get(self, vm: Vm) -> int:
        return vm.ready[0] if vm.ready else ERR


@mutant("writable_get_lifo", "WAIT-2", "WRITABLE_GET returns the most recent entry first")
class _WritableLifo(Core):
    def writable_get(self, vm: Vm) -> int:
        return vm.ready.pop() if vm.ready else ERR


@mutant("writable_get_primary_only", "WAIT-2", "WRITABLE_GET returns -1 to a secondary")
class _WritablePrimaryOnly(Core):
    def writable_get(self, vm: Vm) -> int:
        return super().writable_get(vm) if vm.id == abi.HF_PRIMARY_VM_ID else ERR


@mutant(
    "hypervisor_injects_writable",
    "WAIT-3",
    "WAITER_GET itself makes HF_MAILBOX_WRITABLE_INTID (2) pending in the waiter's vCPU 0",
)
class _InjectsWritable(Core):
    def add_ready(self, waiting: Vm, target: Vm) -> None:
        super().add_ready(waiting, target)
        self.make_pending(waiting.vcpus[0], abi.HF_MAILBOX_WRITABLE_INTID)


@mutant("enable_accepts_64", "WAIT-4", "INTERRUPT_ENABLE and INJECT accept intid 64 (off by one)")
class _Enable64(Core):
    def intid_valid(self, intid: int) -> bool:
        return intid & U32 <= abi.HF_NUM_INTIDS

    def interrupt_enable(self, vm: Vm, vcpu: Vcpu, intid: int, enable: int) -> int:
        return 0 if intid & U32 == abi.HF_NUM_INTIDS else super().interrupt_enable(vm, vcpu, intid, enable)

    def make_pending(self, target: Vcpu, intid: int) -> bool:
        return False if intid == abi.HF_NUM_INTIDS else super().make_pending(target, intid)


@mutant("intid_64_bit", "WAIT-4", "interrupt IDs use all 64 bits of the register (0x100000001 is invalid)")
class _Intid64(Core):
    def _interrupt_enable(self, vm: Vm, vcpu: Vcpu, intid: int, enable: int, x3: int) -> Answer:
        return ERR_ANSWER if intid >> 32 else super()._interrupt_enable(vm, vcpu, intid, enable, x3)


@mutant("enable_only_1", "WAIT-4", "INTERRUPT_ENABLE enables only for enable == 1 (other non-zero values disable)")
class _EnableOnly1(Core):
    def interrupt_enable(self, vm: Vm, vcpu: Vcpu, intid: int, enable: int) -> int:
        return super().interrupt_enable(vm, vcpu, intid, 1 if enable == 1 else 0)


@mutant("interrupt_get_not_acknowledged", "WAIT-4", "INTERRUPT_GET returns the interrupt but leaves it pending")
class _GetNoAck(Core):
    def interrupt_get(self, vm: Vm, vcpu: Vcpu) -> int:
        pending = vcpu.pending
        intid = super().interrupt_get(vm, vcpu)
        vcpu.pending = pending
        self.update_irq(vm.id, vcpu)
        return intid


@mutant("interrupt_get_highest", "WAIT-4", "INTERRUPT_GET returns the highest enabled+pending intid, not the lowest")
class _GetHighest(Core):
    def interrupt_get(self, vm: Vm, vcpu: Vcpu) -> int:
        ready = vcpu.enabled & vcpu.pending
        if not ready:
            return abi.HF_INTERRUPT_GET_NONE
        intid = ready.bit_length() - 1
        vcpu.pending &= ~(1 << intid)
        self.update_irq(vm.id, vcpu)
        return intid


@mutant("interrupt_get_none_minus1", "WAIT-4", "INTERRUPT_GET with nothing pending returns -1, not 0x00000000FFFFFFFF")
class _GetNoneErr(Core):
    def interrupt_get(self, vm: Vm, vcpu: Vcpu) -> int:
        intid = super().interrupt_get(vm, vcpu)
        return ERR if intid == abi.HF_INTERRUPT_GET_NONE else intid


@mutant("interrupt_get_ignores_enable", "WAIT-4", "INTERRUPT_GET returns pending interrupts that are not enabled")
class _GetDisabled(Core):
    def interrupt_get(self, vm: Vm, vcpu: Vcpu) -> int:
        if not vcpu.pending:
            return abi.HF_INTERRUPT_GET_NONE
        intid = (vcpu.pending & -vcpu.pending).bit_length() - 1
        vcpu.pending &= ~(1 << intid)
        self.update_irq(vm.id, vcpu)
        return intid


@mutant("inject_returns_0", "WAIT-4", "INTERRUPT_INJECT from the primary always returns 0")
class _InjectZero(Core):
    def inject_result(self, vm: Vm, first: bool) -> int:
        return 0


@mutant("inject_returns_1", "WAIT-4", "INTERRUPT_INJECT from the primary returns 1 for every valid injection")
class _InjectOne(Core):
    def inject_result(self, vm: Vm, first: bool) -> int:
        return 1 if vm.id == abi.HF_PRIMARY_VM_ID else 0


@mutant("inject_cross_vm_allowed", "WAIT-4", "a secondary may inject into another VM")
class _InjectCross(Core):
    def inject_allowed(self, vm: Vm, target_id: int, idx: int, intid: int) -> bool:
        return super().inject_allowed(self.vms[abi.HF_PRIMARY_VM_ID], target_id, idx, intid)


@mutant("inject_absent_vcpu_accepted", "WAIT-4", "INTERRUPT_INJECT into an absent vCPU index returns 0")
class _InjectAbsentVcpu(Core):
    def _interrupt_inject(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        target_id, idx, intid = x1 & U32, x2 & U32, x3 & U32
        if target_id < len(self.vms) and idx >= len(self.vms[target_id].vcpus) and self.intid_valid(intid):
            return Answer(0)
        return super()._interrupt_inject(vm, vcpu, x1, x2, x3)


# =============================================================================================
# The first profile's whole core behind this profile's interface
# =============================================================================================


@mutant(
    "core_2018_10",
    ", ".join(f"ID-{n}" for n in range(1, 15)),
    "a real hafnium-2018-10 build: the first profile's whole reference core (numbering, codes, rules)",
)
class _Core2018(Core):
    """This profile's Core in name only (so the build claims ``hafnium-2019-03``): every trap is
    answered by ``profiles.hafnium_2018_10.core.Core``; ``wfe`` is the CPU's no-op there."""

    def __init__(self, vms: Sequence[VmLayout], platform: Platform) -> None:
        super().__init__(vms, platform)
        from profiles.hafnium_2018_10.core import Core as Core2018

        self.old = Core2018(vms, platform)

    def first(self) -> Vcpu:
        return self.old.first()  # type: ignore[return-value]

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> VcpuState:
        return self.old.vcpu_state(vm_id, vcpu_idx)  # type: ignore[return-value]

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        return self.old.hypercall(vm_id, vcpu_idx, x0, x1, x2, x3)

    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return self.old.smc(vm_id, vcpu_idx, x0)

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.old.preempted(vm_id, vcpu_idx)

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.old.wait_for_interrupt(vm_id, vcpu_idx)

    def wait_for_event(self, vm_id: int, vcpu_idx: int) -> Answer | None:
        return None

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self.old.aborted(vm_id, vcpu_idx)


@mutant("wfe_as_wfi", "RUN-6", "a secondary's wfe is treated as wfi (WAIT_FOR_INTERRUPT, the vCPU blocks)")
class _WfeAsWfi(Core):
    def wait_for_event(self, vm_id: int, vcpu_idx: int) -> Answer | None:
        if vm_id == abi.HF_PRIMARY_VM_ID:
            return None
        return self.wait_for_interrupt(vm_id, vcpu_idx)
