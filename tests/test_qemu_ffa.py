"""The QEMU backend's ``ffa-1.1-indirect`` era (Hafnium 21bfbdc1): the DTB writer, the manifest and
partition-manifest bytes, the initrd layout, the era's facts and config parsing — all without an
image — and a smoke test on a real image, run only when ``HFCONFORM_FFA_IMAGE`` names its config
file (e.g. ``/work/hafnium-build-21bfbdc1/hafnium-21bfbdc1.toml``) and QEMU is installed."""

from __future__ import annotations

import os
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from test_qemu_backend import need_qemu

from conformance.backends import cpio, fdt
from conformance.backends import qemu as qb
from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import qemu as era_mod

# ------------------------------------------------------------------------------------------------
# fdt: the format's bytes


def test_fdt_header_and_blocks_bytes() -> None:
    blob = fdt.write(fdt.node("", [("a", fdt.cells(1))], [fdt.node("n", [("a", b""), ("bb", fdt.string("x"))])]))
    f = struct.unpack_from(">10I", blob)
    assert f[0] == 0xD00DFEED
    assert f[1] == len(blob)  # totalsize
    assert f[4] == 40  # the reservation map right after the header
    assert blob[40:56] == bytes(16)  # one all-zero entry: empty
    assert f[2] == 56  # structure block
    assert (f[5], f[6]) == (17, 16)  # version, last compatible
    assert f[3] == f[2] + f[9] and f[8] == len(b"a\0bb\0")  # strings after the structure; "a" once
    body = blob[56 : 56 + f[9]]
    words = struct.unpack(f">{len(body) // 4}I", body)
    assert words[:2] == (1, 0)  # BEGIN_NODE, "" padded to 4
    assert words[2:6] == (3, 4, 0, 1)  # PROP len 4, nameoff 0 ("a"), <1>
    assert words[6:8] == (1, int.from_bytes(b"n\0\0\0", "big"))
    assert words[8:11] == (3, 0, 0)  # boolean "a": empty value, same name offset
    assert words[11:14] == (3, 2, 2)  # "bb" = "x\0", padded
    assert words[-3:] == (2, 2, 9)  # END_NODE n, END_NODE /, END
    assert blob[f[3] :] == b"a\0bb\0"


def test_fdt_round_trip_and_value_encoders() -> None:
    tree = fdt.node("", [("compatible", fdt.string("x,y"))], [fdt.node("vm1", [("mem_size", fdt.u64(0x1_0000_0000))])])
    back = fdt.read(fdt.write(tree))
    assert back == tree
    assert back.child("vm1").prop("mem_size") == bytes.fromhex("0000000100000000")
    assert fdt.cells(0x12345678, 1) == bytes.fromhex("1234567800000001")


@pytest.mark.parametrize(
    "bad",
    [
        lambda: fdt.write(fdt.node("root")),
        lambda: fdt.write(fdt.node("", [("p", b""), ("p", b"")])),
        lambda: fdt.write(fdt.node("", [], [fdt.node("a"), fdt.node("a")])),
        lambda: fdt.write(fdt.node("", [], [fdt.node("bad name")])),
        lambda: fdt.cells(1 << 32),
        lambda: fdt.string("a\0b"),
        lambda: fdt.read(b"\0" * 40),
    ],
)
def test_fdt_refuses_what_the_format_cannot_hold(bad: object) -> None:
    with pytest.raises(fdt.FdtError):
        bad()  # type: ignore[operator]


# ------------------------------------------------------------------------------------------------
# the era's manifest and initrd


def _guest(vm_id: int, name: str = "echo.S", memory: int = 0x10_0000, vcpus: int = 1) -> qb.GuestImage:
    return qb.GuestImage(vm_id, GuestVM("b .", name, memory, vcpus), bytes([vm_id]) * 8)


def test_manifest_declares_the_primary_then_ffa_partitions_in_id_order() -> None:
    root = fdt.read(era_mod.manifest([(2, "vm2-echo.S", 0x10_0000, 1, "vm2.dtb"), (3, "vm3-x", 0x20_0000, 2, "vm3.dtb")]))
    hyp = root.child("hypervisor")
    assert hyp.prop("compatible") == b"hafnium,hafnium\0"
    assert [n.name for n in hyp.children] == ["vm1", "vm2", "vm3"]
    assert hyp.child("vm1").prop("kernel_filename") == b"primary\0"
    vm3 = hyp.child("vm3")
    assert vm3.prop("is_ffa_partition") == b"" and vm3.prop("hyp_loaded") == b""
    assert vm3.prop("mem_size") == bytes.fromhex("00200000")
    assert vm3.prop("vcpu_count") == bytes.fromhex("00000002")
    assert vm3.prop("kernel_filename") == b"vm3-x\0"
    assert vm3.prop("fdt_filename") == b"vm3.dtb\0"


