"""The ``hafnium-2019-03`` guest programs: this directory's ``.S`` files plus the shared ones
(``guest_asm/programs``: driver, script, faults, spinners), every text headed by this profile's
ABI constants (:func:`abi.equ_source`).

The script steps (:class:`Call`, :class:`Fill`, ...) are the shared ones; :func:`configure` is
this profile's shorthand, and a Call of HF_MAILBOX_RECEIVE is what the script remembers as "the
last receive" (its result packs the sender in bits 31..0 and the size in bits 63..32, RECV-2;
VM IDs are small, so the script's reply reads the sender from bits 15..0).
"""

from __future__ import annotations

from pathlib import Path

from guest_asm import programs as shared
from guest_asm.programs import (
    RECV_PAGE,
    SEND_PAGE,
    Arg,
    Call,
    CopyRecv,
    Fill,
    Rel,
    Spin,
    Step,
    Wfe,
    Wfi,
    build_driver,
    decode_steps,
    driver_source,
    pattern,
    read_reports,
)
from profiles.hafnium_2019_03 import abi

__all__ = [
    "LIBRARY",
    "RECV_PAGE",
    "SEND_PAGE",
    "Call",
    "CopyRecv",
    "Fill",
    "Rel",
    "Spin",
    "Step",
    "Wfe",
    "Wfi",
    "build",
    "build_driver",
    "build_script",
    "configure",
    "decode_steps",
    "driver_source",
    "encode_steps",
    "is_receive",
    "names",
    "params",
    "pattern",
    "read_reports",
    "script_source",
    "source",
]


def is_receive(x0: int) -> bool:
    """Whether ``x0`` selects HF_MAILBOX_RECEIVE (CALL-3 masking applied)."""
    return (x0 & 0xFFFF_FFFF & ~abi.FUNCTION_ID_IGNORED_BIT) == abi.HF_MAILBOX_RECEIVE


LIBRARY = shared.Library([Path(__file__).with_name("programs"), shared.PROGRAM_DIR], abi.equ_source(), is_receive)
names = LIBRARY.names
params = LIBRARY.params
source = LIBRARY.source
build = LIBRARY.build
encode_steps = LIBRARY.encode_steps
script_source = LIBRARY.script_source
build_script = LIBRARY.build_script


def configure(send: Arg = SEND_PAGE, recv: Arg = RECV_PAGE, insn: str = "hvc #0") -> Call:
    """``Call(HF_VM_CONFIGURE, send, recv)`` with the library's pages by default."""
    return Call(abi.HF_VM_CONFIGURE, send, recv, insn=insn)
