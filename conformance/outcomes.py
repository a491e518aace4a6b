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

FAIL = "FAIL"
ERROR = "ERROR"
TIMEOUT = "TIMEOUT"
SKIP = "SKIP"
PASS = "PASS"
WAIVED = "WAIVED"
NOT_RUN = "NOT RUN"


def hex64(value: int | None) -> str:
    return "None" if value is None else f"{value:#018x}"


class ConformanceFailure(AssertionError):
    """The build under test did not do what the spec says."""

    def __init__(self, what: str, expected: object, actual: object, note: str = "") -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        self.note = note
        exp = hex64(expected) if isinstance(expected, int) else repr(expected)
        act = hex64(actual) if isinstance(actual, int) else repr(actual)
        text = f"{what}: expected {exp}, got {act}"
        super().__init__(f"{text} ({note})" if note else text)


class CallTimeout(Exception):
    """The primary's call did not return within the build's budget."""


class GuestFault(AssertionError):
    """A suite guest faulted; the spec gives it no reason to."""

#: An implementation-defined check (``@pytest.mark.impl_defined``) that failed: reported apart
#: from the MUST results and never a hard failure of the build.
DEVIATION = "DEVIATION"

#: Per-clause status precedence, worst first: a clause takes the worst outcome of its tests.
PRECEDENCE: tuple[str, ...] = (FAIL, DEVIATION, TIMEOUT, ERROR, WAIVED, SKIP, PASS)


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
