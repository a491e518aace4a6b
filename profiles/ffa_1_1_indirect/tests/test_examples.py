"""§15 worked examples A, B and E, step by step with the text's literal values.

The reference setup of §0: the primary (1) and services1..3 (2, 3, 4); services3 is the scripted
receiver. Each example is replayed as the text lists it; every MUST step is checked against its
clause with the text's values. Where a step of the text shows Hafnium's implementation-defined
behaviour (x1 = 0xFFFFFFFF0000FFFF and non-zero header flags in A.2, the early FFA_RX_RELEASE of
A.4 / A.6, the w1 of FFA_RUN_32, B.8's tail and re-wait, B.9, B.10, E's SP receivers and v1.0
sender) the MUST replay leaves it out or sends the MUST-only form the text names, and an
``impl_defined`` test replays the literal step and checks only it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.harness import expect
from profiles.ffa_1_1_indirect import programs as p
from profiles.ffa_1_1_indirect.checks import MINUS_ONE, expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.guests import program, script
from profiles.ffa_1_1_indirect.hv import Hv, Regs
from profiles.ffa_1_1_indirect.msg_checks import FFA_MSG_WAIT, FFA_RUN, FFA_YIELD, V1_0, page, primary_v1_1, send, slots

S3 = 4  # services3
S3_INDEX = 3
PAYLOAD_A = bytes((0x20 + i % 0x5F) for i in range(0xFE8))  # 4072 bytes at offset 24


def _w01(regs) -> tuple[int, int]:
    return regs[0] & 0xFFFF_FFFF, regs[1] & 0xFFFF_FFFF


def _system(boot, *services3: p.Step) -> Hv:
    """services1, services2 (never run) and services3 running ``setup, *services3``; the primary
    negotiated v1.1 and mapped its buffers ("before it")."""
    hv = boot(program("idle"), program("idle"), script(*p.setup(), *services3))
    primary_v1_1(hv)
    return hv


# services3's steps in example A (MUST replay), by report slot:
A_S3: list[p.Step] = [
    p.msg_wait(),  # 2: A.1 waits; resumed at A.4
    p.msg_wait(),  # 3: A.4 at once (WAIT-3)
    p.notification_get(S3),  # 4
    p.ReadRx(),  # 5
    p.rx_release(0x4),  # 6: REL-3
    p.rx_release(),  # 7: REL-1
    p.rx_release(),  # 8: REL-2
    p.Header(S3, 1, 8, offset=0x14),  # 9: A.5
    p.Payload(b"SVC->PVM"),  # 10
    p.msg_send2(),  # 11
    p.yield_(),  # 12
]
# ... and in example B, after A:
B_S3: list[p.Step] = [
    p.msg_wait(),  # 13: B.8 at once
    p.notification_get(S3),  # 14
    p.ReadRx(),  # 15
    p.CopyRx(4096),  # 16: the RX page, for SEND-20
    p.msg_wait(),  # 17: again, without release (WAIT-8)
    p.notification_get(S3),  # 18
    p.ReadRx(),  # 19
    p.rx_release(),  # 20: WAIT-2
]


def _example_a(hv: Hv) -> None:
    # A.1
    got = hv.run(S3, clause="WAIT-6")
    expect("A.1 FFA_RUN(0x00040000): w0, w1", _w01(got), (0x8400006B, 0x00040000), clause="WAIT-6")
    # A.2 (the MUST-only form: x1 = 0, flags = reserved = 0)
    hv.write_send_page(page(1, S3, PAYLOAD_A, offset=0x18))
    expect_success("A.2 FFA_MSG_SEND2 (offset 0x18, size 0xFE8)", hv.msg_send2(clause="SEND-16"), clause="SEND-16")
    expect_error("A.2 the same message again", hv.msg_send2(clause="SEND-9"), "BUSY", clause="SEND-9")
    # A.3
    if hv.features(0xC4000083)[0] == 0x84000061:
        got = hv.notification_info_get(clause="NOTIF-4")
        expect_success(
            "A.3 FFA_NOTIFICATION_INFO_GET_64", got, 0x80, x1=0, x3=0x4, x4=0, x5=0, x6=0, x7=0, wide=True, clause="NOTIF-4"
        )
        expect_error("A.3 again", hv.notification_info_get(clause="NOTIF-4"), "NO_DATA", clause="NOTIF-4")
    # A.4, A.5
    got = hv.run(S3, clause="RUN-2")
    r = slots(hv, S3)
    expect("A.4 services3's FFA_MSG_WAIT returned (resumed)", len(r) > 2, True, clause="WAIT-6")
    expect_x0("A.4 services3's FFA_MSG_WAIT, resumed", r[2][:8], 0x8400006D, clause="WAIT-6")
    expect("A.4 services3's second FFA_MSG_WAIT returned at once", len(r) > 3, True, clause="WAIT-3")
    expect_x0("A.4 services3's FFA_MSG_WAIT again: at once", r[3][:8], 0x8400006D, clause="WAIT-3")
    expect("A.5 services3 yields: FFA_RUN's w0, w1", _w01(got), (0x8400006C, 0x00040000), clause="RUN-2")
    expect_success("A.4 services3's FFA_NOTIFICATION_GET(4, 0xC)", r[4][:8], x7=0x1, clause="NOTIF-1")
    expect("A.4 services3's RX @8 (offset)", r[5][2], 0x18, clause="HDR-3")
    expect("A.4 services3's RX @12 (sender 1)", r[5][3], 0x00010004, clause="HDR-4")
    expect("A.4 services3's RX @16 (size)", r[5][4], 0xFE8, clause="HDR-5")
    expect("A.4 services3's RX payload bytes 0..7", r[5][5], int.from_bytes(PAYLOAD_A[:8], "little"), clause="SEND-16")
    expect_error("A.4 services3's FFA_RX_RELEASE(x1 = 0x4)", r[6][:8], "INVALID_PARAMETERS", clause="REL-3")
    expect_success("A.4 services3's FFA_RX_RELEASE(0)", r[7][:8], clause="REL-1")
    expect_error("A.4 services3's FFA_RX_RELEASE again", r[8][:8], "DENIED", clause="REL-2")
    expect_success("A.5 services3's FFA_MSG_SEND2", r[11][:8], clause="SEND-16")
    # A.6
    expect_success(
        "A.6 the primary's FFA_NOTIFICATION_GET(0x1, 0xC)", hv.notification_get(1, clause="NOTIF-1"), x7=0x1, clause="NOTIF-1"
    )
    head, payload = hv.read_message()
    word = int.from_bytes(hv.recv_page(16)[12:16], "little")
    expect("A.6 the primary's RX @8 (offset)", head[2], 0x14, clause="HDR-3")
    expect("A.6 the primary's RX @12 (sender 4)", word, 0x00040001, clause="HDR-4")
    expect("A.6 the primary's RX @16 (size)", head[5], 8, clause="HDR-5")
    expect("A.6 the primary's RX payload", payload, b"SVC->PVM", clause="SEND-16")
    expect_success("A.6 the primary's FFA_RX_RELEASE", hv.rx_release(clause="REL-1"), clause="REL-1")
    expect_error("A.6 the primary's FFA_RX_RELEASE again", hv.rx_release(clause="REL-2"), "DENIED", clause="REL-2")


@pytest.mark.clause("SEND-16", "WAIT-3", "WAIT-6", "NOTIF-1", "REL-1", "REL-2", "REL-3", "RUN-2", "HDR-4")
def test_example_a_one_message_each_way(boot):
    hv = _system(boot, *A_S3)
    _example_a(hv)


@pytest.mark.clause("WAIT-2", "WAIT-3", "RUN-2", "SEND-16", "NOTIF-1")
def test_example_b_waiting_on_a_message_already_read(boot):
    hv = _system(boot, *A_S3, *B_S3)
    _example_a(hv)
    # B.7
    expect_success('B.7 FFA_MSG_SEND2 "MESSAGE2"', send(hv, 1, S3, b"MESSAGE2", clause="SEND-16"), clause="SEND-16")
    got = hv.run(S3, clause="RUN-2")
    for _ in range(2):  # a build that releases and waits at B.8's second wait (WAIT-8) stops there first
        if got[0] & 0xFFFF_FFFF != FFA_MSG_WAIT:
            break
        got = hv.run(S3, clause="RUN-2")
    expect_x0("services3 reaches its end", got, FFA_YIELD, clause="RUN-2")
    r = slots(hv, S3)
    expect_success("B.7 services3's FFA_YIELD, resumed", r[12][:8], clause="RUN-2")
    # B.8
    expect_x0("B.8 services3's FFA_MSG_WAIT: at once", r[13][:8], FFA_RUN, clause="WAIT-3")
    expect_success("B.8 services3's FFA_NOTIFICATION_GET", r[14][:8], x7=0x1, clause="NOTIF-1")
    expect("B.8 services3's RX: offset, sender/receiver, size", r[15][2:5], (0x14, 0x00010004, 8), clause="HDR-4")
    expect("B.8 services3's RX payload", r[15][5], int.from_bytes(b"MESSAGE2", "little"), clause="SEND-16")
    expect_error("B.8 FFA_RX_RELEASE after the second wait: that wait released the buffer", r[20][:8], "DENIED", clause="WAIT-2")
    expect_success("then the primary's FFA_MSG_SEND2 to 4", send(hv, 1, S3, b"MESSAGE3", clause="WAIT-2"), clause="WAIT-2")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-15", "CONV-8", "REL-4", "WAIT-7")
def test_example_a_as_observed_on_hafnium(boot):
    """A with the literal values of the text: x1 = 0xFFFFFFFF0000FFFF and flags in A.2, the early
    releases of A.4 and A.6, FFA_RUN_32's w1 (only those steps are checked)."""
    steps: list[p.Step] = [
        p.msg_wait(),
        p.rx_release(),
        p.msg_wait(),
        p.notification_get(S3),
        p.ReadRx(),
        p.rx_release(),
        p.yield_(),
    ]
    hv = _system(boot, *steps)
    hv.run(S3, clause="WAIT-7")
    hv.write_send_page(page(1, S3, PAYLOAD_A, offset=0x18, flags=0xA5A5A5A5, reserved=0x5A5A5A5A))
    got = hv.ffa(0x84000086, 0xFFFF_FFFF_0000_FFFF, 0)
    note_c8 = "CONV-8 (D13): Hafnium ignores x1[63:32] and w1[15:0] of FFA_MSG_SEND2"
    expect("A.2 FFA_MSG_SEND2(x1 = 0xFFFFFFFF0000FFFF) with flags: x0", got[0], 0x84000061, note_c8, clause="CONV-8")
    hv.run(S3, clause="WAIT-7")
    r = slots(hv, S3)
    note_w7 = "WAIT-7 (D14): Hafnium: 0 on resumption, own ID at once; its comment: ID<<16 | vCPU"
    expect("A.4 services3's FFA_MSG_WAIT, resumed: x0, x1", r[2][:2], (0x8400006D, 0), note_w7, clause="WAIT-7")
    note_r4 = "REL-4 (D6): Hafnium refuses release before FFA_NOTIFICATION_GET; DEN0077A as cited: ownership only"
    expect("A.4 services3's early FFA_RX_RELEASE: x0, x2", (r[3][0], r[3][2]), (0x84000060, 0xFFFFFFFA), note_r4, clause="REL-4")
    expect("A.4 services3's FFA_MSG_WAIT at once: x0, x1", r[4][:2], (0x8400006D, 0x4), note_w7, clause="WAIT-7")
    note_s15 = "SEND-15 (D7): Hafnium delivers non-zero flags/reserved; DEN0077A as cited: MBZ (ACS-1.1: INVALID_PARAMETERS)"
    expect("A.4 services3's RX @0, @4", r[6][:2], (0xA5A5A5A5, 0x5A5A5A5A), note_s15, clause="SEND-15")


