"""The hypervisor's trace: every hypercall, world switch and fault, in order.

The hot path appends plain tuples; :class:`TraceEvent` objects are made only when read.
Two runs of the same programs give the same trace (no times, no addresses of host objects).
"""

from __future__ import annotations

from dataclasses import dataclass

from guest_asm import abi

CALL_NAMES: dict[int, str] = {v: k for k, v in abi.HYPERCALLS.items()}
CALL_NAMES.update(
    {
        abi.PSCI_VERSION: "PSCI_VERSION",
        abi.PSCI_MIGRATE_INFO_TYPE: "PSCI_MIGRATE_INFO_TYPE",
        abi.PSCI_SYSTEM_OFF: "PSCI_SYSTEM_OFF",
    }
)

RUN_CODES = {0: "YIELD", 1: "WAIT_FOR_INTERRUPT", 2: "WAKE_UP", 3: "MESSAGE"}


def call_name(x0: int) -> str:
    """The name of the function ``x0`` selects (CALL-3 masking applied), or its number."""
    func = (x0 & 0xFFFF_FFFF) & ~abi.FUNCTION_ID_IGNORED_BIT
    return CALL_NAMES.get(func, f"unknown({x0:#x})")


def describe_run_response(value: int) -> str:
    """``MESSAGE size=22`` style text for an HF_VCPU_RUN return value."""
    if value == abi.HF_ERROR:
        return "-1"
    code, vm, data = value & 0xFF, (value >> 16) & 0xFFFF, value >> 32
    name = RUN_CODES.get(code, f"code {code:#x}")
    if code == abi.HF_VCPU_RUN_MESSAGE:
        return f"{name} size={data}"
    if code == abi.HF_VCPU_RUN_WAKE_UP:
        return f"{name} vm={vm} vcpu={data:#x}"
    return name


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One event. ``kind`` is ``hvc``, ``smc``, ``switch``, ``preempt``, ``wfi``, ``fault`` or ``stop``.

    For ``hvc``/``smc``: ``args`` = (x0, x1, x2, x3) and ``result`` = x0 returned at once, or
    None when the caller was switched out. For ``switch``: (``vm``, ``vcpu``) is the vCPU that
    runs next, ``result`` the run response delivered to the primary (None when the primary
    switches to a secondary), ``detail`` the reason.
    """

    seq: int
    kind: str
    vm: int
    vcpu: int
    args: tuple[int, ...] = ()
    result: int | None = None
    detail: str = ""

    @property
    def name(self) -> str:
        return call_name(self.args[0]) if self.kind in ("hvc", "smc") and self.args else ""

    def __str__(self) -> str:
        who = f"VM {self.vm} vCPU {self.vcpu}"
        if self.kind in ("hvc", "smc"):
            args = ", ".join(f"{a:#x}" for a in self.args[1:])
            res = "(switched out)" if self.result is None else f"-> {self.result:#x}"
            return f"#{self.seq} {who}: {self.kind} {self.name}({args}) {res}"
        if self.kind == "switch":
            if self.result is None:
                return f"#{self.seq} switch -> {who} ({self.detail})"
            return f"#{self.seq} switch -> {who}: {describe_run_response(self.result)} ({self.detail})"
        return f"#{self.seq} {who}: {self.kind} {self.detail}".rstrip()


RawEvent = tuple[str, int, int, tuple[int, ...], int | None, str]


def events(raw: list[RawEvent], start: int = 0) -> list[TraceEvent]:
    """TraceEvents for ``raw[start:]``, numbered from ``start``."""
    return [TraceEvent(start + i, *raw[start + i]) for i in range(len(raw) - start)]
