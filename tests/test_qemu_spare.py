"""The QEMU backend's start-up (conformance/backends/qemu.py, *Starting QEMU*): every QEMU starts
with a placeholder initrd of ``INITRD_SLOT`` zero bytes, the test's initrd is written into guest
RAM before the first resume, and each process keeps one QEMU started ahead (the warm spare).

What must hold whichever QEMU served a boot: the guest sees the same bytes; an initrd larger than
the slot takes the fallback (a QEMU started with it), decided by its size alone; a spare serves
one boot, is not used for another launch, is replaced if it died; nothing (process, directory) is
left when the process exits. On the built-in stub image (no Hafnium needed); without
``qemu-system-aarch64`` these tests SKIP as the backend's others do (``need_qemu``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_qemu_backend import need_qemu

from conformance.backends import cpio, qemu, stub
from conformance.protocol import BuildError, SystemConfig
from guest_asm.programs import Call
from profiles.hafnium_2018_10.hv import program, script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def build() -> Iterator[qemu.QemuBuild]:
    need_qemu()
    qemu._spares.drop()  # each test starts without a spare, and leaves none
    yield qemu.build_from_spec("stub")
    qemu._spares.drop()
    qemu._reaper.drain()


def guests() -> SystemConfig:
    return SystemConfig((script(Call(0xFF01)), program("idle", memory=0x200000)))


def slot(session: qemu.QemuSession) -> bytes:
    """What the guest has at the initrd's address, the whole slot (read over the gdb link)."""
    assert session.client is not None
    return session.client.read_memory(session.image_cfg.initrd_address, qemu.INITRD_SLOT)


def test_differences_finds_changed_blocks() -> None:
    old = bytes(1024)
    new = bytearray(old)
    new[5] = 1  # block 0
    new[600:780] = b"\x02" * 180  # blocks 2 and 3: one run
    assert qemu._differences(old, bytes(new)) == [(0, bytes(new[:256])), (512, bytes(new[512:]))]
    assert qemu._differences(old, old) == []


def test_the_guest_sees_the_same_bytes_whichever_qemu_served_it(build: qemu.QemuBuild) -> None:
    first = build.boot(guests())  # no spare yet: started now
    try:
        assert first.served_by == "new" and len(first.initrd) <= qemu.INITRD_SLOT
        new_ram, new_count = slot(first), first.call(0xFF01).regs[0]
        new_command = first.command
        tmp_new = first.tmpdir
    finally:
        first.close()
    second = build.boot(guests())  # the spare the first boot started
    try:
        assert second.served_by == "spare"
        assert slot(second) == new_ram == second.initrd + bytes(qemu.INITRD_SLOT - len(second.initrd))
        assert second.call(0xFF01).regs[0] == new_count == 3  # the stub's VM count, patched in RAM
        # the same command, but for the QEMU's own directory
        assert [a.replace(second.tmpdir, "T") for a in second.command] == [a.replace(tmp_new, "T") for a in new_command]
        placeholder = Path(second.tmpdir) / "initrd.cpio"
        assert placeholder.stat().st_size == qemu.INITRD_SLOT and placeholder.read_bytes() == bytes(qemu.INITRD_SLOT)
    finally:
        second.close()


def test_an_initrd_larger_than_the_slot_takes_the_fallback(build: qemu.QemuBuild, monkeypatch: pytest.MonkeyPatch) -> None:
    small = build.boot(SystemConfig())
    small.close()  # leaves a spare
    size = len(small.initrd)
    monkeypatch.setattr(qemu, "INITRD_SLOT", size - 1)  # one byte too small for the same initrd
    session = build.boot(SystemConfig())
    try:
        assert session.served_by == "fallback" and session.initrd == small.initrd
        assert (Path(session.tmpdir) / "initrd.cpio").read_bytes() == session.initrd  # QEMU loaded it itself
        assert session.call(0xFF01).regs[0] == 1
        assert session.client is not None
        assert session.client.read_memory(session.image_cfg.initrd_address, size) == session.initrd
    finally:
        session.close()
    monkeypatch.undo()  # the slot the spare was started with: the fallback left the spare alone
    session = build.boot(SystemConfig())
    try:
        assert session.served_by == "spare" and session.call(0xFF01).regs[0] == 1
    finally:
        session.close()


def test_a_spare_of_another_launch_is_not_used(build: qemu.QemuBuild) -> None:
    build.boot(SystemConfig()).close()
    spare = qemu._spares._spare
    assert spare is not None
    other = qemu.QemuBuild(replace(build.image_cfg, icount_shift=5))
    session = other.boot(SystemConfig())
    try:
        assert session.served_by == "new" and "shift=5,sleep=on" in session.command
        assert session.call(0xFF01).regs[0] == 1
    finally:
        session.close()
    qemu._reaper.drain()
    assert spare.proc.poll() is not None and not Path(spare.tmpdir).exists()  # killed and removed


