"""A minimal flattened-device-tree (DTB) writer and reader: what the QEMU backend needs to describe
partitions to a hypervisor that reads a manifest DTB (Hafnium of the ``ffa-1.1-indirect`` era).

The format is the Devicetree Specification's (v0.4, chapter 5), version 17 (last compatible 16):
a 40-byte header of ten big-endian u32s (magic ``0xd00dfeed``, total size, offsets of the
structure block, the strings block and the memory reservation map, version, last compatible
version, boot CPU, strings size, structure size), an empty reservation map (one all-zero
16-byte entry), the structure block (``FDT_BEGIN_NODE`` name, ``FDT_PROP`` len nameoff value,
``FDT_END_NODE``, ``FDT_END``; every token and value padded to 4 bytes) and the strings block
(property names, NUL-terminated, each stored once).

Property values are bytes; :func:`string`, :func:`cells` and :func:`u64` encode the usual kinds
(a NUL-terminated string, big-endian 32-bit cells, a 64-bit value as two cells); an empty value
(``b""``) is a boolean property.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAGIC = 0xD00DFEED
VERSION = 17
LAST_COMP_VERSION = 16
HEADER = struct.Struct(">10I")
BEGIN_NODE, END_NODE, PROP, NOP, END = 1, 2, 3, 4, 9
_NAME_RE = re.compile(r"[A-Za-z0-9,._+@-]+")
_PROP_RE = re.compile(r"[A-Za-z0-9,._+?#-]+")
U32 = 0xFFFF_FFFF


class FdtError(ValueError):
    """A node or property the format cannot hold, or a malformed blob."""


@dataclass(frozen=True)
class Node:
    """A device-tree node: its name (``""`` for the root), properties in order, child nodes in order."""

    name: str
    props: tuple[tuple[str, bytes], ...] = ()
    children: tuple[Node, ...] = field(default_factory=tuple)

    def prop(self, name: str) -> bytes:
        for key, value in self.props:
            if key == name:
                return value
        raise KeyError(f"node {self.name or '/'!r} has no property {name!r}")

    def child(self, name: str) -> Node:
        for node in self.children:
            if node.name == name:
                return node
        raise KeyError(f"node {self.name or '/'!r} has no child {name!r}")


def string(text: str) -> bytes:
    """A string property's value: ASCII, NUL-terminated."""
    if "\0" in text:
        raise FdtError(f"string property value {text!r} contains a NUL")
    return text.encode("ascii") + b"\0"


def cells(*values: int) -> bytes:
    """Big-endian 32-bit cells (``<a b c>`` in DTS)."""
    for v in values:
        if not 0 <= v <= U32:
            raise FdtError(f"cell value {v:#x} does not fit in 32 bits")
    return b"".join(v.to_bytes(4, "big") for v in values)


def u64(value: int) -> bytes:
    """A 64-bit value as two cells (``/bits/ 64 <v>`` = ``<hi lo>``)."""
    if not 0 <= value < 1 << 64:
        raise FdtError(f"value {value:#x} does not fit in 64 bits")
    return cells(value >> 32, value & U32)


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def write(root: Node, *, boot_cpuid: int = 0) -> bytes:
    """The DTB of the tree under ``root`` (whose name must be ``""``)."""
    if root.name:
        raise FdtError(f"the root node has no name (got {root.name!r})")
    strings = bytearray()
    offsets: dict[str, int] = {}
    body = bytearray()

    def name_offset(name: str) -> int:
        if name not in offsets:
            offsets[name] = len(strings)
            strings.extend(name.encode("ascii") + b"\0")
        return offsets[name]

    def emit(node: Node, depth: int) -> None:
        if depth and not _NAME_RE.fullmatch(node.name):
            raise FdtError(f"node name {node.name!r}: letters, digits and , . _ + @ - only")
        body.extend(struct.pack(">I", BEGIN_NODE) + _pad4(node.name.encode("ascii") + b"\0"))
        seen: set[str] = set()
        for key, value in node.props:
            if not _PROP_RE.fullmatch(key) or key in seen:
                raise FdtError(f"property {key!r} of node {node.name or '/'!r}: bad or repeated name")
            seen.add(key)
            body.extend(struct.pack(">III", PROP, len(value), name_offset(key)) + _pad4(bytes(value)))
        names: set[str] = set()
        for child in node.children:
            if child.name in names:
                raise FdtError(f"node {node.name or '/'!r} has two children named {child.name!r}")
            names.add(child.name)
            emit(child, depth + 1)
        body.extend(struct.pack(">I", END_NODE))

    emit(root, 0)
    body.extend(struct.pack(">I", END))
    rsvmap = b"\0" * 16
    off_rsvmap = HEADER.size  # 40: 8-byte aligned
    off_struct = off_rsvmap + len(rsvmap)
    off_strings = off_struct + len(body)
    total = off_strings + len(strings)
    header = HEADER.pack(
        MAGIC, total, off_struct, off_strings, off_rsvmap, VERSION, LAST_COMP_VERSION, boot_cpuid, len(strings), len(body)
    )
    return header + rsvmap + bytes(body) + bytes(strings)


def read(blob: bytes) -> Node:
    """The tree of a DTB (as :func:`write` writes it; NOPs are skipped): for tests and checks."""
    if len(blob) < HEADER.size:
        raise FdtError("truncated DTB header")
    magic, total, off_struct, off_strings, _, version, _, _, size_strings, size_struct = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise FdtError(f"bad DTB magic {magic:#x}")
    if total > len(blob) or off_struct + size_struct > total or off_strings + size_strings > total or version < 16:
        raise FdtError("DTB header sizes or version out of range")
    strings = blob[off_strings : off_strings + size_strings]
    pos = off_struct

    def token() -> int:
        nonlocal pos
        (tok,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        return int(tok)

    def cstr(data: bytes, at: int) -> str:
        end = data.index(b"\0", at)
        return data[at:end].decode("ascii")

    def node() -> Node:
        nonlocal pos
        name = cstr(blob, pos)
        pos += len(_pad4(name.encode("ascii") + b"\0"))
        props: list[tuple[str, bytes]] = []
        children: list[Node] = []
        while True:
            tok = token()
            if tok == PROP:
                length, nameoff = struct.unpack_from(">II", blob, pos)
                pos += 8
                props.append((cstr(strings, nameoff), blob[pos : pos + length]))
                pos += length + (-length % 4)
            elif tok == BEGIN_NODE:
                children.append(node())
            elif tok == END_NODE:
                return Node(name, tuple(props), tuple(children))
            elif tok != NOP:
                raise FdtError(f"unexpected DTB token {tok} at offset {pos - 4}")

    while (tok := token()) == NOP:
        pass
    if tok != BEGIN_NODE:
        raise FdtError(f"the structure block does not begin with a node (token {tok})")
    root = node()
    while (tok := token()) == NOP:
        pass
    if tok != END:
        raise FdtError(f"expected FDT_END after the root node, got token {tok}")
    return root


def node(name: str, props: Iterable[tuple[str, bytes]] = (), children: Sequence[Node] = ()) -> Node:
    """A :class:`Node` from any iterables."""
    return Node(name, tuple(props), tuple(children))
