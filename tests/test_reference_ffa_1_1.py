"""The reference's ``ffa-1.1-indirect`` core, white-box: the core alone on the text's worked
examples (§15), then whole systems (``System(..., profile="ffa-1.1-indirect")``) where every call
is a real ``hvc`` / ``smc`` of guest code. Expected values are the text's literals."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest_asm import layout
from guest_asm.programs import read_reports
from profiles.ffa_1_1_indirect import abi
from profiles.ffa_1_1_indirect.core import Core, Mailbox, Vcpu, VcpuState
from reference_hv import System, VMSpec
from reference_hv.core_api import Answer, TimerState, VmLayout

ROOT = Path(__file__).resolve().parent.parent
BASES = [0x4000_0000, 0x4010_0000, 0x4020_0000, 0x4030_0000]
SIZE = 0x10_0000
SUCCESS = 0x84000061
ERROR = 0x84000060
INVALID_PARAMETERS = 0xFFFFFFFE
DENIED = 0xFFFFFFFA
BUSY = 0xFFFFFFFC
NOT_SUPPORTED = 0xFFFFFFFF
MINUS_ONE = 0xFFFF_FFFF_FFFF_FFFF


class Memory:
    """The VMs' memory for the core alone: a Platform (copy, read, write; protections recorded)."""

    def __init__(self) -> None:
        self.ram = [bytearray(SIZE) for _ in BASES]
        self.read_only: set[tuple[int, int]] = set()

    def protect(self, vm_id: int, addr: int, size: int, writable: bool) -> None:
        (self.read_only.discard if writable else self.read_only.add)((vm_id, addr))

    def set_irq(self, vm_id: int, vcpu_idx: int, asserted: bool) -> None:
        raise AssertionError("no virtual interrupts in this profile")

    def timer(self, vm_id: int, vcpu_idx: int) -> TimerState:
        raise AssertionError("no timer in this profile")

    def mask_timer(self, vm_id: int, vcpu_idx: int) -> None:
        raise AssertionError("no timer in this profile")

    def __call__(self, src_vm: int, src: int, dst_vm: int, dst: int, size: int) -> None:
        s, d = src - BASES[src_vm], dst - BASES[dst_vm]
        self.ram[dst_vm][d : d + size] = self.ram[src_vm][s : s + size]

    def read(self, vm: int, addr: int, size: int) -> bytes:
        return bytes(self.ram[vm][addr - BASES[vm] : addr - BASES[vm] + size])

    def write(self, vm: int, addr: int, data: bytes) -> None:
        self.ram[vm][addr - BASES[vm] : addr - BASES[vm] + len(data)] = data


def make(secondaries: int = 3, vcpus: int = 8) -> tuple[Core, Memory]:
    memory = Memory()
    vms = [VmLayout(0, BASES[0], SIZE, 8)] + [VmLayout(i, BASES[i], SIZE, vcpus) for i in range(1, secondaries + 1)]
    core = Core(vms, memory)
    return core, memory


def call(core: Core, vm: int, *regs: int, vcpu: int = 0) -> tuple[int, ...]:
    """x0..x7 of an answered call (``Answer.regs`` given: x8.. kept)."""
    x = (*regs, 0, 0, 0, 0, 0, 0, 0, 0)[:8]
    a = core.hypercall(vm, vcpu, *x)
    assert a.ret is not None and a.regs is not None and len(a.regs) == 7, a
    return (a.ret, *a.regs)


def tx(vm: int) -> int:
    return BASES[vm] + layout.LIB_SEND_PAGE


def rx(vm: int) -> int:
    return BASES[vm] + layout.LIB_RECV_PAGE


def map_pair(core: Core, vm: int) -> None:
    assert call(core, vm, 0xC4000066, tx(vm), rx(vm), 1) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)


def pending(vcpu: Vcpu) -> tuple[int | None, tuple[int, ...] | None]:
    """What ``vcpu`` receives when it next runs: x0, x1..x7."""
    return vcpu.resume_x0, vcpu.resume_regs


def error(code: int) -> tuple[int, ...]:
    return (ERROR, 0, code, 0, 0, 0, 0, 0)


# --- the core alone --------------------------------------------------------------------------------


