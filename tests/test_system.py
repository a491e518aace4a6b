"""The reference hypervisor end to end: real guests on Unicorn, every hypercall a real ``hvc``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest_asm import layout
from profiles.hafnium_2018_10 import abi
from profiles.hafnium_2018_10.core import VcpuState
from reference_hv import (
    Answer,
    ConfigError,
    HarnessError,
    Return,
    System,
    SystemHalted,
    Trap,
    Vcpu,
    VmLayout,
    VMSpec,
)
from reference_hv.core_api import CopyFn
from reference_hv.machine import X_REGS

ERR = 0xFFFF_FFFF_FFFF_FFFF


def configure_primary(s: System) -> None:
    b = s.base(0)
    assert s.call(0xFF03, b + 0x10000, b + 0x11000).x0 == 0


# --- spec §11: Hafnium's own tests, exact values -------------------------------------------


def test_echo_values() -> None:
    s = System([VMSpec.program("echo")])
    configure_primary(s)
    assert s.call(0xFF00, 1, 0).x0 == 0x1
    s.write(0, s.base(0) + 0x10000, b"Echo this back to me!\0")
    assert s.call(0xFF04, 1, 22).x0 == 0
    assert s.call(0xFF00, 1, 0).x0 == 0x0000001600000003
    assert s.read(0, s.base(0) + 0x11000, 22) == b"Echo this back to me!\0"
    assert s.call(0xFF06).x0 == 0
    kinds = [(e.kind, e.vm) for e in s.trace]
    assert ("switch", 1) in kinds and ("switch", 0) in kinds


def test_relay_values() -> None:
    s = System([VMSpec.program("relay", NEXT_HOP=2), VMSpec.program("relay", NEXT_HOP=0)])
    configure_primary(s)
    assert s.call(0xFF00, 1, 0).x0 == 0x1
    assert s.call(0xFF00, 2, 0).x0 == 0x1
    s.write(0, s.base(0) + 0x10000, b"Send this round the relay!\0")
    assert s.call(0xFF04, 1, 27).x0 == 0
    assert s.call(0xFF00, 1, 0).x0 == 0x20002
    assert s.call(0xFF00, 2, 0).x0 == 0x1B00000003
    assert s.read(0, s.base(0) + 0x11000, 27) == b"Send this round the relay!\0"
    assert s.call(0xFF06).x0 == 0
    receives = [e for e in s.trace if e.kind == "switch" and e.vm == 2]
    assert receives, "VM 2 ran"
    # VM 2's receive returned 1 | 27 << 32: visible in its first report slot.
    from guest_asm import programs

    reports = programs.read_reports(s.read(2, s.base(2) + layout.LIB_REPORT, 4096))
    assert reports[0][0] == 1 | 27 << 32


def test_repeated_echo_100_rounds() -> None:
    s = System([VMSpec.program("echo")])
    configure_primary(s)
    for i in range(100):
        assert s.call(0xFF00, 1, 0).x0 == 0x1
        msg = bytes([i]) * (i + 1)
        s.write(0, s.base(0) + 0x10000, msg)
        assert s.call(0xFF04, 1, len(msg)).x0 == 0
        assert s.call(0xFF00, 1, 0).x0 == len(msg) << 32 | 0x3
        assert s.read(0, s.base(0) + 0x11000, len(msg)) == msg
        assert s.call(0xFF06).x0 == 0


def test_small_hafnium_tests() -> None:
    assert System().call(0xFF01).x0 == 1
    s = System([VMSpec.program("idle")])
    assert s.call(0xFF01).x0 == 2
    assert s.call(0xFF02, 1).x0 == 1
    assert s.call(0xFF02, 0xFFFF_FFFF).x0 == ERR
    assert s.call(0xFF00, 0, 0).x0 == 0x1
    assert s.call(0xFF00, 2, 0).x0 == 0x1
    assert s.call(0xFF00, 1, 1).x0 == 0x1
    assert s.call(0xFF05, 0).x0 == ERR
    assert s.call(0xFF05, 1).x0 == ERR
    b = s.base(0)
    assert s.call(0xFF03, b + 0x10001, b + 0x11000).x0 == ERR
    assert s.call(0xFF03, b + 0x10000, b + 0x11001).x0 == ERR
    assert s.call(0xFF03, b + 0x10001, b + 0x11001).x0 == ERR
    assert s.call(0xFF03, b + 0x10000, b + 0x10000).x0 == ERR
    assert s.call(0xFF03, b + 0x10000, b + 0x11000).x0 == 0
    assert s.call(0xFF03, b + 0x10000, b + 0x11000).x0 == ERR


# --- the primary driver contract ------------------------------------------------------------


def test_call_returns_all_registers() -> None:
    s = System()
    sentinels = {n: 0xAB00 + n for n in range(4, 31)}
    r = s.call(0xFF01, 5, 6, 7, regs=sentinels)
    assert r.regs[0] == 1
    assert r.regs[1:18] == (0,) * 17
    assert r.regs[18:] == tuple(0xAB00 + n for n in range(18, 31))


def test_smc_changes_only_x0() -> None:
    s = System()
    r = s.call(0xFF01, 5, 6, 7, regs={4: 9}, insn="smc #0")
    assert r.regs[:5] == (ERR, 5, 6, 7, 9)


def test_bad_driver_requests() -> None:
    s = System()
    with pytest.raises(HarnessError, match="unsupported instruction"):
        s.call(0xFF01, insn="svc #0")
    with pytest.raises(HarnessError, match=r"x4\.\.x30"):
        s.call(0xFF01, regs={3: 1})
    with pytest.raises(HarnessError, match="no VM 5"):
        s.read(5, 0, 1)
    with pytest.raises(HarnessError, match="outside its memory"):
        s.read(0, 0, 1)


# --- scheduling -----------------------------------------------------------------------------


def test_time_slice_preempts_with_yield() -> None:
    s = System([VMSpec.program("spinner")], time_slice=500)
    for _ in range(5):
        assert s.call(0xFF00, 1, 0).x0 == 0x0
    assert s.vcpu_state(1, 0) is VcpuState.READY
    assert [e.kind for e in s.trace].count("preempt") == 5


def test_wfi_blocks_and_wfe_does_not() -> None:
    s = System([VMSpec.program("wfi"), VMSpec.program("wfe")])
    assert s.call(0xFF00, 1, 0).x0 == 0x1
    assert s.vcpu_state(1, 0) is VcpuState.BLOCKED_WFI
    assert s.call(0xFF00, 2, 0).x0 == 0x1
    from guest_asm import programs

    assert len(programs.read_reports(s.read(2, s.base(2) + layout.LIB_REPORT, 4096))) == 1


@pytest.mark.parametrize("ready", [2, 3])
def test_several_ready_vcpus_keep_their_registers(ready: int) -> None:
    s = System([VMSpec(VMSpec.program("receiver").source, "receiver.S", vcpus=3, ready_vcpus=ready)])
    configure_primary(s)
    for idx in range(ready):
        assert s.call(0xFF00, 1, idx).x0 == 0x1
        assert s.vcpu_state(1, idx) is VcpuState.BLOCKED_MAILBOX
    assert s.call(0xFF04, 1, 4).x0 == ready - 1  # the most recent waiter (SEND-9)
    assert s.call(0xFF00, 1, ready - 1).x0 == 0x1  # it receives, clears, blocks again
    assert s.call(0xFF04, 1, 4).x0 == ready - 1


# --- faults, budget, halts -------------------------------------------------------------------

FAULTS = {
    "fault_load": "data abort (read",
    "fault_store": "data abort (write",
    "fault_fetch": "instruction abort",
    "fault_undef": "undefined instruction",
    "fault_brk": "breakpoint",
    "fault_svc": "svc",
}


@pytest.mark.parametrize(("program", "kind"), sorted(FAULTS.items()))
def test_secondary_fault_is_located(program: str, kind: str) -> None:
    s = System([VMSpec.program("idle"), VMSpec.program(program)])
    r = s.call(0xFF00, 2, 0)
    assert not r.completed and r.fault is not None
    assert r.fault.vm == 2 and r.fault.vcpu == 0
    assert kind in r.fault.kind
    assert s.base(2) <= r.fault.pc < s.base(2) + 0x1000 or program == "fault_fetch"
    if program in ("fault_load", "fault_store", "fault_fetch"):
        assert r.fault.address == 0
    assert f"VM 2 vCPU 0: {r.fault.kind} at PC {r.fault.pc:#x}" in str(r.fault)
    with pytest.raises(SystemHalted, match="fault"):
        s.call(0xFF01)


@pytest.mark.parametrize("program", sorted(FAULTS))
def test_fault_continue_policy(program: str) -> None:
    s = System([VMSpec.program(program), VMSpec.program("echo")], fault_policy="continue")
    configure_primary(s)
    assert s.call(0xFF00, 1, 0).x0 == 0x1
    assert s.vcpu_state(1, 0) is VcpuState.ABORTED
    assert s.call(0xFF00, 1, 0).x0 == 0x1
    assert s.call(0xFF00, 2, 0).x0 == 0x1
    s.write(0, s.base(0) + 0x10000, b"ok")
    assert s.call(0xFF04, 2, 2).x0 == 0
    assert s.call(0xFF00, 2, 0).x0 == 0x0000000200000003
    assert len(s.faults) == 1


def test_fault_store_cannot_reach_another_vm() -> None:
    probe = System([VMSpec.program("idle"), VMSpec.program("idle")])
    target = probe.base(1) + 0x11000
    s = System([VMSpec.program("idle"), VMSpec.program("fault_store", ADDR=target)])
    s.write(1, target, b"\xee" * 16)
    r = s.call(0xFF00, 2, 0)
    assert r.fault is not None and r.fault.address == target
    assert s.read(1, target, 16) == b"\xee" * 16


def test_runaway_primary_times_out() -> None:
    s = System(primary=VMSpec("_start:\n    b _start\n", "loop.S"), budget=20_000)
    r = s.run()
    assert r.timeout is not None and r.fault is None
    assert r.timeout.vm == 0 and r.timeout.pc == s.base(0)
    assert "budget exhausted" in str(r.timeout)
    with pytest.raises(SystemHalted, match="timeout"):
        s.run()


def test_endless_ping_pong_times_out() -> None:
    primary = """
