"""An abstract model of the ``hafnium-2019-03`` ABI, written from ``spec.md`` alone.

Pure Python, no emulator, never importing the reference core (``core.py``): it is a second,
independent reading of the text. VMs (the primary and scripted secondaries, vCPU 0 started, VM-1),
mailboxes with their waiter and ready lists (SEND-5, WAIT-1, WAIT-2), virtual interrupts per vCPU
(WAIT-4), configured pages, a sparse byte model of the pages that matter, and the project's
*scripted secondaries* (``guest_asm.programs`` steps) executed step by step. It is the oracle of
the model-based tests (``tests/test_model.py``, through :mod:`.scenarios`).

Every number is a literal of the text (clause IDs in the comments), never taken from this
profile's ``abi.py``, so that a wrong constant there cannot hide. Each prediction names the clause
whose rule gave it (``Model.rule``, ``Report.rule``): a mismatch counts against that clause. The
only non-ABI facts used are the scripted secondary's conventions (``guest_asm/programs/script.S``):
its library pages (base + 0x10000 send, + 0x11000 recv, for ``Fill``/``CopyRecv``), its ``reply``
flag, its "last receive" register, its register pattern, and that it ends in ``wfi`` forever.

What the model predicts: CALL-2..CALL-7 (PSCI_VERSION only), VM-2..VM-4, RUN-1, RUN-2 (no timer:
every refusal is ``0xFFFFFFFFFFFFFF02``), RUN-3, RUN-5..RUN-9, RUN-12, RUN-13, CFG-1..CFG-3, CFG-5,
SEND-1..SEND-8, RECV-1..RECV-4, CLR-1..CLR-3, WAIT-1, WAIT-2, WAIT-4; WAIT-3 through the primary's
calls only: an HF_MAILBOX_WRITABLE_INTID it did not inject into a waiter WAIT-1 handed out (its
INTERRUPT_INJECT returning 0, not 1; its own INTERRUPT_GET returning 2).

What it does not: PREEMPTED (a preemption is invisible to the model: ``run`` means "run through
PREEMPTEDs", RUN-4), vCPUs other than 0 running (RUN-10), timers (no script arms one), faults
and ABORTED (RUN-11: scripts do not fault; the recv page is never written by a script, CFG-4),
PSCI other than PSCI_VERSION, HF_SHARE_MEMORY (0xff0e), ``Spin`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from guest_asm.programs import Call, CopyRecv, Fill, Rel, Spin, Step, Wfe, Wfi, pattern

# --- spec literals --------------------------------------------------------------------------------
ERR = 0xFFFF_FFFF_FFFF_FFFF  # "-1"
U32 = 0xFFFF_FFFF
PAGE = 4096  # HF_MAILBOX_SIZE (§2), the alignment of CFG-1
CONVENTION_BIT = 1 << 30  # CALL-3: ignored bit of the function ID
(
    VM_GET_ID,
    VM_GET_COUNT,
    VCPU_GET_COUNT,
    VCPU_RUN,
    VCPU_YIELD,
    VM_CONFIGURE,
    MAILBOX_SEND,
    MAILBOX_RECEIVE,
    MAILBOX_CLEAR,
    WRITABLE_GET,
    WAITER_GET,
    INTERRUPT_ENABLE,
    INTERRUPT_GET,
    INTERRUPT_INJECT,
) = range(0xFF00, 0xFF0E)  # ID-1..ID-14
SHARE_MEMORY = 0xFF0E  # §2: outside this profile (implemented or -1): not predicted
PREEMPTED, YIELD, WAIT_FOR_INTERRUPT, WAIT_FOR_MESSAGE, WAKE_UP, MESSAGE, NOTIFY_WAITERS, ABORTED = range(8)  # §4
INDEF = 0x00FF_FFFF_FFFF_FFFF  # HF_SLEEP_INDEFINITE
REFUSED = 0xFFFF_FFFF_FFFF_FF02  # RUN-1, RUN-2: WAIT_FOR_INTERRUPT, ns=INDEF
BLOCKED_RECEIVE = 0xFFFF_FFFF_FFFF_FF03  # RUN-7: WAIT_FOR_MESSAGE, ns=INDEF
NOTHING = 0x0000_0000_FFFF_FFFF  # RECV-1, RECV-3, RUN-13; INTERRUPT_GET "none" (WAIT-4)
NUM_INTIDS = 64  # WAIT-4
WRITABLE_INTID = 2  # HF_MAILBOX_WRITABLE_INTID (§2), WAIT-3
PSCI_FIRST, PSCI_LAST = 0x8400_0000, 0x8400_0014  # CALL-6
PSCI_VERSION_RESULT = 0x10001  # CALL-6: PSCI 1.1

# --- the scripted secondary's conventions (not ABI) ------------------------------------------------
LIB_SEND = 0x10000  # Fill writes here, CopyRecv copies recv -> here
LIB_RECV = 0x11000
LIB_REPORT, LIB_REPORT_END = 0x14000, 0x1F000  # report slots: REPORT writes here
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

EMPTY, RECEIVED, READ = "empty", "received", "read"  # mailbox states (§6..§8)
OFF, READY = "off", "ready"
BLOCKED_MAILBOX, BLOCKED_INTERRUPT = "blocked_mailbox", "blocked_interrupt"  # RECV-4, RUN-5


def function_id(x0: int) -> int:
    """CALL-3: u32(x0) with bit 30 cleared."""
    return (x0 & U32) & ~CONVENTION_BIT


def is_psci(func: int) -> bool:
    """CALL-6: PSCI_VERSION 0x84000000 ... MEM_PROTECT_CHECK_RANGE 0x84000014 (bit 30 already cleared)."""
    return PSCI_FIRST <= func <= PSCI_LAST


def message_response(vm_id: int, size: int) -> int:
    """§4 MESSAGE: ``5 | vm_id << 16 | size << 32``."""
    return MESSAGE | (vm_id & 0xFFFF) << 16 | (size & U32) << 32


def receive_response(sender: int, size: int) -> int:
    """§7: ``vm_id (u32) | size << 32``."""
    return (sender & U32) | (size & U32) << 32


def _field_rule(field_rule: tuple[int, str] | None, expected: int, actual: int) -> str | None:
    """``field_rule``'s clause when ``actual`` differs from ``expected`` only in its mask's bits."""
    if field_rule is not None and (expected ^ actual) & ~field_rule[0] == 0:
        return field_rule[1]
    return None


@dataclass(frozen=True)
class Report:
    """What one report slot of a scripted secondary should hold: x0..x30, None = not checked.

    ``rule``: the clause whose rule gave x0; ``regs_rule``: the one for the other registers
    (CALL-5 after an ``hvc``, CALL-7 after an ``smc``); ``missing_rule``: the clause a build that
    never completes this step fails (default ``rule``); ``field_rule``: (mask, clause), x0 wrong
    only in ``mask``'s bits counts against ``clause`` (e.g. the sender field of a receive).
    """

    step: int
    regs: tuple[int | None, ...]
    rule: str = ""
    regs_rule: str = "CALL-5"
    missing_rule: str = ""
    field_rule: tuple[int, str] | None = None

    def x0_rule(self, actual: int) -> str:
        expected = self.regs[0]
        found = _field_rule(self.field_rule, expected, actual) if expected is not None else None
        return found or self.rule or "CALL-1"

    @property
    def x0(self) -> int | None:
        return self.regs[0]


_UNCHECKED: tuple[int | None, ...] = (None,) * 31


def _hvc_regs(x0: int | None) -> tuple[int | None, ...]:
    """After an hvc (CALL-5): x0 = result, x1..x17 zero, x18..x30 preserved (the script's pattern)."""
    return (x0, *([0] * 17), *(pattern(n) for n in range(18, 31)))


def _smc_regs(x1: int, x2: int, x3: int) -> tuple[int | None, ...]:
    """After an smc of a secondary (CALL-7): x0 = -1 and every other register kept."""
    return (ERR, x1, x2, x3, *(pattern(n) for n in range(4, 31)))


class Memory:
    """A sparse byte model of one VM's memory: pages of bytes, each byte known or unknown."""

    def __init__(self) -> None:
        self.data: dict[int, bytearray] = {}
        self.known: dict[int, bytearray] = {}

    @staticmethod
    def _chunks(addr: int, size: int) -> list[tuple[int, int, int, int]]:
        out: list[tuple[int, int, int, int]] = []
        pos = 0
        while pos < size:
            a = addr + pos
            off = a % PAGE
            n = min(PAGE - off, size - pos)
            out.append((a - off, off, n, pos))
            pos += n
        return out

    def write(self, addr: int, data: bytes, known: bytes | None = None) -> None:
        mask = b"\x01" * len(data) if known is None else known
        for page, off, n, pos in self._chunks(addr, len(data)):
            if page not in self.data:
                self.data[page], self.known[page] = bytearray(PAGE), bytearray(PAGE)
            self.data[page][off : off + n] = data[pos : pos + n]
            self.known[page][off : off + n] = mask[pos : pos + n]

    def read(self, addr: int, size: int) -> tuple[bytes, bytes]:
        """(bytes, mask): the model's bytes at [addr, addr + size) and which of them are known."""
        data, mask = bytearray(size), bytearray(size)
        for page, off, n, pos in self._chunks(addr, size):
            if page in self.data:
                data[pos : pos + n] = self.data[page][off : off + n]
                mask[pos : pos + n] = self.known[page][off : off + n]
        return bytes(data), bytes(mask)

    def copy(self, dst: Memory, dst_addr: int, src_addr: int, size: int) -> None:
        data, mask = self.read(src_addr, size)
        dst.write(dst_addr, data, mask)


def first_difference(expected: bytes, mask: bytes, actual: bytes) -> int | None:
    """The first offset where ``actual`` differs from a known byte of ``expected``; None if none."""
    if expected == actual and mask.count(0) == 0:
        return None
    for i, (e, k, a) in enumerate(zip(expected, mask, actual, strict=True)):
        if k and e != a:
            return i
    return None


@dataclass
class VmState:
    id: int
    base: int
    memory: int  # bytes of memory known to belong to the VM (from base)
    vcpus: int = 1
    send: int | None = None
    recv: int | None = None
    mailbox: str = EMPTY
    read_by: str = ""  # the clause that made the mailbox *read* (SEND-7, RECV-2, RUN-12)
    sender: int = 0
    size: int = 0
    #: SEND-5: the VMs waiting for this mailbox to become writable, FIFO, one entry per waiting VM.
    waiters: list[int] = field(default_factory=list)
    #: WAIT-1, WAIT-2: the VMs whose mailbox became writable for this (waiting) VM, FIFO.
    ready: list[int] = field(default_factory=list)
    #: WAIT-1 handed this VM out as a waiter: a hypervisor that injects HF_MAILBOX_WRITABLE_INTID
    #: itself (against WAIT-3) shows it in this VM's interrupts.
    handed_out: bool = False
    #: WAIT-4, per vCPU index: enabled and pending interrupt IDs.
    enabled: dict[int, set[int]] = field(default_factory=dict)
    pending: dict[int, set[int]] = field(default_factory=dict)
    mem: Memory = field(default_factory=Memory)
    #: Per page address: the clause of the rule that last wrote it (a mismatch there counts
    #: against it); a page nobody but its owner wrote is CFG-3's (the configure named its own page).
    page_rules: dict[int, str] = field(default_factory=dict)

    def page_rule(self, addr: int) -> str:
        return self.page_rules.get(addr - addr % PAGE, "SEND-6")

    def owns(self, addr: int) -> bool:
        """CFG-3: the page at ``addr`` lies in this VM's own memory."""
        return self.base <= addr and addr + PAGE <= self.base + self.memory

    def enabled_pending(self, vcpu: int = 0) -> set[int]:
        return self.enabled.setdefault(vcpu, set()) & self.pending.setdefault(vcpu, set())


@dataclass
class Secondary(VmState):
    steps: tuple[Step, ...] = ()
    state: str = READY  # of vCPU 0 (VM-1: started at boot)
    pc: int = 0  # index of the next step (or of the Call it is suspended in)
    resume: int | None = None  # x0 its suspended Call returns when next run
    resume_rule: str = ""  # the clause that gives ``resume``
    last_receive: int = 0  # the script's "last receive result" (initially 0)
    stop_rule: str = ""  # the clause that says why it is not running now
    refused_rule: str = ""  # the clause of the last run of it the model refused, if none ran since
    reports: list[Report] = field(default_factory=list)


class ModelError(Exception):
    """The model was asked something it does not model (e.g. a ``Spin`` step)."""


class Model:
    """The ABI state of one system: the primary (VM 0) and the scripted secondaries 1..N.

    ``bases``: each VM's first address; ``memories``: how much memory from there is the VM's (for
    the primary: a lower bound the caller promises to stay within when it names its own pages);
    ``vcpus``: each secondary's vCPU count (only vCPU 0 is started, VM-1).
    """

    def __init__(
        self,
        scripts: Sequence[Sequence[Step]],
        bases: Sequence[int],
        memories: Sequence[int],
        vcpus: Sequence[int] | None = None,
    ) -> None:
        if len(bases) != len(scripts) + 1 or len(memories) != len(bases):
            raise ValueError("bases and memories need one entry per VM, the primary first")
        counts = list(vcpus) if vcpus is not None else [1] * len(scripts)
        if len(counts) != len(scripts):
            raise ValueError("vcpus needs one entry per secondary")
        for steps in scripts:
            if any(isinstance(s, Spin) for s in steps):
                raise ModelError("Spin steps are not modelled")
        #: The clause of the rule that gave the value the last call returned.
        self.rule = ""
        #: (mask, clause): a build value differing only in ``mask``'s bits counts against ``clause``.
        self.field_rule: tuple[int, str] | None = None
        #: Build value -> the clause that value counts against instead, where it tells which earlier
        #: rule went wrong (e.g. -1 from a clear of a mailbox SEND-7 left read is SEND-7's).
        self.value_rules: dict[int, str] = {}
        self.primary = VmState(0, bases[0], memories[0])
        self.secondaries = [
            Secondary(i + 1, bases[i + 1], memories[i + 1], counts[i], steps=tuple(steps)) for i, steps in enumerate(scripts)
        ]

    # --- lookups --------------------------------------------------------------------------------

    @property
    def vms(self) -> list[VmState]:
        return [self.primary, *self.secondaries]

    def vm(self, vm_id: int) -> VmState | None:
        return self.vms[vm_id] if 0 <= vm_id < len(self.vms) else None

    def secondary(self, vm_id: int) -> Secondary:
        vm = self.vms[vm_id]
        assert isinstance(vm, Secondary)
        return vm

    def rule_for(self, expected: int, actual: int) -> str:
        """The clause a mismatch between the last value the model gave and the build's counts against."""
        return _field_rule(self.field_rule, expected, actual) or self.value_rules.get(actual) or self.rule

    def write(self, vm_id: int, addr: int, data: bytes) -> None:
        """A debugger-style write (the test puts a payload in a page)."""
        self.vms[vm_id].mem.write(addr, data)

    # --- the primary's calls ----------------------------------------------------------------------

    def primary_call(self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, insn: str = "hvc #0") -> int | None:
        """x0 after the primary's ``insn`` (for HF_VCPU_RUN: the first response other than
        PREEMPTED). None: not predicted (implementation-defined or outside the profile)."""
        func = function_id(x0)
        self.field_rule, self.value_rules = None, {}
        if insn.startswith("smc"):
            self.rule = "CALL-6" if is_psci(func) else "CALL-7"
            if func == PSCI_FIRST:
                return PSCI_VERSION_RESULT  # CALL-6 (hvc or smc)
            return None if is_psci(func) else ERR  # CALL-7
        if is_psci(func):  # CALL-6: handled first, for the primary
            self.rule = "CALL-6"
            return PSCI_VERSION_RESULT if func == PSCI_FIRST else None
        if func == VCPU_RUN:
            return self.run(x1, x2)
        if func == VCPU_GET_COUNT:
            self.rule = "VM-4"
            target = x1 & U32
            if target == 0:
                return None  # VM-4: the primary's own count is implementation-defined
            vm = self.vm(target)
            return ERR if vm is None else vm.vcpus
        if func == MAILBOX_RECEIVE:
            self.rule = "RECV-1"
            return NOTHING  # RECV-1
        if func == VCPU_YIELD:
            self.rule = "RUN-6"
            return 0  # RUN-6: a no-op for the primary
        if func == WAITER_GET:
            return self._waiter_get(x1)
        if func == INTERRUPT_INJECT:
            return self._inject(self.primary, x1, x2, x3)
        if func == SHARE_MEMORY:
            self.rule = "CALL-4"
            return None  # §2: outside this profile
        result, _ = self._common(self.primary, 0, func, x1, x2, x3)
        return result

    # --- the calls any VM makes ---------------------------------------------------------------------

    def _common(self, vm: VmState, vcpu: int, func: int, x1: int, x2: int, x3: int) -> tuple[int, int | None]:
        """(x0, run response if the caller, a secondary, is switched out) of the calls any VM makes."""
        if func == VM_GET_ID:
            self.rule = "VM-2"
            return vm.id, None
        if func == VM_GET_COUNT:
            self.rule = "VM-3"
            return len(self.vms), None
        if func == VM_CONFIGURE:
            return self._configure(vm, x1, x2)
        if func == MAILBOX_SEND:
            return self._send(vm, x1, x2, x3)
        if func == MAILBOX_CLEAR:
            return self._clear(vm)
        if func == WRITABLE_GET:
            self.rule = "WAIT-2"
            if not vm.ready:
                return ERR, None
            return vm.ready.pop(0), None  # WAIT-2: FIFO
        if func == INTERRUPT_ENABLE:
            self.rule = "WAIT-4"
            intid = x1 & U32
            if intid >= NUM_INTIDS:
                return ERR, None
            if x2 != 0:  # any non-zero 64-bit value enables (ID-12)
                vm.enabled.setdefault(vcpu, set()).add(intid)
            else:
                vm.enabled.setdefault(vcpu, set()).discard(intid)
            return 0, None
        if func == INTERRUPT_GET:
            self.rule = "WAIT-4"
            both = vm.enabled_pending(vcpu)
            if vm.handed_out and WRITABLE_INTID in vm.enabled[vcpu] and WRITABLE_INTID not in both:
                self.value_rules = {WRITABLE_INTID: "WAIT-3"}  # nobody injected it (WAIT-3)
            if not both:
                return NOTHING, None
            intid = min(both)
            vm.pending[vcpu].discard(intid)  # acknowledged
            return intid, None
        self.rule = "CALL-4"
        return ERR, None  # CALL-4 (a PSCI ID from a secondary is unknown too: CALL-6)

    def _waiters_result(self, vm: VmState, rule: str) -> tuple[int, int | None]:
        """CFG-5, CLR-3: 0; 1 for the primary with waiters; a secondary with waiters gets 0 and RUN-9."""
        self.rule = rule
        if not vm.waiters:
            return 0, None
        if vm.id == 0:
            return 1, None
        return 0, NOTIFY_WAITERS  # RUN-9

    def _configure(self, vm: VmState, send: int, recv: int) -> tuple[int, int | None]:
        self.rule = "CFG-1"
        if send % PAGE or recv % PAGE or send == recv:
            return ERR, None  # CFG-1 (before CFG-2)
        if vm.send is not None:
            self.rule = "CFG-2"
            return ERR, None
        if not (vm.owns(send) and vm.owns(recv)):
            self.rule = "CFG-3"
            return ERR, None
        vm.send, vm.recv = send, recv
        vm.page_rules.setdefault(recv, "SEND-6")
        return self._waiters_result(vm, "CFG-5")

    def _send(self, vm: VmState, x1: int, size: int, notify: int) -> tuple[int, int | None]:
        to_id = x1 & U32  # VM IDs are u32; size is all 64 bits (SEND-1)
        to = self.vm(to_id)
        if size > PAGE:
            self.rule = "SEND-1"
            return ERR, None
        if to_id == vm.id:
            self.rule = "SEND-2"
            return ERR, None
        if to is None:
            self.rule = "SEND-3"
            return ERR, None
        if vm.send is None:
            self.rule = "SEND-4"
            return ERR, None
        if to.mailbox != EMPTY or to.recv is None:
            self.rule = "SEND-5"
            if notify != 0 and vm.id not in to.waiters:  # one entry per (caller, to), FIFO
                to.waiters.append(vm.id)
            return ERR, None
        vm.mem.copy(to.mem, to.recv, vm.send, size)  # SEND-6: exactly size bytes, as they are now
        to.page_rules[to.recv] = "SEND-6"
        to.sender, to.size = vm.id, size
        if to.id == 0:  # SEND-7: to the primary (only a secondary gets here: SEND-2)
            to.mailbox, to.read_by = READ, "SEND-7"
            self.rule = "SEND-6"
            return 0, message_response(0, size)  # RUN-8: size only to the primary
        to.mailbox, to.read_by = RECEIVED, ""  # SEND-8
        self.rule = "SEND-6"
        if vm.id == 0:
            return 0, None  # SEND-8: a primary sender just gets 0
        return 0, message_response(to.id, 0)  # SEND-8, RUN-8 (size 0 to a secondary)

    def _clear(self, vm: VmState) -> tuple[int, int | None]:
        if vm.mailbox == EMPTY:
            self.rule = "CLR-1"
            return 0, None  # CLR-1: nobody notified
        if vm.mailbox == RECEIVED:
            self.rule = "CLR-2"
            return ERR, None
        result = self._waiters_result(vm, "CLR-3")  # CLR-3
        if vm.read_by:
            self.value_rules = {ERR: vm.read_by}  # -1: the mailbox was not left read by that rule
        vm.mailbox, vm.read_by = EMPTY, ""
        return result

    def _waiter_get(self, x1: int) -> int:
        """WAIT-1, from the primary."""
        self.rule = "WAIT-1"
        vm = self.vm(x1 & U32)
        if vm is None or vm.mailbox != EMPTY or vm.recv is None or not vm.waiters:
            return ERR
        waiting_id = vm.waiters.pop(0)
        waiting = self.vms[waiting_id]
        waiting.handed_out = True
        if vm.id not in waiting.ready:
            waiting.ready.append(vm.id)
        return waiting_id

    def _inject(self, caller: VmState, x1: int, x2: int, x3: int) -> int | None:
        """WAIT-4: HF_INTERRUPT_INJECT(vm, vcpu, intid)."""
        self.rule = "WAIT-4"
        target_id, idx, intid = x1 & U32, x2 & U32, x3 & U32
        target = self.vm(target_id)
        if intid >= NUM_INTIDS or target is None or (caller.id != 0 and caller.id != target_id):
            return ERR  # (each of these is -1 whatever the order of the checks)
        if target_id == 0 and idx != 0:
            return None  # the primary's vCPU count is implementation-defined (VM-4)
        if idx >= target.vcpus:
            return ERR
        enabled, pending = target.enabled.setdefault(idx, set()), target.pending.setdefault(idx, set())
        first = intid in enabled and intid not in pending and not target.enabled_pending(idx)
        pending.add(intid)
        if first and intid == WRITABLE_INTID and target.handed_out:
            self.value_rules = {0: "WAIT-3"}  # 0: it was pending already -- the hypervisor injected it
        if first and caller.id == 0:
            return 1  # WAIT-4: the primary must run the target
        return 0  # (a secondary's other vCPU: RUN-10, never running here)

    # --- running a scripted secondary ----------------------------------------------------------------

    def run(self, x1: int, x2: int = 0) -> int:
        """HF_VCPU_RUN(x1, x2) from the primary, through PREEMPTEDs: the first other response."""
        vm_id, idx = x1 & U32, x2 & U32
        self.rule = "RUN-1"
        if vm_id == 0 or vm_id >= len(self.vms):
            return REFUSED  # RUN-1
        vm = self.secondary(vm_id)
        if idx >= vm.vcpus or idx != 0:  # RUN-1: no such vCPU, or `off` (VM-1: only vCPU 0 starts)
            if idx < vm.vcpus:
                vm.refused_rule = "RUN-1"
            return REFUSED
        if vm.state in (BLOCKED_MAILBOX, BLOCKED_INTERRUPT):
            if vm.state == BLOCKED_MAILBOX and vm.mailbox == RECEIVED:  # RUN-12 (before RUN-13)
                vm.mailbox, vm.read_by = READ, "RUN-12"
                vm.resume, vm.resume_rule = receive_response(vm.sender, vm.size), "RUN-12"
            elif vm.enabled_pending(0):  # RUN-13
                if vm.state == BLOCKED_MAILBOX:
                    vm.resume, vm.resume_rule = NOTHING, "RUN-13"
            else:
                self.rule = vm.refused_rule = "RUN-2"
                return REFUSED  # RUN-2 (no timer: ns=INDEF even for a receive)
            vm.state = READY
        vm.refused_rule = ""
        if vm.resume is not None:  # the Call it was switched out in returns now
            rule = vm.resume_rule
            self._complete_call(vm, vm.resume, _hvc_regs(vm.resume), rule, field=rule in ("RUN-12",))
            vm.resume = None
        elif vm.pc < len(vm.steps) and isinstance(vm.steps[vm.pc], (Wfi, Wfe)) and vm.stop_rule in ("RUN-5", "RUN-6"):
            # It stopped in a wfi (woken by RUN-13) or a wfe (RUN-6: it stayed ready): the step completes.
            self._report(vm, _UNCHECKED, "RUN-13" if vm.stop_rule == "RUN-5" else "RUN-6")
        return self._go(vm)

    def _go(self, vm: Secondary) -> int:
        while vm.pc < len(vm.steps):
            step = vm.steps[vm.pc]
            if isinstance(step, Call):
                response = self._script_call(vm, step)
                if response is not None:
                    return response
            elif isinstance(step, Fill):
                n = min(step.size, PAGE)
                self._check_write(vm, vm.base + LIB_SEND, n)
                vm.mem.write(vm.base + LIB_SEND, bytes((step.value + i) & 0xFF for i in range(n)))
                vm.page_rules[vm.base + LIB_SEND] = "RUN-3"
                self._report(vm, _UNCHECKED, "RUN-3")  # a ready vCPU runs on (RUN-3)
            elif isinstance(step, CopyRecv):
                n = (vm.last_receive >> 32) if step.size is None else step.size
                n = min(n, PAGE)
                self._check_write(vm, vm.base + LIB_SEND, n)
                vm.mem.copy(vm.mem, vm.base + LIB_SEND, vm.base + LIB_RECV, n)
                vm.page_rules[vm.base + LIB_SEND] = vm.page_rule(vm.base + LIB_RECV)
                self._report(vm, _UNCHECKED, "RUN-3")
            elif isinstance(step, Wfi):
                vm.state = BLOCKED_INTERRUPT  # RUN-5
                self.rule = vm.stop_rule = "RUN-5"
                return REFUSED  # WAIT_FOR_INTERRUPT, ns=INDEF (no timer)
            elif isinstance(step, Wfe):
                self.rule = vm.stop_rule = "RUN-6"
                return YIELD  # RUN-6: the vCPU stays ready
            else:  # pragma: no cover - rejected in __init__
                raise ModelError(f"unmodelled step {step!r}")
        vm.state = BLOCKED_INTERRUPT  # the script ends in wfi forever (RUN-5)
        self.rule = vm.stop_rule = "RUN-5"
        return REFUSED

    @staticmethod
    def _check_write(vm: Secondary, addr: int, size: int) -> None:
        """CFG-4: the recv page is read-only to its VM; the model does not predict that fault."""
        if size and vm.recv is not None and vm.recv < addr + size and addr < vm.recv + PAGE:
            raise ModelError(f"VM {vm.id} writes its read-only recv page (CFG-4, RUN-11): not modelled")

    @staticmethod
    def _report(
        vm: Secondary,
        regs: tuple[int | None, ...],
        rule: str = "",
        regs_rule: str = "CALL-5",
        missing: str = "",
        field_rule: tuple[int, str] | None = None,
    ) -> None:
        vm.reports.append(Report(vm.pc, regs, rule, regs_rule, missing, field_rule))
        vm.pc += 1

    @staticmethod
    def _is_receive(step: Call) -> bool:
        return isinstance(step.x0, int) and function_id(step.x0) == MAILBOX_RECEIVE

    def _complete_call(
        self, vm: Secondary, x0: int, regs: tuple[int | None, ...], rule: str, regs_rule: str = "CALL-5", *, field: bool = False
    ) -> None:
        step = vm.steps[vm.pc]
        assert isinstance(step, Call)
        field_rule = None
        if self._is_receive(step):
            vm.last_receive = x0  # the script remembers every receive's x0
            if x0 != NOTHING and field:
                field_rule = (U32, rule)
        self._report(vm, regs, rule, regs_rule, rule, field_rule)

    def _arg(self, vm: Secondary, value: int | Rel) -> int:
        return (vm.base + value.offset) & MASK64 if isinstance(value, Rel) else value & MASK64

    def _script_call(self, vm: Secondary, step: Call) -> int | None:
        """Execute one Call of ``vm``'s script; the run response if it switched to the primary."""
        x0, x1, x2, x3 = (self._arg(vm, a) for a in (step.x0, step.x1, step.x2, step.x3))
        if step.reply:
            x1, x2 = vm.last_receive & 0xFFFF, vm.last_receive >> 32
        if step.insn.startswith("smc"):
            self._complete_call(vm, ERR, _smc_regs(x1, x2, x3), "CALL-7", "CALL-7")
            return None
        func = function_id(x0)  # CALL-2: any hvc immediate; CALL-3
        response: int | None = None
        if func == VCPU_RUN:
            result, rule = REFUSED, "RUN-1"  # caller not primary
        elif func in (VCPU_GET_COUNT, WAITER_GET):
            result, rule = ERR, "VM-4" if func == VCPU_GET_COUNT else "WAIT-1"  # primary only
        elif func == VCPU_YIELD:
            vm.resume, vm.resume_rule = 0, "RUN-6"
            self.rule = vm.stop_rule = "RUN-6"
            return YIELD
        elif func == MAILBOX_RECEIVE:
            if vm.mailbox == RECEIVED:  # RECV-2
                vm.mailbox, vm.read_by = READ, "RECV-2"
                result, rule = receive_response(vm.sender, vm.size), "RECV-2"
                self._complete_call(vm, result, _hvc_regs(result), rule, field=True)
                return None
            if x1 == 0 or vm.enabled_pending(0):
                result, rule = NOTHING, "RECV-3"
            else:  # RECV-4 (also in state read), RUN-7
                vm.state = BLOCKED_MAILBOX
                self.rule = "RUN-7"
                vm.stop_rule = "RECV-4"
                return BLOCKED_RECEIVE
        elif func == INTERRUPT_INJECT:
            injected = self._inject(vm, x1, x2, x3)
            assert injected is not None  # a secondary never targets the primary's other vCPUs (-1 first)
            result, rule = injected, "WAIT-4"
        elif is_psci(func):
            result, rule = ERR, "CALL-6"  # a PSCI ID from a secondary is an unknown ID
        elif func == SHARE_MEMORY:
            raise ModelError("HF_SHARE_MEMORY (0xff0e) is outside this profile")
        else:
            result, response = self._common(vm, 0, func, x1, x2, x3)
            rule = self.rule
        if response is not None:  # switched out: the call returns `result` when next run
            vm.resume, vm.resume_rule = result, rule
            vm.stop_rule = "RUN-9" if response == NOTIFY_WAITERS else "RUN-8"
            self.rule = "RUN-9" if response == NOTIFY_WAITERS else "RUN-8"
            return response
        self._complete_call(vm, result, _hvc_regs(result), rule)
        return None

    # --- description -----------------------------------------------------------------------------------

    def describe_scripts(self) -> list[str]:
        lines: list[str] = []
        for vm in self.secondaries:
            lines.append(f"VM {vm.id} script ({vm.vcpus} vCPU{'s' if vm.vcpus > 1 else ''}):")
            lines += [f"  [{i}] {describe_step(s)}" for i, s in enumerate(vm.steps)] or ["  (no steps)"]
        return lines


def describe_step(step: Step) -> str:
    """A short, copy-pasteable text of a step (hex for numbers)."""

    def arg(v: int | Rel) -> str:
        return f"Rel({v.offset:#x})" if isinstance(v, Rel) else f"{v:#x}"

    if isinstance(step, Call):
        extra = "" if step.insn == "hvc #0" else f", insn={step.insn!r}"
        extra += ", reply=True" if step.reply else ""
        return f"Call({arg(step.x0)}, {arg(step.x1)}, {arg(step.x2)}, {arg(step.x3)}{extra})"
    if isinstance(step, Fill):
        return f"Fill({step.size}, {step.value:#x})"
    if isinstance(step, CopyRecv):
        return f"CopyRecv({step.size})"
    return f"{type(step).__name__}()"
