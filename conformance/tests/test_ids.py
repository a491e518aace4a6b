"""§2 Hypercall numbers: ID-1 .. ID-7 — each literal function ID does its call and no other."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, Rel


@pytest.mark.clause("ID-1", "RUN-4", "RUN-5")
def test_0xff00_is_vcpu_run(boot):
    hv = boot(program("spinner"), program("wfi"), time_slice=2000)
    expect("0xff00(1, 0) on a spinner: YIELD", hv.call(0xFF00, 1, 0), 0x0)
    expect("0xff00(2, 0) on a wfi program", hv.call(0xFF00, 2, 0), 0x1)


@pytest.mark.clause("ID-2", "VM-2")
def test_0xff01_is_vm_get_count(boot):
    hv = boot(program("idle"), program("idle"), program("idle"))
    expect("0xff01", hv.call(0xFF01), 4)


@pytest.mark.clause("ID-3", "VM-3")
def test_0xff02_is_vcpu_get_count(boot):
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    expect("0xff02(1)", hv.call(0xFF02, 1), 3)
    expect("0xff02(2)", hv.call(0xFF02, 2), 5)


@pytest.mark.clause("ID-4", "CFG-5", "CFG-2")
def test_0xff03_is_vm_configure(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect("0xff03(send, recv)", hv.call(0xFF03, base + 0x10000, base + 0x11000), 0)
    expect("0xff03 again", hv.call(0xFF03, base + 0x12000, base + 0x13000), ERR)


@pytest.mark.clause("ID-5", "SEND-7")
def test_0xff04_is_mailbox_send(boot):
    hv = boot(program("receiver"))
    expect("run(1, 0): the receiver blocks", hv.run(1), 0x1)
    expect("configure", hv.configure(), 0)
    hv.write_send_page(b"ID-5")
    expect("0xff04(1, 4)", hv.call(0xFF04, 1, 4), 0)
    expect("VM 1's recv page", hv.recv_page(4, vm=1), b"ID-5")


@pytest.mark.clause("ID-6", "RECV-2", "RECV-3")
def test_0xff05_is_mailbox_receive(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 0), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures, polls once and ends", hv.run(1), 0x1)
    expect("VM 1's 0xff05(0) with nothing sent", hv.report(1, 1)[0], ERR)


@pytest.mark.clause("ID-6", "RECV-2")
def test_0xff05_returns_a_message(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), Call(0xFF05, 0)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1), 0x1)
    expect("send 9 bytes", hv.send(1, 9), 0)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's blocking 0xff05", hv.report(1, 1)[0], 0x0000000900000000)
    expect("VM 1's second 0xff05(0): mailbox is read", hv.report(1, 2)[0], ERR)


@pytest.mark.clause("ID-7", "CLR-1", "CLR-2")
def test_0xff06_is_mailbox_clear(boot):
    hv = boot(program("sender", TO=0, SIZE=3))
    expect("configure", hv.configure(), 0)
    expect("0xff06 on an empty mailbox", hv.call(0xFF06), ERR)
    expect("run(1, 0): VM 1 sends 3 bytes", hv.run(1), 0x0000000300000003)
    expect("0xff06 on the read mailbox", hv.call(0xFF06), 0)
    expect("0xff06 again", hv.call(0xFF06), ERR)
