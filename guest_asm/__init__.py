"""Guest programs for the Hafnium conformance suite: a safe Keystone wrapper, a cache, a library.

Public entry points:

* :func:`guest_asm.assembler.assemble` -> :class:`guest_asm.assembler.Image`
* :mod:`guest_asm.programs` -- the library of AArch64 guest programs (secondaries, the scripted
  secondary, the primary driver) and :func:`guest_asm.programs.read_reports`.
"""

from __future__ import annotations

from guest_asm.assembler import AsmError, Image, assemble

__all__ = ["AsmError", "Image", "assemble"]
