"""The reference's core for ``hafnium-2019-03`` and the machine features it needs, white-box.

Systems are booted directly (``System(..., profile="hafnium-2019-03")``, the primary driver
making the calls) with small guest programs written here; the conformance suite
(``profiles/hafnium_2019_03/tests``) judges every clause, these tests the reference's own
machinery: wfe as a trap, the read-only recv page (stage 2) and the machine pool, virtual IRQs
delivered by the CPU, the deterministic virtual timer, several vCPUs with their own system
registers, aborting VMs.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from guest_asm import layout
from profiles.hafnium_2019_03 import abi, core, programs
from profiles.hafnium_2019_03.core import MailboxState, VcpuState
from reference_hv.system import System, VMSpec

PROFILE = "hafnium-2019-03"
ERR = 0xFFFF_FFFF_FFFF_FFFF
REFUSED = 0xFFFF_FFFF_FFFF_FF02  # RUN-1
WAIT_FOR_MESSAGE = 0xFFFF_FFFF_FFFF_FF03  # RUN-7, no timer
NOTHING = 0x0000_0000_FFFF_FFFF  # RECV-3
YIELD, ABORTED, NOTIFY_WAITERS = 0x1, 0x7, 0x6
FREQ = 62_500_000  # CNTFRQ_EL0 of the emulated CPU


def text(body: str, **params: int) -> str:
    """A self-contained guest text: this profile's constants, ``params`` as .equ, the preludes."""
    equ = "".join(f".equ {name}, {value:#x}\n" for name, value in params.items())
    return programs.LIBRARY.header + equ + programs.LIBRARY.prelude() + body


def boot(*bodies: str | VMSpec, **options: object) -> System:
    specs = [b if isinstance(b, VMSpec) else VMSpec(b) for b in bodies]
    return System(specs, profile=PROFILE, **options)  # type: ignore[arg-type]


def run(s: System, vm: int, vcpu: int = 0) -> int:
    return s.call(abi.HF_VCPU_RUN, vm, vcpu).x0


def reports(s: System, vm: int) -> list[tuple[int, ...]]:
    base = s.base(vm)
    return programs.read_reports(s.read(vm, base + layout.LIB_REPORT, layout.LIB_REPORT_SLOTS * layout.LIB_REPORT_SLOT))


def x0s(s: System, vm: int) -> list[int]:
    return [r[0] for r in reports(s, vm)]


def configure_primary(s: System) -> int:
    base = s.base(0)
    return s.call(abi.HF_VM_CONFIGURE, base + layout.LIB_SEND_PAGE, base + layout.LIB_RECV_PAGE).x0


# --- §11 worked examples end to end ------------------------------------------------------


def test_echo_worked_example() -> None:
    steps: Sequence[programs.Step] = [
        programs.configure(),
        programs.Call(abi.HF_MAILBOX_RECEIVE, 1),
        programs.Call(abi.HF_MAILBOX_CLEAR),
        programs.Call(abi.HF_VCPU_YIELD),
        programs.Call(abi.HF_MAILBOX_RECEIVE, 1),
        programs.CopyRecv(),
        programs.Call(abi.HF_MAILBOX_CLEAR),
        programs.Call(abi.HF_MAILBOX_SEND, 0, 22),
    ]
    with boot(programs.script_source(steps)) as s:
        base = s.base(0)
        assert configure_primary(s) == 0
        assert run(s, 1) == WAIT_FOR_MESSAGE
        s.write(0, base + layout.LIB_SEND_PAGE, b"echo")
        assert s.call(abi.HF_MAILBOX_SEND, 1, 4, 0).x0 == 0
        assert run(s, 1) == YIELD
        assert run(s, 1) == WAIT_FOR_MESSAGE
        s.write(0, base + layout.LIB_SEND_PAGE, b"Echo this back to me!\0")
        assert s.call(abi.HF_MAILBOX_SEND, 1, 22, 0).x0 == 0
        assert run(s, 1) == 0x0000_0016_0000_0005
        assert s.read(0, base + layout.LIB_RECV_PAGE, 22) == b"Echo this back to me!\0"
        assert [s.call(abi.HF_MAILBOX_CLEAR).x0, s.call(abi.HF_MAILBOX_CLEAR).x0] == [0, 0]


