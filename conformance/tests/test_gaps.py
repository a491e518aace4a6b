"""Tests added after the self-test (``python -m conformance.selftest``) found a mutant they kill.

Each test names the mutant of ``reference_hv.mutants`` that survived the suite without it.
"""

from __future__ import annotations

import pytest

from conformance.checks import expect_err
from conformance.harness import ERR, YIELD_LIMIT, Hv, expect, program, script
from conformance.outcomes import ConformanceFailure
from guest_asm.programs import Call, Rel

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


@pytest.mark.clause("VM-4", "RUN-2")
@pytest.mark.parametrize("vcpu", [1, 2])
def test_other_vcpus_off_at_boot_run_nothing(boot, vcpu):
    # Mutant all_vcpus_ready_at_boot: a program that reports at once shows whether vCPU 1 ran.
    hv = boot(program("configure_twice", vcpus=3))
    expect(f"run(1, {vcpu}): vCPU {vcpu} is off (refused, no switch)", hv.run_once(1, vcpu), 0x1, clause="RUN-2")
    expect(f"no code ran on vCPU {vcpu}", hv.reports(1), [], clause="VM-4")
    expect("run(1, 0): vCPU 0 runs its two configures, ends in wfi", hv.run(1, 0, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1's reports: vCPU 0 ran from the entry point", len(hv.reports(1)), 2, clause="VM-4")
    expect("VM 1's first configure", hv.report(1, 0)[0], 0, clause="CFG-5")
    expect_err("VM 1's second configure", hv.report(1, 1)[0], clause="CFG-2")


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
    raise ConformanceFailure(
        "run(1, 0) through YIELDs",
        f"a response other than YIELD within {YIELD_LIMIT} runs (RUN-4: a preempted vCPU resumes where it was)",
        f"YIELD 0x0000000000000000, {YIELD_LIMIT} times in a row",
        clause="RUN-4",
    )


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


def _cut_to_w0(actual: int, otherwise: str) -> str:
    """-1 cut to 32 bits is CALL-1's failure (the 64-bit result in x0); another value, ``otherwise``."""
    return "CALL-1" if actual == 0xFFFF_FFFF else otherwise


@pytest.mark.clause("CALL-1")
def test_result_is_64_bits_in_x0(boot):
    # Mutant result_truncated_to_w0: -1 is all 64 bits of x0, from the primary and from a secondary.
    hv = boot(script(Call(0xFF02, 0xFFFF_FFFF)))
    # 0xffffffff is -1 cut to 32 bits (CALL-1); any other value is a wrong count (VM-3: -1).
    count = hv.call(0xFF02, 0xFFFF_FFFF)
    expect_err("HF_VCPU_GET_COUNT(0xffffffff) from the primary", count, clause=_cut_to_w0(count, "VM-3"))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    count = hv.report(1, 0)[0]
    expect_err("the secondary's HF_VCPU_GET_COUNT(0xffffffff)", count, clause=_cut_to_w0(count, "VM-3"))
