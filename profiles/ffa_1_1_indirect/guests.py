"""The ``ffa-1.1-indirect`` secondaries a test boots: a program of the guest library, or a script.

``program("echo")``, ``program("sender", TO=4, SIZE=8)``: a library program (``programs/*.S``)
with its parameters. ``script(*programs.setup(), programs.msg_wait(), programs.ReadRx())``: the
scripted secondary (:mod:`profiles.ffa_1_1_indirect.programs`), reporting after every step. A
library program or script reports into its VM's report slots, read with ``hv.reports(index)``
(``index`` = the VM's position in the system: 0 is the primary, partition ID 1; the secondary
booted n-th is index n, partition ID n + 1 under Hafnium's numbering, ID-3).
"""

from __future__ import annotations

from conformance.protocol import GuestVM
from profiles.ffa_1_1_indirect import programs

__all__ = ["program", "script"]


def program(name: str, *, memory: int = 0x10_0000, vcpus: int = 1, ready_vcpus: int = 1, **params: int) -> GuestVM:
    """A secondary running the library program ``name`` with ``params`` (its ``// param:`` lines)."""
    return GuestVM(programs.source(name, **params), f"{name}.S", memory, vcpus, ready_vcpus)


def script(*steps: programs.Step, memory: int = 0x10_0000, vcpus: int = 1, name: str = "script.S") -> GuestVM:
    """A secondary that executes ``steps`` (``programs.Call``, ``Header``, ...), reporting after each,
    then FFA_YIELD forever."""
    return GuestVM(programs.script_source(steps), name, memory, vcpus)
