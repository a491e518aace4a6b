"""The ``hafnium-2019-03`` ABI constants: one source of truth for Python and assembly.

Every value here is a number of the normative text (``shared/spec/hafnium-2019-03.md``, vendored
as ``spec.md``), itself read from Hafnium at commit 53d9d04f2df4c6510dae3428369c76829f8c942f
(``inc/vmapi/hf/call.h``, ``inc/vmapi/hf/abi.h``, ``inc/vmapi/hf/types.h``, ``src/api.c``,
``src/arch/aarch64/handler.c``). The one number not written in the text is ``PSCI_SYSTEM_OFF``:
the text names the call and defers to the PSCI 1.1 specification for its ID (CALL-6).

The encoders follow the text's layouts (§4 ``hf_vcpu_run_return_encode``, §7
``hf_mailbox_receive_return_encode``); a field that does not fit its bits is an error, not masked.
:func:`equ_source` is for this profile's guest programs (none yet), so guest code can write
``mov x0, #HF_MAILBOX_SEND`` and never repeat a number. The library's memory layout (report
slots, the driver's block) is not ABI: it is :mod:`guest_asm.layout`.
"""

from __future__ import annotations

from typing import Final

from guest_asm import layout

PROFILE: Final = "hafnium-2019-03"

# --- Hypercall function IDs (spec §2, ID-1..ID-14) -------------------------------------------
HF_VM_GET_ID: Final = 0xFF00
HF_VM_GET_COUNT: Final = 0xFF01
HF_VCPU_GET_COUNT: Final = 0xFF02
HF_VCPU_RUN: Final = 0xFF03
HF_VCPU_YIELD: Final = 0xFF04
HF_VM_CONFIGURE: Final = 0xFF05
HF_MAILBOX_SEND: Final = 0xFF06
HF_MAILBOX_RECEIVE: Final = 0xFF07
HF_MAILBOX_CLEAR: Final = 0xFF08
HF_MAILBOX_WRITABLE_GET: Final = 0xFF09
HF_MAILBOX_WAITER_GET: Final = 0xFF0A
HF_INTERRUPT_ENABLE: Final = 0xFF0B
HF_INTERRUPT_GET: Final = 0xFF0C
HF_INTERRUPT_INJECT: Final = 0xFF0D

HYPERCALLS: Final[dict[str, int]] = {
    "HF_VM_GET_ID": HF_VM_GET_ID,
    "HF_VM_GET_COUNT": HF_VM_GET_COUNT,
    "HF_VCPU_GET_COUNT": HF_VCPU_GET_COUNT,
    "HF_VCPU_RUN": HF_VCPU_RUN,
    "HF_VCPU_YIELD": HF_VCPU_YIELD,
    "HF_VM_CONFIGURE": HF_VM_CONFIGURE,
    "HF_MAILBOX_SEND": HF_MAILBOX_SEND,
    "HF_MAILBOX_RECEIVE": HF_MAILBOX_RECEIVE,
    "HF_MAILBOX_CLEAR": HF_MAILBOX_CLEAR,
    "HF_MAILBOX_WRITABLE_GET": HF_MAILBOX_WRITABLE_GET,
    "HF_MAILBOX_WAITER_GET": HF_MAILBOX_WAITER_GET,
    "HF_INTERRUPT_ENABLE": HF_INTERRUPT_ENABLE,
    "HF_INTERRUPT_GET": HF_INTERRUPT_GET,
    "HF_INTERRUPT_INJECT": HF_INTERRUPT_INJECT,
}

#: 0xff0e is HF_SHARE_MEMORY at this commit: outside this profile (no clause, not tested; a build
#: may implement it or answer -1). Named so that a trace of it reads, not in :data:`HYPERCALLS`.
HF_SHARE_MEMORY: Final = 0xFF0E

# Function IDs are matched on (uint32_t)x0 with bit 30 cleared (CALL-3: SMCCC_CONVENTION_MASK).
FUNCTION_ID_IGNORED_BIT: Final = 0x4000_0000

