"""README.md is what a new user types: its commands are CI's, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_quick_start_commands_are_what_ci_runs() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```sh\n(.*?)```", quick, flags=re.S)]
    assert len(commands) == 2, "the quick start is two commands: install + run the suite, run the tests"
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert "\n" not in command, "each quick-start command is one copy-pasteable line"
        assert f'bash -c "{command}"' in ci, f".ci/run does not run README's command: {command}"


def test_python_examples_run() -> None:
    blocks = _blocks("python")
    assert blocks
    namespace: dict[str, object] = {}
    for index, block in enumerate(blocks):  # one namespace, in order, as a reader would type them
        exec(compile(block, f"README.md python block {index}", "exec"), namespace)
