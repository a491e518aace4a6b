"""The protocol a hypervisor build implements to be judged by this suite.

It is deliberately small (see ``docs/alternate-builds.md``):

* a **build** object with a ``name`` and ``boot(config) -> Session``;
* a **session** — one booted system: the primary runs the project's primary driver
  (``guest_asm.programs.driver_source()``) and each secondary runs the assembly source given in
  the config, assembled by the build at the base address it gives that VM;
* ``session.call(...)`` makes the primary execute one real ``hvc``/``smc`` and returns x0..x30
  as the primary saw them after it, or says why the system stopped first;
* ``session.base / read / write`` give debugger-style access to guest memory (the suite reads
  the secondaries' report slots and the primary's recv page; it writes only data, never code).
* ``session.trace`` (optional) lists what the build did, as records (:class:`TraceRecord`) or
  plain dicts with their keys; the reports draw it as a message sequence.

Nothing here imports the bundled reference: any object with these attributes is a build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Optional features a build may declare in ``capabilities``; tests that need one are SKIPPED
#: (reported as "unsupported") on a build without it.
CAP_READY_VCPUS = "ready_vcpus"  # GuestVM.ready_vcpus > 1: several vCPUs of a VM ready at boot
CAP_FAULT_CONTINUE = "fault_continue"  # after a secondary's fault the primary's run returns and the system goes on
#: A secondary's ``wfe`` traps to the hypervisor (HCR_EL2.TWE): true of hardware and of the reference,
#: not of QEMU's TCG, which never traps ``wfe`` (a real image under QEMU cannot show a profile's wfe rule).
CAP_WFE_TRAPS = "wfe_traps"
#: The profile a build that declares no ``profiles`` implements (the only one before profiles existed).
DEFAULT_PROFILE = "hafnium-2018-10"


@dataclass(frozen=True)
class GuestVM:
    """A secondary VM: assembly source in this project's dialect, assembled at the VM's base."""

    source: str
    name: str = "guest"
    memory: int = 0x10_0000
    vcpus: int = 1
    ready_vcpus: int = 1  # > 1 needs CAP_READY_VCPUS


@dataclass(frozen=True)
class SystemConfig:
    """What to boot: the primary (always the driver) plus these secondaries, VM IDs 1..N in order."""

    secondaries: tuple[GuestVM, ...] = ()
    #: Instructions a secondary runs before it is preempted (RUN-4); a hint a build may ignore.
    time_slice: int = 10_000
    #: What a build does after a secondary's fault: "stop" the system, or "continue" (CAP_FAULT_CONTINUE).
    fault_policy: str = "stop"
    #: The ABI profile the guests speak (one of the build's ``profiles``).
    profile: str = DEFAULT_PROFILE


class Fault(Protocol):
    """A guest fault, as the suite reads it (never by parsing ``str()``): which VM and vCPU, where.

    ``kind`` is free text (e.g. "data abort (read from unmapped address)"); ``address`` the
    faulting address where there is one. ``str()`` is what the report shows.
    """

    @property
    def vm(self) -> int: ...

    @property
    def vcpu(self) -> int: ...

    @property
    def pc(self) -> int: ...

    @property
    def address(self) -> int | None: ...

    @property
    def kind(self) -> str: ...


def fault_vm(fault: object) -> int | None:
    """The VM a build's fault names (its ``vm`` attribute), or None if it names none."""
    vm = getattr(fault, "vm", None)
    return vm if isinstance(vm, int) and not isinstance(vm, bool) else None


class CallOutcome(Protocol):
    """What ``Session.call`` returns."""

    @property
    def regs(self) -> tuple[int, ...]:
        """x0..x30 after the instruction; empty when the system stopped before it returned."""
        ...

    @property
    def fault(self) -> Fault | None:
        """A guest fault that stopped the system: a :class:`Fault` (vm, vcpu, pc, address, kind)."""
        ...

    @property
    def timeout(self) -> object | None:
        """The build's budget ran out before the primary's instruction returned."""
        ...

    @property
    def system_off(self) -> bool: ...


@runtime_checkable
class Session(Protocol):
    """One booted system."""

    def call(
        self,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        *,
        regs: Mapping[int, int] | None = None,
        insn: str = "hvc #0",
    ) -> CallOutcome:
        """The primary executes ``insn`` (one of ``guest_asm.layout.DRIVER_OPS``) with x0..x3 and ``regs`` (x4..x30)."""
        ...

    def base(self, vm: int) -> int:
        """The first address of ``vm``'s memory."""
        ...

    def read(self, vm: int, addr: int, size: int) -> bytes: ...

    def write(self, vm: int, addr: int, data: bytes) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Build(Protocol):
    """A hypervisor build under test."""

    name: str
    capabilities: frozenset[str]

    def boot(self, config: SystemConfig) -> Session: ...


def build_randomised(build: object) -> float:
    """The share of each randomised test's example budget a build asks for: its optional
    ``randomised`` attribute (0 < share <= 1; default 1). Below 1 a failing example is reported as
    found, not shrunk: a slow build (a real image under QEMU) needs the verdict, not a minimal example."""
    share = getattr(build, "randomised", 1.0)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise BuildError(f"build {getattr(build, 'name', build)!r}: randomised must be a number in (0, 1], not {share!r}")
    return float(share)


