"""The hypervisor's trace: every hypercall, world switch and fault, in order.

The hot path appends plain tuples (:data:`RawEvent`); :class:`~conformance.protocol.TraceRecord`
objects (the build protocol's trace format) are made only when read. Two runs of the same programs
give the same trace (no times, no addresses of host objects). How a record reads in a report is the
profile's business (``conformance.protocol.render`` with ``Profile.decode``), not the reference's.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.protocol import TraceRecord

__all__ = ["RawEvent", "TraceRecord", "events"]

#: ``(kind, vm, vcpu, args, result, detail)``, as :class:`TraceRecord` reads them.
RawEvent = tuple[str, int, int, tuple[int, ...], int | None, str]


def events(raw: list[RawEvent], call_name: Callable[[int], str], start: int = 0) -> list[TraceRecord]:
    """Records for ``raw[start:]``, numbered from ``start``; ``call_name(x0)`` names a call."""
    out = []
    for i in range(start, len(raw)):
        kind, vm, vcpu, args, result, detail = raw[i]
        call = call_name(args[0]) if kind in ("hvc", "smc") and args else ""
        out.append(TraceRecord(i, kind, vm, vcpu, call, args, result, detail))
    return out
