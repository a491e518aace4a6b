"""An abstract model of ``ffa-1.1-indirect``, written again from ``spec.md`` alone.

Pure Python, no emulator: partitions (the primary, ID 1, and scripted secondaries 2.. with one
vCPU each, ID-3), their version negotiation, RX/TX pairs, the RX buffer's ownership (§13), the
RX-full notification, the secondaries' vCPU states, and a byte model of every TX and RX buffer
(each byte known or unknown). The secondaries run the profile's *scripted secondary*
(:mod:`profiles.ffa_1_1_indirect.programs` steps), executed step by step.

It is the oracle of the model-based test (``tests/test_model.py``). It is a second reading of the
text, independent of the reference core (never imported): every number is a literal of
``spec.md`` with the clause that writes it, not taken from ``abi.py``.

**Predictions.** A call's prediction is a list of :class:`Alt` -- the results the text allows,
each with the clause whose rule gives it and the state change it implies. Most calls have one.
There are several where the text leaves a choice: the check order (§0: "the order itself is
implementation-defined", so with two violated checks either error is right), and every DEVIATION
clause (§14: Hafnium's behaviour first, the specification's as an alternative marked
``deviation``; a build taking it is reported, never failed). The build's value picks the
alternative; no alternative matching is a mismatch, counted against the clause of the first
alternative's register that differs (unassigned registers: CONV-5).

**Secondaries** are checked through their report slots: the model executes a script with the
build's reports in hand, so that an alternative chosen by the build (e.g. FFA_MSG_WAIT returning
at once, WAIT-8, or waiting) is followed. What a script's run ends with is predicted for the
primary's FFA_RUN.

Not modelled: interrupts (RUN-3: ``run`` means "through FFA_INTERRUPT"), vCPUs other than 0,
secure partitions beyond SEND-6's answer, multi-page buffers (§17), faults (MAP-5's store),
calls the text gives no result for (FFA_YIELD from the primary, FFA_NOTIFICATION_INFO_GET from a
secondary), and a secondary that has not called FFA_VERSION (VER-8: its version is the
implementation's; the scenarios start every script with FFA_VERSION).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from guest_asm.programs import Rel
from profiles.ffa_1_1_indirect.programs import Call, CopyRx, Fill, Header, Payload, ReadRx, Step, StoreRx, Wfi, pattern

# --- spec literals (clause in the comment) -----------------------------------------------------------
U32 = 0xFFFF_FFFF
U64 = 0xFFFF_FFFF_FFFF_FFFF
ERROR, SUCCESS, SUCCESS_64 = 0x84000060, 0x84000061, 0xC4000061  # ID-1, CONV-3
INTERRUPT, VERSION, FEATURES, RX_RELEASE = 0x84000062, 0x84000063, 0x84000064, 0x84000065  # ID-1
RXTX_MAP_32, RXTX_MAP_64, RXTX_UNMAP = 0x84000066, 0xC4000066, 0x84000067  # ID-1
PARTITION_INFO_GET, ID_GET, MSG_WAIT, YIELD, RUN = 0x84000068, 0x84000069, 0x8400006B, 0x8400006C, 0x8400006D  # ID-1
NOTIFICATION_GET, INFO_GET_32, INFO_GET_64 = 0x84000082, 0x84000083, 0xC4000083  # ID-1
RX_ACQUIRE, SPM_ID_GET, MSG_SEND2 = 0x84000084, 0x84000085, 0x84000086  # ID-1
MSG_SEND_32, MSG_POLL_32 = 0x8400006E, 0x8400006A  # FEAT-5 (D4)
NOT_SUPPORTED, INVALID_PARAMETERS, NO_MEMORY, BUSY = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFC  # CONV-4
DENIED, ABORTED, NO_DATA = 0xFFFFFFFA, 0xFFFFFFF8, 0xFFFFFFF7  # CONV-4
V1_0, V1_1, V1_2 = 0x00010000, 0x00010001, 0x00010002  # ID-4
OWN_VERSION = 0x00010003  # VER-1: the reference build's version
VERSION_NOT_SUPPORTED = 0xFFFFFFFF  # §3: w0, x0[63:32] = 0
SMCCC_UNKNOWN = U64  # SEND-6 (no EL3 firmware), CONV-9
PAGE = 4096  # §6: a page of the RX/TX pair; SEND-14: the reference's limit (4096)
HEADER_V1_1, HEADER_V1_2 = 20, 40  # HDR-7, SEND-11
DESCRIPTOR_HAFNIUM, DESCRIPTOR_V1_1, DESCRIPTOR_V1_0 = 0x30, 24, 8  # PIG-3
SP_BIT = 0x8000  # ID-2
PRIMARY_ID = 1  # ID-3 (Hafnium's numbering: the primary 1, then 2, 3, ... in boot order)
RX_FULL_BIT = 1  # NOTIF-1: bit 0 of w7
FLAG_SPM_FW, FLAG_HYP_FW, NOTIF_FLAGS_MBZ = 1 << 2, 1 << 3, 0xFFFF_FFF0  # NOTIF-2
PROPERTIES_V1_1_MBZ = 0xFFFF_F800  # PIG-6: bits 31:11
FEATURE_INTIDS = {0x1: 5, 0x2: 8, 0x3: 4}  # FEAT-6 (Hafnium's NPI, SRI, MEI)
FEATURE_NOTIFICATION = (0x4, 0x3)  # FEAT-7
#: FEAT-3: SUCCESS, w2 = 0, to the primary.
FEAT3 = (ERROR, SUCCESS, VERSION, FEATURES, RX_RELEASE, RXTX_UNMAP, PARTITION_INFO_GET, ID_GET, RUN, NOTIFICATION_GET)
#: CONV-7: only an SMC32 ID.
SMC32_ONLY = (MSG_SEND2, MSG_WAIT, RX_RELEASE, RUN, ID_GET, VERSION, FEATURES, PARTITION_INFO_GET, NOTIFICATION_GET)

# The scripted secondary's conventions (not ABI): its library pages, relative to its base.
LIB_SEND, LIB_RECV = 0x10000, 0x11000

EMPTY, FULL = "empty", "full"  # §13: the RX buffer
CREATED, RUNNING, READY, WAITING = "created", "running", "ready", "waiting"  # §13, RUN-5: a vCPU

Regs = tuple[int, ...]


@dataclass(frozen=True)
class Alt:
    """One result the text allows for a call: x0..x7 (None: not checked; ``masks``: the bits
    checked), the clause whose rule gives it (per register in ``clauses`` where another clause
    gives that register: CONV-5 for the unassigned ones), and what happens if the build gives it."""

    regs: tuple[int | None, ...]
    clause: str
    clauses: tuple[str, ...] = ()
    masks: tuple[int, ...] = ()
    apply: Callable[[], None] | None = None
    #: Taking this alternative is a DEVIATION of this clause (§14): the specification's behaviour.
    deviation: str = ""
    #: For a secondary's call: it leaves the CPU; the primary's FFA_RUN gets ``response``.
    switch: tuple[Alt, ...] = ()

    def clause_of(self, n: int) -> str:
        return (self.clauses[n] if n < len(self.clauses) else "") or self.clause

    def mask(self, n: int) -> int:
        return self.masks[n] if n < len(self.masks) else U64

    def matches(self, regs: Sequence[int]) -> bool:
        return all(e is None or (regs[n] ^ e) & self.mask(n) == 0 for n, e in enumerate(self.regs))

    def first_difference(self, regs: Sequence[int]) -> int | None:
        for n, e in enumerate(self.regs):
            if e is not None and (regs[n] ^ e) & self.mask(n):
                return n
        return None

    def then(self, apply: Callable[[], None] | None) -> Alt:
        return Alt(self.regs, self.clause, self.clauses, self.masks, apply, self.deviation, self.switch)


def ok(clause: str, assigned: dict[int, int | None] | None = None, *, wide: bool = False, x0_clause: str = "") -> Alt:
    """FFA_SUCCESS_32 (``wide``: _64) with ``assigned`` registers (x1..x7; None = unchecked), the
    others 0 (CONV-5)."""
    assigned = assigned or {}
    regs: list[int | None] = [SUCCESS_64 if wide else SUCCESS, *(assigned.get(n, 0) for n in range(1, 8))]
    clauses = [x0_clause] + ["" if n in assigned else "CONV-5" for n in range(1, 8)]
    return Alt(tuple(regs), clause, tuple(clauses))


def err(code: int, clause: str) -> Alt:
    """FFA_ERROR_32 with ``code`` in w2, zero-extended (CONV-4); x1, x3..x7 = 0 (CONV-5)."""
    return Alt((ERROR, 0, code, 0, 0, 0, 0, 0), clause, ("", "CONV-5", "", "CONV-5", "CONV-5", "CONV-5", "CONV-5", "CONV-5"))


def errors(violated: Sequence[tuple[int, str]]) -> list[Alt]:
    """§0: with several conditions violated the order of the checks is the implementation's: any
    violated check's error is right (one alternative per distinct code)."""
    out: dict[int, list[str]] = {}
    for code, clause in violated:
        out.setdefault(code, []).append(clause)
    return [err(code, ",".join(dict.fromkeys(cl))) for code, cl in out.items()]


