"""The bundled reference as a build under test: the default of ``--hv`` (entry point ``reference``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

import profiles
from conformance.protocol import CAP_FAULT_CONTINUE, CAP_READY_VCPUS, CAP_WFE_TRAPS, SystemConfig
from reference_hv.system import System, VMSpec


class ReferenceBuild:
    """Boots :class:`reference_hv.System` for each test. ``System`` itself is the session."""

    name = "reference"
    capabilities = frozenset({CAP_READY_VCPUS, CAP_FAULT_CONTINUE, CAP_WFE_TRAPS})

    @property
    def profiles(self) -> frozenset[str]:
        """The profiles this build implements: with a ``core_class``, the profile that core (or a
        class it derives from) belongs to; otherwise every registered profile with a reference core
        (read when asked: a profile registered later counts)."""
        core_class = self.system_options.get("core_class")
        if isinstance(core_class, type):
            modules = [cls.__module__ for cls in core_class.__mro__]
            return frozenset(
                name
                for name, package in profiles.REGISTRY.items()
                if any(module.startswith(f"{package}.") for module in modules)
            )
        return frozenset(name for name in profiles.names() if profiles.get(name).core)

    def __init__(self, **system_options: Any) -> None:
        #: Extra keyword arguments for :class:`System` (e.g. ``budget``, ``core_class``), for derived builds.
        self.system_options = system_options

    def system(self, secondaries: Sequence[VMSpec] = (), **options: Any) -> System:
        """A :class:`System` of this build: its options, then ``options`` (which win).

        Every system this build boots is made here -- :meth:`boot` and callers that need the
        reference outside the build protocol (e.g. their own primary program: ``conformance.fuzz``)
        -- so a derived build (``profiles.hafnium_2018_10.mutants``) changes them all in one place.
        """
        return System(secondaries, **{**self.system_options, **options})

    def boot(self, config: SystemConfig) -> System:
        specs = [VMSpec(vm.source, vm.name, vm.memory, vm.vcpus, vm.ready_vcpus) for vm in config.secondaries]
        policy = cast(Literal["stop", "continue"], config.fault_policy)
        return self.system(specs, time_slice=config.time_slice, fault_policy=policy, profile=config.profile)
