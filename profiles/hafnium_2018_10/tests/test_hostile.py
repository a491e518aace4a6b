"""Hostile guests: random registers on every call ID from every VM, garbage instruction streams,
every fault kind, runaway loops, and sends racing a clear — thrown at the build under test.

What must hold whatever the guests do: every call returns a value (a stop only where the spec
allows one: PSCI_SYSTEM_OFF, a guest fault), runs are bounded, the spec's answer where it has one
(the model, ``profiles/hafnium_2018_10/model.py``, predicts every scripted step), x1..x17 are zero after every
``hvc``, a message lands only in its addressee's recv page with exactly its bytes, no VM's memory
changes except by its own code or a mailbox copy into it (a never-configured canary VM stays
byte-identical), and the next boot is unaffected.

Budgets are small and derandomised (``hf_settings``); ``--hypothesis-profile hf-long`` runs long.
The numbers of programs run and calls fuzzed are recorded as test properties and printed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.fuzz import GARBAGE_LINES, PRIMARY_REGS, REPORT_END, garbage_source
from conformance.harness import YIELD_LIMIT, expect
from conformance.outcomes import CallTimeout, ConformanceFailure
from conformance.protocol import CallOutcome, GuestVM, fault_vm
from guest_asm.programs import Call, Fill, Rel, Step
from profiles.hafnium_2018_10.hv import Hv, boot, program, script
from profiles.hafnium_2018_10.model import ERR
from profiles.hafnium_2018_10.scenarios import SECONDARY_MEMORY, SECONDARY_PAGES, MailboxMachine

MASK64 = 0xFFFF_FFFF_FFFF_FFFF
HF_IDS = list(range(0xFF00, 0xFF07))
PSCI_MUST = [0x8400_0000, 0x8400_0006]  # VERSION, MIGRATE_INFO_TYPE (SYSTEM_OFF separately)
PSCI_OPTIONAL = [0x8400_0001, 0x8400_0002, 0x8400_0003, 0x8400_0004, 0x8400_0005, 0x8400_0007, 0x8400_001F]
VARIANTS = [0, 1 << 30, 0xFFFF_FFFF_0000_0000, 0x8000_0000_0000_0000 | 1 << 30]
FAULTS = ["fault_load", "fault_store", "fault_fetch", "fault_undef", "fault_brk", "fault_svc"]
# PRIMARY_REGS (the preserved-register pattern), GARBAGE_LINES and garbage_source are the fuzz
# command's (conformance/fuzz.py): one definition for both.


def new_counts() -> dict[str, int]:
    return {"systems": 0, "steps": 0, "calls": 0, "runs": 0}


def summarise(counts: dict[str, int], record_property: Callable[[str, object], None], what: str) -> None:
    for key, value in counts.items():
        record_property(f"hostile_{key}", value)
    c = counts
    print(f"hostile ({what}): {c['systems']} systems, {c['steps']} script steps, {c['calls']} calls, {c['runs']} runs")


def snapshot(hv: Hv, vm: int, size: int = SECONDARY_MEMORY) -> bytes:
    return hv.session.read(vm, hv.base(vm), size)


def expect_same_memory(what: str, before: bytes, after: bytes, skip: Sequence[tuple[int, int]] = ()) -> None:
    """``after`` equals ``before`` outside the ``skip`` ranges (offsets from the VM's base)."""
    cuts = sorted(skip)
    pos = 0
    for lo, hi in [*cuts, (len(before), len(before))]:
        if before[pos:lo] != after[pos:lo]:
            at = pos + next(i for i, (a, b) in enumerate(zip(before[pos:lo], after[pos:lo], strict=True)) if a != b)
            what_at = f"{what}: byte at base + {at:#x}"
            raise ConformanceFailure(what_at, before[at], after[at], "VM-5: no other writer", clause="VM-5")
        pos = max(pos, hi)


def expect_echo_works(hv: Hv, vm: int, note: str) -> None:
    """``vm`` runs the echo program, configured and blocked in its receive; the primary is configured."""
    msg = b"still here, byte for byte \x00\xff"
    hv.write_send_page(msg)
    # The echo VM's vCPU 0 is blocked in its receive: SEND-9 wakes it, the primary learns index 0.
    expect(f"{note}: send to the echo VM {vm} (its waiting vCPU 0 woken)", hv.send(vm, len(msg)), 0, clause="SEND-9")
    before = len(hv.reports(vm))
    response = hv.run(vm, clause="RUN-7")
    expected = len(msg) << 32 | 0x3
    if response != expected:
        # Echo reports its receive's result before it replies: that tells which rule went wrong.
        got = hv.reports(vm)
        if len(got) == before:
            clause = "SEND-9"  # its receive never came back: the waiter was not woken
        elif got[before][0] & 0xFFFF_FFFF != 0:
            clause = "RECV-6"  # it learnt the wrong sender (the primary is VM 0) and replied there
        elif got[before][0] >> 32 != len(msg):
            clause = "RECV-2"  # it learnt the wrong size and echoed that many bytes
        else:
            clause = "RUN-7"
        expect(f"{note}: run(echo)", response, expected, clause=clause)
    expect(f"{note}: echoed bytes", hv.recv_page(len(msg)), msg, clause="SEND-7")
    expect(f"{note}: clear", hv.clear(), 0, clause="CLR-1")


def expect_next_boot_unaffected(build: Any) -> None:
    hv = boot(build, program("echo"))
    try:
        expect("next boot: configure", hv.configure(), 0, clause="CFG-5")
        expect("next boot: run(echo)", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
        expect_echo_works(hv, 1, "next boot")
    finally:
        hv.session.close()


def expect_stray_free(m: MailboxMachine, before: dict[int, bytes]) -> None:
    """No write outside the places a scripted secondary or a mailbox copy may write (VM-5)."""
    assert m.hv is not None and m.model is not None
    for vm in m.model.secondaries:
        skip = [(0, 0x14000 + 256 * len(vm.reports))]  # its code, its state and the reports it wrote
        skip += [(p, p + 0x1000) for p in SECONDARY_PAGES]  # compared byte for byte with the model
        expect_same_memory(f"VM {vm.id}'s memory", before[vm.id], snapshot(m.hv, vm.id), skip)


# --- strategies ---------------------------------------------------------------------------------------

u64 = st.integers(0, MASK64)
ids = st.one_of(
    st.builds(lambda f, v: f | v, st.sampled_from(HF_IDS), st.sampled_from(VARIANTS)),
    st.sampled_from([*PSCI_MUST, 0xC400_0000, 0xFF07, 0xFFFF, 0x0, 0xFF00_0000_0000_FF04]),
    u64,
)
args = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 0xFFFF, 0xFFFF_FFFF, 0x1_0000_0001, 4096, 4097, 1 << 63, MASK64]),
    st.integers(0, 4096),
    u64,
)
PRIMARY_PAGE = st.sampled_from(["send", "recv"])  # resolved to the primary's library pages


