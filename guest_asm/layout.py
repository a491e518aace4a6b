"""The memory layout of this project's guest program library: not ABI, the same in every profile.

Where a library program keeps its mailbox pages, its report slots and its script, as offsets
from its VM's base address (which the hypervisor under test chooses), and the primary driver's
command block. :func:`equ_source` gives them to assembly; a profile adds its own ABI constants
(``profiles/<name>/abi.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, cast

LIB_SEND_PAGE: Final = 0x10000  # the page a library program configures as its send page
LIB_RECV_PAGE: Final = 0x11000  # ... and as its recv page
LIB_DATA: Final = 0x12000  # two pages of scratch data a program may use (e.g. a message copy)
LIB_REPORT: Final = 0x14000  # report slots: one 256-byte slot per observation
LIB_REPORT_SLOT: Final = 256  # x0..x30 at +0..+240, magic at +248
LIB_REPORT_SLOTS: Final = 176  # 0x14000 + 176 * 256 = 0x1F000
LIB_REPORT_MAGIC: Final = 0x5245504F52543031  # "REPORT01"
LIB_MIN_MEMORY: Final = 0x20000  # smallest VM a library program fits in
LIB_PAGE_SIZE: Final = 4096  # the granule the library's pages are aligned to

# Primary driver command block (offsets from the ``hf_driver_block`` symbol).
DRIVER_OP: Final = 0  # which instruction the driver executes, one of DRIVER_OPS
DRIVER_IN: Final = 8  # x0..x30 loaded before the instruction (31 x 8 bytes)
DRIVER_OUT: Final = 256  # x0..x30 stored after it (31 x 8 bytes)
DRIVER_BLOCK_SIZE: Final = 512
# The instructions the driver can execute, by op number. Changing this order changes the driver.
DRIVER_OPS: Final[tuple[str, ...]] = ("hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff", "smc #0")

MASK64: Final = 0xFFFF_FFFF_FFFF_FFFF

# --- Encodings a hypervisor traps on (AArch64) ----------------------------------------------
INSN_WFI: Final = 0xD503207F
INSN_WFE: Final = 0xD503205F

_ASM_NAMES: Final[tuple[str, ...]] = (
    "LIB_SEND_PAGE",
    "LIB_RECV_PAGE",
    "LIB_DATA",
    "LIB_REPORT",
    "LIB_REPORT_SLOT",
    "LIB_REPORT_SLOTS",
    "LIB_REPORT_MAGIC",
    "LIB_PAGE_SIZE",
    "DRIVER_OP",
    "DRIVER_IN",
    "DRIVER_OUT",
    "DRIVER_BLOCK_SIZE",
)


def exported(namespace: Mapping[str, object], names: Iterable[str]) -> dict[str, int]:
    """``names``' values in ``namespace`` (a module's ``globals()``), as ints: what a module exports to assembly."""
    return {name: int(cast(int, namespace[name])) for name in names}


def constants() -> dict[str, int]:
    """Every layout constant exported to assembly, by name."""
    return exported(globals(), _ASM_NAMES)


def equ_source(extra: dict[str, int] | None = None) -> str:
    """``.equ NAME, value`` lines for the layout constants (and ``extra``, e.g. a profile's ABI)."""
    return "".join(f".equ {name}, {value:#x}\n" for name, value in {**constants(), **(extra or {})}.items())