def test_version_negotiation_worked_example_c() -> None:
    core, _ = make()
    assert core.vms[0].version == 0 and core.vms[1].version == 0x00010001  # VER-8
    for requested, result in [
        (0x00010004, 0xFFFFFFFF),
        (0x00020000, 0xFFFFFFFF),
        (0x00000001, 0xFFFFFFFF),
        (0x80010001, 0xFFFFFFFF),
        (0xFFFFFFFF00010001, 0x00010003),
        (0x00010000, 0x00010003),
        (0x00010002, 0x00010003),
        (0x00010001, 0x00010003),
    ]:
        assert call(core, 0, 0x84000063, requested) == (result, 0, 0, 0, 0, 0, 0, 0), hex(requested)
    assert call(core, 0, 0x84000069) == (SUCCESS, 0, 0x1, 0, 0, 0, 0, 0)  # negotiation ends at v1.1
    assert core.vms[0].version == 0x00010001 and core.vms[0].negotiated
    for requested, result in [
        (0x00010002, 0xFFFFFFFF),
        (0x00010001, 0x00010003),
        (0x00010004, 0xFFFFFFFF),
        (0x00010000, 0xFFFFFFFF),
        (0x00010003, 0xFFFFFFFF),
        (0x80010001, 0xFFFFFFFF),  # VER-2 after negotiation too
    ]:
        assert call(core, 0, 0x84000063, requested)[0] == result, hex(requested)


def test_unhandled_ids_do_not_end_negotiation() -> None:
    core, _ = make()
    assert core.hypercall(0, 0, 0x840000FF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77) == Answer(
        0x840000FF, regs=(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77)
    )  # CONV-6 (D3)
    assert core.smc(0, 0, 0x84000066, 0x11, 0x22, 0x33) == Answer(MINUS_ONE, regs=(0x11, 0x22, 0x33, 0, 0, 0, 0))  # CONV-9
    assert not core.vms[0].negotiated  # VER-7
    assert call(core, 0, 0x8401_0069) == (SUCCESS, 0, 1, 0, 0, 0, 0, 0)  # CONV-2: bit 16 cleared
    assert core.vms[0].negotiated
    assert call(core, 0, 0xC4000086) == (0xC4000086, 0, 0, 0, 0, 0, 0, 0)  # CONV-7: not an FF-A function


def test_features() -> None:
    core, _ = make()
    ok = (SUCCESS, 0, 0, 0, 0, 0, 0, 0)
    for func in (0x84000060, 0x84000061, 0x84000063, 0x84000064, 0x84000065, 0x84000067, 0x84000068, 0x84000069):
        assert call(core, 0, 0x84000064, func) == ok, hex(func)  # FEAT-3
    for func in (0x8400006D, 0x84000082, 0x84000086, 0x8400006C, 0x8400006B, 0xC4000083):
        assert call(core, 0, 0x84000064, func) == ok, hex(func)  # FEAT-2, FEAT-3, FEAT-5
    assert call(core, 0, 0x84000064, 0xC4000066, 1) == ok  # FEAT-4: w2 = 0, input w2 ignored
    for func in (0x84000066, 0x84000083, 0x84000084, 0x8400006E, 0x8400006A, 0xC4000086):
        assert call(core, 0, 0x84000064, func) == error(NOT_SUPPORTED), hex(func)  # FEAT-1, FEAT-5, CONV-7
    assert call(core, 3, 0x84000064, 0xC4000083) == error(NOT_SUPPORTED)  # FEAT-5: not to other VMs
    assert call(core, 3, 0x84000064, 0x8400006C) == ok  # FFA_YIELD_32 to secondaries too
    assert call(core, 0, 0x84000064, 0x1) == (SUCCESS, 0, 5, 0, 0, 0, 0, 0)  # FEAT-6
    assert call(core, 0, 0x84000064, 0x2) == (SUCCESS, 0, 8, 0, 0, 0, 0, 0)
    assert call(core, 0, 0x84000064, 0x3) == (SUCCESS, 0, 4, 0, 0, 0, 0, 0)
    assert call(core, 0, 0x84000064, 0x4) == (SUCCESS, 0, 3, 0, 0, 0, 0, 0)  # FEAT-7
    assert call(core, 0, 0x84000064, 0x101) == error(NOT_SUPPORTED)  # bits 30:8
    assert call(core, 0, 0x84000064, 0x1, 1) == error(NOT_SUPPORTED)  # input w2