def build_profiles(build: object) -> frozenset[str]:
    """The profiles a build implements: its ``profiles`` attribute, or the first profile when it has none."""
    declared = getattr(build, "profiles", None)
    if declared is None:
        return frozenset({DEFAULT_PROFILE})
    return frozenset(str(p) for p in declared)


class BuildError(Exception):
    """The build or its environment is broken (reported as ERROR, never as a conformance FAIL)."""


# --------------------------------------------------------------------------------------------
# The trace: what a build did, as records (optional: ``session.trace``)
# --------------------------------------------------------------------------------------------

#: Every :attr:`TraceRecord.kind`.
TRACE_KINDS: tuple[str, ...] = ("hvc", "smc", "switch", "preempt", "wfi", "fault", "stop", "note")
#: The longest ``call`` or ``detail`` text kept from a build (longer text is cut, ending " ...").
TRACE_TEXT_CAP = 1000
#: The most ``args`` a record may carry (x0..x30).
TRACE_ARGS_CAP = 31
_TRACE_FIELDS = ("seq", "kind", "vm", "vcpu", "call", "args", "result", "detail")
_INT_MIN, _INT_END = -(1 << 63), 1 << 64  # what a record's numbers may be: 64-bit values, signed or not
_MASK64 = (1 << 64) - 1

#: ``decode(value, what)``: how a value reads (a profile's ``Profile.decode``; "" for no reading).
Decoder = Callable[[int, str], str]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One event of a build's trace: plain, JSON-safe values (:meth:`to_json`, :meth:`from_json`).

    ``seq`` numbers a system's events from 0, in order (the suite's own notes have -1). ``kind`` is
    one of :data:`TRACE_KINDS`; (``vm``, ``vcpu``) is the vCPU the event happened on. By kind:

    * ``hvc`` / ``smc``: that vCPU executed the instruction. ``call`` names the function its x0
      selects (the profile's ``call_name(x0)``; "" shows x0 in hex), ``args`` the registers it
      passed, x0 first (x0..x3, or fewer), ``result`` the x0 it got back at once, or None when it
      was switched out (or the system stopped) before the call returned.
    * ``switch``: the CPU switches to another vCPU: (``vm``, ``vcpu``) is the vCPU that runs next,
      ``result`` the run response delivered to the primary (None when the primary switches to a
      secondary), ``detail`` the reason (``HF_VCPU_RUN``, ``hypercall``, ``preempted``, ...).
    * ``preempt``: the vCPU's time slice ran out; ``detail`` where (``at PC 0x...``).
    * ``wfi``: the vCPU executed ``wfi``; ``detail`` where.
    * ``fault``: the vCPU faulted; ``detail`` the fault as the build tells it.
    * ``stop``: the system stopped (PSCI_SYSTEM_OFF, a budget ran out, ...); ``detail`` why.
    * ``note``: text beside the events (a line of the build's log; what the suite shows in place
      of an entry it could not read, or of records it left out): only ``detail`` counts.

    A build that does not import this module emits plain dicts with these keys instead (see
    ``docs/alternate-builds.md``); :func:`trace_records` reads both.
    """

    seq: int
    kind: str
    vm: int
    vcpu: int
    call: str = ""
    args: tuple[int, ...] = ()
    result: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        """The record as a dict of JSON values (every key, in field order)."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "vm": self.vm,
            "vcpu": self.vcpu,
            "call": self.call,
            "args": list(self.args),
            "result": self.result,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: object) -> TraceRecord:
        """The record ``data`` (a mapping with the keys of :meth:`to_json`) describes.

        ``seq``, ``kind``, ``vm`` and ``vcpu`` are required, the others default; other keys are
        ignored. ``ValueError`` names the first thing wrong (a missing key, a wrong type, an
        unknown kind, a number beyond 64 bits); text longer than :data:`TRACE_TEXT_CAP` is cut.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a trace record is a mapping, not {_brief(data)}")
        if "kind" not in data:
            raise ValueError("missing key 'kind'")
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in TRACE_KINDS:
            raise ValueError(f"kind {_brief(kind)} is not one of {', '.join(TRACE_KINDS)}")
        args = data.get("args", ())
        if not isinstance(args, (list, tuple)):
            raise ValueError(f"args must be a list of ints, not {_brief(args)}")
        if len(args) > TRACE_ARGS_CAP:
            raise ValueError(f"args has {len(args)} values (at most {TRACE_ARGS_CAP})")
        result = data.get("result")
        return cls(
            seq=_field_int(data, "seq"),
            kind=kind,
            vm=_field_int(data, "vm"),
            vcpu=_field_int(data, "vcpu"),
            call=_field_text(data, "call"),
            args=tuple(_check_int(f"args[{n}]", a) for n, a in enumerate(args)),
            result=None if result is None else _check_int("result", result),
            detail=_field_text(data, "detail"),
        )

    @classmethod
    def note(cls, text: str, seq: int = -1) -> TraceRecord:
        """A ``note`` record: text beside the events (``seq`` -1: the suite's, not the build's)."""
        return cls(seq, "note", 0, 0, detail=_clip(text))

    def __str__(self) -> str:
        return render(self)


def _brief(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a build's object whose repr fails is still named
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _clip(text: str) -> str:
    return text if len(text) <= TRACE_TEXT_CAP else text[: TRACE_TEXT_CAP - 4] + " ..."


def _check_int(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be an int, not {_brief(value)}")
    if not _INT_MIN <= value < _INT_END:
        raise ValueError(f"{key} {_brief(value)} does not fit in 64 bits")
    return value


def _field_int(data: Mapping[object, object], key: str) -> int:
    if key not in data:
        raise ValueError(f"missing key {key!r}")
    return _check_int(key, data[key])


def _field_text(data: Mapping[object, object], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a str, not {_brief(value)}")
    return _clip(value)


def read_trace(entries: Iterable[object]) -> list[TraceRecord]:
    """Records for trace entries: :class:`TraceRecord` objects, objects with its attributes, or plain
    dicts with its keys (what a build emits, or a report stored). An entry that is none of these,
    or whose fields are wrong, becomes a ``note`` "unreadable trace entry #n: why" in its place."""
    return [_read_entry(n, entry) for n, entry in enumerate(entries)]


def _read_entry(n: int, entry: object) -> TraceRecord:
    if isinstance(entry, TraceRecord):
        return entry
    try:
        if isinstance(entry, Mapping):
            return TraceRecord.from_json(entry)
        if isinstance(entry, (str, bytes)) or not all(hasattr(entry, k) for k in ("seq", "kind", "vm", "vcpu")):
            why = f"{_brief(entry)} is neither a trace record nor a dict with its keys ({', '.join(_TRACE_FIELDS)})"
            return TraceRecord.note(f"unreadable trace entry #{n}: {why}", n)
        return TraceRecord.from_json({k: getattr(entry, k) for k in _TRACE_FIELDS if hasattr(entry, k)})
    except ValueError as e:
        return TraceRecord.note(f"unreadable trace entry #{n}: {e}", n)
    except Exception as e:  # noqa: BLE001 - a build's hostile object is reported, never raised
        return TraceRecord.note(f"unreadable trace entry #{n}: {type(e).__name__}: {_clip(str(e))}", n)


def trace_records(session: object) -> list[TraceRecord]:
    """The session's trace as records (``session.trace``, optional: [] without one); see :func:`read_trace`."""
    trace = getattr(session, "trace", None)
    if trace is None:
        return []
    if isinstance(trace, (str, bytes, Mapping)) or not isinstance(trace, Iterable):
        return [TraceRecord.note(f"unreadable trace: session.trace is {_brief(trace)}, not a list of records", 0)]
    return read_trace(trace)


