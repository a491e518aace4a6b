"""``hfconform fuzz``: robustness campaigns against a build, without pytest.

    hfconform fuzz [--hv SPEC] [--hypercalls N] [--programs M] [--assembler K] [--seed S]
                   [--json PATH] [--jobs J] [--case-timeout SEC] [--leak-bound MIB]
                   [--replays R] [--profile P] [--case CAMPAIGN:INDEX]

Campaigns (each case is a pure function of ``(seed, campaign, index)``, so any case can be re-run
alone with ``--case``):

* ``hypercalls`` -- a system of two scripted secondaries making random calls (every call ID, random
  registers, ``hvc``/``smc``) and a never-configured canary VM, driven by a primary making random
  calls and runs; every x0 the primary sees and every secondary's report is compared with the spec's
  model (``profiles/hafnium_2018_10/model.py``). Runs until ``--hypercalls`` calls (primary and secondary) were made
  (or ``--hypercalls``/10 cases ran, for a build whose every case ends at once).
* ``garbage`` -- ``--programs`` random instruction streams (``test_hostile``'s lines and random
  words) run as a secondary next to an echo VM and an idle canary.
* ``garbage-primary`` -- the same streams as the *primary* (``reference_hv.System(primary=...)``):
  builds derived from the bundled reference only.
* ``assembler`` -- ``--assembler`` random and hostile assembly texts (mutated library programs,
  directives Keystone mishandles, random characters) fed to ``guest_asm.assembler.assemble``:
  every outcome must be an ``Image`` or an ``AsmError`` naming a line of the text.

Cases run in worker processes (``--jobs``) under a watchdog: a case that has not finished after
``--case-timeout`` seconds is a **hang** (the worker is killed and replaced), a worker that dies is a
**harness exception**, as is any exception raised by the build. The workers' RSS is sampled at
start, every ``--snapshot-every`` cases and at the end; a worker whose RSS grows by more than
``--leak-bound`` MiB after its first tenth of a campaign's cases is a **leak**. A **cross-VM
change** is a byte of the canary VM (never configured, never addressed) that changed, or -- in
``garbage`` when no message was exchanged -- a byte of the echo VM or of the primary's pages. After
the campaigns ``--replays`` cases per campaign are re-run in a fresh worker (fresh assembler cache)
and their results and traces compared: a difference is a **determinism mismatch**. A **spec
diff** is a value the spec's model disagrees with (the first one of each case is reported).

The summary is a table (and ``--json``); the exit status is 1 if any harness exception, hang,
leak, cross-VM change, determinism mismatch or spec diff was found, 2 on a usage error.
The workers assemble into a private, temporary cache (deleted at the end), never the user's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from conformance.harness import YIELD_LIMIT
from conformance.protocol import Build, CallOutcome, GuestVM, Session, SystemConfig, trace_records
from guest_asm import layout
from guest_asm.programs import Call, Rel, Step, read_reports
from profiles.hafnium_2018_10 import programs
from profiles.hafnium_2018_10.model import ERR, Model, describe_step, function_id

__all__ = ["CAMPAIGNS", "CaseResult", "main", "run_case"]

CAMPAIGNS = ("hypercalls", "garbage", "garbage-primary", "assembler")
MASK64 = 0xFFFF_FFFF_FFFF_FFFF
MIB = 1 << 20
SECONDARY_MEMORY = 0x10_0000
PRIMARY_WINDOW = 0x2_0000
MAX_FINDINGS = 50  # per kind in the JSON (all are counted)

HF_IDS = list(range(0xFF00, 0xFF07))
VARIANTS = [0, 1 << 30, 0xFFFF_FFFF_0000_0000, 0x8000_0000_0000_0000 | 1 << 30]
SPECIAL_IDS = [0x8400_0000, 0x8400_0006, 0xC400_0000, 0xFF07, 0xFFFF, 0x0, 0xFF00_0000_0000_FF04, 0x8400_0020]
SPECIAL_ARGS = [0, 1, 2, 3, 4, 0xFFFF, 0xFFFF_FFFF, 0x1_0000_0001, 4096, 4097, 1 << 63, MASK64]
PRIMARY_REGS = {n: 0x5A5A_0000_0000_0000 | n << 8 | n for n in range(4, 31)}
PSCI_SYSTEM_OFF = 0x8400_0008
REPORT_END = layout.LIB_REPORT + layout.LIB_REPORT_SLOT * layout.LIB_REPORT_SLOTS

GARBAGE_LINES = [
    "hvc #0", "hvc #0x1234", "smc #0", "wfe", "wfi", "svc #0", "brk #7", "eret", "msr daifset, #2",
    "mrs x3, currentel", "mov x0, #0xff04", "mov x0, #0xff03", "mov x0, #0xff05", "mov x0, #0xff06",
    "mov x0, #0xff00", "mov x1, #0", "mov x1, #1", "mov x1, #2", "mov x2, #16", "mov x2, #4096",
    "movk x0, #0x4000, lsl #16", "adr x1, _start", "add x1, x1, #0x10, lsl #12", "add x2, x1, #0x1, lsl #12",
    "ldr x5, [x1]", "str x5, [x2, #8]", "stp x4, x5, [x1]", "sub sp, sp, #16", "b .+8", "cbz x0, .+8",
]  # fmt: skip

#: Lines the assembler must refuse or handle (Keystone crashes, hangs or mis-assembles many of them).
HOSTILE_LINES = [
    ".text", ".data", ".bss", ".section .foo", ".inst 0xd503201f", ".org 0x100", ".if 1", ".endif",
    ".include \"x.S\"", ".incbin \"/etc/passwd\"", ".fill 4, 1, 0", ".irp r, 1, 2", ".type f, %function",
    ".byte lbl", ".byte 256", ".byte -129", ".hword 0x10000", ".word 0x100000000", ".quad 0x10000000000000000",
    ".quad lbl", ".quad lbl + 4", ".quad undefined_symbol", ".float 1.5", ".ascii \"unterminated",
    ".asciz \"ok\\x41\\n\"", ".string \"a\", \"b\"", ".ascii \"\\q\"", ".skip 0x200000", ".skip -1", ".space 16, 0xff",
    ".balign 4096", ".balign 3", ".p2align 13", ".align 70", ".rept 100000", ".rept -1", ".rept 3", ".endr",
    ".macro m a", ".macro m a=1, b", ".endm", "m 1", "m", ".equ k, k + 1", ".equ v, 1 << 63", ".set w, v * 2",
    ".global _start", ".globl lbl", "nop ::", "nop", "mov x0, #18446744073709551616", "mov x0, #1==1",
    "mov x0, #1<<64", "mov x0, #(1+2<<3)", "mov x0, #1 + 2 << 3", "mov x0, #010", "mov x0, #0b102",
    "adrp x0, :lo12:lbl", "add x0, x0, :lo12:lbl", "ldr x0, =lbl", "ldr x0, lbl", "ldr x0, lbl + 1", "adr x0, lbl+1",
    "b lbl+2", "b far", "bl far", "cbz x0, far", "tbz x0, #3, far", "tbz x0, #64, lbl", "b.ne lbl", "b.xx lbl",
    "1:", "b 1b", "lbl:", "lbl: lbl:", "x0:", "far:", "_start:", "__hfc_x:", "9lbl:", "mov x0, lbl",
    "msr daifset, #16", "hvc #0x10000", "svc #-1", "mov x0, #0x" + "f" * 40, "mov x0, #" + "9" * 30,
    "mov x0, " + "(" * 40 + "1" + ")" * 40, "mov x0, #(" * 3, "ldr x0, [x1, #0x1000000]", "ldr x0, [x1, #-4097]",
    "mov\tx0,\t#1", "MOV X0, #1", "mov x0, #'a'", "mov x0, #1 / 0", "mov x0, #1 % 0", "mov x0, #(1 >> 64)",
    "stp x0, x1, [sp, #-16]!", "ldp x0, x1, [sp], #16", "mov w0, #0xffffffff", "movz x0, #1, lsl #48",
    "ret", "eret", "wfi", "brk #0xffff", "udf #0", "// a comment", "/* c */ nop", "nop // trailing", "",
    "\t", " ; nop", "mov x0, #1 ; mov x1, #2", "\u00e9", "\x00", "lbl: .quad lbl", "here: b here",
]  # fmt: skip
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_.:#,[]{}()+-*/%<>&|^~!=\"'\\ \t\n$@;xw"


# --- results ----------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """What one case found. ``digest`` summarises everything the build returned (for replays)."""

    campaign: str
    index: int
    hypercalls: int = 0
    exception: str | None = None  # a harness exception (the build, or the assembler's contract)
    hang: str | None = None  # the watchdog fired, or the build's own budget ran out where none may
    cross_vm: str | None = None
    spec_diff: str | None = None
    digest: str = ""
    seconds: float = 0.0
    rss: int = 0
    log: list[str] = field(default_factory=list)


def case_rng(seed: int, campaign: str, index: int) -> random.Random:
    return random.Random(f"hfconform-fuzz:{seed}:{campaign}:{index}")


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; else the peak from ``getrusage``)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _exception_text(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"[:2000]


class _Digest:
    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, *items: object) -> None:
        self._h.update(repr(items).encode())
        self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:32]


# --- random inputs --------------------------------------------------------------------------------------


def _rand_id(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.6:
        return rng.choice(HF_IDS) | rng.choice(VARIANTS)
    if r < 0.8:
        return rng.choice(SPECIAL_IDS)
    return rng.getrandbits(64)


def _rand_arg(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.4:
        return rng.choice(SPECIAL_ARGS)
    if r < 0.75:
        return rng.randint(0, 4096)
    return rng.getrandbits(64)


def _secondary_call(rng: random.Random) -> Call:
    x1: int | Rel = rng.choice([Rel(0x10000), Rel(0x11000), Rel(0x12000)]) if rng.random() < 0.3 else _rand_arg(rng)
    x2: int | Rel = rng.choice([Rel(0x11000), Rel(0x13000)]) if rng.random() < 0.3 else _rand_arg(rng)
    return Call(_rand_id(rng), x1, x2, _rand_arg(rng), insn=rng.choice(["hvc #0", "hvc #0", "hvc #0xffff", "smc #0"]))


def _secondary_script(rng: random.Random) -> tuple[Step, ...]:
    head: list[Step] = [Call(0xFF03, Rel(0x10000), Rel(0x11000))] if rng.random() < 0.75 else []
    return (*head, *(_secondary_call(rng) for _ in range(rng.randint(1, 12))))


def garbage_lines(rng: random.Random) -> list[str]:
    return [
        rng.choice(GARBAGE_LINES) if rng.random() < 0.6 else f".word {rng.getrandbits(32):#010x}"
        for _ in range(rng.randint(4, 48))
    ]


def garbage_source(lines: Sequence[str]) -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"_start:\n{body}    .word 0x00000000\n"  # ends in a permanently undefined encoding


_LIBRARY: list[str] = []


def _library_sources() -> list[str]:
    if not _LIBRARY:
        for name in programs.names():
            try:
                _LIBRARY.append(programs.source(name))
            except (ValueError, TypeError, KeyError, OSError):
                continue  # a program with a required parameter
        _LIBRARY.append(garbage_source(GARBAGE_LINES))
    return _LIBRARY


def assembler_input(rng: random.Random) -> str:
    """A random or hostile assembly text."""
    kind = rng.random()
    if kind < 0.45:  # a library program, mutated
        lines = rng.choice(_library_sources()).split("\n")
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(6)
            at = rng.randrange(len(lines) + 1)
            if op == 0 and lines:
                del lines[min(at, len(lines) - 1)]
            elif op == 1 and lines:
                lines.insert(at, lines[min(at, len(lines) - 1)])
            elif op == 2:
                lines.insert(at, rng.choice(HOSTILE_LINES))
            elif op == 3 and lines:
                i = min(at, len(lines) - 1)
                text = lines[i]
                pos = rng.randrange(len(text) + 1)
                lines[i] = text[:pos] + rng.choice(_CHARS) + text[pos + rng.randint(0, 2) :]
            elif op == 4:
                lines = lines[: max(1, at)]
            else:
                lines.insert(at, rng.choice(GARBAGE_LINES))
        return "\n".join(lines)
    if kind < 0.85:  # hostile lines
        head = ["_start:"] if rng.random() < 0.8 else []
        hostile = rng.choice([0.1, 0.3, 1.0])
        body = [rng.choice(HOSTILE_LINES if rng.random() < hostile else GARBAGE_LINES) for _ in range(rng.randint(1, 20))]
        text = "\n".join(head + body)
        return text + ("\n" if rng.random() < 0.7 else "")
    n = rng.randint(0, 300)  # random characters
    if rng.random() < 0.5:
        return "".join(rng.choice(_CHARS) for _ in range(n))
    return bytes(rng.getrandbits(8) for _ in range(n)).decode("latin-1")


# --- the cases ---------------------------------------------------------------------------------------------


class _Finding(Exception):
    """Ends a case: ``kind`` is "spec_diff", "cross_vm" or "hang"."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