def test_partition_manifest_is_a_v1_1_indirect_messaging_partition() -> None:
    root = fdt.read(era_mod.partition_manifest(3, 2))
    assert root.prop("compatible") == b"arm,ffa-manifest-1.0\0"
    assert root.prop("ffa-version") == bytes.fromhex("00010001")  # VER-8: v1.1 until FFA_VERSION
    assert root.prop("messaging-method") == bytes.fromhex("00000004")  # indirect messaging only
    assert root.prop("notification-support") == b""
    assert root.prop("execution-ctx-count") == bytes.fromhex("00000002")
    assert root.prop("exception-level") == bytes(4) and root.prop("execution-state") == bytes(4)
    uuid = root.prop("uuid")
    assert len(uuid) == 16 and any(uuid)  # Hafnium lists a partition once per non-Nil UUID
    assert uuid[12:] == bytes.fromhex("00000003")


def test_initrd_members_and_order() -> None:
    data = era_mod.initrd(b"DRIVER", [_guest(1, "echo.S"), _guest(2, "a b/c", 0x20_0000, 2)])
    members = cpio.read(data)
    assert [m.name for m in members] == [
        "manifest.dtb", "primary", "vm2-echo.S", "vm2.dtb", "vm3-a_b_c", "vm3.dtb",
    ]  # fmt: skip
    assert data[:2] == b"\xc7\x71"  # old binary cpio, as src/cpio.c reads
    by = {m.name: m.data for m in members}
    assert by["primary"] == b"DRIVER" and by["vm3-a_b_c"] == bytes([2]) * 8
    hyp = fdt.read(by["manifest.dtb"]).child("hypervisor")
    # guest index n is partition ID n + 1 (ID-3)
    assert hyp.child("vm3").prop("kernel_filename") == b"vm3-a_b_c\0"
    assert hyp.child("vm3").prop("mem_size") == bytes.fromhex("00200000")
    assert fdt.read(by["vm3.dtb"]).prop("execution-ctx-count") == bytes.fromhex("00000002")


def test_running_names_the_target_of_ffa_run() -> None:
    assert era_mod.running(0x8400006D, 0x0003_0000) == 2  # partition 3 = index 2
    assert era_mod.running(0x8401006D, 0x0002_0000) == 1  # the SVE hint bit is ignored
    assert era_mod.running(0x8400006D, 0x0001_0000) == 0  # the primary itself
    assert era_mod.running(0x84000086, 0x0003_0000) == 0  # not a run: the primary


def test_era_facts() -> None:
    e = era_mod.ERA
    assert e.primary_base == 0x4028_0000 and e.ram == 1 << 30
    assert e.machine == ("-machine", "virt-6.2,virtualization=on,gic-version=3", "-smp", "8")
    assert e.cpu == "max,pauth-impdef=true" and e.gic_version == 3 and e.gic_redistributor == 0x080A_0000
    assert e.progress_timer and not e.fault_stops
    for line, pc in [
        ("WARNING: Stage-2 page fault with invalid IPA: pc=0x200, vmid=0x2, vcpu=0, vaddr=0x200, mode=0x4\n", 0x200),
        (
            "WARNING: Stage-2 page fault: pc=0x7ff00004, vmid=0x2, vcpu=0, vaddr=0x1000, ipaddr=0x1000, mode=0x1 0x7c\n",
            0x7FF0_0004,
        ),
    ]:
        m = e.fault_log.search(line)
        assert m is not None and int(m.group(2), 16) == pc
    assert e.fault_log.search("WARNING: Stage-2 page fault: pc=0x7ff0") is None  # only a whole line
    # A logged fault ends the call only once the guest faulted on fetching its (absent) vector.
    assert e.fault_fatal is not None
    fatal = "WARNING: Stage-2 page fault with invalid IPA: pc=0x200, vmid=0x2, vcpu=0, vaddr=0x200, mode=0x4\n"
    assert e.fault_fatal.search(fatal) is not None
    handled = "WARNING: Stage-2 page fault with invalid IPA: pc=0x7ff00808, vmid=0x2, vcpu=0, vaddr=0x7ff11000, mode=0x2\n"
    assert e.fault_fatal.search(handled) is None


def test_gicv3_cpu_setup_encodings() -> None:
    # mov x0, #0xff; msr ICC_PMR_EL1, x0; mov x0, #1; msr ICC_IGRPEN1_EL1, x0; isb; b .
    assert qb.GICV3_CPU_SETUP == (0xD2801FE0, 0xD5184600, 0xD2800020, 0xD518CCE0, 0xD5033FDF, 0x14000000)
    assert qb.ImageConfig(None, profile="ffa-1.1-indirect").primary_base + qb.QemuSession.GICV3_SETUP_OFFSET < 0x4800_0000