_start:
    mov x0, #HF_VCPU_RUN
    mov x1, #1
    mov x2, #0
    hvc #0
    b _start
"""
    s = System([VMSpec.program("spinner")], primary=VMSpec(abi.equ_source() + primary, "pinger.S"), time_slice=100, budget=50_000)
    r = s.run()
    assert r.timeout is not None
    assert r.timeout.switches > 100


def test_autonomous_primary_system_off() -> None:
    primary = """
_start:
    mov x0, #HF_VM_GET_COUNT
    hvc #0
    mov x19, x0
    ldr x0, =PSCI_SYSTEM_OFF
    hvc #0
    b _start
"""
    s = System([VMSpec.program("idle")], primary=VMSpec(abi.equ_source() + primary, "off.S"))
    r = s.run()
    assert r.system_off and not r.completed
    assert [e.kind for e in s.trace][-1] == "stop"
    with pytest.raises(HarnessError, match="call\\(\\) needs the primary driver"):
        s.call(0xFF01)


def test_primary_fault_stops_the_system() -> None:
    s = System(primary=VMSpec(".word 0\n", "undef.S"))
    r = s.run()
    assert r.fault is not None and r.fault.vm == 0 and "undefined" in r.fault.kind


def test_jump_to_the_stop_address_is_a_fault() -> None:
    src = """
