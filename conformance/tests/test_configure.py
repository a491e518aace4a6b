"""§5 Configuring the mailbox pages: CFG-1 .. CFG-5."""

from __future__ import annotations

import pytest

from conformance.harness import ERR, expect, program, script
from guest_asm.programs import Call, CopyRecv, Fill, Rel

MEM = 0x10_0000  # the memory the suite gives each VM it boots
CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))


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
    expect(f"configure(base+{send_off:#x}, base+{recv_off:#x})", hv.configure(base + send_off, base + recv_off), ERR)
    expect("no state change: an aligned configure then succeeds", hv.configure(), 0)


@pytest.mark.clause("CFG-1", "CFG-2")
def test_alignment_checked_before_already_configured(boot):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect("configure", hv.configure(), 0)
    expect("unaligned after success", hv.configure(base + 0x12001, base + 0x13000), ERR)
    expect("aligned after success", hv.configure(base + 0x12000, base + 0x13000), ERR)


@pytest.mark.clause("CFG-1")
def test_secondary_unaligned_refused(boot):
    hv = boot(
        script(
            Call(0xFF03, Rel(0x10800), Rel(0x11000)),
            Call(0xFF03, Rel(0x10000), Rel(0x11004)),
            Call(0xFF03, Rel(0x10000), Rel(0x11000)),
        )
    )
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's configure with send unaligned by 0x800", hv.report(1, 0)[0], ERR)
    expect("VM 1's configure with recv unaligned by 4", hv.report(1, 1)[0], ERR)
    expect("VM 1's aligned configure", hv.report(1, 2)[0], 0)


@pytest.mark.clause("CFG-2")
def test_only_first_success_counts(boot):
    hv = boot(program("configure_twice"), program("receiver"))
    base = hv.base(0)
    expect("configure", hv.configure(), 0)
    expect("configure the same pages again", hv.configure(), ERR)
    expect("configure other pages", hv.configure(base + 0x20000, base + 0x21000), ERR)
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's two configures", [r[0] for r in hv.reports(1)], [0, ERR])
    # The first pages stay in force: a message to VM 2 comes from the primary's first send page.
    hv.write_send_page(b"first")
    hv.session.write(0, base + 0x20000, b"other")
    expect("run(2, 0)", hv.run(2), 0x1)
    expect("send 5 bytes to VM 2", hv.send(2, 5), 0)
    expect("VM 2's recv page", hv.recv_page(5, vm=2), b"first")


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
    expect("run(1, 0)", hv.run(1), 0x1)
    expect(f"VM 1's configure(send={where}, recv=own)", hv.report(1, 0)[0], ERR)
    expect(f"VM 1's configure(send=own, recv={where})", hv.report(1, 1)[0], ERR)
    expect("no state change: VM 1's own configure then succeeds", hv.report(1, 2)[0], 0)


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
    expect(f"configure(send={page:#x}, recv=own)", hv.configure(page, base + 0x11000), ERR)
    expect(f"configure(send=own, recv={page:#x})", hv.configure(base + 0x10000, page), ERR)
    expect("no state change: configure then succeeds", hv.configure(), 0)


@pytest.mark.clause("CFG-3", "CFG-5")
def test_pages_at_the_edges_of_memory(boot):
    hv = boot(script(Call(0xFF03, Rel(MEM - 0x1000), Rel(0x0))))
    expect("run(1, 0)", hv.run(1), 0x1)
    expect("VM 1's configure(last page, first page)", hv.report(1, 0)[0], 0)


@pytest.mark.clause("CFG-3")
def test_secondary_cannot_name_primary_memory(boot):
    hv = boot(program("idle"))
    primary = hv.base(0)
    hv2 = boot(script(Call(0xFF03, primary + 0x10000, primary + 0x11000), Call(0xFF03, Rel(0x10000), Rel(0x11000))))
    expect("run(1, 0)", hv2.run(1), 0x1)
    expect("VM 1 names the primary's pages", hv2.report(1, 0)[0], ERR)
    expect("VM 1 then configures its own", hv2.report(1, 1)[0], 0)


@pytest.mark.clause("CFG-4")
@pytest.mark.parametrize("offset", [0x10000, 0x0, 0xFF000])
def test_same_page_refused(boot, offset):
    hv = boot(program("idle"))
    base = hv.base(0)
    expect("configure(p, p)", hv.configure(base + offset, base + offset), ERR)
    expect("no state change", hv.configure(), 0)


@pytest.mark.clause("CFG-5")
def test_vm_keeps_access_to_its_pages(boot):
    hv = boot(script(Call(0xFF03, Rel(0x10000), Rel(0x11000)), Call(0xFF05, 1), CopyRecv(), Fill(8, 0x61), Call(0xFF04, 0, 16)))
    expect("configure", hv.configure(), 0)
    expect("run(1, 0): VM 1 configures and blocks", hv.run(1), 0x1)
    hv.write_send_page(b"0123456789abcdef")
    expect("send 16 bytes", hv.send(1, 16), 0)
    expect("run(1, 0): VM 1 reads its recv page, writes its send page, sends", hv.run(1), 0x0000001000000003)
    expect("VM 1's configure", hv.report(1, 0)[0], 0)
    expect("the bytes VM 1 copied and wrote", hv.recv_page(16), b"abcdefgh89abcdef")
