"""The ``ffa-1.1-indirect`` ABI constants: one source of truth for Python and assembly.

Every value here is a number written in the normative text (``shared/spec/ffa-1.1-indirect.md``,
vendored as ``spec.md``), with the clause that writes it; nothing is taken from Hafnium or from the
FF-A specification directly. Where the text gives a value only as Hafnium's (an implementation-
defined one: the reference build's own version, its partition IDs, its interrupt IDs, its
descriptor size), the name says so (``HAFNIUM_...``) or the comment does.

The encoders follow the text's layouts: a result is the eight registers x0..x7 (CONV-1, CONV-3,
CONV-5: unassigned registers are 0), the v1.1 message header is 20 bytes (§8), a partition
descriptor begins with the v1.1 layout (PIG-6); a field that does not fit its bits is an error,
not masked. :func:`equ_source` is for this profile's guest programs, so guest code can write
``ldr x0, =FFA_MSG_SEND2`` and never repeat a number. The library's memory layout (report slots,
the driver's block) is not ABI: it is :mod:`guest_asm.layout`.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from guest_asm import layout

PROFILE: Final = "ffa-1.1-indirect"

# --- Function IDs (ID-1; CONV-1: SMC32 0x8400_00xx, SMC64 0xC400_00xx) ---------------------------
FFA_ERROR_32: Final = 0x84000060
FFA_SUCCESS_32: Final = 0x84000061
FFA_SUCCESS_64: Final = 0xC4000061
FFA_INTERRUPT: Final = 0x84000062
FFA_VERSION: Final = 0x84000063
FFA_FEATURES: Final = 0x84000064
FFA_RX_RELEASE: Final = 0x84000065
FFA_RXTX_MAP_32: Final = 0x84000066
FFA_RXTX_MAP_64: Final = 0xC4000066
FFA_RXTX_UNMAP: Final = 0x84000067
FFA_PARTITION_INFO_GET: Final = 0x84000068
FFA_ID_GET: Final = 0x84000069
FFA_MSG_WAIT: Final = 0x8400006B
FFA_YIELD: Final = 0x8400006C
FFA_RUN: Final = 0x8400006D
FFA_NOTIFICATION_GET: Final = 0x84000082
FFA_NOTIFICATION_INFO_GET_32: Final = 0x84000083
FFA_NOTIFICATION_INFO_GET_64: Final = 0xC4000083
FFA_RX_ACQUIRE: Final = 0x84000084
FFA_SPM_ID_GET: Final = 0x84000085
FFA_MSG_SEND2: Final = 0x84000086

#: ID-1's table, by name (FFA_ERROR and FFA_SUCCESS with their ``_32`` / ``_64`` forms, CONV-3).
FUNCTIONS: Final[dict[str, int]] = {
    "FFA_ERROR_32": FFA_ERROR_32,
    "FFA_SUCCESS_32": FFA_SUCCESS_32,
    "FFA_SUCCESS_64": FFA_SUCCESS_64,
    "FFA_INTERRUPT": FFA_INTERRUPT,
    "FFA_VERSION": FFA_VERSION,
    "FFA_FEATURES": FFA_FEATURES,
    "FFA_RX_RELEASE": FFA_RX_RELEASE,
    "FFA_RXTX_MAP_32": FFA_RXTX_MAP_32,
    "FFA_RXTX_MAP_64": FFA_RXTX_MAP_64,
    "FFA_RXTX_UNMAP": FFA_RXTX_UNMAP,
    "FFA_PARTITION_INFO_GET": FFA_PARTITION_INFO_GET,
    "FFA_ID_GET": FFA_ID_GET,
    "FFA_MSG_WAIT": FFA_MSG_WAIT,
    "FFA_YIELD": FFA_YIELD,
    "FFA_RUN": FFA_RUN,
    "FFA_NOTIFICATION_GET": FFA_NOTIFICATION_GET,
    "FFA_NOTIFICATION_INFO_GET_32": FFA_NOTIFICATION_INFO_GET_32,
    "FFA_NOTIFICATION_INFO_GET_64": FFA_NOTIFICATION_INFO_GET_64,
    "FFA_RX_ACQUIRE": FFA_RX_ACQUIRE,
    "FFA_SPM_ID_GET": FFA_SPM_ID_GET,
    "FFA_MSG_SEND2": FFA_MSG_SEND2,
}

#: CONV-7: these have only an SMC32 ID; their 0xC4... form is not an FF-A function.
SMC32_ONLY: Final[tuple[int, ...]] = (
    FFA_MSG_SEND2,
    FFA_MSG_WAIT,
    FFA_RX_RELEASE,
    FFA_RUN,
    FFA_ID_GET,
    FFA_VERSION,
    FFA_FEATURES,
    FFA_PARTITION_INFO_GET,
    FFA_NOTIFICATION_GET,
)
#: Bit 30 of a function ID: the SMC64 convention (0x8400_00xx vs 0xC400_00xx, CONV-1).
SMC64_BIT: Final = 1 << 30

#: IDs the text names outside ID-1: calls Hafnium still handles but FFA_FEATURES denies (FEAT-5, D4),
#: and Hafnium's console log, which ends version negotiation like any FF-A call (VER-4).
FFA_MSG_SEND_32: Final = 0x8400006E
FFA_MSG_POLL_32: Final = 0x8400006A
FFA_CONSOLE_LOG_32: Final = 0x8400008A
FFA_CONSOLE_LOG_64: Final = 0xC400008A
#: RUN-3: Hafnium's own FFA_RUN result for a target that executed WFI (w1 = ID<<16 | vCPU, w2 = ns).
HF_FFA_RUN_WAIT_FOR_INTERRUPT: Final = 0xFF06

#: CONV-2: ID bit 16 (the SMCCC SVE hint) is cleared before decoding (Hafnium).
SMCCC_SVE_HINT: Final = 1 << 16
#: CONV-9 (and SEND-6 under QEMU with no EL3 firmware): x0 = -1, SMCCC_ERROR_UNKNOWN; not an FFA_ERROR.
SMCCC_ERROR_UNKNOWN: Final = 0xFFFF_FFFF_FFFF_FFFF

# --- Error codes (CONV-4: signed 32-bit in w2, zero-extended in x2) ------------------------------
#: The codes as the text writes them (signed).
ERRORS: Final[dict[str, int]] = {
    "NOT_SUPPORTED": -1,
    "INVALID_PARAMETERS": -2,
    "NO_MEMORY": -3,
    "BUSY": -4,
    "INTERRUPTED": -5,
    "DENIED": -6,
    "RETRY": -7,
    "ABORTED": -8,
    "NO_DATA": -9,
}
_U32: Final = 0xFFFF_FFFF
_U16: Final = 0xFFFF
# The codes as x2 holds them: zero-extended (CONV-4: x2 = 0x00000000FFFFFFFE for -2).
FFA_NOT_SUPPORTED: Final = -1 & _U32
FFA_INVALID_PARAMETERS: Final = -2 & _U32
FFA_NO_MEMORY: Final = -3 & _U32
FFA_BUSY: Final = -4 & _U32
FFA_INTERRUPTED: Final = -5 & _U32
FFA_DENIED: Final = -6 & _U32
FFA_RETRY: Final = -7 & _U32
FFA_ABORTED: Final = -8 & _U32
FFA_NO_DATA: Final = -9 & _U32


def error_code(name: str) -> int:
    """``name``'s code as x2 holds it: the signed 32-bit value zero-extended (CONV-4)."""
    return ERRORS[name] & _U32


