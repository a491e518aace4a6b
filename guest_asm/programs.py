"""The guest program library's shared part: the ``.S`` loader, the primary driver, the scripted
secondary and report slots. Nothing here knows a profile's ABI.

* :class:`Library` -- a set of ``.S`` programs (``names``, ``params``, ``source``, ``build``):
  :data:`SHARED` holds the profile-free ones here (``guest_asm/programs/*.S``: driver, script,
  faults, spinners); each profile adds its own directory and its ABI ``.equ`` header
  (``profiles/<name>/programs.py``). Each file declares its parameters in header comments::

      // param: NEXT_HOP  the VM ID to forward to          (required)
      // param: FILL = 0x41  byte i is (FILL + i) & 0xff   (with a default)

  :meth:`Library.source` gives a self-contained text: the library's ``.equ`` header (layout
  constants, plus the profile's), the parameters, the preludes (``_prelude.S``: ``REPORT``,
  ``LIB_INIT``, ...; a profile's own ``_prelude.S`` after it), then the program.
* The scripted secondary: :class:`Call`, :class:`Fill`, :class:`CopyRecv`, :class:`Wfi`,
  :class:`Wfe`, :class:`Spin`, :func:`script_source`, :func:`build_script`,
  :func:`encode_steps`/:func:`decode_steps`.
* The primary driver: :func:`driver_source`, :func:`build_driver` (``driver.S`` plus one variant per
  ``layout.DRIVER_OPS`` entry, generated here): the same in every profile.
* :func:`read_reports` decodes report slots.

Line numbers in an :class:`~guest_asm.assembler.AsmError` from :meth:`Library.build` refer to the
text returned by :meth:`Library.source` (header, parameters and preludes included).
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guest_asm import layout as abi
from guest_asm.assembler import Image, assemble

__all__ = [
    "RECV_PAGE",
    "SCRIPT_PATTERN",
    "SCRIPT_STEP_SIZE",
    "SEND_PAGE",
    "SHARED",
    "Call",
    "CopyRecv",
    "Fill",
    "Library",
    "Param",
    "Rel",
    "Spin",
    "Step",
    "Wfe",
    "Wfi",
    "build_driver",
    "decode_steps",
    "driver_source",
    "encode_steps",
    "pattern",
    "read_reports",
]

PROGRAM_DIR = Path(__file__).with_name("programs")
_PRELUDE = "_prelude.S"
_PARAM_RE = re.compile(r"^//\s*param:\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*=\s*(\S+))?\s*(.*)$")
MAX_PROGRAM_SIZE = abi.LIB_SEND_PAGE  # library code must end below the send page

SCRIPT_STEP_SIZE = 64
SCRIPT_PATTERN = 0xC0DE_0000_0000_0000
KIND_END, KIND_CALL, KIND_FILL, KIND_COPY_RECV, KIND_WFI, KIND_WFE, KIND_SPIN = range(7)
FLAG_REPLY = 1
FLAG_RECEIVE = 2
_LAST_SIZE = 0xFFFF_FFFF_FFFF_FFFF


def pattern(n: int) -> int:
    """The value the script runner puts in register xn (4 <= n <= 30) before every Call."""
    return SCRIPT_PATTERN | n


# ------------------------------------------------------------------------------------------------
# .S programs


@dataclass(frozen=True)
class Param:
    name: str
    default: int | None  # None: required
    doc: str


class Library:
    """``.S`` programs found in ``dirs`` (earlier directories first), each text headed by ``header``.

    ``is_receive(x0)``: the profile's test of a Call the scripted secondary remembers as its last
    receive (for ``reply`` and ``CopyRecv()``); none by default.
    """

    def __init__(self, dirs: Sequence[Path], header: str, is_receive: Callable[[int], bool] | None = None) -> None:
        self.dirs = tuple(dirs)
        self.header = header
        self.is_receive = is_receive or _never

    def names(self) -> list[str]:
        """Every program, by name (file stem), sorted."""
        return sorted({p.stem for d in self.dirs for p in d.glob("*.S") if not p.name.startswith("_")})

    def text(self, name: str) -> str:
        """The ``.S`` file's own text."""
        return _read(self.dirs, name)

    def prelude(self) -> str:
        """The ``_prelude.S`` of every directory, the shared one first."""
        return "".join(_file_text(d / _PRELUDE) for d in reversed(self.dirs) if (d / _PRELUDE).exists())

    def params(self, name: str) -> list[Param]:
        """The parameters ``name`` declares in its header comments."""
        out: list[Param] = []
        for line in self.text(name).splitlines():
            m = _PARAM_RE.match(line.strip())
            if m:
                default = int(m.group(2), 0) if m.group(2) is not None else None
                out.append(Param(m.group(1), default, m.group(3).strip()))
        return out

    def source(self, name: str, **values: int) -> str:
        """Program ``name``'s self-contained text: header + parameter ``.equ`` lines + preludes + the ``.S``."""
        text = self.text(name)
        if name == "driver":
            text = _fill_driver(text)
        elif name == "script":
            text = _fill_script(text, (), _never)
        return self.header + _param_lines(name, self.params(name), values) + self.prelude() + text

    def build(self, name: str, base: int, **values: int) -> Image:
        """Assemble program ``name`` at ``base`` (through the cache); the image is named ``name.S``."""
        _check_base(base)
        return _check_image(assemble(self.source(name, **values), base=base, name=f"{name}.S"))

    def encode_steps(self, steps: Sequence[Step]) -> list[list[str]]:
        """Each step as its 8 quad expressions (see ``script.S``), END included."""
        return encode_steps(steps, self.is_receive)

    def script_source(self, steps: Sequence[Step]) -> str:
        """The scripted secondary's self-contained text with ``steps`` as data."""
        return self.header + self.prelude() + _fill_script(self.text("script"), list(steps), self.is_receive)

    def build_script(self, steps: Sequence[Step], base: int) -> Image:
        """Assemble the scripted secondary at ``base`` (symbols ``script_steps``, ``script_step_<i>``,
        ``script_state``, ``script_args``, ``script_patterns``)."""
        _check_base(base)
        return _check_image(assemble(self.script_source(steps), base=base, name="script.S"))


