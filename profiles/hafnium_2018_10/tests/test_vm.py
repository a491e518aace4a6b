"""§3 VMs, vCPUs and memory: VM-1 .. VM-5."""

from __future__ import annotations

import itertools

import pytest

from conformance.harness import YIELD_LIMIT, expect
from guest_asm.programs import Call, Fill, Rel
from profiles.hafnium_2018_10.checks import expect_err, received_clause, report_of, woken_clause
from profiles.hafnium_2018_10.hv import ERR, program, script


@pytest.mark.clause("VM-1", "RECV-6")
def test_vm_ids_follow_load_order(boot):
    hv = boot(program("receiver"), program("receiver"), program("receiver"))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    for vm in (1, 2, 3):
        expect(f"run({vm}, 0): receiver blocks", hv.run(vm, clause="RUN-6"), 0x1, clause="RUN-6")
    for vm in (1, 2, 3):
        message = bytes([0x40 + vm]) * vm
        hv.write_send_page(message)
        sent = hv.send(vm, vm)
        # -1: no VM with ID vm (VM-1: IDs 1..N). 0xffff after VM 1's clear: that clear woke this
        # VM's waiting receiver (CLR-4: clearing notifies nobody).
        clause = "VM-1" if sent == ERR else "CLR-4" if sent == 0xFFFF and vm > 1 else woken_clause(sent)
        expect(f"send {vm} bytes to VM {vm}", sent, 0, clause=clause)
        expect(f"VM {vm}'s recv page", hv.recv_page(vm, vm=vm), message, clause="SEND-7")
        expect(f"run({vm}, 0): the receiver reports, clears, blocks again", hv.run(vm, clause="RUN-6"), 0x1, clause="RUN-6")
        received = report_of(hv, vm, 0, "SEND-9")[0]
        expect(f"VM {vm}'s receive: sender 0, {vm} bytes", received, vm << 32, clause=received_clause(received, 0, vm))
        expect(f"VM {vm}'s recv page after its clear", hv.recv_page(vm, vm=vm), message, clause="CLR-4")


