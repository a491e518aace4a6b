"""The QEMU backend (conformance/backends): initrd packaging, the gdb client, the image config
file, the guest-progress preemption timer, and end to end on the built-in stub image
(``--hv qemu:stub``). The end-to-end tests need ``qemu-system-aarch64``: without it they SKIP,
saying how to install it, unless ``HFCONFORM_REQUIRE_QEMU=1`` is set (CI sets it): then they FAIL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from conformance.backends import cpio, gdb, qemu, stub
from conformance.plugin import BuildSpecError, resolve_build
from conformance.protocol import Build, BuildError, GuestVM, Session, SystemConfig, TraceRecord
from guest_asm import layout
from guest_asm.programs import Call
from profiles.hafnium_2018_10 import abi, programs
from profiles.hafnium_2018_10.hv import program, script

ROOT = Path(__file__).resolve().parent.parent


def need_qemu() -> None:
    """Skip (or, with ``HFCONFORM_REQUIRE_QEMU=1``, fail) a test that needs ``qemu-system-aarch64``."""
    if shutil.which("qemu-system-aarch64") is not None:
        return
    why = (
        "qemu-system-aarch64 is not installed: the QEMU backend's end-to-end tests need it. Enable them "
        "with: apt-get install qemu-system-arm (Debian/Ubuntu)"
    )
    if os.environ.get("HFCONFORM_REQUIRE_QEMU") == "1":
        pytest.fail(f"{why}. HFCONFORM_REQUIRE_QEMU=1 is set, so this is a failure, not a skip.")
    pytest.skip(f"{why}; or set HFCONFORM_REQUIRE_QEMU=1 to make its absence a failure.")


# ------------------------------------------------------------------------------------------------
# cpio / vms.txt


def test_cpio_old_binary_format_bytes() -> None:
    data = cpio.write([("vmlinuz", b"abc"), ("vms.txt", b"")])
    # member 1: header of thirteen little-endian u16 fields
    f = struct.unpack_from("<13H", data, 0)
    assert f[0] == 0o070707 == 0x71C7
    assert data[:2] == b"\xc7\x71"
    assert f[3] == 0o100644  # mode: regular file
    assert f[6] == 1  # nlink
    assert f[10] == len(b"vmlinuz\0") == 8  # namesize includes the NUL
    assert (f[11], f[12]) == (0, 3)  # filesize, most significant half first
    assert data[26:34] == b"vmlinuz\0"  # even length: no padding
    assert data[34:38] == b"abc\0"  # data padded to even
    # member 2: odd namesize (8 = "vms.txt\0") and empty data
    g = struct.unpack_from("<13H", data, 38)
    assert g[0] == 0o070707 and g[10] == 8 and (g[11], g[12]) == (0, 0)
    # trailer
    t = struct.unpack_from("<13H", data, 38 + 26 + 8)
    assert t[0] == 0o070707 and t[10] == len(b"TRAILER!!!\0") == 11 and (t[11], t[12]) == (0, 0)
    assert data[38 + 26 + 8 + 26 :][:12] == b"TRAILER!!!\0\0"  # odd name padded
    assert len(data) % 512 == 0
    assert data[38 + 26 + 8 + 26 + 12 :] == b"\0" * (len(data) - (38 + 26 + 8 + 26 + 12))


def test_cpio_large_file_size_split_in_halves() -> None:
    big = bytes(range(256)) * 300  # 76800 bytes = 0x12C00
    data = cpio.write([("x", big)])
    f = struct.unpack_from("<13H", data, 0)
    assert (f[11], f[12]) == (0x1, 0x2C00)
    assert cpio.read(data)[0].data == big


def test_cpio_round_trip_and_errors() -> None:
    files = [("a", b"1"), ("bb", b"22"), ("ccc", b""), ("d", bytes(4097))]
    assert [(m.name, m.data) for m in cpio.read(cpio.write(files))] == files
    with pytest.raises(cpio.CpioError):
        cpio.write([("a b", b"")])
    with pytest.raises(cpio.CpioError):
        cpio.write([("a", b""), ("a", b"")])
    with pytest.raises(cpio.CpioError, match="magic"):
        cpio.read(b"\0" * 64)
    with pytest.raises(cpio.CpioError):
        cpio.read(cpio.write([("a", b"xyz")])[:30])


def test_vms_txt_and_initrd_members() -> None:
    vms = [cpio.Secondary("vm1-echo.S", 0x100000, 1, b"\x01\x02"), cpio.Secondary("vm2-relay.S", 0x200000, 4, b"\x03")]
    assert cpio.vms_txt(vms) == b"1048576 1 vm1-echo.S\n2097152 4 vm2-relay.S\n"
    initrd = cpio.make_initrd(b"PRIMARY", vms)
    members = cpio.read(initrd)
    assert [m.name for m in members] == ["vmlinuz", "initrd.img", "vms.txt", "vm1-echo.S", "vm2-relay.S"]
    assert members[0].data == b"PRIMARY" and members[1].data == b""
    assert members[2].data == cpio.vms_txt(vms)
    assert members[3].data == b"\x01\x02" and members[4].data == b"\x03"
    assert cpio.member_name(3, "my prog.S") == "vm3-my_prog.S"
    with pytest.raises(cpio.CpioError):
        cpio.vms_txt([cpio.Secondary("x", 0, 1, b"")])


# ------------------------------------------------------------------------------------------------
# Layout and specs (no QEMU needed)


def test_layout_top_of_ram_downwards() -> None:
    prof = qemu.ImageConfig(None, name="t")
    lay = qemu.layout(prof, [GuestVM("", memory=0x100000)] * 3)
    assert lay.bases == (0x40080000, 0x40F00000, 0x40E00000, 0x40D00000)
    lay = qemu.layout(prof, [GuestVM("", memory=0x200000), GuestVM("", memory=0x100000)])
    assert lay.bases[1:] == (0x40E00000, 0x40D00000)


def test_layout_limits_are_build_errors() -> None:
    prof = qemu.ImageConfig(None, name="hafnium-like", max_secondaries=3)
    with pytest.raises(BuildError, match="at most 3 secondaries"):
        qemu.layout(prof, [GuestVM("")] * 4)
    with pytest.raises(BuildError, match="do not fit"):
        qemu.layout(replace(prof, max_secondaries=20), [GuestVM("")] * 8)
    with pytest.raises(BuildError, match="ready_vcpus"):
        qemu.layout(prof, [GuestVM("", vcpus=2, ready_vcpus=2)])


def test_hv_spec_resolution(tmp_path: Path) -> None:
    build = resolve_build("qemu:stub")
    assert build.name == "qemu:stub" and isinstance(build, Build)
    assert resolve_build("qemu:@stub").name == "qemu:stub"
    with pytest.raises(BuildSpecError, match="does not exist"):
        resolve_build(f"qemu:{tmp_path / 'missing.bin'}")
    image = tmp_path / "hafnium.bin"
    image.write_bytes(b"\0" * 16)
    b = resolve_build(f"qemu:{image}")
    assert isinstance(b, qemu.QemuBuild) and b.image_cfg.image == image and b.image_cfg.primary_base == 0x40080000
    cfg = tmp_path / "hf.toml"
    cfg.write_text('image = "hafnium.bin"\nmemory = "32M"\nmax_secondaries = 5\ncall_timeout = 3\nname = "my-hf"\n')
    b = resolve_build(f"qemu:{cfg}")
    assert isinstance(b, qemu.QemuBuild)
    assert (b.name, b.image_cfg.ram, b.image_cfg.max_secondaries, b.image_cfg.call_timeout) == ("my-hf", 32 << 20, 5, 3.0)
    cfg.write_text('image = "hafnium.bin"\nbogus = 1\n')
    with pytest.raises(BuildSpecError, match="unknown key"):
        resolve_build(f"qemu:{cfg}")


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "hf.toml"
    cfg.write_text('image = "stub"\n' + body)
    return cfg


def test_profile_defaults_preempt_by_guest_progress() -> None:
    prof = qemu.stub_config()
    assert prof.preempt_ticks == qemu.DEFAULT_PREEMPT_TICKS > 0
    assert (prof.icount_shift, prof.preempt_irq) == (4, 27)  # 16 ns per instruction; the virtual timer's PPI
    assert not hasattr(prof, "preempt_after")  # no wall-clock slice any more


def test_config_file_preemption_keys(tmp_path: Path) -> None:
    prof = qemu.load_config(write_config(tmp_path, "preempt_ticks = 250_000\nicount_shift = 3\npreempt_irq = 30\n"))
    assert (prof.preempt_ticks, prof.icount_shift, prof.preempt_irq) == (250_000, 3, 30)
    assert qemu.load_config(write_config(tmp_path, "preempt_ticks = 0\n")).preempt_ticks == 0  # never preempt
    assert qemu.load_config(write_config(tmp_path, "call_timeout = 3\n")).call_timeout == 3.0  # an int is fine


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('preempt_ticks = "1000"', r"preempt_ticks: expected an integer, got '1000'"),
        ("preempt_ticks = 1000.0", r"preempt_ticks: expected an integer"),
        ("preempt_ticks = true", r"preempt_ticks: expected an integer"),
        ("preempt_ticks = nan", r"preempt_ticks: expected an integer, got nan"),
        ("preempt_ticks = inf", r"preempt_ticks: expected an integer, got inf"),
        ("preempt_ticks = -1", r"preempt_ticks -1: virtual-timer ticks"),
        ("preempt_ticks = 0x80000000", r"preempt_ticks 2147483648: .*2147483647"),
        ("icount_shift = 11", r"icount_shift 11: QEMU's -icount shift, 0..10"),
        ("icount_shift = 4.0", r"icount_shift: expected an integer"),
        ("icount_shift = -1", r"icount_shift -1"),
        ("preempt_irq = 40", r"preempt_irq 40: the virtual timer's PPI"),
        ('preempt_irq = "27"', r"preempt_irq: expected an integer"),
        ("call_timeout = nan", r"call_timeout: expected a finite number of seconds, got nan"),
        ("call_timeout = inf", r"call_timeout: expected a finite number of seconds, got inf"),
        ("boot_timeout = -inf", r"boot_timeout: expected a finite number of seconds"),
        ('call_timeout = "10"', r"call_timeout: expected a number of seconds, got '10'"),
        ("call_timeout = true", r"call_timeout: expected a number of seconds"),
        ("call_timeout = 0", r"call_timeout 0.0: seconds, a finite number > 0"),
        ("max_secondaries = 3.5", r"max_secondaries: expected an integer"),
        ("gic_distributor = 0x08000004", r"gic_distributor 0x8000004: a 4 KiB aligned"),
        ('extra_args = "-d int"', r"extra_args: expected a list of strings"),
        ("extra_args = [1]", r"extra_args: expected a list of strings"),
        ("cpu = 57", r"cpu: expected a string"),
        ("preempt_after = 0.005", r"preempt_after .*no longer supported.*preempt_ticks"),
        ('qemu = "/nonexistent"', r"qemu: '/nonexistent' is not an executable QEMU \(not found\)"),
        ("x = " + "[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else v,
)
def test_config_file_values_are_checked_strictly(tmp_path: Path, body: str, match: str) -> None:
    cfg = write_config(tmp_path, body + "\n")
    with pytest.raises(ValueError, match=match) as info:
        qemu.load_config(cfg)
    assert str(cfg) in str(info.value)  # the file is named too
    with pytest.raises(BuildSpecError, match=match):
        resolve_build(f"qemu:{cfg}")


def test_driver_timer_entry_is_the_backends_own() -> None:
    """``hf_driver_timed`` arms the virtual timer from the block's last word and goes on at
    ``hf_driver_ready + 4``, where the reference (and the backend with preemption off) enters."""
    img = programs.build_driver(0x4008_0000)
    ready, dispatch, timed = (img.symbol(s) for s in ("hf_driver_ready", "hf_driver_dispatch", "hf_driver_timed"))
    block = img.symbol("hf_driver_block")
    assert dispatch == ready + 4
    assert qemu.DRIVER_TIMER == layout.DRIVER_OUT + 31 * 8 and qemu.DRIVER_TIMER + 8 == layout.DRIVER_BLOCK_SIZE
    words = [img.word(timed + 4 * i) for i in range(6)]
    assert words[0] == 0xF9400000 | (qemu.DRIVER_TIMER // 8) << 10 | 31 << 5  # ldr x0, [sp, #DRIVER_TIMER]
    assert words[1] == 0xD51BE300  # msr cntv_tval_el0, x0
    assert words[3] == 0xD51BE320  # msr cntv_ctl_el0, x0 (x0 = 1: enabled, not masked)
    assert words[5] == 0x14000000 | ((dispatch - (timed + 20)) >> 2) & 0x3FFFFFF  # b hf_driver_dispatch
    assert not ready < timed < ready + 0x20 and timed < block  # outside the path the reference runs


def test_stub_image_patching() -> None:
    image = stub.make_stub_image(4, b"DRIVER")
    built = stub.build_stub()
    off = built.symbol("stub_vm_count") - stub.LOAD_ADDRESS
    assert int.from_bytes(image[off : off + 8], "little") == 4
    off = built.symbol("stub_primary_entry") - stub.LOAD_ADDRESS
    assert int.from_bytes(image[off : off + 8], "little") == stub.PRIMARY_BASE
    assert image[stub.PRIMARY_OFFSET :] == b"DRIVER"
    assert built.symbol("stub_vectors") % 2048 == 0


# ------------------------------------------------------------------------------------------------
# gdb client against a fake stub


class FakeStub:
    """A scripted gdbstub on one end of a socketpair: ``handler(payload) -> reply | None``."""

    def __init__(self, handler: Callable[[str], str | None], *, corrupt_first: bool = False) -> None:
        self.client_sock, self.server = socket.socketpair()
        self.handler = handler
        self.received: list[str] = []
        self.corrupt_first = corrupt_first
        self.ack = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def send(self, payload: str, *, corrupt: bool = False) -> None:
        framed = gdb.frame(payload.encode())
        if corrupt:
            framed = framed[:-2] + b"00" if not framed.endswith(b"00") else framed[:-2] + b"11"
        self.server.sendall(framed)

    def _serve(self) -> None:
        buf = b""
        while True:
            try:
                data = self.server.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                buf = buf.lstrip(b"+-")
                if buf.startswith(b"\x03"):
                    buf = buf[1:]
                    self.received.append("\\x03")
                    self.send("T02thread:01;")
                    continue
                if not buf.startswith(b"$") or b"#" not in buf or len(buf) < buf.index(b"#") + 3:
                    break
                end = buf.index(b"#")
                body, cs = buf[1:end], buf[end + 1 : end + 3]
                buf = buf[end + 3 :]
                assert int(cs, 16) == gdb.checksum(body)
                if self.ack:
                    self.server.sendall(b"+")
                payload = body.decode()
                self.received.append(payload)
                if payload == "QStartNoAckMode":
                    self.send("OK")
                    self.ack = False
                    continue
                reply = self.handler(payload)
                if reply is not None:
                    if self.corrupt_first:
                        self.corrupt_first = False
                        self.send(reply, corrupt=True)
                    self.send(reply)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake() -> Iterator[Callable[..., tuple[gdb.GdbClient, FakeStub]]]:
    made: list[tuple[gdb.GdbClient, FakeStub]] = []

    def make(handler: Callable[[str], str | None], **kw: bool) -> tuple[gdb.GdbClient, FakeStub]:
        server = FakeStub(handler, **kw)
        client = gdb.GdbClient(server.client_sock, timeout=2.0)
        made.append((client, server))
        return client, server

    yield make
    for client, server in made:
        client.close()
        server.close()


def test_gdb_framing_and_checksum() -> None:
    assert gdb.frame(b"m1000,4") == b"$m1000,4#" + f"{sum(b'm1000,4') & 0xFF:02x}".encode()
    assert gdb.frame(b"a#b") == b"$a}\x03b#" + f"{sum(b'a}' + bytes([3]) + b'b') & 0xFF:02x}".encode()
    assert gdb._unescape(b"a}\x03b") == b"a#b"
    assert gdb._unescape(b"0* ") == b"0" * 4  # run-length: ' ' = 32 -> 3 more
    stop = gdb.parse_stop("T05thread:01;swbreak:;")
    assert (stop.kind, stop.signal, stop.info["thread"], stop.exited) == ("T", 5, "01", False)
    assert gdb.parse_stop("W00").exited
    with pytest.raises(gdb.GdbError):
        gdb.parse_stop("OK")


def test_gdb_memory_registers_breakpoints(fake: Callable[..., tuple[gdb.GdbClient, FakeStub]]) -> None:
    memory = bytearray(range(256)) * 17  # 4 KiB + 256 at 0x1000
    regs = list(range(100, 133))

    def handler(p: str) -> str | None:
        if p.startswith("m"):
            addr, n = (int(x, 16) for x in p[1:].split(","))
            return memory[addr - 0x1000 : addr - 0x1000 + n].hex()
        if p.startswith("M"):
            head, data = p[1:].split(":")
            addr, n = (int(x, 16) for x in head.split(","))
            memory[addr - 0x1000 : addr - 0x1000 + n] = bytes.fromhex(data)
            return "OK"
        if p == "g":
            return b"".join(r.to_bytes(8, "little") for r in regs).hex() + (0x3C5).to_bytes(4, "little").hex()
        if p.startswith("p"):
            return ""  # like QEMU before the target description was read
        if p.startswith(("Z0", "z0", "Qqemu.PhyMemMode")):
            return "OK"
        if p.startswith("c"):
            return "T05thread:01;"
        return ""

    client, server = fake(handler)
    assert client.no_ack_mode() and not client.ack
    client.set_physical_memory_mode(True)
    client.insert_breakpoint(0x40080010)
    assert client.read_memory(0x1000, 4100) == bytes(memory[:4100])  # 3 packets of <= READ_CHUNK
    assert [p for p in server.received if p.startswith("m")] == ["m1000,800", "m1800,800", "m2000,4"]
    client.write_memory(0x1100, b"\xaa" * 2500)  # 2 packets of <= WRITE_CHUNK
    assert memory[0x100 : 0x100 + 2500] == b"\xaa" * 2500
    assert [p.split(":")[0] for p in server.received if p.startswith("M")] == ["M1100,7d0", "M18d0,1f4"]
    assert client.read_registers()[:33] == regs and client.read_registers()[33] == 0x3C5
    assert client.read_register(gdb.REG_PC) == regs[32]
    client.resume(0x40080014)
    assert client.wait_stop(1.0).signal == 5
    assert server.received[-1] == "c40080014"
    client.remove_breakpoint(0x40080010)
    assert "Z0,40080010,4" in server.received and "z0,40080010,4" in server.received


def test_gdb_bad_checksum_is_nacked_and_reread(fake: Callable[..., tuple[gdb.GdbClient, FakeStub]]) -> None:
    client, _server = fake(lambda p: "S05", corrupt_first=True)
    assert client.stop_reason().signal == 5


def test_gdb_timeout_interrupt_and_link_loss(fake: Callable[..., tuple[gdb.GdbClient, FakeStub]]) -> None:
    client, server = fake(lambda p: None)  # never answers a 'c'
    client.no_ack_mode()
    client.resume()
    t = time.monotonic()
    with pytest.raises(gdb.GdbTimeout):
        client.wait_stop(0.2)
    assert time.monotonic() - t < 1.0
    assert client.interrupt(1.0).signal == 2
    server.close()
    with pytest.raises(gdb.GdbLinkError):
        client.request("?", timeout=1.0)


def test_gdb_connect_unix_refuses_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(gdb.GdbLinkError, match="cannot connect"):
        gdb.GdbClient.connect_unix(str(tmp_path / "nope.sock"), timeout=0.5)


# ------------------------------------------------------------------------------------------------
# End to end on the stub image


@pytest.fixture
def stub_build() -> qemu.QemuBuild:
    need_qemu()
    return qemu.build_from_spec("stub")


def test_stub_boots_and_counts_vms(stub_build: qemu.QemuBuild) -> None:
    for n in (0, 2):
        session = stub_build.boot(SystemConfig(tuple(program("idle") for _ in range(n))))
        try:
            assert isinstance(session, Session)
            assert session.base(0) == stub.PRIMARY_BASE
            assert [session.base(i) for i in range(1, n + 1)] == [0x40F00000, 0x40E00000][:n]
            out = session.call(0xFF01, 7, 8, 9, regs={20: 0x2020, 30: 0x3030})
            assert out.regs[0] == n + 1 and out.regs[1:4] == (0, 0, 0)
            assert (out.regs[20], out.regs[30]) == (0x2020, 0x3030) and out.fault is None and out.timeout is None
            assert session.call(0x4000FF01).regs[0] == n + 1  # bit 30 ignored
            assert session.call(0xFF00, 1, 0).regs[0] == abi.HF_ERROR  # everything else: -1
            smc = session.call(0xFF01, 5, insn="smc #0")
            assert smc.regs[0] == abi.HF_ERROR and smc.regs[1] == 5  # smc: nothing else changes
            session.write(0, session.base(0) + layout.LIB_SEND_PAGE, b"written over gdb")
            assert session.read(0, session.base(0) + layout.LIB_SEND_PAGE, 16) == b"written over gdb"
            calls = [r for r in session.trace if r.kind != "note"]  # the primary's calls, as records
            assert calls[0] == TraceRecord(0, "hvc", 0, 0, "HF_VM_GET_COUNT", (0xFF01, 7, 8, 9), n + 1)
            assert [(r.seq, r.kind, r.call, r.result) for r in calls[1:]] == [
                (1, "hvc", "HF_VM_GET_COUNT (x0=0x4000ff01)", n + 1),
                (2, "hvc", "HF_VCPU_RUN", abi.HF_ERROR),
                (3, "smc", "HF_VM_GET_COUNT", abi.HF_ERROR),
            ]
            assert all(r.detail.startswith("serial| ") for r in session.trace[4:])  # the serial log, as notes
        finally:
            session.close()
        qemu._reaper.drain()  # the dying QEMU is reaped and its directory removed off the caller's path
        assert session.proc.poll() is not None and not Path(session.tmpdir).exists()


def test_stub_limit_is_a_build_error(stub_build: qemu.QemuBuild) -> None:
    with pytest.raises(BuildError, match="at most 7 secondaries"):
        stub_build.boot(SystemConfig(tuple(program("idle") for _ in range(8))))


def test_call_that_never_returns_is_a_timeout(stub_build: qemu.QemuBuild) -> None:
    build = qemu.QemuBuild(replace(stub_build.image_cfg, call_timeout=0.5))
    session = build.boot(SystemConfig())
    try:
        driver = programs.build_driver(session.base(0))
        session.write(0, driver.symbol("hf_driver_op_0"), (0x14000000).to_bytes(4, "little"))  # b .
        t = time.monotonic()
        out = session.call(0xFF01)
        assert time.monotonic() - t < 5
        assert out.regs == () and out.timeout is not None and "did not return" in str(out.timeout)
        assert session.call(0xFF01).timeout is not None  # the session stays stopped
        events = [r for r in session.trace if r.kind != "note"]
        assert [(r.kind, r.call, r.result) for r in events] == [("hvc", "HF_VM_GET_COUNT", None), ("stop", "", None)]
        assert events[1].detail == "timeout: the call did not return within 0.5s"
    finally:
        session.close()


def test_missing_qemu_is_a_build_error() -> None:
    build = qemu.QemuBuild(replace(qemu.stub_config(), qemu="no-such-qemu-system-aarch64"))
    with pytest.raises(BuildError, match=r"not found on PATH.*apt-get install qemu-system-arm"):
        build.boot(SystemConfig())


def test_need_qemu_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("HFCONFORM_REQUIRE_QEMU", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install qemu-system-arm"):
        need_qemu()
    monkeypatch.setenv("HFCONFORM_REQUIRE_QEMU", "1")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)apt-get install qemu-system-arm.*HFCONFORM_REQUIRE_QEMU=1"):
        need_qemu()


def test_unbootable_image_is_a_build_error(tmp_path: Path) -> None:
    need_qemu()
    image = tmp_path / "zeros.bin"
    image.write_bytes(bytes(4096))  # udf at EL2, forever
    build = qemu.QemuBuild(replace(qemu.config_from_spec(str(image)), boot_timeout=1.0))
    with pytest.raises(BuildError, match=r"(?s)did not boot.*serial log.*QEMU stderr"):
        build.boot(SystemConfig())


# --- preemption: the primary's virtual timer, counted in guest instructions (icount) -----------


def spin(session: qemu.QemuSession) -> tuple[int, ...]:
    """The stub's STUB_SPIN: an EL1 loop, like a spinning secondary, until a physical IRQ."""
    out = session.call(stub.STUB_SPIN, 0, 0, 0, regs={5: 0x5555, 30: 0x3030})
    assert out.regs, out
    return out.regs


