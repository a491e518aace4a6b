"""§5 Configuring the mailbox pages: CFG-1 .. CFG-5."""

from __future__ import annotations

import pytest

from conformance.harness import expect
from guest_asm.programs import Call, CopyRecv, Fill, Rel
from profiles.hafnium_2018_10.checks import expect_err, received_clause, report_of, woken_clause
from profiles.hafnium_2018_10.hv import ERR, program, script

MEM = 0x10_0000  # the memory the suite gives each VM it boots
CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


def _success_clause(result: int, refused: str) -> str:
    """The clause a configure that must succeed fails: -1 is a refusal (``refused``: e.g. a refused
    configure before it changed state, or a good page refused); any other value is a wrong
    success value (CFG-5)."""
    return refused if result == ERR else "CFG-5"


@pytest.mark.clause("CFG-1")
@pytest.mark.parametrize(
    ("send_off", "recv_off"),
    [
        (0x10001, 0x11000),
        (0x10000, 0x11001),
        (0x10001, 0x11001),
        (0x10800, 0x11000),
        (0x10000, 0x11800),
        (0x10800, 0x11800),
        (0x10FFF, 0x11000),
    ],
)
def test_unaligned_pages_refused(boot, send_off, recv_off):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect_err(f"configure(base+{send_off:#x}, base+{recv_off:#x})", hv.configure(base + send_off, base + recv_off))
    result = hv.configure()
    expect("no state change: an aligned configure then succeeds", result, 0, clause=_success_clause(result, "CFG-1"))