def test_rxtx_map_and_unmap() -> None:
    core, memory = make()
    assert call(core, 0, 0xC4000066, tx(0), rx(0), 0) == error(INVALID_PARAMETERS)  # MAP-2
    assert call(core, 0, 0xC4000066, tx(0), rx(0), 2) == error(INVALID_PARAMETERS)
    assert call(core, 0, 0xC4000066, tx(0) + 8, rx(0), 1) == error(INVALID_PARAMETERS)
    assert call(core, 0, 0xC4000066, tx(0), tx(0), 1) == error(INVALID_PARAMETERS)  # MAP-3
    assert call(core, 0, 0xC4000066, tx(1), rx(0), 1) == error(INVALID_PARAMETERS)  # MAP-4: not its memory
    map_pair(core, 0)
    assert call(core, 0, 0xC4000066, tx(0), rx(0), 1) == error(DENIED)  # MAP-1
    assert memory.read_only == {(0, rx(0))}  # MAP-5: the RX page is read-only to its owner
    assert call(core, 0, 0x84000067, 0x10000) == error(INVALID_PARAMETERS)  # MAP-6
    assert call(core, 0, 0x84000067) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)
    assert memory.read_only == set()  # ... and writable again once unmapped
    assert call(core, 0, 0x84000067) == error(INVALID_PARAMETERS)
    map_pair(core, 0)  # may be mapped again


def test_partition_discovery_worked_example_d() -> None:
    core, memory = make()
    call(core, 0, 0x84000063, 0x00010001)
    assert call(core, 0, 0x84000068) == error(BUSY)  # PIG-8: no RX mapped
    map_pair(core, 0)
    assert call(core, 0, 0x84000068) == (SUCCESS, 0, 0x3, 0x30, 0, 0, 0, 0)
    first = abi.parse_partition_info(memory.read(0, rx(0), 0x30))
    assert (first.id, first.contexts) == (0x0002, 8)  # the first descriptor: ID 2, 8 contexts
    assert first.properties & 0x4 and first.properties & 0xFFFFF800 == 0  # PIG-6
    assert [abi.parse_partition_info(memory.read(0, rx(0) + 0x30 * i, 0x30)).id for i in range(3)] == [2, 3, 4]
    assert call(core, 0, 0x84000068) == error(BUSY)  # PIG-5
    assert call(core, 0, 0x84000068, 0, 0, 0, 0, 1) == (SUCCESS, 0, 3, 0, 0, 0, 0, 0)  # PIG-2: RX full
    assert call(core, 0, 0x84000065) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)
    assert call(core, 0, 0x84000068, 0, 0, 0, 0, 2) == error(INVALID_PARAMETERS)
    assert call(core, 0, 0x84000068, 1, 2, 3, 4) == error(INVALID_PARAMETERS)  # PIG-1: unrecognised UUID
    # A v1.0 caller gets 8-byte descriptors (PIG-3).
    old, memory = make()
    call(old, 0, 0x84000063, 0x00010000)
    map_pair(old, 0)
    assert call(old, 0, 0x84000068) == (SUCCESS, 0, 0x3, 0x8, 0, 0, 0, 0)


def send(core: Core, memory: Memory, vm: int, data: bytes, w1: int = 0, w2: int = 0) -> tuple[int, ...]:
    memory.write(vm, tx(vm), data)
    return call(core, vm, 0x84000086, w1, w2)


def test_msg_send2_errors_worked_example_e() -> None:
    core, memory = make()
    call(core, 0, 0x84000063, 0x00010001)
    map_pair(core, 0)
    map_pair(core, 3)  # services3 = VM 4
    ok = abi.header(1, 4, 8) + b"MESSAGE2"
    assert send(core, memory, 0, ok, w1=0x10000) == error(INVALID_PARAMETERS)  # SEND-1
    assert send(core, memory, 0, abi.header(2, 4, 0)) == error(INVALID_PARAMETERS)  # SEND-3
    assert send(core, memory, 0, abi.header(1, 1, 0)) == error(INVALID_PARAMETERS)  # SEND-4
    assert send(core, memory, 0, ok, w2=1) == error(INVALID_PARAMETERS)  # SEND-5
    assert send(core, memory, 0, ok, w2=2) == error(INVALID_PARAMETERS)
    for receiver in (0x0010, 0x0000):
        assert send(core, memory, 0, abi.header(1, receiver, 0)) == error(INVALID_PARAMETERS)  # SEND-7
    for offset in (16, 19):
        assert send(core, memory, 0, abi.header(1, 4, 0, offset=offset)) == error(INVALID_PARAMETERS)  # SEND-11
    assert send(core, memory, 0, abi.header(1, 4, 0xFFFFFFF0)) == error(INVALID_PARAMETERS)  # SEND-12
    assert send(core, memory, 0, abi.header(1, 4, 4077)) == error(INVALID_PARAMETERS)  # SEND-13
    for receiver in (0x8001, 0xFFFF):  # SEND-6: no EL3 firmware
        assert send(core, memory, 0, abi.header(1, receiver, 0)) == (MINUS_ONE, 0x10000, 0, 0, 0, 0, 0, 0)
    assert send(core, memory, 0, abi.header(1, 2, 0)) == error(BUSY)  # SEND-9: VM 2 has no RX
    assert core.vms[3].mailbox is Mailbox.EMPTY and not core.vms[3].rx_full_pending  # nothing changed
    assert call(core, 0, 0x84000067)[0] == SUCCESS
    assert send(core, memory, 0, ok) == error(DENIED)  # SEND-2


