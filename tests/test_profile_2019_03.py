"""The data layer of profile ``hafnium-2019-03`` against the literal values of its text.

The clause registry is checked cell by cell against ``spec.md``'s tables (``test_clause_registry``
checks the IDs and the vendored copy); the numbers, encoders and readings against literals copied
from the text (§2, §4, §7, §11's worked examples), never from the modules under test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

import profiles
from conformance import harness
from profiles.hafnium_2019_03 import abi, clauses, decode, hv

PROFILE = profiles.get("hafnium-2019-03")
SPEC = PROFILE.spec.read_text()
ERR = 0xFFFF_FFFF_FFFF_FFFF


def table_rows() -> list[tuple[int, list[str]]]:
    """(section, cells) of every clause row of the text, in order; cells split on unescaped ``|``."""
    rows, section = [], 0
    for line in SPEC.splitlines():
        if m := re.match(r"^## (\d+)\. ", line):
            section = int(m.group(1))
        elif re.match(r"^\| [A-Z]+-\d+ \|", line):
            rows.append((section, [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]))
    return rows


#: What clauses.py puts before a Rule cell that is a fragment of its section's lead-in.
PREFIX = {5: "HF_VM_CONFIGURE: ", 7: "HF_MAILBOX_RECEIVE: ", 8: "HF_MAILBOX_CLEAR: "}
SEND_CHECK = "HF_MAILBOX_SEND, checks in order, each → -1, no switch: "


def expected_rule(section: int, cells: list[str]) -> tuple[str, str]:
    cid = cells[0]
    if section == 2:
        _, value, name, x1, x2, x3 = cells
        rule = f"{name} is function ID {value} (x1: {x1}, x2: {x2}, x3: {x3})".replace("–", "-")  # noqa: RUF001
        return rule, "call.h; handler.c `hvc_handler`"
    _, rule, source = cells
    if section == 6:
        prefix = SEND_CHECK if int(cid.split("-")[1]) <= 5 else "HF_MAILBOX_SEND: "
    elif cid in ("RUN-1", "RUN-2"):
        prefix = "HF_VCPU_RUN: "
    else:
        prefix = PREFIX.get(section, "")
    return prefix + rule, source


# --- clauses -------------------------------------------------------------------------------------


def test_every_clause_is_its_row_of_the_text_in_order() -> None:
    rows = table_rows()
    assert len(rows) == len(PROFILE.clauses) == 62
    for (section, cells), clause in zip(rows, PROFILE.clauses, strict=True):
        assert clause.id == cells[0]
        assert clause.section == section, clause.id
        assert (clause.rule, clause.source) == expected_rule(section, cells), clause.id
    families = {"CALL": 7, "ID": 14, "VM": 4, "RUN": 13, "CFG": 5, "SEND": 8, "RECV": 4, "CLR": 3, "WAIT": 4}
    assert {f: sum(c.id.startswith(f + "-") for c in PROFILE.clauses) for f in families} == families


def test_sections_are_the_texts_titles() -> None:
    headings = dict(re.findall(r"^## (\d+)\. (.*?)(?: \([A-Z]+\))?$", SPEC, flags=re.M))
    assert PROFILE.sections == clauses.SECTIONS
    assert set(PROFILE.sections) == {c.section for c in PROFILE.clauses} == set(range(1, 10))
    for number, title in PROFILE.sections.items():
        assert headings[str(number)] == title
    assert PROFILE.sections[4] == "Running" and PROFILE.sections[9] == "Writability notification"


def test_implementation_defined_parts_are_the_strength_paragraphs() -> None:
    impl = {c.id: c.impl_defined for c in PROFILE.clauses if c.impl_defined}
    # PSCI beyond VERSION and SYSTEM_OFF; the primary's vCPU count; the time slice; ns with a timer armed.
    assert set(impl) == {"CALL-6", "VM-4", "RUN-4", "RUN-2", "RUN-5", "RUN-7"}
    assert "PSCI" in impl["CALL-6"] and "primary" in impl["VM-4"] and "time slice" in impl["RUN-4"]
    assert all("HF_SLEEP_INDEFINITE" in impl[c] for c in ("RUN-2", "RUN-5", "RUN-7"))
    # A fault is ABORTED (RUN-11), a MUST: no FAULT pseudo-clause in this profile.
    assert PROFILE.extra_clauses == () and not PROFILE.get("RUN-11").impl_defined
    assert "ABORTED `0x7`" in PROFILE.get("RUN-11").rule


def test_foundations() -> None:
    assert PROFILE.layer("CALL-1") == 0
    for cid in ("CALL-2", "CALL-3", "CALL-4", *(f"ID-{n}" for n in range(1, 15))):
        assert PROFILE.layer(cid) == 1, cid
    assert PROFILE.layer("VM-1") == 2
    assert len(PROFILE.foundations) == 1 + 3 + 14 + 1
    for cid in ("CALL-5", "CALL-6", "CALL-7", "VM-2", "RUN-1", "SEND-1", "WAIT-4"):
        assert PROFILE.layer(cid) == profiles.ABOVE_FOUNDATIONS, cid
    assert set(PROFILE.foundations) <= {c.id for c in PROFILE.clauses}


def test_descriptor() -> None:
    assert PROFILE.name == "hafnium-2019-03" and PROFILE.spec_name == "hafnium-2019-03.md"
    assert PROFILE.spec.name == "spec.md" and PROFILE.spec.parent.name == "hafnium_2019_03"
    assert PROFILE.qualified("SEND-5") == "hafnium-2019-03:SEND-5"
    assert PROFILE.module("hv") is hv
    assert (PROFILE.mutants, PROFILE.qemu) == ("profiles.hafnium_2019_03.mutants", "profiles.hafnium_2019_03.qemu")
    assert profiles.DEFAULT == "hafnium-2018-10"


# --- numbers -------------------------------------------------------------------------------------

#: §2, copied from the text.
FUNCTION_IDS = {
    "HF_VM_GET_ID": 0xFF00,
    "HF_VM_GET_COUNT": 0xFF01,
    "HF_VCPU_GET_COUNT": 0xFF02,
    "HF_VCPU_RUN": 0xFF03,
    "HF_VCPU_YIELD": 0xFF04,
    "HF_VM_CONFIGURE": 0xFF05,
    "HF_MAILBOX_SEND": 0xFF06,
    "HF_MAILBOX_RECEIVE": 0xFF07,
    "HF_MAILBOX_CLEAR": 0xFF08,
    "HF_MAILBOX_WRITABLE_GET": 0xFF09,
    "HF_MAILBOX_WAITER_GET": 0xFF0A,
    "HF_INTERRUPT_ENABLE": 0xFF0B,
    "HF_INTERRUPT_GET": 0xFF0C,
    "HF_INTERRUPT_INJECT": 0xFF0D,
}


def test_function_ids() -> None:
    table = {cells[2]: int(cells[1], 16) for section, cells in table_rows() if section == 2}
    assert table == FUNCTION_IDS
    assert abi.HYPERCALLS == FUNCTION_IDS
    assert abi.HF_VCPU_RUN == 0xFF03 and abi.HF_MAILBOX_SEND == 0xFF06 and abi.HF_INTERRUPT_INJECT == 0xFF0D
    for name, value in FUNCTION_IDS.items():  # hv.py's and decode.py's own literals agree
        assert getattr(hv, name) == value, name
        assert decode.CALL_NAMES[value] == name
    assert abi.HF_SHARE_MEMORY == 0xFF0E and "HF_SHARE_MEMORY" not in abi.HYPERCALLS


def test_run_codes_and_constants() -> None:
    assert abi.RUN_CODES == {
        "PREEMPTED": 0,
        "YIELD": 1,
        "WAIT_FOR_INTERRUPT": 2,
        "WAIT_FOR_MESSAGE": 3,
        "WAKE_UP": 4,
        "MESSAGE": 5,
        "NOTIFY_WAITERS": 6,
        "ABORTED": 7,
    }
    assert decode.RUN_CODES == {v: k for k, v in abi.RUN_CODES.items()}
    assert abi.HF_SLEEP_INDEFINITE == 0x00FF_FFFF_FFFF_FFFF
    assert abi.HF_ERROR == ERR == abi.SMCCC_RETURN_UNKNOWN
    assert (abi.HF_PRIMARY_VM_ID, abi.HF_INVALID_VM_ID, abi.HF_INVALID_INTID) == (0, 0xFFFFFFFF, 0xFFFFFFFF)
    assert (abi.HF_NUM_INTIDS, abi.HF_MAILBOX_READABLE_INTID, abi.HF_MAILBOX_WRITABLE_INTID) == (64, 1, 2)
    assert abi.HF_VIRTUAL_TIMER_INTID == 3 and abi.HF_MAILBOX_SIZE == 4096 == abi.PAGE_SIZE
    assert abi.HF_VCPU_RUN_REFUSED == 0xFFFFFFFFFFFFFF02
    assert abi.HF_MAILBOX_RECEIVE_NOTHING == abi.HF_INTERRUPT_GET_NONE == 0x00000000FFFFFFFF
    assert (abi.PSCI_VERSION, abi.PSCI_VERSION_RESULT, abi.PSCI_LAST) == (0x84000000, 0x10001, 0x84000014)
    assert abi.FUNCTION_ID_IGNORED_BIT == 0x40000000
    assert abi.HF_WAITERS_TO_NOTIFY == 1 == abi.HF_INJECT_FIRST_PENDING


def test_equ_source() -> None:
    equ = abi.equ_source()
    for line in (
        ".equ HF_VM_GET_ID, 0xff00\n",
        ".equ HF_MAILBOX_SEND, 0xff06\n",
        ".equ HF_INTERRUPT_INJECT, 0xff0d\n",
        ".equ HF_SLEEP_INDEFINITE, 0xffffffffffffff\n",
        ".equ HF_INVALID_VM_ID, 0xffffffff\n",
        ".equ HF_VCPU_RUN_WAIT_FOR_MESSAGE, 0x3\n",
        ".equ HF_VCPU_RUN_ABORTED, 0x7\n",
        ".equ HF_MAILBOX_WRITABLE_INTID, 0x2\n",
        ".equ LIB_SEND_PAGE, ",  # the library layout's, as for every profile
    ):
        assert line in equ
    assert abi.constants()["HF_VCPU_RUN"] == 0xFF03
    assert "HF_SHARE_MEMORY" not in abi.constants()


# --- encoders on the text's values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "literal", "encoded"),
    [
        # §11 echo: MESSAGE, vm 0, size 22
        ("§11", "0x0000001600000005", lambda: abi.run_message(0, 22)),
        # §11 relay: MESSAGE to VM 2, size 0 (recipient a secondary); then to the primary, size 3
        ("§11", "0x20005", lambda: abi.run_message(2, 0)),
        ("§11", "0x0000000300000005", lambda: abi.run_message(0, 3)),
        # §11 notify on configure: NOTIFY_WAITERS
        ("§11", "0x6", lambda: abi.run_response(abi.HF_VCPU_RUN_NOTIFY_WAITERS)),
        # §11 echo: the service blocked in receive (RUN-7: WAIT_FOR_MESSAGE, ns=INDEF)
        ("§11", "0xFFFFFFFFFFFFFF03", lambda: abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE)),
        # §11 echo: YIELD
        ("§11", "0x1", lambda: abi.run_response(abi.HF_VCPU_RUN_YIELD)),
        # the rows' own values
        ("RUN-1", "0xFFFFFFFFFFFFFF02", lambda: abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT)),
        ("RUN-8", "0x0000000300000005", lambda: abi.run_response(abi.HF_VCPU_RUN_MESSAGE, size=3)),
        ("RUN-13", "0x00000000FFFFFFFF", lambda: abi.receive_response(abi.HF_INVALID_VM_ID, 0)),
        ("WAIT-4", "0x00000000FFFFFFFF", lambda: abi.HF_INTERRUPT_GET_NONE),
    ],
)
def test_worked_examples(where: str, literal: str, encoded: Any) -> None:
    text = SPEC.split("## 11. ", 1)[1] if where == "§11" else PROFILE.get(where).rule
    assert literal in text
    assert encoded() == int(literal, 16)


def test_run_encodings() -> None:
    assert abi.run_response(abi.HF_VCPU_RUN_PREEMPTED) == 0x0  # RUN-4
    assert abi.run_response(abi.HF_VCPU_RUN_ABORTED) == 0x7  # RUN-11
    assert abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT) == 0xFFFFFFFFFFFFFF02 == abi.HF_VCPU_RUN_REFUSED
    # WAKE_UP `4 | vcpu<<16 | vm<<32` (RUN-10): vm_id in 63..32, vcpu in 31..16
    assert abi.run_wake_up(vm_id=1, vcpu=1) == 0x0000000100010004
    assert abi.run_response(abi.HF_VCPU_RUN_WAKE_UP, vm_id=3, vcpu=2) == 0x0000000300020004
    assert abi.run_response(abi.HF_VCPU_RUN_MESSAGE, vm_id=2) == 0x20005
    assert abi.run_wait(abi.HF_VCPU_RUN_WAIT_FOR_INTERRUPT, ns=1000) == 1000 << 8 | 2
    assert abi.run_response(abi.HF_VCPU_RUN_WAIT_FOR_MESSAGE, ns=0) == 0x3
    with pytest.raises(ValueError, match="vm_id=0x10000 does not fit"):
        abi.run_message(0x10000, 0)
    with pytest.raises(ValueError, match="has no ns field"):
        abi.run_response(abi.HF_VCPU_RUN_MESSAGE, vm_id=1, ns=5)
    with pytest.raises(ValueError, match="has no size field"):
        abi.run_response(abi.HF_VCPU_RUN_YIELD, size=1)
    with pytest.raises(ValueError, match="not a run code"):
        abi.run_response(8)
    with pytest.raises(ValueError, match="has no ns field"):
        abi.run_wait(abi.HF_VCPU_RUN_MESSAGE)


def test_receive_encoding() -> None:
    assert abi.receive_response(abi.HF_INVALID_VM_ID, 0) == 0x00000000FFFFFFFF  # §7 "nothing"
    assert abi.receive_response(0, 22) == 0x0000001600000000  # echo's receive of the primary's 22 bytes
    assert abi.receive_response(1, 7) == 0x0000000700000001
    with pytest.raises(ValueError, match="size"):
        abi.receive_response(0, 1 << 32)


# --- readings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "what", "reading"),
    [
        (0x0000001600000005, "HF_VCPU_RUN", "MESSAGE to VM 0, size 22"),
        (0x20005, "run(1, 0)", "MESSAGE to VM 2, size 0"),
        (0x6, "HF_VCPU_RUN", "NOTIFY_WAITERS"),
        (0x0, "run of VM 1", "PREEMPTED"),
        (0x1, "HF_VCPU_RUN", "YIELD"),
        (0x7, "HF_VCPU_RUN", "ABORTED"),
        (0xFFFFFFFFFFFFFF02, "HF_VCPU_RUN", "WAIT_FOR_INTERRUPT, ns=INDEF"),
        (0xFFFFFFFFFFFFFF03, "HF_VCPU_RUN", "WAIT_FOR_MESSAGE, ns=INDEF"),
        (1000 << 8 | 3, "HF_VCPU_RUN", "WAIT_FOR_MESSAGE, ns=1000"),
        (0x0000000300020004, "HF_VCPU_RUN", "WAKE_UP VM 3, vCPU 2"),
        (0x17, "HF_VCPU_RUN", "not a run response (code 0x17)"),
        (0x106, "HF_VCPU_RUN", "NOTIFY_WAITERS (bits 63..8 0x1, must be 0)"),
        (ERR, "HF_VCPU_RUN", "-1"),
        (ERR, "HF_MAILBOX_SEND", "-1"),
        (0x00000000FFFFFFFF, "HF_MAILBOX_RECEIVE", "nothing to receive (0xffffffff, size 0)"),
        (0x0000001600000000, "the secondary's receive", "message from VM 0, size 22"),
        (0x00000000FFFFFFFF, "HF_INTERRUPT_GET", "no enabled+pending interrupt"),
        (1, "HF_INTERRUPT_GET", "interrupt 1"),
        (0, "HF_MAILBOX_WAITER_GET", "VM 0"),
        (1, "HF_MAILBOX_WRITABLE_GET", "VM 1"),
        (1, "HF_MAILBOX_CLEAR", "1: waiters to notify"),
        (1, "HF_VM_CONFIGURE", "1: waiters to notify"),
        (0, "HF_MAILBOX_CLEAR", ""),
        (0, "HF_MAILBOX_SEND", ""),
        (3, "HF_VM_GET_COUNT", ""),
        (0, "HF_VM_GET_ID", ""),
        (0x10001, "PSCI_VERSION", "PSCI 1.1"),
    ],
)
def test_describe(value: int, what: str, reading: str) -> None:
    assert decode.describe(value, what) == reading
    assert PROFILE.decode is decode.describe


def test_shown_in_a_report() -> None:
    assert PROFILE.shown(0x20005, "HF_VCPU_RUN") == "0x0000000000020005 (MESSAGE to VM 2, size 0)"
    assert PROFILE.shown(ERR, "HF_MAILBOX_SEND") == "0xffffffffffffffff (-1)"


@pytest.mark.parametrize(
    ("x0", "name"),
    [
        (0xFF06, "HF_MAILBOX_SEND"),
        (0xFF03, "HF_VCPU_RUN"),
        (0x4000FF00, "HF_VM_GET_ID (x0=0x4000ff00)"),  # CALL-3's probe values
        (0xFFFFFFFF0000FF00, "HF_VM_GET_ID (x0=0xffffffff0000ff00)"),
        (0xFF0F, "0xff0f"),  # CALL-4's probe: unknown
        (0xFF0E, "HF_SHARE_MEMORY"),
        (0x84000000, "PSCI_VERSION"),
        (0xC4000008, "PSCI_SYSTEM_OFF (x0=0xc4000008)"),
        (0x84000014, "PSCI 0x84000014"),
        (0x84000015, "0x84000015"),  # not a PSCI 1.1 ID (CALL-6)
    ],
)
def test_call_name(x0: int, name: str) -> None:
    assert decode.call_name(x0) == name
    assert PROFILE.call_name is decode.call_name


def test_message_arrows() -> None:
    assert decode.message("HF_MAILBOX_SEND", (0xFF06, 1, 22, 0), 0) == (1, 22)
    assert decode.message("HF_MAILBOX_SEND (x0=0x4000ff06)", (0x4000FF06, 0xFFFFFFFF00000002, 3, 1), 0) == (2, 3)
    assert decode.message("HF_MAILBOX_SEND", (0xFF06, 1, 0, 1), ERR) is None  # a failed (notify) send
    assert decode.message("HF_MAILBOX_RECEIVE", (0xFF07, 1, 0, 0), 0) is None
    assert PROFILE.message is decode.message


# --- the calls by name ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    regs: tuple[int, ...]
    fault: None = None
    timeout: None = None
    system_off: bool = False


@dataclass
class _Session:
    """Records the primary's calls; answers 0 (base 0 for the default pages)."""

    calls: list[tuple[int, int, int, int, str]] = field(default_factory=list)

    def call(self, x0: int, x1: int, x2: int, x3: int, *, regs: Any = None, insn: str = "hvc #0") -> _Outcome:
        self.calls.append((x0, x1, x2, x3, insn))
        return _Outcome((0,) * 31)

    def base(self, vm: int) -> int:
        return 0x4000_0000