def error_name(x2: int) -> str | None:
    """The name of the error code in w2 (CONV-4), or None when w2 is not one of them."""
    w2 = x2 & _U32
    for name, code in ERRORS.items():
        if code & _U32 == w2:
            return name
    return None


# --- Versions (ID-4, §3) ---------------------------------------------------------------------------
#: ID-4: bit 31 MBZ, bits 30..16 major, bits 15..0 minor.
FFA_VERSION_MBZ_BIT: Final = 1 << 31
FFA_VERSION_1_0: Final = 0x00010000
FFA_VERSION_1_1: Final = 0x00010001
FFA_VERSION_1_2: Final = 0x00010002
#: VER-1: the reference build's own version (Hafnium compiled v1.3), returned to a compatible request.
HAFNIUM_VERSION: Final = 0x00010003
#: §3: FFA_VERSION's NOT_SUPPORTED is w0 = 0xFFFFFFFF with x0[63:32] = 0 (not -1, not an FFA_ERROR).
FFA_VERSION_NOT_SUPPORTED: Final = 0xFFFF_FFFF


def version(major: int, minor: int) -> int:
    """The version word ``major.minor`` (ID-4: major in bits 30..16, minor in bits 15..0)."""
    return _field("major", major, 0x7FFF) << 16 | _field("minor", minor, _U16)


