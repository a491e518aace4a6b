"""§6 Send: SEND-1 .. SEND-8.

The order of SEND-1..SEND-5. Every one of them answers -1 with no switch, and SEND-1..SEND-4
change no state, so their order *among themselves* is not observable from outside (a send that
breaks two of them is -1 either way). What is observable is that each of SEND-1..SEND-4 comes
before SEND-5's side effect, the *notify* wait entry: a send that breaks SEND-1, SEND-2 or SEND-4
with notify set must not queue its caller (``test_*_before_notify``). SEND-3 before SEND-5 has no
observable trace (there is no mailbox ``to`` to queue on). And each comes before the copy: a
refused send leaves the target's mailbox empty (a later valid send succeeds).

Neighbouring revisions fail here with their own values: the first profile's and §10's send result
(0xffff "no vCPU woken", or the woken vCPU's index) where SEND-6 gives 0; §10's WAKE_UP where a
secondary's send to a secondary is MESSAGE 0x20005 (RUN-8); a hypervisor that runs (wakes) the
receiver itself at the primary's send (the receiver's reports advance before the primary runs it).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Fill
from profiles.hafnium_2019_03.checks import expect_calls
from profiles.hafnium_2019_03.hv import Hv, expect_zero_x1_x17, program, script
from profiles.hafnium_2019_03.mailbox_checks import (
    CFG,
    CLEAR,
    ERR,
    NOTHING,
    PAUSE,
    expect_ends_in_wfi,
    expect_message,
    expect_primary_clear,
    expect_primary_notified,
    expect_received,
    expect_sent,
    receive,
    report_count,
    send,
    x0_of,
    x0s,
)


def _receiver_blocked(boot, *more) -> Hv:
    """VM 1 configures and blocks in a receive (RUN-7), then clears and ends in wfi; the primary
    is configured."""
    hv = boot(script(CFG, receive(1), CLEAR), *more)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    # Blocked, not ready: a run now is refused (RUN-2) and VM 1 does not move on (RECV-4).
    refused = hv.run_once(1)
    report_count(hv, 1, 1, "VM 1 stays blocked in its receive (a run does not resume it)", "RECV-4")
    expect("run(1, 0) again, nothing for it: refused", refused, 0xFFFF_FFFF_FFFF_FF02, clause="RUN-2")
    return hv


def _receiver_full(boot, *more) -> Hv:
    """VM 1 has configured and yielded (its script goes on with receive(0), clear, receive(0)); the
    primary sent it one byte, so its mailbox is *received*."""
    hv = boot(script(CFG, PAUSE, receive(0), CLEAR, receive(0)), *more)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 1): VM 1's mailbox becomes received", hv.send(1, 1))
    return hv


def _finish_full(hv: Hv) -> int:
    """Run VM 1 of :func:`_receiver_full` to its end: receive, clear, receive, wfi. Returns the
    result of its clear (0, or 0 after NOTIFY_WAITERS when the run answered 0x6 first)."""
    response = hv.run(1, clause="RUN-9")
    if response == 0x6:
        response = hv.run(1, clause="RUN-5")
    expect("run(1, 0): VM 1 receives, clears, receives; wfi", response, 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive(0)", x0_of(hv, 1, 2), 0x0000000100000000, missing="SEND-8")
    expect("VM 1's second receive(0): nothing", x0_of(hv, 1, 4), NOTHING, clause="RECV-3")
    return int(x0_of(hv, 1, 3))


# --- SEND-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-1")
@pytest.mark.parametrize("size", [4097, 8192, 0x1_0000_0000, 0x1_0000_0010, 1 << 63, 0xFFFF_FFFF_FFFF_FFFF])
def test_size_over_4096_refused(boot, size):
    hv = _receiver_blocked(boot)
    expect(f"send(1, {size:#x})", hv.send(1, size), ERR, clause="SEND-1")
    report_count(hv, 1, 1, "VM 1 did not run", "SEND-1")
    expect_sent("no state change: a 4096-byte send then succeeds", hv.send(1, 4096), refused="SEND-1")
    expect("run(1, 0): VM 1 receives, clears; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000100000000000, missing="RUN-12")


@pytest.mark.clause("SEND-1", "SEND-6")
@pytest.mark.parametrize("size", [0, 1, 4095, 4096])
def test_sizes_up_to_4096_accepted(boot, size):
    hv = _receiver_blocked(boot)
    data = bytes((i * 7 + 3) & 0xFF for i in range(4096))
    hv.write_send_page(data)
    expect_sent(f"send(1, {size})", hv.send(1, size), refused="SEND-1")
    expect(f"the first {size} bytes of VM 1's recv page", hv.recv_page(size, vm=1), data[:size], clause="SEND-6")
    expect("run(1, 0): VM 1 receives, clears; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive: sender 0, the size", x0_of(hv, 1, 1), size << 32, missing="RUN-12", clause="SEND-6")


@pytest.mark.clause("SEND-1", "SEND-5")
def test_oversize_before_notify(boot):
    """SEND-1 is checked before SEND-5: an oversize send with notify to a busy mailbox queues no waiter."""
    hv = _receiver_full(boot)
    expect("send(1, 4097, notify) to a busy mailbox", hv.send(1, 4097, 1), ERR, clause="SEND-1")
    cleared = _finish_full(hv)
    expect("VM 1's clear of its read mailbox: no waiter, 0 and no NOTIFY_WAITERS", cleared, 0, clause="SEND-1")
    expect("waiter_get(1): no waiter", hv.waiter_get(1), ERR, clause="SEND-1")


# --- SEND-2 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-2")
@pytest.mark.parametrize("to", [0, 0x1_0000_0000, 0xFFFF_FFFF_0000_0000])
def test_primary_cannot_send_to_itself(boot, to):
    hv = boot(script(CFG, send(0, 4)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"send({to:#x}, 4) from the primary", hv.send(to, 4), ERR, clause="SEND-2")
    # No state change: the primary's mailbox is still empty, so VM 1's send to it is accepted.
    expect_message("run(1, 0): VM 1's send to the primary", hv.run(1, clause="RUN-8"), 0x0000000400000005, refused="SEND-2")


@pytest.mark.clause("SEND-2")
def test_secondary_cannot_send_to_itself(boot):
    hv = boot(script(CFG, send(1, 4), send(0x1_0000_0001, 4), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send to itself", x0_of(hv, 1, 1), ERR, clause="SEND-2")
    expect("VM 1's send to itself, upper bits set", x0_of(hv, 1, 2), ERR, clause="SEND-2")
    report_count(hv, 1, 4, "VM 1 kept running (no switch): it reached its last call", "SEND-2")
    expect_ends_in_wfi("run(1, 0): both sends fail without a switch; wfi", ended, "SEND-2")


@pytest.mark.clause("SEND-2", "SEND-5")
def test_send_to_self_before_notify(boot):
    """SEND-2 is checked before SEND-5: the primary's send to itself with notify, while its own
    mailbox is read, does not queue it on its own mailbox (its clear then returns 0, not 1)."""
    hv = boot(script(CFG, send(0, 3)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 sends 3 bytes to the primary", hv.run(1, clause="RUN-8"), 0x0000000300000005)
    expect("send(0, 3, notify): to itself, its mailbox read", hv.send(0, 3, 1), ERR, clause="SEND-2")
    cleared = hv.clear()
    expect(
        "clear of the read mailbox: no waiter queued by the send to itself",
        cleared,
        0,
        clause="SEND-2" if cleared == 1 else "CLR-3",
    )
    expect("waiter_get(0): no waiter", hv.waiter_get(0), ERR, clause="SEND-2")


# --- SEND-3 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-3")
@pytest.mark.parametrize("to", [2, 3, 99, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
@pytest.mark.parametrize("notify", [0, 1])
def test_absent_vm_refused(boot, to, notify):
    hv = _receiver_blocked(boot)
    expect(f"send({to:#x}, 4, {notify})", hv.send(to, 4, notify), ERR, clause="SEND-3")
    expect_sent("no state change: a send to VM 1 then succeeds", hv.send(1, 4), refused="SEND-3")


@pytest.mark.clause("SEND-3")
def test_vm_id_is_u32(boot):
    hv = _receiver_blocked(boot)
    expect_sent("send(0x100000001, 4): VM 1", hv.send(0x1_0000_0001, 4), refused="SEND-3")
    expect("run(1, 0): VM 1 receives, clears; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000000400000000, missing="RUN-12")


# --- SEND-4 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-4")
def test_unconfigured_primary_cannot_send(boot):
    hv = boot(script(CFG, receive(1), CLEAR))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(b"unsent")
    expect("send from the unconfigured primary", hv.send(1, 6), ERR, clause="SEND-4")
    expect("send with notify from the unconfigured primary", hv.send(1, 6, 1), ERR, clause="SEND-4")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    # No state change: VM 1's mailbox is still empty (nothing was copied), so this send succeeds.
    expect_sent("once configured, a send succeeds", hv.send(1, 2), refused="SEND-4")
    expect("run(1, 0): VM 1 receives, clears; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive: the configured send's size", x0_of(hv, 1, 1), 0x0000000200000000, missing="RUN-12")


@pytest.mark.clause("SEND-4")
def test_unconfigured_secondary_cannot_send(boot):
    hv = boot(script(send(0, 4), send(2, 4), Call(0xFF01)), script(CFG, PAUSE))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): VM 2 configures and yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send to the primary", x0_of(hv, 1, 0), ERR, clause="SEND-4")
    expect("VM 1's send to VM 2", x0_of(hv, 1, 1), ERR, clause="SEND-4")
    report_count(hv, 1, 3, "VM 1 kept running (no switch): it reached its last call", "SEND-4")
    expect_ends_in_wfi("run(1, 0): sends fail without a switch; wfi", ended, "SEND-4")
    expect_sent("the primary's send to VM 2: its mailbox is still empty", hv.send(2, 1), refused="SEND-4")


@pytest.mark.clause("SEND-4", "SEND-5")
def test_unconfigured_sender_before_notify(boot):
    """SEND-4 is checked before SEND-5: an unconfigured secondary's notify send to the unconfigured
    primary does not queue it (the primary's configure then returns 0, not 1)."""
    hv = boot(script(send(0, 4, 1), Call(0xFF01)))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send(0, 4, notify), VM 1 unconfigured", x0_of(hv, 1, 0), ERR, clause="SEND-4")
    expect_ends_in_wfi("run(1, 0): no switch; wfi", ended, "SEND-4")
    configured = hv.configure()
    expect("waiter_get(0): VM 1 was not queued", hv.waiter_get(0), ERR, clause="SEND-4")
    expect("the primary's configure: no waiter, 0", configured, 0, clause="CFG-5")


# --- SEND-5 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-5")
@pytest.mark.parametrize("notify", [0, 1])
def test_target_not_configured(boot, notify):
    hv = boot(program("idle"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"send(1, 4, {notify}) to the unconfigured VM 1", hv.send(1, 4, notify), ERR, clause="SEND-5")
    expect(f"send(1, 0, {notify}) to the unconfigured VM 1", hv.send(1, 0, notify), ERR, clause="SEND-5")


@pytest.mark.clause("SEND-5")
def test_secondary_to_unconfigured_primary_and_vm(boot):
    hv = boot(program("idle"), script(CFG, send(0, 4), send(1, 4), send(1, 4, 1), Call(0xFF01)))
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's send to the unconfigured primary", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    expect("VM 2's send to the unconfigured VM 1", x0_of(hv, 2, 2), ERR, clause="SEND-5")
    expect("VM 2's notify send to the unconfigured VM 1", x0_of(hv, 2, 3), ERR, clause="SEND-5")
    report_count(hv, 2, 5, "VM 2 kept running (no switch): it reached its last call", "SEND-5")
    expect_ends_in_wfi("run(2, 0): no switch; wfi", ended, "SEND-5")


@pytest.mark.clause("SEND-5")
def test_received_mailbox_refuses_and_keeps_message(boot):
    hv = boot(script(CFG, PAUSE, receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"one")
    expect_sent("first send", hv.send(1, 3))
    hv.write_send_page(b"second")
    expect("second send while unread", hv.send(1, 6), ERR, clause="SEND-5")
    page = hv.recv_page(6, vm=1)
    expect("VM 1's recv page: the first message", page[:3], b"one", clause="SEND-6" if page[3:] == b"\0\0\0" else "SEND-5")
    expect("VM 1's recv page beyond it: untouched by the refused send", page[3:], b"\0\0\0", clause="SEND-5")
    expect("run(1, 0): VM 1 receives; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive: the first message", x0_of(hv, 1, 2), 0x0000000300000000, missing="SEND-8", clause="SEND-5")


@pytest.mark.clause("SEND-5", "CLR-3")
def test_read_mailbox_refuses_until_cleared(boot):
    hv = boot(script(CFG, receive(1), PAUSE, CLEAR, receive(1)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send 3", hv.send(1, 3))
    expect("run(1, 0): VM 1 receives, yields without clearing", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000000300000000, missing="RUN-12")
    expect("send while VM 1's mailbox is read", hv.send(1, 3), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1 clears, blocks again", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("VM 1's clear", x0_of(hv, 1, 3), 0, clause="CLR-3")
    expect_sent("send after VM 1's clear", hv.send(1, 5), refused="CLR-3")


@pytest.mark.clause("SEND-5", "SEND-7")
def test_primary_read_mailbox_refuses_secondary(boot):
    hv = boot(script(CFG, send(0, 4)), script(CFG, send(0, 5), send(0, 6), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 sends 4 bytes to the primary", hv.run(1, clause="RUN-8"), 0x0000000400000005)
    ended = hv.run(2, clause="RUN-5")
    expect("VM 2's send while the primary's mailbox is read", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    expect("VM 2's second send", x0_of(hv, 2, 2), ERR, clause="SEND-5")
    expect_ends_in_wfi("run(2, 0): no switch; wfi", ended, "SEND-5")
    expect_primary_clear("the primary's clear (no notify was asked: no waiter)", hv.clear())


@pytest.mark.clause("SEND-5")
@pytest.mark.parametrize("notify", [1, 2, 0x1_0000_0000, 1 << 63, 0xFFFF_FFFF_FFFF_FFFF])
def test_any_nonzero_notify_queues(boot, notify):
    hv = _receiver_full(boot)
    expect(f"send(1, 1, {notify:#x}) to a busy mailbox", hv.send(1, 1, notify), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    # Whether the primary was queued is read first: a missing NOTIFY_WAITERS with the waiter
    # queued is RUN-9's failure, not SEND-5's.
    expect("waiter_get(1): the primary was queued", hv.waiter_get(1), 0, clause="SEND-5")
    expect("waiter_get(1) again: none (one entry)", hv.waiter_get(1), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1 receives, clears its read mailbox: NOTIFY_WAITERS", notified, 0x6, clause="RUN-9")


@pytest.mark.clause("SEND-5")
def test_notify_zero_queues_nothing(boot):
    hv = _receiver_full(boot)
    expect("send(1, 1, 0) to a busy mailbox", hv.send(1, 1, 0), ERR, clause="SEND-5")
    cleared = _finish_full(hv)
    expect("VM 1's clear of its read mailbox: no waiter, 0, no NOTIFY_WAITERS", cleared, 0, clause="SEND-5")
    expect("waiter_get(1): no waiter", hv.waiter_get(1), ERR, clause="SEND-5")


@pytest.mark.clause("SEND-5")
def test_one_wait_entry_per_pair(boot):
    hv = _receiver_full(boot)
    for i in range(3):
        expect(f"notify send #{i} to the busy mailbox", hv.send(1, 1, 1), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    expect("waiter_get(1): the primary", hv.waiter_get(1), 0, clause="SEND-5")
    expect("waiter_get(1) again: none (one entry per (waiter, target) pair)", hv.waiter_get(1), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1 clears its read mailbox: NOTIFY_WAITERS", notified, 0x6, clause="RUN-9")


# --- SEND-6 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-6")
def test_exactly_size_bytes_copied(boot):
    hv = _receiver_blocked(boot)
    hv.session.write(1, hv.base(1) + 0x11000, b"\xee" * 4096)
    hv.write_send_page(b"Echo this back to me!\0" + b"\xaa" * 100)
    expect_sent("send 22", hv.send(1, 22))
    page = hv.recv_page(vm=1)
    expect("the 22 bytes", page[:22], b"Echo this back to me!\0", clause="SEND-6")
    expect("the rest of the recv page keeps its old contents", page[22:], b"\xee" * (4096 - 22), clause="SEND-6")


@pytest.mark.clause("SEND-6")
def test_send_page_read_at_call_time(boot):
    hv = boot(script(CFG, PAUSE, receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"before")
    expect_sent("send 6", hv.send(1, 6))
    hv.write_send_page(b"after!")
    expect("VM 1's recv page holds what the send page held at the call", hv.recv_page(6, vm=1), b"before", clause="SEND-6")


@pytest.mark.clause("SEND-6")
def test_primary_send_returns_zero_without_receiver_waiting(boot):
    """The earlier revision's primary got 0xffff ("no vCPU woken") here; this one gets 0."""
    hv = boot(script(CFG, PAUSE, receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and yields (it is ready, not blocked)", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 9) to a VM that is not waiting", hv.send(1, 9))


@pytest.mark.clause("SEND-6")
@pytest.mark.requires("ready_vcpus")
def test_primary_send_returns_zero_not_a_vcpu_index(boot):
    """Two vCPUs of VM 1 ready at boot (the ``ready_vcpus`` capability) block in a receive, vCPU 1
    last. The send returns 0, not the index of a vCPU it woke (the first profile woke the most
    recent waiter and returned 1 here; §10 too)."""
    hv = boot(program("mbx_vcpus_receive", vcpus=2, ready_vcpus=2))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): vCPU 0 configures, blocks in receive", hv.run(1, 0, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("run(1, 1): vCPU 1 blocks in receive", hv.run(1, 1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 4)", hv.send(1, 4))


@pytest.mark.clause("SEND-6", "RECV-2")
def test_sender_recorded(boot):
    hv = boot(script(CFG, Fill(12, 0x30), send(2, 12)), script(CFG, receive(1)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): VM 2 blocks", hv.run(2, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_message("run(1, 0): VM 1 sends 12 bytes to VM 2", hv.run(1, clause="RUN-8"), 0x20005)
    expect("VM 2's recv page", hv.recv_page(12, vm=2), bytes(range(0x30, 0x3C)), clause="SEND-6")
    expect("run(2, 0): VM 2's receive returns; wfi", hv.run(2, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    got = x0_of(hv, 2, 1)
    # Sender 1 in other bits, or no size, is the receive's packing (RECV-2); another sender SEND-6's.
    packing = isinstance(got, int) and ((got >> 16) & 0xFFFF == 1 or (got >> 32 == 0 and got & 0xFFFF == 1))
    clause = "RECV-2" if packing else "SEND-6"
    expect_received("VM 2's receive: sender 1, size 12", got, 0x0000000C00000001, missing="RUN-12", clause=clause)


# --- SEND-7 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-7", "RUN-8")
def test_secondary_to_primary(boot):
    hv = boot(script(CFG, Fill(300, 0x10), send(0, 300), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    message = hv.run(1, clause="RUN-8")
    report_count(hv, 1, 2, "VM 1 was switched out at its send (it has not reported it)", "SEND-7")
    expect_message("run(1, 0): MESSAGE, vm 0, size 300", message, 0x0000012C00000005)
    expect("the primary's recv page", hv.recv_page(300), bytes((0x10 + i) & 0xFF for i in range(300)), clause="SEND-6")
    ended = hv.run(1, clause="RUN-5")
    regs = hv.reports(1)[2] if len(hv.reports(1)) > 2 else None
    expect("VM 1 resumed after its send (the send's report)", regs is not None, True, clause="SEND-7")
    assert regs is not None
    expect("VM 1's send returned 0", regs[0], 0, clause="SEND-6")
    expect_zero_x1_x17("VM 1's resumed send", regs)
    expect_ends_in_wfi("run(1, 0): VM 1 resumes; wfi", ended, "RUN-5")
    expect("VM 1's HF_VM_GET_COUNT", x0_of(hv, 1, 3), 2, clause="VM-3")


@pytest.mark.clause("SEND-7", "RECV-1")
def test_to_primary_mailbox_becomes_read(boot):
    """*read*, not *received* or *empty*: a second sender is refused (not empty), the primary's
    clear succeeds at once (not received), and with a waiter it returns 1 (only a read mailbox
    notifies, CLR-3)."""
    hv = boot(script(CFG, send(0, 4)), script(CFG, send(0, 1, 1), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): MESSAGE, size 4", hv.run(1, clause="RUN-8"), 0x0000000400000005)
    expect("the primary cannot receive", hv.receive(0), NOTHING, clause="RECV-1")
    expect_ends_in_wfi("run(2, 0): VM 2's notify send is refused; wfi", hv.run(2, clause="RUN-5"), "SEND-5")
    expect("VM 2's send(0, 1, notify) to the read mailbox", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    cleared = hv.clear()
    expect_primary_clear("the primary's clear of its read mailbox", cleared, 1 if cleared == ERR else cleared)
    expect_primary_notified(hv, "the primary's clear of its read mailbox with a waiter: 1", cleared, "CLR-3", [2])


# --- SEND-8 ---------------------------------------------------------------------------------------


@pytest.mark.clause("SEND-8", "RUN-12")
def test_primary_send_does_not_run_receiver(boot):
    """The primary's send to a secondary returns 0 to the primary without a switch; the receiver
    (blocked in receive) has not run: the message is delivered when the primary runs it (RUN-12).
    A build that wakes and runs the receiver itself (§10) shows reports here."""
    hv = _receiver_blocked(boot, script(CFG, receive(1)))
    expect("run(2, 0): VM 2 blocks too", hv.run(2, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect_sent("send(2, 5) right after (the primary kept running)", hv.send(2, 5))
    report_count(hv, 1, 1, "VM 1 did not run at the send: only its configure is reported", "SEND-8")
    report_count(hv, 2, 1, "VM 2 did not run at the send", "SEND-8")
    expect("HF_VM_GET_COUNT from the primary", hv.vm_count(), 3, clause="VM-3")
    expect("run(2, 0): VM 2's receive returns; wfi", hv.run(2, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 2's receive", x0_of(hv, 2, 1), 0x0000000500000000, missing="RUN-12")
    expect("run(1, 0): VM 1's receive returns, it clears; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive", x0_of(hv, 1, 1), 0x0000000400000000, missing="RUN-12")


@pytest.mark.clause("SEND-8", "CLR-2")
def test_to_secondary_mailbox_becomes_received(boot):
    """*received*: the receiver's clear is refused (CLR-2) and its non-blocking receive gets it."""
    # VM 1 receives at once: only a received mailbox gives the message (SEND-8). VM 2 first
    # clears: with its mailbox received too (as VM 1's), the refusal is CLR-2's.
    hv = boot(script(CFG, PAUSE, receive(0), receive(0)), script(CFG, PAUSE, CLEAR, receive(0), receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for vm in (1, 2):
        expect(f"run({vm}, 0): VM {vm} yields", hv.run(vm, clause="RUN-6"), 0x1, clause="RUN-6")
        expect_sent(f"send({vm}, 7)", hv.send(vm, 7))
        expect(f"run({vm}, 0): VM {vm}'s calls; wfi", hv.run(vm, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 1's receive(0)", x0_of(hv, 1, 2), 0x0000000700000000, missing="SEND-8", clause="SEND-8")
    expect("VM 1's next receive(0): nothing", x0_of(hv, 1, 3), NOTHING, clause="RECV-3")
    expect("VM 2's clear of the unread message", x0_of(hv, 2, 2), ERR, clause="CLR-2")
    expect_received("VM 2's receive(0)", x0_of(hv, 2, 3), 0x0000000700000000, missing="CLR-2", clause="CLR-2")
    expect("VM 2's next receive(0): nothing", x0_of(hv, 2, 4), NOTHING, clause="RECV-3")


@pytest.mark.clause("SEND-8", "RUN-8")
def test_secondary_to_secondary_switches_out(boot):
    hv = boot(script(CFG, send(2, 3), Call(0xFF01)), script(CFG, PAUSE, receive(0)))
    expect("run(2, 0): VM 2 configures, yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    message = hv.run(1, clause="RUN-8")
    report_count(hv, 1, 1, "VM 1 was switched out at its send (it has not reported it)", "SEND-8")
    expect_message("run(1, 0): MESSAGE to VM 2, size 0 (the recipient is not the primary)", message, 0x20005)
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's send returned 0 when resumed", x0_of(hv, 1, 1), 0, clause="SEND-6")
    expect_zero_x1_x17("VM 1's resumed send", hv.reports(1)[1])
    expect_ends_in_wfi("run(1, 0): VM 1 resumes; wfi", ended, "RUN-5")
    expect("run(2, 0): VM 2 receives; wfi", hv.run(2, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 2's receive(0): sender 1, size 3", x0_of(hv, 2, 2), 0x0000000300000001, missing="SEND-8")
    expect_calls("VM 1's reports", x0s(hv, 1), [0, 0, 3], ["CFG-5", None, "VM-3"], clause="SEND-8")
