"""The QEMU backend's knowledge of Hafnium images of the hafnium-2019-03 era (53d9d04f):
``profiles/hafnium_2019_03/qemu.py`` (``ERA``: its fault line, layout, initrd, timer), the
physical-timer entry of the driver, the image config and limits -- without an image -- and, when
a real 53d9d04f build and its config file are present, a small smoke test on it.

The real-image tests look for the config file named by ``HFCONFORM_HAFNIUM_2019_03`` (default
``/work/hafnium-build-53d9d04f/hafnium-53d9d04f.toml``) and SKIP without it (no Hafnium image is
part of this project); without ``qemu-system-aarch64`` they SKIP too, unless
``HFCONFORM_REQUIRE_QEMU=1`` is set (then they FAIL)."""

from __future__ import annotations

import os
import shutil
import types
from pathlib import Path

import pytest

from conformance.backends import cpio, qemu
from conformance.protocol import CAP_FAULT_CONTINUE, BuildError, GuestVM, SystemConfig
from guest_asm import layout
from profiles.hafnium_2019_03 import programs
from profiles.hafnium_2019_03 import qemu as era_2019
from profiles.hafnium_2019_03.hv import program

PROFILE = "hafnium-2019-03"
MIB = 1 << 20
REAL_CONFIG = Path(os.environ.get("HFCONFORM_HAFNIUM_2019_03", "/work/hafnium-build-53d9d04f/hafnium-53d9d04f.toml"))

# What Hafnium 53d9d04f printed under QEMU 7.2 (pieces of real serial logs; lines end in \r\n).
SECONDARY_FAULT = (
    "Stage-2 page fault: pc=0x43f01018, vmid=1, vcpu=0, vaddr=0x1, ipaddr=0x1, mode=0x2, size=4\r\nAborting VM 1 vCPU 0\r\n"
)
SECONDARY_UNKNOWN = "Unknown lower sync exception pc=0x43f00010, esr=0x2000000, ec=0x0\r\nAborting VM 2 vCPU 0\r\n"
PRIMARY_FAULT = (
    "Stage-2 page fault: pc=0x40080100, vmid=0, vcpu=0, vaddr=0x0, ipaddr=0x0, mode=0x2, size=8\r\nAborting VM 0 vCPU 0\r\n"
)
PRIMARY_UNKNOWN = "Unknown lower sync exception pc=0x40080104, esr=0x2000000, ec=0x0\r\nAborting VM 0 vCPU 0\r\n"


# ------------------------------------------------------------------------------------------------
# ERA: the facts of the era


def test_era_is_registered_for_the_profile() -> None:
    assert qemu.era(PROFILE) is era_2019.ERA


def test_era_layout_and_timer_facts() -> None:
    e = era_2019.ERA
    assert (e.primary_base, e.ram, e.max_secondaries, e.max_vcpus) == (0x4008_0000, 64 * MIB, 8, 8)
    assert (e.timer, e.preempt_irq, e.progress_timer) == ("physical", 30, True)
    assert e.capabilities == frozenset({CAP_FAULT_CONTINUE})
    # the 2018 era is unchanged: the virtual timer, its PPI, no capabilities, no vCPU limit
    old = qemu.era("hafnium-2018-10")
    assert (old.timer, old.preempt_irq, old.capabilities, old.max_vcpus) == ("virtual", 27, frozenset(), 0)


@pytest.mark.parametrize("log", [SECONDARY_FAULT, SECONDARY_UNKNOWN, SECONDARY_FAULT + SECONDARY_UNKNOWN])
def test_a_secondarys_fault_is_not_a_system_stop(log: str) -> None:
    # RUN-11: the VM is aborted and the primary's run returns ABORTED; the image goes on.
    assert era_2019.ERA.fault_log.search("Hafnium initialisation completed\r\n" + log) is None


