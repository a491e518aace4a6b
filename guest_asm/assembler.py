"""Keystone (the product's assembler) for AArch64 guest programs, and the checks it needs.

Keystone 0.9.2 runs in a child process with a deadline (:mod:`guest_asm._ks_worker`): an input that
crashes it (``.text``, an out-of-range fixup: "LLVM ERROR") or hangs it is an :class:`AsmError`
naming the program and the line, found by re-assembling prefixes (error path only). Two known hangs
are refused first (a deadline at each step of that search would be slow): ``:`` in operands
(``nop ::``, ``:lo12:``) and integer literals of 65 bits or more. Where Keystone returns wrong
bytes without an error, a check:

* **Sizes.** A marker label precedes each statement and a table of their addresses ends the text
  (so no user line is last: Keystone empties the output for a comment on an unterminated last
  line): an instruction must take 4 bytes, data its width times its values, ``.skip N`` N bytes,
  and the table must be there (Keystone silently drops ``.hword 0x10000``, ``hvc #0 junk``,
  ``.skip -4``, all after ``.section``).
* **Targets.** The target of each branch, ``adr``, literal load and ``ldr Rn, =`` is assembled into
  the table too, and what Keystone encoded must reach it (``cbz x0, <far>`` and far pools wrap).
* **Expressions** (Keystone evaluates them): comparisons and logical operators are refused
  (``#1==1`` is 1, GNU as gives -1), a shift count must be a number below 64 (``1<<64`` is 1), and
  operators that GNU as ranks otherwise (Keystone ranks ``<<`` below ``+``) need parentheses.
* **Refused**, saying what to write instead: ``adrp`` (a page off), directives not in
  :data:`ALLOWED_DIRECTIVES` (``.section``, ``.inst`` emit nothing; ``.align 70`` hangs), addresses
  in data narrower than ``.quad``, in ``ldr wN, =`` and ``.equ`` (truncated; ``.byte label`` hangs).

``.macro``/``.rept`` are expanded here (bounded), so each statement has a marker and an error in a
macro names the line using it.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from guest_asm import _ks_worker

__all__ = ["ALLOWED_DIRECTIVES", "FORMAT_VERSION", "MAX_CODE_SIZE", "AsmError", "Image", "assemble", "assemble_uncached"]
__all__ += ["cache_key", "keystone_version"]

#: Bump whenever the wrapper's output for a given source could change (part of the cache key).
FORMAT_VERSION = 6
MAX_CODE_SIZE = 1 << 20
MAX_BASE = 1 << 48
MAX_STATEMENTS = MAX_CODE_SIZE // 4
MAX_DEPTH = 16  # .macro and .rept nesting
MAX_WORK = 4 * MAX_STATEMENTS  # lines expanded (one per 64 characters) and .rept iterations
MAX_LINE = 1 << 16  # characters in a line produced by a macro
_MAGIC = 0x42544D5953434648  # "HFCSYMTB": the table follows
_PREFIX = "__hfc_"  # markers: __hfc_<statement index>, __hfc_end

_DATA_WIDTHS = {".byte": 1, ".hword": 2, ".short": 2, ".word": 4, ".long": 4, ".int": 4, ".quad": 8, ".xword": 8}
_SKIPS = (".skip", ".space", ".zero")
ALLOWED_DIRECTIVES: tuple[str, ...] = (
    *(".macro", ".endm", ".rept", ".endr", ".equ", ".set", ".balign", ".ltorg", ".global", ".globl"),
    *_DATA_WIDTHS,
    *_SKIPS,
)
_HINTS = {
    **dict.fromkeys((".text", ".data", ".bss", ".section"), "delete it: the image is one flat section (Keystone "
                    "segfaults on .text and drops all that follows .section)"),
    ".inst": "write .word 0x........ instead (Keystone silently ignores .inst)",
    **dict.fromkeys((".align", ".p2align"), "write .balign BYTES instead (Keystone hangs on .align 70)"),
    **dict.fromkeys((".ascii", ".asciz", ".string"), "write the bytes with .byte instead"),
    **dict.fromkeys((".include", ".incbin"), "write the code or data here instead (no file access)"),
}  # fmt: skip
_ADRP = "adrp is not allowed (Keystone is off by one page): write adr xN, label (+-1 MiB) or ldr xN, =label"

_CONDS = "eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al nv".split()
_PCREL = {"b", "bl", "cbz", "cbnz", "tbz", "tbnz", "adr", *(f"b.{c}" for c in _CONDS), *(f"b{c}" for c in _CONDS)}
_LITERAL_LOADS = {"ldr", "ldrsw", "prfm"}  # PC-relative when no operand is [address] or =value
# (mask, match, lowest bit, bits) of the PC-relative encodings (times 4); adr is handled apart.
_PCREL_FORMS = (
    (0x7C000000, 0x14000000, 0, 26),  # b, bl
    (0xFF000010, 0x54000000, 5, 19),  # b.cond
    (0x7E000000, 0x34000000, 5, 19),  # cbz, cbnz
    (0x7E000000, 0x36000000, 5, 14),  # tbz, tbnz
    (0x3B000000, 0x18000000, 5, 19),  # ldr/ldrsw/prfm (literal)
)
_MASK64 = (1 << 64) - 1

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL_RE = re.compile(rf"\s*({_IDENT})\s*:(?!:)")
_OP_RE = re.compile(r"\s*(\.?[A-Za-z_][A-Za-z0-9_.]*)(.*)$")
_BAD_CHAR_RE = re.compile(r"[^\t\x20-\x7e]")
_TOKEN_RE = re.compile(r"\s*(\d\w*|[A-Za-z_.$][\w.$]*|<<|>>|==|!=|<>|<=|>=|&&|\|\||\S)")
_NOT_EXPRESSION_RE = re.compile(r"[^\w\s.$+\-*/%<>&|^~!(),]")
_DOT_RE = re.compile(r"(?<![\w.$])\.(?![\w.$])")
_COMPARISONS = {"==", "!=", "<>", "<=", ">=", "&&", "||", "<", ">", "!", "="}
# GNU as ranks * / % << >> above | & ^ above + -; Keystone ranks * / % above + - above << >> above
# | & ^. Operators of groups that the two rank differently need parentheses between them.
_GROUP = {"*": 0, "/": 0, "%": 0, "<<": 1, ">>": 1, "+": 2, "-": 2, "|": 3, "&": 3, "^": 3}
_AMBIGUOUS = ({0, 1}, {1, 2}, {2, 3})


@dataclass(frozen=True)
class Image:
    """An assembled guest program: ``code`` is loaded at ``base``; ``symbols`` are absolute."""

    name: str
    code: bytes
    base: int
    entry: int
    symbols: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", dict(self.symbols))

    @property
    def end(self) -> int:
        return self.base + len(self.code)

    def symbol(self, name: str) -> int:
        try:
            return self.symbols[name]
        except KeyError:
            known = ", ".join(sorted(self.symbols)) or "(none)"
            raise KeyError(f"{self.name}: no symbol {name!r}; known symbols: {known}") from None

    def word(self, address: int) -> int:
        """The little-endian 32-bit word at absolute ``address`` (handy in tests)."""
        off = address - self.base
        if off < 0 or off + 4 > len(self.code):
            raise IndexError(f"{self.name}: {address:#x} is outside the image")
        return int.from_bytes(self.code[off : off + 4], "little")


class AsmError(Exception):
    """An assembly error, located in the user's source (1-based ``line``)."""

    def __init__(self, program: str, line: int | None, text: str, reason: str) -> None:
        self.program = program
        self.line = line
        self.text = text
        self.reason = reason
        where = f"{program}:{line}" if line is not None else program
        shown = text.strip()
        super().__init__(f'{where}: {reason} in "{shown}"' if shown else f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (AsmError, (self.program, self.line, self.text, self.reason))


# ------------------------------------------------------------------------------------------------
# The front end: lines -> statements (macros and .rept expanded), each with what Keystone gets


def _number(token: str) -> int | None:
    """The value of an integer literal as GNU as reads it (0x, 0b, leading 0 = octal), or None."""
    low = token.lower()
    base, digits = (16, low[2:]) if low[:2] == "0x" else (2, low[2:]) if low[:2] == "0b" else (8 if low[:1] == "0" else 10, low)
    if not digits or not all(c in "0123456789abcdef"[:base] for c in digits):
        return None
    digits = digits.lstrip("0") or "0"
    return 1 << 64 if len(digits) > 64 else int(digits, base)  # (int() refuses long decimals)


@functools.lru_cache(maxsize=4096)  # .rept and macros repeat lines
def _expression_problem(text: str) -> str | None:
    """Why Keystone would hang on ``text`` (operands) or evaluate it differently from GNU as, if so."""
    for char, where in ((":", "after a label name (Keystone aborts on :lo12:)"), ("\\", "in a .macro body")):
        if char in text:
            return f"'{char}' is only allowed {where} (Keystone hangs on some, like 'nop ::')"
    tokens = _TOKEN_RE.findall(text)
    groups: list[set[int]] = [set()]  # operator groups seen, per bracket level
    openers: list[str] = []
    prev = ""
    for i, tok in enumerate(tokens):
        operand_before = bool(prev) and (prev[0].isalnum() or prev[0] in "_.$)")
        number = _number(tok) if tok[0].isdigit() else 0
        if number is None or number >> 64:
            return f"number '{tok[:24]}' is not a 64-bit integer (Keystone hangs on some)"
        if tok in _COMPARISONS and not (tok == "!" and prev == "]") and not (tok == "=" and prev == ","):
            return f"operator '{tok}' is not supported (Keystone and GNU as give it different values): compute it in Python"
        if tok in ("(", "[", "{"):
            if tok == "(" and operand_before:
                return "missing operator before '(' (Keystone hangs on some)"
            openers.append(tok)
            groups.append(set())
        elif tok in (")", "]", "}"):
            if not openers or openers.pop() + tok not in ("()", "[]", "{}"):
                return f"'{tok}' without a matching opening bracket (Keystone hangs on some)"
            groups.pop()
        elif tok in (",", "#"):
            groups[-1] = set()
        elif tok in _GROUP or tok == "~":
            after = tokens[i + 1][0] if i + 1 < len(tokens) else " "
            if (operand_before == (tok == "~") and tok not in "+-") or not (after.isalnum() or after in "_.$(+-~"):
                return f"misplaced operator '{tok}' (Keystone hangs on some)"
            if operand_before and tok != "~":  # binary
                if any({_GROUP[tok], other} in _AMBIGUOUS for other in groups[-1]):
                    return f"add parentheses around the operands of '{tok}' (GNU as and Keystone rank these differently)"
                groups[-1].add(_GROUP[tok])
                count = _number(tokens[i + 1]) if after.isdigit() else None
                if tok in ("<<", ">>") and (count is None or count >= 64):
                    return f"shift count after '{tok}' must be a number from 0 to 63 (Keystone computes 1<<64 as 1)"
        prev = tok
    return f"'{openers[-1]}' without a matching closing bracket" if openers else None


def _split_operands(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")] if text.strip() else []


@dataclass
class _Stmt:
    line: int  # 1-based, in the user's source
    labels: list[str]
    text: str = ""  # what Keystone assembles
    neutral: str = ""  # the same size, referring to nothing (for locating errors)
    size: int | None = 0  # the bytes it must take (None: not known here)
    value: str | None = None  # an expression assembled into the table, for the check:
    check: str = ""  # "reach" (its PC-relative target), "pool4"/"pool8" (what ldr =... loads), "size" (.skip)
    constant: str = ""  # text that must not use labels or '.'


class _Front:
    def __init__(self, name: str, source: str) -> None:
        if not isinstance(source, str):
            raise TypeError("source must be str")
        self.name = name
        self.lines = source.replace("\r\n", "\n").split("\n")
        self.stmts: list[_Stmt] = []
        self.labels: dict[str, int] = {}
        self.macros: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
        self.invocations = 0
        self.work = 0
        self.current: int | None = None  # the line being processed (for internal errors)

    def fail(self, line: int | None, reason: str) -> NoReturn:
        text = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else ""
        raise AsmError(self.name, line, text, reason)

    def charge(self, line: int, code: str) -> None:
        self.work += 1 + len(code) // 64
        if self.work > MAX_WORK:
            self.fail(line, f"expanding .rept/.macro takes more than {MAX_WORK} steps")

    def parse(self) -> None:
        lines: list[tuple[int, str]] = []
        for number, line in enumerate(self.lines, start=1):
            code = line.split("//", 1)[0]
            if bad := _BAD_CHAR_RE.search(code):
                self.fail(number, f"character {bad.group()!r} is not printable ASCII: write it as .byte {ord(bad.group()):#x}")
            if ";" in code:
                self.fail(number, "';' (Keystone's statement separator) is not allowed: put each statement on its own line")
            if "/*" in code or "*/" in code:
                self.fail(number, "/* */ comments are not supported: write // comment")
            if code.strip():
                lines.append((number, code))
        self.expand(lines, 0)
        for stmt in self.stmts:  # now that every label is known
            for tok in _TOKEN_RE.findall(stmt.constant):
                if tok == "." or tok in self.labels:
                    op = stmt.text.split(None, 1)[0]
                    self.fail(stmt.line, f"'{tok}' is an address: {op} takes constants only (addresses go in .quad or ldr xN, =)")
        self.current = None

    def expand(self, lines: list[tuple[int, str]], depth: int) -> None:
        i = 0
        while i < len(lines):
            line, code = lines[i]
            i += 1
            self.current = line
            self.charge(line, code)
            labels: list[str] = []
            while m := _LABEL_RE.match(code):
                labels.append(m.group(1))
                code = code[m.end() :]
            for label in labels:
                if label.startswith(_PREFIX):
                    self.fail(line, f"label '{label}': names starting with {_PREFIX} are reserved")
                if label in self.labels:
                    self.fail(line, f"label '{label}' is already defined on line {self.labels[label]}")
                self.labels[label] = line
            if labels:
                self.add(_Stmt(line, labels))
            if not code.strip():
                continue
            m = _OP_RE.match(code)
            if m is None:
                self.fail(line, "expected a label, an instruction or a directive (comments start with //)")
            op, args = m.group(1), m.group(2).strip()
            lop = op.lower()
            if lop in (".macro", ".rept"):
                body, i = self.block(lines, i, lop)
                if lop == ".macro":
                    self.define(line, args, body)
                    continue
                count = _number(args)
                if count is None or not 0 <= count <= MAX_STATEMENTS:
                    self.fail(line, f"write .rept N with N a number from 0 to {MAX_STATEMENTS}")
                if len(self.stmts) + count * len(body) > MAX_STATEMENTS:
                    self.fail(line, f"more than {MAX_STATEMENTS} statements after expanding .rept")
                if depth >= MAX_DEPTH:
                    self.fail(line, f".rept nested more than {MAX_DEPTH} deep")
                for _ in range(count):
                    self.charge(line, "")
                    self.expand(body, depth + 1)
            elif lop in (".endm", ".endr"):
                self.fail(line, f"{lop} without a matching {'.macro' if lop == '.endm' else '.rept'}")
            elif op in self.macros:
                self.invoke(line, op, args, depth)
            else:
                self.statement(line, op, lop, args)

    def block(self, lines: list[tuple[int, str]], i: int, opener: str) -> tuple[list[tuple[int, str]], int]:
        """The lines from ``lines[i]`` to the closer of the block opened on ``lines[i - 1]``, and the index after it."""
        closer = {".macro": ".endm", ".rept": ".endr"}[opener]
        depth, body = 1, list[tuple[int, str]]()
        for j in range(i, len(lines)):
            self.charge(*lines[j])
            m = _OP_RE.match(_LABEL_RE.sub("", lines[j][1], count=1))
            op = m.group(1).lower() if m else ""
            depth += (op == opener) - (op == closer)
            if depth == 0:
                return body, j + 1
            body.append(lines[j])
        self.fail(lines[i - 1][0], f"{opener} without a matching {closer}")

    def define(self, line: int, args: str, body: list[tuple[int, str]]) -> None:
        m = re.fullmatch(rf"({_IDENT})\s*,?\s*((?:{_IDENT}\s*,\s*)*{_IDENT})?\s*", args)
        if m is None or m.group(1) in self.macros:
            self.fail(line, f"write .macro NAME, PARAMETER, ... (names matching {_IDENT}, not yet defined)")
        self.macros[m.group(1)] = (_split_operands(m.group(2) or ""), body)

    def invoke(self, line: int, name: str, args: str, depth: int) -> None:
        if depth >= MAX_DEPTH:
            self.fail(line, f"macro '{name}' nested more than {MAX_DEPTH} deep (recursive macro?)")
        params, body = self.macros[name]
        values = _split_operands(args)
        if len(values) != len(params) or "" in values:
            self.fail(line, f"macro '{name}' takes {len(params)} argument(s): {', '.join(params) or 'none'}")
        self.invocations += 1
        actual = {"@": str(self.invocations), "()": "", **dict(zip(params, values, strict=True))}

        def substitute(m: re.Match[str]) -> str:
            if m.group(1) not in actual:
                self.fail(line, f"macro '{name}' uses unknown parameter '\\{m.group(1)}'")
            return actual[m.group(1)]

        expanded = []
        for _, text in body:
            out = re.sub(rf"\\(@|\(\)|{_IDENT})", substitute, text)
            if len(out) > MAX_LINE:
                self.fail(line, f"the expansion of macro '{name}' has a line longer than {MAX_LINE} characters")
            expanded.append((line, out))
        self.expand(expanded, depth + 1)

    def add(self, stmt: _Stmt) -> None:
        self.stmts.append(stmt)
        if len(self.stmts) > MAX_STATEMENTS:
            self.fail(stmt.line, f"more than {MAX_STATEMENTS} statements after expanding macros and .rept")

    def statement(self, line: int, op: str, lop: str, args: str) -> None:
        if lop.startswith(".") and lop not in ALLOWED_DIRECTIVES:
            hint = _HINTS.get(lop) or f"unsupported directive; allowed: {' '.join(ALLOWED_DIRECTIVES)}"
            self.fail(line, f"directive '{lop}' is not allowed: {hint}")
        if lop == "adrp":
            self.fail(line, _ADRP)
        if problem := _expression_problem(args):
            self.fail(line, problem)
        stmt = _Stmt(line, [], f"{op} {args}".strip(), "nop", 4)
        operands = _split_operands(args)
        if lop.startswith("."):
            self.directive(stmt, lop, args, operands)
        elif operands and (lop in _PCREL or (lop in _LITERAL_LOADS and not any(o[:1] in "[=" for o in operands))):
            stmt.value, stmt.check = operands[-1].removeprefix("#"), "reach"
        elif lop == "ldr" and len(operands) == 2 and operands[1].startswith("="):
            stmt.value, stmt.check = operands[1][1:], "pool4" if operands[0].lower().startswith("w") else "pool8"
            stmt.constant = stmt.value if stmt.check == "pool4" else ""
        if stmt.value is not None and (bad := _NOT_EXPRESSION_RE.search(stmt.value)):  # it goes in a .quad
            self.fail(line, f"unexpected {bad.group()!r} in the address {stmt.value!r}")
        self.add(stmt)

    def directive(self, stmt: _Stmt, lop: str, args: str, operands: list[str]) -> None:
        if bad := _NOT_EXPRESSION_RE.search(args):  # Keystone hangs on some (".equ A, 1]")
            self.fail(stmt.line, f"unexpected {bad.group()!r}: {lop} takes names, numbers and operators")
        stmt.neutral, stmt.size = stmt.text, None
        if lop in _DATA_WIDTHS:
            width = _DATA_WIDTHS[lop]
            if not operands or "" in operands:
                self.fail(stmt.line, f"write {lop} VALUE, VALUE, ...")
            stmt.size = width * len(operands)
            stmt.neutral = f"{lop} " + ", ".join("0" * len(operands))
            stmt.constant = args if width < 8 else ""
        elif lop in (".equ", ".set"):
            if len(operands) != 2 or not re.fullmatch(_IDENT, operands[0]):
                self.fail(stmt.line, f"write {lop} NAME, constant-expression")
            stmt.size, stmt.constant, stmt.value = 0, operands[1], operands[0]  # the table: is it defined?
        elif lop in (".global", ".globl"):
            if not re.fullmatch(_IDENT, args):
                self.fail(stmt.line, f"write {lop} NAME")
            stmt.size = 0
        elif lop == ".balign":
            n = _number(args)
            if n is None or not 0 < n <= 65536 or n & (n - 1):
                self.fail(stmt.line, "write .balign N with N a power of two from 1 to 65536, as a number")
        elif lop in _SKIPS:
            if len(operands) != 1:
                self.fail(stmt.line, f"write {lop} SIZE (zeros; write other bytes with .byte)")
            stmt.value, stmt.check = args, "size"


# ------------------------------------------------------------------------------------------------
# Keystone, in a child process (see guest_asm._ks_worker), and the checks of what it returns

_DROPPED = -4  # a _KsFailure errno: Keystone "succeeded" but the table at the end is missing
_KsFailure = _ks_worker.KsFailure
_keystone = _ks_worker.Client()
atexit.register(_keystone.stop)
os.register_at_fork(after_in_child=_keystone.forget)  # the parent's worker and lock are not ours


def keystone_version() -> str:
    import keystone

    major, minor = keystone.ks_version()[:2]
    return f"{major}.{minor}/{getattr(keystone, '__version__', '?')}"


def _run(stmts: list[_Stmt], base: int, real: int, upto: int) -> tuple[bytes, list[int]]:
    """Assemble ``stmts[:upto]`` (the first ``real`` as written, the rest neutral) at ``base``: the
    output and the table read back from its end (end address, markers, targets of real statements)."""
    out: list[str] = []
    targets: list[str] = []
    for i, stmt in enumerate(stmts[:upto]):
        out.extend(f"{label}:\n" for label in stmt.labels)
        out.append(f"{_PREFIX}{i}:\n{stmt.text if i < real else stmt.neutral}\n")
        if i < real and stmt.value is not None:
            targets.append(_DOT_RE.sub(f"{_PREFIX}{i}", stmt.value))
    out.append(f"{_PREFIX}{upto}:\n.ltorg\n{_PREFIX}end:\n.balign 8\n.quad {_MAGIC:#x}\n.quad {_PREFIX}end\n")
    out.extend(f".quad {_PREFIX}{i}\n" for i in range(upto + 1))
    out.extend(f".quad {target}\n" for target in targets)
    code = _keystone.run("".join(out).encode("ascii"), base)
    count = 3 + upto + len(targets)
    start = len(code) - 8 * count
    if start < 0 or int.from_bytes(code[start : start + 8], "little") != _MAGIC:
        raise _KsFailure(_DROPPED, "Keystone silently dropped this statement and all that follows")
    return code, [int.from_bytes(code[start + 8 * i : start + 8 * i + 8], "little") for i in range(1, count)]


def _locate(front: _Front, base: int, failure: _KsFailure) -> NoReturn:
    """Raise ``failure`` at the statement that causes it (bisection; error path only): the first k
    such that the text with stmts[:k + 1] as written and the rest neutral fails; or, if even the
    all-neutral text fails (directives are kept as written), such that stmts[:k + 1] alone fail."""
    stmts = front.stmts

    def fails(real: int, upto: int) -> _KsFailure | None:
        try:
            _run(stmts, base, real, upto)
        except _KsFailure as exc:
            return exc
        return None

    neutral_fails = fails(0, len(stmts))
    lo, hi = 0, len(stmts) - 1  # the last one fails (unless it was a timeout under load)
    while lo < hi:
        mid = (lo + hi) // 2
        exc = fails(mid + 1, len(stmts)) if neutral_fails is None else fails(0, mid + 1)
        lo, hi, failure = (mid + 1, hi, failure) if exc is None else (lo, mid, exc)
    if not stmts:
        front.fail(None, failure.message)
    stmt = stmts[lo]
    mnemonic, errno = stmt.text.split(None, 1)[0] if stmt.text else "?", failure.errno
    if errno == 514:
        front.fail(stmt.line, f"invalid mnemonic '{mnemonic}'")
    if errno == 144:
        front.fail(stmt.line, f"undefined symbol in '{mnemonic}' (a missing label or .equ?)")
    what = "invalid operand for" if errno in (128, 512) or errno > 514 else "error in"
    front.fail(stmt.line, failure.message if errno < 0 else f"{what} '{mnemonic}' (Keystone error {errno}: {failure.message})")


def _reaches(word: int, pc: int) -> int | None:
    """The address a PC-relative instruction refers to (mod 2**64); None for other encodings."""
    if word & 0x9F000000 == 0x10000000:  # adr: immhi:immlo, bytes
        imm, bits = ((word >> 5) & 0x7FFFF) << 2 | (word >> 29) & 3, 21
    else:
        form = next((f for f in _PCREL_FORMS if word & f[0] == f[1]), None)
        if form is None:
            return None
        imm, bits = ((word >> form[2]) & ((1 << form[3]) - 1)) << 2, form[3] + 2
    return (pc + imm - ((imm >> (bits - 1)) << bits)) & _MASK64


def _loaded(word: int, pc: int, out: bytes, base: int, width: int) -> int | None:
    """The value ``ldr xN/wN, =...`` assembled to ``word`` at ``pc`` loads (from the pool, or movz/movn)."""
    if word & 0x3B000000 == 0x18000000:
        at = (_reaches(word, pc) or 0) - base
        ok = pc - base < at <= len(out) - width  # a pool is after its loads: before is a wrap-around
        return int.from_bytes(out[at : at + width], "little") if ok else None
    if word & 0x3F800000 == 0x12800000:  # movz, movn
        value = ((word >> 5) & 0xFFFF) << (16 * ((word >> 21) & 3))
        return value if word & 0x40000000 else ~value & (_MASK64 if word >> 31 else 0xFFFFFFFF)
    return None


def _assemble(front: _Front, base: int) -> Image:
    stmts = front.stmts
    n = len(stmts)
    try:
        out, table = _run(stmts, base, n, n)
    except _KsFailure as exc:
        _locate(front, base, exc)
    end, markers, values = table[0], table[1 : n + 2], iter(table[n + 2 :])
    for i, stmt in enumerate(stmts):
        front.current = stmt.line
        pc, size = markers[i], markers[i + 1] - markers[i]
        value = next(values) if stmt.value is not None else 0
        expected = value - (value >> 63 << 64) if stmt.check == "size" else stmt.size
        if expected is not None and size != expected:
            front.fail(stmt.line, f"Keystone silently emitted {size} bytes, not {expected} (a value too wide, or extra text?)")
        if markers[i + 1] - base > MAX_CODE_SIZE:
            front.fail(stmt.line, f"the program would be larger than {MAX_CODE_SIZE} bytes")
        word = int.from_bytes(out[pc - base : pc - base + 4], "little")
        if stmt.check == "reach" and _reaches(word, pc) != value:
            front.fail(stmt.line, f"the target {value:#x} is out of range or misaligned (Keystone silently encoded another)")
        width = 4 if stmt.check == "pool4" else 8
        if stmt.check[:4] == "pool" and _loaded(word, pc, out, base, width) != value & (_MASK64 >> (64 - 8 * width)):
            front.fail(stmt.line, "Keystone silently mis-assembled this load (is its pool over 1 MiB away? add .ltorg)")
    if end - base > MAX_CODE_SIZE:
        front.fail(stmts[-1].line, f"the program would be larger than {MAX_CODE_SIZE} bytes")
    front.current = None
    symbols = {label: markers[i] for i, stmt in enumerate(stmts) for label in stmt.labels}
    return Image(name=front.name, code=out[: end - base], base=base, entry=symbols.get("_start", base), symbols=symbols)


def _check_base(base: int, name: str) -> None:
    if not isinstance(base, int) or isinstance(base, bool):
        raise TypeError("base must be an int")
    if not 0 <= base < MAX_BASE:
        raise AsmError(name, None, "", f"base {base:#x} is not in 0..2**48")
    if base % 4:
        raise AsmError(name, None, "", f"base {base:#x} is not 4-byte aligned")


def assemble_uncached(source: str, *, base: int, name: str = "<guest>") -> Image:
    """Assemble without the cache (see :func:`assemble`)."""
    _check_base(base, name)
    front = _Front(name, source)
    try:
        front.parse()
        return _assemble(front, base)
    except AsmError:
        raise
    except Exception as exc:  # a bug here: still an AsmError, at the line being processed
        text = front.lines[front.current - 1] if front.current else ""
        raise AsmError(name, front.current, text, f"internal error ({type(exc).__name__}: {exc})") from exc


def cache_key(source: str, base: int) -> str:
    """The content address of an assembly: source, base, Keystone and wrapper versions."""
    h = hashlib.sha256()
    for part in (source, str(base), keystone_version(), str(FORMAT_VERSION)):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def assemble(source: str, *, base: int, name: str = "<guest>") -> Image:
    """Assemble the AArch64 ``source`` (self-contained: constants come as ``.equ`` lines) to run at ``base``.

    Results are cached by content (memory and disk, see :mod:`guest_asm.cache`). Raises
    :class:`AsmError` for anything refused here or by Keystone.
    """
    from guest_asm import cache

    _check_base(base, name)
    key = cache_key(source, base)
    hit = cache.lookup(key)
    if hit is not None:
        code, entry, symbols = hit
        return Image(name=name, code=code, base=base, entry=entry, symbols=symbols)
    failure = cache.lookup_failure(key)
    if failure is not None:
        raise AsmError(name, failure.line, failure.text, failure.reason)
    try:
        image = assemble_uncached(source, base=base, name=name)
    except AsmError as exc:
        cache.store_failure(key, exc)
        raise
    cache.store(key, image.code, image.entry, dict(image.symbols))
    return image