@st.composite
def raw_call(draw: st.DrawFn) -> Call:
    """A secondary's call with random registers (sometimes its own library pages as addresses)."""
    x1: int | Rel = draw(st.one_of(args, st.sampled_from([Rel(0x10000), Rel(0x11000), Rel(0x12000)])))
    x2: int | Rel = draw(st.one_of(args, st.sampled_from([Rel(0x11000), Rel(0x13000)])))
    return Call(draw(ids), x1, x2, draw(args), insn=draw(st.sampled_from(["hvc #0", "hvc #0xffff", "smc #0"])))


# --- 1. the primary: random registers on every call ID -----------------------------------------------------


@pytest.mark.clause("CALL-2", "CALL-3", "CALL-4", "CALL-5", "CALL-6", "CALL-7", "VM-5", "SEND-1", "SEND-3", "SEND-7", "RUN-2")
def test_primary_random_registers(hv_build, hf_settings, record_property):
    counts = new_counts()
    calls = st.lists(
        st.tuples(
            ids,
            st.one_of(args, PRIMARY_PAGE),
            st.one_of(args, PRIMARY_PAGE),
            args,
            st.sampled_from(["hvc #0", "hvc #1", "smc #0"]),
        ),
        min_size=5,
        max_size=40,
    )

    budget: settings = hf_settings(max_examples=10)

    @budget
    @given(calls=calls)
    def fuzz(calls: list[tuple[int, Any, Any, int, str]]) -> None:
        # VM 1 waits in a receive, VM 2 pauses then waits, VM 3 never configures (a canary).
        scripts: list[tuple[Step, ...]] = [
            (Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), Call(0xFF06), Call(0xFF05, 1)),
            (Call(0xFF03, Rel(0x12000), Rel(0x13000)), Call(0xFF04, 0, 0), Call(0xFF05, 1)),
            (),
        ]
        m = MailboxMachine(hv_build, counts)
        m.boot(scripts, configure=False)
        assert m.hv is not None and m.model is not None
        hv, model = m.hv, m.model
        try:
            before = {vm: snapshot(hv, vm) for vm in (1, 2, 3)}
            page = {"send": hv.base(0) + 0x10000, "recv": hv.base(0) + 0x11000}
            canary_ran = False  # a random HF_VCPU_RUN may run VM 3: its script then writes its own state
            for x0, a1, a2, x3, insn in calls:
                x1 = page[a1] if isinstance(a1, str) else a1
                x2 = page[a2] if isinstance(a2, str) else a2
                func = (x0 & 0xFFFF_FFFF) & ~(1 << 30)
                if insn == "hvc #1" and func == 0xFF00:
                    insn = "hvc #0"  # runs are through YIELDs below
                canary_ran |= func == 0xFF00 and not insn.startswith("smc") and x1 & 0xFFFF_FFFF == 3
                m.log.append(f"{insn} x0={x0:#x} x1={x1:#x} x2={x2:#x} x3={x3:#x}")
                counts["calls"] += 1
                if insn.startswith("smc"):  # CALL-7: PSCI for the primary, else -1; nothing else changes
                    want = {0x8400_0000: 2, 0x8400_0006: 2}.get(func, ERR if func & 0xFFFF_FFE0 != 0x8400_0000 else None)
                    rule = "CALL-7"
                else:
                    want = model.primary_call(x0, x1, x2, x3)
                    rule = model.rule
                outcome = hv.call_outcome(x0, x1, x2, x3, regs=PRIMARY_REGS, insn=insn)
                if func == 0xFF00 and not insn.startswith("smc"):
                    for _ in range(YIELD_LIMIT):  # YIELD: run on (RUN-4), boundedly
                        if not (outcome.regs and outcome.regs[0] == 0x0):
                            break
                        outcome = hv.call_outcome(x0, x1, x2, x3, regs=PRIMARY_REGS, insn=insn)
                regs = _returned(m, outcome, rule)
                m.check(f"primary {insn} x0={x0:#x}", regs[0], want, rule if insn.startswith("smc") else None)
                _expect_registers(m, insn, regs, (x1, x2, x3))
            m.compare_memory_and_reports("after the fuzzed calls")
            if not canary_ran:
                expect_same_memory("the canary VM 3 (never configured, never addressed)", before[3], snapshot(hv, 3))
            expect_stray_free(m, before)  # VM 3 too: nothing but its own script's state and reports
        finally:
            m.teardown()

    fuzz()
    expect_next_boot_unaffected(hv_build)
    summarise(counts, record_property, "primary")


