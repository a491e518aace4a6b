"""guest_asm.assembler: encodings, symbols, the checks against Keystone's silent mis-assembly, error
lines, crash and hang containment."""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest_asm.assembler import ALLOWED_DIRECTIVES, AsmError, Image, assemble, assemble_uncached

BASE = 0x10000
ROOT = Path(__file__).resolve().parents[1]
INSN_WFI, INSN_WFE, NOP = 0xD503207F, 0xD503205F, 0xD503201F


def words(image: Image) -> list[int]:
    return [int.from_bytes(image.code[i : i + 4], "little") for i in range(0, len(image.code), 4)]


def error(source: str, base: int = BASE) -> AsmError:
    with pytest.raises(AsmError) as info:
        assemble_uncached(source, base=base, name="t.S")
    assert info.value.program == "t.S"
    return info.value


def run_isolated(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child Python (so a hang or a crash cannot take the test process with it)."""
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# --- what guest programs use ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insn", "word"),
    [
        ("hvc #0", 0xD4000002),
        ("hvc #0x1234", 0xD4024682),
        ("smc #0", 0xD4000003),
        ("wfi", INSN_WFI),
        ("wfe", INSN_WFE),
        ("brk #1", 0xD4200020),
        ("nop", NOP),
        (".equ HF_MAILBOX_SEND, 0xff04\nmov x0, #HF_MAILBOX_SEND", 0xD2800000 | (0xFF04 << 5)),
        (".word 0x00000000", 0),
    ],
)
def test_exact_encoding(insn: str, word: int) -> None:
    assert words(assemble(insn, base=BASE)) == [word]


def test_symbols_entry_and_end() -> None:
    src = "nop\n_start:\n    hvc #0\nloop: b loop\n    .balign 16\ntable: .quad table, loop\nafter:\n"
    img = assemble(src, base=0x40000, name="sym.S")
    assert img.symbols == {"_start": 0x40004, "loop": 0x40008, "table": 0x40010, "after": 0x40020}
    assert img.entry == 0x40004
    assert img.end == 0x40020 == img.base + len(img.code)
    assert img.code[16:32] == (0x40010).to_bytes(8, "little") + (0x40008).to_bytes(8, "little")
    assert words(img)[2] == 0x14000000  # b . (offset 0)
    with pytest.raises(KeyError, match="known symbols: _start, after, loop, table"):
        img.symbol("nope")
    assert img.symbol("loop") == 0x40008
    assert assemble("nop", base=0x20000).entry == 0x20000


@pytest.mark.parametrize("base", [0x10000, 0x1_0000_0000, 0xFFFF_FFFF_0000, (1 << 48) - 0x100000])
def test_pc_relative_forms_at_any_base(base: int) -> None:
    src = textwrap.dedent(
        """\
        top: nop
        b top
        bl bottom
        cbz x3, bottom
        tbnz x5, #7, top
        b.ne bottom
        adr x1, bottom
        ldr x2, data
        ldr x4, =data
        .balign 8
        data: .quad 0x1122334455667788
        bottom: .quad . - top
        """
    )
    img = assemble(src, base=base)
    w = words(img)
    # top 0, b 4, bl 8, cbz 0xc, tbnz 0x10, b.ne 0x14, adr 0x18, ldr 0x1c, ldr= 0x20, data 0x28,
    # bottom 0x30, then the literal pool.
    assert w[1] == 0x17FFFFFF  # b -4
    assert w[2] == 0x94000000 | 10  # bl +0x28
    assert w[3] == 0xB4000000 | (9 << 5) | 3  # cbz x3, +0x24
    assert w[4] == 0x37000000 | (7 << 19) | (((-16 >> 2) & 0x3FFF) << 5) | 5  # tbnz x5, #7, -0x10
    assert w[5] == 0x54000000 | (7 << 5) | 1  # b.ne +0x1c
    assert w[6] == 0x10000000 | (0x18 >> 2 << 5) | 1  # adr x1, +0x18
    assert w[7] == 0x58000000 | (3 << 5) | 2  # ldr x2, +0xc
    assert w[12:14] == [0x30, 0]  # . - top at bottom
    assert int.from_bytes(img.code[-8:], "little") == base + 0x28  # ldr x4, =data
    assert img.symbols["data"] == base + 0x28


def test_macros_rept_and_unique_labels() -> None:
    src = ".macro SET reg, value\n    mov \\reg, #\\value\nhere_\\@: nop\n.endm\nSET x0, 1\nSET x1, 7\n.rept 3\n    wfi\n.endr\n"
    img = assemble(src, base=BASE)
    assert words(img) == [0xD2800020, NOP, 0xD28000E1, NOP] + [INSN_WFI] * 3
    assert img.symbols == {"here_1": BASE + 4, "here_2": BASE + 12}


def test_data_literal_loads_and_skips() -> None:
    img = assemble(
        ".byte 255, -1\n.hword 0xbeef\n.skip 4\n.word 0x12345678\nldr w0, =-5\nldr x1, =-5\nldr x2, =1\n.ltorg\n", base=BASE
    )
    assert img.code[:12] == bytes.fromhex("ffffefbe0000000078563412")
    assert words(img)[3:6] == [0x18000060, 0x58000081, 0xD2800022]  # ldr w0, =(+0xc); ldr x1, =(+0x10); mov x2, #1
    assert img.code[24:] == bytes.fromhex("fbffffff 1f2003d5 fbffffffffffffff")


def test_expressions_assemble_to_what_gnu_as_gives() -> None:
    img = assemble(
        ".quad (1 + 2) << 3, 1 + (2 << 3), 2 * 3 + 1, 1 + 2 * 3, 6 | 1 << 3, 7 - 2 + 1, 1 | 2 & 3, -8 >> 1\n"
        "mov x0, #(1 + 2) << 3\nmov x1, #1 + (2 << 3)\nmov x2, #2 * 3 - 1\n",
        base=BASE,
    )
    quads = [int.from_bytes(img.code[i : i + 8], "little") for i in range(0, 64, 8)]
    assert quads == [24, 17, 7, 7, 14, 6, 3, 0x7FFF_FFFF_FFFF_FFFC]
    assert words(img)[16:] == [0xD2800000 | (24 << 5), 0xD2800001 | (17 << 5), 0xD2800002 | (5 << 5)]


def test_post_and_pre_indexed_loads_are_not_literal_loads() -> None:
    # "ldr x12, [x9], #8" has a last operand that is not the address: it is no PC-relative load.
    image = assemble("ldr x12, [x9], #8\nstr x12, [x10, #8]!\nldr x1, [x2, #16]\n", base=0x4000_0000, name="idx.S")
    assert image.code == bytes.fromhex("2c8540f84c8d00f8410840f9")


def test_empty_source_and_comments() -> None:
    assert assemble("", base=BASE).code == b""
    assert assemble("// only a comment, caf\u00e9\n", base=BASE).code == b""


_DIRECTIVE_EXAMPLES = {
    ".macro": ".macro M a\nnop\n.endm\nM 1",
    ".endm": ".macro M\n.endm",
    ".rept": ".rept 2\nnop\n.endr",
    ".endr": ".rept 0\n.endr",
    ".equ": ".equ A, 3\n.quad A",
    ".set": ".set A, 3\nmov x0, #A",
    ".balign": "nop\n.balign 16",
    ".skip": ".skip 3",
    ".space": ".space 2",
    ".zero": ".zero 1",
    ".ltorg": "ldr x0, =0x123456789\n.ltorg\nnop",
    ".global": ".global _start\n_start: nop",
    ".globl": ".globl _start\n_start: nop",
    **{d: f"{d} 1, 2 - 1" for d in (".byte", ".hword", ".short", ".word", ".long", ".int")},
    **{d: f"l: {d} l, 0xffffffffffffffff" for d in (".quad", ".xword")},
}


def test_every_allowed_directive_assembles() -> None:
    assert set(_DIRECTIVE_EXAMPLES) == set(ALLOWED_DIRECTIVES)
    out = {d: assemble(src, base=BASE).code.hex() for d, src in _DIRECTIVE_EXAMPLES.items()}
    assert out[".skip"] == "000000" and out[".ltorg"] == "400000581f2003d589674523010000001f2003d5"
    assert out[".byte"] == "0101" and out[".word"] == "0100000001000000"
    assert out[".quad"] == "0000010000000000ffffffffffffffff"


# --- Keystone's silent mis-assembly: each check -----------------------------------------------------

SILENT = [
    # (source, line, fragment): Keystone returns other bytes than written, without an error
    (".hword 0x10000\n", 1, "silently emitted 0 bytes, not 2"),  # sizes
    ("nop\n.word 0x100000000\nnop\n", 2, "silently emitted 0 bytes, not 4"),
    ("nop\n.skip 4 - 8\nnop\n", 2, "silently emitted 0 bytes, not -4"),
    ("l0: nop\nl1: .skip l1 - l0\nnop\n", 2, "silently emitted 0 bytes, not 4"),
    ("_start: nop\nhvc #0 junk\nnop\n", 2, "silently dropped"),
    ("_start: nop\nadd x0, x1, x2 junk\nmovx x0, #1\n", 2, "silently dropped"),  # not the later error
    ("x@d", 1, "silently emitted 0 bytes, not 4"),  # like "x]" (hfconform fuzz --seed 1 --case assembler:8927)
    ("nop\nldp x28 x29, [sp, #16]\nnop\n", 2, "silently dropped"),
    ("nop\ncbz x0, 0x100000000\n", 2, "out of range"),  # targets
    ("cbz x0, l\n.skip 0x100000\nl: nop\n", 1, "out of range"),
    ("nop\nadr x0, l\n.skip 0x100000\nl: nop\n", 2, "out of range"),
    ("ldr x0, l\n.skip 0x100000\nl: nop\n", 1, "out of range"),
    ("nop\nldr x0, . + 2\n", 2, "misaligned"),
    ("ldr x0, =0x123456789\n.skip 0x100000\nnop\n", 1, "mis-assembled this load"),
    ("nop\nmov x0, #1==1\n", 2, "operator '==' is not supported"),  # expressions
    ("nop\nmov x0, #1<<64\n", 2, "shift count"),
    ("nop\nmov x0, #1 + 2 << 3\n", 2, "add parentheses"),
    ("nop\nadrp x0, l\nl: nop\n", 2, "write adr xN, label"),  # refused
    (".section .foo\nnop\n", 1, "delete it"),
    ("nop\n.inst 0xd503201f\n", 2, "write .word"),
    (".word l\nl: nop\n", 1, "'l' is an address"),
    ("ldr w0, =l\nl: nop\n", 1, "'l' is an address"),
    ("top: nop\n.word . - top\n", 2, "'.' is an address"),
    (".equ A, l\nl: nop\n.byte A\n", 1, "'l' is an address"),
    ("nop\n.equ A, 1 $\n.quad A\n", 2, "undefined symbol"),  # the table: an .equ Keystone dropped
]


@pytest.mark.parametrize(("source", "line", "fragment"), SILENT)
def test_silent_mis_assembly_is_an_error(source: str, line: int, fragment: str) -> None:
    err = error(source, base=0x7F00_0000_0000)
    assert (err.line, fragment in err.reason) == (line, True), str(err)


def test_output_that_does_not_end_in_the_table_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # When Keystone drops statements it has returned no output at all so far; should it return code
    # without the table at its end, no table is read from that code.
    from guest_asm import assembler

    run = assembler._keystone.run
    monkeypatch.setattr(assembler._keystone, "run", lambda text, base: run(text, base)[:-8])
    err = error("_start: nop\n.quad 7\nnop\n")
    assert "silently dropped" in err.reason and err.line is not None, str(err)


def test_comments_are_kept_from_keystone_and_the_checks() -> None:
    # Keystone fails or returns nothing for a comment on an unterminated last line ("nop // c"),
    # and the checks here must not read ':', '==' or ';' in a comment.
    assert words(assemble_uncached("nop // a: b == c; d\nnop // trailing comment", base=BASE)) == [NOP, NOP]


@pytest.mark.parametrize("op", ["==", "!=", "<>", "<", ">", "<=", ">=", "&&", "||"])
@pytest.mark.parametrize("template", ["mov x0, #1{op}1", "mov x0, 1{op}1", ".quad 1{op}1", ".equ Q, 1{op}1", "ldr x0, =1{op}1"])
def test_comparison_and_logical_operators_are_refused(op: str, template: str) -> None:
    # GNU as gives -1 for a true comparison; Keystone gives 1 (and ignores the operator in operands).
    err = error("nop\n" + template.format(op=op) + "\n")
    assert err.line == 2 and f"operator '{op}' is not supported" in err.reason, str(err)


def test_logical_not_is_refused_but_writeback_is_not() -> None:
    assert "operator '!' is not supported" in error("mov x0, #!0\n").reason
    assert assemble("ldr x0, [x1, #8]!\nstp x0, x1, [sp, #-16]!\n", base=BASE).code == bytes.fromhex("208c40f8e007bfa9")


@pytest.mark.parametrize(
    "source",
    [
        "mov x0, #1<<64",
        "mov x0, #1 << 65",
        "mov x0, 1<<64",
        "mov x0, #4>>64",
        "mov x0, #1<<-1",
        ".equ S, 64\nmov x0, #1 << S",
        "add x0, x1, #1<<64",
        "ldr x0, [x1, #1<<64]",
        "movk x0, #1, lsl #1<<64",
        "tbz x0, #1<<64, t\nt: nop",
        ".quad 1<<64",
        ".word 1 >> 64",
        ".equ A, 1<<64",
        "ldr x0, =1<<64",
        "b t + (1<<64)\nt: nop",
    ],
)
def test_out_of_range_shifts_are_refused_everywhere(source: str) -> None:
    err = error("nop\n" + source + "\n")
    assert err.line in (2, 3) and "shift count" in err.reason, str(err)


@pytest.mark.parametrize(
    "expr", ["1 + 2 << 3", "1 << 2 * 3", "4 + 1 & 1", "1 | 2 + 4", "8 >> 1 - 1", "-1 + 2 | 1", "(1 + 2 << 3)"]
)
@pytest.mark.parametrize("template", ["mov x0, #{e}", ".quad {e}", ".equ Q, {e}", "ldr x0, [x1, #{e}]"])
def test_mixes_that_gnu_as_ranks_differently_need_parentheses(expr: str, template: str) -> None:
    # GNU as: * / % << >> bind tighter than | & ^, which bind tighter than + -. Keystone: not so.
    err = error("nop\n" + template.format(e=expr) + "\n")
    assert err.line == 2 and "add parentheses" in err.reason, str(err)


# --- other refusals and Keystone's errors, at the user's line ------------------------------------------

REFUSED = [
    ("nop\n.text\n", 2, "delete it"),
    (".data\n", 1, "delete it"),
    (".align 4\n", 1, "write .balign"),
    (".p2align 70\n", 1, "write .balign"),
    ('.ascii "x"\n', 1, "with .byte"),
    ('.incbin "/etc/passwd"\n', 1, "no file access"),
    (".org 0x100\n", 1, "unsupported directive"),
    ("ldr x0, [x1, #:lo12:l]\nl: nop\n", 1, "':' is only allowed"),
    ("nop ::\n", 1, "':' is only allowed"),
    ("nop\n1: nop\n", 2, "expected a label"),
    (".word 0xl0000000\n", 1, "is not a 64-bit integer"),  # hangs
    ("mov x0, #08\n", 1, "is not a 64-bit integer"),
    ("x]\n", 1, "without a matching opening bracket"),  # Keystone hangs on "adr ]9, _start"
    ("nop\nmov x0, #(1\n", 2, "without a matching closing bracket"),
    ("cmp =x11, #3\n", 1, "operator '=' is not supported"),  # hangs
    (".equ A, 1 ~ 2\n", 1, "misplaced operator '~'"),  # hangs
    ("b /\n", 1, "misplaced operator '/'"),  # hangs (in the table)
    (".equ A, 1 (2)\n", 1, "missing operator before '('"),  # hangs
    (".equ A, 1]\n", 1, "without a matching"),  # hangs
    ('.word 1"\n', 1, "unexpected '\"'"),  # hangs
    (".globl l+1\n", 1, "write .globl NAME"),  # hangs
    ("# comment\n", 1, "comments start with //"),
    ("nop ; nop\n", 1, "put each statement on its own line"),
    ("nop /* c */\n", 1, "write // comment"),
    ("nop\nnop\0\n", 2, "not printable ASCII"),
    ("nop\nmov x0, #1 \u00e9\n", 2, "not printable ASCII"),
    (".quad 0x10000000000000000\n", 1, "is not a 64-bit integer"),
    ("mov x0, #0b" + "1" * 65 + "\n", 1, "is not a 64-bit integer"),
    (".quad " + "9" * 4400 + "\n", 1, "is not a 64-bit integer"),
    (".balign 3\n", 1, "power of two"),
    (".skip 2, 1\n", 1, "write .skip SIZE"),
    (".rept N\nnop\n.endr\n", 1, "write .rept N"),
    (".rept 1000000\nnop\n.endr\n", 1, "write .rept N"),
    (".rept 1000\n.rept 1000\nnop\n.endr\n.endr\n", 2, "more than"),
    (".rept 2\nnop\n", 1, "without a matching .endr"),
    ("nop\n.endm\n", 2, "without a matching .macro"),
    (".macro M\nM\n.endm\nM\n", 4, "nested more than"),
    (".macro M a\nnop\n.endm\nM 1, 2\n", 4, "takes 1 argument"),
    (".macro M a=1\nnop\n.endm\n", 1, "write .macro NAME, PARAMETER"),
    (".macro M a\nnop \\b\n.endm\nM 1\n", 4, "unknown parameter"),
    ("l: nop\nl: nop\n", 2, "already defined on line 1"),
    ("__hfc_1: nop\n", 1, "reserved"),
    (".skip 0x200000\n", 1, "larger than"),
    (".skip 0x100000\nnop\n", 2, "larger than"),
    ("nop\nmovx x0, #1\nnop", 2, "invalid mnemonic 'movx'"),
    ("nop\nadd x0, x1, #99999999\n", 2, "invalid operand for 'add'"),
    ("nop\nnop\nb missing\n", 3, "undefined symbol"),
    ("nop\nldr x0, =missing\n", 2, "undefined symbol"),
    ("nop\n.quad missing\n", 2, "undefined symbol"),
    ("nop\ntbz x0, #99, t\nt: nop\n", 2, "invalid operand for 'tbz'"),
    (".macro M\n  nop\n  movx x1, x2\n.endm\nnop\nM\n", 6, "invalid mnemonic 'movx'"),
]


@pytest.mark.parametrize(("source", "line", "fragment"), REFUSED)
def test_errors_name_the_line(source: str, line: int, fragment: str) -> None:
    err = error(source)
    assert (err.line, fragment in err.reason) == (line, True), str(err)


def test_error_message_format() -> None:
    with pytest.raises(AsmError) as info:
        assemble("nop\n\nmovx x0, #1\n", base=BASE, name="echo.S")
    err = info.value
    assert (err.program, err.line, err.text) == ("echo.S", 3, "movx x0, #1")
    assert str(err) == "echo.S:3: invalid mnemonic 'movx' in \"movx x0, #1\""
    assert pickle.loads(pickle.dumps(err)).line == 3


@pytest.mark.parametrize("base", [-4, 2, 1 << 48, 0x10001])
def test_bad_base(base: int) -> None:
    with pytest.raises(AsmError, match="base"):
        assemble("nop", base=base)


def test_an_unexpected_exception_is_a_located_asm_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from guest_asm import assembler

    def broken(*args: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(assembler._Front, "statement", broken)
    with pytest.raises(AsmError) as info:
        assemble_uncached("// c\n\nnop\n", base=BASE, name="bug.S")
    assert (info.value.line, info.value.text) == (3, "nop")
    assert "internal error (ValueError: boom)" in info.value.reason


# --- Keystone crashes and hangs: contained in its worker, located at the user's line -------------------


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("nop\nb l\n.byte 1\nl: nop\n", 2, "LLVM ERROR: fixup not sufficiently aligned"),
        ("nop\ntbz x0, #1, l\n.skip 0x8000\nl: nop\n", 2, "LLVM ERROR: fixup value out of range"),
        ("nop\nmov x0, #(-9223372036854775808 / -1)\nnop\n", 2, "Keystone crashed (signal 8)"),  # SIGFPE
        ("nop\nnop\nmov x0, #" + "(" * 100_000 + "1" + ")" * 100_000 + "\nnop\n", 3, "crashed (signal 11)"),  # recursion
        ("nop\n.skip 0x10000000000\n", 2, "Keystone crashed"),  # its memory is capped
        ("nop\n.skip 0x2000000\n", 2, "output is larger than"),
    ],
)
def test_a_keystone_crash_is_a_located_asm_error(source: str, line: int, fragment: str) -> None:
    err = error(source)
    assert (err.line, fragment in err.reason) == (line, True), str(err)


def test_the_worker_restarts_after_a_crash() -> None:
    from guest_asm import _ks_worker, assembler

    with pytest.raises(_ks_worker.KsFailure) as info:
        assembler._keystone.run(b".text\nnop\n", BASE)  # segfaults Keystone
    assert info.value.errno == _ks_worker.CRASHED
    assert words(assemble_uncached("nop", base=BASE)) == [NOP]


_COLON_CASES = ["nop ::", "l::", "x:: nop", "hvc ::", "nop\nb.eq ::\n", "nop : :"]
_TYPO_IN_MACRO = ".macro SAVE\n    stp x0, x1, [sp, #0]\n    s ::tp x10, x11, [sp, #80]\n.endm\n_start: nop\nSAVE\n"


def test_colon_operands_end_with_an_asm_error_quickly() -> None:
    # Keystone spins forever (and ignores Ctrl-C) on these: refused before it runs (a typo in a
    # macro is reported at the line that uses the macro).
    cases = [*_COLON_CASES, _TYPO_IN_MACRO]
    proc = run_isolated(
        f"""\
        import json, time
        from guest_asm.assembler import AsmError, assemble
        out = []
        for src in json.loads({json.dumps(cases)!r}):
            t = time.monotonic()
            try:
                assemble(src, base=0x40000000, name="hostile.S")
                out.append(["assembled", None, "", 0])
            except AsmError as exc:
                out.append(["AsmError", exc.line, exc.program, time.monotonic() - t])
        print(json.dumps(out))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for src, line, result in zip(cases, [1, 1, 1, 1, 2, 1, 6], json.loads(proc.stdout), strict=True):
        assert result[:3] == ["AsmError", line, "hostile.S"], src[:40]
        assert result[3] < 5, src[:40]


def test_a_keystone_hang_is_killed_and_located() -> None:
    # With the ':' check switched off, Keystone itself hangs: the deadline ends it, the error names
    # the line, and the next assembly gets a fresh worker.
    proc = run_isolated(
        """\
        import json, time
        from guest_asm import assembler
        assembler._expression_problem = lambda text: None
        assembler._ks_worker.DEADLINE = 0.5
        t = time.monotonic()
        try:
            assembler.assemble_uncached("nop\\nnop\\nhvc ::\\nnop\\n", base=0x10000, name="hang.S")
            result = None
        except assembler.AsmError as exc:
            result = [exc.program, exc.line, exc.reason]
        seconds = time.monotonic() - t
        after = assembler.assemble_uncached("nop", base=0x10000).code.hex()
        print(json.dumps([result, seconds, after]))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (program, line, reason), seconds, after = json.loads(proc.stdout)
    assert (program, line) == ("hang.S", 3) and "did not finish" in reason
    assert seconds < 15
    assert after == "1f2003d5"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


_HANGING_WORKER = """\
    import signal, sys
    # Ctrl-C as at a terminal, whatever SIGINT disposition this process inherited: an ignored SIGINT
    # survives exec, and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from guest_asm import assembler
    assembler.assemble_uncached("nop", base=0x10000)
    assembler._ks_worker.DEADLINE = 600
    print(assembler._keystone.proc.pid, flush=True)
    assembler._keystone.run(b"nop ::\\n", 0x10000)
    """


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_a_hanging_keystone_dies_with_its_caller(how: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_HANGING_WORKER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        time.sleep(0.3)
        assert alive(worker)
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    if how == "ctrl-c":
        assert "KeyboardInterrupt" in err, err[-2000:]
    assert wait_dead(worker, 5), f"Keystone worker {worker} outlived its caller"


# Each macro passes its argument on 8 times: 8**9 characters on the last line if unchecked.
_MACRO_BLOWUP = "".join(f".macro M{i} p\nM{i + 1} " + "\\p" * 8 + "\n.endm\n" for i in range(8))
_MACRO_BLOWUP += ".macro M8 p\nnop\n.endm\nM0 xxxxxxxx\n"


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        (".rept 60000\n.rept 60000\n.rept 0\n.endr\n.endr\n.endr\n", None, "steps"),
        ("nop\n.rept 600\n.rept 600\n.rept 0\n.endr\n.endr\n.endr\n", None, "steps"),
        (".rept 1\n" * 600 + "nop\n" + ".endr\n" * 600, 17, "nested more than"),
        (_MACRO_BLOWUP, _MACRO_BLOWUP.count("\n"), "longer than"),
    ],
)
def test_front_end_work_is_bounded(source: str, line: int | None, fragment: str) -> None:
    t = time.monotonic()
    err = error(source)
    assert fragment in err.reason, err.reason
    assert err.line == line or (line is None and err.line is not None and 1 <= err.line <= source.count("\n"))
    assert time.monotonic() - t < 30


def test_long_lines_take_linear_time() -> None:
    # A lazy regex and an operator list made these quadratic (hours at a megabyte).
    for src in [".macro M a," + " " * 200_000 + "b\n.endm\nM 1, 2\n", ".quad " + "+".join(["1"] * 4_000)]:
        t = time.monotonic()
        assemble_uncached(src, base=0x10000)
        assert time.monotonic() - t < 10
    t = time.monotonic()
    assert "Keystone crashed" in error(".quad " + "+".join(["1"] * 100_000)).reason  # too deep for it
    assert time.monotonic() - t < 10


# --- fuzzing: generated sources end in an image or an AsmError at one of their lines -------------------

_FRAGMENTS = [
    *("nop", "b l0", "bl l1", "b.eq l2", "cbz x0, l1", "tbz x1, #3, l0", "adr x2, l2", "ldr x3, l1", "ldr x4, =l0"),
    *("ldr w5, =0x12345678", "ldr x6, =l2 + 4", ".byte 1", ".byte l0", ".hword 7", ".word l1 - l0", ".quad l2"),
    *(".balign 8", ".align 4", ".skip 3", ".skip 0x40000", ".ltorg", '.ascii "ab"', "l0:", "l1:", "l2:"),
    *(".equ K, 3", "mov x0, #K", "hvc #0", "wfi", "adrp x0, l0", ".text", ".inst 0", "udf #1", "b 1f", "1:"),
    *(".org 4", "mov x0, #:lo12:l0", "ldr x0, [x1, #8]", "add x0, x0, #0x1000", ".rept 2", ".endr", "b ."),
    *("b . + 2", "adr x0, . + 0x200000", ".quad 0x1ffffffffffffffff", ".macro Q", ".endm", "Q", "movx x0, x1"),
    *("ldr x0, l0 + 1", "b l0 + 2", "cbz x0, . - 0x100004", "stp x0, x1, [sp, #-16]!", ";", ".word . ", "ldr q0, =1"),
    *("msr daifset, #2", "mrs x0, currentel", "eret", "svc #0", "// c", "nop ::", "l::", "hvc #0 junk"),
    *("ldp x0 x1, [sp]", "mov x0, #1==1", "mov x0, #1 + 2 << 3", "mov x0, #1<<64", "mov x0, #08", ".quad 1 )"),
    *(".rept 3", "fmov d0, #-1.5", ".skip -4", ".equ E, 1 $", ".quad E", "mov x0, #(1 / 0)", "b /", ".word 1)"),
    *(".macro m a=1", "m", "m 1, 2", "cmp =x1, #3", "adr ]9, l0", ".equ F, 1 ~ 2", ".word 0xl0"),
]


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=12).map("\n".join), min_size=300, max_size=300))
def test_fuzz_in_subprocess(sources: list[str]) -> None:
    """Assemble generated programs in a child process: it must neither crash nor hang, and every
    error names a line of its program."""
    runner = textwrap.dedent(
        """\
        import json, sys
        from guest_asm.assembler import AsmError, assemble_uncached
        for i, src in enumerate(json.loads(sys.stdin.read())):
            print(i, flush=True)
            try:
                assemble_uncached(src, base=0x10000)
            except AsmError as exc:
                assert "internal error" not in exc.reason, exc
                assert exc.line is not None and 1 <= exc.line <= src.count("\\n") + 1, exc
        print("done", flush=True)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", runner], input=json.dumps(sources), capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    lines = proc.stdout.split()
    if proc.returncode != 0 or lines[-1:] != ["done"]:
        idx = int(lines[-1]) if lines and lines[-1].isdigit() else -1
        pytest.fail(f"child died (rc={proc.returncode}) on source {sources[idx]!r}: {proc.stderr[-500:]}")
