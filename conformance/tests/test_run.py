"""§4 Running vCPUs: RUN-1 .. RUN-9."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from conformance.protocol import GuestVM
from guest_asm.programs import Call, Rel, Wfe, Wfi

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))

#: Counts to 50 000 in x19 (about 150 000 instructions), stores it at base + 0x14000, then wfi.
COUNTER = GuestVM(
    """
_start:
    mov x19, #0
    movz x20, #0xC350
count_loop:
    add x19, x19, #1
    cmp x19, x20
    b.ne count_loop
    adr x21, _start
    add x21, x21, #0x14000
    str x19, [x21]
    wfi
""",
    name="counter.S",
)


@pytest.mark.clause("RUN-1")
def test_secondary_cannot_run(boot):
    hv = boot(script(Call(0xFF00, 2, 0), Call(0xFF00, 1, 0), Call(0xFF01)), program("configure_twice"))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's HF_VCPU_RUN(2, 0)", hv.report(1, 0)[0], 0x1)
    expect("VM 1's HF_VCPU_RUN(1, 0) of itself", hv.report(1, 1)[0], 0x1)
    expect("VM 1 kept running", hv.report(1, 2)[0], 3)
    expect("VM 2 never ran", hv.reports(2), [])


@pytest.mark.clause("RUN-2")
@pytest.mark.parametrize(
    ("vm", "vcpu"),
    [(0, 0), (0, 1), (2, 0), (3, 0), (0xFFFF, 0), (0xFFFF_FFFF, 0), (1, 1), (1, 0xFFFF), (1, 0xFFFF_FFFF)],
)
def test_run_refused(boot, vm, vcpu):
    hv = boot(program("configure_twice"))
    expect(f"run({vm:#x}, {vcpu:#x})", hv.run(vm, vcpu), 0x1)
    expect("VM 1 did not run", hv.reports(1), [])
    expect("run(1, 0) still works afterwards", hv.run(1, 0), 0x1)
    expect("VM 1 ran its two configures", [r[0] for r in hv.reports(1)], [0, ERR])


@pytest.mark.clause("RUN-2", "RUN-5")
def test_run_refused_while_blocked(boot):
    hv = boot(program("wfi"), program("receiver"))
    expect("run(1, 0): wfi", hv.run(1), 0x1)
    expect("run(2, 0): blocking receive", hv.run(2), 0x1)
    for _ in range(3):
        expect("run(1, 0) of a vCPU blocked in wfi", hv.run(1), 0x1)
        expect("run(2, 0) of a vCPU blocked in receive", hv.run(2), 0x1)
    expect("VM 1 never resumed past its wfi", hv.reports(1), [])
    expect("VM 2 never resumed past its receive", hv.reports(2), [])


@pytest.mark.clause("RUN-3")
def test_run_ignores_upper_bits(boot):
    hv = boot(program("configure_twice"))
    expect("run(0x100000001, 0x100000000)", hv.run(0x1_0000_0001, 0x1_0000_0000), 0x1)
    expect("VM 1 vCPU 0 ran", [r[0] for r in hv.reports(1)], [0, ERR])


@pytest.mark.clause("RUN-3", "RUN-4")
def test_preempted_vcpu_resumes_where_it_was(boot):
    hv = boot(COUNTER, time_slice=1000)
    runs = 0
    while True:
        r = hv.run_once(1)
        runs += 1
        if r != 0x0:
            break
        if runs > 10_000:
            expect("the counter finishes within 10 000 runs", runs, "<= 10000")
    expect("the last run ends in the counter's wfi", r, 0x1)
    count = int.from_bytes(hv.session.read(1, hv.base(1) + 0x14000, 8), "little")
    expect("the count after preemptions (no restart, registers kept)", count, 50_000)


@pytest.mark.clause("RUN-4")
def test_spinner_is_preempted_with_yield(boot):
    hv = boot(program("spinner"), time_slice=2000)
    for i in range(3):
        expect(f"run #{i} of a spinner", hv.run_once(1), 0x0)
    expect("the system goes on", hv.vm_count(), 2)


@pytest.mark.clause("RUN-4", "RECV-3")
def test_poller_is_preempted_then_gets_its_message(boot):
    hv = boot(program("poller"), time_slice=3000)
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): the poller spins on a non-blocking receive", hv.run_once(1), 0x0)
    expect("send 6 bytes: no vCPU waits", hv.send(1, 6), 0xFFFF)
    expect("run(1, 0): the poller got it and went on polling", hv.run_once(1), 0x0)
    expect("the poller's receive", hv.report(1, 0)[0], 0x0000000600000000)


@pytest.mark.clause("RUN-5")
def test_wfi_blocks_for_good(boot):
    hv = boot(script(CFG, Wfi(), Call(0xFF01)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): configure, then wfi", hv.run(1), 0x1)
    expect("a send does not wake a wfi (no waiter)", hv.send(1, 1), 0xFFFF)
    expect("run(1, 0) after the send", hv.run(1), 0x1)
    expect("VM 1 never got past its wfi", len(hv.reports(1)), 1)


@pytest.mark.clause("RUN-5")
def test_wfe_is_a_no_op(boot):
    hv = boot(script(Wfe(), Call(0xFF01), Wfe(), Call(0xFF01)))
    expect("run(1, 0): wfe, call, wfe, call, then the final wfi", hv.run(1), 0x1)
    expect("steps after both wfe ran", [r[0] for r in hv.reports(1)][1::2], [2, 2])


@pytest.mark.clause("RUN-6", "RECV-4")
def test_blocking_receive_returns_to_primary(boot):
    hv = boot(script(CFG, Call(0xFF05, 1), Call(0xFF01)))
    expect("run(1, 0): configure then a blocking receive", hv.run(1), 0x1)
    expect("VM 1 did not go past its receive", len(hv.reports(1)), 1)


@pytest.mark.clause("RUN-7", "SEND-8")
@pytest.mark.parametrize(
    ("size", "response"), [(0, 0x3), (1, 0x0000000100000003), (22, 0x0000001600000003), (4096, 0x0000100000000003)]
)
def test_message_to_primary(boot, size, response):
    hv = boot(program("idle"), program("sender", TO=0, SIZE=size))
    expect("configure", hv.configure(), 0)
    expect(f"run(2, 0): VM 2 sends {size} bytes to the primary (vm field 0)", hv.run(2), response)


@pytest.mark.clause("RUN-8", "SEND-9", "SEND-12")
def test_wake_up_names_woken_vcpu(boot):
    hv = boot(program("sender", TO=2, SIZE=5), program("receiver"))
    expect("run(2, 0): VM 2 blocks in receive", hv.run(2), 0x1)
    expect("run(1, 0): VM 1 sends to VM 2", hv.run(1), 0x0000000000020002)
    expect("run(2, 0): VM 2 woke, cleared, blocks again", hv.run(2), 0x1)
    expect("VM 2's receive", hv.report(2, 0)[0], 0x0000000500000001)


@pytest.mark.clause("RUN-8", "SEND-10", "SEND-12")
def test_wake_up_with_no_waiter(boot):
    hv = boot(program("sender", TO=2, SIZE=5), script(CFG, Call(0xFF05, 0)))
    expect("run(2, 0): VM 2 configures, polls once, ends in wfi", hv.run(2), 0x1)
    expect("run(1, 0): VM 1 sends to VM 2", hv.run(1), 0x0000FFFF00020002)


@pytest.mark.clause("RUN-9", "SEND-12")
def test_sender_send_returns_zero_when_next_run(boot):
    hv = boot(program("sender", TO=0, SIZE=2, COUNT=2))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): first send", hv.run(1), 0x0000000200000003)
    expect("VM 1 has not seen its send return yet", hv.reports(1), [])
    expect("clear", hv.clear(), 0)
    expect("run(1, 0): second send", hv.run(1), 0x0000000200000003)
    expect("VM 1's first send returned 0", hv.report(1, 0)[0], 0)
    expect("clear", hv.clear(), 0)
    expect("run(1, 0): then wfi", hv.run(1), 0x1)
    expect("VM 1's second send returned 0", hv.report(1, 1)[0], 0)


@pytest.mark.clause("RUN-4")
@pytest.mark.impl_defined
def test_time_slice_length_is_bounded(boot):
    # How long a slice lasts is the build's choice; that a spinning secondary comes back is not.
    # Here: within 10 million instructions of a two-instruction loop that counts in memory.
    hv = boot(
        GuestVM(
            """
_start:
    adr x21, _start
    add x21, x21, #0x14000
    mov x19, #0
spin:
    add x19, x19, #1
    str x19, [x21]
    b spin
""",
            name="count_spin.S",
        )
    )
    expect("run(1, 0) of a counting spinner", hv.run_once(1), 0x0)
    count = int.from_bytes(hv.session.read(1, hv.base(1) + 0x14000, 8), "little")
    if not 0 < count <= 3_400_000:
        expect("loop iterations in one time slice", count, "1..3400000")
