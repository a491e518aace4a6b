"""§8 Clearing: CLR-1 .. CLR-4."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
PAUSE = Call(0xFF04, 0, 0)


@pytest.mark.clause("CLR-1", "CLR-2")
def test_secondary_clear_read_then_empty(boot):
    hv = boot(script(CFG, Call(0xFF06), Call(0xFF05, 1), Call(0xFF06), Call(0xFF06)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("send", hv.send(1, 1), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("clear on empty", hv.report(1, 1)[0], ERR)
    expect("clear on read", hv.report(1, 3)[0], 0)
    expect("clear again (not idempotent)", hv.report(1, 4)[0], ERR)


@pytest.mark.clause("CLR-2")
def test_clear_unconfigured(boot):
    hv = boot(script(Call(0xFF06)))
    expect("primary clear, unconfigured", hv.clear(), ERR)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("secondary clear, unconfigured", hv.report(1, 0)[0], ERR)


@pytest.mark.clause("CLR-3")
def test_clear_unread_refused_message_stays(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF06), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x3)
    expect("clear", hv.clear(), 0)
    expect("send 9: no waiter", hv.send(1, 9), 0xFFFF)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's clear of the unread message", hv.report(1, 2)[0], ERR)
    expect("the message is still unread", hv.report(1, 3)[0], 0x0000000900000000)


@pytest.mark.clause("CLR-4")
def test_clear_keeps_recv_page(boot):
    hv = boot(program("sender", TO=0, SIZE=16, FILL=0x50))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x0000001000000003)
    before = hv.recv_page(16)
    expect("clear", hv.clear(), 0)
    expect("the recv page after clear", hv.recv_page(16), before)
    expect("the recv page holds the message", before, bytes(range(0x50, 0x60)))


@pytest.mark.clause("CLR-4", "RECV-5")
def test_clear_notifies_nobody(boot):
    hv = boot(program("sender", TO=0, SIZE=1), program("receiver"))
    expect("configure", hv.configure(), 0)
    expect("run(2, 0): receiver blocks", hv.run(2), 0x1)
    expect("run(1, 0): VM 1 sends to the primary", hv.run(1), 0x0000000100000003)
    expect("primary clears", hv.clear(), 0)
    expect("VM 2 was not woken", hv.run(2), 0x1)
    expect("VM 2 reported nothing", hv.reports(2), [])


@pytest.mark.clause("CLR-4", "SEND-6")
def test_primary_clear_accepts_next_message(boot):
    hv = boot(program("sender", TO=0, SIZE=2, COUNT=3))
    expect("configure", hv.configure(), 0)
    for i in range(3):
        expect(f"run #{i}: message", hv.run(1), 0x0000000200000003)
        expect(f"clear #{i}", hv.clear(), 0)
    expect("run: the sender's last REPORT, then wfi", hv.run(1), 0x1)
    expect("all three sends returned 0", [r[0] for r in hv.reports(1)], [0, 0, 0])
