"""§4 Running: RUN-1 .. RUN-9 and RUN-12 (RUN-10, RUN-13 and the timer's ns: test_interrupts.py;
RUN-11: test_faults.py).

Literals (spec.md §4): refused run / wfi with no timer 0xFFFFFFFFFFFFFF02; blocking receive with no
timer 0xFFFFFFFFFFFFFF03; PREEMPTED 0x0; YIELD 0x1; MESSAGE ``5 | vm_id << 16 | size << 32``;
NOTIFY_WAITERS 0x6.
"""

from __future__ import annotations

import pytest

from conformance.harness import YIELD_LIMIT, expect
from conformance.outcomes import ConformanceFailure
from conformance.protocol import GuestVM
from guest_asm.programs import Call, Fill, Rel, Wfe, Wfi
from profiles.hafnium_2019_03.checks import (
    REFUSED,
    WAIT_MESSAGE,
    expect_calls,
    expect_err,
    expect_refused,
    vcpu_reports,
    vcpu_x0_of,
    x0_of,
)
from profiles.hafnium_2019_03.hv import ERR, expect_zero_x1_x17, program, script
from profiles.hafnium_2019_03.mailbox_checks import expect_ends_in_wfi, expect_nothing

CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))
#: Runs of a vCPU that is only ever preempted before a test gives up on it.
RUN_LIMIT = 10_000

#: Counts to 50 000 in x19 (about 150 000 instructions), stores it at base + 0x14000, then wfi.
COUNTER = GuestVM(
    """
_start:
    mov x19, #0
    movz x20, #0xC350
count_loop:
    add x19, x19, #1
    cmp x19, x20
    b.ne count_loop
    adr x21, _start
    add x21, x21, #0x14000
    str x19, [x21]
wfi_loop:
    wfi
    b wfi_loop
""",
    name="counter.S",
)


# --- RUN-1: refusals ---------------------------------------------------------------------------


@pytest.mark.clause("RUN-1")
def test_secondary_cannot_run(boot):
    hv = boot(script(Call(0xFF03, 2, 0), Call(0xFF03, 1, 0), Call(0xFF03, 0, 0), Call(0xFF00)), script(Call(0xFF00)))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's HF_VCPU_RUN(2, 0)", x0_of(hv, 1, 0), REFUSED, clause="RUN-1")
    expect("VM 1's HF_VCPU_RUN(1, 0) of itself (running)", x0_of(hv, 1, 1), REFUSED, clause="RUN-1")
    expect("VM 1's HF_VCPU_RUN(0, 0)", x0_of(hv, 1, 2), REFUSED, clause="RUN-1")
    expect("VM 1 kept running: it reached its fourth call", len(hv.reports(1)), 4, clause="RUN-1")
    expect("VM 2 never ran", hv.reports(2), [], clause="RUN-1")
    expect("run(1, 0): the script ends in wfi", ended, REFUSED, clause="RUN-5")
    expect("VM 1's HF_VM_GET_ID", x0_of(hv, 1, 3), 1, clause="VM-2")


