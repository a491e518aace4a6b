"""The bundled reference hypervisor for the ``hafnium-2018-10`` mailbox ABI.

Guests run on Unicorn (one instance per VM); every ``hvc`` traps into :mod:`reference_hv.core`.

    >>> from reference_hv import System, VMSpec
    >>> system = System([VMSpec.program("echo")])
    >>> hex(system.call(0xFF01).x0)          # HF_VM_GET_COUNT, issued by the primary's guest code
    '0x2'
"""

from reference_hv.core import MailboxState, VcpuState
from reference_hv.system import (
    CallResult,
    ConfigError,
    Fault,
    HarnessError,
    System,
    SystemHalted,
    Timeout,
    VMSpec,
)
from reference_hv.trace import TraceEvent

__all__ = [
    "CallResult",
    "ConfigError",
    "Fault",
    "HarnessError",
    "MailboxState",
    "System",
    "SystemHalted",
    "Timeout",
    "TraceEvent",
    "VMSpec",
    "VcpuState",
]
