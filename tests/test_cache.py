"""guest_asm.cache: memory and disk levels, corruption recovery, concurrent fill, bounds, location,
``hfconform cache``."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import cli
from guest_asm import cache
from guest_asm.assembler import AsmError, assemble, assemble_uncached, cache_key

SRC = ".equ HF_VM_GET_COUNT, 0xff01\n_start:\n    mov x0, #HF_VM_GET_COUNT\n    hvc #0\nend: b end\n"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    cache.set_cache_dir(tmp_path / "asm")
    cache.clear_memory_cache()
    cache.reset_stats()
    yield tmp_path / "asm"
    cache.set_cache_dir(None)
    cache.set_disk_limit(None)
    cache.set_memory_limits()
    cache.clear_memory_cache()


def entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def test_miss_then_memory_hit_then_disk_hit(fresh: Path) -> None:
    first = assemble(SRC, base=0x10000)
    assert cache.cache_stats() == cache.CacheStats(0, 0, 1)
    second = assemble(SRC, base=0x10000)
    assert cache.cache_stats() == cache.CacheStats(1, 0, 1)
    cache.clear_memory_cache()
    third = assemble(SRC, base=0x10000)
    assert cache.cache_stats() == cache.CacheStats(1, 1, 1)
    assert first == second == third
    assert third.symbols == {"_start": 0x10000, "end": 0x10008}
    (path,) = entries(fresh)
    doc = json.loads(path.read_text())
    assert doc["key"] == cache_key(SRC, 0x10000) and bytes.fromhex(doc["code"]) == first.code


def test_key_depends_on_source_and_base(fresh: Path) -> None:
    assert cache_key(SRC, 0x10000) != cache_key(SRC, 0x20000)
    assert cache_key(SRC, 0x10000) != cache_key(SRC + "nop\n", 0x10000)
    a = assemble(SRC, base=0x10000)
    b = assemble(SRC, base=0x20000)
    assert a.symbols["end"] == 0x10008 and b.symbols["end"] == 0x20008
    assert len(entries(fresh)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b"",
        lambda b: b"\x00\xff garbage",
        lambda b: b.replace(b'"code": "', b'"code": "00'),
        lambda b: json.dumps({"format": 1}).encode(),
    ],
)
def test_corrupt_file_is_ignored_and_rewritten(fresh: Path, damage: object) -> None:
    good = assemble(SRC, base=0x10000)
    (path,) = entries(fresh)
    original = path.read_bytes()
    path.write_bytes(damage(original))  # type: ignore[operator]
    cache.clear_memory_cache()
    cache.reset_stats()
    again = assemble(SRC, base=0x10000)
    assert again == good
    assert cache.cache_stats().misses == 1
    assert json.loads(path.read_bytes()) == json.loads(original)


def test_unusable_directory_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache.set_cache_dir(blocker / "asm")
    cache.clear_memory_cache()
    try:
        assert cache.cache_dir() is None
        img = assemble(SRC, base=0x30000)
        assert assemble(SRC, base=0x30000) == img
    finally:
        cache.set_cache_dir(None)


def test_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFC_ASM_CACHE", str(tmp_path / "env"))
    cache.set_cache_dir(None)
    cache.clear_memory_cache()
    try:
        assert cache.cache_dir() == tmp_path / "env"
        assemble(SRC, base=0x50000)
        assert entries(tmp_path / "env")
    finally:
        monkeypatch.delenv("HFC_ASM_CACHE")
        cache.set_cache_dir(None)


def test_errors_are_not_cached_on_disk(fresh: Path) -> None:
    for _ in range(2):
        with pytest.raises(AsmError, match="invalid mnemonic"):
            assemble("movx x0, #1\n", base=0x10000, name="bad.S")
    assert entries(fresh) == []
    with pytest.raises(AsmError) as info:
        assemble("movx x0, #1\n", base=0x10000, name="other.S")
    assert info.value.program == "other.S" and info.value.line == 1


def _sources() -> list[tuple[str, int]]:
    shared = [(SRC, 0x10000), (SRC, 0x7F0000000000)]
    own = [(f"_start: mov x0, #{i}\n.rept {i}\nnop\n.endr\ndata_{i}: .quad data_{i}\n", 0x40000) for i in range(12)]
    return shared + own


def _worker(args: tuple[str, int]) -> list[tuple[bytes, int, dict[str, int]]]:
    directory, seed = args
    cache.set_cache_dir(directory)
    out = []
    srcs = _sources()
    for k in range(len(srcs)):
        src, base = srcs[(k + seed) % len(srcs)]
        img = assemble(src, base=base)
        out.append((img.code, img.entry, dict(img.symbols)))
    return out


def test_concurrent_fill(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_worker, [(str(directory), seed) for seed in range(8)])
    srcs = _sources()
    expected = {}
    for src, base in srcs:
        img = assemble_uncached(src, base=base)
        expected[(src, base)] = (img.code, img.entry, dict(img.symbols))
    for seed, result in enumerate(results):
        for k, got in enumerate(result):
            assert got == expected[srcs[(k + seed) % len(srcs)]]
    files = entries(directory)
    assert len(files) == len(srcs)
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["key"] == path.stem
    bookkeeping = {directory / cache.LOCK_NAME, directory / cache.LEDGER_NAME}
    leftovers = [p for p in directory.rglob("*") if p.is_file() and p.suffix != ".json" and p not in bookkeeping]
    assert leftovers == []
    # And a reader in this process gets every entry from disk.
    cache.set_cache_dir(directory)
    cache.clear_memory_cache()
    cache.reset_stats()
    try:
        for src, base in srcs:
            assert assemble(src, base=base).code == expected[(src, base)][0]
        assert cache.cache_stats() == cache.CacheStats(0, len(srcs), 0)
    finally:
        cache.set_cache_dir(None)
        cache.clear_memory_cache()
    assert os.listdir(directory)


# --- bounds -----------------------------------------------------------------------------------------


def _unique(i: int) -> str:
    return f"_start:\n    mov x0, #{i}\n    hvc #0\nend_{i}: b end_{i}\n"


def _disk_total(root: Path) -> int:
    return sum(p.stat().st_size for p in entries(root))


def test_memory_level_is_an_lru(fresh: Path) -> None:
    cache.set_memory_limits(entries=3)
    for i in range(5):
        assemble(_unique(i), base=0x10000)
    assert cache.memory_usage()[0] == 3
    assert cache.eviction_stats()[0] == 2
    cache.reset_stats()
    assemble(_unique(2), base=0x10000)  # in memory: now the most recently used
    assemble(_unique(0), base=0x10000)  # evicted from memory, still on disk
    assert cache.cache_stats() == cache.CacheStats(1, 1, 0)
    assert cache.memory_usage()[0] == 3
    cache.reset_stats()
    assemble(_unique(2), base=0x10000)  # survived: used more recently than 3 and 4
    assert cache.cache_stats() == cache.CacheStats(1, 0, 0)


def test_memory_level_bounded_by_bytes(fresh: Path) -> None:
    cache.set_memory_limits(entries=1000, nbytes=2000)
    for i in range(40):
        assemble(_unique(i), base=0x10000)
    count, size = cache.memory_usage()
    assert 0 < count < 40 and size <= 2000


def test_failures_are_bounded(fresh: Path) -> None:
    for i in range(cache.MAX_FAILURES + 10):
        cache.store_failure(f"k{i}", AsmError("x.S", 1, "bad", "why"))
    assert cache.lookup_failure("k0") is None
    assert cache.lookup_failure(f"k{cache.MAX_FAILURES + 9}") is not None


def test_disk_level_evicts_least_recently_used(fresh: Path) -> None:
    assemble(_unique(0), base=0x10000)
    one = _disk_total(fresh)
    cache.set_disk_limit(4 * one + one // 2)  # room for four entries
    for i in range(1, 4):
        assemble(_unique(i), base=0x10000)
    old = time.time() - 1000
    for n, path in enumerate(entries(fresh)):  # a known order of "last used": all long ago
        os.utime(path, (old + n, old + n))
    oldest = min(entries(fresh), key=lambda p: p.stat().st_mtime)
    keep = cache_key(_unique(0), 0x10000)
    if oldest.stem == keep:  # make sure the entry we refresh is not the one that would go anyway
        keep = cache_key(_unique(1), 0x10000)
    cache.clear_memory_cache()
    cache.reset_stats()
    refreshed = next(i for i in range(4) if cache_key(_unique(i), 0x10000) == keep)
    assemble(_unique(refreshed), base=0x10000)  # a disk hit refreshes its "last used"
    assert cache.cache_stats().disk_hits == 1
    for i in range(4, 6):  # each one evicts one of the least recently used: the refreshed one stays
        assemble(_unique(i), base=0x10000)
        assert _disk_total(fresh) <= cache.disk_limit()
    names = {p.stem for p in entries(fresh)}
    assert keep in names
    assert oldest.stem not in names
    assert len(names) == 4 and cache.eviction_stats()[1] == 2
    assert int((fresh / cache.LEDGER_NAME).read_text()) == _disk_total(fresh)


def test_entry_larger_than_the_cap_stays_in_memory(fresh: Path) -> None:
    cache.set_disk_limit(100)
    img = assemble(SRC, base=0x10000)
    assert entries(fresh) == []
    assert assemble(SRC, base=0x10000) == img


def test_disk_limit_from_the_environment(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFC_ASM_CACHE_MAX", "3K")
    cache.set_disk_limit(None)
    assert cache.disk_limit() == 3072
    assert cache.parse_size("64M") == 64 << 20 and cache.parse_size("1024") == 1024
    monkeypatch.setenv("HFC_ASM_CACHE_MAX", "0")
    cache.set_disk_limit(None)
    assemble(SRC, base=0x10000)
    assert entries(fresh) == []  # 0: no disk level


def _fill_worker(args: tuple[str, int, int]) -> int:
    directory, seed, limit = args
    cache.set_cache_dir(directory)
    cache.set_disk_limit(limit)
    worst = 0
    root = Path(directory)
    for i in range(10):
        assemble(_unique(1000 * seed + i), base=0x40000)
        with cache._disk_lock(root):  # every writer holds it to evict and publish: a consistent view
            worst = max(worst, _disk_total(root))
    return worst


def test_disk_cap_holds_under_a_concurrent_fill(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    cache.set_cache_dir(directory)
    cache.set_disk_limit(None)
    cache.clear_memory_cache()
    try:
        assemble(_unique(999), base=0x40000)
        one = _disk_total(directory)
        limit = 8 * one
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            worst = pool.map(_fill_worker, [(str(directory), seed, limit) for seed in range(1, 5)])
        assert max(worst) <= limit  # 40 new entries, room for about 8: eviction ran, the cap held
        total = _disk_total(directory)
        assert 0 < total <= limit
        assert int((directory / cache.LEDGER_NAME).read_text()) == total
        assert not [p for p in directory.rglob("*.tmp")]
    finally:
        cache.set_cache_dir(None)
        cache.clear_memory_cache()


# --- location and the command -------------------------------------------------------------------------


def test_xdg_cache_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HFC_ASM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache.set_cache_dir(None)
    cache.clear_memory_cache()
    try:
        assert cache.cache_dir() == tmp_path / "xdg" / "hafnium-conformance" / "asm"
        assemble(SRC, base=0x60000)
        assert entries(tmp_path / "xdg" / "hafnium-conformance" / "asm")
        monkeypatch.setenv("HFC_ASM_CACHE", str(tmp_path / "explicit"))  # the explicit override wins
        cache.set_cache_dir(None)
        assert cache.cache_dir() == tmp_path / "explicit"
        monkeypatch.delenv("HFC_ASM_CACHE")
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid per the XDG spec: ignored
        cache.set_cache_dir(None)
        assert cache._default_dir() == Path.home() / ".cache" / "hafnium-conformance" / "asm"
    finally:
        cache.set_cache_dir(None)
        cache.clear_memory_cache()


def test_hfconform_cache_shows_and_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "cmd"
    monkeypatch.setenv("HFC_ASM_CACHE", str(directory))
    cache.set_cache_dir(None)
    cache.clear_memory_cache()
    try:
        for i in range(3):
            assemble(_unique(i), base=0x10000)
        total = _disk_total(directory)
        assert cli.main(["cache"]) == 0
        out = capsys.readouterr().out
        assert str(directory) in out and "3 entries" in out and f"({total} bytes)" in out
        assert cli.main(["cache", "--clear"]) == 0
        assert "removed 3 entries" in capsys.readouterr().out
        assert entries(directory) == []
        assert cli.main(["cache"]) == 0
        assert "0 entries" in capsys.readouterr().out
        cache.reset_stats()
        assemble(_unique(0), base=0x10000)  # the memory level was cleared too: a miss, stored again
        assert cache.cache_stats().misses == 1 and len(entries(directory)) == 1
    finally:
        cache.set_cache_dir(None)
        cache.clear_memory_cache()