def _returned(m: MailboxMachine, outcome: CallOutcome, rule: str) -> tuple[int, ...]:
    if outcome.regs:
        return tuple(outcome.regs)
    if outcome.timeout is not None:
        raise CallTimeout(f"a fuzzed call did not return: {outcome.timeout}\n{m.scenario()}", clause=rule)
    stop = f"a stop (fault={outcome.fault}, system_off={outcome.system_off})"
    m.fail("a fuzzed call", "a return to the primary", stop, rule)
    raise AssertionError  # pragma: no cover - fail() raised


def _expect_registers(m: MailboxMachine, insn: str, regs: Sequence[int], args: tuple[int, int, int]) -> None:
    if insn.startswith("smc"):  # CALL-7: only x0 changes
        for n, value in enumerate(args, start=1):
            if regs[n] != value & MASK64:
                m.fail(f"x{n} after the primary's smc: kept", value, regs[n], "CALL-7")
    else:
        for n in range(1, 18):
            if regs[n] != 0:
                m.fail(f"x{n} after the primary's {insn}: zero", 0, regs[n], "CALL-5")
    rule = "CALL-7" if insn.startswith("smc") else "CALL-5"
    for n in range(4 if insn.startswith("smc") else 18, 31):
        if regs[n] != PRIMARY_REGS[n]:
            m.fail(f"x{n} after the primary's {insn}: preserved", PRIMARY_REGS[n], regs[n], rule)


