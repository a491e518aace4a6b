"""Conformance results: per-test records, per-clause aggregation, and the report writers.

Everything here works from plain data (the ``user_properties`` the plugin attaches to each test
report), so a serial run and an ``-n N`` run aggregate identically. Writers:

* :func:`to_json` / :func:`write_json` — machine-readable summary (``--conformance-json``);
* :func:`render_html` — one self-contained page (inline CSS, no JavaScript);
* :func:`render_markdown` — the same content as Markdown;
* :func:`terminal_lines` — the compact clause table printed at the end of a pytest run.

All text that comes from a build or a guest is escaped by the writer that emits it.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import profiles
from conformance import about, outcomes
from conformance.protocol import Decoder, TraceRecord, read_trace, render, trace_call, trace_value
from profiles import Clause, Profile

SCHEMA = "hafnium-conformance-report/1"
MUST = "MUST"
IMPL = "impl-defined"
#: Every clause status, in the order totals are printed.
STATUSES: tuple[str, ...] = (*outcomes.PRECEDENCE, outcomes.NOT_RUN)
TRACE_CAP = 200


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class TestResult:
    """One test's final outcome, rebuilt from its report properties."""

    __test__ = False  # not a pytest test class

    nodeid: str
    #: The clauses the test is tagged with: what it can check. The first is its own clause.
    clauses: tuple[str, ...]
    impl_defined: bool = False
    outcome: str = outcomes.NOT_RUN
    #: The clauses a failure counts against (the failed check's clause); empty when it passed.
    blamed: tuple[str, ...] = ()
    what: str = ""
    expected: str = ""
    actual: str = ""
    message: str = ""
    waiver: str = ""
    waiver_not_needed: bool = False
    calls: list[str] = field(default_factory=list)
    trace: list[TraceRecord] = field(default_factory=list)
    duration: float = 0.0
    #: Failing foundation clauses (``Profile.foundations``) that make this test's other failures
    #: unjudged; set by :func:`aggregate`.
    blocked_by: tuple[str, ...] = ()

    @classmethod
    def from_properties(cls, nodeid: str, props: Iterable[tuple[str, object]], duration: float = 0.0) -> TestResult:
        """Later properties win (a teardown ERROR after a call PASS, say)."""
        d: dict[str, str] = {}
        for key, value in props:
            d[key] = str(value)
        return cls(
            nodeid=nodeid,
            clauses=tuple(c for c in d.get("clause", "").split(",") if c),
            impl_defined=d.get("strength") == IMPL,
            outcome=d.get("outcome", outcomes.NOT_RUN),
            blamed=tuple(c for c in d.get("blamed", "").split(",") if c),
            what=d.get("what", ""),
            expected=d.get("expected", ""),
            actual=d.get("actual", ""),
            message=d.get("message", ""),
            waiver=d.get("waiver", ""),
            waiver_not_needed=d.get("waiver_not_needed") == "yes",
            calls=d["calls"].split("\n") if d.get("calls") else [],
            trace=trace_from_property(d["trace"]) if d.get("trace") else [],
            duration=duration,
        )

    @property
    def failed(self) -> bool:
        return self.outcome not in (outcomes.PASS, outcomes.SKIP)

    def outcome_for(self, clause: str, layer: Callable[[str], int]) -> str:
        """This test's outcome for one of its clauses: a failure counts against the clauses it
        blames; the test's other clauses were not reached (BLOCKED). ``layer``: the profile's
        foundation layer of a clause (``Profile.layer``)."""
        if not self.failed:
            return self.outcome
        if clause not in self.blamed and self.blamed:
            return outcomes.BLOCKED
        blocking = [f for f in self.blocked_by if layer(f) < layer(clause)]
        if blocking and self.outcome in (outcomes.FAIL, outcomes.TIMEOUT):
            return outcomes.BLOCKED  # a foundation clause fails: this failure may be its consequence
        return self.outcome

    @property
    def failure_line(self) -> str:
        """One line: ``what: expected X, got Y`` or the error message."""
        if self.what:
            return f"{self.what}: expected {self.expected}, got {self.actual}"
        return self.message.split("\n", 1)[0]

    def brief(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "blamed": list(self.blamed),
            "what": self.what,
            "expected": self.expected,
            "actual": self.actual,
            "waiver": self.waiver,
        }

    def full(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "clauses": list(self.clauses),
            "impl_defined": self.impl_defined,
            "outcome": self.outcome,
            "blamed": list(self.blamed),
            "what": self.what,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
            "waiver": self.waiver,
            "waiver_not_needed": self.waiver_not_needed,
            "calls": self.calls,
            "trace": [r.to_json() for r in self.trace],
        }


