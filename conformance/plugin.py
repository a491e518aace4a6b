"""The pytest plugin of the conformance suite (entry point ``pytest11: hafnium_conformance``).

Wiring (see ``docs/alternate-builds.md`` and ``docs/reports.md``):

* options ``--hv``, ``--clause``, ``--waivers``, ``--conformance-json``, ``--conformance-report``,
  ``--no-clause-table``; ini ``conformance_registry_check`` (auto / always / never);
* markers ``clause(*ids)``, ``requires(*capabilities)``, ``impl_defined``;
* fixtures ``hv_build`` (session) and ``boot`` (function);
* every conformance test's reports carry ``user_properties`` (clause, strength, outcome and, on
  failure, what/expected/actual/message/calls/trace) — they survive xdist and land in JUnit XML;
* the controller (the only process in a serial run) aggregates per clause from those reports,
  prints the clause table, writes the JSON/HTML/Markdown reports and runs the completeness guard.

The plugin is inert for runs without a ``clause``-marked test: no table, no guard, no reports
(unless a report path was asked for explicitly).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import math
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import profiles
from conformance import about, outcomes, report
from conformance.outcomes import ConformanceFailure
from conformance.protocol import Build, BuildError, TraceRecord, build_profiles, build_randomised, trace_records
from conformance.waivers import WaiverError, Waivers
from conformance.waivers import load as load_waivers
from profiles import Profile

if TYPE_CHECKING:
    from conformance.harness import Hv
    from conformance.protocol import GuestVM

BUILD_GROUP = "hafnium_conformance.builds"
DEFAULT_HV = "reference"
#: Used when the package is not installed (running from a source checkout): entry points missing.
FALLBACK_BUILDS = {"reference": "reference_hv.build:ReferenceBuild"}
TRACE_LINES = report.TRACE_CAP
MESSAGE_CAP = 4000

_REGISTRY_CHECK_INI = "conformance_registry_check"


# --------------------------------------------------------------------------------------------
# Build resolution
# --------------------------------------------------------------------------------------------


class BuildSpecError(ValueError):
    """``--hv SPEC`` names nothing usable."""


def known_builds() -> dict[str, str]:
    """Entry-point name -> ``module:attr`` for group ``hafnium_conformance.builds``."""
    found = dict(FALLBACK_BUILDS)
    for ep in importlib.metadata.entry_points(group=BUILD_GROUP):
        found[ep.name] = ep.value
    return found


def _import_from_cwd() -> None:
    """Let ``--hv mybuild:Build`` find ``./mybuild.py`` as ``python -m`` would (the ``hfconform``
    script's own directory is first on ``sys.path`` instead)."""
    import os
    import sys

    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def resolve_build(spec: str) -> Build:
    """An entry-point name, or ``module:attr`` (a Build instance, a class, or a zero-arg factory);
    ``qemu:IMAGE`` / ``qemu:CONFIG.toml`` / ``qemu:stub`` is the QEMU backend (docs/qemu-backend.md)."""
    if spec.startswith("qemu:"):
        from conformance.backends.qemu import build_from_spec

        try:
            return build_from_spec(spec[len("qemu:") :])
        except ValueError as e:
            raise BuildSpecError(f"--hv {spec!r}: {e}") from None
    known = known_builds()
    target = known.get(spec, spec)
    names = ", ".join(sorted(known)) or "(none)"
    modname, _, attr = target.partition(":")
    if ":" not in target or not modname.strip() or not attr.strip() or modname.startswith("."):
        raise BuildSpecError(
            f"--hv {spec!r}: not a known build entry point and not 'module:attr' (an absolute module name and an "
            f"attribute). Known entry points: {names}"
        )
    _import_from_cwd()
    try:
        obj: Any = importlib.import_module(modname)
    except ImportError as e:
        raise BuildSpecError(f"--hv {spec!r}: cannot import module {modname!r}: {e}. Known entry points: {names}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's module failed while importing: say so, no traceback
        where = f" ({e.filename}, line {e.lineno})" if isinstance(e, SyntaxError) else ""
        raise BuildSpecError(f"--hv {spec!r}: importing module {modname!r} failed: {type(e).__name__}: {e}{where}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            msg = f"--hv {spec!r}: module {modname!r} has no attribute {attr!r}. Known entry points: {names}"
            raise BuildSpecError(msg) from None
        except Exception as e:  # noqa: BLE001 - a module __getattr__ that fails
            raise BuildSpecError(f"--hv {spec!r}: reading {attr!r} of {modname!r} failed: {type(e).__name__}: {e}") from None
    if isinstance(obj, type) or (not hasattr(obj, "boot") and callable(obj)):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001 - a factory that fails is the user's build, report it plainly
            raise BuildSpecError(f"--hv {spec!r}: calling {target} failed: {type(e).__name__}: {e}") from None
    try:
        name, boot = getattr(obj, "name", None), getattr(obj, "boot", None)
        caps = getattr(obj, "capabilities", None)
        declared = getattr(obj, "profiles", None)
    except Exception as e:  # noqa: BLE001 - a property of the build that raises
        raise BuildSpecError(f"--hv {spec!r}: reading the build {target}'s attributes failed: {type(e).__name__}: {e}") from None
    if not callable(boot) or not isinstance(name, str) or not name:
        raise BuildSpecError(f"--hv {spec!r}: {target} is not a build (needs a non-empty str 'name' and a 'boot(config)' method)")
    if caps is None:
        try:
            obj.capabilities = frozenset()
        except AttributeError:
            raise BuildSpecError(f"--hv {spec!r}: {target} has no 'capabilities'") from None
    elif not isinstance(caps, (set, frozenset, tuple, list)) or not all(isinstance(c, str) for c in caps):
        raise BuildSpecError(f"--hv {spec!r}: {target}.capabilities must be a set of strings, not {type(caps).__name__}")
    if declared is not None and (
        isinstance(declared, str)
        or not isinstance(declared, (set, frozenset, tuple, list))
        or not all(isinstance(p, str) for p in declared)
    ):
        raise BuildSpecError(
            f"--hv {spec!r}: {target}.profiles must be a set of profile names (e.g. {{'{profiles.DEFAULT}'}}), "
            f"not {declared!r}"
        )
    return obj  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# Clause selection
# --------------------------------------------------------------------------------------------


def parse_clause_selection(values: Sequence[str], profile: Profile) -> list[str]:
    """``--clause`` values (repeatable, comma-separated; a family like ``SEND`` means SEND-*;
    ``hafnium-2018-10:SEND-5`` names the profile too, which must be the one judged)."""
    selected: list[str] = []
    by_id = profile.by_id
    families = {cid.rsplit("-", 1)[0] for cid in by_id}
    for value in values:
        if not value.replace(",", "").strip():
            raise pytest.UsageError(f"--clause {value!r}: names no clause (e.g. --clause SEND-6 or --clause SEND)")
        for raw in value.split(","):
            named, cid = profiles.split_qualified(raw.strip(), profile.name)
            cid = cid.upper()
            if not cid:
                continue
            if named != profile.name:
                raise pytest.UsageError(
                    f"--clause {raw.strip()!r}: a clause of profile {named!r}, but this run judges {profile.name} "
                    f"(use --profile {named})"
                )
            if cid in by_id:
                ids = [cid]
            elif cid in families:
                ids = [c for c in by_id if c.rsplit("-", 1)[0] == cid]
            else:
                close = difflib.get_close_matches(cid, list(by_id), n=5, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; clause families: {', '.join(sorted(families))}"
                raise pytest.UsageError(f"--clause {raw.strip()!r}: no such clause in profile {profile.name}{hint}")
            selected += [i for i in ids if i not in selected]
    return selected


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemInfo:
    clauses: tuple[str, ...]
    impl_defined: bool


@dataclass
class _Acc:
    """What the controller knows about one test from its reports."""

    props: list[tuple[str, object]] = field(default_factory=list)
    duration: float = 0.0
    outcome: str | None = None


@dataclass
class _State:
    profile: Profile
    hv_spec: str
    hv_explicit: bool
    selection: list[str] | None
    waivers: Waivers
    json_path: str | None
    report_path: str | None
    junit_path: str | None
    table: bool
    is_worker: bool
    build: Build | None = None
    build_name: str | None = None
    selected: list[str] | None = None
    #: What chose this run's tests ("" = the whole suite); a partial run reports only the clauses
    #: it ran the tests of (report.reported_clauses).
    selected_by: str = ""
    xdist_ids: list[str] | None = None
    results: dict[str, _Acc] = field(default_factory=dict)
    crashed: dict[str, str] = field(default_factory=dict)
    summary: report.Summary | None = None
    written: list[str] = field(default_factory=list)

    def get_build(self) -> Build:
        if self.build is None:
            try:
                self.build = resolve_build(self.hv_spec)
            except BuildSpecError as e:
                raise BuildError(str(e)) from None
            self.build_name = self.build.name
        return self.build

    @property
    def active(self) -> bool:
        return bool(self.selected) or bool(self.results)


_STATE = pytest.StashKey[_State]()
_INFO = pytest.StashKey[_ItemInfo]()
_HVS = pytest.StashKey["list[Hv]"]()
_LAST = pytest.StashKey[str]()


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


# --------------------------------------------------------------------------------------------
# Options, markers, configuration
# --------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hafnium-conformance", "Hafnium ABI conformance")
    group.addoption(
        "--profile",
        dest="hf_profile",
        default=None,
        metavar="NAME",
        help=f"the ABI profile to judge: one of {', '.join(profiles.names())} (default: {profiles.DEFAULT})",
    )
    group.addoption(
        "--hv",
        dest="hf_hv",
        default=None,
        metavar="SPEC",
        help=f"build under test: an entry point of group {BUILD_GROUP} or module:attr (default: {DEFAULT_HV})",
    )
    group.addoption(
        "--clause",
        dest="hf_clause",
        action="append",
        default=[],
        metavar="ID",
        help="run only tests of these clauses (repeatable, comma-separated; 'SEND' = every SEND-n)",
    )
    group.addoption("--waivers", dest="hf_waivers", default=None, metavar="FILE", help="waiver file (TOML or JSON)")
    group.addoption("--conformance-json", dest="hf_json", default=None, metavar="PATH", help="write the JSON summary here")
    group.addoption("--conformance-report", dest="hf_report", default=None, metavar="PATH", help="write a report: .html or .md")
    group.addoption(
        "--conformance-junit",
        dest="hf_junit",
        default=None,
        metavar="PATH",
        help="write JUnit XML from the conformance verdicts (ERROR as <error>, DEVIATION/WAIVED as <skipped>)",
    )
    group.addoption("--no-clause-table", dest="hf_no_table", action="store_true", help="do not print the clause table")
    parser.addini(
        _REGISTRY_CHECK_INI,
        "clauses-without-tests self-check: auto (full suite only), always, never",
        default="auto",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before Hypothesis's own pytest_configure reads --hypothesis-profile; importing Hypothesis
    # here (not at import time) leaves its modules to pytest's assertion rewriting.
    from conformance import budgets

    budgets.register()
    config.addinivalue_line("markers", "clause(*ids): the spec clause(s) this conformance test checks, e.g. clause('SEND-6')")
    config.addinivalue_line("markers", "requires(*capabilities): build capabilities the test needs; skipped without them")
    config.addinivalue_line("markers", "impl_defined: the test checks an implementation-defined part (failure = deviation)")
    hv = config.getoption("hf_hv")
    if hv is not None and not hv.strip():
        raise pytest.UsageError("--hv '': names no build (an entry point such as 'reference', 'module:attr' or 'qemu:IMAGE')")
    try:
        profile = profiles.get(config.getoption("hf_profile") or profiles.DEFAULT)
    except LookupError as e:
        raise pytest.UsageError(f"--profile: {e}") from None
    outcomes.use_profile(profile)
    selection = parse_clause_selection(config.getoption("hf_clause") or [], profile)
    waivers = Waivers()
    if path := config.getoption("hf_waivers"):
        try:
            waivers = load_waivers(path, profile)
        except WaiverError as e:
            raise pytest.UsageError(str(e)) from None
    report_path = config.getoption("hf_report")
    if report_path is not None and Path(report_path).suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
        raise pytest.UsageError(f"--conformance-report {report_path!r}: the file name must end in .html or .md")
    if not hasattr(config, "workerinput"):
        for option, path in (
            ("--conformance-json", config.getoption("hf_json")),
            ("--conformance-report", report_path),
            ("--conformance-junit", config.getoption("hf_junit")),
        ):
            if path is not None and (problem := _unwritable(path)):
                raise pytest.UsageError(f"{option} {path!r}: {problem}")
    state = _State(
        profile=profile,
        hv_spec=hv or DEFAULT_HV,
        hv_explicit=hv is not None,
        selection=selection or None,
        waivers=waivers,
        json_path=config.getoption("hf_json"),
        report_path=report_path,
        junit_path=config.getoption("hf_junit"),
        table=not config.getoption("hf_no_table"),
        is_worker=hasattr(config, "workerinput"),
    )
    config.stash[_STATE] = state
    if not state.is_worker:
        config.pluginmanager.register(_Controller(state), "hafnium-conformance-controller")
    if state.hv_explicit and not state.is_worker:
        try:
            state.build = resolve_build(state.hv_spec)
        except BuildSpecError as e:
            raise pytest.UsageError(str(e)) from None
        state.build_name = state.build.name


# --------------------------------------------------------------------------------------------
# Collection
# --------------------------------------------------------------------------------------------


def _clause_ids(item: pytest.Item) -> list[str] | None:
    marks = list(item.iter_markers("clause"))
    if not marks:
        return None
    ids: list[str] = []
    for mark in marks:
        for arg in mark.args:
            ids += [p.strip() for p in str(arg).split(",") if p.strip()]
    return list(dict.fromkeys(ids))


def _collect_error(session: pytest.Session, nodeid: str, text: str) -> None:
    rep = pytest.CollectReport(nodeid, "failed", text, [])
    session.config.hook.pytest_collectreport(report=rep)


def _selected_by(config: pytest.Config, items: Sequence[pytest.Item], state: _State) -> str:
    """What narrowed this run to part of the suite, as the user said it; "" for the whole suite."""
    opt = config.option
    parts: list[str] = []
    if state.selection:
        parts.append("--clause " + ",".join(state.selection))
    if opt.keyword:
        parts.append(f"-k {opt.keyword!r}")
    if opt.markexpr:
        parts.append(f"-m {opt.markexpr!r}")
    if getattr(opt, "lf", False):
        parts.append("--lf")
    if getattr(opt, "deselect", None):
        parts.append("--deselect")
    if nodes := [str(a) for a in config.args if "::" in str(a)]:
        parts.append("node IDs " + " ".join(nodes))
    if not parts:
        collected = {Path(str(item.path)).resolve() for item in items}
        suite_dir = _suite_dir(state.profile)
        suite_files = set(suite_dir.glob("test_*.py")) if suite_dir is not None else set()
        if suite_files and not suite_files <= collected:
            missing = sorted(p.name for p in suite_files - collected)
            parts.append("a subset of the suite's files (without " + ", ".join(missing) + ")")
    return "; ".join(parts)


def _suite_dir(profile: Profile) -> Path | None:
    """The directory of the profile's conformance tests."""
    import importlib.util

    spec = importlib.util.find_spec(profile.tests)
    origin = spec.origin if spec is not None else None
    return Path(origin).resolve().parent if origin else None


def _item_profile(item: pytest.Item) -> str | None:
    """The registered profile whose tests package holds ``item``'s module (None: none of them)."""
    module = getattr(getattr(item, "module", None), "__name__", "")
    for name, package in profiles.REGISTRY.items():
        if module.startswith(f"{package}.tests."):
            return name
    return None


def _unwritable(path: str) -> str:
    """Why a report cannot be written at ``path`` ("" if it can), checked before the suite runs."""
    import os

    if not path.strip():
        return "an empty file name"
    p = Path(path)
    if p.is_dir():
        return "is a directory"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        return f"the directory {str(parent)!r} does not exist"
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        return "not writable"
    return ""


def _whole_suite(config: pytest.Config, state: _State) -> bool:
    mode = str(config.getini(_REGISTRY_CHECK_INI)).strip().lower()
    if mode == "never":
        return False
    if mode == "always":
        return True
    return not state.selected_by


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    profile = state.profile
    by_id = profile.by_id
    keep: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    any_conformance = False
    for item in items:
        ids = _clause_ids(item)
        if ids is None:
            (deselected if state.selection else keep).append(item)
            continue
        any_conformance = True
        owner = _item_profile(item)
        if owner is not None and owner != profile.name:
            _collect_error(
                session,
                item.nodeid,
                f"{item.nodeid}: a test of profile {owner}, but this run judges {profile.name} (use --profile {owner})",
            )
            continue
        foreign = [i for i in ids if profiles.split_qualified(i, profile.name)[0] != profile.name]
        if foreign:
            _collect_error(
                session,
                item.nodeid,
                f"{item.nodeid}: clause(s) {', '.join(foreign)} of another profile in @pytest.mark.clause "
                f"(this run judges {profile.name})",
            )
            continue
        ids = list(dict.fromkeys(profiles.split_qualified(i, profile.name)[1] for i in ids))
        unknown = [i for i in ids if i not in by_id]
        if unknown or not ids:
            hints = []
            for bad in unknown:
                close = difflib.get_close_matches(bad, list(by_id), n=3, cutoff=0.5)
                hints.append(f"{bad!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
            why = f"unknown clause ID(s) {', '.join(hints)}" if unknown else "a clause marker with no clause ID"
            _collect_error(session, item.nodeid, f"{item.nodeid}: {why} in @pytest.mark.clause (profile {profile.name})")
            continue
        impl = item.get_closest_marker("impl_defined") is not None or all(profile.wholly_impl(by_id[i]) for i in ids)
        item.stash[_INFO] = _ItemInfo(tuple(ids), impl)
        item.user_properties.append(("clause", ",".join(ids)))
        item.user_properties.append(("strength", report.IMPL if impl else report.MUST))
        if state.selection and not set(ids) & set(state.selection):
            deselected.append(item)
        else:
            keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep
    state.selected_by = _selected_by(config, items, state)
    if any_conformance and _whole_suite(config, state):
        covered = {c for item in items if _INFO in item.stash for c in item.stash[_INFO].clauses}
        missing = [cid for cid in by_id if cid not in covered and not by_id[cid].untestable]
        if missing:
            _collect_error(
                session,
                "conformance",
                f"clause registry self-check: {len(missing)} clause(s) of {profile.name} have no test: {', '.join(missing)}",
            )


def pytest_collection_finish(session: pytest.Session) -> None:
    state = _state(session.config)
    selected = [item.nodeid for item in session.items if _INFO in item.stash]
    state.selected = selected


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hv_build(pytestconfig: pytest.Config) -> Build:
    """The build under test (``--hv``), resolved once per process."""
    return _state(pytestconfig).get_build()


@pytest.fixture
def boot(request: pytest.FixtureRequest, hv_build: Build) -> Iterator[Callable[..., Hv]]:
    """``boot(*guests, time_slice=10_000, fault_policy="stop") -> Hv`` (the profile's ``hv.Hv``);
    sessions closed at teardown."""
    from conformance import harness

    profile = _state(request.config).profile
    hvs: list[Hv] = []
    request.node.stash[_HVS] = hvs

    def _boot(*guests: GuestVM, time_slice: int = 10_000, fault_policy: str = "stop") -> Hv:
        hv = harness.boot(hv_build, profile, *guests, time_slice=time_slice, fault_policy=fault_policy)
        hvs.append(hv)
        return hv

    yield _boot
    errors: list[str] = []
    for hv in hvs:
        try:
            hv.session.close()
        except Exception as e:  # noqa: BLE001 - close them all, then report
            errors.append(f"{type(e).__name__}: {e}")
    hvs.clear()  # the reports already hold what they show; a finished system is not kept alive
    if errors:
        raise BuildError("closing a session failed: " + "; ".join(errors))


@pytest.fixture
def hf_settings(request: pytest.FixtureRequest, hv_build: Build) -> Callable[..., Any]:
    """``hf_settings(max_examples=..., ...)``: a randomised test's Hypothesis budget.

    Without ``--hypothesis-profile`` the keyword arguments (over ``hf-ci``, see
    :mod:`conformance.budgets`) are the budget, scaled by the build's share
    (:func:`conformance.protocol.build_randomised`: below 1, fewer examples and steps, and a failing
    example is reported unshrunk); with a profile (``hf-long``, or any other), it decides.
    """
    from hypothesis import Phase, settings

    from conformance import budgets

    budgets.register()
    share = build_randomised(hv_build)

    def make(**ci: Any) -> settings:
        if request.config.getoption("hypothesis_profile", None):
            return settings()
        base = settings.get_profile("hf-ci")
        if share < 1:
            for key in ("max_examples", "stateful_step_count"):
                ci[key] = max(1, math.ceil(ci.get(key, getattr(base, key)) * share))
            ci["phases"] = [p for p in base.phases if p is not Phase.shrink]
        return settings(base, **ci)

    return make


# --------------------------------------------------------------------------------------------
# Running: capabilities, classification
# --------------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _INFO not in item.stash:
        return
    state = _state(item.config)
    build = state.get_build()
    implemented = build_profiles(build)
    if state.profile.name not in implemented:
        pytest.skip(
            f"unsupported profile: {build.name} implements {', '.join(sorted(implemented))}, not {state.profile.name}"
        )
    needs = [str(c) for mark in item.iter_markers("requires") for c in mark.args]
    if needs:
        caps: frozenset[str] = getattr(build, "capabilities", frozenset())
        for cap in needs:
            if cap not in caps:
                pytest.skip(f"unsupported by {build.name}: {cap}")


def _exc_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MESSAGE_CAP else text[:MESSAGE_CAP] + " ..."


def _failure_props(item: pytest.Item, exc: BaseException | None) -> list[tuple[str, object]]:
    props: list[tuple[str, object]] = []
    if isinstance(exc, ConformanceFailure):
        exp, act = exc.expected, exc.actual
        props += [
            ("what", exc.what),
            ("expected", _state(item.config).profile.shown(exp, exc.what)),
            ("actual", _state(item.config).profile.shown(act, exc.what)),
        ]
        if exc.note:
            props.append(("message", exc.note))
    elif exc is not None:
        props.append(("message", _exc_text(exc)))
    hvs = item.stash.get(_HVS, [])
    calls: list[str] = []
    trace: list[TraceRecord] = []
    for n, hv in enumerate(hvs):
        head = [f"-- system {n + 1} of {len(hvs)} --"] if len(hvs) > 1 else []
        calls += head + list(hv.log)
        try:
            records = trace_records(hv.session)
        except Exception as e:  # noqa: BLE001 - a broken trace must not hide the failure
            records = [TraceRecord.note(f"(trace unavailable: {type(e).__name__}: {e})")]
        if len(records) > TRACE_LINES:
            records = [TraceRecord.note(f"... {len(records) - TRACE_LINES} earlier records omitted"), *records[-TRACE_LINES:]]
        trace += [TraceRecord.note(h) for h in head] + records
    if calls:
        props.append(("calls", "\n".join(calls)))
    if trace:
        props.append(("trace", report.trace_property(trace)))  # JSON: a list of TraceRecord.to_json() dicts
    return props


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    info = item.stash.get(_INFO, None)
    if info is not None:
        _classify(item, call, rep, info)
    return rep


def _classify(item: pytest.Item, call: pytest.CallInfo[None], rep: pytest.TestReport, info: _ItemInfo) -> None:
    exc = call.excinfo.value if call.excinfo is not None else None
    outcome: str | None = None
    props: list[tuple[str, object]] = []
    if rep.when == "setup":
        if rep.failed:
            outcome = outcomes.ERROR
        elif rep.skipped:
            outcome = outcomes.SKIP
    elif rep.when == "call":
        if hasattr(rep, "wasxfail"):
            outcome = outcomes.WAIVED if rep.skipped else outcomes.PASS
            if rep.skipped:
                props.append(("waiver", f"xfail: {rep.wasxfail}"))
        elif rep.passed:
            outcome = outcomes.PASS
        elif rep.skipped:
            outcome = outcomes.SKIP
        else:
            outcome = outcomes.classify(exc)
    elif rep.failed and item.stash.get(_LAST, outcomes.PASS) == outcomes.PASS:
        outcome = outcomes.ERROR  # teardown failed after a pass
    if outcome is None:
        return
    blamed = outcomes.blamed(exc, info.clauses) if outcome not in (outcomes.PASS, outcomes.SKIP) else ()
    profile = _state(item.config).profile
    impl = info.impl_defined or all(profile.wholly_impl(profile.by_id[c]) for c in blamed if c in profile.by_id)
    if outcome in (outcomes.FAIL, outcomes.TIMEOUT) and impl:
        # One label per behaviour: a wrong value or a call that never returns in an
        # implementation-defined part is a deviation, never a MUST failure.
        outcome = outcomes.DEVIATION
        rep.outcome = "skipped"
        rep.wasxfail = "deviation in an implementation-defined part: " + str(exc).split("\n", 1)[0]
    state = _state(item.config)
    if state.waivers and outcome in (outcomes.FAIL, outcomes.TIMEOUT, outcomes.PASS) and rep.when == "call":
        # A failure is waived only by a waiver of the test or of a clause it counts against; a
        # passing test reports only its own test waiver as not needed (clause waivers: per clause).
        waiver = state.waivers.match(item.nodeid, blamed) if blamed else state.waivers.match_test(item.nodeid)
        if waiver is not None:
            props.append(("waiver", waiver.describe()))
            if outcome == outcomes.PASS:
                props.append(("waiver_not_needed", "yes"))
            else:
                outcome = outcomes.WAIVED
                rep.outcome = "skipped"
                rep.wasxfail = f"waived ({waiver.describe()})"
    if blamed:
        props.append(("blamed", ",".join(blamed)))
    if outcome not in (outcomes.PASS, outcomes.SKIP):
        props += _failure_props(item, exc)
    elif outcome == outcomes.SKIP and isinstance(rep.longrepr, tuple):
        props.append(("message", str(rep.longrepr[2])))
    props.insert(0, ("outcome", outcome))
    item.stash[_LAST] = outcome
    item.user_properties.extend(props)
    if rep.user_properties is not item.user_properties:
        rep.user_properties.extend(props)


def _last_outcome(props: Sequence[tuple[str, object]]) -> str | None:
    for key, value in reversed(props):
        if key == "outcome":
            return str(value)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when != "call" or not report.user_properties:
        return None
    outcome = _last_outcome(report.user_properties)
    if outcome == outcomes.ERROR:  # the build or the environment broke: an error, as in pytest's setup errors
        return "error", "E", ("ERROR", {"red": True})
    if outcome == outcomes.TIMEOUT:
        return "failed", "T", ("TIMEOUT", {"red": True})
    if outcome == outcomes.WAIVED:
        return "waived", "W", ("WAIVED", {"yellow": True})
    if outcome == outcomes.DEVIATION:
        return "deviation", "D", ("DEVIATION", {"yellow": True})
    return None


# --------------------------------------------------------------------------------------------
# Controller: gather reports (identical with and without xdist)
# --------------------------------------------------------------------------------------------


class _Controller:
    """Registered in the controller (the only process of a serial run): gathers every report."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        props = report.user_properties
        if not props or not any(key == "clause" for key, _ in props):
            if report.failed:  # e.g. xdist's report for a test whose worker crashed
                state.crashed[report.nodeid] = str(report.longrepr)[:MESSAGE_CAP] if report.longrepr else "failed"
            return
        acc = state.results.get(report.nodeid)
        if acc is None:
            acc = state.results[report.nodeid] = _Acc()
        acc.props = list(props)
        acc.duration += report.duration
        outcome = _last_outcome(props)
        if outcome is not None:
            acc.outcome = outcome
        elif report.failed:
            state.crashed[report.nodeid] = str(report.longrepr)[:MESSAGE_CAP] if report.longrepr else "failed"

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        if self.state.xdist_ids is None:
            self.state.xdist_ids = list(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        out = getattr(node, "workeroutput", None) or {}
        if self.state.selected is None and "hfconform_selected" in out:
            self.state.selected = list(out["hfconform_selected"])
            self.state.selected_by = str(out.get("hfconform_selected_by", ""))
        if self.state.build_name is None and out.get("hfconform_build"):
            self.state.build_name = str(out["hfconform_build"])


def _finish_results(state: _State) -> tuple[list[report.TestResult], report.Guard]:
    results: list[report.TestResult] = []
    for nodeid, acc in state.results.items():
        res = report.TestResult.from_properties(nodeid, acc.props, acc.duration)
        if acc.outcome is None:
            res.outcome = outcomes.ERROR if nodeid in state.crashed else outcomes.NOT_RUN
            res.message = state.crashed.get(nodeid, "no result reported")
        results.append(res)
    selected = state.selected
    if selected is None and state.xdist_ids is not None and state.results:
        selected = state.xdist_ids
    selected_set = set(selected or ())
    reported = {n for n, acc in state.results.items() if acc.outcome is not None or n in state.crashed}
    missing = sorted(selected_set - reported)
    guard = report.Guard(selected=len(selected_set), reported=len(reported & selected_set) if selected_set else len(reported))
    guard.missing = missing
    results = [r for r in results if r.outcome != outcomes.NOT_RUN]
    return results, guard


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = _state(config)
    if state.is_worker:
        out: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
        out["hfconform_selected"] = state.selected or []
        out["hfconform_selected_by"] = state.selected_by
        if state.build is not None:
            out["hfconform_build"] = state.build.name
        return
    if not state.active and not (state.json_path or state.report_path or state.junit_path):
        return
    if config.option.collectonly:
        return  # nothing was meant to run: no verdict, no guard
    results, guard = _finish_results(state)
    if guard.selected and (guard.missing or guard.reported == 0):
        stopped = session.shouldfail or session.shouldstop
        why = f" (the run was stopped early: {stopped})" if stopped else ""
        first = f"; first missing: {guard.missing[0]}" if guard.missing else ""
        guard.message = (
            f"CONFORMANCE RUN INCOMPLETE: {len(guard.missing)} of {guard.selected} selected conformance tests "
            f"reported no result{why}{first}. This run is not a conformance verdict."
        )
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.build_name is None:
        try:
            state.build_name = state.get_build().name
        except BuildError:
            state.build_name = state.hv_spec
    summary = report.aggregate(
        results,
        state.build_name,
        selection=state.selection,
        guard=guard,
        partial=bool(state.selected_by),
        selected_by=state.selected_by or "the whole suite",
        profile=state.profile,
    )
    status = {row.clause.id: row.status for row in (*summary.must, *summary.impl) if row.tests}
    summary.clause_waivers_not_needed = [
        w.describe() for w in state.waivers.clause_waivers() if status.get(w.key) == outcomes.PASS
    ]
    state.summary = summary
    writers = (
        (state.json_path, report.write_json),
        (state.report_path, report.write_report),
        (state.junit_path, report.write_junit),
    )
    for path, writer in writers:
        if path:
            try:
                writer(summary, path)
                state.written.append(str(path))
            except OSError as e:  # a report asked for and not written fails the run
                state.written.append(f"{path} (FAILED: {e})")
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_COLOURS = {
    outcomes.PASS: {"green": True},
    outcomes.FAIL: {"red": True, "bold": True},
    outcomes.TIMEOUT: {"red": True, "bold": True},
    outcomes.ERROR: {"red": True},
    outcomes.WAIVED: {"yellow": True},
    outcomes.DEVIATION: {"yellow": True},
    outcomes.SKIP: {"yellow": True},
}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or state.is_worker or state.summary is None:
        return
    summary = state.summary
    tr = terminalreporter
    if state.table and state.active:
        tr.write_sep("=", f"{summary.profile.name} conformance of build {summary.build!r}")
        tr.write_line(about.one_line(state.profile.name))
        if summary.selected_by != "the whole suite":
            tr.write_line(f"partial run, tests selected by {summary.selected_by}: only the clauses whose tests ran are judged")
        width = getattr(getattr(tr, "_tw", None), "fullwidth", 120)
        for text, status in report.terminal_lines(summary, width):
            tr.write_line(text, **_COLOURS.get(status, {}))
    if summary.guard.message:
        tr.write_sep("!", summary.guard.message, red=True, bold=True)
    for path in state.written:
        tr.write_line(f"conformance report: {path}")
