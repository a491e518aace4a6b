"""The example out-of-tree build (``examples/minimal_hv``, written from docs/alternate-builds.md)
passes the whole suite: every MUST clause PASS, nothing FAIL, TIMEOUT or ERROR.

Nothing is installed: the example is found through ``PYTHONPATH`` and named as ``module:attr``,
so this runs on a fresh clone. The suite runs in one process (faster than xdist for ~300 short
tests, and nothing to oversubscribe when this file itself runs under ``-n``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "minimal_hv"
MUST_CLAUSES = 55  # the hafnium-2018-10 registry: 51 MUST clauses and 4 with an implementation-defined part


def _run_suite(report: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    assert (EXAMPLE / "minimal_hv" / "__init__.py").is_file(), f"the example build is missing: {EXAMPLE}"
    path = [str(EXAMPLE), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "COLUMNS": "100"}
    code = "import sys; from conformance.cli import main; sys.exit(main(sys.argv[1:]))"  # hfconform, installed or not
    argv = ["--hv", "minimal_hv:MinimalBuild", "--json", str(report), "-p", "no:cacheprovider", "--color=no"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert report.exists(), f"no JSON report (exit status {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    data: dict[str, Any] = json.loads(report.read_text())
    return proc, data


def test_example_build_passes_every_must_clause(tmp_path: Path) -> None:
    proc, data = _run_suite(tmp_path / "minimal.json")
    output = proc.stdout[-6000:]
    assert data["build"] == "minimal"
    must, tests = data["totals"]["must"], data["totals"]["tests"]
    not_passing = [(c["id"], c["status"]) for c in data["clauses"] if c["status"] != "PASS"]
    assert not_passing == [], f"MUST clauses not PASS: {not_passing}\n{output}"
    assert must["PASS"] == MUST_CLAUSES == sum(must.values()), f"{must}\n{output}"
    bad = {k: tests[k] for k in ("FAIL", "TIMEOUT", "ERROR") if tests[k]}
    assert bad == {}, f"{bad}\n{output}"
    assert data["guard"]["missing"] == [], data["guard"]
    assert proc.returncode == 0, f"hfconform exit status {proc.returncode}\n{output}\n{proc.stderr[-2000:]}"