# --- PSCI (CALL-6), handled first and only for the primary; CALL-7 for smc ------------------
#: The PSCI 1.1 function IDs: PSCI_VERSION 0x84000000 ... MEM_PROTECT_CHECK_RANGE 0x84000014
#: (bit 30 ignored); any other ID, other 0x840000xx values included, is a hypercall ID.
PSCI_VERSION: Final = 0x8400_0000
PSCI_SYSTEM_OFF: Final = 0x8400_0008  # PSCI 1.1's number: the text names the call, not the value
PSCI_MEM_PROTECT_CHECK_RANGE: Final = 0x8400_0014
PSCI_FIRST: Final = PSCI_VERSION
PSCI_LAST: Final = PSCI_MEM_PROTECT_CHECK_RANGE
PSCI_VERSION_RESULT: Final = 0x10001  # PSCI 1.1
#: An smc from a secondary, or a non-PSCI smc from the primary (CALL-7): -1.
SMCCC_RETURN_UNKNOWN: Final = 0xFFFF_FFFF_FFFF_FFFF

# --- Constants (spec §2, types.h and call.h; notation) --------------------------------------
HF_PRIMARY_VM_ID: Final = 0
HF_INVALID_VM_ID: Final = 0xFFFF_FFFF
HF_NUM_INTIDS: Final = 64
HF_INVALID_INTID: Final = 0xFFFF_FFFF
HF_MAILBOX_READABLE_INTID: Final = 1
HF_MAILBOX_WRITABLE_INTID: Final = 2
HF_VIRTUAL_TIMER_INTID: Final = 3
HF_MAILBOX_SIZE: Final = 4096
PAGE_SIZE: Final = 4096  # CFG-1: both IPAs 4 KiB aligned
HF_SLEEP_INDEFINITE: Final = 0x00FF_FFFF_FFFF_FFFF  # "INDEF"
HF_ERROR: Final = 0xFFFF_FFFF_FFFF_FFFF  # "-1" in x0

#: CFG-5 / CLR-3: what configure or clear of a read mailbox returns to the primary when its mailbox
#: has waiters (0 otherwise); a secondary gets 0 and its run returns NOTIFY_WAITERS (RUN-9).
HF_WAITERS_TO_NOTIFY: Final = 1
#: WAIT-4: what HF_INTERRUPT_INJECT returns to the primary when the interrupt became the target's
#: first enabled+pending one (0 otherwise).
HF_INJECT_FIRST_PENDING: Final = 1

# --- HF_VCPU_RUN response codes (spec §4: bits 7..0) -----------------------------------------
HF_VCPU_RUN_PREEMPTED: Final = 0
HF_VCPU_RUN_YIELD: Final = 1
HF_VCPU_RUN_WAIT_FOR_INTERRUPT: Final = 2
HF_VCPU_RUN_WAIT_FOR_MESSAGE: Final = 3
HF_VCPU_RUN_WAKE_UP: Final = 4
HF_VCPU_RUN_MESSAGE: Final = 5
HF_VCPU_RUN_NOTIFY_WAITERS: Final = 6
HF_VCPU_RUN_ABORTED: Final = 7

RUN_CODES: Final[dict[str, int]] = {
    "PREEMPTED": HF_VCPU_RUN_PREEMPTED,
    "YIELD": HF_VCPU_RUN_YIELD,
    "WAIT_FOR_INTERRUPT": HF_VCPU_RUN_WAIT_FOR_INTERRUPT,
    "WAIT_FOR_MESSAGE": HF_VCPU_RUN_WAIT_FOR_MESSAGE,
    "WAKE_UP": HF_VCPU_RUN_WAKE_UP,
    "MESSAGE": HF_VCPU_RUN_MESSAGE,
    "NOTIFY_WAITERS": HF_VCPU_RUN_NOTIFY_WAITERS,
    "ABORTED": HF_VCPU_RUN_ABORTED,
}

#: RUN-1, RUN-2: a refused run, ``WAIT_FOR_INTERRUPT, ns=INDEF`` (also a wfi with no timer, RUN-5).
HF_VCPU_RUN_REFUSED: Final = 0xFFFF_FFFF_FFFF_FF02
#: RECV-1, RECV-3, RUN-13: a receive with nothing, ``{0xffffffff, 0}``.
HF_MAILBOX_RECEIVE_NOTHING: Final = 0x0000_0000_FFFF_FFFF
#: WAIT-4: HF_INTERRUPT_GET with no enabled+pending interrupt (a uint32_t, so not -1).
HF_INTERRUPT_GET_NONE: Final = 0x0000_0000_FFFF_FFFF

_U16: Final = 0xFFFF
_U32: Final = 0xFFFF_FFFF
_NS: Final = 0x00FF_FFFF_FFFF_FFFF  # ns occupies bits 63..8


