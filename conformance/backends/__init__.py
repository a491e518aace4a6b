"""Alternate builds bundled with the suite: ``qemu`` (a real hypervisor image under QEMU)."""