def spin_counts(ticks: int, spins: int = 3, freq: list[int] | None = None) -> list[int]:
    build = qemu.QemuBuild(replace(qemu.stub_config(), preempt_ticks=ticks))
    session = build.boot(SystemConfig())
    try:
        counts = []
        for _ in range(spins):
            regs = spin(session)
            assert regs[0] == 0x0 and (regs[5], regs[30]) == (0x5555, 0x3030)  # YIELD; the primary's registers kept
            counts.append(regs[1])
            if freq is not None:
                freq.append(regs[2])
            assert session.call(0xFF01).regs[0] == 1  # a plain call in between, with the timer's line still up
        return counts
    finally:
        session.close()


def test_qemu_runs_with_instruction_counting(stub_build: qemu.QemuBuild) -> None:
    session = stub_build.boot(SystemConfig())
    try:
        i = session.command.index("-icount")
        assert session.command[i + 1] == "shift=4,sleep=on"
        assert session.entry == session.driver.symbol("hf_driver_timed")
        timer = session.read(0, session.driver.symbol("hf_driver_block") + qemu.DRIVER_TIMER, 8)
        assert int.from_bytes(timer, "little") == qemu.DEFAULT_PREEMPT_TICKS  # written once at boot
    finally:
        session.close()


def test_preemption_is_counted_in_guest_instructions(stub_build: qemu.QemuBuild) -> None:
    # Every slice of a session, and of a new session, holds exactly the same loop iterations. With
    # icount shift 4 an instruction is 16 ns of virtual time; QEMU 7.2's generic timer counts at
    # 62.5 MHz (16 ns per tick), so one tick is one instruction and, the loop being two
    # instructions, 100 000 more ticks are exactly 50 000 more iterations.
    freq: list[int] = []
    small, large = spin_counts(100_000, freq=freq), spin_counts(200_000)
    assert len(set(small)) == 1 and len(set(large)) == 1, (small, large)
    assert set(freq) == {freq[0]} and freq[0] > 0
    instructions_per_tick = Fraction(10**9, freq[0]) / 2**stub_build.image_cfg.icount_shift  # 1 on QEMU 7.2
    more = 100_000 * instructions_per_tick / 2
    assert 0 < small[0] < 50_000 * instructions_per_tick
    assert abs(large[0] - small[0] - more) <= (0 if more.denominator == 1 else 1), (small, large, freq)
    assert spin_counts(100_000, spins=1) == small[:1]