def test_hv_calls_by_name() -> None:
    session = _Session()
    h = hv.Hv(build=None, session=session, guests=(), profile=PROFILE)  # type: ignore[arg-type]
    h.vm_id()
    h.vm_count()
    h.vcpu_count(1)
    h.run_once(1, 0)
    h.yield_()
    h.configure()
    h.send(2, 11, 1)
    h.receive(1)
    h.clear()
    h.writable_get()
    h.waiter_get(1)
    h.interrupt_enable(2)
    h.interrupt_get()
    h.interrupt_inject(1, 0, 2)
    assert [c[:4] for c in session.calls] == [
        (0xFF00, 0, 0, 0),
        (0xFF01, 0, 0, 0),
        (0xFF02, 1, 0, 0),
        (0xFF03, 1, 0, 0),
        (0xFF04, 0, 0, 0),
        (0xFF05, 0x4000_0000 + harness.SEND_PAGE, 0x4000_0000 + harness.RECV_PAGE, 0),
        (0xFF06, 2, 11, 1),
        (0xFF07, 1, 0, 0),
        (0xFF08, 0, 0, 0),
        (0xFF09, 0, 0, 0),
        (0xFF0A, 1, 0, 0),
        (0xFF0B, 2, 1, 0),
        (0xFF0C, 0, 0, 0),
        (0xFF0D, 1, 0, 2),
    ]
    assert h.log[6] == "hvc #0 HF_MAILBOX_SEND x1=0x2 x2=0xb x3=0x1 -> 0x0000000000000000"


