"""The conformance suite for the Hafnium mailbox ABI (profile ``hafnium-2018-10``).

``conformance.tests`` holds the tests, ``conformance.plugin`` the pytest plugin (outcomes, the
per-clause report), ``conformance.protocol`` what a hypervisor build must provide.

PYTEST_DONT_REWRITE: ``hfconform`` imports this package before pytest starts; it has no asserts
to rewrite (the test modules under ``conformance.tests`` are rewritten as test files).
"""
