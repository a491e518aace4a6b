"""The ``ffa-1.1-indirect`` calls by name, as a conformance test makes them from the primary.

Function IDs are literals copied from ``spec.md`` (ID-1; FEAT-5, VER-4 for the others), on
purpose not taken from ``abi.py``: a wrong number there cannot hide from the suite.

An FF-A result is eight registers (CONV-1, CONV-3): every call here returns x0..x7 as a tuple
(:meth:`Hv.ffa`), or x0..x30 (:meth:`Hv.ffa_regs`) to check what the call preserved (CONV-5:
x8..x17 keep the caller's values). Arguments beyond x3 go through the driver's block like any
other register: every call is still one real ``hvc`` (or ``smc``) executed by the primary.

``program()`` and ``script()`` (secondaries running this profile's guest programs) are
:mod:`profiles.ffa_1_1_indirect.guests`'s, offered here too.
"""

from __future__ import annotations

from collections.abc import Mapping

from conformance import harness
from conformance.harness import RECV_PAGE, SEND_PAGE, YIELD_LIMIT
from conformance.outcomes import ClauseArg, ConformanceFailure
from conformance.protocol import Build, CallOutcome, GuestVM
from profiles.ffa_1_1_indirect import decode
from profiles.ffa_1_1_indirect.guests import program, script

__all__ = ["Hv", "boot", "program", "script"]

# ID-1
FFA_ERROR_32 = 0x84000060
FFA_SUCCESS_32 = 0x84000061
FFA_SUCCESS_64 = 0xC4000061
FFA_INTERRUPT = 0x84000062
FFA_VERSION = 0x84000063
FFA_FEATURES = 0x84000064
FFA_RX_RELEASE = 0x84000065
FFA_RXTX_MAP_32 = 0x84000066
FFA_RXTX_MAP_64 = 0xC4000066
FFA_RXTX_UNMAP = 0x84000067
FFA_PARTITION_INFO_GET = 0x84000068
FFA_ID_GET = 0x84000069
FFA_MSG_WAIT = 0x8400006B
FFA_YIELD = 0x8400006C
FFA_RUN = 0x8400006D
FFA_NOTIFICATION_GET = 0x84000082
FFA_NOTIFICATION_INFO_GET_32 = 0x84000083
FFA_NOTIFICATION_INFO_GET_64 = 0xC4000083
FFA_RX_ACQUIRE = 0x84000084
FFA_SPM_ID_GET = 0x84000085
FFA_MSG_SEND2 = 0x84000086
# FEAT-5 (D4), VER-4
FFA_MSG_SEND_32 = 0x8400006E
FFA_MSG_POLL_32 = 0x8400006A
FFA_CONSOLE_LOG_32 = 0x8400008A

#: §0 notation: "v1.1 = 0x00010001" (ID-4), the version every test negotiates first.
V1_1 = 0x00010001
#: NOTIF-2: flags bit 2 SPM framework | bit 3 hypervisor framework (the probes' 0xC).
FRAMEWORK_FLAGS = 0xC

Regs = tuple[int, ...]


def boot(build: Build, *guests: GuestVM, time_slice: int = 10_000, fault_policy: str = "stop") -> Hv:
    """:func:`conformance.harness.boot` for this profile (tests that boot inside Hypothesis examples)."""
    from profiles.ffa_1_1_indirect import PROFILE

    hv = harness.boot(build, PROFILE, *guests, time_slice=time_slice, fault_policy=fault_policy)
    assert isinstance(hv, Hv)
    return hv


def interrupts_exhausted(what: str, clause: ClauseArg) -> ConformanceFailure:
    """The failure of a run that answered FFA_INTERRUPT :data:`YIELD_LIMIT` times in a row."""
    return ConformanceFailure(
        f"{what} through FFA_INTERRUPTs",
        f"a result other than FFA_INTERRUPT within {YIELD_LIMIT} runs (RUN-3: a preempted vCPU resumes where it was)",
        f"FFA_INTERRUPT 0x84000062, {YIELD_LIMIT} times in a row",
        clause=clause,
    )