def _outcome_regs(outcome: CallOutcome) -> tuple[int, ...]:
    return tuple(outcome.regs) if outcome.regs else ()


def _stop_text(outcome: CallOutcome) -> str:
    return f"stop(fault={outcome.fault}, timeout={outcome.timeout}, system_off={outcome.system_off})"


def _first_diff(before: bytes, after: bytes, skip: Sequence[tuple[int, int]] = ()) -> int | None:
    if before == after:
        return None
    for i, (a, b) in enumerate(zip(before, after, strict=False)):
        if a != b and not any(lo <= i < hi for lo, hi in skip):
            return i
    if len(before) != len(after):
        return min(len(before), len(after))
    return None


def _boot(build: Build, guests: Sequence[GuestVM], time_slice: int = 10_000, fault_policy: str = "stop") -> Session:
    return build.boot(SystemConfig(tuple(guests), time_slice, fault_policy))


def _hypercalls_case(build: Build, rng: random.Random, res: CaseResult, digest: _Digest) -> None:
    n_fuzzed = rng.randint(1, 2)
    scripts = [_secondary_script(rng) for _ in range(n_fuzzed)]
    configure = rng.random() < 0.75
    actions: list[tuple[str, int, Any, Any, int, str]] = []
    for _ in range(rng.randint(20, 60)):
        if rng.random() < 0.3:
            actions.append(("run", 0xFF00 | rng.choice([0, 0, 0, 1 << 30]), rng.randint(1, n_fuzzed + 1), 0, 0, "hvc #0"))
        else:
            a1: Any = rng.choice(["send", "recv"]) if rng.random() < 0.2 else _rand_arg(rng)
            a2: Any = rng.choice(["send", "recv"]) if rng.random() < 0.2 else _rand_arg(rng)
            actions.append(("call", _rand_id(rng), a1, a2, _rand_arg(rng), rng.choice(["hvc #0", "hvc #1", "smc #0"])))
    canary_vm = n_fuzzed + 1
    guests = [GuestVM(programs.script_source(s), f"script{i + 1}.S", SECONDARY_MEMORY) for i, s in enumerate(scripts)]
    guests.append(GuestVM(programs.source("idle"), "canary-idle.S", SECONDARY_MEMORY))
    res.log += [f"VM {i + 1} script: " + "; ".join(describe_step(s) for s in steps) for i, steps in enumerate(scripts)]
    res.log.append(f"VM {canary_vm}: idle canary (never configured, never addressed)")
    session = _boot(build, guests)
    try:
        bases = [session.base(vm) for vm in range(canary_vm + 1)]
        model = Model([*scripts, ()], bases, [PRIMARY_WINDOW] + [SECONDARY_MEMORY] * canary_vm)
        canary = session.read(canary_vm, bases[canary_vm], SECONDARY_MEMORY)
        page = {"send": bases[0] + 0x10000, "recv": bases[0] + 0x11000}
        plan: list[tuple[int, int, int, int, str]] = []
        if configure:
            plan.append((0xFF03, page["send"], page["recv"], 0, "hvc #0"))
        for _kind, x0, a1, a2, x3, insn in actions:
            plan.append((x0, page[a1] if isinstance(a1, str) else a1, page[a2] if isinstance(a2, str) else a2, x3, insn))
        for x0, x1, x2, x3, insn in plan:
            func = function_id(x0)
            if insn == "hvc #1" and func == 0xFF00:
                insn = "hvc #0"
            res.log.append(f"primary {insn} x0={x0:#x} x1={x1:#x} x2={x2:#x} x3={x3:#x}")
            if insn.startswith("smc"):  # CALL-7: PSCI for the primary, else -1; nothing else changes
                want = {0x8400_0000: 2, 0x8400_0006: 2}.get(func, ERR if func & 0xFFFF_FFE0 != 0x8400_0000 else None)
            else:
                want = model.primary_call(x0, x1, x2, x3)
            outcome = session.call(x0, x1, x2, x3, regs=PRIMARY_REGS, insn=insn)
            res.hypercalls += 1
            if func == 0xFF00 and not insn.startswith("smc"):
                for _ in range(YIELD_LIMIT):  # YIELD: run on (RUN-4)
                    if not (outcome.regs and outcome.regs[0] == 0x0):
                        break
                    outcome = session.call(x0, x1, x2, x3, regs=PRIMARY_REGS, insn=insn)
                    res.hypercalls += 1
            regs = _outcome_regs(outcome)
            digest.add(x0, x1, x2, x3, insn, regs, bool(outcome.system_off), str(outcome.fault) if outcome.fault else "")
            if not regs:
                if outcome.system_off and func == PSCI_SYSTEM_OFF:
                    res.log.append("  -> PSCI_SYSTEM_OFF: the system is off")
                    break
                if outcome.timeout is not None:
                    raise _Finding("hang", f"the build's budget ran out: {outcome.timeout}")
                raise _Finding("spec_diff", f"{insn} x0={x0:#x}: a return to the primary expected, got {_stop_text(outcome)}")
            res.log[-1] += f" -> {regs[0]:#x}"
            if want is not None and regs[0] != want:
                raise _Finding("spec_diff", f"{insn} x0={x0:#x} x1={x1:#x} x2={x2:#x}: x0 {regs[0]:#x}, the model says {want:#x}")
            _check_primary_regs(insn, regs, (x1, x2, x3))
        for vm in model.secondaries:
            got = read_reports(session.read(vm.id, bases[vm.id] + layout.LIB_REPORT, REPORT_END - layout.LIB_REPORT))
            digest.add(vm.id, got)
            res.hypercalls += len(got)
            for n, (g, w) in enumerate(zip(got, vm.reports, strict=False)):
                for reg, (gv, wv) in enumerate(zip(g, w.regs, strict=True)):
                    if wv is not None and gv != wv:
                        step = describe_step(vm.steps[w.step])
                        raise _Finding("spec_diff", f"VM {vm.id} report #{n} ({step}): x{reg} {gv:#x}, the model says {wv:#x}")
            if len(got) != len(vm.reports):
                raise _Finding("spec_diff", f"VM {vm.id}: {len(got)} steps completed, the model says {len(vm.reports)}")
        after = session.read(canary_vm, bases[canary_vm], SECONDARY_MEMORY)
        at = _first_diff(canary, after)
        if at is not None:
            raise _Finding(
                "cross_vm", f"the canary VM {canary_vm}'s byte at base + {at:#x}: {canary[at]:#04x} -> {after[at]:#04x}"
            )
        digest.add([r.to_json() for r in trace_records(session)])
    finally:
        session.close()


