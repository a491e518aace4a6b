"""§2 Function IDs: ID-1 .. ID-14 -- each literal function ID does its call and no other.

Each test first checks that the literal ID does its call (the ID clause: a check whose answer no
other call of the table gives), then the call's values (their own clauses). Every test runs with
the plain ID and with bit 30 or bits 63..32 set (CALL-3: "bit 30 and bits 63..32 are ignored"):
with those bits, a wrong answer of the ID check counts against CALL-3. §2 also says VM IDs, vCPU
indices and interrupt IDs are taken as ``uint32_t``: a register's upper 32 bits are ignored
(tested below under the ID of the call that takes them).

0xff0e (HF_SHARE_MEMORY at this commit) has no clause and is not tested; 0xff0f and beyond are
unknown (CALL-4, test_call.py).
"""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, Rel, Wfi
from profiles.hafnium_2019_03.checks import NOTHING, REFUSED, WAIT_MESSAGE, expect_err, report_of
from profiles.hafnium_2019_03.hv import ERR, program, script

#: The forms of a function ID: plain, bit 30 set, bits 63..32 set (CALL-3).
FORMS = {"plain": 0, "bit30": 0x4000_0000, "upper": 0xFFFF_FFFF_0000_0000}
CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))
#: HF_VCPU_YIELD (ID-5): the run returns YIELD 0x1 (RUN-6).
YIELD = Call(0xFF04)


def _id(fid: int, form: str) -> int:
    return fid | FORMS[form]


def _clause(id_clause: str, form: str) -> str:
    """The clause an ID check states: the ID's own for the plain form, CALL-3 for the others."""
    return id_clause if form == "plain" else "CALL-3"


