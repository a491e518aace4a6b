"""§7 Receiving: RECV-1 .. RECV-6."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
PAUSE = Call(0xFF04, 0, 0)  # an empty message to the primary: the secondary resumes on its next run


@pytest.mark.clause("RECV-1")
@pytest.mark.parametrize("block", [0, 1, 0xFFFF_FFFF_FFFF_FFFF])
def test_primary_cannot_receive(boot, block):
    hv = boot(program("idle"))
    expect(f"receive({block:#x}) unconfigured", hv.receive(block), ERR)
    expect("configure", hv.configure(), 0)
    expect(f"receive({block:#x}) configured", hv.receive(block), ERR)


@pytest.mark.clause("RECV-1", "RUN-7")
@pytest.mark.parametrize("block", [0, 1])
def test_primary_cannot_receive_even_with_a_message(boot, block):
    hv = boot(program("sender", TO=0, SIZE=8))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 sends", hv.run(1), 0x0000000800000003)
    expect(f"receive({block}) with a message", hv.receive(block), ERR)


@pytest.mark.clause("RECV-2")
@pytest.mark.parametrize("block", [0, 1, 0x1_0000_0000])
def test_unread_message_returned_blocking_or_not(boot, block):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, block), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): configure, pause", hv.run(1), 0x3)
    expect("clear", hv.clear(), 0)
    expect("send 33", hv.send(1, 33), 0xFFFF)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"VM 1's receive({block:#x})", hv.report(1, 2)[0], 0x0000002100000000)
    expect("VM 1's next non-blocking receive: read", hv.report(1, 3)[0], ERR)


@pytest.mark.clause("RECV-3")
def test_nonblocking_receive_on_empty(boot):
    hv = boot(script(Call(0xFF05, 0), CFG, Call(0xFF05, 0)))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("receive(0) before configure", hv.report(1, 0)[0], ERR)
    expect("receive(0) on an empty mailbox", hv.report(1, 2)[0], ERR)


@pytest.mark.clause("RECV-4", "RUN-6")
@pytest.mark.parametrize("block", [1, 2, 0x8000_0000_0000_0000])
def test_any_nonzero_block_blocks(boot, block):
    hv = boot(script(CFG, Call(0xFF05, block), Call(0xFF01)))
    expect("configure", hv.configure(), 0)
    expect(f"run(1, 0): receive({block:#x}) blocks", hv.run(1), 0x1)
    expect("send 4", hv.send(1, 4), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("the woken receive", hv.report(1, 1)[0], 0x0000000400000000)


@pytest.mark.clause("RECV-4")
def test_blocking_receive_without_configure(boot):
    hv = boot(script(Call(0xFF05, 1), Call(0xFF01)))
    expect("run(1, 0): an unconfigured VM blocks too", hv.run(1), 0x1)
    expect("configure", hv.configure(), 0)
    expect("send to it is refused (SEND-5)", hv.send(1, 1), ERR)
    expect("run(1, 0) is still blocked", hv.run(1), 0x1)


@pytest.mark.clause("RECV-5", "SEND-6")
def test_blocking_while_read(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0), Call(0xFF05, 1)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x3)
    expect("clear", hv.clear(), 0)
    expect("send 3", hv.send(1, 3), 0xFFFF)
    expect("run(1, 0): receive, then block while read", hv.run(1), 0x1)
    expect("no message can arrive: send refused", hv.send(1, 3), ERR)
    expect("VM 1 stays blocked", hv.run(1), 0x1)


@pytest.mark.clause("RECV-6", "RUN-7")
def test_reply_reaches_reported_sender(boot):
    reply = Call(0xFF04, 0, 0, reply=True)
    hv = boot(program("idle"), script(CFG, Call(0xFF05, 1)), script(CFG, Call(0xFF05, 1), reply))
    expect("configure", hv.configure(), 0)
    expect("run(3, 0): VM 3 blocks", hv.run(3), 0x1)
    hv.write_send_page(b"ping")
    expect("send to VM 3", hv.send(3, 4), 0)
    expect("run(3, 0): VM 3 replies to its reported sender (the primary)", hv.run(3), 0x0000000400000003)
    expect("VM 3's receive named sender 0", hv.report(3, 1)[0], 0x0000000400000000)


@pytest.mark.clause("RECV-6", "RUN-8")
def test_secondary_reply_to_secondary(boot):
    reply = Call(0xFF04, 0, 0, reply=True)
    hv = boot(
        script(CFG, Call(0xFF04, 2, 12), Call(0xFF05, 1)),
        script(CFG, Call(0xFF05, 1), reply),
    )
    expect("configure", hv.configure(), 0)
    expect("run(2, 0): VM 2 blocks", hv.run(2), 0x1)
    expect("run(1, 0): VM 1 sends 12 to VM 2", hv.run(1), 0x0000000000020002)
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1), 0x1)
    expect("run(2, 0): VM 2 replies to its reported sender", hv.run(2), 0x0000000000010002)
    expect("VM 2's receive named sender 1", hv.report(2, 1)[0], 0x0000000C00000001)
    expect("run(1, 0): VM 1 woke", hv.run(1), 0x1)
    expect("VM 1's receive named sender 2, size 12", hv.report(1, 2)[0], 0x0000000C00000002)
