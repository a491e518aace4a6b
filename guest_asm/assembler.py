"""A safe wrapper around Keystone for AArch64 guest programs.

Keystone 0.9.2 kills or hangs the process on several inputs (``.text`` segfaults; PC-relative
fixups that are misaligned or out of range abort with "LLVM ERROR"; ``adrp`` + ``:lo12:`` aborts;
``.byte label``, 65-bit integer literals and ``nop ::`` hang, beyond Ctrl-C's reach) and silently
mis-assembles others (``.hword 0x10000`` emits nothing, ``cbz x0, <far>`` wraps the offset, a
comment on an unterminated last line empties the output, ``#1==1`` is 1, ``#1<<64`` is 1, it ranks
``<<`` below ``+``). So Keystone never sees the user's text, and runs in a child process with a
deadline (:mod:`guest_asm._ks_worker`). Instead:

1. **Lint + expand** (pure Python): comments are stripped, every line is checked against a
   whitelist, ``.macro``/``.rept`` are expanded here (so their labels become symbols, and the
   expansion is bounded by the work it does), ``.equ`` values, ``.skip``/``.balign`` sizes and
   data values are evaluated here, strings become ``.byte`` lists; the constant expressions left
   in instruction operands are checked here too (comparisons, shift counts, precedence). Every
   rejection is an :class:`AsmError` naming the user's line and saying what to write instead.
2. **Layout pass**: Keystone assembles a flat text in which every PC-relative instruction is a
   ``nop`` and every label-valued datum a placeholder (same sizes), followed by a table
   (``.ltorg; .balign 8; .quad MAGIC; .quad label...``) from which label addresses are read back.
3. **Checks**: each branch/``adr``/literal-load target is evaluated here and checked for range and
   alignment (the cases that abort or silently wrap in Keystone).
4. **Final pass**: targets are written as ``. + delta`` (verified encodings at any base < 2**48),
   data as numbers; Keystone assembles it, the table is stripped, and the label addresses are
   checked to be the same as in the layout pass.

A Keystone error, crash, timeout or missing table (silently dropped code) is mapped to the
user's line by re-assembling prefixes (error path only).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from guest_asm import _ks_worker, abi

__all__ = [
    "ALLOWED_DIRECTIVES",
    "FORMAT_VERSION",
    "MAX_CODE_SIZE",
    "AsmError",
    "Image",
    "assemble",
    "assemble_uncached",
    "keystone_version",
]

#: Bump whenever the wrapper's output for a given source could change (part of the cache key).
FORMAT_VERSION = 4
MAX_CODE_SIZE = 1 << 20
MAX_BASE = 1 << 48
MAX_STATEMENTS = MAX_CODE_SIZE // 4
MAX_MACRO_DEPTH = 16  # and .rept nesting
MAX_WORK = 4 * MAX_STATEMENTS  # front-end steps: lines scanned (one per 64 characters) and .rept iterations
MAX_LINE = 1 << 16  # characters in a line produced by a macro
MAX_PAREN_DEPTH = 32
_TABLE_MAGIC = 0x42544D5953434648  # "HFCSYMTB"
_RESERVED_PREFIX = "__hfc_"

# Directives Keystone receives (after normalisation), each verified in a subprocess, plus the
# ones this module expands itself.
_DATA_WIDTHS: dict[str, int] = {
    ".byte": 1,
    ".hword": 2,
    ".short": 2,
    ".2byte": 2,
    ".word": 4,
    ".long": 4,
    ".int": 4,
    ".4byte": 4,
    ".quad": 8,
    ".xword": 8,
    ".8byte": 8,
}
_WIDTH_DIRECTIVE = {1: ".byte", 2: ".hword", 4: ".word", 8: ".quad"}
_STRING_DIRECTIVES = (".ascii", ".asciz", ".string")
_SKIP_DIRECTIVES = (".skip", ".space", ".zero")
_ALIGN_DIRECTIVES = (".balign", ".align", ".p2align")
ALLOWED_DIRECTIVES: tuple[str, ...] = (
    ".macro",
    ".endm",
    ".rept",
    ".endr",
    ".equ",
    ".set",
    *_ALIGN_DIRECTIVES,
    *_DATA_WIDTHS,
    *_SKIP_DIRECTIVES,
    *_STRING_DIRECTIVES,
    ".ltorg",
    ".global",
    ".globl",
)

_DIRECTIVE_HINTS: dict[str, str] = {
    ".text": "delete it: the image is one flat section (Keystone segfaults on .text)",
    ".data": "delete it: the image is one flat section",
    ".bss": "delete it: the image is one flat section; reserve space with .skip N",
    ".section": "delete it: the image is one flat section (Keystone ignores .section)",
    ".pushsection": "delete it: the image is one flat section",
    ".popsection": "delete it: the image is one flat section",
    ".previous": "delete it: the image is one flat section",
    ".inst": "write .word 0x........ instead (Keystone silently ignores .inst)",
    ".org": "write .skip N or .balign N instead (Keystone rejects .org)",
    ".dword": "write .quad instead",
    ".include": "inline the code instead (no file access)",
    ".incbin": "write the data with .byte/.quad instead (no file access)",
    ".irp": "write a .macro with parameters, or .rept, instead",
    ".irpc": "write a .macro with parameters, or .rept, instead",
    ".if": "generate the variant in Python instead (conditionals are not supported)",
    ".ifdef": "generate the variant in Python instead (conditionals are not supported)",
    ".ifndef": "generate the variant in Python instead (conditionals are not supported)",
    ".else": "generate the variant in Python instead (conditionals are not supported)",
    ".endif": "generate the variant in Python instead (conditionals are not supported)",
    ".fill": "write .skip N, VALUE (bytes) or a .rept of .word/.quad instead",
    ".type": "delete it: there is no ELF metadata in a flat image",
    ".size": "delete it: there is no ELF metadata in a flat image",
    ".purgem": "give the macro another name instead",
}

_REGISTER_NAMES = frozenset(
    [f"{p}{i}" for p in "xwvqdshb" for i in range(32)] + ["sp", "wsp", "xzr", "wzr", "lr", "fp", "ip0", "ip1"]
)
_COND_CODES = frozenset("eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al nv".split())
_OPERAND_WORDS = frozenset("lsl lsr asr ror msl uxtb uxth uxtw uxtx sxtb sxth sxtw sxtx".split())
_RESERVED_LABELS = _REGISTER_NAMES | _COND_CODES | _OPERAND_WORDS

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL_RE = re.compile(rf"\s*({_IDENT})\s*:(?!:)")
_BAD_LABEL_RE = re.compile(r"\s*([^\s:,\[\]#]+)\s*:(?!:)")
_OP_RE = re.compile(r"\s*(\.[A-Za-z0-9_][A-Za-z0-9_.]*|[A-Za-z_][A-Za-z0-9_.]*)(.*)$")
_NUMBER_RE = re.compile(r"\b(0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)\b")
_RELOC_RE = re.compile(r":[A-Za-z_][A-Za-z0-9_]*:")
_IDENT_TOKEN_RE = re.compile(rf"(?<![A-Za-z0-9_.]){_IDENT}")
_DOT_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_.])\.(?![A-Za-z0-9_.])")
_MACRO_PARAM_RE = re.compile(rf"\s*({_IDENT})\s*(?:=(.*))?$")  # no lazy '.*?\s*$': quadratic
_HANG_RE = re.compile(":")  # in instruction operands (relocation operators are refused before)
_SHIFT_WORD_RE = re.compile(r"^(?i:lsl|lsr|asr|ror|msl|[us]xt[bhwx])\b\s*")
_FLOAT_RE = re.compile(r"\s*[-+]?\d+\.\d*(?:[eE][-+]?\d+)?\s*")
_OPERATOR_RE = re.compile(r"[-+*/%<>|&^~!=()]")
_PIECE_RE = re.compile(r"[\[\]{},]")

_B_COND = {"b." + c for c in _COND_CODES} | {"b" + c for c in _COND_CODES if c != "al"}
# PC-relative forms: mnemonic -> (required target alignment, signed byte range).
_PCREL: dict[str, tuple[int, int]] = {
    "b": (4, 1 << 27),
    "bl": (4, 1 << 27),
    "cbz": (4, 1 << 20),
    "cbnz": (4, 1 << 20),
    "tbz": (4, 1 << 15),
    "tbnz": (4, 1 << 15),
    "adr": (1, 1 << 20),
    **{m: (4, 1 << 20) for m in _B_COND},
}
_LITERAL_LOADS = {"ldr": (4, 1 << 20), "ldrsw": (4, 1 << 20), "prfm": (4, 1 << 20)}


# ------------------------------------------------------------------------------------------------
# Public types


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
    """An assembly error, located in the user's source (1-based ``line``, header not counted)."""

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
# Expressions (GNU/LLVM-3.x precedence: * / % > + - > << >> > | & ^), evaluated exactly.