def test_preemption_does_not_depend_on_host_load(stub_build: qemu.QemuBuild) -> None:
    quiet = spin_counts(2_000_000, spins=2)
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL) for _ in range(os.cpu_count() or 2)
    ]
    try:
        loaded = spin_counts(2_000_000, spins=2)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert loaded == quiet


def test_preemption_off_leaves_a_spinner_running(stub_build: qemu.QemuBuild) -> None:
    build = qemu.QemuBuild(replace(stub_build.image_cfg, preempt_ticks=0, call_timeout=0.5))
    session = build.boot(SystemConfig())
    try:
        assert session.entry == session.ready + 4  # the driver never touches the timer
        assert session.call(0xFF01).regs[0] == 1
        out = session.call(stub.STUB_SPIN)
        assert out.regs == () and out.timeout is not None and "did not return" in str(out.timeout)
    finally:
        session.close()


def test_a_hung_call_is_bounded_by_guest_progress_not_the_wall_clock(stub_build: qemu.QemuBuild) -> None:
    # The wall-clock deadline is far away; the call ends after call_slices slices of guest progress.
    build = qemu.QemuBuild(replace(stub_build.image_cfg, call_timeout=60.0, call_slices=4, preempt_ticks=100_000))
    session = build.boot(SystemConfig())
    try:
        assert session.call(0xFF01).regs[0] == 1
        start = time.monotonic()
        out = session.call(stub.STUB_HANG)
        assert time.monotonic() - start < 30  # not the 60 s deadline
        assert out.regs == () and out.timeout is not None
        assert "within 4 time slices of guest progress (100000 timer ticks each)" in str(out.timeout)
        assert session.call(0xFF01).timeout == out.timeout  # the system stays stopped
    finally:
        session.close()