@pytest.mark.parametrize(
    ("log", "kind", "pc"),
    [(PRIMARY_FAULT, "Stage-2 page fault", 0x4008_0100), (PRIMARY_UNKNOWN, "Unknown lower sync exception", 0x4008_0104)],
)
def test_the_primarys_fault_is_the_eras_fault_line(log: str, kind: str, pc: int) -> None:
    m = era_2019.ERA.fault_log.search(SECONDARY_FAULT + log)
    assert m is not None
    assert (m.group(1), int(m.group(2), 16), m.group("vm"), m.group("vcpu")) == (kind, pc, "0", "0")


@pytest.mark.parametrize("cut", [10, len(PRIMARY_FAULT) - 30, len(PRIMARY_FAULT) - 2])
def test_only_a_complete_fault_line_counts(cut: int) -> None:
    assert era_2019.ERA.fault_log.search(PRIMARY_FAULT[:cut]) is None


def _fault_of(tmp_path: Path, text: str, running: int) -> qemu.QemuFault | None:
    log = tmp_path / "serial.log"
    log.write_bytes(text.encode())
    fake = types.SimpleNamespace(serial_log=log, _log_mark=0, era=era_2019.ERA, _running=running)
    return qemu.QemuSession._guest_fault(fake)  # type: ignore[arg-type]


def test_guest_fault_names_the_vm_of_the_log_line(tmp_path: Path) -> None:
    assert _fault_of(tmp_path, SECONDARY_FAULT, running=1) is None
    fault = _fault_of(tmp_path, SECONDARY_FAULT + PRIMARY_FAULT, running=1)
    assert fault is not None
    assert (fault.vm, fault.vcpu, fault.pc, fault.kind) == (0, 0, 0x4008_0100, "stage-2 fault")
    assert "Aborting VM 0 vCPU 0" in fault.logged


# ------------------------------------------------------------------------------------------------
# initrd and layout


def _image(tmp_path: Path) -> Path:
    image = tmp_path / "hafnium.bin"
    image.write_bytes(b"\0" * 64)
    return image


def test_initrd_members_and_vms_txt() -> None:
    vms = [GuestVM("x", "echo.S", 0x10_0000, 1), GuestVM("y", "relay.S", 0x20_0000, 3)]
    guests = [qemu.GuestImage(1, vms[0], b"\x11" * 8), qemu.GuestImage(2, vms[1], b"\x22" * 12)]
    members = {m.name: m.data for m in cpio.read(era_2019.ERA.initrd(b"DRIVER", guests))}
    assert members["vmlinuz"] == b"DRIVER" and members["initrd.img"] == b""
    names = [cpio.member_name(1, "echo.S"), cpio.member_name(2, "relay.S")]
    assert members["vms.txt"].decode().split("\n")[:2] == [f"{0x10_0000} 1 {names[0]}", f"{0x20_0000} 3 {names[1]}"]
    assert (members[names[0]], members[names[1]]) == (b"\x11" * 8, b"\x22" * 12)


def test_layout_of_a_64_mib_image(tmp_path: Path) -> None:
    cfg = qemu.ImageConfig(_image(tmp_path), name="hf", profile=PROFILE)
    assert (cfg.ram, cfg.primary_base, cfg.initrd_address, cfg.preempt_irq) == (64 * MIB, 0x4008_0000, 0x4200_0000, 30)
    lay = qemu.layout(cfg, [GuestVM("x"), GuestVM("y"), GuestVM("z", memory=0x20_0000)])
    assert lay.bases == (0x4008_0000, 0x43F0_0000, 0x43E0_0000, 0x43C0_0000)
    assert lay.sizes == (0x43C0_0000 - 0x4008_0000, MIB, MIB, 2 * MIB)


def test_limits_of_the_image_are_errors_naming_them(tmp_path: Path) -> None:
    cfg = qemu.ImageConfig(_image(tmp_path), name="hf", profile=PROFILE)
    assert len(qemu.layout(cfg, [GuestVM("x")] * 8).bases) == 9
    with pytest.raises(BuildError, match=r"limit of image hf: it runs at most 8 secondaries"):
        qemu.layout(cfg, [GuestVM("x")] * 9)
    assert qemu.layout(cfg, [GuestVM("x", vcpus=8)]).bases[1] == 0x43F0_0000
    with pytest.raises(BuildError, match=r"limit of image hf: a VM has at most 8 vCPUs .* VM 1 asks for 64"):
        qemu.layout(cfg, [GuestVM("x", vcpus=64)])
    unlimited = qemu.ImageConfig(_image(tmp_path), name="hf", profile=PROFILE, max_vcpus=0)
    assert qemu.layout(unlimited, [GuestVM("x", vcpus=64)]).bases[1] == 0x43F0_0000


