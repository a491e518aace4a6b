"""§7 Receiving: RECV-1 .. RECV-6."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel
from profiles.hafnium_2018_10.checks import expect_received, expect_wake_up, expect_woken, resume_after_unread_send, x0_of
from profiles.hafnium_2018_10.hv import ERR, program, script

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
PAUSE = Call(0xFF04, 0, 0)  # an empty message to the primary: the secondary resumes on its next run


@pytest.mark.clause("RECV-1")
@pytest.mark.parametrize("block", [0, 1, 0xFFFF_FFFF_FFFF_FFFF])
def test_primary_cannot_receive(boot, block):
    hv = boot(program("idle"))
    expect(f"receive({block:#x}) unconfigured", hv.call(0xFF05, block, clause="RECV-1"), ERR, clause="RECV-1")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"receive({block:#x}) configured", hv.call(0xFF05, block, clause="RECV-1"), ERR, clause="RECV-1")


@pytest.mark.clause("RECV-1", "RUN-7")
@pytest.mark.parametrize("block", [0, 1])
def test_primary_cannot_receive_even_with_a_message(boot, block):
    hv = boot(program("sender", TO=0, SIZE=8))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 sends", hv.run(1, clause="RUN-7"), 0x0000000800000003, clause="RUN-7")
    expect(f"receive({block}) with a message", hv.call(0xFF05, block, clause="RECV-1"), ERR, clause="RECV-1")


@pytest.mark.clause("RECV-2")
@pytest.mark.parametrize("block", [0, 1, 0x1_0000_0000])
def test_unread_message_returned_blocking_or_not(boot, block):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, block), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    ended = resume_after_unread_send(hv, 33, ends="RUN-5")
    # -1 (or a receive that blocked) would mean no unread message was there: the send with no
    # waiter left none (SEND-10) -- from outside, that cannot be told from RECV-2 failing.
    expect_received(f"VM 1's receive({block:#x})", x0_of(hv, 1, 2), 0x0000002100000000, missing="SEND-10", failed="SEND-10")
    expect("VM 1's next non-blocking receive: read", x0_of(hv, 1, 3), ERR, clause="RECV-3")
    expect("run(1, 0): the script ends in wfi", ended, 0x1, clause="RUN-5")


@pytest.mark.clause("RECV-3")
def test_nonblocking_receive_on_empty(boot):
    hv = boot(script(Call(0xFF05, 0), CFG, Call(0xFF05, 0)))
    ended = hv.run(1, clause="RUN-5")
    expect("receive(0) before configure", x0_of(hv, 1, 0), ERR, clause="RECV-3")
    expect("receive(0) on an empty mailbox", x0_of(hv, 1, 2), ERR, clause="RECV-3")
    expect("run(1, 0): the script ends in wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's configure", x0_of(hv, 1, 1), 0, clause="CFG-5")


@pytest.mark.clause("RECV-4", "RUN-6")
@pytest.mark.parametrize("block", [1, 2, 0x8000_0000_0000_0000])
def test_any_nonzero_block_blocks(boot, block):
    hv = boot(script(CFG, Call(0xFF05, block), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    blocked = hv.run(1, clause="RUN-6")
    expect(f"VM 1's receive({block:#x}) blocked: it did not return", len(hv.reports(1)), 1, clause="RECV-4")
    expect(f"run(1, 0): receive({block:#x}) blocks", blocked, 0x1, clause="RUN-6")
    expect_woken("send 4", hv.send(1, 4))
    expect("run(1, 0): the woken receive returns, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_received("the woken receive", x0_of(hv, 1, 1), 0x0000000400000000, missing="SEND-9")


@pytest.mark.clause("RECV-4")
def test_blocking_receive_without_configure(boot):
    hv = boot(script(Call(0xFF05, 1), Call(0xFF01)))
    blocked = hv.run(1, clause="RUN-6")
    expect("VM 1's receive blocked: it did not return", hv.reports(1), [], clause="RECV-4")
    expect("run(1, 0): an unconfigured VM blocks too", blocked, 0x1, clause="RUN-6")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send to it is refused (SEND-5)", hv.send(1, 1), ERR, clause="SEND-5")


@pytest.mark.clause("RECV-5", "SEND-6")
def test_blocking_while_read(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0), Call(0xFF05, 1)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    blocked = resume_after_unread_send(hv, 3, ends="RUN-6")
    expect_received("VM 1's non-blocking receive", x0_of(hv, 1, 2), 0x0000000300000000, missing="SEND-10", failed="SEND-10")
    expect("VM 1's blocking receive while read did not return", len(hv.reports(1)), 3, clause="RECV-5")
    expect("run(1, 0): receive, then block while read", blocked, 0x1, clause="RUN-6")
    expect("no message can arrive: send refused", hv.send(1, 3), ERR, clause="SEND-6")


@pytest.mark.clause("RECV-6", "RUN-7")
def test_reply_reaches_reported_sender(boot):
    reply = Call(0xFF04, 0, 0, reply=True)
    hv = boot(program("idle"), script(CFG, Call(0xFF05, 1)), script(CFG, Call(0xFF05, 1), reply))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(3, 0): VM 3 blocks", hv.run(3, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"ping")
    expect_woken("send to VM 3", hv.send(3, 4))
    replied = hv.run(3, clause="RUN-7")
    expect_received("VM 3's receive named sender 0", x0_of(hv, 3, 1), 0x0000000400000000, missing="SEND-9")
    expect("run(3, 0): VM 3 replies to its reported sender (the primary)", replied, 0x0000000400000003, clause="RUN-7")


@pytest.mark.clause("RECV-6", "RUN-8")
def test_secondary_reply_to_secondary(boot):
    reply = Call(0xFF04, 0, 0, reply=True)
    hv = boot(
        script(CFG, Call(0xFF04, 2, 12), Call(0xFF05, 1)),
        script(CFG, Call(0xFF05, 1), reply),
    )
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): VM 2 blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_wake_up("run(1, 0): VM 1 sends 12 to VM 2", hv.run(1, clause="RUN-8"), 0x0000000000020002)
    blocked = hv.run(1, clause="RUN-6")
    expect("VM 1 resumed after its send", len(hv.reports(1)), 2, clause="RUN-9")
    expect("run(1, 0): VM 1 blocks in receive", blocked, 0x1, clause="RUN-6")
    replied = hv.run(2, clause="RUN-8")
    expect_received("VM 2's receive named sender 1", x0_of(hv, 2, 1), 0x0000000C00000001, missing="SEND-9")
    expect_wake_up("run(2, 0): VM 2 replies to its reported sender", replied, 0x0000000000010002)
    expect("run(1, 0): VM 1 woke, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_received("VM 1's receive named sender 2, size 12", x0_of(hv, 1, 2), 0x0000000C00000002, missing="SEND-9")