@functools.cache
def _file_text(path: Path) -> str:
    return path.read_text(encoding="ascii")


def _read(dirs: tuple[Path, ...], name: str) -> str:
    for d in dirs:
        path = d / f"{name}.S"
        if not name.startswith("_") and path.is_file():
            return _file_text(path)
    known = sorted({p.stem for d in dirs for p in d.glob("*.S") if not p.name.startswith("_")})
    raise ValueError(f"unknown program {name!r}; known programs: {', '.join(known)}")


def _never(x0: int) -> bool:
    return False


def _param_lines(name: str, declared: list[Param], values: dict[str, int]) -> str:
    known = {p.name for p in declared}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known)) or '(none)'}")
    lines: list[str] = []
    for p in declared:
        if p.name in values:
            value = values[p.name]
        elif p.default is not None:
            value = p.default
        else:
            raise ValueError(f"{name}: missing required parameter {p.name} ({p.doc})")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}: parameter {p.name} must be an int, got {value!r}")
        if not -(1 << 63) <= value < (1 << 64):
            raise ValueError(f"{name}: parameter {p.name} = {value} does not fit in 64 bits")
        lines.append(f".equ {p.name}, {value & 0xFFFF_FFFF_FFFF_FFFF:#x}\n")
    return "".join(lines)


#: The profile-free programs (driver, script, faults, spinners), with the layout constants only.
SHARED = Library([PROGRAM_DIR], abi.equ_source())


def _check_image(image: Image) -> Image:
    if len(image.code) > MAX_PROGRAM_SIZE:
        raise ValueError(
            f"{image.name}: {len(image.code):#x} bytes do not fit below the send page (LIB_SEND_PAGE = {abi.LIB_SEND_PAGE:#x})"
        )
    return image


def _check_base(base: int) -> None:
    if base % 0x10000:
        raise ValueError(f"library programs need a 64 KiB aligned base, got {base:#x}")


