"""What the QEMU backend must know of real Hafnium images of this profile's era (21bfbdc1, the
normal-world hypervisor build ``qemu_aarch64_vhe_clang``).

* the **QEMU machine**: ``-machine virt-6.2,virtualization=on,gic-version=3 -cpu
  max,pauth-impdef=true -smp 8`` with 1 GiB of RAM (the line of Hafnium's own test driver);
* the **fault line**: Hafnium at this commit does not stop on a guest's abort, it injects it into
  the guest's own EL1 vector ("Injecting Data Abort exception into VM 0x..") after logging
  "Stage-2 page fault: pc=0x.., vmid=0x.., ..." (the guest library's programs catch it: MAP-5). A
  guest without vectors (VBAR_EL1 = 0) then faults on fetching 0x200 for ever: only then does the
  backend end the call as a guest fault (``fault_fatal``), reporting the first fault line's pc
  (``fault_stops=False``: the log is read when a call returns, too);
* the **memory layout**: the primary is loaded at ``align_up(image end, 2 MiB) + 0x80000``
  (src/layout.c ``layout_primary_begin``; 0x40280000 for the build of
  /work/shared/hafnium-builds/build-21bfbdc1.sh), secondaries are carved from the top of RAM
  downwards in manifest order (src/load.c ``carve_out_mem_range``), identity mapped;
* the **initrd**: an old-binary cpio (src/cpio.c) holding ``manifest.dtb`` (src/manifest.c
  ``manifest_init``: ``/hypervisor`` compatible ``hafnium,hafnium``, one ``vm<N>`` node per VM,
  ``vm1`` the primary), the primary's image, and per secondary its image and its FF-A partition
  manifest (``fdt_filename``: loaded by Hafnium at the end of the VM's memory and parsed,
  src/load.c ``load_secondary_fdt``, src/ffa/hypervisor/setup_and_discovery.c).

Each secondary is declared an FF-A partition (``is_ffa_partition``, ``hyp_loaded``) whose
partition manifest says what the profile's reference says of a secondary (core.py): FF-A version
v1.1 until it calls FFA_VERSION (VER-8), indirect messaging only (messaging method 0x4, PIG-4),
notifications supported, AArch64 EL1, ``vcpus`` execution contexts, and one UUID
(:func:`partition_uuid`; Hafnium lists a partition in FFA_PARTITION_INFO_GET only per declared
UUID, src/api.c ``api_ffa_fill_partitions_info_array``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from conformance.backends import cpio, fdt
from conformance.backends.qemu import MIB, Era, GuestImage

#: Hafnium's partition IDs (ID-3): the primary is 1, the secondaries 2, 3, ... in manifest order.
PRIMARY_ID = 1
PRIMARY_FILE = "primary"
MANIFEST_FILE = "manifest.dtb"
FFA_VERSION_1_1 = 0x0001_0001
#: The partition manifest's messaging-method: bit 2 = indirect messaging (FF-A partition
#: manifest binding; Hafnium's properties bit 2, PIG-6).
MESSAGING_INDIRECT = 0x4
#: ffa_run (FFA_RUN_32): the call whose target is the VM that runs (x1[31:16] = its ID).
FFA_RUN = 0x8400_006D
SVE_HINT = 1 << 16


def partition_uuid(vm_id: int) -> tuple[int, int, int, int]:
    """The UUID the suite declares for partition ``vm_id``, as the manifest's four cells
    (``"hfco" "nfor" "m\\0\\0\\0"`` and the ID): any non-Nil UUID would do."""
    return (0x6866_636F, 0x6E66_6F72, 0x6D00_0000, vm_id)


def partition_manifest(vm_id: int, vcpus: int) -> bytes:
    """A secondary's FF-A partition manifest (``arm,ffa-manifest-1.0``, parsed by
    src/manifest.c ``parse_ffa_manifest``)."""
    root = fdt.node(
        "",
        [
            ("compatible", fdt.string("arm,ffa-manifest-1.0")),
            ("debug_name", fdt.string(f"vm{vm_id}")),
            ("ffa-version", fdt.cells(FFA_VERSION_1_1)),
            ("uuid", fdt.cells(*partition_uuid(vm_id))),
            ("execution-ctx-count", fdt.cells(vcpus)),
            ("exception-level", fdt.cells(0)),  # EL1
            ("execution-state", fdt.cells(0)),  # AArch64
            ("entrypoint-offset", fdt.cells(0)),
            ("xlat-granule", fdt.cells(0)),  # 4 KiB
            ("messaging-method", fdt.cells(MESSAGING_INDIRECT)),
            ("notification-support", b""),
        ],
    )
    return fdt.write(root)


def manifest(secondaries: Sequence[tuple[int, str, int, int, str]]) -> bytes:
    """The hypervisor manifest: ``vm1`` the primary (file :data:`PRIMARY_FILE`), then per secondary
    ``(vm_id, kernel file, memory, vcpus, partition manifest file)`` a ``vm<vm_id>`` node."""
    vms = [fdt.node("vm1", [("debug_name", fdt.string("hfconform-driver")), ("kernel_filename", fdt.string(PRIMARY_FILE))])]
    for vm_id, kernel, memory, vcpus, pm in secondaries:
        vms.append(
            fdt.node(
                f"vm{vm_id}",
                [
                    ("is_ffa_partition", b""),
                    ("hyp_loaded", b""),
                    ("debug_name", fdt.string(kernel)),
                    ("vcpu_count", fdt.cells(vcpus)),
                    ("mem_size", fdt.cells(memory)),
                    ("kernel_filename", fdt.string(kernel)),
                    ("fdt_filename", fdt.string(pm)),
                ],
            )
        )
    hyp = fdt.node("hypervisor", [("compatible", fdt.string("hafnium,hafnium"))], vms)
    return fdt.write(fdt.node("", [], [hyp]))


def initrd(primary: bytes, secondaries: Sequence[GuestImage]) -> bytes:
    """The initrd Hafnium 21bfbdc1 boots from (see the module docstring). A guest's VM index
    ``g.vm_id`` (1..N) is partition ID ``g.vm_id + 1``."""
    entries: list[tuple[int, str, int, int, str]] = []
    files: list[tuple[str, bytes]] = []
    for g in secondaries:
        vm_id = g.vm_id + PRIMARY_ID
        kernel = cpio.member_name(vm_id, g.vm.name)
        pm = f"vm{vm_id}.dtb"
        entries.append((vm_id, kernel, g.vm.memory, g.vm.vcpus, pm))
        files += [(kernel, g.code), (pm, partition_manifest(vm_id, g.vm.vcpus))]
    return cpio.write([(MANIFEST_FILE, manifest(entries)), (PRIMARY_FILE, primary), *files])


def running(x0: int, x1: int) -> int:
    """The VM index (0 = primary) a call of the primary runs: FFA_RUN's target, else the primary."""
    if x0 & 0xFFFF_FFFF & ~SVE_HINT == FFA_RUN:
        target = (x1 >> 16) & 0xFFFF
        return target - PRIMARY_ID if target > PRIMARY_ID else 0
    return 0


