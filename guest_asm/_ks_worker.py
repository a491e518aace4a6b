"""Keystone in a child process: :class:`Client` in the caller, :func:`main` in the child.

Keystone 0.9.2 can spin forever (``nop ::``, and Ctrl-C cannot stop it), segfault or abort, so
guest_asm.assembler never calls it in-process. The child (``python -P _ks_worker.py PARENT_PID``)
first sends a reply frame with payload ``b"ready"`` (errno -1 and the reason if it cannot start);
then, per request ``<QQ`` (base, length) + ASCII text, it sends ``<qQ`` (errno, length) + the
machine code (errno 0) or Keystone's error message. It exits on EOF, ignores SIGINT (the caller
handles Ctrl-C and kills it), and a watchdog thread ends it when its parent is gone, even while
Keystone spins (ctypes releases the GIL). Its address space is capped (:data:`MEMORY_LIMIT`: a
huge ``.skip`` fails instead of eating the machine's memory) and so is its output
(:data:`MAX_OUTPUT`). Its stderr goes to a file the caller empties before each request: what
Keystone printed there (``LLVM ERROR: ...`` before it exits) is the reason given for a crash.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

REQUEST = struct.Struct("<QQ")
REPLY = struct.Struct("<qQ")
DEADLINE = 2.0  # seconds per call, plus 1 s per MB of text (Keystone needs about 0.08 s per MB)
START_DEADLINE = 60.0
MAX_OUTPUT = 16 << 20  # bytes of machine code the child sends back
MEMORY_LIMIT = 1 << 30  # the child's address space (it needs about 170 MB)
CRASHED, TIMEOUT, TOO_LARGE = -1, -2, -3  # failures that are not Keystone error numbers


class KsFailure(Exception):
    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message


class Client:
    """A persistent worker process: started on first use, killed (and started again on the next
    call) after a crash, a timeout or an exception such as KeyboardInterrupt. Not fork-safe:
    call :meth:`forget` in a forked child."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: int | None = None  # the child's stderr (a file; the offset is shared with it)

    def run(self, text: bytes, base: int) -> bytes:
        """Keystone's machine code for ``text`` at ``base``; :class:`KsFailure` if it fails."""
        with self.lock:
            for attempt in (0, 1):
                proc, stderr = self._worker(), self.stderr
                assert proc.stdin is not None and stderr is not None
                try:
                    os.ftruncate(stderr, 0)
                    os.lseek(stderr, 0, os.SEEK_SET)
                    try:
                        proc.stdin.write(REQUEST.pack(base, len(text)) + text)
                        proc.stdin.flush()
                    except BrokenPipeError:  # it died before reading this request: not this text's fault
                        if attempt:
                            raise
                        self.stop()
                        continue
                    errno, payload = self._receive(proc, DEADLINE + len(text) / 1e6)
                except BaseException as exc:  # a failure, or Ctrl-C: its state is unknown
                    if isinstance(exc, KsFailure) and exc.errno == CRASHED:  # add what it printed last
                        tail = max(0, os.fstat(stderr).st_size - 4096)
                        said = os.pread(stderr, 4096, tail).decode("ascii", "replace").split()
                        exc.message += f": {' '.join(said)[-200:]}" if said else ""
                    self.stop()
                    raise
                if errno:
                    raise KsFailure(errno, payload.decode("ascii", "replace"))
                return payload
        raise AssertionError("unreachable")

    def _worker(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        self.stop()
        cmd = [sys.executable, "-P", __file__, str(os.getpid())]
        with tempfile.TemporaryFile() as err:
            self.stderr = os.dup(err.fileno())
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        try:
            errno, payload = self._receive(self.proc, START_DEADLINE)
        except KsFailure as exc:
            errno, payload = exc.errno, exc.message.encode()
        if errno:
            self.stop()
            raise RuntimeError(f"cannot start Keystone: {payload.decode('ascii', 'replace')}")
        return self.proc

    @staticmethod
    def _receive(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, bytes]:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        end = time.monotonic() + timeout
        data = bytearray()
        need = REPLY.size
        while len(data) < need:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise KsFailure(TIMEOUT, f"Keystone did not finish within {timeout:.1f} s")
            chunk = os.read(fd, min(need - len(data), 1 << 20))
            if not chunk:
                status = proc.wait()
                raise KsFailure(CRASHED, f"Keystone crashed ({f'signal {-status}' if status < 0 else f'exit status {status}'})")
            data += chunk
            if len(data) == REPLY.size:
                need = REPLY.size + REPLY.unpack_from(data)[1]
                if need > REPLY.size + MAX_OUTPUT + 4096:
                    raise KsFailure(CRASHED, "Keystone's worker sent a malformed reply")
        return REPLY.unpack_from(data)[0], bytes(data[REPLY.size :])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()  # type: ignore[union-attr]
        if self.stderr is not None:
            os.close(self.stderr)
            self.stderr = None


# ------------------------------------------------------------------------------------------------
# The child


def _read(n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(0, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _reply(errno: int, payload: bytes) -> None:
    data = memoryview(REPLY.pack(errno, len(payload)) + payload)
    while data:
        data = data[os.write(1, data) :]


def _watchdog(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError, OSError):  # not everywhere (macOS)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    threading.Thread(target=_watchdog, args=(int(sys.argv[1]),), daemon=True).start()
    try:
        import keystone

        ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
    except Exception as exc:  # noqa: BLE001 -- reported to the caller, which raises it
        _reply(-1, f"{type(exc).__name__}: {exc}".encode())
        return
    _reply(0, b"ready")
    while (head := _read(REQUEST.size)) is not None:
        base, size = REQUEST.unpack(head)
        text = _read(size)
        if text is None:
            return
        try:
            code, _count = ks.asm(text, base, as_bytes=True)
            if len(code or b"") > MAX_OUTPUT:
                _reply(TOO_LARGE, f"Keystone's output is larger than {MAX_OUTPUT} bytes".encode())
            else:
                _reply(0, bytes(code or b""))
        except keystone.KsError as exc:
            _reply(int(exc.errno), str(exc).encode())


if __name__ == "__main__":
    main()
