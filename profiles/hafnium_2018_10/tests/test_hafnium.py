"""§11 Hafnium's own tests of the era, with their values (mailbox.echo, relay, repeated_echo, ...)."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm import layout
from profiles.hafnium_2018_10.checks import (
    expect_accepted_after_clear,
    expect_cleared,
    expect_received,
    expect_wake_up,
    expect_woken,
    x0_of,
)
from profiles.hafnium_2018_10.hv import ERR, program

ECHO_MESSAGE = b"Echo this back to me!\0"
RELAY_MESSAGE = b"Send this round the relay!\0"


@pytest.mark.clause("RUN-7", "SEND-7", "SEND-9", "SEND-11", "RECV-4", "RECV-6", "CLR-1", "CFG-2", "CFG-5")
def test_mailbox_echo(boot):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(echo, 0): echo blocks in receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("echo's second configure", x0_of(hv, 1, 0), ERR, clause="CFG-2")
    hv.write_send_page(ECHO_MESSAGE)
    expect_woken("send(echo, 22): the index of the woken vCPU", hv.send(1, 22))
    echoed = hv.run(1, clause="RUN-7")
    expect_received("echo's receive: sender 0, size 22", x0_of(hv, 1, 1), 0x0000001600000000, missing="SEND-9")
    expect("run(echo, 0): MESSAGE, size 22", echoed, 0x0000001600000003, clause="RUN-7")
    expect("the echoed bytes in the primary's recv page", hv.recv_page(22), ECHO_MESSAGE, clause="SEND-7")
    expect_cleared("clear", hv.clear())


@pytest.mark.clause("RUN-8", "RUN-7", "SEND-9", "RECV-6")
def test_mailbox_relay(boot):
    hv = boot(program("relay", NEXT_HOP=2), program("relay", NEXT_HOP=0))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0)", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(2, 0)", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(RELAY_MESSAGE)
    expect_woken("send(1, 27)", hv.send(1, 27))
    woke = hv.run(1, clause="RUN-8")
    expect_received("VM 1's receive: sender 0, size 27", x0_of(hv, 1, 0), 0x0000001B00000000, missing="SEND-9")
    expect_wake_up("run(1, 0): WAKE_UP vm 2 vcpu 0", woke, 0x0000000000020002)
    relayed = hv.run(2, clause="RUN-7")
    expect_received("VM 2's receive returned 1 | 27 << 32", x0_of(hv, 2, 0), 0x0000001B00000001, missing="SEND-9")
    expect("run(2, 0): MESSAGE, size 27", relayed, 0x0000001B00000003, clause="RUN-7")
    expect("the primary's recv page", hv.recv_page(27), RELAY_MESSAGE, clause="SEND-7")
    expect_cleared("clear", hv.clear())


@pytest.mark.clause("RUN-7", "RUN-9", "SEND-9", "CLR-1")
def test_mailbox_repeated_echo(boot):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for i in range(100):
        expect(f"round {i}: run until echo waits for a message", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
        # echo's reports: its second configure, then per round its receive and its send's result
        # (until the report slots are full: the last slot is then overwritten).
        if 1 + 2 * i < layout.LIB_REPORT_SLOTS:
            expect(f"round {i}: echo resumed after its last send", len(hv.reports(1)), 1 + 2 * i, clause="RUN-9")
        msg = f"Echo this back to me! round {i:03d}".encode() + bytes([i])
        hv.write_send_page(msg)
        # refused: echo's mailbox was not emptied by its clear of the last round's message (CLR-1)
        expect_woken(f"round {i}: send", hv.send(1, len(msg)), refused="CLR-1" if i else None)
        echoed = hv.run(1, clause="RUN-7")
        if 2 + 2 * i < layout.LIB_REPORT_SLOTS:
            expect_received(f"round {i}: echo's receive", x0_of(hv, 1, 1 + 2 * i), len(msg) << 32, missing="SEND-9")
        if i:
            expect_accepted_after_clear(f"round {i}: echo's send, after the primary's clear", hv, 1)
        expect(f"round {i}: run", echoed, len(msg) << 32 | 0x3, clause="RUN-7")
        expect(f"round {i}: echoed bytes", hv.recv_page(len(msg)), msg, clause="SEND-7")
        expect_cleared(f"round {i}: clear", hv.clear())


@pytest.mark.clause("VM-2")
def test_hf_vm_get_count_no_secondaries(boot):
    hv = boot()
    expect("HF_VM_GET_COUNT with no secondaries", hv.vm_count(), 1, clause="VM-2")


@pytest.mark.clause("VM-3")
def test_hf_vcpu_get_count_secondary_has_one_vcpu(boot):
    hv = boot(program("idle"))
    expect("secondary_has_one_vcpu", hv.vcpu_count(1), 1, clause="VM-3")
    expect("large_invalid_vm_index", hv.vcpu_count(0xFFFF_FFFF), ERR, clause="VM-3")


@pytest.mark.clause("CFG-1", "CFG-2", "CFG-4", "CFG-5")
def test_hf_vm_configure(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    send, recv = base + 0x10000, base + 0x11000
    for s, r in ((send + 1, recv), (send, recv + 1), (send + 1, recv + 1)):
        expect(f"fails_with_unaligned_pointer ({s:#x}, {r:#x})", hv.configure(s, r), ERR, clause="CFG-1")
    expect("fails_with_same_page", hv.configure(send, send), ERR, clause="CFG-4")
    expect("succeeds", hv.configure(send, recv), 0, clause="CFG-5")
    expect("fails_if_already_succeeded", hv.configure(send, recv), ERR, clause="CFG-2")


@pytest.mark.clause("RUN-2")
def test_hf_vcpu_run(boot):
    hv = boot(program("idle"))
    # Refused runs switch to nothing: a YIELD here is a wrong value, not a preemption.
    expect("cannot_run_primary", hv.run_once(0, 0), 0x1, clause="RUN-2")
    expect("cannot_run_absent_secondary", hv.run_once(2, 0), 0x1, clause="RUN-2")
    expect("cannot_run_absent_vcpu", hv.run_once(1, 1), 0x1, clause="RUN-2")


@pytest.mark.clause("RECV-1")
def test_hf_mailbox_receive(boot):
    hv = boot(program("idle"))
    expect("cannot_receive_from_primary_blocking", hv.call(0xFF05, 1, clause="RECV-1"), ERR, clause="RECV-1")
    expect("cannot_receive_from_primary_non_blocking", hv.call(0xFF05, 0, clause="RECV-1"), ERR, clause="RECV-1")