_start:
    movz x9, #0xffff, lsl #32
    br x9
"""
    s = System([VMSpec(src, "jump.S")])
    r = s.call(0xFF00, 1, 0)
    assert r.fault is not None and "instruction abort" in r.fault.kind and r.fault.pc == 0xFFFF_0000_0000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secondaries": [VMSpec("nop\n", vcpus=0)]}, "vcpus"),
        ({"secondaries": [VMSpec("nop\n", memory=0x1234)]}, "memory"),
        ({"secondaries": [VMSpec("nop\n", vcpus=2, ready_vcpus=3)]}, "ready_vcpus"),
        ({"secondaries": [VMSpec(".skip 0x3000\n", memory=0x2000)]}, "larger than its memory"),
        ({"time_slice": 0}, "time_slice must be an int in 1"),
        ({"fault_policy": "ignore"}, "fault_policy"),
    ],
)
def test_bad_configurations(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        System(**kwargs)  # type: ignore[arg-type]


# --- determinism and hostile guests -----------------------------------------------------------


def _echo_trace() -> list[str]:
    s = System([VMSpec.program("echo"), VMSpec.program("spinner")], time_slice=300)
    configure_primary(s)
    s.call(0xFF00, 1, 0)
    s.call(0xFF00, 2, 0)
    s.write(0, s.base(0) + 0x10000, b"x" * 100)
    s.call(0xFF04, 1, 100)
    s.call(0xFF00, 1, 0)
    return [repr(e.to_json()) for e in s.trace]


def test_trace_is_deterministic() -> None:
    assert _echo_trace() == _echo_trace()


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.integers(0, 0xFFFF_FFFF), min_size=1, max_size=64))
def test_garbage_code_never_breaks_the_harness(words: list[int]) -> None:
    src = "".join(f".word {w:#x}\n" for w in words)
    s = System([VMSpec(src, "garbage.S"), VMSpec.program("echo")], fault_policy="continue", time_slice=2000, budget=200_000)
    r = s.call(0xFF00, 1, 0)
    assert r.completed or r.timeout is not None
    if r.completed:
        assert r.x0 in (0x0, 0x1, ERR) or r.x0 & 0xFF in (0x2, 0x3)
        # The system is still usable and the echo VM untouched by whatever VM 1 did.
        assert s.call(0xFF01).x0 == 3


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    x0=st.one_of(st.integers(0xFF00, 0xFF0F), st.integers(0, 2**64 - 1)),
    args=st.tuples(*[st.integers(0, 2**64 - 1)] * 3),
)
def test_random_primary_calls_return(x0: int, args: tuple[int, int, int]) -> None:
    s = System([VMSpec.program("echo")], time_slice=2000)
    r = s.call(x0, *args)
    assert r.completed or r.system_off
    if r.completed:
        assert r.regs[1:18] == (0,) * 17
        assert s.call(0xFF01).x0 == 2


# --- the public API validates what it is given (issue 15, finding 9) ------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0x4000_1000}, "base must be a multiple of 0x100000"),
        ({"base": -0x10_0000}, "base must be a multiple of 0x100000"),
        ({"budget": 1 << 64}, "budget must be an int in 1..0x4000000000000000"),
        ({"budget": 1e6}, "budget must be an int"),
        ({"time_slice": True}, "time_slice must be an int"),
        ({"max_switches": 0}, "max_switches must be an int"),
    ],
)
def test_bad_numbers_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        System([VMSpec.program("idle")], **kwargs)  # type: ignore[arg-type]


def test_read_and_write_take_bytes_and_sizes() -> None:
    with System([VMSpec.program("idle")]) as s:
        base = s.base(1)
        with pytest.raises(ConfigError, match="data must be bytes, not str"):
            s.write(1, base + 0x10000, "AB")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="size must be a non-negative int, not -5"):
            s.read(1, base + 0x10000, -5)
        s.write(1, base + 0x10000, bytearray(b"AB"))
        assert s.read(1, base + 0x10000, 2) == b"AB"
        assert len(s.read(1, base, 0x10_0000)) == 0x10_0000  # one copy, not a byte loop
    with pytest.raises(SystemHalted):
        s.read(1, base, 4)  # the context manager closed it


def test_dc_zva_fault_names_the_blocks_first_byte() -> None:
    s = System([VMSpec("_start:\n    mov x1, #0x2010\n    dc zva, x1\n    wfi\n", "zva.S")])
    result = s.call(0xFF00, 1, 0)
    assert result.fault is not None and result.fault.address == 0x2000
    assert result.fault.kind == "data abort (write to unmapped address)"


def test_prefetch_abort_with_the_guest_mmu_on_is_named() -> None:
    s = System([VMSpec("_start:\n    mov x1, #0x1\n    msr sctlr_el1, x1\n    isb\n    nop\n    wfi\n", "mmu.S")])
    result = s.call(0xFF00, 1, 0)
    assert result.fault is not None
    assert result.fault.kind == "instruction abort (prefetch abort, guest MMU on)"
    assert result.fault.address == result.fault.pc


@pytest.mark.parametrize("primary", [True, False])
def test_illegal_exception_return_is_a_named_fault(primary: bool) -> None:
    """An eret to a mode EL1 cannot return to faults on hardware; Unicorn returns as if legal, so
    the reference checks SPSR_EL1 before each eret of a program (it used to be a budget TIMEOUT)."""
    src = "_start:\n    mov x1, #0x3\n    msr spsr_el1, x1\n    adr x2, _start\n    msr elr_el1, x2\n    eret\n"
    if primary:
        result = System(primary=VMSpec(src, "eret.S"), budget=100_000).run()
    else:
        result = System([VMSpec(src, "eret.S")], budget=100_000).call(0xFF00, 1, 0)
    assert result.timeout is None and result.fault is not None
    assert result.fault.kind.startswith("illegal exception return (eret with SPSR_EL1 0x3")
    assert result.fault.pc % 0x10_0000 == 0x10  # the eret itself


def test_legal_exception_return_goes_on() -> None:
    src = "_start:\n    mov x1, #0x3c5\n    msr spsr_el1, x1\n    adr x2, next\n    msr elr_el1, x2\n    eret\nnext:\n    wfi\n"
    result = System([VMSpec(src, "eret.S")]).call(0xFF00, 1, 0)
    assert result.fault is None and result.x0 == 0x1  # reached the wfi after the eret


# --- the core interface: System knows no profile's states ------------------------------------


@dataclass(slots=True)
class _ToyVcpu(Vcpu):
    state: str = "off"


class ToyCore:
    """Another ABI entirely (core_api.Core): x0 = 1 runs VM 1, x0 = 2 from VM 1 returns to the
    primary with 0x77 (VM 1 resumes with 0x33), any other hvc answers x0 + 1."""

    def __init__(self, layout: Sequence[VmLayout], copy: CopyFn) -> None:
        self.vcpus = [[_ToyVcpu(v.id, i, state="ready" if i < v.ready_vcpus else "off") for i in range(v.vcpus)] for v in layout]

    def first(self) -> Vcpu:
        return self.vcpus[0][0]

    def _to_primary(self, vm_id: int, vcpu_idx: int, state: str, resume: int | None, response: int) -> Answer:
        vcpu, primary = self.vcpus[vm_id][vcpu_idx], self.vcpus[0][0]
        vcpu.state, vcpu.resume_x0, primary.resume_x0 = state, resume, response
        return Answer(None, primary)

    def hypercall(self, vm_id: int, vcpu_idx: int, x0: int, x1: int, x2: int, x3: int) -> Answer:
        if vm_id == 0 and x0 == 1 and self.vcpus[1][0].state == "ready":
            self.vcpus[1][0].state = "running"
            return Answer(None, self.vcpus[1][0])
        if vm_id == 1 and x0 == 2:
            return self._to_primary(vm_id, vcpu_idx, "ready", 0x33, 0x77)
        return Answer(x0 + 1)

    def smc(self, vm_id: int, vcpu_idx: int, x0: int) -> Answer:
        return Answer(None, system_off=True) if x0 == 9 else Answer(x0 + 2)

    def preempted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self._to_primary(vm_id, vcpu_idx, "ready", None, 0x55)

    def wait_for_interrupt(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self._to_primary(vm_id, vcpu_idx, "asleep", None, 0x66)

    def aborted(self, vm_id: int, vcpu_idx: int) -> Answer:
        return self._to_primary(vm_id, vcpu_idx, "dead", None, 0x99)

    def vcpu_state(self, vm_id: int, vcpu_idx: int) -> str:
        return self.vcpus[vm_id][vcpu_idx].state


TOY_SECONDARY = """
_start:
    mov x0, #2
    hvc #0
    mov x19, x0
    wfi
