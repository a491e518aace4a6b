"""§5 Configure: CFG-1 .. CFG-5 (and RUN-9's notification on configure).

Order within the checks: CFG-1 (alignment, distinct pages) before CFG-2 (once only) before CFG-3
(the pages' modes). All three answer -1 with no state change, so which one a build made first is
not observable from outside; what is observable is that none of them changes state (a valid
configure still succeeds afterwards) and that a refused configure never notifies waiters.
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel
from profiles.hafnium_2019_03.hv import program, script
from profiles.hafnium_2019_03.mailbox_checks import (
    CFG,
    ERR,
    PAUSE,
    WRITABLE_GET,
    expect_ends_in_wfi,
    expect_notified,
    expect_primary_notified,
    expect_received,
    expect_sent,
    expect_yields,
    receive,
    report_count,
    send,
    x0_of,
    x0s,
)

MEM = 0x10_0000  # the memory the suite gives each VM it boots


def _success_clause(result: int, refused: str) -> str:
    """The clause a configure that must succeed fails: -1 is a refusal (``refused``: the rule that
    makes these pages good, or a refused configure that changed state); any other value is a wrong
    success value (CFG-5)."""
    return refused if result == ERR else "CFG-5"


@pytest.mark.clause("CFG-1")
@pytest.mark.parametrize(
    ("send_off", "recv_off"),
    [(0x10001, 0x11000), (0x10000, 0x11001), (0x10001, 0x11001), (0x10800, 0x11000), (0x10000, 0x11800), (0x10FFF, 0x11FFF)],
)
def test_primary_unaligned_refused(boot, send_off, recv_off):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect(
        f"configure(base+{send_off:#x}, base+{recv_off:#x})", hv.configure(base + send_off, base + recv_off), ERR, clause="CFG-1"
    )
    result = hv.configure()
    expect("no state change: an aligned configure then succeeds", result, 0, clause=_success_clause(result, "CFG-1"))


@pytest.mark.clause("CFG-1")
@pytest.mark.parametrize("offset", [0x10000, 0x11000, 0x20000])
def test_primary_same_page_refused(boot, offset):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect(f"configure(base+{offset:#x}, the same page)", hv.configure(base + offset, base + offset), ERR, clause="CFG-1")
    result = hv.configure()
    expect("no state change: configure then succeeds", result, 0, clause=_success_clause(result, "CFG-1"))


@pytest.mark.clause("CFG-1")
def test_secondary_unaligned_or_same_page_refused(boot):
    hv = boot(
        script(
            Call(0xFF05, Rel(0x10800), Rel(0x11000)),
            Call(0xFF05, Rel(0x10000), Rel(0x11004)),
            Call(0xFF05, Rel(0x10000), Rel(0x10000)),
            Call(0xFF05, Rel(0x11000), Rel(0x11000)),
            CFG,
        )
    )
    expect("run(1, 0): the script ends in wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's configure, send unaligned by 0x800", x0_of(hv, 1, 0), ERR, clause="CFG-1")
    expect("VM 1's configure, recv unaligned by 4", x0_of(hv, 1, 1), ERR, clause="CFG-1")
    expect("VM 1's configure, send page = recv page (0x10000)", x0_of(hv, 1, 2), ERR, clause="CFG-1")
    expect("VM 1's configure, send page = recv page (0x11000)", x0_of(hv, 1, 3), ERR, clause="CFG-1")
    result = x0_of(hv, 1, 4)
    expect("VM 1's aligned configure", result, 0, clause="CFG-1" if result == ERR else "CFG-5")


@pytest.mark.clause("CFG-1", "CFG-3", "RUN-9", "CFG-5")
def test_refused_configures_notify_nobody(boot):
    """Only a configure that succeeds reports waiters (CFG-5, RUN-9): the refused ones before it
    return -1 to the secondary without a switch."""
    hv = boot(
        script(
            Call(0xFF05, Rel(0x10001), Rel(0x11000)),
            Call(0xFF05, Rel(0x10000), Rel(0x10000)),
            Call(0xFF05, Rel(MEM), Rel(0x11000)),
            CFG,
            Call(0xFF01),
        )
    )
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, notify) to the unconfigured VM 1: refused, the primary waits", hv.send(1, 0, 1), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    expect("VM 1's unaligned configure: -1, no switch", x0_of(hv, 1, 0), ERR, clause="CFG-1")
    expect("VM 1's same-page configure: -1, no switch", x0_of(hv, 1, 1), ERR, clause="CFG-1")
    expect("VM 1's configure of a page outside its memory: -1, no switch", x0_of(hv, 1, 2), ERR, clause="CFG-3")
    report_count(hv, 1, 3, "VM 1 was switched out at its good configure (not before, not after)", "RUN-9")
    expect("run(1, 0): the good configure finds the waiter: NOTIFY_WAITERS", notified, 0x6, clause="RUN-9")
    expect("run(1, 0): VM 1 resumes, then wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's good configure returned 0 (a secondary with waiters gets 0)", x0_of(hv, 1, 3), 0, clause="RUN-9")
    expect("VM 1's HF_VM_GET_COUNT after it", x0_of(hv, 1, 4), 2, clause="VM-3")


@pytest.mark.clause("CFG-2")
def test_primary_configures_once(boot):
    hv = boot(script(CFG, receive(1)))
    base = hv.base(0)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("configure the same pages again", hv.configure(), ERR, clause="CFG-2")
    expect("configure other pages", hv.configure(base + 0x12000, base + 0x13000), ERR, clause="CFG-2")
    # The first pages stay in force: a message to VM 1 comes from the primary's first send page.
    hv.write_send_page(b"first")
    hv.session.write(0, base + 0x12000, b"other")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_sent("send 5 bytes to VM 1", hv.send(1, 5))
    page = hv.recv_page(5, vm=1)
    expect("VM 1's recv page", page, b"first", clause="CFG-2" if page == b"other" else "SEND-6")


@pytest.mark.clause("CFG-2")
def test_secondary_configures_once(boot):
    hv = boot(script(CFG, CFG, Call(0xFF05, Rel(0x12000), Rel(0x13000)), send(0, 3)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    hv.session.write(1, hv.base(1) + 0x10000, b"one")
    hv.session.write(1, hv.base(1) + 0x12000, b"two")
    sent = hv.run(1, clause="RUN-8")
    expect("VM 1's first configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's second configure, same pages", x0_of(hv, 1, 1), ERR, clause="CFG-2")
    expect("VM 1's third configure, other pages", x0_of(hv, 1, 2), ERR, clause="CFG-2")
    expect("run(1, 0): VM 1 sends 3 bytes to the primary: MESSAGE", sent, 0x0000000300000005, clause="RUN-8")
    page = hv.recv_page(3)
    expect("the primary's recv page: from VM 1's first send page", page, b"one", clause="CFG-2" if page == b"two" else "SEND-6")


@pytest.mark.clause("CFG-2", "RUN-9")
def test_second_configure_with_waiters_notifies_nobody(boot):
    """A refused (second) configure does not report waiters: only a success does (CFG-5)."""
    hv = boot(script(CFG, PAUSE, CFG, Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 configures and yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_sent("send(1, 1): VM 1's mailbox becomes received", hv.send(1, 1))
    expect("send(1, 1, notify): busy, the primary waits", hv.send(1, 1, 1), ERR, clause="SEND-5")
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's second configure", x0_of(hv, 1, 2), ERR, clause="CFG-2")
    expect_ends_in_wfi("run(1, 0): no NOTIFY_WAITERS; the script goes on to its wfi", ended, "CFG-2")
    expect("VM 1's HF_VM_GET_COUNT after it (no switch)", x0_of(hv, 1, 3), 2, clause="CFG-2")


@pytest.mark.clause("CFG-3")
@pytest.mark.parametrize("where", ["below", "end", "far", "top", "upper_bit"])
def test_secondary_pages_outside_own_memory_refused(boot, where):
    pages: dict[str, int | Rel] = {
        "below": Rel(-0x1000),
        "end": Rel(MEM),
        "far": 0x7_0000_0000,
        "top": 0xFFFF_FFFF_FFFF_F000,
        "upper_bit": Rel((1 << 63) + 0x10000),
    }
    page = pages[where]
    hv = boot(script(Call(0xFF05, page, Rel(0x11000)), Call(0xFF05, Rel(0x10000), page), CFG))
    response = hv.run(1, clause="RUN-5", stop_clause="CFG-3")
    expect("run(1, 0): the script ends in wfi", response, 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect(f"VM 1's configure(send={where}, recv=own)", x0_of(hv, 1, 0), ERR, clause="CFG-3")
    expect(f"VM 1's configure(send=own, recv={where})", x0_of(hv, 1, 1), ERR, clause="CFG-3")
    result = x0_of(hv, 1, 2)
    expect("no state change: VM 1's own configure then succeeds", result, 0, clause="CFG-3" if result == ERR else "CFG-5")


@pytest.mark.clause("CFG-3")
def test_secondary_cannot_name_primary_memory(boot):
    hv = boot(program("idle"))
    primary = hv.base(0)
    hv2 = boot(script(Call(0xFF05, primary + 0x10000, Rel(0x11000)), Call(0xFF05, Rel(0x10000), primary + 0x11000), CFG))
    expect("run(1, 0): the script ends in wfi", hv2.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1 names the primary's page as its send page", x0_of(hv2, 1, 0), ERR, clause="CFG-3")
    expect("VM 1 names the primary's page as its recv page", x0_of(hv2, 1, 1), ERR, clause="CFG-3")
    result = x0_of(hv2, 1, 2)
    expect("VM 1 then configures its own", result, 0, clause="CFG-3" if result == ERR else "CFG-5")


@pytest.mark.clause("CFG-3")
@pytest.mark.parametrize("which", ["send", "recv"])
def test_primary_cannot_name_secondary_memory(boot, which):
    hv = boot(program("idle"))
    base, other = hv.base(0), hv.base(1) + 0x10000
    pages = (other, base + 0x11000) if which == "send" else (base + 0x10000, other)
    expect(f"configure with VM 1's page as the {which} page", hv.configure(*pages, clause="CFG-3"), ERR, clause="CFG-3")
    result = hv.configure()
    expect("no state change: configure then succeeds", result, 0, clause=_success_clause(result, "CFG-3"))


@pytest.mark.clause("CFG-3", "CFG-5")
def test_last_pages_of_memory_accepted(boot):
    hv = boot(script(Call(0xFF05, Rel(MEM - 0x2000), Rel(MEM - 0x1000)), Call(0xFF01)))
    expect("run(1, 0): the script ends in wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    result = x0_of(hv, 1, 0)
    expect("VM 1's configure(its last two pages)", result, 0, clause="CFG-3" if result == ERR else "CFG-5")


@pytest.mark.clause("CFG-4", "RUN-11")
@pytest.mark.requires("fault_continue")
def test_recv_page_read_only_send_page_writable(boot):
    """The write to the recv page is a fault (RUN-11: ABORTED, the system goes on)."""
    hv = boot(program("mbx_page_writes"), fault_policy="continue")
    aborted = hv.run(1, clause="CFG-4")
    expect("VM 1's configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    report_count(hv, 1, 2, "VM 1 wrote its send page (report #1), not its recv page (no report #2)", "CFG-4")
    expect("VM 1's send page: its write took effect", hv.send_page(1, vm=1), b"\x5a", clause="CFG-4")
    expect("VM 1's recv page: its write did not", hv.recv_page(1, vm=1), b"\x00", clause="CFG-4")
    # The write faulted (the checks above): the response to a faulting vCPU is RUN-11's.
    expect("run(1, 0): the write to the read-only recv page is a fault: ABORTED", aborted, 0x7, clause="RUN-11")
    expect("run(1, 0) again: the aborted VM never runs again", hv.run_once(1), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-11")


@pytest.mark.clause("CFG-5")
def test_success_without_waiters_is_zero(boot):
    hv = boot(script(CFG, Call(0xFF01)))
    expect("the primary's configure, no waiters", hv.configure(), 0, clause="CFG-5")
    ended = hv.run(1, clause="RUN-9")
    expect_ends_in_wfi("run(1, 0): the script ends in wfi (no NOTIFY_WAITERS)", ended, "RUN-9")
    expect("VM 1's configure, no waiters", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's HF_VM_GET_COUNT", x0_of(hv, 1, 1), 2, clause="VM-3")


@pytest.mark.clause("CFG-5", "WAIT-1", "WAIT-2")
def test_primary_with_waiters_gets_one(boot):
    """A secondary waits for the unconfigured primary (SEND-5 with notify); the primary's
    configure then returns 1 and WAITER_GET names the secondary."""
    hv = boot(script(CFG, send(0, 4, 1), PAUSE, WRITABLE_GET, send(0, 4)))
    expect_yields("run(1, 0): VM 1's send to the unconfigured primary fails; it yields", hv.run(1, clause="RUN-6"), "SEND-5")
    expect("VM 1's send(0, 4, notify)", x0_of(hv, 1, 1), ERR, clause="SEND-5")
    expect_primary_notified(hv, "the primary's configure with a waiter", hv.configure(), "CFG-5", [1])
    sent = hv.run(1, clause="RUN-8")
    expect("VM 1's writable_get: the primary's mailbox", x0_of(hv, 1, 3), 0, clause="WAIT-2")
    expect("run(1, 0): VM 1's send to the primary now succeeds: MESSAGE, size 4", sent, 0x0000000400000005, clause="RUN-8")


@pytest.mark.clause("CFG-5", "RUN-9")
def test_secondary_with_waiters_gets_zero_and_notify(boot):
    hv = boot(script(CFG, receive(0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, notify) before VM 1 configures", hv.send(1, 0, 1), ERR, clause="SEND-5")
    notified = hv.run(1, clause="RUN-9")
    expect_notified(hv, 1, "run(1, 0): VM 1's configure finds the waiter: NOTIFY_WAITERS", notified, [0])
    report_count(hv, 1, 0, "VM 1 was switched out at its configure", "RUN-9")
    expect_sent("send(1, 2)", hv.send(1, 2))
    expect("run(1, 0): VM 1 resumes, receives, then wfi", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1's configure returned 0 (after NOTIFY_WAITERS)", x0_of(hv, 1, 0), 0, clause="RUN-9")
    expect_received("VM 1's receive(0)", x0_of(hv, 1, 1), 0x0000000200000000, missing="SEND-8")
    expect("VM 1's reports", x0s(hv, 1), [0, 0x0000000200000000], clause="CFG-5")
