"""The mutant catalogue, the self-test runner and the core mutation tool (quick checks only).

The full self-test is a command (``python -m conformance.selftest``), not a test: it runs the whole
suite once per mutant. Here: the catalogue is well-formed, every mutant boots, a few mutants are
killed by the clauses they break, and the mutation tool produces valid modules.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from conformance import plugin, selftest
from conformance.protocol import Build, GuestVM, SystemConfig
from profiles.hafnium_2018_10 import PROFILE, clauses, mutants, programs
from profiles.hafnium_2018_10.core import Core, Vm
from reference_hv.build import ReferenceBuild
from reference_hv.system import System

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(mutants.CATALOGUE)


def _load_mutate_core() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_core", ROOT / "tools" / "mutate_core.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate_core"] = module
    spec.loader.exec_module(module)
    return module


def test_catalogue_is_large_and_covers_the_must_clauses() -> None:
    assert len(mutants.CATALOGUE) >= 45
    broken = {c for build in mutants.CATALOGUE.values() for c in build.clauses}
    must = {c.id for c in clauses.CLAUSES}
    assert must - broken == set()


@pytest.mark.parametrize("name", NAMES)
def test_mutant_is_a_build_with_registered_clauses(name: str) -> None:
    build = mutants.CATALOGUE[name]
    assert isinstance(build, Build)
    assert build.name == f"mutant:{name}"
    assert build.description
    assert build.clauses, "a mutant names the clauses it breaks"
    for cid in build.clauses:
        assert cid in PROFILE.by_id, f"{name}: unknown clause {cid}"
    assert plugin.resolve_build(f"profiles.hafnium_2018_10.mutants:{name}") is build
    assert build.capabilities == ReferenceBuild.capabilities


@pytest.mark.parametrize("name", NAMES)
def test_mutant_boots(name: str) -> None:
    """Every mutant boots a small system and answers a call (a broken mutant would be no evidence)."""
    build = mutants.CATALOGUE[name]
    session = build.boot(SystemConfig((GuestVM(programs.source("idle"), "idle.S"),)))
    try:
        assert session.call(0xFF01).regs
    finally:
        session.close()


@pytest.mark.parametrize("name", NAMES)
def test_mutant_is_one_deviation(name: str) -> None:
    """A mutant is exactly one of: a subclass of the profile's one Core, interceptors installed at
    boot (never a System subclass), or a changed boot configuration."""
    build = mutants.CATALOGUE[name]
    kinds = [build.core_class is not Core, build.intercept is not None, build.config_transform is not None]
    assert kinds.count(True) == 1, (name, kinds)
    assert issubclass(build.core_class, Core)
    assert build.system_options["core_class"] is build.core_class


def test_interceptors_are_installed_at_boot() -> None:
    build = mutants.CATALOGUE["x18_clobbered"]
    system = build.system([], time_slice=1000)
    try:
        assert type(system) is System
        assert system.call(0xFF01, regs={18: 0x1818}).regs[18] == 0  # the reference keeps x18 (CALL-5)
    finally:
        system.close()


def test_no_controls_left() -> None:
    """The core written once leaves nothing for a control build to check: only the reference."""
    assert not hasattr(mutants, "SeamCore") and "CONTROLS" not in vars(mutants)
    with pytest.raises(plugin.BuildSpecError):
        plugin.resolve_build("profiles.hafnium_2018_10.mutants:no_such_mutant")


@pytest.mark.parametrize(
    ("name", "clause"),
    [
        ("send_accepts_4097", "SEND-1"),
        ("clear_empty_returns_0", "CLR-2"),
        ("wake_up_layout_6d2db331", "RUN-8"),
        ("hvc_immediate_honoured", "CALL-2"),
    ],
)
def test_mutant_killed_by_its_clause(name: str, clause: str) -> None:
    """The clause's own tests (``--clause``) kill the mutant: a FAIL on that clause in the JSON report."""
    hv = f"profiles.hafnium_2018_10.mutants:{name}"
    extra = [*selftest.DETERMINISTIC, "--clause", clause]
    result = selftest.run_one(name, hv, mutants.CATALOGUE[name], extra, timeout=120)
    assert result.status == "killed", result
    assert clause in result.failed_clauses
    assert result.hits_intended


def test_reference_passes_a_clause_subset() -> None:
    result = selftest.run_one("control", "reference", None, [*selftest.DETERMINISTIC, "--clause", "SEND-1"], timeout=120)
    assert result.status == "passed", result


