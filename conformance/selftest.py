"""The suite's self-test: run the conformance suite against every deliberately wrong build.

    python -m conformance.selftest                  # every mutant of the default profile's catalogue, 2 at a time
    python -m conformance.selftest -j 4 --json selftest.json
    python -m conformance.selftest --mutant send_accepts_4097 --mutant clear_empty_returns_0

A *catalogue* is a module with ``CATALOGUE: dict[str, build]`` (each build with ``clauses``, the
clause IDs it is meant to break, and ``description``) and optionally ``CONTROLS`` (builds that
must pass). It is loaded by name, so this package does not depend on any particular hypervisor.

First the controls run — the default build (``--hv reference``) and the catalogue's ``CONTROLS``;
if one fails, the self-test stops with an error (exit 2). Then each mutant meets, in its own
``pytest`` process (``--hv MODULE:NAME --conformance-json ...``), ``-j`` at a time, the hand-written
tests of the clauses it declares (``--clause``); one that survives them gets the whole suite, so a
survivor is always judged by every test. ``--full`` runs the whole suite against every mutant (the
precision of whole-suite reports). A mutant is *killed* when at least one MUST clause does not
pass; a *survivor* is a gap in the suite and makes the exit status 1. A run that crashes or hangs
counts as killed but is flagged.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

import profiles
from conformance import outcomes

CONTROL_BUILD = "reference"
BAD = ("FAIL", "TIMEOUT", "ERROR")
#: The statuses with which a report blames a clause (a verdict on the build; ERROR is not one).
BLAME = ("FAIL", "TIMEOUT")
#: A suite run that takes longer than this is stopped and reported as hung.
RUN_TIMEOUT = 600.0
#: Per test, in a self-test run (0: none). Off by default: every loop of the suite is bounded
#: (a wrong value is a FAIL within a bounded number of calls, a call that never returns is a
#: TIMEOUT of the build's own budget), and a SIGALRM limit that fires inside a Hypothesis example
#: surfaces as a Flaky error under load. ``RUN_TIMEOUT`` still bounds a whole suite run.
TEST_TIMEOUT = 0.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    """One suite run against one build."""

    name: str
    hv: str
    intended: tuple[str, ...] = ()
    description: str = ""
    #: "passed" (every MUST clause passes), "killed", "crashed" (no report), "hung" (timed out).
    status: str = ""
    failed_clauses: list[str] = field(default_factory=list)
    #: The MUST clauses the report blamed (FAIL or TIMEOUT), to compare with ``intended``.
    blamed: list[str] = field(default_factory=list)
    #: The clauses reported DEVIATION (an implementation-defined part or clause the build does its
    #: own way): what a specification-behaviour control is expected to show, never a kill.
    deviations: list[str] = field(default_factory=list)
    failed_tests: int = 0
    example: str = ""
    seconds: float = 0.0
    detail: str = ""
    #: "targeted": killed by the hand-written tests of its declared clauses;
    #: "full": the whole suite ran (``--full``, or the targeted run did not kill it).
    mode: str = "full"

    @property
    def killed(self) -> bool:
        return self.status in ("killed", "crashed", "hung")

    @property
    def hits_intended(self) -> bool:
        """Whether a clause the mutant is meant to break is among the failures."""
        return bool(set(self.intended) & set(self.failed_clauses))

    @property
    def precision(self) -> float | None:
        """Of the clauses the report blamed, the share the mutant declares (None: it blamed none)."""
        if not self.blamed:
            return None
        return len(set(self.blamed) & set(self.intended)) / len(self.blamed)

    @property
    def recalled(self) -> bool:
        """Whether the report blamed at least one clause the mutant declares."""
        return bool(set(self.blamed) & set(self.intended))


def load_catalogue(module: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The catalogue's mutants and controls, by name."""
    mod = importlib.import_module(module)
    catalogue = getattr(mod, "CATALOGUE", None)
    if not isinstance(catalogue, Mapping):
        raise SystemExit(f"selftest: {module} has no CATALOGUE dict")
    controls = getattr(mod, "CONTROLS", {})
    return dict(catalogue), dict(controls)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # A source checkout that is not installed: make the project importable from the subprocess.
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), path) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def suite_command(hv: str, json_path: str | None, extra: Sequence[str] = (), profile: str = profiles.DEFAULT) -> list[str]:
    """The pytest command line of one self-test suite run against ``hv`` (JSON summary optional)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        profiles.get(profile).tests,
        "--profile",
        profile,
        "-p",
        "no:hafnium_conformance",  # the entry point, when installed: load the module once
        "-p",
        "conformance.plugin",
        "-p",
        "no:cacheprovider",
        "--hv",
        hv,
        "-q",
        "--no-header",
        "--no-clause-table",
        *(["--conformance-json", json_path] if json_path else []),
        "-p",
        "conformance.selftest",
        *extra,
    ]


class SelftestTimeout(Exception):
    """A test of a self-test run took longer than ``--selftest-test-timeout`` (counted as ERROR)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--selftest-test-timeout",
        dest="selftest_test_timeout",
        type=float,
        default=0.0,
        help="self-test runs: stop a test after this many seconds (0: no limit)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A per-test time limit: a mutant that leaves a guest spinning on a failing hypercall would
    otherwise keep ``Hv.run`` busy for its whole YIELD budget in every test that touches it."""
    limit = float(item.config.getoption("selftest_test_timeout", 0.0) or 0.0)
    if limit <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise SelftestTimeout(f"test took longer than {limit:g} s (self-test time limit)")

    previous = signal.signal(signal.SIGALRM, expire)
    # Then again every half second: a test that catches the first (Hypothesis does) ends soon after.
    signal.setitimer(signal.ITIMER_REAL, limit, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """In a self-test run (``-p conformance.selftest``): no Hypothesis shrinking.

    A mutant needs a verdict, not a minimal counter-example; shrinking a failing random test can
    take minutes. Runs after the suite's conftest registered the ``hf-ci`` profile.
    """
    try:
        from hypothesis import Phase, settings
    except ImportError:  # pragma: no cover - the suite's random tests need hypothesis anyway
        return
    try:
        base = settings.get_profile("hf-ci")
    except Exception:  # noqa: BLE001 - no such profile: nothing to adjust
        return
    settings.register_profile("hf-ci", parent=base, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def summarise(report: Mapping[str, Any], result: RunResult) -> None:
    """Fill ``result`` from a ``--conformance-json`` report."""
    result.failed_clauses = [c["id"] for c in report.get("clauses", []) if c.get("status") in BAD]
    result.blamed = [c["id"] for c in report.get("clauses", []) if c.get("status") in BLAME]
    rows = (*report.get("clauses", []), *report.get("impl_defined", []))
    result.deviations = list(dict.fromkeys(c["id"] for c in rows if c.get("status") == outcomes.DEVIATION))
    failing = [t for t in report.get("tests", []) if t.get("outcome") in BAD and not t.get("impl_defined")]
    result.failed_tests = len(failing)
    if failing:
        on_target = [t for t in failing if set(t.get("clauses", ())) & set(result.intended)]
        first = (on_target or failing)[0]
        node = str(first.get("nodeid", "")).rsplit("/", 1)[-1]
        what = first.get("what") or first.get("message", "")
        got = f": expected {first.get('expected')}, got {first.get('actual')}" if first.get("expected") != "" else ""
        result.example = f"{node} [{first.get('outcome')}] {what}{got}"[:300]
    result.status = "killed" if result.failed_clauses or failing else "passed"


DETERMINISTIC = ("-k", "not test_model and not test_hostile")


def run_one(
    name: str,
    hv: str,
    build: object,
    extra: Sequence[str] = (),
    timeout: float = RUN_TIMEOUT,
    profile: str = profiles.DEFAULT,
) -> RunResult:
    """The whole suite against ``hv`` in a fresh pytest process."""
    result = RunResult(
        name,
        hv,
        tuple(getattr(build, "clauses", ())),
        str(getattr(build, "description", "")),
    )
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hf-selftest-") as tmp:
        json_path = str(Path(tmp) / "report.json")
        try:
            proc = subprocess.run(
                suite_command(hv, json_path, extra, profile),
                cwd=tmp,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            result.status, result.detail = "hung", f"no result within {timeout:.0f} s"
        else:
            try:
                report = json.loads(Path(json_path).read_text())
            except (OSError, ValueError):
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
                result.status = "crashed"
                result.detail = f"exit {proc.returncode}, no report: " + " | ".join(tail)
            else:
                summarise(report, result)
                ran = sum(report.get("totals", {}).get("tests", {}).values())
                if proc.returncode not in (0, 1) or not ran:
                    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
                    result.status = "crashed"
                    result.detail = f"pytest exit {proc.returncode}, {ran} tests reported: " + " | ".join(tail)
    result.seconds = time.monotonic() - start
    return result


def _table(results: Sequence[RunResult]) -> str:
    rows = [("mutant", "meant to break", "result", "blamed clauses", "precision", "tests", "example failing test")]
    for r in results:
        status = r.status if r.status != "passed" else "SURVIVED"
        if r.status == "killed" and not r.hits_intended:
            status = "killed*"
        clauses = ",".join(r.blamed) or "-"
        if len(clauses) > 44:
            clauses = clauses[:41] + "..."
        precision = "-" if r.precision is None else f"{r.precision:.2f}"
        rows.append((r.name, ",".join(r.intended), status, clauses, precision, str(r.failed_tests), r.example or r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(6)]
        lines.append("  ".join([*cells, row[6][:100]]).rstrip())
    return "\n".join(lines)


def precision_recall(results: Sequence[RunResult]) -> tuple[float, float]:
    """Mean precision (over the mutants whose report blamed a clause) and recall (the share of
    mutants whose report blamed at least one declared clause)."""
    scores = [r.precision for r in results if r.precision is not None]
    precision = sum(scores) / len(scores) if scores else 0.0
    recall = sum(r.recalled for r in results) / len(results) if results else 0.0
    return precision, recall


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m conformance.selftest", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default=profiles.DEFAULT, help=f"the profile to self-test (default {profiles.DEFAULT})")
    p.add_argument("--catalogue", default=None, help="module with CATALOGUE (default: the profile's mutants)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="suite runs in parallel (default 2)")
    p.add_argument("--mutant", action="append", default=[], metavar="NAME", help="only these mutants (repeatable)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--timeout", type=float, default=RUN_TIMEOUT, help="seconds per suite run before it counts as hung")
    p.add_argument(
        "--test-timeout",
        type=float,
        default=TEST_TIMEOUT,
        help=f"seconds per test before it is stopped as an ERROR (default {TEST_TIMEOUT:g}; 0: none)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="leave out the randomised tests (test_model, test_hostile): what the hand-written tests alone kill",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="run the whole suite against every mutant (the precision of whole-suite reports); by default a "
        "mutant first meets the hand-written tests of its declared clauses, and gets the whole suite only if it "
        "survives them",
    )
    p.add_argument("--no-control", action="store_true", help="skip the control runs (not for CI)")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        profile = profiles.get(args.profile)
    except LookupError as e:
        print(f"selftest: --profile: {e}", file=sys.stderr)
        return 2
    args.catalogue = args.catalogue or profile.mutants
    if not args.catalogue:
        print(f"selftest: profile {profile.name} has no mutant catalogue", file=sys.stderr)
        return 2
    catalogue, controls = load_catalogue(args.catalogue)
    if args.list:
        for name, build in catalogue.items():
            print(f"{name:40} {','.join(getattr(build, 'clauses', ())):28} {getattr(build, 'description', '')}")
        return 0
    unknown = [m for m in args.mutant if m not in catalogue]
    if unknown:
        print(f"selftest: no such mutant(s) in {args.catalogue}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    names = args.mutant or list(catalogue)
    jobs = max(1, args.jobs)
    extra = [*(DETERMINISTIC if args.deterministic else ()), "--selftest-test-timeout", str(args.test_timeout)]
    started = time.monotonic()

    control_runs: list[RunResult] = []
    if not args.no_control:
        print(f"selftest: control runs ({CONTROL_BUILD} and {len(controls)} more), {jobs} at a time ...", flush=True)
        todo = [("control:" + CONTROL_BUILD, CONTROL_BUILD, None)]
        todo += [(f"control:{n}", f"{args.catalogue}:{n}", b) for n, b in controls.items()]
        with ThreadPoolExecutor(jobs) as pool:
            control_runs = list(
                pool.map(lambda t: run_one(t[0], t[1], t[2], extra, timeout=args.timeout, profile=profile.name), todo)
            )
        for r in control_runs:
            deviations = f"; DEVIATION: {', '.join(r.deviations)}" if r.deviations else ""
            print(f"{r.name}: {r.status} ({r.failed_tests} failing tests, {r.seconds:.1f} s){deviations} {r.example or r.detail}")
        if any(r.status != "passed" or r.detail for r in control_runs):
            print("selftest: a control build does not pass the suite; mutant results would mean nothing", file=sys.stderr)
            _write_json(args.json, control_runs, [], time.monotonic() - started, jobs, args.deterministic)
            return 2

    print(f"selftest: {len(names)} mutants, {jobs} at a time", flush=True)
    done: list[RunResult] = []
    lock = threading.Lock()
    mutants_started = time.monotonic()

    def work(name: str) -> RunResult:
        hv, build = f"{args.catalogue}:{name}", catalogue[name]
        declared = tuple(getattr(build, "clauses", ()))
        r: RunResult | None = None
        spent = 0.0
        if not args.full and declared:
            # The hand-written tests of its clauses first (the randomised ones take longer to find it).
            targeted = [*extra, "--clause", ",".join(declared), *([] if args.deterministic else DETERMINISTIC)]
            r = run_one(name, hv, build, targeted, timeout=args.timeout, profile=profile.name)
            r.mode = "targeted"
            if r.status != "killed":  # survived (or crashed, hung) its own clauses' tests: the whole suite decides
                spent, r = r.seconds, None
        if r is None:
            r = run_one(name, hv, build, extra, timeout=args.timeout, profile=profile.name)
            r.seconds += spent
        with lock:
            done.append(r)
            n = len(done)
            minutes, seconds = divmod(round((time.monotonic() - mutants_started) / n * (len(names) - n)), 60)
            blamed = ",".join(r.blamed) or "-"
            print(
                f"  [{n}/{len(names)}, ETA {minutes}:{seconds:02d}] {name}: {r.status}, blamed {blamed} ({r.seconds:.1f} s)",
                flush=True,
            )
        return r

    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(work, names))
    elapsed = time.monotonic() - started

    print()
    print(_table(results))
    survivors = [r for r in results if not r.killed]
    flagged = [r for r in results if r.status in ("crashed", "hung")]
    off_target = [r for r in results if r.status == "killed" and not r.hits_intended]
    print()
    print(
        f"mutants: {len(results)}, killed: {len(results) - len(survivors)}, survived: {len(survivors)}"
        f" (kill rate {100 * (len(results) - len(survivors)) / max(len(results), 1):.1f}%);"
        f" {elapsed:.1f} s with -j {jobs}"
    )
    if flagged:
        print(f"crashed or hung (counted as killed): {', '.join(r.name for r in flagged)}")
    if off_target:
        print(f"* killed, but not through a clause it is meant to break: {', '.join(r.name for r in off_target)}")
    if survivors:
        print(f"SURVIVORS (gaps in the suite): {', '.join(r.name for r in survivors)}")
    precision, recall = precision_recall(results)
    targeted = sum(r.mode == "targeted" for r in results)
    print(
        f"precision {precision:.3f} (mean over mutants of blamed-and-declared / blamed clauses);"
        f" recall {100 * recall:.1f}% (mutants whose report blames a declared clause)"
    )
    if targeted:
        print(
            f"{targeted} of {len(results)} mutants were killed by the hand-written tests of their declared clauses; "
            "their precision is that run's. --full runs the whole suite against every mutant."
        )
    imprecise = [r for r in results if r.precision is not None and r.precision < 1]
    if imprecise:
        print(
            "blamed beyond the declared clauses: "
            + "; ".join(f"{r.name} ({','.join(c for c in r.blamed if c not in r.intended)})" for r in imprecise)
        )
    missed = [r for r in results if not r.recalled]
    if missed:
        print(f"blamed no declared clause: {', '.join(r.name for r in missed)}")
    _write_json(args.json, control_runs, results, elapsed, jobs, args.deterministic)
    return 1 if survivors else 0


def _write_json(
    path: str | None, controls: Sequence[RunResult], results: Sequence[RunResult], elapsed: float, jobs: int, deterministic: bool
) -> None:
    if not path:
        return
    killed = sum(r.killed for r in results)
    doc = {
        "schema": "hafnium-conformance-selftest/1",
        "jobs": jobs,
        "deterministic_only": deterministic,
        "mode": "full" if all(r.mode == "full" for r in results) else "targeted-first",
        "seconds": round(elapsed, 2),
        "controls": [asdict(r) for r in controls],
        "mutants": [
            {**asdict(r), "killed": r.killed, "hits_intended": r.hits_intended, "precision": r.precision, "recalled": r.recalled}
            for r in results
        ],
        "totals": {
            "mutants": len(results),
            "killed": killed,
            "survived": len(results) - killed,
            "precision": round(precision_recall(results)[0], 4),
            "recall": round(precision_recall(results)[1], 4),
        },
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
