"""The bundled reference hypervisor: guests on Unicorn (one instance per VM), one ABI profile's core.

Profile-free: :mod:`~reference_hv.machine` (every libunicorn call), :mod:`~reference_hv.system`
(the scheduler and world switch), :mod:`~reference_hv.core_api` (what a profile's core provides).
Every ``hvc`` traps into the selected profile's core (``profiles/<name>/core.py``).

    >>> from reference_hv import System, VMSpec
    >>> system = System([VMSpec.program("echo")])
    >>> hex(system.call(0xFF01).x0)          # HF_VM_GET_COUNT, issued by the primary's guest code
    '0x2'
"""

from reference_hv.core_api import Answer, Vcpu, VmLayout
from reference_hv.system import (
    CallResult,
    ConfigError,
    Fault,
    HarnessError,
    Return,
    System,
    SystemHalted,
    Timeout,
    Trap,
    VMSpec,
)
from reference_hv.trace import TraceRecord

__all__ = [
    "Answer",
    "CallResult",
    "ConfigError",
    "Fault",
    "HarnessError",
    "Return",
    "System",
    "SystemHalted",
    "Timeout",
    "TraceRecord",
    "Trap",
    "VMSpec",
    "Vcpu",
    "VmLayout",
]
