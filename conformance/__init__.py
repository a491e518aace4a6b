"""The conformance suite for the Hafnium mailbox ABI (profile ``hafnium-2018-10``).

``conformance.tests`` holds the tests, ``conformance.plugin`` the pytest plugin (outcomes, the
per-clause report), ``conformance.protocol`` what a hypervisor build must provide.
"""