def test_hafnium_2018_era_keeps_its_defaults() -> None:
    e = qb.era("hafnium-2018-10")
    assert e.machine == ("-M", "virt", "-machine", "virtualization=true") and e.cpu == "cortex-a57"
    assert e.gic_version == 2 and e.fault_stops
    assert e.running(0xFF00, 3) == 3 and e.running(0x40000000 | 0xFF00, 2) == 2 and e.running(0xFF01, 3) == 0


# ------------------------------------------------------------------------------------------------
# config parsing


def test_config_of_an_ffa_image_takes_the_era_defaults(tmp_path: Path) -> None:
    (tmp_path / "hafnium.bin").write_bytes(b"\0" * 64)
    cfg = tmp_path / "hf.toml"
    cfg.write_text('image = "hafnium.bin"\nprofile = "ffa-1.1-indirect"\n', encoding="utf-8")
    got = qb.load_config(cfg)
    assert (got.profile, got.primary_base, got.ram, got.max_secondaries) == ("ffa-1.1-indirect", 0x4028_0000, 1 << 30, 7)
    assert got.cpu == "max,pauth-impdef=true"
    assert got.initrd_address == 0x4800_0000
    cfg.write_text('image = "hafnium.bin"\nprofile = "ffa-1.1-indirect"\ncpu = "cortex-a72"\nmemory = "512M"\n', encoding="utf-8")
    got = qb.load_config(cfg)
    assert (got.cpu, got.ram) == ("cortex-a72", 512 << 20)
    assert qb.build_from_spec(str(cfg)).profiles == frozenset({"ffa-1.1-indirect"})


def test_layout_of_ffa_secondaries_from_the_top_of_ram() -> None:
    cfg = qb.ImageConfig(None, profile="ffa-1.1-indirect")
    lay = qb.layout(cfg, [GuestVM("b .", "a"), GuestVM("b .", "b", 0x20_0000)])
    assert lay.bases == (0x4028_0000, 0x7FF0_0000, 0x7FD0_0000)  # as the real image carves them


# ------------------------------------------------------------------------------------------------
# a real image (skipped without one: built outside the repository, see docs/qemu-ffa.md)

REAL_CONFIG = os.environ.get("HFCONFORM_FFA_IMAGE", "/work/hafnium-build-21bfbdc1/hafnium-21bfbdc1.toml")


def _real_image() -> str:
    if not os.path.exists(REAL_CONFIG):
        pytest.skip(f"no Hafnium 21bfbdc1 config at {REAL_CONFIG} (set HFCONFORM_FFA_IMAGE to its TOML file)")
    need_qemu()
    return REAL_CONFIG


def test_real_image_boots_runs_preempts_and_reports_a_guest_fault() -> None:
    from profiles.ffa_1_1_indirect.hv import boot

    build = qb.build_from_spec(_real_image())
    count = (
        "start:\n    mov x1, #0\n    adr x2, start\n    add x2, x2, #0x12000\n"
        "loop:\n    add x1, x1, #1\n    str x1, [x2]\n    b loop\n"
    )
    firsts = []
    for _ in range(2):
        hv = boot(build, GuestVM(count, "count.S"))
        try:
            assert hv.version(0x0001_0001) == 0x0001_0003  # VER-1: the callee's own version
            assert hv.id_get()[:3] == (0x84000061, 0, 1)  # the primary is partition 1
            # a spinning secondary is preempted by the primary's timer: FFA_INTERRUPT, w1 = 2<<16 | 0
            assert hv.run_once(2)[:3] == (0x84000062, 0x2_0000, 0)
            firsts.append(int.from_bytes(hv.session.read(1, hv.base(1) + 0x12000, 8), "little"))
            assert hv.run_once(2)[0] == 0x84000062
        finally:
            hv.session.close()
    assert firsts[0] == firsts[1] > 100_000  # counted in guest instructions: the same on every boot

    hv = boot(build, GuestVM("start:\n    mov x1, #0x1000\n    ldr x0, [x1]\n    b start\n", "fault.S"))
    try:
        hv.version(0x0001_0001)
        out = hv.session.call(0x8400006D, 2 << 16)
        assert out.fault is not None and out.fault.vm == 1 and out.fault.pc == hv.base(1) + 4
        assert hv.session.call(0x84000069).fault == out.fault  # the system stays stopped
    finally:
        hv.session.close()

    # A call that never returns is bounded by guest progress: with the timer's PPI replaced by one
    # nothing raises, a spinning secondary is never preempted and FFA_RUN ends as a TIMEOUT after
    # call_slices expiries of the primary's timer (which the NS build does not switch).
    quiet = qb.QemuBuild(replace(build.image_cfg, preempt_irq=29))
    hv = boot(quiet, GuestVM("start:\n    b start\n", "spin.S"))
    try:
        hv.version(0x0001_0001)
        out = hv.session.call(0x8400006D, 2 << 16)
        assert out.timeout is not None and "16 time slices of guest progress" in str(out.timeout)
    finally:
        hv.session.close()