@pytest.mark.clause("VM-1", "RUN-8", "RECV-6")
def test_secondaries_learn_each_others_ids(boot):
    hv = boot(
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1)),
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1)),
        script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF04, 1, 7), Call(0xFF04, 2, 8)),
    )
    # VM 1 and VM 2 are the first two guests loaded (receivers), VM 3 the third (the sender): VM-1.
    expect("run(1, 0): VM 1 blocks in its receive", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 1, the first guest loaded, reported its configure only", len(hv.reports(1)), 1, clause="VM-1")
    expect("run(2, 0): VM 2 blocks in its receive", hv.run(2, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("VM 2, the second guest loaded, reported its configure only", len(hv.reports(2)), 1, clause="VM-1")
    first = hv.run(3, clause="RUN-8")
    # vCPU 0xffff: the send found no vCPU waiting, though VM 1's blocked in its receive (SEND-9).
    clause = "SEND-9" if first >> 32 == 0xFFFF else "RUN-8"
    expect("run(3, 0): VM 3 sends 7 bytes to VM 1", first, 0x0000000000010002, clause=clause)
    second = hv.run(3, clause="RUN-9")
    # 0x1: VM 3 was not run again after its first send (RUN-9: the sender stays ready).
    expect("run(3, 0): VM 3 sends 8 bytes to VM 2", second, 0x0000000000020002, clause="RUN-9" if second == 0x1 else "RUN-8")
    expect("run(1, 0): VM 1 receives, ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("run(2, 0): VM 2 receives, ends in wfi", hv.run(2, clause="RUN-5"), 0x1, clause="RUN-5")
    received = report_of(hv, 1, 1, "SEND-9")[0]
    expect("VM 1 learns sender 3", received, 0x0000000700000003, clause=received_clause(received, 3, 7))
    received = report_of(hv, 2, 1, "SEND-9")[0]
    expect("VM 2 learns sender 3", received, 0x0000000800000003, clause=received_clause(received, 3, 8))


@pytest.mark.clause("VM-2")
@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_vm_count_counts_the_primary(boot, n):
    hv = boot(*[program("idle") for _ in range(n)])
    expect(f"HF_VM_GET_COUNT with {n} secondaries", hv.vm_count(), n + 1)


@pytest.mark.clause("VM-2")
def test_vm_count_from_a_secondary(boot):
    hv = boot(*[script(Call(0xFF01)) for _ in range(3)])  # alike: which one is VM 1 (VM-1) does not matter
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("HF_VM_GET_COUNT from VM 1", report_of(hv, 1, 0, "CALL-1")[0], 4)


@pytest.mark.clause("VM-3", "ID-3")
def test_vcpu_count_per_vm(boot):
    hv = boot(program("idle"), program("idle", vcpus=2), program("idle", vcpus=4))
    counts = [hv.call(0xFF02, vm, clause="ID-3") for vm in (1, 2, 3)]
    # 0xff02 counts the named VM's vCPUs (ID-3): three VMs, three different counts. The right counts
    # in another order are VMs numbered out of load order (VM-1); other counts are VM-3's.
    expect("HF_VCPU_GET_COUNT(1, 2, 3): three different counts", len(set(counts)), 3, clause="ID-3")
    order = "VM-1" if sorted(counts) == [1, 2, 4] else "VM-3"
    expect("HF_VCPU_GET_COUNT(1)", counts[0], 1, clause=order)
    expect("HF_VCPU_GET_COUNT(2)", counts[1], 2, clause=order)
    expect("HF_VCPU_GET_COUNT(3)", counts[2], 4, clause=order)
    expect("HF_VCPU_GET_COUNT(0x100000002): VM IDs are u32", hv.vcpu_count(0x1_0000_0002), 2, clause="VM-3")


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("vm", [3, 4, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF])
def test_vcpu_count_of_absent_vm(boot, vm):
    hv = boot(program("idle"), program("idle"))
    expect_err(f"HF_VCPU_GET_COUNT({vm:#x})", hv.vcpu_count(vm))


@pytest.mark.clause("VM-3")
@pytest.mark.parametrize("vm", [0, 1, 2])
def test_vcpu_count_from_a_secondary(boot, vm):
    hv = boot(script(Call(0xFF02, vm), Call(0xFF01)), script(Call(0xFF02, vm), Call(0xFF01)))  # alike (VM-1 aside)
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_err(f"HF_VCPU_GET_COUNT({vm}) from VM 1", report_of(hv, 1, 0, "CALL-1")[0])


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
    expect("run(1, 1): vCPU 1 is off (refused, no switch)", hv.run_once(1, 1), 0x1, clause="RUN-2")
    expect("run(1, 2): vCPU 2 is off (refused, no switch)", hv.run_once(1, 2), 0x1, clause="RUN-2")
    expect("no secondary code ran yet", hv.reports(1), [], clause="VM-4")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): vCPU 0 runs, configures, blocks", hv.run(1, 0, clause="RUN-6"), 0x1, clause="RUN-6")
    # -1 would say VM 1 never configured: its vCPU 0 never ran (VM-4: ready at its entry point).
    sent = hv.send(1, 1)
    expect("send to VM 1 wakes vCPU 0", sent, 0, clause="VM-4" if sent == ERR else woken_clause(sent))


@pytest.mark.clause("VM-4")
def test_primary_runs_first(boot):
    hv = boot(program("sender", TO=0, SIZE=4), program("configure_twice"))
    expect("before any run, VM 1 has not run", hv.reports(1), [])
    expect("before any run, VM 2 has not run", hv.reports(2), [])
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("the primary's mailbox is empty: clear fails", hv.clear(), clause="CLR-2")


@pytest.mark.clause("VM-5")
def test_memory_is_identity_mapped(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Fill(64, 0x30), Call(0xFF04, 0, 64)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect("run(1, 0): VM 1 sends 64 bytes", hv.run(1, clause="RUN-7"), 0x0000004000000003, clause="RUN-7")
    want = bytes((0x30 + i) & 0xFF for i in range(64))
    expect("VM 1's send page at physical base(1) + 0x10000", hv.send_page(64, vm=1), want)
    expect("the primary's recv page", hv.recv_page(64), want, clause="SEND-7")


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
    expect_err("primary configures VM 1's pages", hv.configure(other + 0x10000, other + 0x11000), clause="CFG-3")
    expect("primary configures its own", hv.configure(), 0, clause="CFG-5")


@pytest.mark.clause("VM-5")
def test_cannot_write_another_vms_memory(boot):
    # The layout of a configuration is fixed, so a first boot tells where VM 1's recv page will be.
    probe = boot(program("idle"), program("idle"))
    target = probe.base(1) + 0x11000
    hv = boot(program("idle"), program("fault_store", ADDR=target))
    hv.session.write(1, target, b"\xee" * 4096)
    outcome = hv.call_outcome(0xFF00, 2, 0)  # the store faults (what the primary sees is implementation-defined)
    for _ in range(YIELD_LIMIT):  # a preemption before the store (RUN-4): run on to it
        if not outcome.regs or outcome.regs[0] != 0x0:
            break
        outcome = hv.call_outcome(0xFF00, 2, 0)
    expect("VM 1's memory after VM 2 stored to its address", hv.session.read(1, target, 4096), b"\xee" * 4096)


@pytest.mark.clause("VM-4", "RUN-2")
@pytest.mark.parametrize("vcpu", [1, 2])
def test_other_vcpus_off_at_boot_run_nothing(boot, vcpu):
    # Mutant all_vcpus_ready_at_boot (found by the self-test): a program that reports at once shows whether vCPU 1 ran.
    hv = boot(program("configure_twice", vcpus=3))
    expect(f"run(1, {vcpu}): vCPU {vcpu} is off (refused, no switch)", hv.run_once(1, vcpu), 0x1, clause="RUN-2")
    expect(f"no code ran on vCPU {vcpu}", hv.reports(1), [], clause="VM-4")
    expect("run(1, 0): vCPU 0 runs its two configures, ends in wfi", hv.run(1, 0, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1's reports: vCPU 0 ran from the entry point", len(hv.reports(1)), 2, clause="VM-4")
    expect("VM 1's first configure", hv.report(1, 0)[0], 0, clause="CFG-5")
    expect_err("VM 1's second configure", hv.report(1, 1)[0], clause="CFG-2")
