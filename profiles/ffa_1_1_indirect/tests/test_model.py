"""Model-based random testing: random systems of scripted secondaries, driven by a random primary,
compared call by call with the text's abstract model (``profiles/ffa_1_1_indirect/model.py``).

Each example boots 1..3 scripted secondaries (FFA_VERSION, FFA_RXTX_MAP_64, then random sends of
random headers to the primary, to each other, to themselves and to absent or secure IDs, waits,
notification retrievals, releases, reads of RX, yields), then applies random primary rules (sends,
runs, releases, retrievals, FFA_NOTIFICATION_INFO_GET_64, FFA_PARTITION_INFO_GET, map / unmap,
FFA_FEATURES, FFA_ID_GET, FFA_VERSION after negotiation, FFA_MSG_WAIT, unhandled IDs). Every x0..x7
the primary gets, every report of every secondary and every known byte of every RX buffer is
compared with the model; x8..x17 with the caller's (CONV-5). A mismatch is a FAIL of the clause the
model names, with the (shrunk) scenario. A build taking the specification's side of a DEVIATION
clause (§14) is followed, and reported at the end as a DEVIATION of it.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from profiles.ffa_1_1_indirect.scenarios import IndirectMachine


@pytest.mark.clause(
    "CONV-1", "CONV-3", "CONV-4", "CONV-5", "CONV-7",
    "VER-1", "VER-2", "VER-4", "IDG-1",
    "FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4",
    "MAP-1", "MAP-4", "MAP-6",
    "PIG-1", "PIG-2", "PIG-5", "PIG-6",
    "HDR-1", "HDR-2", "HDR-3", "HDR-4", "HDR-5", "HDR-7",
    "SEND-1", "SEND-2", "SEND-3", "SEND-4", "SEND-5", "SEND-7", "SEND-9", "SEND-10", "SEND-11",
    "SEND-12", "SEND-13", "SEND-16", "SEND-17", "SEND-18",
    "NOTIF-1", "NOTIF-2", "NOTIF-4",
    "REL-1", "REL-2", "REL-3", "REL-5",
    "WAIT-1", "WAIT-2", "WAIT-3", "WAIT-6", "WAIT-10",
    "RUN-1", "RUN-2",
)  # fmt: skip
def test_random_systems_match_the_model(hv_build, hf_settings, record_property, pytestconfig):
    counts = {"systems": 0, "steps": 0, "calls": 0, "runs": 0}
    budget = hf_settings(max_examples=60, stateful_step_count=40)
    if pytestconfig.pluginmanager.hasplugin("conformance.selftest"):
        # A self-test run needs a verdict, not a minimal scenario (the fixture's budget re-registers
        # hf-ci with shrinking, over the self-test plugin's profile without it).
        budget = settings(budget, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_state_machine_as_test(lambda: IndirectMachine(hv_build, counts), settings=budget)  # type: ignore[no-untyped-call, arg-type, unused-ignore]
    for key, value in counts.items():
        record_property(f"model_{key}", value)
    c = counts
    print(f"model-based: {c['systems']} systems, {c['steps']} script steps, {c['calls']} primary calls ({c['runs']} runs)")
