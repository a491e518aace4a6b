"""An abstract model of the ``hafnium-2018-10`` mailbox ABI, written from the spec alone.

Pure Python, no emulator: VMs (one vCPU each, as this profile boots them), mailboxes, configured
pages, a sparse byte model of the pages that matter, and the project's *scripted secondaries*
(``guest_asm.programs`` steps) executed step by step. It is the oracle of the model-based test
(``profiles/hafnium_2018_10/tests/test_model.py``): the build's answers are compared with :class:`Model`'s.

Every number is a literal of the spec (``shared/spec/hafnium-mailbox-abi.md``; clause IDs in the
comments), never taken from this profile's ``abi.py`` or the bundled reference, so that a wrong constant
there cannot hide from the suite. The only non-ABI facts used are the scripted secondary's own
conventions (``guest_asm/programs/script.S``): its library pages (base + 0x10000 send, + 0x11000
recv, for ``Fill``/``CopyRecv``), its ``reply`` flag, its "last receive" register, its register
pattern, and that it ends in ``wfi``.

What is *not* modelled: YIELD (a preemption is invisible to the model: ``run`` means "run through
YIELDs"), vCPUs other than 0, PSCI, faults (§10), ``Spin`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from guest_asm.programs import Call, CopyRecv, Fill, Rel, Spin, Step, Wfe, Wfi, pattern

# --- spec literals --------------------------------------------------------------------------------
ERR = 0xFFFF_FFFF_FFFF_FFFF  # "-1"
U32 = 0xFFFF_FFFF
PAGE = 4096  # HF_MAILBOX_SIZE = page size (§2)
CONVENTION_BIT = 1 << 30  # CALL-3: ignored bit of the function ID
RUN, VM_GET_COUNT, VCPU_GET_COUNT, CONFIGURE, SEND, RECEIVE, CLEAR = range(0xFF00, 0xFF07)  # ID-1..ID-7
YIELD, WAIT_FOR_INTERRUPT, WAKE_UP, MESSAGE = 0x0, 0x1, 0x2, 0x3  # §4 run codes
INVALID_VCPU = 0xFFFF  # SEND-11: no waiter woken
PSCI_VERSION, PSCI_MIGRATE_INFO_TYPE = 0x84000000, 0x84000006  # CALL-6 (primary only)

# --- the scripted secondary's conventions (not ABI) ------------------------------------------------
LIB_SEND = 0x10000  # Fill writes here, CopyRecv copies recv -> here
LIB_RECV = 0x11000
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

EMPTY, RECEIVED, READ = "empty", "received", "read"  # §9 mailbox states
READY, BLOCKED_RECV, BLOCKED_WFI = "ready", "blocked(receive)", "blocked(wfi)"  # §9 vCPU states (vCPU 0)


def function_id(x0: int) -> int:
    """CALL-3: u32(x0) with bit 30 cleared."""
    return (x0 & U32) & ~CONVENTION_BIT


def run_response(code: int, vm: int = 0, data: int = 0) -> int:
    """§4: ``code | (vm_id & 0xffff) << 16 | data << 32``."""
    return code | (vm & 0xFFFF) << 16 | (data & U32) << 32


def receive_response(sender: int, size: int) -> int:
    """§7: ``(sender & 0xffff) | size << 32``."""
    return (sender & 0xFFFF) | (size & U32) << 32


def _field_rule(field_rule: tuple[int, str] | None, expected: int, actual: int) -> str | None:
    """``field_rule``'s clause when ``actual`` differs from ``expected`` only in its mask's bits."""
    if field_rule is not None and (expected ^ actual) & ~field_rule[0] == 0:
        return field_rule[1]
    return None


@dataclass(frozen=True)
class Report:
    """What one report slot of a scripted secondary should hold: x0..x30, None = not checked.

    ``rule``: the clause whose rule gave x0; ``regs_rule``: the one for the other registers
    (CALL-5 after an ``hvc``, CALL-7 after an ``smc``).
    """

    step: int
    regs: tuple[int | None, ...]
    rule: str = ""
    regs_rule: str = "CALL-5"
    #: The clause a build that never completes this step fails (default ``rule``): a woken
    #: receive that does not come back is SEND-9's (the waiter was not woken), not RECV-4's.
    missing_rule: str = ""
    #: (mask, clause): x0 wrong only in ``mask``'s bits counts against ``clause`` (the sender
    #: field of a receive's result: RECV-6, source-VM reporting).
    field_rule: tuple[int, str] | None = None

    def x0_rule(self, actual: int) -> str:
        expected = self.regs[0]
        field = _field_rule(self.field_rule, expected, actual) if expected is not None else None
        return field or self.rule or "CALL-1"

    @property
    def x0(self) -> int | None:
        return self.regs[0]


_UNCHECKED: tuple[int | None, ...] = (None,) * 31


def _hvc_regs(x0: int) -> tuple[int | None, ...]:
    """After an hvc (CALL-5): x0 = result, x1..x17 zero, x18..x30 preserved (the script's pattern)."""
    return (x0, *([0] * 17), *(pattern(n) for n in range(18, 31)))


def _smc_regs(x1: int, x2: int, x3: int) -> tuple[int | None, ...]:
    """After an smc of a secondary (CALL-7): x0 = -1 and every other register kept."""
    return (ERR, x1, x2, x3, *(pattern(n) for n in range(4, 31)))


class Memory:
    """A sparse byte model of one VM's memory: pages of bytes, each byte known or unknown.

    A page nobody wrote is all unknown; ``read`` returns the bytes and a mask (1 = known).
    """

    def __init__(self) -> None:
        self.data: dict[int, bytearray] = {}
        self.known: dict[int, bytearray] = {}

    @staticmethod
    def _chunks(addr: int, size: int) -> list[tuple[int, int, int, int]]:
        """(page, offset in page, length, offset in the data) pieces of [addr, addr + size)."""
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
        """Copy [src_addr, +size) of this memory to ``dst`` at ``dst_addr`` (known-ness included)."""
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
    send: int | None = None
    recv: int | None = None
    mailbox: str = EMPTY
    read_by: str = ""  # the clause that made the mailbox *read* (SEND-8, SEND-9, RECV-2)
    emptied_by_clear: bool = False  # empty because a clear emptied it (not since boot or a send)
    sender: int = 0
    size: int = 0
    mem: Memory = field(default_factory=Memory)
    #: Per page address: the clause of the rule that last wrote it (a mismatch there counts
    #: against it); a page nobody but its owner wrote is VM-5's (no other writer).
    page_rules: dict[int, str] = field(default_factory=dict)

    def page_rule(self, addr: int) -> str:
        return self.page_rules.get(addr - addr % PAGE, "VM-5")

    def owns(self, addr: int) -> bool:
        """CFG-3: the page at ``addr`` lies in this VM's own memory."""
        return self.base <= addr and addr + PAGE <= self.base + self.memory


@dataclass
class Secondary(VmState):
    steps: tuple[Step, ...] = ()
    state: str = READY  # of its only vCPU, vCPU 0 (VM-4: ready at boot)
    pc: int = 0  # index of the next step (or of the Call it is suspended in)
    resume: int | None = None  # x0 its suspended Call returns when next run (RUN-9, RECV-4)
    resume_rule: str = ""  # the clause that gives ``resume``
    resume_missing_rule: str = ""  # the clause a build that never resumes it fails (SEND-9 for a woken receive)
    last_receive: int = 0  # the script's "last receive result" (initially 0)
    stop_rule: str = ""  # the clause that says why it is not running now (RUN-5, RECV-4, ...)
    refused_rule: str = ""  # the clause of the last run of it the model refused (RUN-2, RUN-5), if none ran since
    reports: list[Report] = field(default_factory=list)


class ModelError(Exception):
    """The model was asked something it does not model (e.g. a ``Spin`` step)."""


class Model:
    """The ABI state of one system: the primary (VM 0) and the scripted secondaries 1..N.

    ``bases``: each VM's first address; ``memories``: how much memory from there is the VM's (for
    the primary: a lower bound the caller promises to stay within when it names its own pages).
    """

    def __init__(self, scripts: Sequence[Sequence[Step]], bases: Sequence[int], memories: Sequence[int]) -> None:
        if len(bases) != len(scripts) + 1 or len(memories) != len(bases):
            raise ValueError("bases and memories need one entry per VM, the primary first")
        for steps in scripts:
            if any(isinstance(s, Spin) for s in steps):
                raise ModelError("Spin steps are not modelled")
        #: The clause of the rule that gave the value the last call returned (``primary_call``,
        #: ``run``): a mismatch with the build counts against it.
        self.rule = ""
        #: (mask, clause): when the build's value differs from the model's only in ``mask``'s bits,
        #: the mismatch counts against ``clause`` instead (e.g. WAKE_UP's vCPU field: SEND-9).
        self.field_rule: tuple[int, str] | None = None
        #: Build value -> the clause that value counts against instead, where it tells which earlier
        #: rule went wrong: -1 from the primary's clear after a MESSAGE is SEND-8's (the mailbox was
        #: not left read); 0 from a clear of a mailbox a clear emptied is CLR-1's (it did not empty).
        self.value_rules: dict[int, str] = {}
        self.resume_rule = ""  # the clause of what a switched-out sender's call returns when resumed
        self.switch_rule = ""  # the clause that switches a sender out (SEND-8, SEND-12)
        self.refused_send_rule = ""  # the clause a build refusing the last valid send fails
        self.primary = VmState(0, bases[0], memories[0])
        self.secondaries = [
            Secondary(i + 1, bases[i + 1], memories[i + 1], steps=tuple(steps)) for i, steps in enumerate(scripts)
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

    # --- the primary's calls ----------------------------------------------------------------------

    def rule_for(self, expected: int, actual: int) -> str:
        """The clause a mismatch between the last value the model gave and the build's counts against."""
        return _field_rule(self.field_rule, expected, actual) or self.value_rules.get(actual) or self.rule

    def primary_call(self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0) -> int | None:
        """x0 after the primary's ``hvc`` (a run's response for HF_VCPU_RUN, run through YIELDs).

        None: implementation-defined (the primary's own vCPU count, PSCI other than VERSION and
        MIGRATE_INFO_TYPE).
        """
        func = function_id(x0)
        self.field_rule, self.value_rules = None, {}
        if func == RUN:
            return self.run(x1, x2)
        if func == VCPU_GET_COUNT:
            self.rule = "VM-3"
            target = x1 & U32
            if target == 0:
                return None  # VM-3: the primary's own count is implementation-defined
            return 1 if target < len(self.vms) else ERR  # VM-3 (one vCPU per secondary here)
        if func == RECEIVE:
            self.rule = "RECV-1"
            return ERR  # RECV-1
        if func in (VM_GET_COUNT, CONFIGURE, SEND, CLEAR):
            return self._common(self.primary, func, x1, x2)[0]
        if func & 0xFFFF_FFE0 == PSCI_VERSION:  # CALL-6
            self.rule = "CALL-6"
            if func in (PSCI_VERSION, PSCI_MIGRATE_INFO_TYPE):
                return 2
            return None  # SYSTEM_OFF and the optional ones: not modelled
        self.rule = "CALL-4"
        return ERR  # CALL-4

    def write(self, vm_id: int, addr: int, data: bytes) -> None:
        """A debugger-style write (the test puts a payload in a page)."""
        self.vms[vm_id].mem.write(addr, data)

    # --- the shared hypercalls ----------------------------------------------------------------------

    def _common(self, vm: VmState, func: int, x1: int, x2: int) -> tuple[int, int | None]:
        """(x0, run response if the caller, a secondary, is switched out) of the calls any VM makes."""
        if func == VM_GET_COUNT:
            self.rule = "VM-2"
            return len(self.vms), None  # VM-2
        if func == CONFIGURE:
            return self._configure(vm, x1, x2), None
        if func == SEND:
            return self._send(vm, x1, x2)
        if func == CLEAR:
            if vm.mailbox != READ:
                self.rule = "CLR-2" if vm.mailbox == EMPTY else "CLR-3"
                if vm.mailbox == EMPTY and vm.emptied_by_clear:
                    self.value_rules = {0: "CLR-1"}  # 0 again: the last clear did not empty it
                return ERR, None  # CLR-2, CLR-3
            self.rule, self.value_rules = "CLR-1", {ERR: vm.read_by} if vm.read_by else {}
            vm.mailbox, vm.emptied_by_clear = EMPTY, True  # CLR-1 (CLR-4: the page is untouched, nobody notified)
            if vm.recv is not None:
                vm.page_rules[vm.recv] = "CLR-4"
            return 0, None
        raise AssertionError(f"not a common call: {func:#x}")  # pragma: no cover

    def _configure(self, vm: VmState, send: int, recv: int) -> int:
        if send % PAGE or recv % PAGE:
            self.rule = "CFG-1"
        elif vm.send is not None:
            self.rule = "CFG-2"
        elif not (vm.owns(send) and vm.owns(recv)):
            self.rule = "CFG-3"
        elif send == recv:
            self.rule = "CFG-4"
        else:
            self.rule = "CFG-5"
            vm.send, vm.recv = send, recv
            return 0
        return ERR

    def _send(self, vm: VmState, x1: int, size: int) -> tuple[int, int | None]:
        to_id = x1 & U32  # VM IDs are u32; size is all 64 bits
        to = self.vm(to_id)
        refused = (
            "SEND-1" if size > PAGE
            else "SEND-2" if to_id == vm.id
            else "SEND-3" if to is None
            else "SEND-4" if vm.send is None
            else "SEND-5" if to is not None and to.recv is None
            else "SEND-6" if to is not None and to.mailbox != EMPTY
            else ""
        )  # fmt: skip
        if refused or to is None or to.recv is None or vm.send is None:
            self.rule = refused
            return ERR, None
        vm.mem.copy(to.mem, to.recv, vm.send, size)  # SEND-7: exactly size bytes, as they are now
        to.page_rules[to.recv] = "SEND-7"
        to.emptied_by_clear = False
        to.sender, to.size = vm.id, size
        # A build that refuses this valid send: at the size limit, SEND-1's (4096 is allowed).
        self.refused_send_rule = "SEND-1" if size == PAGE else ""
        if to.id == 0:  # SEND-8: to the primary (only a secondary gets here: SEND-2)
            to.mailbox, to.read_by = READ, "SEND-8"
            self.rule, self.resume_rule, self.switch_rule = "RUN-7", "RUN-9", "SEND-8"
            return 0, run_response(MESSAGE, 0, size)  # RUN-7 (sender not named), RUN-9
        assert isinstance(to, Secondary)
        if to.state == BLOCKED_RECV:  # SEND-9 (one vCPU: the LIFO is not observable)
            to.state = READY
            to.resume = receive_response(vm.id, size)  # RECV-4
            to.resume_rule, to.resume_missing_rule = "RECV-4", "SEND-9"
            to.mailbox, to.read_by = READ, "SEND-9"
            woken = 0
        else:  # SEND-10
            to.mailbox = RECEIVED
            woken = INVALID_VCPU
        if vm.id == 0:
            # SEND-11: the primary keeps running and learns whom SEND-9 woke; 0xffff is SEND-11's own
            self.rule = "SEND-9" if woken != INVALID_VCPU else "SEND-11"
            return woken, None
        self.rule, self.resume_rule, self.switch_rule = "RUN-8", "SEND-12", "SEND-12"
        if woken != INVALID_VCPU:  # only the woken vCPU's index wrong: the waiter was not woken (SEND-9)
            self.field_rule = (U32 << 32, "SEND-9")
        return 0, run_response(WAKE_UP, to.id, woken)  # SEND-12, RUN-8, RUN-9

    # --- running a scripted secondary ----------------------------------------------------------------

    def run(self, x1: int, x2: int = 0) -> int:
        """HF_VCPU_RUN(x1, x2) from the primary, through YIELDs: the first non-YIELD response."""
        vm_id, idx = x1 & U32, x2 & U32
        if vm_id == 0 or vm_id >= len(self.vms) or idx >= 1:
            self.rule = "RUN-2"
            if 0 < vm_id < len(self.vms):
                self.secondary(vm_id).refused_rule = "RUN-2"  # its absent vCPU must not run it
            return WAIT_FOR_INTERRUPT  # RUN-2 (each secondary here has one vCPU)
        vm = self.secondary(vm_id)
        if vm.state != READY:
            self.rule = vm.refused_rule = "RUN-5" if vm.state == BLOCKED_WFI else "RUN-2"
            return WAIT_FOR_INTERRUPT  # RUN-2: blocked vCPUs are not runnable (RUN-5, RECV-4)
        vm.refused_rule = ""
        if vm.resume is not None:  # the Call it was switched out in returns now (RUN-9, RECV-4)
            # Its missing rule is never empty: a call that switched out is completed by the resume.
            missing = vm.resume_missing_rule or vm.resume_rule
            self._complete_call(vm, vm.resume, _hvc_regs(vm.resume), vm.resume_rule, missing=missing)
            vm.resume, vm.resume_missing_rule = None, ""
        while vm.pc < len(vm.steps):
            step = vm.steps[vm.pc]
            if isinstance(step, Call):
                response = self._script_call(vm, step)
                if response is not None:
                    return response
            elif isinstance(step, Fill):
                n = min(step.size, PAGE)
                vm.mem.write(vm.base + LIB_SEND, bytes((step.value + i) & 0xFF for i in range(n)))
                self._report(vm, _UNCHECKED, "RUN-4")  # not reached: the ready vCPU did not go on (RUN-4)
            elif isinstance(step, CopyRecv):
                n = (vm.last_receive >> 32) if step.size is None else step.size
                n = min(n, PAGE)
                vm.mem.copy(vm.mem, vm.base + LIB_SEND, vm.base + LIB_RECV, n)
                vm.page_rules[vm.base + LIB_SEND] = vm.page_rule(vm.base + LIB_RECV)
                self._report(vm, _UNCHECKED, "RUN-4")  # not reached: the ready vCPU did not go on (RUN-4)
            elif isinstance(step, Wfi):
                vm.state = BLOCKED_WFI  # RUN-5: never ready again in this profile
                self.rule = vm.stop_rule = "RUN-5"
                return WAIT_FOR_INTERRUPT
            elif isinstance(step, Wfe):
                self._report(vm, _UNCHECKED, "RUN-5")  # RUN-5: wfe is a no-op
            else:  # pragma: no cover - rejected in __init__
                raise ModelError(f"unmodelled step {step!r}")
        vm.state = BLOCKED_WFI  # the script ends in wfi forever (RUN-5)
        self.rule = vm.stop_rule = "RUN-5"
        return WAIT_FOR_INTERRUPT

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
        return isinstance(step.x0, int) and function_id(step.x0) == RECEIVE

    def _complete_call(
        self, vm: Secondary, x0: int, regs: tuple[int | None, ...], rule: str, regs_rule: str = "CALL-5", missing: str = ""
    ) -> None:
        step = vm.steps[vm.pc]
        assert isinstance(step, Call)
        field_rule = None
        if self._is_receive(step):
            vm.last_receive = x0  # the script remembers every receive's x0, -1 included
            if x0 != ERR:
                field_rule = (U32, "RECV-6")  # the sender's ID (source-VM reporting)
        self._report(vm, regs, rule, regs_rule, missing, field_rule)

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
        func = function_id(x0)  # CALL-2: any hvc immediate
        response: int | None = None
        if func == RUN:
            result, rule = WAIT_FOR_INTERRUPT, "RUN-1"
        elif func == VCPU_GET_COUNT:
            result, rule = ERR, "VM-3"  # a secondary may not ask
        elif func == RECEIVE:
            if vm.mailbox == RECEIVED:  # RECV-2
                vm.mailbox, vm.read_by = READ, "RECV-2"
                result, rule = receive_response(vm.sender, vm.size), "RECV-2"
            elif x1 == 0:
                result, rule = ERR, "RECV-3"
            else:  # RECV-4, RECV-5 (a *read* mailbox may be waited on), RUN-6
                vm.state = BLOCKED_RECV
                self.rule = "RUN-6" if vm.mailbox == EMPTY else "RECV-5"
                vm.stop_rule = "RECV-4" if vm.mailbox == EMPTY else "RECV-5"  # it blocks: nothing past it runs
                return WAIT_FOR_INTERRUPT
        elif func in (VM_GET_COUNT, CONFIGURE, SEND, CLEAR):
            result, response = self._common(vm, func, x1, x2)
            rule = self.rule
        else:
            # CALL-4 (PSCI IDs from a secondary are unknown IDs too: CALL-6)
            result, rule = ERR, "CALL-6" if func & 0xFFFF_FFE0 == PSCI_VERSION else "CALL-4"
        if response is not None:  # switched out: the call returns `result` when next run
            vm.resume, vm.resume_rule = result, self.resume_rule
            vm.stop_rule = self.switch_rule  # a build that lets it run on did not switch it out
            vm.refused_rule = self.refused_send_rule
            return response
        self._complete_call(vm, result, _hvc_regs(result), rule)
        return None

    # --- description -----------------------------------------------------------------------------------

    def describe_scripts(self) -> list[str]:
        lines: list[str] = []
        for vm in self.secondaries:
            lines.append(f"VM {vm.id} script:")
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