def _check_primary_regs(insn: str, regs: Sequence[int], args: tuple[int, int, int]) -> None:
    if insn.startswith("smc"):  # CALL-7: only x0 changes
        for n, value in enumerate(args, start=1):
            if regs[n] != value & MASK64:
                raise _Finding(
                    "spec_diff", f"x{n} after the primary's smc: {regs[n]:#x}, kept {value & MASK64:#x} expected (CALL-7)"
                )
        first = 4
    else:
        for n in range(1, 18):
            if regs[n] != 0:
                raise _Finding("spec_diff", f"x{n} after the primary's {insn}: {regs[n]:#x}, 0 expected (CALL-5)")
        first = 18
    for n in range(first, 31):
        if regs[n] != PRIMARY_REGS[n]:
            raise _Finding("spec_diff", f"x{n} after the primary's {insn}: {regs[n]:#x}, preserved {PRIMARY_REGS[n]:#x} expected")


def _garbage_case(build: Build, rng: random.Random, res: CaseResult, digest: _Digest) -> None:
    lines = garbage_lines(rng)
    res.log += ["garbage secondary VM 1:", *(f"    {line}" for line in lines)]
    policy = "continue" if "fault_continue" in getattr(build, "capabilities", frozenset()) else "stop"
    guests = (
        GuestVM(garbage_source(lines), "garbage.S"),
        GuestVM(programs.source("echo"), "echo.S"),
        GuestVM(programs.source("idle"), "idle.S"),
    )
    session = _boot(build, guests, time_slice=2000, fault_policy=policy)
    try:

        def call(x0: int, x1: int = 0, x2: int = 0) -> CallOutcome:
            res.hypercalls += 1
            outcome = session.call(x0, x1, x2)
            digest.add(x0, x1, x2, _outcome_regs(outcome)[:1], str(outcome.fault) if outcome.fault else "")
            return outcome

        def value(what: str, outcome: CallOutcome) -> int:
            if not outcome.regs:
                if outcome.timeout is not None:
                    raise _Finding("hang", f"{what}: the build's budget ran out: {outcome.timeout}")
                raise _Finding("spec_diff", f"{what}: a return to the primary expected, got {_stop_text(outcome)}")
            return int(outcome.regs[0])

        base0 = session.base(0)
        if (v := value("configure", call(0xFF03, base0 + 0x10000, base0 + 0x11000))) != 0:
            raise _Finding("spec_diff", f"the primary's configure: {v:#x}, 0 expected")
        if (v := value("run(echo)", call(0xFF00, 2, 0))) != 0x1:
            raise _Finding("spec_diff", f"run(echo) to its receive: {v:#x}, 0x1 expected")
        echo = session.read(2, session.base(2), SECONDARY_MEMORY)
        canary = session.read(3, session.base(3), SECONDARY_MEMORY)
        pages = session.read(0, base0 + 0x10000, 0x4000)
        stopped, messages = False, 0
        for _ in range(8):
            outcome = call(0xFF00, 1, 0)
            if not outcome.regs:
                if outcome.timeout is not None:
                    raise _Finding("hang", f"a run of the garbage VM did not return: {outcome.timeout}")
                if "VM 1" not in str(outcome.fault):
                    raise _Finding("spec_diff", f"the system stopped, but not on a fault of VM 1: {_stop_text(outcome)}")
                stopped = True
                break
            response = outcome.regs[0]
            code = response & 0xFF
            if code > 3 or response & 0xFF00:
                raise _Finding("spec_diff", f"run response {response:#x}: not a known code (RUN-3)")
            if code == 0x3:
                messages += 1
                if value("clear", call(0xFF06)) != 0:
                    raise _Finding("spec_diff", "clear after a MESSAGE: not 0 (CLR-1)")
            elif code == 0x2:
                messages += 1
            elif code == 0x1:
                break
        res.log.append(f"stopped on a fault: {stopped}, messages: {messages}")
        at = _first_diff(canary, session.read(3, session.base(3), SECONDARY_MEMORY))
        if at is not None:
            raise _Finding("cross_vm", f"the idle canary VM 3's byte at base + {at:#x} changed")
        if not stopped and messages == 0:
            at = _first_diff(echo, session.read(2, session.base(2), SECONDARY_MEMORY), [(0x14000, REPORT_END)])
            if at is not None:
                raise _Finding("cross_vm", f"the echo VM 2's byte at base + {at:#x} changed (no message was sent)")
            at = _first_diff(pages, session.read(0, base0 + 0x10000, 0x4000))
            if at is not None:
                raise _Finding("cross_vm", f"the primary's byte at base + {0x10000 + at:#x} changed (no message was sent)")
        digest.add([r.to_json() for r in trace_records(session)])
    finally:
        session.close()