def test_summarise_counts_must_failures_only() -> None:
    report = {
        "clauses": [{"id": "SEND-1", "status": "FAIL"}, {"id": "SEND-2", "status": "PASS"}],
        "tests": [
            {
                "nodeid": "profiles/hafnium_2018_10/tests/test_send.py::t1",
                "clauses": ["SEND-1"],
                "outcome": "FAIL",
                "what": "w",
                "expected": "1",
                "actual": "2",
            },
            {
                "nodeid": "profiles/hafnium_2018_10/tests/test_x.py::t2",
                "clauses": ["VM-3"],
                "outcome": "FAIL",
                "impl_defined": True,
            },
            {"nodeid": "profiles/hafnium_2018_10/tests/test_send.py::t3", "clauses": ["SEND-2"], "outcome": "PASS"},
        ],
    }
    result = selftest.RunResult("m", "hv", ("SEND-1",))
    selftest.summarise(report, result)
    assert (result.status, result.failed_clauses, result.failed_tests) == ("killed", ["SEND-1"], 1)
    assert result.example.startswith("test_send.py::t1 [FAIL] w: expected 1, got 2")
    clean = selftest.RunResult("c", "hv")
    selftest.summarise({"clauses": [{"id": "SEND-1", "status": "PASS"}], "tests": []}, clean)
    assert clean.status == "passed"
    # A specification-behaviour control: passes (no MUST failure), its deviations named.
    control = selftest.RunResult("spec", "hv")
    deviating = {"clauses": [{"id": "SEND-1", "status": "PASS"}], "impl_defined": [{"id": "VM-3", "status": "DEVIATION"}]}
    selftest.summarise({**deviating, "tests": []}, control)
    assert (control.status, control.deviations) == ("passed", ["VM-3"])


def test_selftest_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)
    assert selftest.main(["--mutant", "no_such_mutant"]) == 2


def test_mutate_core_produces_valid_modules() -> None:
    mutate = _load_mutate_core()
    source = (ROOT / "profiles" / "hafnium_2018_10" / "core.py").read_text()
    found = mutate.mutations(source)
    assert len(found) > 100
    assert {m.kind for m in found} >= {"compare", "constant", "boolop", "negate", "drop", "unary"}
    original = ast.dump(ast.parse(source))
    for m in found[:: max(1, len(found) // 25)]:
        text = mutate.mutated_source(source, m.index)
        module = types.ModuleType(f"hf_mutated_{m.index}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        try:
            exec(compile(text, f"<mutation {m.index}>", "exec"), module.__dict__)
        finally:
            del sys.modules[module.__name__]
        assert issubclass(module.Core, object)
        assert module.Vm is Vm, "the data classes are the real ones"
        assert ast.dump(ast.parse(text)) != original
    with pytest.raises(IndexError):
        mutate.mutated_source(source, len(found))
    assert Core is vars(mutants)["Core"], "the mutants subclass the real core"


@pytest.mark.parametrize(
    ("name", "selection"),
    [
        # run(0, 0) answers YIELD: a refused run is checked once (RUN-2: no switch), not re-run.
        ("run_primary_yields", "test_run_refused or test_random_systems_match_the_model"),
        # an smc answers 0, which an smc HF_VCPU_RUN would read as YIELD: the fuzzer must not re-run it.
        ("smc_returns_0", "test_primary_random_registers or test_smc_from_primary_keeps_registers"),
    ],
)
def test_wrong_value_is_a_bounded_fail_not_a_timeout(name: str, selection: str) -> None:
    """A wrong value is a FAIL with expected and actual, in a bounded number of calls: never a
    TIMEOUT, never a loop. (The subprocess limit is a guard against a hang, not a speed target.)"""
    build = mutants.CATALOGUE[name]
    result = selftest.run_one(name, f"profiles.hafnium_2018_10.mutants:{name}", build, ["-k", selection], timeout=300)
    assert result.status == "killed", result
    assert result.blamed and set(result.blamed) <= set(build.clauses), result
    assert "[FAIL]" in result.example and "expected" in result.example and ", got " in result.example, result


def test_precision_and_recall() -> None:
    def run(blamed: list[str], intended: tuple[str, ...]) -> selftest.RunResult:
        r = selftest.RunResult("m", "hv", intended)
        r.blamed = blamed
        return r

    exact, half, none, wrong = (
        run(["SEND-6"], ("SEND-6",)),
        run(["SEND-6", "CLR-1"], ("SEND-6",)),
        run([], ("CLR-1",)),
        run(["VM-2"], ("CLR-1",)),
    )
    assert (exact.precision, half.precision, none.precision, wrong.precision) == (1.0, 0.5, None, 0.0)
    assert (exact.recalled, half.recalled, none.recalled, wrong.recalled) == (True, True, False, False)
    precision, recall = selftest.precision_recall([exact, half, none, wrong])
    assert precision == pytest.approx(0.5) and recall == pytest.approx(0.5)


def test_selftest_judges_a_mutant_by_its_own_clauses_first(tmp_path: Path) -> None:
    """Targeted first: a mutant killed by the hand-written tests of its declared clauses is done; one
    that survives them (clear_only_by_primary: CLR-4's tests do not catch it) gets the whole suite."""
    out = tmp_path / "st.json"
    code = selftest.main(
        ["--no-control", "-j", "2", "--json", str(out), "--mutant", "send_accepts_4097", "--mutant", "clear_only_by_primary"]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "targeted-first"
    by_name = {m["name"]: m for m in data["mutants"]}
    assert by_name["send_accepts_4097"]["mode"] == "targeted" and by_name["send_accepts_4097"]["blamed"] == ["SEND-1"]
    full = by_name["clear_only_by_primary"]
    assert full["mode"] == "full" and full["killed"] and "CLR-4" in full["blamed"]