def test_msg_send2_v1_0_sender() -> None:
    core, memory = make()
    call(core, 0, 0x84000063, 0x00010000)
    map_pair(core, 0)
    assert send(core, memory, 0, abi.header(1, 4, 0)) == error(BUSY)  # SEND-22: receiver not mapped
    assert send(core, memory, 0, abi.header(2, 4, 0)) == error(INVALID_PARAMETERS)
    assert send(core, memory, 0, abi.header(1, 4, 0, offset=16)) == error(BUSY)
    map_pair(core, 3)
    assert send(core, memory, 0, abi.header(1, 4, 0)) == error(NOT_SUPPORTED)  # SEND-10


def test_one_message_each_way_worked_example_a() -> None:
    core, memory = make()
    call(core, 0, 0x84000063, 0x00010001)
    map_pair(core, 0)
    map_pair(core, 3)
    payload = bytes(range(256)) * 15 + bytes(range(232))
    message = abi.header(1, 4, 0xFE8, offset=0x18, flags=0xA5A5A5A5, reserved=0x5A5A5A5A) + bytes(4) + payload
    assert len(message) == 4096
    assert send(core, memory, 0, message, w1=0xFFFFFFFF0000FFFF) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)  # CONV-8
    assert memory.read(3, rx(3), 4096) == message  # SEND-15, SEND-16
    assert send(core, memory, 0, message) == error(BUSY)  # SEND-9
    assert call(core, 0, 0xC4000083) == (0xC4000061, 0, 0x80, 0x4, 0, 0, 0, 0)  # NOTIF-4
    assert call(core, 0, 0xC4000083) == error(0xFFFFFFF7)
    # services3: release before the notification is retrieved → DENIED (REL-4); its FFA_MSG_WAIT
    # returns at once (WAIT-3) with w1 = its own ID (WAIT-7) and keeps the buffer (WAIT-5).
    assert call(core, 3, 0x84000065) == error(DENIED)
    assert call(core, 3, 0x8400006B) == (0x8400006D, 0x4, 0, 0, 0, 0, 0, 0)
    assert call(core, 3, 0x84000082, 0x4, 0xC) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0x1)  # NOTIF-1
    assert call(core, 3, 0x84000082, 0x4, 0xC)[7] == 0  # cleared
    assert call(core, 3, 0x84000082, 0x4, 0x10) == error(INVALID_PARAMETERS)  # NOTIF-2
    assert call(core, 3, 0x84000082, 0x1, 0xC) == error(INVALID_PARAMETERS)  # NOTIF-6
    assert call(core, 3, 0x84000065, 0x4) == error(INVALID_PARAMETERS)  # REL-3
    assert call(core, 3, 0x84000065) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)  # REL-1
    assert call(core, 3, 0x84000065) == error(DENIED)  # REL-2
    # services3 → primary: "SVC->PVM"
    reply = abi.header(4, 1, 8) + b"SVC->PVM"
    assert send(core, memory, 3, reply) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)
    assert call(core, 0, 0x84000065) == error(DENIED)
    assert call(core, 0, 0x84000082, 0x1, 0xC)[7] == 0x1
    assert memory.read(0, rx(0), 28) == reply and memory.read(0, rx(0) + 28, 4096 - 28) == bytes(4068)  # SEND-20
    assert call(core, 0, 0x84000065)[0] == SUCCESS