# ------------------------------------------------------------------------------------------------
# The primary driver


def _replace(text: str, marker: str, replacement: str) -> str:
    tag = f"// @@{marker}@@\n"
    if text.count(tag) != 1:
        raise RuntimeError(f"placeholder {tag.strip()} missing")
    return text.replace(tag, replacement)


def _fill_driver(text: str) -> str:
    dispatch = "".join(f"    cmp x0, #{k}\n    b.eq hf_driver_op_{k}\n" for k in range(len(abi.DRIVER_OPS)))
    variants = "".join(
        f"hf_driver_op_{k}:\n    DRIVER_LOAD\n    {insn}\n    DRIVER_STORE\n    b hf_driver_ready\n"
        for k, insn in enumerate(abi.DRIVER_OPS)
    )
    return _replace(_replace(text, "DRIVER_DISPATCH", dispatch), "DRIVER_VARIANTS", variants)


def driver_source() -> str:
    """The primary driver's assembly (``driver.S`` with a variant per ``layout.DRIVER_OPS``)."""
    return SHARED.source("driver")


def build_driver(base: int) -> Image:
    """The primary driver at ``base`` (symbols ``hf_driver_block``, ``hf_driver_ready``, ...)."""
    return SHARED.build("driver", base)


# ------------------------------------------------------------------------------------------------
# The scripted secondary


@dataclass(frozen=True)
class Rel:
    """An address relative to the VM's base (resolved when the script is assembled).

    The offset may be negative (below the VM), or have bit 63 set (the base with bit 63 set).
    """

    offset: int


SEND_PAGE = Rel(abi.LIB_SEND_PAGE)
RECV_PAGE = Rel(abi.LIB_RECV_PAGE)
Arg = int | Rel


@dataclass(frozen=True)
class Call:
    """Execute ``insn`` (one of ``abi.DRIVER_OPS``) with x0..x3 = the arguments; REPORT after.

    ``reply=True``: x1 = sender (low 16 bits) and x2 = size (high 32 bits) of the most recent
    receive result (the x0 returned by the last Call the profile calls a receive: see
    :meth:`Library.script_source`), overriding ``x1``/``x2``.
    """

    x0: Arg
    x1: Arg = 0
    x2: Arg = 0
    x3: Arg = 0
    insn: str = "hvc #0"
    reply: bool = False


@dataclass(frozen=True)
class Fill:
    """Write ``(value + i) & 0xff`` for ``i < size`` into the send page; REPORT after."""

    size: int
    value: int = 0


@dataclass(frozen=True)
class CopyRecv:
    """Copy ``size`` bytes (None: the last receive's size) from recv to send page; REPORT after."""

    size: int | None = None


@dataclass(frozen=True)
class Wfi:
    """``wfi``; REPORT after (if it ever resumes)."""


@dataclass(frozen=True)
class Wfe:
    """``wfe``; REPORT after."""


@dataclass(frozen=True)
class Spin:
    """``b .`` forever."""


Step = Call | Fill | CopyRecv | Wfi | Wfe | Spin


def _arg(value: Arg, what: str) -> str:
    if isinstance(value, Rel):
        if not -(1 << 48) < value.offset < (1 << 48) and not (1 << 63) <= value.offset < (1 << 63) + (1 << 48):
            raise ValueError(f"{what}: Rel offset {value.offset:#x} out of range")
        if value.offset < 0:
            return f"_start - {-value.offset:#x}"
        return f"_start + {value.offset:#x}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: expected an int or Rel, got {value!r}")
    if not -(1 << 63) <= value < (1 << 64):
        raise ValueError(f"{what}: {value} does not fit in 64 bits")
    return f"{value & 0xFFFF_FFFF_FFFF_FFFF:#x}"


