"""minimal_hv: a small, independent model of Hafnium's mailbox ABI (hafnium-2018-10), as a build
for the hafnium-conformance suite. Each VM is an emulated AArch64 CPU (Unicorn) running real guest
code; the primary runs the suite's primary driver. See README.md.

    hfconform --hv minimal                              # installed: the entry point
    PYTHONPATH=examples/minimal_hv hfconform --hv minimal_hv:MinimalBuild
"""

from __future__ import annotations

from conformance.protocol import Session, SystemConfig
from minimal_hv.hypervisor import Outcome, System
from minimal_hv.machine import Fault

__all__ = ["Fault", "MinimalBuild", "Outcome", "System"]


class MinimalBuild:
    """The build object the suite asks for (conformance.protocol.Build)."""

    name = "minimal"
    #: After a secondary's fault its vCPU is switched off and the system goes on, if asked to.
    #: Several vCPUs of a VM may be ready at boot (GuestVM.ready_vcpus > 1).
    capabilities = frozenset({"fault_continue", "ready_vcpus"})

    def boot(self, config: SystemConfig) -> Session:
        return System(config)