@pytest.mark.clause("CALL-6")
@pytest.mark.impl_defined
@pytest.mark.parametrize("insn", ["hvc #0", "smc #0"])
def test_primary_optional_psci_calls(boot, insn):
    """PSCI calls other than VERSION/MIGRATE_INFO_TYPE/SYSTEM_OFF: any value, but a value."""
    hv = boot(program("echo"))
    for func in PSCI_OPTIONAL:
        for variant in (0, 1 << 30):
            outcome = hv.call_outcome(func | variant, 1, 0x4000_0000, 0, insn=insn)
            expect(f"{insn} PSCI {func | variant:#x} returns to the primary", bool(outcome.regs), True)
    expect("configure", hv.configure(), 0)
    expect("run(echo)", hv.run(1), 0x1)
    expect_echo_works(hv, 1, "after the optional PSCI calls")


@pytest.mark.clause("CALL-6")
@pytest.mark.parametrize("x0", [0x8400_0008, 0xC400_0008, 0xFFFF_FFFF_8400_0008])
def test_primary_system_off_ends_the_run(boot, x0):
    hv = boot(program("echo"))
    outcome = hv.call_outcome(x0)
    expect(f"PSCI_SYSTEM_OFF ({x0:#x}) ends the run", (bool(outcome.regs), outcome.system_off), (False, True))


# --- 2. secondaries: random registers on every call ID ------------------------------------------------------


@pytest.mark.clause(
    "CALL-2",
    "CALL-3",
    "CALL-4",
    "CALL-5",
    "CALL-6",
    "CALL-7",
    "VM-3",
    "VM-5",
    "RUN-1",
    "CFG-1",
    "CFG-3",
    "SEND-1",
    "SEND-3",
    "RECV-3",
)
def test_secondary_random_registers(hv_build, hf_settings, record_property):
    counts = new_counts()
    # Two fuzzed VMs and the canary: three secondaries, as many as Hafnium aa039b39 runs.
    scripts = st.lists(st.lists(raw_call(), min_size=1, max_size=12).map(tuple), min_size=1, max_size=2)

    budget: settings = hf_settings(max_examples=10)

    @budget
    @given(scripts=scripts, order=st.lists(st.integers(0, 1), min_size=3, max_size=12))
    def fuzz(scripts: list[tuple[Step, ...]], order: list[int]) -> None:
        canary: tuple[Step, ...] = ()
        m = MailboxMachine(hv_build, counts)
        m.boot([*scripts, canary], configure=True)
        assert m.hv is not None and m.model is not None
        try:
            before = {vm.id: snapshot(m.hv, vm.id) for vm in m.model.secondaries}
            n = len(scripts)
            for pick in [*order, *range(n)]:
                m._run(1 + pick % n, 0, 0)
            expect_same_memory(f"the canary VM {n + 1}", before[n + 1], snapshot(m.hv, n + 1))
            expect_stray_free(m, before)
        finally:
            m.teardown()

    fuzz()
    expect_next_boot_unaffected(hv_build)
    summarise(counts, record_property, "secondaries")


# --- 3. garbage instruction streams ---------------------------------------------------------------------------

garbage_line = st.one_of(st.sampled_from(GARBAGE_LINES), st.integers(0, 0xFFFF_FFFF).map(lambda w: f".word {w:#010x}"))


