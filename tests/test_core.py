"""The ABI core alone: state machines and return values, with no emulator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from profiles.hafnium_2018_10.core import Core, MailboxState, Vcpu, VcpuState
from reference_hv.core_api import Answer, VmLayout

ERR = 0xFFFF_FFFF_FFFF_FFFF
BASES = [0x4000_0000, 0x4010_0000, 0x4020_0000, 0x4030_0000]
SIZE = 0x10_0000


class Copies:
    def __init__(self) -> None:
        self.done: list[tuple[int, int, int, int, int]] = []

    def __call__(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        self.done.append((src_vm, src, dst_vm, dst, size))


def make(n_secondaries: int = 2, vcpus: int = 1, primary_vcpus: int = 8, ready: int = 1) -> tuple[Core, Copies]:
    copies = Copies()
    layout = [VmLayout(0, BASES[0], SIZE, primary_vcpus)]
    layout += [VmLayout(i, BASES[i], SIZE, vcpus, ready) for i in range(1, n_secondaries + 1)]
    return Core(layout, copies), copies


def primary(core: Core) -> Vcpu:
    return core.vms[0].vcpus[0]


def to_primary(core: Core, response: int) -> Answer:
    """The answer that switches to the primary, whose HF_VCPU_RUN returns ``response``."""
    assert primary(core).resume_x0 == response, f"the primary's pending run response is {primary(core).resume_x0!r}"
    return Answer(None, primary(core))


def configure(core: Core, vm: int) -> int | None:
    base = BASES[vm]
    return core.hypercall(vm, 0, 0xFF03, base + 0x10000, base + 0x11000, 0).ret


def test_boot_states() -> None:
    core, _ = make()
    assert core.vms[0].vcpus[0].state is VcpuState.RUNNING
    assert [v.state for v in core.vms[0].vcpus[1:]] == [VcpuState.OFF] * 7
    assert core.vms[1].vcpus[0].state is VcpuState.READY
    assert all(vm.mailbox is MailboxState.EMPTY for vm in core.vms)
    assert core.first() is primary(core)
    assert all(v.resume_x0 is None for vm in core.vms for v in vm.vcpus)


def test_ready_vcpus_at_boot() -> None:
    core, _ = make(1, vcpus=3, ready=2)
    assert [v.state for v in core.vms[1].vcpus] == [VcpuState.READY, VcpuState.READY, VcpuState.OFF]
    assert core.vcpu_state(1, 1) is VcpuState.READY


def test_layout_must_number_vms_in_order() -> None:
    with pytest.raises(ValueError, match="at least the primary"):
        Core([], Copies())
    with pytest.raises(ValueError, match="in order"):
        Core([VmLayout(1, BASES[0], SIZE, 1)], Copies())


@pytest.mark.parametrize("x0", [0xFF01, 0x4000FF01, 0xFFFF_FFFF_0000_FF01, 0xBFFF_FFFF_4000_FF01])
def test_function_id_masking(x0: int) -> None:
    core, _ = make()
    assert core.hypercall(0, 0, x0, 0, 0, 0) == Answer(3)


@pytest.mark.parametrize("x0", [0, 0xFF07, 0xFEFF, 0x8000FF01, 0x1FF01, 0xFFFF_FFFF_FFFF_FFFF])
def test_unknown_ids(x0: int) -> None:
    core, _ = make()
    assert core.hypercall(1, 0, x0, 0, 0, 0) == Answer(ERR)


def test_psci_primary_only() -> None:
    core, _ = make()
    assert core.hypercall(0, 0, 0x84000000, 0, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0xC4000006, 0, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0x84000008, 0, 0, 0).system_off
    assert core.hypercall(0, 0, 0x84000003, 0, 0, 0).ret == ERR
    assert core.hypercall(1, 0, 0x84000000, 0, 0, 0).ret == ERR
    assert core.smc(0, 0, 0x84000000).ret == 2
    assert core.smc(0, 0, 0xFF01).ret == ERR
    assert core.smc(1, 0, 0x84000000).ret == ERR
    assert core.smc(0, 0, 0x84000008) == Answer(None, system_off=True)


def test_counts() -> None:
    core, _ = make(3, vcpus=2)
    assert core.hypercall(1, 0, 0xFF01, 0, 0, 0).ret == 4
    assert core.hypercall(0, 0, 0xFF02, 0, 0, 0).ret == 8
    assert core.hypercall(0, 0, 0xFF02, 2, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0xFF02, 0x1_0000_0002, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0xFF02, 4, 0, 0).ret == ERR
    assert core.hypercall(0, 0, 0xFF02, 0xFFFF_FFFF, 0, 0).ret == ERR
    assert core.hypercall(1, 0, 0xFF02, 1, 0, 0).ret == ERR


def test_configure_checks_in_order() -> None:
    core, _ = make()
    b = BASES[1]

    def call(send: int, recv: int) -> int | None:
        return core.hypercall(1, 0, 0xFF03, send, recv, 0).ret

    assert call(b + 0x10001, b + 0x11000) == ERR  # CFG-1
    assert call(b + 0x10000, b + 0x10800) == ERR  # CFG-1
    assert call(BASES[2] + 0x10000, b + 0x11000) == ERR  # CFG-3: another VM's page
    assert call(b + SIZE - 0x1000, b + SIZE) == ERR  # CFG-3: one page past the end
    assert call(b + 0x10000, b + 0x10000) == ERR  # CFG-4
    assert call(b + SIZE - 0x1000, b) == 0  # CFG-5: both edges
    assert call(b + 0x10000, b + 0x11000) == ERR  # CFG-2
    assert call(b + 0x10001, b + 0x11000) == ERR  # CFG-1 before CFG-2 (still -1)
    assert core.vms[1].send == b + SIZE - 0x1000


def test_run_rules() -> None:
    core, _ = make(2, vcpus=2)
    wfi = 0x1
    assert core.hypercall(1, 0, 0xFF00, 2, 0, 0) == Answer(wfi)  # RUN-1
    assert core.hypercall(0, 0, 0xFF00, 0, 0, 0) == Answer(wfi)  # RUN-2: the primary
    assert core.hypercall(0, 0, 0xFF00, 3, 0, 0) == Answer(wfi)  # absent VM
    assert core.hypercall(0, 0, 0xFF00, 1, 2, 0) == Answer(wfi)  # absent vCPU
    assert core.hypercall(0, 0, 0xFF00, 1, 1, 0) == Answer(wfi)  # vCPU off
    vcpu = core.vms[1].vcpus[0]
    answer = core.hypercall(0, 0, 0xFF00, 0x1_0000_0001, 0x1_0000_0000, 0)
    assert answer == Answer(None, vcpu) and answer.next is vcpu  # RUN-3
    assert vcpu.resume_x0 is None  # it starts with its boot registers
    assert vcpu.state is VcpuState.RUNNING
    assert core.preempted(1, 0) == to_primary(core, 0x0)  # RUN-4
    assert vcpu.state in (VcpuState.READY,)  # (a tuple: mypy would narrow the attribute to RUNNING)
    assert vcpu.resume_x0 is None  # a preempted vCPU resumes with its registers as they were
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0).next is vcpu
    assert core.wait_for_interrupt(1, 0) == to_primary(core, 0x1)  # RUN-5
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0) == Answer(wfi)  # blocked for good (RUN-5)


def test_echo_exchange() -> None:
    core, copies = make(1)
    assert configure(core, 0) == 0
    assert configure(core, 1) == 0
    echo = core.vms[1].vcpus[0]
    # echo blocks in receive: the primary's run returns WAIT_FOR_INTERRUPT (RUN-6)
    assert core.hypercall(1, 0, 0xFF05, 1, 0, 0) == to_primary(core, 0x1)
    assert echo.state is VcpuState.BLOCKED_MAILBOX and echo.resume_x0 is None
    primary(core).resume_x0 = None  # (delivered by the scheduler's switch)
    # The primary's send wakes it: the primary goes on with 0 (the woken vCPU's index, SEND-11);
    # the echo's receive will return sender 0, size 22 when it next runs (SEND-9, RECV-6).
    assert core.hypercall(0, 0, 0xFF04, 1, 22, 0) == Answer(0)
    assert copies.done == [(0, BASES[0] + 0x10000, 1, BASES[1] + 0x11000, 22)]
    assert echo.resume_x0 == 0x0000001600000000 and core.vcpu_state(1, 0) is VcpuState.READY
    assert core.vms[1].mailbox is MailboxState.READ
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0) == Answer(None, echo)
    echo.resume_x0 = None  # (delivered by the scheduler's switch)
    assert core.hypercall(1, 0, 0xFF06, 0, 0, 0).ret == 0
    # The echo's send to the primary: the primary's run returns MESSAGE, size 22 (RUN-7); the
    # echo's send returns 0 when it next runs (SEND-12, RUN-9).
    assert core.hypercall(1, 0, 0xFF04, 0, 22, 0) == to_primary(core, 0x0000001600000003)
    assert echo.resume_x0 == 0
    assert core.vms[0].mailbox is MailboxState.READ
    assert core.hypercall(0, 0, 0xFF06, 0, 0, 0).ret == 0
    assert core.hypercall(0, 0, 0xFF06, 0, 0, 0).ret == ERR  # CLR-2


def test_send_checks() -> None:
    core, _ = make(2)
    assert core.hypercall(0, 0, 0xFF04, 1, 0, 0).ret == ERR  # SEND-4 (caller unconfigured)
    configure(core, 0)
    assert core.hypercall(0, 0, 0xFF04, 1, 0, 0).ret == ERR  # SEND-5
    configure(core, 1)
    assert core.hypercall(0, 0, 0xFF04, 1, 4097, 0).ret == ERR  # SEND-1
    assert core.hypercall(0, 0, 0xFF04, 1, 1 << 63, 0).ret == ERR
    assert core.hypercall(0, 0, 0xFF04, 0, 1, 0).ret == ERR  # SEND-2
    assert core.hypercall(0, 0, 0xFF04, 3, 1, 0).ret == ERR  # SEND-3
    assert core.hypercall(0, 0, 0xFF04, 0x1_0000_0001, 4096, 0).ret == 0xFFFF  # SEND-10/11
    assert core.vms[1].mailbox is MailboxState.RECEIVED
    assert core.hypercall(0, 0, 0xFF04, 1, 1, 0).ret == ERR  # SEND-6
    assert core.hypercall(1, 0, 0xFF06, 0, 0, 0).ret == ERR  # CLR-3
    assert core.hypercall(1, 0, 0xFF05, 0, 0, 0).ret == 0x0000100000000000  # RECV-2
    assert core.hypercall(1, 0, 0xFF05, 0, 0, 0).ret == ERR  # RECV-3 (read)
    assert core.hypercall(0, 0, 0xFF04, 1, 1, 0).ret == ERR  # SEND-6 (read, not cleared)


def test_secondary_to_secondary_wake_up() -> None:
    core, _ = make(2)
    for vm in (0, 1, 2):
        configure(core, vm)
    assert core.hypercall(2, 0, 0xFF05, 7, 0, 0) == to_primary(core, 0x1)
    # The answer of a send that wakes a waiter: the primary runs next with WAKE_UP (RUN-8); the
    # waiter and the sender each get their value when they next run (SEND-9, SEND-12).
    waiter, sender = core.vms[2].vcpus[0], core.vms[1].vcpus[0]
    assert core.hypercall(1, 0, 0xFF04, 2, 27, 0) == to_primary(core, 0x0000000000020002)
    assert waiter.resume_x0 == 0x0000001B00000001 and waiter.state is VcpuState.READY
    assert sender.resume_x0 == 0 and sender.state is VcpuState.READY


def test_secondary_to_secondary_no_waiter() -> None:
    core, _ = make(2)
    for vm in (0, 1, 2):
        configure(core, vm)
    assert core.hypercall(1, 0, 0xFF04, 2, 5, 0) == to_primary(core, 0x0000FFFF00020002)


def test_waiters_are_lifo() -> None:
    core, _ = make(1, vcpus=3)
    configure(core, 0)
    configure(core, 1)
    for idx in (0, 2, 1):
        core.vms[1].vcpus[idx].state = VcpuState.RUNNING
        assert core.hypercall(1, idx, 0xFF05, 1, 0, 0) == to_primary(core, 0x1)
    assert core.hypercall(0, 0, 0xFF04, 1, 3, 0).ret == 1  # most recent waiter
    assert core.hypercall(1, 0, 0xFF06, 0, 0, 0).ret == 0
    assert core.hypercall(0, 0, 0xFF04, 1, 3, 0).ret == 2
    assert core.vms[1].waiters == [0]


def test_receive_rules() -> None:
    core, _ = make(1)
    assert core.hypercall(0, 0, 0xFF05, 0, 0, 0).ret == ERR  # RECV-1
    assert core.hypercall(0, 0, 0xFF05, 1, 0, 0).ret == ERR
    assert core.hypercall(1, 0, 0xFF05, 0, 0, 0).ret == ERR  # RECV-3, empty
    assert core.hypercall(1, 0, 0xFF06, 0, 0, 0).ret == ERR  # CLR-2


def test_abort_makes_vcpu_unrunnable() -> None:
    core, _ = make(1)
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0).next is core.vms[1].vcpus[0]
    assert core.aborted(1, 0) == to_primary(core, 0x1)
    assert core.vcpu_state(1, 0) is VcpuState.ABORTED
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0).ret == 0x1


def test_pending_values_have_one_writer() -> None:
    """Every value a vCPU receives when it next runs goes through Core.resume_with."""
    written: list[tuple[int, int, int | None]] = []

    class Recording(Core):
        def resume_with(self, vcpu: Vcpu, x0: int | None) -> None:
            written.append((vcpu.vm_id, vcpu.index, x0))
            super().resume_with(vcpu, x0)

    core = Recording([VmLayout(0, BASES[0], SIZE, 1), VmLayout(1, BASES[1], SIZE, 1), VmLayout(2, BASES[2], SIZE, 1)], Copies())
    for vm in (0, 1, 2):
        configure(core, vm)
    core.hypercall(2, 0, 0xFF05, 1, 0, 0)  # VM 2 blocks: its own value none, the primary's 0x1
    core.hypercall(1, 0, 0xFF04, 2, 3, 0)  # VM 1 wakes it: VM 2's result, VM 1's 0, the primary's WAKE_UP
    assert written == [(2, 0, None), (0, 0, 0x1), (2, 0, 0x0000000300000001), (1, 0, 0), (0, 0, 0x0000000000020002)]


def _functions_touching_resume_x0(path: Path, store: bool) -> set[str]:
    """The functions of ``path`` that write (``store``) or read ``<x>.resume_x0``."""
    found: set[str] = set()
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Attribute) and node.attr == "resume_x0":
                    if isinstance(node.ctx, ast.Store) == store:
                        found.add(fn.name)
    return found


def test_one_writer_and_one_reader_of_pending_values() -> None:
    """The core writes pending values in ONE helper; the scheduler reads them in ONE switch."""
    root = Path(__file__).resolve().parent.parent
    profile = root / "profiles" / "hafnium_2018_10"
    assert _functions_touching_resume_x0(profile / "core.py", store=True) == {"resume_with"}
    assert _functions_touching_resume_x0(profile / "mutants.py", store=True) == set()
    assert _functions_touching_resume_x0(root / "reference_hv" / "system.py", store=False) == {"_switch"}
    assert _functions_touching_resume_x0(root / "reference_hv" / "system.py", store=True) == {"_switch"}  # cleared there
