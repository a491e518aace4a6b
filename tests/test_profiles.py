"""A profile is one unit: adding one is adding its package and one registration line.

The proof is a toy profile written here, into a temporary directory, with nothing else changed:
its text, its one clause, its calls by name, its reference core and its test. Registered with one
line (``REGISTRY["toy-0"] = "toyprof"``), the unchanged suite judges it — on the bundled
reference, and on a wrong build of it — and reports it under its own name.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import profiles
from conformance import cli

pytest_plugins = ["pytester"]

PLUGIN = ["-p", "no:hafnium_conformance", "-p", "conformance.plugin", "-p", "no:cacheprovider"]

TOY = {
    "__init__.py": '''
        from pathlib import Path

        from profiles import Clause, Profile

        PROFILE = Profile(
            name="toy-0",
            title="A toy ABI with one call",
            package=__name__,
            spec=Path(__file__).with_name("spec.md"),
            spec_name="toy-0.md",
            sections={1: "The answer"},
            clauses=(Clause("TOY-1", 1, "TOY_ANSWER (function ID 0x7) returns 42 to the primary.", "toy"),),
            hv=f"{__name__}.hv",
            core=f"{__name__}.core",
            call_name=lambda x0: "TOY_ANSWER" if x0 == 0x7 else f"{x0:#x}",
        )
    ''',
    "spec.md": """
        # toy-0

        | ID | rule |
        |---|---|
        | TOY-1 | TOY_ANSWER (function ID 0x7) returns 42 to the primary. |
    """,
    "hv.py": '''
        from conformance import harness


        class Hv(harness.Hv):
            def answer(self) -> int:
                return self.call(0x7)
    ''',
    "core.py": '''
        from reference_hv.core_api import Answer, Vcpu

        ERR = (1 << 64) - 1


        class Core:
            """TOY_ANSWER returns 42 to the primary; every other call -1; a secondary never runs."""

            ANSWER = 42

            def __init__(self, layout, copy):
                self.primary = Vcpu(0, 0)

            def first(self):
                return self.primary

            def hypercall(self, vm_id, vcpu_idx, x0, x1, x2, x3):
                return Answer(self.ANSWER if x0 == 0x7 and vm_id == 0 else ERR)

            def smc(self, vm_id, vcpu_idx, x0):
                return Answer(ERR)

            def _back(self, x0):
                self.primary.resume_x0 = x0
                return Answer(None, self.primary)

            def preempted(self, vm_id, vcpu_idx):
                return self._back(0)

            def wait_for_interrupt(self, vm_id, vcpu_idx):
                return self._back(1)

            def aborted(self, vm_id, vcpu_idx):
                return self._back(1)

            def vcpu_state(self, vm_id, vcpu_idx):
                return "toy"


        class OffByOne(Core):
            ANSWER = 41
    ''',
    "tests/__init__.py": "",
    "tests/test_answer.py": """
        import pytest

        from conformance.harness import expect


        @pytest.mark.clause("TOY-1")
        def test_the_answer(boot):
            hv = boot()
            expect("TOY_ANSWER from the primary", hv.answer(), 42, clause="TOY-1")
    """,
}

#: A wrong build of the toy profile: the reference with the toy core's off-by-one subclass.
WRONG_BUILD = """
from reference_hv.build import ReferenceBuild
from toyprof.core import OffByOne


def build():
    return ReferenceBuild(core_class=OffByOne)
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy profile's package on sys.path, registered with one line."""
    root = tmp_path / "src"
    for name, text in TOY.items():
        path = root / "toyprof" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "wrongtoy.py").write_text(WRONG_BUILD)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(profiles.REGISTRY, "toy-0", "toyprof")  # the one registration line
    yield root
    for mod in [m for m in sys.modules if m == "toyprof" or m.startswith(("toyprof.", "wrongtoy"))]:
        del sys.modules[mod]


