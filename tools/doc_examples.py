"""Regenerate the command examples in the docs from what the commands print.

    python tools/doc_examples.py          # rewrite the examples in place
    python tools/doc_examples.py --check  # exit 1 if a doc's example differs from the output

An example is a fenced ``text`` block between ``<!-- example: COMMAND -->`` and
``<!-- end example -->``. COMMAND is an ``hfconform`` command line; the example holds its clause
table: from the ``=== ... conformance of build ...`` line to the ``tests:`` totals line, without the
line naming the suite's version and commit (it changes with every commit).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "reports.md", ROOT / "README.md")
EXAMPLE = re.compile(r"(<!-- example: (?P<cmd>.*?) -->\n```text\n)(?P<body>.*?)(```\n<!-- end example -->)", re.S)


def table_of(output: str) -> str:
    """The clause table of an ``hfconform`` run's terminal output, normalised for the docs."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^=+ .* conformance of build .* =+$", line))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("tests: "))
    kept = [line.rstrip() for line in lines[start : end + 1] if not line.startswith("hafnium-conformance ")]
    return "\n".join(kept) + "\n"


def run(command: str) -> str:
    """Run ``hfconform ...`` in a child process (a fresh pytest) and return its table."""
    import subprocess

    argv = shlex.split(command)
    if argv[:1] != ["hfconform"]:
        raise SystemExit(f"doc_examples: only hfconform commands are examples, not {command!r}")
    code = "import sys; from conformance.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv[1:], "--color=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    return table_of(proc.stdout)


def examples(text: str) -> list[tuple[str, str]]:
    return [(m.group("cmd"), m.group("body")) for m in EXAMPLE.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare, do not rewrite")
    args = p.parse_args(argv)
    stale = 0
    for doc in DOCS:
        text = doc.read_text()
        outputs = {cmd: run(cmd) for cmd, _ in examples(text)}

        def fill(m: re.Match[str], out: dict[str, str] = outputs) -> str:
            return m.group(1) + out[m.group("cmd")] + m.group(4)

        new = EXAMPLE.sub(fill, text)
        if new != text:
            stale += 1
            if args.check:
                print(f"{doc.relative_to(ROOT)}: an example differs from what its command prints", file=sys.stderr)
            else:
                doc.write_text(new)
                print(f"{doc.relative_to(ROOT)}: examples regenerated")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
