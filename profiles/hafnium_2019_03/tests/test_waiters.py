"""§9 Writability notification: WAIT-1 .. WAIT-3, with SEND-5's notify flag (the wait entries,
FIFO, one per (waiter, target) pair), the ready list, and RUN-9 (NOTIFY_WAITERS).

A mailbox's waiters are reported by the configure or the clear of a *read* mailbox that finds them
(CFG-5, CLR-3): 1 to the primary; 0 to a secondary, whose run answers NOTIFY_WAITERS 0x6. The
primary then takes them with WAITER_GET (which puts the target on the waiter's ready list) and
must inject HF_MAILBOX_WRITABLE_INTID (2) itself (WAIT-3); the waiter reads the ready list with
WRITABLE_GET.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Wfi
from profiles.hafnium_2019_03.hv import Hv, expect_zero_x1_x17, program, script
from profiles.hafnium_2019_03.mailbox_checks import (
    CFG,
    CLEAR,
    ERR,
    INTERRUPT_GET,
    PAUSE,
    WRITABLE_GET,
    enable,
    expect_ends_in_wfi,
    expect_message,
    expect_notified,
    expect_primary_clear,
    expect_primary_notified,
    expect_sent,
    expect_waiters,
    expect_yields,
    receive,
    report_count,
    send,
    x0_of,
    x0s,
)


def _notified_on_configure(hv: Hv, vm: int) -> int:
    """The primary waits for the unconfigured VM ``vm`` (notify send), whose script starts with CFG:
    its run answers NOTIFY_WAITERS (RUN-9). The primary is configured. Returns the run's response,
    for the caller to judge once it has fetched the waiter (:func:`expect_notified`)."""
    expect(f"send({vm}, 0, notify) before VM {vm} configures", hv.send(vm, 0, 1), ERR, clause="SEND-5")
    return hv.run(vm, clause="RUN-9")


# --- WAIT-1 ---------------------------------------------------------------------------------------


@pytest.mark.clause("WAIT-1")
def test_waiter_get_only_for_the_primary(boot):
    hv = boot(script(Call(0xFF0A, 2), Call(0xFF0A, 0), Call(0xFF0A, 1), Call(0xFF01)), script(CFG))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    notified = _notified_on_configure(hv, 2)
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's waiter_get(2): VM 2 has a waiter, but VM 1 is not the primary", x0_of(hv, 1, 0), ERR, clause="WAIT-1")
    expect("VM 1's waiter_get(0)", x0_of(hv, 1, 1), ERR, clause="WAIT-1")
    expect("VM 1's waiter_get(1)", x0_of(hv, 1, 2), ERR, clause="WAIT-1")
    expect_ends_in_wfi("run(1, 0): no switch; wfi", ended, "WAIT-1")
    expect_notified(hv, 2, "run(2, 0): its configure finds the waiter: NOTIFY_WAITERS", notified, [0])


@pytest.mark.clause("WAIT-1")
@pytest.mark.parametrize("vm", [3, 99, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
def test_waiter_get_absent_vm(boot, vm):
    hv = boot(script(CFG), program("idle"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"waiter_get({vm:#x}): no such VM", hv.waiter_get(vm), ERR, clause="WAIT-1")


@pytest.mark.clause("WAIT-1")
def test_waiter_get_vm_id_is_u32(boot):
    hv = boot(script(CFG))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    notified = _notified_on_configure(hv, 1)
    got = hv.waiter_get(0x1_0000_0001)
    if notified != 0x6 and got == ERR:
        expect("run(1, 0): its configure finds the waiter (none was queued)", notified, 0x6, clause="SEND-5")
    expect("waiter_get(0x100000001): VM 1's waiter, the primary", got, 0, clause="WAIT-1")
    expect("waiter_get(1): none left", hv.waiter_get(1), ERR, clause="WAIT-1")
    expect("run(1, 0): its configure finds the waiter: NOTIFY_WAITERS", notified, 0x6, clause="RUN-9")


@pytest.mark.clause("WAIT-1")
def test_waiter_get_needs_configured_target(boot):
    hv = boot(script(CFG))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, notify): VM 1 not configured", hv.send(1, 0, 1), ERR, clause="SEND-5")
    expect("waiter_get(1) while VM 1 is unconfigured", hv.waiter_get(1), ERR, clause="WAIT-1")
    expect("waiter_get(0): the primary's mailbox has no waiter", hv.waiter_get(0), ERR, clause="WAIT-1")
    expect_notified(hv, 1, "run(1, 0): VM 1 configures: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), [0])


@pytest.mark.clause("WAIT-1", "SEND-5")
def test_waiter_get_needs_empty_target(boot):
    """While the target's mailbox is received or read, WAITER_GET gives -1 and keeps the entry."""
    hv = boot(script(CFG, PAUSE, receive(0), PAUSE, CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 1)", hv.send(1, 1))
    expect("send(1, 1, notify): busy", hv.send(1, 1, 1), ERR, clause="SEND-5")
    expect("waiter_get(1) while received", hv.waiter_get(1), ERR, clause="WAIT-1")
    expect("run(1, 0): VM 1 receives, yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("waiter_get(1) while read", hv.waiter_get(1), ERR, clause="WAIT-1")
    expect_notified(hv, 1, "run(1, 0): VM 1 clears its read mailbox: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), [0])
    expect("run(1, 0): VM 1 resumes; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's clear returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 4), 0, clause="RUN-9")


@pytest.mark.clause("WAIT-1", "SEND-5", "WAIT-2")
def test_waiters_fifo(boot):
    """VM 2, the primary and VM 1 wait for VM 3's mailbox, in that order: WAITER_GET returns them
    in that order, each VM then finds VM 3 on its ready list."""
    waiter = script(CFG, send(3, 1, 1), PAUSE, WRITABLE_GET, WRITABLE_GET)
    hv = boot(waiter, waiter, script(CFG, PAUSE, receive(0), CLEAR))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(3, 0): VM 3 yields", hv.run(3, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(3, 1): VM 3's mailbox becomes received", hv.send(3, 1))
    expect_yields("run(2, 0): VM 2's notify send fails; it yields", hv.run(2, clause="RUN-6"), "SEND-5")
    expect("send(3, 1, notify): busy", hv.send(3, 1, 1), ERR, clause="SEND-5")
    expect_yields("run(1, 0): VM 1's notify send fails; it yields", hv.run(1, clause="RUN-6"), "SEND-5")
    expect("VM 2's send(3, 1, notify)", x0_of(hv, 2, 1), ERR, clause="SEND-5")
    expect("VM 1's send(3, 1, notify)", x0_of(hv, 1, 1), ERR, clause="SEND-5")
    expect_notified(hv, 3, "run(3, 0): VM 3 receives, clears: NOTIFY_WAITERS", hv.run(3, clause="RUN-9"), [2, 0, 1])
    expect("the primary's writable_get: VM 3", hv.writable_get(), 3, clause="WAIT-2")
    expect("the primary's writable_get again", hv.writable_get(), ERR, clause="WAIT-2")
    for vm in (1, 2):
        expect(f"run({vm}, 0): writable_get twice; wfi", hv.run(vm, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
        expect(f"VM {vm}'s writable_get: VM 3", x0_of(hv, vm, 3), 3, clause="WAIT-2")
        expect(f"VM {vm}'s writable_get again", x0_of(hv, vm, 4), ERR, clause="WAIT-2")


@pytest.mark.clause("WAIT-1", "WAIT-2")
def test_ready_list_one_entry_per_pair(boot):
    """The primary is handed VM 1's mailbox twice (two WAITER_GETs) before it reads its ready list:
    VM 1 is on it once."""
    hv = boot(script(CFG, PAUSE, receive(0), CLEAR, PAUSE, receive(0), CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    for n in range(2):
        expect_sent(f"round {n}: send(1, 1)", hv.send(1, 1))
        expect(f"round {n}: send(1, 1, notify): busy", hv.send(1, 1, 1), ERR, clause="SEND-5")
        expect(f"round {n}: run(1, 0): VM 1 receives, clears: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
        expect(f"round {n}: waiter_get(1): the primary", hv.waiter_get(1), 0, clause="WAIT-1")
        if n == 0:
            expect("round 0: run(1, 0): VM 1 resumes, yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
        else:
            expect("round 1: run(1, 0): VM 1 resumes; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("writable_get: VM 1", hv.writable_get(), 1, clause="WAIT-2")
    again = hv.writable_get()
    if again != ERR:
        # Twice on the list (WAIT-1) ends after a second read; an entry never removed (WAIT-2) not.
        clause = "WAIT-2" if hv.writable_get() == again else "WAIT-1"
        expect("writable_get again: VM 1 was on the ready list once", again, ERR, clause=clause)


@pytest.mark.clause("WAIT-2")
def test_ready_list_fifo(boot):
    """WAITER_GET appends to the waiter's ready list; WRITABLE_GET takes from its front."""
    hv = boot(script(CFG), script(CFG))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for vm in (1, 2):
        response = _notified_on_configure(hv, vm)
        expect(f"run({vm}, 0): its configure finds the waiter: NOTIFY_WAITERS", response, 0x6, clause="RUN-9")
    expect("waiter_get(2) first", hv.waiter_get(2), 0, clause="WAIT-1")
    expect("waiter_get(1) second", hv.waiter_get(1), 0, clause="WAIT-1")
    expect("writable_get: VM 2 first", hv.writable_get(), 2, clause="WAIT-2")
    expect("writable_get: then VM 1", hv.writable_get(), 1, clause="WAIT-2")
    expect("writable_get: empty", hv.writable_get(), ERR, clause="WAIT-2")


@pytest.mark.clause("WAIT-2")
def test_writable_get_empty(boot):
    hv = boot(script(WRITABLE_GET, CFG, WRITABLE_GET, Call(0xFF01)))
    expect("the primary's writable_get, unconfigured", hv.writable_get(), ERR, clause="WAIT-2")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("the primary's writable_get, nothing ready", hv.writable_get(), ERR, clause="WAIT-2")
    expect("run(1, 0): no switch; wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's writable_get before configure", x0_of(hv, 1, 0), ERR, clause="WAIT-2")
    expect("VM 1's writable_get after", x0_of(hv, 1, 2), ERR, clause="WAIT-2")
    expect("VM 1's HF_VM_GET_COUNT", x0_of(hv, 1, 3), 2, clause="VM-3")


# --- WAIT-3 ---------------------------------------------------------------------------------------


@pytest.mark.clause("WAIT-3", "CLR-3")
def test_primary_clear_injects_nothing(boot):
    """VM 1 waits in wfi for the primary's mailbox, with HF_MAILBOX_WRITABLE_INTID enabled. Neither
    the primary's clear nor WAITER_GET makes it runnable: only the primary's inject does."""
    hv = boot(
        script(CFG, send(0, 4)),
        script(CFG, enable(2), send(0, 6, 1), Wfi(), INTERRUPT_GET, WRITABLE_GET, send(0, 6)),
    )
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_message("run(1, 0): VM 1 fills the primary's mailbox", hv.run(1, clause="RUN-8"), 0x0000000400000005)
    expect_ends_in_wfi("run(2, 0): VM 2's notify send fails; wfi", hv.run(2, clause="RUN-5"), "SEND-5")
    expect("VM 2's send(0, 6, notify)", x0_of(hv, 2, 2), ERR, clause="SEND-5")
    cleared = hv.clear()
    expect_primary_clear("clear of the read mailbox", cleared, 1 if cleared == ERR else cleared)
    expect("run(2, 0) after the clear: nothing injected, refused", hv.run_once(2), 0xFFFF_FFFF_FFFF_FF02, clause="WAIT-3")
    expect_primary_notified(hv, "clear: the read mailbox has a waiter, VM 2", cleared, "CLR-3", [2])
    expect("run(2, 0) after waiter_get: nothing injected, refused", hv.run_once(2), 0xFFFF_FFFF_FFFF_FF02, clause="WAIT-3")
    report_count(hv, 2, 3, "VM 2 stayed in its wfi", "WAIT-3")
    expect("inject(2, 0, HF_MAILBOX_WRITABLE_INTID)", hv.interrupt_inject(2, 0, 2), 1, clause="WAIT-4")
    expect_message("run(2, 0): VM 2 wakes, reads its ready list, sends", hv.run(2, clause="RUN-8"), 0x0000000600000005)
    expect("VM 2's interrupt_get", x0_of(hv, 2, 4), 2, clause="WAIT-4")
    expect("VM 2's writable_get: the primary's mailbox", x0_of(hv, 2, 5), 0, clause="WAIT-2")


@pytest.mark.clause("WAIT-3", "RUN-9")
def test_secondary_clear_injects_nothing(boot):
    """VM 1 waits in wfi for VM 2's mailbox; VM 2's clear notifies the primary (0x6), not VM 1."""
    hv = boot(
        script(CFG, enable(2), send(2, 1, 1), Wfi(), INTERRUPT_GET, WRITABLE_GET, send(2, 1)),
        script(CFG, PAUSE, receive(0), CLEAR, receive(1)),
    )
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(2, 0): VM 2 yields", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(2, 1): VM 2's mailbox becomes received", hv.send(2, 1))
    expect_ends_in_wfi("run(1, 0): VM 1's notify send fails; wfi", hv.run(1, clause="RUN-5"), "SEND-5")
    expect("VM 1's send(2, 1, notify)", x0_of(hv, 1, 2), ERR, clause="SEND-5")
    notified = hv.run(2, clause="RUN-9")
    expect("run(1, 0): VM 1 not woken by the clear", hv.run_once(1), 0xFFFF_FFFF_FFFF_FF02, clause="WAIT-3")
    expect_notified(hv, 2, "run(2, 0): VM 2 receives, clears: NOTIFY_WAITERS", notified, [1])
    expect("run(1, 0): VM 1 not woken by waiter_get", hv.run_once(1), 0xFFFF_FFFF_FFFF_FF02, clause="WAIT-3")
    report_count(hv, 1, 3, "VM 1 stayed in its wfi", "WAIT-3")
    expect("inject(1, 0, 2)", hv.interrupt_inject(1, 0, 2), 1, clause="WAIT-4")
    expect_message("run(1, 0): VM 1 wakes, finds VM 2 writable, sends: MESSAGE to VM 2", hv.run(1, clause="RUN-8"), 0x20005)
    expect("VM 1's reports: configure, enable, send, wfi, interrupt_get, writable_get", x0s(hv, 1)[4:], [2, 2], clause="WAIT-2")


# --- RUN-9 ----------------------------------------------------------------------------------------


@pytest.mark.clause("RUN-9", "CFG-5", "CLR-3")
def test_notify_waiters_leaves_the_secondary_ready(boot):
    """NOTIFY_WAITERS is the bare code 0x6; the notifying secondary stays ready, and resumes with 0
    from its configure and from its clear."""
    hv = boot(script(CFG, PAUSE, receive(0), CLEAR, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): its configure finds the waiter: NOTIFY_WAITERS", _notified_on_configure(hv, 1), 0x6, clause="RUN-9")
    report_count(hv, 1, 0, "VM 1 was switched out at its configure", "RUN-9")
    resumed = hv.run(1, clause="RUN-9")
    # Past its yield (more than the configure's report): the yield's YIELD was not seen (RUN-6).
    expect("run(1, 0): VM 1 resumes at once (ready), yields", resumed, 0x1, clause="RUN-6" if len(hv.reports(1)) > 1 else "RUN-9")
    expect("VM 1's configure returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 0), 0, clause="RUN-9")
    expect_zero_x1_x17("VM 1's configure, resumed after NOTIFY_WAITERS", hv.reports(1)[0])
    expect_sent("send(1, 2)", hv.send(1, 2))
    expect("send(1, 2, notify): busy (the primary is still queued too)", hv.send(1, 2, 1), ERR, clause="SEND-5")
    expect("run(1, 0): VM 1 receives and clears: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    expect("run(1, 0): VM 1 resumes at once; wfi", hv.run(1, clause="RUN-9"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's clear returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 3), 0, clause="RUN-9")
    expect_waiters(hv, 1, [0], emptied="CLR-3")
