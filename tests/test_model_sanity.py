"""The conformance suite's abstract model (``profiles/hafnium_2018_10/model.py``) against the bundled reference.

* The model gives the spec's own numbers for the worked examples of §11 (echo, relay, repeated
  echo, here as scripted secondaries), and so does the reference, call for call.
* A build that deviates is caught by the model-based state machine within the CI budget, and the
  failure reads as a scenario (the scripts and the primary's calls).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.outcomes import ConformanceFailure
from guest_asm.programs import Call, CopyRecv, Rel, Step
from profiles.hafnium_2018_10 import programs
from profiles.hafnium_2018_10.core import Core, MailboxState, Vcpu, Vm
from profiles.hafnium_2018_10.model import ERR, Model, first_difference
from reference_hv import System, VMSpec
from reference_hv.build import ReferenceBuild
from reference_hv.core_api import Answer

with warnings.catch_warnings():  # its clause marks are registered by the conformance plugin, not loaded here
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    from profiles.hafnium_2018_10.scenarios import MailboxMachine

CFG = Call(0xFF03, Rel(0x10000), Rel(0x11000))
ECHO_ROUND: list[Step] = [Call(0xFF05, 1), CopyRecv(), Call(0xFF06), Call(0xFF04, 0, 0, reply=True)]
MEMORY = 0x10_0000


class Pair:
    """The model and a reference System booted with the same scripts, driven in lock step."""

    def __init__(self, scripts: Sequence[Sequence[Step]]) -> None:
        self.system = System([VMSpec(programs.script_source(s), f"s{i}.S") for i, s in enumerate(scripts)])
        bases = [self.system.base(vm) for vm in range(len(scripts) + 1)]
        self.model = Model(scripts, bases, [0x2_0000] + [MEMORY] * len(scripts))

    def call(self, x0: int, x1: int = 0, x2: int = 0) -> int:
        want = self.model.primary_call(x0, x1, x2)
        got = self.system.call(x0, x1, x2).x0
        assert got == want, f"call {x0:#x}({x1:#x}, {x2:#x}): reference {got:#x}, model {want}"
        assert got is not None
        return got

    def write_send_page(self, data: bytes) -> None:
        addr = self.system.base(0) + 0x10000
        self.system.write(0, addr, data)
        self.model.write(0, addr, data)

    def recv_page(self, vm: int, size: int) -> bytes:
        state = self.model.vms[vm]
        assert state.recv is not None
        want, mask = state.mem.read(state.recv, size)
        got = self.system.read(vm, state.recv, size)
        assert first_difference(want, mask, got) is None
        return got

    def receive_reports(self, vm: int) -> list[int]:
        """x0 of each of ``vm``'s reports, checked against the model's."""
        got = [r[0] for r in programs.read_reports(self.system.read(vm, self.system.base(vm) + 0x14000, 176 * 256))]
        want = [r.x0 for r in self.model.secondary(vm).reports]
        assert len(got) == len(want)
        assert all(w is None or g == w for g, w in zip(got, want, strict=True)), (got, want)
        return got


def test_echo_example() -> None:
    pair = Pair([[CFG, CFG, *ECHO_ROUND]])
    msg = b"Echo this back to me!\0"
    assert pair.call(0xFF03, pair.system.base(0) + 0x10000, pair.system.base(0) + 0x11000) == 0
    assert pair.call(0xFF00, 1, 0) == 0x1
    pair.write_send_page(msg)
    assert pair.call(0xFF04, 1, 22) == 0  # the index of the blocked vCPU
    assert pair.call(0xFF00, 1, 0) == 0x0000001600000003
    reports = pair.receive_reports(1)
    assert reports[:3] == [0, ERR, 0x0000001600000000]  # configure; configure again; receive: sender 0, 22
    assert pair.recv_page(0, 22) == msg
    assert pair.call(0xFF06) == 0


def test_relay_example() -> None:
    relay1: list[Step] = [CFG, Call(0xFF05, 1), CopyRecv(), Call(0xFF06), Call(0xFF04, 2, 27)]
    relay2: list[Step] = [CFG, Call(0xFF05, 1), CopyRecv(), Call(0xFF06), Call(0xFF04, 0, 27)]
    pair = Pair([relay1, relay2])
    msg = b"Send this round the relay!\0"
    assert pair.call(0xFF03, pair.system.base(0) + 0x10000, pair.system.base(0) + 0x11000) == 0
    assert pair.call(0xFF00, 1, 0) == 0x1
    assert pair.call(0xFF00, 2, 0) == 0x1
    pair.write_send_page(msg)
    assert pair.call(0xFF04, 1, 27) == 0
    assert pair.call(0xFF00, 1, 0) == 0x20002  # WAKE_UP, VM 2, vCPU 0
    assert pair.call(0xFF00, 2, 0) == 0x0000001B00000003  # MESSAGE, 27
    assert pair.receive_reports(2)[1] == 1 | 27 << 32
    assert pair.recv_page(0, 27) == msg
    assert pair.call(0xFF06) == 0


def test_repeated_echo_example() -> None:
    rounds = 20
    pair = Pair([[CFG, *(ECHO_ROUND * rounds)]])
    assert pair.call(0xFF03, pair.system.base(0) + 0x10000, pair.system.base(0) + 0x11000) == 0
    assert pair.call(0xFF00, 1, 0) == 0x1
    for n in range(rounds):
        msg = f"message {n}: {'x' * n}".encode()
        pair.write_send_page(msg)
        # Round 0: the echo waits in its receive (vCPU 0 woken). Later rounds: it was switched out
        # by its send, so nobody waits (0xffff) and its next receive finds the message unread.
        assert pair.call(0xFF04, 1, len(msg)) == (0 if n == 0 else 0xFFFF)
        assert pair.call(0xFF00, 1, 0) == len(msg) << 32 | 0x3
        assert pair.recv_page(0, len(msg)) == msg
        assert pair.call(0xFF06) == 0
    assert pair.call(0xFF00, 1, 0) == 0x1  # the script ended: wfi
    assert pair.call(0xFF00, 1, 0) == 0x1  # ... for good (RUN-5)
    pair.receive_reports(1)


# --- deliberately wrong builds: the model-based test must catch them -----------------------------


class IdempotentClear(Core):
    """CLR-2 broken: clearing an empty mailbox returns 0 (the 2019-02 behaviour)."""

    def _mailbox_clear(self, vm: Vm, vcpu: Vcpu, x1: int, x2: int, x3: int) -> Answer:
        if vm.mailbox is MailboxState.EMPTY:
            return Answer(0)
        return super()._mailbox_clear(vm, vcpu, x1, x2, x3)


class CopiesOneMore(Core):
    """SEND-7 broken: one byte beyond ``size`` is copied too."""

    def deliver(self, vm: Vm, to: Vm, size: int) -> None:
        super().deliver(vm, to, min(size + 1, 4096))


class NamesTheSender(Core):
    """RUN-7 broken: MESSAGE names the sending VM in bits 31..16."""

    def message_response(self, vm: Vm, size: int) -> int:
        return super().message_response(vm, size) | vm.id << 16


class ReceiveIgnoresUpperBlockBits(Core):
    """RECV-3/4 broken: ``block`` is read as a 32-bit value (spec: any non-zero x1 blocks)."""

    def blocking(self, block: int) -> bool:
        return block & 0xFFFF_FFFF != 0


CI = settings(max_examples=25, stateful_step_count=30, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink))  # fmt: skip


@pytest.mark.parametrize(
    ("core", "examples"),
    [
        (IdempotentClear, 25),
        (CopiesOneMore, 25),
        (NamesTheSender, 25),
        # Rarer: a secondary must receive with only upper bits in x1 while nothing is unread.
        # Within the suite's own budget (25) the RECV-4 tests catch it directly; the model needs 60.
        (ReceiveIgnoresUpperBlockBits, 60),
    ],
)
def test_model_based_test_catches_a_wrong_build(core: type[Core], examples: int) -> None:
    counts = {"systems": 0, "steps": 0, "calls": 0, "runs": 0}
    build = ReferenceBuild(core_class=core)
    with pytest.raises(ConformanceFailure) as info:
        machine = lambda: MailboxMachine(build, counts)  # noqa: E731
        run_state_machine_as_test(machine, settings=settings(CI, max_examples=examples))  # type: ignore[arg-type]
    text = str(info.value)
    print(text)
    assert "expected" in text and "got" in text
    assert "scenario (shrunk by Hypothesis):" in text
    assert "VM 1 script:" in text and "primary:" in text


def test_reference_passes_the_model_based_test() -> None:
    counts = {"systems": 0, "steps": 0, "calls": 0, "runs": 0}
    run_state_machine_as_test(lambda: MailboxMachine(ReferenceBuild(), counts), settings=CI)  # type: ignore[arg-type]
    assert counts["systems"] >= 20 and counts["runs"] > 100