class _Undefined(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _ExprError(Exception):
    pass


_TOKEN_RE = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)|(" + _IDENT + r")|(==|!=|<>|<=|>=|&&|\|\||<(?!<)|>(?!>)|[!=])"
    r"|(<<|>>|[-+*/%|&^~()])|(\.)|(\S))"
)
_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (("|", "&", "^"), ("<<", ">>"), ("+", "-"), ("*", "/", "%"))
# GNU as ranks * / % << >> above | & ^ above + -; Keystone (above) does not: these mixes need parentheses.
_GROUP = {"*": 0, "/": 0, "%": 0, "<<": 1, ">>": 1, "+": 2, "-": 2, "|": 3, "&": 3, "^": 3}
_AMBIGUOUS = ({0, 1}, {1, 2}, {2, 3})
_LIMIT = 1 << 64


def _parse_number(text: str) -> int:
    low = text.lower()
    if low.startswith(("0x", "0b")):
        value = int(low[2:], 16 if low[1] == "x" else 2)  # power-of-two bases: no digit limit
    elif len(text) > 1 and text.startswith("0"):
        if not set(text) <= set("01234567"):
            raise _ExprError(f"invalid number '{text}' (GNU as reads a leading 0 as octal)")
        value = int(text, 8)
        if value < _LIMIT:
            raise _ExprError(f"ambiguous number '{text}' (GNU as reads a leading 0 as octal): write {value} or {value:#x}")
    else:
        value = int(text) if len(text) <= 20 else _LIMIT
    if value >= _LIMIT:
        raise _ExprError(f"number '{text[:24]}' does not fit in 64 bits (Keystone hangs on it)")
    return value


class _Expr:
    """A tiny recursive-descent evaluator; ``lookup`` resolves identifiers and ``.``."""

    def __init__(self, text: str, lookup: Callable[[str], int]) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:
                break
            if m.group(6) is not None:
                raise _ExprError(f"unexpected character {m.group(6)!r} in expression")
            if m.group(3) is not None:
                raise _ExprError(
                    f"operator '{m.group(3)}' is not supported (GNU as and Keystone give comparisons and logical "
                    "operators different values): compute the value in Python"
                )
            self.tokens.append(next(g for g in m.groups() if g is not None))
            pos = m.end()
        if not self.tokens:
            raise _ExprError("missing expression")
        self.pos = 0
        self.lookup = lookup
        self.ops: list[dict[int, str]] = [{}]  # an operator of each group seen, per parenthesis level

    def evaluate(self) -> int:
        value = self._binary(0)
        if self.pos != len(self.tokens):
            raise _ExprError(f"unexpected {self.tokens[self.pos]!r} in expression")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _binary(self, level: int) -> int:
        if level == len(_BINARY_LEVELS):
            return self._unary()
        left = self._binary(level + 1)
        while self._peek() in _BINARY_LEVELS[level]:
            op = self.tokens[self.pos]
            self.pos += 1
            for group, other in self.ops[-1].items():
                if {_GROUP[op], group} in _AMBIGUOUS:
                    raise _ExprError(f"add parentheses around '{other}' or '{op}' (GNU as and Keystone rank them differently)")
            self.ops[-1].setdefault(_GROUP[op], op)
            right = self._binary(level + 1)
            left = _apply(op, left, right)
        return left

    def _unary(self) -> int:
        tok = self._peek()
        if tok is None:
            raise _ExprError("expression ends too early")
        self.pos += 1
        if tok == "-":
            return _check(-self._unary())
        if tok == "+":
            return self._unary()
        if tok == "~":
            return _check(~self._unary())
        if tok == "(":
            self.ops.append({})
            value = self._binary(0)
            if self._peek() != ")":
                raise _ExprError("missing ')' in expression")
            self.pos += 1
            self.ops.pop()
            return value
        if tok[0].isdigit():
            return _parse_number(tok)
        if tok == "." or tok[0].isalpha() or tok[0] == "_":
            return self.lookup(tok)
        raise _ExprError(f"unexpected {tok!r} in expression")


