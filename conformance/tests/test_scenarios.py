"""Multi-VM scenarios: rings, fan-in with refusals, silent VMs, every size class."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Fill, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


@pytest.mark.clause("RUN-8", "RUN-7", "SEND-9", "RECV-6", "VM-1")
@pytest.mark.parametrize("n", [3, 4, 6])
def test_ring_of_relays(boot, n):
    hv = boot(*[program("relay", NEXT_HOP=(vm + 1) % (n + 1)) for vm in range(1, n + 1)])
    expect("configure", hv.configure(), 0)
    for vm in range(1, n + 1):
        expect(f"run({vm}, 0)", hv.run(vm), 0x1)
    for lap in range(3):
        msg = f"lap {lap} round the ring of {n}".encode()
        hv.write_send_page(msg)
        expect(f"lap {lap}: send to VM 1", hv.send(1, len(msg)), 0)
        for vm in range(1, n):
            expect(f"lap {lap}: run({vm}) wakes VM {vm + 1}", hv.run(vm), (vm + 1) << 16 | 0x2)
        expect(f"lap {lap}: run({n}) delivers to the primary", hv.run(n), len(msg) << 32 | 0x3)
        expect(f"lap {lap}: bytes", hv.recv_page(len(msg)), msg)
        expect(f"lap {lap}: clear", hv.clear(), 0)
        for vm in range(1, n + 1):
            expect(f"lap {lap}: run({vm}) blocks again", hv.run(vm), 0x1)


@pytest.mark.clause("SEND-6", "SEND-10", "SEND-12", "RUN-8", "RECV-2", "RECV-6")
def test_fan_in_with_refusals(boot):
    senders = [script(CFG, Fill(8, 0x10 * vm), Call(0xFF04, 4, 8), Call(0xFF04, 4, 8)) for vm in (1, 2, 3)]
    receiver = script(CFG, Call(0xFF04, 0, 0), Call(0xFF05, 0), Call(0xFF06), Call(0xFF04, 0, 0), Call(0xFF05, 0), Call(0xFF06))
    hv = boot(*senders, receiver)
    expect("configure", hv.configure(), 0)
    expect("run(4, 0): receiver configures and pauses", hv.run(4), 0x3)
    expect("clear", hv.clear(), 0)
    expect("run(1, 0): VM 1's send lands (no waiter)", hv.run(1), 0x0000FFFF00040002)
    expect("run(2, 0): VM 2's sends are refused (mailbox full): no switch, ends", hv.run(2), 0x1)
    expect("VM 2's two refused sends", [r[0] for r in hv.reports(2)][2:], [ERR, ERR])
    expect("run(4, 0): receiver takes VM 1's message, clears, pauses", hv.run(4), 0x3)
    expect("clear", hv.clear(), 0)
    expect("the receiver learned sender 1", hv.report(4, 2)[0], 0x0000000800000001)
    expect("run(3, 0): VM 3's send lands now", hv.run(3), 0x0000FFFF00040002)
    expect("run(1, 0): VM 1 resumes; its second send is refused, ends", hv.run(1), 0x1)
    expect("VM 1's sends: 0 then refused", [r[0] for r in hv.reports(1)][2:], [0, ERR])
    expect("run(4, 0): receiver takes VM 3's message", hv.run(4), 0x1)
    expect("the receiver learned sender 3", hv.report(4, 5)[0], 0x0000000800000003)
    expect("VM 3's bytes", hv.recv_page(8, vm=4), bytes(range(0x30, 0x38)))


@pytest.mark.clause("SEND-5", "VM-2")
def test_secondary_that_never_configures(boot):
    hv = boot(program("spinner"), program("sender", TO=1, SIZE=4), program("receiver"), time_slice=2000)
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 spins unconfigured", hv.run_once(1), 0x0)
    expect("send to VM 1", hv.send(1, 4), ERR)
    expect("run(2, 0): VM 2's send to VM 1 fails, VM 2 ends in wfi", hv.run(2), 0x1)
    expect("VM 2's send", hv.report(2, 0)[0], ERR)
    expect("the rest of the system works: run(3, 0)", hv.run(3), 0x1)
    expect("send to VM 3", hv.send(3, 4), 0)


@pytest.mark.clause("SEND-7", "SEND-1", "RUN-7")
@pytest.mark.parametrize("size", [0, 1, 2, 15, 16, 17, 255, 256, 1024, 2048, 4095, 4096])
def test_size_classes_round_trip(boot, size):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0)
    expect("run(echo, 0)", hv.run(1), 0x1)
    data = bytes((i * 131 + size) & 0xFF for i in range(size))
    hv.write_send_page(data)
    expect(f"send {size}", hv.send(1, size), 0)
    expect(f"run: MESSAGE size {size}", hv.run(1), size << 32 | 0x3)
    expect(f"{size} echoed bytes", hv.recv_page(size), data)