def test_run_goes_on_through_preemptions_only() -> None:
    answers = iter([0x0, 0x0, 0x1])

    class Session(_Session):
        def call(self, x0: int, x1: int, x2: int, x3: int, *, regs: Any = None, insn: str = "hvc #0") -> _Outcome:
            super().call(x0, x1, x2, x3, regs=regs, insn=insn)
            return _Outcome((next(answers),) + (0,) * 30)

    session = Session()
    h = hv.Hv(build=None, session=session, guests=(), profile=PROFILE)  # type: ignore[arg-type]
    assert h.run(1) == 0x1  # YIELD is returned: only PREEMPTED (0x0) is run through
    assert len(session.calls) == 3


def _blamed_by_expect_calls(got: list[int | str], expected: list[int], probes: Sequence[str | None]) -> tuple[str, ...] | None:
    from conformance.outcomes import ConformanceFailure
    from profiles.hafnium_2019_03.checks import expect_calls

    try:
        expect_calls("calls", got, expected, probes, clause="RUN-4")
    except ConformanceFailure as e:
        return tuple(e.clauses or ())
    return None


def test_expect_calls_blames_a_marker_only_when_it_is_wrong_throughout() -> None:
    probes = ["VM-2", "VM-3", "VM-2", "VM-3"]
    assert _blamed_by_expect_calls([1, 2, 1, 2], [1, 2, 1, 2], probes) is None
    assert _blamed_by_expect_calls([0, 2, 0, 2], [1, 2, 1, 2], probes) == ("VM-2",)  # every HF_VM_GET_ID wrong
    assert _blamed_by_expect_calls([1, 2, 0, 2], [1, 2, 1, 2], probes) == ("RUN-4",)  # one of two: not the marker's rule
    assert _blamed_by_expect_calls([1, 2, 1], [1, 2, 1, 2], probes) == ("RUN-4",)  # a missing call
    assert _blamed_by_expect_calls([2, 0, 9], [2, 0, 2], ["VM-2", None, "VM-2"]) == ("RUN-4",)  # first wrong is VM-2's, not all
    assert _blamed_by_expect_calls([2, 5, 2], [2, 0, 2], ["VM-2", None, "VM-2"]) == ("RUN-4",)  # the checked answer


def test_a_fault_at_a_vm_s_own_send_page_blames_cfg_4() -> None:
    """A guest fault that stopped the system at the VM's own send page breaks CFG-4 (the send page
    stays read-write); any other fault counts against the call's clause (None here)."""
    from types import SimpleNamespace

    class Session:
        def base(self, vm: int) -> int:
            return 0x4000_0000 + vm * 0x10_0000

    h = hv.Hv.__new__(hv.Hv)
    h.session = Session()  # type: ignore[assignment]
    h.guests = (None, None)  # type: ignore[assignment]
    send = 0x4010_0000 + 0x10000
    assert h.fault_clause(SimpleNamespace(vm=1, address=send)) == "CFG-4"
    assert h.fault_clause(SimpleNamespace(vm=1, address=send + 0xFFF)) == "CFG-4"
    assert h.fault_clause(SimpleNamespace(vm=1, address=send + 0x1000)) is None  # the recv page
    assert h.fault_clause(SimpleNamespace(vm=2, address=send)) is None  # another VM's
    assert h.fault_clause(SimpleNamespace(vm=3, address=send)) is None  # no such VM
    assert h.fault_clause(SimpleNamespace(vm=1, address=None)) is None