"""


def test_a_core_with_other_states_runs_on_the_same_scheduler() -> None:
    s = System([VMSpec(TOY_SECONDARY, "toy.S")], core_class=ToyCore)
    assert s.call(7).x0 == 8
    assert s.call(7, insn="smc #0").x0 == 9
    assert s.call(1).x0 == 0x77  # VM 1 ran, called 2: the primary's value
    assert s.vcpu_state(1, 0) == "ready"
    assert s.call(1).x0 == 0x66  # VM 1 resumed with 0x33 (kept in x19), then wfi
    assert s.vcpu_state(1, 0) == "asleep"
    switches = [(e.vm, e.result, e.detail) for e in s.trace if e.kind == "switch"]
    assert switches == [(1, None, "0x1"), (0, 0x77, "hypercall"), (1, None, "0x1"), (0, 0x66, "wfi")]
    assert s.call(9, insn="smc #0").system_off


def test_a_core_answers_preemption_and_faults() -> None:
    s = System([VMSpec("_start:\n    mov x0, #2\n    hvc #0\n    b .\n", "spin.S")], core_class=ToyCore, time_slice=200)
    s.call(1)
    assert s.call(1).x0 == 0x55 and s.vcpu_state(1, 0) == "ready"
    f = System([VMSpec(".word 0\n", "undef.S")], core_class=ToyCore, fault_policy="continue")
    assert f.call(1).x0 == 0x99 and f.vcpu_state(1, 0) == "dead"


# --- the interception API -----------------------------------------------------------------------


def test_intercept_hvc_before_replaces_the_core() -> None:
    s = System([VMSpec.program("idle")])
    seen: list[Trap] = []

    def before(trap: Trap) -> Answer | None:
        seen.append(trap)
        return Answer(0x1234) if trap.args[0] == 0xFF02 else None

    s.intercept("hvc", before=before)
    assert s.call(0xFF02, 1).x0 == 0x1234  # the core was not asked
    assert s.call(0xFF01).x0 == 2  # None: the core answers
    assert [(t.kind, t.vm, t.vcpu, t.args[:2]) for t in seen] == [("hvc", 0, 0, (0xFF02, 1)), ("hvc", 0, 0, (0xFF01, 0))]
    assert seen[0].system is s and seen[0].machine is s.machines[0]
    assert [e.result for e in s.trace if e.kind == "hvc"][-2:] == [0x1234, 2]  # the trace records the answer applied


def test_intercept_hvc_after_changes_the_answer_and_registers() -> None:
    s = System([VMSpec.program("idle")])

    def after(trap: Trap, answer: Answer) -> Answer:
        assert answer == Answer(2)
        trap.machine.set_reg(X_REGS[20], 0xAB)  # registers may change too
        return answer._replace(ret=7)

    s.intercept("hvc", after=after)
    r = s.call(0xFF01, regs={20: 1})
    assert r.x0 == 7 and r.regs[20] == 0xAB and r.regs[1:18] == (0,) * 17


def test_intercept_smc() -> None:
    s = System()
    s.intercept("smc", after=lambda trap, answer: Answer(answer.ret ^ 1 if answer.ret is not None else None))
    r = s.call(0x84000000, 5, insn="smc #0")
    assert r.regs[:2] == (3, 5)  # PSCI_VERSION 2, changed; x1 untouched (CALL-7)


def test_intercept_return_sees_immediate_and_resumed_values() -> None:
    s = System([VMSpec.program("echo")])
    configure_primary(s)
    returns: list[tuple[int, int, int, bool, int]] = []

    def after(ret: Return) -> None:
        returns.append((ret.vm, ret.vcpu, ret.x0, ret.resumed, ret.before[1]))

    s.intercept("return", after=after)
    assert s.call(0xFF01, 9).x0 == 2
    assert returns == [(0, 0, 2, False, 9)]  # x1 was 9 before it was zeroed
    returns.clear()
    assert s.call(0xFF00, 1, 0).x0 == 0x1  # the echo configures (immediate), blocks: the primary resumes
    assert returns[0][:4] == (1, 0, 0, False) and returns[-1][:4] == (0, 0, 0x1, True)


def test_intercept_rejects_what_it_cannot_do() -> None:
    s = System()
    with pytest.raises(ValueError, match="kind must be one of"):
        s.intercept("svc", after=lambda ret: None)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="only after="):
        s.intercept("return", before=lambda trap: None)  # type: ignore[call-overload]


def test_an_interceptor_that_raises_is_an_internal_error() -> None:
    s = System()

    def before(trap: Trap) -> Answer | None:
        raise RuntimeError("interceptor bug")

    s.intercept("hvc", before=before)
    with pytest.raises(HarnessError, match=r"internal error.*interceptor bug"):
        s.call(0xFF01)


def test_the_core_may_not_copy_outside_a_vms_memory() -> None:
    s = System([VMSpec.program("idle")])
    with pytest.raises(HarnessError, match="outside their memory"):
        s.platform(0, s.base(0) + s.memory_size(0) - 8, 1, s.base(1), 16)  # the core's copy function


# --- machines reused across systems ------------------------------------------------------------

#: Leaves as much behind as a guest can: system registers, its own code rewritten, memory written.
DIRTY = """
_start:
    ldr x0, =0x40f00000
    msr vbar_el1, x0
    ldr x1, =0x5555aaaa
    msr tpidr_el1, x1
    msr sp_el0, x1
    mrs x2, sctlr_el1
    orr x2, x2, #2              // SCTLR_EL1.A: unaligned accesses fault from now on
    msr sctlr_el1, x2
    adr x3, patched
    ldr w4, =0xd2800540         // mov x0, #42
    str w4, [x3]
    ic iallu