def test_a_spare_is_used_once(build: qemu.QemuBuild) -> None:
    build.boot(SystemConfig()).close()
    sessions = [build.boot(SystemConfig()) for _ in range(3)]
    try:
        assert [s.served_by for s in sessions] == ["spare"] * 3
        assert len({s.proc.pid for s in sessions}) == 3 and len({s.tmpdir for s in sessions}) == 3
    finally:
        for s in sessions:
            s.close()


def test_a_dead_spare_is_replaced(build: qemu.QemuBuild) -> None:
    build.boot(SystemConfig()).close()
    spare = qemu._spares._spare
    assert spare is not None
    os.killpg(spare.proc.pid, signal.SIGKILL)  # QEMU crashed while it waited
    spare.proc.wait(timeout=5)
    session = build.boot(SystemConfig())
    try:
        assert session.served_by == "new" and session.call(0xFF01).regs[0] == 1
    finally:
        session.close()


CHILD = """
import json, sys
from conformance.backends import qemu
from conformance.protocol import BuildError, SystemConfig
session = qemu.build_from_spec("stub").boot(SystemConfig())
assert session.call(0xFF01).regs[0] == 1
session.close()
spare = qemu._spares._spare
print(json.dumps({"pids": [session.proc.pid, spare.proc.pid], "dirs": [session.tmpdir, spare.tmpdir]}), flush=True)
if sys.argv[1] == "kill":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit: only the spare's pdeathsig stops it
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] in "ZX"  # a zombie has finished running
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_nothing_is_left_when_the_process_ends(how: str) -> None:
    need_qemu()
    if how == "kill" and qemu._SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed: a killed process's spare is not stopped")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, how], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    left = json.loads(proc.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in left["pids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in left["pids"]), left
    if how == "exit":  # atexit: the spare killed, the reaper removed both directories
        assert proc.returncode == 0, proc.stderr
        assert not any(Path(d).exists() for d in left["dirs"]), left
    else:  # a killed process removes nothing: its QEMUs' directories are this test's to remove
        for d in left["dirs"]:
            shutil.rmtree(d, ignore_errors=True)


def test_the_secondaries_reach_the_guest_in_the_initrd(build: qemu.QemuBuild) -> None:
    session = build.boot(guests())
    try:
        assert session.client is not None
        data = session.client.read_memory(session.image_cfg.initrd_address, len(session.initrd))
        members = {m.name: m.data for m in cpio.read(data)}
        assert members["vms.txt"] == b"1048576 1 vm1-script.S\n2097152 1 vm2-idle.S\n"
        assert members["vmlinuz"] == session.driver.code
        assert stub.PRIMARY_BASE == session.base(0)
    finally:
        session.close()


def test_the_pre_boot_stops_at_the_first_access_to_what_the_boot_writes(build: qemu.QemuBuild) -> None:
    session = build.boot(SystemConfig())
    session.close()
    spare = qemu._spares._spare
    assert spare is not None and spare.launch.watch == (
        (session.image_cfg.initrd_address, qemu.INITRD_SLOT),
        (stub.LOAD_ADDRESS, len(stub.make_stub_image(0, session.driver.code, session.driver.entry))),
    )
    try:
        assert spare.join(10) and spare.error is None and spare.client is not None
        stop = spare.client.wait_stop(10)  # the stub reads its own image (the primary's entry) first
        hit = int(stop.info["awatch"], 16)
        assert stub.LOAD_ADDRESS <= hit < stub.LOAD_ADDRESS + stub.PRIMARY_OFFSET, stop.raw
        assert spare.client.read_register(0x20) != session.ready  # not yet at the driver
    finally:
        qemu._spares.drop()


def test_a_boot_that_fails_drops_the_spare(tmp_path: Path) -> None:
    need_qemu()
    image = tmp_path / "zeros.bin"
    image.write_bytes(bytes(4096))  # udf at EL2, forever: it never boots (and never stops)
    build = qemu.QemuBuild(replace(qemu.config_from_spec(str(image)), boot_timeout=1.0))
    qemu._spares.drop()
    with pytest.raises(BuildError, match="did not boot"):
        build.boot(SystemConfig())
    assert qemu._spares._spare is None  # not left running the image in the background
    qemu._reaper.drain()


def test_a_spare_waits_niced_and_serves_at_the_process_priority(build: qemu.QemuBuild) -> None:
    if not qemu._may_renice():
        pytest.skip("this process may not raise a priority again: spares are not niced here")
    own = os.getpriority(os.PRIO_PROCESS, 0)
    build.boot(SystemConfig()).close()
    spare = qemu._spares._spare
    assert spare is not None and spare.niced
    assert os.getpriority(os.PRIO_PROCESS, spare.proc.pid) == own + qemu.SPARE_NICE
    session = build.boot(SystemConfig())
    try:
        assert session.served_by == "spare" and session.proc.pid == spare.proc.pid
        tids = [int(t) for t in os.listdir(f"/proc/{session.proc.pid}/task")]
        assert len(tids) > 1 and {os.getpriority(os.PRIO_PROCESS, t) for t in tids} == {own}  # every thread
    finally:
        session.close()