def version_parts(word: int) -> tuple[int, int]:
    """(major, minor) of a version word (ID-4; bit 31 ignored here, VER-2 refuses it)."""
    return word >> 16 & 0x7FFF, word & _U16


# --- Partition IDs (ID-2, ID-3) ------------------------------------------------------------------
#: ID-2: bit 15 of a partition ID: 0 = a VM (normal world), 1 = a secure partition.
FFA_ID_SP_BIT: Final = 0x8000
# ID-3 (implementation-defined): Hafnium's values.
HAFNIUM_HYPERVISOR_ID: Final = 0
HAFNIUM_SPMC_ID: Final = 0x8000
HAFNIUM_SPMD_ID: Final = 0xFFFF
HAFNIUM_PRIMARY_VM_ID: Final = 1
HAFNIUM_FIRST_SP_ID: Final = 0x8001


def vm_vcpu(partition: int, vcpu: int) -> int:
    """``ID<<16 | vCPU``: FFA_RUN's w1 (RUN-1) and the w1 of its results (RUN-2, RUN-3)."""
    return _field("partition", partition, _U16) << 16 | _field("vcpu", vcpu, _U16)


def sender_receiver(sender: int, receiver: int) -> int:
    """``A<<16 | B``: the header word @12, sender in bits 31:16, receiver in 15:0 (HDR-4)."""
    return _field("sender", sender, _U16) << 16 | _field("receiver", receiver, _U16)


# --- FFA_FEATURES (§5) ---------------------------------------------------------------------------
#: w1 bit 31: 1 = a function ID, 0 = a feature ID.
FFA_FEATURES_FUNCTION_BIT: Final = 1 << 31
# Feature IDs (FEAT-6, FEAT-7) and Hafnium's answers (implementation-defined interrupt IDs).
FFA_FEATURE_NPI: Final = 0x1
FFA_FEATURE_SRI: Final = 0x2
FFA_FEATURE_MEI: Final = 0x3
FFA_FEATURE_NOTIFICATION: Final = 0x4  # FEAT-7: FF-A v1.3's notification features, per Hafnium
HAFNIUM_NPI_INTID: Final = 5
HAFNIUM_SRI_INTID: Final = 8
HAFNIUM_MEI_INTID: Final = 4
HAFNIUM_NOTIFICATION_FEATURES: Final = 0x3  # FEAT-7: bit 0 no per-vCPU notifications for VMs, bit 1 none for SPs
#: FEAT-6: a feature ID with any of bits 30:8 set is NOT_SUPPORTED.
FFA_FEATURE_ID_MBZ: Final = 0x7FFF_FF00
#: FEAT-4: FFA_FEATURES(FFA_RXTX_MAP_64) w2 bits 1:0, minimum buffer size and alignment.
RXTX_MAP_MIN_BUF_4K: Final = 0b00
RXTX_MAP_MIN_BUF_64K: Final = 0b01
RXTX_MAP_MIN_BUF_16K: Final = 0b10

