"""The full-system backend: a hypervisor image under ``qemu-system-aarch64``, one QEMU per boot.

``--hv qemu:IMAGE`` (a raw image such as ``hafnium.bin``), ``--hv qemu:CONFIG.toml`` (an image
plus its layout, see ``docs/qemu-backend.md``) or ``--hv qemu:stub`` (the built-in stub image,
``conformance.backends.stub``). For each :meth:`QemuBuild.boot`:

1. the primary driver is assembled at the primary's load address, each secondary at the base
   the image's layout gives it (top of RAM downwards, in VM-ID order);
2. the initrd (old-binary cpio: ``vmlinuz``, ``initrd.img``, ``vms.txt``, one file per secondary,
   :mod:`conformance.backends.cpio`) is written to a fresh temporary directory;
3. QEMU boots the image with ``-S`` and its gdbstub on a Unix socket in that directory; the
   backend sets a breakpoint at ``hf_driver_ready`` and lets the system run until the primary
   reaches it.

``Session.call`` writes the op and x0..x30 into ``hf_driver_block`` (physical memory access,
``Qqemu.PhyMemMode:1``), resumes the primary at ``hf_driver_ready + 4`` and waits for the
breakpoint again; x0..x30 are read back from the block. Outcomes: a missing QEMU, an image that
does not boot, a lost gdb link or a limit of the image raise :class:`BuildError` (ERROR) with the
QEMU log attached; no return within the call budget is a ``timeout`` (TIMEOUT); PSCI SYSTEM_OFF
(QEMU exits with status 0) is ``system_off``.

Preemption (RUN-4) is driven by guest progress, never by the host's clock: QEMU runs with
``-icount shift=N,sleep=on`` (its virtual clock is the count of executed instructions) and each
call enters the driver at ``hf_driver_timed``, which arms the primary's EL1 virtual timer for
``preempt_ticks`` ticks (``hf_driver_timed_phys`` and the EL1 physical timer for an era whose
hypervisor switches the virtual timer per vCPU: the profile's ``qemu.ERA.timer``); the timer's PPI
reaches the CPU through the GICv2 (set up once at boot) and a secondary still running then is
preempted by the hypervisor. A call that never returns is found
by guest progress too (``call_slices`` expiries of that timer while the call goes on, see
``QemuSession._wait_call``). Wall-clock limits remain only as last-resort deadlines:
``boot_timeout`` and ``call_timeout``.
"""

from __future__ import annotations

import atexit
import math
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tomllib
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import profiles
from conformance.backends import stub
from conformance.backends.gdb import REG_PC, GdbClient, GdbError, GdbLinkError, GdbTimeout, StopReply
from conformance.protocol import BuildError, GuestVM, SystemConfig, TraceRecord
from guest_asm import layout as lib_layout
from guest_asm import programs
from guest_asm.assembler import AsmError, assemble

RAM_BASE = 0x4000_0000
MIB = 1 << 20
LOG_TAIL = 3000
QEMU_HINT = "install it (Debian/Ubuntu: apt-get install qemu-system-arm) or set 'qemu' in the image's config file"
STUB_NAMES = ("stub", "@stub")
#: The default slice: timer ticks (= guest instructions with icount shift 4 on QEMU 7.2, whose
#: generic timer counts at 62.5 MHz) from the driver's arming of the timer to the interrupt.
DEFAULT_PREEMPT_TICKS = 1_000_000
#: Where the driver reads the timer's ticks: the block's last 8 bytes (after DRIVER_OUT's x0..x30).
DRIVER_TIMER = lib_layout.DRIVER_OUT + 31 * 8
assert DRIVER_TIMER + 8 <= lib_layout.DRIVER_BLOCK_SIZE
#: "The era's value" for an :class:`ImageConfig` layout field.
ERA_DEFAULT = -1
#: The primary's GICv3 CPU-interface setup (Era.gic_version 3), encoded by hand:
#: ``mov x0, #0xff; msr ICC_PMR_EL1, x0; mov x0, #1; msr ICC_IGRPEN1_EL1, x0; isb; b .``
#: (every priority let through, group-1 interrupts signalled; the backend parks on the ``b .``).
GICV3_CPU_SETUP = (0xD2801FE0, 0xD5184600, 0xD2800020, 0xD518CCE0, 0xD5033FDF, 0x14000000)


@dataclass(frozen=True)
class GuestImage:
    """A secondary as the backend packs it: its VM ID, what the test asked for, its assembled code."""

    vm_id: int
    vm: GuestVM
    code: bytes


@dataclass(frozen=True)
class Era:
    """What the backend must know of the real images of one ABI profile's era (the profile's
    ``qemu.py`` defines ``ERA``): the fault line the hypervisor logs (group 1 the kind, group 2
    the guest's pc in hex), the image's layout defaults, and how its initrd packs the secondaries."""

    fault_log: re.Pattern[str]
    primary_base: int
    ram: int
    max_secondaries: int
    initrd: Callable[[bytes, Sequence[GuestImage]], bytes]
    #: The primary's EL1 timer (``timer``) keeps counting, neither saved nor restored, while the
    #: hypervisor runs (and while it runs secondaries): its ISTATUS then shows guest progress
    #: during a call, which bounds a call that never returns by progress, not by the host's clock.
    progress_timer: bool = False
    # --- the machine and how faults end (defaults: the hafnium-2018-10 era) ---------------
    #: QEMU's machine arguments (before -cpu); the CPU model (``ImageConfig.cpu`` "" = this).
    machine: tuple[str, ...] = ("-M", "virt", "-machine", "virtualization=true")
    cpu: str = "cortex-a57"
    #: 2: a GICv2 at ``gic_distributor`` / ``gic_cpu_interface``; 3: a GICv3 at ``gic_distributor``
    #: with CPU 0's redistributor at ``gic_redistributor`` (its CPU interface is set up by a few
    #: instructions the primary runs once at boot, see ``QemuSession._gic_v3_init``).
    gic_version: int = 2
    gic_redistributor: int = 0
    #: The hypervisor stops the system after logging a guest fault (the call never returns). If
    #: False (it injects the fault into the guest and goes on), the log is also read when a call
    #: returns, and a fault logged during the call ends it only if ``fault_fatal`` matches too
    #: (e.g. the guest then faulted on fetching its own vector: it has none and cannot go on).
    fault_stops: bool = True
    fault_fatal: re.Pattern[str] | None = None
    #: The VM index (0 = primary) that the primary's call (x0, x1) runs: the VM a fault is blamed on.
    running: Callable[[int, int], int] = lambda x0, x1: x1 & 0xFFFF_FFFF if x0 & 0xBFFF_FFFF == 0xFF00 else 0

    #: Which EL1 timer of the primary plays its kernel's timer (preemption, RUN-4): ``"virtual"``
    #: (CNTV_*, entered at the driver's ``hf_driver_timed``) or ``"physical"`` (CNTP_*,
    #: ``hf_driver_timed_phys``): one the hypervisor leaves to the primary, unswitched, while
    #: secondaries run, and whose interrupt then reaches the hypervisor as a physical IRQ.
    timer: str = "virtual"
    #: That timer's PPI on QEMU's ``virt`` board (27: EL1 virtual timer, 30: EL1 physical timer).
    preempt_irq: int = 27
    #: The build's capabilities (``conformance.protocol.CAP_*``) that every image of the era has.
    capabilities: frozenset[str] = frozenset()
    #: vCPUs a VM may have (the build's MAX_CPUS where the hypervisor does not check it at load
    #: time and breaks beyond it); 0: no limit known.
    max_vcpus: int = 0

    def __post_init__(self) -> None:
        if self.timer not in TIMERS:
            raise ValueError(f"Era.timer {self.timer!r}: one of {', '.join(TIMERS)}")
        if not 16 <= self.preempt_irq < 32:
            raise ValueError(f"Era.preempt_irq {self.preempt_irq}: a PPI, 16..31")


