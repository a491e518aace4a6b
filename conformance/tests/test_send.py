"""§6 Sending: SEND-1 .. SEND-12."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import ERR, Hv, expect, program, script
from conformance.protocol import GuestVM
from guest_asm.programs import Call, Fill, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
#: A secondary pauses by sending an empty message to the primary (MESSAGE, size 0); it resumes on its next run.
PAUSE = Call(0xFF04, 0, 0)


def _receiver_ready(boot: Callable[..., Hv], *more: GuestVM) -> Hv:
    """A system whose VM 1 is a receiver blocked in receive, and a configured primary."""
    hv = boot(program("receiver"), *more)
    expect("run(1, 0): the receiver configures and blocks", hv.run(1), 0x1)
    expect("the primary configures", hv.configure(), 0)
    return hv


@pytest.mark.clause("SEND-1")
@pytest.mark.parametrize("size", [4097, 8192, 0x1_0000_0000, 0x1_0000_0010, 1 << 63, 0xFFFF_FFFF_FFFF_FFFF])
def test_size_over_4096_refused(boot, size):
    hv = _receiver_ready(boot)
    expect(f"send(1, {size:#x})", hv.send(1, size), ERR)
    expect("no state change: the receiver is still blocked", hv.run(1), 0x1)
    expect("a valid send still wakes it", hv.send(1, 4096), 0)


@pytest.mark.clause("SEND-1", "SEND-7")
@pytest.mark.parametrize("size", [0, 1, 4095, 4096])
def test_sizes_up_to_4096_accepted(boot, size):
    hv = _receiver_ready(boot)
    data = bytes((i * 7 + 3) & 0xFF for i in range(4096))
    hv.write_send_page(data)
    expect(f"send(1, {size})", hv.send(1, size), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("the receive's size and sender", hv.report(1, 0)[0], size << 32)
    expect(f"the first {size} bytes of VM 1's recv page", hv.recv_page(size, vm=1), data[:size])


@pytest.mark.clause("SEND-2")
@pytest.mark.parametrize("to", [0, 0x1_0000_0000, 0xFFFF_FFFF_0000_0000])
def test_primary_cannot_send_to_itself(boot, to):
    hv = _receiver_ready(boot)
    expect(f"send({to:#x}, 4) from the primary", hv.send(to, 4), ERR)
    expect("the primary's mailbox is still empty", hv.clear(), ERR)


@pytest.mark.clause("SEND-2")
def test_secondary_cannot_send_to_itself(boot):
    hv = boot(script(CFG, Call(0xFF04, 1, 4), Call(0xFF04, 0x1_0000_0001, 4), Call(0xFF01)))
    expect("run(1, 0): both sends fail, no switch", hv.run(1), 0x1)
    expect("VM 1's send to itself", hv.report(1, 1)[0], ERR)
    expect("VM 1's send to itself with upper bits", hv.report(1, 2)[0], ERR)
    expect("VM 1 kept running", hv.report(1, 3)[0], 2)


@pytest.mark.clause("SEND-3")
@pytest.mark.parametrize("to", [2, 3, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
def test_absent_vm_refused(boot, to):
    hv = _receiver_ready(boot)
    expect(f"send({to:#x}, 4)", hv.send(to, 4), ERR)
    expect("no state change", hv.send(1, 4), 0)


@pytest.mark.clause("SEND-3")
def test_vm_id_is_u32(boot):
    hv = _receiver_ready(boot)
    expect("send(0x100000001, 4) goes to VM 1", hv.send(0x1_0000_0001, 4), 0)


@pytest.mark.clause("SEND-4")
def test_unconfigured_primary_cannot_send(boot):
    hv = boot(program("receiver"))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("send from the unconfigured primary", hv.send(1, 4), ERR)
    expect("VM 1 still blocked", hv.run(1), 0x1)


@pytest.mark.clause("SEND-4")
def test_unconfigured_secondary_cannot_send(boot):
    hv = boot(script(Call(0xFF04, 0, 4), Call(0xFF04, 2, 4), Call(0xFF01)), program("receiver"))
    expect("configure", hv.configure(), 0)
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("run(1, 0): sends fail without a switch", hv.run(1), 0x1)
    expect("VM 1's send to the primary", hv.report(1, 0)[0], ERR)
    expect("VM 1's send to VM 2", hv.report(1, 1)[0], ERR)
    expect("the primary's mailbox stayed empty", hv.clear(), ERR)


@pytest.mark.clause("SEND-5")
def test_receiver_never_configured(boot):
    hv = boot(program("idle"), script(CFG, Call(0xFF04, 0, 4), Call(0xFF04, 1, 4)))
    expect("run(1, 0): VM 1 never configures", hv.run(1), 0x1)
    expect("configure", hv.configure(), 0)
    expect("send to the unconfigured VM 1", hv.send(1, 4), ERR)


@pytest.mark.clause("SEND-5")
def test_secondary_to_unconfigured_primary(boot):
    hv = boot(program("idle"), script(CFG, Call(0xFF04, 0, 4), Call(0xFF04, 1, 4), Call(0xFF01)))
    expect("run(2, 0): no switch, both sends fail", hv.run(2), 0x1)
    expect("VM 2's send to the unconfigured primary", hv.report(2, 1)[0], ERR)
    expect("VM 2's send to the unconfigured VM 1", hv.report(2, 2)[0], ERR)


@pytest.mark.clause("SEND-6", "CLR-3")
def test_unread_message_blocks_next_send(boot):
    hv = boot(script(CFG, Call(0xFF01)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    hv.write_send_page(b"one")
    expect("first send: no waiter", hv.send(1, 3), 0xFFFF)
    hv.write_send_page(b"two")
    expect("second send while unread", hv.send(1, 3), ERR)
    expect("VM 1's recv page keeps the first message", hv.recv_page(3, vm=1), b"one")


@pytest.mark.clause("SEND-6")
def test_read_message_blocks_next_send_until_cleared(boot):
    hv = boot(script(CFG, Call(0xFF05, 1), Call(0xFF05, 1), Call(0xFF06), Call(0xFF05, 1)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 blocks", hv.run(1), 0x1)
    expect("send: wakes vCPU 0", hv.send(1, 3), 0)
    expect("send while VM 1's mailbox is read", hv.send(1, 3), ERR)
    expect("run(1, 0): VM 1 receives, then blocks again without clearing", hv.run(1), 0x1)
    expect("send while still read", hv.send(1, 3), ERR)


@pytest.mark.clause("SEND-6", "CLR-1")
def test_send_succeeds_after_clear(boot):
    hv = _receiver_ready(boot)
    expect("send 1", hv.send(1, 1), 0)
    expect("run(1, 0): receiver receives, clears, blocks again", hv.run(1), 0x1)
    expect("send 2 after the clear", hv.send(1, 2), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("second receive", hv.report(1, 2)[0], 0x0000000200000000)


@pytest.mark.clause("SEND-7")
def test_exactly_size_bytes_copied(boot):
    hv = _receiver_ready(boot)
    hv.session.write(1, hv.base(1) + 0x11000, b"\xee" * 4096)
    hv.write_send_page(b"Echo this back to me!\0" + b"\xaa" * 100)
    expect("send 22", hv.send(1, 22), 0)
    page = hv.recv_page(vm=1)
    expect("the 22 bytes", page[:22], b"Echo this back to me!\0")
    expect("the rest of the recv page keeps its old contents", page[22:], b"\xee" * (4096 - 22))


@pytest.mark.clause("SEND-7")
def test_send_page_read_at_call_time(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1), 0x3)
    expect("clear", hv.clear(), 0)
    hv.write_send_page(b"before")
    expect("send 6", hv.send(1, 6), 0xFFFF)
    hv.write_send_page(b"after!")
    expect("VM 1's recv page holds what the send page held at the call", hv.recv_page(6, vm=1), b"before")


@pytest.mark.clause("SEND-7", "RECV-6")
def test_secondary_message_bytes(boot):
    hv = boot(script(CFG, Fill(300, 0x10), Call(0xFF04, 0, 300)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x0000012C00000003)
    expect("the primary's recv page", hv.recv_page(300), bytes((0x10 + i) & 0xFF for i in range(300)))


@pytest.mark.clause("SEND-8", "RECV-1", "CLR-1")
def test_to_primary_mailbox_becomes_read(boot):
    hv = boot(program("sender", TO=0, SIZE=4))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x0000000400000003)
    expect("the primary cannot receive", hv.receive(0), ERR)
    expect("the mailbox is read: clear succeeds at once", hv.clear(), 0)


@pytest.mark.clause("SEND-8", "SEND-6")
def test_to_primary_refused_until_primary_clears(boot):
    hv = boot(program("sender", TO=0, SIZE=4), script(CFG, Call(0xFF04, 0, 5), Call(0xFF04, 0, 6)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 sends", hv.run(1), 0x0000000400000003)
    expect("run(2, 0): VM 2's send fails (no switch); then the next too; wfi", hv.run(2), 0x1)
    expect("VM 2's first send", hv.report(2, 1)[0], ERR)
    expect("clear", hv.clear(), 0)


@pytest.mark.clause("SEND-9")
def test_blocked_receiver_woken(boot):
    hv = _receiver_ready(boot)
    expect("send wakes vCPU 0", hv.send(1, 7), 0)
    expect("run(1, 0): woken", hv.run(1), 0x1)
    expect("receive result", hv.report(1, 0)[0], 0x0000000700000000)


@pytest.mark.clause("SEND-9", "RUN-8")
@pytest.mark.requires("ready_vcpus")
def test_most_recent_waiter_woken_first(boot):
    hv = boot(program("receiver", vcpus=3, ready_vcpus=3))
    expect("configure", hv.configure(), 0)
    for vcpu in (0, 2, 1):
        expect(f"run(1, {vcpu}): blocks", hv.run(1, vcpu), 0x1)
    expect("send wakes the most recent waiter, vCPU 1", hv.send(1, 1), 1)
    expect("run(1, 0) is still blocked", hv.run(1, 0), 0x1)
    expect("run(1, 1): receives, clears, blocks again", hv.run(1, 1), 0x1)
    expect("send wakes vCPU 1 again (it blocked last)", hv.send(1, 1), 1)
    expect("run(1, 1)", hv.run(1, 1), 0x1)
    expect("send wakes vCPU 1 again", hv.send(1, 1), 1)


@pytest.mark.clause("SEND-10", "SEND-11", "RECV-2", "RECV-3")
def test_no_waiter_mailbox_received(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 0), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1), 0x3)
    expect("clear the pause message", hv.clear(), 0)
    expect("send 2 bytes: no vCPU waits", hv.send(1, 2), 0xFFFF)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's non-blocking receive gets the unread message", hv.report(1, 2)[0], 0x0000000200000000)
    expect("VM 1's next receive: the mailbox is read", hv.report(1, 3)[0], ERR)


@pytest.mark.clause("SEND-10", "RECV-2", "RECV-4")
def test_unread_message_returned_by_blocking_receive(boot):
    hv = boot(script(CFG, PAUSE, Call(0xFF05, 1), Call(0xFF01)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1), 0x3)
    expect("clear the pause message", hv.clear(), 0)
    expect("send 5 bytes: no vCPU waits", hv.send(1, 5), 0xFFFF)
    expect("run(1, 0): the blocking receive returns at once, no switch", hv.run(1), 0x1)
    expect("VM 1's blocking receive", hv.report(1, 2)[0], 0x0000000500000000)
    expect("VM 1 went on", hv.report(1, 3)[0], 2)


@pytest.mark.clause("SEND-11")
def test_primary_keeps_running_after_send(boot):
    hv = _receiver_ready(boot, program("receiver"))
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("send to VM 1", hv.send(1, 1), 0)
    expect("send to VM 2 right after (no switch happened)", hv.send(2, 1), 0)
    expect("HF_VM_GET_COUNT", hv.vm_count(), 3)


@pytest.mark.clause("SEND-12", "RUN-8", "RUN-9")
def test_secondary_sender_switched_out(boot):
    hv = boot(script(CFG, Call(0xFF04, 2, 3), Call(0xFF01)), script(CFG, Call(0xFF01)))
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("run(1, 0): VM 1 sends and is switched out", hv.run(1), 0x0000FFFF00020002)
    expect("VM 1 has not resumed", len(hv.reports(1)), 1)
    expect("run(1, 0): resumes, send returned 0", hv.run(1), 0x1)
    expect("VM 1's send", hv.report(1, 1)[0], 0)
