"""``hfconform fuzz`` (conformance/fuzz.py): small budgets against the reference and deliberately
broken builds (one that raises, one that writes into another VM, one that hangs, one that leaks,
one that is not deterministic): the summary, the JSON and the exit status."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conformance import cli, fuzz

#: Builds wrapping the reference, each broken in one way; written to a module in the test's
#: directory and named with ``--hv module:attr`` (imported from the working directory).
FAKE_BUILDS = """
import os, random, time
from reference_hv.build import ReferenceBuild

LEAK = []

class Session:
    def __init__(self, inner, kind, flag):
        self.inner, self.kind, self.flag, self.calls = inner, kind, flag, 0

    def call(self, x0, x1=0, x2=0, x3=0, *, regs=None, insn="hvc #0"):
        self.calls += 1
        if self.kind == "raise" and self.calls == 3:
            raise RuntimeError("the fake build broke on its third call")
        if self.kind == "hang" and self.calls == 2 and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            time.sleep(120)
        if self.kind == "leak":
            LEAK.append(b"\\x01" * 100_000)
        outcome = self.inner.call(x0, x1, x2, x3, regs=regs, insn=insn)
        if self.kind == "write":
            last = self.inner.vm_count - 1
            self.inner.write(last, self.inner.base(last) + 0x800, bytes([self.calls & 0xFF]))
        return outcome

    @property
    def trace(self):
        extra = [f"noise {random.random()}"] if self.kind == "random" else []
        return [*self.inner.trace, *extra]

    def base(self, vm):
        return self.inner.base(vm)

    def read(self, vm, addr, size):
        return self.inner.read(vm, addr, size)

    def write(self, vm, addr, data):
        self.inner.write(vm, addr, data)

    def close(self):
        self.inner.close()


class Broken:
    capabilities = ReferenceBuild.capabilities

    def __init__(self, kind):
        self.kind, self.name = kind, f"broken-{kind}"
        self.flag = os.path.join(os.getcwd(), f"{kind}.flag")

    def boot(self, config):
        return Session(ReferenceBuild().boot(config), self.kind, self.flag)


