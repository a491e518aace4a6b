"""The ABI core of ``ffa-1.1-indirect``: partitions, vCPUs, RX/TX buffers and the RX-full
notification as state machines, free of any CPU emulator.

Inputs are the trapping vCPU (VM index, vCPU) and its x0..x7 (``CALL_REGISTERS = 8``); the output
is an :class:`~reference_hv.core_api.Answer` as Hafnium's ``api_*`` functions give it: an FF-A
result in x0..x7 for the caller (``Answer(x0, regs=(x1..x7))``: x8..x17 kept, CONV-5), or the
vCPU that runs next. The machine layer (:mod:`reference_hv.system`) does registers, memory and
world switches (the interface: :mod:`reference_hv.core_api`).

Each call is a sequence of small named steps (``version_request``, ``header_sender_ok``,
``rx_free``, ``deliver``, ``release_allowed`` ...), each stating one rule next to the clause of
``spec.md`` it implements, in the text's order where the text gives one (§9: SEND-1..SEND-13).
Where the text leaves a choice to the implementation the core does what Hafnium 21bfbdc1 does,
as the text describes it; where the text says nothing, the choice is named ``(not in the text)``.

Partition IDs (ID-3, Hafnium's values): the VM at index ``i`` of the system is partition
``i + 1`` -- the primary is 1, the secondaries 2, 3, ... in boot order. The primary starts at
version 0 ("v0.0": no FF-A partition manifest, VER-8); a secondary starts at
:attr:`Core.SECONDARY_VERSION` (v1.1, the version the text's receiver declares in its manifest).

The value a vCPU receives when it next runs (x0..x7) is written by :meth:`Core.resume_with` only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from profiles.ffa_1_1_indirect import abi
from reference_hv import core_api
from reference_hv.core_api import Answer, Platform, VmLayout

U16 = 0xFFFF
U32 = 0xFFFF_FFFF
ZERO7 = (0, 0, 0, 0, 0, 0, 0)
Args = tuple[int, int, int, int, int, int, int, int]


class VcpuState(enum.Enum):
    CREATED = "created"  # never run: the first FFA_RUN starts it at its entry point (RUN-5)
    RUNNING = "running"
    READY = "ready"  # preempted (RUN-3) or yielded (RUN-2): resumes where it was
    WAITING = "waiting"  # in FFA_MSG_WAIT (WAIT-6)
    BLOCKED_WFI = "blocked(wfi)"  # executed wfi (RUN-3); no interrupt source is modelled
    OFF = "off"  # no boot context (RUN-5: Hafnium sets no entry point beyond vCPU 0)
    ABORTED = "aborted"  # faulted with fault policy "continue" (RUN-4)


class Mailbox(enum.Enum):
    """The RX buffer of a partition (§13, Hafnium's ``enum mailbox_state``)."""

    EMPTY = "empty"  # owned by the producer: sends allowed
    FULL = "full"  # owned by the partition: a message (SEND-16) or descriptors (PIG-5)


@dataclass(slots=True)
class Vcpu(core_api.Vcpu):
    state: VcpuState = VcpuState.OFF


@dataclass(slots=True)
class Vm:
    index: int
    id: int
    base: int
    size: int
    vcpus: list[Vcpu]
    version: int = 0
    negotiated: bool = False  # VER-4: negotiation has ended
    tx: int | None = None
    rx: int | None = None
    mailbox: Mailbox = Mailbox.EMPTY
    #: The RX-buffer-full framework notification (NOTIF-1): pending until FFA_NOTIFICATION_GET.
    rx_full_pending: bool = False
    #: NOTIF-4: already listed by FFA_NOTIFICATION_INFO_GET_64 since it became pending.
    info_reported: bool = False

    def owns(self, addr: int, size: int) -> bool:
        return self.base <= addr and addr + size <= self.base + self.size


Result = abi.Result
Handler = Callable[[Vm, Vcpu, Args], Answer]


def answer(result: Result) -> Answer:
    """An FF-A result for the caller: x0, and x1..x7 as given (x8..x17 kept, CONV-5)."""
    return Answer(result[0], regs=result[1:])


def _error(name: str) -> Answer:
    return answer(abi.error(name))


NOT_SUPPORTED = _error("NOT_SUPPORTED")
INVALID_PARAMETERS = _error("INVALID_PARAMETERS")
BUSY = _error("BUSY")
DENIED = _error("DENIED")
ABORTED = _error("ABORTED")
NO_DATA = _error("NO_DATA")
SUCCESS = answer(abi.success())

# The states as module constants (the same members), for the hot path: reading a member through
# its Enum class costs ~65 ns in CPython 3.11, a global ~6 ns, and a call reads several.
VCPU_ABORTED = VcpuState.ABORTED
VCPU_BLOCKED_WFI = VcpuState.BLOCKED_WFI
VCPU_CREATED = VcpuState.CREATED
VCPU_OFF = VcpuState.OFF
VCPU_READY = VcpuState.READY
VCPU_RUNNING = VcpuState.RUNNING
VCPU_WAITING = VcpuState.WAITING
MAILBOX_EMPTY = Mailbox.EMPTY
MAILBOX_FULL = Mailbox.FULL


class Core:
    """The hypervisor's FF-A state for one system: index 0 is the primary (partition ID 1)."""

    #: core_api: ``hypercall`` and ``smc`` get x0..x7, answers may carry x1..x7.
    CALL_REGISTERS = 8
    #: VER-8: the version of a secondary that has not called FFA_VERSION (its manifest's, in
    #: Hafnium; the reference's secondaries declare v1.1, like the text's services3).
    SECONDARY_VERSION = abi.FFA_VERSION_1_1
    #: ID-3: the partition ID of the VM at index 0 (then +1 per VM).
    FIRST_ID = abi.HAFNIUM_PRIMARY_VM_ID

    def __init__(self, layout: Sequence[VmLayout], platform: Platform) -> None:
        if not layout:
            raise ValueError("a system needs at least the primary VM")
        if [v.id for v in layout] != list(range(len(layout))):
            raise ValueError("VM indices must be 0..N in order")
        self.vms = [Vm(v.id, self.FIRST_ID + v.id, v.base, v.size, [Vcpu(v.id, i) for i in range(v.vcpus)]) for v in layout]
        self.by_id = {vm.id: vm for vm in self.vms}
        #: The machine layer's services: copy, read and write guest memory, stage-2 protection.
        self.platform = platform
        for vm, v in zip(self.vms, layout, strict=True):
            # RUN-5: the vCPUs with a boot context start CREATED (never run), the rest OFF.
            for vcpu in vm.vcpus[: max(1, v.ready_vcpus)]:
                vcpu.state = VCPU_CREATED
            vm.version = 0 if vm.index == 0 else self.SECONDARY_VERSION  # VER-8
        self._primary_vm = self.vms[0]
        self._primary = self._primary_vm.vcpus[0]  # a switch to the primary resumes its vCPU 0
        self._primary.state = VCPU_RUNNING
        self._to_primary = Answer(None, self._primary)
        self._calls: dict[int, Handler] = {
            abi.FFA_VERSION: self._version,
            abi.FFA_ID_GET: self._id_get,
            abi.FFA_FEATURES: self._features,
            abi.FFA_RXTX_MAP_64: self._rxtx_map,
            abi.FFA_RXTX_UNMAP: self._rxtx_unmap,
            abi.FFA_PARTITION_INFO_GET: self._partition_info_get,
            abi.FFA_MSG_SEND2: self._msg_send2,
            abi.FFA_MSG_WAIT: self._msg_wait,
            abi.FFA_RX_RELEASE: self._rx_release,
            abi.FFA_RUN: self._run,
            abi.FFA_YIELD: self._yield,
            abi.FFA_NOTIFICATION_GET: self._notification_get,
            abi.FFA_NOTIFICATION_INFO_GET_64: self._notification_info_get,
            abi.FFA_CONSOLE_LOG_32: self._console_log,
            abi.FFA_CONSOLE_LOG_64: self._console_log,
        }

    # --- entry points used by the machine layer (reference_hv.core_api.Core) --------------------

    def first(self) -> Vcpu:
        return self._primary

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> VcpuState:
        return self.vms[vm_id].vcpus[vcpu_idx].state

    def function(self, x0: int) -> int:
        """CONV-1, CONV-2: the function ID is w0, bit 16 (the SMCCC SVE hint) cleared."""
        return x0 & U32 & ~abi.SMCCC_SVE_HINT

    def hypercall(
        self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0
    ) -> Answer:
        """An ``hvc`` from (VM index, vCPU) with x0..x7."""
        args = (x0, x1, x2, x3, x4, x5, x6, x7)
        vm = self.vms[vm_id]
        handler = self._calls.get(self.function(x0))
        if handler is None:
            return self.unhandled_hvc(args)  # CONV-6, VER-7: negotiation goes on
        self.end_negotiation(vm, self.function(x0))
        return handler(vm, vm.vcpus[vcpu_idx], args)

    def smc(
        self,
        vm_id: int,
        vcpu_idx: int,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        x4: int = 0,
        x5: int = 0,
        x6: int = 0,
        x7: int = 0,
    ) -> Answer:
        """An ``smc``: every FF-A ID as by ``hvc`` (CONV-2); any other refused (CONV-9)."""
        args = (x0, x1, x2, x3, x4, x5, x6, x7)
        vm = self.vms[vm_id]
        handler = self._calls.get(self.function(x0))
        if handler is None:
            return self.unhandled_smc(args)
        self.end_negotiation(vm, self.function(x0))
        return handler(vm, vm.vcpus[vcpu_idx], args)

    def unhandled_hvc(self, args: Args) -> Answer:  # CONV-6 (D3): every register unchanged
        return Answer(args[0], regs=args[1:])

    def unhandled_smc(self, args: Args) -> Answer:  # CONV-9: x0 = -1, x1..x7 unchanged (no EL3 here)
        return Answer(abi.SMCCC_ERROR_UNKNOWN, regs=args[1:])

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """RUN-3: a time slice ran out: the vCPU stays ready; FFA_INTERRUPT, w1 = ID<<16 | vCPU, w2 = 0."""
        vm = self.vms[vm_id]
        response = (abi.FFA_INTERRUPT, abi.vm_vcpu(vm.id, vcpu_idx), 0, 0, 0, 0, 0, 0)
        return self.switch_to_primary(vm.vcpus[vcpu_idx], VCPU_READY, None, response)

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        """RUN-3: ``wfi``: Hafnium's HF_FFA_RUN_WAIT_FOR_INTERRUPT, w1 = ID<<16 | vCPU, w2 = the
        timer's nanoseconds -- no timer is modelled: w2 = 0 (the value is not in the text)."""
        vm = self.vms[vm_id]
        response = (abi.HF_FFA_RUN_WAIT_FOR_INTERRUPT, abi.vm_vcpu(vm.id, vcpu_idx), 0, 0, 0, 0, 0, 0)
        return self.switch_to_primary(vm.vcpus[vcpu_idx], VCPU_BLOCKED_WFI, None, response)

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        """A secondary faulted (fault policy "continue"): it never runs again (RUN-4); the run that
        faulted returns ERROR(ABORTED) (not in the text: MAP-5 describes Hafnium injecting the fault
        into the VM, which this machine layer does not do)."""
        vm = self.vms[vm_id]
        return self.switch_to_primary(vm.vcpus[vcpu_idx], VCPU_ABORTED, None, abi.error("ABORTED"))

    # --- switching --------------------------------------------------------------------------

    def resume_with(self, vcpu: Vcpu, result: Result | None) -> None:
        """THE writer of pending values: ``vcpu`` receives x0..x7 = ``result`` (x8..x17 kept)
        when it next runs; None: it goes on with its registers as they were."""
        if result is None:
            vcpu.resume_x0, vcpu.resume_regs = None, None
        else:
            vcpu.resume_x0, vcpu.resume_regs = result[0], result[1:]

    def switch_to_primary(self, vcpu: Vcpu, state: VcpuState, resume: Result | None, response: Result) -> Answer:
        """The secondary ``vcpu`` leaves the CPU in ``state``, to receive ``resume`` when it next
        runs; the primary's vCPU 0 runs next and its FFA_RUN returns ``response``."""
        vcpu.state = state
        self.resume_with(vcpu, resume)
        self._primary.state = VCPU_RUNNING
        self.resume_with(self._primary, response)
        return self._to_primary

    # --- version negotiation (VER) ---------------------------------------------------------------

    def end_negotiation(self, vm: Vm, func: int) -> None:  # VER-4, VER-7: any handled call but FFA_VERSION
        if func != abi.FFA_VERSION:
            vm.negotiated = True

    def version_valid(self, requested: int) -> bool:  # VER-2, ID-4: bit 31 MBZ
        return not requested & abi.FFA_VERSION_MBZ_BIT

    def compatible(self, requested: int) -> bool:  # VER-1, VER-3 (D1): same major, minor <= ours
        major, minor = abi.version_parts(requested)
        own_major, own_minor = abi.version_parts(abi.HAFNIUM_VERSION)
        return major == own_major and minor <= own_minor

    def locked_version_answer(self, vm: Vm, requested: int) -> int:  # VER-6 (D2)
        return abi.HAFNIUM_VERSION if requested == vm.version else abi.FFA_VERSION_NOT_SUPPORTED

    def _version(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        requested = args[1] & U32  # CONV-8: x1[63:32] ignored
        if not self.version_valid(requested):
            result = abi.FFA_VERSION_NOT_SUPPORTED  # VER-2
        elif vm.negotiated:
            result = self.locked_version_answer(vm, requested)  # VER-6
        elif self.compatible(requested):
            vm.version = requested  # VER-4: a later request replaces an earlier one
            result = abi.HAFNIUM_VERSION  # VER-1: the callee's own version
        else:
            result = abi.FFA_VERSION_NOT_SUPPORTED  # VER-3
        return Answer(result, regs=ZERO7)  # §3: in w0, not wrapped in FFA_SUCCESS; x1..x7 = 0

    # --- FFA_ID_GET (IDG) ------------------------------------------------------------------------

    def _id_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return answer(abi.success(vm.id))  # IDG-1

    # --- FFA_CONSOLE_LOG (VER-4 names it; its result is not in the text) -------------------------

    def _console_log(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        return SUCCESS

    # --- FFA_FEATURES (FEAT) ---------------------------------------------------------------------

    #: FEAT-2, FEAT-3 and FEAT-5's SUCCESS answers (w2 = 0) to every VM.
    FEATURES_ALL: frozenset[int] = frozenset(
        {
            abi.FFA_ERROR_32,
            abi.FFA_SUCCESS_32,
            abi.FFA_VERSION,
            abi.FFA_FEATURES,
            abi.FFA_RX_RELEASE,
            abi.FFA_RXTX_UNMAP,
            abi.FFA_PARTITION_INFO_GET,
            abi.FFA_ID_GET,
            abi.FFA_RUN,
            abi.FFA_NOTIFICATION_GET,
            abi.FFA_MSG_SEND2,
            abi.FFA_YIELD,
            abi.FFA_MSG_WAIT,
        }
    )
    #: FEAT-5: only to the primary.
    FEATURES_PRIMARY: frozenset[int] = frozenset({abi.FFA_NOTIFICATION_INFO_GET_64})
    #: FEAT-6, FEAT-7: Hafnium's answers to the feature IDs (w2).
    FEATURE_IDS: dict[int, int] = {  # noqa: RUF012 - a table, never changed
        abi.FFA_FEATURE_NPI: abi.HAFNIUM_NPI_INTID,
        abi.FFA_FEATURE_SRI: abi.HAFNIUM_SRI_INTID,
        abi.FFA_FEATURE_MEI: abi.HAFNIUM_MEI_INTID,
        abi.FFA_FEATURE_NOTIFICATION: abi.HAFNIUM_NOTIFICATION_FEATURES,
    }

    def function_features(self, vm: Vm, func: int) -> int | None:  # FEAT-1..5: w2, or None = NOT_SUPPORTED
        if func == abi.FFA_RXTX_MAP_64:
            return abi.RXTX_MAP_MIN_BUF_4K  # FEAT-4: 4 KiB; no page-count field for v1.1; input w2 ignored
        if func in self.FEATURES_ALL or (func in self.FEATURES_PRIMARY and vm.index == 0):
            return 0
        return None  # FEAT-1, FEAT-5 (RXTX_MAP_32, NOTIFICATION_INFO_GET_32, RX_ACQUIRE, MSG_SEND_32, MSG_POLL_32), CONV-7

    def feature_id_features(self, feature: int, w2: int) -> int | None:  # FEAT-6, FEAT-7
        if feature & abi.FFA_FEATURE_ID_MBZ or w2:
            return None
        return self.FEATURE_IDS.get(feature)

    def _features(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        w1, w2 = args[1] & U32, args[2] & U32
        if w1 & abi.FFA_FEATURES_FUNCTION_BIT:
            props = self.function_features(vm, w1)
        else:
            props = self.feature_id_features(w1, w2)
        return NOT_SUPPORTED if props is None else answer(abi.success(props))

    # --- FFA_RXTX_MAP_64 / FFA_RXTX_UNMAP (MAP) ---------------------------------------------------

    def page_count_ok(self, pages: int) -> bool:  # MAP-2: 1..RXTX_MAX_PAGE_COUNT
        return 1 <= pages <= abi.HAFNIUM_RXTX_MAX_PAGE_COUNT

    def aligned(self, tx: int, rx: int) -> bool:  # MAP-2: 4 KiB
        return not (tx % abi.PAGE_SIZE or rx % abi.PAGE_SIZE)

    def may_map(self, vm: Vm) -> bool:  # MAP-1: a second map while a pair is registered → DENIED
        return vm.tx is None

    def overlap(self, tx: int, rx: int, size: int) -> bool:  # MAP-3
        return tx < rx + size and rx < tx + size

    def owned(self, vm: Vm, addr: int, size: int) -> bool:  # MAP-4, MAP-7: the caller's own memory
        return vm.owns(addr, size)

    def _rxtx_map(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        tx, rx, pages = args[1], args[2], args[3] & U32
        if not self.page_count_ok(pages) or not self.aligned(tx, rx):
            return INVALID_PARAMETERS  # MAP-2
        if not self.may_map(vm):
            return DENIED  # MAP-1
        size = pages * abi.PAGE_SIZE
        if self.overlap(tx, rx, size):
            return INVALID_PARAMETERS  # MAP-3
        if not (self.owned(vm, tx, size) and self.owned(vm, rx, size)):
            return INVALID_PARAMETERS  # MAP-4
        vm.tx, vm.rx, vm.mailbox = tx, rx, MAILBOX_EMPTY  # MAP-1
        self.protect_rx(vm, rx, writable=False)
        return SUCCESS

    def protect_rx(self, vm: Vm, rx: int, *, writable: bool) -> None:
        """MAP-5 (D9): Hafnium maps a registered RX buffer read-only for its owner (stage 2), and
        gives the page back on unmap; a store to it is the VM's own Data Abort (:meth:`inject_write_fault`)."""
        self.platform.protect(vm.index, rx, abi.PAGE_SIZE * abi.HAFNIUM_RXTX_MAX_PAGE_COUNT, writable)

    def inject_write_fault(self, vm_id: int, vcpu_idx: int, address: int) -> bool:
        """MAP-5 (D9): a store to its own RX buffer is reported to the VM as a Data Abort at its own
        EL1 vector; the vCPU is neither aborted nor switched out (the machine layer injects it)."""
        vm = self.vms[vm_id]
        return vm.rx is not None and vm.rx <= address < vm.rx + abi.PAGE_SIZE * abi.HAFNIUM_RXTX_MAX_PAGE_COUNT

    def _rxtx_unmap(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if args[1] & abi.RXTX_UNMAP_ID_MASK:
            return INVALID_PARAMETERS  # MAP-6: w1[31:16] MBZ at a virtual instance
        if vm.tx is None:
            return INVALID_PARAMETERS  # MAP-6: no pair registered
        if vm.rx is not None:
            self.protect_rx(vm, vm.rx, writable=True)
        vm.tx, vm.rx, vm.mailbox = None, None, MAILBOX_EMPTY  # MAP-6: may be mapped again
        return SUCCESS

    # --- FFA_PARTITION_INFO_GET (PIG) -------------------------------------------------------------

    def listed(self) -> list[Vm]:  # PIG-1, PIG-7: the partitions with a manifest: the secondaries
        return self.vms[1:]

    def properties(self, vm: Vm) -> int:  # PIG-4, PIG-6: indirect messaging from v1.1; notifications; AArch64
        indirect = abi.FFA_PARTITION_INDIRECT_MSG if vm.version >= abi.FFA_VERSION_1_1 else 0
        return indirect | abi.FFA_PARTITION_NOTIFICATION | abi.FFA_PARTITION_AARCH64

    def descriptor_size(self, caller: Vm) -> int:  # PIG-3 (D8): 48 bytes from v1.1, 8 below
        return abi.HAFNIUM_PARTITION_INFO_SIZE if caller.version >= abi.FFA_VERSION_1_1 else abi.PARTITION_INFO_SIZE_V1_0

    def rx_free(self, vm: Vm) -> bool:  # SEND-9, PIG-5, PIG-8: mapped and empty
        return vm.rx is not None and vm.mailbox is MAILBOX_EMPTY

    def _partition_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        uuid, flags = tuple(a & U32 for a in args[1:5]), args[5] & U32
        if flags & abi.FFA_PARTITION_INFO_FLAGS_MBZ:
            return INVALID_PARAMETERS  # PIG-2
        if any(uuid):
            return INVALID_PARAMETERS  # PIG-1: no partition of the reference declares a UUID
        partitions = self.listed()
        if flags & abi.FFA_PARTITION_COUNT_FLAG:
            return answer(abi.success(len(partitions)))  # PIG-2: count only, RX untouched
        if not self.rx_free(vm):
            return BUSY  # PIG-8 (no RX mapped), PIG-5 (RX full)
        assert vm.rx is not None
        size = self.descriptor_size(vm)
        data = b"".join(abi.partition_info(p.id, len(p.vcpus), self.properties(p), size=size) for p in partitions)
        self.platform.write(vm.index, vm.rx, data)
        vm.mailbox = MAILBOX_FULL  # PIG-5: the caller owns its RX buffer until FFA_RX_RELEASE
        return answer(abi.success(len(partitions), x3=size))

    # --- FFA_MSG_SEND2 (SEND), checks in the text's order ------------------------------------------

    def header_size(self, version: int) -> int:  # SEND-11, HDR-7: 20 for v1.1, 40 from v1.2
        return abi.FFA_RXTX_HEADER_SIZE_V1_1 if version < abi.FFA_VERSION_1_2 else abi.FFA_RXTX_HEADER_SIZE_V1_2

    def read_header(self, vm: Vm) -> abi.Header:  # HDR-1..HDR-5, at offset 0 of the TX buffer
        assert vm.tx is not None
        return abi.parse_header(self.platform.read(vm.index, vm.tx, abi.FFA_RXTX_HEADER_SIZE_V1_1))

    def forwarded(self, vm: Vm) -> Answer:  # SEND-6: to EL3 with w1 = sender<<16; no EL3 firmware here
        return Answer(abi.SMCCC_ERROR_UNKNOWN, regs=(vm.id << 16, 0, 0, 0, 0, 0, 0))

    def pair_allowed(self, vm: Vm, to: Vm) -> bool:  # SEND-8: every VM pair
        return True

    def max_message(self) -> int:  # SEND-14 (D10)
        return abi.HAFNIUM_MAX_MESSAGE_SIZE

    def deliver(self, vm: Vm, to: Vm, end: int) -> None:  # SEND-16, SEND-20: [0, end) verbatim, the tail zeroed
        assert vm.tx is not None and to.rx is not None
        self.platform(vm.index, vm.tx, to.index, to.rx, end)
        tail = abi.PAGE_SIZE * abi.HAFNIUM_RXTX_MAX_PAGE_COUNT - end
        if tail > 0:
            self.platform.write(to.index, to.rx + end, bytes(tail))

    def notify_rx_full(self, to: Vm) -> None:  # SEND-17, NOTIF-1
        to.rx_full_pending = True
        to.info_reported = False

    def _msg_send2(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        w1, w2 = args[1] & U32, args[2] & U32  # CONV-8: x1[63:32], x2[63:32] and w1[15:0] ignored
        if w1 & abi.MSG_SEND2_SENDER_MASK:
            return INVALID_PARAMETERS  # SEND-1
        if vm.tx is None:
            return DENIED  # SEND-2
        h = self.read_header(vm)
        if h.sender != vm.id:
            return INVALID_PARAMETERS  # SEND-3
        if h.receiver == h.sender:
            return INVALID_PARAMETERS  # SEND-4
        if w2:
            return INVALID_PARAMETERS  # SEND-5
        if h.receiver & abi.FFA_ID_SP_BIT:
            return self.forwarded(vm)  # SEND-6
        to = self.by_id.get(h.receiver)
        if to is None:
            return INVALID_PARAMETERS  # SEND-7
        if not self.pair_allowed(vm, to):
            return DENIED  # SEND-8
        if not self.rx_free(to):
            return BUSY  # SEND-9
        if vm.version < abi.FFA_VERSION_1_1:
            return NOT_SUPPORTED  # SEND-10 (SEND-22: after SEND-1..9)
        if h.offset < self.header_size(vm.version):
            return INVALID_PARAMETERS  # SEND-11
        end = h.offset + h.size
        if end > U32:
            return INVALID_PARAMETERS  # SEND-12
        if end > self.max_message():
            return INVALID_PARAMETERS  # SEND-13
        self.deliver(vm, to, end)  # SEND-15: flags and reserved delivered as they are
        to.mailbox = MAILBOX_FULL  # SEND-16
        self.notify_rx_full(to)  # SEND-17
        return SUCCESS  # SEND-16, SEND-18: the sender goes on

    # --- FFA_RX_RELEASE (REL) ---------------------------------------------------------------------

    def release_allowed(self, vm: Vm) -> bool:  # REL-4 (D6): not while the RX-full notification is pending
        return not vm.rx_full_pending

    def _rx_release(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if args[1] & U16:
            return INVALID_PARAMETERS  # REL-3: w1[15:0] MBZ at a virtual instance
        if vm.rx is None or vm.mailbox is not MAILBOX_FULL:
            return DENIED  # REL-2: not the owner
        if not self.release_allowed(vm):
            return DENIED  # REL-4
        vm.mailbox = MAILBOX_EMPTY  # REL-1
        return SUCCESS

    # --- notifications (NOTIF) ---------------------------------------------------------------------

    def _notification_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        w1, flags = args[1] & U32, args[2] & U32
        if flags & abi.FFA_NOTIFICATION_FLAGS_MBZ:
            return INVALID_PARAMETERS  # NOTIF-2
        if w1 & U16 != vm.id or w1 >> 16 >= len(vm.vcpus):
            return INVALID_PARAMETERS  # NOTIF-6
        framework = abi.FFA_NOTIFICATION_FLAG_SPM_FRAMEWORK | abi.FFA_NOTIFICATION_FLAG_HYP_FRAMEWORK
        w7 = 0
        if flags & framework and vm.rx_full_pending:  # NOTIF-1, NOTIF-3: either bit, reported in w7
            w7 = abi.FFA_NOTIFICATION_RX_BUFFER_FULL
            vm.rx_full_pending = False  # NOTIF-2: cleared; REL-4: the receiver now owns its buffer
        return answer(abi.success(x7=w7))

    def _notification_info_get(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index != 0:
            return NOT_SUPPORTED  # FEAT-5: not offered to other VMs (what a call gets: not in the text)
        pending = [p for p in self.vms if p.rx_full_pending and not p.info_reported]  # NOTIF-7: index order
        if not pending:
            return NO_DATA  # NOTIF-4
        listed = pending[:20]  # x3..x7 hold 20 IDs
        for p in listed:
            p.info_reported = True
        w2 = abi.info_get_w2(tuple(0 for _ in listed), more=len(pending) > len(listed))
        x3, x4, x5, x6, x7 = abi.pack_ids(tuple(p.id for p in listed))
        return answer(abi.success(w2, x3=x3, x4=x4, x5=x5, x6=x6, x7=x7, wide=True))  # NOTIF-4

    # --- FFA_MSG_WAIT, FFA_YIELD, FFA_RUN (WAIT, RUN) ---------------------------------------------

    def wait_args_ok(self, vm: Vm, args: Args) -> bool:  # WAIT-1, CONV-8: whole x1, x3..x7 (and x2 below v1.2)
        if any(args[1:2]) or any(args[3:8]):
            return False
        return vm.version >= abi.FFA_VERSION_1_2 or args[2] == 0

    def run_result(self, w1: int) -> Result:  # WAIT-3, WAIT-6: FFA_RUN_32; w1 per WAIT-7 (D14)
        return (abi.FFA_RUN, w1, 0, 0, 0, 0, 0, 0)

    def _msg_wait(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if not self.wait_args_ok(vm, args):
            return INVALID_PARAMETERS  # WAIT-1
        if vm.index == 0:
            return NOT_SUPPORTED  # WAIT-10
        if vm.mailbox is MAILBOX_FULL:
            result = answer(self.run_result(vm.id))  # WAIT-3, WAIT-8: at once, w1 = own ID (WAIT-7)
            if not vm.rx_full_pending:
                vm.mailbox = MAILBOX_EMPTY  # WAIT-8, WAIT-2: released after the return value is prepared
            return result  # WAIT-5: kept while the notification is pending
        response = (abi.FFA_MSG_WAIT, abi.vm_vcpu(vm.id, vcpu.index), 0, 0, 0, 0, 0, 0)  # RUN-2
        return self.switch_to_primary(vcpu, VCPU_WAITING, self.run_result(0), response)  # WAIT-6, WAIT-7

    def _yield(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index == 0:
            return SUCCESS  # FEAT-5 offers FFA_YIELD to the primary; what it does then: not in the text
        response = (abi.FFA_YIELD, abi.vm_vcpu(vm.id, vcpu.index), 0, 0, 0, 0, 0, 0)
        return self.switch_to_primary(vcpu, VCPU_READY, abi.success(), response)  # RUN-2

    def _run(self, vm: Vm, vcpu: Vcpu, args: Args) -> Answer:
        if vm.index != 0:
            return DENIED  # RUN-1: only the primary scheduler
        w1 = args[1] & U32
        target = self.by_id.get(w1 >> 16)
        if target is None or target.index == 0 or (w1 & U16) >= len(target.vcpus):
            return INVALID_PARAMETERS  # RUN-1: the primary, an unknown ID, a vCPU out of range
        nxt = target.vcpus[w1 & U16]
        state = nxt.state
        if state is VCPU_ABORTED:
            return ABORTED  # RUN-4
        if state is VCPU_OFF:
            return INVALID_PARAMETERS  # RUN-5
        if state is VCPU_RUNNING:
            return BUSY  # RUN-1 (one physical CPU: never reached)
        if state is VCPU_BLOCKED_WFI:  # RUN-3: still waiting for an interrupt (none is modelled)
            return answer((abi.HF_FFA_RUN_WAIT_FOR_INTERRUPT, abi.vm_vcpu(target.id, nxt.index), 0, 0, 0, 0, 0, 0))
        nxt.state = VCPU_RUNNING  # CREATED (RUN-5), READY, WAITING (its pending FFA_RUN_32)
        return Answer(None, nxt)