def test_a_call_that_returns_after_probes_is_not_a_timeout(stub_build: qemu.QemuBuild) -> None:
    # STUB_SPIN runs until the preemption IRQ: long enough to be probed while it spins, and it returns.
    build = qemu.QemuBuild(replace(stub_build.image_cfg, preempt_ticks=20_000_000, call_slices=2))
    session = build.boot(SystemConfig())
    try:
        out = session.call(stub.STUB_SPIN)
        assert out.timeout is None and out.regs[0] == 0  # YIELD: the timer interrupt ended it
    finally:
        session.close()


def test_guest_fault_needs_the_whole_log_line(tmp_path: Path) -> None:
    session = object.__new__(qemu.QemuSession)  # only the log-reading state, no QEMU
    session.serial_log = tmp_path / "serial.log"
    session._log_mark = len(b"boot\n")
    session._running = 2
    session.era = qemu.era("hafnium-2018-10")  # the fault line of this era's images
    session.serial_log.write_bytes(b"boot\nData abort: pc=0x40e0")  # Hafnium is still printing
    assert session._guest_fault() is None
    session.serial_log.write_bytes(b"boot\nData abort: pc=0x40e00008, esr=0x92000046, ec=0x24, far=0x0\n")
    fault = session._guest_fault()
    assert fault is not None and (fault.vm, fault.vcpu, fault.pc, fault.kind) == (2, 0, 0x40E00008, "data abort")
    assert str(fault).startswith("VM 2 faulted (pc 0x40e00008)") and "far=0x0'" in str(fault)
    session._log_mark = 1000  # a fault logged before this call started is not this call's
    assert session._guest_fault() is None