def _field(name: str, value: int, mask: int) -> int:
    if not 0 <= value <= mask:
        raise ValueError(f"{name}={value:#x} does not fit its field (at most {mask:#x})")
    return value


def run_wait(code: int, ns: int = HF_SLEEP_INDEFINITE) -> int:
    """WAIT_FOR_INTERRUPT or WAIT_FOR_MESSAGE: ``code | ns << 8`` (RUN-1, RUN-2, RUN-5, RUN-7)."""
    if code not in (HF_VCPU_RUN_WAIT_FOR_INTERRUPT, HF_VCPU_RUN_WAIT_FOR_MESSAGE):
        raise ValueError(f"run code {code:#x} has no ns field")
    return code | _field("ns", ns, _NS) << 8


def run_wake_up(vm_id: int, vcpu: int) -> int:
    """WAKE_UP: ``4 | vcpu << 16 | vm_id << 32`` -- vcpu in bits 31..16, vm_id in 63..32 (RUN-10)."""
    return HF_VCPU_RUN_WAKE_UP | _field("vcpu", vcpu, _U16) << 16 | _field("vm_id", vm_id, _U32) << 32


def run_message(vm_id: int, size: int) -> int:
    """MESSAGE: ``5 | vm_id << 16 | size << 32`` -- vm_id (the recipient) in bits 31..16, size in
    63..32; size is 0 unless the recipient is the primary (RUN-8)."""
    return HF_VCPU_RUN_MESSAGE | _field("vm_id", vm_id, _U16) << 16 | _field("size", size, _U32) << 32


def run_response(code: int, *, vm_id: int = 0, vcpu: int = 0, size: int = 0, ns: int | None = None) -> int:
    """Any HF_VCPU_RUN return value, as §4 lays out ``code``'s fields (bits 7..0 = code).

    PREEMPTED, YIELD, NOTIFY_WAITERS and ABORTED are the bare code; a field the code does not
    carry must be left at its default. ``ns`` defaults to HF_SLEEP_INDEFINITE.
    """
    if code in (HF_VCPU_RUN_WAIT_FOR_INTERRUPT, HF_VCPU_RUN_WAIT_FOR_MESSAGE):
        unused = {"vm_id": vm_id, "vcpu": vcpu, "size": size}
        value = run_wait(code, HF_SLEEP_INDEFINITE if ns is None else ns)
    elif code == HF_VCPU_RUN_WAKE_UP:
        unused = {"size": size, "ns": ns or 0}
        value = run_wake_up(vm_id, vcpu)
    elif code == HF_VCPU_RUN_MESSAGE:
        unused = {"vcpu": vcpu, "ns": ns or 0}
        value = run_message(vm_id, size)
    elif code in RUN_CODES.values():
        unused = {"vm_id": vm_id, "vcpu": vcpu, "size": size, "ns": ns or 0}
        value = code
    else:
        raise ValueError(f"{code:#x} is not a run code of this profile (0..7)")
    extra = [name for name, v in unused.items() if v]
    if extra:
        raise ValueError(f"run code {code:#x} has no {', '.join(extra)} field")
    return value


def receive_response(sender: int, size: int) -> int:
    """An HF_MAILBOX_RECEIVE result (§7): ``vm_id (u32) | size << 32``; nothing is
    ``receive_response(HF_INVALID_VM_ID, 0)`` = 0x00000000FFFFFFFF."""
    return _field("sender", sender, _U32) | _field("size", size, _U32) << 32


_ASM_NAMES: Final[tuple[str, ...]] = (
    *HYPERCALLS,
    "PSCI_VERSION",
    "PSCI_SYSTEM_OFF",
    "HF_PRIMARY_VM_ID",
    "HF_INVALID_VM_ID",
    "HF_NUM_INTIDS",
    "HF_INVALID_INTID",
    "HF_MAILBOX_READABLE_INTID",
    "HF_MAILBOX_WRITABLE_INTID",
    "HF_VIRTUAL_TIMER_INTID",
    "HF_MAILBOX_SIZE",
    "PAGE_SIZE",
    "HF_SLEEP_INDEFINITE",
    *(f"HF_VCPU_RUN_{name}" for name in RUN_CODES),
)


def constants() -> dict[str, int]:
    """Every constant exported to assembly, by name."""
    return layout.exported(globals(), _ASM_NAMES)


def equ_source() -> str:
    """``.equ`` lines for these constants and the library layout's: the head of every guest program."""
    return layout.equ_source(constants())