#: The profiles the campaigns are written for (their model and guest programs).
FUZZ_PROFILES: tuple[str, ...] = ("hafnium-2018-10",)


def _is_reference(build: Build) -> bool:
    from reference_hv.build import ReferenceBuild

    return isinstance(build, ReferenceBuild)


def _garbage_primary_case(build: Build, rng: random.Random, res: CaseResult, digest: _Digest) -> None:
    from reference_hv.build import ReferenceBuild
    from reference_hv.system import VMSpec

    assert isinstance(build, ReferenceBuild)
    lines = garbage_lines(rng)
    res.log += ["garbage primary:", *(f"    {line}" for line in lines)]
    system = build.system(
        [VMSpec(programs.source("echo"), "echo.S"), VMSpec(programs.source("idle"), "idle.S")],
        primary=VMSpec(garbage_source(lines), "garbage-primary.S"),
        time_slice=2000,
        fault_policy="continue",
        budget=build.system_options.get("budget", 200_000),
    )
    try:
        canary = system.read(2, system.base(2), SECONDARY_MEMORY)
        result = system.run()
        events = [e.to_json() for e in system.trace]
        res.hypercalls += sum(1 for e in system.trace if e.kind in ("hvc", "smc"))
        digest.add(result.stop_reason, result.regs, events)
        res.log.append(f"-> {result.stop_reason}")
        at = _first_diff(canary, system.read(2, system.base(2), SECONDARY_MEMORY))
        if at is not None:
            raise _Finding("cross_vm", f"the idle canary VM 2's byte at base + {at:#x} changed")
    finally:
        system.close()


