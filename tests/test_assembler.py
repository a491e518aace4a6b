"""guest_asm.assembler: encodings, symbols, lint rejections, error lines, crash safety."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest_asm import abi
from guest_asm.assembler import AsmError, Image, assemble, assemble_uncached

BASE = 0x10000


def words(image: Image) -> list[int]:
    return [int.from_bytes(image.code[i : i + 4], "little") for i in range(0, len(image.code), 4)]


@pytest.mark.parametrize(
    ("insn", "word"),
    [
        ("hvc #0", 0xD4000002),
        ("hvc #0x1234", 0xD4024682),
        ("smc #0", 0xD4000003),
        ("wfi", abi.INSN_WFI),
        ("wfe", abi.INSN_WFE),
        ("brk #0", 0xD4200000),
        ("brk #1", 0xD4200020),
        ("nop", 0xD503201F),
        ("mov x0, #HF_MAILBOX_SEND", 0xD2800000 | (abi.HF_MAILBOX_SEND << 5)),
        (".word 0x00000000", 0),
    ],
)
def test_exact_encoding(insn: str, word: int) -> None:
    assert words(assemble(insn, base=BASE)) == [word]


def test_symbols_entry_and_end() -> None:
    src = textwrap.dedent(
        """\
        nop
        _start:
            hvc #0
        loop: b loop
            .balign 16
        table: .quad table, loop
        after:
        """
    )
    img = assemble(src, base=0x40000, name="sym.S")
    assert img.symbols == {"_start": 0x40004, "loop": 0x40008, "table": 0x40010, "after": 0x40020}
    assert img.entry == 0x40004
    assert img.end == 0x40020 == img.base + len(img.code)
    assert img.code[16:32] == (0x40010).to_bytes(8, "little") + (0x40008).to_bytes(8, "little")
    assert words(img)[2] == 0x14000000  # b . (offset 0)
    with pytest.raises(KeyError, match="known symbols: _start, after, loop, table"):
        img.symbol("nope")
    assert img.symbol("loop") == 0x40008


def test_entry_defaults_to_base() -> None:
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
        bottom: .word . - top
        """
    )
    img = assemble(src, base=base)
    w = words(img)
    assert w[1] == 0x17FFFFFF  # b -4
    # top 0, b 4, bl 8, cbz 0xc, tbnz 0x10, b.ne 0x14, adr 0x18, ldr 0x1c, ldr= 0x20, data 0x28,
    # bottom 0x30, then the literal pool.
    assert w[2] == 0x94000000 | 10  # bl +0x28
    assert w[3] == 0xB4000000 | (9 << 5) | 3  # cbz x3, +0x24
    assert w[4] == 0x37000000 | (7 << 19) | (((-16 >> 2) & 0x3FFF) << 5) | 5  # tbnz x5, #7, -0x10
    assert w[5] == 0x54000000 | (7 << 5) | 1  # b.ne +0x1c
    assert w[6] == 0x10000000 | (0x18 >> 2 << 5) | 1  # adr x1, +0x18
    assert w[7] == 0x58000000 | (3 << 5) | 2  # ldr x2, +0xc
    assert w[12] == 0x30  # . - top at bottom
    assert int.from_bytes(img.code[-8:], "little") == base + 0x28  # ldr x4, =data
    assert img.symbols["data"] == base + 0x28


def test_comment_on_last_line_without_newline() -> None:
    assert words(assemble("nop // trailing comment", base=BASE)) == [0xD503201F]


def test_macros_rept_and_unique_labels() -> None:
    src = textwrap.dedent(
        """\
        .macro SET reg, value=7
            mov \\reg, #\\value
        here_\\@: nop
        .endm
        SET x0, 1
        SET x1
        .rept 3
            wfi
        .endr
        """
    )
    img = assemble(src, base=BASE)
    assert words(img) == [0xD2800020, 0xD503201F, 0xD28000E1, 0xD503201F] + [abi.INSN_WFI] * 3
    assert img.symbols == {"here_1": BASE + 4, "here_2": BASE + 12}


def test_strings_and_data() -> None:
    img = assemble('.ascii "a\\n"\n.asciz "b"\n.byte 255, -1\n.hword 0xbeef\n', base=BASE)
    assert img.code == b"a\nb\0\xff\xff\xef\xbe"


