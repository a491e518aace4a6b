"""§11 worked examples, with their literal values, and this project's versions of Hafnium's own
2019 tests at 53d9d04f (test/vmapi/primary_with_secondaries/mailbox.c, no_services.c): the same
sequence of calls and expected values, made with this project's guest programs (``echo``,
``relay``, ``echo_with_notification``: the services of the same names).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm import layout
from profiles.hafnium_2019_03.hv import program
from profiles.hafnium_2019_03.mailbox_checks import (
    ERR,
    NOTHING,
    expect_ends_in_wfi,
    expect_message,
    expect_notified,
    expect_primary_clear,
    expect_primary_notified,
    expect_received,
    expect_sent,
    x0_of,
    x0s,
)

ECHO_MESSAGE = b"Echo this back to me!\0"
RELAY_MESSAGE = b"Send this round the relay!\0"
NOT_READY = b"not ready echo\0"


def _next_permutation(s: bytearray) -> None:
    """The next lexicographic permutation of ``s`` in place (as mailbox.c's helper; unchanged at the last)."""
    for i in range(len(s) - 2, -1, -1):
        if s[i] < s[i + 1]:
            j = len(s) - 1
            while s[j] <= s[i]:
                j -= 1
            s[i], s[j] = s[j], s[i]
            s[i + 1 :] = reversed(s[i + 1 :])
            return


# --- §11 worked examples --------------------------------------------------------------------------


@pytest.mark.clause("RUN-7", "RUN-6", "RUN-8", "RUN-12", "SEND-6", "SEND-7", "CLR-1", "CLR-3", "CFG-5")
def test_worked_example_echo(boot):
    """§11 "Echo" (mailbox.echo with hftest's service selection)."""
    hv = boot(program("echo", SELECT=1))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): the service blocks in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(b"echo")
    expect_sent("send(1, 4): the service name", hv.send(1, 4))
    yielded = hv.run(1, clause="RUN-6")
    # The causes first: the run delivered the name (RUN-12) and left the mailbox read, so that
    # the service's clear succeeds (-1: still received, RUN-12; another value CLR-3's).
    expect_received("the service's receive of its name", x0_of(hv, 1, 1), 0x0000000400000000, missing="RUN-12")
    cleared = x0_of(hv, 1, 2)
    expect("the service's clear of its read mailbox", cleared, 0, clause="RUN-12" if cleared == ERR else "CLR-3")
    expect("run(1, 0): the service yields", yielded, 0x1, clause="RUN-6")
    expect("run(1, 0): echo blocks in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("the service's yield returned 0", x0_of(hv, 1, 3), 0, clause="RUN-6")
    hv.write_send_page(ECHO_MESSAGE)
    # refused: the service's clear of its name did not empty its mailbox (CLR-3)
    expect_sent("send(1, 22, 0)", hv.send(1, 22, 0), refused="CLR-3")
    echoed = hv.run(1, clause="RUN-8")
    expect_received("echo's receive: sender 0, size 22", x0_of(hv, 1, 4), 0x0000001600000000, missing="RUN-12")
    cleared = x0_of(hv, 1, 5)
    expect("echo's clear of its read mailbox", cleared, 0, clause="RUN-12" if cleared == ERR else "CLR-3")
    arrived = hv.recv_page(22) == ECHO_MESSAGE
    expect_message("run(1, 0): MESSAGE, vm 0, size 22", echoed, 0x0000001600000005, refused="RUN-12", arrived=arrived)
    expect("the primary's recv page: the 22 bytes", hv.recv_page(22), ECHO_MESSAGE, clause="SEND-6")
    expect_primary_clear("clear", hv.clear())
    expect("clear again", hv.clear(), 0, clause="CLR-1")
    expect("echo's configure", x0_of(hv, 1, 0), 0, clause="CFG-5")


@pytest.mark.clause("RUN-8", "RUN-7", "RUN-12", "SEND-6", "SEND-8", "RECV-2")
def test_worked_example_relay(boot):
    """§11 "Relay": ``[2][0]"hi\\0"`` (11 bytes) to VM 1; VM 1 forwards to VM 2, VM 2 to the primary."""
    hv = boot(program("relay"), program("relay"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): relay 1 blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("run(2, 0): relay 2 blocks", hv.run(2, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(b"\x02\x00\x00\x00\x00\x00\x00\x00hi\x00")
    expect_sent("send(1, 11)", hv.send(1, 11))
    relayed = hv.run(1, clause="RUN-8")
    # The cause first: VM 1 received the message (RUN-12 delivers it); its forward then arrived
    # in VM 2's recv page unless the send was refused.
    expect_received("VM 1's receive: sender 0, size 11", x0_of(hv, 1, 1), 0x0000000B00000000, missing="RUN-12")
    arrived = hv.recv_page(7, vm=2) == b"\x00\x00\x00\x00hi\x00"
    expect_message("run(1, 0): MESSAGE, recipient VM 2, size 0", relayed, 0x20005, refused="RUN-12", arrived=arrived)
    to_primary = hv.run(2, clause="RUN-8")
    expect_received("VM 2's receive: sender 1, size 7", x0_of(hv, 2, 1), 0x0000000700000001, missing="RUN-12")
    arrived = hv.recv_page(3) == b"hi\x00"
    expect_message("run(2, 0): MESSAGE to the primary, size 3", to_primary, 0x0000000300000005, arrived=arrived)
    expect("the primary's recv page", hv.recv_page(3), b"hi\x00", clause="SEND-6")


@pytest.mark.clause("RUN-9", "CFG-5", "WAIT-1", "WAIT-2", "SEND-5")
def test_worked_example_notify_on_configure(boot):
    """§11 "Notify on configure" (mailbox.secondary_to_primary_notification_on_configure)."""
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, 1) before VM 1 configures: the waiter is queued", hv.send(1, 0, 1), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    expect_notified(hv, 1, "run(1, 0): its configure found the waiter: NOTIFY_WAITERS (0x6)", notified, [0])
    expect("writable_get() on the primary", hv.writable_get(), 1, clause="WAIT-2")
    expect_sent("send(1, 0, 0)", hv.send(1, 0, 0))


# --- mailbox.c ------------------------------------------------------------------------------------


@pytest.mark.clause("CLR-1")
def test_mailbox_clear_empty(boot):
    """mailbox.clear_empty: clearing an empty mailbox is a no-op, three times."""
    hv = boot(program("idle"))
    for i in range(3):
        expect(f"clear #{i}", hv.clear(), 0, clause="CLR-1")


@pytest.mark.clause("RUN-7", "RUN-8", "SEND-6", "CLR-3")
def test_mailbox_echo(boot):
    """mailbox.echo (without the service selection)."""
    hv = boot(program("echo"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("run: WAIT_FOR_MESSAGE, ns = INDEF", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(ECHO_MESSAGE)
    expect_sent("send(SERVICE_VM0, 22, false)", hv.send(1, 22, 0))
    echoed = hv.run(1, clause="RUN-8")
    # The cause first: echo received the message (RUN-12 delivers it) with its size (RECV-2).
    expect_received("echo's receive: sender 0, size 22", x0_of(hv, 1, 1), 0x0000001600000000, missing="RUN-12")
    arrived = hv.recv_page(22) == ECHO_MESSAGE
    expect_message("run: MESSAGE, size 22", echoed, 0x0000001600000005, refused="RUN-12", arrived=arrived)
    expect("memcmp(recv, message)", hv.recv_page(22), ECHO_MESSAGE, clause="SEND-6")
    expect_primary_clear("clear", hv.clear())


@pytest.mark.clause("RUN-7", "RUN-8", "SEND-6", "CLR-3", "RUN-12")
def test_mailbox_repeated_echo(boot):
    """mailbox.repeated_echo: 100 rounds, the message permuted each round."""
    hv = boot(program("echo"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    message = bytearray(ECHO_MESSAGE)
    for i in range(100):
        waiting = hv.run(1, clause="RUN-7")
        if i and 3 + 3 * i < layout.LIB_REPORT_SLOTS:
            # The cause first: echo's clear of the last round's delivered message (-1: the
            # delivery left it received, RUN-12; another value CLR-3's).
            cleared = x0_of(hv, 1, 2 + 3 * (i - 1))
            expect(f"round {i - 1}: echo's clear", cleared, 0, clause="RUN-12" if cleared == ERR else "CLR-3")
        expect(f"round {i}: run: WAIT_FOR_MESSAGE", waiting, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
        body = message[:-1]
        _next_permutation(body)
        message[:-1] = body
        hv.write_send_page(bytes(message))
        # refused: echo's clear of the last round's message did not empty its mailbox (CLR-3)
        expect_sent(f"round {i}: send(1, 22)", hv.send(1, 22, 0), refused="CLR-3" if i else None)
        echoed = hv.run(1, clause="RUN-8")
        if 2 + 3 * i < layout.LIB_REPORT_SLOTS:
            expect_received(f"round {i}: echo's receive", x0_of(hv, 1, 1 + 3 * i), 0x0000001600000000, missing="RUN-12")
        expect_message(f"round {i}: run: MESSAGE, size 22", echoed, 0x0000001600000005)
        expect(f"round {i}: memcmp", hv.recv_page(22), bytes(message), clause="SEND-6")
        expect_primary_clear(f"round {i}: clear", hv.clear())


@pytest.mark.clause("RUN-8", "RUN-7", "SEND-6", "RECV-2", "CLR-3")
def test_mailbox_relay(boot):
    """mailbox.relay: the chain [SERVICE_VM1][HF_PRIMARY_VM_ID] then the 27-byte message."""
    hv = boot(program("relay"), program("relay"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("run(SERVICE_VM0): WAIT_FOR_MESSAGE", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("run(SERVICE_VM1): WAIT_FOR_MESSAGE", hv.run(2, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page((2).to_bytes(4, "little") + (0).to_bytes(4, "little") + RELAY_MESSAGE)
    expect_sent("send(SERVICE_VM0, 27 + 8, false)", hv.send(1, 35, 0))
    relayed = hv.run(1, clause="RUN-8")
    # The causes first: each relay received its message (RUN-12 delivers it; RECV-2 its value).
    expect_received("relay 1's receive: sender 0, size 35", x0_of(hv, 1, 1), 0x0000002300000000, missing="RUN-12")
    arrived = hv.recv_page(31, vm=2) == (0).to_bytes(4, "little") + RELAY_MESSAGE
    expect_message("run(SERVICE_VM0): MESSAGE, vm_id SERVICE_VM1, size 0", relayed, 0x20005, refused="RUN-12", arrived=arrived)
    to_primary = hv.run(2, clause="RUN-8")
    expect_received("relay 2's receive: sender 1, size 31", x0_of(hv, 2, 1), 0x0000001F00000001, missing="RUN-12")
    arrived = hv.recv_page(27) == RELAY_MESSAGE
    expect_message("run(SERVICE_VM1): MESSAGE, vm_id 0, size 27", to_primary, 0x0000001B00000005, arrived=arrived)
    expect("memcmp(recv, message)", hv.recv_page(27), RELAY_MESSAGE, clause="SEND-6")
    expect_primary_clear("clear", hv.clear())
    expect("relay 1's reports: configure, receive, clear", x0s(hv, 1), [0, 0x0000002300000000, 0], clause="RECV-2")
    expect("relay 2's reports: configure, receive, clear", x0s(hv, 2), [0, 0x0000001F00000001, 0], clause="RECV-2")


@pytest.mark.clause("SEND-5", "CFG-5", "RUN-9")
def test_mailbox_no_primary_to_secondary_notification_on_configure(boot):
    """mailbox.no_primary_to_secondary_notification_on_configure: without notify nothing is queued,
    and VM 1's configure does not answer NOTIFY_WAITERS."""
    hv = boot(program("echo"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("send(SERVICE_VM0, 0, false) before it configures", hv.send(1, 0, 0), ERR, clause="SEND-5")
    response = hv.run(1, clause="RUN-9")
    expect(
        "run: WAIT_FOR_MESSAGE (no NOTIFY_WAITERS)",
        response,
        0xFFFF_FFFF_FFFF_FF03,
        clause="RUN-9" if response == 0x6 else "RUN-7",
    )
    expect_sent("send(SERVICE_VM0, 0, false)", hv.send(1, 0, 0))


@pytest.mark.clause("RUN-9", "WAIT-1", "SEND-5")
def test_mailbox_secondary_to_primary_notification_on_configure(boot):
    """mailbox.secondary_to_primary_notification_on_configure."""
    hv = boot(program("echo"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("send(SERVICE_VM0, 0, true)", hv.send(1, 0, 1), ERR, clause="SEND-5")
    expect_notified(
        hv, 1, "run: NOTIFY_WAITERS; waiter_get(SERVICE_VM0): HF_PRIMARY_VM_ID, then -1", hv.run(1, clause="RUN-9"), [0]
    )
    expect_sent("send(SERVICE_VM0, 0, false)", hv.send(1, 0, 0))


@pytest.mark.clause("CLR-3", "WAIT-1", "WAIT-2", "WAIT-3", "SEND-5", "RUN-5", "RUN-8", "RUN-13")
def test_mailbox_primary_to_secondary(boot):
    """mailbox.primary_to_secondary (service echo_with_notification): the second echo meets the
    primary's read mailbox; the primary's clear returns 1, it takes the waiter and injects
    HF_MAILBOX_WRITABLE_INTID; the echo then arrives."""
    hv = boot(program("echo_with_notification"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("run: WAIT_FOR_MESSAGE", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(NOT_READY)
    expect_sent("send(SERVICE_VM0, 15, false)", hv.send(1, 15, 0))
    echoed = hv.run(1, clause="RUN-8")
    expect_received("the service's receive: sender 0, size 15", x0_of(hv, 1, 2), 0x0000000F00000000, missing="RUN-12")
    arrived = hv.recv_page(15) == NOT_READY
    expect_message("run: MESSAGE, size 15", echoed, 0x0000000F00000005, refused="RUN-12", arrived=arrived)
    expect("memcmp(recv, message)", hv.recv_page(15), NOT_READY, clause="SEND-6")
    expect("run: the service waits again: WAIT_FOR_MESSAGE", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    reverse = NOT_READY[:-1][::-1] + b"\0"
    hv.write_send_page(reverse)
    # refused: the service's clear of its read mailbox did not empty it (CLR-3)
    expect_sent("send(SERVICE_VM0, 15, false), our mailbox not cleared", hv.send(1, 15, 0), refused="CLR-3")
    expect_ends_in_wfi(
        "run: its send fails, it waits for an interrupt: WAIT_FOR_INTERRUPT, ns = INDEF", hv.run(1, clause="RUN-5"), "SEND-5"
    )
    cleared = hv.clear()
    expect_primary_clear("clear", cleared, 1 if cleared == ERR else cleared)
    expect_primary_notified(hv, "clear: there are waiters; waiter_get(HF_PRIMARY_VM_ID): SERVICE_VM0, -1", cleared, "CLR-3", [1])
    injected = hv.interrupt_inject(1, 0, 2)
    # 0: the interrupt was pending already -- nobody but the hypervisor injected it (WAIT-3).
    expect("inject(SERVICE_VM0, 0, HF_MAILBOX_WRITABLE_INTID)", injected, 1, clause="WAIT-3" if injected == 0 else "WAIT-4")
    echoed = hv.run(1, clause="RUN-8")
    # The causes first: the injection woke the service from its wfi (RUN-13), its interrupt_get
    # got the interrupt (WAIT-4), its writable_get the primary (WAIT-1 made it ready, WAIT-2).
    after = x0s(hv, 1)
    expect("the service resumed after the injection: reports past its wfi", len(after) > 8, True, clause="RUN-13")
    expect("the service's interrupt_get", after[8], 2, clause="WAIT-4")
    expect("the service's writable_get: the primary", after[9] if len(after) > 9 else "no report", 0, clause="WAIT-2")
    arrived = hv.recv_page(15) == reverse
    expect_message("run: MESSAGE, size 15", echoed, 0x0000000F00000005, arrived=arrived)
    expect("memcmp(recv, reversed message)", hv.recv_page(15), reverse, clause="SEND-6")
    expect(
        "its reports: configure, enable, receive, send, clear, receive, send, writable_get, interrupt_get, writable_get",
        x0s(hv, 1),
        [0, 0, 0x0000000F00000000, 0, 0, 0x0000000F00000000, ERR, ERR, 2, 0],
        clause="WAIT-2",
    )


@pytest.mark.clause("RUN-9", "CLR-3", "WAIT-1", "SEND-5")
def test_mailbox_secondary_to_primary_notification(boot):
    """mailbox.secondary_to_primary_notification (service echo_with_notification): the primary's
    second send (with notify) fails; the service's clear of its read mailbox notifies the primary."""
    hv = boot(program("echo_with_notification"))
    expect("set_up_mailbox: configure", hv.configure(), 0, clause="CFG-5")
    expect("run: WAIT_FOR_MESSAGE", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(NOT_READY)
    expect_sent("send(SERVICE_VM0, 15, false)", hv.send(1, 15, 0))
    expect("send(SERVICE_VM0, 15, true): the second fails", hv.send(1, 15, 1), ERR, clause="SEND-5")
    expect_message("run: the reply, MESSAGE size 15", hv.run(1, clause="RUN-8"), 0x0000000F00000005, refused="RUN-12")
    expect("memcmp(recv, message)", hv.recv_page(15), NOT_READY, clause="SEND-6")
    notified = hv.run(1, clause="RUN-9")
    expect_notified(hv, 1, "run: the service clears its mailbox: NOTIFY_WAITERS", notified, [0], emptied="CLR-3")
    expect_sent("send(SERVICE_VM0, 0, false): now succeeds", hv.send(1, 0, 0))
    # Beyond Hafnium's test: the primary clears its read mailbox (no waiters: 0); the service
    # resumes (its clear returned 0), receives the empty message and echoes it.
    expect_primary_clear("clear (no waiters on the primary's mailbox)", hv.clear())
    expect_message("run: the empty message echoed: MESSAGE, size 0", hv.run(1, clause="RUN-8"), 0x5)
    expect("the service's clear returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 4), 0, clause="RUN-9")
    expect_received("the service's receive of the empty message", x0_of(hv, 1, 5), 0x0, missing="RUN-12")


# --- no_services.c --------------------------------------------------------------------------------


@pytest.mark.clause("RECV-1")
def test_hf_mailbox_receive_cannot_receive_from_primary(boot):
    """hf_mailbox_receive.cannot_receive_from_primary_blocking / _non_blocking: {HF_INVALID_VM_ID, 0}."""
    hv = boot(program("idle"))
    expect("cannot_receive_from_primary_blocking", hv.receive(1, clause="RECV-1"), NOTHING, clause="RECV-1")
    expect("cannot_receive_from_primary_non_blocking", hv.receive(0, clause="RECV-1"), NOTHING, clause="RECV-1")


@pytest.mark.clause("CFG-1", "CFG-2", "CFG-5")
def test_hf_vm_configure(boot):
    """hf_vm_configure.fails_with_unaligned_pointer, fails_with_same_page, succeeds, fails_if_already_succeeded."""
    hv = boot(program("idle"))
    base = hv.base(0)
    send_page, recv_page = base + 0x10000, base + 0x11000
    for s, r in ((send_page, recv_page + 1), (send_page + 1, send_page), (send_page + 1, recv_page + 1)):
        expect(f"fails_with_unaligned_pointer ({s:#x}, {r:#x})", hv.configure(s, r), ERR, clause="CFG-1")
    expect("fails_with_same_page (send, send)", hv.configure(send_page, send_page), ERR, clause="CFG-1")
    expect("fails_with_same_page (recv, recv)", hv.configure(recv_page, recv_page), ERR, clause="CFG-1")
    expect("succeeds", hv.configure(send_page, recv_page), 0, clause="CFG-5")
    expect("fails_if_already_succeeded", hv.configure(send_page, recv_page), ERR, clause="CFG-2")
