"""§3 VMs, vCPUs and memory: VM-1 .. VM-5."""

from __future__ import annotations

import itertools

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Fill, Rel


@pytest.mark.clause("VM-1", "RECV-6")
def test_vm_ids_follow_load_order(boot):
    hv = boot(program("receiver"), program("receiver"), program("receiver"))
    expect("configure", hv.configure(), 0)
    for vm in (1, 2, 3):
        expect(f"run({vm}, 0): receiver blocks", hv.run(vm), 0x1)
    for vm in (1, 2, 3):
        hv.write_send_page(bytes([0x40 + vm]) * vm)
        expect(f"send {vm} bytes to VM {vm}", hv.send(vm, vm), 0)
        expect(f"run({vm}, 0)", hv.run(vm), 0x1)
        expect(f"VM {vm}'s receive", hv.report(vm, 0)[0], vm << 32)
        expect(f"VM {vm}'s recv page", hv.recv_page(vm, vm=vm), bytes([0x40 + vm]) * vm)


@pytest.mark.clause("VM-1", "RUN-8", "RECV-6")
def test_secondaries_learn_each_others_ids(boot):
    hv = boot(
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1)),
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1)),
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF04, 1, 7), Call(0xFF04, 2, 8)),
    )
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("run(3, 0): VM 3 sends 7 bytes to VM 1", hv.run(3), 0x0000000000010002)
    expect("run(3, 0): VM 3 sends 8 bytes to VM 2", hv.run(3), 0x0000000000020002)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("VM 1 learns sender 3", hv.report(1, 1)[0], 0x0000000700000003)
    expect("VM 2 learns sender 3", hv.report(2, 1)[0], 0x0000000800000003)


@pytest.mark.clause("VM-2")
@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_vm_count_counts_the_primary(boot, n):
    hv = boot(*[program("idle") for _ in range(n)])
    expect(f"HF_VM_GET_COUNT with {n} secondaries", hv.vm_count(), n + 1)


@pytest.mark.clause("VM-2")
def test_vm_count_from_a_secondary(boot):
    hv = boot(script(Call(0xFF01)), program("idle"), program("idle"))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("HF_VM_GET_COUNT from VM 1", hv.report(1, 0)[0], 4)


@pytest.mark.clause("VM-3", "ID-3")
def test_vcpu_count_per_vm(boot):
    hv = boot(program("idle"), program("idle", vcpus=2), program("idle", vcpus=4))
    expect("HF_VCPU_GET_COUNT(1)", hv.vcpu_count(1), 1)
    expect("HF_VCPU_GET_COUNT(2)", hv.vcpu_count(2), 2)
    expect("HF_VCPU_GET_COUNT(3)", hv.vcpu_count(3), 4)
    expect("HF_VCPU_GET_COUNT(0x100000002): VM IDs are u32", hv.vcpu_count(0x1_0000_0002), 2)


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("vm", [3, 4, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
def test_vcpu_count_of_absent_vm(boot, vm):
    hv = boot(program("idle"), program("idle"))
    expect(f"HF_VCPU_GET_COUNT({vm:#x})", hv.vcpu_count(vm), ERR)


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("vm", [0, 1, 2])
def test_vcpu_count_from_a_secondary(boot, vm):
    hv = boot(script(Call(0xFF02, vm), Call(0xFF01)), program("idle", vcpus=2))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"HF_VCPU_GET_COUNT({vm}) from VM 1", hv.report(1, 0)[0], ERR)


@pytest.mark.clause("VM-3")
@pytest.mark.impl_defined
def test_primary_vcpu_count_at_least_one(boot):
    hv = boot(program("idle"))
    count = hv.vcpu_count(0)
    if not 1 <= count < 0xFFFF_FFFF:
        expect("HF_VCPU_GET_COUNT(0): the primary's own count, >= 1", count, ">= 1")


@pytest.mark.clause("VM-4", "RUN-2")
def test_only_vcpu_0_ready_at_boot(boot):
    hv = boot(program("receiver", vcpus=3))
    expect("run(1, 1): vCPU 1 is off", hv.run(1, 1), 0x1)
    expect("run(1, 2): vCPU 2 is off", hv.run(1, 2), 0x1)
    expect("no secondary code ran yet", hv.reports(1), [])
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): vCPU 0 runs, configures, blocks", hv.run(1, 0), 0x1)
    expect("send to VM 1 wakes vCPU 0", hv.send(1, 1), 0)


@pytest.mark.clause("VM-4")
def test_primary_runs_first(boot):
    hv = boot(program("sender", TO=0, SIZE=4), program("configure_twice"))
    expect("before any run, VM 1 has not run", hv.reports(1), [])
    expect("before any run, VM 2 has not run", hv.reports(2), [])
    expect("configure", hv.configure(), 0)
    expect("the primary's mailbox is empty: clear fails", hv.clear(), ERR)


@pytest.mark.clause("VM-5")
def test_memory_is_identity_mapped(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Fill(64, 0x30), Call(0xFF04, 0, 64)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 sends 64 bytes", hv.run(1), 0x0000004000000003)
    want = bytes((0x30 + i) & 0xFF for i in range(64))
    expect("VM 1's send page at physical base(1) + 0x10000", hv.send_page(64, vm=1), want)
    expect("the primary's recv page", hv.recv_page(64), want)


@pytest.mark.clause("VM-5")
@pytest.mark.impl_defined
def test_vm_memories_do_not_overlap(boot):
    hv = boot(program("idle"), program("idle"), program("idle"))
    bases = sorted(hv.base(vm) for vm in range(4))
    expect("four distinct bases", len(set(bases)), 4)
    for lo, hi in itertools.pairwise(bases):
        if hi - lo < 0x20000:
            expect("distance between VM bases", hi - lo, ">= 0x20000")


@pytest.mark.clause("VM-5", "CFG-3")
def test_cannot_configure_another_vms_memory(boot):
    hv = boot(program("idle"), script(Call(0xFF03, Rel(0x10000), Rel(0x11000))))
    other = hv.base(1)
    expect("primary configures VM 1's pages", hv.configure(other + 0x10000, other + 0x11000), ERR)
    expect("primary configures its own", hv.configure(), 0)


@pytest.mark.clause("VM-5")
def test_cannot_write_another_vms_memory(boot):
    # The layout of a configuration is fixed, so a first boot tells where VM 1's recv page will be.
    probe = boot(program("idle"), program("idle"))
    target = probe.base(1) + 0x11000
    hv = boot(program("idle"), program("fault_store", ADDR=target))
    hv.session.write(1, target, b"\xee" * 4096)
    hv.call_outcome(0xFF00, 2, 0)  # the store faults (what the primary sees is implementation-defined)
    expect("VM 1's memory after VM 2 stored to its address", hv.session.read(1, target, 4096), b"\xee" * 4096)
