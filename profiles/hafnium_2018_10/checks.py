"""Checks the conformance tests share: each names the clause a wrong answer breaks.

Where the expected value rests on an earlier step (a send that must have woken a waiter, a clear
that must have emptied the mailbox), the build's own answer tells which rule it broke: a send
answered "no vCPU woken" (0xffff) where one waited is SEND-9's failure, not SEND-11's; any other
wrong value is the check's own clause (docs/reports.md, "A failure counts against the clause its
check states").
"""

from __future__ import annotations

from conformance.harness import expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from profiles.hafnium_2018_10.hv import ERR, Hv

#: HF_INVALID_VCPU: "no vCPU was woken", in a primary's send result (SEND-11) and in WAKE_UP (RUN-8).
NO_VCPU = 0xFFFF


def x0_of(hv: Hv, vm: int, index: int) -> int | str:
    """x0 of VM ``vm``'s report #``index``; when the VM made no such report, a description of that,
    so that the caller's ``expect`` fails with its own clause (a missing report is a wrong value)."""
    got = hv.reports(vm)
    return got[index][0] if index < len(got) else f"no report #{index} (VM {vm} made {len(got)})"


def expect_woken(what: str, sent: int, vcpu: int = 0, *, refused: ClauseArg = None) -> None:
    """The primary's send to a VM whose vCPU ``vcpu`` is blocked in a receive returns ``vcpu`` (SEND-11).

    0xffff is SEND-11's answer for "no vCPU was woken": the build did not wake the waiter (SEND-9).
    -1 means the send was refused: counted against ``refused`` (the rule that makes this send
    valid, e.g. SEND-1 for its size) when given, else SEND-11.
    """
    if sent == NO_VCPU and vcpu != NO_VCPU:
        clause: ClauseArg = "SEND-9"
    elif sent == ERR and refused:
        clause = refused
    else:
        clause = "SEND-11"
    expect(what, sent, vcpu, clause=clause)


def expect_wake_up(what: str, response: int, expected: int) -> None:
    """A run that ends in a secondary's send to a secondary: WAKE_UP ``expected`` (RUN-8).

    A WAKE_UP of the expected VM that names vCPU 0xffff where ``expected`` names a woken vCPU says
    the build woke none: the waiter was not woken (SEND-9).
    """
    none_woken = expected >> 32 != NO_VCPU and response == (expected & 0xFFFF_FFFF) | NO_VCPU << 32
    expect(what, response, expected, clause="SEND-9" if none_woken else "RUN-8")


def expect_received(what: str, actual: int | str, expected: int, *, missing: ClauseArg, failed: ClauseArg = "RECV-2") -> None:
    """A secondary's receive returned ``expected`` = sender | size << 32.

    ``actual`` is ``x0_of(...)``: a missing report (the receive did not return) counts against
    ``missing``; -1 (nothing to receive) against ``failed``, the rule that put the message there.
    Otherwise the sender field is source-VM reporting (RECV-6) and the rest of the value the
    layout of a successful receive (RECV-2: "returns the sender and size").
    """
    if isinstance(actual, str) or actual == ERR:
        raise ConformanceFailure(what, expected, actual, clause=missing if isinstance(actual, str) else failed)
    expect(f"{what}: the sender (bits 31..0)", actual & 0xFFFF_FFFF, expected & 0xFFFF_FFFF, clause="RECV-6")
    expect(what, actual, expected, clause="RECV-2")


def expect_cleared(what: str, result: int) -> None:
    """The primary's clear of a message it was told of by MESSAGE returns 0 (CLR-1).

    -1 is the answer for a mailbox that is not *read* (CLR-2, CLR-3): the message to the primary
    did not leave its mailbox read (SEND-8).
    """
    expect(what, result, 0, clause="SEND-8" if result == ERR else "CLR-1")


def expect_secondary_cleared(what: str, actual: int | str) -> None:
    """A secondary's clear of its *read* mailbox returned 0 (CLR-1). -1 is the build refusing a
    secondary's clear: "the primary and the secondaries may all clear" (CLR-4)."""
    expect(what, actual, 0, clause="CLR-4" if actual == ERR else "CLR-1")


def expect_accepted_after_clear(what: str, hv: Hv, vm: int, index: int | None = None) -> None:
    """VM ``vm`` has just sent to the primary, after the primary cleared its mailbox (CLR-1: read ->
    empty). Its send was accepted and it was switched out with MESSAGE, so it reported nothing since.
    A -1 as the send's report (#``index``, default: the last one) is its send refused: the clear did
    not empty the mailbox (CLR-1)."""
    got = hv.reports(vm)
    sent = x0_of(hv, vm, index) if index is not None else got[-1][0] if got else None
    if sent == ERR:
        raise ConformanceFailure(
            what,
            "accepted: VM switched out (MESSAGE)",
            "refused: -1",
            "the primary's clear must empty its mailbox",
            clause="CLR-1",
        )


def expect_err(what: str, actual: int, note: str = "", *, clause: ClauseArg = None) -> None:
    """``expect(what, actual, ERR)``: the call was refused with -1."""
    expect(what, actual, ERR, note, clause=clause)


def report_of(hv: Hv, vm: int, index: int, clause: str) -> tuple[int, ...]:
    """``hv.report``; a missing report (the guest never came back from a call) counts against
    ``clause``, the rule that says it comes back."""
    got = hv.reports(vm)
    if index >= len(got):
        expected = f"at least {index + 1} reports"
        raise ConformanceFailure(f"VM {vm}'s report #{index}", expected, f"{len(got)} reports", clause=clause)
    return got[index]


def received_clause(actual: int, sender: int, size: int) -> str:
    """The clause a receive's result ``sender | size << 32`` fails: the right size with a wrong
    sender is RECV-6 (the receiver learns the sender's ID); the right sender with a wrong size is
    RECV-2 (the result's layout); neither is RECV-4 (the woken receive returns the message)."""
    if actual >> 32 == size:
        return "RECV-6"
    return "RECV-2" if actual & 0xFFFF_FFFF == sender else "RECV-4"


def woken_clause(sent: int) -> str:
    """The clause a primary's send to a receive-blocked vCPU 0 fails: 0xffff says no vCPU was
    found waiting (SEND-9 wakes it); any other wrong value is the wrong index (SEND-11)."""
    return "SEND-9" if sent == 0xFFFF else "SEND-11"


def resume_after_unread_send(hv: Hv, size: int, *, ends: ClauseArg) -> int:
    """VM 1's script is ``CFG, PAUSE, ...``: run it to its pause (MESSAGE, size 0: RUN-7), clear
    that message, send it ``size`` bytes while none of its vCPUs waits (0xffff: SEND-11), and run
    it again; its paused send returned 0 (RUN-9). Returns that run's response (``ends``: what a run
    that does not come back counts against); the caller checks it."""
    expect("run(1, 0): VM 1 configures and pauses", hv.run(1, clause="RUN-7"), 0x3, clause="RUN-7")
    expect_cleared("clear the pause message", hv.clear())
    expect(f"send {size} bytes: no vCPU waits", hv.send(1, size), NO_VCPU, clause="SEND-11")
    response = hv.run(1, clause=ends)
    expect("VM 1 resumed after its pause: the send returned 0", x0_of(hv, 1, 1), 0, clause="RUN-9")
    return response