class Bytes:
    """A buffer's bytes as the model knows them: value, known (1) or not, and the clause that wrote each."""

    def __init__(self) -> None:
        self.data = bytearray(PAGE)
        self.known = bytearray(PAGE)
        self.rule = [""] * PAGE

    def write(self, offset: int, data: bytes, rule: str, known: bytes | None = None) -> None:
        n = max(0, min(len(data), PAGE - offset))
        self.data[offset : offset + n] = data[:n]
        self.known[offset : offset + n] = (known or b"\x01" * n)[:n]
        self.rule[offset : offset + n] = [rule] * n

    def forget(self, offset: int, size: int) -> None:
        n = max(0, min(size, PAGE - offset))
        self.known[offset : offset + n] = bytes(n)

    def u32(self, offset: int) -> int | None:
        if offset + 4 > PAGE or not all(self.known[offset : offset + 4]):
            return None
        return int.from_bytes(self.data[offset : offset + 4], "little")

    def copy_to(self, dst: Bytes, end: int, rule: str) -> None:
        end = max(0, min(end, PAGE))
        dst.data[:end] = self.data[:end]
        dst.known[:end] = self.known[:end]
        dst.rule[:end] = [rule] * end


@dataclass
class Partition:
    id: int
    index: int
    base: int
    vcpus: int = 1
    version: int = 0
    negotiated: bool = False  # VER-4
    tx: int | None = None
    rx: int | None = None
    rx_state: str = EMPTY  # §13
    #: The clause of the rule that last made the RX buffer empty (REL-1, WAIT-2), to name when a
    #: later call finds it full: that rule's release did not happen.
    emptied_by: str = ""
    pending: bool = False  # NOTIF-1: the RX-full notification
    listed: bool = False  # NOTIF-7 (Hafnium): listed once by FFA_NOTIFICATION_INFO_GET_64
    txb: Bytes = field(default_factory=Bytes)
    rxb: Bytes = field(default_factory=Bytes)

    def owns_page(self, addr: int, memory: int) -> bool:
        return self.base <= addr and addr + PAGE <= self.base + memory