def test_error_message_format() -> None:
    with pytest.raises(AsmError) as info:
        assemble("nop\n\nmovx x0, #1\n", base=BASE, name="echo.S")
    err = info.value
    assert (err.program, err.line, err.text) == ("echo.S", 3, "movx x0, #1")
    assert str(err) == "echo.S:3: invalid mnemonic 'movx' in \"movx x0, #1\""
    assert pickle.loads(pickle.dumps(err)).line == 3


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("nop\nmovx x0, #1\nnop", 2, "invalid mnemonic 'movx'"),
        ("nop\nadd x0, x1, #99999999\n", 2, "invalid operand for 'add'"),
        ("nop\nnop\nb missing\n", 3, "undefined symbol 'missing'"),
        ("nop\nldr x0, =missing\n", 2, "undefined symbol 'missing'"),
        ("nop\n.quad missing\n", 2, "undefined symbol 'missing'"),
        ("nop\nmov x0, #UNDEFINED_CONST\n", 2, "invalid operand for 'mov'"),
        ("nop\ntbz x0, #99, t\nt: nop\n", 2, "invalid operand for 'tbz'"),
        (".macro M\n  nop\n  movx x1, x2\n.endm\nnop\nM\n", 6, "invalid mnemonic 'movx'"),
        ("l: nop\nl: nop\n", 2, "already defined on line 1"),
    ],
)
def test_keystone_errors_map_to_the_line(source: str, line: int, fragment: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble(source, base=BASE, name="t.S")
    assert info.value.line == line, str(info.value)
    assert fragment in str(info.value)


LINT_CASES = [
    # (source, line, fragment of the message: what to write instead)
    ("nop\n.text\n", 2, "delete it"),
    (".data\n", 1, "delete it"),
    (".section .text\n", 1, "delete it"),
    ("nop\n.inst 0xd503201f\n", 2, "write .word"),
    (".org 0x100\n", 1, ".skip N or .balign N"),
    (".dword 1\n", 1, "write .quad"),
    ('.include "x.S"\n', 1, "inline the code"),
    ('.incbin "/etc/passwd"\n', 1, "no file access"),
    ("nop\nadrp x0, l\nl: nop\n", 2, "write adr xN, label"),
    ("ldr x0, [x1, #:lo12:l]\nl: nop\n", 1, "relocation operators"),
    ("mov x0, #:abs_g0:l\nl: nop\n", 1, "relocation operators"),
    ("nop\n1: nop\n", 2, "numeric local labels"),
    ("l: nop\nb 1b\n", 2, "numeric local labels"),
    ("nop\nudf #0\n", 2, "write .word 0x00000000"),
    ("nop ; nop\n", 1, "put each statement on its own line"),
    ("nop\nnop\0\n", 2, "NUL"),
    ("nop\nmov x0, #1 // caf\u00e9\n", 2, "non-ASCII"),
    ("nop /* c */\n", 1, "write // comment"),
    ("# comment\n", 1, "write // comment"),
    (".byte l\nl: nop\n", 1, "does not fit in 1 byte"),
    (".hword 0x10000\n", 1, "does not fit in 2 byte"),
    (".quad 0x10000000000000000\n", 1, "does not fit in 64 bits"),
    ("mov x0, #0x10000000000000000\n", 1, "does not fit in 64 bits"),
    ("b l\n.byte 1\nl: nop\n", 1, "not 4-byte aligned"),
    ("nop\ntbz x0, #1, l\n.byte 1\nl: nop\n", 2, "not 4-byte aligned"),
    ("adr x0, l\n.skip 0x100000\nl: nop\n", 1, "out of range"),
    ("nop\ncbz x0, 0x100000000\n", 2, "out of range"),
    ("ldr x0, l\n.skip 0x100000\nl: nop\n", 1, "out of range"),
    (".skip 0x200000\n", 1, "is not in 0.."),
    (".skip 0x100000\nnop\n", None, "more than"),
    (".balign 3\n", 1, "power of two"),
    (".equ HF_MAILBOX_SEND, 5\n", 1, "ABI constant"),
    (".equ A, 1\n.equ A, 2\n", 2, "cannot be redefined"),
    (".rept 2\nnop\n", 1, "without a matching .endr"),
    (".macro M\nM\n.endm\nM\n", 4, "nested more than"),
    ("nop\n.type f, %function\n", 2, "no ELF metadata"),
    ('.warning "x"\n', 1, "unsupported directive"),
    ("mov x0, #l\nl: nop\n", 1, "can only be used as a branch"),
    ("ldr w0, =l\nl: nop\n", 1, "needs an x register"),
    ("x0: nop\n", 1, "looks like a register"),
    ("mov x0, #010\n", 1, "ambiguous number"),
    (".quad 1/0\n", 1, "division by zero"),
    ('mov x0, "a"\n', 1, "string literals"),
    (".rept 1000000\nnop\n.endr\n", 1, "is not in 0.."),
    ("nop\nmov x0, #(-9223372036854775808 / -1)\n", 2, "SIGFPE"),
    ("mov x0, #(5 % 2)\n", 1, "compute the value with .equ"),
    ("mov x0, #" + "(" * 40 + "1" + ")" * 40 + "\n", 1, "nested more than"),
    (".rept 1000\n.rept 1000\nnop\n.endr\n.endr\n", 2, "more than"),
]


@pytest.mark.parametrize(("source", "line", "fragment"), LINT_CASES)
def test_lint_rejections(source: str, line: int | None, fragment: str) -> None:
    with pytest.raises(AsmError) as info:
        assemble(source, base=BASE, name="lint.S")
    assert fragment in info.value.reason, str(info.value)
    assert info.value.line == line, str(info.value)
    assert info.value.program == "lint.S"


@pytest.mark.parametrize("base", [-4, 2, 1 << 48, 0x10001])
def test_bad_base(base: int) -> None:
    with pytest.raises(AsmError, match="base"):
        assemble("nop", base=base)


def test_crash_prone_inputs_do_not_crash_in_process() -> None:
    # Each of these kills the process (segfault, LLVM ERROR abort, or hang) if it reaches
    # Keystone; they must all be stopped in Python. If the wrapper fails, pytest dies here.
    crashers = [
        ".text\n",
        "ldr x0, [x1, #:lo12:l]\nl: nop\n",
        "adrp x0, l\nadd x0, x0, :lo12:l\nl: nop\n",
        "b l\n.byte 1\nl: nop\n",
        "tbz x0, #1, l\n.byte 1\nl: nop\n",
        "adr x0, l\n.skip 0x200000\nl: nop\n",
        "cbz x0, l\n.skip 0x100000\nl: nop\n",
        "tbz x0, #1, l\n.skip 0x10000\nl: nop\n",
        "b l+1\nl: nop\n",
        ".byte l\nl: nop\n",
        ".quad 0x10000000000000000\n",
        "mov x0, #(-9223372036854775808 / -1)\n",
        "mov x0, #(-9223372036854775808 % -1)\n",
    ]
    for src in crashers:
        with pytest.raises(AsmError):
            assemble_uncached(src, base=BASE)


def test_division_is_exact_in_data_and_equ() -> None:
    img = assemble(".equ Q, (-9223372036854775808) / -1\n.quad Q, -7 / 2, -7 % 3\nmov x0, #Q >> 60\n", base=BASE)
    assert img.code[:24] == (1 << 63).to_bytes(8, "little") + (-3 & (2**64 - 1)).to_bytes(8, "little") + (
        -1 & (2**64 - 1)
    ).to_bytes(8, "little")
    assert words(img)[6] == 0xD2800000 | (8 << 5)


_DIRECTIVE_EXAMPLES = {
    ".macro": ".macro M a\nnop\n.endm\nM 1",
    ".endm": ".macro M\n.endm",
    ".rept": ".rept 2\nnop\n.endr",
    ".endr": ".rept 0\n.endr",
    ".equ": ".equ A, 3\n.quad A",
    ".set": ".set A, 3\nmov x0, #A",
    ".balign": "nop\n.balign 16",
    ".align": "nop\n.align 4",
    ".p2align": "nop\n.p2align 3",
    ".skip": ".skip 3, 0x7f",
    ".space": ".space 2",
    ".zero": ".zero 1",
    ".ascii": '.ascii "x\\x41"',
    ".asciz": '.asciz "a", "b"',
    ".string": '.string "q"',
    ".ltorg": "ldr x0, =0x123456789\n.ltorg\nnop",
    ".global": ".global _start\n_start: nop",
    ".globl": ".globl _start\n_start: nop",
    **{d: f"l: {d} 1, l - l" for d in (".byte", ".hword", ".short", ".2byte", ".word", ".long", ".int", ".4byte")},
    **{d: f"l: {d} l, 0xffffffffffffffff" for d in (".quad", ".xword", ".8byte")},
}


def test_every_whitelisted_directive_is_safe_in_a_subprocess() -> None:
    from guest_asm.assembler import ALLOWED_DIRECTIVES

    assert set(_DIRECTIVE_EXAMPLES) == set(ALLOWED_DIRECTIVES)
    runner = textwrap.dedent(
        """\
        import json, sys
        from guest_asm.assembler import assemble_uncached
        out = {}
        for d, src in json.loads(sys.stdin.read()).items():
            out[d] = assemble_uncached(src, base=0x10000).code.hex()
        print(json.dumps(out))
        """
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", runner],
        input=json.dumps(_DIRECTIVE_EXAMPLES),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out[".skip"] == "7f7f7f" and out[".ascii"] == "7841" and out[".asciz"] == "61006200"
    assert out[".byte"] == "0100" and out[".word"] == "0100000000000000"
    assert out[".quad"] == "0000010000000000ffffffffffffffff"


def test_empty_source() -> None:
    assert assemble("", base=BASE).code == b""
    assert assemble("// only a comment\n", base=BASE).code == b""


# --- fuzzing: generated sources must never crash or hang the wrapper ------------------------------

_FRAGMENTS = [
    "nop",
    "b l0",
    "bl l1",
    "b.eq l2",
    "cbz x0, l1",
    "tbz x1, #3, l0",
    "adr x2, l2",
    "ldr x3, l1",
    "ldr x4, =l0",
    "ldr w5, =0x12345678",
    "ldr x6, =l2 + 4",
    ".byte 1",
    ".byte l0",
    ".hword 7",
    ".word l1 - l0",
    ".quad l2",
    ".balign 8",
    ".align 4",
    ".skip 3",
    ".skip 0x40000",
    ".ltorg",
    '.ascii "ab"',
    "l0:",
    "l1:",
    "l2:",
    "mov x0, #HF_MAILBOX_SEND",
    "hvc #0",
    "wfi",
    "adrp x0, l0",
    ".text",
    ".inst 0",
    "udf #1",
    "b 1f",
    "1:",
    ".org 4",
    "mov x0, #:lo12:l0",
    "ldr x0, [x1, #8]",
    "add x0, x0, #0x1000",
    ".equ K, 3",
    ".rept 2",
    ".endr",
    "b .",
    "b . + 2",
    "adr x0, . + 0x200000",
    ".quad 0x1ffffffffffffffff",
    ".macro Q",
    ".endm",
    "Q",
    "movx x0, x1",
    "ldr x0, l0 + 1",
    "b l0 + 2",
    "cbz x0, . - 0x100004",
    "stp x0, x1, [sp, #-16]!",
    ";",
    ".word . ",
    "ldr q0, =1",
    "msr daifset, #2",
    "mrs x0, currentel",
    "eret",
    "svc #0",
    "// c",
]


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=12).map("\n".join),
        min_size=400,
        max_size=400,
    )
)
def test_fuzz_in_subprocess(sources: list[str]) -> None:
    """Assemble generated programs in a child process: it must neither crash nor hang."""
    runner = textwrap.dedent(
        """\
        import json, sys
        from guest_asm.assembler import AsmError, assemble_uncached
        for i, src in enumerate(json.loads(sys.stdin.read())):
            print(i, flush=True)
            try:
                assemble_uncached(src, base=0x10000)
            except AsmError:
                pass
        print("done", flush=True)
        """
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", runner],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    lines = proc.stdout.split()
    assert lines[-1:] == ["done"] or proc.returncode != 0, proc.stderr[-2000:]
    last = int(lines[-2]) if len(lines) >= 2 and lines[-1] == "done" else None
    if proc.returncode != 0 or last is None:
        idx = int(lines[-1]) if lines and lines[-1].isdigit() else -1
        pytest.fail(f"child died (rc={proc.returncode}) on source {sources[idx]!r}: {proc.stderr[-500:]}")


def test_post_and_pre_indexed_loads_are_not_literal_loads() -> None:
    # "ldr x12, [x9], #8" has a last operand that is not the address: it is no PC-relative load.
    image = assemble("ldr x12, [x9], #8\nstr x12, [x10, #8]!\nldr x1, [x2, #16]\n", base=0x4000_0000, name="idx.S")
    assert image.code == bytes.fromhex("2c8540f84c8d00f8410840f9")
