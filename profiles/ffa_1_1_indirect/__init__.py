"""Profile ``ffa-1.1-indirect``: Arm FF-A v1.1 indirect messaging as a VM under a normal-world
hypervisor sees it, Hafnium 21bfbdc1 as the reference implementation.

FFA_MSG_SEND2 with a message header in the TX buffer, FFA_MSG_WAIT, FFA_RX_RELEASE, FFA_RUN,
FFA_RXTX_MAP / UNMAP, FFA_ID_GET, FFA_VERSION (and its negotiation), FFA_FEATURES,
FFA_PARTITION_INFO_GET and the RX-buffer-full notification. Results are x0..x7 (FFA_SUCCESS /
FFA_ERROR with a code in w2); x8..x17 are preserved. Where Hafnium departs from the FF-A
specification as cited the clause is implementation-defined and reported as a DEVIATION (§14).

Read in this order: ``spec.md`` (the normative text), ``clauses.py`` (every row, MUST or wholly
IMPL-DEF), ``abi.py``, ``decode.py``, ``hv.py`` (the calls by name), ``programs.py`` +
``programs/`` (the FF-A guest library) and ``guests.py``, ``checks.py`` / ``msg_checks.py``,
``tests/`` (one file per section, every ordered pair, the worked examples), ``core.py`` (the
reference's answer to each call), ``model.py`` + ``scenarios.py``, ``mutants.py`` (the wrong
builds and the specification-behaviour controls), ``qemu.py`` (real 21bfbdc1 images).
"""

from __future__ import annotations

from pathlib import Path

from profiles import Profile
from profiles.ffa_1_1_indirect import clauses, decode

PROFILE = Profile(
    name="ffa-1.1-indirect",
    title="Arm FF-A v1.1 indirect messaging, Hafnium 21bfbdc1",
    package=__name__,
    spec=Path(__file__).with_name("spec.md"),
    spec_name="ffa-1.1-indirect.md",
    sections=clauses.SECTIONS,
    clauses=clauses.CLAUSES,
    hv=f"{__name__}.hv",
    foundations=clauses.FOUNDATIONS,
    extra_clauses=(),
    decode=decode.describe,
    call_name=decode.call_name,
    message=decode.message,
    core=f"{__name__}.core",
    mutants=f"{__name__}.mutants",
    qemu=f"{__name__}.qemu",
)
