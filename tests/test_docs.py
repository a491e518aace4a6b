"""The docs' examples are what the commands print (tools/doc_examples.py regenerates them)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "tools" / "doc_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["doc_examples"] = module
    spec.loader.exec_module(module)
    return module


TOOL = _tool()
EXAMPLES = [(doc, cmd, body) for doc in TOOL.DOCS for cmd, body in TOOL.examples(doc.read_text())]


def test_the_docs_have_examples() -> None:
    assert EXAMPLES, "docs/reports.md shows a real run"


@pytest.mark.parametrize(("doc", "command", "body"), EXAMPLES, ids=[cmd for _, cmd, _ in EXAMPLES])
def test_example_is_what_the_command_prints(doc: Path, command: str, body: str) -> None:
    if "qemu:" in command and not shutil.which("qemu-system-aarch64"):
        if os.environ.get("HFCONFORM_REQUIRE_QEMU") == "1":
            pytest.fail("HFCONFORM_REQUIRE_QEMU=1 but qemu-system-aarch64 is not installed")
        pytest.skip("needs qemu-system-aarch64 (apt-get install qemu-system-arm; HFCONFORM_REQUIRE_QEMU=1 requires it)")
    assert TOOL.run(command) == body, f"{doc.name}: run 'python tools/doc_examples.py' to regenerate the example"


def test_alternate_builds_example_runs_as_written(tmp_path: Path) -> None:
    """docs/alternate-builds.md's mybuild.py, run the way its first line says, is caught on VM-2."""
    import json
    import re
    import subprocess

    text = (ROOT / "docs" / "alternate-builds.md").read_text()
    source = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if b.startswith("# mybuild.py"))
    command = re.match(r"# mybuild\.py — in its directory, run: (hfconform .*)\n", source)
    assert command is not None
    (tmp_path / "mybuild.py").write_text(source)
    argv = command.group(1).split()[1:]
    script = Path(sys.executable).parent / "hfconform"  # the installed command: its own dir is on sys.path, not the cwd
    assert script.exists(), "the package is installed (pip install -e .) with its hfconform script"
    proc = subprocess.run(
        [str(script), *argv, "--json", "out.json", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # found from the cwd, as documented
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["build"] == "reference-off-by-one"
    failed = {c["id"] for c in report["clauses"] if c["status"] == "FAIL"}
    assert failed == {"VM-2"}


def _keys(value: object, path: str = "") -> set[str]:
    """Every key path in a JSON value (list items as ``[]``); ``"..."`` placeholders left out."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "..." or key.startswith("<"):
                continue
            out.add(f"{path}.{key}")
            if key not in ("durations", "environment"):
                out |= _keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            out |= _keys(item, f"{path}[]")
    return out


def test_json_sample_in_the_docs_has_the_reports_keys() -> None:
    """docs/reports.md's JSON sample names exactly the keys a real report has."""
    import json
    import re

    from conformance import report

    text = (ROOT / "docs" / "reports.md").read_text()
    sample = json.loads(re.findall(r"## JSON summary.*?```json\n(.*?)```", text, flags=re.S)[0])
    passed = report.TestResult("t.py::test_a", ("SEND-6",), outcome="PASS", waiver="test t.py::test_a: w", waiver_not_needed=True)
    failed = report.TestResult("t.py::test_b", ("SEND-6", "CLR-3"), outcome="FAIL", blamed=("SEND-6",), what="w")
    summary = report.aggregate([passed, failed], "b")
    summary.clause_waivers_not_needed = ["clause CLR-3: w"]
    real = report.to_json(summary)
    assert _keys(sample) - _keys(real) == set(), "the docs show keys a report does not have"
    shown = {k for k in _keys(real) if k.count(".") <= 2 and not k.startswith(".impl_defined[].")}  # abbreviated there
    assert shown - _keys(sample) == set(), "a report key is missing in the docs"


def test_waiver_samples_in_the_docs_parse() -> None:
    import json
    import re
    import tomllib

    from conformance import waivers

    text = (ROOT / "docs" / "alternate-builds.md").read_text()
    section = text.split("## Waivers", 1)[1]
    toml_sample = re.findall(r"```toml\n(.*?)```", section, flags=re.S)[0]
    json_sample = re.findall(r"```json\n(.*?)```", section, flags=re.S)[0]
    assert len(waivers.parse(tomllib.loads(toml_sample)).entries) == 2
    assert waivers.parse(json.loads(json_sample)).entries[0].key == "SEND-6"