def test_notify_on_configure_worked_example() -> None:
    with boot(programs.script_source([programs.configure()])) as s:
        assert configure_primary(s) == 0
        assert s.call(abi.HF_MAILBOX_SEND, 1, 0, 1).x0 == ERR  # queued as a waiter
        assert s.call(abi.HF_MAILBOX_SEND, 1, 0, 1).x0 == ERR  # not twice
        assert run(s, 1) == NOTIFY_WAITERS
        assert s.vcpu_state(1, 0) is VcpuState.READY
        assert [s.call(abi.HF_MAILBOX_WAITER_GET, 1).x0, s.call(abi.HF_MAILBOX_WAITER_GET, 1).x0] == [0, ERR]
        assert [s.call(abi.HF_MAILBOX_WRITABLE_GET).x0, s.call(abi.HF_MAILBOX_WRITABLE_GET).x0] == [1, ERR]
        assert s.call(abi.HF_MAILBOX_SEND, 1, 0, 0).x0 == 0
        assert s.core.vms[1].mailbox is MailboxState.RECEIVED  # type: ignore[attr-defined]
        assert run(s, 1) == REFUSED  # resumed: its configure returned 0 (RUN-9), then its final wfi
        assert x0s(s, 1) == [0]


# --- wfe (RUN-6) --------------------------------------------------------------------------


def test_wfe_yields_and_the_vcpu_goes_on() -> None:
    steps: list[programs.Step] = [programs.Wfe(), programs.Call(abi.HF_VM_GET_ID), programs.Wfe()]
    with boot(programs.script_source(steps)) as s:
        assert run(s, 1) == YIELD
        assert s.vcpu_state(1, 0) is VcpuState.READY
        assert len(reports(s, 1)) == 0  # stopped at the wfe, before its report
        assert run(s, 1) == YIELD
        assert len(reports(s, 1)) == 2 and x0s(s, 1)[1] == 1  # the wfe's report, HF_VM_GET_ID's
        assert run(s, 1) == REFUSED  # the last wfe's report, then the script's final wfi
        assert len(reports(s, 1)) == 3
        assert any(r.kind == "note" and r.detail.startswith("wfe at PC") for r in s.trace)


def test_primary_yield_is_a_no_op() -> None:
    with boot() as s:
        assert s.call(abi.HF_VCPU_YIELD).x0 == 0


# --- stage 2: the recv page is read-only after configure (CFG-4, RUN-11) -------------------

RECV_WRITE = """
_start:
    LIB_INIT
    adr x19, _start
    add x19, x19, #LIB_RECV_PAGE
    mov x0, #0x55
    str x0, [x19]           // before configure: the page is the VM's own, writable
    REPORT
    CONFIGURE
    REPORT
    mov x1, #0x66
    str x1, [x19, #8]       // after: a stage-2 permission fault
    REPORT
    WFI_FOREVER
"""


def test_recv_page_write_after_configure_aborts_the_vm() -> None:
    with boot(text(RECV_WRITE), fault_policy="continue") as s:
        assert run(s, 1) == ABORTED
        assert x0s(s, 1) == [0x55, 0]  # the write before configure, then configure's 0
        assert s.vcpu_state(1, 0) is VcpuState.ABORTED
        assert run(s, 1) == REFUSED  # RUN-1: the VM is aborting
        recv = s.base(1) + layout.LIB_RECV_PAGE
        assert s.read(1, recv + 8, 8) == bytes(8)  # the write did not happen
        assert "stage-2" in s.faults[0].kind and s.faults[0].address == recv + 8


