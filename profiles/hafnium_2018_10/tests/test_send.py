"""§6 Sending: SEND-1 .. SEND-12.

Also home of the checks the other mailbox test modules share (``x0_of``, ``expect_woken``,
``expect_wake_up``, ``expect_received``, ``expect_cleared``, ``expect_accepted_after_clear``).
Each names the clause a wrong answer breaks. Where the expected value rests on an earlier step
(a send that must have woken a waiter, a clear that must have emptied the mailbox), the build's
own answer tells which rule it broke: a send answered "no vCPU woken" (0xffff) where one waited
is SEND-9's failure, not SEND-11's; any other wrong value is the check's own clause.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from conformance.protocol import GuestVM
from guest_asm.programs import Call, Fill, Rel
from profiles.hafnium_2018_10.checks import (
    expect_cleared,
    expect_received,
    expect_secondary_cleared,
    expect_woken,
    resume_after_unread_send,
    x0_of,
)
from profiles.hafnium_2018_10.hv import ERR, Hv, expect_zero_x1_x17, program, script

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
#: A secondary pauses by sending an empty message to the primary (MESSAGE, size 0); it resumes on its next run.
PAUSE = Call(0xFF04, 0, 0)


def _receiver_ready(boot: Callable[..., Hv], *more: GuestVM) -> Hv:
    """A system whose VM 1 is a receiver blocked in receive, and a configured primary."""
    hv = boot(program("receiver"), *more)
    expect("run(1, 0): the receiver configures and blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("the primary configures", hv.configure(), 0, clause="CFG-5")
    return hv


@pytest.mark.clause("SEND-1")
@pytest.mark.parametrize("size", [4097, 8192, 0x1_0000_0000, 0x1_0000_0010, 1 << 63, 0xFFFF_FFFF_FFFF_FFFF])
def test_size_over_4096_refused(boot, size):
    hv = _receiver_ready(boot)
    expect(f"send(1, {size:#x})", hv.send(1, size), ERR, clause="SEND-1")
    # No state change: the receiver still waits (a message delivered would make this send -1).
    expect_woken("a valid send (4096 bytes) still wakes it", hv.send(1, 4096), refused="SEND-1")


@pytest.mark.clause("SEND-1", "SEND-7")
@pytest.mark.parametrize("size", [0, 1, 4095, 4096])
def test_sizes_up_to_4096_accepted(boot, size):
    hv = _receiver_ready(boot)
    data = bytes((i * 7 + 3) & 0xFF for i in range(4096))
    hv.write_send_page(data)
    expect_woken(f"send(1, {size})", hv.send(1, size), refused="SEND-1")
    expect(f"the first {size} bytes of VM 1's recv page, at the send", hv.recv_page(size, vm=1), data[:size], clause="SEND-7")
    expect("run(1, 0): the receiver receives, clears, blocks again", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("the receive's size and sender", x0_of(hv, 1, 0), size << 32, missing="SEND-9")


@pytest.mark.clause("SEND-2")
@pytest.mark.parametrize("to", [0, 0x1_0000_0000, 0xFFFF_FFFF_0000_0000])
def test_primary_cannot_send_to_itself(boot, to):
    hv = _receiver_ready(boot)
    expect(f"send({to:#x}, 4) from the primary", hv.send(to, 4), ERR, clause="SEND-2")
    expect("the primary's mailbox is still empty: clear", hv.clear(), ERR, clause="CLR-2")


@pytest.mark.clause("SEND-2")
def test_secondary_cannot_send_to_itself(boot):
    hv = boot(script(CFG, Call(0xFF04, 1, 4), Call(0xFF04, 0x1_0000_0001, 4), Call(0xFF01)))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send to itself", x0_of(hv, 1, 1), ERR, clause="SEND-2")
    expect("VM 1's send to itself with upper bits", x0_of(hv, 1, 2), ERR, clause="SEND-2")
    expect("VM 1 kept running (no switch): it reached its last call", len(hv.reports(1)), 4, clause="SEND-2")
    expect("run(1, 0): both sends fail, no switch; the script ends in wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's HF_VM_GET_COUNT", x0_of(hv, 1, 3), 2, clause="VM-2")


@pytest.mark.clause("SEND-3")
@pytest.mark.parametrize("to", [2, 3, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
def test_absent_vm_refused(boot, to):
    hv = _receiver_ready(boot)
    expect(f"send({to:#x}, 4)", hv.send(to, 4), ERR, clause="SEND-3")
    expect_woken("no state change: a send to VM 1 wakes its receiver", hv.send(1, 4))


@pytest.mark.clause("SEND-3")
def test_vm_id_is_u32(boot):
    hv = _receiver_ready(boot)
    expect_woken("send(0x100000001, 4) goes to VM 1", hv.send(0x1_0000_0001, 4), refused="SEND-3")


@pytest.mark.clause("SEND-4")
def test_unconfigured_primary_cannot_send(boot):
    hv = boot(program("receiver"))
    expect("run(1, 0): the receiver configures and blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("send from the unconfigured primary", hv.send(1, 4), ERR, clause="SEND-4")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    # No state change: the receiver still waits (a message delivered would make this send -1).
    expect_woken("once configured, a send wakes the receiver", hv.send(1, 4), refused="SEND-4")


@pytest.mark.clause("SEND-4")
def test_unconfigured_secondary_cannot_send(boot):
    hv = boot(script(Call(0xFF04, 0, 4), Call(0xFF04, 2, 4), Call(0xFF01)), program("receiver"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): the receiver configures and blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send to the primary", x0_of(hv, 1, 0), ERR, clause="SEND-4")
    expect("VM 1's send to VM 2", x0_of(hv, 1, 1), ERR, clause="SEND-4")
    expect("VM 1 kept running (no switch): it reached its last call", len(hv.reports(1)), 3, clause="SEND-4")
    expect("run(1, 0): sends fail without a switch; the script ends in wfi", ended, 0x1, clause="RUN-5")
    expect("the primary's mailbox stayed empty: clear", hv.clear(), ERR, clause="CLR-2")
    expect("VM 2 was not woken", hv.reports(2), [], clause="SEND-4")


@pytest.mark.clause("SEND-5")
def test_receiver_never_configured(boot):
    hv = boot(program("idle"), script(CFG, Call(0xFF04, 0, 4), Call(0xFF04, 1, 4)))
    expect("run(1, 0): VM 1 never configures, wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send to the unconfigured VM 1", hv.send(1, 4), ERR, clause="SEND-5")


@pytest.mark.clause("SEND-5")
def test_secondary_to_unconfigured_primary(boot):
    hv = boot(program("idle"), script(CFG, Call(0xFF04, 0, 4), Call(0xFF04, 1, 4), Call(0xFF01)))
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's send to the unconfigured primary", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    expect("VM 2's send to the unconfigured VM 1", x0_of(hv, 2, 2), ERR, clause="SEND-5")
    expect("VM 2 kept running (no switch): it reached its last call", len(hv.reports(2)), 4, clause="SEND-5")
    expect("run(2, 0): no switch, both sends fail; the script ends in wfi", ended, 0x1, clause="RUN-5")


@pytest.mark.clause("SEND-6", "CLR-3")
def test_unread_message_blocks_next_send(boot):
    hv = boot(script(CFG, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): configure, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    hv.write_send_page(b"one")
    expect("first send: no waiter", hv.send(1, 3), 0xFFFF, clause="SEND-11")
    expect("VM 1's recv page holds the first message", hv.recv_page(3, vm=1), b"one", clause="SEND-7")
    hv.write_send_page(b"two")
    expect("second send while unread", hv.send(1, 3), ERR, clause="SEND-6")
    expect("VM 1's recv page keeps the first message", hv.recv_page(3, vm=1), b"one", clause="SEND-6")


@pytest.mark.clause("SEND-6")
def test_read_message_blocks_next_send_until_cleared(boot):
    hv = boot(script(CFG, Call(0xFF05, 1), Call(0xFF05, 1), Call(0xFF06), Call(0xFF05, 1)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_woken("send: wakes vCPU 0", hv.send(1, 3))
    expect("send while VM 1's mailbox is read", hv.send(1, 3), ERR, clause="SEND-6")
    expect("run(1, 0): VM 1 receives, then blocks again without clearing", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("VM 1's woken receive", x0_of(hv, 1, 1), 0x0000000300000000, missing="SEND-9")
    expect("VM 1's second blocking receive, on its read mailbox, blocked", len(hv.reports(1)), 2, clause="RECV-5")
    expect("send while still read", hv.send(1, 3), ERR, clause="SEND-6")


@pytest.mark.clause("SEND-6", "CLR-1")
def test_send_succeeds_after_clear(boot):
    hv = _receiver_ready(boot)
    expect_woken("send 1", hv.send(1, 1))
    expect("run(1, 0): receiver receives, clears, blocks again", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("first receive", x0_of(hv, 1, 0), 0x0000000100000000, missing="SEND-9")
    expect_secondary_cleared("the receiver's clear of its read mailbox", x0_of(hv, 1, 1))
    expect_woken("send 2 after the clear", hv.send(1, 2), refused="CLR-1")
    expect("run(1, 0)", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("second receive", x0_of(hv, 1, 2), 0x0000000200000000, missing="SEND-9")


@pytest.mark.clause("SEND-7")
def test_exactly_size_bytes_copied(boot):
    hv = _receiver_ready(boot)
    hv.session.write(1, hv.base(1) + 0x11000, b"\xee" * 4096)
    hv.write_send_page(b"Echo this back to me!\0" + b"\xaa" * 100)
    expect_woken("send 22", hv.send(1, 22))
    page = hv.recv_page(vm=1)
    expect("the 22 bytes", page[:22], b"Echo this back to me!\0", clause="SEND-7")
    expect("the rest of the recv page keeps its old contents", page[22:], b"\xee" * (4096 - 22), clause="SEND-7")


@pytest.mark.clause("SEND-7")
def test_send_page_read_at_call_time(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1, clause="RUN-7"), 0x3, clause="RUN-7")
    expect_cleared("clear", hv.clear())
    hv.write_send_page(b"before")
    expect("send 6", hv.send(1, 6), 0xFFFF, clause="SEND-11")
    hv.write_send_page(b"after!")
    expect("VM 1's recv page holds what the send page held at the call", hv.recv_page(6, vm=1), b"before", clause="SEND-7")


@pytest.mark.clause("SEND-7", "RECV-6")
def test_secondary_message_bytes(boot):
    hv = boot(script(CFG, Fill(300, 0x10), Call(0xFF04, 0, 300)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 sends 300 bytes to the primary", hv.run(1, clause="RUN-7"), 0x0000012C00000003, clause="RUN-7")
    expect("the primary's recv page", hv.recv_page(300), bytes((0x10 + i) & 0xFF for i in range(300)), clause="SEND-7")


@pytest.mark.clause("SEND-8", "RECV-1", "CLR-1")
def test_to_primary_mailbox_becomes_read(boot):
    hv = boot(program("sender", TO=0, SIZE=4))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    message = hv.run(1, clause="RUN-7")
    expect("VM 1 was switched out at its send", hv.reports(1), [], clause="SEND-8")
    expect("run(1, 0): MESSAGE, size 4", message, 0x0000000400000003, clause="RUN-7")
    expect("the primary cannot receive", hv.receive(0), ERR, clause="RECV-1")
    expect("the mailbox is read: clear succeeds at once", hv.clear(), 0, clause="SEND-8")


@pytest.mark.clause("SEND-8", "SEND-6")
def test_to_primary_refused_until_primary_clears(boot):
    hv = boot(program("sender", TO=0, SIZE=4), script(CFG, Call(0xFF04, 0, 5), Call(0xFF04, 0, 6)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 sends", hv.run(1, clause="RUN-7"), 0x0000000400000003, clause="RUN-7")
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's first send", x0_of(hv, 2, 1), ERR, clause="SEND-6")
    expect("VM 2's second send", x0_of(hv, 2, 2), ERR, clause="SEND-6")
    expect("run(2, 0): VM 2's sends fail (no switch); wfi", ended, 0x1, clause="RUN-5")
    expect("clear", hv.clear(), 0, clause="SEND-8")


@pytest.mark.clause("SEND-9")
def test_blocked_receiver_woken(boot):
    hv = _receiver_ready(boot)
    expect_woken("send wakes vCPU 0", hv.send(1, 7))
    expect("run(1, 0): woken, receives, clears, blocks again", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("receive result", x0_of(hv, 1, 0), 0x0000000700000000, missing="SEND-9")


@pytest.mark.clause("SEND-9", "RUN-8")
@pytest.mark.requires("ready_vcpus")
def test_most_recent_waiter_woken_first(boot):
    hv = boot(program("receiver", vcpus=3, ready_vcpus=3))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for vcpu in (0, 2, 1):
        expect(f"run(1, {vcpu}): blocks", hv.run(1, vcpu, clause="RUN-6"), 0x1, clause="RUN-6")
    # Which vCPU woke is read from the runs (a blocked vCPU's run is refused: no new report)
    # before the send's result is compared: a wrong result then is SEND-11's, not SEND-9's.
    sent = hv.send(1, 1)
    expect("run(1, 0): vCPU 0 (blocked first) is still blocked: refused", hv.run_once(1, 0), 0x1, clause="SEND-9")
    expect("vCPU 0 did not run", len(hv.reports(1)), 0, clause="SEND-9")
    expect("run(1, 1): the woken vCPU receives, clears, blocks again", hv.run(1, 1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("vCPU 1 ran: its receive and clear", len(hv.reports(1)), 2, clause="SEND-9")
    expect_woken("send wakes the most recent waiter, vCPU 1", sent, 1)
    expect_secondary_cleared("vCPU 1's clear of the read mailbox", x0_of(hv, 1, 1))
    sent = hv.send(1, 1)
    if sent == ERR:
        expect_woken("send after vCPU 1's clear", sent, 1, refused="CLR-1")
    expect("run(1, 1): vCPU 1 (it blocked last) woke again", hv.run(1, 1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("vCPU 1 ran again", len(hv.reports(1)), 4, clause="SEND-9")
    expect_woken("send wakes vCPU 1 again (it blocked last)", sent, 1)
    expect_woken("send wakes vCPU 1 again", hv.send(1, 1), 1)


@pytest.mark.clause("SEND-10", "SEND-11", "RECV-2", "RECV-3")
def test_no_waiter_mailbox_received(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1, clause="RUN-7"), 0x3, clause="RUN-7")
    expect_cleared("clear the pause message", hv.clear())
    expect("send 2 bytes: no vCPU waits", hv.send(1, 2), 0xFFFF, clause="SEND-11")
    expect("run(1, 0): two non-blocking receives, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1 resumed after its pause: the send returned 0", x0_of(hv, 1, 1), 0, clause="RUN-9")
    expect_received(
        "VM 1's non-blocking receive gets the unread message",
        x0_of(hv, 1, 2),
        0x0000000200000000,
        missing="RECV-2",
        failed="SEND-10",
    )
    expect("VM 1's next receive: the mailbox is read", x0_of(hv, 1, 3), ERR, clause="RECV-3")


@pytest.mark.clause("SEND-10", "RECV-2", "RECV-4")
def test_unread_message_returned_by_blocking_receive(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 1), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    ended = resume_after_unread_send(hv, 5, ends="RUN-5")
    # Blocked: no unread message was there -- the send with no waiter left none (SEND-10).
    expect("VM 1's blocking receive returned at once (no block)", len(hv.reports(1)), 4, clause="SEND-10")
    expect_received("VM 1's blocking receive", x0_of(hv, 1, 2), 0x0000000500000000, missing="SEND-10", failed="SEND-10")
    expect("run(1, 0): the blocking receive returns at once, no switch; then wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's HF_VM_GET_COUNT after it", x0_of(hv, 1, 3), 2, clause="VM-2")


@pytest.mark.clause("SEND-11")
def test_primary_keeps_running_after_send(boot):
    hv = _receiver_ready(boot, program("receiver"))
    expect("run(2, 0): the second receiver blocks", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_woken("send to VM 1", hv.send(1, 1))
    expect_woken("send to VM 2 right after (no switch happened)", hv.send(2, 1))
    expect("HF_VM_GET_COUNT", hv.vm_count(), 3, clause="VM-2")


@pytest.mark.clause("SEND-12", "RUN-8", "RUN-9")
def test_secondary_sender_switched_out(boot):
    hv = boot(script(CFG, Call(0xFF04, 2, 3), Call(0xFF01)), script(CFG, Call(0xFF01)))
    expect("run(2, 0): VM 2 configures, wfi", hv.run(2, clause="RUN-5"), 0x1, clause="RUN-5")
    wake_up = hv.run(1, clause="RUN-8")
    expect("VM 1 was switched out at its send (it has not resumed)", len(hv.reports(1)), 1, clause="SEND-12")
    expect("run(1, 0): VM 1 sends to VM 2 (no waiter)", wake_up, 0x0000FFFF00020002, clause="RUN-8")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1 resumed after its send", len(hv.reports(1)), 3, clause="RUN-9")
    regs = hv.reports(1)[1]
    expect_zero_x1_x17("VM 1's resumed send", regs)
    expect("VM 1's send returned 0", regs[0], 0, clause="SEND-12")
    expect("run(1, 0): resumes, then wfi", ended, 0x1, clause="RUN-5")
