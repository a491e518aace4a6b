"""The model-based scenarios the randomised tests share: Hypothesis strategies of guest scripts and
primary calls, and :class:`MailboxMachine`, the state machine that boots random systems of
scripted secondaries and compares every answer of the build with :class:`~.model.Model`'s.

Used by ``tests/test_model.py`` (random systems) and ``tests/test_hostile.py`` (hostile guests):
a module of its own, not a test module, so neither test imports the other.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conformance.harness import YIELD_LIMIT
from conformance.outcomes import ConformanceFailure
from conformance.protocol import Build, GuestVM
from profiles.hafnium_2018_10.hv import Hv, boot
from profiles.hafnium_2018_10.model import (
    ERR,
    RECEIVE,
    WAIT_FOR_INTERRUPT,
    Model,
    Report,
    describe_step,
    first_difference,
    function_id,
)
from profiles.hafnium_2018_10.programs import Call, CopyRecv, Fill, Rel, Step, Wfe, Wfi, script_source

SECONDARY_MEMORY = 0x10_0000
#: The primary names its own pages only below base + 0x20000 (the library layout the driver follows).
PRIMARY_WINDOW = 0x2_0000
#: Pages the test fills with a known pattern at boot and compares with the model afterwards.
SECONDARY_PAGES = (0x10000, 0x11000, 0x12000, 0x13000, 0x20000, 0xFF000)
PRIMARY_PAGES = (0x10000, 0x11000, 0x12000, 0x13000)
HVC = ("hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff")
ALIAS = (0, 0, 0, 1 << 30, 0xFFFF_FFFF_0000_0000, 0x1234_0000_0000 | 1 << 30)


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
    st.sampled_from([5, 0xFFFF, 0x1_0000_0001, 0xFFFF_FFFF_0000_0002, 0xFFFF_FFFF, 0x1_0000_0000]),
)
sizes = st.one_of(
    st.integers(0, 4096),
    st.sampled_from([0, 4096, 4097, 0x1_0000_0000, 0x1_0000_0004, 1 << 63, ERR]),
)
insns = st.sampled_from([*["hvc #0"] * 6, "hvc #1", "hvc #0x1234", "hvc #0xffff", "smc #0"])
blocks = st.sampled_from([0, 0, 1, 1, 1 << 63, 0x1_0000_0000])

_pages = st.sampled_from(SECONDARY_PAGES)
valid_cfg = st.tuples(_pages, _pages).filter(lambda p: p[0] != p[1]).map(lambda p: Call(0xFF03, Rel(p[0]), Rel(p[1])))
bad_cfg = st.sampled_from(
    [
        Call(0xFF03, Rel(0x10010), Rel(0x11000)),  # CFG-1
        Call(0xFF03, Rel(0x10000), Rel(0x11001)),  # CFG-1
        Call(0xFF03, Rel(0x12000), Rel(0x12000)),  # CFG-4
        Call(0xFF03, Rel(0x10000), Rel(SECONDARY_MEMORY)),  # CFG-3: just past its memory
        Call(0xFF03, Rel(1 << 40), Rel(0x11000)),  # CFG-3: far away
    ]
)


@st.composite
def hv_call(draw: st.DrawFn, func: int, x1: st.SearchStrategy[int], x2: st.SearchStrategy[int]) -> Call:
    return Call(func | draw(fids), draw(x1), draw(x2), draw(st.sampled_from([0, 0, 0xDEAD])), insn=draw(insns))


steps: st.SearchStrategy[Step] = st.one_of(
    hv_call(0xFF04, targets, sizes),  # sends
    hv_call(0xFF04, st.integers(0, 4), st.integers(0, 64)),  # small sends, mostly to existing VMs
    hv_call(0xFF04, st.just(0), st.just(0)),  # PAUSE
    hv_call(0xFF05, blocks, st.just(0)),  # receives
    hv_call(0xFF05, st.just(1), st.just(0)),  # blocking receives
    hv_call(0xFF06, st.just(0), st.just(0)),  # clears
    st.just(Call(0xFF04, 0, 0, reply=True)),  # reply to the last sender with its size
    st.builds(Fill, st.integers(0, 4096), st.integers(0, 255)),
    st.builds(CopyRecv, st.one_of(st.none(), st.integers(0, 4096))),
    valid_cfg,
    bad_cfg,
    st.sampled_from(
        [
            Call(0xFF01),  # VM-2
            Call(0xFF02, 1),  # VM-3: -1 for a secondary
            Call(0xFF00, 1, 0),  # RUN-1
            Call(0xFF07),  # CALL-4
            Call(0x8400_0000),  # CALL-6: PSCI from a secondary is unknown
            Wfe(),
            Wfi(),
        ]
    ),
)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[Step, ...]:
    head = [draw(valid_cfg)] if draw(st.sampled_from([True, True, True, False])) else []
    return (*head, *draw(st.lists(steps, min_size=3, max_size=14)))


# --- the state machine --------------------------------------------------------------------------------


#: At most three secondaries: Hafnium aa039b39 runs no more (a fourth does not fit its page-table
#: pool), and a random scenario should be one every conforming build can boot.
MAX_SECONDARIES = 3


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

    def primary(self, what: str, checked: str, x0: int, x1: int = 0, x2: int = 0, insn: str = "hvc #0") -> None:
        """The primary makes one call; its x0 is compared with the model's (computed first, so a
        call that does not return counts against the rule that says what it returns)."""
        assert self.model is not None
        want = self.model.primary_call(x0, x1, x2)
        regs = self.call(what, x0, x1, x2, insn=insn, clause=self.model.rule)
        self.check(checked, regs[0], want)

    def call(
        self, what: str, x0: int, x1: int = 0, x2: int = 0, insn: str = "hvc #0", clause: str | None = None
    ) -> tuple[int, ...]:
        assert self.hv is not None
        self.log.append(f"{what}: {insn} x0={x0:#x} x1={x1:#x} x2={x2:#x}")
        self.counts["calls"] += 1
        regs = self.hv.call_regs(x0, x1, x2, insn=insn, clause=clause)
        for n in range(1, 18):
            if regs[n] != 0:
                self.fail(f"{what}: x{n} after the primary's hvc", 0, regs[n], "CALL-5")
        return regs

    # --- boot -----------------------------------------------------------------------------------

    @initialize(
        scripts=st.lists(scripts(), min_size=1, max_size=MAX_SECONDARIES), configure=st.sampled_from([True, True, True, False])
    )
    def boot(self, scripts: list[tuple[Step, ...]], configure: bool) -> None:
        guests = [GuestVM(script_source(s), f"script{i + 1}.S", SECONDARY_MEMORY) for i, s in enumerate(scripts)]
        self.hv = hv = boot(self.build, *guests)
        self.counts["systems"] += 1
        self.counts["steps"] += sum(len(s) for s in scripts)
        bases = [hv.base(vm) for vm in range(len(scripts) + 1)]
        self.model = Model(scripts, bases, [PRIMARY_WINDOW] + [SECONDARY_MEMORY] * len(scripts))
        for vm, base in enumerate(bases):
            for page in PRIMARY_PAGES if vm == 0 else SECONDARY_PAGES:
                data = page_pattern(vm, page)
                hv.session.write(vm, base + page, data)
                self.model.write(vm, base + page, data)
        if configure:
            send, recv = bases[0] + 0x10000, bases[0] + 0x11000
            self.primary("configure(own+0x10000, own+0x11000)", "the primary's HF_VM_CONFIGURE", 0xFF03, send, recv)

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
                    rule = vm.refused_rule or vm.stop_rule or "VM-4"
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
        """The clause a vCPU that stopped before completing ``step`` (whose report the model has) fails.

        By default the step's own: the rule that says the step completes (``missing_rule``, else the
        rule of its value). But a call that returns to its caller without a switch cannot itself stop
        the vCPU with WAIT_FOR_INTERRUPT (0x1) -- only ``wfi`` and a blocking receive answer that
        (RUN-5, RUN-6); a vCPU that stopped there while ready was preempted, and RUN-4 says the
        primary then sees YIELD (0x0), not 0x1, and the vCPU stays ready.
        """
        default = report.missing_rule or report.rule or "CALL-1"
        if response != WAIT_FOR_INTERRUPT or not isinstance(step, Call) or report.missing_rule:
            return default
        if isinstance(step.x0, int) and function_id(step.x0) == RECEIVE:
            return default  # a receive may block (RECV-3 and RECV-4 decide whether it should)
        return "RUN-4"

    # --- the primary's rules ------------------------------------------------------------------------

    @rule(
        pages=st.sampled_from(
            [
                (("own", 0x10000), ("own", 0x11000)),
                (("own", 0x12000), ("own", 0x13000)),
                (("own", 0x13000), ("own", 0x10000)),
                (("own", 0x10008), ("own", 0x11000)),  # CFG-1
                (("own", 0x10000), ("own", 0x11800)),  # CFG-1
                (("own", 0x11000), ("own", 0x11000)),  # CFG-4
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
        self.primary(what, "the primary's HF_VM_CONFIGURE", 0xFF03 | alias, send, recv)

    @rule(to=targets, size=sizes, seed=st.integers(0, 255), alias=fids, insn=st.sampled_from(HVC))
    def send(self, to: int, size: int, seed: int, alias: int, insn: str) -> None:
        assert self.hv is not None and self.model is not None
        page = self.model.primary.send if self.model.primary.send is not None else self.hv.base(0) + 0x10000
        payload = send_payload(seed)
        self.hv.session.write(0, page, payload)
        self.model.write(0, page, payload)
        what = f"write payload (seed {seed}) to {page:#x}; send({to:#x}, {size:#x})"
        self.primary(what, f"the primary's HF_MAILBOX_SEND({to:#x}, {size:#x})", 0xFF04 | alias, to, size, insn=insn)

    def _run(self, vm: int, vcpu: int, alias: int) -> None:
        assert self.hv is not None and self.model is not None
        self.log.append(f"run({vm:#x}, {vcpu:#x}) through YIELDs")
        self.counts["calls"] += 1
        want = self.model.primary_call(0xFF00 | alias, vm, vcpu)
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

    def _run_alias(self, vm: int, vcpu: int, alias: int, rule: str) -> int:
        """Like ``Hv.run`` with an aliased function ID: YIELD (0x0) if it never stops yielding."""
        assert self.hv is not None
        for _ in range(YIELD_LIMIT):
            response = self.hv.call(0xFF00 | alias, vm, vcpu, clause=rule)
            if response != 0:
                return response
        return 0

    def _existing(self, pick: int) -> int:
        assert self.model is not None
        return 1 + pick % len(self.model.secondaries)

    @rule(pick=st.integers(0, 3))
    def run(self, pick: int) -> None:
        self._run(self._existing(pick), 0, 0)

    @rule(pick=st.integers(0, 3), alias=fids)
    def run_alias(self, pick: int, alias: int) -> None:
        self._run(self._existing(pick), 0, alias)

    @rule(pick=st.integers(0, 3), size=st.integers(0, 64), seed=st.integers(0, 255))
    def send_existing(self, pick: int, size: int, seed: int) -> None:
        self.send(self._existing(pick), size, seed, 0, "hvc #0")

    @rule(
        vm=st.sampled_from([0, 5, 0xFFFF, 0x1_0000_0001, 0xFFFF_FFFF, 0xFFFF_FFFF_0000_0002]),
        vcpu=st.sampled_from([0, 1, 0x1_0000_0000]),
    )
    def run_odd(self, vm: int, vcpu: int) -> None:
        self._run(vm, vcpu, 0)

    @rule(alias=fids)
    def clear(self, alias: int) -> None:
        assert self.model is not None
        self.primary("clear()", "the primary's HF_MAILBOX_CLEAR", 0xFF06 | alias)

    @rule(block=blocks)
    def receive(self, block: int) -> None:
        assert self.model is not None
        self.primary(f"receive({block:#x})", "the primary's HF_MAILBOX_RECEIVE", 0xFF05, block)

    @rule(vm=st.sampled_from([1, 2, 3, 4, 5, 0xFFFF_FFFF, 0x1_0000_0001]), alias=fids)
    def counts_(self, vm: int, alias: int) -> None:
        assert self.model is not None
        self.primary("vm_count()", "HF_VM_GET_COUNT", 0xFF01 | alias)
        self.primary(f"vcpu_count({vm:#x})", f"HF_VCPU_GET_COUNT({vm:#x})", 0xFF02 | alias, vm)

    @invariant()
    def booted(self) -> None:
        assert self.hv is not None
