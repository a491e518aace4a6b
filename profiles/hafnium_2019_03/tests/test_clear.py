"""§8 Clear: CLR-1 .. CLR-3.

The neighbouring revision (the first profile) answered -1 to a clear of an empty mailbox; here it
is 0, idempotent (CLR-1), and notifies nobody even with waiters (RUN-9's last sentence).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call
from profiles.hafnium_2019_03.hv import program, script
from profiles.hafnium_2019_03.mailbox_checks import (
    CFG,
    CLEAR,
    ERR,
    PAUSE,
    expect_ends_in_wfi,
    expect_message,
    expect_nothing,
    expect_notified,
    expect_primary_clear,
    expect_primary_notified,
    expect_received,
    expect_sent,
    expect_yields,
    receive,
    report_count,
    send,
    x0_of,
)

# --- CLR-1 ----------------------------------------------------------------------------------------


@pytest.mark.clause("CLR-1")
@pytest.mark.parametrize("configured", [False, True])
def test_primary_clear_empty(boot, configured):
    hv = boot(program("idle"))
    if configured:
        expect("configure", hv.configure(), 0, clause="CFG-5")
    for i in range(3):
        expect(
            f"clear #{i} of the empty mailbox", hv.clear(), 0, "CLR-1: empty -> 0 (the earlier revision said -1)", clause="CLR-1"
        )


@pytest.mark.clause("CLR-1")
def test_secondary_clear_empty(boot):
    hv = boot(script(CLEAR, CFG, CLEAR, CLEAR, Call(0xFF01)))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's clear before configure", x0_of(hv, 1, 0), 0, clause="CLR-1")
    expect("VM 1's clear of its empty mailbox", x0_of(hv, 1, 2), 0, clause="CLR-1")
    expect("VM 1's clear again", x0_of(hv, 1, 3), 0, clause="CLR-1")
    report_count(hv, 1, 5, "no switch: VM 1 reached its last call", "CLR-1")
    expect_ends_in_wfi("run(1, 0): the script ends in wfi", ended, "CLR-1")


@pytest.mark.clause("CLR-1", "CLR-3")
def test_clear_of_read_then_empty(boot):
    """The first clear empties the read mailbox (CLR-3); the second finds it empty (CLR-1). A send
    in between shows the mailbox empty, not read."""
    hv = boot(script(CFG, receive(1), CLEAR, CLEAR, receive(1), CLEAR))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 1)", hv.send(1, 1))
    expect(
        "run(1, 0): receive, clear, clear, then blocks again", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7"
    )
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000000100000000, missing="RUN-12")
    expect("VM 1's clear of its read mailbox", x0_of(hv, 1, 2), 0, clause="CLR-3")
    expect("VM 1's clear again: empty", x0_of(hv, 1, 3), 0, clause="CLR-1")
    expect_sent("send(1, 2): the mailbox is empty", hv.send(1, 2), refused="CLR-3")


@pytest.mark.clause("CLR-1", "RUN-9")
def test_secondary_clear_empty_with_waiters_notifies_nobody(boot):
    """VM 1's configure finds the primary waiting (NOTIFY_WAITERS); the primary does not fetch the
    waiter. VM 1's clears of its empty mailbox then return 0 and do not notify again."""
    hv = boot(script(CFG, CLEAR, CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, notify) before VM 1 configures", hv.send(1, 0, 1), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1's configure: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    ended = hv.run(1, clause="RUN-9")
    expect("VM 1's clear of its empty mailbox with a waiter", x0_of(hv, 1, 1), 0, clause="CLR-1")
    expect("VM 1's second clear", x0_of(hv, 1, 2), 0, clause="CLR-1")
    expect_ends_in_wfi("run(1, 0): no NOTIFY_WAITERS for the empty clears; wfi", ended, "RUN-9")
    report_count(hv, 1, 4, "VM 1 was not switched out at its clears", "RUN-9")
    expect("waiter_get(1): the primary is still queued", hv.waiter_get(1), 0, clause="WAIT-1")


@pytest.mark.clause("CLR-1", "RUN-9")
def test_primary_clear_empty_with_waiters(boot):
    """A secondary waits for the unconfigured primary; the primary's configure says 1, and its
    clears of the empty mailbox say 0."""
    hv = boot(script(CFG, send(0, 4, 1), Call(0xFF01)))
    expect_ends_in_wfi(
        "run(1, 0): VM 1's notify send to the unconfigured primary fails; wfi", hv.run(1, clause="RUN-5"), "SEND-5"
    )
    expect("VM 1's send(0, 4, notify)", x0_of(hv, 1, 1), ERR, clause="SEND-5")
    configured = hv.configure()
    expect("clear of the empty mailbox, waiter queued", hv.clear(), 0, clause="CLR-1")
    expect("clear again", hv.clear(), 0, clause="CLR-1")
    expect_primary_notified(hv, "configure with a waiter (VM 1 still queued after the clears)", configured, "CFG-5", [1])


# --- CLR-2 ----------------------------------------------------------------------------------------


@pytest.mark.clause("CLR-2")
def test_clear_unread_refused_message_stays(boot):
    hv = boot(script(CFG, PAUSE, CLEAR, CLEAR, receive(0), receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"kept")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect("VM 1's recv page after the send", hv.recv_page(4, vm=1), b"kept", clause="SEND-6")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's clear of the unread message", x0_of(hv, 1, 2), ERR, clause="CLR-2")
    expect("VM 1's second clear: still unread", x0_of(hv, 1, 3), ERR, clause="CLR-2")
    expect_received(
        "VM 1's receive(0): the message is still there", x0_of(hv, 1, 4), 0x0000000400000000, missing="CLR-2", clause="CLR-2"
    )
    expect_nothing("VM 1's next receive(0)", x0_of(hv, 1, 5), clause="RECV-2")
    expect_ends_in_wfi("run(1, 0): no switch; wfi", ended, "CLR-2")
    expect("VM 1's recv page", hv.recv_page(4, vm=1), b"kept", clause="CLR-2")


@pytest.mark.clause("CLR-2", "RUN-9")
def test_clear_unread_with_waiters_notifies_nobody(boot):
    hv = boot(script(CFG, PAUSE, CLEAR, receive(0), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect("send(1, 4, notify): busy, the primary waits", hv.send(1, 4, 1), ERR, clause="SEND-5")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's clear of the unread message", x0_of(hv, 1, 2), ERR, clause="CLR-2")
    expect_ends_in_wfi("run(1, 0): the refused clear does not notify; wfi", ended, "CLR-2")
    report_count(hv, 1, 5, "VM 1 was not switched out", "CLR-2")
    expect("waiter_get(1): the mailbox is read, not empty: -1", hv.waiter_get(1), ERR, clause="WAIT-1")


# --- CLR-3 ----------------------------------------------------------------------------------------


@pytest.mark.clause("CLR-3")
def test_primary_clear_read_no_waiters(boot):
    hv = boot(script(CFG, send(0, 2), send(0, 3)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 sends 2 bytes", hv.run(1, clause="RUN-8"), 0x0000000200000005)
    expect_primary_clear("clear of the read mailbox, no waiter", hv.clear())
    expect_message(
        "run(1, 0): VM 1's next send is accepted: the mailbox was emptied",
        hv.run(1, clause="CLR-3"),
        0x0000000300000005,
        refused="CLR-3",
    )
    expect("VM 1's first send returned 0", x0_of(hv, 1, 1), 0, clause="SEND-6")


@pytest.mark.clause("CLR-3", "RUN-9")
def test_primary_clear_read_with_waiters_returns_one(boot):
    """Hafnium test mailbox.primary_to_secondary: ``hf_mailbox_clear() == 1``."""
    hv = boot(script(CFG, send(0, 2)), script(CFG, send(0, 5, 1), PAUSE, Call(0xFF09), send(0, 5)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 sends 2 bytes", hv.run(1, clause="RUN-8"), 0x0000000200000005)
    expect_yields("run(2, 0): VM 2's notify send fails, it yields", hv.run(2, clause="RUN-6"), "SEND-5")
    expect("VM 2's send(0, 5, notify)", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    cleared = hv.clear()
    expect_primary_clear("the primary's clear of its read mailbox", cleared, 1 if cleared == ERR else cleared)
    again = hv.clear()
    if again == 1:
        # 1 again: either the first clear left the mailbox read (CLR-3), or this clear of the
        # empty mailbox answered for its waiter (CLR-1). WAITER_GET hands out VM 2 only from an
        # empty mailbox (WAIT-1): it tells which.
        clause = "CLR-1" if hv.waiter_get(0) == 2 else "CLR-3"
        expect("clear again: empty now, 0", again, 0, clause=clause)
    expect("clear again: empty now, 0", again, 0, clause="CLR-1")
    expect_primary_notified(hv, "the primary's clear of its read mailbox with a waiter", cleared, "CLR-3", [2])
    expect_message("run(2, 0): VM 2's writable_get, then its send succeeds", hv.run(2, clause="RUN-8"), 0x0000000500000005)
    expect("VM 2's writable_get: the primary", x0_of(hv, 2, 3), 0, clause="WAIT-2")


@pytest.mark.clause("CLR-3", "RUN-9")
def test_secondary_clear_read_with_waiters(boot):
    """Hafnium test mailbox.secondary_to_primary_notification: the secondary's clear returns 0 to
    it and its run answers NOTIFY_WAITERS."""
    hv = boot(script(CFG, receive(1), CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect("send(1, 4, notify): busy", hv.send(1, 4, 1), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000000400000000, missing="RUN-12")
    expect_notified(hv, 1, "run(1, 0): VM 1's clear of its read mailbox: NOTIFY_WAITERS", notified, [0], emptied="CLR-3")
    report_count(hv, 1, 2, "VM 1 was switched out at its clear", "RUN-9")
    expect_sent("send(1, 0): now accepted", hv.send(1, 0), refused="CLR-3")
    expect("run(1, 0): VM 1 resumes; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's clear returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 2), 0, clause="RUN-9")
    expect("VM 1's HF_VM_GET_COUNT after it", x0_of(hv, 1, 3), 2, clause="VM-3")
