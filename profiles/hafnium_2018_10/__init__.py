"""Profile ``hafnium-2018-10``: Hafnium's mailbox ABI as of commit aa039b39 (October 2018).

Read in this order: ``spec.md`` (the normative text), ``clauses.py``, ``abi.py``, ``programs/``,
``core.py`` (the reference's answer to each call), ``model.py`` + ``checks.py`` + ``hv.py``
(what the tests predict and check), ``tests/``, ``mutants.py``, ``decode.py``, ``qemu.py``.
"""

from __future__ import annotations

from pathlib import Path

from profiles import Profile
from profiles.hafnium_2018_10 import clauses, decode

PROFILE = Profile(
    name="hafnium-2018-10",
    title="Hafnium mailbox ABI, October 2018 (aa039b39)",
    package=__name__,
    spec=Path(__file__).with_name("spec.md"),
    spec_name="hafnium-mailbox-abi.md",
    sections=clauses.SECTIONS,
    clauses=clauses.CLAUSES,
    hv=f"{__name__}.hv",
    foundations=clauses.FOUNDATIONS,
    extra_clauses=(clauses.FAULTS,),
    decode=decode.describe,
    call_name=decode.call_name,
    message=decode.message,
    core=f"{__name__}.core",
    mutants=f"{__name__}.mutants",
    qemu=f"{__name__}.qemu",
)