class Hv(harness.Hv):
    """One system of the build under test, with this profile's calls by name."""

    # --- raw FF-A calls ---------------------------------------------------------------------

    def call_outcome(
        self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, regs: Mapping[int, int] | None = None, insn: str = "hvc #0"
    ) -> CallOutcome:
        """As the shared harness, with the call log line showing x4..x7 and the whole x0..x7 result."""
        outcome = super().call_outcome(x0, x1, x2, x3, regs=regs, insn=insn)
        more = "".join(f" x{n}={v:#x}" for n, v in sorted((regs or {}).items()) if n <= 7 and v)
        shown = f"{insn} {self.profile.call_name(x0)} x1={x1:#x} x2={x2:#x} x3={x3:#x}{more}"
        self.log[-1] = f"{shown} -> {decode.result(outcome.regs[:8])}" if outcome.regs else f"{shown} -> stopped"
        return outcome

    def ffa_regs(
        self, x0: int, *args: int, extra: Mapping[int, int] | None = None, insn: str = "hvc #0", clause: ClauseArg = None
    ) -> Regs:
        """x0..x30 after the call ``x0(x1, x2, ...)`` (up to x7 positionally); ``extra`` sets
        further registers (x8..x30, e.g. a pattern to check CONV-5 against)."""
        if len(args) > 7:
            raise ValueError(f"{len(args)} arguments: an FF-A call has x1..x7")
        x = (*args, 0, 0, 0)[:3] if len(args) < 3 else args[:3]
        regs = {n: v for n, v in enumerate(args[3:], 4)}
        regs.update(extra or {})
        return self.call_regs(x0, x[0], x[1], x[2], regs=regs or None, insn=insn, clause=clause)

    def ffa(self, x0: int, *args: int, insn: str = "hvc #0", clause: ClauseArg = None) -> Regs:
        """x0..x7 after the call ``x0(x1, x2, ...)``: an FF-A result (CONV-1)."""
        return self.ffa_regs(x0, *args, insn=insn, clause=clause)[:8]

    # --- the calls by name -------------------------------------------------------------------

    def version(self, requested: int = V1_1, *, x1_high: int = 0, clause: ClauseArg = None) -> int:
        """FFA_VERSION(w1 = requested): x0, the version word or NOT_SUPPORTED (§3, not wrapped in
        FFA_SUCCESS). ``x1_high`` sets x1[63:32] (CONV-8)."""
        return self.ffa(FFA_VERSION, x1_high << 32 | requested, clause=clause)[0]

    def id_get(self, *, clause: ClauseArg = None) -> Regs:
        return self.ffa(FFA_ID_GET, clause=clause)

    def features(self, function: int, w2: int = 0, *, clause: ClauseArg = None) -> Regs:
        """FFA_FEATURES(w1 = a function ID or a feature ID, w2 = input properties) (§5)."""
        return self.ffa(FFA_FEATURES, function, w2, clause=clause)

    def rxtx_map(self, tx: int | None = None, rx: int | None = None, pages: int = 1, *, clause: ClauseArg = None) -> Regs:
        """FFA_RXTX_MAP_64(x1 = TX, x2 = RX, w3 = pages) (§6); default: the library's pages in the
        primary's memory (TX = its send page, RX = its receive page)."""
        base = self.base(0)
        tx = base + SEND_PAGE if tx is None else tx
        rx = base + RECV_PAGE if rx is None else rx
        return self.ffa(FFA_RXTX_MAP_64, tx, rx, pages, clause=clause)

    def rxtx_unmap(self, w1: int = 0, *, clause: ClauseArg = None) -> Regs:
        return self.ffa(FFA_RXTX_UNMAP, w1, clause=clause)

    def partition_info_get(
        self, uuid: tuple[int, int, int, int] = (0, 0, 0, 0), flags: int = 0, *, clause: ClauseArg = None
    ) -> Regs:
        """FFA_PARTITION_INFO_GET(w1..w4 = UUID, w5 = flags) (§7): w2 = count, w3 = descriptor size."""
        return self.ffa(FFA_PARTITION_INFO_GET, *uuid, flags, clause=clause)

    def msg_send2(self, w1: int = 0, w2: int = 0, *, clause: ClauseArg = None) -> Regs:
        """FFA_MSG_SEND2 (§9): the message is the header and payload in the primary's TX buffer."""
        return self.ffa(FFA_MSG_SEND2, w1, w2, clause=clause)

    def msg_wait(self, *args: int, clause: ClauseArg = None) -> Regs:
        """FFA_MSG_WAIT from the primary (WAIT-10: NOT_SUPPORTED)."""
        return self.ffa(FFA_MSG_WAIT, *args, clause=clause)

    def rx_release(self, w1: int = 0, *, clause: ClauseArg = None) -> Regs:
        return self.ffa(FFA_RX_RELEASE, w1, clause=clause)

    def yield_(self, *, clause: ClauseArg = None) -> Regs:
        return self.ffa(FFA_YIELD, clause=clause)

    def run_once(self, target: int, vcpu: int = 0, *, w1: int | None = None, clause: ClauseArg = None) -> Regs:
        """One FFA_RUN(w1 = target<<16 | vcpu) (RUN-1): its raw result, FFA_INTERRUPT included."""
        return self.ffa(FFA_RUN, target << 16 | vcpu if w1 is None else w1, clause=clause)

    def run(self, target: int, vcpu: int = 0, *, clause: ClauseArg = None, stop_clause: ClauseArg = None) -> Regs:
        """FFA_RUN again while it returns FFA_INTERRUPT (a preemption, RUN-3): the first other result.

        Bounded: after :data:`YIELD_LIMIT` FFA_INTERRUPTs in a row it fails, counted against
        ``clause``. ``stop_clause`` (default ``clause``): what a run that never returns counts against.
        """
        for _ in range(YIELD_LIMIT):
            result = self.ffa(FFA_RUN, target << 16 | vcpu, clause=stop_clause or clause)
            if result[0] != FFA_INTERRUPT:
                return result
        raise interrupts_exhausted(f"FFA_RUN({target:#x}, {vcpu:#x})", clause)

    def notification_get(self, receiver: int, vcpu: int = 0, flags: int = FRAMEWORK_FLAGS, *, clause: ClauseArg = None) -> Regs:
        """FFA_NOTIFICATION_GET(w1 = vCPU<<16 | receiver, w2 = flags) (NOTIF-2)."""
        return self.ffa(FFA_NOTIFICATION_GET, vcpu << 16 | receiver, flags, clause=clause)

    def notification_info_get(self, *, clause: ClauseArg = None) -> Regs:
        """FFA_NOTIFICATION_INFO_GET_64 (NOTIF-4)."""
        return self.ffa(FFA_NOTIFICATION_INFO_GET_64, clause=clause)

    # --- messages in the primary's buffers (§8) ----------------------------------------------

    def write_message(
        self,
        sender: int,
        receiver: int,
        payload: bytes = b"",
        *,
        offset: int = 20,
        size: int | None = None,
        flags: int = 0,
        reserved: int = 0,
    ) -> None:
        """Write a v1.1 header (HDR-1..HDR-5, little-endian u32s at 0, 4, 8, 12, 16) and ``payload``
        at ``offset`` into the primary's TX buffer (its library send page), zeros between them.
        ``size`` defaults to the payload's length."""
        size = len(payload) if size is None else size
        words = (flags, reserved, offset, sender << 16 | receiver, size)
        head = b"".join(w.to_bytes(4, "little") for w in words)
        data = bytearray(max(20, offset + len(payload)))
        data[offset : offset + len(payload)] = payload
        data[:20] = head  # an offset below 20 (SEND-11) overlaps: the header wins
        self.write_send_page(bytes(data))

    def read_message(self) -> tuple[tuple[int, int, int, int, int, int], bytes]:
        """The header in the primary's RX buffer as (flags, reserved, offset, sender, receiver,
        size) and the payload it points at (HDR-3, HDR-5; empty when it would leave the page)."""
        page = self.recv_page()
        flags, reserved, offset, ids, size = (int.from_bytes(page[i : i + 4], "little") for i in range(0, 20, 4))
        payload = page[offset : offset + size] if offset + size <= len(page) else b""
        return (flags, reserved, offset, ids >> 16, ids & 0xFFFF, size), payload