@pytest.mark.clause("VM-5", "CALL-4", "CALL-5", "RUN-4", "FAULT")
def test_garbage_instruction_streams(hv_build, hf_settings, record_property):
    counts = new_counts()
    policy = "continue" if "fault_continue" in getattr(hv_build, "capabilities", frozenset()) else "stop"

    budget: settings = hf_settings(max_examples=15)

    @budget
    @given(lines=st.lists(garbage_line, min_size=4, max_size=48))
    def fuzz(lines: list[str]) -> None:
        guests = (GuestVM(garbage_source(lines), "garbage.S"), program("echo"), program("idle"))
        hv = boot(hv_build, *guests, time_slice=2000, fault_policy=policy)
        counts["systems"] += 1
        counts["steps"] += len(lines)
        try:
            expect("configure", hv.configure(), 0, clause="CFG-5")
            expect("run(echo)", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
            echo, canary = snapshot(hv, 2), snapshot(hv, 3)
            primary_pages = hv.session.read(0, hv.base(0) + 0x10000, 0x4000)
            stopped, messages = False, 0
            for _ in range(8):
                counts["runs"] += 1
                outcome = hv.call_outcome(0xFF00, 1, 0)
                if not outcome.regs:  # a fault stopped the system (§10 allows it) -- never a timeout
                    if outcome.timeout is not None:
                        msg = f"run of a garbage VM did not return: {outcome.timeout}\n" + "\n".join(lines)
                        raise CallTimeout(msg, clause="RUN-4")
                    expect("the system stopped on a fault of VM", fault_vm(outcome.fault), 1, clause="FAULT")
                    stopped = True
                    break
                response = outcome.regs[0]
                code, vm_field, data = response & 0xFF, response >> 16 & 0xFFFF, response >> 32
                known = code <= 3 and response & 0xFF00 == 0
                expect(f"run response {response:#x}: a known code, bits 15..8 zero", known, True, clause="RUN-3")
                if code == 0x3:
                    messages += 1
                    expect("MESSAGE: no vm field, size <= 4096", (vm_field, data <= 4096), (0, True), clause="RUN-7")
                    expect("clear after a MESSAGE", hv.clear(), 0, clause="CLR-1")
                if code == 0x2:
                    messages += 1
                    expect("WAKE_UP names a VM that exists", 2 <= vm_field <= 3, True, clause="RUN-8")
                if code == 0x1:
                    break
            if not stopped:
                if messages == 0:  # nothing legitimately reached another VM
                    expect_same_memory("the echo VM", echo, snapshot(hv, 2), [(0x14000, REPORT_END)])
                    same = hv.session.read(0, hv.base(0) + 0x10000, 0x4000) == primary_pages
                    expect("the primary's pages", same, True, clause="VM-5")
                expect_same_memory("the idle canary VM 3", canary, snapshot(hv, 3))
                if messages == 0:
                    expect_echo_works(hv, 2, "after the garbage VM ran")
        finally:
            hv.session.close()

    fuzz()
    expect_next_boot_unaffected(hv_build)
    summarise(counts, record_property, "garbage streams")


# --- 4. faults and runaway loops ---------------------------------------------------------------------------------


@pytest.mark.clause("FAULT", "VM-5")
@pytest.mark.impl_defined
@pytest.mark.parametrize("kind", FAULTS)
def test_fault_leaves_other_vms_alone(boot, hv_build, kind):
    policy = "continue" if "fault_continue" in getattr(hv_build, "capabilities", frozenset()) else "stop"
    hv = boot(program(kind), program("echo"), program("idle"), fault_policy=policy)
    expect("configure", hv.configure(), 0)
    expect("run(echo)", hv.run(2), 0x1)
    echo, canary = snapshot(hv, 2), snapshot(hv, 3)
    outcome = hv.call_outcome(0xFF00, 1, 0)
    if outcome.regs:
        expect(f"run of a VM that hit {kind}", outcome.regs[0], 0x1)
        expect("the faulted vCPU never runs again", hv.run(1), 0x1)
        expect_same_memory("the echo VM", echo, snapshot(hv, 2))
        expect_same_memory("the idle VM", canary, snapshot(hv, 3))
        expect_echo_works(hv, 2, f"after {kind}")
    else:
        expect(f"the stop after {kind} is a located fault of VM", fault_vm(outcome.fault), 1)
        expect_same_memory("the echo VM", echo, snapshot(hv, 2))
        expect_same_memory("the idle VM", canary, snapshot(hv, 3))
    expect_next_boot_unaffected(hv_build)


@pytest.mark.clause("RUN-4", "VM-5")
def test_runaway_loops_are_preempted_and_contained(boot, hv_build):
    hv = boot(program("spinner"), program("echo"), program("spinner"), time_slice=2000)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(echo)", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    echo = snapshot(hv, 2)
    for lap in range(5):
        for vm in (1, 3):
            expect(f"lap {lap}: run_once({vm}) of a spinner: preempted", hv.run_once(vm), 0x0, clause="RUN-4")
    expect_same_memory("the echo VM", echo, snapshot(hv, 2))
    expect_echo_works(hv, 2, "between spinners")
    expect("a spinner is still ready", hv.run_once(1), 0x0, clause="RUN-4")
    expect_next_boot_unaffected(hv_build)


# --- 5. sends racing a clear (several ready vCPUs) ---------------------------------------------------------------


@pytest.mark.clause("SEND-6", "SEND-7", "SEND-9", "SEND-10", "SEND-11", "CLR-1", "RUN-8", "VM-5")
@pytest.mark.requires("ready_vcpus")
def test_sends_race_a_clear(hv_build, hf_settings, record_property):
    counts = new_counts()
    sends = [step for k in range(6) for step in (_fill(k), Call(0xFF04, 1, 40 + k))]
    sender: tuple[Step, ...] = (Call(0xFF03, Rel(0x10000), Rel(0x11000)), *sends)
    actions = st.lists(
        st.one_of(
            st.tuples(st.just("run1"), st.integers(0, 1)),
            st.tuples(st.just("run2"), st.just(0)),
            st.tuples(st.just("send"), st.integers(0, 4096)),
        ),
        min_size=4,
        max_size=30,
    )

    budget: settings = hf_settings(max_examples=12)

    @budget
    @given(actions=actions)
    def race(actions: list[tuple[str, int]]) -> None:
        guests = (program("receiver", vcpus=2, ready_vcpus=2), script(*sender), program("idle"))
        hv = boot(hv_build, *guests)
        counts["systems"] += 1
        try:
            expect("configure", hv.configure(), 0, clause="CFG-5")
            # The receiver's vCPU 0 configures first (sends to an unconfigured VM are other tests').
            expect("run(1, 0): the receiver configures and blocks", hv.run(1, 0, clause="RUN-6"), 0x1, clause="RUN-6")
            canary = snapshot(hv, 3)
            sender_recv = hv.session.read(2, hv.base(2) + 0x11000, 4096)
            next_k = 0
            for n, (kind, arg) in enumerate(actions):
                counts["calls"] += 1
                if kind == "send":
                    payload = bytes((n * 37 + i * 11) & 0xFF for i in range(arg))
                    hv.write_send_page(payload)
                    result = hv.send(1, arg)
                    ok = result in (0, 1, 0xFFFF, ERR)
                    expect(f"action {n}: send({arg}) to the two-vCPU receiver", ok, True, clause="SEND-11")
                    if result != ERR:
                        got = hv.recv_page(arg, vm=1)
                        expect(f"action {n}: the receiver's recv page holds exactly the message", got, payload, clause="SEND-7")
                elif kind == "run1":
                    counts["runs"] += 1
                    response = hv.run(1, arg, clause="RUN-6")
                    expect(f"action {n}: run(1, {arg}) of the receiver", response, 0x1, clause="RUN-6")
                else:
                    counts["runs"] += 1
                    response = hv.run(2, clause="RUN-5")  # YIELD for ever: its closing wfi (RUN-5)
                    if response != 0x1:
                        woken = response >> 32
                        expect(
                            f"action {n}: run(2): WAKE_UP of VM 1",
                            (response & 0xFFFF_FFFF, woken in (0, 1, 0xFFFF)),
                            (0x10002, True),
                            clause="RUN-8",
                        )
                        # VM 2's sends k = 0..5 differ in size and bytes; a refused one (mailbox not
                        # empty) is skipped by the script, so the one that landed is some k >= the last.
                        landed = [k for k in range(next_k, 6) if hv.recv_page(40 + k, vm=1) == _filled(k)]
                        what = f"action {n}: VM 1's recv page holds exactly one of VM 2's next messages"
                        expect(what, bool(landed), True, clause="SEND-7")
                        next_k = landed[0] + 1
            expect_same_memory("the idle canary VM 3", canary, snapshot(hv, 3))
            same = hv.session.read(2, hv.base(2) + 0x11000, 4096) == sender_recv
            expect("VM 2's recv page (nobody writes to VM 2)", same, True, clause="VM-5")
        finally:
            hv.session.close()

    race()
    summarise(counts, record_property, "send/clear races")


def _fill(k: int) -> Step:
    return Fill(40 + k, 0x30 + 16 * k)


def _filled(k: int) -> bytes:
    return bytes((0x30 + 16 * k + i) & 0xFF for i in range(40 + k))