def _assembler_case(build: Build, rng: random.Random, res: CaseResult, digest: _Digest) -> None:
    from guest_asm.assembler import MAX_CODE_SIZE, AsmError, Image, assemble

    text = assembler_input(rng)
    base = rng.choice([0x10000, 0x4000_0000, 0x7F00_0000_0000])
    res.log += [f"assemble(text, base={base:#x}) of:", text]
    lines = text.count("\n") + 1
    try:
        image = assemble(text, base=base, name="fuzz.S")
    except AsmError as e:
        digest.add("error", e.line, e.reason)
        res.log.append(f"-> AsmError: {e}")
        if not isinstance(e.line, int) or not 1 <= e.line <= lines:
            res.exception = f"assembler contract: AsmError without a line of the text (line={e.line!r}, {lines} lines): {e}"
        return
    res.log.append(f"-> Image of {len(image.code)} bytes")
    digest.add("image", image.code, image.entry, sorted(image.symbols.items()))
    ok = (
        isinstance(image, Image)
        and isinstance(image.code, bytes)
        and len(image.code) <= MAX_CODE_SIZE
        and image.base == base
        and all(isinstance(k, str) and isinstance(v, int) for k, v in image.symbols.items())
    )
    if not ok:
        res.exception = f"assembler contract: a malformed Image (base {image.base:#x}, {len(image.code)} bytes)"


_CASES: dict[str, Callable[[Build, random.Random, CaseResult, _Digest], None]] = {
    "hypercalls": _hypercalls_case,
    "garbage": _garbage_case,
    "garbage-primary": _garbage_primary_case,
    "assembler": _assembler_case,
}


def run_case(build: Build, seed: int, campaign: str, index: int) -> CaseResult:
    """Run one case in this process; everything it finds is in the result (nothing escapes)."""
    res = CaseResult(campaign, index)
    digest = _Digest()
    start = time.perf_counter()
    try:
        _CASES[campaign](build, case_rng(seed, campaign, index), res, digest)
    except _Finding as f:
        setattr(res, f.kind, f.text)
        digest.add("finding", f.kind, f.text)
    except Exception as e:  # noqa: BLE001 - the build (or the harness under it) raised: that is the finding
        res.exception = _exception_text(e)
        digest.add("exception", type(e).__name__, str(e))
    res.seconds = time.perf_counter() - start
    res.digest = digest.hexdigest()
    return res


# --- workers and the watchdog ---------------------------------------------------------------------------------


def _load_build(spec: str | None) -> Build:
    if spec is None or spec == "reference":
        from reference_hv.build import ReferenceBuild

        return ReferenceBuild()
    from conformance.plugin import resolve_build

    return resolve_build(spec)


def _worker_main(conn: Connection, spec: str | None, seed: int, cache_root: str) -> None:
    from guest_asm import cache

    cache.set_cache_dir(cache_root)
    try:
        build = _load_build(spec)
    except Exception as e:  # noqa: BLE001 - reported by the parent
        conn.send(("error", _exception_text(e)))
        return
    conn.send(("ready", rss_bytes()))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        campaign, index = msg
        res = run_case(build, seed, campaign, index)
        res.rss = rss_bytes()
        if not (res.exception or res.hang or res.cross_vm or res.spec_diff):
            res.log = []  # only findings travel with their scenario
        conn.send(("result", res))


class _Worker:
    serial = 0

    def __init__(self, spec: str | None, seed: int, cache_root: str, start_timeout: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, spec, seed, cache_root), daemon=True)
        self.proc.start()
        child.close()
        _Worker.serial += 1
        self.id = _Worker.serial
        self.busy: tuple[str, int, float] | None = None  # campaign, index, deadline
        if not self.conn.poll(start_timeout):
            self.kill()
            raise RuntimeError(f"a fuzz worker did not start within {start_timeout:.0f} s")
        kind, value = self.conn.recv()
        if kind != "ready":
            self.kill()
            raise RuntimeError(f"the build could not be loaded in a fuzz worker: {value}")
        self.rss_start: int = value

    def submit(self, campaign: str, index: int, timeout: float) -> None:
        self.conn.send((campaign, index))
        self.busy = (campaign, index, time.monotonic() + timeout)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()  # only this worker, by its own handle
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()
        else:
            self.conn.close()