@dataclass
class ClauseRow:
    clause: Clause
    strength: str  # MUST or IMPL
    tests: list[TestResult]
    profile: Profile

    @property
    def status(self) -> str:
        return outcomes.worst([t.outcome_for(self.clause.id, self.profile.layer) for t in self.tests])

    @property
    def passed(self) -> int:
        return sum(t.outcome_for(self.clause.id, self.profile.layer) == outcomes.PASS for t in self.tests)

    @property
    def failures(self) -> list[TestResult]:
        """The tests whose failure counts against this clause."""
        ok = (outcomes.PASS, outcomes.SKIP, outcomes.BLOCKED)
        return [t for t in self.tests if t.outcome_for(self.clause.id, self.profile.layer) not in ok]

    @property
    def first_failure(self) -> TestResult | None:
        return next(iter(self.failures), None)

    @property
    def blocked_by(self) -> list[str]:
        """The failing foundation clauses that left this clause's failures unjudged."""
        mine = self.profile.layer(self.clause.id)
        found = {f for t in self.tests if self.clause.id in t.blamed for f in t.blocked_by if self.profile.layer(f) < mine}
        return sorted(found)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.clause.id,
            "section": self.clause.section,
            "section_title": self.profile.sections.get(self.clause.section, ""),
            "title": self.clause.title,
            "strength": self.strength,
        }
        if self.strength == IMPL:
            out["part"] = self.clause.impl_defined or "(tests marked impl_defined)"
        out.update(
            status=self.status,
            passed=self.passed,
            total=len(self.tests),
            tests=[{**t.brief(), "outcome": t.outcome_for(self.clause.id, self.profile.layer)} for t in self.tests],
        )
        return out


@dataclass
class Guard:
    """Did every selected conformance test report an outcome?"""

    selected: int = 0
    reported: int = 0
    missing: list[str] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"selected": self.selected, "reported": self.reported, "missing": self.missing, "message": self.message or None}


@dataclass
class Summary:
    build: str
    tests: list[TestResult]
    must: list[ClauseRow]
    impl: list[ClauseRow]
    selection: list[str] | None = None
    guard: Guard = field(default_factory=Guard)
    #: The profile the run judged (its name in every report).
    profile: Profile = field(default_factory=lambda: profiles.get(profiles.DEFAULT))
    generated: str = ""
    #: What chose the tests of this run ("the whole suite", "--clause SEND-6", "-k ...").
    selected_by: str = "the whole suite"
    #: Clause waivers that waived nothing: "clause SEND-6: reason" (the clause passed).
    clause_waivers_not_needed: list[str] = field(default_factory=list)
    #: What produced the report: suite version and commit, profile, tool versions (about.environment).
    environment: dict[str, str] = field(default_factory=lambda: dict(about.environment()))

    def totals(self) -> dict[str, dict[str, int]]:
        tests = Counter(t.outcome for t in self.tests)
        must = Counter(r.status for r in self.must)
        impl = Counter(r.status for r in self.impl)
        test_keys = tuple(k for k in outcomes.PRECEDENCE if k != outcomes.BLOCKED)
        return {
            "tests": {k: tests.get(k, 0) for k in test_keys},
            "must": {k: must.get(k, 0) for k in STATUSES if k != outcomes.DEVIATION},
            "impl_defined": {k: impl.get(k, 0) for k in STATUSES},
        }

    @property
    def waivers_not_needed(self) -> list[TestResult]:
        """Tests a test waiver named that passed."""
        return [t for t in self.tests if t.waiver_not_needed]

    def waiver_notes(self) -> list[str]:
        """One line per waiver that was not needed (test waivers, then clause waivers)."""
        notes = [f"{t.nodeid} passed ({t.waiver})" for t in self.waivers_not_needed]
        return notes + [f"{w} (the clause passed)" for w in self.clause_waivers_not_needed]

    @property
    def failures(self) -> list[TestResult]:
        return [t for t in self.tests if t.failed]


