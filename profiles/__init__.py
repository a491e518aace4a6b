"""The ABI profiles: one revision of the ABI each, as one unit, and the registry that names them.

A profile is a package ``profiles/<name>/`` that a newcomer reads top to bottom:

* ``spec.md``        its normative text (vendored from ``shared/spec/``): the oracle;
* ``clauses.py``     the clause registry (:class:`Clause` rows, sections, foundations);
* ``abi.py``         its constants, for Python and (``equ_source``) for assembly;
* ``programs/`` + ``programs.py``  its guest programs (the shared ones in ``guest_asm`` added);
* ``core.py``        the reference hypervisor's core for it (loaded by the reference build only);
* ``model.py``, ``checks.py``, ``hv.py``  what its conformance tests predict and check with;
* ``tests/``         its conformance tests;
* ``mutants.py``     its catalogue of wrong builds (small subclasses of its core, or interceptors);
* ``decode.py``      how its values read in a report (run responses, receive results, ...);
* ``qemu.py``        what the QEMU backend must know of real images of its era (optional).

Its ``__init__.py`` holds the :class:`Profile` descriptor (``PROFILE``); adding a profile is
adding its package and one line in :data:`REGISTRY`. Everything else (the machine and scheduler,
the assembler and cache, the pytest plugin, the report, the build protocol, the backends) is
shared and profile-free: it asks the selected :class:`Profile` for what differs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Every profile, by name: the package that holds it. One line per profile.
REGISTRY: dict[str, str] = {
    "hafnium-2018-10": "profiles.hafnium_2018_10",
    "hafnium-2019-03": "profiles.hafnium_2019_03",
    "ffa-1.1-indirect": "profiles.ffa_1_1_indirect",
}
DEFAULT = "hafnium-2018-10"

MASK64 = 0xFFFF_FFFF_FFFF_FFFF

#: The layer of every clause that is not one of its profile's foundations.
ABOVE_FOUNDATIONS = 3

#: A clause's strength: a MUST (its failure fails the build; it may have an implementation-defined
#: part, ``Clause.impl_defined``), or wholly implementation-defined (checked and reported, a
#: departure is a DEVIATION, never a MUST failure).
MUST = "MUST"
IMPL_DEF = "IMPL-DEF"


@dataclass(frozen=True)
class Clause:
    """One rule of a profile's normative text."""

    id: str
    section: int
    rule: str
    source: str
    #: The implementation-defined part (of a MUST clause), or what makes a whole IMPL-DEF clause so.
    impl_defined: str | None = None
    strength: str = MUST
    #: Why no test through the build protocol can observe the rule (e.g. it needs calls outside the
    #: profile). Such a clause is exempt from the registry self-check and reported NOT RUN, never PASS.
    untestable: str | None = None

    def __post_init__(self) -> None:
        if self.strength not in (MUST, IMPL_DEF):
            raise ValueError(f"clause {self.id}: strength must be {MUST!r} or {IMPL_DEF!r}, not {self.strength!r}")
        if self.strength == IMPL_DEF and not self.impl_defined:
            raise ValueError(f"clause {self.id}: an {IMPL_DEF} clause says what is implementation-defined (impl_defined)")

    @property
    def title(self) -> str:
        """The rule's first sentence, for tables."""
        first = self.rule.split(". ")[0].rstrip(".")
        return first if len(first) <= 100 else first[:97] + "..."


def _no_decode(value: int, what: str) -> str:
    return ""