def _check(value: int) -> int:
    if not -(1 << 63) <= value < _LIMIT:
        raise _ExprError("expression value does not fit in 64 bits")
    return value


def _apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise _ExprError("division by zero")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C semantics, as LLVM
        return _check(q if op == "/" else a - q * b)
    if op in ("<<", ">>"):
        if not 0 <= b < 64:
            raise _ExprError(f"shift count {b} is not in 0..63")
        return _check((a << b) & (_LIMIT - 1) if op == "<<" else (a % _LIMIT) >> b)
    result = {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "|": lambda: a | b,
        "&": lambda: a & b,
        "^": lambda: a ^ b,
    }[op]()
    return _check(result)


def _evaluate(text: str, lookup: Callable[[str], int]) -> int:
    try:
        return _Expr(text, lookup).evaluate()
    except RecursionError:
        raise _ExprError("expression nested too deeply") from None


# ------------------------------------------------------------------------------------------------
# Source scanning


def _split_operands(text: str) -> list[str]:
    """Split on commas outside (), [] and {}."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    if parts == [""]:
        return []
    return parts


def _strip_comment(line: str) -> str:
    """Remove a ``//`` comment, respecting string literals."""
    if '"' not in line:
        return line.split("//", 1)[0]
    in_str = False
    i = 0
    while i < len(line):
        ch = line[i]
        if in_str:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _parse_strings(text: str, terminator: bytes = b"") -> bytes:
    """Parse one or more comma-separated C-style string literals (each followed by ``terminator``)."""
    out = bytearray()
    pos = 0
    text = text.strip()
    expect_string = True
    escapes = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8, "f": 12, "v": 11}
    while pos < len(text):
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        if not expect_string:
            if ch != ",":
                raise _ExprError("expected ',' between strings")
            expect_string = True
            pos += 1
            continue
        if ch != '"':
            raise _ExprError('expected a string literal "..."')
        pos += 1
        while True:
            if pos >= len(text):
                raise _ExprError("unterminated string literal")
            ch = text[pos]
            if ch == '"':
                pos += 1
                out += terminator
                break
            if ch == "\\":
                if pos + 1 >= len(text):
                    raise _ExprError("unterminated string literal")
                esc = text[pos + 1]
                if esc == "x":
                    m = re.match(r"[0-9a-fA-F]{1,2}", text[pos + 2 :])
                    if m is None:
                        raise _ExprError("\\x needs hex digits")
                    out.append(int(m.group(0), 16))
                    pos += 2 + len(m.group(0))
                    continue
                if esc not in escapes:
                    raise _ExprError(f"unsupported escape \\{esc} (use \\xHH)")
                out.append(escapes[esc])
                pos += 2
                continue
            out.append(ord(ch))
            pos += 1
        expect_string = False
    if expect_string:
        raise _ExprError('expected a string literal "..."')
    return bytes(out)


# ------------------------------------------------------------------------------------------------
# Flat statements


@dataclass
class _Stmt:
    origin: int  # 1-based line in the user's source
    text: str  # that line's text
    labels: list[str]
    layout: str  # the text assembled in the layout pass ("" for none)
    final: Callable[[Callable[[str], int], int], str] | None = None  # builds the final text
    size: int = 0  # exact size in bytes, when known (instructions, data)
    max_size: int = 0  # an upper bound (for the size limit before Keystone runs)
    marker: str | None = None


@dataclass
class _Source:
    name: str
    lines: list[str]
    equs: dict[str, int]
    user_equs: list[tuple[str, int]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)  # label -> defining line
    stmts: list[_Stmt] = field(default_factory=list)
    macros: dict[str, tuple[list[str], list[str | None], list[tuple[int, str]]]] = field(default_factory=dict)
    macro_counter: int = 0
    deferred: int = 0
    post: list[Callable[[], None]] = field(default_factory=list)  # checks needing every label
    work: int = 0
    rept_depth: int = 0
    size_bound: int = 0
    current: int | None = None  # the line being processed (for internal errors)

    def charge(self, line: int, code: str) -> None:
        self.work += 1 + len(code) // 64
        if self.work > MAX_WORK:
            self.fail(line, f"expanding .rept/.macro takes more than {MAX_WORK} steps")

    def fail(self, line: int | None, reason: str) -> NoReturn:
        text = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else ""
        raise AsmError(self.name, line, text, reason)


def _equ_lookup(src: _Source) -> Callable[[str], int]:
    def lookup(name: str) -> int:
        if name in src.equs:
            return src.equs[name]
        raise _Undefined(name)

    return lookup


def _eval_const(src: _Source, line: int, text: str, what: str) -> int:
    try:
        return _evaluate(text, _equ_lookup(src))
    except _Undefined as exc:
        if exc.name == ".":
            src.fail(line, f"{what} cannot use '.'")
        if exc.name in src.labels:
            src.fail(line, f"{what} must be a constant: label '{exc.name}' is not allowed here")
        src.fail(line, f"{what} uses undefined symbol '{exc.name}' (define it with .equ first)")
    except _ExprError as exc:
        src.fail(line, f"{what}: {exc}")


def _check_line_chars(src: _Source, lineno: int, line: str) -> None:
    for ch in line:
        if ch == "\t":
            continue
        if ch == "\0":
            src.fail(lineno, "NUL character in source")
        if not " " <= ch <= "~":
            src.fail(lineno, f"non-ASCII or control character {ch!r}: write it as .byte {ord(ch):#x}")


