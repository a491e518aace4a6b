"""Profile ``hafnium-2019-03``: Hafnium's inter-VM ABI as of commit 53d9d04f (March 2019).

The last state before the SPCI calls: VM_GET_ID and VCPU_YIELD, every call renumbered, send with a
*notify* flag and per-mailbox waiter lists (WRITABLE_GET, WAITER_GET), virtual interrupts
(ENABLE/GET/INJECT), the run codes PREEMPTED..ABORTED, an idempotent clear, and the primary -- not
the hypervisor -- picking the vCPU that receives a message.

What is here, the data layer, read in this order: ``spec.md`` (the normative text),
``clauses.py``, ``abi.py``, ``decode.py``, ``hv.py`` (the calls by name, without ``program()`` /
``script()``). What is not yet: guest programs, the reference core (``core``: the bundled
reference does not claim this profile until it has one), the conformance tests (``tests/``),
``checks.py`` / ``model.py``, the mutant catalogue (``mutants``) and the QEMU facts (``qemu``).
"""

from __future__ import annotations

from pathlib import Path

from profiles import Profile
from profiles.hafnium_2019_03 import clauses, decode

PROFILE = Profile(
    name="hafnium-2019-03",
    title="Hafnium inter-VM ABI, March 2019 (53d9d04f)",
    package=__name__,
    spec=Path(__file__).with_name("spec.md"),
    spec_name="hafnium-2019-03.md",
    sections=clauses.SECTIONS,
    clauses=clauses.CLAUSES,
    hv=f"{__name__}.hv",
    core=f"{__name__}.core",
    foundations=clauses.FOUNDATIONS,
    extra_clauses=(),
    decode=decode.describe,
    call_name=decode.call_name,
    message=decode.message,
    mutants=f"{__name__}.mutants",
    qemu=f"{__name__}.qemu",
)
