"""Model-based random testing: random systems of scripted secondaries, driven by a random primary,
compared call by call with the spec's abstract model (``profiles/hafnium_2019_03/model.py``).

Each example boots 1..3 scripted secondaries (1 or 2 vCPUs each, vCPU 0 started) whose scripts
make random configures, sends (with and without notify) of random sizes to random and absent
targets, receives, clears, yields, waiter and writable gets, interrupt enables, gets and injects,
fills, copies, replies, wfi/wfe; then applies random primary rules (configure, send with a random
payload, run, clear, receive, counts, yield, waiter_get, writable_get, interrupt enable/get/inject,
PSCI and smc). After every rule the build's x0 is compared with the model's, and after every run
(and at the end) every secondary's report slots and every tracked page of every VM. A mismatch
is a FAIL counted against the clause of the rule the model applied; its message is the (shrunk)
scenario: the scripts and the primary's call sequence.
"""

from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from profiles.hafnium_2019_03.scenarios import MailboxMachine


@pytest.mark.clause(
    "CALL-2", "CALL-3", "CALL-4", "CALL-5", "CALL-6", "CALL-7",
    "VM-2", "VM-3", "VM-4",
    "RUN-1", "RUN-2", "RUN-3", "RUN-5", "RUN-6", "RUN-7", "RUN-8", "RUN-9", "RUN-12", "RUN-13",
    "CFG-1", "CFG-2", "CFG-3", "CFG-5",
    "SEND-1", "SEND-2", "SEND-3", "SEND-4", "SEND-5", "SEND-6", "SEND-7", "SEND-8",
    "RECV-1", "RECV-2", "RECV-3", "RECV-4",
    "CLR-1", "CLR-2", "CLR-3",
    "WAIT-1", "WAIT-2", "WAIT-4",
)  # fmt: skip
def test_random_systems_match_the_model(hv_build, hf_settings, record_property):
    counts = {"systems": 0, "steps": 0, "calls": 0, "runs": 0}
    budget = hf_settings(max_examples=25, stateful_step_count=30)
    run_state_machine_as_test(lambda: MailboxMachine(hv_build, counts), settings=budget)  # type: ignore[no-untyped-call, arg-type, unused-ignore]
    for key, value in counts.items():
        record_property(f"model_{key}", value)
    c = counts
    print(f"model-based: {c['systems']} systems, {c['steps']} script steps, {c['calls']} primary calls ({c['runs']} runs)")
