"""Loads the conformance plugin for ``pytest profiles/<name>/tests`` from a source checkout.

When the package is installed, the ``pytest11`` entry point ``hafnium_conformance`` loads the plugin
and this file does nothing; ``hfconform`` loads it with ``-p conformance.plugin`` and this file does
nothing either. Registering it here (not with ``pytest_plugins``) avoids a second registration of
the same module under another name, which pytest refuses.
"""

from __future__ import annotations

import pytest


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if (
        pluginmanager.has_plugin("hafnium_conformance")
        or pluginmanager.has_plugin("conformance.plugin")
        or pluginmanager.is_blocked("conformance.plugin")
    ):
        return
    from conformance import plugin

    if not pluginmanager.is_registered(plugin):
        pluginmanager.register(plugin, "conformance.plugin")