def test_recv_page_write_with_stop_policy_is_a_located_fault() -> None:
    with boot(text(RECV_WRITE)) as s:
        result = s.call(abi.HF_VCPU_RUN, 1, 0)
        assert result.fault is not None and result.fault.vm == 1
        assert "write to a read-only page" in result.fault.kind


def test_recv_page_is_not_executable_after_configure() -> None:
    guest = text("""
_start:
    LIB_INIT
    CONFIGURE
    adr x19, _start
    add x19, x19, #LIB_RECV_PAGE
    br x19
""")
    with boot(guest) as s:
        fault = s.call(abi.HF_VCPU_RUN, 1, 0).fault
        assert fault is not None and "fetch from a non-executable page" in fault.kind
        assert fault.address == s.base(1) + layout.LIB_RECV_PAGE


def test_hypervisor_copies_still_write_the_recv_page() -> None:
    steps = [programs.configure(), programs.Call(abi.HF_MAILBOX_RECEIVE, 1)]
    with boot(programs.script_source(steps)) as s:
        assert run(s, 1) == WAIT_FOR_MESSAGE
        configure_primary(s)
        s.write(0, s.base(0) + layout.LIB_SEND_PAGE, b"hello")
        assert s.call(abi.HF_MAILBOX_SEND, 1, 5).x0 == 0
        assert run(s, 1) == REFUSED  # back in its final wfi after the receive
        assert s.read(1, s.base(1) + layout.LIB_RECV_PAGE, 5) == b"hello"
        assert x0s(s, 1)[-1] == 0x5_0000_0000  # sender 0, size 5 (RUN-12)


def test_a_reused_machine_has_its_recv_page_writable_again() -> None:
    no_configure = text("""
_start:
    LIB_INIT
    adr x19, _start
    add x19, x19, #LIB_RECV_PAGE
    mov x0, #0x77
    str x0, [x19, #8]
    REPORT
    WFI_FOREVER
""")
    with boot(text(RECV_WRITE), fault_policy="continue") as s:
        assert run(s, 1) == ABORTED
    for _ in range(3):  # the pool hands the same machines back, reset
        with boot(no_configure) as s:
            assert run(s, 1) == REFUSED  # its wfi with no timer (RUN-5)
            assert x0s(s, 1) == [0x77] and not s.faults


# --- virtual interrupts, delivered by the CPU (WAIT-4, RUN-13, RECV-3) ------------------------

IRQ_GUEST = """
_start:
    LIB_INIT
    adr x0, vectors
    msr vbar_el1, x0
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #5
    mov x2, #1
    hvc #0
    mov x0, #HF_VCPU_YIELD
    hvc #0                  // the primary injects while the vCPU waits here
    mov x18, #0xA
    REPORT                  // I is still masked: no IRQ yet
    msr daifclr, #2
unmasked:
    mov x18, #0xB
    REPORT
    WFI_FOREVER

irq:
    mrs x19, elr_el1
    mrs x20, spsr_el1
    mrs x21, daif
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    mov x18, #0x1AA
    REPORT
    eret

other:
    mrs x0, esr_el1
    mov x18, #0xE
    REPORT
    WFI_FOREVER
    .ltorg
    .balign 2048
vectors:
    b other
    .balign 128
    b irq                   // +0x80: IRQ, current EL with SP_EL0
    .balign 128
    b other
    .balign 128
    b other
    .balign 128
    b other
    .balign 128
    b irq                   // +0x280: IRQ, current EL with SP_ELx
    .balign 128
    b other
"""