# --- RX/TX buffers (§6) and messages (§8, §9) ------------------------------------------------------
#: §6: FFA_RXTX_MAP_64's page count counts 4 KiB pages; MAP-2: 4 KiB-aligned addresses.
PAGE_SIZE: Final = 4096
#: MAP-2: the reference build's RXTX_MAX_PAGE_COUNT (multi-page buffers are outside this profile).
HAFNIUM_RXTX_MAX_PAGE_COUNT: Final = 1
#: SEND-14: Hafnium's maximum message size, 4096 x RXTX_MAX_PAGE_COUNT (4096 here).
HAFNIUM_MAX_MESSAGE_SIZE: Final = 4096
#: MAP-6: w1[31:16] of FFA_RXTX_UNMAP (an ID) MBZ at a virtual instance.
RXTX_UNMAP_ID_MASK: Final = 0xFFFF_0000

#: HDR-7: the v1.1 header is 20 bytes; SEND-11: 40 for a v1.2+ sender (HDR-6: v1.2's fields).
FFA_RXTX_HEADER_SIZE_V1_1: Final = 20
FFA_RXTX_HEADER_SIZE_V1_2: Final = 40
# HDR-1..HDR-5: the header's fields, (offset, size) in bytes, little-endian.
HDR_FLAGS: Final = 0
HDR_RESERVED: Final = 4
HDR_OFFSET: Final = 8
HDR_SENDER_RECEIVER: Final = 12  # u16 receiver @12, u16 sender @14 (HDR-4)
HDR_SIZE: Final = 16
#: SEND-1: w1[31:16] (a sender ID, for a hypervisor forwarding at the NS physical instance) MBZ here.
MSG_SEND2_SENDER_MASK: Final = 0xFFFF_0000
#: SEND-5 / §9: w2 bit 1, "delay Schedule Receiver Interrupt" (SP senders only; a VM's w2 MBZ).
MSG_SEND2_FLAG_DELAY_SRI: Final = 1 << 1
#: WAIT-1: w2 bit 0 of FFA_MSG_WAIT, "retain RX ownership", exists from v1.2 only (MBZ for v1.1).
MSG_WAIT_FLAG_RETAIN_RX_V1_2: Final = 1 << 0

_HEADER: Final = struct.Struct("<5I")


class Header(NamedTuple):
    """A v1.1 partition message header (§8), as its five little-endian u32s."""

    flags: int
    reserved: int
    offset: int
    sender: int
    receiver: int
    size: int


def header(
    sender: int, receiver: int, size: int, *, offset: int = FFA_RXTX_HEADER_SIZE_V1_1, flags: int = 0, reserved: int = 0
) -> bytes:
    """The 20 bytes of a v1.1 header (§8): flags @0, reserved @4, offset @8, sender/receiver @12, size @16."""
    return _HEADER.pack(
        _field("flags", flags, _U32),
        _field("reserved", reserved, _U32),
        _field("offset", offset, _U32),
        sender_receiver(sender, receiver),
        _field("size", size, _U32),
    )


def parse_header(data: bytes) -> Header:
    """The header at the start of ``data`` (at least 20 bytes)."""
    flags, reserved, offset, ids, size = _HEADER.unpack_from(data)
    return Header(flags, reserved, offset, ids >> 16, ids & _U16, size)