@pytest.mark.clause("SEND-1", "SEND-2", "SEND-3", "SEND-4", "SEND-5", "SEND-7", "SEND-11", "SEND-12", "SEND-13")
def test_example_e_send_errors(boot):
    hv = _system(boot, p.msg_wait())
    expect_x0("FFA_RUN(0x00040000): services3 waits", hv.run(S3, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    ok = b"E-valid!"
    # (what, clause, FFA_MSG_SEND2 result): each case breaks one rule of an otherwise valid message.
    cases: list[tuple[str, str, Callable[[], Regs]]] = [
        ("x1 = 0x10000", "SEND-1", lambda: send(hv, 1, S3, ok, w1=0x10000)),
        ("header sender 2", "SEND-3", lambda: send(hv, 2, S3, ok)),
        ("receiver 1 (itself)", "SEND-4", lambda: send(hv, 1, 1, ok)),
        ("x2 = 1", "SEND-5", lambda: send(hv, 1, S3, ok, w2=1)),
        ("x2 = 2", "SEND-5", lambda: send(hv, 1, S3, ok, w2=2)),
        ("receiver 0x0010", "SEND-7", lambda: send(hv, 1, 0x0010, ok)),
        ("receiver 0x0000", "SEND-7", lambda: send(hv, 1, 0x0000, ok)),
        ("offset 16", "SEND-11", lambda: send(hv, 1, S3, offset=16, size=8)),
        ("offset 19", "SEND-11", lambda: send(hv, 1, S3, offset=19, size=8)),
        ("offset 20, size 0xFFFFFFF0", "SEND-12", lambda: send(hv, 1, S3, size=0xFFFF_FFF0)),
        ("offset 20, size 4077", "SEND-13", lambda: send(hv, 1, S3, size=4077)),
    ]
    for what, clause, call in cases:
        got = call()
        expect(f"E: {what}: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFE), clause=clause)
    expect_success("FFA_RXTX_UNMAP", hv.rxtx_unmap(clause="MAP-6"), clause="MAP-6")
    got = hv.msg_send2(clause="SEND-2")
    expect("E: after FFA_RXTX_UNMAP: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFA), clause="SEND-2")


@pytest.mark.clause("SEND-10")
def test_example_e_v1_0_sender(boot):
    hv = boot(program("idle"), program("idle"), script(*p.setup(), p.msg_wait()))
    primary_v1_1(hv, version=V1_0)
    expect_x0("FFA_RUN(0x00040000): services3 maps and waits", hv.run(S3, clause="WAIT-6"), FFA_MSG_WAIT, clause="WAIT-6")
    got = send(hv, 1, S3, b"E-valid!")
    expect("E: a v1.0 primary, receiver mapped and free: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFF), clause="SEND-10")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-6")
def test_example_e_sp_receivers(boot):
    hv = _system(boot, p.msg_wait())
    hv.run(S3, clause="SEND-6")
    note = "SEND-6: forwarded to EL3; with no EL3 firmware (QEMU) x0 = -1, x1 = 0x10000 (environment-dependent)"
    for receiver in (0x8001, 0xFFFF):
        got = send(hv, 1, receiver, b"E-valid!")
        expect(f"E: receiver {receiver:#x}: x0, x1", (got[0], got[1]), (MINUS_ONE, 0x10000), note, clause="SEND-6")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-22")
def test_example_e_v1_0_sender_other_errors(boot):
    hv = boot(program("idle"), program("idle"), script(*p.setup(), p.msg_wait()))
    primary_v1_1(hv, version=V1_0)
    note = "SEND-22 (D11): Hafnium checks a v1.0 sender's version after SEND-1..9; DEN0077A read as NOT_SUPPORTED"
    got = send(hv, 1, S3, b"E-valid!")
    expect("E v1.0: receiver not yet mapped: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFC), note, clause="SEND-22")
    got = send(hv, 2, S3, b"E-valid!")
    expect("E v1.0: header sender 2: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFE), note, clause="SEND-22")
    got = send(hv, 1, S3, b"", offset=16, size=8)
    expect("E v1.0: offset 16, receiver not mapped: x0, x2", (got[0], got[2]), (0x84000060, 0xFFFFFFFC), note, clause="SEND-22")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-20", "WAIT-8")
def test_example_b_tail_and_rewait(boot):
    hv = _system(boot, *A_S3, *B_S3)
    hv.run(S3, clause="WAIT-8")
    hv.write_send_page(page(1, S3, PAYLOAD_A, offset=0x18))
    hv.msg_send2()
    hv.run(S3, clause="WAIT-8")
    hv.notification_get(1)
    hv.rx_release()
    send(hv, 1, S3, b"MESSAGE2")
    got = hv.run(S3, clause="WAIT-8")
    r = slots(hv, S3)
    rx = hv.session.read(S3_INDEX, hv.base(S3_INDEX) + 0x12000, 4096)
    note20 = "SEND-20: Hafnium zeroes the RX tail on delivery (FF-A v1.3 §4.10); v1.1 requires only the stated length"
    expect("B.8 services3's RX after MESSAGE2: bytes 28..4095", rx[28:], bytes(4068), note20, clause="SEND-20")
    note8 = "WAIT-8: Hafnium's re-wait on a read message returns at once (FFA_RUN_32, w1 = own ID); a build may release and wait"
    expect("B.8 FFA_RUN(4) after the re-wait: x0 (services3 went on to its end)", got[0], FFA_YIELD, note8, clause="WAIT-8")
    expect("B.8 services3's second FFA_MSG_WAIT: x0, x1", r[17][:2], (0x8400006D, 0x4), note8, clause="WAIT-8")
    expect("B.8 services3's FFA_NOTIFICATION_GET after it: x7", r[18][7], 0, note8, clause="WAIT-8")
    expect("B.8 services3's RX after it: still MESSAGE2", r[19][:6], r[15][:6], note8, clause="WAIT-8")


@pytest.mark.impl_defined
@pytest.mark.clause("MAP-5")
def test_example_b_store_to_rx(boot):
    hv = _system(boot, p.StoreRx(0, 0x5A), p.yield_())
    got = hv.run(S3, clause="MAP-5")
    r = slots(hv, S3)
    note = (
        "MAP-5 (D9): Hafnium maps RX read-only for its owner and injects a Data Abort into the VM (the guest's vector "
        "reports x0 = 0xFA017FA017); DEN0077A as cited requires only exclusive ownership (the store completes)"
    )
    expect(
        "B.9 services3's store to its RX buffer: the report after it (x0)",
        r[2][0] if len(r) > 2 else None,
        p.FAULT_MARKER,
        note,
        clause="MAP-5",
    )
    expect("services3 went on and yielded", got[0], FFA_YIELD, note, clause="MAP-5")


@pytest.mark.impl_defined
@pytest.mark.clause("SEND-21")
def test_example_b_empty_message_at_buffer_end(boot):
    hv = _system(boot, p.msg_wait())
    hv.run(S3, clause="SEND-21")
    got = send(hv, 1, S3, b"", offset=4096, size=0)
    note = "SEND-21: Hafnium accepts offset 4096, size 0 (services3's buffer free); DEN0077A text for this edge not available"
    expect("B.10 FFA_MSG_SEND2, offset 4096, size 0: x0", got[0], 0x84000061, note, clause="SEND-21")
