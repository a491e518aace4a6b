"""The model-based scenarios of ``hafnium-2019-03``: Hypothesis strategies of guest scripts and
primary calls, and :class:`MailboxMachine`, the state machine that boots random systems of
scripted secondaries and compares every answer of the build with :class:`~.model.Model`'s.

Used by ``tests/test_model.py`` (random systems) and ``tests/test_scenarios.py`` (the waiter and
interrupt flows, from fixed seeds of the same machinery): a module of its own, not a test module.

Every hypercall is a real ``hvc`` (or ``smc``) executed by guest code: the primary's through the
build protocol (``Hv.call_regs``), the secondaries' by their scripts. A mismatch is a FAIL
counted against the clause whose rule the model applied, with the (shrunk) scenario as its note.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conformance.harness import YIELD_LIMIT
from conformance.outcomes import ConformanceFailure
from conformance.protocol import CAP_WFE_TRAPS, Build, GuestVM
from profiles.hafnium_2019_03.hv import Hv, boot
from profiles.hafnium_2019_03.model import ERR, Model, Report, describe_step, first_difference
from profiles.hafnium_2019_03.programs import Call, CopyRecv, Fill, Rel, Step, Wfe, Wfi, script_source

SECONDARY_MEMORY = 0x10_0000
#: The primary names its own pages only below base + 0x20000 (the library layout the driver follows).
PRIMARY_WINDOW = 0x2_0000
#: Pages the test fills with a known pattern at boot and compares with the model afterwards.
SECONDARY_PAGES = (0x10000, 0x11000, 0x12000, 0x13000, 0x20000, 0xFF000)
#: The pages a script may configure as its recv page: never the page its Fill and CopyRecv write
#: (0x10000) nor its report slots, since the recv page is read-only to its VM (CFG-4).
RECV_PAGES = (0x11000, 0x12000, 0x13000, 0x20000, 0xFF000)
PRIMARY_PAGES = (0x10000, 0x11000, 0x12000, 0x13000)
HVC = ("hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff")
ALIAS = (0, 0, 0, 1 << 30, 0xFFFF_FFFF_0000_0000, 0x1234_0000_0000 | 1 << 30)
#: At most three secondaries: a random scenario should be one every conforming build can boot.
MAX_SECONDARIES = 3


@functools.cache
def send_payload(seed: int) -> bytes:
    """The 4 KiB the primary writes to its send page before a random send: one per seed."""
    return bytes((seed + i * 7 + (i >> 8) * seed) & 0xFF for i in range(4096))


@functools.cache
def page_pattern(vm: int, page: int) -> bytes:
    """What a tracked page holds at boot: different for every VM and page."""
    seed = (vm * 0x9E + (page >> 12) * 0x3B) & 0xFF
    return bytes((seed + i * 13 + (i >> 8)) & 0xFF for i in range(4096))


# --- strategies -------------------------------------------------------------------------------------

fids = st.sampled_from(ALIAS)
targets = st.one_of(
    st.integers(0, 4),
    st.sampled_from([5, 0xFFFF, 0x1_0001, 0x1_0000_0001, 0xFFFF_FFFF_0000_0002, 0xFFFF_FFFF, 0x1_0000_0000]),
)
sizes = st.one_of(
    st.integers(0, 4096),
    st.sampled_from([0, 4096, 4097, 0x1_0000_0000, 0x1_0000_0004, 1 << 63, ERR]),
)
notifies = st.sampled_from([0, 0, 1, 1, 0x1_0000_0000])
insns = st.sampled_from([*["hvc #0"] * 6, "hvc #1", "hvc #0x1234", "hvc #0xffff", "smc #0"])
blocks = st.sampled_from([0, 0, 1, 1, 1 << 63, 0x1_0000_0000])
intids = st.sampled_from([0, 1, 1, 2, 2, 3, 63, 64, 0x1_0000_0001, 0xFFFF_FFFF])
enables = st.sampled_from([0, 1, 1, 1 << 32])

valid_cfg = (
    st.tuples(st.sampled_from(SECONDARY_PAGES), st.sampled_from(RECV_PAGES))
    .filter(lambda p: p[0] != p[1])
    .map(lambda p: Call(0xFF05, Rel(p[0]), Rel(p[1])))
)
bad_cfg = st.sampled_from(
    [
        Call(0xFF05, Rel(0x10010), Rel(0x11000)),  # CFG-1
        Call(0xFF05, Rel(0x10000), Rel(0x11001)),  # CFG-1
        Call(0xFF05, Rel(0x12000), Rel(0x12000)),  # CFG-1: the same page
        Call(0xFF05, Rel(0x10000), Rel(SECONDARY_MEMORY)),  # CFG-3: just past its memory
        Call(0xFF05, Rel(1 << 40), Rel(0x11000)),  # CFG-3: far away
    ]
)


@st.composite
def hv_call(
    draw: st.DrawFn, func: int, x1: st.SearchStrategy[int], x2: st.SearchStrategy[int], x3: st.SearchStrategy[int] | None = None
) -> Call:
    third = draw(x3) if x3 is not None else draw(st.sampled_from([0, 0, 0xDEAD]))
    return Call(func | draw(fids), draw(x1), draw(x2), third, insn=draw(insns))


steps: st.SearchStrategy[Step] = st.one_of(
    hv_call(0xFF06, targets, sizes, notifies),  # sends
    hv_call(0xFF06, st.integers(0, 4), st.integers(0, 64), notifies),  # small sends, mostly to existing VMs
    hv_call(0xFF06, st.just(0), st.integers(0, 16), notifies),  # to the primary
    hv_call(0xFF07, blocks, st.just(0)),  # receives
    hv_call(0xFF07, st.just(1), st.just(0)),  # blocking receives
    hv_call(0xFF08, st.just(0), st.just(0)),  # clears
    hv_call(0xFF09, st.just(0), st.just(0)),  # WRITABLE_GET
    hv_call(0xFF0B, intids, enables),  # INTERRUPT_ENABLE
    hv_call(0xFF0C, st.just(0), st.just(0)),  # INTERRUPT_GET
    hv_call(0xFF0D, st.integers(0, 4), st.sampled_from([0, 0, 1, 0x1_0000_0000]), intids),  # INTERRUPT_INJECT
    hv_call(0xFF04, st.just(0), st.just(0)),  # HF_VCPU_YIELD
    st.builds(lambda n: Call(0xFF06, 0, 0, n, reply=True), notifies),  # reply to the last sender with its size
    st.builds(Fill, st.integers(0, 4096), st.integers(0, 255)),
    st.builds(CopyRecv, st.one_of(st.none(), st.integers(0, 4096))),
    valid_cfg,
    bad_cfg,
    st.sampled_from(
        [
            Call(0xFF00),  # VM-2
            Call(0xFF01),  # VM-3
            Call(0xFF02, 1),  # VM-4: -1 for a secondary
            Call(0xFF03, 1, 0),  # RUN-1: -> 0xFFFFFFFFFFFFFF02
            Call(0xFF0A, 1),  # WAIT-1: -1 for a secondary
            Call(0xFF0F),  # CALL-4
            Call(0x8400_0000),  # CALL-6: PSCI from a secondary is unknown
            Wfe(),
            Wfi(),
        ]
    ),
)


#: Short coherent sequences that random steps rarely form: a receiver that blocks, copies and
#: clears (RUN-12, RECV-2, CLR-2, CLR-3), a vCPU that enables an interrupt and waits for it
#: (RUN-5, RUN-13, WAIT-4), a receive that an interrupt wakes or never blocks (RUN-13, RECV-3),
#: a sender that asks to be notified and waits for the writable interrupt (SEND-5, WAIT-1..3), an echo.
motifs: st.SearchStrategy[tuple[Step, ...]] = st.sampled_from(
    [
        (Call(0xFF07, 1), CopyRecv(), Call(0xFF08), Call(0xFF07, 0)),
        (Call(0xFF08), Call(0xFF07, 0), Call(0xFF08), Call(0xFF07, 1)),
        (Call(0xFF0B, 1, 1), Wfi(), Call(0xFF0C), Call(0xFF0C)),
        (Call(0xFF0B, 2, 1), Call(0xFF07, 1), Call(0xFF0C), Call(0xFF07, 1)),
        (Fill(8, 0x40), Call(0xFF06, 1, 8, 1), Call(0xFF0B, 2, 1), Wfi(), Call(0xFF0C), Call(0xFF09), Call(0xFF06, 1, 8, 1)),
        (Fill(5, 0x70), Call(0xFF06, 2, 5, 1), Call(0xFF09), Call(0xFF06, 2, 5, 1), Call(0xFF09)),
        (Call(0xFF07, 1), CopyRecv(), Call(0xFF06, 0, 0, 1, reply=True), Call(0xFF08)),
        (Fill(16, 0x20), Call(0xFF06, 0, 16), Call(0xFF07, 1), Call(0xFF08)),
    ]
)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[Step, ...]:
    head = [draw(valid_cfg)] if draw(st.sampled_from([True, True, True, False])) else []
    # Interrupts enabled early, so that later waits can be woken by the primary's injections.
    head += draw(st.sampled_from([[], [], [Call(0xFF0B, 1, 1)], [Call(0xFF0B, 2, 1)], [Call(0xFF0B, 1, 1), Call(0xFF0B, 2, 1)]]))
    parts = draw(st.lists(st.one_of(steps.map(lambda s: (s,)), motifs), min_size=2, max_size=8))
    return (*head, *(step for part in parts for step in part))[:24]


# --- the state machine --------------------------------------------------------------------------------


class MailboxMachine(RuleBasedStateMachine):
    """One system of the build under test next to the model, driven by the primary's rules."""

    def __init__(self, build: Build, counts: dict[str, int]) -> None:
        super().__init__()
        self.build = build
        self.counts = counts
        self.hv: Hv | None = None
        self.model: Model | None = None
        self.log: list[str] = []
        self.failed = False

    # --- plumbing -----------------------------------------------------------------------------

    def scenario(self) -> str:
        assert self.model is not None
        lines = ["scenario (shrunk by Hypothesis):", *self.model.describe_scripts(), "primary:"]
        return "\n".join(lines + [f"  {line}" for line in self.log])

    def fail(self, what: str, expected: object, actual: object, clause: str) -> None:
        """A mismatch, counted against ``clause``: the rule the model applied to get ``expected``."""
        self.failed = True
        raise ConformanceFailure(f"{what} ({clause})", expected, actual, "\n" + self.scenario(), clause=clause)

    def check(self, what: str, actual: int, expected: int | None, clause: str | None = None) -> None:
        """``expected`` is what the model just computed; ``clause`` defaults to the rule it applied."""
        assert self.model is not None
        self.log[-1] += f" -> {actual:#x}" + ("" if expected in (None, actual) else f" (model: {expected:#x})")
        if expected is not None and actual != expected:
            self.fail(what, expected, actual, clause or self.model.rule_for(expected, actual))

    def primary(self, what: str, checked: str, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, insn: str = "hvc #0") -> int:
        """The primary makes one call; its x0 is compared with the model's (computed first, so a
        call that does not return counts against the rule that says what it returns)."""
        assert self.model is not None
        want = self.model.primary_call(x0, x1, x2, x3, insn=insn)
        regs = self.call(what, x0, x1, x2, x3, insn=insn, clause=self.model.rule, checked=want is not None)
        self.check(checked, regs[0], want)
        return regs[0]

    def call(
        self,
        what: str,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        insn: str = "hvc #0",
        clause: str | None = None,
        checked: bool = True,
    ) -> tuple[int, ...]:
        assert self.hv is not None
        self.log.append(f"{what}: {insn} x0={x0:#x} x1={x1:#x} x2={x2:#x} x3={x3:#x}")
        self.counts["calls"] += 1
        regs = self.hv.call_regs(x0, x1, x2, x3, insn=insn, clause=clause)
        if insn.startswith("smc"):
            if checked and clause == "CALL-7":  # no register but x0 changes (the driver loaded x4.. = 0)
                for n, want in enumerate((x1, x2, x3, *([0] * 14)), start=1):
                    if regs[n] != want & 0xFFFF_FFFF_FFFF_FFFF:
                        self.fail(f"{what}: x{n} after the primary's smc", want, regs[n], "CALL-7")
            return regs
        for n in range(1, 18):
            if regs[n] != 0:
                self.fail(f"{what}: x{n} after the primary's hvc", 0, regs[n], "CALL-5")
        return regs

    # --- boot -----------------------------------------------------------------------------------

    @initialize(
        scripts=st.lists(scripts(), min_size=1, max_size=MAX_SECONDARIES),
        vcpus=st.lists(st.sampled_from([1, 1, 1, 2]), min_size=MAX_SECONDARIES, max_size=MAX_SECONDARIES),
        configure=st.sampled_from([True, True, True, False]),
    )
    def boot(self, scripts: list[tuple[Step, ...]], vcpus: list[int], configure: bool) -> None:
        if CAP_WFE_TRAPS not in getattr(self.build, "capabilities", frozenset()):
            # A build whose wfe does not trap (QEMU's TCG: a wfe is a hint that returns at once)
            # gets no wfe steps: its random scripts yield with HF_VCPU_YIELD in their place (RUN-6).
            scripts = [tuple(Call(0xFF04) if isinstance(step, Wfe) else step for step in s) for s in scripts]
        counts = vcpus[: len(scripts)]
        guests = [GuestVM(script_source(s), f"script{i + 1}.S", SECONDARY_MEMORY, counts[i], 1) for i, s in enumerate(scripts)]
        self.hv = hv = boot(self.build, *guests)
        self.counts["systems"] += 1
        self.counts["steps"] += sum(len(s) for s in scripts)
        bases = [hv.base(vm) for vm in range(len(scripts) + 1)]
        self.model = Model(scripts, bases, [PRIMARY_WINDOW] + [SECONDARY_MEMORY] * len(scripts), counts)
        for vm, base in enumerate(bases):
            for page in PRIMARY_PAGES if vm == 0 else SECONDARY_PAGES:
                data = page_pattern(vm, page)
                hv.session.write(vm, base + page, data)
                self.model.write(vm, base + page, data)
        if configure:
            send, recv = bases[0] + 0x10000, bases[0] + 0x11000
            self.primary("configure(own+0x10000, own+0x11000)", "the primary's HF_VM_CONFIGURE", 0xFF05, send, recv)

    def teardown(self) -> None:
        if self.hv is None:
            return
        try:
            if not self.failed:  # after a failure the state is off the model: report the first difference only
                self.compare_memory_and_reports("at the end")
        finally:
            self.hv.session.close()
            self.hv = None

    # --- comparisons ------------------------------------------------------------------------------

    def compare_memory_and_reports(self, when: str, response: int | None = None) -> None:
        """Every secondary's reports and every tracked page against the model's. ``response``: the
        run response the primary got just before (to tell why a vCPU stopped short)."""
        assert self.hv is not None and self.model is not None
        hv, model = self.hv, self.model
        for vm in model.secondaries:
            got = hv.reports(vm.id)
            want = vm.reports
            for n, (g, w) in enumerate(zip(got, want, strict=False)):
                for reg, (gv, wv) in enumerate(zip(g, w.regs, strict=True)):
                    if wv is not None and gv != wv:
                        self.fail(
                            f"{when}: VM {vm.id}'s report #{n} (step [{w.step}] {describe_step(vm.steps[w.step])}): x{reg}",
                            wv,
                            gv,
                            w.x0_rule(gv) if reg == 0 else w.regs_rule,
                        )
            if len(got) != len(want):
                # Fewer: the build did not complete the step the model completed next (its rule);
                # more: it ran a vCPU the model refused to run, or past the point where the model's
                # vCPU stopped (the rule that stopped it).
                if len(got) < len(want):
                    rule = self._short_rule(vm.steps[want[len(got)].step], want[len(got)], response)
                else:
                    rule = vm.refused_rule or vm.stop_rule or "VM-1"
                self.fail(
                    f"{when}: VM {vm.id}'s number of reports (steps completed)",
                    len(want),
                    f"{len(got)}: {[hex(r[0]) for r in got]}",
                    rule,
                )
        for state in model.vms:
            for page in PRIMARY_PAGES if state.id == 0 else SECONDARY_PAGES:
                addr = state.base + page
                expected, mask = state.mem.read(addr, 4096)
                actual = hv.session.read(state.id, addr, 4096)
                at = first_difference(expected, mask, actual)
                if at is not None:
                    role = " (its recv page)" if addr == state.recv else " (its send page)" if addr == state.send else ""
                    self.fail(
                        f"{when}: VM {state.id}'s byte at base + {page + at:#x}{role}",
                        expected[at],
                        actual[at],
                        state.page_rule(addr),
                    )

    @staticmethod
    def _short_rule(step: Step, report: Report, response: int | None) -> str:
        """The clause a vCPU that stopped before completing ``step`` (whose report the model has)
        fails: the rule that says the step completes (``missing_rule``, else its value's rule)."""
        return report.missing_rule or report.rule or "CALL-1"

    # --- the primary's rules ------------------------------------------------------------------------

    @rule(
        pages=st.sampled_from(
            [
                (("own", 0x10000), ("own", 0x11000)),
                (("own", 0x12000), ("own", 0x13000)),
                (("own", 0x13000), ("own", 0x10000)),
                (("own", 0x10008), ("own", 0x11000)),  # CFG-1
                (("own", 0x10000), ("own", 0x11800)),  # CFG-1
                (("own", 0x11000), ("own", 0x11000)),  # CFG-1: the same page
                (("own", 0x10000), ("vm1", 0x11000)),  # CFG-3: another VM's memory
                (("far", 1 << 40), ("own", 0x11000)),  # CFG-3: unmapped
            ]
        ),
        alias=fids,
    )
    def configure(self, pages: tuple[tuple[str, int], tuple[str, int]], alias: int) -> None:
        assert self.hv is not None and self.model is not None
        send, recv = (self.hv.base(1 if kind == "vm1" else 0) + off for kind, off in pages)
        what = f"configure({pages[0][0]}+{pages[0][1]:#x}, {pages[1][0]}+{pages[1][1]:#x})"
        if self.primary(what, "the primary's HF_VM_CONFIGURE", 0xFF05 | alias, send, recv) == 1:
            self._notify(0)

    @rule(to=targets, size=sizes, notify=notifies, seed=st.integers(0, 255), alias=fids, insn=st.sampled_from(HVC))
    def send(self, to: int, size: int, notify: int, seed: int, alias: int, insn: str) -> None:
        assert self.hv is not None and self.model is not None
        page = self.model.primary.send if self.model.primary.send is not None else self.hv.base(0) + 0x10000
        payload = send_payload(seed)
        self.hv.session.write(0, page, payload)
        self.model.write(0, page, payload)
        what = f"write payload (seed {seed}) to {page:#x}; send({to:#x}, {size:#x}, notify={notify:#x})"
        checked = f"the primary's HF_MAILBOX_SEND({to:#x}, {size:#x}, {notify:#x})"
        self.primary(what, checked, 0xFF06 | alias, to, size, notify, insn=insn)

    def _run(self, vm: int, vcpu: int, alias: int) -> None:
        assert self.hv is not None and self.model is not None
        self.log.append(f"run({vm:#x}, {vcpu:#x}) through PREEMPTEDs")
        self.counts["calls"] += 1
        want = self.model.primary_call(0xFF03 | alias, vm, vcpu)
        rule = self.model.rule
        actual = self.hv.run(vm, vcpu, clause=rule) if alias == 0 else self._run_alias(vm, vcpu, alias, rule)
        if want is not None and actual != want:
            # The run's response is where the run ended; a step that went differently on the way
            # (a report or a page) is the earlier, more precise difference: report that first.
            self.log[-1] += f" -> {actual:#x} (model: {want:#x})"
            self.compare_memory_and_reports(f"after run({vm:#x}, {vcpu:#x})", actual)
            self.log[-1] = self.log[-1].rsplit(" -> ", 1)[0]
        self.check(f"HF_VCPU_RUN({vm:#x}, {vcpu:#x})", actual, want)
        self.counts["runs"] += 1
        self.compare_memory_and_reports(f"after run({vm:#x}, {vcpu:#x})", actual)
        if actual == 0x6:  # NOTIFY_WAITERS (RUN-9): the primary wakes the waiters at once
            self._notify(vm)

    def _notify(self, vm: int) -> None:
        """What a primary does on NOTIFY_WAITERS from ``vm``, or a 1 from its own clear or configure
        (``vm`` 0): each waiter of ``vm`` in turn (WAIT-1), HF_MAILBOX_WRITABLE_INTID (2) injected
        into the waiter's vCPU 0 (WAIT-3), until WAITER_GET returns -1 (bounded by the VM count)."""
        assert self.model is not None
        for _ in range(len(self.model.vms) + 1):
            waiter = self.primary(f"waiter_get({vm:#x})", f"HF_MAILBOX_WAITER_GET({vm:#x})", 0xFF0A, vm)
            if not 0 <= waiter < len(self.model.vms):
                return
            what = f"interrupt_inject({waiter:#x}, 0, 2)"
            self.primary(what, f"HF_INTERRUPT_INJECT({waiter:#x}, 0, 2)", 0xFF0D, waiter, 0, 2)

    def _run_alias(self, vm: int, vcpu: int, alias: int, rule: str) -> int:
        """Like ``Hv.run`` with an aliased function ID: PREEMPTED (0x0) if it never stops being preempted."""
        assert self.hv is not None
        for _ in range(YIELD_LIMIT):
            response = self.hv.call(0xFF03 | alias, vm, vcpu, clause=rule)
            if response != 0:
                return response
        return 0

    def _existing(self, pick: int) -> int:
        assert self.model is not None
        return 1 + pick % len(self.model.secondaries)

    @rule(pick=st.integers(0, 3))
    def run(self, pick: int) -> None:
        self._run(self._existing(pick), 0, 0)

    @rule(pick=st.integers(0, 3))
    def run_vcpu_1(self, pick: int) -> None:
        """vCPU 1 of a secondary: off (VM-1) where it exists, else absent: refused either way (RUN-1)."""
        self._run(self._existing(pick), 1, 0)

    @rule(pick=st.integers(0, 3), alias=fids)
    def run_alias(self, pick: int, alias: int) -> None:
        self._run(self._existing(pick), 0, alias)

    @rule(pick=st.integers(0, 3), size=st.integers(0, 64), notify=notifies, seed=st.integers(0, 255))
    def send_existing(self, pick: int, size: int, notify: int, seed: int) -> None:
        self.send(self._existing(pick), size, notify, seed, 0, "hvc #0")

    @rule(
        vm=st.sampled_from([0, 5, 0xFFFF, 0x1_0001, 0xFFFF_0002, 0x1_0000_0001, 0xFFFF_FFFF, 0xFFFF_FFFF_0000_0002, 1, 2]),
        vcpu=st.sampled_from([0, 1, 2, 0x1_0000_0000]),
    )
    def run_odd(self, vm: int, vcpu: int) -> None:
        self._run(vm, vcpu, 0)

    @rule(alias=fids)
    def clear(self, alias: int) -> None:
        if self.primary("clear()", "the primary's HF_MAILBOX_CLEAR", 0xFF08 | alias) == 1:
            self._notify(0)

    @rule(block=blocks)
    def receive(self, block: int) -> None:
        self.primary(f"receive({block:#x})", "the primary's HF_MAILBOX_RECEIVE", 0xFF07, block)

    @rule(vm=st.sampled_from([1, 2, 3, 4, 5, 0xFFFF_FFFF, 0x1_0000_0001]), alias=fids)
    def counts_(self, vm: int, alias: int) -> None:
        self.primary("vm_id()", "HF_VM_GET_ID", 0xFF00 | alias)
        self.primary("vm_count()", "HF_VM_GET_COUNT", 0xFF01 | alias)
        self.primary(f"vcpu_count({vm:#x})", f"HF_VCPU_GET_COUNT({vm:#x})", 0xFF02 | alias, vm)

    @rule(alias=fids)
    def yield_(self, alias: int) -> None:
        self.primary("yield()", "the primary's HF_VCPU_YIELD", 0xFF04 | alias)

    @rule(pick=st.integers(0, 3), odd=st.sampled_from([None, None, None, 0, 5, 0x1_0000_0001]))
    def waiter_get(self, pick: int, odd: int | None) -> None:
        vm = self._existing(pick) if odd is None else odd
        self.primary(f"waiter_get({vm:#x})", f"HF_MAILBOX_WAITER_GET({vm:#x})", 0xFF0A, vm)

    @rule()
    def writable_get(self) -> None:
        self.primary("writable_get()", "the primary's HF_MAILBOX_WRITABLE_GET", 0xFF09)

    @rule(pick=st.integers(0, 3), intid=st.sampled_from([1, 1, 2, 2, 3]))
    def inject_and_run(self, pick: int, intid: int) -> None:
        self.inject(pick, 0, intid, None)
        self._run(self._existing(pick), 0, 0)

    @rule(pick=st.integers(0, 3), size=st.integers(0, 64), seed=st.integers(0, 255))
    def send_and_run(self, pick: int, size: int, seed: int) -> None:
        self.send(self._existing(pick), size, 0, seed, 0, "hvc #0")
        self._run(self._existing(pick), 0, 0)

    @rule(pick=st.integers(0, 3))
    def run_twice(self, pick: int) -> None:
        self._run(self._existing(pick), 0, 0)
        self._run(self._existing(pick), 0, 0)

    @rule(
        pick=st.integers(0, 3),
        vcpu=st.sampled_from([0, 0, 0, 1, 2, 0x1_0000_0000]),
        intid=intids,
        odd=st.sampled_from([None, None, None, None, 0, 5, 0x1_0000_0001]),
    )
    def inject(self, pick: int, vcpu: int, intid: int, odd: int | None) -> None:
        vm = self._existing(pick) if odd is None else odd
        what = f"interrupt_inject({vm:#x}, {vcpu:#x}, {intid:#x})"
        self.primary(what, f"HF_INTERRUPT_INJECT({vm:#x}, {vcpu:#x}, {intid:#x})", 0xFF0D, vm, vcpu, intid)

    @rule(intid=intids, enable=enables)
    def interrupt_enable(self, intid: int, enable: int) -> None:
        what = f"interrupt_enable({intid:#x}, {enable:#x})"
        self.primary(what, f"the primary's HF_INTERRUPT_ENABLE({intid:#x}, {enable:#x})", 0xFF0B, intid, enable)

    @rule()
    def interrupt_get(self) -> None:
        self.primary("interrupt_get()", "the primary's HF_INTERRUPT_GET", 0xFF0C)

    @rule(
        x0=st.sampled_from([0x8400_0000, 0xC400_0000, 0xFF00, 0xFF0F, 0x8400_0015]),
        insn=st.sampled_from(["hvc #0", "smc #0"]),
    )
    def psci_or_smc(self, x0: int, insn: str) -> None:
        self.primary(f"{insn} x0={x0:#x}", f"the primary's {insn} with x0={x0:#x}", x0, 1, 2, 3, insn=insn)

    @invariant()
    def booted(self) -> None:
        assert self.hv is not None


def describe(steps: list[Step]) -> list[str]:
    """The steps as text (for a test's message)."""
    return [describe_step(s) for s in steps]


__all__ = ["MailboxMachine", "Wfi", "describe", "page_pattern", "scripts", "steps"]