def test_secondaries_are_packed_into_the_initrd(stub_build: qemu.QemuBuild) -> None:
    guests = (script(Call(0xFF01)), program("idle", memory=0x200000))
    session = stub_build.boot(SystemConfig(guests))
    try:
        assert session.client is not None  # the initrd as the guest has it (written into QEMU's placeholder)
        initrd = session.client.read_memory(session.image_cfg.initrd_address, len(session.initrd))
        members = {m.name: m.data for m in cpio.read(initrd)}
        assert members["vmlinuz"] == session.driver.code
        assert members["vms.txt"] == b"1048576 1 vm1-script.S\n2097152 1 vm2-idle.S\n"
        assert session.base(2) == 0x40D00000
        assert members["vm2-idle.S"] == programs.build("idle", 0x40D00000).code
    finally:
        session.close()


# The conformance suite on the stub: the exact per-clause and per-test outcome. A failing test
# blames the clause of the step that failed; its other clauses are BLOCKED (docs/reports.md): VM-2's
# from-a-secondary test fails on its run (RUN-5: no secondary ever runs), so VM-2 itself passes, and
# SEND-6's tests fail on configure (CFG-5) or a run (RUN-6) before they reach a send.
STUB_CLAUSES = {"ID-2": "PASS", "VM-2": "PASS", "SEND-6": "BLOCKED", "CFG-1": "FAIL"}
STUB_TESTS = {
    "test_ids.py::test_0xff01_is_vm_get_count": "PASS",
    "test_vm.py::test_vm_count_counts_the_primary[0]": "PASS",
    "test_vm.py::test_vm_count_counts_the_primary[1]": "PASS",
    "test_vm.py::test_vm_count_counts_the_primary[3]": "PASS",
    "test_vm.py::test_vm_count_counts_the_primary[6]": "PASS",
    "test_vm.py::test_vm_count_from_a_secondary": "FAIL",  # the stub runs no secondary
    "test_configure.py::test_alignment_checked_before_already_configured": "FAIL",
    "test_configure.py::test_secondary_unaligned_refused": "FAIL",
    **{f"test_configure.py::test_unaligned_pages_refused[{p}]": "FAIL" for p in (
        "65536-69633", "65536-71680", "65537-69632", "65537-69633", "67584-69632", "67584-71680", "69631-69632")},
    "test_send.py::test_read_message_blocks_next_send_until_cleared": "FAIL",
    "test_send.py::test_send_succeeds_after_clear": "FAIL",
    "test_send.py::test_to_primary_refused_until_primary_clears": "FAIL",
    "test_send.py::test_unread_message_blocks_next_send": "FAIL",
}  # fmt: skip
MODULES = [
    "profiles.hafnium_2018_10.tests.test_ids",
    "profiles.hafnium_2018_10.tests.test_vm",
    "profiles.hafnium_2018_10.tests.test_configure",
    "profiles.hafnium_2018_10.tests.test_send",
]