@dataclass
class Secondary(Partition):
    steps: tuple[Step, ...] = ()
    state: str = CREATED  # RUN-5: vCPU 0 never run
    pc: int = 0
    reports: int = 0  # report slots consumed
    #: The call it left the CPU in: the alternatives of what that call returns when it resumes.
    resume: tuple[Alt, ...] = ()
    resume_step: int = -1


class Mismatch(Exception):
    """A value of the build that no alternative of the text allows."""

    def __init__(self, what: str, expected: object, actual: object, clause: str) -> None:
        super().__init__(f"{what}: expected {expected!r}, got {actual!r} ({clause})")
        self.what, self.expected, self.actual, self.clause = what, expected, actual, clause


def hexs(regs: Sequence[int | None]) -> str:
    return "(" + ", ".join("-" if r is None else f"{r:#x}" for r in regs) + ")"


def choose(what: str, alts: Sequence[Alt], regs: Sequence[int], deviations: list[tuple[str, str]]) -> Alt:
    """The alternative the build's ``regs`` (x0..x7) took; its state change applied."""
    for alt in alts:
        if alt.matches(regs):
            if alt.deviation:
                deviations.append((alt.deviation, f"{what}: {hexs(regs[:8])}"))
            if alt.apply is not None:
                alt.apply()
            return alt
    first = alts[0]
    n = first.first_difference(regs)
    assert n is not None
    clause = first.clause_of(n)
    if regs[0] == ERROR and all(a.regs[0] == ERROR for a in alts) and n == 2:
        clause = ",".join(dict.fromkeys(c for a in alts for c in a.clause.split(",")))
    want = " or ".join(hexs(a.regs) for a in alts)
    raise Mismatch(f"{what}: x{n}", want, hexs(regs[:8]), clause)