def run_toy(pytester: pytest.Pytester, root: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest(
        *PLUGIN, "--pyargs", "toyprof.tests", "--profile", "toy-0", "--conformance-json", "toy.json", *args
    )
    return result, json.loads((pytester.path / "toy.json").read_text())


def test_a_toy_profile_is_judged_by_the_unchanged_suite(toy: Path, pytester: pytest.Pytester) -> None:
    result, data = run_toy(pytester, toy)
    assert result.ret == 0, result.stdout.str()
    assert data["profile"] == "toy-0"
    assert [(c["id"], c["status"]) for c in data["clauses"]] == [("TOY-1", "PASS")]
    result.stdout.fnmatch_lines(["*toy-0 conformance of build 'reference'*", "*TOY-1*PASS*"])


def test_a_wrong_build_of_the_toy_profile_fails_its_clause(toy: Path, pytester: pytest.Pytester) -> None:
    result, data = run_toy(pytester, toy, "--hv", "wrongtoy:build")
    assert result.ret == 1
    clauses = {c["id"]: c for c in data["clauses"]}
    assert clauses["TOY-1"]["status"] == "FAIL"
    (failure,) = data["tests"]
    assert failure["outcome"] == "FAIL" and failure["blamed"] == ["TOY-1"]
    assert failure["expected"] == "0x000000000000002a" and failure["actual"] == "0x0000000000000029"


def test_a_build_without_the_profile_is_unsupported_not_failed(toy: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        oldbuild="""
        from reference_hv.build import ReferenceBuild

        class OldBuild(ReferenceBuild):
            profiles = frozenset({"hafnium-2018-10"})
        """
    )
    result, data = run_toy(pytester, toy, "--hv", "oldbuild:OldBuild", "-rs")
    assert result.ret == 0, result.stdout.str()
    assert data["totals"]["tests"]["SKIP"] == 1
    result.stdout.fnmatch_lines(["*unsupported profile: reference implements hafnium-2018-10, not toy-0*"])


def test_tests_of_one_profile_are_not_run_as_another(toy: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--pyargs", "toyprof.tests")  # --profile left at the default
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*a test of profile toy-0, but this run judges hafnium-2018-10 (use --profile toy-0)*"])


def test_qualified_clause_ids_name_their_profile(toy: Path, pytester: pytest.Pytester) -> None:
    result, data = run_toy(pytester, toy, "--clause", "toy-0:TOY-1")
    assert result.ret == 0 and data["selection"]["clauses"] == ["TOY-1"]
    wrong = pytester.runpytest(
        *PLUGIN, "--pyargs", "toyprof.tests", "--profile", "toy-0", "--clause", "hafnium-2018-10:SEND-5"
    )
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*a clause of profile 'hafnium-2018-10', but this run judges toy-0 (use --profile *"])


def test_hfconform_lists_and_selects_profiles(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list-profiles"]) == 0
    out = capsys.readouterr().out
    assert "hafnium-2018-10       55 clauses  Hafnium mailbox ABI, October 2018 (aa039b39) (default)" in out
    assert "ffa-1.1-indirect      99 clauses  Arm FF-A v1.1 indirect messaging, Hafnium 21bfbdc1\n" in out
    assert "hafnium-2019-03       62 clauses  Hafnium inter-VM ABI, March 2019 (53d9d04f)\n" in out
    assert "toy-0                  1 clauses  A toy ABI with one call" in out
    assert cli.main(["--profile", "toy-0", "--list-clauses"]) == 0
    assert capsys.readouterr().out.startswith("TOY-1    MUST         TOY_ANSWER (function ID 0x7) returns 42")
    assert cli.main(["--profile", "nosuch", "--list-clauses"]) == 4
    known = "ffa-1.1-indirect, hafnium-2018-10, hafnium-2019-03, toy-0"
    assert f"unknown profile 'nosuch'; known profiles: {known}" in capsys.readouterr().err
    ns = cli.build_parser().parse_args(["--profile", "toy-0"])
    assert cli.pytest_args(ns, [])[:2] == ["--pyargs", "toyprof.tests"] and "toy-0" in cli.pytest_args(ns, [])


def test_the_profile_unit_is_all_it_takes(toy: Path) -> None:
    # Nothing outside the unit names the toy: the shared packages find everything through the registry.
    shared = [Path(p) for p in ("conformance", "reference_hv", "guest_asm")]
    root = Path(__file__).resolve().parent.parent
    for package in shared:
        for source in (root / package).rglob("*.py"):
            assert not re.search(r"\btoy", source.read_text(), re.I), source
    profile = profiles.get("toy-0")
    assert profile.tests == "toyprof.tests" and profile.qualified("TOY-1") == "toy-0:TOY-1"


def test_a_clause_marker_may_qualify_its_ids(toy: Path, pytester: pytest.Pytester) -> None:
    tests = toy / "toyprof" / "tests"
    own = """
        import pytest

        @pytest.mark.clause("toy-0:TOY-1")
        def test_own_profile(boot):
            assert boot().answer() == 42
    """
    (tests / "test_qualified.py").write_text(textwrap.dedent(own))
    result, data = run_toy(pytester, toy)
    assert result.ret == 0, result.stdout.str()
    assert {t["nodeid"].rsplit("::", 1)[1]: t["clauses"] for t in data["tests"]}["test_own_profile"] == ["TOY-1"]
    other = """
        import pytest

        @pytest.mark.clause("hafnium-2018-10:SEND-5")
        def test_other_profile(boot):
            pass
    """
    (tests / "test_foreign.py").write_text(textwrap.dedent(other))
    result = pytester.runpytest(*PLUGIN, "--pyargs", "toyprof.tests", "--profile", "toy-0")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*clause(s) hafnium-2018-10:SEND-5 of another profile*(this run judges toy-0)*"])


def test_a_build_with_a_profiles_core_implements_that_profile_only(toy: Path) -> None:
    from reference_hv.build import ReferenceBuild

    # every registered profile with a core
    assert ReferenceBuild().profiles == {"ffa-1.1-indirect", "hafnium-2018-10", "hafnium-2019-03", "toy-0"}
    wrong = __import__("wrongtoy").build()
    assert wrong.profiles == {"toy-0"}  # its core is the toy's (a subclass of toyprof.core.Core)
    from profiles.hafnium_2018_10 import mutants

    assert mutants.CATALOGUE["send_accepts_4097"].profiles == {"hafnium-2018-10"}


def test_a_wholly_implementation_defined_clause_deviates_never_fails(toy: Path, pytester: pytest.Pytester) -> None:
    """A clause of strength IMPL-DEF (a row the text marks implementation-defined, e.g. an FF-A
    deviation) has no MUST part: a test of it that fails is a DEVIATION, the build still passes,
    and the clause is counted with the implementation-defined parts, not with the MUST clauses."""
    init = toy / "toyprof" / "__init__.py"
    init.write_text(
        init.read_text()
        .replace("from profiles import Clause, Profile", "from profiles import IMPL_DEF, Clause, Profile")
        .replace(
            '"toy"),),',
            '"toy"), Clause("TOY-2", 1, "TOY_ANSWER from a secondary: 43.", "toy", "the value", strength=IMPL_DEF)),',
        )
    )
    (toy / "toyprof" / "tests" / "test_impl.py").write_text(
        textwrap.dedent(
            """
            import pytest

            from conformance.harness import expect


            @pytest.mark.clause("TOY-2")
            def test_the_other_answer(boot):
                expect("the other answer", 42, 43, "the specification's behaviour: 43", clause="TOY-2")
            """
        )
    )
    result, data = run_toy(pytester, toy)
    assert result.ret == 0, result.stdout.str()
    assert [(c["id"], c["status"]) for c in data["clauses"]] == [("TOY-1", "PASS")]
    assert [(c["id"], c["status"]) for c in data["impl_defined"]] == [("TOY-2", "DEVIATION")]
    assert data["totals"]["must"]["PASS"] == 1 and sum(data["totals"]["must"].values()) == 1
    assert cli.list_clauses(profiles.get("toy-0"))[1].startswith("TOY-2    impl-defined")


def test_an_impl_def_clause_says_what_is_implementation_defined() -> None:
    with pytest.raises(ValueError, match="TOY-3: an IMPL-DEF clause says what is implementation-defined"):
        profiles.Clause("TOY-3", 1, "rule", "source", strength=profiles.IMPL_DEF)
    with pytest.raises(ValueError, match="strength must be 'MUST' or 'IMPL-DEF', not 'SHOULD'"):
        profiles.Clause("TOY-3", 1, "rule", "source", strength="SHOULD")


def _fake_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Stand in for the per-profile processes of ``--profile all``: record each command; the
    2019 profile's run fails (exit 1) and says so on its output."""
    import subprocess

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], check: bool, **kw: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        name = cmd[cmd.index("--profile") + 1]
        return subprocess.CompletedProcess(cmd, 1 if name == "hafnium-2019-03" else 0, f"output of {name}\n".encode())

    monkeypatch.setattr(subprocess, "run", fake_run)
    return calls


def test_profile_all_runs_each_profile_in_turn(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``hfconform --profile all`` without ``-n``: one run per registered profile, in turn, report
    files named per profile, the exit status the worst of theirs; ``--clause`` needs one profile."""
    calls = _fake_runs(monkeypatch)
    code = cli.main(["--profile", "all", "--json", "out/s.json", "--report=r.html", "-q", "--", "-x"])
    assert code == 1
    assert [cmd[cmd.index("--profile") + 1] for cmd in calls] == profiles.names()
    first = calls[0][calls[0].index("--profile") + 2 :]
    assert first == ["--json", "out/s.ffa-1.1-indirect.json", "--report=r.ffa-1.1-indirect.html", "-q", "--", "-x"]
    assert "hafnium-2019-03: exit 1" in capsys.readouterr().out
    assert cli.main(["--profile", "all", "-n", "1", "-q"]) == 1
    assert calls[-1][calls[-1].index("--profile") + 2 :] == ["-n", "1", "-q"]  # one process: in turn, -n as given
    assert cli.main(["--profile", "all"]) == 1  # nothing else on the command line
    assert calls[-1][calls[-1].index("--profile") + 2 :] == []
    assert cli.main(["--profile", "all", "--clause", "SEND-5"]) == 4
    assert "--clause and --list-clauses need one profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("workers", "each"),
    [(["-n", "2"], []), (["-n2"], []), (["-n", "6"], ["-n", "2"]), (["-n", "7"], ["-n", "2"]), (["-n", "9"], ["-n", "3"])],
)
@pytest.mark.parametrize("rest", [[], ["-q"]])
def test_profile_all_with_workers_runs_profiles_side_by_side(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workers: list[str], each: list[str], rest: list[str]
) -> None:
    """``--profile all -n N``: the profiles run at once, each with its share of the N processes
    (``-n`` only when the share is 2 or more); the outputs are printed whole, in profile order,
    with the same per-profile report files and the same worst exit status as in turn."""
    calls = _fake_runs(monkeypatch)
    assert cli.main(["--profile", "all", *workers]) == 1  # nothing else: README's quick start
    assert [cmd[cmd.index("--profile") + 2 :] for cmd in calls] == [each] * len(profiles.names())
    calls.clear()
    code = cli.main(["--profile", "all", *workers, "--json", "s.json", *rest, "--", "-n", "5"])
    assert code == 1
    assert sorted(cmd[cmd.index("--profile") + 1] for cmd in calls) == sorted(profiles.names())
    for cmd in calls:
        name = cmd[cmd.index("--profile") + 1]
        assert cmd[cmd.index("--profile") + 2 :] == [*each, "--json", f"s.{name}.json", *rest, "--", "-n", "5"]
    out = capsys.readouterr().out
    out = out[out.rindex("side by side") :]
    blocks = [out.index(f"== profile {name} ==\noutput of {name}\n") for name in profiles.names()]
    assert blocks == sorted(blocks)
    assert out.rstrip().endswith("hafnium-2019-03: exit 1")


def test_profile_workers_shares_the_processes() -> None:
    assert [cli.profile_workers(n, 3) for n in (1, 2, 3, 5, 6, 8, 9)] == [0, 0, 0, 0, 2, 2, 3]
