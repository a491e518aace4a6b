"""The machinery of a profile's catalogue of deliberately wrong builds (``profiles/<name>/mutants.py``).

A catalogue is the reference with exactly one deviation per build, registered next to the clause
it breaks. What differs between profiles is the deviations; how a deviation becomes a build is
here, once:

* :class:`MutantBuild` -- the reference with a different core class (a subclass of the profile's
  ``Core`` overriding one step), interceptors on the booted system (:meth:`System.intercept`), or
  a transform of the boot configuration;
* :class:`Catalogue` -- the mutants (the suite must fail each, on a clause it declares) and the
  controls (builds the suite must pass: e.g. the specification's side of an implementation-defined
  clause), with the decorators that register them. A profile's ``mutants.py`` exposes
  ``CATALOGUE`` (and ``CONTROLS``) and a module ``__getattr__`` so that every build is reachable as
  ``--hv profiles.<name>.mutants:NAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from conformance.protocol import SystemConfig
from reference_hv.build import ReferenceBuild
from reference_hv.system import System, VMSpec

__all__ = ["Catalogue", "Intercept", "MutantBuild", "Transform"]

#: A machine-level mutant: installs its interceptors on a freshly booted system.
Intercept = Callable[[System], None]
#: A boot-level mutant: changes the configuration the build boots.
Transform = Callable[[SystemConfig], SystemConfig]

M = TypeVar("M", type[Any], Intercept)


class MutantBuild(ReferenceBuild):
    """The reference with one deviation: a different core, interceptors, or boot configuration."""

    def __init__(
        self,
        mutant: str,
        description: str,
        clauses: tuple[str, ...],
        *,
        core_class: type[Any],
        intercept: Intercept | None = None,
        config_transform: Transform | None = None,
        trace: bool = False,
    ) -> None:
        # No hypercall trace by default: a mutant often leaves a guest spinning on a failing call,
        # and millions of trace events cost minutes and gigabytes (the verdicts do not use it).
        super().__init__(core_class=core_class, trace=trace)
        self.name = f"mutant:{mutant}"
        self.mutant = mutant
        self.description = description
        #: The clauses the deviation breaks (spec IDs, e.g. ``("SEND-1",)``); for a control, the
        #: clauses it reports as DEVIATION.
        self.clauses = clauses
        #: The core it runs (the profile's own ``Core`` or a subclass of it: a ``CoreFactory``).
        self.core_class = core_class
        self.intercept = intercept
        self.config_transform = config_transform

    def system(self, secondaries: Sequence[VMSpec] = (), **options: Any) -> System:
        system = super().system(secondaries, **options)
        if self.intercept is not None:
            self.intercept(system)  # before any secondary runs: only the driver ran, to its first hand-back
        return system

    def boot(self, config: SystemConfig) -> System:
        if self.config_transform is not None:
            config = self.config_transform(config)
        return super().boot(config)

    def __repr__(self) -> str:
        return f"<MutantBuild {self.mutant} ({', '.join(self.clauses)})>"


def _ids(clauses: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in clauses.split(","))


class Catalogue:
    """One profile's wrong builds (``mutants``) and controls, built on its ``core`` class.

    An interceptor-only or boot-transform build runs the profile's own ``core`` (a profile's
    ``ReferenceBuild`` would otherwise claim every registered profile with a core).
    """

    def __init__(self, core: type[Any]) -> None:
        self.core = core
        #: Every mutant by name: the suite must fail each.
        self.mutants: dict[str, MutantBuild] = {}
        #: Builds the suite must pass (every MUST clause).
        self.controls: dict[str, MutantBuild] = {}

    def _add(self, table: dict[str, MutantBuild], name: str, build: MutantBuild) -> None:
        if name in self.mutants or name in self.controls:
            raise ValueError(f"duplicate mutant {name!r}")
        table[name] = build

    def _register(self, table: dict[str, MutantBuild], name: str, clauses: str, description: str) -> Callable[[M], M]:
        def register(obj: M) -> M:
            if isinstance(obj, type):
                if not issubclass(obj, self.core):
                    raise TypeError(f"mutant {name!r}: {obj.__name__} is not a {self.core.__name__} subclass")
                self._add(table, name, MutantBuild(name, description, _ids(clauses), core_class=obj))
            else:
                self._add(table, name, MutantBuild(name, description, _ids(clauses), core_class=self.core, intercept=obj))
            return obj

        return register

    def mutant(self, name: str, clauses: str, description: str) -> Callable[[M], M]:
        """Register the decorated core subclass, or interceptor-installing function, as the
        mutant ``name`` breaking ``clauses`` (comma-separated clause IDs)."""
        return self._register(self.mutants, name, clauses, description)

    def control(self, name: str, clauses: str, description: str) -> Callable[[M], M]:
        """Register a build the suite must pass: e.g. the specification's side of the
        implementation-defined ``clauses``, which it reports as DEVIATION."""
        return self._register(self.controls, name, clauses, description)

    def config(self, name: str, clauses: str, description: str, transform: Transform) -> None:
        """Register a boot-level mutant: the reference booting ``transform(config)``."""
        build = MutantBuild(name, description, _ids(clauses), core_class=self.core, config_transform=transform)
        self._add(self.mutants, name, build)

    def lookup(self, module: str, name: str) -> MutantBuild:
        """The build ``name`` (a module's ``__getattr__``: ``--hv MODULE:NAME``)."""
        found = self.mutants.get(name) or self.controls.get(name)
        if found is None:
            raise AttributeError(f"module {module!r} has no mutant {name!r}")
        return found
