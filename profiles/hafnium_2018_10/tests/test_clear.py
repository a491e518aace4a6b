"""§8 Clearing: CLR-1 .. CLR-4."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel
from profiles.hafnium_2018_10.checks import (
    expect_accepted_after_clear,
    expect_cleared,
    expect_received,
    expect_secondary_cleared,
    expect_woken,
    resume_after_unread_send,
    x0_of,
)
from profiles.hafnium_2018_10.hv import ERR, program, script

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
PAUSE = Call(0xFF04, 0, 0)


@pytest.mark.clause("CLR-1", "CLR-2")
def test_secondary_clear_read_then_empty(boot):
    hv = boot(script(CFG, Call(0xFF06), Call(0xFF05, 1), Call(0xFF06), Call(0xFF06)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): clear, then a blocking receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_woken("send", hv.send(1, 1))
    expect("run(1, 0): receive, two clears, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("clear on empty", x0_of(hv, 1, 1), ERR, clause="CLR-2")
    expect_received("the woken receive", x0_of(hv, 1, 2), 0x0000000100000000, missing="SEND-9")
    expect_secondary_cleared("clear on read", x0_of(hv, 1, 3))
    # CLR-2 held above (-1 on empty): a 0 now means the clear on read did not empty the mailbox.
    expect("clear again (not idempotent): the first clear emptied the mailbox", x0_of(hv, 1, 4), ERR, clause="CLR-1")


@pytest.mark.clause("CLR-2")
def test_clear_unconfigured(boot):
    hv = boot(script(Call(0xFF06)))
    expect("primary clear, unconfigured", hv.clear(), ERR, clause="CLR-2")
    ended = hv.run(1, clause="RUN-5")
    expect("secondary clear, unconfigured", x0_of(hv, 1, 0), ERR, clause="CLR-2")
    expect("run(1, 0): clear, then wfi", ended, 0x1, clause="RUN-5")


@pytest.mark.clause("CLR-3")
def test_clear_unread_refused_message_stays(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF06), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    ended = resume_after_unread_send(hv, 9, ends="RUN-5")
    expect("VM 1's clear of the unread message", x0_of(hv, 1, 2), ERR, clause="CLR-3")
    expect_received("the message is still unread", x0_of(hv, 1, 3), 0x0000000900000000, missing="CLR-3", failed="CLR-3")
    expect("run(1, 0): clear, receive, then wfi", ended, 0x1, clause="RUN-5")


@pytest.mark.clause("CLR-4")
def test_clear_keeps_recv_page(boot):
    hv = boot(program("sender", TO=0, SIZE=16, FILL=0x50))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 sends 16 bytes", hv.run(1, clause="RUN-7"), 0x0000001000000003, clause="RUN-7")
    before = hv.recv_page(16)
    expect_cleared("clear", hv.clear())
    expect("the recv page after clear", hv.recv_page(16), before, clause="CLR-4")
    expect("the recv page holds the message", before, bytes(range(0x50, 0x60)), clause="SEND-7")


@pytest.mark.clause("CLR-4", "RECV-5")
def test_clear_notifies_nobody(boot):
    hv = boot(program("sender", TO=0, SIZE=1), program("receiver"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): receiver blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(1, 0): VM 1 sends to the primary", hv.run(1, clause="RUN-7"), 0x0000000100000003, clause="RUN-7")
    expect_cleared("primary clears", hv.clear())
    expect("VM 2 was not woken: run(2, 0) is refused", hv.run_once(2), 0x1, clause="CLR-4")
    expect("VM 2 reported nothing", hv.reports(2), [], clause="CLR-4")


@pytest.mark.clause("CLR-4", "CLR-1", "SEND-6")
def test_primary_clear_accepts_next_message(boot):
    hv = boot(program("sender", TO=0, SIZE=2, COUNT=3))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for i in range(3):
        message = hv.run(1, clause="RUN-7")
        if i == 0:
            expect("VM 1 was switched out at its first send", hv.reports(1), [], clause="SEND-8")
        else:
            expect_accepted_after_clear(f"VM 1's send #{i}, after the primary's clear #{i - 1}", hv, 1)
            expect(f"VM 1 resumed after its send #{i - 1}", len(hv.reports(1)), i, clause="RUN-9")
        expect(f"run #{i}: message", message, 0x0000000200000003, clause="RUN-7")
        expect_cleared(f"clear #{i}", hv.clear())
    expect("run: the sender's last REPORT, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("all three sends returned 0", [r[0] for r in hv.reports(1)], [0, 0, 0], clause="RUN-9")