def _lex_lines(src: _Source) -> list[tuple[int, str]]:
    """Comment-stripped lines with their 1-based numbers, after character checks."""
    out: list[tuple[int, str]] = []
    for lineno, line in enumerate(src.lines, start=1):
        _check_line_chars(src, lineno, line)
        code = _strip_comment(line)
        stripped = code.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            src.fail(lineno, "'#' comments are not supported: write // comment")
        if "/*" in code or "*/" in code:
            src.fail(lineno, "/* */ comments are not supported: write // comment")
        if ";" in code:
            src.fail(lineno, "';' (Keystone's statement separator) is not allowed: put each statement on its own line")
        out.append((lineno, code))
    return out


def _collect_block(
    src: _Source, lines: list[tuple[int, str]], start: int, opener: str, closer: str
) -> tuple[list[tuple[int, str]], int]:
    """Lines between ``lines[start]`` (an opener) and its matching closer; returns (body, index after)."""
    depth = 1
    i = start + 1
    body: list[tuple[int, str]] = []
    while i < len(lines):
        src.charge(lines[i][0], lines[i][1])
        m = _OP_RE.match(_strip_labels(lines[i][1])[1])
        op = m.group(1).lower() if m else ""
        if op == opener:
            depth += 1
        elif op == closer:
            depth -= 1
            if depth == 0:
                return body, i + 1
        body.append(lines[i])
        i += 1
    src.fail(lines[start][0], f"{opener} without a matching {closer}")


def _strip_labels(code: str) -> tuple[list[str], str]:
    labels: list[str] = []
    while True:
        m = _LABEL_RE.match(code)
        if m is None:
            return labels, code
        labels.append(m.group(1))
        code = code[m.end() :]


def _expand(src: _Source, lines: list[tuple[int, str]], depth: int) -> None:
    i = 0
    while i < len(lines):
        origin, code = lines[i]
        src.current = origin
        src.charge(origin, code)
        labels, rest = _strip_labels(code)
        bad = _BAD_LABEL_RE.match(rest)
        if bad is not None and not rest.strip().startswith("."):
            src.fail(
                origin,
                f"bad label name '{bad.group(1)}': labels must match {_IDENT} (numeric local labels like '1:' are not supported)",
            )
        for label in labels:
            _define_label(src, origin, label)
        m = _OP_RE.match(rest)
        if not rest.strip():
            if labels:
                src.stmts.append(_Stmt(origin, src.lines[origin - 1], labels, ""))
            i += 1
            continue
        if m is None:
            src.fail(origin, "cannot parse this line: expected a label, an instruction or a directive")
        op, args = m.group(1), m.group(2).strip()
        lop = op.lower()
        if lop == ".macro":
            body, i = _collect_block(src, lines, i, ".macro", ".endm")
            _define_macro(src, origin, args, body)
            if labels:
                src.stmts.append(_Stmt(origin, src.lines[origin - 1], labels, ""))
            continue
        if lop == ".rept":
            body, nxt = _collect_block(src, lines, i, ".rept", ".endr")
            count = _eval_const(src, origin, args, ".rept count")
            if not 0 <= count <= MAX_STATEMENTS:
                src.fail(origin, f".rept count {count} is not in 0..{MAX_STATEMENTS}")
            if count * len(body) + len(src.stmts) > MAX_STATEMENTS:
                src.fail(origin, f"more than {MAX_STATEMENTS} statements after expanding .rept")
            if labels:
                src.stmts.append(_Stmt(origin, src.lines[origin - 1], labels, ""))
            src.rept_depth += 1
            if src.rept_depth > MAX_MACRO_DEPTH:
                src.fail(origin, f".rept nested more than {MAX_MACRO_DEPTH} deep")
            for _ in range(count):
                src.charge(origin, "")
                _expand(src, [(origin if depth else ln, t) for ln, t in body], depth)
                _check_statement_count(src, origin)
            src.rept_depth -= 1
            i = nxt
            continue
        if lop in (".endm", ".endr"):
            src.fail(origin, f"{lop} without a matching {'.macro' if lop == '.endm' else '.rept'}")
        if op in src.macros:
            if labels:
                src.stmts.append(_Stmt(origin, src.lines[origin - 1], labels, ""))
            _invoke_macro(src, origin, op, args, depth)
            i += 1
            continue
        _statement(src, origin, labels, op, args)
        _check_statement_count(src, origin)
        i += 1


def _check_statement_count(src: _Source, origin: int) -> None:
    if len(src.stmts) > MAX_STATEMENTS:
        src.fail(origin, f"more than {MAX_STATEMENTS} statements after expanding macros and .rept")


def _define_label(src: _Source, origin: int, label: str) -> None:
    if label.startswith(_RESERVED_PREFIX):
        src.fail(origin, f"label '{label}': names starting with {_RESERVED_PREFIX} are reserved")
    if label.lower() in _RESERVED_LABELS:
        src.fail(origin, f"label '{label}' looks like a register or operand keyword: rename it")
    if label in src.labels:
        src.fail(origin, f"label '{label}' is already defined on line {src.labels[label]}")
    if label in src.equs:
        src.fail(origin, f"label '{label}' is already defined as an .equ constant")
    src.labels[label] = origin


def _define_macro(src: _Source, origin: int, args: str, body: list[tuple[int, str]]) -> None:
    m = re.match(rf"({_IDENT})\s*,?\s*(.*)$", args)
    if m is None:
        src.fail(origin, f".macro needs a name matching {_IDENT}")
    name, params_text = m.group(1), m.group(2)
    if name in src.macros:
        src.fail(origin, f"macro '{name}' is already defined")
    if name.lower() in _DATA_WIDTHS or name.startswith(_RESERVED_PREFIX):
        src.fail(origin, f"macro name '{name}' is reserved")
    params: list[str] = []
    defaults: list[str | None] = []
    if params_text.strip():
        for part in _split_operands(params_text):
            pm = _MACRO_PARAM_RE.match(part)
            if pm is None:
                src.fail(origin, f"bad macro parameter '{part}': write NAME or NAME=default")
            params.append(pm.group(1))
            defaults.append(None if pm.group(2) is None else pm.group(2).strip())
    src.macros[name] = (params, defaults, body)