raising, writing, hanging, leaking, noisy = (Broken(k) for k in ("raise", "write", "hang", "leak", "random"))
"""


def _fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FAKE_BUILDS))
    monkeypatch.chdir(tmp_path)
    return name


def _run(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "fuzz.json"
    status = cli.main(["fuzz", "-q", "--json", str(out), *args])
    return status, json.loads(out.read_text())


def test_reference_small_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--hypercalls", "150", "--programs", "3", "--assembler", "20", "--replays", "2", "--seed", "7"]
    status, doc = _run(args, tmp_path)
    out = capsys.readouterr().out
    assert status == 0 and doc["exit_status"] == 0
    assert "fuzz of build 'reference' (seed 7)" in out and "result: ok (exit status 0)" in out
    for name in fuzz.CAMPAIGNS:
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
        stats = doc["campaigns"][name]
        assert stats["cases"] > 0 and stats["replays"] == 2 and not stats["skipped"]
        for key in ("harness_exceptions", "hangs", "leaks", "cross_vm", "determinism_mismatches", "spec_diffs"):
            assert stats[key] == 0, (name, key)
        assert stats["rss_start"] > 0 and stats["rss_end"] > 0 and stats["rss_samples"]
    assert doc["campaigns"]["hypercalls"]["hypercalls"] >= 150
    assert doc["campaigns"]["garbage"]["cases"] == 3 and doc["campaigns"]["assembler"]["cases"] == 20
    assert doc["totals"]["cases"] == sum(doc["campaigns"][n]["cases"] for n in fuzz.CAMPAIGNS)
    assert doc["build"] == "reference" and doc["seed"] == 7 and doc["profile"] == "hafnium-2018-10"
    assert doc["rss"]["workers_start"] > 0 and doc["findings"] == []
    assert doc["assembler_cache"]["bytes"] <= doc["assembler_cache"]["limit"]


def test_cases_are_reproducible_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from reference_hv.build import ReferenceBuild

    build = ReferenceBuild()
    first = fuzz.run_case(build, 3, "hypercalls", 5)
    again = fuzz.run_case(build, 3, "hypercalls", 5)
    assert first.digest == again.digest and first.hypercalls == again.hypercalls > 0
    assert not (first.exception or first.hang or first.cross_vm or first.spec_diff)
    assert fuzz.run_case(build, 3, "hypercalls", 6).digest != first.digest
    assert cli.main(["fuzz", "--seed", "3", "--case", "assembler:4"]) == 0
    out = capsys.readouterr().out
    assert "case assembler:4 (seed 3" in out and "assemble(text, base=" in out and "-> " in out


def test_raising_build_is_a_harness_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mod = _fake(tmp_path, monkeypatch, "fake_raise")
    status, doc = _run(
        ["--hv", f"{mod}:raising", "--hypercalls", "40", "--programs", "2", "--assembler", "0", "--replays", "0"], tmp_path
    )
    out = capsys.readouterr().out
    assert status == 1 and doc["exit_status"] == 1
    hyper = doc["campaigns"]["hypercalls"]
    assert hyper["harness_exceptions"] == hyper["cases"] >= 1
    assert doc["campaigns"]["garbage"]["harness_exceptions"] == 2
    assert doc["campaigns"]["garbage-primary"]["skipped"]  # not the reference: the primary is the driver
    finding = doc["findings"][0]
    assert finding["kind"] == "harness_exception" and "RuntimeError: the fake build broke" in finding["detail"]
    assert finding["reproduce"] == f"hfconform fuzz --hv {mod}:raising --seed 0 --case hypercalls:0"
    assert "harness_exception in hypercalls:0: RuntimeError" in out and "result: FAILED (exit status 1)" in out


def test_build_writing_into_another_vm_is_a_cross_vm_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake(tmp_path, monkeypatch, "fake_write")
    status, doc = _run(
        ["--hv", f"{mod}:writing", "--hypercalls", "40", "--programs", "2", "--assembler", "0", "--replays", "0"], tmp_path
    )
    assert status == 1
    assert doc["campaigns"]["hypercalls"]["cross_vm"] >= 1 and doc["campaigns"]["garbage"]["cross_vm"] == 2
    assert doc["totals"]["harness_exceptions"] == 0
    assert any(f["kind"] == "cross_vm" and "canary" in f["detail"] for f in doc["findings"])


def test_hanging_build_is_caught_by_the_watchdog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake(tmp_path, monkeypatch, "fake_hang")
    args = ["--hv", f"{mod}:hanging", "--hypercalls", "60", "--programs", "0", "--assembler", "0", "--replays", "0"]
    status, doc = _run([*args, "--case-timeout", "1.5"], tmp_path)
    assert status == 1
    hyper = doc["campaigns"]["hypercalls"]
    assert hyper["hangs"] == 1 and hyper["harness_exceptions"] == 0
    assert hyper["cases"] >= 2  # the worker was replaced and the campaign went on
    (hang,) = [f for f in doc["findings"] if f["kind"] == "hang"]
    assert "watchdog" in hang["detail"] and hang["reproduce"].endswith("--case hypercalls:0")


def test_leaking_build_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake(tmp_path, monkeypatch, "fake_leak")
    args = ["--hv", f"{mod}:leaking", "--hypercalls", "500", "--programs", "0", "--assembler", "0", "--replays", "0"]
    status, doc = _run([*args, "--leak-bound", "8", "--snapshot-every", "2"], tmp_path)
    assert status == 1
    hyper = doc["campaigns"]["hypercalls"]
    assert hyper["leaks"] == 1 and hyper["rss_end"] - hyper["rss_start"] > 8 << 20
    assert hyper["leak_detail"] and len(hyper["rss_samples"]) > 2


def test_nondeterministic_build_is_a_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = _fake(tmp_path, monkeypatch, "fake_noise")
    args = ["--hv", f"{mod}:noisy", "--hypercalls", "100", "--programs", "1", "--assembler", "0", "--replays", "1"]
    status, doc = _run(args, tmp_path)
    assert status == 1
    assert doc["campaigns"]["hypercalls"]["determinism_mismatches"] == 1
    assert doc["campaigns"]["garbage"]["determinism_mismatches"] == 1
    assert doc["totals"]["spec_diffs"] == 0 and doc["totals"]["harness_exceptions"] == 0


def test_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fuzz", "--hv", "no_such_module:build"]) == 2
    assert cli.main(["fuzz", "--case", "nope:1"]) == 2
    assert cli.main(["fuzz", "--programs", "-1"]) == 2
    err = capsys.readouterr().err
    assert "no_such_module" in err and "CAMPAIGN:INDEX" in err