def _no_reading(value: int, what: str) -> str:
    return ""


def trace_value(value: int, what: str, decode: Decoder | None = None, *, wide: bool = False) -> str:
    """``0x3 (MESSAGE, size 0)``: ``value`` in hex (``wide``: all 16 digits) and its reading, if any."""
    reading = (decode or _no_reading)(value, what) if 0 <= value <= _MASK64 else ""
    text = f"{value:#018x}" if wide and value >= 0 else f"{value:#x}"
    return f"{text} ({reading})" if reading else text


def trace_call(record: TraceRecord, decode: Decoder | None = None, *, short: bool = False) -> str:
    """``hvc HF_MAILBOX_SEND(0x1, 0x16, 0x0) -> 0x0`` for an ``hvc``/``smc`` record (``short``: no ``HF_``)."""
    name = record.call or (f"{record.args[0]:#x}" if record.args else "?")
    if short:
        name = name.removeprefix("HF_")
    args = ", ".join(f"{a:#x}" for a in record.args[1:])
    done = "(switched out)" if record.result is None else "-> " + trace_value(record.result, record.call, decode)
    return f"{record.kind} {name}({args}) {done}"


def render(record: TraceRecord, decode: Decoder | None = None) -> str:
    """One line of text for ``record``; ``decode`` (the profile's) reads the results:
    ``#3 VM 1 vCPU 0: hvc HF_MAILBOX_SEND(0x0, 0x5, 0x0) -> 0x0``,
    ``#4 switch -> VM 0 vCPU 0: 0x0000000500000003 (MESSAGE, size 5) (hypercall)``.
    """
    who = f"VM {record.vm} vCPU {record.vcpu}"
    if record.kind in ("hvc", "smc"):
        return f"#{record.seq} {who}: {trace_call(record, decode)}"
    if record.kind == "switch":
        line = f"#{record.seq} switch -> {who}"
        if record.result is not None:
            line += ": " + trace_value(record.result, "run response", decode, wide=True)
        return line + (f" ({record.detail})" if record.detail else "")
    if record.kind == "note":
        return record.detail if record.seq < 0 else f"#{record.seq} {record.detail}"
    return f"#{record.seq} {who}: {record.kind} {record.detail}".rstrip()