# --- FFA_PARTITION_INFO_GET (§7) -------------------------------------------------------------------
#: PIG-2: w5 bit 0 = 1, count only; bits 31:1 MBZ.
FFA_PARTITION_COUNT_FLAG: Final = 1 << 0
FFA_PARTITION_INFO_FLAGS_MBZ: Final = 0xFFFF_FFFE
#: PIG-3: descriptor sizes: v1.0 = 8 bytes, v1.1 (Table 13.34) = 24, Hafnium's to a v1.1 caller 48 (0x30).
PARTITION_INFO_SIZE_V1_0: Final = 8
PARTITION_INFO_SIZE_V1_1: Final = 24
HAFNIUM_PARTITION_INFO_SIZE: Final = 0x30
# PIG-6: properties bits.
FFA_PARTITION_DIRECT_REQ_RECV: Final = 1 << 0
FFA_PARTITION_DIRECT_REQ_SEND: Final = 1 << 1
FFA_PARTITION_INDIRECT_MSG: Final = 1 << 2
FFA_PARTITION_NOTIFICATION: Final = 1 << 3
FFA_PARTITION_AARCH64: Final = 1 << 8
#: PIG-6: properties bits 31:11 = 0 for a v1.1 caller.
FFA_PARTITION_V1_1_RES_MASK: Final = 0xFFFF_F800

_DESCRIPTOR: Final = struct.Struct("<HHI16s")


class PartitionInfo(NamedTuple):
    """The v1.1 layout a descriptor begins with (PIG-6)."""

    id: int
    contexts: int
    properties: int
    uuid: bytes


def partition_info(partition: int, contexts: int, properties: int, uuid: bytes = bytes(16), size: int = 24) -> bytes:
    """One descriptor of ``size`` bytes (PIG-3): u16 ID @0, u16 execution contexts @2, u32
    properties @4, 16-byte UUID @8 (PIG-6), zero after; the 8-byte v1.0 form stops before the UUID."""
    if len(uuid) != 16:
        raise ValueError(f"a UUID is 16 bytes, not {len(uuid)}")
    full = _DESCRIPTOR.pack(
        _field("partition", partition, _U16), _field("contexts", contexts, _U16), _field("properties", properties, _U32), uuid
    )
    if size < PARTITION_INFO_SIZE_V1_0:
        raise ValueError(f"a descriptor is at least {PARTITION_INFO_SIZE_V1_0} bytes, not {size}")
    return full[:size] + bytes(max(0, size - len(full)))


def parse_partition_info(data: bytes, offset: int = 0) -> PartitionInfo:
    """The v1.1 layout at ``offset`` of ``data`` (PIG-6)."""
    pid, contexts, properties, uuid = _DESCRIPTOR.unpack_from(data, offset)
    return PartitionInfo(pid, contexts, properties, uuid)


# --- Notifications (§10) ---------------------------------------------------------------------------
# NOTIF-2: FFA_NOTIFICATION_GET w2 flags; bits 31:4 MBZ.
FFA_NOTIFICATION_FLAG_SP: Final = 1 << 0
FFA_NOTIFICATION_FLAG_VM: Final = 1 << 1
FFA_NOTIFICATION_FLAG_SPM_FRAMEWORK: Final = 1 << 2
FFA_NOTIFICATION_FLAG_HYP_FRAMEWORK: Final = 1 << 3
FFA_NOTIFICATION_FLAGS_MBZ: Final = 0xFFFF_FFF0
#: NOTIF-1: a VM sender's RX-buffer-full notification: bit 0 of w7 (hypervisor framework bitmap).
FFA_NOTIFICATION_RX_BUFFER_FULL: Final = 1 << 0
# NOTIF-4: FFA_NOTIFICATION_INFO_GET_64's w2: bit 0 more pending, bits 11:7 the number of ID lists,
# two bits per list from bit 12 the number of vCPU IDs after the list's partition ID.
FFA_NOTIFICATIONS_INFO_MORE_PENDING: Final = 1 << 0
FFA_NOTIFICATIONS_LISTS_COUNT_SHIFT: Final = 7
FFA_NOTIFICATIONS_LISTS_COUNT_MASK: Final = 0x1F
FFA_NOTIFICATIONS_LIST_SIZES_SHIFT: Final = 12