def _invoke_macro(src: _Source, origin: int, name: str, args: str, depth: int) -> None:
    if depth >= MAX_MACRO_DEPTH:
        src.fail(origin, f"macro '{name}' nested more than {MAX_MACRO_DEPTH} deep (recursive macro?)")
    params, defaults, body = src.macros[name]
    values = _split_operands(args)
    if len(values) > len(params):
        src.fail(origin, f"macro '{name}' takes {len(params)} argument(s), got {len(values)}")
    actual: dict[str, str] = {}
    for idx, param in enumerate(params):
        if idx < len(values) and values[idx] != "":
            actual[param] = values[idx]
        elif defaults[idx] is not None:
            actual[param] = str(defaults[idx])
        else:
            src.fail(origin, f"macro '{name}': missing argument '{param}'")
    src.macro_counter += 1
    counter = str(src.macro_counter)

    def substitute(text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            key = m.group(1)
            if key == "@":
                return counter
            if key == "()":
                return ""
            if key in actual:
                return actual[key]
            src.fail(origin, f"macro '{name}' uses unknown parameter '\\{key}'")

        out = re.sub(rf"\\(@|\(\)|{_IDENT})", repl, text)
        if "\\" in out:
            src.fail(origin, f"stray '\\' in the expansion of macro '{name}'")
        if len(out) > MAX_LINE:
            src.fail(origin, f"the expansion of macro '{name}' has a line longer than {MAX_LINE} characters")
        return out

    expanded = [(origin, substitute(text)) for _, text in body]
    _expand(src, expanded, depth + 1)


def _statement(src: _Source, origin: int, labels: list[str], op: str, args: str) -> None:
    text = src.lines[origin - 1]
    lop = op.lower()
    stmt = _Stmt(origin, text, labels, "")
    depth = 0
    for ch in args:
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_PAREN_DEPTH:
            src.fail(origin, f"parentheses nested more than {MAX_PAREN_DEPTH} deep")
    if re.search(r"(?<![\w.])\d+[bf]\b", args):
        src.fail(origin, "numeric local labels (1b/1f) are not supported: use a named label")
    for m in _NUMBER_RE.finditer(args):
        try:
            _parse_number(m.group(1))
        except _ExprError as exc:
            src.fail(origin, str(exc))
    if lop.startswith("."):
        _directive(src, stmt, lop, args)
    else:
        _instruction(src, stmt, lop, op, args)
    src.stmts.append(stmt)
    src.size_bound += stmt.max_size
    if src.size_bound > 4 * MAX_CODE_SIZE:
        src.fail(origin, f"program would be larger than {MAX_CODE_SIZE} bytes")


def _directive(src: _Source, stmt: _Stmt, op: str, args: str) -> None:
    line = stmt.origin
    if op not in ALLOWED_DIRECTIVES:
        hint = _DIRECTIVE_HINTS.get(op)
        if hint is None:
            allowed = " ".join(d for d in ALLOWED_DIRECTIVES)
            src.fail(line, f"unsupported directive '{op}'; allowed: {allowed}")
        src.fail(line, f"directive '{op}' is not allowed: {hint}")
    if '"' in args and op not in _STRING_DIRECTIVES:
        src.fail(line, f"string literals are only allowed in {', '.join(_STRING_DIRECTIVES)}")
    if op in (".equ", ".set"):
        parts = _split_operands(args)
        if len(parts) != 2 or not re.fullmatch(_IDENT, parts[0]):
            src.fail(line, f"write {op} NAME, constant-expression")
        name = parts[0]
        if name.startswith(_RESERVED_PREFIX):
            src.fail(line, f"names starting with {_RESERVED_PREFIX} are reserved")
        if name in src.labels:
            src.fail(line, f"'{name}' is already a label")
        if name in src.equs:
            what = "an ABI constant from guest_asm.abi" if name in abi.constants() else "already defined"
            src.fail(line, f"'{name}' is {what}: .equ/.set names cannot be redefined")
        value = _eval_const(src, line, parts[1], f"{op} value")
        src.equs[name] = value
        src.user_equs.append((name, value))
        return
    if op in (".global", ".globl"):
        if not re.fullmatch(rf"\s*{_IDENT}\s*", args):
            src.fail(line, f"write {op} NAME")
        return  # a no-op in a flat image
    if op == ".ltorg":
        if args:
            src.fail(line, ".ltorg takes no operand")
        stmt.layout = ".ltorg"  # its size is counted by the literal loads
        return
    if op in _ALIGN_DIRECTIVES:
        parts = _split_operands(args)
        if len(parts) != 1:
            src.fail(line, f"write {op} N (a fill value is not supported)")
        n = _eval_const(src, line, parts[0], f"{op} operand")
        align = n if op == ".balign" else (1 << n if 0 <= n <= 16 else -1)
        if align < 1 or align > 65536 or align & (align - 1):
            src.fail(line, f"{op} {n}: alignment must be a power of two from 1 to 65536 bytes")
        stmt.layout = f".balign {align}"
        stmt.max_size = align - 1
        return
    if op in _SKIP_DIRECTIVES:
        parts = _split_operands(args)
        if len(parts) not in (1, 2):
            src.fail(line, f"write {op} SIZE or {op} SIZE, BYTE")
        n = _eval_const(src, line, parts[0], f"{op} size")
        fill = _eval_const(src, line, parts[1], f"{op} fill") if len(parts) == 2 else 0
        if not 0 <= n <= MAX_CODE_SIZE:
            src.fail(line, f"{op} size {n} is not in 0..{MAX_CODE_SIZE}")
        if not -128 <= fill <= 255:
            src.fail(line, f"{op} fill value {fill} does not fit in a byte")
        stmt.layout = f".skip {n}, {fill & 0xFF}" if n else ""
        stmt.size = stmt.max_size = n
        return
    if op in _STRING_DIRECTIVES:
        try:
            data = _parse_strings(args, b"" if op == ".ascii" else b"\0")
        except _ExprError as exc:
            src.fail(line, f"{op}: {exc}")
        stmt.layout = "\n".join(".byte " + ", ".join(str(b) for b in data[i : i + 32]) for i in range(0, len(data), 32))
        stmt.size = stmt.max_size = len(data)
        return
    width = _DATA_WIDTHS[op]
    _data(src, stmt, width, args)


def _uses_symbols(src: _Source, expr: str) -> bool:
    if _DOT_TOKEN_RE.search(expr):
        return True
    return any(tok in src.labels or tok not in src.equs for tok in _IDENT_TOKEN_RE.findall(expr))


def _data(src: _Source, stmt: _Stmt, width: int, args: str) -> None:
    line = stmt.origin
    exprs = _split_operands(args)
    if not exprs or any(e == "" for e in exprs):
        src.fail(line, "data directive needs comma-separated values")
    lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width)) - 1
    directive = _WIDTH_DIRECTIVE[width]
    stmt.size = stmt.max_size = width * len(exprs)

    def check(value: int, expr: str) -> int:
        if not lo <= value <= hi:
            src.fail(line, f"value {value:#x} of '{expr}' does not fit in {width} byte(s) (Keystone would silently drop it)")
        return value & hi

    if not any(_uses_symbols(src, e) for e in exprs):
        values = [check(_eval_const(src, line, e, "value"), e) for e in exprs]
        stmt.layout = f"{directive} " + ", ".join(f"{v:#x}" for v in values)
        return
    # Label-valued (or '.'-relative) data: a placeholder now, the number in the final pass.
    stmt.marker = _new_marker(src)
    stmt.layout = f"{directive} " + ", ".join("0" for _ in exprs)

    def final(lookup: Callable[[str], int], here: int) -> str:
        values = [check(_eval_full(src, line, e, lookup, "value"), e) for e in exprs]
        return f"{directive} " + ", ".join(f"{v:#x}" for v in values)

    stmt.final = final


