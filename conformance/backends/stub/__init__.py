"""The built-in stub hypervisor image (``--hv qemu:stub``): see ``stub.S``.

:func:`make_stub_image` assembles ``stub.S`` with the project's Keystone wrapper (cached), at
the address QEMU loads a raw ``-kernel`` image (``LOAD_ADDRESS``), patches the VM count and the
primary's entry into it, and appends the primary's image at ``PRIMARY_OFFSET``. Nothing binary is
committed: the bytes are made on the fly.
"""

from __future__ import annotations

from pathlib import Path

from guest_asm.assembler import Image, assemble

#: Where QEMU's ``virt`` board loads a raw ``-kernel`` image (RAM base + 0x80000).
LOAD_ADDRESS = 0x4008_0000
#: The stub puts the primary 64 KiB after itself (a 64 KiB aligned base, as the guest library needs).
PRIMARY_OFFSET = 0x1_0000
PRIMARY_BASE = LOAD_ADDRESS + PRIMARY_OFFSET
#: The stub's limit (it is ours to define): at most this many secondaries.
MAX_SECONDARIES = 7
#: Not part of the ABI: the stub runs an EL1 counting loop with physical IRQs routed to EL2 until
#: an interrupt arrives, then returns x0 = 0 (YIELD), x1 = the loop count (the loop is two
#: instructions) and x2 = CNTFRQ_EL0. It tests the backend's preemption timer; with preemption off
#: it never returns.
STUB_SPIN = 0x5354_5550
#: Not part of the ABI: the stub spins at EL2 with interrupts masked and never returns (a hung
#: hypervisor), for the backend's timeout tests.
STUB_HANG = 0x4841_4E47

SOURCE_PATH = Path(__file__).with_name("stub.S")


def stub_source() -> str:
    return SOURCE_PATH.read_text(encoding="ascii")


def build_stub() -> Image:
    """The assembled stub (symbols ``stub_vm_count``, ``stub_primary_entry``, ``stub_vectors``...)."""
    return assemble(stub_source(), base=LOAD_ADDRESS, name="stub.S")


def make_stub_image(vm_count: int, primary: bytes, primary_entry: int | None = None) -> bytes:
    """The stub image: stub code (``vm_count`` and the primary's entry patched in), the primary at
    ``PRIMARY_OFFSET``."""
    if not 0 <= vm_count < 1 << 64:
        raise ValueError(f"vm_count {vm_count} out of range")
    stub = build_stub()
    if len(stub.code) > PRIMARY_OFFSET:
        raise ValueError(f"stub.S is {len(stub.code):#x} bytes, more than PRIMARY_OFFSET {PRIMARY_OFFSET:#x}")
    code = bytearray(stub.code)
    entry = PRIMARY_BASE if primary_entry is None else primary_entry
    for sym, value in (("stub_vm_count", vm_count), ("stub_primary_entry", entry)):
        off = stub.symbol(sym) - stub.base
        code[off : off + 8] = value.to_bytes(8, "little")
    code += b"\0" * (PRIMARY_OFFSET - len(code))
    return bytes(code) + primary
