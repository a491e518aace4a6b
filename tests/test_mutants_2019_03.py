"""The ``hafnium-2019-03`` mutant catalogue (quick checks only; the self-test is a command:
``python -m conformance.selftest --profile hafnium-2019-03``).

Every mutant is a build of this profile naming clauses of this profile, boots and answers a call,
and is exactly one deviation; every observable clause has a mutant; the neighbouring revisions'
behaviours are there; a real ``hafnium-2018-10`` build is not offered this profile's suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import plugin
from conformance.protocol import Build, GuestVM, SystemConfig
from profiles.hafnium_2019_03 import PROFILE, clauses, mutants, programs
from profiles.hafnium_2019_03.core import Core
from reference_hv.build import ReferenceBuild

NAMES = sorted(mutants.CATALOGUE)
PROFILE_NAME = "hafnium-2019-03"


def test_every_clause_has_a_mutant() -> None:
    broken = {c for build in mutants.CATALOGUE.values() for c in build.clauses}
    assert {c.id for c in clauses.CLAUSES} - broken == set()


def test_neighbouring_revisions_are_in_the_catalogue() -> None:
    for name in (
        "clear_empty_returns_minus1",
        "numbering_2018_10",
        "run_codes_2018_10",
        "message_2018_packing",
        "wake_up_2018_packing",
        "send_returns_0xffff_2018",
        "receive_nothing_minus1",
        "core_2018_10",
        "hypervisor_wakes_receiver",
        "run_codes_aa7db8ee",
        "blocking_receive_reports_wfi",
        "no_recv3_pending_rule",
        "wfe_not_yielding",
    ):
        assert name in mutants.CATALOGUE


def test_a_2018_build_does_not_claim_this_profile() -> None:
    """A reference restricted to the first profile's core is not offered this profile's suite (it
    is SKIPped as unsupported); ``core_2018_10`` is that core behind this profile's interface."""
    from profiles.hafnium_2018_10.core import Core as Core2018

    assert ReferenceBuild(core_class=Core2018).profiles == frozenset({"hafnium-2018-10"})
    assert mutants.CATALOGUE["core_2018_10"].profiles == frozenset({PROFILE_NAME})


@pytest.mark.parametrize("name", NAMES)
def test_mutant_is_a_build_of_this_profile(name: str) -> None:
    build = mutants.CATALOGUE[name]
    assert isinstance(build, Build)
    assert build.name == f"mutant:{name}"
    assert build.description
    assert build.clauses
    for cid in build.clauses:
        assert cid in PROFILE.by_id, f"{name}: unknown clause {cid}"
    assert plugin.resolve_build(f"profiles.hafnium_2019_03.mutants:{name}") is build
    assert build.profiles == frozenset({PROFILE_NAME})
    kinds = [build.core_class is not Core, build.intercept is not None, build.config_transform is not None]
    assert kinds.count(True) == 1, (name, kinds)
    assert issubclass(build.core_class, Core)


@pytest.mark.parametrize("name", NAMES)
def test_mutant_boots(name: str) -> None:
    """Every mutant boots a small system and answers a call (a broken mutant would be no evidence)."""
    build = mutants.CATALOGUE[name]
    guest = GuestVM(programs.script_source([programs.configure()]), "script.S")
    session = build.boot(SystemConfig((guest,), profile=PROFILE_NAME))
    try:
        assert session.call(0xFF01).regs
    finally:
        session.close()


AS_2018 = '''
from reference_hv.build import ReferenceBuild
from profiles.hafnium_2019_03.core import Core


class Build(ReferenceBuild):
    """The hafnium-2019-03 reference core, claiming to implement hafnium-2018-10."""

    profiles = frozenset({"hafnium-2018-10"})

    def __init__(self) -> None:
        super().__init__(core_class=Core)
'''


def test_a_2019_build_judged_as_2018_fails_with_a_clear_verdict(tmp_path: Path) -> None:
    """The other direction: a build that does this profile's ABI but claims hafnium-2018-10 fails
    the 2018 suite at its foundation, ID-1 (0xff00 is VM_GET_ID here, HF_VCPU_RUN there)."""
    (tmp_path / "as2018.py").write_text(AS_2018)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-P", "-m", "conformance.cli", "--hv", "as2018:Build", "--clause", "ID-1", "--json", str(out)]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["profile"] == "hafnium-2018-10"
    assert {c["id"]: c["status"] for c in report["clauses"]}["ID-1"] == "FAIL"
    failed = [t for t in report["tests"] if t["outcome"] == "FAIL"]
    assert failed and all(t["blamed"] == ["ID-1"] for t in failed if "test_ids.py" in t["nodeid"])
