"""The shared machinery of the conformance suite: the pytest plugin (outcomes, the per-clause
report), the build protocol (``conformance.protocol``), the harness, the backends and ``hfconform``.

The tests themselves belong to the profiles (``profiles.<name>.tests``, e.g.
``profiles.hafnium_2018_10.tests``); ``hfconform --profile NAME`` runs one profile's.

PYTEST_DONT_REWRITE: ``hfconform`` imports this package before pytest starts; it has no asserts
to rewrite (a profile's test modules are rewritten as test files).
"""
