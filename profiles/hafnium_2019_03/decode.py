"""Reading a hypercall's raw x0 the way ``spec.md`` writes it (``Profile.decode``, ``Profile.call_name``).

A failure report shows ``0xffffffffffffff02`` vs ``0x0000000000020005``; a reader wants
"WAIT_FOR_INTERRUPT, ns=INDEF" vs "MESSAGE to VM 2, size 0". :func:`describe` gives that reading
from the value and what was checked (the check's ``what`` text, or the call's name in a call log:
a run, a receive, an interrupt get, ...). Numbers are the text's literals (§2, §4, §7, §9), written
out here on purpose, not taken from ``abi.py``.
"""

from __future__ import annotations

import re

ERR = 0xFFFF_FFFF_FFFF_FFFF  # -1
INDEF = 0x00FF_FFFF_FFFF_FFFF  # HF_SLEEP_INDEFINITE
NOTHING = 0x0000_0000_FFFF_FFFF  # receive "nothing" {0xffffffff, 0}; INTERRUPT_GET "none"
RUN_CODES = {  # §4
    0: "PREEMPTED",
    1: "YIELD",
    2: "WAIT_FOR_INTERRUPT",
    3: "WAIT_FOR_MESSAGE",
    4: "WAKE_UP",
    5: "MESSAGE",
    6: "NOTIFY_WAITERS",
    7: "ABORTED",
}
CALL_NAMES = {  # §2
    0xFF00: "HF_VM_GET_ID",
    0xFF01: "HF_VM_GET_COUNT",
    0xFF02: "HF_VCPU_GET_COUNT",
    0xFF03: "HF_VCPU_RUN",
    0xFF04: "HF_VCPU_YIELD",
    0xFF05: "HF_VM_CONFIGURE",
    0xFF06: "HF_MAILBOX_SEND",
    0xFF07: "HF_MAILBOX_RECEIVE",
    0xFF08: "HF_MAILBOX_CLEAR",
    0xFF09: "HF_MAILBOX_WRITABLE_GET",
    0xFF0A: "HF_MAILBOX_WAITER_GET",
    0xFF0B: "HF_INTERRUPT_ENABLE",
    0xFF0C: "HF_INTERRUPT_GET",
    0xFF0D: "HF_INTERRUPT_INJECT",
    0xFF0E: "HF_SHARE_MEMORY",  # outside this profile (§2), named for traces
    0x84000000: "PSCI_VERSION",
    0x84000008: "PSCI_SYSTEM_OFF",  # PSCI 1.1's number (CALL-6 names the call)
}
PSCI_RANGE = range(0x84000000, 0x84000014 + 1)  # CALL-6: PSCI_VERSION ... MEM_PROTECT_CHECK_RANGE

_RUN = re.compile(
    r"\b[Rr]un(_once)?\b|HF_VCPU_RUN\b|\brun\(|run response"
    r"|\b(PREEMPTED|YIELD|WAIT_FOR_INTERRUPT|WAIT_FOR_MESSAGE|WAKE_UP|MESSAGE|NOTIFY_WAITERS|ABORTED)\b"
)
_RECEIVE = re.compile(r"receive|RECV-", re.I)
_INTERRUPT_GET = re.compile(r"interrupt_get|interrupt get", re.I)
_WAITERS = re.compile(r"waiter_get|writable_get|waiter get|writable get|WAIT-[12]\b", re.I)
_NOTIFY = re.compile(r"configure|clear|CFG-5|CLR-3", re.I)
_INJECT = re.compile(r"inject", re.I)


def _ns(ns: int) -> str:
    return "ns=INDEF" if ns == INDEF else f"ns={ns}"


def run_response(value: int) -> str:
    """§4: bits 7..0 = code; WAKE_UP vcpu 31..16, vm_id 63..32; MESSAGE vm_id 31..16, size 63..32;
    WAIT_FOR_INTERRUPT / WAIT_FOR_MESSAGE ``ns << 8``; the other codes carry nothing."""
    code = value & 0xFF
    name = RUN_CODES.get(code)
    if name is None:
        return f"not a run response (code {code:#x})"
    if code in (2, 3):
        return f"{name}, {_ns(value >> 8)}"
    if code in (4, 5):
        odd = f", bits 15..8 {value >> 8 & 0xFF:#x} (must be 0)" if value & 0xFF00 else ""
        if code == 4:
            return f"WAKE_UP VM {value >> 32}, vCPU {value >> 16 & 0xFFFF}{odd}"
        size = value >> 32
        return f"MESSAGE to VM {value >> 16 & 0xFFFF}, size {size}{odd}"
    rest = value >> 8
    return name + (f" (bits 63..8 {rest:#x}, must be 0)" if rest else "")


def receive_result(value: int) -> str:
    """§7: ``vm_id (u32) | size << 32``; nothing = 0x00000000FFFFFFFF."""
    if value == NOTHING:
        return "nothing to receive (0xffffffff, size 0)"
    return f"message from VM {value & 0xFFFF_FFFF}, size {value >> 32}"


def describe(value: object, what: str = "") -> str:
    """A reading of ``value`` for a report, or "" when a raw number says it all."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    if value == ERR:
        return "-1"
    if value < 0 or value > ERR or re.search(r"number of|count|HF_VM_GET_ID", what, re.I):
        return ""  # a count or an ID, not an encoded result
    if _RUN.search(what):
        return run_response(value)
    if _RECEIVE.search(what):
        return receive_result(value)
    if _INTERRUPT_GET.search(what):
        return "no enabled+pending interrupt" if value == NOTHING else f"interrupt {value}"
    if _WAITERS.search(what):
        return f"VM {value}"
    if value == 1 and _NOTIFY.search(what):
        return "1: waiters to notify"
    if value == 1 and _INJECT.search(what):
        return "1: the target's first enabled+pending interrupt"
    if value == 0x10001 and "PSCI_VERSION" in what:
        return "PSCI 1.1"
    return ""


def call_name(x0: int) -> str:
    """The function a raw x0 names (CALL-3: u32 with bit 30 cleared), or its hex."""
    func = (x0 & 0xFFFF_FFFF) & ~(1 << 30)
    name = CALL_NAMES.get(func)
    if name is None and func in PSCI_RANGE:
        name = f"PSCI {func:#x}"
    if name is None:
        return f"{x0:#x}"
    return name if func == x0 else f"{name} (x0={x0:#x})"


def message(call: str, args: tuple[int, ...], result: int | None) -> tuple[int, int | None] | None:
    """A traced HF_MAILBOX_SEND that did not fail (§6): (destination, size) for a sequence chart."""
    if call.split(" ")[0] != "HF_MAILBOX_SEND" or len(args) < 2 or result == ERR:
        return None
    return args[1] & 0xFFFF_FFFF, args[2] if len(args) > 2 else None
