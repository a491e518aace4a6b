"""Checks and script steps the ``hafnium-2019-03`` mailbox tests share (§5 CFG .. §9 WAIT, §11).

Every value here is a literal of ``spec.md``; each check names the clause whose rule it states.
Where the expected value rests on an earlier step (a message that must have been delivered, a
clear that must have emptied the mailbox), the build's own answer tells which rule it broke, as
in the first profile's ``checks.py``: e.g. a primary's send answered 0xffff (the earlier
revision's "no vCPU woken", §10) is SEND-6's "returns 0 for every caller", not a refusal.

The script steps are calls by function ID (§2, literals): ``CFG`` (the library's pages),
``PAUSE`` (HF_VCPU_YIELD: the run answers YIELD 0x1 and the vCPU resumes with 0 on its next
run, RUN-6), ``receive(block)``, ``send(to, size, notify)``, ``CLEAR``, ``WRITABLE_GET``,
``enable(intid)``, ``INTERRUPT_GET``.
"""

from __future__ import annotations

from conformance.harness import expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from guest_asm.programs import Call, Rel
from profiles.hafnium_2019_03.hv import Hv

#: -1 in x0 (§ Notation).
ERR = 0xFFFF_FFFF_FFFF_FFFF
#: RECV-1, RECV-3, RUN-13: a receive with nothing, ``{0xffffffff, 0}``.
NOTHING = 0x0000_0000_FFFF_FFFF
#: RUN-1, RUN-2 (a refused run) and RUN-5 (a wfi with no timer): WAIT_FOR_INTERRUPT, ns = INDEF.
WFI_INDEF = 0xFFFF_FFFF_FFFF_FF02
#: RUN-7: a blocking receive that blocked, WAIT_FOR_MESSAGE, ns = INDEF.
WAIT_MSG = 0xFFFF_FFFF_FFFF_FF03
#: RUN-6: YIELD.
YIELD = 0x1
#: RUN-9: NOTIFY_WAITERS.
NOTIFY_WAITERS = 0x6
#: RUN-11: ABORTED.
ABORTED = 0x7
#: The earlier revision's answers (§10, the first profile): HF_INVALID_VCPU as a send result.
INVALID_VCPU = 0xFFFF

CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))
PAUSE = Call(0xFF04)
CLEAR = Call(0xFF08)
WRITABLE_GET = Call(0xFF09)
INTERRUPT_GET = Call(0xFF0C)


def receive(block: int) -> Call:
    """HF_MAILBOX_RECEIVE(block) as a script step."""
    return Call(0xFF07, block)


def send(to: int, size: int, notify: int = 0) -> Call:
    """HF_MAILBOX_SEND(to, size, notify) as a script step."""
    return Call(0xFF06, to, size, notify)


def enable(intid: int, on: int = 1) -> Call:
    """HF_INTERRUPT_ENABLE(intid, on) as a script step."""
    return Call(0xFF0B, intid, on)


def message(vm: int, size: int = 0) -> int:
    """RUN-8's MESSAGE ``5 | vm_id << 16 | size << 32``: written out here once for readability; the
    tests spell the values of the text's examples (0x20005, 0x0000000300000005) as literals."""
    return 0x5 | vm << 16 | size << 32


def x0_of(hv: Hv, vm: int, index: int) -> int | str:
    """x0 of VM ``vm``'s report #``index``; when the VM made no such report, a description of that,
    so that the caller's ``expect`` fails with its own clause (a missing report is a wrong value)."""
    got = hv.reports(vm)
    return got[index][0] if index < len(got) else f"no report #{index} (VM {vm} made {len(got)})"


def x0s(hv: Hv, vm: int) -> list[int]:
    """x0 of every report of VM ``vm``, in order."""
    return [r[0] for r in hv.reports(vm)]


def expect_sent(what: str, sent: int | str, *, refused: ClauseArg = None) -> None:
    """A send that the text makes succeed returned 0 (SEND-6: "returns 0 for every caller").

    -1 is a refusal: counted against ``refused`` (the rule that makes this send valid, e.g. CLR-3
    for a send after a clear) when given, else SEND-6. 0xffff or a vCPU index (the earlier
    revision's answers, §10) are SEND-6's wrong values.
    """
    clause = refused if sent == ERR and refused else "SEND-6"
    note = "SEND-6: 0 for every caller (no vCPU index, no 0xffff)" if sent != ERR else ""
    expect(what, sent, 0, note, clause=clause)


