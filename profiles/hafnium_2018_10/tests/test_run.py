"""§4 Running vCPUs: RUN-1 .. RUN-9."""

from __future__ import annotations

import pytest

from conformance.harness import YIELD_LIMIT, expect
from conformance.outcomes import ConformanceFailure, GuestFault
from conformance.protocol import GuestVM
from guest_asm.programs import Call, Rel, Wfe, Wfi
from profiles.hafnium_2018_10.checks import expect_accepted_after_clear, expect_cleared, expect_received, expect_wake_up, x0_of
from profiles.hafnium_2018_10.hv import ERR, Hv, expect_zero_x1_x17, program, script, yields_exhausted

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
#: Runs of a vCPU that only ever YIELDs (it is preempted, RUN-4) before a test gives up on it.
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
    wfi
""",
    name="counter.S",
)


@pytest.mark.clause("RUN-1")
def test_secondary_cannot_run(boot):
    hv = boot(script(Call(0xFF00, 2, 0), Call(0xFF00, 1, 0), Call(0xFF01)), program("configure_twice"))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1's HF_VCPU_RUN(2, 0)", x0_of(hv, 1, 0), 0x1, clause="RUN-1")
    expect("VM 1's HF_VCPU_RUN(1, 0) of itself", x0_of(hv, 1, 1), 0x1, clause="RUN-1")
    expect("VM 1 kept running: it reached its third call", len(hv.reports(1)), 3, clause="RUN-1")
    expect("VM 2 never ran", hv.reports(2), [], clause="RUN-1")
    expect("run(1, 0): the script ends in wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's HF_VM_GET_COUNT", x0_of(hv, 1, 2), 3, clause="VM-2")


@pytest.mark.clause("RUN-2")
@pytest.mark.parametrize(
    ("vm", "vcpu"),
    [(0, 0), (0, 1), (2, 0), (3, 0), (0xFFFF, 0), (0xFFFF_FFFF, 0), (1, 1), (1, 0xFFFF), (1, 0xFFFF_FFFF)],
)
def test_run_refused(boot, vm, vcpu):
    hv = boot(program("configure_twice"))
    # A refused run switches to nothing: YIELD here is a wrong value, not a preemption.
    expect(f"run({vm:#x}, {vcpu:#x})", hv.run_once(vm, vcpu), 0x1, clause="RUN-2")
    expect("VM 1 did not run", hv.reports(1), [], clause="RUN-2")
    expect("run(1, 0) afterwards: two configures, then wfi", hv.run(1, 0, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1 ran from its start (the refused run changed nothing)", len(hv.reports(1)), 2, clause="RUN-2")
    expect("VM 1's first configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's second configure", x0_of(hv, 1, 1), ERR, clause="CFG-2")


@pytest.mark.clause("RUN-2", "RUN-5")
def test_run_refused_while_blocked(boot):
    hv = boot(program("wfi"), program("receiver"))
    expect("run(1, 0): wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("run(2, 0): blocking receive", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    for _ in range(3):
        expect("run(1, 0) of a vCPU blocked in wfi", hv.run_once(1), 0x1, clause="RUN-5")
        expect("run(2, 0) of a vCPU blocked in receive", hv.run_once(2), 0x1, clause="RUN-2")
    expect("VM 1 never resumed past its wfi", hv.reports(1), [], clause="RUN-5")
    expect("VM 2 never resumed past its receive", hv.reports(2), [], clause="RUN-2")


@pytest.mark.clause("RUN-3")
def test_run_ignores_upper_bits(boot):
    hv = boot(program("configure_twice"))
    ended = hv.run(0x1_0000_0001, 0x1_0000_0000, clause="RUN-5")
    expect("VM 1 vCPU 0 ran: its two configures", len(hv.reports(1)), 2, clause="RUN-3")
    expect("run(0x100000001, 0x100000000): then wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's first configure", x0_of(hv, 1, 0), 0, clause="CFG-5")
    expect("VM 1's second configure", x0_of(hv, 1, 1), ERR, clause="CFG-2")


@pytest.mark.clause("RUN-3", "RUN-4")
def test_preempted_vcpu_resumes_where_it_was(boot):
    hv = boot(COUNTER, time_slice=1000)

    def count() -> int:
        return int.from_bytes(hv.session.read(1, hv.base(1) + 0x14000, 8), "little")

    for _ in range(RUN_LIMIT):
        try:
            r = hv.call(0xFF00, 1, 0, clause="RUN-4")  # run_once; a run that never comes back: no preemption
        except GuestFault:
            if count() == 50_000:  # the counter finished: it ran on past its wfi
                raise ConformanceFailure(
                    "run(1, 0) of the counter", "0x1 at its wfi", "it ran past its wfi", clause="RUN-5"
                ) from None
            raise
        if r != 0x0:
            break
    else:
        # Still YIELD: if the counter finished, what keeps coming back is its wfi (RUN-5);
        # if not, a preempted counter does not get on (RUN-4: it resumes where it was).
        finished = count() == 50_000
        raise ConformanceFailure(
            f"run(1, 0) of the counter, {RUN_LIMIT} times",
            "0x1 (the counter's wfi) within that many runs",
            f"YIELD 0x0 every time, {'after the counter had finished' if finished else 'the counter unfinished'}",
            clause="RUN-5" if finished else "RUN-4",
        )
    expect("the count after preemptions (no restart, registers kept)", count(), 50_000, clause="RUN-4")
    expect("the last run ends in the counter's wfi", r, 0x1, clause="RUN-5")


@pytest.mark.clause("RUN-4")
def test_spinner_is_preempted_with_yield(boot):
    hv = boot(program("spinner"), time_slice=2000)
    for i in range(3):
        expect(f"run #{i} of a spinner", hv.run_once(1), 0x0, clause="RUN-4")
    expect("the system goes on: HF_VM_GET_COUNT", hv.vm_count(), 2, clause="VM-2")


@pytest.mark.clause("RUN-4", "RECV-3")
def test_poller_is_preempted_then_gets_its_message(boot):
    hv = boot(program("poller"), time_slice=3000)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    # The poller spins on non-blocking receives: every run of it can only end in YIELD (RUN-4).
    # A send before it configured is refused (SEND-5): it may be preempted before its configure.
    sent = ERR
    for _ in range(100):
        polling = hv.call(0xFF00, 1, 0, clause="RUN-4")  # run_once; a run that never comes back: no preemption
        if polling != 0x0:
            break
        sent = hv.send(1, 6)
        if sent != ERR:
            break
    if polling != 0x0:
        # Not a YIELD. A send that now wakes a vCPU shows the poller blocked in its receive
        # (RECV-3: a non-blocking receive of an empty mailbox returns -1); else the preemption
        # was answered with the wrong code (RUN-4).
        waiting = hv.send(1, 6) == 0x0
        expect("run(1, 0): the poller spins on a non-blocking receive", polling, 0x0, clause="RECV-3" if waiting else "RUN-4")
    expect("send 6 bytes: no vCPU waits", sent, 0xFFFF, clause="SEND-11")
    for _ in range(100):
        expect(
            "run(1, 0): the poller (gets the message and) goes on polling",
            hv.call(0xFF00, 1, 0, clause="RUN-4"),
            0x0,
            clause="RUN-4",
        )
        if hv.reports(1):
            break
    received = x0_of(hv, 1, 0)
    if received == 0xFFFF_FFFF:  # a failed poll as 32 bits (§12's later layout): the poller took it for a message
        expect("the poller's failed non-blocking receives", received, ERR, clause="RECV-3")
    expect_received("the poller's receive", received, 0x0000000600000000, missing="SEND-10")


@pytest.mark.clause("RUN-5")
def test_wfi_blocks_for_good(boot):
    hv = boot(script(CFG, Wfi(), Call(0xFF01)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): configure, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1 stopped at its wfi", len(hv.reports(1)), 1, clause="RUN-5")
    expect("a send does not wake a wfi (no waiter)", hv.send(1, 1), 0xFFFF, clause="SEND-11")
    expect("run(1, 0) after the send: still blocked, refused", hv.run_once(1), 0x1, clause="RUN-5")
    expect("VM 1 never got past its wfi", len(hv.reports(1)), 1, clause="RUN-5")


@pytest.mark.clause("RUN-5")
def test_wfe_is_a_no_op(boot):
    hv = boot(script(Wfe(), Call(0xFF01), Wfe(), Call(0xFF01)))
    ended = hv.run(1, clause="RUN-5")
    expect("VM 1 went on after both wfe: four steps", len(hv.reports(1)), 4, clause="RUN-5")
    expect("run(1, 0): wfe, call, wfe, call, then the final wfi", ended, 0x1, clause="RUN-5")
    expect("VM 1's HF_VM_GET_COUNT after each wfe", [x0_of(hv, 1, 1), x0_of(hv, 1, 3)], [2, 2], clause="VM-2")


@pytest.mark.clause("RUN-6", "RECV-4")
def test_blocking_receive_returns_to_primary(boot):
    hv = boot(script(CFG, Call(0xFF05, 1), Call(0xFF01)))
    blocked = hv.run(1, clause="RUN-6")
    expect("VM 1 did not go past its receive", len(hv.reports(1)), 1, clause="RECV-4")
    expect("run(1, 0): configure then a blocking receive", blocked, 0x1, clause="RUN-6")


@pytest.mark.clause("RUN-7", "SEND-8")
@pytest.mark.parametrize(
    ("size", "response"), [(0, 0x3), (1, 0x0000000100000003), (22, 0x0000001600000003), (4096, 0x0000100000000003)]
)
def test_message_to_primary(boot, size, response):
    hv = boot(program("idle"), program("sender", TO=0, SIZE=size))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    message = hv.run(2, clause="RUN-7")
    if x0_of(hv, 2, 0) == ERR:  # VM 2 went on after its send: it was refused
        expect(f"VM 2's send of {size} bytes to the primary", ERR, "accepted (switched out with MESSAGE)", clause="SEND-1")
    expect("VM 2 was switched out at its send", hv.reports(2), [], clause="SEND-8")
    if message != response and hv.clear() == ERR:
        # Nothing was delivered: the run ended before VM 2's send, which only a preemption can
        # do to this sender -- and a preemption is answered with YIELD, run again (RUN-4).
        expect(f"run(2, 0): VM 2 sends {size} bytes to the primary", message, response, "ended before the send", clause="RUN-4")
    expect(f"run(2, 0): VM 2 sends {size} bytes to the primary (vm field 0)", message, response, clause="RUN-7")


@pytest.mark.clause("RUN-8", "SEND-9", "SEND-12")
def test_wake_up_names_woken_vcpu(boot):
    hv = boot(program("sender", TO=2, SIZE=5), program("receiver"))
    expect("run(2, 0): VM 2 blocks in receive", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    wake_up = hv.run(1, clause="RUN-8")
    expect("VM 1 was switched out at its send", hv.reports(1), [], clause="SEND-12")
    expect_wake_up("run(1, 0): VM 1 sends to VM 2", wake_up, 0x0000000000020002)
    expect("run(2, 0): VM 2 woke, cleared, blocks again", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect_received("VM 2's receive", x0_of(hv, 2, 0), 0x0000000500000001, missing="SEND-9")
    expect("run(1, 0): VM 1 resumes after its send, then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1 resumed", len(hv.reports(1)), 1, clause="RUN-9")
    expect_zero_x1_x17("VM 1's resumed send", hv.reports(1)[0])
    expect("VM 1's send returned 0", x0_of(hv, 1, 0), 0, clause="SEND-12")


@pytest.mark.clause("RUN-8", "SEND-10", "SEND-12")
def test_wake_up_with_no_waiter(boot):
    hv = boot(program("sender", TO=2, SIZE=5), script(CFG, Call(0xFF05, 0)))
    expect("run(2, 0): VM 2 configures, polls once, ends in wfi", hv.run(2, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 2's non-blocking receive of its empty mailbox", x0_of(hv, 2, 1), ERR, clause="RECV-3")
    wake_up = hv.run(1, clause="RUN-8")
    expect("VM 1 was switched out at its send", hv.reports(1), [], clause="SEND-12")
    expect("run(1, 0): VM 1 sends to VM 2", wake_up, 0x0000FFFF00020002, clause="RUN-8")


@pytest.mark.clause("RUN-9", "SEND-12")
def test_sender_send_returns_zero_when_next_run(boot):
    hv = boot(program("sender", TO=0, SIZE=2, COUNT=2))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    first = hv.run(1, clause="RUN-7")
    expect("VM 1 has not seen its send return yet (switched out)", hv.reports(1), [], clause="SEND-8")
    expect("run(1, 0): first send", first, 0x0000000200000003, clause="RUN-7")
    expect_cleared("clear", hv.clear())
    second = hv.run(1, clause="RUN-7")
    expect_accepted_after_clear("VM 1's second send, after the primary's clear", hv, 1)
    expect("VM 1 resumed after its first send", len(hv.reports(1)), 1, clause="RUN-9")
    expect("VM 1's first send returned 0 when it was next run", x0_of(hv, 1, 0), 0, clause="RUN-9")
    expect("run(1, 0): second send", second, 0x0000000200000003, clause="RUN-7")
    expect_cleared("clear", hv.clear())
    expect("run(1, 0): then wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1's second send returned 0 when it was next run", x0_of(hv, 1, 1), 0, clause="RUN-9")


@pytest.mark.clause("RUN-4")
@pytest.mark.impl_defined
def test_time_slice_length_is_bounded(boot):
    # How long a slice lasts is the build's choice; that a spinning secondary comes back is not.
    # Here: within 10 million instructions of a two-instruction loop that counts in memory.
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
    if not 0 < count() <= 3_400_000:
        expect("loop iterations in one time slice", count(), "1..3400000", clause="RUN-4")


@pytest.mark.clause("RUN-2")
@pytest.mark.parametrize("vm", [0x1_0001, 0x1_0000, 0xFFFF_0001])
def test_run_vm_id_is_u32_not_u16(boot, vm):
    # Mutant run_vm_id_u16: VM IDs are u32, so 0x10001 is an absent VM, not VM 1 (nor 0x10000 the primary).
    hv = boot(program("configure_twice"))
    expect(f"run({vm:#x}, 0)", hv.run_once(vm), 0x1)
    expect("VM 1 did not run", hv.reports(1), [])


def _run_until_blocked(hv: Hv, *, limit: int, base: int, per: int) -> tuple[int, int]:
    """run(1, 0) until an answer other than YIELD; after each YIELD, a send from the primary tells
    a preemption from a blocking receive answered with YIELD. Returns (the answer, how many of
    those sends VM 1 took in: at most ``limit``). VM 1 reports ``base`` times before its first
    receive and ``per`` times for each message it takes in; no send is made while it has not yet
    reported the last one (its mailbox is not empty then, and no receive of it blocks).

    RUN-4: a preempted vCPU stays ready, so right after a legitimate YIELD nothing of VM 1 waits in
    a receive: the primary's send answers 0xffff (no waiter: the message stays unread, SEND-10,
    SEND-11; VM 1's next receive takes it at once, RECV-2) or -1 (VM 1 not configured yet, SEND-5;
    its mailbox not cleared yet, SEND-6; no state change). It answers 0, the index of the vCPU it
    woke (SEND-9), only if vCPU 0 was blocked in its receive — then the YIELD was the blocking
    receive's answer, and RUN-6 says 0x1. ``limit`` keeps the sends from keeping VM 1 from ever
    blocking.
    """
    taken = 0
    for _ in range(YIELD_LIMIT):
        response = hv.run_once(1)
        if response != 0x0:
            return response, taken
        if taken >= limit or len(hv.reports(1)) < base + per * taken:
            continue
        probe = hv.send(1, 1)
        if probe == 0:
            raise ConformanceFailure(
                "run(1, 0), a blocking receive with nothing to receive",
                "0x0000000000000001 (RUN-6)",
                "YIELD 0x0000000000000000, yet a send right after it woke VM 1's vCPU 0 from its receive (send -> 0)",
                "RUN-4: a preempted vCPU stays ready, so a YIELD cannot leave a vCPU blocked in a receive",
                clause="RUN-6",
            )
        if probe == 0xFFFF:
            taken += 1
        elif probe != ERR:
            clause = "CALL-1" if probe == 0xFFFF_FFFF else "SEND-11"
            expect("send(1, 1) right after a YIELD: no vCPU waits", probe, 0xFFFF, clause=clause)
    raise yields_exhausted("run(1, 0)", "RUN-4: a preempted vCPU resumes where it was", "RUN-4")


@pytest.mark.clause("RUN-6", "RECV-4")
@pytest.mark.parametrize("time_slice", [10_000, 5])
@pytest.mark.parametrize("guest", ["receiver", "script"])
def test_blocking_receive_answers_0x1_not_yield(boot, guest, time_slice):
    # Mutant blocking_receive_yields: Hv.run() loops over YIELD, which would hide a YIELD answering
    # the receive, so each YIELD is told apart from a preemption (RUN-4) by _run_until_blocked.
    # receiver: configure; loop { receive(block); clear }: 2 reports per message taken in.
    # script: configure; receive(block); receive(block); 1 report, then 1 per message taken in:
    # after one, the mailbox is read and not cleared, so the second receive blocks (RECV-5) —
    # VM 1 takes in at most one.
    # time_slice 5 asks the build to preempt VM 1 on its way to the receive (RUN-4: tolerated); the
    # mutant is caught where no preemption comes first (the reference's 10_000 instructions).
    # What the tell-tale send answers when no vCPU waits, first (SEND-11: 0xffff).
    idle = boot(program("configure_twice"))
    expect("run(1, 0): VM 1 configures twice, ends in wfi", idle.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("configure", idle.configure(), 0, clause="CFG-5")
    expect("send(1, 1) to a VM with no vCPU waiting", idle.send(1, 1), 0xFFFF, clause="SEND-11")
    vm = program("receiver") if guest == "receiver" else script(CFG, Call(0xFF05, 1), Call(0xFF05, 1), Call(0xFF01))
    hv = boot(vm, time_slice=time_slice)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    base, per = (0, 2) if guest == "receiver" else (1, 1)
    response, taken = _run_until_blocked(hv, limit=4 if guest == "receiver" else 1, base=base, per=per)
    what = f"run(1, 0): a blocking receive with nothing to receive ({taken} messages taken in before)"
    expect(what, response, 0x1, clause="RUN-6")
    before = base + per * taken
    # Fewer reports: the 0x1 came before VM 1 reached its receive — a preemption answered 0x1
    # (RUN-4) — or a message the primary left unread for VM 1 (0xffff: SEND-10) never reached it.
    # More: past the script's second receive, it returned -1 instead of blocking on the read
    # mailbox (RECV-5), or returned the message it had already read (RECV-3); past another, RECV-4.
    reports = hv.reports(1)
    if len(reports) < before:
        blocks = "SEND-10" if taken else "RUN-4"
    elif guest == "script" and taken:
        blocks = "RECV-3" if len(reports) > 2 and reports[2][0] == 1 << 32 else "RECV-5"
    else:
        blocks = "RECV-4"
    expect("VM 1 did not go past its receive (reports so far)", len(reports), before, clause=blocks)
