"""What the QEMU backend must know of real Hafnium images of this profile's era (53d9d04f).

* the **fault line** that means the system stopped. A secondary's fault is not one: Hafnium at
  53d9d04f logs ``Stage-2 page fault: pc=0x..., vmid=N, vcpu=M, ...`` (``src/cpu.c``
  ``vcpu_handle_page_fault``) or ``Unknown lower sync exception pc=0x..., esr=..., ec=...``
  (``src/arch/aarch64/handler.c`` ``sync_lower_exception``), then ``Aborting VM N vCPU M``
  (``src/api.c`` ``api_abort``), marks the VM aborting and returns ABORTED 0x7 to the primary
  (RUN-11): the image goes on, the backend must not stop. Only when the aborted VM is the primary
  (VM 0, ``HF_PRIMARY_VM_ID`` in ``inc/vmapi/hf/types.h``) does ``api_abort`` spin at EL2 for ever:
  that pair of lines is the era's fault line (groups: the kind, the pc, ``vm``, ``vcpu``). Lines
  end in ``\\r\\n`` (``src/arch/aarch64/pl011.c`` sends ``\\r`` before ``\\n``).
* the **memory layout** of its images on QEMU's ``virt`` board with 64 MiB (the RAM of Hafnium's
  own test driver, ``test/hftest/hftest.py``): the primary is copied to ``bin_end`` rounded up to
  512 KiB (``src/layout.c`` ``layout_primary_begin``; ``bin_end`` is ``0x40067000`` for the debug
  build with clang 14, hence ``0x40080000``), the initrd is at ``0x42000000`` (RAM / 2), the
  secondaries are carved from the top of RAM downwards in ``vms.txt`` order (``src/load.c``
  ``load_secondary``). The page-table pool is 60 pages (``heap_pages`` of project/reference's
  ``qemu_aarch64`` in ``BUILD.gn``, ``src/main.c`` ``ptable_buf``): measured under QEMU 7.2, 8
  secondaries of 1 MiB boot, a 9th exhausts the pool ("Failed to allocate memory for page table",
  then "Unable to map FDT header." and "Panic: plat_update_boot_params failed": nothing boots),
  hence ``max_secondaries = 8``. ``max_cpus`` is 8 there and ``vm_init`` (``src/vm.c``) does not
  check a VM's vCPU count against it: a ``vms.txt`` line with 64 vCPUs overruns ``vm->vcpus`` and
  Hafnium stops at boot with an EL2 data abort (measured: "Data abort: pc=0x40006818 ... Hang:
  something went very wrong!", in ``mm_map_level``), hence ``max_vcpus = 8``.
* its **initrd**: the same old-binary cpio as in 2018 (``src/cpio.c``, ``src/load.c``:
  ``vmlinuz``, ``initrd.img``, ``vms.txt`` of ``<memory> <vcpus> <name>`` lines, one member per
  secondary), written by :mod:`conformance.backends.cpio`.
* its **timer**: Hafnium at 53d9d04f saves and restores CNTV_CTL_EL0 / CNTV_CVAL_EL0 per vCPU
  (``src/arch/aarch64/handler.c`` ``complete_saving_state`` / ``begin_restoring_state``), so the
  primary's virtual timer no longer counts on while a secondary runs (Hafnium emulates it with the
  EL2 physical timer CNTHP_*, PPI 26, instead). The EL1 *physical* timer is left alone: the
  primary's CNTHCTL_EL2 has EL1PCTEN | EL1PCEN (``src/arch/aarch64/cpu.c`` ``arch_regs_reset``: it
  may use CNTP_* untrapped), a secondary's has neither (its accesses trap), and no code of the
  hypervisor reads or writes CNTP_*. So the driver arms CNTP (``hf_driver_timed_phys``), its
  PPI 30 (the ``virt`` board's non-secure EL1 physical timer) is a physical IRQ that, with
  HCR_EL2.IMO set for secondaries (``arch_regs_reset``), is taken at EL2 while a secondary runs
  (``irq_lower`` -> ``api_preempt``: PREEMPTED 0x0, RUN-4), and its ISTATUS, untouched by
  Hafnium, shows guest progress during a call (``progress_timer``).
* the hypervisor itself never touches the GIC at this commit (only Hafnium's test VMs do, with
  ``gic_version = 3`` in project/reference's ``BUILD.gn``), so the backend's GICv2 set-up on the
  ``virt`` board's default GIC works unchanged.
* **capabilities**: after a secondary's fault the primary's run returns (ABORTED) and the system
  goes on (``fault_continue``); only vCPU 0 of a secondary is started at boot (``load_secondary``
  calls ``vcpu_on`` for ``vcpus[0]`` only), so no ``ready_vcpus``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from conformance.backends import cpio
from conformance.backends.qemu import MIB, Era, GuestImage
from conformance.protocol import CAP_FAULT_CONTINUE


def initrd(primary: bytes, secondaries: Sequence[GuestImage]) -> bytes:
    """The initrd Hafnium's loader reads at this commit (the 2018 format, see the module docstring)."""
    members = [cpio.Secondary(cpio.member_name(g.vm_id, g.vm.name), g.vm.memory, g.vm.vcpus, g.code) for g in secondaries]
    return cpio.make_initrd(primary, members)


#: A fault of the primary itself: the fault line, then ``api_abort``'s line for VM 0 (it then spins).
FAULT_LOG = re.compile(
    r"(Stage-2 page fault|Unknown lower sync exception):? pc=0x([0-9a-fA-F]+)[^\n]*\n"
    r"Aborting VM (?P<vm>0) vCPU (?P<vcpu>\d+)\r?\n"
)

ERA = Era(
    fault_log=FAULT_LOG,
    primary_base=0x4008_0000,
    ram=64 * MIB,
    max_secondaries=8,
    max_vcpus=8,
    initrd=initrd,
    progress_timer=True,
    timer="physical",
    preempt_irq=30,
    capabilities=frozenset({CAP_FAULT_CONTINUE}),
)
