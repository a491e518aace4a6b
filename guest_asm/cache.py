"""Content-addressed cache of assembled images: an in-process dict over an on-disk directory.

The key (see :func:`guest_asm.assembler.cache_key`) is the sha256 of the full source (ABI header
included), the base address, the Keystone version and the wrapper's format version. Entries on
disk are JSON files ``<key[:2]>/<key>.json``::

    {"format": 1, "key": "<key>", "code": "<hex>", "entry": 65536, "symbols": {"_start": 65536},
     "sha256": "<sha256 of the code bytes>"}

Writes go to a temporary file in the same directory and are published with :func:`os.replace`,
so concurrent writers (pytest-xdist workers) never expose a partial file; readers validate every
field and ignore (and later overwrite) a corrupt or truncated entry. If the directory cannot be
created or written, the cache silently becomes memory-only. Assembly errors are cached in memory
only.

The directory is ``$HFC_ASM_CACHE`` if set (read at first use; see :func:`set_cache_dir`), else
``~/.cache/hafnium-conformance/asm``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guest_asm.assembler import AsmError

__all__ = [
    "CacheStats",
    "cache_dir",
    "cache_stats",
    "clear_memory_cache",
    "lookup",
    "reset_stats",
    "set_cache_dir",
    "store",
]

ENTRY_FORMAT = 1
ENV_VAR = "HFC_ASM_CACHE"

Entry = tuple[bytes, int, dict[str, int]]


@dataclass(frozen=True)
class CacheStats:
    memory_hits: int
    disk_hits: int
    misses: int


@dataclass(frozen=True)
class _Failure:
    line: int | None
    text: str
    reason: str


_lock = threading.Lock()
_memory: dict[str, Entry] = {}
_failures: dict[str, _Failure] = {}
_stats = {"memory": 0, "disk": 0, "miss": 0}
_dir: Path | None = None
_dir_resolved = False
_disk_ok = True


def _default_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hafnium-conformance" / "asm"


def set_cache_dir(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` as the disk cache (``None``: re-read ``$HFC_ASM_CACHE``/the default)."""
    global _dir, _dir_resolved, _disk_ok
    with _lock:
        _dir = Path(path) if path is not None else None
        _dir_resolved = path is not None
        _disk_ok = True


def cache_dir() -> Path | None:
    """The disk cache directory, or ``None`` if the cache is memory-only (unusable directory)."""
    global _dir, _dir_resolved, _disk_ok
    if not _dir_resolved:
        _dir = _default_dir()
        _dir_resolved = True
    if not _disk_ok or _dir is None:
        return None
    try:
        _dir.mkdir(parents=True, exist_ok=True)
        if not os.access(_dir, os.W_OK | os.X_OK):
            raise PermissionError(str(_dir))
    except OSError:
        _disk_ok = False
        return None
    return _dir


def _path(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.json"


def _read_disk(key: str) -> Entry | None:
    root = cache_dir()
    if root is None:
        return None
    try:
        raw = _path(root, key).read_bytes()
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
        return code, entry, dict(symbols)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _write_disk(key: str, entry: Entry) -> None:
    root = cache_dir()
    if root is None:
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
    target = _path(root, key)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError:
        pass  # a read-only or full disk: the memory level still works
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def lookup(key: str) -> Entry | None:
    """The cached (code, entry, symbols) for ``key``, from memory or disk, else ``None``."""
    with _lock:
        hit = _memory.get(key)
        if hit is not None:
            _stats["memory"] += 1
            return hit[0], hit[1], dict(hit[2])
        found = _read_disk(key)
        if found is not None:
            _stats["disk"] += 1
            _memory[key] = found
            return found[0], found[1], dict(found[2])
        _stats["miss"] += 1
        return None


def store(key: str, code: bytes, entry: int, symbols: dict[str, int]) -> None:
    """Remember an assembled image in memory and on disk."""
    value: Entry = (bytes(code), int(entry), dict(symbols))
    with _lock:
        _memory[key] = value
        _write_disk(key, value)


def lookup_failure(key: str) -> _Failure | None:
    with _lock:
        return _failures.get(key)


def store_failure(key: str, error: AsmError) -> None:
    """Remember an assembly error (memory only)."""
    with _lock:
        if len(_failures) > 4096:
            _failures.clear()
        _failures[key] = _Failure(error.line, error.text, error.reason)


def cache_stats() -> CacheStats:
    with _lock:
        return CacheStats(_stats["memory"], _stats["disk"], _stats["miss"])


def reset_stats() -> None:
    with _lock:
        for k in _stats:
            _stats[k] = 0


def clear_memory_cache() -> None:
    """Forget the in-process level (images and cached errors); the disk level is kept."""
    with _lock:
        _memory.clear()
        _failures.clear()
