"""Old-binary cpio archives, and the initrd layout Hafnium images of the ``hafnium-2018-10`` era boot
from (used by that profile's ``qemu.py``).

The archive is a cpio in the *old binary* format (what GNU ``cpio --create`` writes by default):
each member is a 26-byte header of thirteen 16-bit little-endian fields (magic ``070707``
octal = 0x71C7), the NUL-terminated name padded to an even length, the data padded to an even
length; the archive ends with a member named ``TRAILER!!!`` and is padded to 512 bytes.

Members (Hafnium's loader at that commit reads them by name):

* ``vmlinuz`` — the primary's image (here: the suite's primary driver);
* ``initrd.img`` — the primary's own initrd (empty here);
* ``vms.txt`` — one line per secondary, in VM-ID order: ``<memory bytes> <vcpus> <name>``;
* one member per secondary, named as in ``vms.txt``: its flat image.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC = 0o070707
HEADER = struct.Struct("<13H")
TRAILER = "TRAILER!!!"
BLOCK = 512
MODE_FILE = 0o100644
_NAME_RE = re.compile(r"[A-Za-z0-9._+-]+")
MAX_FILE = (1 << 32) - 1


class CpioError(ValueError):
    """Malformed archive, or a member that the format cannot hold."""


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes
    mode: int = MODE_FILE
    ino: int = 0
    nlink: int = 1
    mtime: int = 0


def _pad2(n: int) -> int:
    return n + (n & 1)


def _header(name: bytes, size: int, *, mode: int, ino: int, nlink: int, mtime: int) -> bytes:
    return HEADER.pack(
        MAGIC,
        0,  # dev
        ino & 0xFFFF,
        mode & 0xFFFF,
        0,  # uid
        0,  # gid
        nlink & 0xFFFF,
        0,  # rdev
        (mtime >> 16) & 0xFFFF,
        mtime & 0xFFFF,
        len(name),
        (size >> 16) & 0xFFFF,
        size & 0xFFFF,
    )


def write(files: Sequence[tuple[str, bytes]]) -> bytes:
    """An old-binary cpio archive of ``files`` (name, data), in order, with the trailer."""
    out = bytearray()
    seen: set[str] = set()
    for ino, (name, data) in enumerate(files, start=1):
        if not _NAME_RE.fullmatch(name):
            raise CpioError(f"cpio member name {name!r}: use letters, digits and . _ + - only")
        if name in seen or name == TRAILER:
            raise CpioError(f"cpio member name {name!r} used twice (or reserved)")
        if len(data) > MAX_FILE:
            raise CpioError(f"cpio member {name!r}: {len(data)} bytes is more than the format holds")
        seen.add(name)
        raw = name.encode("ascii") + b"\0"
        out += _header(raw, len(data), mode=MODE_FILE, ino=ino, nlink=1, mtime=0)
        out += raw + b"\0" * (_pad2(len(raw)) - len(raw))
        out += data + b"\0" * (_pad2(len(data)) - len(data))
    raw = TRAILER.encode("ascii") + b"\0"
    out += _header(raw, 0, mode=0, ino=0, nlink=1, mtime=0)
    out += raw + b"\0" * (_pad2(len(raw)) - len(raw))
    out += b"\0" * (-len(out) % BLOCK)
    return bytes(out)


def read(archive: bytes) -> list[Member]:
    """The members of an old-binary cpio archive, up to (not including) the trailer."""
    out: list[Member] = []
    pos = 0
    while True:
        if pos + HEADER.size > len(archive):
            raise CpioError(f"truncated cpio header at offset {pos}")
        f = HEADER.unpack_from(archive, pos)
        if f[0] != MAGIC:
            raise CpioError(f"bad cpio magic {f[0]:#o} at offset {pos} (expected 070707)")
        namesize = f[10]
        size = f[11] << 16 | f[12]
        name_at = pos + HEADER.size
        data_at = name_at + _pad2(namesize)
        end = data_at + _pad2(size)
        if namesize == 0 or end > len(archive) + (size & 1):
            raise CpioError(f"cpio member at offset {pos} runs past the end of the archive")
        raw = archive[name_at : name_at + namesize]
        if raw[-1:] != b"\0":
            raise CpioError(f"cpio member name at offset {pos} is not NUL-terminated")
        name = raw[:-1].decode("ascii", "replace")
        if name == TRAILER:
            return out
        out.append(Member(name, archive[data_at : data_at + size], f[3], f[2], f[6], f[8] << 16 | f[9]))
        pos = end


@dataclass(frozen=True)
class Secondary:
    """A secondary VM as the initrd describes it."""

    name: str
    memory: int
    vcpus: int
    image: bytes


def vms_txt(secondaries: Sequence[Secondary]) -> bytes:
    """``vms.txt``: ``<memory bytes> <vcpus> <name>`` per secondary, in VM-ID order."""
    lines = []
    for vm in secondaries:
        if not _NAME_RE.fullmatch(vm.name):
            raise CpioError(f"secondary name {vm.name!r}: use letters, digits and . _ + - only")
        if vm.memory <= 0 or vm.vcpus <= 0:
            raise CpioError(f"secondary {vm.name!r}: memory and vcpus must be positive")
        lines.append(f"{vm.memory} {vm.vcpus} {vm.name}\n")
    return "".join(lines).encode("ascii")


def member_name(vm_id: int, name: str) -> str:
    """A file name for secondary ``vm_id`` (unique; keeps a readable part of the guest's name)."""
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "guest"
    return f"vm{vm_id}-{stem[:40]}"


def make_initrd(primary: bytes, secondaries: Sequence[Secondary], primary_initrd: bytes = b"") -> bytes:
    """The initrd: ``vmlinuz``, ``initrd.img``, ``vms.txt``, then each secondary's image."""
    files: list[tuple[str, bytes]] = [("vmlinuz", primary), ("initrd.img", primary_initrd), ("vms.txt", vms_txt(secondaries))]
    files += [(vm.name, vm.image) for vm in secondaries]
    return write(files)
