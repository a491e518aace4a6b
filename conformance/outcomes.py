"""How a conformance test ends, beyond pass/skip.

* :class:`ConformanceFailure` — the build returned a wrong value: **FAIL**. Carries what was
  checked, the expected (spec) value and the actual one.
* :class:`CallTimeout` — the build's budget ran out before the primary's call returned: **TIMEOUT**.
* :class:`GuestFault` — a guest of the suite faulted where the spec says it cannot (e.g. the build
  broke a register it must preserve): **FAIL**, with the fault's location.
* anything else raised (a broken build, a missing tool, a bug in the suite) — **ERROR**.
* ``pytest.skip`` for an optional feature the build does not declare — **SKIP** (unsupported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import profiles
from profiles import Profile

FAIL = "FAIL"
ERROR = "ERROR"
TIMEOUT = "TIMEOUT"
SKIP = "SKIP"
PASS = "PASS"
WAIVED = "WAIVED"
NOT_RUN = "NOT RUN"
#: A clause a failing test is tagged with but did not reach: the test stopped at a failed check of
#: another clause first. Neither a pass nor a failure of this clause.
BLOCKED = "BLOCKED"

ClauseArg = str | Sequence[str] | None


def clause_ids(clause: ClauseArg) -> tuple[str, ...]:
    """``"SEND-6"``, ``"SEND-6,CLR-3"`` or ``("SEND-6", "CLR-3")`` as a tuple of IDs."""
    if clause is None:
        return ()
    parts = clause.split(",") if isinstance(clause, str) else list(clause)
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


#: How a value reads in a failure message: the judged profile's ``Profile.shown``, set by the plugin
#: for the run (one profile per process); plain hex until then.
_shown: Callable[[object, str], str] = profiles.shown


def use_profile(profile: Profile) -> None:
    """Read values in failure messages the way ``profile`` does (the plugin calls this once per run)."""
    global _shown
    _shown = profile.shown


def shown(value: object, what: str = "") -> str:
    """``0x...`` with the judged profile's reading of it, e.g. ``0x0000000000000003 (MESSAGE, size 0)``."""
    return _shown(value, what)


class ConformanceFailure(AssertionError):
    """The build under test did not do what the spec says.

    ``clause``: the clause(s) whose rule the failed check states. The verdict counts against
    these only; without one it counts against every clause the test is tagged with.
    """

    def __init__(self, what: str, expected: object, actual: object, note: str = "", *, clause: ClauseArg = None) -> None:
        self.clauses = clause_ids(clause)
        self.what = what
        self.expected = expected
        self.actual = actual
        self.note = note
        exp, act = shown(expected, what), shown(actual, what)
        text = f"{what}: expected {exp}, got {act}"
        super().__init__(f"{text} ({note})" if note else text)


class CallTimeout(Exception):
    """The primary's call did not return within the build's budget."""

    def __init__(self, message: str, *, clause: ClauseArg = None) -> None:
        super().__init__(message)
        self.clauses = clause_ids(clause)


class GuestFault(AssertionError):
    """A suite guest faulted; the spec gives it no reason to."""

    def __init__(self, message: str, *, clause: ClauseArg = None) -> None:
        super().__init__(message)
        self.clauses = clause_ids(clause)


def blamed(exc: BaseException | None, tags: Sequence[str]) -> tuple[str, ...]:
    """The clauses a failed test's verdict counts against: those its failed check names, else
    every clause it is tagged with (a test of one clause needs to name none)."""
    named: Iterable[str] = getattr(exc, "clauses", ()) or ()
    return tuple(named) or tuple(tags)

#: An implementation-defined check (``@pytest.mark.impl_defined``) that failed: reported apart
#: from the MUST results and never a hard failure of the build.
DEVIATION = "DEVIATION"

#: Per-clause status precedence, worst first: a clause takes the worst outcome of its tests.
#: BLOCKED comes last: a clause with a passing test and a blocked one passes (the passing test
#: checked it); a clause whose tests were all blocked is BLOCKED, neither pass nor fail.
PRECEDENCE: tuple[str, ...] = (FAIL, DEVIATION, TIMEOUT, ERROR, WAIVED, SKIP, PASS, BLOCKED)


def classify(exc: BaseException | None) -> str:
    """The outcome of a test that raised ``exc`` in its call phase (None: it passed)."""
    if exc is None:
        return PASS
    if isinstance(exc, CallTimeout):
        return TIMEOUT
    if isinstance(exc, AssertionError):  # ConformanceFailure and GuestFault are AssertionErrors
        return FAIL
    return ERROR


def worst(outcomes: list[str] | tuple[str, ...]) -> str:
    """The status of a group of outcomes by :data:`PRECEDENCE`; NOT RUN when empty."""
    present = set(outcomes)
    for status in PRECEDENCE:
        if status in present:
            return status
    return NOT_RUN
