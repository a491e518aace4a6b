"""The bundled reference as a build under test: the default of ``--hv`` (entry point ``reference``)."""

from __future__ import annotations

from typing import Literal, cast

from conformance.protocol import CAP_FAULT_CONTINUE, CAP_READY_VCPUS, SystemConfig
from reference_hv.system import System, VMSpec


class ReferenceBuild:
    """Boots :class:`reference_hv.System` for each test. ``System`` itself is the session."""

    name = "reference"
    capabilities = frozenset({CAP_READY_VCPUS, CAP_FAULT_CONTINUE})

    def __init__(self, *, system_class: type[System] = System, **system_options: object) -> None:
        #: The machine layer to boot: a subclass of :class:`System` for deliberately wrong builds
        #: (``reference_hv.mutants``); the reference itself always uses ``System``.
        self.system_class = system_class
        #: Extra keyword arguments for :class:`System` (e.g. ``budget``, ``core_class``), for derived builds.
        self.system_options = system_options

    def boot(self, config: SystemConfig) -> System:
        specs = [VMSpec(vm.source, vm.name, vm.memory, vm.vcpus, vm.ready_vcpus) for vm in config.secondaries]
        policy = cast(Literal["stop", "continue"], config.fault_policy)
        return self.system_class(specs, time_slice=config.time_slice, fault_policy=policy, **self.system_options)  # type: ignore[arg-type]
