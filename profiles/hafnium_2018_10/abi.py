"""The ``hafnium-2018-10`` ABI constants: one source of truth for Python and assembly.

Every value here is a fact of the normative text (``shared/spec/hafnium-mailbox-abi.md``),
itself read from Hafnium at commit aa039b39158c5e945a8c9c3b1eeff1b84ad79080
(``inc/vmapi/hf/call.h``, ``src/api.c``, ``src/arch/aarch64/handler.c``).

The profile's program library (:mod:`profiles.hafnium_2018_10.programs`) puts :func:`equ_source`
at the top of every guest program, so guest code writes ``mov x0, #HF_MAILBOX_SEND`` and never
repeats a number. The library's memory layout (report slots, the driver's block) is not ABI: it
is :mod:`guest_asm.layout`.
"""

from __future__ import annotations

from typing import Final

from guest_asm import layout

PROFILE: Final = "hafnium-2018-10"

# --- Hypercall function IDs (spec §2, ID-1..ID-7) --------------------------------------------
HF_VCPU_RUN: Final = 0xFF00
HF_VM_GET_COUNT: Final = 0xFF01
HF_VCPU_GET_COUNT: Final = 0xFF02
HF_VM_CONFIGURE: Final = 0xFF03
HF_MAILBOX_SEND: Final = 0xFF04
HF_MAILBOX_RECEIVE: Final = 0xFF05
HF_MAILBOX_CLEAR: Final = 0xFF06

HYPERCALLS: Final[dict[str, int]] = {
    "HF_VCPU_RUN": HF_VCPU_RUN,
    "HF_VM_GET_COUNT": HF_VM_GET_COUNT,
    "HF_VCPU_GET_COUNT": HF_VCPU_GET_COUNT,
    "HF_VM_CONFIGURE": HF_VM_CONFIGURE,
    "HF_MAILBOX_SEND": HF_MAILBOX_SEND,
    "HF_MAILBOX_RECEIVE": HF_MAILBOX_RECEIVE,
    "HF_MAILBOX_CLEAR": HF_MAILBOX_CLEAR,
}

# Function IDs are matched on the low 32 bits with bit 30 (the SMC64/HVC64 convention bit) cleared (CALL-3).
FUNCTION_ID_IGNORED_BIT: Final = 1 << 30

# --- PSCI (CALL-6), handled only for the primary --------------------------------------------
PSCI_VERSION: Final = 0x84000000
PSCI_CPU_SUSPEND: Final = 0x84000001
PSCI_CPU_OFF: Final = 0x84000002
PSCI_CPU_ON: Final = 0x84000003
PSCI_AFFINITY_INFO: Final = 0x84000004
PSCI_MIGRATE_INFO_TYPE: Final = 0x84000006
PSCI_SYSTEM_OFF: Final = 0x84000008
PSCI_VERSION_RESULT: Final = 2
PSCI_MIGRATE_INFO_TYPE_RESULT: Final = 2

# --- Constants (spec §2) ---------------------------------------------------------------------
HF_PRIMARY_VM_ID: Final = 0
HF_MAILBOX_SIZE: Final = 4096
PAGE_SIZE: Final = 4096
HF_INVALID_VM_ID: Final = 0xFFFF
HF_INVALID_VCPU: Final = 0xFFFF
HF_ERROR: Final = 0xFFFF_FFFF_FFFF_FFFF  # "-1" in x0

# --- HF_VCPU_RUN response codes (spec §4) ----------------------------------------------------
HF_VCPU_RUN_YIELD: Final = 0x00
HF_VCPU_RUN_WAIT_FOR_INTERRUPT: Final = 0x01
HF_VCPU_RUN_WAKE_UP: Final = 0x02
HF_VCPU_RUN_MESSAGE: Final = 0x03

def run_response(code: int, vm_id: int = 0, data: int = 0) -> int:
    """Encode an HF_VCPU_RUN return value: ``code | (vm_id & 0xffff) << 16 | data << 32``."""
    return (code & 0xFF) | (vm_id & 0xFFFF) << 16 | (data & 0xFFFF_FFFF) << 32


def receive_response(sender: int, size: int) -> int:
    """Encode a successful HF_MAILBOX_RECEIVE return value: ``(sender & 0xffff) | size << 32``."""
    return (sender & 0xFFFF) | (size & 0xFFFF_FFFF) << 32


_ASM_NAMES: Final[tuple[str, ...]] = (
    "HF_VCPU_RUN",
    "HF_VM_GET_COUNT",
    "HF_VCPU_GET_COUNT",
    "HF_VM_CONFIGURE",
    "HF_MAILBOX_SEND",
    "HF_MAILBOX_RECEIVE",
    "HF_MAILBOX_CLEAR",
    "PSCI_VERSION",
    "PSCI_MIGRATE_INFO_TYPE",
    "PSCI_SYSTEM_OFF",
    "HF_PRIMARY_VM_ID",
    "HF_MAILBOX_SIZE",
    "PAGE_SIZE",
    "HF_INVALID_VM_ID",
    "HF_INVALID_VCPU",
    "HF_VCPU_RUN_YIELD",
    "HF_VCPU_RUN_WAIT_FOR_INTERRUPT",
    "HF_VCPU_RUN_WAKE_UP",
    "HF_VCPU_RUN_MESSAGE",
)


def constants() -> dict[str, int]:
    """Every constant exported to assembly, by name."""
    return layout.exported(globals(), _ASM_NAMES)


def equ_source() -> str:
    """``.equ`` lines for these constants and the library layout's: the head of every guest program."""
    return layout.equ_source(constants())