patched:
    nop
    adr x5, _start
    add x5, x5, #0x20000
    mov x6, #0x7700
fill:
    str x6, [x5], #8
    subs x6, x6, #1
    b.ne fill
    wfi
"""

#: Reports what a new machine must show: the system registers as reset, an unaligned load allowed.
PROBE = """
_start:
    LIB_INIT
    mrs x0, vbar_el1
    mrs x1, tpidr_el1
    mrs x2, sp_el0
    mrs x3, sctlr_el1
    adr x4, _start
    ldr x6, =0x20001
    add x4, x4, x6
    ldr x5, [x4]                // unaligned: faults if SCTLR_EL1.A survived
    REPORT
    wfi
"""


def _probe_system() -> tuple[list[tuple[int, ...]], bytes, list[str]]:
    from profiles.hafnium_2018_10 import programs

    source = programs.LIBRARY.header + programs.LIBRARY.prelude() + PROBE
    with System([VMSpec(source, "probe.S")]) as system:
        assert system.call(0xFF00, 1, 0).x0 == 0x1  # the probe ends in wfi
        mem = system.read(1, system.base(1), 0x10_0000)
        reports = list(programs.read_reports(mem[layout.LIB_REPORT :]))
        return reports, mem, [repr(e.to_json()) for e in system.trace]


def test_a_reused_machine_is_a_new_machine() -> None:
    from reference_hv import machine

    machine._POOL.clear()
    fresh = _probe_system()  # new machines only
    for _ in range(2):
        with System([VMSpec(layout.equ_source() + DIRTY, "dirty.S")]) as dirty:
            while (response := dirty.call(0xFF00, 1, 0).x0) == 0x0:  # YIELD: preempted while it fills
                pass
            assert response == 0x1
            assert dirty.read(1, dirty.base(1) + 0x20000, 8) == (0x7700).to_bytes(8, "little")
    assert sum(len(idle) for idle in machine._POOL.values()) >= 2  # the dirty systems' machines wait
    reused = _probe_system()  # the dirty systems' machines, reset
    assert reused == fresh
    (report,) = fresh[0]
    assert report[1] == 0 and report[2] == 0  # TPIDR_EL1, SP_EL0 as reset, not 0x5555aaaa


def test_a_closed_system_cannot_reach_machines_that_moved_on() -> None:
    first = System([VMSpec.program("echo")])
    base = first.base(1)
    first.close()
    second = System([VMSpec.program("echo")])  # may get the first system's machines
    with pytest.raises(SystemHalted, match="closed"):
        first.read(1, base, 4)
    with pytest.raises(SystemHalted):
        first.call(0xFF01)
    first.intercept("hvc", before=lambda trap: None)  # a no-op now: never re-hooks second's machines
    assert second.call(0xFF01).x0 == 2
    second.close()


def test_large_machines_are_closed_not_kept() -> None:
    from reference_hv import machine

    with System([VMSpec.program("idle", memory=32 * 1024 * 1024)]) as system:
        big = system.machines[1]
    assert big.closed  # its 32 MiB are freed, not kept for a later system
    assert all(m.size <= machine.POOL_MAX_MEMORY for idle in machine._POOL.values() for m in idle)


def test_registers_set_for_one_call_do_not_leak_into_the_next() -> None:
    with System() as system:
        assert system.call(0xFF01, regs={20: 0xABC, 30: 0x3030}).regs[20] == 0xABC  # x18..x30 preserved (CALL-5)
        plain = system.call(0xFF01)
        assert plain.regs[0] == 1 and plain.regs[20] == 0 and plain.regs[30] == 0  # the driver loaded zeros again
        assert system.call(0xFF01, insn="hvc #0x1234", regs={25: 7}).regs[25] == 7
        assert system.call(0xFF01, insn="smc #0").regs[25] == 0
