"""§11 Hafnium's own tests of the era, with their values (mailbox.echo, relay, repeated_echo, ...)."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program

ECHO_MESSAGE = b"Echo this back to me!\0"
RELAY_MESSAGE = b"Send this round the relay!\0"


@pytest.mark.clause("RUN-7", "SEND-9", "SEND-11", "RECV-4", "RECV-6", "CLR-1", "CFG-2", "CFG-5")
def test_mailbox_echo(boot):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0)
    expect("run(echo, 0): echo blocks in receive", hv.run(1), 0x1)
    hv.write_send_page(ECHO_MESSAGE)
    expect("send(echo, 22): the index of the woken vCPU", hv.send(1, 22), 0)
    expect("run(echo, 0): MESSAGE, size 22", hv.run(1), 0x0000001600000003)
    expect("the echoed bytes in the primary's recv page", hv.recv_page(22), ECHO_MESSAGE)
    expect("clear", hv.clear(), 0)
    reports = hv.reports(1)
    expect("echo's second configure", reports[0][0], ERR)
    expect("echo's receive: sender 0, size 22", reports[1][0], 0x0000001600000000)


@pytest.mark.clause("RUN-8", "RUN-7", "SEND-9", "RECV-6")
def test_mailbox_relay(boot):
    hv = boot(program("relay", NEXT_HOP=2), program("relay", NEXT_HOP=0))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("run(2, 0)", hv.run(2), 0x1)
    hv.write_send_page(RELAY_MESSAGE)
    expect("send(1, 27)", hv.send(1, 27), 0)
    expect("run(1, 0): WAKE_UP vm 2 vcpu 0", hv.run(1), 0x0000000000020002)
    expect("run(2, 0): MESSAGE, size 27", hv.run(2), 0x0000001B00000003)
    expect("the primary's recv page", hv.recv_page(27), RELAY_MESSAGE)
    expect("clear", hv.clear(), 0)
    relay2 = [r for r in hv.reports(2) if r[0] >> 32 == 27 and r[0] & 0xFFFF == 1]
    expect("VM 2's receive returned 1 | 27 << 32", [r[0] for r in relay2][:1], [0x0000001B00000001])


@pytest.mark.clause("RUN-7", "RUN-9", "SEND-9", "CLR-1")
def test_mailbox_repeated_echo(boot):
    hv = boot(program("echo"))
    expect("configure", hv.configure(), 0)
    for i in range(100):
        expect(f"round {i}: run until echo waits for a message", hv.run(1), 0x1)
        msg = f"Echo this back to me! round {i:03d}".encode() + bytes([i])
        hv.write_send_page(msg)
        expect(f"round {i}: send", hv.send(1, len(msg)), 0)
        expect(f"round {i}: run", hv.run(1), len(msg) << 32 | 0x3)
        expect(f"round {i}: echoed bytes", hv.recv_page(len(msg)), msg)
        expect(f"round {i}: clear", hv.clear(), 0)


@pytest.mark.clause("VM-2")
def test_hf_vm_get_count_no_secondaries(boot):
    hv = boot()
    expect("HF_VM_GET_COUNT with no secondaries", hv.vm_count(), 1)


@pytest.mark.clause("VM-3")
def test_hf_vcpu_get_count_secondary_has_one_vcpu(boot):
    hv = boot(program("idle"))
    expect("secondary_has_one_vcpu", hv.vcpu_count(1), 1)
    expect("large_invalid_vm_index", hv.vcpu_count(0xFFFF_FFFF), ERR)


@pytest.mark.clause("CFG-1", "CFG-2", "CFG-4", "CFG-5")
def test_hf_vm_configure(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    send, recv = base + 0x10000, base + 0x11000
    for s, r in ((send + 1, recv), (send, recv + 1), (send + 1, recv + 1)):
        expect(f"fails_with_unaligned_pointer ({s:#x}, {r:#x})", hv.configure(s, r), ERR)
    expect("fails_with_same_page", hv.configure(send, send), ERR)
    expect("succeeds", hv.configure(send, recv), 0)
    expect("fails_if_already_succeeded", hv.configure(send, recv), ERR)


@pytest.mark.clause("RUN-2")
def test_hf_vcpu_run(boot):
    hv = boot(program("idle"))
    expect("cannot_run_primary", hv.run(0, 0), 0x1)
    expect("cannot_run_absent_secondary", hv.run(2, 0), 0x1)
    expect("cannot_run_absent_vcpu", hv.run(1, 1), 0x1)


@pytest.mark.clause("RECV-1")
def test_hf_mailbox_receive(boot):
    hv = boot(program("idle"))
    expect("cannot_receive_from_primary_blocking", hv.receive(1), ERR)
    expect("cannot_receive_from_primary_non_blocking", hv.receive(0), ERR)