def reported_clauses(tests: Iterable[TestResult], selection: Sequence[str] | None, partial: bool) -> set[str] | None:
    """The clauses a run may give a verdict on; None: every clause its tests name.

    A whole-suite run reports every clause. A partial run (``--clause``, ``-k``, ``-m``, ``--lf``,
    node IDs) reports only the clauses it ran the tests *of*: under ``--clause``, the selected
    clauses; otherwise, a clause that is the own (first-named) clause of a test that ran. A clause
    that only a test of another clause touched on the way is NOT RUN.
    """
    if selection:
        return set(selection)
    if not partial:
        return None
    return {t.clauses[0] for t in tests if t.clauses and t.outcome != outcomes.NOT_RUN}


def failing_foundations(tests: Iterable[TestResult], profile: Profile) -> set[str]:
    """Foundation clauses that failed in a test of their own (their first-named clause), lowest
    layer first: a foundation whose failure a lower one's explains is not listed."""
    bad = (outcomes.FAIL, outcomes.TIMEOUT)
    found = {
        t.clauses[0]
        for t in tests
        if t.clauses and t.clauses[0] in profile.foundations and t.outcome in bad and t.clauses[0] in t.blamed
    }
    lowest = min((profile.layer(f) for f in found), default=0)
    return {f for f in found if profile.layer(f) == lowest}


def aggregate(
    tests: Iterable[TestResult],
    build: str,
    *,
    selection: Sequence[str] | None = None,
    guard: Guard | None = None,
    partial: bool = False,
    selected_by: str = "",
    profile: Profile | None = None,
) -> Summary:
    """Per-clause rows in registry order; tests in node-ID order within each row."""
    profile = profile or profiles.get(profiles.DEFAULT)
    by_id = profile.by_id
    every = (*profile.clauses, *profile.extra_clauses)
    ordered = sorted(tests, key=lambda t: t.nodeid)
    failing = failing_foundations(ordered, profile)
    for t in ordered:
        t.blocked_by = tuple(sorted(failing - set(t.blamed))) if t.failed else ()
    must_tests: dict[str, list[TestResult]] = {c.id: [] for c in profile.clauses if not profile.wholly_impl(c)}
    impl_tests: dict[str, list[TestResult]] = {c.id: [] for c in every if c.impl_defined}
    shown = reported_clauses(ordered, selection, partial)
    for t in ordered:
        for cid in dict.fromkeys((*t.clauses, *t.blamed)):
            clause = by_id.get(cid)
            # A failure is always reported under the clause it counts against, selected or not.
            if clause is None or (shown is not None and cid not in shown and cid not in t.blamed):
                continue
            if t.impl_defined or profile.wholly_impl(clause):
                impl_tests.setdefault(cid, []).append(t)
            else:
                must_tests.setdefault(cid, []).append(t)
    order = {c.id: n for n, c in enumerate(every)}
    must = [ClauseRow(by_id[cid], MUST, ts, profile) for cid, ts in sorted(must_tests.items(), key=lambda kv: order[kv[0]])]
    impl = [ClauseRow(by_id[cid], IMPL, ts, profile) for cid, ts in sorted(impl_tests.items(), key=lambda kv: order[kv[0]])]
    return Summary(
        profile=profile,
        environment=dict(about.environment(profile.name)),
        build=build,
        tests=ordered,
        must=must,
        impl=impl,
        selection=list(selection) if selection else None,
        guard=guard or Guard(),
        selected_by=selected_by or ("--clause " + " ".join(selection) if selection else "the whole suite"),
        generated=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
    )


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def to_json(summary: Summary, *, durations: bool = True) -> dict[str, Any]:
    """The JSON summary. Everything but ``timing`` is identical for a serial and an ``-n N`` run."""
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "profile": summary.profile.name,
        "build": summary.build,
        "environment": summary.environment,
        "selection": {"clauses": summary.selection, "selected_by": summary.selected_by},
        "totals": summary.totals(),
        "clauses": [r.to_json() for r in summary.must],
        "impl_defined": [r.to_json() for r in summary.impl],
        "tests": [t.full() for t in summary.tests],
        "waivers_not_needed": [{"nodeid": t.nodeid, "waiver": t.waiver} for t in summary.waivers_not_needed]
        + [{"clause_waiver": w} for w in summary.clause_waivers_not_needed],
        "guard": summary.guard.to_json(),
    }
    if durations:
        out["timing"] = {
            "generated": summary.generated,
            "durations": {t.nodeid: round(t.duration, 6) for t in summary.tests},
        }
    return out


# --------------------------------------------------------------------------------------------
# JUnit XML
# --------------------------------------------------------------------------------------------

