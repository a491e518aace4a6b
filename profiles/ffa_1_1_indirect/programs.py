"""The ``ffa-1.1-indirect`` guest programs: this directory's ``.S`` files plus the shared ones
(``guest_asm/programs``: driver, faults, spinners), every text headed by this profile's ABI
constants (:func:`abi.equ_source`) and the FF-A helper layer (``programs/_prelude.S``).

The helper layer (macros of ``_prelude.S``, one FF-A call each, unused argument registers 0):
``CALL_VERSION`` (FFA_VERSION 0x00010001), ``CALL_RXTX_MAP`` (FFA_RXTX_MAP_64 with the library's
pages), ``CALL_ID_GET reg``, ``HDR_WRITE`` / ``HDR_WRITE_SIMPLE`` (a v1.1 header in TX),
``CALL_MSG_SEND2``, ``CALL_MSG_WAIT``, ``IF_SUCCESS`` / ``IF_ERROR`` / ``IF_W0`` (branch on w0),
``HDR_READ`` / ``READ_RX_REPORT`` (the header of a received message), ``CALL_RX_RELEASE``,
``CALL_YIELD``, ``CALL_NOTIFICATION_GET id``, ``COPY_RX_TO_TX``, ``FFA_SETUP`` (version, map, ID,
each REPORTed), ``FAULT_VECTORS`` (a fault the hypervisor injects is REPORTed, MAP-5),
``YIELD_FOREVER``.

Programs (``names()``): ``echo`` (returns every message to its sender, sender and receiver
swapped), ``relay`` (forwards along a chain of IDs in the payload), ``receiver`` (waits and
reports every step, header included), ``sender`` (COUNT messages to TO), ``rx_writer`` (stores to
its own RX buffer, MAP-5), ``yielder`` (FFA_YIELD forever). Each documents its report slots.

The scripted secondary (:func:`script_source`): its steps are FF-A calls with x0..x7
(:class:`Call`; x8..x30 hold :func:`pattern` values), message writes (:class:`Header`,
:class:`Payload`, :class:`Fill`), RX reads (:class:`ReadRx`, :class:`CopyRx`), :class:`StoreRx`,
:class:`Wfi`, :class:`Spin`, :class:`UnmaskIrq`; every step REPORTs; after the last, FFA_YIELD forever. The shared
script (``guest_asm``'s ``script.S``) is not used: it loads x4..x30 with patterns, and FFA_MSG_WAIT
refuses a non-zero x3..x7 (WAIT-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from guest_asm import layout
from guest_asm import programs as shared
from guest_asm.assembler import Image, assemble
from guest_asm.programs import RECV_PAGE, SEND_PAGE, Rel, read_reports
from profiles.ffa_1_1_indirect import abi

__all__ = [
    "FAULT_MARKER",
    "IRQ_MARKER",
    "LIBRARY",
    "RECV_PAGE",
    "SCRIPT_PATTERN",
    "SCRIPT_STEP_SIZE",
    "SEND_PAGE",
    "STORE_MARKER",
    "Call",
    "CopyRx",
    "Fill",
    "Header",
    "Payload",
    "ReadRx",
    "Rel",
    "Spin",
    "Step",
    "StoreRx",
    "UnmaskIrq",
    "Wfi",
    "build",
    "build_script",
    "encode_steps",
    "id_get",
    "msg_send2",
    "msg_wait",
    "names",
    "notification_get",
    "params",
    "pattern",
    "read_reports",
    "rx_release",
    "rxtx_map",
    "script_source",
    "setup",
    "source",
    "version",
    "yield_",
]

PROGRAM_DIR = Path(__file__).with_name("programs")
LIBRARY = shared.Library([PROGRAM_DIR, shared.PROGRAM_DIR], abi.equ_source())
names = LIBRARY.names
params = LIBRARY.params
source = LIBRARY.source
build = LIBRARY.build

#: x0 of the report FAULT_VECTORS writes for a synchronous exception taken by the program (MAP-5).
FAULT_MARKER = 0xFA017FA017
#: x0 of the report FAULT_VECTORS writes for an IRQ taken by the program (after :class:`UnmaskIrq`).
IRQ_MARKER = 0x1A0171A017
#: x0 of the report after a store to RX completed (``rx_writer``, :class:`StoreRx`).
STORE_MARKER = 0x5702E

SCRIPT_STEP_SIZE = 128
SCRIPT_PATTERN = 0xC0DE_0000_0000_0000
(
    KIND_END,
    KIND_CALL,
    KIND_HEADER,
    KIND_DATA,
    KIND_FILL,
    KIND_READ_RX,
    KIND_COPY_RX,
    KIND_STORE_RX,
    KIND_WFI,
    KIND_SPIN,
    KIND_UNMASK_IRQ,
) = range(11)
_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF


def pattern(n: int) -> int:
    """The value the script runner puts in register xn (8 <= n <= 30) before every Call."""
    return SCRIPT_PATTERN | n


Arg = int | Rel


@dataclass(frozen=True)
class Call:
    """Execute ``insn`` (one of ``layout.DRIVER_OPS``) with x0..x7 = the arguments; REPORT after."""

    x0: Arg
    x1: Arg = 0
    x2: Arg = 0
    x3: Arg = 0
    x4: Arg = 0
    x5: Arg = 0
    x6: Arg = 0
    x7: Arg = 0
    insn: str = "hvc #0"


@dataclass(frozen=True)
class Header:
    """Write a v1.1 header (HDR-1..HDR-5) at TX + 0: flags, reserved, offset, sender<<16 |
    receiver, size as little-endian u32s; REPORT after."""

    sender: int
    receiver: int
    size: int
    offset: int = abi.FFA_RXTX_HEADER_SIZE_V1_1
    flags: int = 0
    reserved: int = 0


@dataclass(frozen=True)
class Payload:
    """Write ``data`` at TX + ``offset``; REPORT after."""

    data: bytes
    offset: int = abi.FFA_RXTX_HEADER_SIZE_V1_1


@dataclass(frozen=True)
class Fill:
    """Write ``(value + i) & 0xff`` for ``i < size`` at TX + ``offset``; REPORT after."""

    size: int
    value: int = 0x41
    offset: int = abi.FFA_RXTX_HEADER_SIZE_V1_1


@dataclass(frozen=True)
class ReadRx:
    """REPORT the RX message: x0..x4 = its header's words (flags, reserved, offset,
    sender<<16 | receiver, size), x5, x6 = the u64s at RX + offset and + 8 (0 when beyond)."""


@dataclass(frozen=True)
class CopyRx:
    """Copy RX [0, size) to LIB_DATA + ``at`` (a snapshot the test reads later); REPORT after."""

    size: int = layout.LIB_PAGE_SIZE
    at: int = 0


@dataclass(frozen=True)
class StoreRx:
    """Store the byte ``value`` at RX + ``offset`` (MAP-5), read it back; REPORT x0 =
    :data:`STORE_MARKER`, x1 = the byte read (a fault injected instead: FAULT_MARKER's report)."""

    offset: int = 0
    value: int = 0x5A


@dataclass(frozen=True)
class Wfi:
    """``wfi``; REPORT after (if it ever resumes)."""


@dataclass(frozen=True)
class Spin:
    """``b .`` forever."""


@dataclass(frozen=True)
class UnmaskIrq:
    """PSTATE.I := 0 (``msr daifclr, #2``); REPORT after. An IRQ taken from then on is REPORTed
    with x0 = :data:`IRQ_MARKER` (and IRQs masked again)."""


Step = Call | Header | Payload | Fill | ReadRx | CopyRx | StoreRx | Wfi | Spin | UnmaskIrq


# --- the usual calls, as script steps ------------------------------------------------------------


def version(requested: int = abi.FFA_VERSION_1_1) -> Call:
    """FFA_VERSION(w1 = requested), v1.1 by default."""
    return Call(abi.FFA_VERSION, requested)


def rxtx_map(tx: Arg = SEND_PAGE, rx: Arg = RECV_PAGE, pages: int = 1) -> Call:
    """FFA_RXTX_MAP_64 with the library's pages by default."""
    return Call(abi.FFA_RXTX_MAP_64, tx, rx, pages)


def id_get() -> Call:
    return Call(abi.FFA_ID_GET)


def msg_send2(w1: int = 0, w2: int = 0) -> Call:
    return Call(abi.FFA_MSG_SEND2, w1, w2)


def msg_wait() -> Call:
    return Call(abi.FFA_MSG_WAIT)


def rx_release(w1: int = 0) -> Call:
    return Call(abi.FFA_RX_RELEASE, w1)


def yield_() -> Call:
    return Call(abi.FFA_YIELD)


def notification_get(receiver: int, vcpu: int = 0, flags: int = 0xC) -> Call:
    """FFA_NOTIFICATION_GET(w1 = vcpu<<16 | receiver, w2 = flags; 0xC = both framework bitmaps)."""
    return Call(abi.FFA_NOTIFICATION_GET, vcpu << 16 | receiver, flags)


def setup() -> tuple[Call, Call]:
    """FFA_VERSION(v1.1) and FFA_RXTX_MAP_64(library pages): a script's usual first two steps."""
    return version(), rxtx_map()


# --- encoding ---------------------------------------------------------------------------------------


def _arg(value: Arg, what: str) -> str:
    if isinstance(value, Rel):
        if not -(1 << 48) < value.offset < (1 << 48):
            raise ValueError(f"{what}: Rel offset {value.offset:#x} out of range")
        return f"_start - {-value.offset:#x}" if value.offset < 0 else f"_start + {value.offset:#x}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: expected an int or Rel, got {value!r}")
    if not -(1 << 63) <= value < (1 << 64):
        raise ValueError(f"{what}: {value} does not fit in 64 bits")
    return f"{value & _U64:#x}"


