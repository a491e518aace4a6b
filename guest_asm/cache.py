"""Content-addressed cache of assembled images: a bounded in-process LRU over a bounded on-disk directory.

The key (see :func:`guest_asm.assembler.cache_key`) is the sha256 of the source (self-contained:
its constants are ``.equ`` lines in it), the base address, the Keystone version and the wrapper's
format version. Entries on disk are JSON files ``<key[:2]>/<key>.json``::

    {"format": 1, "key": "<key>", "code": "<hex>", "entry": 65536, "symbols": {"_start": 65536},
     "sha256": "<sha256 of the code bytes>"}

Writes go to a temporary file in the same directory and are published with :func:`os.replace`,
so concurrent writers (pytest-xdist workers) never expose a partial file; readers validate every
field and ignore (and later overwrite) a corrupt or truncated entry. If the directory cannot be
created or written, the cache silently becomes memory-only. Assembly errors are cached in memory
only.

**Bounds.** The memory level is an LRU of at most :data:`DEFAULT_MEMORY_ENTRIES` images and
:data:`DEFAULT_MEMORY_BYTES` bytes of code (:func:`set_memory_limits`); cached errors are an LRU of
:data:`MAX_FAILURES`. The disk level holds at most :data:`DEFAULT_DISK_BYTES` bytes of entries
(``$HFC_ASM_CACHE_MAX``, e.g. ``64M``, ``0`` for no disk level; :func:`set_disk_limit`): before an
entry is published, the least recently used entries are deleted (a disk hit refreshes the entry's
mtime, which is its "last used" time) until the new one fits, down to 90% of the cap when
eviction is needed at all. The running total is a small ledger file (``.size``) updated under an
exclusive ``flock`` on ``.lock``, so several processes filling the cache at once keep the total
within the cap (temporary files being written are not counted); the ledger is rebuilt from a scan
whenever it is missing, unreadable or eviction runs.

**Where.** ``$HFC_ASM_CACHE`` if set (read at first use; see :func:`set_cache_dir`), else
``$XDG_CACHE_HOME/hafnium-conformance/asm`` if ``XDG_CACHE_HOME`` is an absolute path, else
``~/.cache/hafnium-conformance/asm``. ``hfconform cache`` prints it and its size; ``hfconform
cache --clear`` empties it (:func:`main`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: eviction is per process only
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from guest_asm.assembler import AsmError

__all__ = [
    "DEFAULT_DISK_BYTES",
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_MEMORY_ENTRIES",
    "CacheStats",
    "DiskUsage",
    "cache_dir",
    "cache_stats",
    "clear_disk_cache",
    "clear_memory_cache",
    "disk_limit",
    "disk_usage",
    "lookup",
    "main",
    "memory_usage",
    "reset_stats",
    "set_cache_dir",
    "set_disk_limit",
    "set_memory_limits",
    "store",
]

ENTRY_FORMAT = 1
ENV_VAR = "HFC_ASM_CACHE"
LIMIT_ENV_VAR = "HFC_ASM_CACHE_MAX"
#: The memory level's defaults: a guest program's image is a few kB, so this is ~a few MB at most.
DEFAULT_MEMORY_ENTRIES = 512
DEFAULT_MEMORY_BYTES = 16 << 20
#: Cached assembly errors (memory only).
MAX_FAILURES = 1024
#: The disk level's default cap, in bytes of entry files.
DEFAULT_DISK_BYTES = 64 << 20
#: When eviction runs, it frees space down to this fraction of the cap (so it runs rarely).
LOW_WATER = 0.9
LOCK_NAME = ".lock"
LEDGER_NAME = ".size"
#: A temporary file older than this is a crashed writer's: the next scan deletes it.
STALE_TMP_SECONDS = 3600

Entry = tuple[bytes, int, dict[str, int]]


@dataclass(frozen=True)
class CacheStats:
    memory_hits: int
    disk_hits: int
    misses: int


@dataclass(frozen=True)
class DiskUsage:
    """What :func:`disk_usage` found: the directory (``None``: memory-only), its entries and the cap."""

    directory: Path | None
    entries: int
    bytes: int
    limit: int


@dataclass(frozen=True)
class _Failure:
    line: int | None
    text: str
    reason: str


_lock = threading.Lock()
_memory: OrderedDict[str, Entry] = OrderedDict()
_memory_bytes = 0
_memory_max_entries = DEFAULT_MEMORY_ENTRIES
_memory_max_bytes = DEFAULT_MEMORY_BYTES
_failures: OrderedDict[str, _Failure] = OrderedDict()
_stats = {"memory": 0, "disk": 0, "miss": 0, "evicted_memory": 0, "evicted_disk": 0}
_dir: Path | None = None
_dir_resolved = False
_disk_ok = True
_disk_limit: int | None = None  # None: read $HFC_ASM_CACHE_MAX at first use

_SIZE_RE = re.compile(r"\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"64M"`` -> 67108864; plain digits are bytes; K/M/G/T are powers of 1024."""
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 67108864, 64M or 1G)")
    return int(m.group(1)) << (10 * " kmgt".index(m.group(2).lower() or " "))