#: How each outcome appears in JUnit: (element, type). PASS has none; DEVIATION and WAIVED are
#: skips a CI shows (never failures), ERROR is an error (a broken build or environment).
_JUNIT = {
    outcomes.FAIL: ("failure", "FAIL"),
    outcomes.TIMEOUT: ("failure", "TIMEOUT"),
    outcomes.ERROR: ("error", "ERROR"),
    outcomes.SKIP: ("skipped", "SKIP"),
    outcomes.DEVIATION: ("skipped", "DEVIATION"),
    outcomes.WAIVED: ("skipped", "WAIVED"),
}


def to_junit(summary: Summary) -> str:
    """The run as JUnit XML (pytest's xunit2 family: properties on the suite only), one testcase
    per test; a failure's message starts with the clause(s) it counts against."""
    import xml.etree.ElementTree as ET

    counts = Counter(_JUNIT.get(t.outcome, ("", ""))[0] for t in summary.tests)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="hafnium-conformance",
        tests=str(len(summary.tests)),
        failures=str(counts["failure"]),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{sum(t.duration for t in summary.tests):.3f}",
        timestamp=summary.generated,
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("profile", summary.profile.name),
        ("build", summary.build),
        ("selected_by", summary.selected_by),
        *summary.environment.items(),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for t in summary.tests:
        path, _, name = t.nodeid.partition("::")
        classname = path.removesuffix(".py").replace("/", ".")
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{t.duration:.3f}")
        kind = _JUNIT.get(t.outcome)
        if kind is None:
            continue
        against = ",".join(t.blamed or t.clauses)
        label = f"{t.outcome} {against}" if t.outcome != outcomes.SKIP else t.outcome
        detail = "\n".join(
            line
            for line in (
                f"clauses tagged: {', '.join(t.clauses)}",
                f"counts against: {against}",
                f"waiver: {t.waiver}" if t.waiver else "",
                f"checked: {t.what}" if t.what else "",
                f"expected (spec): {t.expected}" if t.what else "",
                f"actual (build): {t.actual}" if t.what else "",
                t.message,
            )
            if line
        )
        element = ET.SubElement(case, kind[0], type=kind[1], message=_clip(f"{label}: {t.failure_line}", 1000))
        if kind[0] != "skipped":
            element.text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(summary: Summary, path: str | Path) -> None:
    Path(path).write_text(to_junit(summary), encoding="utf-8")


def write_json(summary: Summary, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(summary), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------------


def _short_nodeid(nodeid: str) -> str:
    path, sep, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}{sep}{rest}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def _totals_line(label: str, counts: Mapping[str, int], of: int) -> str:
    parts = [f"{n} {k.lower()}" for k, n in counts.items() if n]
    return f"{label}: {', '.join(parts) or 'none'} (of {of})"


def terminal_lines(summary: Summary, width: int = 120) -> list[tuple[str, str]]:
    """The clause table as (text, status) pairs; the status lets the caller colour the line."""
    out: list[tuple[str, str]] = []
    header = f"{'clause':<8} {'sec':>3}  {'status':<9} {'tests':>7}  first failure"
    out.append((header, ""))
    rows = [*summary.must, *summary.impl]
    n = 0
    while n < len(rows):
        row = rows[n]
        label = row.clause.id if row.strength == MUST else f"{row.clause.id}*"
        run = n
        while run < len(rows) and not rows[run].tests and rows[run].strength == row.strength:
            run += 1
        if run - n >= 3:  # collapse a run of clauses with no test (a --clause selection, say)
            last = rows[run - 1].clause.id + ("" if row.strength == MUST else "*")
            out.append((f"{label}..{last}  {outcomes.NOT_RUN}  ({run - n} clauses without a test in this run)", outcomes.NOT_RUN))
            n = run
            continue
        n += 1
        tests = f"{row.passed}/{len(row.tests)}" if row.tests else "-"
        first = row.first_failure
        prefix = f"{label:<8} {row.clause.section:>3}  {row.status:<9} {tests:>7}  "
        text = ""
        if first is not None:
            text = f"{_short_nodeid(first.nodeid)}: {first.failure_line}"
        elif row.blocked_by:
            text = f"failed where a failing {', '.join(row.blocked_by)} (fix first) makes it unjudged"
        out.append((prefix + _clip(text, max(20, width - len(prefix) - 1)), row.status))
    t = summary.totals()
    out.append(("* = implementation-defined: the clause, or a part of it (never a MUST failure)", ""))
    out.append((_totals_line(f"MUST clauses [{summary.build}]", t["must"], len(summary.must)), ""))
    out.append((_totals_line("implementation-defined", t["impl_defined"], len(summary.impl)), ""))
    out.append((_totals_line("tests", t["tests"], len(summary.tests)), ""))
    for note in summary.waiver_notes():
        out.append((f"waiver not needed: {note}", ""))
    return out