@dataclass
class CampaignStats:
    name: str
    cases: int = 0
    hypercalls: int = 0
    harness_exceptions: int = 0
    hangs: int = 0
    leaks: int = 0
    cross_vm: int = 0
    spec_diffs: int = 0
    determinism_mismatches: int = 0
    replays: int = 0
    rss_start: int = 0
    rss_end: int = 0
    rss_peak: int = 0
    seconds: float = 0.0
    skipped: str = ""
    rss_samples: list[tuple[int, int, int]] = field(default_factory=list)  # (worker, cases done, rss)
    leak_detail: list[str] = field(default_factory=list)


@dataclass
class Options:
    spec: str | None
    seed: int
    jobs: int
    case_timeout: float
    leak_bound: int  # bytes
    replays: int
    snapshot_every: int
    start_timeout: float = 120.0


class Supervisor:
    """Runs cases in worker processes, kills a worker whose case overruns, restarts dead ones."""

    def __init__(self, opts: Options, cache_root: str) -> None:
        self.opts = opts
        self.cache_root = cache_root
        self.workers: list[_Worker] = []
        self.findings: list[dict[str, Any]] = []
        #: (campaign, index) -> the digest of each case that can be replayed (no hang, no exception)
        self.digests: dict[tuple[str, int], str] = {}
        self.last_rss: dict[int, int] = {}  # worker id -> its last RSS report

    def _spawn(self, cache_root: str | None = None) -> _Worker:
        return _Worker(self.opts.spec, self.opts.seed, cache_root or self.cache_root, self.opts.start_timeout)

    def start(self) -> None:
        self.workers = [self._spawn() for _ in range(self.opts.jobs)]

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []

    def run_campaign(self, stats: CampaignStats, more: Callable[[CampaignStats, int], bool], progress: bool) -> None:
        """Run cases 0, 1, ... of ``stats.name`` while ``more(stats, in_flight)`` says so."""
        started = time.perf_counter()
        per_worker: dict[int, list[int]] = {}  # worker id -> RSS after each of its cases
        stats.rss_start = max(self.last_rss.get(w.id, w.rss_start) for w in self.workers)
        next_index = 0
        last_progress = time.monotonic()
        while True:
            in_flight = sum(1 for w in self.workers if w.busy)
            for w in self.workers:
                if w.busy is None and more(stats, in_flight):
                    w.submit(stats.name, next_index, self.opts.case_timeout)
                    next_index += 1
                    in_flight += 1
            busy = [w for w in self.workers if w.busy]
            if not busy:
                break
            now = time.monotonic()
            timeout = max(0.0, min(w.busy[2] for w in busy if w.busy) - now)
            ready = wait([w.conn for w in busy], timeout=timeout)
            for w in list(busy):
                assert w.busy is not None
                campaign, index, deadline = w.busy
                res: CaseResult | None = None
                if w.conn in ready:
                    try:
                        _kind, payload = w.conn.recv()
                        res = payload
                    except (EOFError, OSError):
                        w.proc.join(5)
                        res = CaseResult(campaign, index, exception=f"the worker process died (exit code {w.proc.exitcode})")
                        self._replace(w)
                elif time.monotonic() >= deadline:
                    res = CaseResult(campaign, index, hang=f"no result within {self.opts.case_timeout:g} s (watchdog)")
                    self._replace(w)
                if res is None:
                    continue
                w.busy = None
                if res.rss:
                    per_worker.setdefault(w.id, []).append(res.rss)
                    self.last_rss[w.id] = res.rss
                    stats.rss_peak = max(stats.rss_peak, res.rss)
                self._record(stats, res)
                if stats.cases % self.opts.snapshot_every == 0:
                    stats.rss_samples.append((w.id, stats.cases, res.rss or self.last_rss.get(w.id, 0)))
            if progress and time.monotonic() - last_progress > 15:
                last_progress = time.monotonic()
                rss = max(self.last_rss.get(w.id, w.rss_start) for w in self.workers) / MIB
                print(f"  {stats.name}: {stats.cases} cases, {stats.hypercalls} hypercalls, RSS {rss:.0f} MiB", file=sys.stderr)
        stats.rss_end = max((rs[-1] for rs in per_worker.values() if rs), default=stats.rss_start)
        for wid, series in per_worker.items():
            stats.rss_samples.append((wid, stats.cases, series[-1]))
            warm = series[min(len(series) - 1, max(1, len(series) // 10) - 1)]
            growth = series[-1] - warm
            if growth > self.opts.leak_bound and len(series) >= 2:
                stats.leaks += 1
                stats.leak_detail.append(
                    f"worker {wid}: RSS {warm / MIB:.1f} MiB after its first tenth of the cases, {series[-1] / MIB:.1f} MiB "
                    f"after {len(series)} cases (+{growth / MIB:.1f} MiB > {self.opts.leak_bound / MIB:g} MiB)"
                )
                self._finding(stats.name, -1, "leak", stats.leak_detail[-1], [])
        stats.seconds += time.perf_counter() - started

    def _replace(self, w: _Worker) -> None:
        w.kill()
        fresh = self._spawn()
        w.__dict__.update(fresh.__dict__)  # same slot, new process (and id)

    def _record(self, stats: CampaignStats, res: CaseResult) -> None:
        stats.cases += 1
        stats.hypercalls += res.hypercalls
        if not (res.hang or res.exception):
            self.digests[(res.campaign, res.index)] = res.digest
        for kind, attr in (
            ("harness_exception", "exception"),
            ("hang", "hang"),
            ("cross_vm", "cross_vm"),
            ("spec_diff", "spec_diff"),
        ):
            text = getattr(res, attr)
            if text:
                counter = {"harness_exception": "harness_exceptions", "spec_diff": "spec_diffs"}.get(
                    kind, kind + ("s" if kind == "hang" else "")
                )
                setattr(stats, counter, getattr(stats, counter) + 1)
                self._finding(res.campaign, res.index, kind, text, res.log)

    def _finding(self, campaign: str, index: int, kind: str, text: str, log: list[str]) -> None:
        self.findings.append({"campaign": campaign, "index": index, "kind": kind, "detail": text, "scenario": log[:80]})

    def replay(self, stats_by_name: dict[str, CampaignStats], progress: bool) -> None:
        """Re-run a sample of each campaign's cases in a fresh worker with a fresh cache; compare digests."""
        rng = random.Random(f"hfconform-fuzz-replays:{self.opts.seed}")
        sample: list[tuple[str, int]] = []
        for name, stats in stats_by_name.items():
            done = sorted(i for (c, i) in self.digests if c == name)
            if done and not stats.skipped:
                sample += [(name, i) for i in sorted(rng.sample(done, min(self.opts.replays, len(done))))]
        if not sample:
            return
        fresh_cache = tempfile.mkdtemp(prefix="replay-", dir=self.cache_root)
        worker = self._spawn(fresh_cache)
        try:
            for campaign, index in sample:
                stats = stats_by_name[campaign]
                stats.replays += 1
                worker.submit(campaign, index, self.opts.case_timeout)
                again: CaseResult | None = None
                if worker.conn.poll(self.opts.case_timeout):
                    try:
                        again = worker.conn.recv()[1]
                    except (EOFError, OSError):
                        again = None
                first = self.digests[(campaign, index)]
                if again is None:
                    text = "the replay did not finish (hang or crash)"
                    worker.kill()
                    worker = self._spawn(fresh_cache)
                elif again.digest != first:
                    text = f"results differ: digest {first} first, {again.digest} on replay"
                else:
                    continue
                stats.determinism_mismatches += 1
                self._finding(campaign, index, "determinism_mismatch", text, again.log if again else [])
        finally:
            worker.stop()


# --- the command ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hfconform fuzz",
        description="Robustness campaigns against a build: random hypercalls (primary and scripted secondaries), garbage "
        "guest programs (as secondaries; as the primary for reference-derived builds), hostile assembler input. "
        "Watchdog per case, RSS snapshots, determinism replays; exit status 1 on any harness exception, hang, leak, "
        "cross-VM change, determinism mismatch or spec diff.",
    )
    p.add_argument("--hv", metavar="SPEC", help="build under test, as for 'hfconform --hv' (default: reference)")
    # The campaigns' model and programs are hafnium-2018-10's (profiles/hafnium_2018_10/model.py).
    p.add_argument("--profile", choices=FUZZ_PROFILES, default=FUZZ_PROFILES[0], help="ABI profile (default %(default)s)")
    p.add_argument("--hypercalls", type=int, default=2000, metavar="N", help="hypercalls to make (default %(default)s)")
    p.add_argument("--programs", type=int, default=100, metavar="M", help="garbage programs per campaign (default %(default)s)")
    p.add_argument("--assembler", type=int, default=200, metavar="K", help="assembler inputs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of every case (default %(default)s)")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="J", help="worker processes (default %(default)s)")
    p.add_argument("--case-timeout", type=float, default=60.0, metavar="SEC", help="watchdog per case (default %(default)s s)")
    p.add_argument(
        "--leak-bound", type=float, default=64.0, metavar="MIB", help="allowed RSS growth per worker (default %(default)s MiB)"
    )
    p.add_argument("--replays", type=int, default=20, metavar="R", help="cases re-run per campaign (default %(default)s)")
    p.add_argument(
        "--snapshot-every", type=int, default=500, metavar="N", help="RSS snapshot every N cases (default %(default)s)"
    )
    p.add_argument("--case", metavar="CAMPAIGN:INDEX", help="run one case in this process and print it (a reproducer)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


TABLE_COLUMNS = [
    ("campaign", "name", 15),
    ("cases", "cases", 7),
    ("hypercalls", "hypercalls", 10),
    ("exc", "harness_exceptions", 5),
    ("hangs", "hangs", 5),
    ("leaks", "leaks", 5),
    ("x-VM", "cross_vm", 5),
    ("nondet", "determinism_mismatches", 6),
    ("spec", "spec_diffs", 5),
    ("replays", "replays", 7),
]


def format_table(stats: Sequence[CampaignStats]) -> list[str]:
    head = " ".join(f"{title:<{w}}" if i == 0 else f"{title:>{w}}" for i, (title, _, w) in enumerate(TABLE_COLUMNS))
    head += f" {'RSS start->end MiB':>18} {'time':>7}"
    lines = [head]
    for s in stats:
        cells = [f"{s.name:<15}"] + [f"{getattr(s, attr):>{w}}" for _, attr, w in TABLE_COLUMNS[1:]]
        if s.skipped:
            lines.append(f"{s.name:<15} skipped: {s.skipped}")
            continue
        rss = f"{s.rss_start / MIB:.0f} -> {s.rss_end / MIB:.0f}"
        lines.append(" ".join(cells) + f" {rss:>18} {s.seconds:>6.1f}s")
    return lines


def _run_one(opts: Options, spec_text: str, campaign: str, index: int) -> int:
    build = _load_build(opts.spec)
    if campaign == "garbage-primary" and not _is_reference(build):
        print(f"hfconform fuzz: {campaign} needs a build derived from the bundled reference", file=sys.stderr)
        return 2
    res = run_case(build, opts.seed, campaign, index)
    print(f"case {campaign}:{index} (seed {opts.seed}, build {build.name!r}{spec_text}):")
    for line in res.log:
        print(f"  {line}")
    found = False
    for what, text in (
        ("harness exception", res.exception),
        ("hang", res.hang),
        ("cross-VM change", res.cross_vm),
        ("spec diff", res.spec_diff),
    ):
        if text:
            found = True
            print(f"{what}: {text}")
    print(f"hypercalls: {res.hypercalls}, digest {res.digest}, {res.seconds:.3f} s")
    return 1 if found else 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    for what in ("hypercalls", "programs", "assembler", "replays"):
        if getattr(ns, what) < 0:
            print(f"hfconform fuzz: --{what} must be >= 0", file=sys.stderr)
            return 2
    if ns.jobs < 1 or ns.case_timeout <= 0 or ns.snapshot_every < 1:
        print("hfconform fuzz: --jobs, --case-timeout and --snapshot-every must be positive", file=sys.stderr)
        return 2
    opts = Options(ns.hv, ns.seed, ns.jobs, ns.case_timeout, int(ns.leak_bound * MIB), ns.replays, ns.snapshot_every)
    spec_text = f", --hv {ns.hv}" if ns.hv else ""
    try:
        build = _load_build(ns.hv)
    except Exception as e:  # noqa: BLE001 - a bad --hv: a usage error, said plainly
        print(f"hfconform fuzz: {e}", file=sys.stderr)
        return 2
    if ns.case:
        campaign, _, index = ns.case.partition(":")
        if campaign not in CAMPAIGNS or not index.isdigit():
            print(f"hfconform fuzz: --case must be CAMPAIGN:INDEX with CAMPAIGN one of {', '.join(CAMPAIGNS)}", file=sys.stderr)
            return 2
        return _run_one(opts, spec_text, campaign, int(index))

    reference = _is_reference(build)
    stats = {name: CampaignStats(name) for name in CAMPAIGNS}
    if not reference:
        stats["garbage-primary"].skipped = "the build is not derived from the bundled reference"
    budgets: dict[str, Callable[[CampaignStats, int], bool]] = {
        # Until N hypercalls were made -- or N/10 cases ran (a build that fails every case at once).
        "hypercalls": lambda s, flying: (
            s.hypercalls + flying * max(40, s.hypercalls // max(1, s.cases)) < ns.hypercalls
            and s.cases + flying < max(1, ns.hypercalls // 10)
        ),
        "garbage": lambda s, flying: s.cases + flying < ns.programs,
        "garbage-primary": lambda s, flying: s.cases + flying < ns.programs,
        "assembler": lambda s, flying: s.cases + flying < ns.assembler,
    }
    progress = not ns.quiet
    parent_rss_start = rss_bytes()
    wall = time.perf_counter()
    cache_root = tempfile.mkdtemp(prefix="hfconform-fuzz-")
    sup = Supervisor(opts, cache_root)
    try:
        try:
            sup.start()
        except RuntimeError as e:
            print(f"hfconform fuzz: {e}", file=sys.stderr)
            return 2
        worker_rss_start = max(w.rss_start for w in sup.workers)
        for name in CAMPAIGNS:
            if stats[name].skipped:
                continue
            if progress:
                print(f"hfconform fuzz: campaign {name} ...", file=sys.stderr)
            sup.run_campaign(stats[name], budgets[name], progress)
        worker_rss_end = max(stats[n].rss_end for n in CAMPAIGNS if not stats[n].skipped) if sup.workers else 0
        from guest_asm import cache

        cache.set_cache_dir(cache_root)
        usage = cache.disk_usage()
        cache.set_cache_dir(None)
        sup.close()
        if opts.replays:
            if progress:
                print("hfconform fuzz: determinism replays in a fresh worker ...", file=sys.stderr)
            sup.replay(stats, progress)
    finally:
        sup.close()
        shutil.rmtree(cache_root, ignore_errors=True)
    wall = time.perf_counter() - wall
    ordered = [stats[n] for n in CAMPAIGNS]
    failures = sum(
        s.harness_exceptions + s.hangs + s.leaks + s.cross_vm + s.determinism_mismatches + s.spec_diffs for s in ordered
    )
    status = 1 if failures else 0
    reproduce = f"hfconform fuzz{' --hv ' + ns.hv if ns.hv else ''} --seed {ns.seed} --case"
    for f in sup.findings:
        if f["index"] >= 0:
            f["reproduce"] = f"{reproduce} {f['campaign']}:{f['index']}"
    title = f" {ns.profile} fuzz of build {build.name!r} (seed {ns.seed}) "
    print(f"{title:=^110}")
    for line in format_table(ordered):
        print(line)
    print(
        f"RSS of the workers: {worker_rss_start / MIB:.0f} MiB at start, {worker_rss_end / MIB:.0f} MiB at the end "
        f"(leak bound +{opts.leak_bound / MIB:g} MiB per worker); the supervisor {parent_rss_start / MIB:.0f} -> "
        f"{rss_bytes() / MIB:.0f} MiB; wall time {wall:.1f} s; assembler cache {usage.entries} entries, "
        f"{usage.bytes / MIB:.1f} MiB (cap {usage.limit / MIB:.0f} MiB)"
    )
    shown: dict[str, int] = {}
    for f in sup.findings:
        shown[f["kind"]] = shown.get(f["kind"], 0) + 1
        if shown[f["kind"]] <= 5:
            where = f"{f['campaign']}:{f['index']}" if f["index"] >= 0 else f["campaign"]
            print(f"{f['kind']} in {where}: {f['detail']}")
            if "reproduce" in f:
                print(f"    reproduce: {f['reproduce']}")
    print("result: " + ("FAILED" if status else "ok") + f" (exit status {status})")
    if ns.json:
        kept: dict[str, int] = {}
        findings = []
        for f in sup.findings:
            kept[f["kind"]] = kept.get(f["kind"], 0) + 1
            if kept[f["kind"]] <= MAX_FINDINGS:
                findings.append(f)
        doc = {
            "command": ["hfconform", "fuzz", *(sys.argv[1:] if argv is None else argv)],
            "profile": ns.profile,
            "build": build.name,
            "seed": ns.seed,
            "budget": {"hypercalls": ns.hypercalls, "programs": ns.programs, "assembler": ns.assembler},
            "options": {
                "jobs": ns.jobs,
                "case_timeout": ns.case_timeout,
                "leak_bound_mib": ns.leak_bound,
                "replays": ns.replays,
                "snapshot_every": ns.snapshot_every,
            },
            "campaigns": {s.name: asdict(s) for s in ordered},
            "totals": {attr: sum(getattr(s, attr) for s in ordered) for _, attr, _ in TABLE_COLUMNS[1:]},
            "rss": {
                "workers_start": worker_rss_start,
                "workers_end": worker_rss_end,
                "supervisor_start": parent_rss_start,
                "supervisor_end": rss_bytes(),
            },
            "assembler_cache": {"entries": usage.entries, "bytes": usage.bytes, "limit": usage.limit},
            "wall_seconds": round(wall, 3),
            "findings": findings,
            "exit_status": status,
        }
        Path(ns.json).write_text(json.dumps(doc, indent=2) + "\n")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