def _default_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative path is invalid and ignored
        return Path(xdg) / "hafnium-conformance" / "asm"
    return Path.home() / ".cache" / "hafnium-conformance" / "asm"


def set_cache_dir(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` as the disk cache (``None``: re-read ``$HFC_ASM_CACHE``/``$XDG_CACHE_HOME``/the default)."""
    global _dir, _dir_resolved, _disk_ok
    with _lock:
        _dir = Path(path) if path is not None else None
        _dir_resolved = path is not None
        _disk_ok = True


def set_memory_limits(entries: int | None = None, nbytes: int | None = None) -> None:
    """Bound the memory level (``None``: the default); evicts at once if it is over."""
    global _memory_max_entries, _memory_max_bytes
    with _lock:
        _memory_max_entries = DEFAULT_MEMORY_ENTRIES if entries is None else max(0, int(entries))
        _memory_max_bytes = DEFAULT_MEMORY_BYTES if nbytes is None else max(0, int(nbytes))
        _trim_memory()


def set_disk_limit(nbytes: int | None) -> None:
    """Cap the disk level at ``nbytes`` (``None``: re-read ``$HFC_ASM_CACHE_MAX``/the default)."""
    global _disk_limit
    with _lock:
        _disk_limit = None if nbytes is None else max(0, int(nbytes))


def disk_limit() -> int:
    """The disk level's cap in bytes (0: no disk level)."""
    global _disk_limit
    if _disk_limit is None:
        env = os.environ.get(LIMIT_ENV_VAR)
        try:
            _disk_limit = parse_size(env) if env else DEFAULT_DISK_BYTES
        except ValueError:
            _disk_limit = DEFAULT_DISK_BYTES
    return _disk_limit


def _resolved_dir() -> Path | None:
    global _dir, _dir_resolved
    if not _dir_resolved:
        _dir = _default_dir()
        _dir_resolved = True
    return _dir


def cache_dir() -> Path | None:
    """The disk cache directory, or ``None`` if the cache is memory-only (unusable directory)."""
    global _disk_ok
    root = _resolved_dir()
    if not _disk_ok or root is None:
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(str(root))
    except OSError:
        _disk_ok = False
        return None
    return root


def _path(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.json"


# --- the memory level ---------------------------------------------------------------------------


def _entry_bytes(entry: Entry) -> int:
    return len(entry[0]) + 64 * (1 + len(entry[2]))  # code plus a rough per-symbol overhead


def _trim_memory() -> None:
    global _memory_bytes
    while _memory and (len(_memory) > _memory_max_entries or _memory_bytes > _memory_max_bytes):
        _, old = _memory.popitem(last=False)
        _memory_bytes -= _entry_bytes(old)
        _stats["evicted_memory"] += 1


def _remember(key: str, entry: Entry) -> None:
    global _memory_bytes
    old = _memory.pop(key, None)
    if old is not None:
        _memory_bytes -= _entry_bytes(old)
    _memory[key] = entry
    _memory_bytes += _entry_bytes(entry)
    _trim_memory()


def memory_usage() -> tuple[int, int]:
    """(images, approximate bytes) in the memory level."""
    with _lock:
        return len(_memory), _memory_bytes


# --- the disk level -----------------------------------------------------------------------------


@contextmanager
def _disk_lock(root: Path) -> Iterator[None]:
    """An exclusive lock over the directory's ledger and evictions (all processes)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _scan(root: Path) -> list[tuple[float, int, Path]]:
    """Every entry file as (mtime, size, path); stale temporary files are deleted on the way."""
    found: list[tuple[float, int, Path]] = []
    now = time.time()
    try:
        subdirs = [d for d in os.scandir(root) if len(d.name) == 2 and d.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for sub in subdirs:
        try:
            items = list(os.scandir(sub.path))
        except OSError:
            continue
        for item in items:
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue  # removed meanwhile
            if item.name.endswith(".json"):
                found.append((st.st_mtime, st.st_size, Path(item.path)))
            elif item.name.endswith(".tmp") and now - st.st_mtime > STALE_TMP_SECONDS:
                try:
                    os.unlink(item.path)
                except OSError:
                    pass
    return found


def _read_ledger(root: Path) -> int | None:
    try:
        value = int((root / LEDGER_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
    return value if value >= 0 else None


def _write_ledger(root: Path, total: int) -> None:
    try:
        (root / LEDGER_NAME).write_text(f"{max(0, total)}\n")
    except OSError:
        pass


def _evict(root: Path, need: int, limit: int) -> int:
    """Delete least recently used entries until ``need`` more bytes fit under ``limit``; the new total."""
    files = _scan(root)
    total = sum(size for _, size, _ in files)
    if total + need <= limit:
        return total
    target = max(0, int(limit * LOW_WATER) - need)
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total <= target:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= size
        _stats["evicted_disk"] += 1
    return total


def _read_disk(key: str) -> Entry | None:
    root = cache_dir()
    if root is None or disk_limit() == 0:
        return None
    path = _path(root, key)
    try:
        raw = path.read_bytes()
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != ENTRY_FORMAT or doc.get("key") != key:
            return None
        code = bytes.fromhex(doc["code"])
        if hashlib.sha256(code).hexdigest() != doc["sha256"]:
            return None
        entry = doc["entry"]
        symbols = doc["symbols"]
        if not isinstance(entry, int) or not isinstance(symbols, dict):
            return None
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in symbols.items()):
            return None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    try:
        os.utime(path)  # "last used": eviction removes the least recently used first
    except OSError:
        pass
    return code, entry, dict(symbols)


def _write_disk(key: str, entry: Entry) -> None:
    root = cache_dir()
    limit = disk_limit()
    if root is None or limit == 0:
        return
    code, start, symbols = entry
    doc = {
        "format": ENTRY_FORMAT,
        "key": key,
        "code": code.hex(),
        "entry": start,
        "symbols": symbols,
        "sha256": hashlib.sha256(code).hexdigest(),
    }
    data = json.dumps(doc, sort_keys=True).encode("utf-8")
    if len(data) > limit:
        return  # larger than the whole cache: memory only
    target = _path(root, key)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with _disk_lock(root):
            try:
                replaced = target.stat().st_size
            except OSError:
                replaced = 0
            total = _read_ledger(root)
            if total is None or total - replaced + len(data) > limit:
                total = _evict(root, len(data) - replaced, limit)  # a scan: also repairs the ledger
                try:
                    replaced = target.stat().st_size  # eviction may have removed the old copy
                except OSError:
                    replaced = 0
            os.replace(tmp, target)
            tmp = None
            _write_ledger(root, total - replaced + len(data))
    except OSError:
        pass  # a read-only or full disk: the memory level still works
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def disk_usage() -> DiskUsage:
    """The disk level's directory, entry count and bytes (a scan), and its cap."""
    with _lock:
        root = _resolved_dir()
        limit = disk_limit()
        if root is None or not root.is_dir():
            return DiskUsage(root, 0, 0, limit)
        files = _scan(root)
        return DiskUsage(root, len(files), sum(size for _, size, _ in files), limit)


def clear_disk_cache() -> int:
    """Delete every entry of the disk level (and this process's memory level); the entries deleted."""
    with _lock:
        _clear_memory()
        root = _resolved_dir()
        if root is None or not root.is_dir():
            return 0
        removed = 0
        with _disk_lock(root):
            for _, _, path in _scan(root):
                try:
                    os.unlink(path)
                    removed += 1
                except OSError:
                    pass
            _write_ledger(root, sum(size for _, size, _ in _scan(root)))
            for sub in root.iterdir():
                if sub.is_dir() and len(sub.name) == 2:
                    for tmp in sub.glob("*.tmp"):
                        try:
                            if time.time() - tmp.stat().st_mtime > 60:
                                tmp.unlink()
                        except OSError:
                            pass
                    try:
                        sub.rmdir()  # only if empty (a writer may be publishing into it)
                    except OSError:
                        pass
        return removed


# --- the API the assembler uses --------------------------------------------------------------------


def lookup(key: str) -> Entry | None:
    """The cached (code, entry, symbols) for ``key``, from memory or disk, else ``None``."""
    with _lock:
        hit = _memory.get(key)
        if hit is not None:
            _memory.move_to_end(key)
            _stats["memory"] += 1
            return hit[0], hit[1], dict(hit[2])
        found = _read_disk(key)
        if found is not None:
            _stats["disk"] += 1
            _remember(key, found)
            return found[0], found[1], dict(found[2])
        _stats["miss"] += 1
        return None


def store(key: str, code: bytes, entry: int, symbols: dict[str, int]) -> None:
    """Remember an assembled image in memory and on disk."""
    value: Entry = (bytes(code), int(entry), dict(symbols))
    with _lock:
        _remember(key, value)
        _write_disk(key, value)


def lookup_failure(key: str) -> _Failure | None:
    with _lock:
        hit = _failures.get(key)
        if hit is not None:
            _failures.move_to_end(key)
        return hit


def store_failure(key: str, error: AsmError) -> None:
    """Remember an assembly error (memory only, the :data:`MAX_FAILURES` most recent)."""
    with _lock:
        _failures[key] = _Failure(error.line, error.text, error.reason)
        _failures.move_to_end(key)
        while len(_failures) > MAX_FAILURES:
            _failures.popitem(last=False)


def cache_stats() -> CacheStats:
    with _lock:
        return CacheStats(_stats["memory"], _stats["disk"], _stats["miss"])


def eviction_stats() -> tuple[int, int]:
    """(memory evictions, disk evictions by this process) since the last :func:`reset_stats`."""
    with _lock:
        return _stats["evicted_memory"], _stats["evicted_disk"]


def reset_stats() -> None:
    with _lock:
        for k in _stats:
            _stats[k] = 0


def _clear_memory() -> None:
    global _memory_bytes
    _memory.clear()
    _memory_bytes = 0
    _failures.clear()


def clear_memory_cache() -> None:
    """Forget the in-process level (images and cached errors); the disk level is kept."""
    with _lock:
        _clear_memory()


# --- hfconform cache ------------------------------------------------------------------------------------


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def main(argv: Sequence[str] | None = None) -> int:
    """``hfconform cache [--clear]``: where the assembler's disk cache is, its size; or empty it."""
    p = argparse.ArgumentParser(
        prog="hfconform cache",
        description="Show where the assembled-image cache is and how big it is, or empty it. "
        f"Location: ${ENV_VAR}, else $XDG_CACHE_HOME/hafnium-conformance/asm, else ~/.cache/hafnium-conformance/asm; "
        f"cap: ${LIMIT_ENV_VAR} (e.g. 64M; default {_human(DEFAULT_DISK_BYTES)}).",
    )
    p.add_argument("--clear", action="store_true", help="delete every cached image")
    ns = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    if ns.clear:
        before = disk_usage()
        removed = clear_disk_cache()
        after = disk_usage()
        print(f"cache: {before.directory}: removed {removed} entries ({_human(before.bytes - after.bytes)})")
        return 0
    usage = disk_usage()
    print(f"cache: {usage.directory}")
    print(f"size:  {usage.entries} entries, {_human(usage.bytes)} ({usage.bytes} bytes)")
    print(f"cap:   {_human(usage.limit)} ({usage.limit} bytes; ${LIMIT_ENV_VAR})" if usage.limit else "cap:   0 (disk level off)")
    return 0