@pytest.mark.clause("CFG-1", "CFG-2")
def test_alignment_checked_before_already_configured(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("unaligned after success", hv.configure(base + 0x12001, base + 0x13000), clause="CFG-1")
    expect_err("aligned after success", hv.configure(base + 0x12000, base + 0x13000), clause="CFG-2")


@pytest.mark.clause("CFG-1")
def test_secondary_unaligned_refused(boot):
    hv = boot(
        script(
            Call(0xFF03, Rel(0x10800), Rel(0x11000)),
            Call(0xFF03, Rel(0x10000), Rel(0x11004)),
            Call(0xFF03, Rel(0x10000), Rel(0x11000)),
        )
    )
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_err("VM 1's configure with send unaligned by 0x800", hv.report(1, 0)[0])
    expect_err("VM 1's configure with recv unaligned by 4", hv.report(1, 1)[0])
    result = hv.report(1, 2)[0]
    expect("VM 1's aligned configure", result, 0, clause=_success_clause(result, "CFG-1"))


@pytest.mark.clause("CFG-2")
def test_only_first_success_counts(boot):
    # Two systems of one secondary each, so that VM 1 is the program named whatever the load order.
    second = boot(program("configure_twice"))
    expect("run(1, 0): VM 1 configures twice, ends in wfi", second.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect("VM 1's reports", len(second.reports(1)), 2)
    expect("VM 1's first configure", second.report(1, 0)[0], 0, clause="CFG-5")
    expect_err("VM 1's second configure", second.report(1, 1)[0])
    hv = boot(program("receiver"))
    base = hv.base(0)
    expect("configure", hv.configure(), 0, clause="CFG-5")
    expect_err("configure the same pages again", hv.configure())
    expect_err("configure other pages", hv.configure(base + 0x12000, base + 0x13000))
    # The first pages stay in force: a message to VM 1 comes from the primary's first send page.
    hv.write_send_page(b"first")
    hv.session.write(0, base + 0x12000, b"other")
    expect("run(1, 0): the receiver blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    sent = hv.send(1, 5)
    expect("send 5 bytes to VM 1", sent, 0, clause=woken_clause(sent))
    page = hv.recv_page(5, vm=1)
    # The other page's bytes: the second configure took effect (CFG-2); anything else: the copy (SEND-7).
    expect("VM 1's recv page", page, b"first", clause="CFG-2" if page == b"other" else "SEND-7")


@pytest.mark.clause("CFG-3")
@pytest.mark.parametrize("where", ["zero", "below", "end", "far", "top", "upper_bit"])
def test_secondary_pages_outside_own_memory_refused(boot, where):
    # A secondary's memory is exactly what it was given (here 1 MiB from its base). The primary's
    # extent is the build's choice (VM-5: Hafnium maps it nearly all of RAM), so these run on VM 1.
    pages: dict[str, int | Rel] = {
        "zero": 0x0,
        "below": Rel(-0x1000),
        "end": Rel(MEM),
        "far": 0x7_0000_0000,
        "top": 0xFFFF_FFFF_FFFF_F000,
        "upper_bit": Rel((1 << 63) + 0x10000),
    }
    page = pages[where]
    hv = boot(script(Call(0xFF03, page, Rel(0x11000)), Call(0xFF03, Rel(0x10000), page), CFG))
    # A run that never comes back is the refused configures' (the script's only other calls).
    response = hv.run(1, clause="RUN-5", stop_clause="CFG-3")
    expect("run(1, 0) after the script ends in wfi", response, 0x1, clause="RUN-5")
    expect_err(f"VM 1's configure(send={where}, recv=own)", hv.report(1, 0)[0])
    expect_err(f"VM 1's configure(send=own, recv={where})", hv.report(1, 1)[0])
    result = hv.report(1, 2)[0]
    expect("no state change: VM 1's own configure then succeeds", result, 0, clause=_success_clause(result, "CFG-3"))


@pytest.mark.clause("CFG-3", "VM-5")
@pytest.mark.parametrize("where", ["other_vm", "top", "upper_bit"])
def test_primary_pages_outside_own_memory_refused(boot, where):
    hv = boot(program("idle"))
    base, other = hv.base(0), hv.base(1)
    page = {
        "other_vm": other + 0x10000,  # a secondary's memory is never the primary's
        "top": 0xFFFF_FFFF_FFFF_F000,  # beyond any physical address
        "upper_bit": (1 << 63) | (base + 0x10000),  # addresses are 64 bits: this is not base + 0x10000
    }[where]
    expect_err(f"configure(send={page:#x}, recv=own)", hv.configure(page, base + 0x11000, clause="CFG-3"), clause="CFG-3")
    expect_err(f"configure(send=own, recv={page:#x})", hv.configure(base + 0x10000, page, clause="CFG-3"), clause="CFG-3")
    result = hv.configure()
    expect("no state change: configure then succeeds", result, 0, clause=_success_clause(result, "CFG-3"))


@pytest.mark.clause("CFG-3", "CFG-5")
def test_pages_at_the_edges_of_memory(boot):
    hv = boot(script(Call(0xFF03, Rel(MEM - 0x1000), Rel(0x0))))
    expect("run(1, 0) after the script ends in wfi", hv.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    result = hv.report(1, 0)[0]
    # -1: a page of VM 1's own memory refused (CFG-3); another value: a wrong success value (CFG-5).
    expect("VM 1's configure(last page, first page)", result, 0, clause=_success_clause(result, "CFG-3"))


@pytest.mark.clause("CFG-3")
def test_secondary_cannot_name_primary_memory(boot):
    hv = boot(program("idle"))
    primary = hv.base(0)
    hv2 = boot(script(Call(0xFF03, primary + 0x10000, primary + 0x11000), Call(0xFF03, Rel(0x10000), Rel(0x11000))))
    expect("run(1, 0) after the script ends in wfi", hv2.run(1, clause="RUN-5"), 0x1, clause="RUN-5")
    expect_err("VM 1 names the primary's pages", hv2.report(1, 0)[0])
    result = hv2.report(1, 1)[0]
    expect("VM 1 then configures its own", result, 0, clause=_success_clause(result, "CFG-3"))


@pytest.mark.clause("CFG-4")
@pytest.mark.parametrize("offset", [0x10000, 0x0, 0xFF000])
def test_same_page_refused(boot, offset):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect_err("configure(p, p)", hv.configure(base + offset, base + offset))
    result = hv.configure()
    expect("no state change: configure then succeeds", result, 0, clause=_success_clause(result, "CFG-4"))


@pytest.mark.clause("CFG-5")
def test_vm_keeps_access_to_its_pages(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), CopyRecv(), Fill(8, 0x61), Call(0xFF04, 0, 16)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures and blocks", hv.run(1, clause="RUN-6"), 0x1, clause="RUN-6")
    hv.write_send_page(b"0123456789abcdef")
    sent = hv.send(1, 16)
    expect("send 16 bytes", sent, 0, clause=woken_clause(sent))
    expect("VM 1's recv page", hv.recv_page(16, vm=1), b"0123456789abcdef", clause="SEND-7")
    answer = hv.run(1, clause="RUN-7")
    expect("VM 1's configure", hv.report(1, 0)[0], 0)
    # No report of the receive: the send woke no vCPU that ran (SEND-9).
    received = report_of(hv, 1, 1, "SEND-9")[0]
    expect("VM 1's receive", received, 0x0000001000000000, clause=received_clause(received, 0, 16))
    expect("VM 1's send page: the bytes it copied from its recv page and wrote", hv.send_page(16, vm=1), b"abcdefgh89abcdef")
    expect("run(1, 0): VM 1 reads its recv page, writes its send page, sends", answer, 0x0000001000000003, clause="RUN-7")
    expect("the primary's recv page", hv.recv_page(16), b"abcdefgh89abcdef", clause="SEND-7")
