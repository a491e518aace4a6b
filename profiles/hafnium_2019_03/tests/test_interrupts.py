"""Virtual interrupts and the timer: WAIT-4 (ENABLE / GET / INJECT), RUN-10 (WAKE_UP), RUN-13 (a
blocked vCPU made runnable), RECV-3's pending-interrupt rule, RUN-12's precedence over RUN-13, and
the ``ns`` field of RUN-5 / RUN-7 / RUN-2 with the vCPU's virtual timer armed.

Literals (spec.md): HF_INTERRUPT_GET with nothing = 0x00000000FFFFFFFF (a uint32_t, not -1); a
receive woken by an interrupt returns 0x00000000FFFFFFFF (RUN-13); WAKE_UP =
``4 | vcpu << 16 | vm << 32``; a wfi with no timer = 0xFFFFFFFFFFFFFF02 (RUN-5), a blocking receive
with no timer = 0xFFFFFFFFFFFFFF03 (RUN-7); with the timer armed only "ns ≠ HF_SLEEP_INDEFINITE"
(0x00FFFFFFFFFFFFFF) is a MUST (the text's Strength paragraph).

Not observable: whether the build raises the virtual IRQ line (HCR_EL2.VI) has no clause; the
vector-table test (``irq_vbar``) accepts the interrupt being taken at VBAR_EL1 or found by the main
flow, and checks only that it is acknowledged once (WAIT-4).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel, Wfi
from profiles.hafnium_2019_03.checks import (
    NOTHING,
    REFUSED,
    WAIT_MESSAGE,
    expect_calls,
    expect_err,
    expect_refused,
    expect_wait_armed,
    report_of,
    vcpu_reports,
    vcpu_x0_of,
    x0_of,
)
from profiles.hafnium_2019_03.hv import ERR, program, script

CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))


def enable(intid: int, on: int = 1) -> Call:
    return Call(0xFF0B, intid, on)


GET = Call(0xFF0C)


def inject(vm: int, vcpu: int, intid: int) -> Call:
    return Call(0xFF0D, vm, vcpu, intid)


# --- WAIT-4: HF_INTERRUPT_ENABLE ------------------------------------------------------------------


@pytest.mark.clause("WAIT-4")
@pytest.mark.parametrize(
    ("intid", "expected"), [(0, 0), (1, 0), (3, 0), (63, 0), (64, ERR), (65, ERR), (0x8000_0000, ERR), (0xFFFF_FFFF, ERR)]
)
def test_interrupt_enable_range(boot, intid, expected):
    hv = boot(script(enable(intid, 1), enable(intid, 0)))
    expect(f"HF_INTERRUPT_ENABLE({intid:#x}, 1) from the primary", hv.interrupt_enable(intid, 1), expected)
    expect(f"HF_INTERRUPT_ENABLE({intid:#x}, 0) from the primary", hv.interrupt_enable(intid, 0), expected)
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect(f"VM 1's HF_INTERRUPT_ENABLE({intid:#x}, 1)", report_of(hv, 1, 0, "WAIT-4")[0], expected)
    expect(f"VM 1's HF_INTERRUPT_ENABLE({intid:#x}, 0)", report_of(hv, 1, 1, "WAIT-4")[0], expected)


@pytest.mark.clause("WAIT-4")
def test_interrupt_get_with_nothing(boot):
    hv = boot(script(GET, enable(5), GET))
    expect("HF_INTERRUPT_GET from the primary, nothing pending", hv.interrupt_get(), NOTHING)
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_GET, nothing pending", report_of(hv, 1, 0, "WAIT-4")[0], NOTHING)
    expect("VM 1's HF_INTERRUPT_GET, 5 enabled, nothing pending", report_of(hv, 1, 2, "WAIT-4")[0], NOTHING)


# --- WAIT-4: HF_INTERRUPT_GET: lowest enabled+pending, acknowledged --------------------------------


@pytest.mark.clause("WAIT-4")
def test_interrupt_get_lowest_first_and_acknowledged(boot):
    hv = boot(script(enable(7), enable(3), enable(40), inject(1, 0, 40), inject(1, 0, 7), inject(1, 0, 3), GET, GET, GET, GET))
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("VM 1's enables", [x0_of(hv, 1, i) for i in range(3)], [0, 0, 0])
    # A secondary's injection returns 0 (only the primary gets 1), and into itself no switch (RUN-10).
    expect("VM 1's injections into itself", [x0_of(hv, 1, i) for i in range(3, 6)], [0, 0, 0])
    expect("VM 1's four HF_INTERRUPT_GETs", [x0_of(hv, 1, i) for i in range(6, 10)], [3, 7, 40, NOTHING])


@pytest.mark.clause("WAIT-4")
def test_pending_not_enabled_interrupt_is_kept(boot):
    hv = boot(script(inject(1, 0, 9), GET, enable(9), GET, GET))
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("VM 1's injection of 9 (not enabled) into itself", x0_of(hv, 1, 0), 0)
    expect("HF_INTERRUPT_GET: 9 pending but not enabled", x0_of(hv, 1, 1), NOTHING)
    expect("HF_INTERRUPT_ENABLE(9, 1)", x0_of(hv, 1, 2), 0)
    expect("HF_INTERRUPT_GET once 9 is enabled", x0_of(hv, 1, 3), 9)
    expect("HF_INTERRUPT_GET again: acknowledged", x0_of(hv, 1, 4), NOTHING)


@pytest.mark.clause("WAIT-4")
def test_disabled_interrupt_is_not_returned(boot):
    hv = boot(script(enable(5), inject(1, 0, 5), enable(5, 0), GET, enable(5, 0x100), GET, GET))
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("HF_INTERRUPT_GET with 5 pending and disabled", x0_of(hv, 1, 3), NOTHING)
    # enable = 0x100: any non-zero value is true (§2).
    expect("HF_INTERRUPT_ENABLE(5, 0x100)", x0_of(hv, 1, 4), 0)
    expect("HF_INTERRUPT_GET once 5 is enabled again", x0_of(hv, 1, 5), 5)
    expect("HF_INTERRUPT_GET again: acknowledged", x0_of(hv, 1, 6), NOTHING)


@pytest.mark.clause("WAIT-4")
def test_primary_gets_its_own_interrupt(boot):
    hv = boot(program("idle"))
    expect("HF_INTERRUPT_ENABLE(5, 1)", hv.interrupt_enable(5), 0)
    expect("HF_INTERRUPT_INJECT(0, 0, 5): its first enabled+pending", hv.interrupt_inject(0, 0, 5), 1)
    expect("HF_INTERRUPT_GET", hv.interrupt_get(), 5)
    expect("HF_INTERRUPT_GET again: acknowledged", hv.interrupt_get(), NOTHING)


# --- WAIT-4: HF_INTERRUPT_INJECT ------------------------------------------------------------------------


@pytest.mark.clause("WAIT-4")
@pytest.mark.parametrize(
    ("vm", "vcpu", "intid"),
    [(1, 0, 64), (1, 0, 0xFFFF_FFFF), (3, 0, 5), (0xFFFF, 0, 5), (0xFFFF_FFFF, 0, 5), (1, 2, 5), (2, 1, 5), (1, 0xFFFF, 5)],
)
def test_inject_refused(boot, vm, vcpu, intid):
    hv = boot(script(enable(5), Wfi(), GET), program("idle"))
    expect("run(1, 0): VM 1 enables 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_err(f"HF_INTERRUPT_INJECT({vm:#x}, {vcpu:#x}, {intid:#x})", hv.interrupt_inject(vm, vcpu, intid))
    # Nothing was injected: VM 1 stays blocked in its wfi (RUN-2).
    expect_refused("run(1, 0): still blocked", hv.run_once(1), clause="WAIT-4")


@pytest.mark.clause("WAIT-4")
@pytest.mark.parametrize("target", [0, 2])
def test_secondary_cannot_inject_into_another_vm(boot, target):
    hv = boot(script(inject(target, 0, 5), inject(1, 0, 5), GET), script(enable(5), Wfi(), GET))
    expect("run(2, 0): VM 2 enables 5, then wfi", hv.run(2, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("HF_INTERRUPT_ENABLE(5, 1) on the primary", hv.interrupt_enable(5), 0, clause="WAIT-4")
    response = hv.run(1, clause="WAIT-4")
    # WAKE_UP: its injection into another VM was accepted (WAIT-4).
    expect("run(1, 0): VM 1 injects, then wfi", response, REFUSED, clause="WAIT-4" if response & 0xFF == 0x4 else "RUN-5")
    expect_err(f"VM 1's HF_INTERRUPT_INJECT({target}, 0, 5)", x0_of(hv, 1, 0))
    expect("VM 1's HF_INTERRUPT_INJECT(1, 0, 5) into itself", x0_of(hv, 1, 1), 0)
    expect("VM 1's HF_INTERRUPT_GET: 5 pending, not enabled", x0_of(hv, 1, 2), NOTHING)
    expect_refused("run(2, 0): VM 2 got nothing, still blocked", hv.run_once(2), clause="WAIT-4")
    expect("the primary got nothing", hv.interrupt_get(), NOTHING)


@pytest.mark.clause("WAIT-4")
def test_inject_from_primary_returns_1_only_for_the_first(boot):
    hv = boot(script(enable(5), enable(6), Wfi(), GET, GET, GET))
    expect("run(1, 0): VM 1 enables 5 and 6, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("HF_INTERRUPT_INJECT(1, 0, 9): not enabled", hv.interrupt_inject(1, 0, 9), 0)
    expect_refused("run(1, 0): 9 is not enabled, still blocked", hv.run_once(1), clause="RUN-2")
    expect("HF_INTERRUPT_INJECT(1, 0, 5): the first enabled+pending", hv.interrupt_inject(1, 0, 5), 1)
    expect("HF_INTERRUPT_INJECT(1, 0, 5) again: already pending", hv.interrupt_inject(1, 0, 5), 0)
    expect("HF_INTERRUPT_INJECT(1, 0, 6): not the first", hv.interrupt_inject(1, 0, 6), 0)
    expect("run(1, 0): VM 1 resumes past its wfi, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("VM 1's three HF_INTERRUPT_GETs", [x0_of(hv, 1, i) for i in range(3, 6)], [5, 6, NOTHING])


# --- RUN-13: a blocked vCPU with an enabled+pending interrupt is runnable ---------------------------


@pytest.mark.clause("RUN-13")
def test_injected_interrupt_wakes_a_wfi(boot):
    hv = boot(script(enable(5), Wfi(), GET, Call(0xFF00)))
    expect("run(1, 0): VM 1 enables 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_refused("run(1, 0): blocked, nothing pending", hv.run_once(1), clause="RUN-2")
    expect("HF_INTERRUPT_INJECT(1, 0, 5)", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    response = hv.run(1, clause="RUN-13")
    expect("VM 1 resumed past its wfi", len(hv.reports(1)), 4, clause="RUN-13")
    expect("run(1, 0): then the final wfi", response, REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_GET", x0_of(hv, 1, 2), 5, clause="WAIT-4")


@pytest.mark.clause("RUN-13")
def test_injected_interrupt_ends_a_blocking_receive(boot):
    hv = boot(script(CFG, enable(5), Call(0xFF07, 1), GET))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("HF_INTERRUPT_INJECT(1, 0, 6): not enabled", hv.interrupt_inject(1, 0, 6), 0, clause="WAIT-4")
    expect_refused("run(1, 0): 6 is not enabled, still blocked", hv.run_once(1), clause="RUN-2")
    expect("HF_INTERRUPT_INJECT(1, 0, 5)", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    expect("run(1, 0): the receive returns, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("VM 1's receive woken by the interrupt", x0_of(hv, 1, 2), 0x0000_0000_FFFF_FFFF, clause="RUN-13")
    expect("VM 1's HF_INTERRUPT_GET", x0_of(hv, 1, 3), 5, clause="WAIT-4")


@pytest.mark.clause("RUN-12", "RUN-13")
def test_message_takes_precedence_over_interrupt(boot):
    hv = boot(script(CFG, enable(5), Call(0xFF07, 1), GET))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("send 6 bytes to VM 1", hv.send(1, 6), 0, clause="SEND-6")
    expect("HF_INTERRUPT_INJECT(1, 0, 5)", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    expect("run(1, 0): the receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    expect("VM 1's receive: the message, not 0xffffffff", x0_of(hv, 1, 2), 0x0000000600000000, clause="RUN-12")
    expect("VM 1's HF_INTERRUPT_GET", x0_of(hv, 1, 3), 5, clause="WAIT-4")


# --- RECV-3: a pending interrupt makes a blocking receive return at once ----------------------------


@pytest.mark.clause("RECV-3")
def test_pending_interrupt_no_blocking_receive(boot):
    hv = boot(script(CFG, enable(5), inject(1, 0, 5), Call(0xFF07, 1), GET, Call(0xFF07, 1), Call(0xFF00)))
    response = hv.run(1, clause="RECV-3")
    expect("VM 1's self-injection", x0_of(hv, 1, 2), 0, clause="WAIT-4")
    expect("VM 1's blocking receive with 5 enabled+pending", x0_of(hv, 1, 3), 0x0000_0000_FFFF_FFFF)
    expect("VM 1's HF_INTERRUPT_GET", x0_of(hv, 1, 4), 5, clause="WAIT-4")
    expect("VM 1 then blocked in its second receive", len(hv.reports(1)), 5, clause="RECV-4")
    expect("run(1, 0): the second receive blocks", response, WAIT_MESSAGE, clause="RUN-7")


@pytest.mark.clause("RECV-3", "RECV-4")
def test_pending_but_disabled_interrupt_lets_receive_block(boot):
    hv = boot(script(CFG, inject(1, 0, 5), Call(0xFF07, 1), Call(0xFF00)))
    response = hv.run(1, clause="RECV-4")
    expect("VM 1 blocked in its receive", len(hv.reports(1)), 2, clause="RECV-4")
    expect("run(1, 0): the receive blocks (5 pending, not enabled)", response, WAIT_MESSAGE, clause="RUN-7")


# --- RUN-10: WAKE_UP --------------------------------------------------------------------------------------


@pytest.mark.clause("RUN-10", "WAIT-4")
@pytest.mark.requires("ready_vcpus")
def test_wake_up_names_the_target_vcpu(boot):
    # VM 2 (not 1), target vCPU 1: the VM and vCPU fields differ, so a swapped layout shows.
    hv = boot(program("idle"), program("vcpus_inject", vcpus=2, ready_vcpus=2, INTID=5))
    expect("run(2, 1): vCPU 1 enables 5, then wfi", hv.run(2, 1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("vCPU 1's HF_INTERRUPT_ENABLE(5, 1)", vcpu_x0_of(hv, 2, 1, 0), 0, clause="WAIT-4")
    response = hv.run(2, 0, clause="RUN-10")
    if vcpu_reports(hv, 2, 0):  # its ID first: the program injects into the VM its HF_VM_GET_ID named
        expect("vCPU 0's HF_VM_GET_ID", vcpu_x0_of(hv, 2, 0, 0), 2, clause="VM-2")
    expect("run(2, 0): vCPU 0 injects 5 into vCPU 1", response, 0x0000000200010004, clause="RUN-10")
    expect("vCPU 0 was switched out at its injection", len(vcpu_reports(hv, 2, 0)), 1, clause="RUN-10")
    expect("run(2, 0): vCPU 0 resumes (ready), then wfi", hv.run(2, 0, clause="RUN-10"), REFUSED, clause="RUN-5")
    expect("vCPU 0's injection returned 0", vcpu_x0_of(hv, 2, 0, 1), 0, clause="WAIT-4")
    expect("run(2, 1): vCPU 1 resumes past its wfi, then wfi", hv.run(2, 1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("vCPU 1's HF_INTERRUPT_GET", vcpu_x0_of(hv, 2, 1, 2), 5, clause="WAIT-4")


@pytest.mark.clause("RUN-10", "WAIT-4")
@pytest.mark.requires("ready_vcpus")
def test_no_wake_up_for_a_disabled_interrupt(boot):
    # vCPU 1 has not run, so 5 is not enabled there: the injection only makes it pending.
    hv = boot(program("vcpus_inject", vcpus=2, ready_vcpus=2, INTID=5))
    ended = hv.run(1, 0, clause="RUN-10")
    # A WAKE_UP (code 4) is what the test checks did not happen; any other answer is the wfi's (RUN-5).
    expect("run(1, 0): vCPU 0 injects, then wfi", ended, REFUSED, clause="RUN-10" if ended & 0xFF == 0x4 else "RUN-5")
    got = [r[0] for r in vcpu_reports(hv, 1, 0)]
    expect_calls("vCPU 0's reports: its ID and the injection's 0", got, [1, 0], ["VM-2", None], clause="WAIT-4")
    # vCPU 1 enables 5 (pending: it becomes enabled+pending), then wfi (RUN-5), then runs on (RUN-13).
    expect("run(1, 1): vCPU 1 enables 5, then wfi", hv.run(1, 1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("run(1, 1): vCPU 1 is runnable, takes 5, then wfi", hv.run(1, 1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("vCPU 1's HF_INTERRUPT_GET", vcpu_x0_of(hv, 1, 1, 2), 5, clause="WAIT-4")


# --- Interrupts taken at VBAR_EL1 ----------------------------------------------------------------------------


@pytest.mark.clause("WAIT-4", "RUN-13")
def test_interrupt_with_vector_table_acknowledged_once(boot):
    hv = boot(program("irq_vbar", INTID=5))
    expect("run(1, 0): VM 1 enables 5, unmasks IRQs, wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_ENABLE(5, 1)", x0_of(hv, 1, 0), 0, clause="WAIT-4")
    expect("HF_INTERRUPT_INJECT(1, 0, 5)", hv.interrupt_inject(1, 0, 5), 1, clause="WAIT-4")
    # Never back in its wfi (preempted throughout): the handler takes the interrupt again and
    # again -- HF_INTERRUPT_GET did not acknowledge it (WAIT-4).
    taken = hv.run(1, clause="WAIT-4", stop_clause="RUN-13")
    expect("run(1, 0): VM 1 takes the interrupt, then wfi", taken, REFUSED, clause="RUN-5")
    reports = hv.reports(1)[1:]
    expect("VM 1 resumed after the injection: its reports past its wfi", len(reports) > 0, True, clause="RUN-13")
    others = [r for r in reports if r[18] >> 8 == 0xE]
    expect("exceptions other than IRQ taken by VM 1", [(r[18], r[0]) for r in others], [], clause="RUN-13")
    gets = sorted(r[0] for r in reports)
    # Taken at VBAR_EL1: the handler's GET (x18 0x1aa) gets 5, the main flow's finds nothing.
    # Not taken: the main flow's GET gets 5. Either way 5 exactly once, acknowledged.
    expect("HF_INTERRUPT_GETs of VM 1 (handler and main flow)", gets, [5] if len(gets) == 1 else [5, NOTHING], clause="WAIT-4")


# --- The timer: RUN-5, RUN-7, RUN-2 with an armed / a disabled virtual timer ----------------------------


@pytest.mark.clause("RUN-5", "RUN-2")
def test_wfi_with_armed_timer_reports_ns(boot):
    hv = boot(program("timer_wfi", CTL=1))
    response = hv.run(1, clause="RUN-5")
    expect("VM 1 armed its timer and stopped at its wfi", len(hv.reports(1)), 1, clause="RUN-5")
    expect_wait_armed("run(1, 0): wfi with the timer armed", response, 0x2, clause="RUN-5")
    expect_wait_armed("run(1, 0) again: blocked_interrupt, timer armed", hv.run_once(1), 0x2, clause="RUN-2")
    expect("VM 1 did not get past its wfi", len(hv.reports(1)), 1, clause="RUN-2")


@pytest.mark.clause("RUN-5", "RUN-2")
def test_wfi_with_disabled_timer_is_indefinite(boot):
    hv = boot(program("timer_wfi", CTL=0))
    expect("run(1, 0): wfi, timer not enabled", hv.run(1, clause="RUN-5"), 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect_refused("run(1, 0) again", hv.run_once(1), clause="RUN-2")


@pytest.mark.clause("RUN-7", "RUN-2")
def test_blocking_receive_with_armed_timer_reports_ns(boot):
    hv = boot(program("timer_receive", CTL=1))
    response = hv.run(1, clause="RUN-7")
    expect("VM 1 configured and stopped at its receive", len(hv.reports(1)), 1, clause="RUN-7")
    expect_wait_armed("run(1, 0): blocking receive with the timer armed", response, 0x3, clause="RUN-7")
    expect_wait_armed("run(1, 0) again: blocked_mailbox, timer armed", hv.run_once(1), 0x3, clause="RUN-2")


@pytest.mark.clause("RUN-7", "RUN-2")
def test_blocking_receive_with_disabled_timer_is_indefinite(boot):
    hv = boot(program("timer_receive", CTL=0))
    expect("run(1, 0): blocking receive, timer off", hv.run(1, clause="RUN-7"), 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")
    expect_refused("run(1, 0) again", hv.run_once(1), clause="RUN-2")


@pytest.mark.clause("RUN-12", "RUN-2")
def test_armed_timer_receive_still_gets_message(boot):
    hv = boot(program("timer_receive", CTL=1))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_wait_armed("run(1, 0): blocking receive, timer armed", hv.run(1, clause="RUN-7"), 0x3, clause="RUN-7")
    expect("send 8 bytes to VM 1", hv.send(1, 8), 0, clause="SEND-6")
    response = hv.run(1, clause="RUN-12")
    expect("VM 1's receive", x0_of(hv, 1, 1), 0x0000000800000000, clause="RUN-12")
    expect_wait_armed("run(1, 0): then its wfi, timer armed", response, 0x2, clause="RUN-5")


@pytest.mark.clause("RUN-13")
def test_expired_timer_makes_wfi_runnable(boot):
    # CVAL = the counter at arming time: expired at once. The wfi is reported (code 2, any ns: the
    # timer is enabled); the next run resumes the vCPU past it without any injection (RUN-13).
    hv = boot(program("timer_wfi", CTL=1, DELTA=0))
    response = hv.run(1, clause="RUN-5")
    if len(hv.reports(1)) == 1:
        expect_wait_armed("run(1, 0): wfi with an expired timer", response, 0x2, clause="RUN-5")
        hv.run(1, clause="RUN-13")
    expect("VM 1 resumed past its wfi", len(hv.reports(1)), 2, clause="RUN-13")


# --- Implementation-defined: the ns value with the timer armed (RUN-5, RUN-7, RUN-2) --------------


def _ns_bound(hv, vm: int) -> int:
    """The programmed delay in ns at the guest's CNTFRQ_EL0 (report #0: x19 = CNTFRQ, x20 = DELTA):
    the remaining time can only be less."""
    regs = report_of(hv, vm, 0, "RUN-5")
    frequency, delta = regs[19], regs[20]
    return delta * 1_000_000_000 // max(1, frequency) + 1


@pytest.mark.clause("RUN-5", "RUN-2")
@pytest.mark.impl_defined
def test_wfi_ns_is_the_remaining_time(boot):
    hv = boot(program("timer_wfi", CTL=1))
    response = hv.run(1, clause="RUN-5")
    bound = _ns_bound(hv, 1)
    expect("run(1, 0): wfi, timer armed: 0 < ns <= the programmed delay", 0 < response >> 8 <= bound, True, clause="RUN-5")
    again = hv.run_once(1)
    expect("run(1, 0) again: 0 < ns <= the first ns", 0 < again >> 8 <= response >> 8, True, clause="RUN-2")


@pytest.mark.clause("RUN-7")
@pytest.mark.impl_defined
def test_receive_ns_is_the_remaining_time(boot):
    hv = boot(program("timer_receive", CTL=1))
    response = hv.run(1, clause="RUN-7")
    bound = _ns_bound(hv, 1)
    expect("run(1, 0): blocking receive, timer armed: 0 < ns <= the delay", 0 < response >> 8 <= bound, True, clause="RUN-7")