def _size(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= abi.LIB_PAGE_SIZE:
        raise ValueError(f"{what}: size must be an int in 0..{abi.LIB_PAGE_SIZE}, got {value!r}")
    return value


def encode_steps(steps: Sequence[Step], is_receive: Callable[[int], bool] = _never) -> list[list[str]]:
    """Each step as its 8 quad expressions (see the encoding in ``script.S``), END included."""
    out: list[list[str]] = []
    for i, step in enumerate(steps):
        what = f"step {i} ({step!r})"
        if isinstance(step, Call):
            if step.insn not in abi.DRIVER_OPS:
                raise ValueError(f"{what}: insn must be one of {abi.DRIVER_OPS}")
            flags = (FLAG_REPLY if step.reply else 0) | (FLAG_RECEIVE if isinstance(step.x0, int) and is_receive(step.x0) else 0)
            out.append(
                [
                    str(KIND_CALL),
                    str(abi.DRIVER_OPS.index(step.insn)),
                    _arg(step.x0, what),
                    _arg(step.x1, what),
                    _arg(step.x2, what),
                    _arg(step.x3, what),
                    str(flags),
                    "0",
                ]
            )
        elif isinstance(step, Fill):
            value = step.value
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"{what}: value must be a byte")
            out.append([str(KIND_FILL), str(_size(step.size, what)), f"{value:#x}", *["0"] * 5])
        elif isinstance(step, CopyRecv):
            size = _LAST_SIZE if step.size is None else _size(step.size, what)
            out.append([str(KIND_COPY_RECV), f"{size:#x}", *["0"] * 6])
        elif isinstance(step, (Wfi, Wfe, Spin)):
            kind = {Wfi: KIND_WFI, Wfe: KIND_WFE, Spin: KIND_SPIN}[type(step)]
            out.append([str(kind), *["0"] * 7])
        else:
            raise ValueError(f"{what}: not a script step")
    out.append([str(KIND_END), *["0"] * 7])
    return out


def _fill_script(text: str, steps: Sequence[Step], is_receive: Callable[[int], bool]) -> str:
    dispatch = "".join(f"    cmp x11, #{k}\n    b.eq script_call_op_{k}\n" for k in range(len(abi.DRIVER_OPS)))
    variants = "".join(
        f"script_call_op_{k}:\n    SCRIPT_LOAD_REGS\n    {insn}\n    REPORT\n    b script_after_call\n"
        for k, insn in enumerate(abi.DRIVER_OPS)
    )
    encoded = encode_steps(steps, is_receive)[:-1]  # the END record is in script.S
    rows = "".join(f"script_step_{i}:\n    .quad {', '.join(quads)}\n" for i, quads in enumerate(encoded))
    text = _replace(text, "SCRIPT_DISPATCH", dispatch)
    text = _replace(text, "SCRIPT_VARIANTS", variants)
    return _replace(text, "SCRIPT_STEPS", rows)


def decode_steps(image: Image) -> list[tuple[int, ...]]:
    """The step records in a script image, as 8-tuples of ints, up to and including END."""
    off = image.symbol("script_steps") - image.base
    out: list[tuple[int, ...]] = []
    while off + SCRIPT_STEP_SIZE <= len(image.code):
        rec = tuple(int.from_bytes(image.code[off + 8 * i : off + 8 * i + 8], "little") for i in range(8))
        out.append(rec)
        if rec[0] == KIND_END:
            break
        off += SCRIPT_STEP_SIZE
    return out


# ------------------------------------------------------------------------------------------------
# Reports


_REPORT = struct.Struct("<31Q")  # x0..x30 at the start of a slot
_REPORT_MAGIC_AT = 248


def read_reports(mem: bytes) -> list[tuple[int, ...]]:
    """Decode report slots from a VM's memory starting at its LIB_REPORT offset.

    Each report is (x0, ..., x30); decoding stops at the first slot without LIB_REPORT_MAGIC (or
    the first that ``mem`` holds only part of).
    """
    out: list[tuple[int, ...]] = []
    slot = abi.LIB_REPORT_SLOT
    magic = abi.LIB_REPORT_MAGIC.to_bytes(8, "little")
    for i in range(min(abi.LIB_REPORT_SLOTS, len(mem) // slot)):
        off = i * slot
        if mem[off + _REPORT_MAGIC_AT : off + slot] != magic:
            break
        out.append(_REPORT.unpack_from(mem, off))
    return out
