"""A minimal GDB remote-serial-protocol client, for QEMU's gdbstub on a Unix socket.

Only what the QEMU backend needs: packets with checksums (and ``QStartNoAckMode``), ``?``,
``g``/``p``/``P`` registers, ``m``/``M`` memory, ``Z0``/``z0`` breakpoints, ``c [addr]``,
the interrupt byte, stop replies (``T``/``S``/``W``/``X``), ``Qqemu.PhyMemMode``. Every wait has
a deadline; a lost link raises :class:`GdbLinkError`, a deadline :class:`GdbTimeout`.

There is no network here: the client connects to a Unix socket path (or, for the tests, is
handed a connected socket).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

#: Bytes per ``m`` (read) and ``M`` (write) packet. QEMU 7.2's gdbstub answers ``m`` of at most
#: MAX_PACKET_LENGTH / 2 = 2048 bytes (``E22`` beyond: measured) and drops an incoming packet of
#: 4095 characters or more, so an ``M`` carries at most ~2040 bytes (4 hex digits each + its
#: header): 2000 leaves room for any address. (A whole 4 KiB page is 2 round trips; each costs
#: ~50-80 us, which a test reading a VM's 1 MiB pays 512 times.)
READ_CHUNK = 2048
WRITE_CHUNK = 2000
#: AArch64 register numbers in QEMU's target description: x0..x30, sp, pc (64-bit), cpsr (32-bit).
REG_SP = 31
REG_PC = 32
REG_CPSR = 33


class GdbError(Exception):
    """The stub answered with an error (``Exx``) or something this client does not understand."""


class GdbLinkError(GdbError):
    """The connection closed or broke."""


class GdbTimeout(GdbError):
    """No answer before the deadline."""


@dataclass(frozen=True)
class StopReply:
    """A stop reply: ``kind`` is ``T``/``S`` (stopped, ``signal``) or ``W``/``X`` (the target exited)."""

    kind: str
    signal: int
    info: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def exited(self) -> bool:
        return self.kind in ("W", "X")


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(payload: bytes) -> bytes:
    """``$payload#cs`` (``$``, ``#``, ``}`` and ``*`` escaped)."""
    out = bytearray()
    for b in payload:
        if b in b"$#}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return b"$" + bytes(out) + b"#" + f"{checksum(bytes(out)):02x}".encode()


