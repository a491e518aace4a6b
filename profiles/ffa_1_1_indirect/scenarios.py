"""The model-based scenarios of ``ffa-1.1-indirect``: Hypothesis strategies of scripted secondaries
and of the primary's calls, and :class:`IndirectMachine`, the state machine that boots random
systems and compares every value the build gives with :class:`~.model.Model`'s alternatives.

Every hypercall is a real ``hvc`` by guest code: the primary's through the Hv (its driver), the
secondaries' by the profile's scripted secondary (their results read back from its report slots).
A mismatch is a FAIL counted against the clause the model names; a value that takes the
specification's side of a DEVIATION clause (§14) is recorded and, if nothing else failed, reported
at the end as a DEVIATION of those clauses (never a MUST failure).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conformance.outcomes import ConformanceFailure
from conformance.protocol import Build
from profiles.ffa_1_1_indirect import model as m
from profiles.ffa_1_1_indirect.guests import script
from profiles.ffa_1_1_indirect.hv import Hv, boot
from profiles.ffa_1_1_indirect.model import Alt, Mismatch, Model, choose, hexs
from profiles.ffa_1_1_indirect.programs import RECV_PAGE, SEND_PAGE, Call, Fill, Header, ReadRx, Step

SECONDARY_MEMORY = 0x10_0000
#: The primary names its own pages only below base + 0x20000 (the library layout its driver follows).
PRIMARY_WINDOW = 0x2_0000
#: At most three secondaries (the reference setup of the text has three).
MAX_SECONDARIES = 3
#: x8..x17 of the primary's calls carry this pattern, to check CONV-5.
PATTERN = 0x5A5A_0000_0000_0000

# --- strategies -------------------------------------------------------------------------------------

#: One condition of FFA_MSG_SEND2 broken at a time (§0: a MUST clause is tested with only its own
#: condition violated), or none; the receiver's state may add SEND-9 on the way.
FAULTS = (
    *["none"] * 10,
    *("w1", "w2", "w2_sri", "forged", "self", "zero", "unknown", "sp", "offset16", "offset19", "gap"),
    *("size4077", "overflow", "full4076", "flags", "reserved", "end"),
)
faults = st.sampled_from(FAULTS)


@dataclass(frozen=True)
class Send:
    """The registers and header of one FFA_MSG_SEND2."""

    sender: int
    receiver: int
    size: int
    offset: int = 20
    flags: int = 0
    reserved: int = 0
    w1: int = 0
    w2: int = 0


def send_params(fault: str, own: int, to: int, size: int, other: int) -> Send:
    """A send from ``own`` to ``to`` of ``size`` bytes with ``fault`` (``other``: a partition that is
    neither, for a forged sender)."""
    base = Send(own, to, size)
    change: dict[str, dict[str, int]] = {
        "w1": {"w1": 0x10000},  # SEND-1
        "w2": {"w2": 1},  # SEND-5
        "w2_sri": {"w2": 2},  # SEND-5
        "forged": {"sender": other},  # SEND-3
        "self": {"receiver": own},  # SEND-4
        "zero": {"receiver": 0},  # SEND-7
        "unknown": {"receiver": 0x10},  # SEND-7
        "sp": {"receiver": 0x8001},  # SEND-6
        "offset16": {"offset": 16},  # SEND-11
        "offset19": {"offset": 19},  # SEND-11
        "gap": {"offset": 24},  # SEND-11: accepted
        "size4077": {"size": 4077},  # SEND-13
        "overflow": {"size": 0xFFFF_FFF0},  # SEND-12
        "full4076": {"size": 4076},  # SEND-13: the largest v1.1 message
        "flags": {"flags": 0xA5A5_A5A5},  # SEND-15
        "reserved": {"reserved": 0x5A5A_5A5A},  # SEND-15
        "end": {"offset": 4096, "size": 0},  # SEND-21
    }
    return dataclasses.replace(base, **change.get(fault, {}))


MAPS: list[tuple[tuple[str, int], tuple[str, int], int]] = [
    (("own", 0x10000), ("own", 0x11000), 1),
    (("own", 0x10000), ("own", 0x11000), 1),
    (("own", 0x10008), ("own", 0x11000), 1),  # MAP-2
    (("own", 0x10000), ("own", 0x10000), 1),  # MAP-3
    (("own", 0x10000), ("own", 0x11000), 0),  # MAP-2
    (("own", 0x10000), ("vm1", 0x11000), 1),  # MAP-4: another VM's memory
    (("far", 1 << 40), ("own", 0x11000), 1),  # MAP-4
]
FEATURES = [
    *(m.MSG_SEND2, m.RXTX_MAP_64, m.RUN, m.ERROR, m.ID_GET, m.INFO_GET_64, m.YIELD, m.RXTX_MAP_32),
    *(0xC4000086, 0x840000FF, 1, 2, 3, 4, 0x101),
]


def message(sender: int, receiver: int, size: int, offset: int, flags: int, seed: int, reserved: int = 0) -> bytes:
    """A TX buffer's first bytes: a v1.1 header (HDR-1..HDR-5) and up to ``size`` payload bytes
    at ``offset`` (as much as fits the page), zeros between."""
    words = (flags, reserved, offset, sender << 16 | receiver, size)
    n = max(0, min(size, m.PAGE - offset))
    data = bytearray(max(20, min(m.PAGE, offset + n)))
    data[offset : offset + n] = bytes((seed + 7 * i) & 0xFF for i in range(n))
    data[:20] = b"".join(w.to_bytes(4, "little") for w in words)
    return bytes(data)


@st.composite
def send_steps(draw: st.DrawFn, own: int, ids: Sequence[int]) -> list[Step]:
    to = draw(st.sampled_from([*ids, 1]))
    other = next(i for i in (1, *ids, 0x7F) if i not in (own, to))
    snd = send_params(draw(faults), own, to, draw(st.integers(0, 64)), other)
    header = Header(snd.sender, snd.receiver, snd.size, offset=snd.offset, flags=snd.flags, reserved=snd.reserved)
    fill = max(0, min(snd.size, m.PAGE - snd.offset))
    steps: list[Step] = [header]
    if fill:
        steps.append(Fill(fill, draw(st.integers(0, 255)), offset=snd.offset))
    steps.append(Call(m.MSG_SEND2, snd.w1, snd.w2))
    return steps


@st.composite
def script_steps(draw: st.DrawFn, own: int, ids: Sequence[int]) -> tuple[Step, ...]:
    """A secondary's script: FFA_VERSION first (VER-8 is not modelled), FFA_RXTX_MAP_64 mostly,
    then sends, waits, notification retrievals, releases, reads of RX, yields."""
    version = draw(st.sampled_from([m.V1_1] * 6 + [m.V1_2, m.V1_0]))
    steps: list[Step] = [Call(m.VERSION, version)]
    if draw(st.sampled_from([True] * 9 + [False])):
        steps.append(Call(m.RXTX_MAP_64, SEND_PAGE, RECV_PAGE, 1))
    others = [i for i in ids if i != own]
    n = draw(st.integers(2, 14))
    receive: list[Step] = [Call(m.MSG_WAIT), Call(m.NOTIFICATION_GET, own, 0xC), ReadRx(), Call(m.RX_RELEASE)]
    kinds = ["send", "send", "receive", "receive", "wait", "get", "release", "read", "yield", "misc"]
    for _ in range(n):
        kind = draw(st.sampled_from(kinds))
        if kind == "receive":  # the usual receipt: wait, retrieve (NOTIF-2), read, release (REL-1)
            steps += receive
        elif kind == "send":
            steps += draw(send_steps(own, others or [1]))
        elif kind == "wait":
            # (0, 1): w2 bit 0 is v1.2's retain-RX flag (outside this profile, §17): only from v1.1 and v1.0
            args = draw(st.sampled_from([(), (), (), (0, 0, 1), (1,)] + ([(0, 1)] if version != m.V1_2 else [])))
            a = (*args, 0, 0, 0)
            steps.append(Call(m.MSG_WAIT, a[0], a[1], a[2]))
        elif kind == "get":
            steps.append(Call(m.NOTIFICATION_GET, own, draw(st.sampled_from([0xC, 0xC, 0x8, 0x4, 0x2, 0x10]))))
        elif kind == "release":
            steps.append(Call(m.RX_RELEASE, draw(st.sampled_from([0, 0, 0, own]))))
        elif kind == "read":
            steps.append(ReadRx())
        elif kind == "yield":
            steps.append(Call(m.YIELD))
        else:
            steps.append(
                draw(
                    st.sampled_from(
                        [
                            Call(m.ID_GET),
                            Call(m.FEATURES, m.MSG_SEND2),
                            Call(m.FEATURES, m.INFO_GET_64),
                            Call(m.RUN, 1 << 16),  # RUN-1: DENIED
                            Call(m.RXTX_UNMAP),
                            Call(m.RXTX_MAP_64, SEND_PAGE, RECV_PAGE, 1),
                        ]
                    )
                )
            )
    steps += receive * draw(st.integers(0, 8))  # then receipts, so that the primary's messages land
    return tuple(steps)


@st.composite
def systems(draw: st.DrawFn) -> list[tuple[Step, ...]]:
    n = draw(st.integers(1, MAX_SECONDARIES))
    ids = [m.PRIMARY_ID + 1 + i for i in range(n)]  # ID-3
    return [draw(script_steps(own, ids)) for own in ids]


# --- the state machine --------------------------------------------------------------------------------


class IndirectMachine(RuleBasedStateMachine):
    """One system of the build under test next to the model, driven by the primary's rules."""

    def __init__(self, build: Build, counts: dict[str, int]) -> None:
        super().__init__()
        self.build = build
        self.counts = counts
        self.hv: Hv | None = None
        self.model: Model | None = None
        self.log: list[str] = []
        self.failed = False

    # --- plumbing -----------------------------------------------------------------------------

    def scenario(self) -> str:
        assert self.model is not None
        lines = ["scenario (shrunk by Hypothesis):", *self.model.describe_scripts(), "primary:"]
        return "\n".join(lines + [f"  {line}" for line in self.log])

    def fail(self, mismatch: Mismatch) -> None:
        self.failed = True
        raise ConformanceFailure(
            f"{mismatch.what} ({mismatch.clause})",
            mismatch.expected,
            mismatch.actual,
            "\n" + self.scenario(),
            clause=mismatch.clause,
        )

    def decide(self, what: str, alts: list[Alt], regs: Sequence[int]) -> Alt:
        assert self.model is not None
        self.log[-1] += f" -> {hexs(regs[:8])}"
        try:
            return choose(what, alts, regs, self.model.deviations)
        except Mismatch as e:
            self.fail(e)
            raise

    def primary(self, what: str, *args: int) -> Alt:
        """The primary makes one call (x8..x17 set to a pattern); its x0..x7 are compared with the
        model's alternatives, x8..x17 with the pattern (CONV-5)."""
        assert self.hv is not None and self.model is not None
        self.log.append(f"{what}: x0..={hexs(args)}")
        self.counts["calls"] += 1
        alts = self.model.primary_call(*args)
        extra = {n: PATTERN | n for n in range(8, 18)}
        regs = self.hv.ffa_regs(*args, extra=extra, clause=alts[0].clause)
        alt = self.decide(what, alts, regs)
        for n in range(8, 18):
            if regs[n] != PATTERN | n:
                self.fail(Mismatch(f"{what}: x{n}", hex(PATTERN | n), hex(regs[n]), "CONV-5"))
        return alt

    # --- boot -----------------------------------------------------------------------------------

    @initialize(
        scripts=systems(),
        requests=st.lists(st.sampled_from([m.V1_0, m.V1_2, 0x00010004, 0x00020000, 0x80010001]), max_size=2),
        version=st.sampled_from([m.V1_1] * 8 + [m.V1_0, m.V1_2]),
        mapped=st.sampled_from([True] * 9 + [False]),
    )
    def boot(self, scripts: list[tuple[Step, ...]], requests: list[int], version: int, mapped: bool) -> None:
        guests = [script(*s, memory=SECONDARY_MEMORY, name=f"script{i + 1}.S") for i, s in enumerate(scripts)]
        self.hv = hv = boot(self.build, *guests)
        self.counts["systems"] += 1
        self.counts["steps"] += sum(len(s) for s in scripts)
        bases = [hv.base(vm) for vm in range(len(scripts) + 1)]
        self.model = Model(scripts, bases, [PRIMARY_WINDOW] + [SECONDARY_MEMORY] * len(scripts))
        for req in [*requests, version]:  # VER-4: the last compatible request before another call wins
            self.primary(f"FFA_VERSION({req:#x})", m.VERSION, req)
        if mapped:
            self.primary("FFA_RXTX_MAP_64(own TX, own RX)", m.RXTX_MAP_64, bases[0] + 0x10000, bases[0] + 0x11000, 1)
        else:
            self.primary("FFA_ID_GET", m.ID_GET)  # VER-4: negotiation ends (VER-7 is not modelled)

    def teardown(self) -> None:
        if self.hv is None:
            return
        try:
            if not self.failed:
                self.compare_buffers("at the end")
                self.report_deviations()
        finally:
            self.hv.session.close()
            self.hv = None

    def report_deviations(self) -> None:
        """The DEVIATION clauses whose specification side the build took (none on the reference)."""
        assert self.model is not None
        if self.model.deviations:
            clauses = tuple(dict.fromkeys(c.split(" ", 1)[0] for c, _ in self.model.deviations))
            seen = "; ".join(f"{c}: {w}" for c, w in self.model.deviations[:6])
            raise ConformanceFailure(
                "implementation-defined choices (§14)", "Hafnium's behaviour", seen, "\n" + self.scenario(), clause=clauses
            )

    # --- comparisons ------------------------------------------------------------------------------

    def compare_buffers(self, when: str) -> None:
        """Every mapped RX buffer's known bytes (SEND-16, PIG-6) and the secondaries' report counts."""
        assert self.hv is not None and self.model is not None
        for p in self.model.parts:
            if p.rx is None:
                continue
            actual = self.hv.session.read(p.index, p.rx, m.PAGE)
            diff = self.model.rx_difference(p, actual)
            if diff is not None:
                at, want, clause = diff
                self.fail(Mismatch(f"{when}: partition {p.id}'s RX byte @{at}", hex(want), hex(actual[at]), clause))
        for s in self.model.secondaries:
            extra = self.model.extra_reports(s.index, self.hv.reports(s.index))
            if extra is not None:
                self.fail(extra)

    # --- the primary's rules ------------------------------------------------------------------------

    def _id(self, pick: int) -> int:
        assert self.model is not None
        return self.model.secondaries[pick % len(self.model.secondaries)].id

    @rule(
        pick=st.integers(0, 3),
        fault=faults,
        size=st.integers(0, 64),
        seed=st.integers(0, 255),
        remap=st.sampled_from([True] * 4 + [False]),
    )
    def send(self, pick: int, fault: str, size: int, seed: int, remap: bool = False) -> None:
        assert self.hv is not None and self.model is not None
        if remap and self.model.primary.tx is None:
            self.map_(MAPS[0])
        to = self._id(pick)
        other = self._id(pick + 1) if len(self.model.secondaries) > 1 else 0x7F
        snd = send_params(fault, 1, to, size, other)
        data = message(snd.sender, snd.receiver, snd.size, snd.offset, snd.flags, seed, snd.reserved)
        self.hv.write_send_page(data)
        self.model.write_tx(data)
        what = f"write message {snd.sender:#x}->{snd.receiver:#x} size {snd.size:#x} offset {snd.offset} ({fault}); FFA_MSG_SEND2"
        self.primary(what, m.MSG_SEND2, snd.w1, snd.w2)

    @rule(pick=st.integers(0, 3))
    def run(self, pick: int) -> None:
        self._run(self._id(pick) << 16)

    @rule(pick=st.integers(0, 3))
    def run_again(self, pick: int) -> None:
        self._run(self._id(pick) << 16)

    @rule(pick=st.integers(0, 3), size=st.integers(0, 64), seed=st.integers(0, 255), then_run=st.booleans())
    def exchange(self, pick: int, size: int, seed: int, then_run: bool) -> None:
        """A valid message to a secondary (SEND-16), then (mostly) a run of it."""
        self.send(pick, "none", size, seed, remap=True)
        if then_run:
            self._run(self._id(pick) << 16)

    @rule(release=st.booleans())
    def drain(self, release: bool) -> None:
        """The primary retrieves its RX-full notification (NOTIF-2) and releases its buffer (REL-1)."""
        self.notification_get(0xC)
        if release:
            self.release(0)

    def run_odd(self, w1: int) -> None:
        self._run(w1)

    def _run(self, w1: int) -> None:
        assert self.hv is not None and self.model is not None
        hv, model = self.hv, self.model
        self.log.append(f"FFA_RUN({w1:#x}) through FFA_INTERRUPT")
        self.counts["calls"] += 1
        self.counts["runs"] += 1
        regs = hv.run(w1 >> 16, w1 & 0xFFFF, clause="RUN-2")
        try:
            alts = model.run(w1, lambda index: hv.reports(index))
        except Mismatch as e:
            self.log[-1] += f" -> {hexs(regs[:8])}"
            self.fail(e)
            raise
        self.decide(f"FFA_RUN({w1:#x})", alts, regs)
        self.compare_buffers(f"after FFA_RUN({w1:#x})")

    def release(self, w1: int) -> None:
        self.primary(f"FFA_RX_RELEASE({w1:#x})", m.RX_RELEASE, w1)

    def notification_get(self, flags: int) -> None:
        self.primary(f"FFA_NOTIFICATION_GET(1, {flags:#x})", m.NOTIFICATION_GET, 1, flags)

    def info_get(self) -> None:
        self.primary("FFA_NOTIFICATION_INFO_GET_64", m.INFO_GET_64)

    def partition_info_get(self, flags: int, uuid: tuple[int, int, int, int]) -> None:
        assert self.hv is not None and self.model is not None
        alt = self.primary(f"FFA_PARTITION_INFO_GET({uuid}, {flags:#x})", m.PARTITION_INFO_GET, *uuid, flags)
        if alt.regs[0] == m.SUCCESS and not flags & 1 and self.model.primary.rx is not None:
            size = alt.regs[3] or 0
            data = self.hv.session.read(0, self.model.primary.rx, m.PAGE)
            bad = self.model.descriptor_properties_ok(self.model.primary, data, size)
            if bad:
                self.fail(Mismatch("partition descriptors: properties bits 31:11", 0, "; ".join(bad), "PIG-6"))
            self.compare_buffers("after FFA_PARTITION_INFO_GET")

    def map_(self, pages: tuple[tuple[str, int], tuple[str, int], int]) -> None:
        assert self.hv is not None
        (k1, o1), (k2, o2), n = pages

        def addr(kind: str, off: int) -> int:
            assert self.hv is not None
            return off if kind == "far" else self.hv.base(1 if kind == "vm1" else 0) + off

        self.primary(f"FFA_RXTX_MAP_64({k1}+{o1:#x}, {k2}+{o2:#x}, {n})", m.RXTX_MAP_64, addr(k1, o1), addr(k2, o2), n)

    def unmap(self, w1: int) -> None:
        self.primary(f"FFA_RXTX_UNMAP({w1:#x})", m.RXTX_UNMAP, w1)

    def features(self, function: int, w2: int) -> None:
        self.primary(f"FFA_FEATURES({function:#x}, {w2:#x})", m.FEATURES, function, w2)

    def id_get(self) -> None:
        self.primary("FFA_ID_GET", m.ID_GET)

    def version(self, req: int) -> None:
        self.primary(f"FFA_VERSION({req:#x}) after negotiation", m.VERSION, req)

    def msg_wait(self, args: tuple[int, ...]) -> None:
        self.primary(f"FFA_MSG_WAIT{args}", m.MSG_WAIT, *args)

    def unhandled(self, function: int) -> None:
        self.primary(f"{function:#x} (not handled)", function, 0x11, 0x22, 0x33)

    @rule(data=st.data())
    def other_call(self, data: st.DataObject) -> None:
        """One of the primary's other calls, with its arguments drawn."""
        d = data.draw
        kinds = [
            "run_odd",
            "release",
            "get",
            "info",
            "pig",
            "pig",
            "map",
            "unmap",
            "features",
            "all_features",
            "id",
            "version",
            "wait",
            "unhandled",
        ]
        kind = d(st.sampled_from(kinds))
        if kind == "run_odd":
            self.run_odd(d(st.sampled_from([0x10000, 0x7F0000, 0x0, 0x20001])))
        elif kind == "release":
            self.release(d(st.sampled_from([0, 0, 0, 1])))
        elif kind == "get":
            self.notification_get(d(st.sampled_from([0xC, 0xC, 0x8, 0x4, 0x2, 0x10])))
        elif kind == "info":
            self.info_get()
        elif kind == "pig":
            self.partition_info_get(d(st.sampled_from([0, 0, 1, 2])), d(st.sampled_from([(0, 0, 0, 0)] * 4 + [(1, 2, 3, 4)])))
        elif kind == "map":
            self.map_(d(st.sampled_from(MAPS)))
        elif kind == "unmap":
            self.unmap(d(st.sampled_from([0, 0, 0x10000])))
        elif kind == "features":
            self.features(d(st.sampled_from(FEATURES)), d(st.sampled_from([0, 0, 0, 1])))
        elif kind == "all_features":
            for function in FEATURES:
                self.features(function, 0)
        elif kind == "id":
            self.id_get()
        elif kind == "version":
            self.version(d(st.sampled_from([m.V1_1, m.V1_0, m.V1_2, 0x80010001])))
        elif kind == "wait":
            self.msg_wait(d(st.sampled_from([(), (0, 1), (0, 0, 1)])))
        else:
            self.unhandled(d(st.sampled_from([0x840000FF, 0xC4000069, 0x84000066])))

    @invariant()
    def booted(self) -> None:
        assert self.hv is not None