def _u(value: int, mask: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= mask:
        raise ValueError(f"{what}: {value!r} does not fit {mask:#x}")
    return f"{value:#x}"


def _span(offset: int, size: int, what: str) -> tuple[str, str]:
    page = layout.LIB_PAGE_SIZE
    if not (0 <= offset <= page and 0 <= size <= page - offset):
        raise ValueError(f"{what}: [{offset}, {offset}+{size}) is not within a {page}-byte page")
    return f"{offset:#x}", f"{size:#x}"


def encode_steps(steps: Sequence[Step]) -> tuple[list[list[str]], list[bytes]]:
    """Each step as its 16 quad expressions (see ``_script.S``), END included, and the DATA blobs
    (``script_data_<i>``) the records point at."""
    out: list[list[str]] = []
    blobs: list[bytes] = []
    for i, step in enumerate(steps):
        what = f"step {i} ({step!r})"
        kind, op, args = 0, 0, ["0"] * 8
        if isinstance(step, Call):
            if step.insn not in layout.DRIVER_OPS:
                raise ValueError(f"{what}: insn must be one of {layout.DRIVER_OPS}")
            kind, op = KIND_CALL, layout.DRIVER_OPS.index(step.insn)
            regs = (step.x0, step.x1, step.x2, step.x3, step.x4, step.x5, step.x6, step.x7)
            args = [_arg(r, what) for r in regs]
        elif isinstance(step, Header):
            sr = abi.sender_receiver(step.sender, step.receiver)
            words = (step.flags, step.reserved, step.offset, sr, step.size)
            kind, args[:5] = KIND_HEADER, [_u(w, _U32, what) for w in words]
        elif isinstance(step, Payload):
            kind, args[:2] = KIND_DATA, _span(step.offset, len(step.data), what)
            args[2] = f"script_data_{len(blobs)}"
            blobs.append(bytes(step.data))
        elif isinstance(step, Fill):
            kind, args[:2] = KIND_FILL, _span(step.offset, step.size, what)
            args[2] = _u(step.value, 0xFF, what)
        elif isinstance(step, ReadRx):
            kind = KIND_READ_RX
        elif isinstance(step, CopyRx):
            if not (0 <= step.at and step.at + step.size <= 2 * layout.LIB_PAGE_SIZE and 0 <= step.size <= layout.LIB_PAGE_SIZE):
                raise ValueError(f"{what}: LIB_DATA holds two pages")
            kind, args[:2] = KIND_COPY_RX, [f"{step.at:#x}", f"{step.size:#x}"]
        elif isinstance(step, StoreRx):
            kind, args[:2] = KIND_STORE_RX, [_span(step.offset, 1, what)[0], _u(step.value, 0xFF, what)]
        elif isinstance(step, Wfi):
            kind = KIND_WFI
        elif isinstance(step, Spin):
            kind = KIND_SPIN
        elif isinstance(step, UnmaskIrq):
            kind = KIND_UNMASK_IRQ
        else:
            raise ValueError(f"{what}: not a script step")
        out.append([str(kind), str(op), *args, *["0"] * 6])
    out.append(["0"] * 16)
    return out, blobs


def _replace(text: str, marker: str, replacement: str) -> str:
    tag = f"// @@{marker}@@\n"
    if text.count(tag) != 1:
        raise RuntimeError(f"placeholder {tag.strip()} missing")
    return text.replace(tag, replacement)


def script_source(steps: Sequence[Step]) -> str:
    """The scripted secondary's self-contained text with ``steps`` as data."""
    dispatch = "".join(f"    cmp x14, #{k}\n    b.eq script_call_op_{k}\n" for k in range(len(layout.DRIVER_OPS)))
    variants = "".join(
        f"script_call_op_{k}:\n    SCRIPT_LOAD_REGS\n    {insn}\n    REPORT\n    b script_advance\n"
        for k, insn in enumerate(layout.DRIVER_OPS)
    )
    records, blobs = encode_steps(steps)
    rows = "".join(f"script_step_{i}:\n    .quad {', '.join(q)}\n" for i, q in enumerate(records[:-1]))
    data = "".join(
        f"script_data_{i}:\n"
        + "".join(f"    .byte {', '.join(str(b) for b in blob[j : j + 64])}\n" for j in range(0, len(blob), 64))
        for i, blob in enumerate(blobs)
    )
    text = (PROGRAM_DIR / "_script.S").read_text(encoding="ascii")
    text = _replace(text, "SCRIPT_DISPATCH", dispatch)
    text = _replace(text, "SCRIPT_VARIANTS", variants)
    text = _replace(text, "SCRIPT_STEPS", rows)
    text = _replace(text, "SCRIPT_DATA", data)
    return LIBRARY.header + LIBRARY.prelude() + text


def build_script(steps: Sequence[Step], base: int) -> Image:
    """Assemble the scripted secondary at ``base`` (symbols ``script_steps``, ``script_step_<i>``)."""
    if base % 0x10000:
        raise ValueError(f"library programs need a 64 KiB aligned base, got {base:#x}")
    image = assemble(script_source(steps), base=base, name="script.S")
    if len(image.code) > layout.LIB_SEND_PAGE:
        raise ValueError(f"script.S: {len(image.code):#x} bytes do not fit below the send page")
    return image
