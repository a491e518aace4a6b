"""The trace format of the build protocol: records, their JSON, reading what builds emit, rendering."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import profiles
from conformance.protocol import (
    TRACE_KINDS,
    TRACE_TEXT_CAP,
    GuestVM,
    SystemConfig,
    TraceRecord,
    read_trace,
    render,
    trace_records,
)
from profiles.hafnium_2018_10.programs import source
from reference_hv.trace import events

DECODE = profiles.get(profiles.DEFAULT).decode
MASK64 = 0xFFFF_FFFF_FFFF_FFFF
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "minimal_hv"

RECORDS = [
    TraceRecord(0, "hvc", 0, 0, "HF_VCPU_RUN", (0xFF00, 1, 0, 0)),
    TraceRecord(1, "switch", 1, 0, detail="HF_VCPU_RUN"),
    TraceRecord(2, "hvc", 1, 0, "HF_MAILBOX_SEND", (0xFF04, 0, 5, 0), 0),
    TraceRecord(3, "switch", 0, 0, result=0x5_0000_0003, detail="hypercall"),
    TraceRecord(4, "smc", 1, 0, "PSCI_VERSION", (0x8400_0000,), MASK64),
    TraceRecord(5, "preempt", 2, 1, detail="at PC 0x40200010"),
    TraceRecord(6, "wfi", 2, 0, detail="at PC 0x40200020"),
    TraceRecord(7, "fault", 2, 0, detail="data abort at 0x0 (VM 2 vCPU 0, pc 0x40200024)"),
    TraceRecord(8, "stop", 0, 0, detail="PSCI_SYSTEM_OFF"),
    TraceRecord(9, "note", 0, 0, detail="serial| NOTICE: Initialising hafnium"),
    TraceRecord.note("-- system 2 of 2 --"),
]


def test_trace_record_json_round_trip() -> None:
    assert {r.kind for r in RECORDS} == set(TRACE_KINDS)
    for r in RECORDS:
        data = r.to_json()
        assert list(data) == ["seq", "kind", "vm", "vcpu", "call", "args", "result", "detail"]
        assert TraceRecord.from_json(json.loads(json.dumps(data))) == r
    assert TraceRecord.from_json({"seq": 0, "kind": "wfi", "vm": 1, "vcpu": 0, "extra": object()}) == TraceRecord(0, "wfi", 1, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("#0 VM 0 vCPU 0: wfi", "a trace record is a mapping, not '#0 VM 0 vCPU 0: wfi'"),
        ({"seq": 0, "vm": 0, "vcpu": 0}, "missing key 'kind'"),
        ({"seq": 0, "kind": "irq", "vm": 0, "vcpu": 0}, "kind 'irq' is not one of hvc, smc, switch, preempt, wfi"),
        ({"kind": "wfi", "vm": 0, "vcpu": 0}, "missing key 'seq'"),
        ({"seq": "0", "kind": "wfi", "vm": 0, "vcpu": 0}, "seq must be an int, not '0'"),
        ({"seq": 0, "kind": "wfi", "vm": True, "vcpu": 0}, "vm must be an int, not True"),
        ({"seq": 0, "kind": "wfi", "vm": 0, "vcpu": 0.0}, "vcpu must be an int, not 0.0"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "args": "0xff00"}, "args must be a list of ints"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "args": [0xFF00, None]}, "args[1] must be an int, not None"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "args": [0] * 32}, "args has 32 values (at most 31)"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "result": 1 << 64}, "result 18446744073709551616 does not fit"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "result": 10**5000}, "result <int> does not fit in 64 bits"),
        ({"seq": 0, "kind": "hvc", "vm": 0, "vcpu": 0, "call": 0xFF00}, "call must be a str, not 65280"),
        ({"seq": 0, "kind": "stop", "vm": 0, "vcpu": 0, "detail": ["off"]}, "detail must be a str, not ['off']"),
    ],
)
def test_trace_record_from_json_rejects_garbage(data: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        TraceRecord.from_json(data)
    assert str(info.value).startswith(message)
    assert len(str(info.value)) < 200


def test_trace_record_long_text_is_cut() -> None:
    r = TraceRecord.from_json({"seq": 0, "kind": "note", "vm": 0, "vcpu": 0, "detail": "x" * 100_000})
    assert len(r.detail) == TRACE_TEXT_CAP and r.detail.endswith(" ...")


class _Hostile:
    seq, kind, vm = 0, "wfi", 0

    @property
    def vcpu(self) -> int:
        raise RuntimeError("no vCPU today")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_trace_records_reads_records_dicts_objects_and_garbage() -> None:
    entries: list[object] = [
        RECORDS[0],
        {"seq": 1, "kind": "switch", "vm": 1, "vcpu": 0, "detail": "HF_VCPU_RUN"},  # a build that imports nothing of ours
        SimpleNamespace(seq=2, kind="hvc", vm=1, vcpu=0, call="HF_MAILBOX_SEND", args=(0xFF04, 0, 5, 0), result=0),
        "#3 switch -> VM 0 vCPU 0: 0x3 (hypercall)",  # text lines are not records
        42,
        {"seq": 5, "kind": "irq", "vm": 0, "vcpu": 0},
        _Hostile(),
        object(),
    ]
    got = trace_records(SimpleNamespace(trace=entries))
    assert got[:3] == RECORDS[:3]
    assert [r.kind for r in got[3:]] == ["note"] * 5
    assert [r.seq for r in got] == list(range(8))  # a placeholder keeps its entry's place
    details = [r.detail for r in got[3:]]
    assert details[0] == (
        "unreadable trace entry #3: '#3 switch -> VM 0 vCPU 0: 0x3 (hypercall)' is neither a trace record "
        "nor a dict with its keys (seq, kind, vm, vcpu, call, args, result, detail)"
    )
    assert details[1].startswith("unreadable trace entry #4: 42 is neither")
    assert details[2].startswith("unreadable trace entry #5: kind 'irq' is not one of")
    assert details[3] == "unreadable trace entry #6: RuntimeError: no vCPU today"
    assert details[4].startswith("unreadable trace entry #7: <object object at")
    assert read_trace(entries) == got


@pytest.mark.parametrize("trace", ["#0 VM 0 vCPU 0: wfi\n#1 ...", b"bytes", {"seq": 0}, 7])
def test_trace_records_of_a_trace_that_is_no_list(trace: object) -> None:
    (note,) = trace_records(SimpleNamespace(trace=trace))
    assert note.kind == "note" and note.detail.startswith("unreadable trace: session.trace is ")


def test_trace_records_without_a_trace() -> None:
    assert trace_records(object()) == [] and trace_records(SimpleNamespace(trace=None)) == []
    assert trace_records(SimpleNamespace(trace=iter(RECORDS))) == RECORDS  # any iterable


def test_trace_render() -> None:
    send = TraceRecord(3, "hvc", 1, 0, "HF_MAILBOX_SEND", (0xFF04, 0, 5, 0), 0)
    assert render(send, DECODE) == "#3 VM 1 vCPU 0: hvc HF_MAILBOX_SEND(0x0, 0x5, 0x0) -> 0x0"
    back = TraceRecord(4, "switch", 0, 0, result=0x5_0000_0003, detail="hypercall")
    assert render(back, DECODE) == "#4 switch -> VM 0 vCPU 0: 0x0000000500000003 (MESSAGE, size 5) (hypercall)"
    assert render(back) == str(back) == "#4 switch -> VM 0 vCPU 0: 0x0000000500000003 (hypercall)"  # no profile: no reading
    lines = [render(r, DECODE) for r in RECORDS]
    assert lines[0] == "#0 VM 0 vCPU 0: hvc HF_VCPU_RUN(0x1, 0x0, 0x0) (switched out)"
    assert lines[1] == "#1 switch -> VM 1 vCPU 0 (HF_VCPU_RUN)"
    assert lines[4] == "#4 VM 1 vCPU 0: smc PSCI_VERSION() -> 0xffffffffffffffff (-1)"
    assert lines[5:] == [
        "#5 VM 2 vCPU 1: preempt at PC 0x40200010",
        "#6 VM 2 vCPU 0: wfi at PC 0x40200020",
        "#7 VM 2 vCPU 0: fault data abort at 0x0 (VM 2 vCPU 0, pc 0x40200024)",
        "#8 VM 0 vCPU 0: stop PSCI_SYSTEM_OFF",
        "#9 serial| NOTICE: Initialising hafnium",
        "-- system 2 of 2 --",
    ]
    unnamed = TraceRecord(0, "hvc", 0, 0, "", (0x4000FF07, 1), None)
    assert render(unnamed, DECODE) == "#0 VM 0 vCPU 0: hvc 0x4000ff07(0x1) (switched out)"
    odd = TraceRecord(0, "hvc", 0, 0, "HF_VCPU_RUN", (), -1)  # no args, a negative result: shown, not read
    assert render(odd, DECODE) == "#0 VM 0 vCPU 0: hvc HF_VCPU_RUN() -> -0x1"


def test_reference_events_are_records() -> None:
    raw = [
        ("hvc", 0, 0, (0x4000FF01, 0, 0, 0), 3, ""),
        ("switch", 1, 0, (), None, "HF_VCPU_RUN"),
        ("smc", 1, 0, (0x8400_0000,), MASK64, ""),
        ("wfi", 1, 0, (), None, "at PC 0x40100008"),
    ]
    call_name = profiles.get(profiles.DEFAULT).call_name
    got = events(raw, call_name, 1)
    assert [r.seq for r in got] == [1, 2, 3]
    assert got[0] == TraceRecord(1, "switch", 1, 0, detail="HF_VCPU_RUN")
    assert got[1] == TraceRecord(2, "smc", 1, 0, "PSCI_VERSION", (0x8400_0000,), MASK64)
    assert events(raw, call_name)[0].call == "HF_VM_GET_COUNT (x0=0x4000ff01)"


def test_trace_of_a_dict_emitting_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example out-of-tree build emits plain dicts and imports nothing of the trace format."""
    pytest.importorskip("unicorn")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in [m for m in sys.modules if m == "minimal_hv" or m.startswith("minimal_hv.")]:
        monkeypatch.delitem(sys.modules, name)
    build = importlib.import_module("minimal_hv").MinimalBuild()
    session = build.boot(SystemConfig((GuestVM(source("idle"), "idle.S"),)))
    try:
        assert session.call(0xFF01).regs[0] == 2
        session.call(0xFF00, 1, 0)
        assert all(type(entry) is dict for entry in session.trace)
        got = trace_records(session)
    finally:
        session.close()
    assert [r.kind for r in got][:2] == ["hvc", "switch"] and "note" not in {r.kind for r in got}
    assert got[0] == TraceRecord(0, "hvc", 0, 0, "HF_VM_GET_COUNT", (0xFF01, 0, 0, 0), 2)
    assert got[1] == TraceRecord(1, "switch", 1, 0, detail="HF_VCPU_RUN")
