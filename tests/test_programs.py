"""guest_asm.programs: the library, the script and driver layouts, and runs on bare Unicorn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM
from unicorn import arm64_const as A
from unicorn.unicorn import Uc

from guest_asm import layout
from guest_asm.assembler import Image
from profiles.hafnium_2018_10 import abi
from profiles.hafnium_2018_10 import programs as P

PARAMS: dict[str, dict[str, int]] = {"relay": {"NEXT_HOP": 2}, "sender": {"TO": 0, "SIZE": 22}}
EXPECTED = {
    "echo",
    "relay",
    "receiver",
    "poller",
    "sender",
    "configure_spin",
    "configure_twice",
    "wfi",
    "wfe",
    "spinner",
    "fault_load",
    "fault_store",
    "fault_fetch",
    "fault_undef",
    "fault_brk",
    "fault_svc",
    "idle",
    "script",
    "driver",
}
MASK = (1 << 64) - 1
X = [getattr(A, f"UC_ARM64_REG_X{i}") for i in range(29)] + [A.UC_ARM64_REG_X29, A.UC_ARM64_REG_X30]


def test_names() -> None:
    assert set(P.names()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_program_assembles_position_independent(name: str) -> None:
    a = P.build(name, 0x100000, **PARAMS.get(name, {}))
    b = P.build(name, 0x7FFF_0000_0000, **PARAMS.get(name, {}))
    assert a.name == f"{name}.S"
    assert a.entry == a.base and b.entry == b.base
    assert 0 < len(a.code) < layout.LIB_SEND_PAGE
    assert a.code == b.code  # position independent: no absolute address anywhere
    assert {k: v - a.base for k, v in a.symbols.items()} == {k: v - b.base for k, v in b.symbols.items()}


def test_params() -> None:
    assert [(p.name, p.default) for p in P.params("sender")] == [
        ("TO", None),
        ("SIZE", None),
        ("FILL", 0x41),
        ("COUNT", 1),
    ]
    src = P.source("sender", TO=3, SIZE=5)
    # Self-contained: the profile's header (ABI + layout constants), then the parameters, then the preludes.
    assert src.startswith(P.LIBRARY.header + ".equ TO, 0x3\n.equ SIZE, 0x5\n.equ FILL, 0x41\n.equ COUNT, 0x1\n")
    assert ".equ HF_MAILBOX_SEND, 0xff04\n" in P.LIBRARY.header and ".equ LIB_REPORT, 0x14000\n" in P.LIBRARY.header
    assert ".macro CONFIGURE" in src and src.index(".macro REPORT") < src.index(".macro CONFIGURE")  # shared prelude first
    with pytest.raises(ValueError, match="missing required parameter SIZE"):
        P.source("sender", TO=1)
    with pytest.raises(ValueError, match=r"unknown parameter.*BOGUS.*known: COUNT, FILL, SIZE, TO"):
        P.source("sender", TO=1, SIZE=1, BOGUS=2)
    with pytest.raises(ValueError, match="known: \\(none\\)"):
        P.source("echo", NEXT_HOP=1)
    with pytest.raises(ValueError, match="NEXT_HOP"):
        P.build("relay", 0x10000)
    with pytest.raises(ValueError, match="unknown program"):
        P.source("nope")
    with pytest.raises(ValueError, match="64 KiB"):
        P.build("echo", 0x1000)
    assert P.params("fault_load")[0].default == 0


# --- a tiny bare-Unicorn harness: EL1 guest, hvc -> intno 11 (PC after), brk -> intno 7 ------------


@dataclass
class Run:
    uc: Uc
    image: Image
    calls: list[list[int]] = field(default_factory=list)  # x0..x30 at each hvc
    stop: tuple[int, int] | None = None  # (intno, pc) that stopped the run

    def regs(self) -> list[int]:
        return [self.uc.reg_read(r) for r in X]

    def mem(self, addr: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(addr, size))

    def reports(self) -> list[tuple[int, ...]]:
        return P.read_reports(self.mem(self.image.base + layout.LIB_REPORT, 0x20000 - layout.LIB_REPORT))


def run(
    image: Image,
    hypercall: Callable[[Run, list[int]], int | None],
    *,
    brk: Callable[[Run, int], bool] | None = None,
    count: int = 200_000,
    setup: Callable[[Run], None] | None = None,
) -> Run:
    """Run ``image`` at EL1; ``hypercall`` returns x0 (None: stop). x1..x17 are zeroed (CALL-5)."""
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(image.base, 0x20000)
    uc.mem_write(image.base, image.code)
    uc.reg_write(A.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 0, 0x501))  # SCR_EL3: NS, HCE, RW
    r = Run(uc, image)
    if setup:
        setup(r)

    def hook(uc: Uc, intno: int, _data: object) -> None:
        pc = uc.reg_read(A.UC_ARM64_REG_PC)
        if intno == 11:
            regs = r.regs()
            r.calls.append(regs)
            result = hypercall(r, regs)
            if result is None:
                r.stop = (intno, pc)
                uc.emu_stop()
                return
            uc.reg_write(X[0], result & MASK)
            for reg in X[1:18]:
                uc.reg_write(reg, 0)
            return
        if intno == 7 and brk is not None and brk(r, pc):
            return
        r.stop = (intno, pc)
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(image.entry, image.base + 0x20000, count=count)
    return r


def test_driver_layout() -> None:
    img = P.build_driver(0x80000)
    block, ready, bad = (img.symbol(s) for s in ("hf_driver_block", "hf_driver_ready", "hf_driver_bad_op"))
    assert block % 16 == 0
    assert img.base <= block and block + layout.DRIVER_BLOCK_SIZE <= img.end
    assert img.word(ready) == 0xD4200000  # brk #0
    assert img.word(bad) == 0xD4200020  # brk #1
    assert "hf_driver_op_0" in P.driver_source()
    encodings = {
        "hvc #0": 0xD4000002,
        "hvc #1": 0xD4000022,
        "hvc #0x1234": 0xD4024682,
        "hvc #0xffff": 0xD41FFFE2,
        "smc #0": 0xD4000003,
    }
    for k, insn in enumerate(layout.DRIVER_OPS):
        start = img.symbol(f"hf_driver_op_{k}")
        body = [img.word(start + 4 * i) for i in range(40)]
        assert body[16] == encodings[insn]  # 16 loads, the instruction, 16 stores
        assert body[33] >> 26 == 0b000101  # b hf_driver_ready


def _driver_call(op: int, inputs: list[int], result: int = 3) -> tuple[Run, list[int]]:
    img = P.build_driver(0x80000)
    block, ready = img.symbol("hf_driver_block"), img.symbol("hf_driver_ready")
    seen = {"n": 0}

    def on_brk(r: Run, pc: int) -> bool:
        if pc != ready or seen["n"]:
            return False
        seen["n"] += 1
        data = op.to_bytes(8, "little") + b"".join(v.to_bytes(8, "little") for v in inputs)
        r.uc.mem_write(block, data)
        r.uc.reg_write(A.UC_ARM64_REG_PC, pc + 4)
        return True

    r = run(img, lambda r, regs: result, brk=on_brk, count=10_000)
    out = r.mem(block + layout.DRIVER_OUT, 31 * 8)
    return r, [int.from_bytes(out[8 * i : 8 * i + 8], "little") for i in range(31)]


@pytest.mark.parametrize("op", [k for k, insn in enumerate(layout.DRIVER_OPS) if insn.startswith("hvc")])
def test_driver_runs_a_call(op: int) -> None:
    inputs = [abi.HF_VM_GET_COUNT] + [0xA000 + n for n in range(1, 31)]
    r, out = _driver_call(op, inputs)
    assert r.calls[0][:31] == inputs  # every register loaded from DRIVER_IN
    assert out == [3] + [0] * 17 + inputs[18:]
    assert r.stop == (7, P.build_driver(0x80000).symbol("hf_driver_ready"))  # back at brk #0
    assert r.uc.reg_read(A.UC_ARM64_REG_SP) == P.build_driver(0x80000).symbol("hf_driver_block")


def test_driver_bad_op() -> None:
    r, _ = _driver_call(len(layout.DRIVER_OPS), [0] * 31)
    assert r.calls == []
    assert r.stop == (7, P.build_driver(0x80000).symbol("hf_driver_bad_op"))


# --- the scripted secondary -----------------------------------------------------------------------


def test_script_layout_decodes() -> None:
    steps: list[P.Step] = [
        P.configure(),
        P.Call(abi.HF_MAILBOX_RECEIVE, 1, insn="hvc #0x1234"),
        P.Call(abi.HF_MAILBOX_SEND, reply=True),
        P.Fill(5, 0x30),
        P.CopyRecv(),
        P.CopyRecv(7),
        P.Wfi(),
        P.Wfe(),
        P.Spin(),
    ]
    base = 0x200000
    img = P.build_script(steps, base)
    assert img.symbol("script_steps") % 64 == 0
    assert P.decode_steps(img) == [
        (1, 0, abi.HF_VM_CONFIGURE, base + layout.LIB_SEND_PAGE, base + layout.LIB_RECV_PAGE, 0, 0, 0),
        (1, 2, abi.HF_MAILBOX_RECEIVE, 1, 0, 0, 2, 0),
        (1, 0, abi.HF_MAILBOX_SEND, 0, 0, 0, 1, 0),
        (2, 5, 0x30, 0, 0, 0, 0, 0),
        (3, MASK, 0, 0, 0, 0, 0, 0),
        (3, 7, 0, 0, 0, 0, 0, 0),
        (4, 0, 0, 0, 0, 0, 0, 0),
        (5, 0, 0, 0, 0, 0, 0, 0),
        (6, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0, 0, 0, 0),
    ]
    assert img.symbol("script_step_3") == img.symbol("script_steps") + 3 * 64
    with pytest.raises(ValueError, match="insn"):
        P.script_source([P.Call(1, insn="svc #0")])
    with pytest.raises(ValueError, match="size"):
        P.script_source([P.Fill(4097)])


def test_script_runs() -> None:
    base = 0x200000
    steps: list[P.Step] = [
        P.configure(),
        P.Call(abi.HF_MAILBOX_RECEIVE, 1),
        P.CopyRecv(),
        P.Call(abi.HF_MAILBOX_SEND, 0x77, 0x88, 0x99, reply=True),
        P.Fill(4, 0xFE),
        P.Wfe(),
        P.Call(0x1234, 5, 6, 7),
    ]
    img = P.build_script(steps, base)
    results = iter([0, abi.receive_response(3, 6), 0, 0xABC])

    def setup(r: Run) -> None:
        r.uc.mem_write(base + layout.LIB_RECV_PAGE, b"hello!")

    r = run(img, lambda r, regs: next(results, None), setup=setup)
    assert len(r.calls) == 4
    calls = r.calls
    assert calls[0][:4] == [abi.HF_VM_CONFIGURE, base + layout.LIB_SEND_PAGE, base + layout.LIB_RECV_PAGE, 0]
    assert calls[1][:4] == [abi.HF_MAILBOX_RECEIVE, 1, 0, 0]
    assert calls[2][:4] == [abi.HF_MAILBOX_SEND, 3, 6, 0x99]  # reply: sender and size
    for call in calls:
        assert call[4:31] == [P.pattern(n) for n in range(4, 31)]
    reports = r.reports()
    # configure, receive, copy, send, fill, wfe, (0x1234 call) -> 7 reports
    assert len(reports) == 7
    assert reports[0][0] == 0 and reports[1][0] == abi.receive_response(3, 6)
    for rep in (reports[0], reports[1], reports[3], reports[6]):
        assert rep[1:18] == (0,) * 17
        assert rep[18:31] == tuple(P.pattern(n) for n in range(18, 31))
    assert reports[6][0] == 0xABC
    send = r.mem(base + layout.LIB_SEND_PAGE, 8)
    assert send == b"\xfe\xff\x00\x01o!\x00\x00"  # Fill(4, 0xfe) over the copied "hello!"


def test_echo_runs_one_exchange() -> None:
    base = 0x300000
    img = P.build("echo", base)
    message = b"Echo this back to me!\0"
    sent: list[bytes] = []
    results = iter([0, abi.HF_ERROR, abi.receive_response(0, len(message)), 0])

    def hv(r: Run, regs: list[int]) -> int | None:
        if regs[0] == abi.HF_MAILBOX_SEND:
            sent.append(r.mem(base + layout.LIB_SEND_PAGE, regs[2]))
            assert regs[1] == 0 and regs[2] == len(message)
            return 0
        if len(r.calls) > 4 and regs[0] == abi.HF_MAILBOX_RECEIVE:
            return None
        return next(results)

    def setup(r: Run) -> None:
        r.uc.mem_write(base + layout.LIB_RECV_PAGE, message)

    r = run(img, hv, setup=setup)
    assert [c[0] for c in r.calls] == [
        abi.HF_VM_CONFIGURE,
        abi.HF_VM_CONFIGURE,
        abi.HF_MAILBOX_RECEIVE,
        abi.HF_MAILBOX_CLEAR,
        abi.HF_MAILBOX_SEND,
        abi.HF_MAILBOX_RECEIVE,
    ]
    assert sent == [message]
    assert [rep[0] for rep in r.reports()] == [abi.HF_ERROR, abi.receive_response(0, 22), 0]


def test_report_slots_saturate_at_the_last_slot() -> None:
    src = P.source("wfi").replace("wfi_loop:\n    wfi\n", "wfi_loop:\n    add x19, x19, #1\n")
    from guest_asm.assembler import assemble

    img = assemble(src, base=0x400000, name="count.S")
    r = run(img, lambda r, regs: 0, count=40 * 200)
    reports = r.reports()
    assert len(reports) == layout.LIB_REPORT_SLOTS
    assert [rep[19] for rep in reports[:3]] == [1, 2, 3]
    assert reports[-1][19] > layout.LIB_REPORT_SLOTS
    assert r.mem(0x400000 + layout.LIB_REPORT + layout.LIB_REPORT_SLOTS * 256, 0x1000) == bytes(0x1000)


def test_read_reports_stops_without_magic() -> None:
    slot = bytearray(256)
    slot[0:8] = (5).to_bytes(8, "little")
    slot[248:256] = layout.LIB_REPORT_MAGIC.to_bytes(8, "little")
    mem = bytes(slot) * 2 + bytes(256) + bytes(slot)
    reports = P.read_reports(mem)
    assert len(reports) == 2 and reports[0][0] == 5 and len(reports[0]) == 31
    assert P.read_reports(b"") == []


def test_fault_programs_fault_where_expected() -> None:
    for name, intno in (("fault_brk", 7), ("fault_svc", 2), ("fault_undef", 1)):
        img = P.build(name, 0x500000)
        r = run(img, lambda r, regs: 0, count=1000)
        assert r.stop is not None and r.stop[0] == intno, (name, r.stop)


def test_param_out_of_range() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        P.build("relay", 0x10000, NEXT_HOP=1 << 64)


def test_read_reports_stops_at_a_partial_slot() -> None:
    slot = bytearray(256)
    slot[248:256] = layout.LIB_REPORT_MAGIC.to_bytes(8, "little")
    assert len(P.read_reports(bytes(slot) * 3 + bytes(slot)[:255])) == 3


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 16, 175, 176])
def test_hv_reports_reads_a_few_slots_at_a_time(count: int) -> None:
    """``Hv.reports`` reads the report area in chunks up to the first slot without the magic: the
    same reports as one read of the whole area, with few reads when a program wrote few."""
    from conformance.harness import Hv

    base = 0x4000_0000
    area = bytearray(layout.LIB_REPORT_SLOTS * layout.LIB_REPORT_SLOT + 4096)
    for i in range(count):
        off = i * layout.LIB_REPORT_SLOT
        area[off : off + 8] = (i + 1).to_bytes(8, "little")
        area[off + 248 : off + 256] = layout.LIB_REPORT_MAGIC.to_bytes(8, "little")
    reads: list[tuple[int, int]] = []

    class Session:
        def base(self, vm: int) -> int:
            return base

        def read(self, vm: int, addr: int, size: int) -> bytes:
            reads.append((addr, size))
            off = addr - base - layout.LIB_REPORT
            return bytes(area[off : off + size])

    hv = Hv.__new__(Hv)
    hv.session = Session()  # type: ignore[assignment]
    got = hv.reports(1)
    assert got == P.read_reports(bytes(area[: layout.LIB_REPORT_SLOTS * layout.LIB_REPORT_SLOT]))
    assert [r[0] for r in got] == list(range(1, count + 1))
    assert len(reads) == min(count // Hv.REPORT_CHUNK + 1, layout.LIB_REPORT_SLOTS // Hv.REPORT_CHUNK)
    assert all(base + layout.LIB_REPORT <= a and a + n <= base + layout.LIB_REPORT + len(area) - 4096 for a, n in reads)