@pytest.mark.clause("ID-1", "VM-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff00_is_vm_get_id(boot, form):
    fid = _id(0xFF00, form)
    # Three secondaries: VM 2 answers 2 where a count would answer 4.
    hv = boot(script(Call(fid)), script(Call(fid)), script(Call(fid)))
    expect(f"{fid:#x} from the primary", hv.call(fid, clause=_clause("ID-1", form)), 0, clause=_clause("VM-2", form))
    for vm in (1, 2, 3):
        expect(f"run({vm}, 0) after the script ends in wfi", hv.run(vm, clause="RUN-5"), REFUSED, clause="RUN-5")
    got = [report_of(hv, vm, 0, _clause("ID-1", form))[0] for vm in (1, 2, 3)]
    # Three different answers: the caller's ID (ID-1); the right ones in another order are VM-1's.
    expect(f"{fid:#x} from VMs 1, 2, 3: three different values", len(set(got)), 3, clause=_clause("ID-1", form))
    expect(f"{fid:#x} from VMs 1, 2, 3", got, [1, 2, 3], clause="VM-1" if sorted(got) == [1, 2, 3] else "VM-2")


@pytest.mark.clause("ID-2", "VM-3", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff01_is_vm_get_count(boot, form):
    fid = _id(0xFF01, form)
    one = boot(program("idle")).call(fid, clause=_clause("ID-2", form))
    hv = boot(program("idle"), program("idle"), script(Call(fid)))
    three = hv.call(fid, clause=_clause("ID-2", form))
    # 0xff01 counts VMs (ID-2): two more secondaries, two more; the count itself is VM-3's N + 1.
    expect(f"{fid:#x} with 3 secondaries minus {fid:#x} with 1", three - one, 2, clause=_clause("ID-2", form))
    expect(f"{fid:#x} from the primary", three, 4, clause="VM-3")
    expect("run(3, 0) after the script ends in wfi", hv.run(3, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect(f"{fid:#x} from VM 3", report_of(hv, 3, 0, _clause("ID-2", form))[0], 4, clause="VM-3")


@pytest.mark.clause("ID-3", "VM-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff02_is_vcpu_get_count(boot, form):
    fid = _id(0xFF02, form)
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    first, second = hv.call(fid, 1, clause=_clause("ID-3", form)), hv.call(fid, 2, clause=_clause("ID-3", form))
    # 0xff02 counts the named VM's vCPUs (ID-3): two VMs, two different counts. The right counts the
    # other way round are VMs numbered out of load order (VM-1); other counts are VM-4's.
    expect(f"{fid:#x}(1) and {fid:#x}(2): two different counts", first != second, True, clause=_clause("ID-3", form))
    order = "VM-1" if (first, second) == (5, 3) else "VM-4"
    expect(f"{fid:#x}(1)", first, 3, clause=order)
    expect(f"{fid:#x}(2)", second, 5, clause=order)
    expect_err(f"{fid:#x}(3): no such VM", hv.call(fid, 3), clause="VM-4")


@pytest.mark.clause("ID-3", "VM-4")
@pytest.mark.parametrize(("vm", "count"), [(0x1_0000_0001, 3), (0xFFFF_FFFF_0000_0002, 5), (0x1_0000_0003, ERR)])
def test_vcpu_get_count_vm_id_is_u32(boot, vm, count):
    # §2: VM IDs are taken as uint32_t -- the register's upper 32 bits are ignored.
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    expect(f"HF_VCPU_GET_COUNT({vm:#x})", hv.vcpu_count(vm), count, clause="ID-3")


@pytest.mark.clause("ID-4", "RUN-1", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff03_is_vcpu_run(boot, form):
    fid = _id(0xFF03, form)
    hv = boot(script(Call(0xFF00)))
    expect(f"{fid:#x}(2, 0): no such VM, refused", hv.call(fid, 2, 0, clause=_clause("ID-4", form)), REFUSED, clause="RUN-1")
    expect("VM 1 did not run", hv.reports(1), [], clause="RUN-1")
    response = hv.call(fid, 1, 0, clause=_clause("ID-4", form))
    for _ in range(1000):
        if response != 0x0:  # PREEMPTED (RUN-4): run again
            break
        response = hv.call(fid, 1, 0, clause=_clause("ID-4", form))
    # VM 1 ran its script: it reported its ID (ID-4); the script ends in wfi (RUN-5).
    expect(f"{fid:#x}(1, 0): VM 1 ran and reported", len(hv.reports(1)), 1, clause=_clause("ID-4", form))
    expect(f"{fid:#x}(1, 0): the script ends in wfi", response, REFUSED, clause="RUN-5")


@pytest.mark.clause("ID-4", "RUN-1")
@pytest.mark.parametrize(("vm", "vcpu"), [(0x1_0000_0001, 0), (1, 0x1_0000_0000), (0xFFFF_FFFF_0000_0001, 0xFFFF_FFFF_0000_0000)])
def test_run_ids_are_u32(boot, vm, vcpu):
    # §2: VM IDs and vCPU indices are taken as uint32_t: run(vm, vcpu) runs VM 1 vCPU 0.
    hv = boot(script(Call(0xFF00)))
    response = hv.run(vm, vcpu, clause="ID-4")
    expect(f"run({vm:#x}, {vcpu:#x}): VM 1 vCPU 0 ran", len(hv.reports(1)), 1, clause="ID-4")
    expect(f"run({vm:#x}, {vcpu:#x}): the script ends in wfi", response, REFUSED, clause="RUN-5")


@pytest.mark.clause("ID-5", "RUN-6", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff04_is_vcpu_yield(boot, form):
    fid = _id(0xFF04, form)
    hv = boot(script(Call(fid), Call(0xFF00)))
    expect(f"{fid:#x} from the primary: a no-op returning 0", hv.call(fid, clause=_clause("ID-5", form)), 0, clause="RUN-6")
    # Only a yield answers 0x1 (YIELD) to the run of a secondary that makes this call.
    expect(f"run(1, 0): VM 1 calls {fid:#x}", hv.run(1, clause=_clause("ID-5", form)), 0x1, clause=_clause("ID-5", form))
    expect(f"VM 1 was switched out at its {fid:#x}", hv.reports(1), [], clause="RUN-6")
    expect("run(1, 0): VM 1 resumes, then wfi", hv.run(1, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect(f"VM 1's {fid:#x} returned 0", report_of(hv, 1, 0, "RUN-6")[0], 0, clause="RUN-6")
    expect("VM 1 went on: its HF_VM_GET_ID", report_of(hv, 1, 1, "RUN-6")[0], 1, clause="VM-2")


@pytest.mark.clause("ID-6", "CFG-5", "CFG-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff05_is_vm_configure(boot, form):
    fid = _id(0xFF05, form)
    hv = boot(program("idle"))
    base = hv.base(0)
    first = hv.call(fid, base + 0x10000, base + 0x11000, clause=_clause("ID-6", form))
    again = hv.call(fid, base + 0x12000, base + 0x13000, clause=_clause("ID-6", form))
    # A wrong first answer with -1 for the second is a configure that answers wrongly (CFG-5).
    expect(f"{fid:#x}(send, recv)", first, 0, clause="CFG-5" if again == ERR else _clause("ID-6", form))
    expect_err(f"{fid:#x} again", again, clause="CFG-2")


@pytest.mark.clause("ID-7", "SEND-6", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff06_is_mailbox_send(boot, form):
    fid = _id(0xFF06, form)
    hv = boot(script(CFG, Call(0xFF07, 1)))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    expect("configure", hv.configure(), 0, clause="CFG-5")
    hv.write_send_page(b"ID-7")
    expect(f"{fid:#x}(1, 4, 0)", hv.call(fid, 1, 4, 0, clause=_clause("ID-7", form)), 0, clause=_clause("ID-7", form))
    expect("VM 1's recv page", hv.recv_page(4, vm=1), b"ID-7", clause=_clause("ID-7", form))
    expect("run(1, 0): VM 1's receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    expect("VM 1's receive: sender 0, 4 bytes", report_of(hv, 1, 1, "RUN-12")[0], 0x0000000400000000, clause="RUN-12")


@pytest.mark.clause("ID-8", "RECV-1", "RECV-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff07_is_mailbox_receive(boot, form):
    fid = _id(0xFF07, form)
    # VM 1 configures and yields (HF_VCPU_YIELD: also under QEMU, which never traps wfe), so that
    # the primary's send finds it configured.
    hv = boot(script(CFG, YIELD, Call(fid, 0), Call(fid, 0), Call(fid, 0)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"{fid:#x}(0) from the primary", hv.call(fid, 0, clause=_clause("ID-8", form)), NOTHING, clause="RECV-1")
    expect(f"{fid:#x}(1) from the primary", hv.call(fid, 1, clause=_clause("ID-8", form)), NOTHING, clause="RECV-1")
    expect("run(1, 0): VM 1 configures, then yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"nine byte")
    expect("send 9 bytes to VM 1", hv.send(1, 9), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 polls three times, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    # Only a receive answers sender | size << 32 (ID-8), then nothing (the mailbox is read: RECV-3).
    got = report_of(hv, 1, 2, _clause("ID-8", form))[0]
    clause = _clause("ID-8", form) if got == ERR else "RECV-2"
    expect(f"VM 1's {fid:#x}(0) of the message", got, 0x0000000900000000, clause=clause)
    expect(f"VM 1's {fid:#x}(0) again: nothing", report_of(hv, 1, 3, "RECV-3")[0], NOTHING, clause="RECV-3")
    expect(f"VM 1's {fid:#x}(0) once more", report_of(hv, 1, 4, "RECV-3")[0], NOTHING, clause="RECV-3")


@pytest.mark.clause("ID-9", "CLR-1", "CLR-2", "CLR-3", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff08_is_mailbox_clear(boot, form):
    fid = _id(0xFF08, form)
    hv = boot(script(CFG, YIELD, Call(fid), Call(0xFF07, 0), Call(fid), Call(fid)))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect(f"{fid:#x} on the primary's empty mailbox", hv.call(fid, clause=_clause("ID-9", form)), 0, clause="CLR-1")
    expect("run(1, 0): VM 1 configures, then yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("send 3 bytes to VM 1", hv.send(1, 3), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 clears, receives, clears twice, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    # Only a clear answers -1 to an unread (received) mailbox, then 0 once it is read (ID-9).
    unread = report_of(hv, 1, 2, _clause("ID-9", form))[0]
    expect_err(f"VM 1's {fid:#x} of its unread message", unread, clause=_clause("ID-9", form) if unread == 0 else "CLR-2")
    expect("VM 1's receive", report_of(hv, 1, 3, "RECV-2")[0], 0x0000000300000000, clause="RECV-2")
    expect(f"VM 1's {fid:#x} of its read mailbox", report_of(hv, 1, 4, "CLR-3")[0], 0, clause="CLR-3")
    expect(f"VM 1's {fid:#x} again: empty", report_of(hv, 1, 5, "CLR-1")[0], 0, clause="CLR-1")
    # Cleared: the primary can send again.
    expect("send again after VM 1's clear", hv.send(1, 3), 0, clause="CLR-3")


def _notify_on_configure(boot, writable: int, waiter: int, forms: tuple[str, str]) -> None:
    """§11's "Notify on configure": waiter_get(1) -> 0 then -1; writable_get() -> 1 then -1, with
    WRITABLE_GET as x0 = ``writable`` and WAITER_GET as x0 = ``waiter``; ``forms``: their FORMS keys."""
    wform, xform = forms
    hv = boot(script(CFG))
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err(f"{writable:#x} before anything", hv.call(writable, clause=_clause("ID-10", wform)), clause="WAIT-2")
    expect_err(f"{waiter:#x}(1) before anything", hv.call(waiter, 1, clause=_clause("ID-11", xform)), clause="WAIT-1")
    expect_err("send(1, 0, notify) before VM 1 configured", hv.send(1, 0, 1), clause="SEND-5")
    expect("run(1, 0): VM 1 configures: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    # Only WAITER_GET answers the waiter's ID 0 here, only WRITABLE_GET the ready VM's 1.
    got = hv.call(waiter, 1, clause=_clause("ID-11", xform))
    expect(f"{waiter:#x}(1): the primary waits", got, 0, clause=_clause("ID-11", xform))
    expect_err(f"{waiter:#x}(1) again", hv.call(waiter, 1), clause="WAIT-1")
    expect(f"{writable:#x}: VM 1's mailbox", hv.call(writable, clause=_clause("ID-10", wform)), 1, clause=_clause("ID-10", wform))
    expect_err(f"{writable:#x} again", hv.call(writable), clause="WAIT-2")


@pytest.mark.clause("ID-10", "WAIT-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff09_is_mailbox_writable_get(boot, form):
    _notify_on_configure(boot, _id(0xFF09, form), 0xFF0A, (form, "plain"))


@pytest.mark.clause("ID-11", "WAIT-1", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0a_is_mailbox_waiter_get(boot, form):
    _notify_on_configure(boot, 0xFF09, _id(0xFF0A, form), ("plain", form))


def _enable_and_get(boot, enable: int, get: int, forms: tuple[str, str]) -> None:
    """ENABLE: -1 for intid 64, 0 for 5 (ID-12); GET: none, then 5 once after a self-injection
    (ID-13): HF_INTERRUPT_ENABLE as x0 = ``enable``, HF_INTERRUPT_GET as x0 = ``get``; ``forms``: their FORMS keys."""
    eform, gform = forms
    hv = boot(script(Call(enable, 64, 1), Call(enable, 5, 1), Call(get), Call(0xFF0D, 1, 0, 5), Call(get), Call(get)))
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_err(f"VM 1's {enable:#x}(64, 1)", report_of(hv, 1, 0, "WAIT-4")[0], clause=_clause("ID-12", eform))
    expect(f"VM 1's {enable:#x}(5, 1)", report_of(hv, 1, 1, "WAIT-4")[0], 0, clause=_clause("ID-12", eform))
    expect(f"VM 1's {get:#x}: none", report_of(hv, 1, 2, "WAIT-4")[0], NOTHING, clause=_clause("ID-13", gform))
    expect("VM 1's HF_INTERRUPT_INJECT(1, 0, 5) into itself", report_of(hv, 1, 3, "WAIT-4")[0], 0, clause="WAIT-4")
    got = report_of(hv, 1, 4, "WAIT-4")[0]
    expect(f"VM 1's {get:#x} after the injection", got, 5, clause=_clause("ID-13", gform) if got == NOTHING else "WAIT-4")
    expect(f"VM 1's {get:#x} again: acknowledged", report_of(hv, 1, 5, "WAIT-4")[0], NOTHING, clause="WAIT-4")


@pytest.mark.clause("ID-12", "WAIT-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0b_is_interrupt_enable(boot, form):
    _enable_and_get(boot, _id(0xFF0B, form), 0xFF0C, (form, "plain"))


@pytest.mark.clause("ID-13", "WAIT-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0c_is_interrupt_get(boot, form):
    _enable_and_get(boot, 0xFF0B, _id(0xFF0C, form), ("plain", form))


@pytest.mark.clause("ID-14", "WAIT-4", "RUN-13", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0d_is_interrupt_inject(boot, form):
    fid = _id(0xFF0D, form)
    hv = boot(script(Call(0xFF0B, 5, 1), Wfi(), Call(0xFF0C)))
    expect("run(1, 0): VM 1 enables 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_err(f"{fid:#x}(1, 0, 64)", hv.call(fid, 1, 0, 64, clause=_clause("ID-14", form)), clause="WAIT-4")
    # Only an injection answers 1 (the interrupt became VM 1 vCPU 0's first enabled+pending one).
    expect(f"{fid:#x}(1, 0, 5)", hv.call(fid, 1, 0, 5, clause=_clause("ID-14", form)), 1, clause=_clause("ID-14", form))
    expect("run(1, 0): VM 1 resumes past its wfi, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_GET", report_of(hv, 1, 2, "RUN-13")[0], 5, clause="WAIT-4")


@pytest.mark.clause("ID-12", "ID-13", "ID-14", "WAIT-4")
@pytest.mark.parametrize("upper", [0x1_0000_0000, 0xFFFF_FFFF_0000_0000])
def test_interrupt_ids_are_u32(boot, upper):
    # §2: interrupt IDs, VM IDs and vCPU indices are uint32_t: the upper 32 bits are ignored.
    hv = boot(script(Call(0xFF0B, upper | 5, 1), Wfi(), Call(0xFF0C)))
    expect("run(1, 0): VM 1 enables 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect(f"VM 1's HF_INTERRUPT_ENABLE({upper | 5:#x}, 1)", report_of(hv, 1, 0, "ID-12")[0], 0, clause="ID-12")
    injected = hv.interrupt_inject(upper | 1, upper, upper | 5)
    expect(f"HF_INTERRUPT_INJECT({upper | 1:#x}, {upper:#x}, {upper | 5:#x})", injected, 1, clause="ID-14")
    expect("run(1, 0): VM 1 resumes past its wfi, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_GET", report_of(hv, 1, 2, "RUN-13")[0], 5, clause="ID-13")