def _new_marker(src: _Source) -> str:
    src.deferred += 1
    return f"{_RESERVED_PREFIX}m{src.deferred}"


def _eval_full(src: _Source, line: int, expr: str, lookup: Callable[[str], int], what: str) -> int:
    try:
        return _evaluate(expr, lookup)
    except _Undefined as exc:
        src.fail(line, f"undefined symbol '{exc.name}' in {what} (missing label?)")
    except _ExprError as exc:
        src.fail(line, f"{what}: {exc}")


def _instruction(src: _Source, stmt: _Stmt, lop: str, op: str, args: str) -> None:
    line = stmt.origin
    stmt.size = stmt.max_size = 4
    if lop == "udf":
        src.fail(line, "udf is not supported by Keystone: write .word 0x00000000 (a permanently undefined encoding)")
    if lop == "adrp":
        src.fail(
            line,
            "adrp is not allowed (Keystone is off by one page and aborts with :lo12:): "
            "write adr xN, label (+-1 MiB) or ldr xN, =label",
        )
    if _RELOC_RE.search(args):
        src.fail(
            line,
            "relocation operators like :lo12: are not allowed (they abort Keystone): write ldr xN, =label or adr xN, label",
        )
    if _HANG_RE.search(args):
        src.fail(line, "':' is only allowed after a label name (Keystone hangs on an operand like '::')")
    if '"' in args:
        src.fail(line, "string literals are only allowed in .ascii/.asciz/.string")
    if "\\" in args or "\\" in op:
        src.fail(line, "'\\' is only meaningful inside a .macro body")
    operands = _split_operands(args)
    is_literal_load = lop in _LITERAL_LOADS and operands and not any(o[:1] in ("[", "=") for o in operands)
    if lop in _PCREL or is_literal_load:
        if not operands:
            src.fail(line, f"{op} needs a target operand")
        align, reach = _PCREL.get(lop) or _LITERAL_LOADS[lop]
        target = operands[-1]
        if target.startswith("#"):
            target = target[1:]
        prefix = f"{op} {', '.join(operands[:-1])}" + ("," if len(operands) > 1 else "")
        src.post.append(lambda: _check_other_operands(src, line, operands[:-1]))
        stmt.marker = _new_marker(src)
        stmt.layout = "nop"

        def final(lookup: Callable[[str], int], here: int) -> str:
            dest = _eval_full(src, line, target, lookup, f"{op} target")
            delta = dest - here
            if dest % align:
                src.fail(line, f"{op} target {dest:#x} is not {align}-byte aligned")
            if not -reach <= delta < reach:
                src.fail(line, f"{op} target {dest:#x} is out of range ({delta:+#x} bytes; the limit is +-{reach:#x})")
            sign = "-" if delta < 0 else "+"
            return f"{prefix} . {sign} {abs(delta):#x}"

        stmt.final = final
        return
    if lop == "ldr" and operands and operands[-1].startswith("="):
        _literal_pool_load(src, stmt, op, operands)
        return
    if "/" in args or "%" in args:
        src.fail(
            line,
            "'/' and '%' in instruction operands can crash Keystone (SIGFPE on INT64_MIN / -1): "
            "compute the value with .equ NAME, expression",
        )
    src.post.append(lambda: _check_other_operands(src, line, operands))
    stmt.layout = f"{op} {args}".strip()


def _check_other_operands(src: _Source, line: int, operands: list[str]) -> None:
    """Labels and '.' are refused; constant expressions are checked (Keystone evaluates them)."""
    for operand in operands:
        if _DOT_TOKEN_RE.search(operand):
            src.fail(line, "'.' (the current address) can only be a branch/adr/ldr target or data")
        for piece in _PIECE_RE.split(operand) if _OPERATOR_RE.search(operand) else ():
            expr = _SHIFT_WORD_RE.sub("", piece.strip().rstrip("!")).lstrip("#")
            if _FLOAT_RE.fullmatch(expr) or not _OPERATOR_RE.search(expr):
                continue
            try:
                _evaluate(expr, _equ_lookup(src))
            except _Undefined:
                pass  # a register or an unknown name: Keystone rejects it
            except _ExprError as exc:
                src.fail(line, f"operand '{operand}': {exc}")
        for tok in _IDENT_TOKEN_RE.findall(operand):
            if tok in src.labels:
                src.fail(
                    line,
                    f"label '{tok}' can only be used as a branch/adr/ldr-literal target, "
                    f"in ldr xN, ={tok}, or as data (.quad {tok})",
                )