@pytest.mark.clause("RUN-1")
@pytest.mark.parametrize(
    ("vm", "vcpu"),
    [(0, 0), (0, 1), (2, 0), (3, 0), (0xFFFF, 0), (0xFFFF_FFFF, 0), (1, 1), (1, 2), (1, 0xFFFF), (1, 0xFFFF_FFFF)],
)
def test_run_refused(boot, vm, vcpu):
    hv = boot(script(CFG, Call(0xFF05, Rel(0x12000), Rel(0x13000))))
    # A refused run switches to nothing: PREEMPTED here would be a wrong value, not a preemption.
    expect_refused(f"run({vm:#x}, {vcpu:#x})", hv.run_once(vm, vcpu), clause="RUN-1")
    expect("VM 1 did not run", hv.reports(1), [], clause="RUN-1")
    expect("run(1, 0) afterwards: two configures, then wfi", hv.run(1, 0, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("VM 1 ran from its start (the refused run changed nothing)", len(hv.reports(1)), 2, clause="RUN-1")
    expect("VM 1's first configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect_err("VM 1's second configure", x0_of(hv, 1, 1), clause="CFG-2")


@pytest.mark.clause("RUN-1")
@pytest.mark.parametrize("vcpu", [1, 2])
def test_run_of_an_off_vcpu_refused(boot, vcpu):
    # vCPUs other than 0 are off at boot (VM-1) and nothing starts them: each run is refused.
    hv = boot(program("idle", vcpus=3))
    for _ in range(3):
        expect_refused(f"run(1, {vcpu}) of an off vCPU", hv.run_once(1, vcpu), clause="RUN-1")


# --- RUN-2: blocked vCPUs with nothing to wake them ----------------------------------------------


@pytest.mark.clause("RUN-2", "RUN-5", "RUN-7")
def test_run_refused_while_blocked(boot):
    hv = boot(script(Wfi(), Call(0xFF00)), script(CFG, Call(0xFF07, 1), Call(0xFF00)))
    expect("run(1, 0): wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("run(2, 0): blocking receive", hv.run(2, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    for _ in range(3):
        expect_refused("run(1, 0) of a vCPU blocked in wfi", hv.run_once(1), clause="RUN-2")
        expect_refused("run(2, 0) of a vCPU blocked in receive", hv.run_once(2), clause="RUN-2")
    expect("VM 1 never resumed past its wfi", hv.reports(1), [], clause="RUN-2")
    expect("VM 2 never resumed past its receive", len(hv.reports(2)), 1, clause="RUN-2")


@pytest.mark.clause("RUN-2", "RECV-4")
def test_blocked_in_receive_on_a_read_mailbox_refused(boot):
    # The first receive takes the message (mailbox read); the second blocks on the read mailbox
    # (RECV-4 allows it) and nothing is *received*: its runs are refused.
    hv = boot(script(CFG, Call(0xFF07, 1), Call(0xFF07, 1), Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("send 2 bytes to VM 1", hv.send(1, 2), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 receives, then blocks again", hv.run(1, clause="RUN-12"), WAIT_MESSAGE, clause="RECV-4")
    expect("VM 1's first receive", x0_of(hv, 1, 1), 0x0000000200000000, clause="RUN-12")
    for _ in range(3):
        expect_refused("run(1, 0): blocked in receive on a read mailbox", hv.run_once(1), clause="RUN-2")
    expect("VM 1 did not get past its second receive", len(hv.reports(1)), 2, clause="RUN-2")


@pytest.mark.clause("RUN-2")
def test_message_does_not_wake_a_wfi(boot):
    # Only a blocked_mailbox vCPU takes a received message when run (RUN-12); one in wfi is refused.
    hv = boot(script(CFG, Wfi(), Call(0xFF07, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): configure, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect("send 3 bytes to VM 1 (in wfi)", hv.send(1, 3), 0, clause="SEND-6")
    for _ in range(3):
        expect_refused("run(1, 0) of a vCPU in wfi with a message waiting", hv.run_once(1), clause="RUN-2")
    expect("VM 1 never got past its wfi", len(hv.reports(1)), 1, clause="RUN-2")


# --- RUN-3: a runnable vCPU runs until an event; the primary resumes with the code --------------


@pytest.mark.clause("RUN-3")
def test_ready_vcpu_runs_to_its_next_event(boot):
    hv = boot(script(Call(0xFF00), Call(0xFF01), Call(0xFF04), Call(0xFF00), Call(0xFF01)))
    regs = hv.call_regs(0xFF03, 1, 0, clause="RUN-3")
    for _ in range(YIELD_LIMIT):
        if regs[0] != 0x0:
            break
        regs = hv.call_regs(0xFF03, 1, 0, clause="RUN-3")
    expect("run(1, 0): two calls, then HF_VCPU_YIELD", regs[0], 0x1, clause="RUN-6")
    expect_zero_x1_x17("the primary's HF_VCPU_RUN after the secondary ran", regs)
    expect("VM 1 ran up to its yield", len(hv.reports(1)), 2, clause="RUN-3")
    expect("run(1, 0): it resumes (ready), two calls, then wfi", hv.run(1, clause="RUN-3"), REFUSED, clause="RUN-5")
    expect("VM 1 ran all its steps", len(hv.reports(1)), 5, clause="RUN-3")


# --- RUN-4: preemption -----------------------------------------------------------------------------


@pytest.mark.clause("RUN-4")
def test_spinner_is_preempted(boot):
    hv = boot(program("spinner"), time_slice=2000)
    for i in range(3):
        expect(f"run #{i} of a spinner", hv.run_once(1), 0x0, clause="RUN-4")
    expect("the system goes on: HF_VM_GET_COUNT", hv.vm_count(), 2, clause="VM-3")


@pytest.mark.clause("RUN-4")
def test_preempted_vcpu_resumes_where_it_was(boot):
    hv = boot(COUNTER, time_slice=1000)

    def count() -> int:
        return int.from_bytes(hv.session.read(1, hv.base(1) + 0x14000, 8), "little")

    r = 0x0
    for _ in range(RUN_LIMIT):
        r = hv.call(0xFF03, 1, 0, clause="RUN-4")
        if r != 0x0:
            break
    else:
        finished = count() == 50_000
        raise ConformanceFailure(
            f"run(1, 0) of the counter, {RUN_LIMIT} times",
            "0xffffffffffffff02 (the counter's wfi) within that many runs",
            f"PREEMPTED 0x0 every time, {'after the counter had finished' if finished else 'the counter unfinished'}",
            clause="RUN-5" if finished else "RUN-4",
        )
    expect("the count after preemptions (no restart, registers kept)", count(), 50_000, clause="RUN-4")
    expect("the last run ends in the counter's wfi", r, REFUSED, clause="RUN-5")


@pytest.mark.clause("RUN-4")
def test_preempted_script_resumes_its_steps(boot):
    # A script preempted anywhere (time slice 50) still makes each call once, in order.
    steps = [Call(0xFF00), Call(0xFF01), Call(0xFF00), Call(0xFF01), Call(0xFF00), Call(0xFF01)]
    hv = boot(script(*steps), time_slice=50)
    runs = 0
    response = 0x0
    for _ in range(YIELD_LIMIT):
        response = hv.run_once(1)
        runs += 1
        if response != 0x0:
            break
    # The script never yields: a YIELD 0x1 before its last call is a preemption reported as a
    # yield (RUN-4); after its last call, at its wfi, it is the wfi's own answer (RUN-5).
    early = response == 0x1 and len(hv.reports(1)) < len(steps)
    expect("the script ends in wfi", response, REFUSED, clause="RUN-4" if early else "RUN-5")
    got = [r[0] for r in hv.reports(1)]
    expect_calls("VM 1's reports: each call once", got, [1, 2, 1, 2, 1, 2], ["VM-2", "VM-3"] * 3, clause="RUN-4")


@pytest.mark.clause("RUN-4")
@pytest.mark.impl_defined
def test_time_slice_length_is_bounded(boot):
    # How long a slice lasts is the build's choice; that a spinning secondary comes back is not.
    # Here: within 10 million instructions of a three-instruction loop that counts in memory.
    hv = boot(
        GuestVM(
            """
_start:
    adr x21, _start
    add x21, x21, #0x14000
    mov x19, #0
spin:
    add x19, x19, #1
    str x19, [x21]
    b spin
""",
            name="count_spin.S",
        )
    )

    def count() -> int:
        return int.from_bytes(hv.session.read(1, hv.base(1) + 0x14000, 8), "little")

    # RUN-4 allows a preemption at any instruction, even before the loop's first store: run again then.
    for _ in range(3):
        expect("run(1, 0) of a counting spinner", hv.run_once(1), 0x0, clause="RUN-4")
        if count():
            break
    expect("loop iterations in one time slice: 1..3400000", 0 < count() <= 3_400_000, True, clause="RUN-4")


# --- RUN-5: wfi ------------------------------------------------------------------------------------


@pytest.mark.clause("RUN-5")
def test_wfi_without_timer(boot):
    hv = boot(script(CFG, Wfi(), Call(0xFF00)))
    response = hv.run(1, clause="RUN-5")
    expect("run(1, 0): configure, then wfi (no timer enabled)", response, 0xFFFF_FFFF_FFFF_FF02, clause="RUN-5")
    expect("VM 1 stopped at its wfi", len(hv.reports(1)), 1, clause="RUN-5")
    expect_refused("run(1, 0) again: blocked_interrupt", hv.run_once(1), clause="RUN-2")
    expect("VM 1 never got past its wfi", len(hv.reports(1)), 1, clause="RUN-5")


# --- RUN-6: wfe and yield ----------------------------------------------------------------------------


@pytest.mark.clause("RUN-6")
@pytest.mark.requires("wfe_traps")  # QEMU's TCG never traps wfe: a real image under QEMU cannot show it
def test_wfe_yields(boot):
    hv = boot(script(Wfe(), Call(0xFF00), Wfe(), Call(0xFF01)))
    expect("run(1, 0): wfe", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1 was switched out at its wfe", hv.reports(1), [], clause="RUN-6")
    expect("run(1, 0): VM 1 resumes (ready), then wfe again", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1 went on past its first wfe", len(hv.reports(1)), 2, clause="RUN-6")
    expect("run(1, 0): then wfi", hv.run(1, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect_calls("VM 1's calls after each wfe", [x0_of(hv, 1, 1), x0_of(hv, 1, 3)], [1, 2], ["VM-2", "VM-3"], clause="RUN-6")


@pytest.mark.clause("RUN-6")
def test_yield_from_secondary(boot):
    hv = boot(script(Call(0xFF04), Call(0xFF04, 1, 2, 3), Call(0xFF00)))
    expect("run(1, 0): HF_VCPU_YIELD", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1 was switched out at its yield", hv.reports(1), [], clause="RUN-6")
    expect("run(1, 0): resumed, yields again", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("run(1, 0): resumed, then wfi", hv.run(1, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect("VM 1's yields returned 0", [x0_of(hv, 1, 0), x0_of(hv, 1, 1)], [0, 0], clause="RUN-6")
    expect("VM 1's HF_VM_GET_ID after them", x0_of(hv, 1, 2), 1, clause="VM-2")


@pytest.mark.clause("RUN-6")
def test_yield_from_primary_is_a_no_op(boot):
    hv = boot(script(Call(0xFF00)))
    for i in range(3):
        expect(f"HF_VCPU_YIELD #{i} from the primary", hv.yield_(), 0, clause="RUN-6")
    expect("no secondary ran", hv.reports(1), [], clause="RUN-6")
    expect("run(1, 0): VM 1 runs from its start", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")


# --- RUN-7: blocking receive -------------------------------------------------------------------------


@pytest.mark.clause("RUN-7")
def test_blocking_receive_waits_for_message(boot):
    hv = boot(script(CFG, Call(0xFF07, 1), Call(0xFF00)))
    response = hv.run(1, clause="RUN-7")
    expect("VM 1 did not go past its receive", len(hv.reports(1)), 1, clause="RUN-7")
    expect("run(1, 0): configure, then a blocking receive (no timer)", response, 0xFFFF_FFFF_FFFF_FF03, clause="RUN-7")


@pytest.mark.clause("RUN-7")
@pytest.mark.parametrize("block", [1, 0x100, 0x1_0000_0000, ERR])
def test_any_nonzero_block_flag_blocks(boot, block):
    hv = boot(script(CFG, Call(0xFF07, block), Call(0xFF00)))
    expect(f"run(1, 0): receive(block={block:#x})", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("VM 1 did not go past its receive", len(hv.reports(1)), 1, clause="RUN-7")


# --- RUN-8: MESSAGE ------------------------------------------------------------------------------


@pytest.mark.clause("RUN-8")
@pytest.mark.parametrize(
    ("size", "response"),
    [(0, 0x5), (1, 0x0000000100000005), (3, 0x0000000300000005), (22, 0x0000001600000005), (4096, 0x0000100000000005)],
)
def test_message_to_primary(boot, size, response):
    hv = boot(program("idle"), script(CFG, Fill(size, 0x41), Call(0xFF06, 0, size, 0), Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    message = hv.run(2, clause="RUN-8")
    # The script never yields: a YIELD is a preemption reported as one; refused before its send, a
    # preemption that left it blocked (RUN-4: a preempted vCPU stays ready).
    if message == 0x1 or (message == REFUSED and len(hv.reports(2)) < 2):
        expect(f"run(2, 0): VM 2 sends {size} bytes to the primary", message, response, clause="RUN-4")
    if x0_of(hv, 2, 2) == ERR:  # VM 2 went on after its send: it was refused
        expect(f"VM 2's send of {size} bytes to the primary", ERR, "accepted (switched out with MESSAGE)", clause="SEND-6")
    expect("VM 2 was switched out at its send", len(hv.reports(2)), 2, clause="SEND-7")
    expect(f"run(2, 0): VM 2 sends {size} bytes to the primary", message, response, clause="RUN-8")
    expect("run(2, 0): VM 2 resumes, then wfi", hv.run(2, clause="SEND-7"), REFUSED, clause="RUN-5")
    expect("VM 2's send returned 0", x0_of(hv, 2, 2), 0, clause="SEND-6")


@pytest.mark.clause("RUN-8")
@pytest.mark.parametrize(("sender", "to", "size"), [(1, 2, 0), (1, 2, 11), (2, 1, 4096), (3, 1, 7)])
def test_message_to_secondary_has_size_0(boot, sender, to, size):
    # §11 "Relay": secondary 1 -> secondary 2 answers 0x20005 (recipient 2, size 0).
    guests = [script(CFG, Call(0xFF00)) for _ in range(3)]
    guests[sender - 1] = script(CFG, Fill(size, 0x61), Call(0xFF06, to, size, 0), Call(0xFF00))
    hv = boot(*guests)
    expect(f"run({to}, 0): the recipient configures, then wfi", hv.run(to, clause="RUN-5"), REFUSED, clause="RUN-5")
    response = hv.run(sender, clause="RUN-8")
    # As in test_message_to_primary: a YIELD, or a refusal before the send, is RUN-4's.
    if response == 0x1 or (response == REFUSED and len(hv.reports(sender)) < 2):
        expect(f"run({sender}, 0): VM {sender} sends {size} bytes to VM {to}", response, 0x5 | to << 16, clause="RUN-4")
    expect(f"VM {sender} was switched out at its send", len(hv.reports(sender)), 2, clause="SEND-8")
    expect(f"run({sender}, 0): VM {sender} sends {size} bytes to VM {to}", response, 0x5 | to << 16, clause="RUN-8")
    expect(f"VM {to}'s recv page", hv.recv_page(size, vm=to), bytes((0x61 + i) & 0xFF for i in range(size)), clause="SEND-6")
    expect(f"run({sender}, 0): it resumes (ready), then wfi", hv.run(sender, clause="SEND-8"), REFUSED, clause="RUN-5")
    expect(f"VM {sender}'s send returned 0", x0_of(hv, sender, 2), 0, clause="SEND-6")


# --- RUN-9: NOTIFY_WAITERS ---------------------------------------------------------------------------


@pytest.mark.clause("RUN-9", "CFG-5")
def test_configure_with_waiters_notifies(boot):
    # §11 "Notify on configure": send(1, 0, notify) before VM 1 configures -> -1; run(1, 0) -> 0x6.
    hv = boot(script(CFG, Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("send(1, 0, notify=1) before VM 1 configured", hv.send(1, 0, 1), clause="SEND-5")
    response = hv.run(1, clause="RUN-9")
    expect("VM 1 was switched out at its configure", len(hv.reports(1)), 0, clause="RUN-9")
    expect("run(1, 0): VM 1 configures with a waiter", response, 0x6, clause="RUN-9")
    expect("run(1, 0): VM 1 resumes, then wfi", hv.run(1, clause="RUN-9"), REFUSED, clause="RUN-5")
    expect("VM 1's configure returned 0", x0_of(hv, 1, 0), 0, clause="RUN-9")
    expect("VM 1 went on: its HF_VM_GET_ID", x0_of(hv, 1, 1), 1, clause="VM-2")


@pytest.mark.clause("RUN-9")
def test_configure_without_waiters_does_not_notify(boot):
    hv = boot(script(CFG, Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("send(1, 0, notify=0) before VM 1 configured", hv.send(1, 0, 0), ERR, clause="SEND-5")
    ended = hv.run(1, clause="RUN-9")
    expect_ends_in_wfi("run(1, 0): configure with no waiter, then wfi", ended, "RUN-9")
    expect_calls("VM 1's configure and HF_VM_GET_ID", [x0_of(hv, 1, 0), x0_of(hv, 1, 1)], [0, 1], [None, "VM-2"], clause="CFG-5")


@pytest.mark.clause("RUN-9")
def test_secondary_waiter_notified_on_configure(boot):
    hv = boot(script(CFG, Call(0xFF00)), script(CFG, Call(0xFF06, 1, 0, 1), Call(0xFF00)))
    # A MESSAGE on the way says the send to the unconfigured VM went through (SEND-5).
    expect_ends_in_wfi("run(2, 0): VM 2's notify send to unconfigured VM 1, then wfi", hv.run(2, clause="RUN-5"), "SEND-5")
    expect_err("VM 2's send(1, 0, notify=1)", x0_of(hv, 2, 1), clause="SEND-5")
    expect("run(1, 0): VM 1 configures with VM 2 waiting", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")


@pytest.mark.clause("RUN-9", "CLR-3")
def test_clear_of_read_mailbox_with_waiters_notifies(boot):
    hv = boot(script(CFG, Call(0xFF07, 1), Call(0xFF08), Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("send 4 bytes to VM 1", hv.send(1, 4), 0, clause="SEND-6")
    expect_err("send(1, 4, notify=1) to the full mailbox: a waiter", hv.send(1, 4, 1), clause="SEND-5")
    response = hv.run(1, clause="RUN-9")
    expect("VM 1 received, then was switched out at its clear", len(hv.reports(1)), 2, clause="RUN-9")
    expect("VM 1's receive", x0_of(hv, 1, 1), 0x0000000400000000, clause="RUN-12")
    expect("run(1, 0): VM 1 clears its read mailbox with a waiter", response, 0x6, clause="RUN-9")
    expect("run(1, 0): VM 1 resumes, then wfi", hv.run(1, clause="RUN-9"), REFUSED, clause="RUN-5")
    expect("VM 1's clear returned 0", x0_of(hv, 1, 2), 0, clause="RUN-9")


@pytest.mark.clause("RUN-9", "CLR-1")
def test_clear_of_empty_mailbox_notifies_nobody(boot):
    # The waiter stays queued (nobody fetched it): VM 1's configure notifies; its clear of the
    # empty mailbox then notifies nobody, waiters or not.
    hv = boot(script(CFG, Call(0xFF08), Call(0xFF08), Call(0xFF00)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("send(1, 0, notify=1) before VM 1 configured", hv.send(1, 0, 1), clause="SEND-5")
    expect("run(1, 0): VM 1 configures with a waiter", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    ended = hv.run(1, clause="RUN-9")
    expect_ends_in_wfi("run(1, 0): two clears of the empty mailbox, then wfi", ended, "RUN-9")
    expect("VM 1's configure: 0 (a secondary with waiters)", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's clears of its empty mailbox", [x0_of(hv, 1, i) for i in (1, 2)], [0, 0], clause="CLR-1")
    expect("VM 1 went on: its HF_VM_GET_ID", x0_of(hv, 1, 3), 1, clause="VM-2")


# --- RUN-12: delivery on run ---------------------------------------------------------------------------


@pytest.mark.clause("RUN-12")
@pytest.mark.parametrize("size", [0, 22, 4096])
def test_message_delivered_when_run(boot, size):
    hv = boot(script(CFG, Call(0xFF07, 1), Call(0xFF07, 0), Call(0xFF08)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    # The primary's send returns 0 (no vCPU index: the hypervisor chooses none) and runs nothing.
    expect(f"send {size} bytes to VM 1", hv.send(1, size), 0, clause="SEND-6")
    expect("VM 1 did not run during the send", len(hv.reports(1)), 1, clause="RUN-12")
    expect("run(1, 0): VM 1's receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    expect("VM 1's receive: sender 0 | size << 32", x0_of(hv, 1, 1), size << 32, clause="RUN-12")
    # The mailbox is now read: a receive finds nothing, a clear empties it (0).
    expect_nothing("VM 1's non-blocking receive after it", x0_of(hv, 1, 2), clause="RUN-12")
    expect("VM 1's clear of its read mailbox", x0_of(hv, 1, 3), 0, clause="RUN-12")


@pytest.mark.clause("RUN-12")
def test_message_from_secondary_delivered_when_run(boot):
    hv = boot(script(CFG, Call(0xFF07, 1)), script(CFG, Fill(9, 0x30), Call(0xFF06, 1, 9, 0)))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("run(2, 0): VM 2 sends 9 bytes to VM 1", hv.run(2, clause="RUN-8"), 0x10005, clause="RUN-8")
    expect("VM 1 has not run since", len(hv.reports(1)), 1, clause="RUN-12")
    expect("run(1, 0): VM 1's receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    expect("VM 1's receive: sender 2, 9 bytes", x0_of(hv, 1, 1), 0x0000000900000002, clause="RUN-12")


@pytest.mark.clause("RUN-12")
@pytest.mark.requires("ready_vcpus")
@pytest.mark.parametrize("chosen", [0, 1, 2])
def test_primary_picks_the_vcpu_that_receives(boot, chosen):
    hv = boot(program("vcpus_receive", vcpus=3, ready_vcpus=3))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for idx in range(3):
        expect(f"run(1, {idx}): vCPU {idx} blocks in receive", hv.run(1, idx, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("vCPU 0's configure", vcpu_x0_of(hv, 1, 0, 0), 0, clause="CFG-5")
    expect("send 5 bytes to VM 1", hv.send(1, 5), 0, clause="SEND-6")
    # The primary runs vCPU `chosen`: it gets the message; the hypervisor chose no other.
    expect(f"run(1, {chosen}): its receive returns, then wfi", hv.run(1, chosen, clause="RUN-12"), REFUSED, clause="RUN-5")
    first = 1 if chosen == 0 else 0
    got = vcpu_x0_of(hv, 1, chosen, first)
    expect(f"vCPU {chosen}'s receive: sender 0, 5 bytes", got, 0x0000000500000000, clause="RUN-12")
    for idx in range(3):
        if idx != chosen:
            expect_refused(f"run(1, {idx}): still blocked (mailbox read)", hv.run_once(1, idx), clause="RUN-2")
            reports = vcpu_reports(hv, 1, idx)
            expect(f"vCPU {idx} got nothing", len(reports), 1 if idx == 0 else 0, clause="RUN-12")
