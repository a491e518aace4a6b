"""The benchmark's own logic: its figures are measured, never asserted, but what it prints about
them -- each speed target, met or missed -- must be right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import profiles
from bench import __main__ as bench


def _micro(name: str, ratio: float) -> dict[str, Any]:
    return {"name": name, "floor_us": 1.0, "reference_us": ratio, "ratio": ratio, "reference_per_s": 1e6 / ratio, "unit": "op"}


def _serial(median_ms: float) -> dict[str, Any]:
    return {
        "workers": 1,
        "wall_s": 8.0,
        "peak_rss_mb": 170.0,
        "profiles": {"hafnium-2018-10": {"per_test": {"median_ms": median_ms, "p90_ms": 3.0, "tests": 283}, "tests": 283}},
    }


def test_targets_are_judged_against_the_issue_s_limits() -> None:
    results: dict[str, Any] = {
        "micro": [
            _micro("hvc round trip (HF_VM_GET_COUNT, guest loop)", 1.5),
            _micro("world switch (run -> 100-insn slice -> YIELD)", 1.51),
            _micro("echo round trip, 4 KiB (send, run, MESSAGE, clear)", 1.2),
            _micro("driver call from Python (HF_VM_GET_COUNT)", 2.0),
        ],
        "hftest": {"hafnium-2018-10": {"median_s": 0.037, "build": "b", "measured": "m"}},
        "suite": {
            "runs": [_serial(1.85), {**_serial(1.85), "workers": 2, "peak_rss_mb": 301.0}],
            "serial": _serial(1.85),
            "speedup": 1.59,
        },
        "selftest": [
            {
                "profile": "p1",
                "wall_s": 179.0,
                "exit": 0,
                "peak_rss_mb": 90.0,
                "totals": {"mutants": 9, "killed": 9, "precision": 1.0, "recall": 1.0},
            },
            {
                "profile": "p2",
                "wall_s": 181.0,
                "exit": 0,
                "peak_rss_mb": 90.0,
                "totals": {"mutants": 9, "killed": 9, "precision": 1.0, "recall": 1.0},
            },
            {
                "profile": "p3",
                "wall_s": 10.0,
                "exit": 1,
                "peak_rss_mb": 90.0,
                "totals": {"mutants": 9, "killed": 8, "precision": 1.0, "recall": 1.0},
            },
        ],
        "qemu": [
            {"config": "a.toml", "profile": "hafnium-2018-10", "wall_s": 119.0, "per_test": {"median_ms": 37.0, "p90_ms": 50.0}},
            {"config": "b.toml", "profile": "hafnium-2018-10", "wall_s": 121.0, "per_test": {"median_ms": 37.5, "p90_ms": 50.0}},
        ],
    }
    met = {t["target"]: t["met"] for t in bench.targets(results)}
    assert met == {
        "hot path: hvc round trip (HF_VM_GET_COUNT, guest loop)": True,
        "hot path: world switch (run -> 100-insn slice -> YIELD)": False,
        "hot path: echo round trip, 4 KiB (send, run, MESSAGE, clear)": True,
        "hot path: driver call from Python (HF_VM_GET_COUNT)": False,
        "per test on the reference, hafnium-2018-10": True,  # 37 / 1.85 = 20x
        "whole suite, -n 2 against serial": False,
        "self-test, p1": True,
        "self-test, p2": False,  # over 3 minutes
        "self-test, p3": False,  # a mutant survived (exit 1)
        "per test on a.toml": True,
        "-n 2 run on a.toml": True,
        "per test on b.toml": False,
        "-n 2 run on b.toml": False,
        "peak RSS of a process": False,  # 301 MB with -n 2
    }
    assert "faster than hftest's 37 ms" in next(t["measured"] for t in bench.targets(results) if "reference" in t["target"])


def test_median_p90() -> None:
    assert bench.median_p90([3.0, 1.0, 2.0]) == (2.0, 3.0)
    assert bench.median_p90([float(i) for i in range(1, 11)]) == (5.5, 9.0)


def test_every_profile_has_an_hftest_figure() -> None:
    assert sorted(bench.HFTEST) == sorted(profiles.names())


def test_a_quick_run_prints_the_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert bench.main(["--quick", "--rounds", "20", "--repeat", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hvc round trip" in printed and "speed targets" in printed
    doc = json.loads(out.read_text())
    assert [r["name"].split(" ")[0] for r in doc["micro"]] == ["hvc", "world", "echo", "driver"]
    assert all(r["floor_us"] > 0 and r["reference_us"] > 0 for r in doc["micro"])
    assert {t["target"].split(":")[0] for t in doc["targets"]} == {"hot path"}
    assert "suite" not in doc and "selftest" not in doc