def era(profile: str) -> Era:
    """The ``ERA`` of ``profile``'s ``qemu.py``; a :class:`BuildError` when it has none."""
    try:
        found = profiles.get(profile).module("qemu").ERA
    except (LookupError, ImportError, AttributeError) as e:
        raise BuildError(f"the QEMU backend knows no images of profile {profile!r}: {e}") from None
    if not isinstance(found, Era):
        raise BuildError(f"profile {profile!r}: its qemu.ERA is not a conformance.backends.qemu.Era")
    return found


@dataclass(frozen=True)
class QemuFault:
    """A guest fault the hypervisor logged (conformance.protocol.Fault): the VM that ran, its PC."""

    vm: int
    vcpu: int
    pc: int
    address: int | None
    kind: str
    logged: str

    def __str__(self) -> str:
        return f"VM {self.vm} faulted (pc {self.pc:#x}); the hypervisor logged {self.logged!r}; the system is stopped"


class _NoProgress(Exception):
    """A call that did not return within ``call_slices`` time slices of guest progress."""


#: How often a waiting call looks at the primary's timer (wall seconds; what it sees is guest progress).
PROGRESS_PROBE = 0.02
#: The primary's EL1 timers (:attr:`Era.timer`): the driver's entry that arms it, and its control
#: and compare registers by their names in QEMU's system-registers.xml; ISTATUS is bit 2.
TIMERS: dict[str, tuple[str, str, str]] = {
    "virtual": ("hf_driver_timed", "CNTV_CTL_EL0", "CNTV_CVAL_EL0"),
    "physical": ("hf_driver_timed_phys", "CNTP_CTL_EL0", "CNTP_CVAL_EL0"),
}
TIMER_CTL, TIMER_CVAL = TIMERS["virtual"][1:]
CTL_ENABLE, CTL_ISTATUS = 1, 4
#: Register numbers of the timer in QEMU's gdbstub, per (qemu binary, cpu, timer): read once per process.
_TIMER_REGS: dict[tuple[str, ...], tuple[int, int] | None] = {}


def _timer_registers(client: GdbClient, key: tuple[str, str], timer: str = "virtual") -> tuple[int, int] | None:
    """(CTL, CVAL)'s numbers of the primary's ``timer`` (:data:`TIMERS`) in the stub's register
    layout, or None if it has none. Reading ``target.xml`` also lets the stub answer ``p`` for them."""
    client.read_feature("target.xml")
    full = (*key, timer)
    if full not in _TIMER_REGS:
        found: dict[str, int] = {}
        for name, num in re.findall(r'<reg name="([^"]+)"[^>]*?regnum="(\d+)"', client.read_feature("system-registers.xml")):
            found[name] = int(num)
        regs = (found.get(TIMERS[timer][1]), found.get(TIMERS[timer][2]))
        _TIMER_REGS[full] = (regs[0], regs[1]) if regs[0] is not None and regs[1] is not None else None
    return _TIMER_REGS[full]


class _GuestFault(Exception):
    """A call ended in a guest fault that the hypervisor logged before stopping the system."""

    def __init__(self, fault: QemuFault) -> None:
        super().__init__(str(fault))
        self.fault = fault


