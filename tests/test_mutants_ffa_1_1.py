"""The ``ffa-1.1-indirect`` mutant catalogue (quick checks only; the self-test is a command).

The catalogue is well-formed and covers every observable MUST clause, every mutant and control
boots and answers a call, each is exactly one deviation, the controls are the specification's side
of the DEVIATION clauses (§14) and report them as DEVIATIONs without failing a MUST clause, and a
few mutants are killed by the tests of the clauses they break.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

import profiles
from conformance import plugin, selftest
from conformance.protocol import Build, SystemConfig
from profiles.ffa_1_1_indirect import PROFILE, clauses, mutants
from profiles.ffa_1_1_indirect.core import Core
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.programs import setup
from reference_hv.build import ReferenceBuild
from reference_hv.catalogue import MutantBuild

NAMES = sorted(mutants.CATALOGUE)
CONTROLS = sorted(mutants.CONTROLS)
ALL = NAMES + CONTROLS
MODULE = "profiles.ffa_1_1_indirect.mutants"
#: DEVIATION clauses (spec §0, §14) and the reason a control of theirs is not in the catalogue.
DEVIATIONS = {
    *("CONV-6", "CONV-8", "VER-3", "VER-6", "FEAT-5", "FEAT-6", "MAP-5", "PIG-3"),
    *("SEND-14", "SEND-15", "SEND-22", "NOTIF-5", "REL-4", "WAIT-5", "WAIT-7"),
}
NO_CONTROL = {
    "SEND-14": "with one-page buffers the build constant and the mailbox size are both 4096",
    "NOTIF-5": "interrupt delivery is outside the profile; FEAT-6's control takes the consistent choice",
}
#: MUST clauses no mutant targets, and why (none: every MUST clause has one).
UNTARGETED: dict[str, str] = {}


def _build(name: str) -> MutantBuild:
    return mutants.CATALOGUE[name] if name in mutants.CATALOGUE else mutants.CONTROLS[name]


def test_profile_names_its_catalogue() -> None:
    assert profiles.get("ffa-1.1-indirect").mutants == MODULE
    catalogue, controls = selftest.load_catalogue(MODULE)
    assert set(catalogue) == set(NAMES) and set(controls) == set(CONTROLS)


def test_catalogue_covers_every_must_clause() -> None:
    assert len(NAMES) >= 61
    broken = {c for build in mutants.CATALOGUE.values() for c in build.clauses}
    must = {c.id for c in clauses.CLAUSES if c.strength == profiles.MUST}
    assert must - broken == set(UNTARGETED)
    for name, build in mutants.CATALOGUE.items():
        assert any(PROFILE.get(c).strength == profiles.MUST for c in build.clauses), f"{name}: a mutant breaks a MUST clause"


def test_controls_cover_every_deviation_clause() -> None:
    impl = {c.id for c in clauses.CLAUSES if c.strength == profiles.IMPL_DEF}
    assert DEVIATIONS <= impl
    covered = {c for build in mutants.CONTROLS.values() for c in build.clauses}
    assert DEVIATIONS - covered == set(NO_CONTROL)
    for name, build in mutants.CONTROLS.items():
        if name != "send2_steps_restated":
            assert set(build.clauses) <= DEVIATIONS, f"{name}: a control reports DEVIATION clauses only"


@pytest.mark.parametrize("name", ALL)
def test_mutant_is_a_build_with_registered_clauses(name: str) -> None:
    build = _build(name)
    assert isinstance(build, Build)
    assert build.name == f"mutant:{name}"
    assert build.description
    assert build.clauses
    for cid in build.clauses:
        assert cid in PROFILE.by_id, f"{name}: unknown clause {cid}"
    assert plugin.resolve_build(f"{MODULE}:{name}") is build
    assert build.capabilities == ReferenceBuild.capabilities
    assert build.profiles == frozenset({"ffa-1.1-indirect"}), "a mutant implements this profile only"


@pytest.mark.parametrize("name", ALL)
def test_mutant_boots(name: str) -> None:
    """Every mutant boots a system with a secondary and answers the primary's FFA_VERSION and FFA_ID_GET."""
    build = _build(name)
    session = build.boot(SystemConfig((script(*setup()),), profile="ffa-1.1-indirect"))
    try:
        version = session.call(0x84000063, 0x00010001)
        assert version.regs and version.regs[0] in (0x00010003, 0x00010001, 0xFFFFFFFF, 0x84000061, 0xFFFF_FFFF_FFFF_FFFF)
        assert session.call(0x84000069).regs
    finally:
        session.close()


@pytest.mark.parametrize("name", ALL)
def test_mutant_is_one_deviation(name: str) -> None:
    """A subclass of the profile's one Core, or interceptors installed at boot; never both."""
    build = _build(name)
    kinds = [build.core_class is not Core, build.intercept is not None, build.config_transform is not None]
    assert kinds.count(True) == 1, (name, kinds)
    assert issubclass(build.core_class, Core)
    assert build.system_options["core_class"] is build.core_class


@pytest.mark.parametrize(
    ("name", "clause"),
    [
        ("send2_accepts_4097", "SEND-13"),
        ("header_size_v1_2", "HDR-7"),
        ("send2_offset_exactly_20", "SEND-11"),
        ("release_idempotent", "REL-2"),
    ],
)
def test_mutant_killed_by_its_clause(name: str, clause: str) -> None:
    result = selftest.run_one(
        name,
        f"{MODULE}:{name}",
        _build(name),
        [*selftest.DETERMINISTIC, "--clause", clause],
        timeout=120,
        profile="ffa-1.1-indirect",
    )
    assert result.status == "killed", result
    assert clause in result.failed_clauses and result.hits_intended


@pytest.mark.parametrize(("name", "clause"), [("spec_release_by_ownership", "REL-4"), ("spec_header_flags_mbz", "SEND-15")])
def test_control_is_a_deviation_not_a_failure(name: str, clause: str) -> None:
    """The specification's behaviour passes every MUST clause and is reported as a DEVIATION."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        command = selftest.suite_command(
            f"{MODULE}:{name}", str(path), [*selftest.DETERMINISTIC, "--clause", clause], "ffa-1.1-indirect"
        )
        proc = subprocess.run(command, cwd=tmp, env=selftest._env(), capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:]
        report = json.loads(path.read_text())
    result = selftest.RunResult(name, "hv", (clause,))
    selftest.summarise(report, result)
    assert result.status == "passed", result
    status = {c["id"]: c["status"] for c in (*report["clauses"], *report["impl_defined"])}
    assert status[clause] == "DEVIATION", status
    assert not [c for c in report["clauses"] if c["status"] in selftest.BAD]
