"""Deliberately wrong builds of ``ffa-1.1-indirect``: the reference with exactly one deviation each.

The self-test (``python -m conformance.selftest --profile ffa-1.1-indirect``) runs the suite
against every build in :data:`CATALOGUE` (first the tests of its declared clauses, the whole suite
if it survives them) and expects each to FAIL a MUST clause; a mutant that passes shows a gap in
the suite. Every mutant is a build usable on its own::

    hfconform --profile ffa-1.1-indirect --hv profiles.ffa_1_1_indirect.mutants:send2_accepts_4097

Each is registered with ``@mutant(name, clauses, description)`` next to the clause it breaks:

* ABI-level mutants are small subclasses of the profile's :class:`~profiles.ffa_1_1_indirect.core.Core`
  overriding one of its named steps (``header_size``, ``deliver``, ``release_allowed`` ...). Where the
  core checks inline (FFA_MSG_SEND2's SEND-1..SEND-13, one method), :class:`_Send2Steps` below
  restates that method once with one predicate per check, so that each mutant still overrides one
  step (its equivalence with the core: the control ``send2_steps_restated``).
* machine-level mutants (registers after a return) install interceptors on the booted system
  (:meth:`reference_hv.system.System.intercept`); ``System`` is never subclassed.

Neighbouring revisions as wrong builds: ``send2_as_v1_0_msg_send`` (FF-A v1.0 FFA_MSG_SEND
semantics where FFA_MSG_SEND2 is due), ``send2_offset_ignored_4056`` and ``send2_offset_exactly_20``
(the 2022-2024 revisions of §14 D12), ``header_size_v1_2`` (v1.2's 40-byte header for a v1.1 sender).

:data:`CONTROLS` are builds that must NOT fail the suite: for every DEVIATION clause (§14) the
specification's behaviour instead of Hafnium's (the reference itself is Hafnium's). A suite run
against one reports its clause as a DEVIATION and passes every MUST clause; the self-test runs
them as controls (a control that fails a MUST clause stops the self-test: a test would then fail
an FF-A implementation that follows the specification).

Left out, because no test through the build protocol can observe them:

* SEND-14 (D10) "the limit from the mailbox size": with the one-page buffers of this profile (§17)
  the build constant and the mailbox size are both 4096, so the specification's build is the
  reference itself.
* NOTIF-5 (D5) "the advertised interrupts signal pending notifications": interrupt delivery is
  outside this profile (§17); the control ``spec_notification_interrupts_not_advertised`` takes
  the other consistent choice (no NPI/SRI advertised, FEAT-6).
* *x0[63:32] of an SMC32 call not ignored* (CONV-1): the text does not say what the upper half of
  x0 does (SMCCC's "W0 holds the function ID" is not cited); CONV-8 covers the arguments only.
* *the version word's major read from bits 23..16* (ID-4): every request it reads differently is
  one the reference cannot serve, which VER-3 (D1) lets a build answer with its own version -- what
  the wrong reading answers too. ID-4's observable part, bit 31 MBZ, is ``version_mbz_unchecked``.
* *FFA_FEATURES(FFA_RXTX_MAP_64) advertising 64 KiB buffers* (FEAT-4): bits 1:0 are the
  implementation's (MAP-2), and accepting smaller buffers than the advertised minimum breaks no rule.
* *the indirect-messaging and notification property bits swapped* (PIG-6): which partitions set
  either bit is implementation-defined (PIG-4), so no MUST check can tell the bits apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from profiles.ffa_1_1_indirect import abi
from profiles.ffa_1_1_indirect.core import (
    BUSY,
    DENIED,
    INVALID_PARAMETERS,
    NOT_SUPPORTED,
    SUCCESS,
    U16,
    U32,
    Args,
    Core,
    Mailbox,
    Vcpu,
    VcpuState,
    Vm,
    answer,
)
from reference_hv.catalogue import Catalogue, MutantBuild
from reference_hv.core_api import Answer
from reference_hv.machine import X_REGS
from reference_hv.system import Return, System

_CATALOGUE = Catalogue(Core)
#: Every mutant by name; also module attributes (``--hv profiles.ffa_1_1_indirect.mutants:NAME``).
CATALOGUE: dict[str, MutantBuild] = _CATALOGUE.mutants
#: Builds that must pass every MUST clause: the specification's side of each DEVIATION clause.
CONTROLS: dict[str, MutantBuild] = _CATALOGUE.controls
mutant = _CATALOGUE.mutant
control = _CATALOGUE.control


def __getattr__(name: str) -> MutantBuild:
    return _CATALOGUE.lookup(__name__, name)


# =============================================================================================
# Helpers
# =============================================================================================


def _zero_regs(first: int, last: int) -> Callable[[Return], None]:
    """A "return" interceptor: x<first>..x<last> are 0 after every return to a vCPU."""

    def after(ret: Return) -> None:
        for n in range(first, last + 1):
            ret.machine.set_reg(X_REGS[n], 0)

    return after


class _Send2Steps(Core):
    """FFA_MSG_SEND2 (§9) restated with one predicate per check, in the core's order (SEND-1..13).

    The core checks inline; the mutants of SEND-1, -3, -4, -5, -7, -12 override one predicate here.
    Not a mutant: it registers as the control ``send2_steps_restated``.
    """

    def sender_field_ok(self, w1: int) -> bool:  # SEND-1
        return not w1 & abi.MSG_SEND2_SENDER_MASK

    def header_sender_ok(self, vm: Vm, h: abi.Header) -> bool:  # SEND-3
        return h.sender == vm.id

    def not_to_self(self, h: abi.Header) -> bool:  # SEND-4
        return h.receiver != h.sender

    def flags_ok(self, w2: int) -> bool:  # SEND-5
        return w2 == 0

    def lookup(self, receiver: int) -> Vm | None:  # SEND-7
        return self.by_id.get(receiver)

    def receiver_missing(self) -> Answer:  # SEND-7
        return INVALID_PARAMETERS

    def no_tx(self) -> Answer:  # SEND-2
        return DENIED

    def receiver_busy(self) -> Answer:  # SEND-9
        return BUSY

    def version_ok(self, vm: Vm) -> bool:  # SEND-10
        return vm.version >= abi.FFA_VERSION_1_1

    def offset_ok(self, vm: Vm, h: abi.Header) -> bool:  # SEND-11
        return h.offset >= self.header_size(vm.version)

    def end(self, h: abi.Header) -> int:  # SEND-12
        return h.offset + h.size

    def size_ok(self, h: abi.Header, end: int) -> bool:  # SEND-13
        return end <= self.max_message()

    def sent(self, vm: Vm, vcpu: Vcpu, to: Vm) -> Answer:  # SEND-16, SEND-18
        return SUCCESS

    def _msg_send2(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        w1, w2 = args[1] & U32, args[2] & U32
        if not self.sender_field_ok(w1):
            return INVALID_PARAMETERS  # SEND-1
        if vm.tx is None:
            return self.no_tx()  # SEND-2
        h = self.read_header(vm)
        if not self.header_sender_ok(vm, h):
            return INVALID_PARAMETERS  # SEND-3
        if not self.not_to_self(h):
            return INVALID_PARAMETERS  # SEND-4
        if not self.flags_ok(w2):
            return INVALID_PARAMETERS  # SEND-5
        if h.receiver & abi.FFA_ID_SP_BIT:
            return self.forwarded(vm)  # SEND-6
        to = self.lookup(h.receiver)
        if to is None:
            return self.receiver_missing()  # SEND-7
        if not self.pair_allowed(vm, to):
            return DENIED  # SEND-8
        if not self.rx_free(to):
            return self.receiver_busy()  # SEND-9
        if not self.version_ok(vm):
            return NOT_SUPPORTED  # SEND-10
        if not self.offset_ok(vm, h):
            return INVALID_PARAMETERS  # SEND-11
        end = self.end(h)
        if end > U32:
            return INVALID_PARAMETERS  # SEND-12
        if not self.size_ok(h, end):
            return INVALID_PARAMETERS  # SEND-13
        self.deliver(vm, to, end)
        to.mailbox = Mailbox.FULL  # SEND-16
        self.notify_rx_full(to)  # SEND-17
        return self.sent(vm, vcpu, to)


class _Deliver(_Send2Steps):
    """For mutants that let through what the reference refuses: the copy stays within the buffer."""

    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, max(0, min(end, abi.PAGE_SIZE * abi.HAFNIUM_RXTX_MAX_PAGE_COUNT)))


# =============================================================================================
# §1 Calling convention (CONV)
# =============================================================================================


@mutant(
    "smc64_arguments_truncated", "CONV-1, MAP-4", "FFA_RXTX_MAP_64 reads its addresses from w1, w2 (an SMC64 call on w registers)"
)
class _Smc64Truncated(Core):
    def _rxtx_map(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._rxtx_map(vm, vcpu, (args[0], args[1] & U32, args[2] & U32, *args[3:]))


@mutant("success_64_as_32", "CONV-3", "FFA_NOTIFICATION_INFO_GET_64 answers FFA_SUCCESS_32 (0x84000061), not FFA_SUCCESS_64")
class _Success64As32(Core):
    def _notification_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._notification_info_get(vm, vcpu, args)
        return got._replace(ret=abi.FFA_SUCCESS_32) if got.ret == abi.FFA_SUCCESS_64 else got


@mutant("error_in_w1", "CONV-3", "FFA_ERROR carries its code in w1, not w2")
class _ErrorInW1(Core):
    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        got = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
        if got.ret == abi.FFA_ERROR_32 and got.regs is not None:
            return got._replace(regs=(got.regs[1], 0, *got.regs[2:]))
        return got


@mutant("error_code_sign_extended", "CONV-4", "x2 of FFA_ERROR holds the code sign-extended (0xFFFFFFFFFFFFFFFE for -2)")
class _ErrorSignExtended(Core):
    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        got = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
        if got.ret == abi.FFA_ERROR_32 and got.regs is not None:
            return got._replace(regs=(got.regs[0], got.regs[1] | 0xFFFF_FFFF_0000_0000, *got.regs[2:]))
        return got


@mutant(
    "busy_denied_swapped",
    "CONV-4, MAP-1, PIG-5, SEND-2, SEND-9, REL-2, RUN-1",
    "the codes of BUSY (-4) and DENIED (-6) are swapped",
)
class _BusyDeniedSwapped(Core):
    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        got = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
        if got.ret == abi.FFA_ERROR_32 and got.regs is not None and got.regs[1] in (abi.FFA_BUSY, abi.FFA_DENIED):
            code = abi.FFA_DENIED if got.regs[1] == abi.FFA_BUSY else abi.FFA_BUSY
            return got._replace(regs=(got.regs[0], code, *got.regs[2:]))
        return got


@mutant("x8_x17_zeroed", "CONV-5", "every return to a vCPU zeroes x8..x17 (the 2018 hypercall convention)")
def _x8_x17_zeroed(system: System) -> None:
    system.intercept("return", after=_zero_regs(8, 17))


@mutant("error_x3_not_zero", "CONV-5", "an FFA_ERROR result leaves the caller's x3 in x3 (an unassigned register not 0)")
class _ErrorX3Kept(Core):
    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        got = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
        if got.ret == abi.FFA_ERROR_32 and got.regs is not None:
            return got._replace(regs=(got.regs[0], got.regs[1], x3, *got.regs[3:]))
        return got


@mutant("success_x1_caller_id", "CONV-5", "an FFA_SUCCESS_32 result carries the caller's ID in x1 (unassigned)")
class _SuccessX1(Core):
    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        got = super().hypercall(vm_id, vcpu_idx, x0, x1, x2, x3, x4, x5, x6, x7)
        if got.ret == abi.FFA_SUCCESS_32 and got.regs is not None:
            return got._replace(regs=(self.vms[vm_id].id, *got.regs[1:]))
        return got


@mutant(
    "smc64_forms_accepted", "CONV-7", "the 0xC4... form of an SMC32-only interface is handled as the interface (bit 30 ignored)"
)
class _Smc64Forms(Core):
    def function(self, x0: int) -> int:
        func = super().function(x0)
        return func & ~abi.SMC64_BIT if func & ~abi.SMC64_BIT in abi.SMC32_ONLY else func

    def function_features(self, vm: Vm, func: int) -> int | None:
        return super().function_features(vm, self.function(func))


# =============================================================================================
# §2 Identifiers (ID)
# =============================================================================================


@mutant("release_unmap_swapped", "ID-1, REL-1, REL-2, PIG-5, MAP-6", "FFA_RX_RELEASE is 0x84000067 and FFA_RXTX_UNMAP 0x84000065")
class _ReleaseUnmapSwapped(Core):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._calls[abi.FFA_RX_RELEASE], self._calls[abi.FFA_RXTX_UNMAP] = self._rxtx_unmap, self._rx_release


@mutant("msg_send2_0x84000087", "ID-1, FEAT-2", "FFA_MSG_SEND2 is 0x84000087 (0x84000086 is not handled)")
class _Send2Renumbered(Core):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._calls[0x84000087] = self._calls.pop(abi.FFA_MSG_SEND2)
        self.FEATURES_ALL = (self.FEATURES_ALL - {abi.FFA_MSG_SEND2}) | {0x84000087}


@mutant("sp_bit_ignored", "ID-2", "a receiver ID with bit 15 set is looked up among the VMs without it (0x8002 is VM 2)")
class _SpBitIgnored(Core):
    def read_header(self, vm: Vm) -> abi.Header:
        h = super().read_header(vm)
        return h._replace(receiver=h.receiver & ~abi.FFA_ID_SP_BIT)


# =============================================================================================
# §3 FFA_VERSION (VER)
# =============================================================================================


@mutant("version_echoes_request", "VER-1", "a compatible FFA_VERSION returns the requested version, not the callee's")
class _VersionEcho(Core):
    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._version(vm, vcpu, args)
        return got._replace(ret=args[1] & U32) if got.ret == abi.HAFNIUM_VERSION else got


@mutant("version_wrapped_in_success", "VER-1", "FFA_VERSION answers FFA_SUCCESS_32 with the version in w2")
class _VersionWrapped(Core):
    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._version(vm, vcpu, args)
        return answer(abi.success(got.ret or 0)) if got.ret == abi.HAFNIUM_VERSION else got


@mutant("version_mbz_unchecked", "VER-2, ID-4", "FFA_VERSION ignores bit 31 of the request (0x80010001 is v1.1)")
class _VersionMbz(Core):
    def version_valid(self, requested: int) -> bool:
        return True

    def compatible(self, requested: int) -> bool:
        return super().compatible(requested & ~abi.FFA_VERSION_MBZ_BIT)


@mutant("version_not_supported_minus_1", "VER-2, VER-3", "FFA_VERSION's NOT_SUPPORTED is x0 = -1 (all 64 bits), not 0xFFFFFFFF")
class _VersionMinus1(Core):
    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._version(vm, vcpu, args)
        return got._replace(ret=abi.SMCCC_ERROR_UNKNOWN) if got.ret == abi.FFA_VERSION_NOT_SUPPORTED else got


@mutant("negotiation_never_ends", "VER-4", "every FFA_VERSION replaces the negotiated version, whatever calls came before")
class _NegotiationNeverEnds(Core):
    def end_negotiation(self, vm: Vm, func: int) -> None:
        pass


@mutant(
    "negotiation_ends_at_version", "VER-4, VER-1", "the first FFA_VERSION ends negotiation (a later request cannot replace it)"
)
class _NegotiationEndsAtVersion(Core):
    def end_negotiation(self, vm: Vm, func: int) -> None:
        if func != abi.FFA_VERSION:
            vm.negotiated = True

    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._version(vm, vcpu, args)
        if got.ret == abi.HAFNIUM_VERSION:
            vm.negotiated = True
        return got


@mutant(
    "negotiated_version_ignored",
    "VER-4, VER-5",
    "a request replaces the version only until a v1.1 one: the last one wins even after FFA_ID_GET",
)
class _NegotiatedIgnored(Core):
    def locked_version_answer(self, vm: Vm, requested: int) -> int:
        if self.compatible(requested):
            vm.version = requested
            return abi.HAFNIUM_VERSION
        return abi.FFA_VERSION_NOT_SUPPORTED


# =============================================================================================
# §4 FFA_ID_GET, §5 FFA_FEATURES
# =============================================================================================


@mutant("id_get_index", "IDG-1", "FFA_ID_GET returns the VM's index (primary 0), not its partition ID")
class _IdGetIndex(Core):
    def _id_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return answer(abi.success(vm.index))


@mutant("id_get_in_w1", "IDG-1", "FFA_ID_GET returns the ID in w1, not w2")
class _IdGetW1(Core):
    def _id_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return answer(abi.success(x1=vm.id))


@mutant("features_unknown_success", "FEAT-1", "FFA_FEATURES answers SUCCESS for any function ID")
class _FeaturesAll(Core):
    def function_features(self, vm: Vm, func: int) -> int | None:
        got = super().function_features(vm, func)
        return 0 if got is None else got


@mutant("features_no_send2", "FEAT-2", "FFA_FEATURES(FFA_MSG_SEND2) answers NOT_SUPPORTED")
class _FeaturesNoSend2(Core):
    FEATURES_ALL = Core.FEATURES_ALL - {abi.FFA_MSG_SEND2}


@mutant("features_send2_properties", "FEAT-2", "FFA_FEATURES(FFA_MSG_SEND2) answers SUCCESS with w2 = 1")
class _FeaturesSend2W2(Core):
    def function_features(self, vm: Vm, func: int) -> int | None:
        return 1 if func == abi.FFA_MSG_SEND2 else super().function_features(vm, func)


@mutant("features_no_run", "FEAT-3", "FFA_FEATURES(FFA_RUN) answers NOT_SUPPORTED to the primary")
class _FeaturesNoRun(Core):
    FEATURES_ALL = Core.FEATURES_ALL - {abi.FFA_RUN}


@mutant("features_no_error_success", "FEAT-3", "FFA_FEATURES(FFA_ERROR_32) and (FFA_SUCCESS_32) answer NOT_SUPPORTED")
class _FeaturesNoErrSucc(Core):
    FEATURES_ALL = Core.FEATURES_ALL - {abi.FFA_ERROR_32, abi.FFA_SUCCESS_32}


@mutant(
    "features_rxtx_page_count_v1_1",
    "FEAT-4, VER-5",
    "FFA_FEATURES(FFA_RXTX_MAP_64) gives a v1.1 caller v1.2's max page count (1) in w2[31:16]",
)
class _FeaturesPageCount(Core):
    def function_features(self, vm: Vm, func: int) -> int | None:
        got = super().function_features(vm, func)
        return got | 1 << 16 if func == abi.FFA_RXTX_MAP_64 and got is not None else got


@mutant("features_rxtx_echoes_input", "FEAT-4", "FFA_FEATURES(FFA_RXTX_MAP_64) returns its input w2 as w2")
class _FeaturesEcho(Core):
    def _features(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if args[1] & U32 == abi.FFA_RXTX_MAP_64:
            return answer(abi.success(args[2] & U32))
        return super()._features(vm, vcpu, args)


# =============================================================================================
# §6 FFA_RXTX_MAP / UNMAP (MAP)
# =============================================================================================


@mutant("map_twice_replaces", "MAP-1", "a second FFA_RXTX_MAP while a pair is registered replaces it (SUCCESS)")
class _MapTwice(Core):
    def may_map(self, vm: Vm) -> bool:
        if vm.rx is not None:
            self.protect_rx(vm, vm.rx, writable=True)
        return True


@mutant("map_twice_invalid", "MAP-1", "a second FFA_RXTX_MAP answers INVALID_PARAMETERS, not DENIED")
class _MapTwiceInvalid(Core):
    def _rxtx_map(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return INVALID_PARAMETERS if vm.tx is not None else super()._rxtx_map(vm, vcpu, args)


@mutant("map_not_owned", "MAP-4", "FFA_RXTX_MAP accepts pages outside the caller's memory (registers nothing it can use)")
class _MapNotOwned(Core):
    def owned(self, vm: Vm, addr: int, size: int) -> bool:
        return True

    def protect_rx(self, vm: Vm, rx: int, *, writable: bool) -> None:
        if vm.owns(rx, abi.PAGE_SIZE):
            super().protect_rx(vm, rx, writable=writable)

    def rx_free(self, vm: Vm) -> bool:
        return super().rx_free(vm) and vm.rx is not None and vm.owns(vm.rx, abi.PAGE_SIZE)

    def read_header(self, vm: Vm) -> abi.Header:
        if vm.tx is not None and not vm.owns(vm.tx, abi.PAGE_SIZE):
            return abi.parse_header(bytes(20))
        return super().read_header(vm)


@mutant("unmap_id_unchecked", "MAP-6", "FFA_RXTX_UNMAP ignores w1[31:16]")
class _UnmapIdUnchecked(Core):
    def _rxtx_unmap(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._rxtx_unmap(vm, vcpu, (args[0], 0, *args[2:]))


@mutant("unmap_idempotent", "MAP-6", "FFA_RXTX_UNMAP with no pair registered answers SUCCESS")
class _UnmapIdempotent(Core):
    def _rxtx_unmap(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.tx is None and not args[1] & abi.RXTX_UNMAP_ID_MASK:
            return SUCCESS
        return super()._rxtx_unmap(vm, vcpu, args)


@mutant("unmap_keeps_pair", "MAP-6", "FFA_RXTX_UNMAP answers SUCCESS but the pair stays registered (a new map is DENIED)")
class _UnmapKeeps(Core):
    def _rxtx_unmap(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if args[1] & abi.RXTX_UNMAP_ID_MASK:
            return INVALID_PARAMETERS
        return INVALID_PARAMETERS if vm.tx is None else SUCCESS


# =============================================================================================
# §7 FFA_PARTITION_INFO_GET (PIG)
# =============================================================================================


@mutant("pig_uuid_ignored", "PIG-1", "FFA_PARTITION_INFO_GET ignores the UUID (any UUID lists every partition)")
class _PigUuidIgnored(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._partition_info_get(vm, vcpu, (args[0], 0, 0, 0, 0, *args[5:]))


@mutant("pig_lists_primary", "PIG-1", "the Nil UUID lists the primary too (it has no FF-A partition manifest)")
class _PigListsPrimary(Core):
    def listed(self) -> list[Vm]:
        return list(self.vms)


@mutant("pig_flags_unchecked", "PIG-2", "FFA_PARTITION_INFO_GET ignores w5 bits 31:1")
class _PigFlags(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._partition_info_get(vm, vcpu, (*args[:5], args[5] & 1, *args[6:]))


@mutant("pig_count_needs_rx", "PIG-2", "the count-only call needs a free RX buffer too (BUSY while it is full)")
class _PigCountNeedsRx(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if args[5] & U32 == abi.FFA_PARTITION_COUNT_FLAG and not any(a & U32 for a in args[1:5]) and not self.rx_free(vm):
            return BUSY
        return super()._partition_info_get(vm, vcpu, args)


@mutant("pig_count_no_w3", "PIG-2", "the descriptor call gives the count in w2 but no descriptor size in w3")
class _PigNoW3(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._partition_info_get(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32 and got.regs is not None and not args[5] & 1:
            return got._replace(regs=(got.regs[0], got.regs[1], 0, *got.regs[3:]))
        return got


@mutant("pig_rx_not_owned", "PIG-5", "writing descriptors leaves the caller's RX buffer free (no BUSY, release DENIED)")
class _PigRxNotOwned(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._partition_info_get(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32 and not args[5] & 1:
            vm.mailbox = Mailbox.EMPTY
        return got


@mutant("pig_id_contexts_swapped", "PIG-6", "a descriptor holds the execution-context count @0 and the ID @2")
class _PigSwapped(Core):
    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._partition_info_get(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32 and got.regs is not None and not args[5] & 1 and vm.rx is not None:
            count, size = got.regs[1], got.regs[2]
            data = bytearray(self.platform.read(vm.index, vm.rx, count * size))
            for i in range(count):
                o = i * size
                data[o : o + 2], data[o + 2 : o + 4] = data[o + 2 : o + 4], data[o : o + 2]
            self.platform.write(vm.index, vm.rx, bytes(data))
        return got


@mutant("pig_reserved_bits_v1_2", "PIG-6", "a v1.1 caller's descriptors carry v1.2 property bits 31:11 (bit 11 set)")
class _PigReserved(Core):
    def properties(self, vm: Vm) -> int:
        return super().properties(vm) | 1 << 11


# =============================================================================================
# §8 Message header (HDR)
# =============================================================================================


@mutant("header_flags_cleared", "HDR-1, SEND-16", "delivery zeroes the header's flags word @0 (not verbatim)")
class _HeaderFlagsCleared(Core):
    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, end)
        assert to.rx is not None
        self.platform.write(to.index, to.rx + abi.HDR_FLAGS, bytes(4))


@mutant("header_reserved_cleared", "HDR-2, SEND-16", "delivery zeroes the header's reserved word @4 (not verbatim)")
class _HeaderReservedCleared(Core):
    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, end)
        assert to.rx is not None
        self.platform.write(to.index, to.rx + abi.HDR_RESERVED, bytes(4))


@mutant("header_offset_size_swapped", "HDR-3, HDR-5, SEND-16", "the header is read with size @8 and offset @16")
class _HeaderOffsetSize(_Deliver):
    def read_header(self, vm: Vm) -> abi.Header:
        h = super().read_header(vm)
        return h._replace(offset=h.size, size=h.offset)


@mutant(
    "header_ids_swapped", "HDR-4, SEND-16", "the header's word @12 is read with the sender in bits 15:0 and the receiver in 31:16"
)
class _HeaderIdsSwapped(_Deliver):
    def read_header(self, vm: Vm) -> abi.Header:
        h = super().read_header(vm)
        return h._replace(sender=h.receiver, receiver=h.sender)


@mutant(
    "header_size_v1_2",
    "HDR-6, HDR-7, SEND-11, VER-5",
    "v1.2's 40-byte header for a v1.1 sender: an offset below 40 is INVALID_PARAMETERS",
)
class _HeaderV12(Core):
    def header_size(self, version: int) -> int:
        return abi.FFA_RXTX_HEADER_SIZE_V1_2


@mutant("header_size_16", "HDR-7, SEND-11", "a 16-byte header: offsets 16..19 are accepted")
class _Header16(Core):
    def header_size(self, version: int) -> int:
        return 16 if version < abi.FFA_VERSION_1_2 else abi.FFA_RXTX_HEADER_SIZE_V1_2


# =============================================================================================
# §9 FFA_MSG_SEND2 (SEND)
# =============================================================================================


@mutant("send2_sender_field_ignored", "SEND-1", "FFA_MSG_SEND2 ignores w1[31:16] at the virtual instance")
class _Send2W1(_Send2Steps):
    def sender_field_ok(self, w1: int) -> bool:
        return True


@mutant("send2_no_tx_invalid", "SEND-2", "FFA_MSG_SEND2 with no TX buffer mapped answers INVALID_PARAMETERS, not DENIED")
class _Send2NoTx(_Send2Steps):
    def no_tx(self) -> Answer:
        return INVALID_PARAMETERS


@mutant(
    "send2_sender_unchecked", "SEND-3", "the header's sender ID is not checked against the caller (a forged sender is delivered)"
)
class _Send2Sender(_Send2Steps):
    def header_sender_ok(self, vm: Vm, h: abi.Header) -> bool:
        return True


@mutant("send2_to_self", "SEND-4", "a partition may send to itself")
class _Send2Self(_Send2Steps):
    def not_to_self(self, h: abi.Header) -> bool:
        return True


@mutant("send2_flags_unchecked", "SEND-5", "FFA_MSG_SEND2 ignores w2 (flags) from a VM")
class _Send2Flags(_Send2Steps):
    def flags_ok(self, w2: int) -> bool:
        return True


@mutant("send2_delay_sri_for_vms", "SEND-5", "a VM may set w2 bit 1 (delay SRI, an SP sender's flag)")
class _Send2DelaySri(_Send2Steps):
    def flags_ok(self, w2: int) -> bool:
        return w2 & ~abi.MSG_SEND2_FLAG_DELAY_SRI == 0


@mutant("send2_unknown_receiver_busy", "SEND-7", "an unknown receiver ID answers BUSY, not INVALID_PARAMETERS")
class _Send2UnknownBusy(_Send2Steps):
    def receiver_missing(self) -> Answer:
        return BUSY


@mutant("send2_to_hypervisor_id", "SEND-7", "receiver 0 (the hypervisor's ID) is the primary")
class _Send2ToZero(_Send2Steps):
    def lookup(self, receiver: int) -> Vm | None:
        return self.vms[0] if receiver == 0 else super().lookup(receiver)


@mutant("send2_overwrites_full", "SEND-9, PIG-5", "a message to a full RX buffer overwrites it (SUCCESS)")
class _Send2Overwrite(_Send2Steps):
    def rx_free(self, vm: Vm) -> bool:
        return vm.rx is not None


@mutant("send2_unmapped_rx_invalid", "SEND-9", "a receiver with no RX buffer mapped answers INVALID_PARAMETERS, not BUSY")
class _Send2Unmapped(_Send2Steps):
    def _msg_send2(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._msg_send2(vm, vcpu, args)
        if got.regs is not None and got.regs[1] == abi.FFA_BUSY and vm.tx is not None:
            to = self.lookup(self.read_header(vm).receiver)
            if to is not None and to.rx is None:
                return INVALID_PARAMETERS
        return got


@mutant("send2_busy_as_denied", "SEND-9, PIG-5", "a full receiver answers DENIED, not BUSY")
class _Send2BusyDenied(_Send2Steps):
    def receiver_busy(self) -> Answer:
        return DENIED


@mutant("send2_v1_0_delivered", "SEND-10", "a sender that negotiated v1.0 has its message delivered")
class _Send2V10(_Deliver):
    def version_ok(self, vm: Vm) -> bool:
        return True


@mutant(
    "send2_offset_ignored_4056",
    "SEND-11, SEND-13",
    "D12, 25053ee9..37b75119^: the offset is not checked, the payload limit is 4056 bytes",
)
class _Send2Offset4056(_Deliver):
    def offset_ok(self, vm: Vm, h: abi.Header) -> bool:
        return True

    def size_ok(self, h: abi.Header, end: int) -> bool:
        return h.size <= 4056


@mutant(
    "send2_offset_exactly_20",
    "SEND-11",
    "D12, 37b75119..a78337f6^: the offset must be exactly 20 (a gap after the header is refused)",
)
class _Send2Offset20(_Send2Steps):
    def offset_ok(self, vm: Vm, h: abi.Header) -> bool:
        return h.offset == self.header_size(vm.version)


@mutant("send2_offset_size_wraps", "SEND-12", "offset + size is computed modulo 2^32 (no overflow check)")
class _Send2Wraps(_Deliver):
    def end(self, h: abi.Header) -> int:
        return (h.offset + h.size) & U32


@mutant("send2_accepts_4097", "SEND-13", "off by one: offset + size = 4097 is accepted")
class _Send2Accepts4097(_Deliver):
    def size_ok(self, h: abi.Header, end: int) -> bool:
        return end <= self.max_message() + 1


@mutant("send2_limit_on_payload", "SEND-13", "the limit is applied to size alone, not offset + size")
class _Send2LimitPayload(_Deliver):
    def size_ok(self, h: abi.Header, end: int) -> bool:
        return h.size <= self.max_message()


@mutant("send2_copies_one_short", "SEND-16", "off by one: bytes [0, offset + size - 1) are copied")
class _Send2Short(Core):
    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, max(end - 1, 0))


@mutant(
    "send2_copies_payload_only",
    "SEND-16, HDR-1, HDR-2, HDR-3, HDR-4",
    "the header is not copied: RX holds zeros up to offset, then the payload",
)
class _Send2PayloadOnly(Core):
    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, end)
        assert to.rx is not None
        self.platform.write(to.index, to.rx, bytes(abi.FFA_RXTX_HEADER_SIZE_V1_1))


@mutant(
    "send2_rx_not_full",
    "SEND-16, SEND-9, REL-1",
    "a delivered message leaves the receiver's RX buffer free (a second send overwrites it)",
)
class _Send2NotFull(_Send2Steps):
    def sent(self, vm: Vm, vcpu: Vcpu, to: Vm) -> Answer:
        to.mailbox = Mailbox.EMPTY
        return SUCCESS


@mutant("send2_success_x2_size", "SEND-16, CONV-5", "a successful FFA_MSG_SEND2 returns the size copied in w2")
class _Send2SuccessX2(_Send2Steps):
    def sent(self, vm: Vm, vcpu: Vcpu, to: Vm) -> Answer:
        h = self.read_header(vm)
        return answer(abi.success(h.offset + h.size))


@mutant(
    "send2_no_notification", "SEND-17, NOTIF-1, NOTIF-4", "a delivered message does not make the RX-full notification pending"
)
class _Send2NoNotification(Core):
    def notify_rx_full(self, to: Vm) -> None:
        pass


@mutant(
    "send2_switches_to_primary",
    "SEND-18",
    "a secondary's FFA_MSG_SEND2 switches to the primary (FFA_YIELD) before returning SUCCESS",
)
class _Send2Switches(_Send2Steps):
    def sent(self, vm: Vm, vcpu: Vcpu, to: Vm) -> Answer:
        if vm.index == 0:
            return SUCCESS
        response = (abi.FFA_YIELD, abi.vm_vcpu(vm.id, vcpu.index), 0, 0, 0, 0, 0, 0)
        return self.switch_to_primary(vcpu, VcpuState.READY, abi.success(), response)


@mutant(
    "send2_header_rewritten",
    "SEND-19, SEND-16",
    "delivery rewrites the header to the receiver's version (offset moved to its header size)",
)
class _Send2Rewritten(Core):
    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        super().deliver(vm, to, end)
        assert to.rx is not None
        own = self.header_size(to.version)
        if self.header_size(vm.version) == own:
            return
        h = abi.parse_header(self.platform.read(to.index, to.rx, 20))
        size = min(h.size, abi.PAGE_SIZE - own)
        payload = self.platform.read(to.index, to.rx + h.offset, size) if h.offset + size <= abi.PAGE_SIZE else bytes(size)
        self.platform.write(to.index, to.rx + abi.HDR_OFFSET, own.to_bytes(4, "little"))
        self.platform.write(to.index, to.rx + 20, bytes(abi.PAGE_SIZE - 20))
        self.platform.write(to.index, to.rx + own, payload)


@mutant(
    "send2_as_v1_0_msg_send",
    "SEND-16, HDR-1, HDR-3, HDR-4, WAIT-3, WAIT-6",
    "FF-A v1.0 FFA_MSG_SEND semantics: the payload alone at RX + 0; the receiver's FFA_MSG_WAIT returns"
    " FFA_MSG_SEND (0x8400006E) with sender<<16 | receiver in w1 and the size in w3",
)
class _Send2AsV10(Core):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.last: dict[int, tuple[int, int]] = {}

    def deliver(self, vm: Vm, to: Vm, end: int) -> None:
        assert vm.tx is not None and to.rx is not None
        h = self.read_header(vm)
        self.platform.write(to.index, to.rx, bytes(abi.PAGE_SIZE))
        if h.size:
            self.platform(vm.index, vm.tx + h.offset, to.index, to.rx, h.size)
        self.last[to.index] = (abi.sender_receiver(vm.id, to.id), h.size)

    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._msg_wait(vm, vcpu, args)
        w1, size = self.last.get(vm.index, (0, 0))
        msg = (abi.FFA_MSG_SEND_32, w1, 0, size, 0, 0, 0, 0)
        if got.ret == abi.FFA_RUN:
            return answer(msg)
        if got.next is not None and vcpu.resume_x0 == abi.FFA_RUN:
            self.resume_with(vcpu, msg)
        return got


# =============================================================================================
# §10 Notifications (NOTIF)
# =============================================================================================


@mutant("notif_rx_full_in_w6", "NOTIF-1", "a VM sender's RX-full notification is reported in w6 (SPM framework), not w7")
class _NotifW6(Core):
    def _notification_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._notification_get(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32 and got.regs is not None:
            r = list(got.regs)
            r[5], r[6] = r[6], 0
            return got._replace(regs=tuple(r))
        return got


@mutant(
    "notif_needs_bind",
    "NOTIF-1",
    "the RX-full notification is reported only with flag bit 1 (VM notifications, as if bound), not the framework bits",
)
class _NotifNeedsBind(Core):
    def _notification_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        flags = args[2] & U32
        if flags & abi.FFA_NOTIFICATION_FLAG_VM:
            return super()._notification_get(vm, vcpu, (args[0], args[1], flags | 0xC, *args[3:]))
        return super()._notification_get(vm, vcpu, (args[0], args[1], flags & ~0xC, *args[3:]))


@mutant("notif_get_not_cleared", "NOTIF-2", "FFA_NOTIFICATION_GET reports the RX-full notification but does not clear it")
class _NotifNotCleared(Core):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.retrieved: set[int] = set()  # REL-4 still holds: a retrieved notification allows the release

    def _notification_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        pending = vm.rx_full_pending
        got = super()._notification_get(vm, vcpu, args)
        if pending and got.ret == abi.FFA_SUCCESS_32:
            vm.rx_full_pending = True
            self.retrieved.add(vm.index)
        return got

    def release_allowed(self, vm: Vm) -> bool:
        return vm.index in self.retrieved or super().release_allowed(vm)

    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._rx_release(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32:
            self.retrieved.discard(vm.index)
        return got


@mutant("notif_flags_unchecked", "NOTIF-2", "FFA_NOTIFICATION_GET ignores w2 bits 31:4")
class _NotifFlags(Core):
    def _notification_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._notification_get(vm, vcpu, (args[0], args[1], args[2] & 0xF, *args[3:]))


@mutant(
    "info_get_success_when_empty",
    "NOTIF-4",
    "FFA_NOTIFICATION_INFO_GET_64 with nothing pending answers FFA_SUCCESS_64 with no lists",
)
class _InfoEmpty(Core):
    def _notification_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._notification_info_get(vm, vcpu, args)
        if got.ret == abi.FFA_ERROR_32 and got.regs is not None and got.regs[1] == abi.FFA_NO_DATA:
            return answer(abi.success(wide=True))
        return got


@mutant(
    "info_get_count_low_bits", "NOTIF-4", "FFA_NOTIFICATION_INFO_GET_64 gives the number of ID lists in w2 bits 4:0, not 11:7"
)
class _InfoCountLow(Core):
    def _notification_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._notification_info_get(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_64 and got.regs is not None:
            w2 = got.regs[1]
            lists = w2 >> 7 & 0x1F
            return got._replace(regs=(got.regs[0], (w2 & ~(0x1F << 7)) | lists << 1, *got.regs[2:]))
        return got


@mutant(
    "info_get_misses_receiver",
    "NOTIF-4, SEND-17",
    "FFA_NOTIFICATION_INFO_GET_64 lists no VM with a pending RX-full notification (NO_DATA)",
)
class _InfoMisses(Core):
    def _notification_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index != 0:
            return NOT_SUPPORTED
        return answer(abi.error("NO_DATA"))


# =============================================================================================
# §11 FFA_RX_RELEASE (REL)
# =============================================================================================


@mutant(
    "release_keeps_full",
    "REL-1, REL-5, REL-2",
    "FFA_RX_RELEASE answers SUCCESS but the buffer stays full (the next message gets BUSY)",
)
class _ReleaseKeeps(Core):
    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._rx_release(vm, vcpu, args)
        if got.ret == abi.FFA_SUCCESS_32:
            vm.mailbox = Mailbox.FULL
        return got


@mutant("release_idempotent", "REL-2", "FFA_RX_RELEASE of a buffer the caller does not own answers SUCCESS")
class _ReleaseIdempotent(Core):
    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._rx_release(vm, vcpu, args)
        if got.regs is not None and got.regs[1] == abi.FFA_DENIED and vm.mailbox is not Mailbox.FULL:
            return SUCCESS
        return got


@mutant("release_unmapped_invalid", "REL-2", "FFA_RX_RELEASE with no RX buffer mapped answers INVALID_PARAMETERS, not DENIED")
class _ReleaseUnmapped(Core):
    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.rx is None and not args[1] & U16:
            return INVALID_PARAMETERS
        return super()._rx_release(vm, vcpu, args)


@mutant("release_w1_unchecked", "REL-3", "FFA_RX_RELEASE ignores w1[15:0]")
class _ReleaseW1(Core):
    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return super()._rx_release(vm, vcpu, (args[0], 0, *args[2:]))


# =============================================================================================
# §12 FFA_MSG_WAIT, FFA_RUN (WAIT, RUN)
# =============================================================================================


@mutant("wait_args_unchecked", "WAIT-1", "FFA_MSG_WAIT ignores x1 and x3..x7")
class _WaitArgs(Core):
    def wait_args_ok(self, vm: Vm, args: Args) -> bool:
        return vm.version >= abi.FFA_VERSION_1_2 or args[2] == 0


@mutant("wait_retain_flag_v1_1", "WAIT-1, VER-5", "a v1.1 caller's FFA_MSG_WAIT accepts w2 bit 0 (v1.2's retain-RX flag)")
class _WaitRetain(Core):
    def wait_args_ok(self, vm: Vm, args: Args) -> bool:
        return not (any(args[1:2]) or any(args[3:8])) and args[2] & ~1 == 0


@mutant("wait_keeps_buffer", "WAIT-2", "FFA_MSG_WAIT never relinquishes the RX buffer")
class _WaitKeeps(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        before = vm.mailbox
        got = super()._msg_wait(vm, vcpu, args)
        vm.mailbox = before if vm.mailbox is Mailbox.EMPTY and before is Mailbox.FULL else vm.mailbox
        return got


@mutant(
    "wait_blocks_on_pending",
    "WAIT-3",
    "FFA_MSG_WAIT with a message whose notification is pending waits (switches to the primary)",
)
class _WaitBlocks(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index != 0 and vm.mailbox is Mailbox.FULL and vm.rx_full_pending and self.wait_args_ok(vm, args):
            response = (abi.FFA_MSG_WAIT, abi.vm_vcpu(vm.id, vcpu.index), 0, 0, 0, 0, 0, 0)
            return self.switch_to_primary(vcpu, VcpuState.WAITING, self.run_result(0), response)
        return super()._msg_wait(vm, vcpu, args)


@mutant("wait_pending_returns_success", "WAIT-3", "FFA_MSG_WAIT with a pending message returns FFA_SUCCESS_32, not FFA_RUN_32")
class _WaitSuccess(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._msg_wait(vm, vcpu, args)
        return SUCCESS if got.ret == abi.FFA_RUN else got


@mutant("wait_resumes_with_success", "WAIT-6", "a waiting partition resumes with FFA_SUCCESS_32, not FFA_RUN_32")
class _WaitResumeSuccess(Core):
    def run_result(self, w1: int) -> abi.Result:
        return abi.success() if w1 == 0 else super().run_result(w1)


@mutant(
    "wait_reported_as_yield",
    "WAIT-6, RUN-2",
    "the primary's FFA_RUN of a partition that waits returns FFA_YIELD, not FFA_MSG_WAIT",
)
class _WaitAsYield(Core):
    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: abi.Result | None, response: abi.Result) -> Answer:
        if response[0] == abi.FFA_MSG_WAIT:
            response = (abi.FFA_YIELD, *response[1:])
        return super().switch_to_primary(vcpu, state, resume, response)


@mutant("wait_on_empty_returns", "WAIT-6", "FFA_MSG_WAIT with an empty RX buffer returns FFA_RUN_32 at once (no wait)")
class _WaitNoWait(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index != 0 and vm.mailbox is Mailbox.EMPTY and self.wait_args_ok(vm, args):
            return answer(self.run_result(vm.id))
        return super()._msg_wait(vm, vcpu, args)


@mutant("primary_wait_denied", "WAIT-10", "the primary's FFA_MSG_WAIT answers DENIED, not NOT_SUPPORTED")
class _PrimaryWait(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._msg_wait(vm, vcpu, args)
        return DENIED if got is NOT_SUPPORTED else got


@mutant("secondary_run_invalid", "RUN-1", "a secondary's FFA_RUN answers INVALID_PARAMETERS, not DENIED")
class _SecondaryRun(Core):
    def _run(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return INVALID_PARAMETERS if vm.index != 0 else super()._run(vm, vcpu, args)


@mutant("run_vcpu_modulo", "RUN-1", "FFA_RUN takes the vCPU index modulo the target's vCPU count")
class _RunModulo(Core):
    def _run(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        w1 = args[1] & U32
        target = self.by_id.get(w1 >> 16)
        if target is not None and target.index != 0:
            w1 = (w1 & ~U16) | (w1 & U16) % len(target.vcpus)
        return super()._run(vm, vcpu, (args[0], w1, *args[2:]))


@mutant("run_unknown_id_denied", "RUN-1", "FFA_RUN of an unknown ID or of the primary answers DENIED, not INVALID_PARAMETERS")
class _RunUnknownDenied(Core):
    def _run(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        target = self.by_id.get((args[1] & U32) >> 16)
        if vm.index == 0 and (target is None or target.index == 0):
            return DENIED
        return super()._run(vm, vcpu, args)


@mutant(
    "run_response_w1_no_vcpu",
    "RUN-2, WAIT-6",
    "FFA_RUN's FFA_YIELD / FFA_MSG_WAIT results carry the target ID in w1[15:0], not ID<<16 | vCPU",
)
class _RunW1(Core):
    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: abi.Result | None, response: abi.Result) -> Answer:
        if response[0] in (abi.FFA_YIELD, abi.FFA_MSG_WAIT):
            response = (response[0], response[1] >> 16, *response[2:])
        return super().switch_to_primary(vcpu, state, resume, response)


@mutant("yield_resumes_with_run", "RUN-2", "a partition that yielded resumes with FFA_RUN_32, not FFA_SUCCESS_32")
class _YieldRun(Core):
    def _yield(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._yield(vm, vcpu, args)
        if got.next is not None:
            self.resume_with(vcpu, self.run_result(0))
        return got


@mutant("run_aborted_invalid", "RUN-4", "FFA_RUN of an aborted vCPU answers INVALID_PARAMETERS, not ABORTED")
class _RunAborted(Core):
    def _run(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._run(vm, vcpu, args)
        return INVALID_PARAMETERS if got.regs is not None and got.regs[1] == abi.FFA_ABORTED else got


# =============================================================================================
# Controls: the specification's behaviour for every DEVIATION clause (§14). They must pass.
# =============================================================================================


control(
    "send2_steps_restated",
    "SEND-1",
    "FFA_MSG_SEND2 restated with one predicate per check (the mutants' base): the reference's behaviour",
)(_Send2Steps)


@control(
    "spec_unhandled_hvc_not_supported", "CONV-6", "D3, specification: an unhandled ID by hvc answers FFA_ERROR(NOT_SUPPORTED)"
)
class _SpecUnhandled(Core):
    def unhandled_hvc(self, args: Args) -> Answer:
        return NOT_SUPPORTED


@control("spec_smc32_on_w_registers", "CONV-8", "D13, specification: FFA_MSG_WAIT examines only the w registers of its arguments")
class _SpecWRegisters(Core):
    def wait_args_ok(self, vm: Vm, args: Args) -> bool:
        w = (args[0], args[1] & U32, args[2] & U32, args[3] & U32, args[4] & U32, args[5] & U32, args[6] & U32, args[7] & U32)
        return super().wait_args_ok(vm, w)


@control(
    "spec_version_highest",
    "VER-3",
    "D1, specification (v1.0 rule via ACS-chk): a request the callee cannot serve returns its highest version",
)
class _SpecVersionHighest(Core):
    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        requested = args[1] & U32
        if self.version_valid(requested) and not vm.negotiated and not self.compatible(requested):
            return Answer(abi.HAFNIUM_VERSION, regs=(0, 0, 0, 0, 0, 0, 0))
        return super()._version(vm, vcpu, args)


@control("spec_version_locked", "VER-6", "D2, TF-A's reading: after negotiation every valid request returns the locked version")
class _SpecVersionLocked(Core):
    def locked_version_answer(self, vm: Vm, requested: int) -> int:
        return abi.HAFNIUM_VERSION if requested == vm.version else vm.version


@control(
    "spec_features_msg_send_poll",
    "FEAT-5",
    "D4, specification: FFA_FEATURES answers SUCCESS for FFA_MSG_SEND_32 and FFA_MSG_POLL_32, which are handled",
)
class _SpecFeaturesSendPoll(Core):
    FEATURES_ALL = Core.FEATURES_ALL | {abi.FFA_MSG_SEND_32, abi.FFA_MSG_POLL_32}


@control(
    "spec_notification_interrupts_not_advertised",
    "FEAT-6",
    "D5, the consistent alternative: NPI and SRI, never raised, are not advertised (NOT_SUPPORTED)",
)
class _SpecNoNpiSri(Core):
    FEATURE_IDS = {k: v for k, v in Core.FEATURE_IDS.items() if k not in (abi.FFA_FEATURE_NPI, abi.FFA_FEATURE_SRI)}  # noqa: RUF012


@control("spec_rx_writable", "MAP-5", "D9, specification: the RX buffer stays writable for its owner")
class _SpecRxWritable(Core):
    def protect_rx(self, vm: Vm, rx: int, *, writable: bool) -> None:
        pass


@control("spec_descriptor_24_bytes", "PIG-3", "D8, specification (v1.1 Table 13.34): 24-byte descriptors to a v1.1 caller")
class _SpecDescriptor24(Core):
    def descriptor_size(self, caller: Vm) -> int:
        size = super().descriptor_size(caller)
        return abi.PARTITION_INFO_SIZE_V1_1 if size == abi.HAFNIUM_PARTITION_INFO_SIZE else size


@control(
    "spec_header_flags_mbz", "SEND-15", "D7, specification (ACS-1.1): non-zero header flags or reserved -> INVALID_PARAMETERS"
)
class _SpecFlagsMbz(Core):
    def _msg_send2(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.tx is not None and not args[1] & abi.MSG_SEND2_SENDER_MASK:
            h = self.read_header(vm)
            if (h.flags or h.reserved) and h.sender == vm.id and h.receiver != h.sender and not args[2] & U32:
                return INVALID_PARAMETERS
        return super()._msg_send2(vm, vcpu, args)


@control(
    "spec_v1_0_sender_not_supported", "SEND-22", "D11, specification: a v1.0 sender gets NOT_SUPPORTED before any other check"
)
class _SpecV10First(Core):
    def _msg_send2(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.version < abi.FFA_VERSION_1_1:
            return NOT_SUPPORTED
        return super()._msg_send2(vm, vcpu, args)


@control(
    "spec_release_by_ownership",
    "REL-4, WAIT-5",
    "D6, specification: FFA_RX_RELEASE depends on ownership only (no FFA_NOTIFICATION_GET needed)",
)
class _SpecRelease(Core):
    def release_allowed(self, vm: Vm) -> bool:
        return True


@control(
    "spec_run_w1_id_vcpu",
    "WAIT-7",
    "D14, Hafnium's own comment: the FFA_RUN_32 a waiting partition gets carries ID<<16 | vCPU in w1",
)
class _SpecRunW1(Core):
    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        got = super()._msg_wait(vm, vcpu, args)
        w1 = abi.vm_vcpu(vm.id, vcpu.index)
        if got.ret == abi.FFA_RUN:
            return answer(self.run_result(w1))
        if got.next is not None and vcpu.resume_x0 == abi.FFA_RUN:
            self.resume_with(vcpu, self.run_result(w1))
        return got
