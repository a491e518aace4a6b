"""Mutation score of the ABI core: how many small edits of ``profiles/hafnium_2018_10/core.py`` the suite notices.

    python tools/mutate_core.py                 # every mutation, 2 suite runs at a time
    python tools/mutate_core.py -j 2 --json mutation.json
    python tools/mutate_core.py --list          # the mutations, without running anything
    python tools/mutate_core.py --only 17 --only 42

Each mutation is ONE edit of the core's AST: a comparison operator flipped at its boundary
(``==``/``!=``, ``<``/``<=``, ``is``/``is not``, ``in``/``not in``), an integer constant ±1,
``and``/``or`` swapped, an ``if`` condition negated, a ``not`` or ``~`` removed, ``&``/``|``,
``+``/``-``, ``<<``/``>>`` swapped, ``%`` turned into ``//``, a ``return`` or an assignment (or a
bare call) dropped. The mutated module is written to a temporary directory; the enum and data
classes are re-bound to the real ``profiles.hafnium_2018_10.core`` ones (what tests compare states with),
so only the logic — ``Core`` and the module's constants — changes. The conformance suite then runs
against ``ReferenceBuild(core_class=<mutated Core>)`` in its own pytest process, stopping at the
first failure (``-x``). A mutation is *killed* when the run fails, *survives* when it passes.
The score is killed / (killed + survived); survivors are listed with their line.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python tools/mutate_core.py` from a checkout
    sys.path.insert(0, str(ROOT))
CORE = ROOT / "profiles" / "hafnium_2018_10" / "core.py"
#: Classes whose definitions stay the real ones (the machine layer creates and compares them).
KEPT_CLASSES = ("VcpuState", "MailboxState", "Vcpu", "Vm")
RUN_TIMEOUT = 600.0

_COMPARE_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINOP_FLIP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.Mod: ast.FloorDiv,
}
_SYMBOLS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Mod: "%",
    ast.FloorDiv: "//",
}


@dataclass(frozen=True)
class Mutation:
    index: int
    line: int
    kind: str
    description: str


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Mutator(ast.NodeTransformer):
    """Walks the module; numbers every mutation site; applies the one numbered ``target``."""

    def __init__(self, target: int = -1) -> None:
        self.target = target
        self.count = 0
        self.found: list[Mutation] = []

    def _site(self, node: ast.AST, kind: str, description: str) -> bool:
        """Register a site; True when it is the one to apply."""
        index = self.count
        self.count += 1
        self.found.append(Mutation(index, getattr(node, "lineno", 0), kind, description))
        return index == self.target

    # --- scope ---------------------------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        if node.name in KEPT_CLASSES:
            return node
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.body = [self.visit_stmt(s) for s in node.body]
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_stmt(self, stmt: ast.stmt) -> ast.stmt:
        """Statements in a function body: dropping one is a mutation too."""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return stmt  # docstring
        droppable = isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return)) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
        )
        if droppable and self._site(stmt, "drop", f"drop `{_short(stmt)}`"):
            return ast.copy_location(ast.Pass(), stmt)
        result = self.visit(stmt)
        assert isinstance(result, ast.stmt)
        return result

    def _visit_body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        return [self.visit_stmt(s) for s in body]

    # --- statements with bodies ----------------------------------------------------------------

    def visit_If(self, node: ast.If) -> ast.AST:
        if self._site(node, "negate", f"negate `if {_short(node.test)}`"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        else:
            node.test = self.visit(node.test)
        node.body = self._visit_body(node.body)
        node.orelse = self._visit_body(node.orelse)
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        node.iter = self.visit(node.iter)
        node.body = self._visit_body(node.body)
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        if self._site(node, "negate", f"negate `{_short(node.test)}` in a conditional expression"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
            return node
        return self.generic_visit(node)

    # --- expressions ---------------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for i, op in enumerate(node.ops):
            flipped = _COMPARE_FLIP.get(type(op))
            if flipped is None:
                continue
            if self._site(node, "compare", f"`{_short(node)}`: `{_SYMBOLS[type(op)]}` -> `{_SYMBOLS[flipped]}`"):
                node.ops[i] = flipped()
                return node
        return self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        other: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        names = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        if self._site(node, "boolop", f"`{_short(node)}`: `{names[0]}` -> `{names[1]}`"):
            node.op = other
            return node
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        flipped = _BINOP_FLIP.get(type(node.op))
        if flipped is not None and self._site(
            node, "binop", f"`{_short(node)}`: `{_SYMBOLS[type(node.op)]}` -> `{_SYMBOLS[flipped]}`"
        ):
            node.op = flipped()
            return node
        return self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, (ast.Not, ast.Invert)) and self._site(node, "unary", f"remove the operator of `{_short(node)}`"):
            return node.operand
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            for delta in (1, -1):
                if self._site(node, "constant", f"`{value:#x}` -> `{value + delta:#x}`"):
                    return ast.copy_location(ast.Constant(value + delta), node)
        return node


def mutations(source: str) -> list[Mutation]:
    m = _Mutator()
    m.visit(ast.parse(source))
    return m.found


def mutated_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    m = _Mutator(index)
    tree = m.visit(copy.deepcopy(tree))
    if index >= m.count:
        raise IndexError(f"no mutation {index}: {m.count} sites")
    ast.fix_missing_locations(tree)
    kept = ", ".join(KEPT_CLASSES)
    return ast.unparse(tree) + f"\n\nfrom profiles.hafnium_2018_10.core import {kept}  # noqa: E402, F401 - the real classes\n"


BUILD_MODULE = """
from reference_hv.build import ReferenceBuild
from {core} import Core

