"""The hypervisor: VMs, their mailboxes, the hafnium-2018-10 hypercalls, and the primary driver.

Numbers are the spec's (profiles/hafnium_2018_10/spec.md), written out here. The driver block's
layout is the suite's protocol (docs/alternate-builds.md), taken from ``guest_asm.layout``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from conformance.protocol import BuildError, SystemConfig
from guest_asm import layout
from guest_asm.assembler import assemble
from guest_asm.programs import build_driver
from minimal_hv.machine import MASK64, Exit, Fault, Machine

# Spec §2 (ID-1..ID-7), §1 (CALL-6) and §4.
HF_VCPU_RUN, HF_VM_GET_COUNT, HF_VCPU_GET_COUNT, HF_VM_CONFIGURE = 0xFF00, 0xFF01, 0xFF02, 0xFF03
HF_MAILBOX_SEND, HF_MAILBOX_RECEIVE, HF_MAILBOX_CLEAR = 0xFF04, 0xFF05, 0xFF06
PSCI_VERSION, PSCI_MIGRATE_INFO_TYPE, PSCI_SYSTEM_OFF = 0x8400_0000, 0x8400_0006, 0x8400_0008
NAMES = {HF_VCPU_RUN: "HF_VCPU_RUN", HF_VM_GET_COUNT: "HF_VM_GET_COUNT", HF_VCPU_GET_COUNT: "HF_VCPU_GET_COUNT",
         HF_VM_CONFIGURE: "HF_VM_CONFIGURE", HF_MAILBOX_SEND: "HF_MAILBOX_SEND",
         HF_MAILBOX_RECEIVE: "HF_MAILBOX_RECEIVE", HF_MAILBOX_CLEAR: "HF_MAILBOX_CLEAR"}  # fmt: skip
ERR = MASK64  # "-1"
PAGE = 4096  # = HF_MAILBOX_SIZE
YIELD, WAIT_FOR_INTERRUPT, WAKE_UP, MESSAGE = 0x0, 0x1, 0x2, 0x3
NO_VCPU = 0xFFFF  # HF_INVALID_VCPU: a send woke no vCPU (SEND-11)
U32 = 0xFFFF_FFFF

# This build's own choices (VM-5 leaves them open).
FIRST_BASE = 0x4000_0000  # the primary's base; each secondary follows, 1 MiB aligned, 1 MiB apart
PRIMARY_MEMORY = 0x10_0000
PRIMARY_BUDGET = 1_000_000  # instructions the primary may run between two hypercalls: else a timeout
MAX_SLICE = 1_000_000  # the time slice is config.time_slice instructions, capped here


class State(Enum):
    """The state of a vCPU (spec §9)."""

    READY = "ready"
    RUNNING = "running"
    WFI = "blocked in wfi"
    RECEIVING = "blocked in receive"
    OFF = "off"  # after a fault, with fault_policy "continue"


class Mailbox(Enum):
    EMPTY = "empty"
    RECEIVED = "received"
    READ = "read"


class Vm:
    def __init__(self, machine: Machine, vcpus: int, ready: int) -> None:
        self.machine, self.id, self.vcpus = machine, machine.vm, vcpus
        # VM-4: vCPU 0 ready at the entry point (more with the ready_vcpus capability), the others off.
        self.states = [State.READY if n < ready else State.OFF for n in range(vcpus)]
        self.waiters: list[int] = []  # vCPUs blocked in a receive, the most recent last (SEND-9)
        self.send_page: int | None = None
        self.recv_page: int | None = None
        self.mailbox = Mailbox.EMPTY
        self.message = 0  # what a receive of the current message returns: sender | size << 32


@dataclass(frozen=True)
class Outcome:
    """What ``call`` returns (conformance.protocol.CallOutcome)."""

    regs: tuple[int, ...] = ()
    fault: Fault | None = None
    timeout: str | None = None
    system_off: bool = False


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


class System:
    """One booted system: the primary (VM 0) runs the suite's driver, the secondaries their guests."""

    def __init__(self, config: SystemConfig) -> None:
        if config.fault_policy not in ("stop", "continue"):
            raise BuildError(f"unknown fault_policy {config.fault_policy!r}")
        self.continue_after_fault = config.fault_policy == "continue"
        self.slice = max(1, min(config.time_slice, MAX_SLICE))
        # The trace: plain dicts with the keys of docs/alternate-builds.md (the suite's classes are not needed).
        self.trace: list[dict[str, object]] = []
        self.stopped: Outcome | None = None
        driver = build_driver(FIRST_BASE)
        self.ready, self.block = driver.symbol("hf_driver_ready"), driver.symbol("hf_driver_block")
        self.vms = [Vm(Machine(0, FIRST_BASE, PRIMARY_MEMORY, driver.code, driver.entry), vcpus=1, ready=1)]
        base = FIRST_BASE + PRIMARY_MEMORY + 0x10_0000
        for n, guest in enumerate(config.secondaries, start=1):
            if guest.memory <= 0 or guest.memory % PAGE or not 1 <= guest.ready_vcpus <= guest.vcpus:
                raise BuildError(f"VM {n}: unsupported memory={guest.memory:#x}/vcpus={guest.vcpus}/ready={guest.ready_vcpus}")
            image = assemble(guest.source, base=base, name=guest.name)
            if len(image.code) > guest.memory:
                raise BuildError(f"VM {n}: {len(image.code):#x} bytes of code do not fit in {guest.memory:#x}")
            machine = Machine(n, base, guest.memory, image.code, image.entry, guest.vcpus)
            self.vms.append(Vm(machine, guest.vcpus, guest.ready_vcpus))
            base += _round_up(guest.memory, 0x10_0000) + 0x10_0000
        machine = self.vms[0].machine
        exit_, _ = machine.execute(PRIMARY_BUDGET)  # the driver sets up, then waits at hf_driver_ready
        if exit_ is not Exit.BRK or machine.pc != self.ready:
            raise BuildError(f"the primary driver did not reach hf_driver_ready: {exit_.value} at {machine.pc:#x}")

    # --- the session protocol ----------------------------------------------------------------

    def call(
        self, x0: int, x1: int = 0, x2: int = 0, x3: int = 0, *, regs: Mapping[int, int] | None = None, insn: str = "hvc #0"
    ) -> Outcome:
        if self.stopped is not None:
            return self.stopped
        values = [x0, x1, x2, x3] + [0] * 27
        for n, value in (regs or {}).items():
            values[n] = value
        machine = self.vms[0].machine  # the primary's: it runs the driver
        machine.write(self.block + layout.DRIVER_OP, struct.pack("<Q", layout.DRIVER_OPS.index(insn)))
        machine.write(self.block + layout.DRIVER_IN, struct.pack("<31Q", *(v & MASK64 for v in values)))
        machine.pc = self.ready + 4
        while True:
            exit_, _ = machine.execute(PRIMARY_BUDGET)
            if exit_ is Exit.BRK and machine.pc == self.ready:  # back at the brk: x0..x30 are stored
                return Outcome(regs=struct.unpack("<31Q", machine.read(self.block + layout.DRIVER_OUT, 31 * 8)))
            if exit_ is Exit.HVC:
                stop = self._primary_hvc()
            elif exit_ is Exit.SMC:
                stop = self._primary_smc()
            elif exit_ is Exit.BUDGET:
                stop = Outcome(timeout=f"the primary ran {PRIMARY_BUDGET} instructions without a hypercall")
            else:
                stop = Outcome(fault=machine.fault or Fault(0, 0, machine.pc, None, exit_.value))
            if stop is not None:
                self.stopped = stop
                return stop

    def base(self, vm: int) -> int:
        return self.vms[vm].machine.base

    def read(self, vm: int, addr: int, size: int) -> bytes:
        return self.vms[vm].machine.read(addr, size)

    def write(self, vm: int, addr: int, data: bytes) -> None:
        self.vms[vm].machine.write(addr, data)

    def close(self) -> None:
        for vm in self.vms:
            vm.machine.close()
        self.vms.clear()

    # --- the primary's calls -----------------------------------------------------------------

    def _primary_hvc(self) -> Outcome | None:
        """Handle the primary's hvc; an Outcome when the system stops instead of returning."""
        primary = self.vms[0]
        x0, x1, x2, x3 = (primary.machine.x(n) for n in range(4))
        func = x0 & U32 & ~(1 << 30)  # CALL-3
        result: int | Fault
        if func == PSCI_SYSTEM_OFF:
            return Outcome(system_off=True)
        if func == HF_VCPU_RUN:
            result = self._run(x1 & U32, x2 & U32)
            if isinstance(result, Fault):
                return Outcome(fault=result)
        elif func == HF_VCPU_GET_COUNT:
            vm = x1 & U32
            result = self.vms[vm].vcpus if vm < len(self.vms) else ERR  # VM 0: the primary's own count, 1
        elif func == HF_MAILBOX_SEND:
            woken = self._send(primary, x1 & U32, x2)
            result = ERR if woken is None else woken  # SEND-11
        elif func in (PSCI_VERSION, PSCI_MIGRATE_INFO_TYPE):
            result = 2
        elif func == HF_MAILBOX_RECEIVE:
            result = ERR  # RECV-1
        else:
            result = self._common(primary, func, x1, x2)
        self._log(primary, 0, x0, x1, x2, x3, result)
        primary.machine.hypercall_return(result)
        return None

    def _primary_smc(self) -> Outcome | None:
        """CALL-7: an smc is PSCI or -1, and only x0 changes."""
        machine = self.vms[0].machine
        func = machine.x(0) & U32 & ~(1 << 30)
        if func == PSCI_SYSTEM_OFF:
            return Outcome(system_off=True)
        machine.set_x(0, 2 if func in (PSCI_VERSION, PSCI_MIGRATE_INFO_TYPE) else ERR)
        return None

    def _run(self, vm_id: int, vcpu: int) -> int | Fault:
        """HF_VCPU_RUN: run the vCPU until it switches back; the run response, or the Fault that stops."""
        vm = self.vms[vm_id] if 0 < vm_id < len(self.vms) else None
        if vm is None or vcpu >= vm.vcpus or vm.states[vcpu] is not State.READY:
            return WAIT_FOR_INTERRUPT  # RUN-2
        vm.states[vcpu] = State.RUNNING
        self._event("switch", vm.id, vcpu, detail="HF_VCPU_RUN")
        machine = vm.machine
        machine.select(vcpu)
        budget = self.slice
        while True:
            exit_, ran = machine.execute(budget)
            budget -= ran
            if exit_ is Exit.HVC:
                response = self._secondary_hvc(vm, vcpu)
                if response is not None:
                    return self._switch_to_primary(vm, vcpu, response)
            elif exit_ is Exit.SMC:
                machine.set_x(0, ERR)  # CALL-7
            elif exit_ is Exit.WFI:
                vm.states[vcpu] = State.WFI  # RUN-5: nothing makes it ready again
                return self._switch_to_primary(vm, vcpu, WAIT_FOR_INTERRUPT)
            elif exit_ is Exit.BUDGET:
                budget = 0
            else:  # a fault (§10): stop the system, or switch the vCPU off and go on
                assert machine.fault is not None
                vm.states[vcpu] = State.OFF
                self._event("fault", vm.id, vcpu, detail=str(machine.fault))
                if not self.continue_after_fault:
                    return machine.fault
                return self._switch_to_primary(vm, vcpu, WAIT_FOR_INTERRUPT)
            if budget <= 0:
                vm.states[vcpu] = State.READY  # RUN-4: preempted, resumes where it was
                return self._switch_to_primary(vm, vcpu, YIELD)

    def _switch_to_primary(self, vm: Vm, vcpu: int, response: int) -> int:
        why = vm.states[vcpu].value
        self._event("switch", 0, 0, result=response, detail=f"VM {vm.id} vCPU {vcpu} {why}")
        return response

    # --- the secondaries' calls --------------------------------------------------------------

    def _secondary_hvc(self, vm: Vm, vcpu: int) -> int | None:
        """Handle a secondary's hvc; the run response when it switches to the primary, else None."""
        machine = vm.machine
        x0, x1, x2, x3 = (machine.x(n) for n in range(4))
        func = x0 & U32 & ~(1 << 30)
        if func == HF_MAILBOX_SEND:
            to, size = x1 & U32, x2
            woken = self._send(vm, to, size)
            self._log(vm, vcpu, x0, x1, x2, x3, ERR if woken is None else 0)
            if woken is None:
                machine.hypercall_return(ERR)
                return None
            machine.hypercall_return(0)  # RUN-9: seen when it is next run
            vm.states[vcpu] = State.READY
            return MESSAGE | size << 32 if to == 0 else WAKE_UP | to << 16 | woken << 32  # RUN-7, RUN-8
        result = ERR  # CALL-4, and CALL-6: PSCI IDs from a secondary are unknown
        if func == HF_MAILBOX_RECEIVE:
            if vm.mailbox is Mailbox.RECEIVED:  # RECV-2
                vm.mailbox, result = Mailbox.READ, vm.message
            elif x1 != 0:  # RECV-4: block; the send that wakes it writes its x0
                self._log(vm, vcpu, x0, x1, x2, x3, None)
                vm.states[vcpu] = State.RECEIVING
                vm.waiters.append(vcpu)
                return WAIT_FOR_INTERRUPT  # RUN-6
        elif func == HF_VCPU_RUN:
            result = WAIT_FOR_INTERRUPT  # RUN-1
        elif func != HF_VCPU_GET_COUNT:  # VM-3: -1 for a secondary
            result = self._common(vm, func, x1, x2)
        self._log(vm, vcpu, x0, x1, x2, x3, result)
        machine.hypercall_return(result)
        return None

    # --- calls with the same rules for every caller --------------------------------------------

    def _common(self, vm: Vm, func: int, x1: int, x2: int) -> int:
        if func == HF_VM_GET_COUNT:
            return len(self.vms)  # VM-2
        if func == HF_VM_CONFIGURE:
            return self._configure(vm, x1, x2)
        if func == HF_MAILBOX_CLEAR:
            if vm.mailbox is not Mailbox.READ:
                return ERR  # CLR-2, CLR-3
            vm.mailbox = Mailbox.EMPTY  # CLR-1
            return 0
        return ERR  # CALL-4

    def _configure(self, vm: Vm, send: int, recv: int) -> int:
        if send % PAGE or recv % PAGE:  # CFG-1
            return ERR
        if vm.send_page is not None:  # CFG-2
            return ERR
        if not (vm.machine.owns(send, PAGE) and vm.machine.owns(recv, PAGE)):  # CFG-3
            return ERR
        if send == recv:  # CFG-4
            return ERR
        vm.send_page, vm.recv_page = send, recv
        return 0  # CFG-5

    def _send(self, sender: Vm, to: int, size: int) -> int | None:
        """SEND-1..SEND-11: copy the message; the woken vCPU's index or NO_VCPU, None if refused."""
        if size > PAGE or to == sender.id or to >= len(self.vms):  # SEND-1, SEND-2, SEND-3
            return None
        target = self.vms[to]
        if sender.send_page is None or target.recv_page is None or target.mailbox is not Mailbox.EMPTY:
            return None  # SEND-4, SEND-5, SEND-6
        if size:
            target.machine.write(target.recv_page, sender.machine.read(sender.send_page, size))  # SEND-7
        target.message = (sender.id & 0xFFFF) | size << 32
        if to == 0:
            target.mailbox = Mailbox.READ  # SEND-8
            return NO_VCPU
        if target.waiters:  # SEND-9: wake the most recent waiter; its receive returns the message
            woken = target.waiters.pop()
            target.mailbox, target.states[woken] = Mailbox.READ, State.READY
            target.machine.select(woken)
            target.machine.hypercall_return(target.message)
            return woken
        target.mailbox = Mailbox.RECEIVED  # SEND-10
        return NO_VCPU

    def _log(self, vm: Vm, vcpu: int, x0: int, x1: int, x2: int, x3: int, result: int | None) -> None:
        """A trace record of an hvc: ``result`` None when the caller blocked (switched out)."""
        name = NAMES.get(x0 & U32 & ~(1 << 30), "")  # "": the suite shows x0 in hex
        self._event("hvc", vm.id, vcpu, call=name, args=[x0, x1, x2, x3], result=result)

    def _event(self, kind: str, vm: int, vcpu: int, **fields: object) -> None:
        self.trace.append({"seq": len(self.trace), "kind": kind, "vm": vm, "vcpu": vcpu, **fields})
