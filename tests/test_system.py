"""The reference hypervisor end to end: real guests on Unicorn, every hypercall a real ``hvc``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest_asm import abi
from reference_hv import (
    ConfigError,
    HarnessError,
    System,
    SystemHalted,
    VcpuState,
    VMSpec,
)

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

    reports = programs.read_reports(s.read(2, s.base(2) + abi.LIB_REPORT, 4096))
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

    assert len(programs.read_reports(s.read(2, s.base(2) + abi.LIB_REPORT, 4096))) == 1


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
    s = System([VMSpec.program("spinner")], primary=VMSpec(primary, "pinger.S"), time_slice=100, budget=50_000)
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
    s = System([VMSpec.program("idle")], primary=VMSpec(primary, "off.S"))
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
    return [str(e) for e in s.trace]


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
