"""§7 Receive: RECV-1 .. RECV-4, with RUN-7 (a receive that blocks) and RUN-12 (delivery when the
primary runs the blocked vCPU; the hypervisor never picks the vCPU itself)."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call
from profiles.hafnium_2019_03.checks import vcpu_reports
from profiles.hafnium_2019_03.hv import program, script
from profiles.hafnium_2019_03.mailbox_checks import (
    CFG,
    CLEAR,
    ERR,
    INTERRUPT_GET,
    NOTHING,
    PAUSE,
    enable,
    expect_ends_in_wfi,
    expect_message,
    expect_nothing,
    expect_primary_clear,
    expect_received,
    expect_sent,
    receive,
    report_count,
    send,
    x0_of,
)

# --- RECV-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("RECV-1")
@pytest.mark.parametrize("block", [0, 1, 0x1_0000_0000, 0xFFFF_FFFF_FFFF_FFFF])
def test_primary_cannot_receive(boot, block):
    hv = boot(program("idle"))
    expect(f"receive({block:#x}), unconfigured", hv.receive(block, clause="RECV-1"), NOTHING, clause="RECV-1")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"receive({block:#x}), configured", hv.receive(block, clause="RECV-1"), NOTHING, clause="RECV-1")


@pytest.mark.clause("RECV-1")
@pytest.mark.parametrize("block", [0, 1])
def test_primary_cannot_receive_even_with_a_message(boot, block):
    hv = boot(script(CFG, send(0, 8)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 sends 8 bytes", hv.run(1, clause="RUN-8"), 0x0000000800000005)
    expect(f"receive({block}) with a message in its mailbox", hv.receive(block, clause="RECV-1"), NOTHING, clause="RECV-1")
    expect_primary_clear("clear: the mailbox was read, and stays so", hv.clear())


# --- RECV-2 ---------------------------------------------------------------------------------------


@pytest.mark.clause("RECV-2")
@pytest.mark.parametrize("block", [0, 1, 0x1_0000_0000])
def test_received_message_returned_blocking_or_not(boot, block):
    hv = boot(script(CFG, PAUSE, receive(block), receive(0), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 33)", hv.send(1, 33))
    ended = hv.run(1, clause="RUN-5")
    expect_received(f"VM 1's receive({block:#x})", x0_of(hv, 1, 2), 0x0000002100000000, missing="RECV-2")
    expect_nothing("VM 1's next receive(0): read, nothing", x0_of(hv, 1, 3), clause="RECV-2")
    report_count(hv, 1, 5, "VM 1 did not block or switch: it reached its last call", "RECV-2")
    expect_ends_in_wfi("run(1, 0): no switch on the way; wfi", ended, "RECV-2")


@pytest.mark.clause("RECV-2")
def test_received_from_a_secondary_names_it(boot):
    hv = boot(script(CFG, send(2, 12)), script(CFG, PAUSE, receive(0)))
    expect("run(2, 0): VM 2 configures, yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_message("run(1, 0): VM 1 sends 12 bytes to VM 2", hv.run(1, clause="RUN-8"), 0x20005)
    expect("run(2, 0): VM 2 receives; wfi", hv.run(2, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("VM 2's receive(0): sender 1, size 12", x0_of(hv, 2, 2), 0x0000000C00000001, missing="SEND-8")


# --- RECV-3 ---------------------------------------------------------------------------------------


@pytest.mark.clause("RECV-3")
def test_nonblocking_receive_without_message(boot):
    hv = boot(script(receive(0), CFG, receive(0), Call(0xFF01)))
    ended = hv.run(1, clause="RUN-5")
    expect("receive(0) before configure", x0_of(hv, 1, 0), NOTHING, clause="RECV-3")
    expect("receive(0) on an empty mailbox", x0_of(hv, 1, 2), NOTHING, clause="RECV-3")
    report_count(hv, 1, 4, "no switch: VM 1 reached its last call", "RECV-3")
    expect_ends_in_wfi("run(1, 0): the script ends in wfi", ended, "RECV-3")


@pytest.mark.clause("RECV-3", "WAIT-4")
@pytest.mark.parametrize("block", [1, 0xFFFF_FFFF_FFFF_FFFF])
def test_pending_interrupt_no_blocking_receive(boot, block):
    """Hafnium test interrupts.pending_interrupt_no_blocking_receive (service receive_block): with
    an enabled+pending interrupt, a blocking receive returns nothing at once."""
    hv = boot(script(CFG, enable(5), PAUSE, receive(block), receive(block), INTERRUPT_GET, receive(block), INTERRUPT_GET))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 enables intid 5 and yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1's interrupt_enable(5, 1)", x0_of(hv, 1, 1), 0, clause="WAIT-4")
    expect("inject(1, 0, 5): the first enabled+pending interrupt", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    blocked = hv.run(1, clause="RUN-7")
    expect(f"VM 1's receive({block:#x}) with intid 5 pending", x0_of(hv, 1, 3), NOTHING, clause="RECV-3")
    expect(f"VM 1's second receive({block:#x}), still pending", x0_of(hv, 1, 4), NOTHING, clause="RECV-3")
    expect("VM 1's interrupt_get", x0_of(hv, 1, 5), 5, clause="WAIT-4")
    # Past the last receive, its next interrupt_get tells why: 5 again, the interrupt was never
    # acknowledged (WAIT-4); nothing, the receive did not block though nothing was pending (RECV-3).
    unacked = x0_of(hv, 1, 7) == 5
    report_count(hv, 1, 6, "VM 1 did not block until the interrupt was acknowledged", "WAIT-4" if unacked else "RECV-3")
    expect("run(1, 0): the last receive, nothing pending, blocks", blocked, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")


# --- RECV-4, RUN-7 --------------------------------------------------------------------------------


@pytest.mark.clause("RECV-4", "RUN-7")
@pytest.mark.parametrize("block", [1, 2, 0x1_0000_0000, 1 << 63])
def test_any_nonzero_block_blocks(boot, block):
    hv = boot(script(CFG, receive(block), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    blocked = hv.run(1, clause="RUN-7")
    report_count(hv, 1, 1, f"VM 1's receive({block:#x}) blocked: it has not returned", "RECV-4")
    expect(f"run(1, 0): receive({block:#x}) blocks: WAIT_FOR_MESSAGE, ns = INDEF", blocked, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("run(1, 0) again, no message: refused", hv.run_once(1), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-2")
    report_count(hv, 1, 1, "VM 1 still blocked", "RECV-4")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect("run(1, 0): the receive returns; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received("the blocked receive", x0_of(hv, 1, 1), 0x0000000400000000, missing="RUN-12")


@pytest.mark.clause("RECV-4", "RUN-7")
def test_unconfigured_vm_blocks(boot):
    hv = boot(script(receive(1), Call(0xFF01)))
    blocked = hv.run(1, clause="RUN-7")
    report_count(hv, 1, 0, "VM 1's receive blocked", "RECV-4")
    expect("run(1, 0): an unconfigured VM blocks too", blocked, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send to it is refused (not configured)", hv.send(1, 1), ERR, clause="SEND-5")


@pytest.mark.clause("RECV-4", "RUN-13")
def test_blocking_while_read(boot):
    """Blocking in state *read* is allowed; no message can come (SEND-5), so the vCPU resumes only
    per RUN-13, here an injected interrupt: its receive returns nothing."""
    hv = boot(script(CFG, enable(7), PAUSE, receive(0), receive(1), INTERRUPT_GET))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 enables intid 7, yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 3)", hv.send(1, 3))
    blocked = hv.run(1, clause="RUN-7")
    expect_received("VM 1's receive(0)", x0_of(hv, 1, 3), 0x0000000300000000, missing="SEND-8")
    report_count(hv, 1, 4, "VM 1's blocking receive while read has not returned", "RECV-4")
    expect("run(1, 0): it blocks while read", blocked, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("no message can arrive: send refused", hv.send(1, 3), ERR, clause="SEND-5")
    expect("run(1, 0) again: refused", hv.run_once(1), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-2")
    report_count(hv, 1, 4, "VM 1's blocking receive still has not returned", "RECV-4")
    expect("inject(1, 0, 7)", hv.interrupt_inject(1, 0, 7), 1, clause="WAIT-4")
    expect("run(1, 0): resumes, acknowledges; wfi", hv.run(1, clause="RUN-13"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's blocked receive returns nothing", x0_of(hv, 1, 4), NOTHING, clause="RUN-13")
    expect("VM 1's interrupt_get", x0_of(hv, 1, 5), 7, clause="WAIT-4")


# --- RUN-12 ---------------------------------------------------------------------------------------


@pytest.mark.clause("RUN-12", "RECV-4")
def test_delivered_when_the_primary_runs_it(boot):
    hv = boot(script(CFG, receive(1), receive(0), CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    hv.write_send_page(b"delivered")
    expect_sent("send(1, 9)", hv.send(1, 9))
    report_count(hv, 1, 1, "VM 1 has not run since (the primary did not run it)", "RUN-12")
    expect("send again before the run: the mailbox is not empty", hv.send(1, 9), ERR, clause="SEND-5")
    expect(
        "run(1, 0): VM 1 gets the message, receives(0), clears; wfi",
        hv.run(1, clause="RUN-5"),
        0xFFFF_FFFF_FFFF_FF02,
        clause="RUN-5",
    )
    got = x0_of(hv, 1, 1)
    # Nothing: the blocked receive returned with no message and no interrupt -- the vCPU was never
    # blocked (RECV-4); no report: the run did not deliver (RUN-12).
    clause = "RECV-4" if got == NOTHING else "RUN-12"
    expect_received("VM 1's blocked receive", got, 0x0000000900000000, missing=clause, clause="RUN-12")
    expect_nothing("VM 1's receive(0) after it: the mailbox became read", x0_of(hv, 1, 2), clause="RUN-12")
    expect("VM 1's clear of the read mailbox", x0_of(hv, 1, 3), 0, clause="CLR-3")
    expect("VM 1's recv page", hv.recv_page(9, vm=1), b"delivered", clause="SEND-6")


@pytest.mark.clause("RUN-12", "RUN-13")
def test_message_before_interrupt(boot):
    """Both a received message and an enabled+pending interrupt: RUN-12 takes precedence, the
    blocked receive returns the message."""
    hv = boot(script(CFG, enable(9), receive(1), INTERRUPT_GET))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 enables intid 9, blocks", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 6)", hv.send(1, 6))
    expect("inject(1, 0, 9)", hv.interrupt_inject(1, 0, 9), 1, clause="WAIT-4")
    expect("run(1, 0): VM 1 resumes; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_received(
        "VM 1's blocked receive: the message, not nothing", x0_of(hv, 1, 2), 0x0000000600000000, missing="RUN-12", clause="RUN-12"
    )
    expect("VM 1's interrupt_get: still pending", x0_of(hv, 1, 3), 9, clause="WAIT-4")


@pytest.mark.clause("RUN-12")
@pytest.mark.requires("ready_vcpus")
def test_primary_picks_the_vcpu(boot):
    """Two vCPUs blocked in a receive (the ``ready_vcpus`` capability): the message goes to the one
    the primary runs. The primary picks vCPU 0, which blocked first (the earlier revisions woke the
    most recent waiter themselves), then, for the next message, vCPU 1."""
    hv = boot(program("mbx_vcpus_receive", vcpus=2, ready_vcpus=2))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): vCPU 0 configures, blocks", hv.run(1, 0, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect("run(1, 1): vCPU 1 blocks", hv.run(1, 1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send(1, 4)", hv.send(1, 4))
    expect("vCPU 0 has not run: only its configure", len(vcpu_reports(hv, 1, 0)), 1, clause="RUN-12")
    expect("vCPU 1 has not run", len(vcpu_reports(hv, 1, 1)), 0, clause="RUN-12")
    got0 = hv.run(1, 0, clause="RUN-12")
    expect("run(1, 0): vCPU 0 gets it, clears, blocks again", got0, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-12")
    got = vcpu_reports(hv, 1, 0)
    received = got[1][0] if len(got) > 1 else "no report"
    expect_received("vCPU 0's receive", received, 0x0000000400000000, missing="RUN-12", clause="RUN-12")
    cleared = got[2][0] if len(got) > 2 else "no report"
    # -1: the delivered message is still unread (RUN-12: the mailbox becomes read).
    expect("vCPU 0's clear", cleared, 0, clause="RUN-12" if cleared == ERR else "CLR-3")
    refused = hv.run_once(1, 1)
    expect("run(1, 1): vCPU 1 is still blocked, nothing for it: refused", refused, 0xFFFF_FFFF_FFFF_FF02, clause="RUN-12")
    expect("vCPU 1 has still not run", len(vcpu_reports(hv, 1, 1)), 0, clause="RUN-12")
    expect_sent("send(1, 5) after vCPU 0's clear", hv.send(1, 5), refused="CLR-3")
    expect("run(1, 1): now vCPU 1 gets it", hv.run(1, 1, clause="RUN-12"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-12")
    got = vcpu_reports(hv, 1, 1)
    received = got[0][0] if got else "no report"
    expect_received("vCPU 1's receive", received, 0x0000000500000000, missing="RUN-12", clause="RUN-12")
