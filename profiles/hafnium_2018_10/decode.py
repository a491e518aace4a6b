"""Reading a hypercall's raw x0 the way ``spec.md`` writes it (``Profile.decode``, ``Profile.call_name``).

A failure report shows ``0x0000000000000001`` vs ``0x0000000000000003``; a reader wants
"WAIT_FOR_INTERRUPT" vs "MESSAGE, size 0". :func:`describe` gives that reading from the value and
what was checked (the check's ``what`` text names the call: a run, a receive, a send, ...).
Numbers are the spec's literals (§2, §4, §7), written out here on purpose.
"""

from __future__ import annotations

import re

ERR = 0xFFFF_FFFF_FFFF_FFFF
INVALID = 0xFFFF  # HF_INVALID_VM_ID / HF_INVALID_VCPU
RUN_CODES = {0x0: "YIELD", 0x1: "WAIT_FOR_INTERRUPT", 0x2: "WAKE_UP", 0x3: "MESSAGE"}  # §4
CALL_NAMES = {
    0xFF00: "HF_VCPU_RUN",
    0xFF01: "HF_VM_GET_COUNT",
    0xFF02: "HF_VCPU_GET_COUNT",
    0xFF03: "HF_VM_CONFIGURE",
    0xFF04: "HF_MAILBOX_SEND",
    0xFF05: "HF_MAILBOX_RECEIVE",
    0xFF06: "HF_MAILBOX_CLEAR",
    0x84000000: "PSCI_VERSION",
    0x84000006: "PSCI_MIGRATE_INFO_TYPE",
    0x84000008: "PSCI_SYSTEM_OFF",
}

_RUN = re.compile(r"\b[Rr]un(_once)?\b|HF_VCPU_RUN|\brun\(|run response|\bWAKE_UP\b|\bMESSAGE\b|\bYIELD\b")
_RECEIVE = re.compile(r"receive|RECV-", re.I)


def run_response(value: int) -> str:
    """§4: ``code | vm << 16 | data << 32``, bits 15..8 zero."""
    code, vm, data = value & 0xFF, value >> 16 & 0xFFFF, value >> 32
    name = RUN_CODES.get(code)
    if name is None or value & 0xFF00:
        return f"not a run response (code {code:#x}, bits 15..8 {value >> 8 & 0xFF:#x})"
    if code == 0x3:
        return f"MESSAGE, size {data}" + (f", vm field {vm} (must be 0)" if vm else "")
    if code == 0x2:
        woken = "none waiting" if data == INVALID else f"vCPU {data}"
        return f"WAKE_UP VM {vm}, {woken}"
    extra = [f"vm field {vm}" for _ in (0,) if vm] + [f"data {data:#x}" for _ in (0,) if data]
    return name + (f" ({', '.join(extra)})" if extra else "")


def receive_result(value: int) -> str:
    """§7: ``(sender & 0xffff) | size << 32``, bits 31..16 zero."""
    sender, size = value & 0xFFFF, value >> 32
    odd = f", bits 31..16 {value >> 16 & 0xFFFF:#x}" if value >> 16 & 0xFFFF else ""
    return f"message from VM {sender}, size {size}{odd}"


def describe(value: object, what: str = "") -> str:
    """A reading of ``value`` for a report, or "" when a raw number says it all."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    if value == ERR:
        return "-1"
    if value < 0 or value > ERR or re.search(r"number of|count", what, re.I):
        return ""  # a count, not a call's result
    if _RUN.search(what):
        return run_response(value)
    if _RECEIVE.search(what):
        return receive_result(value)
    if value == INVALID and re.search(r"send", what, re.I):
        return "0xffff: no vCPU was waiting"
    return ""


def call_name(x0: int) -> str:
    """The function a raw x0 names (CALL-3: u32 with bit 30 cleared), or its hex."""
    func = (x0 & 0xFFFF_FFFF) & ~(1 << 30)
    name = CALL_NAMES.get(func)
    if name is None:
        return f"{x0:#x}"
    return name if func == x0 else f"{name} (x0={x0:#x})"


def message(call: str, args: tuple[int, ...], result: int | None) -> tuple[int, int | None] | None:
    """A traced HF_MAILBOX_SEND that did not fail (§6): (destination, size) for a sequence chart."""
    if call.split(" ")[0] != "HF_MAILBOX_SEND" or len(args) < 2 or result == ERR:
        return None
    return args[1] & 0xFFFF_FFFF, args[2] if len(args) > 2 else None