def test_build_declares_the_eras_capabilities(tmp_path: Path) -> None:
    assert qemu.QemuBuild(qemu.ImageConfig(_image(tmp_path), profile=PROFILE)).capabilities == {CAP_FAULT_CONTINUE}
    assert qemu.QemuBuild(qemu.ImageConfig(_image(tmp_path))).capabilities == frozenset()  # 2018
    assert qemu.QemuBuild(qemu.stub_config()).capabilities == frozenset()


# ------------------------------------------------------------------------------------------------
# the config file


def test_config_with_only_the_profile_takes_the_eras_layout(tmp_path: Path) -> None:
    _image(tmp_path)
    path = tmp_path / "hf.toml"
    path.write_text(f'image = "hafnium.bin"\nprofile = "{PROFILE}"\n')
    cfg = qemu.load_config(path)
    assert (cfg.profile, cfg.ram, cfg.primary_base, cfg.max_secondaries, cfg.max_vcpus, cfg.preempt_irq) == (
        PROFILE, 64 * MIB, 0x4008_0000, 8, 8, 30,
    )  # fmt: skip
    path.write_text(f'image = "hafnium.bin"\nprofile = "{PROFILE}"\nmax_vcpus = 4\npreempt_irq = 27\n')
    cfg = qemu.load_config(path)
    assert (cfg.max_vcpus, cfg.preempt_irq) == (4, 27)


@pytest.mark.parametrize(
    ("body", "match"), [("max_vcpus = -1", r"max_vcpus -1: must be >= 0"), ('max_vcpus = "8"', r"max_vcpus: expected an integer")]
)
def test_config_max_vcpus_is_checked(tmp_path: Path, body: str, match: str) -> None:
    _image(tmp_path)
    path = tmp_path / "hf.toml"
    path.write_text(f'image = "hafnium.bin"\nprofile = "{PROFILE}"\n{body}\n')
    with pytest.raises(ValueError, match=match):
        qemu.load_config(path)


def test_the_real_config_file_if_present() -> None:
    if not REAL_CONFIG.is_file():
        pytest.skip(f"no Hafnium 53d9d04f config at {REAL_CONFIG} (set HFCONFORM_HAFNIUM_2019_03)")
    cfg = qemu.load_config(REAL_CONFIG)
    assert cfg.profile == PROFILE and cfg.image is not None and cfg.image.is_file()
    assert (cfg.ram, cfg.primary_base, cfg.max_secondaries, cfg.max_vcpus, cfg.preempt_irq) == (64 * MIB, 0x4008_0000, 8, 8, 30)


# ------------------------------------------------------------------------------------------------
# the driver's physical-timer entry