def test_wait_on_a_message_already_read_worked_example_b() -> None:
    core, memory = make()
    call(core, 0, 0x84000063, 0x00010001)
    map_pair(core, 0)
    map_pair(core, 3)
    assert send(core, memory, 0, abi.header(1, 4, 8) + b"MESSAGE2")[0] == SUCCESS
    assert call(core, 3, 0x8400006B) == (0x8400006D, 0x4, 0, 0, 0, 0, 0, 0)  # WAIT-3
    assert call(core, 3, 0x84000082, 0x4, 0xC)[7] == 0x1
    assert call(core, 3, 0x8400006B) == (0x8400006D, 0x4, 0, 0, 0, 0, 0, 0)  # WAIT-8: the old message
    assert call(core, 3, 0x84000082, 0x4, 0xC)[7] == 0
    assert call(core, 3, 0x84000065) == error(DENIED)  # that wait released the buffer (WAIT-2)
    empty_end = abi.header(1, 4, 0, offset=4096)
    assert send(core, memory, 0, empty_end)[0] == SUCCESS  # SEND-21


def test_msg_wait_and_run() -> None:
    core, _ = make()
    assert call(core, 3, 0x8400006B, 0, 1) == error(INVALID_PARAMETERS)  # WAIT-1: w2 for v1.1
    assert call(core, 3, 0x8400006B, 0, 0, 1) == error(INVALID_PARAMETERS)  # x3
    assert call(core, 3, 0x8400006B, 1 << 32) == error(INVALID_PARAMETERS)  # CONV-8
    assert call(core, 0, 0x8400006B) == error(NOT_SUPPORTED)  # WAIT-10
    assert call(core, 3, 0x8400006D, 0x20000) == error(DENIED)  # RUN-1
    assert call(core, 0, 0x8400006D, 0x10000) == error(INVALID_PARAMETERS)  # the primary
    assert call(core, 0, 0x8400006D, 0x200000) == error(INVALID_PARAMETERS)  # unknown ID
    assert call(core, 0, 0x8400006D, 0x40008) == error(INVALID_PARAMETERS)  # vCPU 8 of 8
    assert call(core, 0, 0x8400006D, 0x40001) == error(INVALID_PARAMETERS)  # RUN-5: no entry point
    s3 = core.vms[3].vcpus[0]
    assert s3.state is VcpuState.CREATED
    assert core.hypercall(0, 0, 0x8400006D, 0x40000, 0, 0) == Answer(None, s3) and s3.resume_x0 is None
    # services3 waits with an empty RX (WAIT-6): the primary's FFA_RUN returns FFA_MSG_WAIT, w1 = 0x40000.
    primary = core.vms[0].vcpus[0]
    assert core.hypercall(3, 0, 0x8400006B, 0, 0, 0) == Answer(None, primary)
    assert pending(primary) == (0x8400006B, (0x40000, 0, 0, 0, 0, 0, 0))
    assert pending(s3) == (0x8400006D, (0, 0, 0, 0, 0, 0, 0))  # WAIT-7: w1 = 0
    # yield (RUN-2): FFA_YIELD, w1 = 0x40000; the yielder resumes with SUCCESS
    core.hypercall(0, 0, 0x8400006D, 0x40000, 0, 0)
    assert core.hypercall(3, 0, 0x8400006C, 0, 0, 0) == Answer(None, primary)
    assert pending(primary) == (0x8400006C, (0x40000, 0, 0, 0, 0, 0, 0))
    assert (*pending(s3), s3.state) == (SUCCESS, (0, 0, 0, 0, 0, 0, 0), VcpuState.READY)
    # preemption (RUN-3): FFA_INTERRUPT, w1 = 0x40000; resumes where it was
    core.hypercall(0, 0, 0x8400006D, 0x40000, 0, 0)
    assert core.preempted(3, 0) == Answer(None, primary)
    assert (primary.resume_x0, primary.resume_regs, s3.resume_x0) == (0x84000062, (0x40000, 0, 0, 0, 0, 0, 0), None)
    core.hypercall(0, 0, 0x8400006D, 0x40000, 0, 0)
    assert core.aborted(3, 0) == Answer(None, primary)
    assert call(core, 0, 0x8400006D, 0x40000) == error(0xFFFFFFF8)  # RUN-4