# --------------------------------------------------------------------------------------------
# Message sequence from trace records
# --------------------------------------------------------------------------------------------

_ERR = (1 << 64) - 1


def trace_property(records: Iterable[TraceRecord]) -> str:
    """The ``trace`` report property: a JSON list of :meth:`TraceRecord.to_json` dicts."""
    return json.dumps([r.to_json() for r in records], ensure_ascii=False, separators=(",", ":"))


def trace_from_property(text: str) -> list[TraceRecord]:
    """The records a ``trace`` property holds; what is not a JSON list of records reads as notes."""
    try:
        data = json.loads(text)
    except ValueError as e:
        return [TraceRecord.note(f"unreadable trace (not JSON: {e})")]
    if not isinstance(data, list):
        return [TraceRecord.note(f"unreadable trace (a JSON {type(data).__name__}, not a list of records)")]
    return read_trace(data)


#: ``message(call, args, result)``: (destination VM, size) when a traced call sent a message (``Profile.message``).
MessageOf = Callable[[str, tuple[int, ...], int | None], tuple[int, int | None] | None]


def _no_reading(value: int, what: str) -> str:
    return ""


@dataclass(frozen=True)
class Step:
    """One row of a message sequence: a note in a VM's column, an arrow, or text beside the chart."""

    kind: str  # "note", "arrow" or "plain"
    seq: str
    text: str
    src: int = 0
    dst: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", " ".join(self.text.split()))  # one line, whatever the build wrote


def sequence(
    records: Iterable[TraceRecord], decode: Decoder | None = None, message: MessageOf | None = None
) -> tuple[list[int], list[Step]]:
    """(VM columns, steps) for a trace. The primary (VM 0) runs first; ``decode`` reads results,
    ``message`` says which calls sent a message (the profile's ``Profile.message``: an arrow)."""
    steps: list[Step] = []
    vms: set[int] = {0}
    current = 0
    for r in records:
        seq = str(r.seq) if r.seq >= 0 else ""
        v = r.vm
        if r.kind == "note":
            if r.seq < 0:  # the suite's: a new system, or records left out
                current = 0
            steps.append(Step("plain", seq, r.detail))
            continue
        vms.add(v)
        if r.kind in ("hvc", "smc"):
            current = v
            steps.append(Step("note", seq, f"vCPU {r.vcpu}: {trace_call(r, decode, short=True)}", v, v))
            sent = message(r.call, r.args, r.result) if message is not None else None
            if sent is not None:  # a message arrow, where the profile says the call sent one
                to, size = sent
                if to != v and 0 <= to < 0x10000:
                    vms.add(to)
                    steps.append(Step("arrow", "", "message" if size is None else f"message {size} B", v, to))
        elif r.kind == "switch":
            if r.result is None:
                label = f"run vCPU {r.vcpu}"
            else:
                reading = (decode or _no_reading)(r.result, "run response") if 0 <= r.result <= _ERR else ""
                label = reading or trace_value(r.result, "run response")
            label += f" ({r.detail})" if r.detail else ""
            if v == current:
                steps.append(Step("note", seq, f"switch: {label}", v, v))
            else:
                steps.append(Step("arrow", seq, label, current, v))
            current = v
        else:
            current = v
            steps.append(Step("note", seq, f"vCPU {r.vcpu}: {r.kind} {r.detail}".rstrip(), v, v))
    return sorted(vms), steps