@dataclass(frozen=True)
class Profile:
    """What the shared machinery needs to know of one profile.

    The parts only some users need (the reference core, the mutant catalogue, the QEMU facts) are
    named by module, not imported: the suite judging another build never loads the reference's core.
    """

    name: str
    title: str
    package: str
    #: The vendored normative text, and its file name in the workspace's ``shared/spec/``.
    spec: Path
    spec_name: str
    sections: Mapping[int, str] = field(repr=False)
    clauses: tuple[Clause, ...] = field(repr=False)
    #: The module of its conformance tests' ``Hv`` (the harness with the profile's calls by name).
    hv: str
    #: Clauses whose failure blocks the judging of higher layers (see ``docs/reports.md``).
    foundations: Mapping[str, int] = field(default_factory=dict, repr=False)
    #: Pseudo-clauses that are reported but are not the text's (e.g. implementation-defined faults).
    extra_clauses: tuple[Clause, ...] = field(default=(), repr=False)
    #: ``decode(value, what)``: how a 64-bit value reads in a report ("" when nothing to say).
    decode: Callable[[int, str], str] = field(default=_no_decode, repr=False)
    #: ``call_name(x0)``: the function a hypercall's x0 selects, for traces and call logs.
    call_name: Callable[[int], str] = field(default=hex, repr=False)
    #: ``message(call, args, result)``: (destination VM, size or None) when a traced call (its
    #: name, x0..x3, its result) sent a message, else None: the arrows of a report's sequence chart.
    message: Callable[[str, tuple[int, ...], int | None], tuple[int, int | None] | None] = field(
        default=lambda call, args, result: None, repr=False
    )
    #: Module paths (``package.module``) of the optional parts.
    core: str = ""
    mutants: str = ""
    qemu: str = ""

    @property
    def tests(self) -> str:
        """The package of the profile's conformance tests."""
        return f"{self.package}.tests"

    @functools.cached_property
    def by_id(self) -> dict[str, Clause]:
        return {c.id: c for c in (*self.clauses, *self.extra_clauses)}

    def get(self, clause_id: str) -> Clause:
        try:
            return self.by_id[clause_id]
        except KeyError:
            raise KeyError(f"no clause {clause_id!r} in profile {self.name}; known: {', '.join(self.by_id)}") from None

    def wholly_impl(self, clause: Clause) -> bool:
        """A clause with no MUST part: the text's IMPL-DEF rows and the profile's pseudo-clauses.
        A test of such clauses only is implementation-defined: its failure is a DEVIATION."""
        return clause.strength == IMPL_DEF or clause in self.extra_clauses

    def layer(self, clause_id: str) -> int:
        return self.foundations.get(clause_id, ABOVE_FOUNDATIONS)

    def qualified(self, clause_id: str) -> str:
        """``hafnium-2018-10:SEND-5``: the clause ID where two profiles could be confused."""
        return f"{self.name}:{clause_id}"

    def shown(self, value: object, what: str = "") -> str:
        """``0x...`` with its reading: ``0x0000000000000003 (MESSAGE, size 0)``; ``repr`` for non-ints."""
        return shown(value, what, self.decode)

    def module(self, part: str) -> Any:
        """Import one of the parts named by module (``"hv"``, ``"core"``, ``"mutants"``, ``"qemu"``)."""
        path = getattr(self, part)
        if not path:
            raise LookupError(f"profile {self.name} has no {part}")
        return importlib.import_module(path)


def shown(value: object, what: str = "", decode: Callable[[int, str], str] = _no_decode) -> str:
    """``0x...`` (64 bits) with ``decode``'s reading of it, if any; ``repr`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MASK64:
        reading = decode(value, what)
        return f"{value:#018x}" + (f" ({reading})" if reading else "")
    return repr(value)


def names() -> list[str]:
    """Every registered profile."""
    return sorted(REGISTRY)


def get(name: str) -> Profile:
    """The profile ``name`` (a registered one); ``LookupError`` names the known ones."""
    try:
        package = REGISTRY[name]
    except KeyError:
        raise LookupError(f"unknown profile {name!r}; known profiles: {', '.join(names())}") from None
    profile = importlib.import_module(package).PROFILE
    if not isinstance(profile, Profile) or profile.name != name:
        raise LookupError(f"package {package} does not define PROFILE = Profile(name={name!r}, ...)")
    return profile


def split_qualified(clause_id: str, default: str) -> tuple[str, str]:
    """``("hafnium-2018-10", "SEND-5")`` for ``hafnium-2018-10:SEND-5``; unqualified IDs are ``default``'s."""
    profile, sep, cid = clause_id.rpartition(":")
    return (profile, cid) if sep else (default, clause_id)