def _literal_pool_load(src: _Source, stmt: _Stmt, op: str, operands: list[str]) -> None:
    line = stmt.origin
    if len(operands) != 2:
        src.fail(line, "write ldr REG, =expression")
    reg = operands[0].strip().lower()
    expr = operands[1][1:]
    wide = reg.startswith("x")
    if not re.fullmatch(r"[xw](\d|[12]\d|30)", reg):
        src.fail(line, "ldr REG, =expression needs an x or w register")
    stmt.max_size = 12
    if not _uses_symbols(src, expr):
        value = _eval_const(src, line, expr, "literal")
        bits = 64 if wide else 32
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            src.fail(line, f"literal {value:#x} does not fit in {reg}")
        stmt.layout = f"{op} {reg}, ={value & ((1 << bits) - 1):#x}"
        stmt.size = 0  # 4, or 4 + a pool entry (Keystone picks movz when it can)
        return
    m = re.fullmatch(rf"\s*({_IDENT})\s*(?:([-+])(.*))?", expr)
    if m is None:
        src.fail(line, f"ldr {reg}, =... with a label must be =label or =label +- constant")
    label = m.group(1)

    def check_label() -> None:
        if label not in src.labels:
            src.fail(line, f"undefined symbol '{label}' in ldr {reg}, =... (missing label?)")

    src.post.append(check_label)
    if not wide:
        src.fail(line, f"ldr {reg}, ={expr.strip()}: a label address needs an x register")
    offset = 0
    if m.group(2):
        offset = _eval_const(src, line, m.group(3), "literal offset")
        offset = -offset if m.group(2) == "-" else offset
    stmt.marker = _new_marker(src)
    # A value that no movz/movn/orr can build, so the layout pass also gets a pool entry.
    placeholder = 0x8BAD_0000_0000_0000 | (src.deferred * 0x1_0001_0001 & 0xFFFF_FFFF_FFFF) | 0x1
    stmt.layout = f"{op} {reg}, ={placeholder:#x}"

    def final(lookup: Callable[[str], int], here: int) -> str:
        value = lookup(label) + offset
        if not 0 <= value < _LIMIT:
            src.fail(line, f"literal {value:#x} does not fit in 64 bits")
        return f"{op} {reg}, ={label} + {offset:#x}" if offset >= 0 else f"{op} {reg}, ={label} - {-offset:#x}"

    stmt.final = final


def _source(source: str, name: str) -> _Source:
    if not isinstance(source, str):
        raise TypeError("source must be str")
    lines = source.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return _Source(name=name, lines=lines, equs=dict(abi.constants()))


def _prepare(src: _Source) -> None:
    _expand(src, _lex_lines(src), 0)
    for check in src.post:
        check()
    src.current = None


# ------------------------------------------------------------------------------------------------
# Keystone, in a child process (see guest_asm._ks_worker)

_KS_DROPPED = -3  # Keystone "succeeded" but dropped code (a _KsFailure errno, like _ks_worker.CRASHED)
_KsFailure = _ks_worker.KsFailure
_keystone = _ks_worker.Client()
atexit.register(_keystone.stop)
os.register_at_fork(after_in_child=_keystone.forget)  # the parent's worker and lock are not ours


def keystone_version() -> str:
    import keystone

    major, minor = keystone.ks_version()[:2]
    return f"{major}.{minor}/{getattr(keystone, '__version__', '?')}"


def _flat_text(src: _Source, bodies: list[str], symbols: list[str]) -> str:
    out: list[str] = [abi.equ_source()]
    out.extend(f".equ {n}, {v:#x}\n" for n, v in src.user_equs)
    for stmt, body in zip(src.stmts[: len(bodies)], bodies, strict=True):
        for label in stmt.labels:
            out.append(f"{label}:\n")
        if stmt.marker:
            out.append(f"{stmt.marker}:\n")
        if body:
            out.append(body + "\n")
    out.append(f".ltorg\n{_RESERVED_PREFIX}end:\n.balign 8\n.quad {_TABLE_MAGIC:#x}\n")
    out.extend(f".quad {s}\n" for s in symbols)
    return "".join(out)


def _run_keystone(src: _Source, bodies: list[str], symbols: list[str], base: int) -> bytes:
    """Keystone's output for ``bodies`` followed by the table of ``symbols`` (checked to be there)."""
    out = _keystone.run(_flat_text(src, bodies, symbols).encode("ascii"), base)
    start = len(out) - 8 * (len(symbols) + 1)
    if start < 0 or int.from_bytes(out[start : start + 8], "little") != _TABLE_MAGIC:
        raise _KsFailure(_KS_DROPPED, "Keystone output has no symbol table")
    return out


def _friendly(errno: int, message: str, stmt: _Stmt, body: str) -> str:
    m = _OP_RE.match(body)
    mnemonic = m.group(1) if m else "?"
    if errno == _KS_DROPPED:
        return f"cannot assemble '{mnemonic}' (a missing ',' or extra text?): Keystone silently dropped the program"
    if errno in (_ks_worker.CRASHED, _ks_worker.TIMEOUT):
        return f"{message} on this statement"
    if errno == 514:
        return f"invalid mnemonic '{mnemonic}'"
    if errno == 144:
        return "undefined symbol (missing label or .equ?)"
    if errno == 143:
        return "symbol redefined"
    if errno in (512, 128) or errno > 514:
        return f"invalid operand for '{mnemonic}' (Keystone error {errno}: {message})"
    if errno == 129:
        return f"value out of range (Keystone: {message})"
    return f"Keystone error {errno}: {message}"