def sequence_ascii(
    records: Iterable[TraceRecord], col: int = 30, decode: Decoder | None = None, message: MessageOf | None = None
) -> list[str]:
    """The trace as a text message-sequence chart, one lifeline per VM."""
    vms, steps = sequence(records, decode, message)
    pos = {vm: 6 + n * col for n, vm in enumerate(vms)}
    width = 6 + len(vms) * col

    def blank() -> list[str]:
        row = [" "] * width
        for p in pos.values():
            row[p] = "|"
        return row

    def put(row: list[str], at: int, text: str) -> None:
        if at + len(text) > len(row):
            row.extend(" " * (at + len(text) - len(row)))
        row[at : at + len(text)] = list(text)

    head = [" "] * width
    put(head, 0, "  #")
    for vm, p in pos.items():
        put(head, p, f"VM {vm}")
    out = ["".join(head).rstrip()]
    for s in steps:
        row = blank()
        put(row, 0, f"{s.seq:>4}")
        if s.kind == "note":
            put(row, pos[s.src] + 2, s.text)
        elif s.kind == "arrow":
            a, b = pos[s.src], pos[s.dst]
            lo, hi = min(a, b), max(a, b)
            label = f" {s.text} "
            span = max(hi - lo - 1, len(label) + 4)
            body = list("-" * span)
            start = 2 if a < b else span - 2 - len(label)
            body[start : start + len(label)] = list(label)
            if a < b:
                body[-1] = ">"
            else:
                body[0] = "<"
            put(row, lo + 1, "".join(body))
        else:
            put(row, 6, s.text)
        out.append("".join(row).rstrip())
    return out


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
td.num{text-align:right}
code,pre,.mono{font-family:ui-monospace,monospace;font-size:90%}
pre{background:#f6f6f6;padding:6px;overflow-x:auto}
.PASS{background:#d9f2d9}.FAIL{background:#f7c6c6}.TIMEOUT{background:#f9d9b0}
.ERROR{background:#f2b3e6}.WAIVED{background:#e6e6f7}.SKIP{background:#eee}
.DEVIATION{background:#fbe7a5}.NOTRUN{background:#fff;color:#888}
.seqwrap{overflow-x:auto;max-width:100%}
.seq{table-layout:fixed}
.seq td,.seq th{min-width:12em;max-width:22em;overflow-wrap:anywhere}
.seq td{border:none;border-left:1px dashed #999;font-family:ui-monospace,monospace;font-size:85%;white-space:pre-wrap}
.seq tr.last td{background:#fde0e0}
.seq tr.last td.n::after{content:" \25C0 failed after this";color:#b00;white-space:nowrap}
.BLOCKED{background:#f4f4f4;color:#777}
.seq td.n{border:none;color:#888;text-align:right}
.seq td.arrow{border-bottom:2px solid #335;text-align:center;color:#335}
.seq td.plain{color:#666}
.side td{width:50%}
.failure{border-top:2px solid #999;margin-top:1.5em}
.guard{background:#f7c6c6;padding:6px;font-weight:bold}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cls(status: str) -> str:
    return status.replace(" ", "")


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*")


def rule_html(text: str) -> str:
    """The spec's rule text (inline Markdown: `code`, **bold**, *italic*, escaped pipes) as HTML."""
    text = text.replace("\\|", "|")
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(_e(text[pos : m.start()]))
        code, bold, italic = m.groups()
        out.append(f"<code>{_e(code)}</code>" if code else f"<b>{_e(bold)}</b>" if bold else f"<i>{_e(italic)}</i>")
        pos = m.end()
    return ("".join(out) + _e(text[pos:])).replace("`", "")  # a title cut inside `code` leaves one


def _anchor(nodeid: str) -> str:
    return "t-" + re.sub(r"[^A-Za-z0-9_-]+", "-", nodeid).strip("-")


def _html_rows(rows: Sequence[ClauseRow]) -> str:
    out = ["<table><tr><th>Clause</th><th>Section</th><th>Status</th><th>Passed</th><th>Rule</th><th>First failure</th></tr>"]
    for r in rows:
        first = r.first_failure
        ff = (
            f"<a class=mono href=\"#{_anchor(first.nodeid)}\">{_e(first.nodeid)}</a><br>{_e(first.failure_line)}" if first else ""
        )
        part = ""
        if r.strength == IMPL and r.clause.impl_defined:
            part = f"<br><i>implementation-defined: {_e(r.clause.impl_defined)}</i>"
        out.append(
            f"<tr class={_cls(r.status)}><td>{_e(r.clause.id)}</td>"
            f"<td>{r.clause.section}. {_e(r.profile.sections.get(r.clause.section, ''))}</td>"
            f"<td>{_e(r.status)}</td><td class=num>{r.passed}/{len(r.tests)}</td>"
            f"<td title=\"{_e(r.clause.rule)}\">{rule_html(r.clause.title)}{part}</td><td>{ff}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def sequence_html(
    records: Sequence[TraceRecord], decode: Decoder | None = None, message: MessageOf | None = None
) -> str:
    vms, steps = sequence(records, decode, message)
    col = {vm: n for n, vm in enumerate(vms)}
    ncols = len(vms) + 1  # + a column for notes (log lines, unreadable entries)
    out = [
        "<div class=seqwrap><table class=seq><tr><td class=n>#</td>"
        + "".join(f"<th>VM {vm}</th>" for vm in vms)
        + "<th>other</th></tr>"
    ]
    for n, s in enumerate(steps):
        cells = [f"<td class=n>{_e(s.seq)}</td>"]
        if s.kind == "note":
            i = col[s.src]
            cells += ["<td></td>"] * i + [f"<td>{_e(s.text)}</td>"] + ["<td></td>"] * (ncols - i - 1)
        elif s.kind == "arrow":
            a, b = col[s.src], col[s.dst]
            lo, hi = min(a, b), max(a, b)
            label = _e(s.text)
            text = f"{label} &#x2192;" if a < b else f"&#x2190; {label}"
            arrow = f"<td class=arrow colspan={hi - lo + 1}>{text}</td>"
            cells += ["<td></td>"] * lo + [arrow] + ["<td></td>"] * (ncols - hi - 1)
        else:
            cells += ["<td></td>"] * (ncols - 1) + [f"<td class=plain>{_e(s.text)}</td>"]
        last = " class=last" if n == len(steps) - 1 else ""  # the test's failing check came after this step
        out.append(f"<tr{last}>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _totals_html(summary: Summary) -> str:
    t = summary.totals()
    rows = []
    for label, counts in (("MUST clauses", t["must"]), ("implementation-defined", t["impl_defined"]), ("tests", t["tests"])):
        cells = "".join(f"<td class={_cls(k)}>{_e(k)}: {n}</td>" for k, n in counts.items() if n)
        rows.append(f"<tr><th>{_e(label)}</th>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def render_html(summary: Summary) -> str:
    parts = [
        "<!DOCTYPE html>",
        "<html lang=en><head><meta charset=utf-8>",
        f"<title>Conformance: {_e(summary.build)} / {_e(summary.profile.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Conformance of <code>{_e(summary.build)}</code> to <code>{_e(summary.profile.name)}</code></h1>",
        f"<p>Generated {_e(summary.generated)}; tests selected by {_e(summary.selected_by)}</p>",
        "<p class=env>" + _e("; ".join(f"{k} {v}" for k, v in summary.environment.items())) + "</p>",
    ]
    if summary.guard.message:
        parts.append(f"<p class=guard>{_e(summary.guard.message)}</p>")
    parts += [_totals_html(summary), "<h2>MUST clauses</h2>", _html_rows(summary.must)]
    parts += ["<h2>Implementation-defined parts</h2>", "<p>Reported apart; a deviation never fails the build.</p>"]
    parts.append(_html_rows(summary.impl))
    if notes := summary.waiver_notes():
        parts.append("<h2>Waivers not needed</h2><ul>")
        parts += [f"<li>{_e(note)}</li>" for note in notes]
        parts.append("</ul>")
    if summary.failures:
        parts.append("<h2>Failures</h2>")
    by_id = summary.profile.by_id
    for t in summary.failures:
        parts.append(
            f"<div class=failure id=\"{_anchor(t.nodeid)}\">"
            f"<h3 class={_cls(t.outcome)}>{_e(t.outcome)}: <code>{_e(t.nodeid)}</code></h3>"
        )
        titles = "; ".join(
            f"{_e(c)} ({rule_html(by_id[c].title)})" if c in by_id else _e(c) for c in t.blamed or t.clauses
        )
        parts.append(f"<p><b>Counts against:</b> {titles}</p>")
        if others := [c for c in t.clauses if c not in t.blamed]:
            parts.append(f"<p><b>Not reached (BLOCKED):</b> {_e(', '.join(others))}</p>")
        if t.waiver:
            parts.append(f"<p><b>Waived:</b> {_e(t.waiver)}</p>")
        if t.what:
            parts.append(f"<p><b>Checked:</b> {_e(t.what)}</p>")
            parts.append(
                "<table class=side><tr><th>expected (spec)</th><th>actual (build)</th></tr>"
                f"<tr><td><pre>{_e(t.expected)}</pre></td><td><pre>{_e(t.actual)}</pre></td></tr></table>"
            )
        if t.message:
            parts.append(f"<pre>{_e(t.message)}</pre>")
        if t.calls:
            # The last call is the one whose result (or aftermath) the failing check looked at.
            shown = [_e(c) for c in t.calls[:-1]] + [f"<mark>{_e(t.calls[-1])}</mark>  \u25c0 last call before the failed check"]
            parts.append("<p><b>Calls the test made</b></p><pre>" + "\n".join(shown) + "</pre>")
        if t.trace:
            parts.append("<p><b>Hypercall trace</b> (message sequence)</p>")
            parts.append(sequence_html(t.trace, summary.profile.decode, summary.profile.message))
            raw = "\n".join(render(r, summary.profile.decode) for r in t.trace)
            parts.append("<details><summary>raw trace</summary><pre>" + _e(raw) + "</pre></details>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def md_escape(text: object) -> str:
    """Escape for inline Markdown (table cells included): no markup, no HTML, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_code_block(lines: Iterable[str], lang: str = "text") -> str:
    body = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


_MD_BADGE = {
    outcomes.PASS: "PASS",
    outcomes.FAIL: "**FAIL**",
    outcomes.TIMEOUT: "**TIMEOUT**",
    outcomes.ERROR: "**ERROR**",
    outcomes.DEVIATION: "*DEVIATION*",
    outcomes.WAIVED: "*WAIVED*",
    outcomes.SKIP: "SKIP",
    outcomes.NOT_RUN: "NOT RUN",
}


def _md_rows(rows: Sequence[ClauseRow]) -> list[str]:
    out = ["| Clause | § | Status | Passed | Rule | First failure |", "|---|---|---|---|---|---|"]
    for r in rows:
        first = r.first_failure
        ff = f"`{first.nodeid.replace('`', '')}`: {md_escape(first.failure_line)}" if first else ""
        out.append(
            f"| {md_escape(r.clause.id)} | {r.clause.section} | {_MD_BADGE.get(r.status, md_escape(r.status))} | "
            f"{r.passed}/{len(r.tests)} | {md_escape(r.clause.title)} | {ff} |"
        )
    return out


def render_markdown(summary: Summary) -> str:
    t = summary.totals()
    out = [
        f"# Conformance of `{summary.build.replace('`', '')}` to `{summary.profile.name}`",
        "",
        f"Generated {summary.generated}; tests selected by {md_escape(summary.selected_by)}.",
        "",
        md_escape("; ".join(f"{k} {v}" for k, v in summary.environment.items())),
        "",
    ]
    if summary.guard.message:
        out += [f"> **{md_escape(summary.guard.message)}**", ""]
    for label, counts in (("MUST clauses", t["must"]), ("Implementation-defined", t["impl_defined"]), ("Tests", t["tests"])):
        out.append(f"- **{label}:** " + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none"))
    out += ["", "## MUST clauses", "", *_md_rows(summary.must), ""]
    out += ["## Implementation-defined parts", "", "Reported apart; a deviation never fails the build.", ""]
    out += [*_md_rows(summary.impl), ""]
    if notes := summary.waiver_notes():
        out += ["## Waivers not needed", ""]
        out += [f"- {md_escape(note)}" for note in notes]
        out.append("")
    if summary.failures:
        out += ["## Failures", ""]
    for test in summary.failures:
        out += [f"### {test.outcome}: `{test.nodeid.replace('`', '')}`", ""]
        out.append("- **Counts against:** " + md_escape(", ".join(test.blamed or test.clauses)))
        if others := [c for c in test.clauses if c not in test.blamed]:
            out.append("- **Not reached (BLOCKED):** " + md_escape(", ".join(others)))
        if test.waiver:
            out.append(f"- **Waived:** {md_escape(test.waiver)}")
        if test.what:
            out.append(f"- **Checked:** {md_escape(test.what)}")
        out.append("")
        if test.what:
            side = f"| {md_escape(test.expected)} | {md_escape(test.actual)} |"
            out += ["| expected (spec) | actual (build) |", "|---|---|", side, ""]
        if test.message:
            out += [md_code_block(test.message.split("\n")), ""]
        if test.calls:
            out += ["Calls the test made:", "", md_code_block(test.calls), ""]
        if test.trace:
            chart = sequence_ascii(test.trace, decode=summary.profile.decode, message=summary.profile.message)
            out += ["Hypercall trace as a message sequence:", "", md_code_block(chart), ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(summary: Summary, path: str | Path) -> None:
    """``.html``/``.htm`` → HTML, ``.md``/``.markdown`` → Markdown (the plugin checks the suffix up front)."""
    p = Path(path)
    text = render_html(summary) if p.suffix.lower() in (".html", ".htm") else render_markdown(summary)
    p.write_text(text, encoding="utf-8")