def info_get_w2(list_sizes: tuple[int, ...], more: bool = False) -> int:
    """NOTIF-4's w2: the count of ID lists in bits 11:7, each list's vCPU count (0..3) in two bits
    from bit 12, bit 0 = more pending. One list with no vCPU IDs: 0x80 (§15 A.3)."""
    if len(list_sizes) > FFA_NOTIFICATIONS_LISTS_COUNT_MASK:
        raise ValueError(f"{len(list_sizes)} ID lists do not fit bits 11:7")
    w2 = len(list_sizes) << FFA_NOTIFICATIONS_LISTS_COUNT_SHIFT | int(more)
    for n, size in enumerate(list_sizes):
        w2 |= _field("vcpu count", size, 3) << (FFA_NOTIFICATIONS_LIST_SIZES_SHIFT + 2 * n)
    return w2


def pack_ids(ids: tuple[int, ...]) -> tuple[int, int, int, int, int]:
    """NOTIF-4's x3..x7: the 16-bit IDs packed, four to a register, lowest bits first."""
    if len(ids) > 20:
        raise ValueError(f"{len(ids)} IDs do not fit x3..x7")
    regs = [0] * 5
    for n, i in enumerate(ids):
        regs[n // 4] |= _field("id", i, _U16) << (16 * (n % 4))
    return regs[0], regs[1], regs[2], regs[3], regs[4]


# --- Results (CONV-1, CONV-3, CONV-5) --------------------------------------------------------------
#: x0..x7 of a result: registers an interface does not assign are 0 (CONV-5).
Result = tuple[int, int, int, int, int, int, int, int]


def success(
    w2: int = 0, *, x1: int = 0, x3: int = 0, x4: int = 0, x5: int = 0, x6: int = 0, x7: int = 0, wide: bool = False
) -> Result:
    """FFA_SUCCESS_32 (or FFA_SUCCESS_64 when ``wide``) with its assigned registers, the rest 0."""
    return (FFA_SUCCESS_64 if wide else FFA_SUCCESS_32, x1, w2, x3, x4, x5, x6, x7)


def error(name: str) -> Result:
    """FFA_ERROR_32 with the code ``name`` in w2 (zero-extended, CONV-4), x1 and x3..x7 = 0."""
    return (FFA_ERROR_32, 0, error_code(name), 0, 0, 0, 0, 0)


def _field(name: str, value: int, mask: int) -> int:
    if not 0 <= value <= mask:
        raise ValueError(f"{name}={value:#x} does not fit its field (at most {mask:#x})")
    return value


_ASM_NAMES: Final[tuple[str, ...]] = (
    *FUNCTIONS,
    "FFA_MSG_SEND_32",
    "FFA_MSG_POLL_32",
    "FFA_CONSOLE_LOG_32",
    "FFA_CONSOLE_LOG_64",
    "HF_FFA_RUN_WAIT_FOR_INTERRUPT",
    *(f"FFA_{name}" for name in ERRORS),
    "FFA_VERSION_1_0",
    "FFA_VERSION_1_1",
    "FFA_VERSION_1_2",
    "HAFNIUM_VERSION",
    "FFA_VERSION_NOT_SUPPORTED",
    "HAFNIUM_PRIMARY_VM_ID",
    "PAGE_SIZE",
    "HAFNIUM_MAX_MESSAGE_SIZE",
    "FFA_RXTX_HEADER_SIZE_V1_1",
    "HDR_FLAGS",
    "HDR_RESERVED",
    "HDR_OFFSET",
    "HDR_SENDER_RECEIVER",
    "HDR_SIZE",
    "FFA_PARTITION_COUNT_FLAG",
    "FFA_NOTIFICATION_FLAG_SP",
    "FFA_NOTIFICATION_FLAG_VM",
    "FFA_NOTIFICATION_FLAG_SPM_FRAMEWORK",
    "FFA_NOTIFICATION_FLAG_HYP_FRAMEWORK",
    "FFA_NOTIFICATION_RX_BUFFER_FULL",
)


def constants() -> dict[str, int]:
    """Every constant exported to assembly, by name."""
    return layout.exported(globals(), _ASM_NAMES)


def equ_source() -> str:
    """``.equ`` lines for these constants and the library layout's: the head of every guest program."""
    return layout.equ_source(constants())