def test_injected_irq_is_taken_when_the_guest_unmasks() -> None:
    with boot(text(IRQ_GUEST)) as s:
        assert run(s, 1) == YIELD
        assert s.call(abi.HF_INTERRUPT_INJECT, 1, 0, 5).x0 == 1  # the first enabled+pending one
        assert s.call(abi.HF_INTERRUPT_INJECT, 1, 0, 5).x0 == 0  # already pending
        assert run(s, 1) == REFUSED  # in its final wfi
        marks = [(r[18], r[0]) for r in reports(s, 1)]
        assert [m for m, _ in marks] == [0xA, 0x1AA, 0xB]
        irq = reports(s, 1)[1]
        assert irq[0] == 5  # HF_INTERRUPT_GET in the handler: acknowledged
        assert irq[19] == s.images[1].symbol("unmasked")  # ELR_EL1: the instruction after msr daifclr
        assert irq[20] & 0x3CF == 0x345  # SPSR_EL1: EL1h, I clear (D, A, F set)
        assert irq[21] & 0x3C0 == 0x3C0  # DAIF masked in the handler


def test_a_reused_machine_has_no_irq_line_asserted() -> None:
    unmask = text("""
_start:
    LIB_INIT
    msr daifclr, #2         // VBAR_EL1 is 0 (unmapped): an IRQ here would be a fault
    mov x0, #0x99
    REPORT
    WFI_FOREVER
""")
    with boot(text(IRQ_GUEST)) as s:
        assert run(s, 1) == YIELD
        assert s.call(abi.HF_INTERRUPT_INJECT, 1, 0, 5).x0 == 1  # VM 1's line is asserted now
    for _ in range(3):
        with boot(unmask) as s:
            assert run(s, 1) == REFUSED and x0s(s, 1) == [0x99] and not s.faults


def test_irq_wakes_a_wfi_blocked_vcpu_and_is_taken_after_the_wfi() -> None:
    guest = text(IRQ_GUEST.replace("    mov x0, #HF_VCPU_YIELD\n    hvc #0", "    msr daifclr, #2\n    wfi\nafter_wfi:"))
    with boot(guest) as s:
        assert run(s, 1) == REFUSED  # wfi, no timer: WAIT_FOR_INTERRUPT INDEF (RUN-5)
        assert s.vcpu_state(1, 0) is VcpuState.BLOCKED_INTERRUPT
        assert run(s, 1) == REFUSED  # RUN-2: nothing pending
        assert s.call(abi.HF_INTERRUPT_INJECT, 1, 0, 5).x0 == 1
        assert run(s, 1) == REFUSED  # RUN-13: it ran, took the IRQ, and reached its final wfi
        irq = reports(s, 1)[0]
        assert irq[18] == 0x1AA and irq[0] == 5
        assert irq[19] == s.images[1].symbol("after_wfi")


def test_wfi_traps_even_with_an_interrupt_pending() -> None:
    guest = text("""
_start:
    LIB_INIT
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #9
    mov x2, #1
    hvc #0
    mov x0, #HF_INTERRUPT_INJECT
    mov x1, #1
    mov x2, #0
    mov x3, #9
    hvc #0                  // into itself: pending now, IRQs masked
    REPORT
    wfi                     // Hafnium traps wfi (TWI): the primary sees WAIT_FOR_INTERRUPT
    mov x0, #HF_MAILBOX_RECEIVE
    mov x1, #1
    hvc #0                  // RECV-3: an interrupt is pending, so no blocking
    REPORT
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    REPORT
    WFI_FOREVER
""")
    with boot(guest) as s:
        assert run(s, 1) == REFUSED
        assert x0s(s, 1) == [0]  # the self-injection returned 0
        assert s.vcpu_state(1, 0) is VcpuState.BLOCKED_INTERRUPT
        assert run(s, 1) == REFUSED  # RUN-13 woke it; then its final wfi
        assert x0s(s, 1) == [0, NOTHING, 9]