def test_pending_values_have_one_writer() -> None:
    """The core writes pending values in ONE helper (resume_with); the scheduler reads them in ONE switch."""
    core_py = ROOT / "profiles" / "ffa_1_1_indirect" / "core.py"
    for attr in ("resume_x0", "resume_regs"):
        writers = set()
        for fn in ast.walk(ast.parse(core_py.read_text())):
            if isinstance(fn, ast.FunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.ctx, ast.Store):
                        writers.add(fn.name)
        assert writers == {"resume_with"}, attr
    system_py = ast.parse((ROOT / "reference_hv" / "system.py").read_text())
    touching = {
        fn.name
        for fn in ast.walk(system_py)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Attribute) and node.attr == "resume_regs"
    }
    assert touching == {"_switch"}


# --- whole systems: real hvc / smc from guest code ----------------------------------------------

PRELUDE = (ROOT / "guest_asm" / "programs" / "_prelude.S").read_text()

#: A secondary that maps its pages, then echoes every message back to its sender, reporting each step.
ECHO = """
_start:
    LIB_INIT
    ldr x0, =FFA_ID_GET
    hvc #0
    mov x19, x2
    ldr x0, =FFA_RXTX_MAP_64
    adr x1, _start
    add x1, x1, #LIB_SEND_PAGE
    adr x2, _start
    add x2, x2, #LIB_RECV_PAGE
    mov x3, #1
    hvc #0
    REPORT
echo_loop:
    ldr x0, =FFA_MSG_WAIT
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    hvc #0
    REPORT
    ldr x0, =FFA_NOTIFICATION_GET
    mov x1, x19
    mov x2, #0xc
    hvc #0
    REPORT
    adr x9, _start
    add x9, x9, #LIB_RECV_PAGE
    ldr w20, [x9, #HDR_OFFSET]
    ldr w21, [x9, #HDR_SIZE]
    add x20, x20, x21
    COPY_RECV_TO_SEND x20
    adr x10, _start
    add x10, x10, #LIB_SEND_PAGE
    ldr w11, [x10, #HDR_SENDER_RECEIVER]
    ror w11, w11, #16
    str w11, [x10, #HDR_SENDER_RECEIVER]
    ldr x0, =FFA_RX_RELEASE
    mov x1, #0
    hvc #0
    REPORT
    ldr x0, =FFA_MSG_SEND2
    mov x1, #0
    mov x2, #0
    hvc #0
    REPORT
    b echo_loop
"""

SPIN = """
_start:
    ldr x0, =FFA_YIELD
    hvc #0
spin_forever:
    b spin_forever
"""


def program(body: str) -> VMSpec:
    return VMSpec(abi.equ_source() + PRELUDE + body, name="ffa.S")


@pytest.fixture
def echo_system() -> Iterator[System]:
    system = System([program(ECHO)], profile="ffa-1.1-indirect", time_slice=100_000)
    yield system
    system.close()


def test_a_message_each_way_through_the_system(echo_system: System) -> None:
    s = echo_system
    base = s.base(0)
    assert s.call(0x84000063, 0x00010001).regs[:8] == (0x00010003, 0, 0, 0, 0, 0, 0, 0)  # VER-1
    assert s.call(0xC4000066, base + layout.LIB_SEND_PAGE, base + layout.LIB_RECV_PAGE, 1).regs[:8] == (SUCCESS,) + (0,) * 7
    assert s.call(0x8400006D, 0x20000).regs[:8] == (0x8400006B, 0x20000, 0, 0, 0, 0, 0, 0)  # WAIT-6, RUN-2
    s.write(0, base + layout.LIB_SEND_PAGE, abi.header(1, 2, 5) + b"hello")
    pattern = {n: 0x1000 + n for n in range(8, 18)}
    sent = s.call(0x84000086, regs=pattern)
    assert sent.regs[:8] == (SUCCESS,) + (0,) * 7  # SEND-16
    assert sent.regs[8:18] == tuple(0x1000 + n for n in range(8, 18))  # CONV-5: x8..x17 kept
    assert s.call(0xC4000083).regs[:8] == (0xC4000061, 0, 0x80, 0x2, 0, 0, 0, 0)  # NOTIF-4
    run = s.call(0x8400006D, 0x20000, regs=pattern)  # the echo runs, replies and waits again
    assert run.regs[:8] == (0x8400006B, 0x20000, 0, 0, 0, 0, 0, 0)
    assert run.regs[8:18] == tuple(0x1000 + n for n in range(8, 18))  # CONV-5 after a switch too
    assert s.call(0x84000065).regs[:3] == (ERROR, 0, DENIED)  # REL-4
    assert s.call(0x84000082, 0x1, 0xC).regs[:8] == (SUCCESS, 0, 0, 0, 0, 0, 0, 1)  # NOTIF-1
    h = abi.parse_header(s.read(0, base + layout.LIB_RECV_PAGE, 20))
    assert (h.sender, h.receiver, h.offset, h.size) == (2, 1, 20, 5)  # HDR-4: sender 2
    assert s.read(0, base + layout.LIB_RECV_PAGE + 20, 5) == b"hello"
    assert s.call(0x84000065).regs[:8] == (SUCCESS,) + (0,) * 7
    assert s.vcpu_state(1, 0) is VcpuState.WAITING
    got = read_reports(s.read(1, s.base(1) + layout.LIB_REPORT, 8 * layout.LIB_REPORT_SLOT))
    assert [r[:8] for r in got[:5]] == [
        (SUCCESS, 0, 0, 0, 0, 0, 0, 0),  # its FFA_RXTX_MAP_64
        (0x8400006D, 0, 0, 0, 0, 0, 0, 0),  # FFA_MSG_WAIT resumed: FFA_RUN_32, w1 = 0 (WAIT-7)
        (SUCCESS, 0, 0, 0, 0, 0, 0, 1),  # FFA_NOTIFICATION_GET: w7 bit 0
        (SUCCESS, 0, 0, 0, 0, 0, 0, 0),  # FFA_RX_RELEASE
        (SUCCESS, 0, 0, 0, 0, 0, 0, 0),  # FFA_MSG_SEND2 to the primary: the sender goes on (SEND-18)
    ]
    assert got[1][19] == 2  # x19 (its own ID from FFA_ID_GET) kept across the wait


