"""The ABI core alone: state machines and return values, with no emulator."""

from __future__ import annotations

import pytest

from reference_hv.core import Core, MailboxState, Outcome, Vcpu, VcpuState, Vm

ERR = 0xFFFF_FFFF_FFFF_FFFF
BASES = [0x4000_0000, 0x4010_0000, 0x4020_0000, 0x4030_0000]
SIZE = 0x10_0000


class Copies:
    def __init__(self) -> None:
        self.done: list[tuple[int, int, int, int, int]] = []

    def __call__(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        self.done.append((src_vm, src, dst_vm, dst, size))


def make(n_secondaries: int = 2, vcpus: int = 1, primary_vcpus: int = 8) -> tuple[Core, Copies]:
    copies = Copies()
    vms = [Vm(0, BASES[0], SIZE, [Vcpu(0, i) for i in range(primary_vcpus)])]
    vms += [Vm(i, BASES[i], SIZE, [Vcpu(i, j) for j in range(vcpus)]) for i in range(1, n_secondaries + 1)]
    return Core(vms, copies), copies


def configure(core: Core, vm: int) -> int | None:
    base = BASES[vm]
    return core.hypercall(vm, 0, 0xFF03, base + 0x10000, base + 0x11000, 0).ret


def test_boot_states() -> None:
    core, _ = make()
    assert core.vms[0].vcpus[0].state is VcpuState.RUNNING
    assert [v.state for v in core.vms[0].vcpus[1:]] == [VcpuState.OFF] * 7
    assert core.vms[1].vcpus[0].state is VcpuState.READY
    assert all(vm.mailbox is MailboxState.EMPTY for vm in core.vms)


@pytest.mark.parametrize("x0", [0xFF01, 0x4000FF01, 0xFFFF_FFFF_0000_FF01, 0xBFFF_FFFF_4000_FF01])
def test_function_id_masking(x0: int) -> None:
    core, _ = make()
    assert core.hypercall(0, 0, x0, 0, 0, 0) == Outcome(3)


@pytest.mark.parametrize("x0", [0, 0xFF07, 0xFEFF, 0x8000FF01, 0x1FF01, 0xFFFF_FFFF_FFFF_FFFF])
def test_unknown_ids(x0: int) -> None:
    core, _ = make()
    assert core.hypercall(1, 0, x0, 0, 0, 0) == Outcome(ERR)


def test_psci_primary_only() -> None:
    core, _ = make()
    assert core.hypercall(0, 0, 0x84000000, 0, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0xC4000006, 0, 0, 0).ret == 2
    assert core.hypercall(0, 0, 0x84000008, 0, 0, 0).system_off
    assert core.hypercall(0, 0, 0x84000003, 0, 0, 0).ret == ERR
    assert core.hypercall(1, 0, 0x84000000, 0, 0, 0).ret == ERR
    assert core.smc(0, 0x84000000).ret == 2
    assert core.smc(0, 0xFF01).ret == ERR
    assert core.smc(1, 0x84000000).ret == ERR


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
    assert core.hypercall(1, 0, 0xFF00, 2, 0, 0) == Outcome(wfi)  # RUN-1
    assert core.hypercall(0, 0, 0xFF00, 0, 0, 0) == Outcome(wfi)  # RUN-2: the primary
    assert core.hypercall(0, 0, 0xFF00, 3, 0, 0) == Outcome(wfi)  # absent VM
    assert core.hypercall(0, 0, 0xFF00, 1, 2, 0) == Outcome(wfi)  # absent vCPU
    assert core.hypercall(0, 0, 0xFF00, 1, 1, 0) == Outcome(wfi)  # vCPU off
    assert core.hypercall(0, 0, 0xFF00, 0x1_0000_0001, 0x1_0000_0000, 0) == Outcome(None, run=(1, 0))
    vcpu = core.vms[1].vcpus[0]
    assert vcpu.state is VcpuState.RUNNING
    assert core.preempted(1, 0) == 0x0
    assert vcpu.state in (VcpuState.READY,)  # (a tuple: mypy would narrow the attribute to RUNNING)
    assert core.wait_for_interrupt(1, 0) == 0x1
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0) == Outcome(wfi)  # blocked for good (RUN-5)


def test_echo_exchange() -> None:
    core, copies = make(1)
    assert configure(core, 0) == 0
    assert configure(core, 1) == 0
    # echo blocks in receive
    assert core.hypercall(1, 0, 0xFF05, 1, 0, 0) == Outcome(None, to_primary=0x1)
    assert core.vms[1].vcpus[0].state is VcpuState.BLOCKED_MAILBOX
    assert core.hypercall(0, 0, 0xFF04, 1, 22, 0) == Outcome(0)  # woke vCPU 0
    assert copies.done == [(0, BASES[0] + 0x10000, 1, BASES[1] + 0x11000, 22)]
    assert core.vms[1].vcpus[0].resume_x0 == 0x0000001600000000
    assert core.vms[1].mailbox is MailboxState.READ
    assert core.hypercall(1, 0, 0xFF06, 0, 0, 0).ret == 0
    out = core.hypercall(1, 0, 0xFF04, 0, 22, 0)
    assert out == Outcome(None, to_primary=0x0000001600000003)
    assert core.vms[1].vcpus[0].resume_x0 == 0
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
    assert core.hypercall(2, 0, 0xFF05, 7, 0, 0).to_primary == 0x1
    out = core.hypercall(1, 0, 0xFF04, 2, 27, 0)
    assert out == Outcome(None, to_primary=0x0000000000020002)
    assert core.vms[2].vcpus[0].resume_x0 == 0x0000001B00000001
    assert core.vms[1].vcpus[0].state is VcpuState.READY


def test_secondary_to_secondary_no_waiter() -> None:
    core, _ = make(2)
    for vm in (0, 1, 2):
        configure(core, vm)
    assert core.hypercall(1, 0, 0xFF04, 2, 5, 0).to_primary == 0x0000FFFF00020002


def test_waiters_are_lifo() -> None:
    core, _ = make(1, vcpus=3)
    configure(core, 0)
    configure(core, 1)
    for idx in (0, 2, 1):
        core.vms[1].vcpus[idx].state = VcpuState.RUNNING
        assert core.hypercall(1, idx, 0xFF05, 1, 0, 0).to_primary == 0x1
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
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0).run == (1, 0)
    assert core.aborted(1, 0) == 0x1
    assert core.hypercall(0, 0, 0xFF00, 1, 0, 0).ret == 0x1