class Model:
    """The state of one system: the primary (index 0, ID 1) and scripted secondaries 1..N."""

    def __init__(self, scripts: Sequence[Sequence[Step]], bases: Sequence[int], memories: Sequence[int]) -> None:
        self.memories = list(memories)
        self.primary = Partition(PRIMARY_ID, 0, bases[0], vcpus=1)
        self.secondaries = [Secondary(PRIMARY_ID + i + 1, i + 1, bases[i + 1], steps=tuple(s)) for i, s in enumerate(scripts)]
        #: (clause, what) of every alternative taken that deviates from Hafnium's behaviour (§14).
        self.deviations: list[tuple[str, str]] = []

    @property
    def parts(self) -> list[Partition]:
        return [self.primary, *self.secondaries]

    def by_id(self, pid: int) -> Partition | None:
        return next((p for p in self.parts if p.id == pid), None)

    # --- the calls any partition makes ---------------------------------------------------------------

    def call(self, p: Partition, args: Sequence[int]) -> list[Alt]:
        """The alternatives for ``p``'s call with x0..x7 = ``args`` (an ``hvc``)."""
        x = list(args) + [0] * (8 - len(args))
        func = x[0] & U32 & ~(1 << 16)  # CONV-1; CONV-2: bit 16 (SVE hint) cleared (not generated)
        handler = {
            VERSION: self._version,
            ID_GET: self._id_get,
            FEATURES: self._features,
            RXTX_MAP_64: self._map,
            RXTX_UNMAP: self._unmap,
            PARTITION_INFO_GET: self._partition_info_get,
            MSG_SEND2: self._send2,
            MSG_WAIT: self._wait,
            RX_RELEASE: self._release,
            RUN: self._run_refused,
            YIELD: self._yield,
            NOTIFICATION_GET: self._notification_get,
            INFO_GET_64: self._info_get,
        }.get(func)
        if handler is None:
            return self._unhandled(x)
        if func != VERSION:
            p.negotiated = True  # VER-4 (VER-7: a handled call, whatever its result)
        return handler(p, x)

    def _unhandled(self, x: list[int]) -> list[Alt]:
        # CONV-6 (D3): Hafnium returns every register unchanged; the specification: NOT_SUPPORTED.
        # CONV-7: a 0xC4... form of an SMC32-only interface has none of its effects.
        same = Alt(tuple(x[:8]), "CONV-6")
        spec = Alt(err(NOT_SUPPORTED, "CONV-6").regs, "CONV-6", deviation="CONV-6 (D3: NOT_SUPPORTED)")
        return [same, spec]

    # VER ----------------------------------------------------------------------------------------------

    @staticmethod
    def compatible(requested: int) -> bool:  # VER-1, VER-3: same major, minor <= the callee's
        return requested >> 16 == OWN_VERSION >> 16 and requested & 0xFFFF <= OWN_VERSION & 0xFFFF

    def _version(self, p: Partition, x: list[int]) -> list[Alt]:
        req = x[1] & U32  # CONV-8 (Hafnium ignores x1[63:32]; not generated)
        zeros = (None, 0, 0, 0, 0, 0, 0, 0)
        z = ("", *["CONV-5"] * 7)
        if req & 1 << 31:
            return [Alt((VERSION_NOT_SUPPORTED, *zeros[1:]), "VER-2", z)]  # VER-2, ID-4
        if p.negotiated:  # VER-6 (D2): Hafnium's answers; TF-A: the locked version
            hafnium = OWN_VERSION if req == p.version else VERSION_NOT_SUPPORTED
            locked = Alt((p.version, *zeros[1:]), "VER-6", z, deviation="VER-6 (D2: the locked version)")
            return [Alt((hafnium, *zeros[1:]), "VER-6", z), locked]
        if self.compatible(req):

            def negotiate() -> None:
                p.version = req  # VER-4: a later request replaces an earlier one

            return [Alt((OWN_VERSION, *zeros[1:]), "VER-1", z, apply=negotiate)]  # VER-1: the callee's own version
        spec = Alt((OWN_VERSION, *zeros[1:]), "VER-3", z, deviation="VER-3 (D1: the callee's highest version)")
        return [Alt((VERSION_NOT_SUPPORTED, *zeros[1:]), "VER-3", z), spec]

    # IDG, FEAT ------------------------------------------------------------------------------------------

    def _id_get(self, p: Partition, x: list[int]) -> list[Alt]:
        alt = ok("IDG-1", {2: p.id})
        return [Alt(alt.regs, "IDG-1", (*alt.clauses[:2], "ID-3", *alt.clauses[3:]))]  # w2: Hafnium's numbering (ID-3)

    def _features(self, p: Partition, x: list[int]) -> list[Alt]:
        w1, w2 = x[1] & U32, x[2] & U32
        primary = p is self.primary
        if not w1 & 1 << 31:  # a feature ID
            if w1 & 0x7FFF_FF00 or w2:
                return [err(NOT_SUPPORTED, "FEAT-6")]  # FEAT-6: MBZ bits, input w2
            if w1 in FEATURE_INTIDS:
                hafnium = ok("FEAT-6", {2: FEATURE_INTIDS[w1]})
                if w1 in (1, 2):  # D5: NPI and SRI are never raised (NOTIF-5); not advertising them is consistent
                    return [hafnium, Alt(err(NOT_SUPPORTED, "FEAT-6").regs, "FEAT-6", deviation="FEAT-6 (D5)")]
                return [hafnium]
            if w1 == FEATURE_NOTIFICATION[0]:  # FEAT-7: Hafnium's v1.3 answer, or a v1.1-only NOT_SUPPORTED
                return [
                    ok("FEAT-7", {2: FEATURE_NOTIFICATION[1]}),
                    Alt(err(NOT_SUPPORTED, "FEAT-7").regs, "FEAT-7", deviation="FEAT-7"),
                ]
            return [err(NOT_SUPPORTED, "FEAT-1")]
        if w1 == MSG_SEND2:
            return [ok("FEAT-2")]
        if w1 == RXTX_MAP_64:
            alt = ok("FEAT-4", {2: 0})
            # bits 1:0 = the granule (MAP-2); bits 31:2 = 0 for a v1.1 caller; beyond v1.1: not modelled
            mask = 0xFFFF_FFFC if p.version == V1_1 else 0
            return [Alt(alt.regs, "FEAT-4", alt.clauses, (U64, U64, mask, *([U64] * 5)))]
        if primary and w1 in FEAT3:
            return [ok("FEAT-3")]
        if w1 in (RXTX_MAP_32, INFO_GET_32, RX_ACQUIRE):
            return [err(NOT_SUPPORTED, "FEAT-5")]
        if w1 == YIELD or (primary and w1 in (INFO_GET_64, MSG_WAIT)):
            return [ok("FEAT-5")]
        if w1 == INFO_GET_64:
            return [err(NOT_SUPPORTED, "FEAT-5")]
        if w1 in (MSG_SEND_32, MSG_POLL_32):  # D4: Hafnium denies what it still handles
            return [err(NOT_SUPPORTED, "FEAT-5"), Alt(ok("FEAT-5").regs, "FEAT-5", deviation="FEAT-5 (D4)")]
        if w1 & ~(1 << 30) in SMC32_ONLY and w1 & 1 << 30:
            return [err(NOT_SUPPORTED, "CONV-7")]  # CONV-7: not an FF-A function
        if w1 & 0xFFFF_FF00 not in (0x8400_0000, 0xC400_0000) or w1 & 0xFF > 0x8F:
            return [err(NOT_SUPPORTED, "FEAT-1")]  # FEAT-1: an invalid ID
        return [Alt((None,) * 8, "FEAT-1")]  # an FF-A ID whose answer the text leaves to the implementation

    # MAP ----------------------------------------------------------------------------------------------

    def _map(self, p: Partition, x: list[int]) -> list[Alt]:
        tx, rx, pages = x[1], x[2], x[3] & U32
        memory = self.memories[p.index]
        violated: list[tuple[int, str]] = []
        if pages != 1 or tx % PAGE or rx % PAGE:
            violated.append((INVALID_PARAMETERS, "MAP-2"))  # MAP-2: Hafnium's size and alignment
        if p.tx is not None:
            violated.append((DENIED, "MAP-1"))
        if pages == 1 and tx < rx + PAGE and rx < tx + PAGE:
            violated.append((INVALID_PARAMETERS, "MAP-3"))
        if not (p.owns_page(tx, memory) and p.owns_page(rx, memory)):
            violated.append((INVALID_PARAMETERS, "MAP-4"))
        if violated:
            alts = errors(violated)
            # MAP-4: the call fails; which code is Hafnium's (INVALID_PARAMETERS, MAP-7).
            return [
                a if a.regs[2] != INVALID_PARAMETERS else Alt(a.regs, a.clause, (*a.clauses[:2], "MAP-7", *a.clauses[3:]))
                for a in alts
            ]

        def register() -> None:
            p.tx, p.rx, p.rx_state, p.emptied_by = tx, rx, EMPTY, ""  # MAP-1: registered; RX owned by the producer
            p.rxb = Bytes()

        return [ok("MAP-1").then(register)]

    def _unmap(self, p: Partition, x: list[int]) -> list[Alt]:
        violated: list[tuple[int, str]] = []
        if x[1] & 0xFFFF_0000:
            violated.append((INVALID_PARAMETERS, "MAP-6"))
        if p.tx is None:
            violated.append((INVALID_PARAMETERS, "MAP-6"))
        if violated:
            return errors(violated)

        def unregister() -> None:
            p.tx = p.rx = None  # MAP-6: may be mapped again
            p.rx_state = EMPTY

        return [ok("MAP-6").then(unregister)]

    # PIG ----------------------------------------------------------------------------------------------

    def listed(self) -> list[Secondary]:
        """PIG-1 (no SPMC): the VMs with an FF-A partition; the primary has none (PIG-7)."""
        return list(self.secondaries)

    def _partition_info_get(self, p: Partition, x: list[int]) -> list[Alt]:
        uuid, flags = [a & U32 for a in x[1:5]], x[5] & U32
        violated: list[tuple[int, str]] = []
        if flags & 0xFFFF_FFFE:
            violated.append((INVALID_PARAMETERS, "PIG-2"))
        if any(uuid):
            violated.append((INVALID_PARAMETERS, "PIG-1"))  # no partition of these scenarios is known by a UUID
        if not flags & 1 and p.rx is None:
            violated.append((BUSY, "PIG-8"))
        elif not flags & 1 and p.rx_state == FULL:
            violated.append((BUSY, "PIG-5"))
        if violated:
            return errors(violated)
        count = len(self.listed())
        if flags & 1:  # PIG-2: count only, RX neither written nor needed; PIG-7: the count is Hafnium's
            alt = ok("PIG-2", {2: count})
            return [Alt(alt.regs, "PIG-2", (*alt.clauses[:2], "PIG-7", *alt.clauses[3:]))]
        alts = []
        sizes = [DESCRIPTOR_V1_0] if p.version < V1_1 else [DESCRIPTOR_HAFNIUM, DESCRIPTOR_V1_1]  # PIG-3 (D8)
        for n, size in enumerate(sizes):

            def write(size: int = size) -> None:
                p.rx_state = FULL  # PIG-5: the caller owns its RX buffer
                p.rxb.forget(0, PAGE)
                for i, q in enumerate(self.listed()):  # PIG-6: ID @0, execution contexts @2
                    p.rxb.write(i * size, q.id.to_bytes(2, "little") + q.vcpus.to_bytes(2, "little"), "PIG-6")

            alt = ok("PIG-1", {2: count, 3: size}).then(write)
            clauses = (*alt.clauses[:3], "PIG-3", *alt.clauses[4:])
            alts.append(
                Alt(alt.regs, "PIG-1", clauses, apply=write, deviation="PIG-3 (D8: 24-byte v1.1 descriptors)" if n else "")
            )
        return alts

    def descriptor_properties_ok(self, p: Partition, data: bytes, size: int) -> list[str]:
        """PIG-6: properties bits 31:11 of each descriptor are 0 for a v1.1 caller; the problems found."""
        out: list[str] = []
        if p.version != V1_1:
            return out
        for i in range(len(self.listed())):
            props = int.from_bytes(data[i * size + 4 : i * size + 8], "little")
            if props & PROPERTIES_V1_1_MBZ:
                out.append(f"descriptor {i}: properties {props:#x}")
        return out

    # SEND -----------------------------------------------------------------------------------------------

    @staticmethod
    def header_size(version: int) -> int:
        return HEADER_V1_1 if version < V1_2 else HEADER_V1_2  # SEND-11, HDR-7

    def _send2(self, p: Partition, x: list[int]) -> list[Alt]:
        w1, w2 = x[1] & U32, x[2] & U32  # CONV-8: upper halves not generated
        v: list[tuple[int, str]] = []
        if w1 & 0xFFFF_0000:
            v.append((INVALID_PARAMETERS, "SEND-1"))
        v1_0 = p.version < V1_1  # SEND-10; SEND-22 (D11): a v1.0 sender may get NOT_SUPPORTED first

        mbz: list[tuple[int, str]] = []  # SEND-15 (D7): the specification's MBZ check, at any point of the order

        def refused(v: list[tuple[int, str]]) -> list[Alt]:
            v = [*v, *mbz]
            return errors([*((c, "SEND-22") for c, _ in v), (NOT_SUPPORTED, "SEND-10")]) if v1_0 else errors(v)

        if p.tx is None:
            v.append((DENIED, "SEND-2"))
            return refused(v)
        words = [p.txb.u32(o) for o in (0, 4, 8, 12, 16)]  # HDR-1..HDR-5
        if any(w is None for w in words):
            return [Alt((None,) * 8, "SEND-16")]  # a header the model does not know: not checked
        flags, reserved, offset, ids, size = (w or 0 for w in words)
        if flags or reserved:
            mbz.append((INVALID_PARAMETERS, "SEND-15"))
        sender, receiver = ids >> 16, ids & 0xFFFF  # HDR-4
        if sender != p.id:
            v.append((INVALID_PARAMETERS, "SEND-3"))
        if receiver == sender:
            v.append((INVALID_PARAMETERS, "SEND-4"))
        if w2:
            v.append((INVALID_PARAMETERS, "SEND-5"))
        if receiver & SP_BIT:  # SEND-6: forwarded to EL3; under the reference setup, -1 and the forwarded w1
            forwarded = Alt((SMCCC_UNKNOWN, p.id << 16, 0, 0, 0, 0, 0, 0), "SEND-6")
            refuse_mbz = (
                [Alt(err(INVALID_PARAMETERS, "SEND-15").regs, "SEND-15", deviation="SEND-15 (D7)")] if flags or reserved else []
            )
            return [*refused(v), forwarded, *refuse_mbz] if v or v1_0 else [forwarded, *refuse_mbz]
        to = self.by_id(receiver)
        if to is None:
            v.append((INVALID_PARAMETERS, "SEND-7"))
        elif to.rx is None or to.rx_state == FULL:
            v.append((BUSY, "SEND-9"))
        if v1_0:
            return refused(v)
        if offset < self.header_size(p.version):
            v.append((INVALID_PARAMETERS, "SEND-11"))
        end = offset + size
        if end > U32:
            v.append((INVALID_PARAMETERS, "SEND-12"))
        elif end > PAGE:
            v.append((INVALID_PARAMETERS, "SEND-13"))  # SEND-14: the limit, 4096 here either way
        if v:
            return refused(v)
        assert to is not None

        def deliver() -> None:
            p.txb.copy_to(to.rxb, end, "SEND-16")  # SEND-16: [0, offset + size) verbatim
            to.rxb.forget(end, PAGE - end)  # SEND-20: the rest is the implementation's
            to.rx_state = FULL  # SEND-16
            to.pending, to.listed = True, False  # SEND-17

        sent = ok("SEND-16", x0_clause=",".join(c for c in ("SEND-16", to.emptied_by) if c)).then(deliver)
        alts = [sent]
        if flags or reserved:  # SEND-15 (D7): Hafnium delivers; the specification refuses
            alts.append(Alt(err(INVALID_PARAMETERS, "SEND-15").regs, "SEND-15", deviation="SEND-15 (D7: MBZ checked)"))
        if offset == PAGE and size == 0:  # SEND-21: an empty message at the buffer's end; Hafnium accepts it
            alts.append(Alt(err(INVALID_PARAMETERS, "SEND-21").regs, "SEND-21", deviation="SEND-21 (refused)"))
        return alts

    # REL, NOTIF ---------------------------------------------------------------------------------------

    def _release(self, p: Partition, x: list[int]) -> list[Alt]:
        v: list[tuple[int, str]] = []
        if x[1] & 0xFFFF:
            v.append((INVALID_PARAMETERS, "REL-3"))
        if p.rx is None or p.rx_state != FULL:
            v.append((DENIED, ",".join(c for c in ("REL-2", p.emptied_by) if c)))
        if v:
            return errors(v)

        def release() -> None:
            p.rx_state, p.emptied_by = EMPTY, "REL-1"  # REL-1

        if p.pending:  # REL-4 (D6): Hafnium refuses until the notification is retrieved
            return [
                err(DENIED, "REL-4"),
                Alt(ok("REL-4").regs, "REL-4", apply=release, deviation="REL-4 (D6: release by ownership)"),
            ]
        return [ok("REL-1").then(release)]

    def _notification_get(self, p: Partition, x: list[int]) -> list[Alt]:
        w1, flags = x[1] & U32, x[2] & U32
        if flags & NOTIF_FLAGS_MBZ:
            return [err(INVALID_PARAMETERS, "NOTIF-2")]
        if w1 & 0xFFFF != p.id or w1 >> 16 >= p.vcpus:
            return [err(INVALID_PARAMETERS, "NOTIF-6")]
        pending = p.pending

        def retrieve() -> None:
            p.pending = False  # NOTIF-2: cleared; REL-4: the receiver now owns the buffer

        if pending and flags & FLAG_HYP_FW:
            return [ok("NOTIF-2", {7: RX_FULL_BIT}).then(retrieve)]  # NOTIF-1: bit 0 of w7
        if pending and flags & FLAG_SPM_FW:  # NOTIF-3: Hafnium reports it for bit 2 alone too
            spec = Alt(ok("NOTIF-3").regs, "NOTIF-3", deviation="NOTIF-3")
            return [ok("NOTIF-3", {7: RX_FULL_BIT}).then(retrieve), spec]
        return [ok("NOTIF-2")]

    def _info_get(self, p: Partition, x: list[int]) -> list[Alt]:
        if p is not self.primary:
            return [Alt((None,) * 8, "FEAT-5")]  # not offered to other VMs; its result is not in the text
        pending = [q for q in self.parts if q.pending]
        if not pending:
            return [err(NO_DATA, "NOTIF-4")]
        new = [q for q in pending if not q.listed]  # NOTIF-7: VMs in index order, each once
        if not new:
            return [err(NO_DATA, "NOTIF-7")]
        ids = [q.id for q in new[:20]]
        regs = [0, 0, 0, 0, 0]
        for n, i in enumerate(ids):
            regs[n // 4] |= i << (16 * (n % 4))
        w2 = len(ids) << 7 | int(len(new) > 20)  # NOTIF-4: lists in bits 11:7, none with vCPU IDs

        def listed() -> None:
            for q in new[:20]:
                q.listed = True

        alt = ok("NOTIF-4", {2: w2, 3: regs[0], 4: regs[1], 5: regs[2], 6: regs[3], 7: regs[4]}, wide=True)
        clauses = ("NOTIF-4", "CONV-5", *["NOTIF-7"] * 6)
        return [Alt(alt.regs, "NOTIF-4", clauses, apply=listed)]

    # WAIT, RUN, YIELD ---------------------------------------------------------------------------------

    def _wait(self, p: Partition, x: list[int]) -> list[Alt]:
        v: list[tuple[int, str]] = []
        if x[1] or any(x[3:8]) or (p.version < V1_2 and x[2]):
            v.append((INVALID_PARAMETERS, "WAIT-1"))
        if not isinstance(p, Secondary):
            return errors([*v, (NOT_SUPPORTED, "WAIT-10")])
        if v:
            return errors(v)
        return self._secondary_wait(p)

    def _run_refused(self, p: Partition, x: list[int]) -> list[Alt]:
        if isinstance(p, Secondary):
            return [err(DENIED, "RUN-1")]  # RUN-1: only the primary scheduler
        raise AssertionError("the primary's FFA_RUN goes through Model.run")

    def _yield(self, p: Partition, x: list[int]) -> list[Alt]:
        if not isinstance(p, Secondary):
            return [Alt((None,) * 8, "FEAT-5")]  # the primary's FFA_YIELD: its effect is not in the text
        response = Alt((YIELD, p.id << 16, 0, 0, 0, 0, 0, 0), "RUN-2", ("", "", *["CONV-5"] * 6))

        def ready() -> None:
            p.state = READY

        resumed = ok("RUN-2")  # RUN-2: the yielder's FFA_YIELD returns SUCCESS
        return [Alt((None,) * 8, "RUN-2", apply=ready, switch=(response, resumed))]

    def _secondary_wait(self, p: Secondary) -> list[Alt]:
        own, own_vcpu = p.id, p.id << 16  # WAIT-7 (D14): Hafnium's w1, or ID<<16 | vCPU
        clauses = ("", "WAIT-7", *["CONV-5"] * 6)

        def run_32(w1: int, clause: str, apply: Callable[[], None] | None = None, deviation: str = "") -> Alt:
            return Alt((RUN, w1, 0, 0, 0, 0, 0, 0), clause, clauses, apply=apply, deviation=deviation)

        def waits() -> None:
            p.state = WAITING

        def wait_alt(clause: str, apply: Callable[[], None], deviation: str = "") -> Alt:
            response = Alt((MSG_WAIT, p.id << 16, 0, 0, 0, 0, 0, 0), "WAIT-6", ("", "RUN-2", *["CONV-5"] * 6))
            resumed = (run_32(0, "WAIT-6"), run_32(own_vcpu, "WAIT-6", deviation="WAIT-7 (D14: ID<<16 | vCPU)"))
            return Alt((None,) * 8, clause, apply=apply, deviation=deviation, switch=(response, *resumed))

        if p.rx_state == FULL and p.pending:  # WAIT-3: at once; WAIT-5: the buffer is kept
            return [run_32(own, "WAIT-3"), run_32(own_vcpu, "WAIT-3", deviation="WAIT-7 (D14: ID<<16 | vCPU)")]
        if p.rx_state == FULL:  # WAIT-8: Hafnium returns at once, then releases (WAIT-2)

            def release() -> None:
                p.rx_state, p.emptied_by = EMPTY, "WAIT-2"  # WAIT-2

            def release_and_wait() -> None:
                release()
                waits()

            return [
                run_32(own, "WAIT-8", apply=release),
                run_32(own_vcpu, "WAIT-8", apply=release, deviation="WAIT-7 (D14: ID<<16 | vCPU)"),
                wait_alt("WAIT-2", release_and_wait, deviation="WAIT-8 (releases and waits)"),
            ]
        return [wait_alt("WAIT-6", waits)]  # WAIT-6: an empty RX buffer: it waits

    # --- the primary's FFA_RUN: a secondary runs until it leaves the CPU -------------------------------

    def run(self, w1: int, observed: Callable[[int], list[Regs]]) -> list[Alt]:
        """FFA_RUN(w1) from the primary, through FFA_INTERRUPT: the alternatives of its result.

        ``observed(index)``: the build's report slots of the secondary at ``index`` (read after the
        run returned); the secondary's steps are checked against them on the way (:class:`Mismatch`).
        """
        self.primary.negotiated = True  # VER-4
        target = self.by_id(w1 >> 16)
        if target is None or not isinstance(target, Secondary) or w1 & 0xFFFF >= target.vcpus:
            return [err(INVALID_PARAMETERS, "RUN-1")]  # RUN-1: the primary, an unknown ID, a vCPU out of range
        reports = observed(target.index)
        if target.resume:  # the call it left the CPU in returns now
            self._check_report(target, target.resume_step, reports, list(target.resume))
            target.resume, target.resume_step = (), -1
        target.state = RUNNING
        while target.pc < len(target.steps):
            step = target.steps[target.pc]
            i = target.pc
            if isinstance(step, Call):
                args = [self._arg(target, a) for a in (step.x0, step.x1, step.x2, step.x3, step.x4, step.x5, step.x6, step.x7)]
                alts = self.call(target, args)
                direct = [a for a in alts if not a.switch]
                switching = [a for a in alts if a.switch]
                if target.reports < len(reports) and not direct:
                    clause = switching[0].switch[0].clause
                    raise Mismatch(
                        f"VM {target.id} step [{i}] {describe_step(step)}: left the CPU", "no report", "a report", clause
                    )
                if target.reports >= len(reports) and not switching and step.x0 == MSG_SEND2:
                    what = f"VM {target.id} step [{i}] {describe_step(step)}: its report"
                    raise Mismatch(what, "the send returns to its caller", "no report", "SEND-18")
                if target.reports < len(reports) or not switching:
                    self._check_report(target, i, reports, direct)
                    target.pc += 1
                    continue
                alt = switching[0]  # no report: the call left the CPU
                if alt.deviation:
                    self.deviations.append((alt.deviation, f"VM {target.id} step [{i}]"))
                if alt.apply is not None:
                    alt.apply()
                target.resume, target.resume_step = alt.switch[1:], i
                target.pc += 1
                return [alt.switch[0]]
            self._plain_step(target, i, step, reports)
            target.pc += 1
        target.state = READY  # the script's end: FFA_YIELD forever (unreported); RUN-2
        return [Alt((YIELD, target.id << 16, 0, 0, 0, 0, 0, 0), "RUN-2", ("", "", *["CONV-5"] * 6))]

    def extra_reports(self, index: int, reports: list[Regs]) -> Mismatch | None:
        """A secondary that completed more steps than the model let it: the rule that stopped it."""
        s = self.secondaries[index - 1]
        if len(reports) <= s.reports:
            return None
        step = s.steps[s.resume_step] if s.resume else None
        rule = "SEND-18" if isinstance(step, Call) and step.x0 == MSG_SEND2 else "WAIT-6" if s.state == WAITING else "RUN-2"
        return Mismatch(f"VM {s.id}: steps completed", s.reports, len(reports), rule)

    def _arg(self, s: Secondary, a: int | Rel) -> int:
        return (s.base + a.offset) & U64 if isinstance(a, Rel) else a & U64

    def _check_report(self, s: Secondary, i: int, reports: list[Regs], alts: list[Alt]) -> None:
        what = f"VM {s.id} step [{i}] {describe_step(s.steps[i])}"
        if s.reports >= len(reports):
            raise Mismatch(f"{what}: its report (the call returned)", "a report", f"{len(reports)} reports", alts[0].clause)
        regs = reports[s.reports]
        s.reports += 1
        choose(what, alts, regs, self.deviations)
        for n in range(8, 18):  # CONV-5: x8..x17 keep the caller's values
            if regs[n] != pattern(n):
                raise Mismatch(f"{what}: x{n}", hex(pattern(n)), hex(regs[n]), "CONV-5")

    def _plain_step(self, s: Secondary, i: int, step: Step, reports: list[Regs]) -> None:
        what = f"VM {s.id} step [{i}] {describe_step(step)}"
        if s.reports >= len(reports):
            raise Mismatch(f"{what}: its report", "a report", f"{len(reports)} reports", "RUN-2")
        regs = reports[s.reports]
        s.reports += 1
        if isinstance(step, Header):
            words = (step.flags, step.reserved, step.offset, step.sender << 16 | step.receiver, step.size)
            s.txb.write(0, b"".join(w.to_bytes(4, "little") for w in words), "")
        elif isinstance(step, Payload):
            s.txb.write(step.offset, step.data, "")
        elif isinstance(step, Fill):
            s.txb.write(step.offset, bytes((step.value + n) & 0xFF for n in range(step.size)), "")
        elif isinstance(step, ReadRx):
            self._check_read_rx(s, what, regs)
        elif isinstance(step, (CopyRx, StoreRx, Wfi)):
            raise AssertionError(f"{what}: not modelled")

    def _check_read_rx(self, s: Secondary, what: str, regs: Regs) -> None:
        """ReadRx: x0..x4 = the RX header's words, x5, x6 = the u64s at RX + offset and + 8."""
        b = s.rxb
        for n in range(5):
            want = b.u32(4 * n)
            if want is not None and regs[n] & U32 != want:
                raise Mismatch(f"{what}: x{n} (RX word @{4 * n})", hex(want), hex(regs[n]), b.rule[4 * n] or "SEND-16")
        offset = b.u32(8)
        if offset is None:
            return
        for n, at in ((5, offset), (6, offset + 8)):
            if offset > PAGE - 16:
                continue
            for k in range(8):
                if b.known[at + k] and (regs[n] >> (8 * k)) & 0xFF != b.data[at + k]:
                    raise Mismatch(
                        f"{what}: x{n} byte {k} (RX @{at + k})", hex(b.data[at + k]), hex(regs[n]), b.rule[at + k] or "SEND-16"
                    )

    # --- the primary's calls ----------------------------------------------------------------------------

    def primary_call(self, *args: int) -> list[Alt]:
        return self.call(self.primary, args)

    def write_tx(self, data: bytes) -> None:
        """The test wrote ``data`` at the start of the primary's TX buffer (its library send page)."""
        self.primary.txb.write(0, data, "")

    def rx_difference(self, p: Partition, actual: bytes) -> tuple[int, int, str] | None:
        """The first known byte of ``p``'s RX buffer the build's differs in: (offset, expected, clause)."""
        b = p.rxb
        for i in range(PAGE):
            if b.known[i] and actual[i] != b.data[i]:
                return i, b.data[i], b.rule[i] or "SEND-16"
        return None

    def describe_scripts(self) -> list[str]:
        lines: list[str] = []
        for s in self.secondaries:
            lines.append(f"VM {s.id} script:")
            lines += [f"  [{i}] {describe_step(st)}" for i, st in enumerate(s.steps)] or ["  (no steps)"]
        return lines


def describe_step(step: Step) -> str:
    """A short, copy-pasteable text of a step (hex for numbers)."""

    def arg(v: int | Rel) -> str:
        return f"Rel({v.offset:#x})" if isinstance(v, Rel) else f"{v:#x}"

    if isinstance(step, Call):
        regs = (step.x0, step.x1, step.x2, step.x3, step.x4, step.x5, step.x6, step.x7)
        n = max([i for i, r in enumerate(regs) if not (isinstance(r, int) and r == 0)] + [0])
        return f"Call({', '.join(arg(r) for r in regs[: n + 1])})"
    if isinstance(step, Header):
        ids = f"sender={step.sender:#x}, receiver={step.receiver:#x}"
        return f"Header({ids}, size={step.size:#x}, offset={step.offset}, flags={step.flags:#x})"
    if isinstance(step, Fill):
        return f"Fill({step.size}, {step.value:#x}, offset={step.offset})"
    if isinstance(step, Payload):
        return f"Payload({step.data!r}, offset={step.offset})"
    return f"{type(step).__name__}()"