def test_yield_and_preemption_through_the_system() -> None:
    with System([program(SPIN)], profile="ffa-1.1-indirect", time_slice=1000) as s:
        assert s.call(0x8400006D, 0x20000).regs[:8] == (0x8400006C, 0x20000, 0, 0, 0, 0, 0, 0)  # RUN-2
        assert s.call(0x8400006D, 0x20000).regs[:8] == (0x84000062, 0x20000, 0, 0, 0, 0, 0, 0)  # RUN-3
        assert s.vcpu_state(1, 0) is VcpuState.READY
        kinds = [r.kind for r in s.trace]
        assert "preempt" in kinds and "switch" in kinds


def test_unknown_and_smc_calls_through_the_system() -> None:
    with System([], profile="ffa-1.1-indirect") as s:
        regs = {4: 0x44, 5: 0x55, 6: 0x66, 7: 0x77, 8: 0x88, 17: 0x1717}
        got = s.call(0x840000FF, 0x11, 0x22, 0x33, regs=regs).regs
        assert got[:8] == (0x840000FF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77) and (got[8], got[17]) == (0x88, 0x1717)  # CONV-6
        got = s.call(0x840000FF, 0x11, 0x22, 0x33, regs=regs, insn="smc #0").regs
        assert got[:8] == (MINUS_ONE, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77)  # CONV-9
        assert s.call(0x84000063, 0x00010001).x0 == 0x00010003  # VER-7: not ended by unknown IDs
        assert s.trace[-1].args == (0x84000063, 0x00010001, 0, 0, 0, 0, 0, 0)
        assert s.call(0x84000069, insn="smc #0").regs[:3] == (SUCCESS, 0, 1)  # CONV-2
        assert s.call(0x84000063, 0x00010002).x0 == 0xFFFFFFFF  # VER-6: ended by FFA_ID_GET


def test_the_default_profile_still_zeroes_x1_to_x17() -> None:
    with System([]) as s:
        got = s.call(0xFF01, 7, 7, 7, regs={n: 0x1000 + n for n in range(4, 18)}).regs
        assert got[0] == 1 and got[1:18] == (0,) * 17


