"""Multi-VM scenarios: rings, fan-in with refusals, silent VMs, every size class."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Fill, Rel
from profiles.hafnium_2018_10.checks import (
    expect_accepted_after_clear,
    expect_cleared,
    expect_received,
    expect_secondary_cleared,
    expect_wake_up,
    expect_woken,
    x0_of,
)
from profiles.hafnium_2018_10.hv import ERR, program, script

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


@pytest.mark.clause("RUN-8", "RUN-7", "SEND-9", "RECV-6", "VM-1")
@pytest.mark.parametrize("n", [3, 4, 6])
def test_ring_of_relays(boot, n):
    hv = boot(*[program("relay", NEXT_HOP=(vm + 1) % (n + 1)) for vm in range(1, n + 1)])
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for vm in range(1, n + 1):
        expect(f"run({vm}, 0): relay {vm} blocks in receive", hv.run(vm, clause="RUN-6"), 0x1, clause="RUN-6")
    for lap in range(3):
        msg = f"lap {lap} round the ring of {n}".encode()
        hv.write_send_page(msg)
        # refused: VM 1's mailbox was not emptied by its clear of the last lap's message (CLR-1)
        expect_woken(f"lap {lap}: send to VM 1", hv.send(1, len(msg)), refused="CLR-1" if lap else None)
        for vm in range(1, n):
            woke = hv.run(vm, clause="RUN-8")
            sender = 0 if vm == 1 else vm - 1
            expect_received(f"lap {lap}: VM {vm}'s receive", x0_of(hv, vm, 2 * lap), len(msg) << 32 | sender, missing="SEND-9")
            expect_wake_up(f"lap {lap}: run({vm}) wakes VM {vm + 1}", woke, (vm + 1) << 16 | 0x2)
        delivered = hv.run(n, clause="RUN-7")
        if lap:
            expect_accepted_after_clear(f"lap {lap}: VM {n}'s send to the primary", hv, n)
        expect_received(f"lap {lap}: VM {n}'s receive", x0_of(hv, n, 2 * lap), len(msg) << 32 | (n - 1), missing="SEND-9")
        expect(f"lap {lap}: run({n}) delivers to the primary", delivered, len(msg) << 32 | 0x3, clause="RUN-7")
        expect(f"lap {lap}: bytes", hv.recv_page(len(msg)), msg, clause="SEND-7")
        expect_cleared(f"lap {lap}: clear", hv.clear())
        for vm in range(1, n + 1):
            expect(f"lap {lap}: run({vm}) resumes after its send, blocks again", hv.run(vm, clause="RUN-6"), 0x1, clause="RUN-6")
            expect(f"lap {lap}: VM {vm} resumed: its send returned 0", x0_of(hv, vm, 2 * lap + 1), 0, clause="RUN-9")


@pytest.mark.clause("SEND-6", "SEND-10", "SEND-12", "RUN-8", "RECV-2", "RECV-6")
def test_fan_in_with_refusals(boot):
    senders = [script(CFG, Fill(8, 0x10 * vm), Call(0xFF04, 4, 8), Call(0xFF04, 4, 8)) for vm in (1, 2, 3)]
    receiver = script(CFG, Call(0xFF04, 0, 0), Call(0xFF05, 0), Call(0xFF06), Call(0xFF04, 0, 0), Call(0xFF05, 0), Call(0xFF06))
    hv = boot(*senders, receiver)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(4, 0): receiver configures and pauses", hv.run(4, clause="RUN-7"), 0x3, clause="RUN-7")
    expect_cleared("clear", hv.clear())
    landed = hv.run(1, clause="RUN-8")
    expect("VM 1 was switched out at its send", len(hv.reports(1)), 2, clause="SEND-12")
    expect("run(1, 0): VM 1's send lands (no waiter)", landed, 0x0000FFFF00040002, clause="RUN-8")
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's first send is refused (mailbox full)", x0_of(hv, 2, 2), ERR, clause="SEND-6")
    expect("VM 2's second send is refused", x0_of(hv, 2, 3), ERR, clause="SEND-6")
    expect("run(2, 0): VM 2's sends are refused: no switch, it ends in wfi", ended, 0x1, clause="RUN-5")
    paused = hv.run(4, clause="RUN-7")
    expect("the receiver resumed after its pause: the send returned 0", x0_of(hv, 4, 1), 0, clause="RUN-9")
    expect_received("the receiver learned sender 1", x0_of(hv, 4, 2), 0x0000000800000001, missing="SEND-10", failed="SEND-10")
    expect_secondary_cleared("the receiver's clear of its read mailbox", x0_of(hv, 4, 3))
    expect_accepted_after_clear("the receiver's second pause, after the primary's clear", hv, 4, 4)
    expect("run(4, 0): receiver takes VM 1's message, clears, pauses", paused, 0x3, clause="RUN-7")
    expect_cleared("clear", hv.clear())
    expect("run(3, 0): VM 3's send lands now", hv.run(3, clause="RUN-8"), 0x0000FFFF00040002, clause="RUN-8")
    expect("VM 3's bytes in the receiver's recv page", hv.recv_page(8, vm=4), bytes(range(0x30, 0x38)), clause="SEND-7")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1 resumed: its first send returned 0", x0_of(hv, 1, 2), 0, clause="SEND-12")
    expect("VM 1's second send is refused (VM 3's message is unread)", x0_of(hv, 1, 3), ERR, clause="SEND-6")
    expect("run(1, 0): VM 1's second send is refused, no switch, it ends in wfi", ended, 0x1, clause="RUN-5")
    expect("run(4, 0): receiver takes VM 3's message, clears, ends in wfi", hv.run(4, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_received("the receiver learned sender 3", x0_of(hv, 4, 5), 0x0000000800000003, missing="SEND-10", failed="SEND-10")


@pytest.mark.clause("SEND-5", "VM-2")
def test_secondary_that_never_configures(boot):
    hv = boot(program("spinner"), program("sender", TO=1, SIZE=4), program("receiver"), time_slice=2000)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    # run_once(1), whose failure to come back (no preemption) is RUN-4's
    expect("run(1, 0): VM 1 spins unconfigured", hv.call(0xFF00, 1, 0, clause="RUN-4"), 0x0, clause="RUN-4")
    expect("send to VM 1", hv.send(1, 4), ERR, clause="SEND-5")
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's send to VM 1", x0_of(hv, 2, 0), ERR, clause="SEND-5")
    expect("run(2, 0): VM 2's send to VM 1 fails (no switch), VM 2 ends in wfi", ended, 0x1, clause="RUN-5")
    expect("the rest of the system works: run(3, 0) blocks in receive", hv.run(3, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_woken("send to VM 3", hv.send(3, 4))
    expect("HF_VM_GET_COUNT: the silent VM is counted", hv.vm_count(), 4, clause="VM-2")


@pytest.mark.clause("SEND-7", "SEND-1", "RUN-7")
@pytest.mark.parametrize("size", [0, 1, 2, 15, 16, 17, 255, 256, 1024, 2048, 4095, 4096])
def test_size_classes_round_trip(boot, size):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(echo, 0): echo blocks in receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    data = bytes((i * 131 + size) & 0xFF for i in range(size))
    hv.write_send_page(data)
    expect_woken(f"send {size}", hv.send(1, size), refused="SEND-1")
    echoed = hv.run(1, clause="RUN-7")
    expect_received("echo's receive", x0_of(hv, 1, 1), size << 32, missing="SEND-9")
    expect(f"run: MESSAGE size {size}", echoed, size << 32 | 0x3, clause="RUN-7")
    expect(f"{size} echoed bytes", hv.recv_page(size), data, clause="SEND-7")