def _locate(src: _Source, build: Callable[[int], list[str]], base: int, failure: _KsFailure) -> tuple[int, _KsFailure]:
    """The smallest k such that the text built by ``build(k + 1)`` fails, and how it fails
    (bisection; error path only). ``failure``: how ``build(len(src.stmts))`` fails."""
    lo, hi = 0, len(src.stmts)
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            _run_keystone(src, build(mid + 1), [], base)
        except _KsFailure as exc:
            hi, failure = mid, exc
        else:
            lo = mid + 1
    return lo, failure


def _assemble_pass(src: _Source, bodies: list[str], symbols: list[str], base: int, locate: Callable[[int], list[str]]) -> bytes:
    try:
        return _run_keystone(src, bodies, symbols, base)
    except _KsFailure as exc:
        idx, failure = _locate(src, locate, base, exc)
        if idx >= len(src.stmts):
            src.fail(None, f"Keystone error {exc.errno}: {exc.message}")
        stmt = src.stmts[idx]
        reason = _friendly(failure.errno, failure.message, stmt, bodies[idx])
        raise AsmError(src.name, stmt.origin, stmt.text, reason) from None


def _read_table(src: _Source, out: bytes, base: int, symbols: list[str]) -> tuple[bytes, dict[str, int]]:
    start = len(out) - 8 * len(symbols)
    values = {s: int.from_bytes(out[start + 8 * i : start + 8 + 8 * i], "little") for i, s in enumerate(symbols)}
    end = values[f"{_RESERVED_PREFIX}end"] - base
    if not 0 <= end <= start - 8:
        src.fail(None, "internal error: bad end of code")
    return out[:end], values


def _fail_dropped(src: _Source, layout: list[str], base: int, got: int, expected: int) -> None:
    """Keystone emitted fewer bytes than the statements need: name the first statement whose
    output went missing (bisection over prefixes; error path only)."""
    lo, hi = 0, len(src.stmts)
    while lo < hi:  # the smallest k whose first k + 1 statements come out short
        mid = (lo + hi) // 2
        end = f"{_RESERVED_PREFIX}end"
        try:
            out = _run_keystone(src, layout[: mid + 1], [end], base)  # the table holds the end address
            length = int.from_bytes(out[-8:], "little") - base
            short = length < sum(s.size for s in src.stmts[: mid + 1])
        except _KsFailure:
            short = True
        if short:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(src.stmts):
        stmt = src.stmts[lo]
        m = _OP_RE.match(layout[lo])
        what = f"'{m.group(1)}'" if m else "this statement"
        raise AsmError(src.name, stmt.origin, stmt.text, f"Keystone silently dropped {what} (a missing ',' or extra text?)")
    src.fail(None, f"Keystone produced {got} bytes, expected at least {expected} (silently dropped statements)")


def assemble_uncached(source: str, *, base: int, name: str = "<guest>") -> Image:
    """Assemble without the cache (see :func:`assemble`)."""
    _check_base(base, name)
    src = _source(source, name)
    try:
        return _assemble(src, base)
    except AsmError:
        raise
    except Exception as exc:  # a bug here: still an AsmError, at the line being processed
        text = src.lines[src.current - 1] if src.current else ""
        raise AsmError(name, src.current, text, f"internal error ({type(exc).__name__}: {exc})") from exc


def _assemble(src: _Source, base: int) -> Image:
    _prepare(src)
    stmts = src.stmts
    user_labels = [label for s in stmts for label in s.labels]
    markers = [s.marker for s in stmts if s.marker]
    symbols = [*user_labels, *markers, f"{_RESERVED_PREFIX}end"]
    layout = [s.layout for s in stmts]
    out = _assemble_pass(src, layout, symbols, base, lambda k: layout[:k])
    code, values = _read_table(src, out, base, symbols)
    if any(s.final for s in stmts):
        lookup = _full_lookup(src, values)
        final: list[str] = []
        for s in stmts:
            if s.final is None:
                final.append(s.layout)
                continue
            assert s.marker is not None
            here = values[s.marker]
            src.current = s.origin

            def at(name: str, here: int = here) -> int:
                return here if name == "." else lookup(name)

            final.append(s.final(at, here))
        src.current = None
        out = _assemble_pass(src, final, symbols, base, lambda k: final[:k] + layout[k:])
        code2, values2 = _read_table(src, out, base, symbols)
        if values2 != values or len(code2) != len(code):
            src.fail(None, "internal error: layout changed between the layout and the final pass")
        code = code2
    expected = sum(s.size for s in stmts)
    if len(code) < expected:
        _fail_dropped(src, layout, base, len(code), expected)
    if len(code) > MAX_CODE_SIZE:
        src.fail(None, f"program is {len(code)} bytes, more than {MAX_CODE_SIZE}")
    syms = {label: values[label] for label in user_labels}
    return Image(name=src.name, code=code, base=base, entry=syms.get("_start", base), symbols=syms)


def _full_lookup(src: _Source, values: Mapping[str, int]) -> Callable[[str], int]:
    def lookup(name: str) -> int:
        if name in src.labels:
            return values[name]
        if name in src.equs:
            return src.equs[name]
        raise _Undefined(name)

    return lookup


def _check_base(base: int, name: str) -> None:
    if not isinstance(base, int) or isinstance(base, bool):
        raise TypeError("base must be an int")
    if not 0 <= base < MAX_BASE:
        raise AsmError(name, None, "", f"base {base:#x} is not in 0..2**48")
    if base % 4:
        raise AsmError(name, None, "", f"base {base:#x} is not 4-byte aligned")


def cache_key(source: str, base: int) -> str:
    """The content address of an assembly: header + source, base, Keystone and wrapper versions."""
    h = hashlib.sha256()
    for part in (abi.equ_source() + source, str(base), keystone_version(), str(FORMAT_VERSION)):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def assemble(source: str, *, base: int, name: str = "<guest>") -> Image:
    """Assemble AArch64 ``source`` (with the ABI ``.equ`` header) to run at ``base``.

    Results are cached by content (memory and disk, see :mod:`guest_asm.cache`). Raises
    :class:`AsmError` for anything rejected by the lint or by Keystone.
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