def expect_message(what: str, response: int, expected: int, *, refused: ClauseArg = None, arrived: bool = False) -> None:
    """A run that ends in a secondary's successful send: MESSAGE ``expected`` (RUN-8). A WAKE_UP
    (code 4) or an earlier revision's code in its place is RUN-8's wrong value too.

    ``refused``: the rule that makes this send succeed (e.g. CLR-3 for a send after the primary's
    clear). A response that is no MESSAGE at all but the secondary's own next stop (its wfi
    0xFFFFFFFFFFFFFF02, a YIELD 0x1, a blocking receive 0xFFFFFFFFFFFFFF03) says the send was
    refused (-1, no switch): counted against ``refused`` when given -- unless ``arrived``: the
    caller saw the message at its recipient (the send succeeded), so the missing MESSAGE is RUN-8's.
    """
    went_on = response in (0xFFFF_FFFF_FFFF_FF02, 0x1, 0xFFFF_FFFF_FFFF_FF03)
    clause = refused if went_on and refused and not arrived else "RUN-8"
    expect(what, response, expected, "RUN-8: MESSAGE = 5 | recipient << 16 | size << 32 (size: to the primary)", clause=clause)


def expect_received(what: str, actual: int | str, expected: int, *, missing: ClauseArg, clause: ClauseArg = "RECV-2") -> None:
    """A secondary's receive returned ``expected`` = sender | size << 32.

    ``actual`` is ``x0_of(...)``: a missing report (the receive never returned) counts against
    ``missing`` (e.g. RUN-12: the run must deliver); NOTHING 0x00000000FFFFFFFF (no message) too,
    the message was not there to be received; any other wrong value against ``clause``.
    """
    if isinstance(actual, str) or actual == NOTHING:
        raise ConformanceFailure(what, expected, actual, clause=missing)
    expect(what, actual, expected, "sender (u32) | size << 32", clause=clause)


def expect_nothing(what: str, actual: int | str, *, clause: ClauseArg) -> None:
    """A secondary's receive found nothing: NOTHING 0x00000000FFFFFFFF (RECV-3's encoding). A
    message (a sender below 2**16, a size up to a page) or a missing report is ``clause``'s failure
    (the mailbox was not as the test made it); any other value is a wrong encoding of nothing (RECV-3)."""
    message = isinstance(actual, str) or (actual >> 32 <= 4096 and actual & 0xFFFF_FFFF < 0x10000)
    expect(what, actual, NOTHING, clause=clause if message else "RECV-3")


def report_count(hv: Hv, vm: int, count: int, what: str, clause: ClauseArg) -> None:
    """VM ``vm`` made exactly ``count`` reports: where it stopped (a switch) or that it never ran."""
    expect(what, len(hv.reports(vm)), count, clause=clause)


def expect_primary_clear(what: str, result: int, expected: int = 0) -> None:
    """The primary's clear of the *read* mailbox a secondary's message left (SEND-7): 0, or 1 with
    waiters (CLR-3). -1 is the answer for an unread (received) mailbox: the message to the primary
    did not leave it read (SEND-7)."""
    expect(what, result, expected, clause="SEND-7" if result == ERR else "CLR-3")


def expect_ends_in_wfi(what: str, response: int, clause: ClauseArg) -> None:
    """A run whose secondary must go on, without a switch, to its final wfi: 0xFFFFFFFFFFFFFF02
    (RUN-5). A switch on the way -- NOTIFY_WAITERS 0x6, a MESSAGE (code 5), a receive that blocked
    0xFFFFFFFFFFFFFF03 -- is ``clause``'s failure (the rule that says the call on the way returns at
    once); any other value is a wrong wfi response (RUN-5)."""
    switched = response in (0x6, 0xFFFF_FFFF_FFFF_FF03) or response & 0xFF == 0x5
    expect(what, response, 0xFFFF_FFFF_FFFF_FF02, "RUN-5: wfi, no timer", clause=clause if switched else "RUN-5")


