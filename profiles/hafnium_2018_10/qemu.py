"""What the QEMU backend must know of real Hafnium images of this profile's era (aa039b39).

* the **fault line** Hafnium logs before it spins at EL2 on an exception from a guest (the pc is
  the guest's; only a complete line counts, since Hafnium prints it in pieces);
* the **memory layout** of its images on QEMU's ``virt`` board: where the primary is loaded,
  the RAM the image is built for, how many secondaries its page-table pool holds;
* how its **initrd** packs the secondaries: an old-binary cpio with ``vmlinuz`` (the primary),
  ``initrd.img``, ``vms.txt`` (``<memory> <vcpus> <name>`` per secondary, in VM-ID order) and one
  member per secondary (:mod:`conformance.backends.cpio`).

Facts read from Hafnium at commit aa039b39 (``src/load.c``, ``src/arch/aarch64/handler.c``) and
confirmed under QEMU 7.2 (docs/qemu-backend.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from conformance.backends import cpio
from conformance.backends.qemu import MIB, Era, GuestImage


def initrd(primary: bytes, secondaries: Sequence[GuestImage]) -> bytes:
    """The initrd Hafnium's loader reads at this commit (see the module docstring)."""
    members = [cpio.Secondary(cpio.member_name(g.vm_id, g.vm.name), g.vm.memory, g.vm.vcpus, g.code) for g in secondaries]
    return cpio.make_initrd(primary, members)


ERA = Era(
    fault_log=re.compile(r"(Data abort|Instruction abort|Unknown lower sync exception): pc=0x([0-9a-fA-F]+)[^\n]*\n"),
    primary_base=0x4008_0000,
    ram=16 * MIB,
    max_secondaries=3,
    initrd=initrd,
    # Hafnium at aa039b39 neither saves nor restores CNTV_*: the primary's timer counts on across calls.
    progress_timer=True,
)