def test_interrupt_wakes_a_receive_blocked_vcpu_with_nothing() -> None:
    steps = [
        programs.Call(abi.HF_INTERRUPT_ENABLE, 4, 1),
        programs.configure(),
        programs.Call(abi.HF_MAILBOX_RECEIVE, 1),
        programs.Call(abi.HF_INTERRUPT_GET),
        programs.Call(abi.HF_INTERRUPT_GET),
    ]
    with boot(programs.script_source(steps)) as s:
        assert run(s, 1) == WAIT_FOR_MESSAGE
        assert s.call(abi.HF_INTERRUPT_INJECT, 1, 0, 4).x0 == 1
        assert run(s, 1) == REFUSED
        assert x0s(s, 1) == [0, 0, NOTHING, 4, 0xFFFF_FFFF]


# --- the virtual timer: deterministic (RUN-2, RUN-5, RUN-13) -----------------------------------

TIMER_GUEST = """
_start:
    LIB_INIT
    mrs x1, cntvct_el0
    ldr x2, =DELTA
    add x1, x1, x2
    msr cntv_cval_el0, x1
    mov x0, #1
    msr cntv_ctl_el0, x0
    mrs x0, cntv_ctl_el0
    mrs x3, cntvct_el0
    mrs x4, cntv_cval_el0
    REPORT
    wfi
    mrs x0, cntv_ctl_el0
    REPORT
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #HF_VIRTUAL_TIMER_INTID
    mov x2, #1
    hvc #0
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    REPORT
    WFI_FOREVER
    .ltorg
"""


def test_armed_timer_reports_the_remaining_time() -> None:
    delta = 0x1000_0000
    with boot(text(TIMER_GUEST, DELTA=delta)) as s:
        ns = delta * 1_000_000_000 // FREQ
        first = run(s, 1)
        assert first == 0x2 | ns << 8  # WAIT_FOR_INTERRUPT, ns != INDEF
        ctl, counter, cval = (reports(s, 1)[0][n] for n in (0, 3, 4))
        assert (ctl, counter, cval) == (1, 0, delta)  # the counter stands still at 0
        assert run(s, 1) == first  # RUN-2: still blocked, the same time left
        assert s.vcpu_state(1, 0) is VcpuState.BLOCKED_INTERRUPT


def test_expired_timer_wakes_the_vcpu_with_the_timer_interrupt() -> None:
    with boot(text(TIMER_GUEST, DELTA=0)) as s:
        assert run(s, 1) == 0x2  # WAIT_FOR_INTERRUPT, 0 ns left
        assert reports(s, 1)[0][0] == 0b101  # ENABLE, ISTATUS
        assert run(s, 1) == REFUSED  # RUN-13: it ran; the timer is masked now (final wfi: INDEF)
        assert [r[0] for r in reports(s, 1)[1:]] == [0b111, abi.HF_VIRTUAL_TIMER_INTID]


def test_the_timer_trace_is_deterministic() -> None:
    traces = []
    for _ in range(2):
        with boot(text(TIMER_GUEST, DELTA=12345)) as s:
            run(s, 1)
            run(s, 1)
            traces.append([(r.kind, r.vm, r.args, r.result, r.detail) for r in s.trace])
    assert traces[0] == traces[1]


# --- several vCPUs (VM-1, RUN-10), each with its own system registers -------------------------

VCPUS_GUEST = """
_start:
    LIB_INIT
    cbnz x0, second
    // vCPU 0: VBAR_EL1 = 0x1000, then wake vCPU 1 with interrupt 7
    mov x1, #0x1000
    msr vbar_el1, x1
    mov x0, #HF_INTERRUPT_INJECT
    mov x1, #1
    mov x2, #1
    mov x3, #7
    hvc #0
    mrs x1, vbar_el1
    REPORT
    WFI_FOREVER
second:
    // vCPU 1: its own stack (reports), VBAR_EL1 = 0x2000; enable 7 and wait
    add sp, sp, #0x4000
    mov x1, #0x2000
    msr vbar_el1, x1
    mov x0, #HF_INTERRUPT_ENABLE
    mov x1, #7
    mov x2, #1
    hvc #0
    wfi
    mov x0, #HF_INTERRUPT_GET
    hvc #0
    mrs x1, vbar_el1
    REPORT
    WFI_FOREVER
"""