def test_driver_physical_timer_entry() -> None:
    """``hf_driver_timed_phys`` arms the EL1 physical timer from the block's last word and goes on
    at ``hf_driver_ready + 4``; it lies outside the path the reference runs."""
    img = programs.build_driver(0x4008_0000)
    ready, dispatch, phys, virt = (
        img.symbol(s) for s in ("hf_driver_ready", "hf_driver_dispatch", "hf_driver_timed_phys", "hf_driver_timed")
    )
    assert qemu.TIMERS["physical"][0] == "hf_driver_timed_phys" and qemu.TIMERS["virtual"][0] == "hf_driver_timed"
    words = [img.word(phys + 4 * i) for i in range(6)]
    assert words[0] == 0xF9400000 | (qemu.DRIVER_TIMER // 8) << 10 | 31 << 5  # ldr x0, [sp, #DRIVER_TIMER]
    assert words[1] == 0xD51BE200  # msr cntp_tval_el0, x0
    assert words[2] == 0xD2800020  # mov x0, #1
    assert words[3] == 0xD51BE220  # msr cntp_ctl_el0, x0 (enabled, not masked)
    assert words[5] == 0x14000000 | ((dispatch - (phys + 20)) >> 2) & 0x3FFFFFF  # b hf_driver_dispatch
    assert virt < phys < img.symbol("hf_driver_block") and not ready < phys < ready + 0x20


# ------------------------------------------------------------------------------------------------
# a real image (skipped without one)

SPIN = """
_start:
    adr x21, _start
    add x21, x21, #0x14000
    mov x19, #0
spin:
    add x19, x19, #1
    str x19, [x21]
    b spin
"""
FAULT = """
_start:
    mov x1, #0x10
    ldr x0, [x1]
    b _start
"""


@pytest.fixture
def real_build() -> qemu.QemuBuild:
    if not REAL_CONFIG.is_file():
        pytest.skip(f"no Hafnium 53d9d04f config at {REAL_CONFIG} (set HFCONFORM_HAFNIUM_2019_03)")
    if shutil.which("qemu-system-aarch64") is None:
        why = "qemu-system-aarch64 is not installed (apt-get install qemu-system-arm)"
        if os.environ.get("HFCONFORM_REQUIRE_QEMU") == "1":
            pytest.fail(f"{why}; HFCONFORM_REQUIRE_QEMU=1 is set")
        pytest.skip(why)
    return qemu.QemuBuild(qemu.load_config(REAL_CONFIG))


def _boot(build: qemu.QemuBuild, *guests: GuestVM) -> qemu.QemuSession:
    return build.boot(SystemConfig(tuple(guests), profile=PROFILE))


def test_real_image_boots_and_answers(real_build: qemu.QemuBuild) -> None:
    session = _boot(real_build, program("echo"), program("echo"))
    try:
        assert session.base(1) == 0x43F0_0000 and session.base(2) == 0x43E0_0000
        assert session.entry == session.driver.symbol("hf_driver_timed_phys")
        assert session.call(0xFF00).regs[0] == 0  # VM_GET_ID: the primary is VM 0
        assert session.call(0xFF01).regs[0] == 3  # VM_GET_COUNT
        assert session.call(0xFF02, 1).regs[0] == 1  # VCPU_GET_COUNT(1)
        assert "Hafnium initialisation completed" in session.serial_log.read_text()
    finally:
        session.close()


def test_real_image_preempts_a_spinning_secondary_after_the_same_instructions(real_build: qemu.QemuBuild) -> None:
    # RUN-4 on 53d9d04f: the primary's EL1 physical timer (PPI 30) is a physical IRQ while VM 1
    # spins; Hafnium returns PREEMPTED 0x0 and VM 1 resumes on the next run. Counted in guest
    # instructions: the same count in every boot.
    counts = []
    for _ in range(2):
        session = _boot(real_build, GuestVM(SPIN, "count_spin.S"))
        try:
            seen = []
            for _ in range(2):
                assert session.call(0xFF03, 1, 0).regs[0] == 0x0
                seen.append(int.from_bytes(session.read(1, session.base(1) + layout.LIB_REPORT, 8), "little"))
            assert seen[1] > seen[0] > 0
            counts.append(tuple(seen))
        finally:
            session.close()
    assert counts[0] == counts[1], counts


def test_real_image_goes_on_after_a_secondarys_fault(real_build: qemu.QemuBuild) -> None:
    # RUN-11: a data abort on unmapped memory aborts VM 1, run returns ABORTED 0x7, the system goes on.
    session = _boot(real_build, GuestVM(FAULT, "fault.S"), program("echo"))
    try:
        assert session.call(0xFF03, 1, 0).regs[0] == 0x7
        assert "Aborting VM 1 vCPU 0" in session.serial_log.read_text()
        assert session.call(0xFF01).regs[0] == 3  # still answering: no fault outcome, no stop
        assert all(r.kind != "fault" for r in session.trace)
    finally:
        session.close()