@dataclass(frozen=True)
class ImageConfig:
    """A hypervisor image and the facts the backend needs about it. ``profile``: the ABI profile the
    image implements; ``primary_base``, ``ram`` and ``max_secondaries`` not given are its era's
    (the profile's ``qemu.ERA``)."""

    image: Path | None  # None: the built-in stub
    name: str = ""
    profile: str = profiles.DEFAULT
    primary_base: int = ERA_DEFAULT
    ram: int = ERA_DEFAULT
    max_secondaries: int = ERA_DEFAULT
    max_vcpus: int = ERA_DEFAULT  # vCPUs per secondary (0: no limit)
    cpu: str = ""  # "": the era's (Era.cpu)
    qemu: str = "qemu-system-aarch64"
    append: str = ""
    boot_timeout: float = 30.0
    call_timeout: float = 10.0
    extra_args: tuple[str, ...] = ()
    # Preemption (RUN-4): the primary's timer, counted in guest progress. QEMU's virtual clock
    # follows the executed instructions (``-icount shift=icount_shift,sleep=on``: 2**shift ns
    # each); every call arms the primary's EL1 virtual timer (CNTV) for ``preempt_ticks`` ticks
    # (62.5 MHz on QEMU 7.2: with shift 4, one tick = one instruction); when it expires its PPI
    # (``preempt_irq``) interrupts a running secondary and Hafnium switches back with YIELD.
    preempt_ticks: int = DEFAULT_PREEMPT_TICKS  # 0: never (a spinning secondary is then a TIMEOUT)
    # A call that has not returned after this many time slices of guest progress (preempt_ticks
    # virtual-timer ticks each, seen in the primary's timer) is a TIMEOUT, however fast the host.
    call_slices: int = 16
    icount_shift: int = 4
    preempt_irq: int = ERA_DEFAULT  # the era's timer's PPI on QEMU's virt board (27 virtual, 30 physical)
    gic_distributor: int = 0x0800_0000  # QEMU virt, GICv2
    gic_cpu_interface: int = 0x0801_0000

    def __post_init__(self) -> None:
        keys = ("primary_base", "ram", "max_secondaries", "max_vcpus", "preempt_irq")
        if any(getattr(self, key) == ERA_DEFAULT for key in keys) or not self.cpu:
            try:
                facts = era(self.profile)
            except BuildError as e:
                raise ValueError(str(e)) from None
            for key in keys:
                if getattr(self, key) == ERA_DEFAULT:
                    object.__setattr__(self, key, getattr(facts, key))
            if not self.cpu:
                object.__setattr__(self, "cpu", facts.cpu)

    @property
    def ram_top(self) -> int:
        return RAM_BASE + self.ram

    @property
    def initrd_address(self) -> int:
        """Where QEMU's ``virt`` board puts ``-initrd`` (RAM base + min(RAM / 2, 128 MiB))."""
        return RAM_BASE + min(self.ram // 2, 128 * MIB)


def stub_config() -> ImageConfig:
    return ImageConfig(None, name="qemu:stub", primary_base=stub.PRIMARY_BASE, max_secondaries=stub.MAX_SECONDARIES)


_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(value: object, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        text = value.strip().upper().removesuffix("B").removesuffix("I")
        mult = _SIZE_SUFFIX.get(text[-1:], 1)
        try:
            return int(text[:-1] if mult != 1 else text, 0) * mult
        except ValueError:
            pass
    raise ValueError(f"{what}: expected a size (an int or e.g. '16M'), got {value!r}")


_KNOWN_KEYS = frozenset({
    "image", "name", "profile", "primary_base", "memory", "max_secondaries", "max_vcpus", "cpu", "qemu", "append",
    "boot_timeout", "call_timeout", "extra_args", "preempt_ticks", "call_slices", "icount_shift", "preempt_irq",
    "gic_distributor", "gic_cpu_interface",
})  # fmt: skip
_REMOVED_KEYS = {
    "preempt_after": (
        "preempt_after (a wall-clock slice in seconds) is no longer supported: preemption is counted "
        "in guest progress, set preempt_ticks (virtual-timer ticks per slice; 0: never) instead"
    ),
}


def _toml_int(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key}: expected an integer, got {value!r} ({type(value).__name__})")
    return value


def _toml_float(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{key}: expected a number of seconds, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{key}: expected a finite number of seconds, got {value!r}")
    return float(value)


def _toml_str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r} ({type(value).__name__})")
    return value


def load_config(path: Path) -> ImageConfig:
    """An image's config file (TOML): ``image`` (relative to the file) and optional layout keys.

    Every value is checked strictly: a wrong type, a non-finite number or a value out of range is a
    ``ValueError`` naming the key (and the file)."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply") from None
    for key, why in _REMOVED_KEYS.items():
        if key in data:
            raise ValueError(f"{path}: {why}")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}")
    if "image" not in data:
        raise ValueError(f'{path}: no \'image\' (the hypervisor image, e.g. image = "hafnium.bin"; or "stub")')
    try:
        img = _toml_str(data, "image")
        changes: dict[str, Any] = {}
        if "profile" in data:
            name = _toml_str(data, "profile")
            if name not in profiles.REGISTRY:
                raise ValueError(f"profile: unknown profile {name!r}; known: {', '.join(profiles.names())}")
            changes["profile"] = name
        prof = stub_config() if img in STUB_NAMES else ImageConfig(_image_path(path.parent / img), name=f"qemu:{img}")
        if changes.get("profile", prof.profile) != prof.profile:  # the layout defaults of the image's own era
            prof = ImageConfig(prof.image, name=prof.name, profile=changes["profile"])
        if "primary_base" in data:
            changes["primary_base"] = _size(data["primary_base"], "primary_base")
        if "memory" in data:
            changes["ram"] = _size(data["memory"], "memory")
        ints = ("max_secondaries", "max_vcpus", "preempt_ticks", "call_slices", "icount_shift", "preempt_irq", "gic_distributor")
        for key in (*ints, "gic_cpu_interface"):
            if key in data:
                changes[key] = _toml_int(data, key)
        for key in ("name", "cpu", "qemu", "append"):
            if key in data:
                changes[key] = _toml_str(data, key)
        if "qemu" in changes and shutil.which(changes["qemu"]) is None:
            # Named on purpose: a path that is not there is the file's mistake, said once, up front.
            raise ValueError(f"qemu: {changes['qemu']!r} is not an executable QEMU (not found)")
        for key in ("boot_timeout", "call_timeout"):
            if key in data:
                changes[key] = _toml_float(data, key)
        if "extra_args" in data:
            args = data["extra_args"]
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ValueError(f"extra_args: expected a list of strings, got {args!r}")
            changes["extra_args"] = tuple(args)
        for key in ("max_secondaries", "max_vcpus", "preempt_irq"):  # -1 would read as "the era's value"
            if changes.get(key, 0) < 0:
                raise ValueError(f"{key} {changes[key]}: must be >= 0")
        prof = replace(prof, **changes)
        _check_config(prof)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return prof


def _image_path(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"hypervisor image {str(path)!r} does not exist (or is not a file)")
    return path.resolve()


#: CNTV_TVAL_EL0 is a signed 32-bit count down: a slice is at most this many ticks.
MAX_PREEMPT_TICKS = (1 << 31) - 1


def _check_config(p: ImageConfig) -> None:
    if p.ram % MIB or not 8 * MIB <= p.ram <= 4096 * MIB:
        raise ValueError(f"memory {p.ram:#x}: a whole number of MiB, 8M..4G")
    if p.primary_base % 0x10000 or not RAM_BASE <= p.primary_base < p.initrd_address:
        raise ValueError(f"primary_base {p.primary_base:#x}: 64 KiB aligned, in RAM below the initrd")
    if p.max_secondaries < 0:
        raise ValueError(f"max_secondaries {p.max_secondaries}: must be >= 0")
    if p.max_vcpus < 0:
        raise ValueError(f"max_vcpus {p.max_vcpus}: must be >= 0 (0: no limit)")
    for key in ("boot_timeout", "call_timeout"):
        value = getattr(p, key)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{key} {value!r}: seconds, a finite number > 0")
    if not 0 <= p.preempt_ticks <= MAX_PREEMPT_TICKS:
        raise ValueError(f"preempt_ticks {p.preempt_ticks}: virtual-timer ticks, 0 (never preempt) .. {MAX_PREEMPT_TICKS}")
    if not 1 <= p.call_slices <= 1 << 20:
        raise ValueError(f"call_slices {p.call_slices}: time slices of guest progress per call, 1..{1 << 20}")
    if not 0 <= p.icount_shift <= 10:
        raise ValueError(f"icount_shift {p.icount_shift}: QEMU's -icount shift, 0..10")
    if not 16 <= p.preempt_irq < 32:
        raise ValueError(
            f"preempt_irq {p.preempt_irq}: the virtual timer's PPI (27 on QEMU's virt board) or the physical "
            "timer's (30), whichever the image's era arms: an interrupt ID 16..31"
        )
    for key in ("gic_distributor", "gic_cpu_interface"):
        value = getattr(p, key)
        if value < 0 or value % 0x1000 or value >= 1 << 48:
            raise ValueError(f"{key} {value:#x}: a 4 KiB aligned physical address")


def config_from_spec(spec: str) -> ImageConfig:
    """``stub`` / ``@stub``, a config file (``*.toml``), or an image path."""
    if spec in STUB_NAMES:
        return stub_config()
    if not spec:
        raise ValueError("expected qemu:IMAGE, qemu:CONFIG.toml or qemu:stub")
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".toml":
        return load_config(path)
    return ImageConfig(_image_path(path), name=f"qemu:{path.name}")


def build_from_spec(spec: str) -> QemuBuild:
    """What ``--hv qemu:SPEC`` means (``ValueError`` with a message for a bad spec)."""
    return QemuBuild(config_from_spec(spec))


# ------------------------------------------------------------------------------------------------
# Outcomes and layout


@dataclass(frozen=True)
class QemuOutcome:
    regs: tuple[int, ...] = ()
    fault: QemuFault | None = None
    timeout: object | None = None
    system_off: bool = False


@dataclass(frozen=True)
class Layout:
    """Where each VM lives: ``bases[0]`` is the primary's load address, then VM 1..N."""

    bases: tuple[int, ...]
    sizes: tuple[int, ...]


def layout(image_cfg: ImageConfig, secondaries: Sequence[GuestVM]) -> Layout:
    """Secondaries from the top of RAM downwards, in VM-ID order; a limit of the image is a BuildError."""
    n = len(secondaries)
    if n > image_cfg.max_secondaries:
        raise BuildError(
            f"limit of image {image_cfg.name}: it runs at most {image_cfg.max_secondaries} secondaries "
            f"(max_secondaries in its config), this test boots {n}. This is a limit of the image "
            "(e.g. its page-table pool), not a conformance verdict."
        )
    bases = [image_cfg.primary_base]
    sizes = [0]
    top = image_cfg.ram_top
    for vm_id, vm in enumerate(secondaries, start=1):
        if vm.memory <= 0 or vm.memory % 0x10000:
            raise BuildError(f"VM {vm_id}: memory {vm.memory:#x} must be a positive multiple of 64 KiB for this backend")
        if image_cfg.max_vcpus and vm.vcpus > image_cfg.max_vcpus:
            raise BuildError(
                f"limit of image {image_cfg.name}: a VM has at most {image_cfg.max_vcpus} vCPUs (max_vcpus in its "
                f"config: the hypervisor's MAX_CPUS, beyond which it breaks at boot), VM {vm_id} asks for {vm.vcpus}. "
                "This is a limit of the image, not a conformance verdict."
            )
        if vm.ready_vcpus != 1:
            why = f"ready_vcpus={vm.ready_vcpus} needs the 'ready_vcpus' capability, which {image_cfg.name} lacks"
            raise BuildError(f"VM {vm_id}: {why}")
        top -= vm.memory
        bases.append(top)
        sizes.append(vm.memory)
    floor = image_cfg.initrd_address + MIB  # the initrd and the device tree sit here while the image loads
    if top < floor:
        raise BuildError(
            f"limit of image {image_cfg.name}: {sum(sizes):#x} bytes of secondaries do not fit in "
            f"{image_cfg.ram // MIB} MiB of RAM above the initrd (lowest base would be {top:#x}, below {floor:#x})"
        )
    sizes[0] = bases[-1] - image_cfg.primary_base if n else image_cfg.initrd_address - image_cfg.primary_base
    return Layout(tuple(bases), tuple(sizes))


# ------------------------------------------------------------------------------------------------
# The build and its sessions


class QemuBuild:
    """A hypervisor image under QEMU (see the module docstring)."""

    capabilities: frozenset[str] = frozenset()
    #: A quarter of each randomised test's examples, failures reported unshrunk: one QEMU boot per
    #: example makes the reference's budget minutes long (conformance.protocol.build_randomised).
    randomised = 0.25

    def __init__(self, image_cfg: ImageConfig) -> None:
        self.image_cfg = image_cfg
        if image_cfg.image is not None:  # a real image has its era's capabilities (the stub none)
            self.capabilities = era(image_cfg.profile).capabilities
        #: The one profile the image implements (its config's ``profile``).
        self.profiles = frozenset({image_cfg.profile})
        self.name = image_cfg.name or (f"qemu:{image_cfg.image.name}" if image_cfg.image else "qemu:stub")

    def boot(self, config: SystemConfig) -> QemuSession:
        return QemuSession(self.image_cfg, config)


def _kill(proc: subprocess.Popen[bytes], client: GdbClient | None, tmpdir: str) -> None:
    """Stop QEMU at once; reaping it and removing its directory happen off the caller's path
    (``_reaper``): the next test need not wait the few milliseconds a dying QEMU takes."""
    if client is not None:
        client.close()
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
    _reaper.put(proc, tmpdir)


class _Reaper:
    """Waits for killed QEMUs and removes their directories on a background thread; whatever is
    still pending when the process exits is finished then (``atexit``), so nothing is left behind."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[subprocess.Popen[bytes], str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        atexit.register(self.drain)

    def put(self, proc: subprocess.Popen[bytes], tmpdir: str) -> None:
        self._queue.put((proc, tmpdir))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="qemu-reaper", daemon=True)
                self._thread.start()

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], tmpdir: str) -> None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(tmpdir, ignore_errors=True)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._reap(*item)

    def drain(self) -> None:
        """Finish every pending reap now (at exit, and for tests)."""
        self._queue.put(None)
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._reap(*item)


_reaper = _Reaper()


# ------------------------------------------------------------------------------------------------
# Starting QEMU: the initrd slot and the warm spare
#
# QEMU's own start-up (exec, dynamic linking, machine creation: ~30 ms of CPU on the lead's
# machine, measured 2026-12-01) does not depend on the test: only the initrd does (and, for the
# built-in stub, one word of the kernel). So every QEMU is started the same way, with a
# *placeholder* initrd of INITRD_SLOT zero bytes, and the test's real initrd is written into guest
# RAM at the initrd's load address over the gdb link when the hypervisor first touches it (the
# pre-boot, ``_Started``). That lets each process keep one QEMU started, and half booted, ahead
# (the warm spare, ``_spares``): the next boot takes it instead of waiting for a new QEMU. A spare
# and a QEMU started on demand run the same command with the same placeholder, the same pre-boot
# and get the same writes, so the guest cannot tell which one served it (tests/test_qemu_spare.py
# checks the RAM is byte-identical); the only guest-visible difference from a QEMU started with
# the real initrd file is the DTB's ``linux,initrd-end`` (see docs/qemu-backend.md, *Start-up*,
# for why no era's Hafnium reads beyond its cpio's trailer).

#: The initrd slot: every QEMU starts with a placeholder initrd of this many zero bytes (a sparse
#: file), and a test's initrd (at most this size) is written over it. An initrd larger than the
#: slot falls back to a QEMU started with that initrd (decided by its size alone). 1 MiB: the
#: layout keeps every secondary at least 1 MiB above the initrd's address (``layout``), and QEMU
#: 7.2 puts the DTB at the initrd's end rounded up to 2 MiB (the same address for any initrd of
#: 1 byte .. 2 MiB: measured), so the slot moves nothing else.
INITRD_SLOT = MIB
#: ``setpriv --pdeathsig KILL``: QEMU dies with the thread that started it, even if that process is
#: killed (no atexit then): a spare never outlives its process. (util-linux; skipped if absent.)
_SETPRIV = shutil.which("setpriv")
#: A spare waits at this nice value (its start-up and pre-boot then take only CPU the running
#: tests leave idle) and is put back to the process's own when a boot takes it: only where the
#: process may raise a priority again (root, or RLIMIT_NICE allowing it), else spares are not
#: niced at all. Scheduling only: the guest's time is its instruction count (icount).
SPARE_NICE = 10


def _may_renice() -> bool:
    try:
        own = os.getpriority(os.PRIO_PROCESS, 0)
        soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
    except OSError:
        return False
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or 20 - soft <= own


def _renice(pid: int, value: int) -> None:
    """Every thread of process ``pid`` (Linux: a nice value is a thread's) to ``value``."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, value)
        except OSError:
            pass


@dataclass(frozen=True)
class _Launch:
    """How a QEMU is started before any test's data reaches it: equal launches make identical
    QEMUs (the key of the warm spare). ``kernel`` is the image file, or for the built-in stub the
    bytes of its placeholder (the VM count 0, patched at boot: ``QemuSession._load``)."""

    qemu: str
    machine: tuple[str, ...]  # the machine, CPU, RAM, console: what comes before -kernel
    append: str
    icount_shift: int
    extra_args: tuple[str, ...]
    kernel: Path | bytes
    #: hf_driver_ready, and the ranges (address, length) a boot's writes go to: the pre-boot
    #: (:meth:`_Started.preboot`) stops at the first guest access to any of them, or at the driver.
    ready: int
    watch: tuple[tuple[int, int], ...]
    boot_timeout: float

    def start(self, initrd: bytes | None = None, kernel: bytes | None = None) -> _Started:
        """Start QEMU frozen (``-S``), its gdbstub on a Unix socket in a fresh directory: with the
        placeholder initrd and this launch's kernel, or (the fallback) with ``initrd`` and
        ``kernel`` as they are. Returns at once; the socket appears a few ms later."""
        tmpdir = tempfile.mkdtemp(prefix="hfq-")
        try:
            tmp = Path(tmpdir)
            initrd_path = tmp / "initrd.cpio"
            with open(initrd_path, "wb") as f:
                if initrd is None:
                    f.truncate(INITRD_SLOT)  # sparse: zeros that cost nothing to write
                else:
                    f.write(initrd)
            image = kernel if kernel is not None else self.kernel
            if isinstance(image, bytes):
                kernel_path = tmp / "stub.bin"
                kernel_path.write_bytes(image)
            else:
                kernel_path = image
            sock = tmp / "gdb.sock"
            command = [
                self.qemu, *self.machine, "-kernel", str(kernel_path), "-initrd", str(initrd_path), "-append", self.append,
                "-icount", f"shift={self.icount_shift},sleep=on",
                "-gdb", f"unix:{sock},server,nowait", "-S", *self.extra_args,
            ]  # fmt: skip
            prefix = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
            with open(tmp / "serial.log", "wb") as out, open(tmp / "qemu.stderr", "wb") as err:
                proc = subprocess.Popen(
                    prefix + command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=tmpdir, start_new_session=True
                )
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return _Started(self, proc, tmpdir, command)


#: Which stop replies are a watchpoint's (QEMU: ``T05thread:01;awatch:<address>;``).
WATCH_STOPS = ("watch", "rwatch", "awatch")


class _Started:
    """One QEMU started by :meth:`_Launch.start`; killed and its directory removed when dropped
    (``_kill``), unless a session takes it over (``finalizer.detach()``).

    Its *pre-boot* (:meth:`preboot`, on a thread for a spare): connect, set an access watchpoint
    (``Z4``) on every range the boot will write (the initrd slot; the stub's image) and the
    breakpoint at ``hf_driver_ready``, and let the system run: it stops at the hypervisor's first
    access to the slot (its first look at the cpio), having done everything before that (about
    half of Hafnium's boot) while the previous test ran. Until that access the guest has seen
    nothing of the slot, so writing the initrd then is the same to it as having it there from the
    start."""

    def __init__(self, launch: _Launch, proc: subprocess.Popen[bytes], tmpdir: str, command: list[str]) -> None:
        self.launch = launch
        self.proc = proc
        self.tmpdir = tmpdir
        self.command = command
        self.pid = os.getpid()  # the process that started it: a forked child never takes it
        self.client: GdbClient | None = None
        self.error: str | None = None
        self.niced = False  # at SPARE_NICE (see _Spares.refill)
        self._thread: threading.Thread | None = None
        self.finalizer = weakref.finalize(self, _kill, proc, None, tmpdir)

    def preboot(self, poll: float = 0.0005) -> None:
        """Connect and let the system run to the first access to a watched range (or the driver).
        Failures are kept in ``error`` (the session that takes this QEMU reports them). ``poll``:
        seconds between looks for QEMU's socket."""
        launch = self.launch
        deadline = time.monotonic() + launch.boot_timeout
        sock = Path(self.tmpdir) / "gdb.sock"
        try:
            while True:  # the socket file appears just before QEMU listens on it
                if self.proc.poll() is not None:
                    self.error = "QEMU did not start"
                    return
                if time.monotonic() > deadline:
                    self.error = f"QEMU's gdbstub did not answer within {launch.boot_timeout}s"
                    return
                if sock.exists():
                    try:
                        self.client = GdbClient.connect_unix(str(sock), timeout=max(1.0, deadline - time.monotonic()))
                        break
                    except GdbLinkError:
                        pass
                time.sleep(poll)
            client = self.client
            client.no_ack_mode()  # (QEMU 7.2 does not grant it: see gdb.GdbClient._send_raw)
            client.set_physical_memory_mode(True)
            for addr, size in launch.watch:
                reply = client.request(f"Z4,{addr:x},{size:x}")
                if reply != "OK":
                    raise GdbError(f"an access watchpoint on {addr:#x}+{size:#x}: the stub answered {reply!r}")
            client.insert_breakpoint(launch.ready)
            client.resume()
        except GdbError as e:
            self.error = f"gdb link to QEMU failed during boot: {e}"

    def preboot_async(self) -> None:
        # Off the test's path: look for the socket less often than a boot waiting for it does.
        self._thread = threading.Thread(target=self.preboot, args=(0.002,), name="qemu-preboot", daemon=True)
        self._thread.start()

    def discard(self) -> None:
        """Kill it (unused): its link closed, QEMU killed, its directory removed off the caller's path."""
        if self.client is not None:
            self.client.close()
        self.finalizer()  # (the pre-boot thread, if still running, ends when QEMU dies)

    def join(self, timeout: float) -> bool:
        """Wait for the pre-boot's set-up (not for the system's stop); False if still running."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


class _Spares:
    """At most one warm spare per process: the QEMU the next boot takes (:meth:`take`) if its
    launch is equal, started (:meth:`refill`) while the current test runs. A spare serves one
    boot and is then the session's (a fresh process per test, nothing carried over); a spare of
    another launch (image, era, config) or one that died before it was used is killed and the
    boot starts its own QEMU (the same command: the verdict cannot depend on it). The spare is
    killed at exit (``atexit``, before ``_reaper.drain``), and by its pdeathsig if the process is
    killed."""

    def __init__(self) -> None:
        self._spare: _Started | None = None
        self._lock = threading.Lock()
        atexit.register(self.drop)  # registered after _reaper's drain: runs before it

    def take(self, launch: _Launch) -> _Started | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.launch != launch or spare.pid != os.getpid() or spare.proc.poll() is not None:
            spare.discard()
            return None
        if spare.niced:
            _renice(spare.proc.pid, os.getpriority(os.PRIO_PROCESS, 0))
            spare.niced = False
        return spare

    def refill(self, launch: _Launch) -> None:
        """Start the spare for the next boot (none if QEMU cannot be started: that boot will say why)."""
        with self._lock:
            if self._spare is not None:
                return
        try:
            spare = launch.start()
        except OSError:
            return
        if _may_renice():
            _renice(spare.proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + SPARE_NICE)  # before QEMU makes its threads
            spare.niced = True
        spare.preboot_async()
        with self._lock:
            old, self._spare = self._spare, spare
        if old is not None:
            old.discard()

    def drop(self) -> None:
        """Kill the spare (at exit; tests)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()


_spares = _Spares()


def _differences(old: bytes, new: bytes, block: int = 256) -> list[tuple[int, bytes]]:
    """The ``block``-byte blocks (offset, new bytes; adjacent ones merged) where ``new`` differs
    from ``old`` (of the same length)."""
    runs: list[tuple[int, bytes]] = []
    for off in range(0, len(new), block):
        if old[off : off + block] != new[off : off + block]:
            if runs and runs[-1][0] + len(runs[-1][1]) == off:
                runs[-1] = (runs[-1][0], runs[-1][1] + new[off : off + block])
            else:
                runs.append((off, new[off : off + block]))
    return runs


def _tail(path: Path, limit: int = LOG_TAIL) -> str:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return "(none)"
    if len(text) > limit:
        text = "... " + text[-limit:]
    return text.strip() or "(empty)"


class QemuSession:
    """One QEMU process running the image; the primary parked at ``hf_driver_ready``."""

    def __init__(self, image_cfg: ImageConfig, config: SystemConfig) -> None:
        self.image_cfg = image_cfg
        self.config = config
        try:
            self._call_name = profiles.get(config.profile).call_name
        except LookupError as e:
            raise BuildError(str(e)) from None
        qemu = shutil.which(image_cfg.qemu)
        if qemu is None:
            raise BuildError(f"{image_cfg.qemu} not found on PATH: {QEMU_HINT}")
        self.layout = layout(image_cfg, config.secondaries)
        self.driver = programs.build_driver(image_cfg.primary_base)
        self.ready = self.driver.symbol("hf_driver_ready")
        self.block = self.driver.symbol("hf_driver_block")
        self.era = era(config.profile)
        # Where a call enters the driver: through hf_driver_timed[_phys] (arm the era's timer, then
        # the call) when preemption is on, else straight at the dispatch after the breakpoint.
        timed = self.driver.symbol(TIMERS[self.era.timer][0])
        self.entry = timed if image_cfg.preempt_ticks else self.ready + 4
        secondaries: list[GuestImage] = []
        for vm_id, vm in enumerate(config.secondaries, start=1):
            base = self.layout.bases[vm_id]
            try:
                image = assemble(vm.source, base=base, name=vm.name)
            except AsmError as e:
                raise BuildError(f"VM {vm_id} ({vm.name}) does not assemble at {base:#x}: {e}") from e
            if len(image.code) > vm.memory:
                raise BuildError(f"VM {vm_id} ({vm.name}): {len(image.code):#x} bytes of code do not fit in {vm.memory:#x}")
            secondaries.append(GuestImage(vm_id, vm, image.code))
        self._trace: list[TraceRecord] = []
        self._state = "booting"
        self._why_dead: str | None = None
        self._fault: QemuFault | None = None
        self._log_mark = 0
        self._running = 0
        self.client: GdbClient | None = None
        #: The initrd the image boots from, and (the built-in stub) its kernel.
        self.initrd = self.era.initrd(self.driver.code, secondaries)
        placeholder: Path | bytes  # the kernel every QEMU of this launch starts with
        if image_cfg.image is None:
            placeholder = stub.make_stub_image(0, self.driver.code, self.driver.entry)  # the placeholder: VM count 0
            kernel: bytes | None = stub.make_stub_image(len(secondaries) + 1, self.driver.code, self.driver.entry)
        else:
            placeholder, kernel = image_cfg.image, None
        machine = (
            *self.era.machine, "-cpu", image_cfg.cpu, "-m", f"{image_cfg.ram // MIB}M",
            "-nographic", "-nodefaults", "-serial", "stdio",
        )  # fmt: skip
        watch = [(image_cfg.initrd_address, INITRD_SLOT)]
        if isinstance(placeholder, bytes):
            watch.append((stub.LOAD_ADDRESS, len(placeholder)))
        launch = _Launch(
            qemu, machine, image_cfg.append, image_cfg.icount_shift, image_cfg.extra_args, placeholder,
            self.ready, tuple(watch), image_cfg.boot_timeout,
        )  # fmt: skip
        #: What ``_start_slot`` writes into guest RAM at the pre-boot's stop: (address, bytes), or
        #: nothing when this QEMU was started with the real initrd (one larger than the slot).
        self._load: list[tuple[int, bytes]] = []
        #: Which QEMU served this boot: "spare" (the warm spare), "new" (one started now, the same
        #: way) or "fallback" (an initrd larger than the slot: a QEMU started with it).
        self.served_by = "fallback"
        if len(self.initrd) <= INITRD_SLOT:
            spare = _spares.take(launch)
            if spare is not None:
                started, self.served_by = spare, "spare"
            else:
                started, self.served_by = launch.start(), "new"
                started.preboot()  # what a spare did on its thread, here and now
            self._load = [(image_cfg.initrd_address, self.initrd)]
            if isinstance(placeholder, bytes) and kernel is not None:
                self._load += [(stub.LOAD_ADDRESS + off, data) for off, data in _differences(placeholder, kernel)]
        else:
            started = launch.start(self.initrd, kernel)
        started.finalizer.detach()
        self.proc = started.proc
        self.tmpdir = started.tmpdir
        self.command = started.command
        tmp = Path(self.tmpdir)
        self.serial_log = tmp / "serial.log"
        self.stderr_log = tmp / "qemu.stderr"
        sock = tmp / "gdb.sock"
        self._finalizer = weakref.finalize(self, _kill, self.proc, None, self.tmpdir)
        # The next boot's QEMU starts now, while this one boots and the test runs (measured: better
        # than after the boot, when the spare's start-up lands on the next test's boot instead).
        _spares.refill(launch)
        try:
            if self._load:
                self._start_slot(started)
            else:
                self._start(sock)
            self._started_up()
        except BaseException:
            self.close()
            # An image that did not boot here will not in the spare started for the next boot
            # either, which would run it (perhaps spinning) in the background until used: drop it.
            _spares.drop()
            raise

    # --- boot -----------------------------------------------------------------------------

    def _error(self, what: str) -> BuildError:
        try:
            status: int | None = self.proc.wait(timeout=0.05)  # a dying QEMU: let it finish its last words
        except subprocess.TimeoutExpired:
            status = None
        state = f"QEMU exited with status {status}" if status is not None else "QEMU still running"
        return BuildError(
            f"{what} ({state}).\ncommand: {' '.join(self.command)}\n"
            f"--- serial log ---\n{_tail(self.serial_log)}\n--- QEMU stderr ---\n{_tail(self.stderr_log)}"
        )

    def _start(self, sock: Path) -> None:
        deadline = time.monotonic() + self.image_cfg.boot_timeout
        while not sock.exists():
            if self.proc.poll() is not None:
                raise self._error("QEMU did not start")
            if time.monotonic() > deadline:
                raise self._error(f"QEMU's gdbstub socket did not appear within {self.image_cfg.boot_timeout}s")
            time.sleep(0.0005)
        try:
            while True:  # the socket file appears just before QEMU listens on it
                try:
                    client = GdbClient.connect_unix(str(sock), timeout=max(1.0, deadline - time.monotonic()))
                    break
                except GdbLinkError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.0005)
            self.client = client
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _kill, self.proc, client, self.tmpdir)
            client.no_ack_mode()
            self._timer: tuple[int, int] | None = None
            if self.era.progress_timer and self.image_cfg.preempt_ticks > 0:
                self._timer = _timer_registers(client, (self.image_cfg.qemu, self.image_cfg.cpu), self.era.timer)
            client.set_physical_memory_mode(True)
            client.insert_breakpoint(self.ready)
            client.resume()
            stop = client.wait_stop(max(0.1, deadline - time.monotonic()))
        except GdbTimeout:
            raise self._not_booted() from None
        except GdbError as e:
            raise self._error(f"gdb link to QEMU failed during boot: {e}") from None
        self._check_parked(stop, "boot")

    def _not_booted(self) -> BuildError:
        return self._error(
            f"the image did not boot: the primary did not reach hf_driver_ready ({self.ready:#x}) within "
            f"{self.image_cfg.boot_timeout}s"
        )

    def _start_slot(self, started: _Started) -> None:
        """The boot of a QEMU started with the placeholder initrd, its pre-boot under way or done
        (``_Started.preboot``): wait for its first stop (the hypervisor's first access to the
        slot, or the driver), remove the watchpoints, write the test's initrd (and the stub's VM
        count), and let the boot go on to the driver."""
        deadline = time.monotonic() + self.image_cfg.boot_timeout
        if not started.join(self.image_cfg.boot_timeout):
            raise self._error(f"QEMU's gdbstub did not answer within {self.image_cfg.boot_timeout}s")
        if started.error is not None or started.client is None:
            raise self._error(started.error or "QEMU did not start")
        client = self.client = started.client
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _kill, self.proc, client, self.tmpdir)
        try:
            stop = client.wait_stop(max(0.1, deadline - time.monotonic()))
            if stop.exited:
                raise self._error(f"QEMU exited during boot ({stop.raw})")
            self._timer = None
            if self.era.progress_timer and self.image_cfg.preempt_ticks > 0:
                self._timer = _timer_registers(client, (self.image_cfg.qemu, self.image_cfg.cpu), self.era.timer)
            watched = any(key in WATCH_STOPS for key in stop.info)
            for addr, size in started.launch.watch:
                reply = client.request(f"z4,{addr:x},{size:x}")
                if reply != "OK":
                    raise GdbError(f"removing the access watchpoint on {addr:#x}+{size:#x}: the stub answered {reply!r}")
            for addr, data in self._load:
                client.write_memory(addr, data)
            if watched:
                client.resume()
                stop = client.wait_stop(max(0.1, deadline - time.monotonic()))
        except GdbTimeout:
            raise self._not_booted() from None
        except GdbError as e:
            raise self._error(f"gdb link to QEMU failed during boot: {e}") from None
        self._check_parked(stop, "boot")

    def _started_up(self) -> None:
        """After the primary parked at the driver for the first time: the GIC and the timer."""
        client = self.client
        assert client is not None
        if self.image_cfg.preempt_ticks > 0:
            try:
                self._gic_init(client)
                client.write_memory(self.block + DRIVER_TIMER, self.image_cfg.preempt_ticks.to_bytes(8, "little"))
            except GdbError as e:
                raise self._error(f"setting up the timer and the GIC for preemption over the gdb link failed: {e}") from None
        self._state = "ready"

    # --- preemption (RUN-4) -----------------------------------------------------------------
    #
    # What a real primary's timer does: a physical interrupt arrives while a secondary runs,
    # Hafnium (HCR_EL2.IMO set for secondaries) takes it at EL2 and switches back to the primary
    # with YIELD (PREEMPTED 0x0 in 2019). The primary driver plays that timer in guest time:
    # every call enters it at ``hf_driver_timed``, which sets CNTV_TVAL_EL0 to ``preempt_ticks``
    # (the block's timer word, written once at boot) and enables the virtual timer. Hafnium
    # aa039b39 neither saves nor restores the virtual timer, so it keeps counting while a
    # secondary runs; Hafnium 53d9d04f switches it per vCPU but leaves the EL1 physical timer to
    # the primary, so that era's calls enter at ``hf_driver_timed_phys`` (CNTP_*, PPI 30). Its PPI is
    # level-triggered: it stays asserted, harmlessly, while the primary (interrupts masked, IMO
    # clear) is parked, and drops when the next call re-arms the timer. With QEMU's icount the
    # interrupt comes after exactly the same guest instructions on every run, whatever the host
    # load. The backend enables the PPI in the GICv2 once at boot, as the primary's kernel would.

    def _gic_write32(self, client: GdbClient, addr: int, value: int) -> None:
        client.write_memory(addr, value.to_bytes(4, "little"))

    def _gic_init(self, client: GdbClient) -> None:
        if self.era.gic_version == 3:
            self._gic_v3_init(client)
            return
        p = self.image_cfg
        irq = p.preempt_irq
        self._gic_write32(client, p.gic_distributor + 0x000, 1)  # GICD_CTLR: enable
        self._gic_write32(client, p.gic_cpu_interface + 0x004, 0xFF)  # GICC_PMR: let every priority through
        self._gic_write32(client, p.gic_cpu_interface + 0x000, 1)  # GICC_CTLR: signal group 0 as IRQ
        self._gic_write32(client, p.gic_distributor + 0x100 + 4 * (irq // 32), 1 << irq % 32)  # ISENABLER

    # GICv3 (Era.gic_version 3): the distributor and CPU 0's redistributor are memory-mapped and
    # set up over the gdb link; the CPU interface is system registers that QEMU's gdbstub does not
    # expose, so the primary runs GICV3_CPU_SETUP once at boot (as its kernel would), from a page
    # of its own memory that the driver and the guest library do not use.
    GICV3_SETUP_OFFSET = 0x2_0000

    def _gic_v3_init(self, client: GdbClient) -> None:
        irq, rd = self.image_cfg.preempt_irq, self.era.gic_redistributor
        self._gic_write32(client, self.image_cfg.gic_distributor + 0x000, 0x13)  # GICD_CTLR: ARE, Grp1, Grp0
        self._gic_write32(client, rd + 0x014, 0)  # GICR_WAKER: ProcessorSleep = 0
        sgi = rd + 0x1_0000  # the SGI/PPI frame
        group = int.from_bytes(client.read_memory(sgi + 0x080, 4), "little")
        self._gic_write32(client, sgi + 0x080, group | 1 << irq)  # GICR_IGROUPR0: group 1
        self._gic_write32(client, sgi + 0x100, 1 << irq)  # GICR_ISENABLER0
        code = self.image_cfg.primary_base + self.GICV3_SETUP_OFFSET
        client.write_memory(code, b"".join(w.to_bytes(4, "little") for w in GICV3_CPU_SETUP))
        park = code + 4 * (len(GICV3_CPU_SETUP) - 1)
        x0 = client.read_register(0)
        client.insert_breakpoint(park)
        client.resume(code)
        stop = client.wait_stop(5.0)
        client.remove_breakpoint(park)
        pc = client.read_register(REG_PC)
        if stop.exited or pc != park:
            raise GdbError(f"the GICv3 CPU-interface setup stopped at {pc:#x} ({stop.raw}), not at {park:#x}")
        client.write_register(0, x0)
        client.write_register(REG_PC, self.ready)

    def _guest_fault(self) -> QemuFault | None:
        """The guest fault Hafnium logged during the current call (it then spins at EL2), if any."""
        try:
            with open(self.serial_log, "rb") as f:
                f.seek(self._log_mark)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        m = self.era.fault_log.search(text)
        if m is None or (self.era.fault_fatal is not None and self.era.fault_fatal.search(text) is None):
            return None
        # The guest that ran: the VM (and vCPU) the line names (groups "vm", "vcpu") where the
        # era's line has them, else the target of HF_VCPU_RUN, else the primary itself. (A vector
        # of a guest without VBAR_EL1, e.g. pc 0x200, lies in no VM's memory.)
        kinds = {"Data abort": "data abort", "Instruction abort": "instruction abort", "Stage-2 page fault": "stage-2 fault"}
        kind = kinds.get(m.group(1), "unexpected exception")
        named = m.groupdict()
        vm = int(named["vm"]) if named.get("vm") is not None else self._running
        vcpu = int(named["vcpu"]) if named.get("vcpu") is not None else 0
        return QemuFault(vm, vcpu, int(m.group(2), 16), None, kind, m.group(0).strip())

    def _wait_call(self, client: GdbClient) -> StopReply:
        """The stop that ends a call. The serial log is checked meanwhile: a guest fault that the
        hypervisor logged before it stopped the system ends the wait at once (``_GuestFault``).

        A call that never returns is bounded by guest progress: every ``PROGRESS_PROBE`` seconds
        the system is paused and the primary's virtual timer looked at (the driver armed it for
        ``preempt_ticks`` at the call, and in this era nothing else touches it): each time it has
        expired the call has taken another time slice, and the timer is moved on by one;
        ``call_slices`` of them is ``_NoProgress``. (A preemption would have ended the call
        already: an expired timer while the call goes on means the hypervisor is not taking it.)
        ``call_timeout`` stays as the last-resort wall-clock deadline (``GdbTimeout``)."""
        deadline = time.monotonic() + self.image_cfg.call_timeout
        probe = time.monotonic() + PROGRESS_PROBE
        slices = 0
        while True:
            try:
                return client.wait_stop(max(0.001, min(0.05, deadline - time.monotonic())))
            except GdbTimeout:
                if time.monotonic() >= deadline:
                    raise
            fault = self._guest_fault()
            if fault is not None:
                client.interrupt(2.0)
                raise _GuestFault(fault)
            if self._timer is not None and time.monotonic() >= probe:
                stop = client.interrupt(2.0)
                if stop.exited or client.read_register(REG_PC) == self.ready:
                    return stop  # the call ended just as the probe stopped it
                ctl_n, cval_n = self._timer
                ctl = client.read_register(ctl_n)
                if ctl & (CTL_ENABLE | CTL_ISTATUS) == CTL_ENABLE | CTL_ISTATUS:
                    slices += 1
                    if slices >= self.image_cfg.call_slices:
                        raise _NoProgress()
                    client.write_register(cval_n, client.read_register(cval_n) + self.image_cfg.preempt_ticks)
                client.resume()
                probe = time.monotonic() + PROGRESS_PROBE

    def _check_parked(self, stop: StopReply, when: str) -> None:
        assert self.client is not None
        if stop.exited:
            raise self._error(f"QEMU exited during {when} ({stop.raw})")
        try:
            pc = self.client.read_register(REG_PC)
        except GdbError as e:
            raise self._error(f"gdb link lost during {when}: {e}") from None
        if pc != self.ready:
            where = f"not at hf_driver_ready {self.ready:#x}"
            raise self._error(f"the system stopped at PC {pc:#x} ({stop.raw}) during {when}, {where}")

    # --- the protocol ---------------------------------------------------------------------

    @property
    def trace(self) -> list[TraceRecord]:
        """The primary's calls (the backend sees no others) and how they ended, then the tail of
        the serial log as ``note`` records, so a failure report shows what the hypervisor printed."""
        records = list(self._trace)
        log = _tail(self.serial_log, 2000)
        if log not in ("(none)", "(empty)"):
            lines = log.splitlines()
            records += [TraceRecord(len(records) + n, "note", 0, 0, detail=f"serial| {line}") for n, line in enumerate(lines)]
        return records

    def _record(
        self,
        kind: str,
        *,
        vm: int = 0,
        vcpu: int = 0,
        call: str = "",
        args: tuple[int, ...] = (),
        result: int | None = None,
        detail: str = "",
    ) -> None:
        self._trace.append(TraceRecord(len(self._trace), kind, vm, vcpu, call, args, result, detail))

    def base(self, vm: int) -> int:
        if not 0 <= vm < len(self.layout.bases):
            raise ValueError(f"no VM {vm} (this system has VMs 0..{len(self.layout.bases) - 1})")
        return self.layout.bases[vm]

    def _range(self, vm: int, addr: int, size: int) -> None:
        lo = self.base(vm)
        hi = lo + self.layout.sizes[vm]
        if size < 0 or not lo <= addr <= addr + size <= hi:
            raise ValueError(f"VM {vm}: {addr:#x}+{size:#x} is outside its memory {lo:#x}..{hi:#x}")

    def _client(self) -> GdbClient:
        if self.client is None or self._state == "closed":
            raise BuildError("the QEMU session is closed")
        if self._state in ("off", "lost"):
            raise BuildError(f"QEMU is gone: {self._why_dead}")
        return self.client

    def read(self, vm: int, addr: int, size: int) -> bytes:
        self._range(vm, addr, size)
        try:
            return self._client().read_memory(addr, size)
        except GdbError as e:
            raise self._error(f"reading VM {vm}'s memory at {addr:#x} over the gdb link failed: {e}") from None

    def write(self, vm: int, addr: int, data: bytes) -> None:
        self._range(vm, addr, len(data))
        try:
            self._client().write_memory(addr, bytes(data))
        except GdbError as e:
            raise self._error(f"writing VM {vm}'s memory at {addr:#x} over the gdb link failed: {e}") from None

    def call(
        self,
        x0: int,
        x1: int = 0,
        x2: int = 0,
        x3: int = 0,
        *,
        regs: Mapping[int, int] | None = None,
        insn: str = "hvc #0",
    ) -> QemuOutcome:
        if insn not in lib_layout.DRIVER_OPS:
            raise ValueError(f"insn must be one of {lib_layout.DRIVER_OPS}, got {insn!r}")
        if self._state == "timeout":
            return QemuOutcome(timeout=self._why_dead)
        if self._state == "fault":
            return QemuOutcome(fault=self._fault)
        if self._state == "off":
            return QemuOutcome(system_off=True)
        client = self._client()
        values = [0] * 31
        values[:4] = [x0, x1, x2, x3]
        for n, v in (regs or {}).items():
            if not 4 <= n <= 30:
                raise ValueError(f"regs: register x{n} is not one of x4..x30")
            values[n] = v
        block = lib_layout.DRIVER_OPS.index(insn).to_bytes(8, "little")
        block += b"".join((v & lib_layout.MASK64).to_bytes(8, "little") for v in values)
        kind, args = insn.split()[0], tuple(v & lib_layout.MASK64 for v in (x0, x1, x2, x3))
        call = self._call_name(args[0])
        shown = f"{kind} {args[0]:#x}({args[1]:#x}, {args[2]:#x}, {args[3]:#x})"
        try:
            self._log_mark = self.serial_log.stat().st_size
            self._running = self.era.running(x0 & lib_layout.MASK64, x1 & lib_layout.MASK64)
        except OSError:
            self._log_mark = 0
        try:
            client.write_memory(self.block + lib_layout.DRIVER_OP, block)
            client.resume(self.entry)
            stop = self._wait_call(client)
        except _GuestFault as e:
            self._state = "fault"
            self._fault, self._why_dead = e.fault, str(e)
            self._record(kind, call=call, args=args)
            self._record("fault", vm=e.fault.vm, vcpu=e.fault.vcpu, detail=str(e.fault))
            return QemuOutcome(fault=e.fault)
        except (GdbTimeout, _NoProgress) as e:
            if isinstance(e, _NoProgress):
                cfg = self.image_cfg
                limit = f"{cfg.call_slices} time slices of guest progress ({cfg.preempt_ticks} timer ticks each)"
            else:
                limit = f"{self.image_cfg.call_timeout}s"
            why = f"the primary's {shown} did not return to hf_driver_ready within {limit}"
            try:
                client.interrupt(2.0)
            except GdbError:
                pass
            fault = self._guest_fault()
            if fault is not None:
                self._state = "fault"
                self._fault, self._why_dead = fault, str(fault)
                self._record(kind, call=call, args=args)
                self._record("fault", vm=fault.vm, vcpu=fault.vcpu, detail=str(fault))
                return QemuOutcome(fault=fault)
            self._state = "timeout"
            self._why_dead = f"{why}; serial log: {_tail(self.serial_log, 600)}"
            self._record(kind, call=call, args=args)
            self._record("stop", detail=f"timeout: the call did not return within {limit}")
            return QemuOutcome(timeout=self._why_dead)
        except GdbLinkError as e:
            stop = self._link_lost(e, shown)
        except GdbError as e:
            self._state = "lost"
            self._why_dead = f"gdb link failed during {shown}: {e}"
            raise self._error(self._why_dead) from None
        if stop.exited:
            off = self._exited(stop, shown)  # raises unless the system switched off
            self._record(kind, call=call, args=args)
            self._record("stop", detail=self._why_dead or "system off")
            return off
        self._check_parked(stop, f"call {shown}")
        fault = None if self.era.fault_stops else self._guest_fault()
        if fault is not None:  # logged during the call, which returned (Era.fault_stops False)
            self._state = "fault"
            self._fault, self._why_dead = fault, str(fault)
            self._record(kind, call=call, args=args)
            self._record("fault", vm=fault.vm, vcpu=fault.vcpu, detail=str(fault))
            return QemuOutcome(fault=fault)
        try:
            out = client.read_memory(self.block + lib_layout.DRIVER_OUT, 31 * 8)
        except GdbError as e:
            raise self._error(f"reading the driver's results over the gdb link failed: {e}") from None
        result = tuple(int.from_bytes(out[8 * i : 8 * i + 8], "little") for i in range(31))
        self._record(kind, call=call, args=args, result=result[0])
        return QemuOutcome(regs=result)

    def _link_lost(self, e: GdbError, shown: str) -> StopReply:
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() == 0:  # QEMU shut down cleanly without a W packet: system off
            return StopReply("W", 0, raw="(connection closed)")
        self._state = "lost"
        self._why_dead = f"gdb link lost during {shown}: {e}"
        raise self._error(self._why_dead)

    def _exited(self, stop: StopReply, shown: str) -> QemuOutcome:
        try:
            status = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            status = None
        if stop.kind == "W" and status in (0, None):
            self._state = "off"
            self._why_dead = "the system switched off (QEMU exited with status 0)"
            return QemuOutcome(system_off=True)
        self._state = "lost"
        self._why_dead = f"QEMU exited during {shown} ({stop.raw}, status {status})"
        raise self._error(self._why_dead)

    def close(self) -> None:
        self._state = "closed"
        self._finalizer()

    def __enter__(self) -> QemuSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