def _unescape(body: bytes) -> bytes:
    if b"}" not in body and b"*" not in body:
        return body  # the common case (hex memory and registers): nothing to undo
    out = bytearray()
    i = 0
    while i < len(body):
        b = body[i]
        if b == 0x7D and i + 1 < len(body):
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A and out and i + 1 < len(body):  # run-length: repeat the previous byte
            out += bytes([out[-1]]) * (body[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def parse_stop(payload: str) -> StopReply:
    if not payload:
        raise GdbError("empty stop reply")
    kind = payload[0]
    if kind in "TSWX" and len(payload) >= 3:
        try:
            sig = int(payload[1:3], 16)
        except ValueError:
            raise GdbError(f"bad stop reply {payload!r}") from None
        info: dict[str, str] = {}
        for part in payload[3:].split(";"):
            if ":" in part:
                k, _, v = part.partition(":")
                info[k] = v
        return StopReply(kind, sig, info, payload)
    raise GdbError(f"not a stop reply: {payload!r}")


class GdbClient:
    """One connection to a gdbstub. Not thread-safe; every call is bounded by ``timeout`` seconds."""

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0) -> None:
        self.sock = sock
        self.timeout = timeout
        self.ack = True
        #: The '+' owed for the last packet received, sent in front of the next bytes sent (see
        #: :meth:`_send_raw`).
        self._ack_due = False
        self._buf = bytearray()
        self.closed = False

    @classmethod
    def connect_unix(cls, path: str, *, timeout: float = 10.0) -> GdbClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise GdbLinkError(f"cannot connect to the gdbstub at {path}: {e}") from None
        return cls(sock, timeout=timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # --- transport --------------------------------------------------------------------------

    def _recv_some(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GdbTimeout("no answer from the gdbstub before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise GdbTimeout("no answer from the gdbstub before the deadline") from None
        except OSError as e:
            self.closed = True
            raise GdbLinkError(f"gdb link lost: {e}") from None
        if not data:
            self.closed = True
            raise GdbLinkError("gdb link lost: the stub closed the connection")
        self._buf += data

    def _send_raw(self, data: bytes) -> None:
        # The ack of the last packet received goes with the next bytes sent, not in a write of its
        # own: one system call (and one wake-up of QEMU) less per request. QEMU 7.2's gdbstub does
        # not do QStartNoAckMode; it waits for nothing after sending a packet and takes a '$' as
        # the ack of its last packet as well as a '+' (gdbstub.c gdb_read_byte); but it drops
        # the interrupt byte 0x03 while a packet is unacknowledged, which the '+' in front of it
        # settles.
        if self._ack_due:
            data = b"+" + data
            self._ack_due = False
        if self.closed:
            raise GdbLinkError("gdb link is closed")
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.closed = True
            raise GdbLinkError(f"gdb link lost: {e}") from None

    def _read_packet(self, deadline: float) -> str:
        """The next packet's payload (acks are consumed; a bad checksum is NAKed and re-read)."""
        while True:
            start = self._buf.find(b"$")
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    body = bytes(self._buf[start + 1 : end])
                    cs = bytes(self._buf[end + 1 : end + 3])
                    del self._buf[: end + 3]
                    try:
                        good = int(cs, 16) == checksum(body)
                    except ValueError:
                        good = False
                    if not good:
                        if self.ack:
                            self._send_raw(b"-")
                        continue
                    self._ack_due = self.ack  # sent with the next packet (_send_raw)
                    return _unescape(body).decode("latin-1")
            else:
                self._buf.clear()  # only acks ('+'/'-') or noise before a packet
            self._recv_some(deadline)

    def _wait_ack(self, deadline: float) -> bool:
        while True:
            first = bytes(self._buf[:1])
            if first in (b"+", b"-"):
                del self._buf[:1]
                return first == b"+"
            if self._buf:
                return True  # a packet instead of an ack: treat as acked
            self._recv_some(deadline)

    def send(self, payload: str, *, timeout: float | None = None) -> None:
        """Send one packet (resent on a NAK, at most 3 times)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        data = frame(payload.encode("latin-1"))
        for _ in range(3):
            self._send_raw(data)
            if not self.ack or self._wait_ack(deadline):
                return
        raise GdbError(f"packet {payload[:40]!r} NAKed 3 times")

    def request(self, payload: str, *, timeout: float | None = None) -> str:
        """Send a packet and return the reply's payload."""
        t = self.timeout if timeout is None else timeout
        self.send(payload, timeout=t)
        return self._read_packet(time.monotonic() + t)

    def _ok(self, payload: str) -> None:
        reply = self.request(payload)
        if reply != "OK":
            raise GdbError(f"{payload[:40]!r}: stub answered {reply!r}")

    # --- commands ---------------------------------------------------------------------------

    def no_ack_mode(self) -> bool:
        """Ask for ``QStartNoAckMode``; True if granted."""
        if self.request("QStartNoAckMode") == "OK":
            self.ack = False
            return True
        return False

    def stop_reason(self) -> StopReply:
        return parse_stop(self.request("?"))

    def set_physical_memory_mode(self, on: bool = True) -> None:
        """QEMU: ``m``/``M`` address physical memory (``Qqemu.PhyMemMode:1``)."""
        self._ok(f"Qqemu.PhyMemMode:{1 if on else 0}")

    def insert_breakpoint(self, addr: int, kind: int = 4) -> None:
        self._ok(f"Z0,{addr:x},{kind:x}")

    def remove_breakpoint(self, addr: int, kind: int = 4) -> None:
        self._ok(f"z0,{addr:x},{kind:x}")

    def read_memory(self, addr: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(READ_CHUNK, size - len(out))
            reply = self.request(f"m{addr + len(out):x},{n:x}")
            if reply.startswith("E") or len(reply) != 2 * n:
                raise GdbError(f"reading {n} bytes at {addr + len(out):#x}: stub answered {reply[:20]!r}")
            out += bytes.fromhex(reply)
        return bytes(out)

    def write_memory(self, addr: int, data: bytes) -> None:
        for off in range(0, len(data), WRITE_CHUNK):
            chunk = data[off : off + WRITE_CHUNK]
            self._ok(f"M{addr + off:x},{len(chunk):x}:{chunk.hex()}")

    def read_registers(self) -> list[int]:
        """x0..x30, sp, pc (and cpsr if the stub sends it), from ``g``."""
        reply = self.request("g")
        if reply.startswith("E") or len(reply) < 33 * 16:
            raise GdbError(f"'g': stub answered {reply[:20]!r}")
        raw = bytes.fromhex(reply[: len(reply) // 2 * 2])
        regs = [int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(33)]
        if len(raw) >= 33 * 8 + 4:
            regs.append(int.from_bytes(raw[264:268], "little"))
        return regs

    def read_register(self, n: int) -> int:
        """Register ``n`` by ``p``; from ``g`` when the stub does not do ``p`` (QEMU does not
        before the client has read its target description)."""
        reply = self.request(f"p{n:x}")
        if not reply:
            regs = self.read_registers()
            if n >= len(regs):
                raise GdbError(f"register {n} is not in the 'g' reply")
            return regs[n]
        if reply.startswith("E"):
            raise GdbError(f"'p{n:x}': stub answered {reply[:20]!r}")
        return int.from_bytes(bytes.fromhex(reply), "little")

    def read_feature(self, annex: str, *, limit: int = 1 << 20) -> str:
        """The target-description document ``annex`` (``qXfer:features:read``), e.g. ``target.xml``.

        Reading ``target.xml`` also tells QEMU the client knows the register layout: only then does
        its stub answer ``p`` for registers beyond the core ones (the system registers)."""
        out: list[str] = []
        offset = 0
        while offset < limit:
            reply = self.request(f"qXfer:features:read:{annex}:{offset:x},fff")
            if not reply or reply[0] not in "ml":
                raise GdbError(f"qXfer:features:read:{annex}: stub answered {reply[:20]!r}")
            out.append(reply[1:])
            offset += len(reply) - 1
            if reply[0] == "l":
                return "".join(out)
        raise GdbError(f"qXfer:features:read:{annex}: longer than {limit} bytes")

    def write_register(self, n: int, value: int, size: int = 8) -> None:
        self._ok(f"P{n:x}={value.to_bytes(size, 'little').hex()}")

    def resume(self, addr: int | None = None) -> None:
        """``c`` (at ``addr`` if given); the stop reply comes later (:meth:`wait_stop`)."""
        self.send("c" if addr is None else f"c{addr:x}")

    def wait_stop(self, timeout: float) -> StopReply:
        """The next stop reply, within ``timeout`` seconds (:class:`GdbTimeout` otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self._read_packet(deadline)
            if payload.startswith("O") and not payload.startswith("OK"):
                continue  # console output
            return parse_stop(payload)

    def interrupt(self, timeout: float = 2.0) -> StopReply:
        """Stop a running target (the ``0x03`` byte) and return its stop reply."""
        self._send_raw(b"\x03")
        return self.wait_stop(timeout)