def expect_yields(what: str, response: int, clause: ClauseArg) -> None:
    """A run whose secondary must go on, without a switch, to its HF_VCPU_YIELD: YIELD 0x1 (RUN-6).
    A switch on the way (NOTIFY_WAITERS 0x6, a MESSAGE, a receive that blocked) is ``clause``'s
    failure; any other value RUN-6's."""
    switched = response in (0x6, 0xFFFF_FFFF_FFFF_FF03) or response & 0xFF == 0x5
    expect(what, response, 0x1, "RUN-6: YIELD", clause=clause if switched else "RUN-6")


def _still_full(hv: Hv, vm: int) -> bool:
    """Whether VM ``vm``'s mailbox is not empty, asked only where a check already failed: a
    secondary's by the primary's send (SEND-5 refuses a mailbox that is not empty), the
    primary's by its clear (1: still read, with the waiters the test queued; CLR-3)."""
    return hv.clear() == 1 if vm == 0 else hv.send(vm, 0, 0) == ERR


def expect_notified(hv: Hv, vm: int, what: str, response: int, waiters: list[int], *, emptied: ClauseArg = None) -> None:
    """A run of VM ``vm`` whose configure or clear of a read mailbox finds ``waiters``: NOTIFY_WAITERS
    0x6 (RUN-9), then WAITER_GET(vm) returns them in order and -1 (WAIT-1).

    The waiters are fetched before the response is judged: a run without NOTIFY_WAITERS whose
    mailbox has no waiter at all says the notify send queued none (SEND-5); with the waiter there,
    the missing NOTIFY_WAITERS is RUN-9's. ``emptied``: the rule that left the mailbox empty
    (CLR-3 after a clear): WAIT-1 hands out waiters of an empty mailbox only, so no waiter from a
    mailbox that is still not empty counts against that rule."""
    got = [hv.waiter_get(vm) for _ in range(len(waiters) + 1)]
    if response != 0x6:
        clause = "SEND-5" if got[0] == ERR else "RUN-9"
        expect(what, response, 0x6, "RUN-9: NOTIFY_WAITERS", clause=clause)
    _expect_waiters_got(hv, vm, got, waiters, emptied)


def _expect_waiters_got(hv: Hv, vm: int, got: list[int], waiters: list[int], emptied: ClauseArg) -> None:
    if got != [*waiters, ERR] and waiters and got[0] == ERR and emptied and _still_full(hv, vm):
        raise ConformanceFailure(
            f"VM {vm}'s mailbox after its clear (no waiter handed out: waiter_get({vm}) -1)",
            "empty",
            "not empty (still read)",
            clause=emptied,
        )
    expect(f"waiter_get({vm}) x {len(got)}", got, [*waiters, ERR], "WAIT-1: the waiters in FIFO order, then -1", clause="WAIT-1")


def expect_primary_notified(hv: Hv, what: str, result: int, clause: ClauseArg, waiters: list[int]) -> None:
    """The primary's configure or clear of its read mailbox with ``waiters``: 1 (``clause``: CFG-5 or
    CLR-3), then WAITER_GET(0) returns them in order and -1 (WAIT-1). As in :func:`expect_notified`,
    the waiters are fetched first: a result other than 1 with no waiter at all says the notify send
    queued none (SEND-5)."""
    got = [hv.waiter_get(0) for _ in range(len(waiters) + 1)]
    if result != 1:
        expect(what, result, 1, "1: the primary has waiters to wake", clause="SEND-5" if got[0] == ERR else clause)
    _expect_waiters_got(hv, 0, got, waiters, clause if clause == "CLR-3" else None)


def expect_waiters(hv: Hv, vm: int, waiters: list[int], *, clause: ClauseArg = "WAIT-1", emptied: ClauseArg = None) -> None:
    """HF_MAILBOX_WAITER_GET(vm) returns ``waiters`` in order (FIFO), then -1. ``emptied``: as in
    :func:`expect_notified` (none handed out from a mailbox still not empty: that rule's failure)."""
    for i, w in enumerate(waiters):
        got = hv.waiter_get(vm)
        if i == 0 and got == ERR and emptied and _still_full(hv, vm):
            raise ConformanceFailure(f"VM {vm}'s mailbox after its clear", "empty", "not empty (still read)", clause=emptied)
        expect(f"waiter_get({vm}) #{i}", got, w, "WAIT-1: the first waiter, FIFO", clause=clause)
    expect(f"waiter_get({vm}) after {len(waiters)} waiter(s)", hv.waiter_get(vm), ERR, "WAIT-1: no more waiters", clause=clause)
