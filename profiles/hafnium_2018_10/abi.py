"""The ``hafnium-2018-10`` ABI constants: one source of truth for Python and assembly.

Every value here is a fact of the normative text (``shared/spec/hafnium-mailbox-abi.md``),
itself read from Hafnium at commit aa039b39158c5e945a8c9c3b1eeff1b84ad79080
(``inc/vmapi/hf/call.h``, ``src/api.c``, ``src/arch/aarch64/handler.c``).

The assembler prepends :func:`equ_source` to every guest program, so guest code writes
``mov x0, #HF_MAILBOX_SEND`` and never repeats a number.

The second half of this module is *not* ABI: it is the memory layout convention of this
project's own guest program library (where a program keeps its mailbox pages, its report
slots, its script). Those offsets are relative to the VM's base address, which the
hypervisor under test chooses (VM-5).
"""

from __future__ import annotations

from typing import Final

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

MASK64: Final = 0xFFFF_FFFF_FFFF_FFFF


def run_response(code: int, vm_id: int = 0, data: int = 0) -> int:
    """Encode an HF_VCPU_RUN return value: ``code | (vm_id & 0xffff) << 16 | data << 32``."""
    return (code & 0xFF) | (vm_id & 0xFFFF) << 16 | (data & 0xFFFF_FFFF) << 32


def receive_response(sender: int, size: int) -> int:
    """Encode a successful HF_MAILBOX_RECEIVE return value: ``(sender & 0xffff) | size << 32``."""
    return (sender & 0xFFFF) | (size & 0xFFFF_FFFF) << 32


# --- Encodings the hypervisor traps on (AArch64) --------------------------------------------
INSN_WFI: Final = 0xD503207F
INSN_WFE: Final = 0xD503205F

# =============================================================================================
# Guest program library layout (this project's convention, not ABI): offsets from a VM's base.
# =============================================================================================
LIB_SEND_PAGE: Final = 0x10000  # the page a library program configures as its send page
LIB_RECV_PAGE: Final = 0x11000  # ... and as its recv page
LIB_DATA: Final = 0x12000  # two pages of scratch data a program may use (e.g. a message copy)
LIB_REPORT: Final = 0x14000  # report slots: one 256-byte slot per observation
LIB_REPORT_SLOT: Final = 256  # x0..x30 at +0..+240, magic at +248
LIB_REPORT_SLOTS: Final = 176  # 0x14000 + 176 * 256 = 0x1F000
LIB_REPORT_MAGIC: Final = 0x5245504F52543031  # "REPORT01"
LIB_MIN_MEMORY: Final = 0x20000  # smallest VM a library program fits in

# Primary driver command block (offsets from the ``hf_driver_block`` symbol).
DRIVER_OP: Final = 0  # which instruction the driver executes, one of DRIVER_OPS
DRIVER_IN: Final = 8  # x0..x30 loaded before the instruction (31 x 8 bytes)
DRIVER_OUT: Final = 256  # x0..x30 stored after it (31 x 8 bytes)
DRIVER_BLOCK_SIZE: Final = 512
# The instructions the driver can execute, by op number. Changing this order changes the driver.
DRIVER_OPS: Final[tuple[str, ...]] = ("hvc #0", "hvc #1", "hvc #0x1234", "hvc #0xffff", "smc #0")

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
    "LIB_SEND_PAGE",
    "LIB_RECV_PAGE",
    "LIB_DATA",
    "LIB_REPORT",
    "LIB_REPORT_SLOT",
    "LIB_REPORT_SLOTS",
    "LIB_REPORT_MAGIC",
    "DRIVER_OP",
    "DRIVER_IN",
    "DRIVER_OUT",
    "DRIVER_BLOCK_SIZE",
)


def constants() -> dict[str, int]:
    """Every constant exported to assembly, by name."""
    g = globals()
    return {name: int(g[name]) for name in _ASM_NAMES}


def equ_source() -> str:
    """``.equ NAME, value`` lines for every constant, prepended to guest programs."""
    return "".join(f".equ {name}, {value:#x}\n" for name, value in constants().items())