def run_suite(tmp_path: Path, hv: str, *args: str) -> dict[str, object]:
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "pytest", "--pyargs", *MODULES, "-p", "no:hafnium_conformance", "-p", "conformance.plugin"]
    cmd += ["--hv", hv, "--conformance-json", str(out), "-q", "-p", "no:randomly", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, object] = json.loads(out.read_text())
    result["_stdout"] = proc.stdout
    result["_returncode"] = proc.returncode
    return result


def _outcomes(result: dict[str, object]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    tests = result["tests"]
    assert isinstance(tests, list)
    by_test = {t["nodeid"].split("/")[-1]: t["outcome"] for t in tests}
    messages = {t["nodeid"].split("/")[-1]: t["message"] for t in tests}
    clauses = result["clauses"]
    assert isinstance(clauses, list)
    return by_test, {c["id"]: c["status"] for c in clauses}, messages


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_conformance_suite_on_the_stub(tmp_path: Path, workers: list[str]) -> None:
    need_qemu()
    clause_args = [a for cid in STUB_CLAUSES for a in ("--clause", cid)]
    result = run_suite(tmp_path, "qemu:stub", *clause_args, *workers)
    by_test, by_clause, _ = _outcomes(result)
    assert result["build"] == "qemu:stub"
    assert by_test == STUB_TESTS, result["_stdout"]
    assert {c: by_clause[c] for c in STUB_CLAUSES} == STUB_CLAUSES
    assert result["_returncode"] == 1  # FAILs: a red run, not an error of the harness
    assert "ERROR" not in set(by_test.values()) and "TIMEOUT" not in set(by_test.values())


def test_image_limit_is_an_error_in_the_report(tmp_path: Path) -> None:
    """A real Hafnium image runs at most 3 one-MiB secondaries: a config says so; tests that boot
    more are ERROR (environment), the others are judged as usual."""
    need_qemu()
    (tmp_path / "hf.toml").write_text('image = "stub"\nname = "stub-with-hafnium-limits"\nmax_secondaries = 3\n')
    result = run_suite(tmp_path, f"qemu:{tmp_path / 'hf.toml'}", "--clause", "VM-2")
    by_test, _, messages = _outcomes(result)
    assert result["build"] == "stub-with-hafnium-limits"
    assert by_test["test_vm.py::test_vm_count_counts_the_primary[6]"] == "ERROR"
    assert "at most 3 secondaries" in messages["test_vm.py::test_vm_count_counts_the_primary[6]"]
    assert by_test["test_vm.py::test_vm_count_counts_the_primary[3]"] == "PASS"
    assert by_test["test_ids.py::test_0xff01_is_vm_get_count"] == "PASS"


# ------------------------------------------------------------------------------------------------
# ABI profiles: an image implements one, and its era's facts come from that profile's qemu.py


def test_an_image_implements_the_profile_its_config_names(tmp_path: Path) -> None:
    image = tmp_path / "hafnium.bin"
    image.write_bytes(b"\0" * 16)
    cfg = tmp_path / "hf.toml"
    cfg.write_text('image = "hafnium.bin"\nprofile = "hafnium-2018-10"\n')
    build = qemu.build_from_spec(str(cfg))
    assert build.profiles == frozenset({"hafnium-2018-10"})
    facts = qemu.era("hafnium-2018-10")
    # The layout defaults are the era's, not the backend's.
    assert (build.image_cfg.primary_base, build.image_cfg.ram, build.image_cfg.max_secondaries) == (
        facts.primary_base,
        facts.ram,
        facts.max_secondaries,
    )
    assert facts.fault_log.search("Data abort: pc=0x40e00008, esr=0x92000046\n") is not None
    cfg.write_text('image = "hafnium.bin"\nprofile = "hafnium-1999"\n')
    known = "ffa-1.1-indirect, hafnium-2018-10, hafnium-2019-03"
    with pytest.raises(ValueError, match=rf"profile: unknown profile 'hafnium-1999'; known: {known}$"):
        qemu.load_config(cfg)


def test_the_stub_implements_the_default_profile_only() -> None:
    assert qemu.QemuBuild(qemu.stub_config()).profiles == frozenset({"hafnium-2018-10"})
    with pytest.raises(BuildError, match="knows no images of profile 'toy'"):
        qemu.era("toy")
