"""What the messaging tests (§8..§12, §15) share: systems set up to a known state, and the report
slots of the library programs they boot. Each check names the clause whose rule it states; a
step that only prepares the state names the clause that says the step succeeds.

Partition IDs are Hafnium's (ID-3, as the suite assumes throughout): the primary is 1, the
secondary booted n-th is n + 1, at report index n (``hv.reports(n)``). Every literal here is
from the text (ID-1 function IDs, CONV-4 error codes, §8 header layout).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from conformance.harness import expect
from conformance.outcomes import ClauseArg, ConformanceFailure
from profiles.ffa_1_1_indirect.checks import ERRORS, FFA_SUCCESS_32, expect_error, expect_success, expect_x0
from profiles.ffa_1_1_indirect.hv import Hv

# ID-1
FFA_MSG_WAIT = 0x8400006B
FFA_YIELD = 0x8400006C
FFA_RUN = 0x8400006D
#: ID-4: v1.0 and v1.1, ID-3: the primary's partition ID (Hafnium's numbering).
V1_0 = 0x00010000
V1_1 = 0x00010001
V1_2 = 0x00010002
PRIMARY = 1
#: §3: FFA_VERSION's NOT_SUPPORTED (w0 = 0xFFFFFFFF, x0[63:32] = 0).
VERSION_NOT_SUPPORTED = 0xFFFF_FFFF
#: NOTIF-2: flags bit 2 (SPM framework) | bit 3 (hypervisor framework).
FRAMEWORK = 0xC

# The ``receiver`` program's report slots (programs/receiver.S, NOTIFY = RELEASE = 1): three for
# the setup (version, map, ID), then four per message: wait, notification get, read, release.
SETUP_SLOTS = 3
R_WAIT, R_NOTIF, R_READ, R_RELEASE = range(4)


def receiver_slot(message: int, step: int) -> int:
    """The report slot of ``step`` (R_WAIT ...) for the ``message``-th message (0-based) of ``receiver``."""
    return SETUP_SLOTS + 4 * message + step


def index(partition: int) -> int:
    """The report index (position in the system) of the partition with this ID (ID-3)."""
    return partition - 1


class Slots:
    """A partition's report slots (``hv.reports``) where a missing slot is a conformance failure
    (the program never got that far), not an IndexError."""

    def __init__(self, partition: int, reports: Sequence[tuple[int, ...]]) -> None:
        self.partition = partition
        self.reports = list(reports)

    def __len__(self) -> int:
        return len(self.reports)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return iter(self.reports)

    def __getitem__(self, n: int) -> tuple[int, ...]:
        if not -len(self.reports) <= n < len(self.reports):
            raise ConformanceFailure(
                f"partition {self.partition}'s report #{n}", f"at least {n + 1} reports", f"{len(self.reports)} reports"
            )
        return self.reports[n]


def slots(hv: Hv, partition: int) -> Slots:
    """The report slots of the partition with this ID (its program's observations, in order)."""
    return Slots(partition, hv.reports(index(partition)))


def hexs(regs: Sequence[int]) -> str:
    return ", ".join(f"x{n}={v:#x}" for n, v in enumerate(regs[:8]))


def primary_v1_1(hv: Hv, *, version: int = V1_1, map_rxtx: bool = True) -> None:
    """The primary negotiates ``version`` (VER-1: a compatible request is served) and maps its
    library pages as RX/TX (MAP-1)."""
    got = hv.version(version, clause="VER-1")
    expect(
        f"the primary's FFA_VERSION({version:#x}) is served",
        got != VERSION_NOT_SUPPORTED and got >> 16 == 1 and got & 0xFFFF >= version & 0xFFFF,
        True,
        f"VER-1: the callee's own version, same major, minor >= the request's; got {got:#x}",
        clause="VER-1",
    )
    if map_rxtx:
        expect_success("the primary's FFA_RXTX_MAP_64(its library pages, 1)", hv.rxtx_map(clause="MAP-1"), clause="MAP-1")


def run_until(hv: Hv, partition: int, x0: int, what: str, *, clause: ClauseArg, limit: int = 8) -> tuple[int, ...]:
    """FFA_RUN(partition, 0) until w0 = ``x0`` (FFA_MSG_WAIT or FFA_YIELD), at most ``limit`` runs
    (a yielding program is run on): the result."""
    result: tuple[int, ...] = ()
    for _ in range(limit):
        result = hv.run(partition, clause=clause)
        if result[0] & 0xFFFF_FFFF == x0:
            return result
        if result[0] & 0xFFFF_FFFF != FFA_YIELD:
            break
    raise ConformanceFailure(what, f"FFA_RUN returning {x0:#x}", hexs(result), "RUN-2", clause=clause)


def start_waiting(hv: Hv, partition: int, *, clause: ClauseArg = "WAIT-6") -> None:
    """Run a library program (receiver, echo, relay) through its setup into FFA_MSG_WAIT: the
    primary's FFA_RUN returns FFA_MSG_WAIT_32 with w1 = ID<<16 | 0 (WAIT-6, RUN-2)."""
    result = hv.run(partition, clause=clause)
    expect_x0(f"FFA_RUN({partition}): it sets up and waits", result, FFA_MSG_WAIT, "WAIT-6: w0 = FFA_MSG_WAIT_32", clause=clause)
    setup = slots(hv, partition)
    expect(f"partition {partition}'s setup reports", len(setup) >= SETUP_SLOTS, True, clause=clause)
    expect_success(f"partition {partition}'s FFA_RXTX_MAP_64", setup[1][:8], clause="MAP-1")
    expect_success(f"partition {partition}'s FFA_ID_GET", setup[2][:8], partition, clause="IDG-1")


def page(
    sender: int,
    receiver: int,
    payload: bytes = b"",
    *,
    offset: int = 20,
    size: int | None = None,
    flags: int = 0,
    reserved: int = 0,
    background: int | None = None,
) -> bytes:
    """A whole 4 KiB TX page: ``background`` (byte i = (background + i) & 0xff; None: zeros), the
    v1.1 header (HDR-1..HDR-5: u32s flags @0, reserved @4, offset @8, sender<<16 | receiver @12,
    size @16, little-endian) and ``payload`` at ``offset`` where it fits in the page. ``size``
    defaults to the payload's length; any u32 is written as given (SEND-12 overflows)."""
    size = len(payload) if size is None else size
    data = bytearray(4096) if background is None else bytearray((background + i) & 0xFF for i in range(4096))
    if offset + len(payload) <= 4096:
        data[offset : offset + len(payload)] = payload
    words = (flags, reserved, offset, sender << 16 | receiver, size)
    data[:20] = b"".join(w.to_bytes(4, "little") for w in words)
    return bytes(data)


def send(
    hv: Hv,
    sender: int,
    receiver: int,
    payload: bytes = b"",
    *,
    w1: int = 0,
    w2: int = 0,
    offset: int = 20,
    size: int | None = None,
    flags: int = 0,
    reserved: int = 0,
    background: int | None = None,
    clause: ClauseArg = None,
) -> tuple[int, ...]:
    """The primary writes :func:`page` to its TX buffer and calls FFA_MSG_SEND2(w1, w2): the result."""
    hv.write_send_page(
        page(sender, receiver, payload, offset=offset, size=size, flags=flags, reserved=reserved, background=background)
    )
    return hv.msg_send2(w1, w2, clause=clause)


def expect_sent(what: str, regs: Sequence[int], *, clause: ClauseArg = "SEND-16") -> None:
    """A send that must succeed: SUCCESS with x1..x7 = 0 (SEND-16). DENIED is the pair policy's
    answer (SEND-8, implementation-defined) and counted against it."""
    if regs[0] & 0xFFFF_FFFF != FFA_SUCCESS_32 and regs[2] & 0xFFFF_FFFF == ERRORS["DENIED"]:
        expect_success(what, regs, clause="SEND-8", note="SEND-8: this pair was refused (DENIED)")
    expect_success(what, regs, clause=clause)


def expect_refused(what: str, regs: Sequence[int], code: str, *, clause: ClauseArg) -> None:
    """ERROR(code), x2 zero-extended, x1, x3..x7 = 0 (CONV-4, CONV-5)."""
    expect_error(what, regs, code, clause=clause)


def header_word(sender: int, receiver: int) -> int:
    """HDR-4: the u32 @12, sender in bits 31:16, receiver in bits 15:0."""
    return sender << 16 | receiver


def u64(data: bytes) -> int:
    """The little-endian u64 of the first 8 bytes of ``data`` (zero-padded): what READ_RX_REPORT puts in x5."""
    return int.from_bytes(data[:8].ljust(8, b"\0"), "little")


def expect_read(
    what: str,
    report: Sequence[int],
    *,
    sender: int,
    receiver: int,
    size: int,
    payload: bytes,
    offset: int = 20,
    flags: int = 0,
    reserved: int = 0,
) -> None:
    """A ``ReadRx`` / ``receiver`` report of a delivered message: each header field against its
    HDR clause, the payload's first 16 bytes against SEND-16 (the copy is verbatim)."""
    expect(f"{what}: header @12 (sender<<16 | receiver)", report[3], header_word(sender, receiver), clause="HDR-4")
    expect(f"{what}: header @8 (payload offset)", report[2], offset, clause="HDR-3")
    expect(f"{what}: header @16 (payload size)", report[4], size, clause="HDR-5")
    expect(f"{what}: header @0 (flags)", report[0], flags, clause="HDR-1")
    expect(f"{what}: header @4 (reserved)", report[1], reserved, clause="HDR-2")
    # Only the payload's own bytes: what follows it in RX is SEND-20's (implementation-defined).
    for reg, part in ((5, payload[:8]), (6, payload[8:16])):
        if part:
            mask = (1 << 8 * len(part)) - 1
            expect(f"{what}: payload bytes at RX + offset + {8 * (reg - 5)}", report[reg] & mask, u64(part), clause="SEND-16")
