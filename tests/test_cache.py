"""guest_asm.cache: memory and disk levels, corruption recovery, concurrent fill."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest_asm import cache
from guest_asm.assembler import AsmError, assemble, assemble_uncached, cache_key

SRC = "_start:\n    mov x0, #HF_VM_GET_COUNT\n    hvc #0\nend: b end\n"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    cache.set_cache_dir(tmp_path / "asm")
    cache.clear_memory_cache()
    cache.reset_stats()
    yield tmp_path / "asm"
    cache.set_cache_dir(None)
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
    leftovers = [p for p in directory.rglob("*") if p.is_file() and p.suffix != ".json"]
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
