"""§2 Function IDs: ID-1 .. ID-14 -- each literal function ID does its call and no other.

Each test checks that the literal ID does its call (the ID clause), then the call's values (their
own clauses). A wrong answer is judged by what the build gave: -1 from every use of the plain ID,
or a value the call never gives, is the ID reaching no call or another one (its ID-n); any other
wrong value is the call's own rule. Every test also runs with bit 30 or bits 63..32 set (CALL-3:
"bit 30 and bits 63..32 are ignored"): first the same checks with the plain ID, then with the
alias, whose failures alone count against CALL-3. §2 also says VM IDs, vCPU indices and interrupt
IDs are taken as ``uint32_t``: a register's upper 32 bits are ignored (tested below, after the
same call with the low 32 bits; a wrong answer there is the call's own rule, VM-4 or WAIT-4).

0xff0e (HF_SHARE_MEMORY at this commit) has no clause and is not tested; 0xff0f and beyond are
unknown (CALL-4, test_call.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from conformance.harness import expect
from conformance.outcomes import CallTimeout, ConformanceFailure, GuestFault
from guest_asm.programs import Call, Rel, Wfi
from profiles.hafnium_2019_03.checks import NOTHING, REFUSED, WAIT_MESSAGE, expect_err, expect_load_order, report_of
from profiles.hafnium_2019_03.hv import ERR, program, script

#: The forms of a function ID: plain, bit 30 set, bits 63..32 set (CALL-3).
FORMS = {"plain": 0, "bit30": 0x4000_0000, "upper": 0xFFFF_FFFF_0000_0000}
CFG = Call(0xFF05, Rel(0x10000), Rel(0x11000))
#: HF_VCPU_YIELD (ID-5): the run returns YIELD 0x1 (RUN-6).
YIELD = Call(0xFF04)


def _id(fid: int, form: str) -> int:
    return fid | FORMS[form]


def _id_or(
    id_clause: str, behaviour: str, answers: Sequence[object], possible: Callable[[object], bool] = lambda a: True
) -> str:
    """The clause a wrong answer of the plain ID counts against: its ID clause when every answer
    the ID gave in the test was -1 (the ID does no call: unknown, CALL-4's answer) or one answer is
    a value the call never gives (``possible``: the ID reached another call), else the rule of the
    call's behaviour (the ID reached its call, which answered wrongly)."""
    if all(a == ERR for a in answers) or not all(a == ERR or possible(a) for a in answers):
        return id_clause
    return behaviour


@contextmanager
def _as_alias() -> Iterator[None]:
    """The alias pass of a test (bit 30 or bits 63..32 set): it runs after the same checks passed
    with the plain ID, so any failure of it is the alias being treated differently (CALL-3)."""
    try:
        yield
    except (ConformanceFailure, CallTimeout, GuestFault) as e:
        e.clauses = ("CALL-3",)
        raise


def _forms(body: Callable[[Any, int, str], None], boot: Any, plain: int, form: str) -> None:
    """``body(boot, fid, form)`` with the plain ID; for an alias form, then again with the alias,
    whose failures count against CALL-3 only (the plain form passed the same checks)."""
    body(boot, plain, "plain")
    if form != "plain":
        with _as_alias():
            body(boot, plain | FORMS[form], form)


def _configure(hv: Any) -> None:
    """A test's own configure: -1 is 0xff05 doing no call (ID-6), another wrong value CFG-5's."""
    got = hv.configure()
    expect("configure", got, 0, clause="ID-6" if got == ERR else "CFG-5")


def _vm_get_id(boot: Any, fid: int, form: str) -> None:
    # Three secondaries: VM 2 answers 2 where a count would answer 4.
    hv = boot(script(Call(fid)), script(Call(fid)), script(Call(fid)))
    primary = hv.call(fid, clause="ID-1")
    for vm in (1, 2, 3):
        expect(f"run({vm}, 0) after the script ends in wfi", hv.run(vm, clause="RUN-5"), REFUSED, clause="RUN-5")
    got = [report_of(hv, vm, 0, "ID-1")[0] for vm in (1, 2, 3)]
    # No answer a VM ID of this system (0..3) can be: the ID reached no HF_VM_GET_ID (ID-1).
    idc = _id_or("ID-1", "VM-2", [primary, *got], lambda a: isinstance(a, int) and 0 <= a <= 3)
    expect(f"{fid:#x} from the primary", primary, 0, clause=idc)
    # The right IDs in another order are VM-1's (VMs numbered out of load order).
    expect(f"{fid:#x} from VMs 1, 2, 3", got, [1, 2, 3], clause="VM-1" if sorted(got) == [1, 2, 3] else idc)


@pytest.mark.clause("ID-1", "VM-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff00_is_vm_get_id(boot, form):
    _forms(_vm_get_id, boot, 0xFF00, form)


def _vm_get_count(boot: Any, fid: int, form: str) -> None:
    one = boot(program("idle")).call(fid, clause="ID-2")
    hv = boot(program("idle"), program("idle"), script(Call(fid)))
    three = hv.call(fid, clause="ID-2")
    expect("run(3, 0) after the script ends in wfi", hv.run(3, clause="RUN-5"), REFUSED, clause="RUN-5")
    expect_load_order(hv, 3, idle=1)
    reported = report_of(hv, 3, 0, "ID-2")[0]
    # 0xff01 counts VMs (ID-2); the count itself is VM-3's N + 1.
    idc = _id_or("ID-2", "VM-3", [one, three, reported], lambda a: isinstance(a, int) and 0 < a < 0x100)
    expect(f"{fid:#x} from the primary, 3 secondaries", three, 4, clause=idc)
    expect(f"{fid:#x} from the primary, 1 secondary", one, 2, clause=idc)
    expect(f"{fid:#x} from VM 3", reported, 4, clause=idc)


@pytest.mark.clause("ID-2", "VM-3", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff01_is_vm_get_count(boot, form):
    _forms(_vm_get_count, boot, 0xFF01, form)


def _vcpu_get_count(boot: Any, fid: int, form: str) -> None:
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    first, second = hv.call(fid, 1, clause="ID-3"), hv.call(fid, 2, clause="ID-3")
    # 0xff02 counts the named VM's vCPUs (ID-3). The right counts the other way round are VMs
    # numbered out of load order (VM-1); other counts are VM-4's.
    idc = _id_or("ID-3", "VM-4", [first, second], lambda a: isinstance(a, int) and 0 < a < 0x100)
    order = "VM-1" if (first, second) == (5, 3) else idc
    expect(f"{fid:#x}(1)", first, 3, clause=order)
    expect(f"{fid:#x}(2)", second, 5, clause=order)
    expect_err(f"{fid:#x}(3): no such VM", hv.call(fid, 3), clause="VM-4")


@pytest.mark.clause("ID-3", "VM-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff02_is_vcpu_get_count(boot, form):
    _forms(_vcpu_get_count, boot, 0xFF02, form)


@pytest.mark.clause("ID-3", "VM-4")
@pytest.mark.parametrize(("vm", "count"), [(0x1_0000_0001, 3), (0xFFFF_FFFF_0000_0002, 5), (0x1_0000_0003, ERR)])
def test_vcpu_get_count_vm_id_is_u32(boot, vm, count):
    # §2: VM IDs are taken as uint32_t -- the register's upper 32 bits are ignored: VM-4's answer
    # for the VM the low 32 bits name (checked first with the plain ID).
    hv = boot(program("idle", vcpus=3), program("idle", vcpus=5))
    plain = hv.vcpu_count(vm & 0xFFFF_FFFF)
    clause = "ID-3" if plain == ERR and count != ERR else "VM-4"
    expect(f"HF_VCPU_GET_COUNT({vm & 0xFFFF_FFFF:#x})", plain, count, clause=clause)
    expect(f"HF_VCPU_GET_COUNT({vm:#x})", hv.vcpu_count(vm), count, clause="VM-4")


def _vcpu_run(boot: Any, fid: int, form: str) -> None:
    hv = boot(script(Call(0xFF00)))
    refused = hv.call(fid, 2, 0, clause="ID-4")
    before = hv.reports(1)
    response = hv.call(fid, 1, 0, clause="ID-4")
    for _ in range(1000):
        if response != 0x0:  # PREEMPTED (RUN-4): run again
            break
        response = hv.call(fid, 1, 0, clause="ID-4")
    # VM 1 ran its script: it reported its ID (ID-4: only a run runs it); the script ends in wfi (RUN-5).
    expect(f"{fid:#x}(1, 0): VM 1 ran and reported", len(hv.reports(1)), 1, clause="ID-4")
    expect(f"{fid:#x}(2, 0): no such VM, refused", refused, REFUSED, clause="RUN-1")
    expect("VM 1 did not run", before, [], clause="RUN-1")
    expect(f"{fid:#x}(1, 0): the script ends in wfi", response, REFUSED, clause="RUN-5")


@pytest.mark.clause("ID-4", "RUN-1", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff03_is_vcpu_run(boot, form):
    _forms(_vcpu_run, boot, 0xFF03, form)


@pytest.mark.clause("ID-4", "RUN-1")
@pytest.mark.parametrize(("vm", "vcpu"), [(0x1_0000_0001, 0), (1, 0x1_0000_0000), (0xFFFF_FFFF_0000_0001, 0xFFFF_FFFF_0000_0000)])
def test_run_ids_are_u32(boot, vm, vcpu):
    # §2: VM IDs and vCPU indices are taken as uint32_t: run(vm, vcpu) runs VM 1 vCPU 0.
    hv = boot(script(Call(0xFF00)))
    response = hv.run(vm, vcpu, clause="ID-4")
    expect(f"run({vm:#x}, {vcpu:#x}): VM 1 vCPU 0 ran", len(hv.reports(1)), 1, clause="ID-4")
    expect(f"run({vm:#x}, {vcpu:#x}): the script ends in wfi", response, REFUSED, clause="RUN-5")


def _vcpu_yield(boot: Any, fid: int, form: str) -> None:
    hv = boot(script(Call(fid), Call(0xFF00)))
    primary = hv.call(fid, clause="ID-5")
    # Only a yield answers 0x1 (YIELD) to the run of a secondary that makes this call; -1 for the
    # primary's own call too is the ID doing no call (ID-5).
    run = hv.run(1, clause="ID-5")
    expect(f"run(1, 0): VM 1 calls {fid:#x}", run, 0x1, clause="ID-5" if primary == ERR else "RUN-6")
    expect(f"{fid:#x} from the primary: a no-op returning 0", primary, 0, clause="RUN-6")
    expect(f"VM 1 was switched out at its {fid:#x}", hv.reports(1), [], clause="RUN-6")
    expect("run(1, 0): VM 1 resumes, then wfi", hv.run(1, clause="RUN-6"), REFUSED, clause="RUN-5")
    expect(f"VM 1's {fid:#x} returned 0", report_of(hv, 1, 0, "RUN-6")[0], 0, clause="RUN-6")
    expect("VM 1 went on: its HF_VM_GET_ID", report_of(hv, 1, 1, "RUN-6")[0], 1, clause="VM-2")


@pytest.mark.clause("ID-5", "RUN-6", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff04_is_vcpu_yield(boot, form):
    _forms(_vcpu_yield, boot, 0xFF04, form)


def _vm_configure(boot: Any, fid: int, form: str) -> None:
    hv = boot(program("idle"))
    base = hv.base(0)
    first = hv.call(fid, base + 0x10000, base + 0x11000, clause="ID-6")
    again = hv.call(fid, base + 0x12000, base + 0x13000, clause="ID-6")
    # -1 to both is the ID doing no call (ID-6); a wrong first answer with -1 for the second is a
    # configure that answers wrongly (CFG-5).
    clause = "ID-6" if first == again == ERR else ("CFG-5" if again == ERR else "CFG-2")
    expect(f"{fid:#x}(send, recv)", first, 0, clause=clause)
    expect_err(f"{fid:#x} again", again, clause="CFG-2")


@pytest.mark.clause("ID-6", "CFG-5", "CFG-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff05_is_vm_configure(boot, form):
    _forms(_vm_configure, boot, 0xFF05, form)


def _mailbox_send(boot: Any, fid: int, form: str) -> None:
    hv = boot(script(CFG, Call(0xFF07, 1)))
    expect("run(1, 0): VM 1 blocks in receive", hv.run(1, clause="RUN-7"), WAIT_MESSAGE, clause="RUN-7")
    _configure(hv)
    hv.write_send_page(b"ID-7")
    sent = hv.call(fid, 1, 4, 0, clause="ID-7")
    expect(f"{fid:#x}(1, 4, 0)", sent, 0, clause="ID-7" if sent == ERR else "SEND-6")
    expect("VM 1's recv page", hv.recv_page(4, vm=1), b"ID-7", clause="SEND-6")
    expect("run(1, 0): VM 1's receive returns, then wfi", hv.run(1, clause="RUN-12"), REFUSED, clause="RUN-5")
    expect("VM 1's receive: sender 0, 4 bytes", report_of(hv, 1, 1, "RUN-12")[0], 0x0000000400000000, clause="RUN-12")


@pytest.mark.clause("ID-7", "SEND-6", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff06_is_mailbox_send(boot, form):
    _forms(_mailbox_send, boot, 0xFF06, form)


def _mailbox_receive(boot: Any, fid: int, form: str) -> None:
    # VM 1 configures and yields (HF_VCPU_YIELD: also under QEMU, which never traps wfe), so that
    # the primary's send finds it configured.
    hv = boot(script(CFG, YIELD, Call(fid, 0), Call(fid, 0), Call(fid, 0)))
    _configure(hv)
    polled = hv.call(fid, 0, clause="ID-8")
    blocked = hv.call(fid, 1, clause="ID-8")
    expect("run(1, 0): VM 1 configures, then yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"nine byte")
    expect("send 9 bytes to VM 1", hv.send(1, 9), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 polls three times, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    # Only a receive answers sender | size << 32 (ID-8): never -1 with a message there.
    got = report_of(hv, 1, 2, "ID-8")[0]
    idc = "ID-8" if got == ERR else "RECV-2"
    expect(f"VM 1's {fid:#x}(0) of the message", got, 0x0000000900000000, clause=idc)
    expect(f"{fid:#x}(0) from the primary", polled, NOTHING, clause="RECV-1")
    expect(f"{fid:#x}(1) from the primary", blocked, NOTHING, clause="RECV-1")
    # Then nothing (the mailbox is read: RECV-3).
    # The message again: the first receive did not leave the mailbox read (RECV-2).
    for i, what in ((3, "again: nothing"), (4, "once more")):
        again = report_of(hv, 1, i, "RECV-3")[0]
        expect(f"VM 1's {fid:#x}(0) {what}", again, NOTHING, clause="RECV-2" if again == got else "RECV-3")


@pytest.mark.clause("ID-8", "RECV-1", "RECV-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff07_is_mailbox_receive(boot, form):
    _forms(_mailbox_receive, boot, 0xFF07, form)


def _mailbox_clear(boot: Any, fid: int, form: str) -> None:
    hv = boot(script(CFG, YIELD, Call(fid), Call(0xFF07, 0), Call(fid), Call(fid)))
    _configure(hv)
    empty = hv.call(fid, clause="ID-9")
    expect("run(1, 0): VM 1 configures, then yields", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    expect("send 3 bytes to VM 1", hv.send(1, 3), 0, clause="SEND-6")
    expect("run(1, 0): VM 1 clears, receives, clears twice, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    unread, received, read, again = (report_of(hv, 1, i, "ID-9")[0] for i in (2, 3, 4, 5))
    # A clear answers 0, 1 or -1 (CLR-1..3); only -1s, or another value, are the ID reaching no
    # HF_MAILBOX_CLEAR (ID-9).
    answers = [empty, unread, read, again]
    idc = _id_or("ID-9", "", answers, lambda a: a in (0, 1, ERR))
    expect(f"{fid:#x} on the primary's empty mailbox", empty, 0, clause=idc or "CLR-1")
    expect_err(f"VM 1's {fid:#x} of its unread message", unread, clause=idc or "CLR-2")
    # Nothing after the refused clear: the clear changed the mailbox (CLR-2: "no change").
    expect("VM 1's receive", received, 0x0000000300000000, clause="CLR-2" if received == NOTHING else "RECV-2")
    expect(f"VM 1's {fid:#x} of its read mailbox", read, 0, clause=idc or "CLR-3")
    expect(f"VM 1's {fid:#x} again: empty", again, 0, clause=idc or "CLR-1")
    # Cleared: the primary can send again.
    expect("send again after VM 1's clear", hv.send(1, 3), 0, clause="CLR-3")


@pytest.mark.clause("ID-9", "CLR-1", "CLR-2", "CLR-3", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff08_is_mailbox_clear(boot, form):
    _forms(_mailbox_clear, boot, 0xFF08, form)


def _notify_on_configure(boot: Any, writable: int, waiter: int, ready_clause: str = "ID-10") -> None:
    """§11's "Notify on configure": waiter_get(1) -> 0 then -1; writable_get() -> 1 then -1, with
    WRITABLE_GET as x0 = ``writable`` and WAITER_GET as x0 = ``waiter``."""
    hv = boot(script(CFG))
    _configure(hv)
    expect_err(f"{writable:#x} before anything", hv.call(writable, clause="ID-10"), clause="WAIT-2")
    expect_err(f"{waiter:#x}(1) before anything", hv.call(waiter, 1, clause="ID-11"), clause="WAIT-1")
    expect_err("send(1, 0, notify) before VM 1 configured", hv.send(1, 0, 1), clause="SEND-5")
    expect("run(1, 0): VM 1 configures: NOTIFY_WAITERS", hv.run(1, clause="RUN-9"), 0x6, clause="RUN-9")
    # Only WAITER_GET answers the waiter's ID 0 here, only WRITABLE_GET the ready VM's 1.
    got = hv.call(waiter, 1, clause="ID-11")
    expect(f"{waiter:#x}(1): the primary waits", got, 0, clause="ID-11")
    expect_err(f"{waiter:#x}(1) again", hv.call(waiter, 1), clause="WAIT-1")
    # ``ready_clause``: ID-10 where 0xff09 is under test; WAIT-1 (the waiter_get put VM 1 on the
    # primary's ready list) where it is the plain control of WAITER_GET's test.
    expect(f"{writable:#x}: VM 1's mailbox", hv.call(writable, clause="ID-10"), 1, clause=ready_clause)
    expect_err(f"{writable:#x} again", hv.call(writable), clause="WAIT-2")


@pytest.mark.clause("ID-10", "WAIT-2", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff09_is_mailbox_writable_get(boot, form):
    _forms(lambda b, fid, f: _notify_on_configure(b, fid, 0xFF0A), boot, 0xFF09, form)


@pytest.mark.clause("ID-11", "WAIT-1", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0a_is_mailbox_waiter_get(boot, form):
    _forms(lambda b, fid, f: _notify_on_configure(b, 0xFF09, fid, "WAIT-1"), boot, 0xFF0A, form)


def _enable_and_get(boot: Any, enable: int, get: int) -> None:
    """ENABLE: -1 for intid 64, 0 for 5 (ID-12); GET: none, then 5 once after a self-injection
    (ID-13): HF_INTERRUPT_ENABLE as x0 = ``enable``, HF_INTERRUPT_GET as x0 = ``get``."""
    hv = boot(script(Call(enable, 64, 1), Call(enable, 5, 1), Call(get), Call(0xFF0D, 1, 0, 5), Call(get), Call(get)))
    expect("run(1, 0): the script, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    refused, enabled, none, injected, got, again = (report_of(hv, 1, i, "WAIT-4")[0] for i in range(6))
    # -1 from every use of an ID is the ID doing no call (its ID-n); other wrong values are WAIT-4's.
    eclause = _id_or("ID-12", "WAIT-4", [refused, enabled])
    gclause = _id_or("ID-13", "WAIT-4", [none, got, again])
    expect(f"VM 1's {enable:#x}(5, 1)", enabled, 0, clause=eclause)
    expect_err(f"VM 1's {enable:#x}(64, 1)", refused, clause=eclause)
    expect("VM 1's HF_INTERRUPT_INJECT(1, 0, 5) into itself", injected, 0, clause="WAIT-4")
    expect(f"VM 1's {get:#x} after the injection", got, 5, clause=gclause)
    expect(f"VM 1's {get:#x}: none", none, NOTHING, clause=gclause)
    expect(f"VM 1's {get:#x} again: acknowledged", again, NOTHING, clause=gclause)


@pytest.mark.clause("ID-12", "WAIT-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0b_is_interrupt_enable(boot, form):
    _forms(lambda b, fid, f: _enable_and_get(b, fid, 0xFF0C), boot, 0xFF0B, form)


@pytest.mark.clause("ID-13", "WAIT-4", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0c_is_interrupt_get(boot, form):
    _forms(lambda b, fid, f: _enable_and_get(b, 0xFF0B, fid), boot, 0xFF0C, form)


def _interrupt_inject(boot: Any, fid: int, form: str) -> None:
    hv = boot(script(Call(0xFF0B, 5, 1), Wfi(), Call(0xFF0C)))
    expect("run(1, 0): VM 1 enables 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    refused = hv.call(fid, 1, 0, 64, clause="ID-14")
    # Only an injection answers 1 (the interrupt became VM 1 vCPU 0's first enabled+pending one);
    # -1 here is the ID reaching no HF_INTERRUPT_INJECT (ID-14), another value WAIT-4's.
    injected = hv.call(fid, 1, 0, 5, clause="ID-14")
    expect(f"{fid:#x}(1, 0, 5)", injected, 1, clause="ID-14" if injected == ERR else "WAIT-4")
    expect_err(f"{fid:#x}(1, 0, 64)", refused, clause="WAIT-4")
    expect("run(1, 0): VM 1 resumes past its wfi, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    expect("VM 1's HF_INTERRUPT_GET", report_of(hv, 1, 2, "RUN-13")[0], 5, clause="WAIT-4")


@pytest.mark.clause("ID-14", "WAIT-4", "RUN-13", "CALL-3")
@pytest.mark.parametrize("form", list(FORMS))
def test_0xff0d_is_interrupt_inject(boot, form):
    _forms(_interrupt_inject, boot, 0xFF0D, form)


@pytest.mark.clause("ID-12", "ID-13", "ID-14", "WAIT-4")
@pytest.mark.parametrize("upper", [0x1_0000_0000, 0xFFFF_FFFF_0000_0000])
def test_interrupt_ids_are_u32(boot, upper):
    # §2: interrupt IDs, VM IDs and vCPU indices are uint32_t: the upper 32 bits are ignored
    # (WAIT-4's answers for the IDs the low 32 bits name). Each call is first made with plain
    # arguments: -1 there is its ID reaching no call (ID-12, ID-14).
    hv = boot(script(Call(0xFF0B, 6, 1), Call(0xFF0B, upper | 5, 1), Wfi(), Call(0xFF0C)))
    expect("run(1, 0): VM 1 enables 6 and 5, then wfi", hv.run(1, clause="RUN-5"), REFUSED, clause="RUN-5")
    plain = report_of(hv, 1, 0, "ID-12")[0]
    expect("VM 1's HF_INTERRUPT_ENABLE(6, 1)", plain, 0, clause="ID-12" if plain == ERR else "WAIT-4")
    expect(f"VM 1's HF_INTERRUPT_ENABLE({upper | 5:#x}, 1)", report_of(hv, 1, 1, "ID-12")[0], 0, clause="WAIT-4")
    # Interrupt 7 is not enabled: the injection answers 0 (WAIT-4).
    probe = hv.interrupt_inject(1, 0, 7)
    expect("HF_INTERRUPT_INJECT(1, 0, 7): not enabled", probe, 0, clause="ID-14" if probe == ERR else "WAIT-4")
    injected = hv.interrupt_inject(upper | 1, upper, upper | 5)
    expect(f"HF_INTERRUPT_INJECT({upper | 1:#x}, {upper:#x}, {upper | 5:#x})", injected, 1, clause="WAIT-4")
    expect("run(1, 0): VM 1 resumes past its wfi, then wfi", hv.run(1, clause="RUN-13"), REFUSED, clause="RUN-5")
    got = report_of(hv, 1, 3, "RUN-13")[0]
    expect("VM 1's HF_INTERRUPT_GET", got, 5, clause="ID-13" if got == ERR else "WAIT-4")