def test_the_profiles_hv_drives_the_reference() -> None:
    """The profile's ``Hv`` (hv.py, literal IDs) on the bundled reference, as a conformance test will."""
    from profiles.ffa_1_1_indirect import hv
    from reference_hv.build import ReferenceBuild

    h = hv.boot(ReferenceBuild())
    try:
        assert h.version() == 0x00010003  # VER-1
        assert h.id_get()[:3] == (SUCCESS, 0, 1)  # IDG-1
        assert h.rxtx_map() == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)
        assert h.partition_info_get(flags=1) == (SUCCESS, 0, 0, 0, 0, 0, 0, 0)  # no secondaries
        assert h.msg_send2()[:3] == (ERROR, 0, INVALID_PARAMETERS)  # an empty TX: sender 0 (SEND-3)
        h.write_message(1, 0x10, b"x")
        assert h.msg_send2()[:3] == (ERROR, 0, INVALID_PARAMETERS)  # SEND-7
        assert h.msg_wait()[:3] == (ERROR, 0, NOT_SUPPORTED)  # WAIT-10
        assert h.log[-1] == "hvc #0 FFA_MSG_WAIT x1=0x0 x2=0x0 x3=0x0 -> FFA_ERROR_32 NOT_SUPPORTED (-1)"
        assert h.ffa_regs(0x84000069, extra={8: 0x88, 17: 0x1717})[8:18] == (0x88, *(0,) * 8, 0x1717)  # CONV-5
    finally:
        h.session.close()


def test_interceptors_see_and_deliver_eight_registers() -> None:
    """The machine layer's interception path (how wrong builds deviate) with a core of eight registers."""
    from reference_hv.system import Return, Trap

    seen: list[tuple[str, tuple[int, ...]]] = []
    returns: list[tuple[int, bool]] = []

    def after(trap: Trap, answer: Answer) -> Answer:
        seen.append((trap.kind, trap.args))
        return answer

    def on_return(ret: Return) -> None:
        returns.append((ret.x0, ret.resumed))

    with System([program(SPIN)], profile="ffa-1.1-indirect", time_slice=1000) as s:
        s.intercept("hvc", after=after)
        s.intercept("smc", after=after)
        s.intercept("return", after=on_return)
        pattern = {n: 0x1000 + n for n in range(4, 18)}
        got = s.call(0x84000063, 0x00010001, regs=pattern).regs
        assert got[:8] == (0x00010003, 0, 0, 0, 0, 0, 0, 0) and got[8:18] == tuple(0x1000 + n for n in range(8, 18))
        got = s.call(0x840000FF, 0x11, regs=pattern, insn="smc #0").regs
        assert got[:8] == (MINUS_ONE, 0x11, 0, 0, 0x1004, 0x1005, 0x1006, 0x1007)  # CONV-9
        assert s.call(0x8400006D, 0x20000, regs=pattern).regs[:9] == (0x8400006C, 0x20000, 0, 0, 0, 0, 0, 0, 0x1008)
    assert seen[0] == ("hvc", (0x84000063, 0x00010001, 0, 0, 0x1004, 0x1005, 0x1006, 0x1007))
    assert seen[1] == ("smc", (0x840000FF, 0x11, 0, 0, 0x1004, 0x1005, 0x1006, 0x1007))
    assert (0x00010003, False) in returns and (0x8400006C, True) in returns  # the primary resumed with FFA_YIELD


def test_wide_results_are_seven_registers() -> None:
    with System([], profile="ffa-1.1-indirect") as s:
        m = s.machines[0]
        with pytest.raises(ValueError):
            m.set_results(0, (1, 2, 3))


#: Maps its RX/TX pair, points VBAR_EL1 at a table whose synchronous entry goes back to a store to
#: its own RX buffer: every fault handed to it (MAP-5) faults again.
FAULT_STORM = """
_start:
    movz x0, #0x0066
    movk x0, #0xC400, lsl #16
    adr x1, _start
    add x2, x1, #0x11000
    add x1, x1, #0x10000
    mov x3, #1
    hvc #0
    adr x5, vectors
    msr vbar_el1, x5
    adr x6, _start
    add x6, x6, #0x11000
store:
    str x0, [x6]
    b store
.balign 2048
vectors:
    .skip 0x200
    b store
"""


def test_a_guest_faulting_again_and_again_is_preempted() -> None:
    """Each fault handed to the guest costs a share of its time slice: a guest whose handler
    retries the faulting store is preempted (FFA_INTERRUPT, RUN-3) like any other, so the call
    returns at once instead of storming until the system's budget runs out."""
    with System([VMSpec(FAULT_STORM, "storm.S")], profile="ffa-1.1-indirect") as system:
        result = system.call(0x8400006D, 2 << 16)  # FFA_RUN(ID 2, vCPU 0)
        assert result.completed, result.stop_reason()
        assert result.regs[:2] == (0x84000062, 2 << 16)  # FFA_INTERRUPT, w1 = ID 2 << 16 | vCPU 0
        assert system.faults == []  # handed to the guest: no fault of the system
        again = system.call(0x8400006D, 2 << 16)
        assert again.regs[0] == 0x84000062