build = ReferenceBuild(core_class=Core)
build.name = "core-mutation-{index}"
"""


@dataclass
class Result:
    index: int
    line: int
    kind: str
    description: str
    status: str  # killed | survived | crashed | hung
    seconds: float
    detail: str = ""


def run_mutation(source: str, mutation: Mutation, timeout: float, extra: Sequence[str]) -> Result:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hf-mutate-") as tmp:
        core_mod, build_mod = f"hf_mutated_core_{mutation.index}", f"hf_mutated_build_{mutation.index}"
        Path(tmp, f"{core_mod}.py").write_text(mutated_source(source, mutation.index))
        Path(tmp, f"{build_mod}.py").write_text(BUILD_MODULE.format(core=core_mod, index=mutation.index))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tmp, str(ROOT), env.get("PYTHONPATH", "")) if p)
        from conformance.selftest import suite_command

        cmd = suite_command(f"{build_mod}:build", None, ["-x", *(["-n", "0"] if _has_xdist() else []), *extra])
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return _result(mutation, "hung", time.monotonic() - start)
    out = (proc.stdout + proc.stderr).strip().splitlines()
    if proc.returncode == 0:
        status = "survived"
    elif proc.returncode == 1:
        status = "killed"
    else:
        status = "crashed"
    failed = next((line for line in out if line.startswith(("FAILED", "ERROR"))), out[-1] if out else "")
    return _result(mutation, status, time.monotonic() - start, failed[:200])


def _result(m: Mutation, status: str, seconds: float, detail: str = "") -> Result:
    return Result(m.index, m.line, m.kind, m.description, status, seconds, detail)


def _has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/mutate_core.py", description=__doc__.split("\n\n")[0])
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--only", type=int, action="append", default=[], metavar="N", help="only mutation N (repeatable)")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--timeout", type=float, default=RUN_TIMEOUT)
    p.add_argument("--deterministic", action="store_true", help="leave out the randomised tests (test_model, test_hostile)")
    args = p.parse_args(argv)

    source = CORE.read_text()
    found = mutations(source)
    if args.list:
        for m in found:
            print(f"{m.index:4} L{m.line:<4} {m.kind:9} {m.description}")
        print(f"{len(found)} mutations of {CORE.relative_to(ROOT)}")
        return 0
    chosen = [m for m in found if not args.only or m.index in args.only]
    extra = ["-k", "not test_model and not test_hostile"] if args.deterministic else []
    started = time.monotonic()

    def work(m: Mutation) -> Result:
        r = run_mutation(source, m, args.timeout, extra)
        print(f"  #{m.index:<4} L{m.line:<4} {r.status:8} {r.seconds:5.1f} s  {m.description}", flush=True)
        return r

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(work, chosen))
    elapsed = time.monotonic() - started
    killed = [r for r in results if r.status != "survived"]
    survivors = [r for r in results if r.status == "survived"]
    score = 100 * len(killed) / max(len(results), 1)
    print()
    print(f"mutation score: {len(killed)}/{len(results)} = {score:.1f}% ({elapsed:.0f} s with -j {args.jobs})")
    flagged = [r for r in killed if r.status != "killed"]
    if flagged:
        print("crashed or hung (counted as killed): " + ", ".join(f"#{r.index}" for r in flagged))
    if survivors:
        print("survivors:")
        lines = source.splitlines()
        for r in survivors:
            print(f"  #{r.index:<4} L{r.line:<4} {r.description}")
            print(f"        {lines[r.line - 1].strip()}")
    if args.json:
        doc = {
            "schema": "hafnium-core-mutation/1",
            "target": str(CORE.relative_to(ROOT)),
            "seconds": round(elapsed, 1),
            "jobs": args.jobs,
            "score": round(score, 2),
            "results": [asdict(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
