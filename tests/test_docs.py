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