ERA = Era(
    # "Stage-2 page fault with invalid IPA: pc=0x200, vmid=0x2, vcpu=0, vaddr=0x200, mode=0x4"
    # (src/arch/aarch64/hypervisor/handler.c); also the EL2 panics' "Unknown lower sync exception pc=".
    fault_log=re.compile(r"(Stage-2 page fault|Unknown lower sync exception)[^\n]*?pc=0x([0-9a-fA-F]+)[^\n]*\n"),
    primary_base=0x4028_0000,
    ram=1024 * MIB,
    # Measured: 7 secondaries boot; with 8 the image panics at boot ("Could not parse manifest:
    # Property not found"), whatever their names, with a DTB from this writer or from dtc.
    max_secondaries=7,
    initrd=initrd,
    # The NS hypervisor build switches no CNTV_* between VMs (only its SPMC path does,
    # src/arch/aarch64/hypervisor/exceptions.S): the primary's timer counts on across calls.
    progress_timer=True,
    machine=("-machine", "virt-6.2,virtualization=on,gic-version=3", "-smp", "8"),
    cpu="max,pauth-impdef=true",
    gic_version=3,
    gic_redistributor=0x080A_0000,
    fault_stops=False,
    # The injected abort's own fetch faulted: the guest's VBAR_EL1 (0 for a program without
    # vectors) + 0x000..0x780 lies outside its memory, and the guest will fault there for ever.
    fault_fatal=re.compile(r"Stage-2 page fault[^\n]*?: pc=0x[0-7]?[08]0, [^\n]*\n"),
    running=running,
)