def test_wake_up_between_vcpus_of_a_vm() -> None:
    with boot(VMSpec(text(VCPUS_GUEST), vcpus=3, ready_vcpus=2)) as s:
        assert s.vcpu_state(1, 2) is VcpuState.OFF
        assert run(s, 1, 2) == REFUSED  # VM-1, RUN-1: off
        assert run(s, 1, 1) == REFUSED  # vCPU 1 blocks in wfi
        assert run(s, 1, 0) == 0x4 | 1 << 16 | 1 << 32  # RUN-10: WAKE_UP VM 1 vCPU 1
        assert s.vcpu_state(1, 0) is VcpuState.READY
        assert run(s, 1, 1) == REFUSED  # it ran: interrupt 7, then its final wfi
        assert run(s, 1, 0) == REFUSED  # the injector resumed with 0
        first = reports(s, 1)
        second = programs.read_reports(s.read(1, s.base(1) + layout.LIB_REPORT + 0x4000, 0x1000))
        assert (first[0][0], first[0][1]) == (0, 0x1000)
        assert (second[0][0], second[0][1]) == (7, 0x2000)


# --- ABORTED (RUN-11) and the calling convention (CALL-5..7) -----------------------------------


def test_a_fault_aborts_every_vcpu_of_the_vm() -> None:
    guest = text("""
_start:
    LIB_INIT
    cbnz x0, idle
    .word 0                 // vCPU 0: an undefined instruction
idle:
    WFI_FOREVER
""")
    with boot(VMSpec(guest, vcpus=2, ready_vcpus=2), fault_policy="continue") as s:
        assert run(s, 1, 0) == ABORTED
        assert [run(s, 1, 1), run(s, 1, 0)] == [REFUSED, REFUSED]
        assert s.vcpu_state(1, 1) is VcpuState.ABORTED


def test_psci_and_smc() -> None:
    steps = [programs.Call(abi.PSCI_VERSION), programs.Call(abi.PSCI_VERSION, insn="smc #0")]
    with boot(programs.script_source(steps)) as s:
        assert s.call(abi.PSCI_VERSION).x0 == 0x10001
        assert s.call(abi.PSCI_VERSION, insn="smc #0").x0 == 0x10001
        assert s.call(0x8400_0015).x0 == ERR  # not a PSCI ID: an unknown hypercall
        run(s, 1)
        assert x0s(s, 1) == [ERR, ERR]  # from a secondary: unknown (CALL-6), not supported (CALL-7)
        assert s.call(abi.PSCI_SYSTEM_OFF).system_off


# --- the core's shape ---------------------------------------------------------------------------


def test_one_writer_of_pending_values() -> None:
    """The core writes a vCPU's pending x0 in ONE helper (``resume_with``), as the 2018 core."""
    tree = ast.parse(Path(core.__file__).read_text())
    writers = {
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Attribute) and node.attr == "resume_x0" and isinstance(node.ctx, ast.Store)
    }
    assert writers == {"resume_with"}


def test_every_step_names_its_clause() -> None:
    """Each public method of the Core (a step a mutant may override) has a docstring naming a
    clause of the profile, or a fact of Hafnium's source."""
    from profiles.hafnium_2019_03 import clauses

    ids = {c.id for c in clauses.CLAUSES}
    for name, fn in vars(core.Core).items():
        if name.startswith("_") or not callable(fn) or name in ("first", "vcpu_state", "resume_with"):
            continue
        doc = fn.__doc__ or ""
        named = {word.strip(".,:;()") for word in doc.replace("/", " ").replace("..", " ").split()} & ids
        assert named or "api.c" in doc, f"Core.{name} names no clause"
